"""The access policy's vocabulary: decisions, actions, matrix rows, masked values, audit events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Action",
    "DecideRequest",
    "DecideResponse",
    "Decision",
    "DecisionEvent",
    "DecisionSink",
    "MaskedValue",
    "MatrixRow",
]


class Decision(StrEnum):
    """What the policy says about one role × field × use × action (Art. 5(1)(b)-(c), 25, 32 GDPR).

    Anything the strategy does not grant is ``deny`` (data protection by default, Art. 25(2)).
    """

    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"


class Action(StrEnum):
    """What a role does with a field."""

    READ = "read"
    WRITE = "write"


class MatrixRow(NamedTuple):
    """One line of the access matrix: a role's read and write decision on a field for a use."""

    role: str
    use: str
    field: str
    read: Decision
    write: Decision


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionEvent(_Model):
    """A decision that denied or masked, for the audit log; it holds no personal data.

    Only ids from the strategy (role, use, field) and, when the caller gives one, the
    pseudonymous subject id: never a value.
    """

    role: str = Field(description="The role id asking.")
    field: str = Field(description="The field reference asked about (entity.field).")
    use: str = Field(description="The use id (purpose) stated.")
    action: str = Field(description="read or write, as asked (anything else was denied).")
    decision: Decision = Field(description="mask or deny (allow is not an event).")
    reason: str = Field(description="Why, in words an auditor reads.")
    subject_id: str | None = Field(
        default=None, description="Pseudonymous subject id the read concerned, if any."
    )
    at: datetime = Field(
        default_factory=lambda: datetime.now(UTC), description="When it was decided (UTC)."
    )


DecisionSink: TypeAlias = Callable[[DecisionEvent], None]
"""Where audited decisions go: the service's audit log, or a list's ``append`` in tests."""


class MaskedValue(_Model):
    """How a masked value appears in an API response: ``{"masked": true, "value": …}``."""

    masked: Literal[True] = Field(default=True, description="Always true: the value is masked.")
    value: str | None = Field(description="The masked form (never the original value).")


class DecideRequest(_Model):
    """``POST /v1/policy/decide``: one question to the policy."""

    role: str = Field(description="Role id of organisation.yaml.")
    field: str = Field(description="Field reference, entity.field.")
    use: str = Field(description="Use id (the purpose stated).")
    action: Action = Field(default=Action.READ, description="read or write.")


class DecideResponse(_Model):
    """The answer to one policy question, with the reason in words."""

    role: str = Field(description="Role id asked about.")
    field: str = Field(description="Field reference asked about.")
    use: str = Field(description="Use id asked about.")
    action: Action = Field(description="read or write.")
    decision: Decision = Field(description="allow | mask | deny.")
    reason: str = Field(description="Why the policy decides so.")
    row_filters: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Conditions every row the role sees for this use must meet (all must hold).",
    )
