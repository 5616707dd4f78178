"""What a request must say to be received: its type, one identifier, and (rectification) changes.

Each refusal is a :class:`RequestError` naming the field to fix and how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dsar.requests.enums import RequestType
from kernel.errors import RequestError
from schemas.models import Strategy

__all__ = ["check_details", "parse_identity", "parse_type"]


def parse_type(text: str) -> RequestType:
    """The right asked for."""
    try:
        return RequestType(text)
    except ValueError:
        raise RequestError(
            f"'{text}' is not a request type; use one of {', '.join(t.value for t in RequestType)}",
            field="type",
        ) from None


def parse_identity(
    identity: Mapping[str, Any],
    *,
    identifiers: Sequence[str],
    normalise: Callable[[str, str], str],
) -> tuple[str, str]:
    """The one identifier given, as ``(field, normalised value)``."""
    if len(identity) != 1:
        raise RequestError(
            'give exactly one identifier in \'identity\', e.g. {"email": "…"}; '
            f"this controller knows subjects by {', '.join(identifiers)}",
            field="identity",
        )
    ((key, value),) = identity.items()
    if key not in identifiers:
        raise RequestError(
            f"'{key}' is not an identifier; use one of {', '.join(identifiers)}",
            field=f"identity.{key}",
        )
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"identity.{key} must be a non-empty string", field=f"identity.{key}")
    try:
        return key, normalise(key, value)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"identity.{key}: {exc}", field=f"identity.{key}") from None


def check_details(
    strategy: Strategy, kind: RequestType, details: Mapping[str, Any]
) -> dict[str, Any]:
    """The request's details; a rectification must name known fields and their new values."""
    if kind is not RequestType.RECTIFICATION:
        return dict(details)
    changes = details.get("changes")
    if not isinstance(changes, dict) or not changes:
        raise RequestError(
            'a rectification needs details.changes: {"entity.field": new value}',
            field="details.changes",
        )
    unknown = [ref for ref in changes if ref not in strategy.index.fields]
    if unknown:
        raise RequestError(
            f"details.changes names unknown fields: {', '.join(unknown)}",
            field="details.changes",
        )
    return dict(details)
