"""The registers staff look up: the record of processing activities (with CSV) and consents."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from schemas.enums import LegalBasis
from schemas.ropa import CSV_COLUMNS, RopaEntry, RopaRecipient, ropa_rows
from tietotie.docsite.context import ROPA_CSV, Context
from tietotie.docsite.md import code, esc, heading, link, props, table

__all__ = ["consent_page", "ropa_csv", "ropa_page"]


def ropa_csv(entries: list[RopaEntry]) -> str:
    """The record as CSV, the same columns ``tietotie compile`` writes."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(ropa_rows(entries))
    return buffer.getvalue()


def _recipient(ctx: Context, r: RopaRecipient) -> str:
    t = ctx.labels
    if r.kind == "internal":
        return ctx.role(r.id)
    where = [esc(r.country or "")]
    if r.transfer_safeguard:
        where.append(t.value("safeguard", r.transfer_safeguard))
    return f"{ctx.processors([r.id])} ({', '.join(w for w in where if w)})"


def ropa_page(ctx: Context, entries: list[RopaEntry]) -> str:
    """Art. 30(1): one section per processing activity, and the whole record as CSV."""
    t = ctx.labels
    csv_name = ROPA_CSV.rsplit("/", 1)[-1]
    out = [
        f"# {t('ropa')}",
        "",
        t.intro("ropa"),
        "",
        f"[{t('download_csv')} ({csv_name})]({csv_name})",
        "",
    ]
    if entries:
        c = entries[0].controller
        out += [heading(2, t("ropa.a"), "controller"), ""]
        out.append(
            props(
                [
                    (t("controller"), esc(c.name)),
                    (t("business_id"), esc(c.business_id or "–")),
                    (t("address"), esc(c.address or "–")),
                    (t("email"), esc(c.email or "–")),
                    (t("dpo"), esc(c.dpo or "–")),
                ]
            )
        )
        out.append("")
    out.append(
        table(
            [t("use"), t("legal_basis"), t("retention_period"), t("recipients")],
            [
                (
                    link(code(e.activity), f"#{e.activity}"),
                    t.basis(e.legal_basis),
                    t.duration(e.retention.use),
                    ", ".join(_recipient(ctx, r) for r in e.recipients if r.kind != "internal")
                    or "–",
                )
                for e in entries
            ],
        )
    )
    out.append("")
    for e in entries:
        categories = ", ".join(t.value("category", c) for c in e.data_categories)
        special = ", ".join(t.value("category", c) for c in e.special_categories)
        retention_rows = [
            f"{ctx.field(ref)}: {t.duration(kept)}"
            for ref, kept in e.retention.fields.items()
            if kept != e.retention.use
        ]
        rows = [
            (t("ropa.b"), esc(e.purpose)),
            (t("kind"), t.value("kind", e.kind)),
            (t("serves"), ctx.goals(e.goals) if e.goals else ""),
            (t("legal_basis"), t.basis(e.legal_basis)),
            (t("law"), esc(e.law or "")),
            (t("lia"), esc(e.legitimate_interest_assessment or "")),
            (t("art9"), esc(e.special_category_condition or "")),
            (t("data_subjects"), ", ".join(esc(d) for d in e.data_subjects)),
            (t("ropa.c"), categories),
            (t("special"), special),
            (t("field_count"), ctx.fields(e.fields)),
            (t("sources"), ctx.sources(e.sources)),
            (t("ropa.d"), ", ".join(_recipient(ctx, r) for r in e.recipients) or "–"),
            (
                t("ropa.e"),
                ", ".join(_recipient(ctx, r) for r in e.third_country_transfers) or t("none"),
            ),
            (
                t("ropa.f"),
                t.duration(e.retention.use)
                + ("<br>" + "<br>".join(retention_rows) if retention_rows else ""),
            ),
            (t("ropa.g"), "<br>".join(esc(m) for m in e.security_measures)),
            (t("adm"), t.yes_no(e.automated_decision_making)),
        ]
        out += [heading(2, code(e.activity), e.activity), ""]
        out.append(props(rows))
        out.append("")
    return "\n".join(out)


def consent_page(ctx: Context) -> str:
    """The consent purposes: which sources capture each, under which notice, for how long."""
    s, t, index = ctx.strategy, ctx.labels, ctx.index
    capturing: dict[str, list[str]] = defaultdict(list)
    for src in s.sources:
        for use in src.consent_for:
            capturing[use].append(src.id)
    out = [f"# {t('consent')}", "", t.intro("consent"), ""]
    consent_uses = [u for u in s.uses if u.legal_basis is LegalBasis.CONSENT]
    out.append(
        t("consent_none")
        if not consent_uses
        else table(
            [t("use"), t("consent_valid_for"), t("captured_by"), t("notice_versions")],
            [
                (
                    link(code(u.id), f"#{u.id}"),
                    t.duration(u.consent_valid_for),
                    ctx.sources(capturing[u.id]),
                    ", ".join(
                        sorted(
                            {
                                code(index.sources[x].notice)
                                for x in capturing[u.id]
                                if index.sources[x].notice
                            }
                        )
                    )
                    or "–",
                )
                for u in consent_uses
            ],
        )
    )
    out.append("")
    for u in consent_uses:
        activations = [a.id for a in s.activations if a.use == u.id]
        out += [heading(2, code(u.id), u.id), "", esc(u.description), ""]
        src_rows = [
            (
                ctx.sources([x]),
                t.value("source_channel", index.sources[x].channel),
                code(index.sources[x].notice) if index.sources[x].notice else "–",
            )
            for x in capturing[u.id]
        ]
        out.append(
            props(
                [
                    (t("kind"), t.value("kind", u.kind)),
                    (t("consent_valid_for"), t.duration(u.consent_valid_for)),
                    (
                        t("art9"),
                        t.value("art9", u.special_category_condition)
                        if u.special_category_condition
                        else "",
                    ),
                    (t("field_count"), ctx.fields(u.fields)),
                    (t("activations"), ctx.activations(activations) if activations else ""),
                ]
            )
        )
        out += ["", table([t("sources"), t("channel"), t("notice")], src_rows), ""]
    notices: dict[str, list[str]] = defaultdict(list)
    for src in s.sources:
        if src.notice:
            notices[src.notice].append(src.id)
    if notices:
        out += [f"## {t('notice_versions')} {{ #section-notices }}", ""]
        out.append(
            table(
                [t("notice"), t("sources"), t("consent_for")],
                [
                    (
                        code(n),
                        ctx.sources(ids),
                        ctx.uses(sorted({u for x in ids for u in index.sources[x].consent_for})),
                    )
                    for n, ids in sorted(notices.items())
                ],
            )
        )
        out.append("")
    return "\n".join(out)
