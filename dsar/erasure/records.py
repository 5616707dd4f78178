"""The main database's part of an erasure: the system of record, the contact log, the
privacy-center sign-ins, restrictions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from activation.audiences import contact_log
from dsar.requests.outbox import forget_held
from dsar.requests.tables import SignInRow
from kernel.db import purge
from records.restrictions import FlagKind, raise_flag
from records.store import RecordStore
from schemas.enums import LegalBasis
from schemas.models import Strategy

__all__ = ["erase_in_main"]


def erase_in_main(
    session: Session,
    strategy: Strategy,
    store: RecordStore,
    subject_id: str,
    *,
    request_id: str,
    now: datetime,
    forget: Callable[[str], str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Delete what no legal obligation keeps, clear the rest but the obliged fields, empty the
    contact log, delete the subject's privacy-center sign-ins (their codes with them: each holds
    the subject id and a keyed hash of the identifier) and restrict what is kept
    (Art. 17(3)(b)), all in the caller's transaction. With ``forget`` (the request service's
    keyed hash) the sign-in codes held for staff to read, addressed to the same identifiers,
    keep only the keyed hash of the address from now on.

    Returns what was kept (entity, records, fields, laws, until) and the erased counts.
    """
    index = strategy.index
    obliged: dict[str, list[str]] = {}
    for use in strategy.uses:
        if use.legal_basis is LegalBasis.LEGAL_OBLIGATION:
            for ref in index.use_fields[use.id]:
                obliged.setdefault(ref, []).append(f"{use.id}: {use.law}")
    kept: list[dict[str, Any]] = []
    erased: dict[str, int] = {}
    keep_subject = False
    for entity in reversed(store.tables.order()):
        table = store.tables.table(entity)
        columns = store.tables.fields_of(entity)
        keep_cols = [c for c in columns if c.ref in obliged]
        rows = session.execute(
            select(table.c.id, table.c.retention_until).where(table.c.subject_id == subject_id)
        ).all()
        keep_ids = [r.id for r in rows if keep_cols and r.retention_until > now]
        drop_ids = [r.id for r in rows if r.id not in keep_ids]
        if entity == store.subject_entity and keep_subject and drop_ids:
            keep_ids, drop_ids = drop_ids, []  # the subject row anchors what is kept
        if drop_ids:
            session.execute(delete(table).where(table.c.id.in_(drop_ids)))
            erased[entity] = len(drop_ids)
        if keep_ids:
            keep_subject = True
            cleared = {c.name: None for c in columns if c not in keep_cols}
            cleared.update(
                {c.blind_index: None for c in columns if c not in keep_cols and c.blind_index}
            )
            if cleared:
                session.execute(
                    update(table).where(table.c.id.in_(keep_ids)).values(**cleared, updated_at=now)
                )
            until = max(r.retention_until for r in rows if r.id in keep_ids)
            kept.append(
                {
                    "entity": entity,
                    "records": len(keep_ids),
                    "fields": [c.name for c in keep_cols],
                    "encrypted_fields": [c.name for c in keep_cols if c.encrypted],
                    "why": sorted({w for c in keep_cols for w in obliged[c.ref]}),
                    "until": until.isoformat(),
                    "article": "Art. 17(3)(b)",
                }
            )
    contacts = purge(session, contact_log, contact_log.c.subject_id == subject_id)
    if contacts:
        erased["contact_log"] = contacts
    mine = SignInRow.subject_id == subject_id
    if forget is not None:
        hashes = set(session.scalars(select(SignInRow.identity_hash).where(mine)))
        held = forget_held(session, forget, only=hashes) if hashes else 0
        if held:
            erased["held_message_addresses"] = held
    signins = purge(session, SignInRow, mine)
    if signins:
        erased["privacy_signins"] = signins
    if kept:
        raise_flag(
            session,
            subject_id,
            kind=FlagKind.RESTRICTION,
            scope="all",
            reason="Art. 17(3)(b): kept under a legal obligation",
            request_id=request_id,
            at=now,
        )
    return kept, erased
