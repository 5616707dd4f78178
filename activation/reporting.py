"""Reports of 6-reporting.yaml, built at their declared identity level (DESIGN §4, step 6).

A report shows ``fields`` of several entities. Its rows are records of the *grain*: the
deepest entity among its fields (the one with numeric fields on a tie, else the first named).
The grain's ancestors are joined through ``parent_id`` (one each), other entities of the same
subject by ``subject_id`` (every combination; a visit counts once in each group its customer's
vehicles put it in). The database does the work; no Python loop runs over subjects.

identity levels:

    aggregated      grouped by the non-numeric fields (dates and datetimes by ``period``:
                    day, week (its Monday), month or year), with ``subjects`` (distinct
                    subjects), ``records`` (grain records) and ``:sum`` and ``:avg`` of every
                    numeric field; a group of fewer than ``k`` subjects (5) is suppressed and
                    only counted. Also drawn as the declared chart (bar, line, pie; table: none).
    pseudonymised   one row per grain record; ``subject`` is the subject id's hmac token in
                    the ``reporting`` domain, identifying fields (protect hmac/encrypt, or of
                    category identity, contact, identifier, online_identifier) are replaced by
                    tokens of that domain (reversible ones for ``protect: encrypt``); other
                    values as stored.
    identified      one row per grain record, ``subject_id`` and the values in clear; only for
                    a role that may read every field in clear for one of the report's uses.

Whatever the level, the requesting role must be in the report's ``audience``; its row filters
for the report's uses narrow the rows; restricted subjects (Art. 18) never appear; a subject
appears only if one of the report's uses (the ``for_uses`` of the questions it answers) may
reach it: consent-based uses need a current consent, and objections stop the uses they cover
(see :mod:`activation.audiences`). Every build is one audit entry, counts only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from access_policy.models import Decision
from access_policy.service import Policy
from activation.audiences import conditions_sql, lawfulness
from activation.exports import OutputFormat, write_file
from audit import AuditEvent, AuditLog
from kernel.crypto import Pseudonymiser
from kernel.errors import AccessDenied, NotFound, RecordError
from kernel.keystore import ERASED
from records.restrictions import FlagKind, flagged_subjects
from records.store import RecordStore
from schemas.enums import Category, Chart, FieldType, IdentityLevel, Protect
from schemas.models import Report, Strategy
from schemas.runtime import canonical_decimal
from schemas.tables import id_text

__all__ = [
    "DEFAULT_K",
    "REPORTING_DOMAIN",
    "Period",
    "ReportBuild",
    "build_report",
    "report_uses",
    "write_report",
]

DEFAULT_K: Final = 5
"""Smallest group an aggregated report shows (fewer subjects: suppressed)."""

REPORTING_DOMAIN: Final = "reporting"
"""Pseudonymisation domain of the tokens in pseudonymised reports."""

_NUMERIC: Final = frozenset({FieldType.INTEGER, FieldType.DECIMAL})
_TEMPORAL: Final = frozenset({FieldType.DATE, FieldType.DATETIME})
_IDENTIFYING: Final = frozenset(
    {Category.IDENTITY, Category.CONTACT, Category.IDENTIFIER, Category.ONLINE_IDENTIFIER}
)
_CHUNK: Final = 2000
_CENT: Final = Decimal("0.01")


class Period(StrEnum):
    """How an aggregated report groups dates and datetimes."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def report_uses(strategy: Strategy, report: Report) -> list[str]:
    """The uses a report serves: the ``for_uses`` of the questions it answers, in order."""
    index = strategy.index
    uses = [u for q in report.answers if q in index.questions for u in index.questions[q].for_uses]
    return list(dict.fromkeys(u for u in uses if u in index.uses))


