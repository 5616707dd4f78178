"""What a request must say to be received: its type, one identifier, and (rectification) changes.

Each refusal is a :class:`RequestError` naming the field to fix and how; a new value that does
not fit its field is a :class:`ValidationFailed` listing every such field in ``problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from dsar.requests.enums import RequestType
from kernel.errors import RequestError, ValidationFailed
from schemas.enums import Category
from schemas.models import FieldSpec, Strategy
from schemas.runtime import normalise, to_text

__all__ = [
    "CHANGES_STATED",
    "as_json",
    "check_changes",
    "check_details",
    "correctable_fields",
    "parse_identity",
    "parse_type",
]

CHANGES_STATED: Final = "changes stated"
"""How the history note of a requester's stated changes begins (the fields follow, no values)."""


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
    strategy: Strategy,
    kind: RequestType,
    details: Mapping[str, Any],
    *,
    changes_later: bool = False,
) -> dict[str, Any]:
    """The request's details; a rectification must name known fields and their new values.

    ``changes_later``: the requester states the changes after verifying (the privacy center's
    form, :meth:`dsar.requests.Requests.state_changes`), so a rectification may come without.
    """
    if kind is not RequestType.RECTIFICATION:
        return dict(details)
    changes = details.get("changes")
    if changes_later and not changes:
        return {k: v for k, v in details.items() if k != "changes"}
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


def correctable_fields(strategy: Strategy) -> dict[str, dict[str, FieldSpec]]:
    """The fields a verified requester may correct themselves, by entity, in declared order.

    The subject entity's fields and those of the entities directly under it that hold
    personal data (not ``non_personal``). The subject's identifiers are left out: they are how
    a requester proves who they are and how duplicates are matched, and a new address typed
    here has not been proven to reach the person; staff change them after checking it.
    """
    subject = strategy.index.subject_entity
    if subject is None:
        return {}
    entities = strategy.system.entities
    identifiers = set(entities[subject].identifiers)
    out: dict[str, dict[str, FieldSpec]] = {}
    for name, entity in entities.items():
        if name != subject and entity.parent != subject:
            continue
        fields = {
            field: spec
            for field, spec in entity.fields.items()
            if spec.category is not Category.NON_PERSONAL
            and not (name == subject and field in identifiers)
        }
        if fields:
            out[name] = fields
    # The subject entity first, whatever order the strategy declares its entities in.
    return dict(sorted(out.items(), key=lambda item: item[0] != subject))


def check_changes(
    strategy: Strategy,
    changes: Mapping[str, Any],
    *,
    region: str,
    allowed: Collection[str] | None = None,
) -> dict[str, Any]:
    """Each new value of ``changes`` (``{"entity.field": value}``) in its field's canonical form.

    The one check a rectification's values pass, when the requester states them and when they
    are applied (:meth:`dsar.fulfil.Fulfiller.rectify`). ``allowed`` narrows the fields that
    may be named. Every problem is collected: :class:`ValidationFailed` carries them in
    ``problems`` (``{ref: what is wrong}``) and names the first in ``field``.
    """
    index = strategy.index
    clean: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for ref, value in changes.items():
        spec = index.fields.get(ref)
        if spec is None:
            problems[ref] = f"{ref} is not a declared field"
            continue
        if allowed is not None and ref not in allowed:
            problems[ref] = f"{ref} cannot be corrected here; ask privacy staff to change it"
            continue
        try:
            clean[ref] = normalise(spec, value, region=region)
        except ValueError as exc:
            problems[ref] = f"{ref}: {exc}"
    if problems:
        first = next(iter(problems))
        raise ValidationFailed("; ".join(problems.values()), field=first, problems=problems)
    return clean


def as_json(strategy: Strategy, clean: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical values as JSON keeps them: text, whole numbers and booleans as they are, the
    rest (decimals, dates, times) as the text :func:`schemas.runtime.normalise` reads back."""
    fields = strategy.index.fields
    return {
        ref: value if isinstance(value, str | int) else to_text(fields[ref], value)
        for ref, value in clean.items()
    }
