"""The home page and one page per step of the road, generated from the strategy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from schemas.enums import LegalBasis
from schemas.models import Condition
from tietotie.docsite.context import Context, chart_path, entity_page
from tietotie.docsite.md import code, esc, heading, link, props, rel, table

if TYPE_CHECKING:
    from tietotie.docsite.figures import ReportFigure

__all__ = [
    "activations_page",
    "condition_text",
    "goals_page",
    "home_page",
    "questions_page",
    "reports_page",
    "sources_page",
    "system_page",
    "uses_page",
]


def home_page(ctx: Context) -> str:
    """The site's home: who the controller is and where to find what."""
    s, t = ctx.strategy, ctx.labels
    c = s.controller
    out = [f"# {esc(c.name)}", "", esc(t.intro("home", name=c.name)), ""]
    out += [
        props(
            [
                (t("controller"), esc(c.name)),
                (t("business_id"), esc(c.business_id or "")),
                (t("address"), esc(c.address or "")),
                (t("email"), esc(c.email or "")),
                (t("dpo"), esc(c.dpo or "")),
                (t("system"), esc(s.system.name)),
            ]
        ),
        "",
    ]
    counts = [
        ("road", None),
        ("goals", len(s.goals)),
        ("uses", len(s.uses)),
        ("questions", len(s.questions)),
        ("sources", len(s.sources)),
        ("system", len(s.system.entities)),
        ("reports", len(s.reports)),
        ("activations", len(s.activations)),
        ("fields", len(ctx.index.fields)),
        ("ropa", None),
        ("dpia", None),
        ("retention", None),
        ("access", None),
        ("consent", None),
        ("requests", None),
    ]
    out.append(f"## {t('contents')} {{ #section-contents }}")
    out.append("")
    for key, n in counts:
        suffix = f" ({n})" if n is not None else ""
        out.append(f"- {link(t(key), ctx.to(key))}{suffix}")
    out.append("")
    return "\n".join(out)


def goals_page(ctx: Context) -> str:
    """Step 1: goals with their KPIs, value, owner and the uses that serve them."""
    s, t = ctx.strategy, ctx.labels
    served: dict[str, list[str]] = defaultdict(list)
    for use in s.uses:
        for g in use.serves:
            served[g].append(use.id)
    out = [f"# 1. {t('goals')}", ""]
    for goal in s.goals:
        out += [heading(2, code(goal.id), goal.id), "", esc(goal.statement), ""]
        out += [
            props(
                [
                    (t("owner"), ctx.role(goal.owner)),
                    (t("value_per_year"), t.euros(goal.value_eur_per_year)),
                    (t("served_by"), ctx.uses(served.get(goal.id, []))),
                ]
            ),
            "",
        ]
        if goal.kpis:
            out += [f"**{t('kpis')}**", ""]
            out.append(
                table(
                    [t("kpi"), t("baseline"), t("target"), t("unit"), t("by")],
                    [
                        (
                            esc(k.name),
                            _num(k.baseline),
                            _num(k.target),
                            esc(k.unit or ""),
                            k.by.isoformat() if k.by else "",
                        )
                        for k in goal.kpis
                    ],
                )
            )
            out.append("")
    return "\n".join(out)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def uses_page(ctx: Context) -> str:
    """Step 2: each purpose with its legal basis, retention, recipients and fields."""
    s, t = ctx.strategy, ctx.labels
    questions: dict[str, list[str]] = defaultdict(list)
    for q in s.questions:
        for u in q.for_uses:
            questions[u].append(q.id)
    activations: dict[str, list[str]] = defaultdict(list)
    for a in s.activations:
        activations[a.use].append(a.id)
    consent_sources: dict[str, list[str]] = defaultdict(list)
    for src in s.sources:
        for u in src.consent_for:
            consent_sources[u].append(src.id)
    out = [f"# 2. {t('uses')}", ""]
    for use in s.uses:
        out += [heading(2, code(use.id), use.id), "", esc(use.description), ""]
        rows = [
            (t("kind"), t.value("kind", use.kind)),
            (t("legal_basis"), t.basis(use.legal_basis)),
            (t("law"), esc(use.law or "")),
            (t("lia"), esc(use.legitimate_interest_assessment or "")),
            (
                t("art9"),
                t.value("art9", use.special_category_condition)
                if use.special_category_condition
                else "",
            ),
            (
                t("consent_valid_for"),
                t.duration(use.consent_valid_for) if use.legal_basis is LegalBasis.CONSENT else "",
            ),
            (t("serves"), ctx.goals(use.serves) if use.serves else ""),
            (t("data_subjects"), ", ".join(esc(d) for d in use.data_subjects)),
            (t("retention_period"), t.duration(use.retention)),
            (
                t("recipients"),
                ctx.processors(use.recipients) if use.recipients else t("no_recipients"),
            ),
            (t("adm"), t.yes_no(use.automated_decision_making)),
            (t("questions"), ctx.questions(questions[use.id]) if questions[use.id] else ""),
            (t("activations"), ctx.activations(activations[use.id]) if activations[use.id] else ""),
            (
                t("captured_by"),
                ctx.sources(consent_sources[use.id]) if consent_sources[use.id] else "",
            ),
            (t("field_count"), ctx.fields(use.fields)),
        ]
        out += [props(rows), ""]
    return "\n".join(out)


