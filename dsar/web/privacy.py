"""The privacy center's pages under ``/privacy`` (DESIGN §12): home, the notice, unsubscribing.

Pages read the strategy the app loaded and nothing else; they answer the same for everyone.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from activation.unsubscribe import UnsubscribeLinks, unsubscribe
from dsar.api.deps import SessionDep, StrategyDep
from dsar.web.notice import Notice, build_notice
from dsar.web.render import SECURITY_HEADERS, page_context, page_language, render
from kernel.errors import NotFound, TokenError
from schemas.models import Strategy

__all__ = ["router"]

router = APIRouter(prefix="/privacy", tags=["privacy center"], include_in_schema=False)


def _notice(request: Request) -> Notice:
    state = request.app.state
    notice: Notice | None = getattr(state, "privacy_notice", None)
    if notice is None:
        notice = state.privacy_notice = build_notice(state.strategy)
    return notice


NoticeDep = Annotated[Notice, Depends(_notice)]


@router.get("", response_class=HTMLResponse)
def home(request: Request, strategy: StrategyDep) -> HTMLResponse:
    """The controller, its contact, and the ways to act."""
    language = page_language(request, strategy.controller.language)
    return render(request, "home.html", language=language, **page_context(request, strategy))


@router.get("/notice", response_class=HTMLResponse)
def notice(request: Request, strategy: StrategyDep, notice: NoticeDep) -> HTMLResponse:
    """The Art. 13 and 14 notice, layered: a short first layer, every detail one click away."""
    language = page_language(request, strategy.controller.language)
    return render(
        request, "notice.html", language=language, notice=notice, **page_context(request, strategy)
    )


@router.get("/notice.pdf")
def notice_pdf(request: Request, strategy: StrategyDep, notice: NoticeDep) -> Response:
    """The same notice as a printable PDF, in the page's language."""
    from dsar.web.pdf import notice_pdf as make_pdf

    language = page_language(request, strategy.controller.language)
    version = notice.current.id if notice.current else "privacy-notice"
    # The PDF depends only on the strategy and the language: made once per language per app.
    made: dict[str, bytes] | None = getattr(request.app.state, "privacy_notice_pdf", None)
    if made is None:
        made = request.app.state.privacy_notice_pdf = {}
    if language not in made:
        made[language] = make_pdf(
            notice, language=language, strategy_lang=strategy.controller.language
        )
    return Response(
        made[language],
        media_type="application/pdf",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'inline; filename="{version}-{language}.pdf"',
        },
    )


def _links(request: Request) -> UnsubscribeLinks:
    links: UnsubscribeLinks = request.app.state.services.links
    return links


LinksDep = Annotated[UnsubscribeLinks, Depends(_links)]


def _unsubscribe_page(
    request: Request, strategy: Strategy, token: str, links: UnsubscribeLinks, **context: Any
) -> HTMLResponse:
    language = page_language(request, strategy.controller.language)
    try:
        link = links.read(token)
    except TokenError:
        return render(
            request,
            "unsubscribe.html",
            language=language,
            status_code=404,
            valid=False,
            **page_context(request, strategy),
        )
    activation = strategy.index.activations.get(link.activation)
    return render(
        request,
        "unsubscribe.html",
        language=language,
        valid=activation is not None,
        status_code=200 if activation is not None else 404,
        message=activation.message if activation is not None else "",
        token=token,
        **context,
        **page_context(request, strategy),
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_form(
    request: Request, token: str, strategy: StrategyDep, links: LinksDep
) -> HTMLResponse:
    """The page a message's unsubscribe link opens: one button, no sign-in."""
    return _unsubscribe_page(request, strategy, token, links, done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_now(
    request: Request, token: str, strategy: StrategyDep, links: LinksDep, session: SessionDep
) -> HTMLResponse:
    """Record the objection (Art. 21(3)); also the RFC 8058 one-click POST of a mail client.

    No CSRF token: the signed link is itself the proof, and a mail client posting
    ``List-Unsubscribe=One-Click`` has no page to take a token from.
    """
    try:
        link = links.read(token)
    except TokenError:
        return _unsubscribe_page(request, strategy, token, links, done=False)
    try:
        outcome = unsubscribe(session, strategy, link, audit=request.app.state.audit)
    except NotFound:
        return _unsubscribe_page(request, strategy, token, links, done=False)
    session.commit()
    return _unsubscribe_page(request, strategy, token, links, done=True, already=outcome.already)
