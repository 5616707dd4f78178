"""CSRF protection of the pages' forms: asgi-csrf's signed double-submit token.

Every form of the privacy center and the request desk carries the ``csrftoken`` hidden
field, matched against a signed cookie of the same name (``SameSite=Strict``). The JSON API
(a bearer token, no cookies) and the one-click unsubscribe (a mail client POSTs it, RFC 8058,
and the signed link is its own proof) are not form flows and are left out.
"""

from __future__ import annotations

from typing import Any

from asgi_csrf import asgi_csrf  # type: ignore[import-untyped]
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CsrfGuard"]


def _not_a_page_form(scope: dict[str, Any]) -> bool:
    path: str = scope.get("path", "")
    if path == "/desk" or path.startswith("/desk/"):
        return False
    return not path.startswith("/privacy/") or path.startswith("/privacy/unsubscribe/")


class CsrfGuard:
    """Starlette middleware around :func:`asgi_csrf.asgi_csrf`."""

    def __init__(self, app: ASGIApp, *, secret: str, secure: bool = False) -> None:
        self._inner = asgi_csrf(
            app,
            signing_secret=secret,
            cookie_samesite="Strict",
            cookie_secure=secure,
            skip_if_scope=_not_a_page_form,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._inner(scope, receive, send)
