"""Recording consent events and deriving the current state from them (Art. 7 GDPR).

Every statement a subject makes (given, refused, withdrawn) is one new row of the ledger;
nothing here updates or deletes. The state of a (subject, use) pair at a moment is the event
with the greatest ``(event_time, seq)`` at or before it, read as ``expired`` when it is a
``given`` whose ``expires_at`` has passed.

Rules, each refused with a :class:`ConsentError` that names what is wrong and what to do:

* the use must be declared and rest on consent (Art. 6(1)(a)); other bases have no consent to
  give or withdraw;
* ``given`` only through a source that lists the use in its ``consent_for`` and with the
  notice that source shows (Art. 7(1): the controller must be able to show what the subject
  was told); refusals and withdrawals are taken through any declared source, because
  withdrawing must be as easy as giving (Art. 7(3)) and can never harm the subject;
* the evidence is a small JSON object that holds no personal data (Art. 5(1)(c)): the subject
  is named by the pseudonymous id, so keys such as ``email`` or ``name`` are refused;
* staff record consent only through a source their role collects for (``collected_by``), or
  with the ``consents`` duty (:func:`authorise_staff`, a :class:`Forbidden` otherwise); the
  subject alone only refuses or withdraws, and proves who they are with a receipt the
  controller signed for them earlier (:func:`verify_subject_receipt`, an :class:`AuthError`).

Given an :class:`~audit.AuditLog`, every event recorded is also one audit entry
(``consent.recorded``) in the same transaction: the pseudonymous subject id, the use, the
state, the source, how it was collected and the event (receipt) id, never the evidence.

The caller owns the transaction: these functions add and flush, and never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from consent.authority import authorise_staff, check_self_service, verify_subject_receipt
from consent.current import advance
from consent.models import (
    CollectionMethod,
    ConsentCreate,
    ConsentEvent,
    ConsentPublic,
    ConsentRecorded,
    ConsentState,
    ConsentStatus,
    GpcOutcome,
    RecordedState,
    SubjectConsents,
)
from consent.receipts import (
    ReceiptFacts,
    ReceiptSigner,
    build_claims,
    canonical_json,
    decode_claims,
)
from consent.tables import ConsentEventRow
from kernel.errors import AuthError, ConsentError
from schemas.enums import Category, Duty, LegalBasis, UseKind
from schemas.models import Source, Strategy, Use
from schemas.primitives import parse_duration

__all__ = [
    "EVIDENCE_MAX_BYTES",
    "GPC_KINDS",
    "authorise_call",
    "consent_use",
    "consent_uses",
    "derive_status",
    "gpc_uses",
    "history",
    "honour_gpc",
    "record_call",
    "record_consent",
    "record_gpc_refusals",
    "subject_consents",
]

EVIDENCE_MAX_BYTES: Final = 4096
"""Evidence is proof of a statement (form and wording version, advisor role), not a data dump."""

GPC_KINDS: Final = frozenset({UseKind.DIRECT_MARKETING, UseKind.PROFILING})
"""Kinds of use a ``Sec-GPC: 1`` signal refuses (an automated objection, Art. 21(5) GDPR)."""

_CLOCK_SKEW: Final = timedelta(minutes=5)
_PERSONAL_KEYS: Final = frozenset(
    {
        "email",
        "e_mail",
        "phone",
        "mobile",
        "name",
        "first_name",
        "last_name",
        "full_name",
        "address",
        "street_address",
        "ip",
        "ip_address",
        "hetu",
        "ssn",
        "personal_id",
        "birth_date",
        "date_of_birth",
        "plate",
    }
)


class _Timed(Protocol):
    """What :func:`derive_status` needs of an event."""

    @property
    def event_time(self) -> datetime: ...
    @property
    def seq(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def id(self) -> str: ...


def _record_id(now: datetime) -> str:
    """32 hex digits: 48-bit Unix milliseconds, then 80 random bits (like a UUIDv7).

    Time-ordered ids land at the end of the unique index, so inserts stay cheap at millions.
    """
    millis = int(now.timestamp() * 1000)
    return f"{millis:012x}{secrets.token_hex(10)}"


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ConsentError(
            f"{what} has no time zone: give it in UTC (e.g. 2026-01-31T12:00Z)", parameter=what
        )
    return value.astimezone(UTC)


def consent_uses(strategy: Strategy) -> list[Use]:
    """The uses whose legal basis is consent: the purposes of the ledger (DESIGN §5)."""
    return [u for u in strategy.uses if u.legal_basis is LegalBasis.CONSENT]


def consent_use(strategy: Strategy, use_id: str) -> Use:
    """The consent-based use ``use_id``, or a :class:`ConsentError` saying why it is not one."""
    use = strategy.index.uses.get(use_id)
    if use is None:
        known = ", ".join(u.id for u in consent_uses(strategy)) or "none"
        raise ConsentError(
            f"use {use_id!r} is not declared in 2-use.yaml; consent-based uses are: {known}",
            use=use_id,
            parameter="use",
        )
    if use.legal_basis is not LegalBasis.CONSENT:
        raise ConsentError(
            f"use {use_id!r} rests on {use.legal_basis.value}, not consent (Art. 6(1)); there "
            "is no consent to give, refuse or withdraw for it. To stop it, the subject objects "
            "(Art. 21) or asks for restriction (Art. 18)",
            use=use_id,
            legal_basis=use.legal_basis.value,
            article="6(1)(a)",
        )
    return use


def _source(strategy: Strategy, source_id: str, use: Use, state: RecordedState) -> Source:
    source = strategy.index.sources.get(source_id)
    capable = [s.id for s in strategy.sources if use.id in s.consent_for]
    if source is None:
        raise ConsentError(
            f"source {source_id!r} is not declared in 4-sources.yaml; consent for {use.id!r} "
            f"can be captured through: {', '.join(capable) or 'no source yet'}",
            source=source_id,
            use=use.id,
            parameter="source",
        )
    if state is RecordedState.GIVEN and use.id not in source.consent_for:
        hint = (
            f"record it through {', '.join(capable)}" if capable else "no source can capture it yet"
        )
        raise ConsentError(
            f"source {source_id!r} cannot capture consent for {use.id!r}: its consent_for in "
            f"4-sources.yaml does not list that use. {hint[0].upper()}{hint[1:]}, or add "
            f"{use.id} to the consent_for of {source_id} if it really asks for that consent",
            source=source_id,
            use=use.id,
            article="7(1)",
        )
    return source


def _notice(source: Source, notice: str | None, state: RecordedState) -> str:
    if notice is None or notice == source.notice:
        if source.notice is None and state is RecordedState.GIVEN:
            raise ConsentError(
                f"source {source.id!r} declares no privacy notice and the request names none: "
                "consent is informed only if we can show what the subject was told (Art. 7(1)); "
                "set `notice` in 4-sources.yaml or send the notice version shown",
                source=source.id,
                parameter="notice",
                article="7(1)",
            )
        return notice or source.notice or "unknown"
    if state is RecordedState.GIVEN and source.notice is not None:
        raise ConsentError(
            f"notice {notice!r} is not the one source {source.id!r} shows ({source.notice!r} in "
            "4-sources.yaml): send the notice version the subject saw, or update the source's "
            "notice when a new privacy notice goes live",
            source=source.id,
            notice=notice,
            parameter="notice",
            article="7(1)",
        )
    return notice


def _personal_keys(strategy: Strategy) -> frozenset[str]:
    fields = {
        name
        for entity in strategy.system.entities.values()
        for name, spec in entity.fields.items()
        if spec.category is not Category.NON_PERSONAL
    }
    return _PERSONAL_KEYS | fields


def _check_evidence(strategy: Strategy, evidence: Mapping[str, Any]) -> dict[str, Any]:
    try:
        size = len(canonical_json(dict(evidence)))
    except (TypeError, ValueError) as exc:
        raise ConsentError(f"evidence is not plain JSON: {exc}", parameter="evidence") from None
    if size > EVIDENCE_MAX_BYTES:
        raise ConsentError(
            f"evidence is {size} bytes; keep it under {EVIDENCE_MAX_BYTES}: a form id, the "
            "wording version and who recorded it prove consent, copies of data do not",
            parameter="evidence",
        )
    banned = _personal_keys(strategy)
    stack: list[Any] = [evidence]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if str(key).lower().replace("-", "_") in banned:
                    raise ConsentError(
                        f"evidence holds {key!r}, which is personal data: the ledger names the "
                        "subject only by its pseudonymous id (Art. 5(1)(c)); leave it out and "
                        "keep only proof of the statement (form, wording version, time, role)",
                        parameter=f"evidence.{key}",
                        article="5(1)(c)",
                    )
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return dict(evidence)


def _withdrawal_method(strategy: Strategy, source: Source) -> str:
    where = f" or at {strategy.controller.email}" if strategy.controller.email else ""
    return (
        f"withdraw at any time, as easily as given: through {source.channel.value} "
        f"(source {source.id}){where}, or POST /v1/consents with state withdrawn and the "
        "subject id on this receipt"
    )


def record_consent(
    session: Session,
    strategy: Strategy,
    *,
    signer: ReceiptSigner,
    subject_id: str,
    use: str,
    state: RecordedState | str,
    source: str,
    notice: str | None = None,
    language: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    method: CollectionMethod = CollectionMethod.STAFF,
    recorded_by: str = "subject",
    at: datetime | None = None,
    audit: AuditLog | None = None,
    actor: str | None = None,
) -> ConsentEvent:
    """Append one consent event with its signed receipt; refuse what Art. 7 does not allow.

    ``at`` is when the subject made the statement (default now; imports give the original
    time; never in the future). A ``given`` event expires after the use's
    ``consent_valid_for``. With ``audit``, the event is also a ``consent.recorded`` audit
    entry by ``actor`` (default ``subject``, or ``role:<recorded_by>``). Adds and flushes in
    ``session``; the caller commits.
    """
    try:
        recorded = RecordedState(state)
    except ValueError:
        raise ConsentError(
            f"state {state!r} cannot be recorded: use given, refused or withdrawn (expired is "
            "derived from consent_valid_for, never recorded)",
            parameter="state",
        ) from None
    use_spec = consent_use(strategy, use)
    source_spec = _source(strategy, source, use_spec, recorded)
    shown = _notice(source_spec, notice, recorded)
    clean_evidence = _check_evidence(strategy, evidence or {})
    if not subject_id or len(subject_id) > 32:
        raise ConsentError(
            "subject id must be the 1-32 character pseudonymous id", parameter="subject_id"
        )
    now = _now()
    event_time = now if at is None else _utc(at, "at")
    if event_time > now + _CLOCK_SKEW:
        raise ConsentError(
            "the event time is in the future; give the time the subject spoke", parameter="at"
        )
    expires_at: datetime | None = None
    if recorded is RecordedState.GIVEN and use_spec.consent_valid_for:
        expires_at = event_time + parse_duration(use_spec.consent_valid_for)
    controller = strategy.controller
    facts = ReceiptFacts(
        record_id=_record_id(now),
        subject_id=subject_id,
        use=use_spec.id,
        state=recorded.value,
        event_time=event_time,
        expires_at=expires_at,
        source=source_spec.id,
        channel=source_spec.channel.value,
        notice=shown,
        language=language or controller.language,
        jurisdiction=controller.jurisdiction,
        method=CollectionMethod(method).value,
        withdrawal_method=_withdrawal_method(strategy, source_spec),
        evidence=clean_evidence,
    )
    version = signer.current_version
    claims = build_claims(strategy, facts, public_key=signer.public_key_b64(version))
    row = ConsentEventRow(
        id=facts.record_id,
        subject_id=subject_id,
        use=facts.use,
        state=facts.state,
        event_time=event_time,
        recorded_at=now,
        expires_at=expires_at,
        controller_name=controller.name,
        controller_id=controller.business_id,
        notice=facts.notice,
        language=facts.language,
        jurisdiction=facts.jurisdiction,
        source=facts.source,
        channel=facts.channel,
        method=facts.method,
        withdrawal_method=facts.withdrawal_method,
        recorded_by=recorded_by,
        evidence=clean_evidence,
        key_version=version,
        receipt=signer.sign(claims, version=version),
    )
    session.add(row)
    session.flush()
    advance(session.connection(), row)  # the pair's current state, in the same transaction
    if audit is not None:
        audit.append(
            session,
            AuditEvent(
                actor=actor or _actor(recorded_by),
                action="consent.recorded",
                subject_id=subject_id,
                details={
                    "use": facts.use,
                    "state": facts.state,
                    "source": facts.source,
                    "method": facts.method,
                    "event_id": facts.record_id,
                },
            ),
        )
    return _event(row)


def _actor(recorded_by: str) -> str:
    """The audit actor of an event recorded by ``recorded_by`` (a role id or ``subject``)."""
    return "subject" if recorded_by == "subject" else f"role:{recorded_by}"


def gpc_uses(strategy: Strategy) -> tuple[list[str], list[str]]:
    """Uses a ``Sec-GPC: 1`` signal concerns: (consent-based, on another basis)."""
    kinds = [u for u in strategy.uses if u.kind in GPC_KINDS]
    return (
        [u.id for u in kinds if u.legal_basis is LegalBasis.CONSENT],
        [u.id for u in kinds if u.legal_basis is not LegalBasis.CONSENT],
    )


def record_gpc_refusals(
    session: Session,
    strategy: Strategy,
    *,
    signer: ReceiptSigner,
    subject_id: str,
    source: str,
    recorded_by: str = "subject",
    evidence: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    skip: Iterable[str] = (),
    audit: AuditLog | None = None,
) -> list[ConsentEvent]:
    """Record a refusal for every consent-based direct-marketing or profiling use (GPC).

    Uses in ``skip`` (already answered in the same call) are left out. The signal is proof of
    itself: the evidence says ``{"signal": "Sec-GPC: 1"}`` besides what the caller adds. With
    ``audit``, each refusal is a ``consent.recorded`` entry (method ``gpc_signal``).
    """
    skipped = set(skip)
    proof = {"signal": "Sec-GPC: 1", **dict(evidence or {})}
    consent_based, _ = gpc_uses(strategy)
    return [
        record_consent(
            session,
            strategy,
            signer=signer,
            subject_id=subject_id,
            use=use_id,
            state=RecordedState.REFUSED,
            source=source,
            evidence=proof,
            method=CollectionMethod.GPC_SIGNAL,
            recorded_by=recorded_by,
            at=at,
            audit=audit,
        )
        for use_id in consent_based
        if use_id not in skipped
    ]


def honour_gpc(
    session: Session,
    strategy: Strategy,
    *,
    signer: ReceiptSigner,
    subject_id: str,
    source: str,
    recorded_by: str = "subject",
    evidence: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    audit: AuditLog | None = None,
) -> tuple[list[ConsentEvent], list[str]]:
    """A ``Sec-GPC: 1`` signal: a refusal for every consent-based direct-marketing or profiling
    use not already refused or withdrawn at ``at`` (default now). Returns the refusals recorded
    and the uses that were already refused or withdrawn."""
    consent_based, _ = gpc_uses(strategy)
    moment = _now() if at is None else _utc(at, "at")
    done = {ConsentState.REFUSED, ConsentState.WITHDRAWN}
    already = [
        u
        for u in consent_based
        if derive_status(u, history(session, subject_id, use=u), at=moment).state in done
    ]
    refusals = record_gpc_refusals(
        session,
        strategy,
        signer=signer,
        subject_id=subject_id,
        source=source,
        recorded_by=recorded_by,
        evidence=evidence,
        at=moment,
        skip=already,
        audit=audit,
    )
    return refusals, already


def _event(row: ConsentEventRow) -> ConsentEvent:
    return ConsentEvent.model_validate(row, from_attributes=True)


def history(session: Session, subject_id: str, *, use: str | None = None) -> list[ConsentEvent]:
    """Every event of a subject (optionally for one use), oldest first: nothing is ever lost."""
    query = select(ConsentEventRow).where(ConsentEventRow.subject_id == subject_id)
    if use is not None:
        query = query.where(ConsentEventRow.use == use)
    query = query.order_by(ConsentEventRow.event_time, ConsentEventRow.seq)
    return [_event(row) for row in session.scalars(query)]


def derive_status(use: str, events: Sequence[_Timed], *, at: datetime) -> ConsentStatus:
    """The state of ``use`` at ``at``: the last event in time (then sequence), read for expiry."""
    at = _utc(at, "at")
    relevant = [e for e in events if e.event_time <= at]
    if not relevant:
        return ConsentStatus(
            use=use, state=None, since=None, expires_at=None, event_id=None, lawful=False
        )
    last = max(relevant, key=lambda e: (e.event_time, e.seq))
    state = ConsentState(last.state)
    if state is ConsentState.GIVEN and last.expires_at is not None and last.expires_at <= at:
        state = ConsentState.EXPIRED
    return ConsentStatus(
        use=use,
        state=state,
        since=last.event_time,
        expires_at=last.expires_at if last.state == RecordedState.GIVEN else None,
        event_id=last.id,
        lawful=state is ConsentState.GIVEN,
    )


def subject_consents(
    session: Session, strategy: Strategy, subject_id: str, *, at: datetime | None = None
) -> SubjectConsents:
    """The current state per consent-based use, and the full history, of one subject."""
    moment = _now() if at is None else _utc(at, "at")
    events = history(session, subject_id)
    by_use: dict[str, list[ConsentEvent]] = {}
    for e in events:
        by_use.setdefault(e.use, []).append(e)
    uses = [u.id for u in consent_uses(strategy)]
    # A use dropped from the strategy keeps its history, and its last state stays visible.
    uses += [u for u in by_use if u not in uses]
    return SubjectConsents(
        subject_id=subject_id,
        at=moment,
        current=[derive_status(u, by_use.get(u, []), at=moment) for u in uses],
        history=events,
    )


def _public(event: ConsentEvent) -> ConsentPublic:
    return ConsentPublic.of(event, decode_claims(event.receipt))


def authorise_call(
    strategy: Strategy,
    body: ConsentCreate,
    *,
    signer: ReceiptSigner,
    staff_role: str | None,
    staff_duties: Iterable[Duty] = (),
) -> None:
    """Refuse a consent call its caller may not make, before the subject is looked up.

    Staff: the statement must fit the strategy (:class:`ConsentError`) and the role must
    collect for the source or hold the ``consents`` duty (:class:`Forbidden`). The subject
    without a token: only a refusal or withdrawal, naming themselves by subject id, with a
    receipt the controller signed for that id (:class:`AuthError`). Nothing here depends on
    whether the subject exists, so the refusals say nothing about who is a customer.
    """
    state = RecordedState(body.state)
    if staff_role is not None:
        use = consent_use(strategy, body.use)
        source = _source(strategy, body.source, use, state)
        authorise_staff(strategy, role=staff_role, duties=staff_duties, source=source)
        return
    check_self_service(state)
    if set(body.subject.keys()) != {"id"} or body.subject.id is None:
        raise AuthError(
            "without a staff token, name the subject by the subject id on your consent "
            "receipt ({'id': ...}); finding a subject by an identifier needs a staff token",
            parameter="subject",
        )
    verify_subject_receipt(body.receipt, subject_id=body.subject.id, signer=signer)


def record_call(
    session: Session,
    strategy: Strategy,
    body: ConsentCreate,
    *,
    signer: ReceiptSigner,
    subject_id: str,
    staff_role: str | None,
    staff_duties: Iterable[Duty] = (),
    gpc: bool = False,
    at: datetime | None = None,
    audit: AuditLog | None = None,
) -> ConsentRecorded:
    """One ``POST /v1/consents`` call: the stated event, plus the refusals a GPC signal makes.

    With ``audit``, each event recorded is a ``consent.recorded`` audit entry.

    ``staff_role`` is the authenticated caller's role (with its ``staff_duties``), who must be
    allowed to record through the body's source (:func:`authorise_staff`), or ``None`` for the
    subject's own call. A subject's own call may only refuse or withdraw, which can never harm
    them, and must carry the subject's receipt (:func:`verify_subject_receipt`); a ``given``
    from an unauthenticated caller could be anyone's (until identity verification exists,
    giving consent goes through staff). With ``gpc`` (``Sec-GPC: 1``) every consent-based
    direct-marketing or profiling use not already refused or withdrawn gets a refusal, and a
    ``given`` for such a use in the same call is refused as ambiguous (Art. 4(11)).
    """
    state = RecordedState(body.state)
    authorise_call(strategy, body, signer=signer, staff_role=staff_role, staff_duties=staff_duties)
    if staff_role is None and body.subject.id != subject_id:
        raise AuthError(
            "the call names another subject than the one it is recorded for: name the subject "
            "the receipt is for",
            parameter="subject",
        )
    use = consent_use(strategy, body.use)
    if gpc and state is RecordedState.GIVEN and use.kind in GPC_KINDS:
        raise ConsentError(
            f"the request carries Sec-GPC: 1, which refuses {use.kind.value.replace('_', ' ')}, "
            f"yet gives consent for {use.id!r}: consent must be unambiguous (Art. 4(11)). Ask "
            "the subject again without the signal, or record a refusal",
            use=use.id,
            article="4(11)",
        )
    method = CollectionMethod.SUBJECT if staff_role is None else CollectionMethod.STAFF
    recorded_by = staff_role or "subject"
    event = record_consent(
        session,
        strategy,
        signer=signer,
        subject_id=subject_id,
        use=use.id,
        state=state,
        source=body.source,
        notice=body.notice,
        language=body.language,
        evidence=body.evidence,
        method=method,
        recorded_by=recorded_by,
        at=at,
        audit=audit,
    )
    outcome = GpcOutcome(signal=gpc)
    if gpc:
        _, other = gpc_uses(strategy)
        refusals, already = honour_gpc(
            session,
            strategy,
            signer=signer,
            subject_id=subject_id,
            source=body.source,
            recorded_by=recorded_by,
            at=event.event_time,
            audit=audit,
        )
        outcome = GpcOutcome(
            signal=True,
            refused=[e.use for e in refusals],
            already_refused=already,
            not_consent_based=other,
            events=[_public(e) for e in refusals],
        )
    return ConsentRecorded(**_public(event).model_dump(), gpc=outcome)