@dataclass
class ReportBuild:
    """A built report: its columns, counts, and rows (aggregates held, record rows streamed)."""

    report: Report
    role: str
    at: datetime
    columns: list[str]
    k: int
    period: Period
    groups: list[dict[str, Any]] = field(default_factory=list)
    suppressed_groups: int = 0
    suppressed_subjects: int = 0
    rows_written: int = 0
    _store: RecordStore | None = field(default=None, repr=False)
    _select: Select[Any] | None = field(default=None, repr=False)
    _pseudonymiser: Pseudonymiser | None = field(default=None, repr=False)

    @property
    def identity(self) -> IdentityLevel:
        """The report's declared identity level."""
        return self.report.identity

    @property
    def strategy(self) -> Strategy:
        """The strategy the report was built from (its field labels and language)."""
        assert self._store is not None
        return self._store.strategy

    @property
    def fields(self) -> list[str]:
        """The report's fields, ``entity.*`` expanded."""
        assert self._store is not None
        return self._store.strategy.index.expand(self.report.fields)

    @property
    def field_types(self) -> dict[str, FieldType]:
        """The type of each of the report's fields."""
        assert self._store is not None
        specs = self._store.strategy.index.fields
        return {ref: specs[ref].type for ref in self.fields}

    def summary(self) -> dict[str, Any]:
        """What was built, in numbers (no values), for the CLI, the API and the audit log."""
        out: dict[str, Any] = {
            "report": self.report.id,
            "identity": str(self.identity),
            "role": self.role,
            "at": self.at.isoformat(),
            "columns": list(self.columns),
            "rows": self.rows_written,
        }
        if self.identity is IdentityLevel.AGGREGATED:
            out |= {
                "k": self.k,
                "period": str(self.period),
                "groups": len(self.groups),
                "suppressed_groups": self.suppressed_groups,
                "suppressed_subjects": self.suppressed_subjects,
            }
        return out

    def rows(self, session: Session) -> Iterator[dict[str, Any]]:
        """The rows, ``columns`` as keys; counts them in ``rows_written`` as they go."""
        self.rows_written = 0
        if self.identity is IdentityLevel.AGGREGATED:
            for group in self.groups:
                self.rows_written += 1
                yield group
            return
        assert self._store is not None and self._select is not None
        result = session.execute(self._select.execution_options(yield_per=_CHUNK))
        for chunk in result.partitions():
            rows = [dict(r._mapping) for r in chunk]
            _decrypt(self._store, rows, self.fields)
            if self.identity is IdentityLevel.PSEUDONYMISED:
                self._tokenise(rows)
            for row in rows:
                del row["_record"]
                self.rows_written += 1
                yield row

    def _tokenise(self, rows: list[dict[str, Any]]) -> None:
        assert self._store is not None
        if self._pseudonymiser is None:
            raise RecordError(
                "a pseudonymised report needs the keyring's pseudonymiser: run "
                "`tietotie keys init` (or give build_report a pseudonymiser)",
                parameter="pseudonymiser",
            )
        tokens = self._pseudonymiser
        ids = [str(r.pop("subject_id")) for r in rows]
        for row, token in zip(rows, tokens.hmac_many(REPORTING_DOMAIN, ids), strict=True):
            row["subject"] = token
        specs = self._store.strategy.index.fields
        for ref in self.fields:
            spec = specs[ref]
            if not (spec.protect is not Protect.NONE or spec.category in _IDENTIFYING):
                continue
            present = [r for r in rows if r.get(ref) is not None]
            texts = [str(r[ref]) for r in present]
            made = (
                tokens.encrypt_many(REPORTING_DOMAIN, texts)
                if spec.protect is Protect.ENCRYPT
                else tokens.hmac_many(REPORTING_DOMAIN, texts)
            )
            for row, token in zip(present, made, strict=True):
                row[ref] = token

    def audit(self, session: Session, log: AuditLog) -> None:
        """Append the build's audit entry (counts only); call after the rows were written."""
        details = {k: v for k, v in self.summary().items() if k not in {"columns", "at", "role"}}
        log.append(
            session, AuditEvent(actor=f"role:{self.role}", action="report.build", details=details)
        )


def _decrypt(store: RecordStore, rows: list[dict[str, Any]], refs: Sequence[str]) -> None:
    encrypted = [ref for ref in refs if store.tables.columns[ref].encrypted]
    if not encrypted or not rows:
        return
    items = [
        (str(r["subject_id"]), ref, bytes(r[ref]).decode("ascii"))
        for r in rows
        for ref in encrypted
        if r.get(ref) is not None
    ]
    plain = iter(store.need_crypto(encrypted[0]).keystore.decrypt_fields(items, on_erased="mark"))
    for r in rows:
        for ref in encrypted:
            if r.get(ref) is not None:
                text = next(plain)
                r[ref] = None if text is ERASED else text