def questions_page(ctx: Context) -> str:
    """Step 3: the questions in priority order, with their value."""
    s, t = ctx.strategy, ctx.labels
    answered: dict[str, list[str]] = defaultdict(list)
    for r in s.reports:
        for qid in r.answers:
            answered[qid].append(r.id)
    out = [f"# 3. {t('questions')}", ""]
    ordered = sorted(s.questions, key=lambda q: (q.priority, -q.value_eur_per_year))
    out.append(
        table(
            [t("id"), t("priority"), t("value_per_year"), t("text")],
            [
                (
                    link(code(q.id), ctx.to("questions", q.id)),
                    str(q.priority),
                    t.euros(q.value_eur_per_year),
                    esc(q.text),
                )
                for q in ordered
            ],
        )
    )
    out.append("")
    for q in ordered:
        out += [heading(2, code(q.id), q.id), "", esc(q.text), ""]
        out += [
            props(
                [
                    (t("priority"), str(q.priority)),
                    (t("value_per_year"), t.euros(q.value_eur_per_year)),
                    (t("for_uses"), ctx.uses(q.for_uses)),
                    (t("needs"), ctx.fields(q.needs)),
                    (t("answered_by"), ctx.reports(answered[q.id]) if answered[q.id] else ""),
                ]
            ),
            "",
        ]
    return "\n".join(out)


def sources_page(ctx: Context) -> str:
    """Step 4: where data comes from, at what cost, with which notice and consents."""
    s, t = ctx.strategy, ctx.labels
    out = [f"# 4. {t('sources')}", ""]
    for src in s.sources:
        yearly = Decimal(src.cost_eur_per_record) * src.records_per_year
        out += [heading(2, code(src.id), src.id), ""]
        out += [
            props(
                [
                    (t("channel"), t.value("source_channel", src.channel)),
                    (t("collected_by"), ctx.role(src.collected_by)),
                    (t("cost_per_record"), t.euros(src.cost_eur_per_record)),
                    (t("records_per_year"), str(src.records_per_year)),
                    (t("cost_per_year"), t.euros(yearly)),
                    (t("notice"), code(src.notice) if src.notice else t("none")),
                    (t("consent_for"), ctx.uses(src.consent_for) if src.consent_for else t("none")),
                    (t("collects"), ctx.fields(src.collects)),
                ]
            ),
            "",
        ]
    return "\n".join(out)


def system_page(ctx: Context) -> str:
    """Step 5: the system of record, its roles, processors and other systems."""
    s, t = ctx.strategy, ctx.labels
    out = [f"# 5. {t('system')}: {esc(s.system.name)}", ""]
    out += [f"## {t('entities')} {{ #section-entities }}", ""]
    out.append(
        table(
            [t("entity"), t("parent"), t("field_count"), t("retention_period")],
            [
                (
                    link(code(name), ctx.to(entity_page(name))),
                    t("subject_root") if e.subject else (code(e.parent) if e.parent else ""),
                    str(len(e.fields)),
                    t.duration(e.retention) if e.retention else "",
                )
                for name, e in s.system.entities.items()
            ],
        )
    )
    out.append("")
    subject = ctx.index.subject_entity
    if subject is not None:
        e = s.system.entities[subject]
        out += [
            props(
                [
                    (t("identifiers"), ", ".join(code(i) for i in e.identifiers)),
                    (
                        t("match_on"),
                        "; ".join(" + ".join(code(k) for k in key) for key in e.match_on),
                    ),
                ]
            ),
            "",
        ]
    out += [f"## {t('roles')} {{ #section-roles }}", ""]
    out.append(
        table(
            [
                t("id"),
                t("title"),
                t("department"),
                t("function"),
                t("location"),
                t("person"),
                t("duties"),
            ],
            [
                (
                    link(code(r.id), ctx.to("system", f"role-{r.id}")) + f"{{ #role-{r.id} }}",
                    esc(r.title or ""),
                    esc(r.department or ""),
                    esc(r.function or ""),
                    esc(r.location or ""),
                    esc(r.person or ""),
                    ", ".join(t.value("duty", d) for d in r.duties),
                )
                for r in s.roles
            ],
        )
    )
    out += ["", f"## {t('processors')} {{ #section-processors }}", ""]
    out.append(
        table(
            [t("id"), t("name"), t("country"), t("dpa_signed"), t("safeguard")],
            [
                (
                    link(code(p.id), ctx.to("system", f"processor-{p.id}"))
                    + f"{{ #processor-{p.id} }}",
                    esc(p.name),
                    esc(p.country),
                    p.dpa_signed.isoformat() if p.dpa_signed else "–",
                    t.value("safeguard", p.transfer_safeguard) if p.transfer_safeguard else "–",
                )
                for p in s.processors
            ],
        )
    )
    out.append("")
    if s.system.external:
        out += [f"## {t('external')} {{ #section-external }}", ""]
        out.append(
            table(
                [t("id"), "env", t("tables")],
                [
                    (
                        link(code(x.id), ctx.to("system", f"external-{x.id}"))
                        + f"{{ #external-{x.id} }}",
                        code(x.url_env),
                        "; ".join(
                            f"{code(tb.name)} → {code(tb.entity)} ({code(tb.subject_column)} = "
                            f"{code(tb.identifier)})"
                            for tb in x.tables
                        ),
                    )
                    for x in s.system.external
                ],
            )
        )
        out.append("")
    return "\n".join(out)


