"""The pages of the service: the privacy center (``/privacy``), server-rendered, no script.

:func:`install` adds the routers and the static files to an app; the JSON API stays in
``dsar.api``. Both call the same domain services.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Serve the privacy center's pages and its stylesheet."""
    from starlette.staticfiles import StaticFiles

    from dsar.web.privacy import router

    app.include_router(router)
    app.mount(
        "/privacy/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="privacy-static",
    )
