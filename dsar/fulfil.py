"""The six rights carried out: access, portability, rectification, erasure, restriction, objection.

Each right returns a JSON-ready result that says what was done, in numbers and reasons, so the
requester and an auditor read the same account. The caller owns the transaction, except for
erasure: it spans stores that share no transaction, so it commits step by step (dsar.erasure).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from activation.audiences import contact_log
from audit import AuditLog
from consent.receipts import ReceiptSigner
from consent.service import history, record_consent, subject_consents
from dsar.erasure import Erasure, ErasureOutcome
from dsar.requests import Requests
from dsar.requests.intake import check_changes
from kernel.errors import Conflict, NotFound
from records.external import ExternalSystems
from records.ingest import encrypt_rows
from records.provenance import compact
from records.restrictions import FlagKind, active_flags, raise_flag
from records.store import RecordStore, StoredRecord, read_subject, subject_exists
from schemas.enums import LegalBasis, SourceChannel, UseKind
from schemas.models import Strategy
from schemas.runtime import to_text
from schemas.tables import entity_retention

__all__ = ["PROVIDED_CHANNELS", "Fulfiller", "export_zip", "jsonable", "processing_info"]

PROVIDED_CHANNELS = frozenset(SourceChannel) - {SourceChannel.IMPORT, SourceChannel.PARTNER}
"""Channels through which the subject provides data themselves (Art. 20(1))."""


def jsonable(value: Any) -> Any:
    """A value as JSON carries it: decimals as strings, dates as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _record(rec: StoredRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "values": jsonable(rec.values),
        "source": rec.source,
        "collected_at": rec.collected_at.isoformat(),
        "retention_until": rec.retention_until.isoformat(),
        "erased_fields": list(rec.erased),
    }


