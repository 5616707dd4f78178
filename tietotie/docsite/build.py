"""Build or serve the docs site with mkdocs, for one strategy."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mkdocs.commands.build import build
from mkdocs.commands.serve import serve
from mkdocs.config import load_config
from mkdocs.exceptions import Abort, MkDocsException

from tietotie.docsite.errors import DocsBuildError
from tietotie.docsite.figures import ReportFigure, published
from tietotie.docsite.hooks import public_url_setting
from tietotie.docsite.site import load_checked_strategy

__all__ = ["DEFAULT_OUT", "build_site", "find_config", "serve_site"]

DEFAULT_OUT = Path("build/site")
"""Where ``tietotie docs build`` writes the site unless told otherwise."""

_REPO_ROOT = Path(__file__).resolve().parents[2]


def find_config(config_file: Path | None = None) -> Path:
    """``config_file``, else ``mkdocs.yml`` in the working directory, else in the repository."""
    candidates = [config_file] if config_file else [Path("mkdocs.yml"), _REPO_ROOT / "mkdocs.yml"]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate.resolve()
    raise DocsBuildError(
        f"no mkdocs.yml at {', '.join(str(c) for c in candidates)}; run from the repository "
        "root or pass --config-file",
        file=str(candidates[0]),
    )


@contextmanager
def _strategy_env(strategy: Path) -> Iterator[None]:
    """Point the hooks at ``strategy`` for the duration of one build or serve."""
    old = os.environ.get("TIETOTIE_STRATEGY")
    os.environ["TIETOTIE_STRATEGY"] = str(strategy.resolve())
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # material's end-of-life banner
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TIETOTIE_STRATEGY", None)
        else:
            os.environ["TIETOTIE_STRATEGY"] = old


def build_site(
    *,
    strategy: Path,
    out: Path = DEFAULT_OUT,
    config_file: Path | None = None,
    strict: bool = True,
    figures: Mapping[str, ReportFigure] | None = None,
) -> Path:
    """Build the site for ``strategy`` into ``out`` (strict: any warning fails); return ``out``.

    With ``figures`` (:func:`tietotie.docsite.figures.build_figures`), the reports page shows
    each aggregated report's numbers and chart as built from the data.
    """
    if not strategy.exists():
        raise DocsBuildError(f"no strategy at {strategy}", file=str(strategy))
    load_checked_strategy(strategy)  # a clear error here, rather than mkdocs' "Aborted"
    public_url_setting()  # likewise
    config_path = find_config(config_file)
    with _strategy_env(strategy), published(dict(figures) if figures is not None else None):
        try:
            config = load_config(
                config_file=str(config_path), site_dir=str(out.resolve()), strict=strict
            )
            build(config)
        except Abort as exc:
            raise DocsBuildError(f"the docs build failed: {exc}", file=str(config_path)) from exc
        except MkDocsException as exc:
            raise DocsBuildError(f"the docs build failed: {exc}", file=str(config_path)) from exc
    return out


def serve_site(
    *,
    strategy: Path,
    config_file: Path | None = None,
    dev_addr: str | None = None,
    figures: Mapping[str, ReportFigure] | None = None,
) -> None:
    """Serve the site with live reload; edits to the strategy rebuild it (``figures`` as in
    :func:`build_site`, built once when the server starts)."""
    if not strategy.exists():
        raise DocsBuildError(f"no strategy at {strategy}", file=str(strategy))
    public_url_setting()  # a clear error here, rather than mkdocs' "Aborted"
    config_path = find_config(config_file)
    with _strategy_env(strategy), published(dict(figures) if figures is not None else None):
        try:
            serve(config_file=str(config_path), dev_addr=dev_addr, watch=[str(strategy.resolve())])
        except MkDocsException as exc:
            raise DocsBuildError(f"the docs server stopped: {exc}", file=str(config_path)) from exc
