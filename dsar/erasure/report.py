"""The result of an erasure as the requester, staff and an auditor read it: per system, what
was done and when, and what is still pending."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from dsar.erasure.tables import (
    EXTERNAL_PREFIX,
    KEYSTORE,
    MAIN,
    ErasurePlanRow,
    ErasureStepRow,
    StepState,
)

__all__ = ["KEY_KEPT", "erasure_result", "iso"]

KEY_KEPT: Final = (
    "the subject key is kept: fields held under a legal obligation are encrypted with it"
)
"""Why the keystore step keeps the key."""
_CONSENT_HISTORY: Final = (
    "kept as proof of lawful processing (Art. 7(1), 17(3)(e)); it holds only the pseudonymous "
    "subject id"
)
_SYSTEMS: Final = {MAIN: "main database", KEYSTORE: "keystore"}


def iso(value: datetime | None) -> str | None:
    """An aware ISO 8601 timestamp (a naive one is UTC), or None."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def erasure_result(plan: ErasurePlanRow, steps: Sequence[ErasureStepRow]) -> dict[str, Any]:
    """What was erased and kept and why, per system its state and time, and what is pending.

    ``erased``, ``kept``, ``crypto_shredded``, ``crypto_note`` and ``external`` summarise the
    steps; ``steps`` holds each in full; ``finished`` is true only when every step is done.
    """
    by_name = {s.step: s for s in steps}
    main = by_name.get(MAIN)
    main_detail = main.detail if main is not None and main.state == StepState.DONE else {}
    keystore = by_name.get(KEYSTORE)
    pending = [s.step for s in steps if s.state != StepState.DONE]
    external = [
        {
            "system": s.step.removeprefix(EXTERNAL_PREFIX),
            # True when done, False when the last attempt failed, None when not yet attempted
            "reached": {StepState.DONE: True, StepState.FAILED: False}.get(StepState(s.state)),
            "problem": s.error if s.state != StepState.DONE else None,
            "counts": dict(s.detail.get("counts", {})),
            "at": iso(s.at),
        }
        for s in steps
        if s.step.startswith(EXTERNAL_PREFIX)
    ]
    result: dict[str, Any] = {
        "finished": not pending,
        "planned_at": iso(plan.planned_at),
        "finished_at": iso(plan.finished_at),
        "erased": dict(main_detail.get("erased", {})),
        "kept": list(main_detail.get("kept", [])),
        "crypto_shredded": keystore is not None
        and keystore.state == StepState.DONE
        and keystore.detail.get("key") != "kept",
        "crypto_note": _key_note(keystore),
        "external": external,
        "consent_history": _CONSENT_HISTORY,
        "steps": [_step_view(s) for s in steps],
        "pending": pending,
    }
    if pending:
        result["next"] = (
            "retry the request once every system is reachable: only the pending steps run "
            "again, nothing done is repeated"
        )
    return result


def _key_note(step: ErasureStepRow | None) -> str | None:
    if step is None:
        return None
    if step.state != StepState.DONE:
        return "the subject's key is not destroyed yet: the keystore step is pending"
    key, at = step.detail.get("key"), step.detail.get("destroyed_at")
    if key == "kept":
        return KEY_KEPT
    if key == "destroyed":
        return (
            f"the subject's key was destroyed at {at}: encrypted values in every copy and "
            "backup are unreadable"
        )
    if key == "destroyed_before":
        return f"the subject's key had already been destroyed, at {at}, before this request"
    return "no encrypted values were held; the subject is marked erased"


def _step_view(step: ErasureStepRow) -> dict[str, Any]:
    return {
        "step": step.step,
        "system": _SYSTEMS.get(step.step) or step.step.removeprefix(EXTERNAL_PREFIX),
        "state": step.state,
        "at": iso(step.at),
        "started_at": iso(step.started_at),
        "attempts": step.attempts,
        "detail": dict(step.detail or {}),
        "error": step.error,
    }
