"""The DPIA screening page: every use against the nine WP248 criteria, and its assessment."""

from __future__ import annotations

from datetime import date

from schemas.dpia import CRITERIA, MISSING, REVIEW_DUE, UseScreening, screen
from tietotie.docsite.context import Context
from tietotie.docsite.md import code, esc, heading, link, props, table

__all__ = ["dpia_page"]

# key → (Finnish, English)
_W: dict[str, tuple[str, str]] = {
    "title": ("Vaikutustenarvioinnin tarve", "DPIA screening"),
    "intro": (
        "Jokainen käyttötarkoitus on verrattu tietosuojaa koskevan vaikutustenarvioinnin "
        "(art. 35) yhdeksään kriteeriin, jotka tietosuojaryhmä on esittänyt ohjeessaan WP248. "
        "Kun käyttötarkoitus täyttää kaksi kriteeriä tai useamman, vaikutustenarviointi on "
        "tehtävä ennen käsittelyä ja tarkistettava säännöllisesti. Viisi kriteeriä luetaan "
        "tietostrategiasta; neljä rekisterinpitäjä ilmoittaa käyttötarkoituksen kohdalla.",
        "Every use is compared with the nine criteria for a data protection impact "
        "assessment (Art. 35) that the Article 29 Working Party set out in WP248. A use "
        "meeting two or more of them needs a DPIA before the processing starts, reviewed "
        "regularly. Five criteria are read from the strategy; the controller declares the "
        "other four on the use.",
    ),
    "scale": (
        "Laajamittaista on käsittely, jonka päälähde (lähde, joka kerää suurimman osan "
        "käyttötarkoituksen kentistä) kerää vähintään {n} tietuetta vuodessa "
        "(controller.large_scale_records_per_year). Tilanne {day}.",
        "Processing is on a large scale when its main source (the source that collects most "
        "of the use's fields) collects {n} records a year or more "
        "(controller.large_scale_records_per_year). As of {day}.",
    ),
    "use": ("Käyttötarkoitus", "Use"),
    "criteria_met": ("Täyttyvät kriteerit", "Criteria met"),
    "verdict": ("Arvio", "Verdict"),
    "dpia": ("Vaikutustenarviointi", "DPIA"),
    "required": ("vaaditaan", "required"),
    "not_required": ("ei vaadita", "not required"),
    "missing": ("puuttuu", "missing"),
    "declared": ("{ref}, tarkistetaan viimeistään {due}", "{ref}, review by {due}"),
    "review_due": ("{ref}, tarkistus myöhässä ({due} alkaen)", "{ref}, review due since {due}"),
    "ref": ("Asiakirja", "Document"),
    "done_on": ("Tehty", "Done on"),
    "outcome": ("Johtopäätös", "Outcome"),
    "review_by": ("Tarkistetaan viimeistään", "Review by"),
    "status": ("Tila", "Status"),
    "listed": (
        "Tapaus, jonka art. {case} nimeää: vaikutustenarviointi on pakollinen.",
        "A case of Art. {case}: the DPIA is mandatory.",
    ),
    "criteria": ("Kriteerit", "The criteria"),
    "number": ("Nro", "No."),
    "criterion": ("Kriteeri", "Criterion"),
    "shown_by": ("Mistä se näkyy", "Shown by"),
    "none": ("–", "–"),
}

# criterion id → ((Finnish title, how it shows), (English title, how it shows))
_CRITERIA: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "evaluation_scoring": (
        ("Arviointi tai pisteytys", "laji: profilointi (kind: profiling)"),
        ("Evaluation or scoring", "kind: profiling"),
    ),
    "automated_decision": (
        (
            "Automaattiset päätökset, joilla on oikeusvaikutuksia tai vastaavia vaikutuksia",
            "automated_decision_making: true (art. 22)",
        ),
        (
            "Automated decisions with legal or similarly significant effect",
            "automated_decision_making: true (Art. 22)",
        ),
    ),
    "systematic_monitoring": (
        ("Järjestelmällinen valvonta", "ilmoitettu: systematic_monitoring: true"),
        ("Systematic monitoring", "declared: systematic_monitoring: true"),
    ),
    "sensitive_data": (
        (
            "Arkaluonteiset tiedot",
            "erityisiin henkilötietoryhmiin (art. 9) tai rikoksiin (art. 10) liittyvä kenttä",
        ),
        ("Sensitive data", "a special-category (Art. 9) or criminal-offence (Art. 10) field"),
    ),
    "large_scale": (
        ("Laajamittainen käsittely", "päälähde kerää vähintään rajan verran tietueita vuodessa"),
        ("Processing on a large scale", "the main source collects the threshold or more a year"),
    ),
    "matching_datasets": (
        (
            "Aineistojen yhdistäminen",
            "kentät tulevat useasta lähteestä, joista mikään ei yksin kerää niitä kaikkia",
        ),
        (
            "Matching or combining datasets",
            "the fields come from several sources, none of which collects them all",
        ),
    ),
    "vulnerable_subjects": (
        ("Haavoittuvassa asemassa olevat rekisteröidyt", "ilmoitettu: vulnerable_subjects: true"),
        ("Vulnerable data subjects", "declared: vulnerable_subjects: true"),
    ),
    "innovative_technology": (
        (
            "Uusi teknologia tai uudet organisatoriset ratkaisut",
            "ilmoitettu: innovative_technology: true",
        ),
        (
            "Innovative technology or organisational solutions",
            "declared: innovative_technology: true",
        ),
    ),
    "blocks_right_or_service": (
        (
            "Käsittely estää oikeuden käyttämisen tai palvelun tai sopimuksen saamisen",
            "ilmoitettu: blocks_right_or_service: true",
        ),
        (
            "Prevents exercising a right or using a service or contract",
            "declared: blocks_right_or_service: true",
        ),
    ),
}

