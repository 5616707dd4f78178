"""Lookups over a loaded strategy: ids, expanded field references, and who uses what."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

from schemas.enums import SPECIAL_CATEGORIES, Protect
from schemas.primitives import split_ref

if TYPE_CHECKING:
    from schemas.models import Entity, FieldSpec, Strategy

__all__ = ["StrategyIndex"]

_T = TypeVar("_T")


def _by_id(items: Iterable[_T]) -> dict[str, _T]:
    out: dict[str, _T] = {}
    for item in items:
        out.setdefault(item.id, item)  # type: ignore[attr-defined]
    return out


class StrategyIndex:
    """Everything the checks, the compiler and the service look up, computed once."""

    def __init__(self, strategy: Strategy) -> None:
        s = strategy
        self.strategy = s
        self.roles = _by_id(s.roles)
        self.processors = _by_id(s.processors)
        self.goals = _by_id(s.goals)
        self.uses = _by_id(s.uses)
        self.questions = _by_id(s.questions)
        self.sources = _by_id(s.sources)
        self.reports = _by_id(s.reports)
        self.activations = _by_id(s.activations)
        self.entities: dict[str, Entity] = dict(s.system.entities)
        subjects = [name for name, e in self.entities.items() if e.subject]
        self.subject_entity: str | None = subjects[0] if len(subjects) == 1 else None

        self.fields: dict[str, FieldSpec] = {
            f"{name}.{field}": spec
            for name, entity in self.entities.items()
            for field, spec in entity.fields.items()
        }
        self.use_fields: dict[str, frozenset[str]] = {
            use.id: frozenset(self.expand(use.fields)) for use in self.uses.values()
        }
        field_uses: dict[str, list[str]] = defaultdict(list)
        for use_id, refs in self.use_fields.items():
            for ref in refs:
                field_uses[ref].append(use_id)
        self.field_uses: dict[str, list[str]] = dict(field_uses)
        field_sources: dict[str, list[str]] = defaultdict(list)
        for source in self.sources.values():
            for ref in self.expand(source.collects):
                field_sources[ref].append(source.id)
        self.field_sources: dict[str, list[str]] = dict(field_sources)

    def expand(self, refs: Iterable[str]) -> list[str]:
        """Expand ``entity.*`` into the entity's fields; unknown references are left out."""
        out: list[str] = []
        for ref in refs:
            entity, field = split_ref(ref)
            if field == "*":
                if entity in self.entities:
                    out.extend(f"{entity}.{f}" for f in self.entities[entity].fields)
            elif ref in self.fields:
                out.append(ref)
        return out

    def is_known(self, ref: str) -> bool:
        """Whether a reference names a declared field, or ``entity.*`` of a declared entity."""
        entity, field = split_ref(ref)
        return entity in self.entities if field == "*" else ref in self.fields

    def is_special(self, ref: str) -> bool:
        """Whether a field holds a special category (Art. 9) or criminal data (Art. 10)."""
        spec = self.fields.get(ref)
        return spec is not None and spec.category in SPECIAL_CATEGORIES

    def encrypted_at_rest(self, ref: str) -> bool:
        """Special categories and ``protect: encrypt`` fields are stored under the subject's key."""
        spec = self.fields.get(ref)
        return spec is not None and (
            spec.category in SPECIAL_CATEGORIES or spec.protect is Protect.ENCRYPT
        )

    def lineage(self, entity: str) -> list[str]:
        """The entity and its ancestors up to the subject root (cycles cut)."""
        chain: list[str] = []
        current: str | None = entity
        while current is not None and current in self.entities and current not in chain:
            chain.append(current)
            current = self.entities[current].parent
        return chain
