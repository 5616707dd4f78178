"""May use U be applied to subject S now? Set-based answers for millions of subjects at once.

For a consent-based use the answer is yes exactly when the subject's latest event for the use
(by event time, then sequence) at the moment asked is ``given`` and has not expired. That is
SQL over the ledger's ``(use, subject_id, event_time, seq, state, expires_at)`` index, never
a loop of single checks, in the shape each caller needs. :func:`lawful_subjects` is a ``Select``
of every lawful subject id (an anti-join over the whole use), for a set to count or fetch.
:func:`may_apply` is membership in that set as a boolean SQL expression on any subject-id
column, for queries with many rows per subject (reports). :func:`consent_standing` is a
correlated SQL expression, one backward index seek per row asked about, for queries that hold
a fraction of the subjects: it says ``given``, ``expired``, ``refused``, ``withdrawn`` or NULL
(never asked), so one expression both filters and explains. :func:`latest_standing` says the
same of every subject as a table to outer-join, for queries that ask hundreds of thousands of
subjects at once (an activation's matched audience), where a hash join the database can split
over its workers beats one seek per row.

Each of them reads the ledger, or, given ``current=True``, the table of every pair's latest
event (:mod:`consent.current`), which answers the same for a moment at or after its newest
row with no history to read: :func:`current_answers` says whether it does; :func:`check_many`
and :func:`check` ask it themselves.

For a use on another legal basis (contract, legal obligation, legitimate interests…) the
ledger has nothing to say: the answer comes from the basis, so :func:`may_apply` is ``TRUE``
and :func:`check_many` returns every id it was given. Objections (Art. 21) and restrictions
(Art. 18) are not consent: the request service applies them on top of this check.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, literal, or_, select, true
from sqlalchemy.orm import Session

from consent.current import CURRENT, LEDGER, answers_at, latest_events
from kernel.errors import ConsentError
from schemas.enums import LegalBasis
from schemas.models import Strategy
from schemas.tables import id_text

__all__ = [
    "CHUNK_SIZE",
    "check",
    "check_many",
    "consent_gated",
    "consent_standing",
    "current_answers",
    "latest_standing",
    "lawful_subjects",
    "may_apply",
]

CHUNK_SIZE: Final = 5000
"""Subject ids per query in :func:`check_many`; well under every driver's parameter limit."""

GIVEN: Final = "given"
"""The standing that makes a consent-based use lawful: the latest event gave it, unexpired."""
EXPIRED: Final = "expired"
"""The standing of a ``given`` older than the use's ``consent_valid_for`` (Art. 7)."""


def _latest(use: str, moment: datetime, *, current: bool, alias: str) -> tuple[Select[Any], Any]:
    """Every subject's latest event of ``use`` up to ``moment`` and its columns: the current
    table's rows of the use, or the anti-join over the ledger."""
    if current:
        held = CURRENT.alias(alias).c
        return select().where(held.use == use), held
    return latest_events(use, moment, alias=alias)


