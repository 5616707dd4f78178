"""The HTTP room of the service: routers, dependencies and the error handlers.

Every router module exposes ``router``; :data:`ROUTERS` lists them, so adding one is one line.
"""

from typing import Final

__all__ = ["ROUTERS"]

ROUTERS: Final[tuple[str, ...]] = (
    "dsar.api.records",
    "dsar.api.subjects",
    "dsar.api.policy",
    "dsar.api.consents",
    "dsar.api.dsar",
    "dsar.api.audit",
    "dsar.api.pseudonymise",
    "dsar.api.activation",
    "dsar.api.breaches",
)
"""Modules whose ``router`` the app includes, in order."""
