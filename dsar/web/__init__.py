"""The pages of the service: the privacy center (``/privacy``) and the request desk (``/desk``),
server-rendered, no script.

:func:`install` adds the routers and the static files to an app; the JSON API stays in
``dsar.api``. Both call the same domain services.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install"]


def install(app: FastAPI, *, csrf_secret: str, secure_cookies: bool = False) -> None:
    """Serve the privacy center's pages and its stylesheet, its forms guarded against CSRF."""
    from starlette.staticfiles import StaticFiles

    from dsar.web.consents import router as consents_router
    from dsar.web.csrf import CsrfGuard
    from dsar.web.desk import router as desk_router
    from dsar.web.privacy import router
    from dsar.web.requests import router as requests_router

    app.include_router(router)
    app.include_router(requests_router)
    app.include_router(consents_router)
    app.include_router(desk_router)
    app.add_middleware(CsrfGuard, secret=csrf_secret, secure=secure_cookies)
    app.mount(
        "/privacy/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="privacy-static",
    )