def _moment(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ConsentError("`at` has no time zone: give it in UTC", parameter="at")
    return at.astimezone(UTC)


def consent_gated(strategy: Strategy, use: str) -> bool:
    """Whether ``use`` needs consent (Art. 6(1)(a)); a :class:`ConsentError` if undeclared."""
    spec = strategy.index.uses.get(use)
    if spec is None:
        raise ConsentError(f"use {use!r} is not declared in 2-use.yaml", use=use, parameter="use")
    return spec.legal_basis is LegalBasis.CONSENT


def _standing_of(event: Any, moment: datetime) -> ColumnElement[str]:
    """An event's state as a standing: a ``given`` past its ``expires_at`` is ``expired``."""
    past_expiry = and_(
        event.state == GIVEN, event.expires_at.is_not(None), event.expires_at <= moment
    )
    return case((past_expiry, literal(EXPIRED)), else_=event.state)


def current_answers(session: Session, use: str, *, at: datetime | None = None) -> bool:
    """Whether the current-state table answers for ``use`` at ``at`` (default now), exactly as
    the ledger would: pass the result as ``current=`` to the readers below."""
    return answers_at(session.connection(), use, _moment(at))


def lawful_subjects(
    use: str,
    *,
    at: datetime | None = None,
    among: Iterable[str] | None = None,
    current: bool = False,
) -> Select[str]:
    """Subject ids whose latest event for ``use`` at ``at`` (default now) is an unexpired given.

    Looks only at the consent ledger: call it for consent-based uses (:func:`may_apply` and
    :func:`check_many` do that for you). ``among`` restricts the ids looked at (inside the
    query, so the index does the work). The query is an anti-join: a ``given`` event counts
    when no event of the same subject and use comes after it, by ``(event_time, seq)``, up to
    ``at``; with ``current`` (see :func:`current_answers`) it is a filter of the current table.
    """
    moment = _moment(at)
    latest, event = _latest(use, moment, current=current, alias="e")
    query = latest.add_columns(event.subject_id).where(
        event.state == GIVEN,
        or_(event.expires_at.is_(None), event.expires_at > moment),
    )
    if among is not None:
        query = query.where(event.subject_id.in_(list(among)))
    return query


def latest_standing(use: str, *, at: datetime | None = None, current: bool = False) -> Subquery:
    """Every subject's standing on ``use`` at ``at`` (default now), as a table to join.

    Columns ``subject_id`` and ``standing`` (as :func:`consent_standing` says it), one row per
    subject with an event up to ``at``; a subject never asked has no row, so an outer join
    gives NULL as the correlated form does. One anti-join over the use's ledger, which
    PostgreSQL runs as a parallel hash join: the shape for a query that asks hundreds of
    thousands of subjects at once, where one correlated seek each stays in a single process.
    With ``current``, the current table's rows of the use: one narrow row a subject, no history.
    """
    moment = _moment(at)
    latest, event = _latest(use, moment, current=current, alias="latest")
    return latest.add_columns(
        event.subject_id, _standing_of(event, moment).label("standing")
    ).subquery("standing")


def consent_standing(
    use: str,
    subject_id: ColumnElement[str],
    *,
    at: datetime | None = None,
    current: bool = False,
) -> ColumnElement[str | None]:
    """A SQL expression: where ``subject_id`` stands on ``use`` at ``at`` (default now).

    ``'given'`` (lawful), ``'expired'`` (given, but past ``consent_valid_for``), ``'refused'``
    or ``'withdrawn'`` (the latest event said so), or NULL (no event up to ``at``). A scalar
    subquery correlated to ``subject_id``'s table: one backward seek on the covering index
    ``ix_consent_event_latest`` per row it is asked for, whatever the size of the ledger; with
    ``current``, one seek on the current table's primary key.
    """
    moment = _moment(at)
    if current:
        held = CURRENT.alias("standing").c
        return (
            select(_standing_of(held, moment))
            .where(held.use == use, held.subject_id == id_text(subject_id))
            .scalar_subquery()
        )
    event = LEDGER.alias("standing").c
    return (
        select(_standing_of(event, moment))
        .where(
            event.use == use,
            event.subject_id == id_text(subject_id),
            event.event_time <= moment,
        )
        .order_by(event.event_time.desc(), event.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


def may_apply(
    strategy: Strategy,
    use: str,
    subject_id: ColumnElement[str],
    *,
    at: datetime | None = None,
) -> ColumnElement[bool]:
    """A SQL condition on ``subject_id`` (e.g. ``customer.c.id``): may ``use`` apply to it?

    ``TRUE`` for uses not gated by consent; else membership in :func:`lawful_subjects`, one
    pass over the use's ledger however many rows test it (a report's rows, several per
    subject). For a fraction of the subjects, :func:`consent_standing` is the cheaper test.
    """
    if not consent_gated(strategy, use):
        return true()
    return id_text(subject_id).in_(lawful_subjects(use, at=at))


def check_many(
    session: Session,
    strategy: Strategy,
    use: str,
    subject_ids: Iterable[str],
    *,
    at: datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> set[str]:
    """The ids among ``subject_ids`` that ``use`` may be applied to at ``at`` (default now).

    Works through the ids in chunks of ``chunk_size``, one set-based query each; every chunk
    is asked about the same moment.
    """
    if chunk_size < 1:
        raise ConsentError("chunk_size must be at least 1", parameter="chunk_size")
    ids = list(dict.fromkeys(subject_ids))
    if not consent_gated(strategy, use):
        return set(ids)
    moment = _moment(at)
    current = current_answers(session, use, at=moment)
    lawful: set[str] = set()
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        asked = lawful_subjects(use, at=moment, among=chunk, current=current)
        lawful.update(session.scalars(asked))
    return lawful


def check(
    session: Session, strategy: Strategy, use: str, subject_id: str, *, at: datetime | None = None
) -> bool:
    """May ``use`` be applied to one subject at ``at`` (default now)? One index seek."""
    if not consent_gated(strategy, use):
        return True
    moment = _moment(at)
    current = current_answers(session, use, at=moment)
    asked = consent_standing(use, literal(subject_id), at=moment, current=current)
    standing = session.scalar(select(asked))
    return bool(standing == GIVEN)
