"""Plausible consent histories for seeded subjects, recorded by the consent service's rules.

For each consent-based use of the strategy, a seeded subject was never asked (1 in 5), refused
(3 in 20), or gave consent through one of the sources that can capture it, with the notice
that source shows. Of those who gave, some withdrew later (15 %); a given consent lapses after
the use's ``consent_valid_for``, and half of the lapsed ones were asked again and gave again.
First statements are spread over one and a half times ``consent_valid_for`` back from ``now``
(three years for a use without one), so some consents are current and some have expired. A
use that needs a special-category field (Art. 9) is given only by the subjects holding a value
in such a field, recently enough to be current: the seed stores that data only with consent.

How it is written: the first statement of each (use, source, state) goes through
:func:`consent.service.record_consent`, which checks the source, the notice and the evidence
and signs the receipt. Every later statement of that combination copies the columns that
rule fixed (controller, notice, channel, method, withdrawal method, key version, evidence)
from it, computes ``expires_at`` as the service does, signs its own receipt with the same
signer (the ledger stores receipts, so none is skipped) and is written with one bulk insert
per chunk. Its receipt claims are the first receipt's with the per-event claims replaced (id,
subject, times); the first such event of each combination is compared with
:func:`consent.receipts.build_claims`, which every event of the combination then uses if the
two ever differ. Every statement's evidence is ``{"origin": "demo-seed"}``, so seeded history
is told from real statements.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from dateutil.relativedelta import relativedelta
from sqlalchemy import Table
from sqlalchemy.orm import Session

from consent.current import refresh
from consent.models import CollectionMethod, RecordedState
from consent.receipts import ReceiptFacts, ReceiptSigner, build_claims, decode_claims
from consent.service import consent_uses, record_consent
from consent.tables import ConsentBase
from records.bulk import insert_rows
from schemas.models import Source, Strategy
from schemas.primitives import parse_duration, split_ref

__all__ = ["EVIDENCE", "LEDGER_TABLE", "ConsentSeeder", "Statement"]

EVIDENCE: Final = {"origin": "demo-seed"}
"""The evidence of every seeded statement: synthetic history, never a real subject's word."""

LEDGER_TABLE: Final = "consent_event"
"""The ledger's table, as counted in :attr:`records.seed.SeedResult.rows`."""

_NEVER_ASKED: Final = 0.20
_REFUSED: Final = 0.15
_WITHDRAWN: Final = 0.15
_ASKED_AGAIN: Final = 0.5
_SPREAD: Final = 1.5
_NO_VALIDITY: Final = timedelta(days=3 * 365)
# Columns the service's rules fix per (use, source, state): copied from its first event.
_FIXED: Final = (
    "use",
    "state",
    "controller_name",
    "controller_id",
    "notice",
    "language",
    "jurisdiction",
    "source",
    "channel",
    "method",
    "withdrawal_method",
    "recorded_by",
    "evidence",
    "key_version",
)


@dataclass(frozen=True, slots=True)
class Statement:
    """One thing a seeded subject said about one use: the history before it is written."""

    subject_id: str
    use: str
    state: RecordedState
    source: str
    at: datetime


@dataclass(frozen=True)
class _Use:
    """How statements about one consent-based use are drawn."""

    id: str
    sources: tuple[Source, ...]
    valid_for: relativedelta | None
    span_seconds: int
    special: tuple[tuple[str, str], ...]


@dataclass
class _Template:
    """The columns and receipt claims the service's rules gave one (use, source, state)."""

    fixed: dict[str, Any]
    claims: dict[str, Any]
    checked: bool = False
    exact: bool = True


