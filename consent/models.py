"""Pydantic models of the consent ledger: the ISO/IEC TS 27560 record and its API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import Field, model_validator

from schemas.primitives import StrictModel

__all__ = [
    "RECEIPT_MAX_CHARS",
    "CollectionMethod",
    "ConsentCreate",
    "ConsentEvent",
    "ConsentPublic",
    "ConsentRecorded",
    "ConsentState",
    "ConsentStatus",
    "GpcOutcome",
    "RecordedState",
    "SubjectConsents",
    "SubjectRef",
]


RECEIPT_MAX_CHARS: Final = 16_384
"""A receipt is a few kilobytes of JWS; anything much longer is not one."""


class ConsentState(StrEnum):
    """The state of consent for one subject and one purpose (Art. 4(11), 7(3) GDPR).

    ``expired`` is never stored: it is derived at read time when a ``given`` event's
    ``expires_at`` (the use's ``consent_valid_for``) has passed.
    """

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class RecordedState(StrEnum):
    """The states an event can record: a statement by the subject (Art. 7(1) and 7(3) GDPR)."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class CollectionMethod(StrEnum):
    """How the statement reached the controller (ISO/IEC TS 27560 collection method, Art. 7(1)).

    ``staff`` — recorded by an authenticated staff role (booking form, phone, desk);
    ``subject`` — the subject's own self-service call (withdrawal or refusal only);
    ``gpc_signal`` — a ``Sec-GPC: 1`` header, an automated objection (Art. 21(5) GDPR);
    ``import`` — loaded from an earlier system with its original time;
    ``privacy_center`` — the subject signed in to the privacy center with a code sent to an
    identifier we hold, and clicked (given, refused or withdrawn).
    """

    STAFF = "staff"
    SUBJECT = "subject"
    GPC_SIGNAL = "gpc_signal"
    IMPORT = "import"
    PRIVACY_CENTER = "privacy_center"


class ConsentEvent(StrictModel):
    """One append-only consent event: the fields of an ISO/IEC TS 27560 consent record."""

    id: str = Field(
        description="Record id: 32 hex digits, time-ordered; the receipt's consentReceiptID."
    )
    seq: int = Field(description="Insertion sequence; breaks ties between equal event times.")
    subject_id: str = Field(description="The pseudonymous subject id (never an identifier).")
    use: str = Field(description="The purpose: id of a consent-based use in 2-use.yaml.")
    state: RecordedState = Field(description="What the subject said: given, refused, withdrawn.")
    event_time: datetime = Field(description="When the subject said it (UTC).")
    recorded_at: datetime = Field(description="When the ledger stored it (UTC).")
    expires_at: datetime | None = Field(
        description="Given events: event time plus the use's consent_valid_for; else null."
    )
    controller_name: str = Field(description="The controller's legal name (organisation.yaml).")
    controller_id: str | None = Field(description="The controller's business id.")
    notice: str = Field(description="Version of the privacy notice the subject was shown.")
    language: str = Field(description="ISO 639-1 language the notice and question were in.")
    jurisdiction: str = Field(description="ISO 3166-1 alpha-2 jurisdiction of the controller.")
    source: str = Field(description="The source id that captured the statement (4-sources.yaml).")
    channel: str = Field(description="The channel of that source (web_form, phone…).")
    method: CollectionMethod = Field(description="How the statement reached the controller.")
    withdrawal_method: str = Field(description="How the subject can withdraw, as they were told.")
    recorded_by: str = Field(description="Staff role id that recorded it, or 'subject'.")
    evidence: dict[str, Any] = Field(description="Proof of the statement, without personal data.")
    key_version: int = Field(description="Keyring data key version whose Ed25519 key signed.")
    receipt: str = Field(description="The signed Kantara v1.1 receipt, JWS compact serialisation.")


class ConsentStatus(StrictModel):
    """The current state of one consent purpose for one subject, derived from its events."""

    use: str = Field(description="The consent-based use id.")
    state: ConsentState | None = Field(
        description="given, refused, withdrawn or expired; null if the subject was never asked."
    )
    since: datetime | None = Field(description="Event time of the event the state comes from.")
    expires_at: datetime | None = Field(description="When a given consent lapses, if it does.")
    event_id: str | None = Field(description="The event the state comes from.")
    lawful: bool = Field(description="Whether the use may be applied to the subject now.")


class SubjectConsents(StrictModel):
    """Current state per consent-based use and the full, unrewritten history of one subject."""

    subject_id: str = Field(description="The pseudonymous subject id.")
    at: datetime = Field(description="The moment the current states are derived for (UTC).")
    current: list[ConsentStatus] = Field(description="One entry per consent-based use.")
    history: list[ConsentEvent] = Field(description="Every event, oldest first.")


# ── API shapes (kept apart from the domain record) ────────────────────────────────────────────


class SubjectRef(StrictModel):
    """A subject named by its id or by exactly one identifier: ``{"id": …}`` or ``{"email": …}``."""

    model_config = StrictModel.model_config | {"extra": "allow"}

    id: str | None = Field(default=None, description="The pseudonymous subject id.")

    @model_validator(mode="after")
    def _one_key(self) -> SubjectRef:
        keys = self.keys()
        if len(keys) != 1:
            raise ValueError(
                "name the subject by exactly one key: {'id': ...} or one identifier such as "
                f"{{'email': ...}}; got {sorted(keys) or 'nothing'}"
            )
        return self

    def keys(self) -> dict[str, str]:
        """The keys given, ``id`` included, with their values as strings."""
        given: dict[str, Any] = {"id": self.id} if self.id is not None else {}
        given.update(self.model_extra or {})
        return {k: str(v) for k, v in given.items() if v is not None}


class ConsentCreate(StrictModel):
    """Body of ``POST /v1/consents``: a subject gives, refuses or withdraws consent for a use."""

    subject: SubjectRef = Field(description="The subject: {'id': ...} or {identifier: value}.")
    use: str = Field(description="The consent-based use (purpose) id.")
    state: RecordedState = Field(description="given, refused or withdrawn.")
    source: str = Field(description="The source that captured it (4-sources.yaml).")
    notice: str | None = Field(
        default=None, description="Privacy notice version shown; defaults to the source's notice."
    )
    language: str | None = Field(
        default=None, description="ISO 639-1 language used; defaults to the controller's language."
    )
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="Proof of the statement (form id, wording version…); no personal data.",
    )
    receipt: str | None = Field(
        default=None,
        max_length=RECEIPT_MAX_CHARS,
        description="Calls without a staff token: a receipt the controller signed for an "
        "earlier event of this subject (the `receipt` of a POST /v1/consents answer), proving "
        "the caller is the subject the id names. Staff calls leave it out.",
    )


