"""The privacy center's languages: negotiation and the Babel message catalogues (fi, en, sv).

The pages' own words are English message ids, translated in
``locale/<lang>/LC_MESSAGES/messages.po``; the strategy's texts (descriptions, laws) are shown
as the process owner wrote them. Catalogues are read from their ``.po`` sources when first
needed and compiled in memory, so the repository holds no binary ``.mo`` files and an edited
catalogue shows on the next start.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["LANGUAGES", "choose_language", "language_name", "translations"]

LANGUAGES: Final[tuple[str, ...]] = ("fi", "en", "sv")
"""Languages the privacy center speaks; the first that fits the person is used."""

_LOCALE_DIR: Final = Path(__file__).parent / "locale"


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language`` (English needs none: the ids are English)."""
    source = _LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not source.exists():
        return NullTranslations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def choose_language(
    asked: str | None,
    accept_language: str | None,
    *,
    default: str,
    offered: Sequence[str] = LANGUAGES,
) -> str:
    """``?lang=`` when it is offered, else the best of ``Accept-Language``, else ``default``."""
    if asked and asked in offered:
        return asked
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            if tag and quality > 0:
                wanted.append((quality, tag.strip()))
        preferred = [tag.replace("-", "_") for _, tag in sorted(wanted, key=lambda w: -w[0])]
        chosen = Locale.negotiate(preferred, list(offered), sep="_")
        if chosen is not None:
            return chosen.language
    return default if default in offered else offered[0]


def language_name(language: str) -> str:
    """The language's name in itself (``suomi``, ``English``, ``svenska``)."""
    try:
        return Locale.parse(language).get_display_name(language) or language
    except (UnknownLocaleError, ValueError):
        return language
