"""Drafts of a breach's notifications, in the controller's language (Finnish or English).

:func:`authority_draft` writes the notification to the supervisory authority with the contents
Art. 33(3) asks for: (a) the nature of the breach with the categories and approximate numbers
of data subjects and records, (b) the contact of the DPO, (c) the likely consequences and
(d) the measures taken or proposed, plus the phases that followed (Art. 33(4)).
:func:`subjects_draft` writes the message to the data subjects in plain words (Art. 34(2)),
only where they must be told. Both are drafts for the DPO to check, complete and send:
whatever the register does not know is marked ``[…]`` for them to fill in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any, Final

from governance.breach_models import BreachKind, BreachRecord, ProcessorFacts, Risk
from schemas.models import Strategy

__all__ = ["authority_draft", "breach_json", "register_markdown", "subjects_draft"]

_FI, _EN = 0, 1

# key → (Finnish, English)
_W: Final[dict[str, tuple[str, str]]] = {
    "title": (
        "Ilmoitus henkilötietojen tietoturvaloukkauksesta (tietosuoja-asetuksen 33 artikla)",
        "Notification of a personal data breach (Article 33 GDPR)",
    ),
    "to": ("Vastaanottaja", "To"),
    "controller": ("Rekisterinpitäjä", "Controller"),
    "business_id": ("Y-tunnus", "business id"),
    "breach": ("Loukkaus", "Breach"),
    "register_no": ("rekisterin nro {id}", "register no. {id}"),
    "discovered": ("havaittu {at}", "discovered {at}"),
    "due": ("ilmoitettava viimeistään {at}", "to be notified by {at}"),
    "late": ("Viivästyksen syyt (33 art. 1 kohta)", "Reasons for the delay (Art. 33(1))"),
    "late_fill": (
        "[Ilmoitus tehdään yli 72 tunnin kuluttua: kerro viivästyksen syyt.]",
        "[The notification is made after 72 hours: give the reasons for the delay.]",
    ),
    "a": ("1. Loukkauksen luonne (33 art. 3 a)", "1. Nature of the breach (Art. 33(3)(a))"),
    "kind": ("Laji", "Kind"),
    "where": ("Missä", "Where"),
    "period": ("Ajanjakso", "Period"),
    "period_text": ("tiedot kerätty {since}–{until}", "data collected {since} to {until}"),
    "all_time": ("kaikki tallennetut tiedot", "all data held"),
    "subject_groups": ("Rekisteröityjen ryhmät", "Categories of data subjects"),
    "numbers": ("Määrät", "Numbers"),
    "numbers_text": (
        "noin {subjects} rekisteröityä ja {records} tietuetta ({entities})",
        "approximately {subjects} data subjects and {records} records ({entities})",
    ),
    "upper_bound": (
        "Käsittelijälle luovutettujen tietojen määrä on arvioitu ylärajana "
        "käyttötarkoitusten ilmoitettujen vastaanottajien mukaan.",
        "The numbers at a processor are an upper bound: the records of the uses that name "
        "it as a recipient.",
    ),
    "categories": ("Henkilötietoryhmät", "Categories of personal data"),
    "special": ("Erityiset henkilötietoryhmät (9 ja 10 art.)", "Special categories (Art. 9, 10)"),
    "none": ("ei ole", "none"),
    "encrypted": (
        "Salattuina säilytetyt tiedot (avaimet eivät vaarantuneet)",
        "Held only encrypted (keys not compromised)",
    ),
    "fields": ("Kentät", "Fields"),
    "b": (
        "2. Tietosuojavastaavan tai muun yhteyspisteen yhteystiedot (33 art. 3 b)",
        "2. Data protection officer or other contact point (Art. 33(3)(b))",
    ),
    "c": ("3. Todennäköiset seuraukset (33 art. 3 c)", "3. Likely consequences (Art. 33(3)(c))"),
    "d": (
        "4. Toteutetut ja ehdotetut toimenpiteet (33 art. 3 d)",
        "4. Measures taken or proposed (Art. 33(3)(d))",
    ),
    "d_fill": (
        "[Täydennä: mitä on tehty loukkauksen korjaamiseksi ja sen haittojen lieventämiseksi, "
        "ja mitä vielä tehdään.]",
        "[Fill in: what was done to address the breach and mitigate its effects, and what "
        "will be done.]",
    ),
    "e": ("5. Ilmoittaminen rekisteröidyille (34 art.)", "5. Telling the data subjects (Art. 34)"),
    "e_high": (
        "Loukkaus aiheuttaa todennäköisesti korkean riskin, joten siitä ilmoitetaan noin "
        "{n} rekisteröidylle ilman aiheetonta viivytystä.",
        "The breach is likely to result in a high risk, so about {n} data subjects are told "
        "without undue delay.",
    ),
    "e_told": ("Rekisteröidyille ilmoitettiin {at}.", "The data subjects were told on {at}."),
    "e_encrypted": (
        "Rekisteröidyille ei ilmoiteta: tiedot olivat salattuja eivätkä salausavaimet "
        "vaarantuneet, joten tiedot ovat käsityskelvottomia (34 art. 3 a).",
        "The data subjects are not told: the data was encrypted and the keys were not "
        "compromised, so it is unintelligible to whoever has it (Art. 34(3)(a)).",
    ),
    "e_not_high": (
        "Rekisteröidyille ei ilmoiteta: loukkaus ei todennäköisesti aiheuta korkeaa riskiä "
        "heidän oikeuksilleen ja vapauksilleen.",
        "The data subjects are not told: the breach is not likely to result in a high risk "
        "to their rights and freedoms.",
    ),
    "f": ("6. Vaiheittain toimitetut tiedot (33 art. 4)", "6. Information in phases (Art. 33(4))"),
    "f_none": (
        "Lisätiedot toimitetaan sitä mukaa kuin niitä saadaan.",
        "Further information will follow as it becomes available.",
    ),
    "processor": ("käsittelijä {name} ({country})", "processor {name} ({country})"),
    "outside": (
        "ETA-alueen ulkopuolella, siirron peruste: {safeguard}",
        "outside the EEA, transfer safeguard: {safeguard}",
    ),
    "no_safeguard": ("ei ilmoitettu", "none declared"),
    "entity": ("rekisterin tietokokonaisuus {name}", "the register's entity {name}"),
    "field": ("rekisterin kenttä {name}", "the register's field {name}"),
    "source": ("tiedonkeruukanava {name}", "the collection point {name}"),
    # the message to the data subjects
    "s_subject": (
        "Aihe: Tietojasi koskeva tietoturvaloukkaus",
        "Subject: A data breach that concerns your data",
    ),
    "s_hello": ("Hei,", "Hello,"),
    "s_intro": (
        "kerromme, että {controller} havaitsi {at} tietoturvaloukkauksen, joka koskee myös "
        "sinun tietojasi.",
        "we are writing to tell you that {controller} discovered on {at} a data breach that "
        "concerns your data.",
    ),
    "s_what": ("Mitä tapahtui", "What happened"),
    "s_data": ("Mitä tietojasi se koski", "Which of your data it concerned"),
    "s_consequences": ("Mitä siitä voi seurata", "What may follow from it"),
    "s_measures": ("Mitä olemme tehneet", "What we have done"),
    "s_advice": ("Mitä voit itse tehdä", "What you can do"),
    "s_contact": ("Lisätietoja", "More information"),
    "s_contact_text": (
        "Kysymyksiin vastaa tietosuojavastaavamme: {dpo}.",
        "Our data protection officer answers your questions: {dpo}.",
    ),
    "s_complain": (
        "Sinulla on oikeus tehdä valitus valvontaviranomaiselle: {authority}.",
        "You have the right to lodge a complaint with the supervisory authority: {authority}.",
    ),
    "s_regards": ("Ystävällisin terveisin", "Kind regards"),
    "s_advice_general": (
        "Voit pyytää meiltä tiedon siitä, mitä tietoja sinusta pidämme, ja kysyä "
        "loukkauksesta lisää.",
        "You can ask us which data we hold about you, and ask more about the breach.",
    ),
}

_KIND: Final[dict[BreachKind, tuple[str, str]]] = {
    BreachKind.CONFIDENTIALITY: (
        "luottamuksellisuuden loukkaus: tietoja paljastui tai päätyi sellaisten käsiin, "
        "joilla ei ollut niihin oikeutta",
        "confidentiality breach: data was disclosed to, or accessed by, people not entitled to it",
    ),
    BreachKind.INTEGRITY: (
        "eheyden loukkaus: tietoja muutettiin luvatta tai vahingossa",
        "integrity breach: data was altered without authorisation or by accident",
    ),
    BreachKind.AVAILABILITY: (
        "saatavuuden loukkaus: tietoja menetettiin, tuhoutui tai ne eivät olleet käytettävissä",
        "availability breach: data was lost, destroyed or out of reach",
    ),
}

# category → (Finnish, English) in plain words
_CATEGORY: Final[dict[str, tuple[str, str]]] = {
    "identity": ("henkilöllisyystiedot (esim. nimet)", "identity data (such as names)"),
    "contact": (
        "yhteystiedot (esim. sähköpostiosoitteet, puhelinnumerot, osoitteet)",
        "contact details (such as email addresses, phone numbers, addresses)",
    ),
    "identifier": (
        "tunnisteet (esim. rekisteri- tai asiakasnumerot)",
        "identifiers (such as registration or customer numbers)",
    ),
    "online_identifier": ("verkkotunnisteet", "online identifiers"),
    "descriptive": ("kuvailevat tiedot", "descriptive data"),
    "behavioural": (
        "asiointitiedot (esim. käynnit, tilaukset)",
        "data on dealings with the controller (such as visits, orders)",
    ),
    "contextual": ("tilannetiedot", "contextual data"),
    "financial": ("taloudelliset tiedot (esim. laskut)", "financial data (such as invoices)"),
    "location": ("sijaintitiedot (esim. postinumerot)", "location data (such as postcodes)"),
    "health": ("terveystiedot", "health data"),
    "biometric": ("biometriset tiedot", "biometric data"),
    "genetic": ("geneettiset tiedot", "genetic data"),
    "racial_ethnic": ("rotu tai etninen alkuperä", "racial or ethnic origin"),
    "political": ("poliittiset mielipiteet", "political opinions"),
    "religious": ("uskonnollinen tai filosofinen vakaumus", "religious or philosophical beliefs"),
    "trade_union": ("ammattiliiton jäsenyys", "trade-union membership"),
    "sex_life": ("seksuaalinen käyttäytyminen tai suuntautuminen", "sex life or orientation"),
    "criminal": ("rikostuomioita ja rikkomuksia koskevat tiedot", "criminal-offence data"),
}

_SENSITIVE: Final = (
    "erityisten tietojen paljastuminen voi johtaa syrjintään, leimautumiseen ja ahdistukseen",
    "sensitive data coming out can lead to discrimination, stigma and distress",
)
_CONSEQUENCE: Final[dict[str, tuple[str, str]]] = {
    "contact": (
        "kohdistetut huijaus- ja kalasteluviestit sekä roskaposti",
        "targeted phishing and scam messages, and spam",
    ),
    "identity": (
        "yritykset esiintyä henkilönä, kun nimi yhdistetään muihin tietoihin",
        "attempts to impersonate the person, the name combined with other data",
    ),
    "identifier": (
        "tunnisteen yhdistäminen henkilöön muista rekistereistä ja identiteettivarkaus",
        "linking the identifier to the person through other registers, and identity theft",
    ),
    "online_identifier": ("käyttäjätilien väärinkäyttö ja seuranta", "account misuse, tracking"),
    "financial": ("petokset ja väärennetyt laskut", "fraud and fake invoices"),
    "location": ("henkilön asuinalueen selviäminen", "revealing where the person lives"),
    "behavioural": (
        "asiointitottumusten paljastuminen",
        "revealing the person's habits and dealings with the controller",
    ),
    "descriptive": ("yksityisyyden menetys", "loss of privacy"),
    "contextual": ("yksityisyyden menetys", "loss of privacy"),
    **dict.fromkeys(
        ["health", "biometric", "genetic", "racial_ethnic", "political", "religious"], _SENSITIVE
    ),
    **dict.fromkeys(["trade_union", "sex_life", "criminal"], _SENSITIVE),
}
_KIND_CONSEQUENCE: Final[dict[BreachKind, tuple[str, str]]] = {
    BreachKind.INTEGRITY: (
        "virheelliset tiedot voivat johtaa vääriin päätöksiin tai palveluun (esim. väärä "
        "lasku tai huolto)",
        "wrong data can lead to wrong decisions or service (a wrong invoice or service)",
    ),
    BreachKind.AVAILABILITY: (
        "palvelu viivästyy tai estyy, eikä tietoja voida antaa rekisteröidylle pyydettäessä",
        "service is delayed or prevented, and the data cannot be given to the person on request",
    ),
}
_NO_CONSEQUENCE: Final = (
    "ei todennäköisiä haitallisia seurauksia: tiedot ovat käsityskelvottomia ilman "
    "vaarantumattomia salausavaimia",
    "no likely adverse consequences: the data is unintelligible without the keys, which were "
    "not compromised",
)
_POLICE: Final = (
    "Jos epäilet, että tietojasi käytetään väärin tai joku esiintyy sinuna, tee rikosilmoitus "
    "poliisille.",
    "If you suspect your data is being misused or someone is posing as you, report it to the "
    "police.",
)
_ADVICE: Final[dict[str, tuple[str, str]]] = {
    "contact": (
        "Suhtaudu varoen viesteihin, jotka näyttävät tulevan meiltä ja pyytävät maksamaan, "
        "kirjautumaan tai antamaan tietoja. Emme koskaan kysy salasanoja tai pankkitunnuksia "
        "viestillä.",
        "Be wary of messages that seem to come from us and ask you to pay, sign in or give "
        "details. We never ask for passwords or bank credentials in a message.",
    ),
    "financial": (
        "Tarkista laskusi ja tiliotteesi ja ilmoita epäilyttävistä veloituksista pankillesi.",
        "Check your invoices and bank statements and report any unexpected charge to your bank.",
    ),
    "identifier": _POLICE,
    "identity": _POLICE,
}


def _lang(record: BreachRecord) -> int:
    return _FI if record.language == "fi" else _EN


def _at(moment: datetime | None, column: int) -> str:
    if moment is None:
        return "–"
    if column == _FI:
        return f"{moment.day}.{moment.month}.{moment.year} klo {moment:%H.%M} UTC"
    return f"{moment:%d %B %Y, %H:%M} UTC"


def _day(moment: datetime, column: int, *, end: bool = False) -> str:
    if end and moment.time() == time(0):  # ``until`` is exclusive: name the last day included
        moment -= timedelta(days=1)
    return f"{moment.day}.{moment.month}.{moment.year}" if column == _FI else f"{moment:%Y-%m-%d}"


def _field(strategy: Strategy, ref: str) -> str:
    spec = strategy.index.fields.get(ref)
    name = ref.partition(".")[2]
    shown = spec.shown_name(name) if spec is not None else name
    return f"{shown} (`{ref}`)"


def _where(record: BreachRecord, strategy: Strategy, c: int) -> list[str]:
    facts = {p.id: p for p in record.assessment.processors}
    out: list[str] = []
    for scope in record.scope:
        kind, _, target = scope.partition(":")
        if kind == "processor" and target in facts:
            out.append(_processor(facts[target], c))
        elif kind == "field":
            out.append(_W["field"][c].format(name=_field(strategy, target)))
        else:
            out.append(_W[kind][c].format(name=f"`{target}`"))
    return out


def _processor(p: ProcessorFacts, c: int) -> str:
    text = _W["processor"][c].format(name=p.name, country=p.country)
    if p.outside_eea:
        text += ", " + _W["outside"][c].format(
            safeguard=(p.transfer_safeguard or _W["no_safeguard"][c]).replace("_", " ")
        )
    return text


def _categories(names: Sequence[str], c: int) -> str:
    return "; ".join(_CATEGORY.get(n, (n, n))[c] for n in names) or _W["none"][c]


def _exposed_categories(record: BreachRecord, strategy: Strategy) -> list[str]:
    held = {strategy.index.fields[r].category.value for r in record.assessment.exposed_fields}
    found = [*record.assessment.categories, *record.assessment.special_categories]
    return [c for c in found if c in held]


def _consequences(record: BreachRecord, strategy: Strategy, c: int) -> list[str]:
    if not record.assessment.exposed_fields:
        return [_NO_CONSEQUENCE[c]]
    out: list[str] = []
    if record.kind in _KIND_CONSEQUENCE:
        out.append(_KIND_CONSEQUENCE[record.kind][c])
    else:
        for category in _exposed_categories(record, strategy):
            phrase = _CONSEQUENCE.get(category)
            if phrase and phrase[c] not in out:
                out.append(phrase[c])
    return out


def _measures(record: BreachRecord, c: int) -> list[str]:
    return [f"{_at(at, c)}: {text}" for at, text in record.measures()]


def _contact(strategy: Strategy) -> str:
    controller = strategy.controller
    return controller.dpo or controller.email or "[…]"


def _authority_line(record: BreachRecord) -> str:
    a = record.authority
    return ", ".join(x for x in (a.name, a.address, a.email, a.url) if x)


def authority_draft(record: BreachRecord, strategy: Strategy, *, now: datetime) -> str:
    """The notification to the supervisory authority (Art. 33(3)), as Markdown."""
    c = _lang(record)
    w = {k: v[c] for k, v in _W.items()}
    found = record.assessment
    controller = strategy.controller
    who = controller.name
    if controller.business_id:
        who += f" ({w['business_id']} {controller.business_id})"
    if controller.address:
        who += f", {controller.address}"
    out = [
        f"# {w['title']}",
        "",
        f"- **{w['to']}:** {_authority_line(record)}",
        f"- **{w['controller']}:** {who}",
        f"- **{w['breach']}:** "
        + "; ".join(
            [
                w["register_no"].format(id=record.id),
                w["discovered"].format(at=_at(record.discovered_at, c)),
                w["due"].format(at=_at(record.authority_due_at, c)),
            ]
        ),
    ]
    notified = record.authority_notified_at or now
    if notified > record.authority_due_at:
        reasons = [e.delay_reason for e in record.events if e.delay_reason]
        out.append(f"- **{w['late']}:** {reasons[0] if reasons else w['late_fill']}")
    period = w["all_time"]
    if record.since or record.until:
        period = w["period_text"].format(
            since=_day(record.since, c) if record.since else "…",
            until=_day(record.until, c, end=True) if record.until else "…",
        )
    entities = ", ".join(f"{e} {n}" for e, n in found.records_by_entity.items() if n)
    out += [
        "",
        f"## {w['a']}",
        "",
        record.what,
        "",
        f"- **{w['kind']}:** {_KIND[record.kind][c]}",
        f"- **{w['where']}:** {'; '.join(_where(record, strategy, c))}",
        f"- **{w['period']}:** {period}",
        f"- **{w['subject_groups']}:** {', '.join(found.data_subjects) or w['none']}",
        f"- **{w['numbers']}:** "
        + w["numbers_text"].format(
            subjects=found.subjects, records=found.records, entities=entities or "–"
        ),
        f"- **{w['categories']}:** {_categories(found.categories, c)}",
        f"- **{w['special']}:** {_categories(found.special_categories, c)}",
    ]
    if found.encrypted_fields:
        shown = ", ".join(_field(strategy, r) for r in found.encrypted_fields)
        out.append(f"- **{w['encrypted']}:** {shown}")
    out.append(f"- **{w['fields']}:** {', '.join(_field(strategy, r) for r in found.fields)}")
    if found.processors:
        out += ["", w["upper_bound"]]
    out += ["", f"## {w['b']}", "", _contact(strategy), "", f"## {w['c']}", ""]
    out += [f"- {x}" for x in _consequences(record, strategy, c)]
    out += ["", f"## {w['d']}", ""]
    out += [f"- {m}" for m in _measures(record, c)] or [w["d_fill"]]
    out += ["", f"## {w['e']}", ""]
    if record.must_tell_subjects:
        out.append(w["e_high"].format(n=found.exposed_subjects))
        if record.subjects_notified_at:
            out.append(w["e_told"].format(at=_at(record.subjects_notified_at, c)))
    elif record.risk is Risk.UNLIKELY and found.encrypted_fields and not found.exposed_fields:
        out.append(w["e_encrypted"])
    else:
        out.append(w["e_not_high"])
    updates = [e for e in record.events if e.action == "update" and e.note]
    out += ["", f"## {w['f']}", ""]
    out += [f"- {_at(e.at, c)}: {e.note}" for e in updates] or [w["f_none"]]
    return "\n".join(out) + "\n"


def subjects_draft(record: BreachRecord, strategy: Strategy) -> str | None:
    """The message to the data subjects in plain words (Art. 34(2)); None when they need not
    be told (Art. 34(1) and (3))."""
    if not record.must_tell_subjects:
        return None
    c = _lang(record)
    w = {k: v[c] for k, v in _W.items()}
    controller = strategy.controller
    categories = _exposed_categories(record, strategy)
    advice: list[str] = []
    for key, phrase in _ADVICE.items():
        if key in categories and phrase[c] not in advice:
            advice.append(phrase[c])
    out = [
        w["s_subject"],
        "",
        w["s_hello"],
        "",
        w["s_intro"].format(controller=controller.name, at=_at(record.discovered_at, c)),
        "",
        f"**{w['s_what']}:** {record.what}",
        "",
        f"**{w['s_data']}:** {_categories(categories, c)}",
        "",
        f"**{w['s_consequences']}:**",
        "",
        *[f"- {x}" for x in _consequences(record, strategy, c)],
        "",
        f"**{w['s_measures']}:**",
        "",
        *([f"- {text}" for _, text in record.measures()] or [w["d_fill"]]),
        "",
        f"**{w['s_advice']}:**",
        "",
        *[f"- {a}" for a in [*advice, w["s_advice_general"]]],
        "",
        f"**{w['s_contact']}:** " + w["s_contact_text"].format(dpo=_contact(strategy)),
        w["s_complain"].format(authority=_authority_line(record)),
        "",
        w["s_regards"],
        controller.name,
    ]
    return "\n".join(out) + "\n"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _hours(delta_seconds: float) -> str:
    hours = int(abs(delta_seconds) // 3600)
    return f"{hours} h"


def register_markdown(record: BreachRecord, strategy: Strategy, *, now: datetime) -> str:
    """The register entry (in English, like the rest of the CLI), then the drafts in the
    controller's language: what ``tietotie breach show`` prints."""
    found = record.assessment
    due = record.authority_due_at
    if record.authority_notified_at:
        authority = f"notified {_at(record.authority_notified_at, _EN)}"
    elif not record.must_notify_authority:
        authority = "not required (unlikely to result in a risk); kept in the register"
    elif now > due:
        authority = f"OVERDUE by {_hours((now - due).total_seconds())} (due {_at(due, _EN)})"
    else:
        authority = f"due {_at(due, _EN)} (in {_hours((due - now).total_seconds())})"
    if record.subjects_notified_at:
        subjects = f"told {_at(record.subjects_notified_at, _EN)}"
    elif record.must_tell_subjects:
        subjects = f"must be told without undue delay (about {found.exposed_subjects})"
    else:
        subjects = "need not be told"
    period = "all data held"
    if record.since or record.until:
        since = _day(record.since, _EN) if record.since else "…"
        until = _day(record.until, _EN, end=True) if record.until else "…"
        period = f"collected {since} to {until}"
    computed = "" if record.risk is found.risk else f" (computed: {found.risk.value})"
    rows = [
        ("status", record.status_at(now)),
        ("what", record.what),
        ("kind", record.kind.value),
        ("scope", ", ".join(record.scope)),
        ("period", period),
        ("discovered", _at(record.discovered_at, _EN)),
        ("recorded", f"{_at(record.recorded_at, _EN)} by {record.recorded_by}"),
        ("risk", record.risk.value + computed),
        ("authority", f"{record.authority.name}: {authority}"),
        ("subjects", subjects),
        ("keys compromised", "yes" if record.keys_compromised else "no"),
    ]
    entities = ", ".join(f"{e} {n}" for e, n in found.records_by_entity.items())
    touched = [
        ("subjects", f"{found.subjects} ({found.exposed_subjects} with exposed data)"),
        ("records", f"{found.records} ({entities or 'none'})"),
        ("categories", ", ".join(found.categories) or "none"),
        ("special categories", ", ".join(found.special_categories) or "none"),
        ("held only encrypted", ", ".join(found.encrypted_fields) or "none"),
        ("exposed fields", ", ".join(found.exposed_fields) or "none"),
        ("uses", ", ".join(found.uses) or "none"),
        ("data subjects", ", ".join(found.data_subjects) or "none"),
    ]
    touched += [
        (
            f"processor {p.id}",
            _processor(p, _EN) + (f", DPA signed {p.dpa_signed}" if p.dpa_signed else ""),
        )
        for p in found.processors
    ]
    out = [f"# Breach {record.id}: {record.kind.value}", "", "| | |", "|---|---|"]
    out += [f"| **{k}** | {_cell(v)} |" for k, v in rows]
    out += ["", f"## What it touched (counted {_at(found.computed_at, _EN)})", "", "| | |"]
    out += ["|---|---|", *(f"| **{k}** | {_cell(v)} |" for k, v in touched)]
    out += ["", "## Why the risk is what it is", ""]
    out += [f"- {r.text}" for r in found.reasons]
    out += ["", "## History", "", "| at | by | what |", "|---|---|---|"]
    for e in record.events:
        parts = [e.action if e.recipient is None else f"notified the {e.recipient.value}"]
        parts += [x for x in (e.note, e.measures and f"measures: {e.measures}") if x]
        if e.risk is not None and e.action != "opened":
            parts.append(f"risk now {e.risk.value}")
        if e.delay_reason:
            parts.append(f"delay: {e.delay_reason}")
        out.append(f"| {_at(e.at, _EN)} | {_cell(e.actor)} | {_cell('; '.join(parts))} |")
    out += ["", "---", ""]
    if not record.must_notify_authority:
        out += [
            "> Not required: the breach is unlikely to result in a risk (Art. 33(1)). The "
            "draft is here in case you notify all the same.",
            "",
        ]
    out.append(authority_draft(record, strategy, now=now))
    message = subjects_draft(record, strategy)
    if message is not None:
        out += ["---", "", message]
    return "\n".join(out)


def breach_json(record: BreachRecord, strategy: Strategy, *, now: datetime) -> dict[str, Any]:
    """The register entry as JSON, with where it stands and both drafts: what
    ``tietotie breach show --format json`` prints and ``GET /v1/breaches/{id}`` answers."""
    return {
        **record.model_dump(mode="json"),
        "status": record.status_at(now),
        "notify_authority": record.must_notify_authority,
        "tell_subjects": record.must_tell_subjects,
        "drafts": {
            "authority": authority_draft(record, strategy, now=now),
            "subjects": subjects_draft(record, strategy),
        },
    }
