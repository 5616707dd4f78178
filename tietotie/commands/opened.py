"""The database engines a command opened, closed when the command ends.

Apart from :mod:`tietotie.commands.service` so that the root callback, which runs before every
command, can arrange the closing without importing the database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["close_opened", "remember"]

_opened: list[Engine] = []
"""Engines :func:`tietotie.commands.service.open_from_cli` opened for the running command."""


def remember(engine: Engine) -> None:
    """Close ``engine`` when the running command ends."""
    _opened.append(engine)


def close_opened() -> None:
    """Close the database connections of every command's services (the root callback
    registers this to run when the command ends)."""
    while _opened:
        _opened.pop().dispose()
