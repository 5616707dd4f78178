"""mkdocs hooks (registered in mkdocs.yml): generate the strategy's pages into the build.

The strategy comes from ``TIETOTIE_STRATEGY`` (``tietotie docs build --strategy`` sets it),
else ``strategy/`` beside mkdocs.yml; the requests page links to the privacy center at
``TIETOTIE_PUBLIC_URL`` when the service's settings set it. Pages are virtual files
(``File.generated``), so nothing generated is ever written into ``docs/``, and ``mkdocs build
--strict`` checks their links and anchors like any hand-written page.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from pydantic import ValidationError

from schemas import RULES, Strategy
from tietotie.docsite.api import openapi_spec
from tietotie.docsite.errors import DocsBuildError
from tietotie.docsite.figures import current
from tietotie.docsite.requests import privacy_center_url
from tietotie.docsite.rules import rules_markdown
from tietotie.docsite.site import GeneratedSite, generate_site, load_checked_strategy
from tietotie.settings import Settings

__all__ = [
    "HOME_MARKER",
    "RULES_MARKER",
    "on_config",
    "on_files",
    "on_page_markdown",
    "public_url_setting",
    "resolve_strategy_path",
]

log = logging.getLogger("mkdocs.plugins.tietotie")

HOME_MARKER = "<!-- tietotie:home -->"
"""Replaced, in docs/index.md, by the home page generated in the strategy's language."""
RULES_MARKER = "<!-- tietotie:validation-rules -->"
"""Replaced, in docs/guides/validation-rules.md, by one section per rule of schemas.rules."""

_state: dict[str, GeneratedSite] = {}


def resolve_strategy_path(config_file: str | None) -> Path:
    """``TIETOTIE_STRATEGY``, else ``strategy/`` beside the config file (or here)."""
    env = os.environ.get("TIETOTIE_STRATEGY")
    if env:
        return Path(env)
    base = Path(config_file).parent if config_file else Path.cwd()
    return base / "strategy"


def _load(path: Path) -> Strategy:
    try:
        return load_checked_strategy(path)
    except DocsBuildError as exc:
        raise PluginError(exc.message) from exc


def _openapi(path: Path) -> dict[str, Any] | None:
    """The service's OpenAPI description, when the app factory is part of this install."""
    try:
        return openapi_spec(path)
    except ModuleNotFoundError as exc:
        if exc.name != "tietotie.app":
            raise
        log.info("tietotie: no app factory in this install; the API reference is left out")
        return None


def public_url_setting() -> str | None:
    """``TIETOTIE_PUBLIC_URL`` as the service reads it, or None when it is not set.

    Raises :class:`DocsBuildError` naming the setting when it is not a web address.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        raise DocsBuildError(f"the service's settings (TIETOTIE_*) are not valid: {exc}") from exc
    if "public_url" not in settings.model_fields_set:
        return None
    privacy_center_url(settings.public_url)  # a clear error here, not a broken link
    return settings.public_url


def _public_url() -> str | None:
    try:
        return public_url_setting()
    except DocsBuildError as exc:
        raise PluginError(exc.message) from exc


@event_priority(100)  # before material's search plugin reads theme.language
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Load and check the strategy, generate its pages, and localise the theme and nav."""
    path = resolve_strategy_path(config.config_file_path)
    strategy = _load(path)
    site = generate_site(
        strategy,
        use_directory_urls=config.use_directory_urls,
        openapi=_openapi(path),
        figures=current() or None,
        public_url=_public_url(),
    )
    _state["site"] = site
    config.site_name = site.site_name
    config.theme["language"] = site.language
    config.nav = site.nav
    log.info("tietotie: %d pages from %s (language %s)", len(site.files), path, site.language)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages as virtual files; a hand-written file must not shadow one."""
    site = _state["site"]
    for src_uri, content in site.files.items():
        if files.get_file_from_path(src_uri) is not None:
            raise PluginError(
                f"docs/{src_uri} is generated from the strategy; remove the hand-written copy"
            )
        files.append(File.generated(config, src_uri, content=content))
    for src_uri, image in site.images.items():
        files.append(File.generated(config, src_uri, content=image))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Expand the markers of the home page and the validation-rules page."""
    if HOME_MARKER in markdown:
        markdown = markdown.replace(HOME_MARKER, _state["site"].home)
    if RULES_MARKER in markdown:
        markdown = markdown.replace(RULES_MARKER, rules_markdown(RULES))
    return markdown


_SEARCH_DIALOG = '<div class="md-search" data-md-component="search" role="dialog">'
_SEARCH_NAME = {"fi": "Haku", "sv": "Sök"}


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """Name the theme's search dialog for screen readers (axe-core: aria-dialog-name)."""
    name = _SEARCH_NAME.get(str(config.theme["language"]), "Search")
    return output.replace(_SEARCH_DIALOG, f'{_SEARCH_DIALOG[:-1]} aria-label="{name}">', 1)