def _z(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


@dataclass
class ConsentSeeder:
    """Draws the consent histories of seeded subjects and writes them to the ledger."""

    strategy: Strategy
    signer: ReceiptSigner
    seed_value: int
    now: datetime
    _uses: list[_Use] = field(init=False)
    _rng: random.Random = field(init=False)
    _templates: dict[tuple[str, str, str], _Template] = field(init=False, default_factory=dict)

    @property
    def table(self) -> Table:
        """The ledger table the seeder writes."""
        return ConsentBase.metadata.tables[LEDGER_TABLE]

    def __post_init__(self) -> None:
        # Its own generator: the records' values stay what they were before consents were seeded.
        self._rng = random.Random(f"consents/{self.seed_value}")  # noqa: S311 - synthetic data
        index = self.strategy.index
        self._uses = []
        for use in consent_uses(self.strategy):
            sources = tuple(
                s for s in self.strategy.sources if use.id in s.consent_for and s.notice
            )
            if not sources:
                continue  # nothing can capture it: validate says so; nobody consented
            valid_for = parse_duration(use.consent_valid_for) if use.consent_valid_for else None
            span = (self.now + valid_for) - self.now if valid_for else _NO_VALIDITY
            special = tuple(
                split_ref(ref) for ref in sorted(index.use_fields[use.id]) if index.is_special(ref)
            )
            self._uses.append(
                _Use(use.id, sources, valid_for, int(span.total_seconds() * _SPREAD), special)
            )

    @property
    def special_fields(self) -> set[tuple[str, str]]:
        """The (entity, field) pairs whose holders give consent to the uses that need them."""
        return {pair for use in self._uses for pair in use.special}

    def histories(self, subject_ids: Iterable[str], holders: set[str]) -> list[Statement]:
        """The statements of ``subject_ids``, in order; ``holders`` hold a special field."""
        out: list[Statement] = []
        for sid in subject_ids:
            for use in self._uses:
                if use.special:
                    if sid in holders:
                        self._current(out, sid, use)
                else:
                    self._history(out, sid, use)
        return out

    def _back(self, seconds: int) -> datetime:
        return self.now - timedelta(seconds=self._rng.randint(0, max(seconds, 0)))

    def _current(self, out: list[Statement], sid: str, use: _Use) -> None:
        source = self._rng.choice(use.sources).id
        span = use.span_seconds / _SPREAD * 0.9 if use.valid_for else use.span_seconds
        out.append(Statement(sid, use.id, RecordedState.GIVEN, source, self._back(int(span))))

    def _history(self, out: list[Statement], sid: str, use: _Use) -> None:
        r = self._rng
        draw = r.random()
        if draw < _NEVER_ASKED:
            return
        source = r.choice(use.sources).id
        first = self._back(use.span_seconds)
        if draw < _NEVER_ASKED + _REFUSED:
            out.append(Statement(sid, use.id, RecordedState.REFUSED, source, first))
            return
        out.append(Statement(sid, use.id, RecordedState.GIVEN, source, first))
        since = int((self.now - first).total_seconds())
        if r.random() < _WITHDRAWN:
            later = min(first + timedelta(seconds=r.randint(1, max(since, 1))), self.now)
            out.append(Statement(sid, use.id, RecordedState.WITHDRAWN, source, later))
            return
        if use.valid_for is None or first + use.valid_for > self.now:
            return
        lapsed = first + use.valid_for
        if r.random() < _ASKED_AGAIN:
            left = int((self.now - lapsed).total_seconds())
            again = lapsed + timedelta(seconds=r.randint(0, max(left, 0)))
            out.append(Statement(sid, use.id, RecordedState.GIVEN, source, again))

    def write(self, session: Session, statements: list[Statement]) -> int:
        """Record ``statements`` in the ledger in ``session``'s transaction; how many."""
        if not statements:
            return 0
        recorded_at = datetime.now(UTC)
        millis = int(recorded_at.timestamp() * 1000)
        rows: list[dict[str, Any]] = []
        for st in statements:
            key = (st.use, st.source, st.state.value)
            template = self._templates.get(key)
            if template is None:
                self._templates[key] = self._first(session, st)
                continue
            rows.append(self._row(template, st, recorded_at, millis))
        # seq left out: the database numbers the events (COPY on PostgreSQL)
        insert_rows(session.connection(), self.table, rows)
        # then each subject's latest event per use, from what the ledger now holds
        uses = [use.id for use in self._uses]
        refresh(session.connection(), uses, (st.subject_id for st in statements))
        return len(statements)

    def _first(self, session: Session, st: Statement) -> _Template:
        source = self.strategy.index.sources[st.source]
        event = record_consent(
            session,
            self.strategy,
            signer=self.signer,
            subject_id=st.subject_id,
            use=st.use,
            state=st.state,
            source=st.source,
            notice=source.notice,
            evidence=EVIDENCE,
            method=CollectionMethod.STAFF,
            recorded_by=source.collected_by,
            at=st.at,
        )
        fixed = event.model_dump(include=set(_FIXED))
        fixed["state"], fixed["method"] = event.state.value, event.method.value
        return _Template(fixed=fixed, claims=decode_claims(event.receipt))

    def _row(
        self, template: _Template, st: Statement, recorded_at: datetime, millis: int
    ) -> dict[str, Any]:
        fixed = template.fixed
        use = self.strategy.index.uses[st.use]
        expires_at = None
        if st.state is RecordedState.GIVEN and use.consent_valid_for:
            expires_at = st.at + parse_duration(use.consent_valid_for)
        record_id = f"{millis:012x}{secrets.token_hex(10)}"  # time-ordered, as the service's
        claims = _patched(template.claims, record_id, st.subject_id, st.at, expires_at)
        if not template.checked or not template.exact:
            made = build_claims(
                self.strategy,
                _facts(fixed, record_id, st.subject_id, st.at, expires_at),
                public_key=str(template.claims["publicKey"]),
            )
            template.exact = template.exact and made == claims
            template.checked = True
            claims = made
        return {
            **fixed,
            "id": record_id,
            "subject_id": st.subject_id,
            "event_time": st.at,
            "recorded_at": recorded_at,
            "expires_at": expires_at,
            "receipt": self.signer.sign(claims, version=int(fixed["key_version"])),
        }


def _patched(
    claims: Mapping[str, Any],
    record_id: str,
    subject_id: str,
    at: datetime,
    expires_at: datetime | None,
) -> dict[str, Any]:
    """``claims`` of one event made the claims of another of the same (use, source, state)."""
    return {
        **claims,
        "consentTimestamp": int(at.timestamp()),
        "consentReceiptID": record_id,
        "piiPrincipalId": subject_id,
        "extensions": {**claims["extensions"], "eventTime": _z(at), "expiresAt": _z(expires_at)},
    }


def _facts(
    fixed: Mapping[str, Any],
    record_id: str,
    subject_id: str,
    at: datetime,
    expires_at: datetime | None,
) -> ReceiptFacts:
    return ReceiptFacts(
        record_id=record_id,
        subject_id=subject_id,
        use=fixed["use"],
        state=fixed["state"],
        event_time=at,
        expires_at=expires_at,
        source=fixed["source"],
        channel=fixed["channel"],
        notice=fixed["notice"],
        language=fixed["language"],
        jurisdiction=fixed["jurisdiction"],
        method=fixed["method"],
        withdrawal_method=fixed["withdrawal_method"],
        evidence=fixed["evidence"],
    )
