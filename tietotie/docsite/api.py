"""The service's OpenAPI description, produced by the app factory without touching real state."""

from __future__ import annotations

import base64
import secrets
import tempfile
from pathlib import Path
from typing import Any

from tietotie.settings import Environment, Settings

__all__ = ["openapi_spec"]


def openapi_spec(strategy: Path) -> dict[str, Any]:
    """``create_app(settings).openapi()`` for ``strategy``, on a throwaway database and keys.

    The app factory opens a database and a keyring; for the docs both live in a temporary
    directory (an in-memory SQLite database, a random master key made for this one call).
    """
    from tietotie.app import create_app

    with tempfile.TemporaryDirectory(prefix="tietotie-openapi-") as tmp:
        var = Path(tmp)
        settings = Settings(
            environment=Environment.DEVELOPMENT,
            strategy=strategy,
            database_url="sqlite://",
            var_dir=var,
            key_file=var / "master.key",
            master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        )
        app = create_app(settings)
        spec: dict[str, Any] = app.openapi()
        engine = getattr(app.state, "engine", None)
        if engine is not None:
            engine.dispose()
        return spec