_LISTED: dict[str, tuple[str, str]] = {
    "35(3)(a)": (
        "järjestelmällinen automaattinen arviointi, jonka perusteella tehdään päätöksiä",
        "systematic evaluation by automated means, with decisions based on it",
    ),
    "35(3)(b)": (
        "erityisiä henkilötietoja tai rikostietoja laajamittaisesti",
        "special-category or criminal-offence data on a large scale",
    ),
    "35(3)(c)": (
        "laajamittainen järjestelmällinen valvonta, jos valvottu alue on yleisölle avoin",
        "systematic monitoring on a large scale, where the area is publicly accessible",
    ),
}


class _Words:
    def __init__(self, language: str) -> None:
        self.column = 0 if language == "fi" else 1
        self.fi = self.column == 0

    def __call__(self, key: str, **fmt: object) -> str:
        text = _W[key][self.column]
        return text.format(**fmt) if fmt else text

    def criterion(self, criterion: str) -> str:
        return _CRITERIA[criterion][self.column][0]

    def shown_by(self, criterion: str) -> str:
        return _CRITERIA[criterion][self.column][1]

    def number(self, n: int) -> str:
        digits = f"{n:,}"
        return digits.replace(",", "\u00a0") if self.fi else digits

    def day(self, day: date) -> str:
        return f"{day.day}.{day.month}.{day.year}" if self.fi else day.isoformat()


def _evidence(ctx: Context, w: _Words, s: UseScreening, criterion: str) -> str:
    """What shows the criterion, in the page's language, with links to the declarations."""
    shown = s.evidence.get(criterion, [])
    if criterion == "sensitive_data":
        return ctx.fields(shown, labelled=True)
    if criterion == "large_scale":
        n, limit = w.number(s.records_per_year), w.number(s.threshold)
        if w.fi:
            return f"{ctx.sources(shown)}: {n} tietuetta vuodessa (raja {limit})"
        return f"{ctx.sources(shown)}: {n} records a year (threshold {limit})"
    if criterion == "matching_datasets":
        return ctx.sources(shown)
    return ", ".join(code(e) for e in shown)


def _status(w: _Words, s: UseScreening) -> str:
    if s.declared is None:
        return w("missing") if s.status == MISSING else w("none")
    key = "review_due" if s.status == REVIEW_DUE else "declared"
    return w(key, ref=esc(s.declared.ref), due=w.day(s.declared.review_by))


def dpia_page(ctx: Context, *, today: date | None = None) -> str:
    """Art. 35: the screening table, each use's criteria and assessment, and the criteria."""
    w = _Words(ctx.labels.language)
    day = today or date.today()
    screenings = screen(ctx.strategy, today=day)
    threshold = ctx.strategy.controller.large_scale_records_per_year
    out = [f"# {w('title')}", "", w("intro"), ""]
    out += [w("scale", n=w.number(threshold), day=w.day(day)), ""]
    detailed = [s for s in screenings if s.criteria or s.declared is not None]
    shown = {s.use for s in detailed}
    out.append(
        table(
            [w("use"), w("criteria_met"), w("verdict"), w("dpia")],
            [
                (
                    link(code(s.use), f"#{s.use}") if s.use in shown else ctx.uses([s.use]),
                    ", ".join(w.criterion(c) for c in s.criteria) or w("none"),
                    f"**{w('required')}**" if s.required else w("not_required"),
                    _status(w, s),
                )
                for s in screenings
            ],
        )
    )
    out.append("")
    for s in detailed:
        out += [heading(2, code(s.use), s.use), ""]
        rows = [
            (w("use"), ctx.uses([s.use])),
            (w("verdict"), w("required") if s.required else w("not_required")),
        ]
        rows += [(w.criterion(c), _evidence(ctx, w, s, c)) for c in s.criteria]
        if s.declared is not None:
            rows += [
                (w("ref"), esc(s.declared.ref)),
                (w("done_on"), w.day(s.declared.done_on)),
                (w("outcome"), esc(s.declared.outcome)),
                (w("review_by"), w.day(s.declared.review_by)),
            ]
        if s.status in (MISSING, REVIEW_DUE):
            rows.append((w("status"), f"**{_status(w, s)}**"))
        out.append(props(rows))
        out.append("")
        if s.listed_case:
            what = _LISTED[s.listed_case][w.column]
            out += [f"{w('listed', case=s.listed_case)} ({what})", ""]
    out += [heading(2, w("criteria"), "section-criteria"), ""]
    out.append(
        table(
            [w("number"), w("criterion"), w("shown_by")],
            [(str(c.number), w.criterion(c.id), esc(w.shown_by(c.id))) for c in CRITERIA],
        )
    )
    out.append("")
    return "\n".join(out)