class ConsentPublic(StrictModel):
    """One recorded event as the API returns it, with its signed receipt."""

    id: str = Field(description="Record id; the receipt's consentReceiptID.")
    subject_id: str = Field(description="The pseudonymous subject id.")
    use: str = Field(description="The use (purpose) id.")
    state: RecordedState = Field(description="given, refused or withdrawn.")
    event_time: datetime = Field(description="When it was said (UTC).")
    expires_at: datetime | None = Field(description="When a given consent lapses.")
    source: str = Field(description="Source id that captured it.")
    channel: str = Field(description="Channel of that source.")
    notice: str = Field(description="Privacy notice version shown.")
    language: str = Field(description="Language used.")
    jurisdiction: str = Field(description="Jurisdiction of the controller.")
    method: CollectionMethod = Field(description="How it reached the controller.")
    withdrawal_method: str = Field(description="How to withdraw.")
    evidence: dict[str, Any] = Field(description="The evidence stored.")
    receipt: str = Field(description="Kantara v1.1 receipt as a JWS (EdDSA) compact serialisation.")
    receipt_claims: dict[str, Any] = Field(description="The receipt's payload, decoded, to read.")

    @classmethod
    def of(cls, event: ConsentEvent, claims: dict[str, Any]) -> ConsentPublic:
        """The public shape of a domain event and its decoded receipt claims."""
        data = event.model_dump(
            include={
                "id",
                "subject_id",
                "use",
                "state",
                "event_time",
                "expires_at",
                "source",
                "channel",
                "notice",
                "language",
                "jurisdiction",
                "method",
                "withdrawal_method",
                "evidence",
                "receipt",
            }
        )
        return cls(**data, receipt_claims=claims)


class GpcOutcome(StrictModel):
    """What a ``Sec-GPC: 1`` header did on a consent call."""

    signal: bool = Field(description="Whether the request carried Sec-GPC: 1.")
    refused: list[str] = Field(
        default_factory=list, description="Consent-based direct-marketing/profiling uses refused."
    )
    already_refused: list[str] = Field(
        default_factory=list,
        description="Uses already refused or withdrawn: no new event was needed.",
    )
    not_consent_based: list[str] = Field(
        default_factory=list,
        description="Direct-marketing/profiling uses on another basis: handle as an Art. 21 "
        "objection; the consent ledger records nothing for them.",
    )
    events: list[ConsentPublic] = Field(
        default_factory=list, description="The refusal events recorded for the signal."
    )


class ConsentRecorded(ConsentPublic):
    """Answer of ``POST /v1/consents``: the event, its receipt, and what a GPC signal did."""

    gpc: GpcOutcome = Field(description="Refusals recorded because of a Sec-GPC: 1 header.")
