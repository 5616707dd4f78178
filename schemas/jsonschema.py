"""JSON Schema (draft 2020-12) per entity, with the strategy's facts as ``x-tietotie-*`` keywords.

The schemas describe a record in its canonical, stored form (what the runtime models give: an
E.164 phone, an alpha-2 country, a UTC date-time). Each property carries, besides ``type`` and
``format``, the field's ``x-tietotie-category``, ``x-tietotie-protect``,
``x-tietotie-special-category``, ``x-tietotie-encrypted-at-rest``, ``x-tietotie-retention``
with ``x-tietotie-retention-rule`` (which rule set it: the longest use that lists the field, or
the entity's own retention where a legal obligation lists it), ``x-tietotie-sources`` and
``x-tietotie-uses``. The entity's ``x-tietotie-retention`` is how long a row is kept: as long
as its longest-kept field, which is what ingest stamps on the row and the retention run deletes by.
"""

from __future__ import annotations

import re
from typing import Any, Final

from schemas.enums import SPECIAL_CATEGORIES, FieldType
from schemas.models import FieldSpec, Strategy
from schemas.runtime import DECIMAL_FRACTION_DIGITS, DECIMAL_INTEGER_DIGITS, STRING_MAX
from schemas.tables import entity_retention, retention_rule

__all__ = ["DIALECT", "entity_schema", "entity_schemas"]

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The ``$schema`` of every generated schema."""

_DECIMAL_PATTERN = rf"^-?\d{{1,{DECIMAL_INTEGER_DIGITS}}}(\.\d{{1,{DECIMAL_FRACTION_DIGITS}}})?$"


def _type_schema(spec: FieldSpec) -> dict[str, Any]:
    match spec.type:
        case FieldType.STRING:
            return {"type": "string", "minLength": 1, "maxLength": STRING_MAX}
        case FieldType.TEXT:
            return {"type": "string", "minLength": 1}
        case FieldType.EMAIL:
            return {"type": "string", "format": "email", "maxLength": 254}
        case FieldType.PHONE:
            return {
                "type": "string",
                "pattern": r"^\+[1-9]\d{1,14}$",
                "description": "E.164 phone number",
            }
        case FieldType.INTEGER:
            return {"type": "integer"}
        case FieldType.DECIMAL:
            return {
                "type": ["number", "string"],
                "pattern": _DECIMAL_PATTERN,
                "description": "decimal number; as a string to keep it exact",
            }
        case FieldType.BOOLEAN:
            return {"type": "boolean"}
        case FieldType.DATE:
            return {"type": "string", "format": "date"}
        case FieldType.DATETIME:
            return {"type": "string", "format": "date-time", "description": "UTC date and time"}
        case FieldType.ENUM:
            return {"type": "string", "enum": list(spec.values or [])}
        case FieldType.COUNTRY:
            return {
                "type": "string",
                "pattern": "^[A-Z]{2}$",
                "description": "ISO 3166-1 alpha-2 country code",
            }
        case FieldType.POSTAL_CODE:
            return {"type": "string", "pattern": r"^[A-Z0-9](?:[A-Z0-9 -]{0,8}[A-Z0-9])?$"}
        case FieldType.URL:
            return {"type": "string", "format": "uri", "pattern": "^https?://"}
    raise AssertionError(spec.type)  # pragma: no cover


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "controller"


def entity_schema(strategy: Strategy, entity: str) -> dict[str, Any]:
    """The JSON Schema of one entity's records, annotated with the strategy's facts."""
    index = strategy.index
    spec = index.entities[entity]
    properties: dict[str, Any] = {}
    for name, field in spec.fields.items():
        ref = f"{entity}.{name}"
        prop = _type_schema(field)
        prop["title"] = ref
        prop["x-tietotie-type"] = field.type.value
        prop["x-tietotie-category"] = field.category.value
        prop["x-tietotie-special-category"] = field.category in SPECIAL_CATEGORIES
        prop["x-tietotie-protect"] = field.protect.value
        prop["x-tietotie-encrypted-at-rest"] = index.encrypted_at_rest(ref)
        prop["x-tietotie-retention"], prop["x-tietotie-retention-rule"] = retention_rule(
            strategy, ref
        )
        prop["x-tietotie-sources"] = sorted(index.field_sources.get(ref, []))
        prop["x-tietotie-uses"] = sorted(index.field_uses.get(ref, []))
        properties[name] = prop
    return {
        "$schema": DIALECT,
        "$id": f"urn:tietotie:{_slug(strategy.controller.name)}:{entity}",
        "title": entity,
        "description": f"A {entity} record of {strategy.system.name} "
        f"({strategy.controller.name}), in canonical form.",
        "type": "object",
        "properties": properties,
        "required": [n for n, f in spec.fields.items() if f.required],
        "additionalProperties": False,
        "x-tietotie-subject": spec.subject,
        "x-tietotie-parent": spec.parent,
        "x-tietotie-identifiers": list(spec.identifiers),
        "x-tietotie-match-on": [list(k) for k in spec.match_on],
        "x-tietotie-retention": entity_retention(strategy, entity),
        "x-tietotie-retention-rule": _row_rule(strategy, entity, properties),
    }


def _row_rule(strategy: Strategy, entity: str, properties: dict[str, Any]) -> str:
    """Why a row is kept as long as the entity's ``x-tietotie-retention`` says."""
    kept = entity_retention(strategy, entity)
    for name, prop in properties.items():
        if prop["x-tietotie-retention"] is not None and prop["x-tietotie-retention"] == kept:
            return f"its longest-kept field: {entity}.{name}, {prop['x-tietotie-retention-rule']}"
    if kept is not None:
        return f"the retention of entity {entity} (no use lists its fields)"
    return "held for no use"


def entity_schemas(strategy: Strategy) -> dict[str, dict[str, Any]]:
    """Every entity's JSON Schema, by entity name."""
    return {name: entity_schema(strategy, name) for name in strategy.system.entities}
