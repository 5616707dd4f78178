"""The breach register page: how a breach is recorded and notified (Art. 33 and 34), to whom,
and what a breach at each processor, collection point or entity would touch.

The register's entries stay in the service, for the roles with the ``audit`` duty (``tietotie
breach list``, ``GET /v1/breaches``): the staff site is read by everyone on the staff, and a
breach under investigation is not everyone's business. What this page shows is worked out from
the declarations alone, by the same rules ``tietotie breach open`` applies to a real breach, so
that the data protection officer knows before anything happens where a breach would need the
authority, and where the customers too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final

from dsar.web.authorities import EDPB_MEMBERS, authority_for
from governance.breach_assessment import Scope, exposure
from governance.breach_models import BreachRecord, Risk, ScopeKind
from schemas.checks import EEA
from schemas.enums import Duty
from tietotie.docsite.context import Context, entity_page
from tietotie.docsite.md import code, esc, heading, link, props, table

__all__ = ["breaches_page"]

_TEXT: Final[dict[str, dict[str, str]]] = {
    "fi": {
        "intro": "Henkilötietojen tietoturvaloukkaus on tapahtuma, jossa henkilötietoja "
        "paljastuu, muuttuu, katoaa tai tuhoutuu, tahallaan tai vahingossa (art. 4(12)). "
        "Jokainen loukkaus kirjataan palvelun loukkausrekisteriin, ilmoitettiin siitä tai ei "
        "(art. 33(5)). Rekisterin merkinnät näkevät vain auditointitehtävän roolit "
        "({roles}) komennolla {list} tai rajapinnan kautta ({api}); tällä sivulla kerrotaan, "
        "miten toimitaan ja mitä loukkaus missäkin koskisi.",
        "steps": "Kun loukkaus havaitaan",
        "step_rows": "\n".join(
            [
                "1. **Kirjaa** loukkaus heti: {open}. Palvelu laskee tiedoista ja "
                "asiakasrekisteristä, ketä ja mitä loukkaus koskee, riskin ja määräajan.",
                "2. **72 tuntia**: valvontaviranomaiselle on ilmoitettava viimeistään 72 "
                "tunnin kuluttua siitä, kun loukkaus havaittiin, viikonloput mukaan lukien "
                "(art. 33(1)), ellei loukkaus todennäköisesti aiheuta riskiä. Myöhästyneeseen "
                "ilmoitukseen liitetään viivästyksen syyt.",
                "3. **Ilmoita**: {show} antaa ilmoitusluonnoksen (art. 33(3)); kun se on "
                "lähetetty, kirjaa se: {notify}.",
                "4. **Kerro asiakkaille**, jos riski on korkea (art. 34): luonnos on samassa "
                "näkymässä; kirjaa lähetys: {subjects}. Salattuina säilytetyistä tiedoista ei "
                "tarvitse kertoa, jos avaimet eivät vaarantuneet (art. 34(3)(a)).",
                "5. **Täydennä** sitä mukaa kuin tietoa tulee (art. 33(4)): {update}.",
            ]
        ),
        "authority": "Valvontaviranomainen",
        "authority_none": "Lainkäyttöalueen {j} valvontaviranomainen; yhteystiedot EDPB:n "
        "jäsenluettelosta: {url}",
        "name": "Nimi",
        "address": "Osoite",
        "email": "Sähköposti",
        "web": "Verkkosivu",
        "exposure": "Mitä loukkaus koskisi",
        "exposure_intro": "Arvio luottamuksellisuuden loukkauksesta kussakin paikassa, "
        "kun salausavaimet ovat tallessa. Käsittelijälle luovutetut ja tiedonkeruussa "
        "syötetyt tiedot ovat selväkielisiä, joten salaus suojaa vain asiakasrekisterin "
        "omia tauluja.",
        "processors": "Käsittelijät",
        "sources": "Tiedonkeruukanavat",
        "entities": "Asiakasrekisterin tietokokonaisuudet",
        "where": "Paikka",
        "country": "Maa",
        "fields": "Kenttiä",
        "categories": "Tietoryhmät",
        "special": "Erityiset tietoryhmät",
        "encrypted": "Salattuina suojassa",
        "verdict": "Arvio",
        "eea": "ETA",
        "outside": "ETA:n ulkopuolella",
        "none": "–",
        Risk.UNLIKELY: "ei todennäköistä riskiä: vain kirjataan",
        Risk.RISK: "riski: ilmoitus valvontaviranomaiselle 72 tunnissa",
        Risk.HIGH: "korkea riski: ilmoitus myös asiakkaille",
        "entries": "Mitä rekisteriin kirjataan",
        "entry_rows": "\n".join(
            [
                "- mitä tapahtui, milloin se havaittiin ja kuka sen kirjasi;",
                "- loukkauksen laji (luottamuksellisuus, eheys, saatavuus) ja paikka "
                "strategian omin termein ({scopes}), ajanjakso mukaan lukien;",
                "- kuinka montaa asiakasta ja tietuetta se koski, mitkä tietoryhmät, mitkä "
                "erityiset tietoryhmät ja mitkä kentät olivat vain salattuina;",
                "- riski perusteluineen, määräaika, ilmoitukset ja jokainen täydennys "
                "päivättynä. Jokainen muutos kirjataan myös auditointilokiin tekijän nimellä.",
            ]
        ),
    },
    "en": {
        "intro": "A personal data breach is a breach of security that leads to personal data "
        "being disclosed, altered, lost or destroyed, by accident or on purpose "
        "(Art. 4(12)). Every breach is recorded in the service's breach register, notified "
        "or not (Art. 33(5)). Only roles with the audit duty ({roles}) read its entries, with "
        "{list} or through the API ({api}); this page says what to do, and what a breach "
        "would touch where.",
        "steps": "When a breach is discovered",
        "step_rows": "\n".join(
            [
                "1. **Record** it at once: {open}. The service works out from the "
                "declarations and the system of record whom and what it touched, the risk "
                "and the deadline.",
                "2. **72 hours**: the supervisory authority must be notified no later than "
                "72 hours after the breach was discovered, weekends included (Art. 33(1)), "
                "unless it is unlikely to result in a risk. A late notification gives the "
                "reasons for the delay.",
                "3. **Notify**: {show} gives the drafted notification (Art. 33(3)); once it "
                "is sent, record it: {notify}.",
                "4. **Tell the customers** where the risk is high (Art. 34): their message is "
                "in the same view; record when it is sent: {subjects}. Data held only "
                "encrypted, with the keys safe, needs no message (Art. 34(3)(a)).",
                "5. **Update** the entry as more is learnt (Art. 33(4)): {update}.",
            ]
        ),
        "authority": "Supervisory authority",
        "authority_none": "The supervisory authority of {j}; its contact is on the EDPB's "
        "list of members: {url}",
        "name": "Name",
        "address": "Address",
        "email": "Email",
        "web": "Website",
        "exposure": "What a breach would touch",
        "exposure_intro": "A confidentiality breach at each place, with the encryption keys "
        "safe. Data handed to a processor or typed in at a collection point is in clear, so "
        "encryption protects only the system of record's own tables.",
        "processors": "Processors",
        "sources": "Collection points",
        "entities": "Entities of the system of record",
        "where": "Where",
        "country": "Country",
        "fields": "Fields",
        "categories": "Categories",
        "special": "Special categories",
        "encrypted": "Protected by encryption",
        "verdict": "Verdict",
        "eea": "EEA",
        "outside": "outside the EEA",
        "none": "–",
        Risk.UNLIKELY: "unlikely to be a risk: record only",
        Risk.RISK: "a risk: notify the authority within 72 hours",
        Risk.HIGH: "a high risk: tell the customers too",
        "entries": "What each entry holds",
        "entry_rows": "\n".join(
            [
                "- what happened, when it was discovered and who recorded it;",
                "- its kind (confidentiality, integrity, availability) and where it happened "
                "in the strategy's own terms ({scopes}), with the period;",
                "- how many customers and records it touched, which categories, which "
                "special categories, and which fields were held only encrypted;",
                "- the risk and why, the deadline, the notifications and every update, "
                "dated. Every change is in the audit log too, under the person's name.",
            ]
        ),
    },
}


def _words(ctx: Context) -> dict[str, str]:
    return _TEXT["fi" if ctx.labels.language == "fi" else "en"]


def _authority(ctx: Context, w: dict[str, str]) -> str:
    jurisdiction = ctx.strategy.controller.jurisdiction.upper()
    found = authority_for(jurisdiction)
    if found is None:
        return w["authority_none"].format(j=esc(jurisdiction), url=f"<{EDPB_MEMBERS}>")
    return props(
        [
            (w["name"], esc(found.name)),
            (w["address"], esc(found.address)),
            (w["email"], esc(found.email or "")),
            (w["web"], f"<{found.url}>"),
        ]
    )


def _row(ctx: Context, w: dict[str, str], scope: Scope) -> list[str]:
    """The fields, categories, protection and verdict of a breach of ``scope``."""
    t = ctx.labels
    exp = exposure(ctx.strategy, [scope])
    risk, _ = exp.verdict(ctx.strategy)
    return [
        str(len(exp.fields)),
        ", ".join(t.value("category", c) for c in exp.categories) or w["none"],
        ", ".join(t.value("category", c) for c in exp.special_categories) or w["none"],
        ctx.fields(exp.encrypted_fields) if exp.encrypted_fields else w["none"],
        w[risk],
    ]


_published: list[list[BreachRecord]] = []


@contextmanager
def published_register(entries: list[BreachRecord] | None) -> Iterator[None]:
    """Make ``entries`` the register the page lists while the block runs (None: no data)."""
    if entries is None:
        yield
        return
    _published.append(entries)
    try:
        yield
    finally:
        _published.pop()


def current_register() -> list[BreachRecord] | None:
    """The register of the build running now; None when it was not asked for data."""
    return _published[-1] if _published else None


def _register(ctx: Context, entries: list[BreachRecord]) -> list[str]:
    """The register's entries: facts and counts, never the recorder's free text."""
    fi = ctx.labels.language == "fi"
    title = "Rekisteröidyt loukkaukset" if fi else "The breaches recorded"
    if not entries:
        none = "Rekisterissä ei ole loukkauksia." if fi else "The register holds no breach."
        return [heading(2, title, "register"), "", none, ""]
    now = datetime.now(UTC)
    head = (
        [
            "Nro",
            "Havaittu",
            "Laji",
            "Missä",
            "Rekisteröityjä",
            "Tietueita",
            "Riski",
            "Valvontaviranomaiselle",
            "Rekisteröidyille",
            "Tila",
        ]
        if fi
        else [
            "No.",
            "Discovered",
            "Kind",
            "Where",
            "Subjects",
            "Records",
            "Risk",
            "Authority told",
            "Subjects told",
            "Status",
        ]
    )
    rows = [
        [
            str(e.id),
            e.discovered_at.date().isoformat(),
            e.kind.value,
            ", ".join(code(sc) for sc in e.scope),
            str(e.assessment.subjects),
            str(e.assessment.records),
            e.risk.value,
            e.authority_notified_at.date().isoformat() if e.authority_notified_at else "–",
            e.subjects_notified_at.date().isoformat() if e.subjects_notified_at else "–",
            esc(e.status_at(now)),
        ]
        for e in entries
    ]
    return [heading(2, title, "register"), "", table(head, rows), ""]


def breaches_page(ctx: Context, register: list[BreachRecord] | None = None) -> str:
    """The breach register's page, in the strategy's language; with ``register`` (a build
    ``--with-data``), its entries too."""
    w, s, t = _words(ctx), ctx.strategy, ctx.labels
    auditors = [r.id for r in s.roles if Duty.AUDIT in r.duties]
    out = [
        f"# {t('breaches')}",
        "",
        w["intro"].format(
            roles=ctx.roles(auditors),
            list=code("tietotie breach list"),
            api=code("GET /v1/breaches"),
        ),
        "",
        *(_register(ctx, register) if register is not None else []),
        heading(2, w["steps"], "steps"),
        "",
        w["step_rows"].format(
            open=code("tietotie breach open --what … --kind confidentiality --scope …"),
            show=code("tietotie breach show ID"),
            notify=code("tietotie breach notify ID --authority"),
            subjects=code("tietotie breach notify ID --subjects"),
            update=code("tietotie breach update ID --note … --measures …"),
        ),
        "",
        heading(2, w["authority"], "authority"),
        "",
        _authority(ctx, w),
        "",
        heading(2, w["exposure"], "exposure"),
        "",
        w["exposure_intro"],
        "",
    ]
    cols = [w["fields"], w["categories"], w["special"], w["encrypted"], w["verdict"]]
    if s.processors:
        rows = []
        for p in s.processors:
            where = f"{esc(p.country)} ({w['eea'] if p.country.upper() in EEA else w['outside']}"
            if p.transfer_safeguard:
                where += f", {t.value('safeguard', p.transfer_safeguard)}"
            rows.append(
                [
                    f"{ctx.processors([p.id])} ({code('processor:' + p.id)})",
                    where + ")",
                    *_row(ctx, w, Scope(ScopeKind.PROCESSOR, p.id)),
                ]
            )
        out += [heading(3, w["processors"], "processors"), ""]
        out += [table([w["where"], w["country"], *cols], rows), ""]
    if s.sources:
        rows = [
            [
                f"{ctx.sources([src.id])} ({code('source:' + src.id)})",
                *_row(ctx, w, Scope(ScopeKind.SOURCE, src.id)),
            ]
            for src in s.sources
        ]
        out += [heading(3, w["sources"], "sources"), ""]
        out += [table([w["where"], *cols], rows), ""]
    rows = [
        [
            f"{link(code(name), ctx.to(entity_page(name)))} ({code('entity:' + name)})",
            *_row(ctx, w, Scope(ScopeKind.ENTITY, name)),
        ]
        for name in s.system.entities
    ]
    out += [heading(3, w["entities"], "entities"), ""]
    out += [table([w["where"], *cols], rows), ""]
    scopes = ", ".join(
        code(x) for x in ("processor:ID", "entity:NAME", "field:ENTITY.FIELD", "source:ID")
    )
    out += [heading(2, w["entries"], "entries"), "", w["entry_rows"].format(scopes=scopes), ""]
    return "\n".join(out)