# ── choosing the role, the grain and the joins ───────────────────────────────────────────────


def _report(strategy: Strategy, report_id: str) -> Report:
    found = strategy.index.reports.get(report_id)
    if found is None:
        known = ", ".join(strategy.index.reports) or "none"
        raise NotFound(
            f"no report {report_id!r} in 6-reporting.yaml; declared: {known}", report=report_id
        )
    return found


def _check_role(
    policy: Policy, report: Report, role: str, uses: list[str], fields: list[str]
) -> None:
    policy.require_known(role=role)
    if role not in report.audience:
        raise AccessDenied(
            f"role {role!r} is not in the audience of report {report.id!r}; it goes to: "
            f"{', '.join(report.audience)} (6-reporting.yaml)",
            role=role,
            report=report.id,
            reason="not_in_audience",
        )
    if report.identity is not IdentityLevel.IDENTIFIED:
        return
    hidden = [
        f
        for f in fields
        if not any(policy.decide(role, f, u, "read") is Decision.ALLOW for u in uses)
    ]
    if hidden:
        raise AccessDenied(
            f"report {report.id!r} is identified, and role {role!r} may not read "
            f"{', '.join(hidden)} in clear for {', '.join(uses) or 'any of its uses'}; ask for "
            "it as a role that may, or make the report pseudonymised",
            role=role,
            report=report.id,
            reason="not_readable_in_clear",
        )


def _grain(store: RecordStore, fields: list[str]) -> str:
    index = store.strategy.index
    entities = list(dict.fromkeys(ref.partition(".")[0] for ref in fields))
    numeric = {ref.partition(".")[0] for ref in fields if index.fields[ref].type in _NUMERIC}
    return max(entities, key=lambda e: (len(index.lineage(e)), e in numeric, -entities.index(e)))


def _joined(
    store: RecordStore, grain: str, fields: list[str]
) -> tuple[FromClause, dict[str, FromClause]]:
    """The FROM of the grain with every entity of ``fields``, and where each entity sits.

    Ancestors join one row each through ``parent_id``. Another entity of the subject joins as
    its *distinct* values of the report's fields per subject, so a grain row meets each
    combination once (two Toyotas of one customer do not count a visit twice).
    """
    tables = store.tables
    base = tables.table(grain)
    source: FromClause = base
    placed: dict[str, FromClause] = {grain: base}
    entities = {f.partition(".")[0] for f in fields}
    lineage = store.strategy.index.lineage(grain)
    needed_depth = max((lineage.index(e) for e in entities if e in lineage), default=0)
    child = base
    for ancestor in lineage[1 : needed_depth + 1]:
        table = tables.table(ancestor)
        source = source.join(table, table.c.id == child.c.parent_id)
        placed[ancestor] = child = table
    for entity in sorted(entities - set(placed), key=lambda e: tables.order().index(e)):
        table = tables.table(entity)
        names = [f.partition(".")[2] for f in fields if f.partition(".")[0] == entity]
        values = (
            select(table.c.subject_id, *(table.c[n] for n in names))
            .distinct()
            .subquery(f"{entity}_values")
        )
        source = source.outerjoin(values, values.c.subject_id == base.c.subject_id)
        placed[entity] = values
    return source, placed


