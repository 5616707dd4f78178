"""Art. 17 erasure as a recorded plan over three stores that share no transaction.

The main database, the subject keystore (a database of its own) and each external system
commit independently, so no one transaction can make an erasure atomic. Instead it is a saga
whose every step is on record in the main database:

1. **Plan.** The steps (``main``, ``keystore``, ``external:<id>`` …) are written ``planned``,
   with the subject's identifiers sealed for the external systems, and committed together with
   the request moving to ``in_progress``, before anything is destroyed.
2. **Main database.** The subject's rows are deleted or cleared, the contact log emptied and a
   restriction raised on what is kept, in one transaction that also marks the step done with
   what it counted. A crash before that commit leaves nothing done and the step planned.
3. **Keystore.** What the keystore holds (a key, none, or a tombstone from before) is committed
   first, then the key is shredded (idempotent), then the step is marked done. A resume after a
   crash in between reports the destruction it observed, never "no encrypted values were held".
4. **External systems**, each on its own: the attempt is committed, the rows are deleted in that
   system's transaction, and the step is marked done with the counts or failed with the reason.

Each step's outcome goes to the audit log (counts only) in the transaction that marks it. While
a step is ``planned``, ``running`` or ``failed`` the request stays ``in_progress``; running the
erasure again resumes only those steps, and the request completes once every step is done. The
sealed identifiers are deleted as soon as no external step is pending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.erasure.records import erase_in_main
from dsar.erasure.report import KEY_KEPT, erasure_result, iso
from dsar.erasure.sealed import seal_identity, unseal_identity
from dsar.erasure.tables import (
    EXTERNAL_PREFIX,
    KEYSTORE,
    MAIN,
    ErasurePlanRow,
    ErasureStepRow,
    StepState,
)
from dsar.requests import RequestRow, Requests, Status
from kernel.errors import CryptoError
from kernel.keys import Keyring
from kernel.keystore import ErasedSubjectRow, SubjectKeyStore
from records.external import ExternalSystems
from records.store import RecordStore, subject_exists
from schemas.models import Strategy

__all__ = ["Erasure", "ErasureOutcome"]


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    """Whether every step is done, and the result that says what was done where and when."""

    finished: bool
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Claim:
    attempt: int
    previous: str
    previous_started: datetime | None
    detail: dict[str, Any]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _changed(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE changed (a Session's result is typed without ``rowcount``)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def _pairs(counts: Mapping[str, int]) -> list[str]:
    """Counts as ``name=n`` strings: the audit log takes scalars and lists of scalars only."""
    return [f"{k}={v}" for k, v in sorted(counts.items())]


class Erasure:
    """Runs or resumes the recorded erasure of one request (see the module docstring)."""

    def __init__(
        self,
        strategy: Strategy,
        store: RecordStore,
        external: ExternalSystems,
        *,
        now: Callable[[], datetime],
        requests: Requests | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.strategy = strategy
        self.store = store
        self.external = external
        self._now = now
        self._requests = requests
        self._audit = audit

    @property
    def _keystore(self) -> SubjectKeyStore | None:
        return self.store.crypto.keystore if self.store.crypto is not None else None

    @property
    def _keyring(self) -> Keyring | None:
        return self.store.crypto.pseudonymiser.keyring if self.store.crypto is not None else None

    # ── the run ──────────────────────────────────────────────────────────────────────────────

    def run(
        self,
        session: Session,
        request_id: str,
        *,
        subject_id: str | None,
        identity: Mapping[str, str],
        actor: str,
    ) -> ErasureOutcome:
        """Plan the erasure (first run only), carry out every step not done, and commit.

        ``identity`` holds the subject's identifiers as text (those on record and the one the
        request gave); it is sealed into the plan for the external systems. On a resume the
        plan's subject and sealed identity are used, since the records may already be gone.
        Steps whose system cannot be reached are left failed; anything else raised is a crash,
        after which the plan still stands and a new run resumes it.
        """
        plan = self._plan(
            session, request_id, subject_id=subject_id, identity=identity, actor=actor
        )
        try:
            for name in [s.step for s in self._steps(session, request_id)]:
                state = self._state(session, request_id, name)
                if state == StepState.DONE:
                    continue
                if name == MAIN:
                    self._main(session, plan, actor=actor)
                elif name == KEYSTORE:
                    if self._state(session, request_id, MAIN) == StepState.DONE:
                        self._shred(session, plan, actor=actor)
                else:
                    self._reach(session, plan, name, actor=actor)
            return self._finish(session, request_id, actor=actor)
        except BaseException:
            session.rollback()
            raise

    def _plan(
        self,
        session: Session,
        request_id: str,
        *,
        subject_id: str | None,
        identity: Mapping[str, str],
        actor: str,
    ) -> ErasurePlanRow:
        existing = session.get(ErasurePlanRow, request_id)
        if existing is not None:
            return existing
        now = self._now()
        externals = [f"{EXTERNAL_PREFIX}{e.id}" for e in self.external.strategy.system.external]
        names = [MAIN]
        if subject_id is not None and self._keystore is not None:
            names.append(KEYSTORE)
        names.extend(externals)
        plan = ErasurePlanRow(
            request_id=request_id,
            subject_id=subject_id,
            identity_sealed=self._seal(request_id, identity) if externals else None,
            planned_at=now,
        )
        session.add(plan)
        session.add_all(
            ErasureStepRow(
                request_id=request_id,
                step=name,
                position=i,
                state=StepState.PLANNED,
                attempts=0,
                detail={},
            )
            for i, name in enumerate(names)
        )
        session.flush()
        self._log(session, plan, actor, "dsar.erasure_planned", {"steps": names})
        self._progress(session, plan, actor, note=f"erasure planned: {', '.join(names)}")
        try:
            session.commit()
        except IntegrityError:
            # Another worker planned this erasure at the same moment: carry on with theirs.
            session.rollback()
            existing = session.get(ErasurePlanRow, request_id)
            if existing is None:
                raise
            return existing
        return plan

    def _finish(self, session: Session, request_id: str, *, actor: str) -> ErasureOutcome:
        plan = session.get(ErasurePlanRow, request_id, populate_existing=True)
        assert plan is not None
        steps = self._steps(session, request_id)
        pending = [s.step for s in steps if s.state != StepState.DONE]
        if plan.identity_sealed is not None and not any(
            p.startswith(EXTERNAL_PREFIX) for p in pending
        ):
            plan.identity_sealed = None  # no external system needs to find the subject any more
        if not pending and plan.finished_at is None:
            plan.finished_at = self._now()
        session.flush()
        result = erasure_result(plan, steps)
        if self._requests is not None and self._open(session, request_id):
            if not pending:
                self._requests.complete(session, request_id, actor=actor, result=result)
            else:
                self._requests.record_progress(
                    session,
                    request_id,
                    actor=actor,
                    result=result,
                    note=f"erasure unfinished: {', '.join(pending)} not done; retry to resume",
                )
        session.commit()
        return ErasureOutcome(finished=not pending, result=result)

    # ── the steps ────────────────────────────────────────────────────────────────────────────

    def _main(self, session: Session, plan: ErasurePlanRow, *, actor: str) -> None:
        claim = self._claim(session, plan.request_id, MAIN, running=False)
        if claim is None:
            session.rollback()
            return
        sid = plan.subject_id
        erased: dict[str, int] = {}
        kept: list[dict[str, Any]] = []
        held = sid is not None and subject_exists(session, self.store, sid)
        if sid is not None and held:
            kept, erased = erase_in_main(
                session,
                self.strategy,
                self.store,
                sid,
                request_id=plan.request_id,
                now=self._now(),
                forget=None if self._requests is None else self._requests.keyed,
            )
        detail = {"held": held, "erased": erased, "kept": kept}
        self._conclude(
            session,
            plan,
            MAIN,
            claim,
            StepState.DONE,
            detail,
            actor=actor,
            audit={
                "erased": _pairs(erased),
                "kept": _pairs({k["entity"]: k["records"] for k in kept}),
            },
        )

    def _shred(self, session: Session, plan: ErasurePlanRow, *, actor: str) -> None:
        keystore = self._keystore
        claim = self._claim(session, plan.request_id, KEYSTORE, running=True)
        if claim is None:
            session.rollback()
            return
        sid = plan.subject_id
        assert sid is not None  # a keystore step is planned only for a subject we hold
        main = self._detail(session, plan.request_id, MAIN)
        if any(k["encrypted_fields"] for k in main.get("kept", [])):
            kept: dict[str, Any] = {"key": "kept", "why": KEY_KEPT}
            self._conclude(
                session,
                plan,
                KEYSTORE,
                claim,
                StepState.DONE,
                kept,
                actor=actor,
                audit={"key": "kept"},
            )
            return
        if keystore is None:
            problem = "no keystore is configured: start the service with its keystore"
            self._unreachable(session, plan, KEYSTORE, actor=actor, problem=problem, claim=claim)
            return
        detail: dict[str, Any] = dict(claim.detail)
        if "key_held" not in detail:
            # What the keystore holds is on record before the key is touched, so a resume after
            # a crash between the shred and its record still reports the destruction.
            try:
                detail["key_held"] = keystore.has_key(sid)
                detail["erased_before"] = iso(self._tombstone(keystore, sid))
            except SQLAlchemyError as exc:
                session.rollback()
                self._unreachable(session, plan, KEYSTORE, actor=actor, problem=_first_line(exc))
                return
            self._set_detail(session, plan.request_id, KEYSTORE, claim.attempt, detail)
        self._progress(session, plan, actor)
        session.commit()
        try:
            keystore.shred(sid)
            destroyed_at = self._tombstone(keystore, sid)
        except SQLAlchemyError as exc:
            problem = _first_line(exc)
            self._unreachable(session, plan, KEYSTORE, actor=actor, problem=problem, claim=claim)
            return
        if detail["key_held"]:
            detail["key"] = "destroyed"
        else:
            detail["key"] = "destroyed_before" if detail["erased_before"] else "none_held"
        detail["destroyed_at"] = iso(destroyed_at)
        self._conclude(
            session,
            plan,
            KEYSTORE,
            claim,
            StepState.DONE,
            detail,
            actor=actor,
            audit={"key": detail["key"]},
        )

    def _reach(self, session: Session, plan: ErasurePlanRow, name: str, *, actor: str) -> None:
        system = name.removeprefix(EXTERNAL_PREFIX)
        claim = self._claim(session, plan.request_id, name, running=True)
        if claim is None:
            session.rollback()
            return
        self._progress(session, plan, actor)
        session.commit()  # the attempt is on record before the other system is touched
        detail: dict[str, Any] = {}
        if claim.previous == StepState.RUNNING:
            detail["interrupted_attempt_at"] = iso(claim.previous_started)
            detail["note"] = (
                "an earlier attempt was interrupted before its outcome was recorded: rows it "
                "deleted are not in these counts"
            )
        try:
            outcomes = self.external.erase(self._unseal(plan), systems={system})
            problem = (
                f"'{system}' is no longer declared under system.external: declare it again "
                "so its rows can be erased"
            )
        except CryptoError as exc:
            outcomes, problem = [], exc.message
        reached = False
        if outcomes:
            (outcome,) = outcomes
            reached, problem = outcome.reached, outcome.problem or ""
            detail.update(reached=reached, counts=dict(outcome.counts))
        self._conclude(
            session,
            plan,
            name,
            claim,
            StepState.DONE if reached else StepState.FAILED,
            detail,
            actor=actor,
            error=None if reached else problem,
            audit={"reached": reached, "rows": _pairs(detail.get("counts", {}))},
        )

    # ── step bookkeeping ─────────────────────────────────────────────────────────────────────

    def _steps(self, session: Session, request_id: str) -> list[ErasureStepRow]:
        return list(
            session.execute(
                select(ErasureStepRow)
                .where(ErasureStepRow.request_id == request_id)
                .order_by(ErasureStepRow.position)
                .execution_options(populate_existing=True)
            ).scalars()
        )

    def _state(self, session: Session, request_id: str, name: str) -> str:
        return str(
            session.execute(
                select(ErasureStepRow.state).where(
                    ErasureStepRow.request_id == request_id, ErasureStepRow.step == name
                )
            ).scalar_one()
        )

    def _detail(self, session: Session, request_id: str, name: str) -> dict[str, Any]:
        detail = session.execute(
            select(ErasureStepRow.detail).where(
                ErasureStepRow.request_id == request_id, ErasureStepRow.step == name
            )
        ).scalar_one()
        return dict(detail or {})

    def _claim(
        self, session: Session, request_id: str, name: str, *, running: bool
    ) -> _Claim | None:
        """Begin an attempt, or None when another attempt changed the step first.

        The update is conditional on what was read, so of two workers resuming one erasure
        only one carries out each attempt; on PostgreSQL the second waits for the first.
        """
        where = (ErasureStepRow.request_id == request_id, ErasureStepRow.step == name)
        row = session.execute(
            select(
                ErasureStepRow.state,
                ErasureStepRow.attempts,
                ErasureStepRow.started_at,
                ErasureStepRow.detail,
            ).where(*where)
        ).one()
        if row.state == StepState.DONE:
            return None
        values: dict[str, Any] = {"attempts": row.attempts + 1, "started_at": self._now()}
        if running:
            values["state"] = StepState.RUNNING
        claimed = _changed(
            session,
            update(ErasureStepRow)
            .where(*where, ErasureStepRow.attempts == row.attempts)
            .values(**values)
            .execution_options(synchronize_session=False),
        )
        if claimed != 1:
            return None
        return _Claim(row.attempts + 1, str(row.state), row.started_at, dict(row.detail or {}))

    def _set_detail(
        self, session: Session, request_id: str, name: str, attempt: int, detail: dict[str, Any]
    ) -> None:
        session.execute(
            update(ErasureStepRow)
            .where(
                ErasureStepRow.request_id == request_id,
                ErasureStepRow.step == name,
                ErasureStepRow.attempts == attempt,
            )
            .values(detail=detail)
            .execution_options(synchronize_session=False)
        )

    def _conclude(
        self,
        session: Session,
        plan: ErasurePlanRow,
        name: str,
        claim: _Claim,
        state: StepState,
        detail: dict[str, Any],
        *,
        actor: str,
        error: str | None = None,
        audit: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the attempt's outcome, its audit entry and the request's result; commit."""
        marked = _changed(
            session,
            update(ErasureStepRow)
            .where(
                ErasureStepRow.request_id == plan.request_id,
                ErasureStepRow.step == name,
                ErasureStepRow.attempts == claim.attempt,
                ErasureStepRow.state != StepState.DONE,
            )
            .values(state=state, at=self._now(), detail=detail, error=error)
            .execution_options(synchronize_session=False),
        )
        if marked != 1:
            session.rollback()  # a later attempt took the step over; its record stands
            return
        self._log(
            session,
            plan,
            actor,
            "dsar.erasure_step",
            {"step": name, "state": str(state), "attempt": claim.attempt, **(audit or {})},
        )
        self._progress(session, plan, actor)
        session.commit()

    def _unreachable(
        self,
        session: Session,
        plan: ErasurePlanRow,
        name: str,
        *,
        actor: str,
        problem: str,
        claim: _Claim | None = None,
    ) -> None:
        """Record the step failed (claiming an attempt first if none is under way)."""
        session.rollback()
        current = claim or self._claim(session, plan.request_id, name, running=True)
        if current is None:
            session.rollback()
            return
        self._conclude(
            session,
            plan,
            name,
            current,
            StepState.FAILED,
            self._detail(session, plan.request_id, name),
            actor=actor,
            error=f"the {name} could not be reached: {problem}",
            audit={"reached": False},
        )

    def _log(
        self,
        session: Session,
        plan: ErasurePlanRow,
        actor: str,
        action: str,
        details: Mapping[str, Any],
    ) -> None:
        if self._audit is not None:
            self._audit.append(
                session,
                AuditEvent(
                    actor=actor,
                    action=action,
                    subject_id=plan.subject_id,
                    request_id=plan.request_id,
                    details=details,
                ),
                at=self._now(),
            )

    def _progress(
        self, session: Session, plan: ErasurePlanRow, actor: str, *, note: str | None = None
    ) -> None:
        """The request's result follows every step, so a crash leaves a truthful account."""
        if self._requests is None or not self._open(session, plan.request_id):
            return
        session.flush()
        result = erasure_result(plan, self._steps(session, plan.request_id))
        self._requests.record_progress(
            session, plan.request_id, actor=actor, result=result, note=note
        )

    def _open(self, session: Session, request_id: str) -> bool:
        """Whether the request can still take progress (a concurrent run may have closed it)."""
        status = session.execute(
            select(RequestRow.status).where(RequestRow.id == request_id)
        ).scalar_one_or_none()
        return status in {Status.VERIFIED, Status.IN_PROGRESS}

    @staticmethod
    def _tombstone(keystore: SubjectKeyStore, subject_id: str) -> datetime | None:
        with Session(keystore.engine) as ks:
            at = ks.execute(
                select(ErasedSubjectRow.erased_at).where(ErasedSubjectRow.subject_id == subject_id)
            ).scalar_one_or_none()
        return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)

    # ── the sealed identity ──────────────────────────────────────────────────────────────────

    def _seal(self, request_id: str, identity: Mapping[str, str]) -> str:
        if self._keyring is None:
            raise CryptoError(
                "erasing in external systems needs the keyring, to keep the subject's "
                "identifiers sealed until every system is reached",
                request_id=request_id,
            )
        return seal_identity(self._keyring, request_id, identity)

    def _unseal(self, plan: ErasurePlanRow) -> dict[str, str]:
        if self._keyring is None or plan.identity_sealed is None:
            raise CryptoError(
                "the subject's identifiers are not at hand: this erasure's external systems "
                "cannot be reached without them",
                request_id=plan.request_id,
            )
        return unseal_identity(self._keyring, plan.request_id, plan.identity_sealed)