def reports_page(ctx: Context, figures: Mapping[str, ReportFigure] | None = None) -> str:
    """Step 6: reports, their audience and how identifiable their rows are; with ``figures``
    (a build with data), each aggregated report's numbers and chart as built."""
    s, t = ctx.strategy, ctx.labels
    out = [f"# 6. {t('reports')}", ""]
    if figures:
        out += [t("figures_intro"), ""]
    for r in s.reports:
        out += [heading(2, code(r.id), r.id), ""]
        out += [
            props(
                [
                    (t("answers"), ctx.questions(r.answers)),
                    (t("report_audience"), ", ".join(ctx.role(a) for a in r.audience)),
                    (t("identity"), t.value("identity", r.identity)),
                    (t("refresh"), t.duration(r.refresh) if r.refresh else ""),
                    (t("chart"), t.value("chart", r.chart)),
                    (t("shows"), ctx.fields(r.fields, labelled=True)),
                ]
            ),
            "",
        ]
        if figures is not None:
            out += _figure(ctx, r.id, figures.get(r.id))
    return "\n".join(out)


def _figure(ctx: Context, report_id: str, figure: ReportFigure | None) -> list[str]:
    """The numbers and chart of one report as built from the data, or why there are none."""
    t = ctx.labels
    if figure is None:
        return [f"*{t('figure_row_level')}*", ""]
    caption = t(
        "figure_caption",
        at=figure.built_at.strftime("%Y-%m-%d %H:%M UTC"),
        groups=figure.groups,
        suppressed=figure.suppressed_groups,
        suppressed_subjects=figure.suppressed_subjects,
        k=figure.k,
    )
    out = [esc(caption), ""]
    if figure.png is not None:
        alt = esc(t("figure_alt", report=report_id))
        out += [f"![{alt}]({rel(ctx.page, chart_path(report_id))}){{ .tt-chart }}", ""]
    return out


def _literal(value: object) -> str:
    """A condition operand as it is written in YAML (``true``, ``2026-11-01``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def condition_text(ctx: Context, cond: Condition) -> str:
    """A ``where`` or ``rows`` condition as readable Markdown."""
    t = ctx.labels
    op = t.value("operator", cond.op)
    if str(cond.op) == "exists":
        return f"{ctx.field(cond.field)} {op}"
    value = cond.value
    if isinstance(value, list):
        shown = ", ".join(code(_literal(v)) for v in value)
    elif str(cond.op) == "within" and isinstance(value, str):
        shown = esc(t.duration(value))
    else:
        shown = code(_literal(value))
    return f"{ctx.field(cond.field)} {op} {shown}"


def activations_page(ctx: Context) -> str:
    """Step 7: campaigns and actions, their use, audience, consent and caps."""
    s, t = ctx.strategy, ctx.labels
    out = [f"# 7. {t('activations')}", ""]
    for a in s.activations:
        use = ctx.index.uses.get(a.use)
        basis = f" — {t.basis(use.legal_basis)}" if use else ""
        cap = (
            t("times_per", max=a.frequency_cap.max, per=t.duration(a.frequency_cap.per))
            if a.frequency_cap
            else ""
        )
        out += [heading(2, code(a.id), a.id), ""]
        out += [
            props(
                [
                    (t("use"), ctx.uses([a.use]) + basis),
                    (t("channel"), t.value("activation_channel", a.channel)),
                    (t("owner"), ctx.role(a.owner)),
                    (t("audience"), code(a.audience.entity)),
                    (t("where"), "<br>".join(condition_text(ctx, c) for c in a.audience.where)),
                    (t("frequency_cap"), cap),
                    (t("opt_out"), esc(a.opt_out or "")),
                    (t("message"), esc(a.message)),
                ]
            ),
            "",
        ]
    return "\n".join(out)
