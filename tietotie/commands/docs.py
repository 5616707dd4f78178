"""`tietotie docs build|serve`: the staff docs site, generated from the strategy."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from activation.reporting import DEFAULT_K
from kernel.errors import TietotieError
from tietotie.commands.compile import load_valid_strategy
from tietotie.commands.service import open_from_cli
from tietotie.commands.strategy import StrategyOption, resolve_strategy
from tietotie.docsite import DEFAULT_OUT, DocsBuildError, build_site, serve_site
from tietotie.docsite.breaches import published_register
from tietotie.docsite.figures import ReportFigure, build_figures

__all__ = ["register"]

docs_app = typer.Typer(
    name="docs",
    help="The staff docs site: what data we keep, why, where from, how long, who may see it.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config-file",
        "-f",
        help="mkdocs.yml to use (default: ./mkdocs.yml, else the repository's).",
    ),
]


WithDataOption = Annotated[
    bool,
    typer.Option(
        "--with-data",
        help="Build the aggregated reports from the database (TIETOTIE_DATABASE_URL) and show "
        "their numbers and charts on the reports page (groups under k are suppressed), and "
        "list the breach register's entries on its page.",
    ),
]
KOption = Annotated[
    int, typer.Option("--k", min=1, help="With --with-data: the smallest group shown.")
]


def _figures(path: Path, with_data: bool, k: int) -> dict[str, ReportFigure] | None:
    """The aggregated reports built from the database, when asked for; errors exit 1."""
    if not with_data:
        return None
    services = open_from_cli(path)
    try:
        figures = build_figures(services, k=k)
    except TietotieError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    finally:
        services.engine.dispose()
    for f in figures.values():
        typer.echo(
            f"{f.report}: {f.groups} groups shown, {f.suppressed_groups} groups under k={f.k} "
            "suppressed" + ("" if f.png else " (no chart declared)"),
            err=True,
        )
    return figures


def _register_entries(path: Path, with_data: bool) -> list[Any] | None:
    """The breach register's entries for its page, when asked for data (facts and counts only:
    the page leaves out every free text)."""
    if not with_data:
        return None
    from governance.breach import list_breaches

    services = open_from_cli(path)
    try:
        with services.sessions() as session:
            return list_breaches(session)
    finally:
        services.engine.dispose()


def register(app: typer.Typer) -> None:
    """Add the ``docs`` command group to ``app``."""
    app.add_typer(docs_app, name="docs")


@contextmanager
def _mkdocs_log(verbose: bool) -> Iterator[None]:
    """Show mkdocs' progress and warnings on stderr while one command runs."""
    logger = logging.getLogger("mkdocs")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@docs_app.command("build")
def build_command(
    strategy: StrategyOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the site.")] = (
        DEFAULT_OUT
    ),
    config_file: ConfigOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show mkdocs' debug log.")
    ] = False,
    with_data: WithDataOption = False,
    k: KOption = DEFAULT_K,
) -> None:
    """Build the site (mkdocs, strict: any warning fails) for the strategy into --out."""
    path = resolve_strategy(None, strategy)
    console = Console(stderr=True, highlight=False)
    load_valid_strategy(path, console)
    figures = _figures(path, with_data, k)
    entries = _register_entries(path, with_data)
    with _mkdocs_log(verbose), published_register(entries):
        try:
            site = build_site(strategy=path, out=out, config_file=config_file, figures=figures)
        except DocsBuildError as exc:
            typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from exc
    typer.echo(f"Built the docs site for {path} in {site}/ (open {site / 'index.html'}).")


@docs_app.command("serve")
def serve_command(
    strategy: StrategyOption = None,
    dev_addr: Annotated[
        str | None,
        typer.Option("--dev-addr", "-a", help="IP:port to serve on (default 127.0.0.1:8000)."),
    ] = None,
    config_file: ConfigOption = None,
    with_data: WithDataOption = False,
    k: KOption = DEFAULT_K,
) -> None:
    """Serve the site locally; it rebuilds when the strategy or the guides change."""
    path = resolve_strategy(None, strategy)
    load_valid_strategy(path, Console(stderr=True, highlight=False))
    figures = _figures(path, with_data, k)
    entries = _register_entries(path, with_data)
    with _mkdocs_log(False), published_register(entries):
        try:
            serve_site(strategy=path, config_file=config_file, dev_addr=dev_addr, figures=figures)
        except DocsBuildError as exc:
            typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from exc
