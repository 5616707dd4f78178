"""Server-rendered pages: one Jinja2 environment per language, strict security headers.

Templates live in ``templates/``; their words go through gettext (``{% trans %}``, ``_()``),
translated from the catalogues of :mod:`dsar.web.i18n`. Every answer carries a Content
Security Policy that allows nothing from another host and no script at all: the pages work
without JavaScript by design, so none is needed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

from babel import Locale
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dsar.web.authorities import EDPB_MEMBERS
from dsar.web.i18n import LANGUAGES, choose_language, language_name, translations
from schemas.enums import SourceChannel
from schemas.models import Strategy

__all__ = [
    "SECURITY_HEADERS",
    "page_context",
    "page_language",
    "render",
    "render_text",
    "wait_minutes",
]

_TEMPLATES: Final = Path(__file__).parent / "templates"

SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Headers of every page: nothing loads from elsewhere, nothing runs, nothing is cached."""


@cache
def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    catalogue = translations(language)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        catalogue.gettext, catalogue.ngettext, newstyle=True
    )
    locale = Locale.parse(language)

    def country_name(code: str) -> str:
        return str(locale.territories.get(code.upper(), code))

    env.filters["gettext_"] = catalogue.gettext  # for |map over lists of message ids
    env.globals.update(
        format_date=lambda value: format_date(value, format="long", locale=locale),
        country_name=country_name,
        edpb=EDPB_MEMBERS,
    )
    return env


def page_language(request: Request, default: str) -> str:
    """The language of this answer: ``?lang=``, then ``Accept-Language``, then ``default``."""
    return choose_language(
        request.query_params.get("lang"), request.headers.get("accept-language"), default=default
    )


def render(
    request: Request, template: str, *, language: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The page ``template`` in ``language``, with the security headers."""
    env = _environment(language)
    html = env.get_template(template).render(
        lang=language,
        languages=[(code, language_name(code)) for code in LANGUAGES],
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def wait_minutes(seconds: int) -> int:
    """A rate limit's Retry-After in whole minutes, at least one, as the pages say it."""
    return max(1, -(-seconds // 60))


def render_text(template: str, *, language: str, **context: Any) -> str:
    """``template`` rendered in ``language`` to a string (for the PDF and for messages)."""
    return _environment(language).get_template(template).render(lang=language, **context)


def page_context(request: Request, strategy: Strategy) -> dict[str, Any]:
    """What every page shows of the controller, the ways to act, and the form's CSRF token."""
    c = strategy.controller
    token = request.scope.get("csrftoken")  # asgi-csrf's, on the pages it guards
    subject = strategy.index.subject_entity
    return {
        "controller": c.name,
        "business_id": c.business_id,
        "address": c.address,
        "email": c.email,
        "dpo": c.dpo,
        "strategy_lang": c.language,
        "request_page": True,
        "consent_page": any(s.channel is SourceChannel.PRIVACY_CENTER for s in strategy.sources),
        "csrftoken": token() if callable(token) else "",
        "identifiers": list(strategy.system.entities[subject].identifiers) if subject else [],
    }