def _bucket(
    column: ColumnElement[Any], ftype: FieldType, period: Period, dialect: str
) -> ColumnElement[Any]:
    """A date or datetime as the text label of its period (UTC), in the database's dialect."""
    if dialect == "postgresql":
        moment = (
            column if ftype is FieldType.DATE else func.timezone(literal_column("'UTC'"), column)
        )
        if period is Period.WEEK:
            moment = func.date_trunc(literal_column("'week'"), moment)
        pattern = {
            Period.DAY: "'YYYY-MM-DD'",
            Period.WEEK: "'YYYY-MM-DD'",
            Period.MONTH: "'YYYY-MM'",
            Period.YEAR: "'YYYY'",
        }[period]
        return func.to_char(moment, literal_column(pattern))
    if dialect in {"mysql", "mariadb"}:
        if period is Period.WEEK:
            return func.date_format(
                func.subdate(column, func.weekday(column)), literal_column("'%Y-%m-%d'")
            )
        pattern = {Period.DAY: "'%Y-%m-%d'", Period.MONTH: "'%Y-%m'", Period.YEAR: "'%Y'"}[period]
        return func.date_format(column, literal_column(pattern))
    # SQLite keeps dates as ISO text, and the system of record's datetimes as integer
    # microseconds since 1970 UTC (schemas.tables.RecordTime): made ISO text, the label is a
    # prefix of it.
    if ftype is FieldType.DATETIME:
        seconds = type_coerce(column, BigInteger).op("/")(1_000_000)  # SQLite's integer division
        column = func.strftime(
            literal_column("'%Y-%m-%d %H:%M:%S'"), seconds, literal_column("'unixepoch'")
        )
    if period is Period.WEEK:
        return func.date(column, literal_column("'-6 days'"), literal_column("'weekday 1'"))
    width = {Period.DAY: 10, Period.MONTH: 7, Period.YEAR: 4}[period]
    return func.substr(column, 1, width)


def _number(value: Any) -> Decimal | None:
    if value is None:
        return None
    return canonical_decimal(Decimal(str(value)).quantize(_CENT))


# ── building ─────────────────────────────────────────────────────────────────────────────────


def build_report(
    session: Session,
    store: RecordStore,
    policy: Policy,
    report_id: str,
    *,
    role: str | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    k: int = DEFAULT_K,
    period: Period | str = Period.MONTH,
    at: datetime | None = None,
    audit: AuditLog | None = None,
) -> ReportBuild:
    """Build ``report_id`` for ``role`` (default: the first role of its audience).

    Raises :class:`NotFound` for an undeclared report, :class:`AccessDenied` for a role outside
    its audience (or, for an identified report, one that may not read its fields in clear),
    and :class:`RecordError` for a ``k`` below 1, an unknown ``period``, or an aggregated
    report over a field encrypted at rest. Aggregates are computed here; record rows stream
    from :meth:`ReportBuild.rows`. Call :meth:`ReportBuild.audit` once the rows are written.

    With ``audit``, a refusal of the role is appended to ``session`` as ``report.refused``
    (report, identity level, why) before the error is raised: the caller commits it before
    its transaction ends with the error, so the refused attempt stays in the log.
    """
    strategy = store.strategy
    report = _report(strategy, report_id)
    if k < 1:
        raise RecordError(
            f"k={k}: the smallest group shown must be at least 1 subject", parameter="k"
        )
    try:
        chosen_period = Period(period)
    except ValueError:
        raise RecordError(
            f"period {period!r}: use day, week, month or year", parameter="period"
        ) from None
    if at is not None and at.tzinfo is None:
        raise RecordError("`at` has no time zone: give it in UTC", parameter="at")
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    fields = strategy.index.expand(report.fields)
    uses = report_uses(strategy, report)
    chosen_role = role or report.audience[0]
    try:
        _check_role(policy, report, chosen_role, uses, fields)
    except AccessDenied as exc:
        if audit is not None:
            details = {
                "report": report.id,
                "identity": str(report.identity),
                "reason": str(exc.context.get("reason")),
            }
            audit.append(
                session,
                AuditEvent(actor=f"role:{chosen_role}", action="report.refused", details=details),
            )
        raise

    grain = _grain(store, fields)
    source, placed = _joined(store, grain, fields)
    base = placed[grain]
    sid = base.c.subject_id
    laws = [lawfulness(strategy, u, at=moment, session=session) for u in uses]
    allowed: ColumnElement[bool] = (
        or_(*(law.allows(sid) for law in laws))
        if laws
        else ~id_text(sid).in_(flagged_subjects(FlagKind.RESTRICTION))
    )
    filters = [
        c for u in uses if policy.holds(chosen_role, u) for c in policy.row_filters(chosen_role, u)
    ]
    where = and_(
        allowed, conditions_sql(store, filters, now=moment, subject_id=sid, unusable="deny")
    )

    def column(ref: str) -> ColumnElement[Any]:
        entity, _, name = ref.partition(".")
        return placed[entity].c[name]

    build = ReportBuild(
        report=report,
        role=chosen_role,
        at=moment,
        columns=[],
        k=k,
        period=chosen_period,
        _store=store,
        _pseudonymiser=pseudonymiser,
    )
    if report.identity is not IdentityLevel.AGGREGATED:
        first = "subject" if report.identity is IdentityLevel.PSEUDONYMISED else "subject_id"
        build.columns = [first, *fields]
        stmt = (
            select(
                sid.label("subject_id"),
                *(column(f).label(f) for f in fields),
                base.c.id.label("_record"),
            )
            .select_from(source)
            .where(where)
        )
        build._select = stmt.order_by(sid, base.c.id)
        return build
    _aggregate(
        session,
        store,
        build,
        fields,
        column=column,
        source=source,
        where=where,
        sid=sid,
        record=base.c.id,
    )
    return build


