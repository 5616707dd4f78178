"""The field catalogue (one page per entity) and the retention schedule."""

from __future__ import annotations

from schemas.enums import SPECIAL_CATEGORIES, Category
from schemas.tables import entity_retention, field_retention
from tietotie.docsite.access import AccessView, roles_with_uses
from tietotie.docsite.context import Context, entity_page
from tietotie.docsite.md import code, esc, link, table

__all__ = ["entity_catalogue_page", "fields_index_page", "retention_page"]


def _category(ctx: Context, category: Category) -> str:
    t = ctx.labels
    label = t.value("category", category)
    if category in SPECIAL_CATEGORIES:
        return (
            f"**{label}** ({t('special')}, art. 9)"
            if t.language == "fi"
            else f"**{label}** ({t('special')}, Art. 9)"
        )
    return label


def _protection(ctx: Context, ref: str) -> str:
    t = ctx.labels
    spec = ctx.index.fields[ref]
    label = t.value("protect", spec.protect)
    if ctx.index.encrypted_at_rest(ref):
        label += f"; {t('encrypted_at_rest')}"
    return label


def _type(ctx: Context, ref: str) -> str:
    spec = ctx.index.fields[ref]
    label = ctx.labels.value("type", spec.type)
    if spec.values:
        label += ": " + ", ".join(code(v) for v in spec.values)
    return label


def fields_index_page(ctx: Context) -> str:
    """The catalogue's front page: the entities, how they hang together, and how many fields."""
    s, t = ctx.strategy, ctx.labels
    out = [f"# {t('fields')}", "", t.intro("fields"), ""]
    out.append(
        table(
            [t("entity"), t("parent"), t("field_count"), t("retention_period")],
            [
                (
                    link(code(name), ctx.to(entity_page(name))),
                    t("subject_root") if e.subject else (code(e.parent) if e.parent else ""),
                    str(len(e.fields)),
                    t.duration(entity_retention(s, name)),
                )
                for name, e in s.system.entities.items()
            ],
        )
    )
    out.append("")
    return "\n".join(out)


def entity_catalogue_page(ctx: Context, entity: str, view: AccessView) -> str:
    """One entity's fields: type, category, protection, retention, sources, uses and roles."""
    s, t, index = ctx.strategy, ctx.labels, ctx.index
    spec = s.system.entities[entity]
    out = [
        "---",
        "hide:",
        "  - navigation",
        "  - toc",
        "---",
        "",
        f"# {t('fields')}: {code(entity)}",
        "",
    ]
    others = [
        code(name) if name == entity else link(code(name), ctx.to(entity_page(name)))
        for name in s.system.entities
    ]
    out += [f"{link(t('fields'), ctx.to('fields'))}: " + " · ".join(others), ""]
    facts = []
    if spec.subject:
        facts.append(f"**{t('subject_root')}**")
        if spec.identifiers:
            facts.append(f"{t('identifiers')}: " + ", ".join(code(i) for i in spec.identifiers))
    elif spec.parent:
        facts.append(f"{t('parent')}: {link(code(spec.parent), ctx.to(entity_page(spec.parent)))}")
    facts.append(f"{t('entity_retention')}: {t.duration(entity_retention(s, entity))}")
    out += ["  \n".join(facts), ""]
    rows = []
    for name, field in spec.fields.items():
        ref = f"{entity}.{name}"
        required = f" ({t('required').lower()})" if field.required else ""
        rows.append(
            [
                f"[{code(name)}](#{name}){{ #{name} }}{required}",
                esc(field.shown_name(name)),
                _type(ctx, ref),
                _category(ctx, field.category),
                _protection(ctx, ref),
                t.duration(field_retention(s, ref)),
                ctx.sources(index.field_sources.get(ref, [])),
                ctx.uses(index.field_uses.get(ref, [])),
                roles_with_uses(ctx, view.readers(ref)),
                roles_with_uses(ctx, view.masked(ref)),
            ]
        )
    out.append(
        table(
            [
                t("field"),
                t("name"),
                t("type"),
                t("category"),
                t("protection"),
                t("retention_period"),
                t("sources"),
                t("uses"),
                t("read_by"),
                t("masked_for"),
            ],
            rows,
        )
    )
    out += ["", t.intro("fields_legend"), ""]
    return "\n".join(out)


def retention_page(ctx: Context) -> str:
    """How long data is kept: by use, by entity, and field by field with the reason."""
    s, t, index = ctx.strategy, ctx.labels, ctx.index
    out = [f"# {t('retention')}", "", t.intro("retention"), ""]
    out += [f"## {t('uses')} {{ #section-uses }}", ""]
    out.append(
        table(
            [t("use"), t("legal_basis"), t("retention_period"), t("law")],
            [
                (
                    ctx.uses([u.id]),
                    t.basis(u.legal_basis),
                    t.duration(u.retention),
                    esc(u.law or ""),
                )
                for u in s.uses
            ],
        )
    )
    out += ["", f"## {t('entities')} {{ #section-entities }}", ""]
    for name, spec in s.system.entities.items():
        rows = []
        for field in spec.fields:
            ref = f"{name}.{field}"
            kept = field_retention(s, ref)
            if spec.retention:
                why = f"{t('entity_retention')} ({code(name)})"
            else:
                holders = [
                    u for u in index.field_uses.get(ref, []) if index.uses[u].retention == kept
                ]
                why = ctx.uses(holders) if holders else t("not_held")
            rows.append((ctx.field(ref, labelled=True), t.duration(kept), why))
        out += [f"### {link(code(name), ctx.to(entity_page(name)))} {{ #entity-{name} }}", ""]
        out.append(table([t("field"), t("kept_for"), t("because_of")], rows))
        out.append("")
    return "\n".join(out)