def processing_info(
    strategy: Strategy, present: set[str], *, retention: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """The Art. 15(1)(a)-(h) information for a subject holding the fields in ``present``.

    ``retention`` maps entities to their retention when the caller has it at hand.
    """
    index = strategy.index
    kept = retention or {e: entity_retention(strategy, e) for e in index.entities}
    purposes, recipients = [], {}
    for use in strategy.uses:
        held = sorted(index.use_fields[use.id] & present)
        if not held:
            continue
        for pid in use.recipients:
            p = index.processors.get(pid)
            if p is not None:
                recipients[p.id] = {
                    "id": p.id,
                    "name": p.name,
                    "country": p.country,
                    "transfer_safeguard": p.transfer_safeguard,
                }
        purposes.append(
            {
                "use": use.id,
                "purpose": use.description,
                "legal_basis": str(use.legal_basis),
                "legitimate_interest": use.legitimate_interest_assessment,
                "law": use.law,
                "fields": held,
                "categories": sorted({str(index.fields[r].category) for r in held}),
                "recipients": list(use.recipients),
                "retention": use.retention,
                "automated_decision_making": use.automated_decision_making,
            }
        )
    sources = [
        {"id": s.id, "channel": str(s.channel), "notice": s.notice}
        for s in strategy.sources
        if set(index.expand(s.collects)) & present
    ]
    c = strategy.controller
    return {
        "controller": {
            "name": c.name,
            "business_id": c.business_id,
            "email": c.email,
            "dpo": c.dpo,
        },
        "purposes": purposes,
        "categories": sorted({str(index.fields[r].category) for r in present}),
        "recipients": list(recipients.values()),
        "retention": {e: kept.get(e) for e in sorted({r.split(".")[0] for r in present})},
        "sources": sources,
        "automated_decision_making": any(p["automated_decision_making"] for p in purposes),
        "rights": (
            "You may ask us to rectify or erase your data, restrict or object to its "
            "processing, and receive the data you gave us in a machine-readable form; "
            "you may lodge a complaint with the supervisory authority (Art. 15(1)(e)-(f))."
        ),
    }


def export_zip(bundle: Mapping[str, Any]) -> bytes:
    """The access bundle as a zip: one CSV per entity and external table, JSON, and a README."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        files = []
        for entity, records in bundle["data"].items():
            columns = sorted({k for r in records for k in r["values"]})
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(["id", "source", "collected_at", "retention_until", *columns])
            for r in records:
                writer.writerow(
                    [
                        r["id"],
                        r["source"],
                        r["collected_at"],
                        r["retention_until"],
                        *(r["values"].get(c, "") for c in columns),
                    ]
                )
            zf.writestr(f"data/{entity}.csv", buf.getvalue())
            files.append(f"data/{entity}.csv: your {entity} records ({len(records)})")
        for system, tables in bundle.get("external", {}).items():
            for table, rows in tables.items():
                buf = io.StringIO()
                columns = sorted({k for r in rows for k in r})
                table_writer = csv.DictWriter(buf, fieldnames=columns)
                table_writer.writeheader()
                table_writer.writerows(rows)
                zf.writestr(f"external/{system}/{table}.csv", buf.getvalue())
                files.append(f"external/{system}/{table}.csv: rows in {system} ({len(rows)})")
        zf.writestr(
            "processing.json", json.dumps(bundle["processing"], indent=2, ensure_ascii=False)
        )
        zf.writestr(
            "consents.json", json.dumps(bundle.get("consents", []), indent=2, ensure_ascii=False)
        )
        zf.writestr("bundle.json", json.dumps(bundle, indent=2, ensure_ascii=False))
        readme = [
            f"Your data held by {bundle['processing']['controller']['name']}",
            "",
            "This archive answers your request under Art. 15 GDPR (right of access).",
            "",
            *files,
            "processing.json: why we process your data, on what basis, for how long, who "
            "receives it and where it came from",
            "consents.json: every consent you gave, refused or withdrew",
            "bundle.json: all of the above in one machine-readable file",
        ]
        zf.writestr("README.txt", "\n".join(readme) + "\n")
    return out.getvalue()


@dataclass
class Fulfiller:
    """Carries out the six rights over the system of record and the external systems."""

    strategy: Strategy
    store: RecordStore
    external: ExternalSystems
    signer: ReceiptSigner | None = None
    now: Any = field(default=lambda: datetime.now(UTC))
    retention: dict[str, str | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.retention = {
            e: entity_retention(self.strategy, e) for e in self.strategy.index.entities
        }

    # ── reading ──────────────────────────────────────────────────────────────────────────────

    def _data(self, session: Session, subject_id: str | None) -> dict[str, list[StoredRecord]]:
        if subject_id is None:
            return {}
        try:
            return read_subject(session, self.store, subject_id)
        except NotFound:
            return {}

    def identity_of(
        self, session: Session, subject_id: str | None, given: Mapping[str, Any]
    ) -> dict[str, str]:
        """The subject's identifiers as text: those on record, else the one the request gave."""
        return self._identity(self._data(session, subject_id), given)

    def _identity(
        self, data: Mapping[str, list[StoredRecord]], given: Mapping[str, Any]
    ) -> dict[str, str]:
        out = {k: str(v) for k, v in given.items()}
        subject = self.store.subject_entity
        for rec in data.get(subject, []):
            for name in self.strategy.system.entities[subject].identifiers:
                if name in rec.values:
                    out[name] = to_text(
                        self.strategy.index.fields[f"{subject}.{name}"], rec.values[name]
                    )
        return out

    def access(
        self, session: Session, subject_id: str | None, identity: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Art. 15: every record, external rows, consents and the processing information."""
        data = self._data(session, subject_id)
        present = {f"{e}.{k}" for e, recs in data.items() for r in recs for k in r.values}
        outcomes = self.external.read(self._identity(data, identity))
        consents = (
            [e.model_dump(mode="json") for e in history(session, subject_id)] if subject_id else []
        )
        return {
            "subject": subject_id,
            "data": {e: [_record(r) for r in recs] for e, recs in data.items() if recs},
            "external": {o.system: o.rows for o in outcomes if o.reached},
            "external_status": [o.summary() for o in outcomes],
            "consents": consents,
            "contacts": [
                {"activation": r.activation, "channel": r.channel, "sent_at": r.sent_at.isoformat()}
                for r in (
                    session.execute(
                        select(contact_log).where(contact_log.c.subject_id == subject_id)
                    ).all()
                    if subject_id
                    else []
                )
            ],
            "restrictions": [
                {"kind": f.kind, "scope": f.scope, "since": f.since.isoformat()}
                for f in (active_flags(session, subject_id) if subject_id else [])
            ],
            "processing": processing_info(self.strategy, present, retention=self.retention),
        }

    def portability(self, session: Session, subject_id: str | None) -> dict[str, Any]:
        """Art. 20: the values the subject provided through their own channels, as JSON."""
        channels = {s.id: s.channel for s in self.strategy.sources}
        data: dict[str, list[dict[str, Any]]] = {}
        for entity, recs in self._data(session, subject_id).items():
            rows = []
            for rec in recs:
                provided = {
                    k: v
                    for k, v in rec.values.items()
                    if channels.get(rec.provenance.get(k, [rec.source])[0]) in PROVIDED_CHANNELS
                }
                if provided:
                    rows.append({"id": rec.id, **jsonable(provided)})
            if rows:
                data[entity] = rows
        return {"subject": subject_id, "format": "application/json", "data": data}

    # ── changing ─────────────────────────────────────────────────────────────────────────────

    def rectify(
        self,
        session: Session,
        subject_id: str | None,
        changes: Mapping[str, Any],
        identity: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Art. 16: validate each new value against its field, apply it everywhere it is held.

        A rectification whose requester has not stated the changes yet (opened in the privacy
        center, which asks for them after verification) is refused with :class:`Conflict`.
        """
        if not changes:
            raise Conflict(
                "this rectification has nothing to correct yet: the requester has not stated "
                "the changes (they do so on the request's page in the privacy center, "
                "/privacy/request/{id}); wait for them, or refuse the request with a reason",
                article="Art. 16",
            )
        index = self.strategy.index
        clean = check_changes(self.strategy, changes, region=self.store.models.region)
        counts: dict[str, int] = {}
        if subject_id is not None and subject_exists(session, self.store, subject_id):
            for entity in self.store.tables.order():
                mine = {r.split(".")[1]: v for r, v in clean.items() if r.split(".")[0] == entity}
                if not mine:
                    continue
                table = self.store.tables.table(entity)
                ids = session.execute(
                    select(
                        table.c.id, table.c.provenance, table.c.source, table.c.collected_at
                    ).where(table.c.subject_id == subject_id)
                ).all()
                profiles = self.store.profiles
                held = profiles.decode_many(session, [provenance for _, provenance, _, _ in ids])
                merged = []
                for (_, _, source, collected_at), provenance in zip(ids, held, strict=True):
                    stamp = ["rectification", self.now().isoformat()]
                    changed = compact(dict.fromkeys(mine, stamp), source, collected_at)
                    merged.append({**provenance, **changed})
                stored = profiles.encode_many(session, merged)
                for (record_id, _, _, _), provenance in zip(ids, stored, strict=True):
                    row: dict[str, Any] = dict(mine)
                    encrypt_rows(self.store, entity, [(subject_id, row)])
                    row["provenance"] = provenance
                    row["updated_at"] = self.now()
                    session.execute(update(table).where(table.c.id == record_id).values(**row))
                counts[entity] = len(ids)
        outcomes = self.external.rectify(self.identity_of(session, subject_id, identity), clean)
        notify = sorted(
            {
                p
                for use in self.strategy.uses
                for p in use.recipients
                if index.use_fields[use.id] & set(clean)
            }
        )
        return {
            "rectified": jsonable(clean),
            "records": counts,
            "external": [o.summary() for o in outcomes],
            "recipients_to_notify": notify,
        }

    def erasure(
        self, *, requests: Requests | None = None, audit: AuditLog | None = None
    ) -> Erasure:
        """The recorded, resumable Art. 17 erasure over this fulfiller's stores (dsar.erasure).

        With ``requests`` the erasure moves its request along (``in_progress`` while a step is
        pending, ``completed`` when none is); with ``audit`` every step is in the audit log.
        """
        return Erasure(
            self.strategy,
            self.store,
            self.external,
            now=self.now,
            requests=requests,
            audit=audit,
        )

    def erase_request(
        self,
        session: Session,
        request_id: str,
        *,
        subject_id: str | None,
        identity: Mapping[str, Any],
        actor: str,
        requests: Requests | None = None,
        audit: AuditLog | None = None,
    ) -> ErasureOutcome:
        """Art. 17 for one request: plan it (first time), then run every step not yet done.

        Unlike the other rights this commits as it goes: the main database, the keystore and
        each external system cannot share a transaction, so each step is committed with its
        record (see :mod:`dsar.erasure.service`).
        """
        return self.erasure(requests=requests, audit=audit).run(
            session,
            request_id,
            subject_id=subject_id,
            identity=self.identity_of(session, subject_id, identity),
            actor=actor,
        )

    def erase(
        self,
        session: Session,
        subject_id: str | None,
        identity: Mapping[str, Any],
        *,
        request_id: str | None = None,
        audit: AuditLog | None = None,
    ) -> dict[str, Any]:
        """Art. 17: delete what no obligation keeps, restrict what one does, crypto-shred.

        The result of :meth:`erase_request` without a request to move along; without
        ``request_id`` the plan gets an id of its own. It commits as it goes.
        """
        return self.erase_request(
            session,
            request_id or secrets.token_hex(16),
            subject_id=subject_id,
            identity=identity,
            actor="system",
            audit=audit,
        ).result

    def restrict(
        self, session: Session, subject_id: str | None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Art. 18: the data stays stored but leaves no activation or report."""
        if subject_id is None:
            return {"restricted": False, "why": "we hold no data about you"}
        raise_flag(
            session,
            subject_id,
            kind=FlagKind.RESTRICTION,
            scope="all",
            reason="Art. 18 request",
            request_id=request_id,
            at=self.now(),
        )
        return {
            "restricted": True,
            "effect": "stored only: excluded from every activation "
            "and report until the restriction is lifted",
        }

    def object(
        self, session: Session, subject_id: str | None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Art. 21(3): direct marketing stops at once; consents to it are withdrawn."""
        if subject_id is None:
            return {"objection_recorded": False, "why": "we hold no data about you"}
        raise_flag(
            session,
            subject_id,
            kind=FlagKind.OBJECTION,
            scope=str(UseKind.DIRECT_MARKETING),
            reason="Art. 21 objection",
            request_id=request_id,
            at=self.now(),
        )
        withdrawn = []
        current = {
            s.use: s.state for s in subject_consents(session, self.strategy, subject_id).current
        }
        for use in self.strategy.uses:
            if use.kind not in {UseKind.DIRECT_MARKETING, UseKind.PROFILING}:
                continue
            if (
                use.legal_basis is LegalBasis.CONSENT
                and current.get(use.id) == "given"
                and self.signer is not None
            ):
                source = next(
                    (s.id for s in self.strategy.sources if use.id in s.consent_for),
                    self.strategy.sources[0].id,
                )
                record_consent(
                    session,
                    self.strategy,
                    signer=self.signer,
                    subject_id=subject_id,
                    use=use.id,
                    state="withdrawn",
                    source=source,
                    recorded_by="dsar",
                    evidence={"request_id": request_id or ""},
                )
                withdrawn.append(use.id)
        return {
            "objection_recorded": True,
            "scope": str(UseKind.DIRECT_MARKETING),
            "consents_withdrawn": withdrawn,
            "effect": "no direct marketing from now on (Art. 21(3))",
        }