def _aggregate(
    session: Session,
    store: RecordStore,
    build: ReportBuild,
    fields: list[str],
    *,
    column: Any,
    source: FromClause,
    where: ColumnElement[bool],
    sid: ColumnElement[Any],
    record: ColumnElement[Any],
) -> None:
    specs = store.strategy.index.fields
    for ref in fields:
        if store.tables.columns[ref].encrypted:
            raise RecordError(
                f"report {build.report.id!r} aggregates {ref}, which is encrypted at rest under "
                "each subject's key and cannot be grouped by the database; leave it out of the "
                "report or make the report pseudonymised",
                field=ref,
                report=build.report.id,
            )
    dims = [f for f in fields if specs[f].type not in _NUMERIC]
    measures = [f for f in fields if specs[f].type in _NUMERIC]
    dialect = session.get_bind().dialect.name
    labels = [
        _bucket(column(f), specs[f].type, build.period, dialect)
        if specs[f].type in _TEMPORAL
        else column(f)
        for f in dims
    ]
    inner = (
        select(
            record.label("_record"),
            sid.label("_subject"),
            *(e.label(f"d{i}") for i, e in enumerate(labels)),
            *(column(f).label(f"m{i}") for i, f in enumerate(measures)),
        )
        .select_from(source)
        .where(where)
    )
    sub = inner.subquery()
    keys = [sub.c[f"d{i}"] for i in range(len(dims))]
    subjects = func.count(sub.c._subject.distinct())
    grouped = select(
        *keys,
        subjects.label("subjects"),
        func.count().label("records"),
        *(
            agg(sub.c[f"m{i}"]).label(f"m{i}{name}")
            for i in range(len(measures))
            for name, agg in ((":sum", func.sum), (":avg", func.avg))
        ),
    ).group_by(*keys)
    build.columns = [
        *dims,
        "subjects",
        "records",
        *(f"{f}{name}" for f in measures for name in (":sum", ":avg")),
    ]
    # One pass over the groups (not the subjects): small ones are counted, never kept.
    for row in session.execute(grouped.order_by(*keys)):
        values = list(row)
        count = int(values[len(dims)])
        if count < build.k:
            build.suppressed_groups += 1
            build.suppressed_subjects += count
            continue
        group: dict[str, Any] = dict(zip(dims, values[: len(dims)], strict=True))
        group["subjects"], group["records"] = count, int(values[len(dims) + 1])
        for name, value in zip(
            build.columns[len(dims) + 2 :], values[len(dims) + 2 :], strict=True
        ):
            group[name] = _number(value)
        build.groups.append(group)


def write_report(
    session: Session,
    build: ReportBuild,
    path: Path,
    fmt: OutputFormat,
    *,
    audit: AuditLog | None = None,
) -> int:
    """Write the report's rows to ``path`` (atomically) and audit the build; the row count."""
    count = write_file(build.rows(session), build.columns, path, fmt)
    if audit is not None:
        build.audit(session, audit)
    return count


def chart_kind(build: ReportBuild) -> Chart | None:
    """The chart to draw: the declared kind for aggregated reports; None for tables and rows."""
    if build.identity is not IdentityLevel.AGGREGATED or build.report.chart is Chart.TABLE:
        return None
    return build.report.chart
