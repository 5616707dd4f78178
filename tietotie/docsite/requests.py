"""How a customer makes a request under chapter III GDPR: the six rights, where, and deadlines.

Customers act in the privacy center the service serves under ``/privacy`` (DESIGN §12); the
page links to it at ``TIETOTIE_PUBLIC_URL`` when that is set, and otherwise says how to set it.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from schemas.enums import UseKind
from tietotie.docsite.context import Context
from tietotie.docsite.errors import DocsBuildError
from tietotie.docsite.md import code, esc, heading, link, table

__all__ = ["CENTER_PAGES", "privacy_center_url", "requests_page"]

CENTER_PAGES: Final = ("/privacy/request", "/privacy/consents", "/privacy/notice")
"""The privacy center's pages the requests page names: requests, consents, the notice."""

# type (as POST /v1/dsar takes it) → article, (fi title, fi text), (en title, en text)
_RIGHTS: list[tuple[str, str, tuple[str, str], tuple[str, str]]] = [
    (
        "access",
        "15",
        (
            "Oikeus saada pääsy tietoihin",
            "Kopio kaikista asiakkaasta pidetyistä tiedoista sekä tieto käyttötarkoituksista, "
            "oikeusperusteista, tietoryhmistä, vastaanottajista, säilytysajoista, lähteistä ja "
            "automaattisista päätöksistä.",
        ),
        (
            "Right of access",
            "A copy of all data held about the customer, with the purposes, legal bases, "
            "categories, recipients, retention periods, sources and any automated decisions.",
        ),
    ),
    (
        "rectification",
        "16",
        (
            "Oikeus tietojen oikaisemiseen",
            "Virheelliset tiedot korjataan ja puutteelliset täydennetään.",
        ),
        ("Right to rectification", "Wrong data is corrected and incomplete data completed."),
    ),
    (
        "erasure",
        "17",
        (
            "Oikeus tietojen poistamiseen",
            "Tiedot poistetaan, ellei laki velvoita säilyttämään niitä (esim. kirjanpito); "
            "säilytettävät tiedot rajoitetaan, ja vastauksessa kerrotaan, mitä poistettiin, mitä "
            "säilytettiin ja miksi. Salatut tiedot hävitetään tuhoamalla asiakkaan oma avain.",
        ),
        (
            "Right to erasure",
            "Data is deleted unless a legal obligation keeps it (e.g. bookkeeping); what must be "
            "kept is restricted, and the answer says what was erased, what was kept and why. "
            "Encrypted data is destroyed by destroying the customer's own key.",
        ),
    ),
    (
        "restriction",
        "18",
        (
            "Oikeus käsittelyn rajoittamiseen",
            "Tietoja säilytetään, mutta asiakas jätetään pois kaikista kampanjoista ja "
            "raporteista.",
        ),
        (
            "Right to restriction",
            "The data is kept, but the customer is left out of every campaign and report.",
        ),
    ),
    (
        "portability",
        "20",
        (
            "Oikeus siirtää tiedot järjestelmästä toiseen",
            "Asiakkaan itse antamat tiedot koneluettavassa muodossa (JSON).",
        ),
        (
            "Right to data portability",
            "The data the customer gave, in a machine-readable format (JSON).",
        ),
    ),
    (
        "objection",
        "21",
        (
            "Vastustamisoikeus",
            "Asiakas voi vastustaa oikeutettuun etuun perustuvaa käsittelyä; suoramarkkinointi "
            "lopetetaan heti (art. 21(3)).",
        ),
        (
            "Right to object",
            "The customer may object to processing on legitimate interests; direct marketing "
            "stops at once (Art. 21(3)).",
        ),
    ),
]

_TEXT = {
    "fi": {
        "intro": "Jokaisella asiakkaalla on oikeus tietää, mitä tietoja hänestä pidetään, ja "
        "päättää niistä EU:n yleisen tietosuoja-asetuksen (GDPR) III luvun mukaan. "
        "Pyynnön tekeminen on maksutonta (art. 12(5)).",
        "rights": "Kuusi oikeutta",
        "where": "Missä asiakas tekee pyynnön",
        "where_text": "Asiakas tekee pyynnön itse tietosuojasivuilla osoitteessa {url}. "
        "Siellä hän myös seuraa pyyntöään ja hallitsee suostumuksiaan:",
        "where_unset": "Asiakas tekee pyynnön itse tietosuojasivuilla, jotka tämä palvelu "
        "tarjoaa polussa {path} (esimerkiksi {example}). Siellä hän myös seuraa "
        "pyyntöään ja hallitsee suostumuksiaan:",
        "set_url": "Kun ympäristömuuttujaan {var} asetetaan osoite, josta asiakkaat "
        "tavoittavat palvelun, ja sivusto rakennetaan uudelleen ({command}), tällä sivulla "
        "on suorat linkit.",
        "page": "Sivu",
        "address_col": "Osoite",
        "what": "Mitä asiakas siellä tekee",
        "center_rows": [
            (
                "Pyyntö",
                "valitsee oikeuden ja antaa yhden tunnisteen ({identifiers}); sinne "
                "lähetetään koodi, joka syötetään pyynnön omalla sivulla. Sivulla näkyvät "
                "tila, määräpäivä, henkilökunnan viestit ja ladattava vastaus.",
            ),
            (
                "Suostumukset",
                "kirjautuu koodilla ja antaa tai peruu kunkin suostumuksen yhdellä napsautuksella.",
            ),
            (
                "Tietosuojaseloste",
                "lukee strategiasta tuotetun tietosuojaselosteen (art. 13 ja 14), myös "
                "tulostettavana.",
            ),
        ],
        "other_ways": "Pyyntö on yhtä pätevä, jos asiakas tekee sen muuten, esimerkiksi "
        "sähköpostitse, kirjeellä tai asiointipisteessä. Henkilökunta kirjaa sen "
        "palveluun, joka laskee määräajan ja pitää kirjaa jokaisesta vaiheesta, ja "
        "ohjaa asiakkaan seuraamaan pyyntöä tietosuojasivuille. Yhteystiedot:",
        "api": "Palvelussa pyyntö avataan kutsulla {call}, jossa {type} on yksi "
        "oikeuksista ({types}).",
        "identity": "Henkilöllisyyden varmistaminen",
        "identity_text": "Ennen kuin mitään tietoja luovutetaan tai muutetaan, pyytäjän "
        "henkilöllisyys varmistetaan: palvelu lähettää kertakäyttöisen koodin "
        "asiakkaan jo tiedossa olevaan tunnisteeseen ({identifiers}), ja "
        "pyytäjä vahvistaa pyynnön koodilla. Henkilökunta, jolla on "
        "pyyntöjen käsittelyoikeus, voi vaihtoehtoisesti todentaa asiakkaan "
        "henkilökohtaisesti. Varmistamaton pyyntö ei paljasta mitään.",
        "deadlines": "Määräajat",
        "deadline_rows": [
            (
                "Vastaus",
                "Kuukauden kuluessa pyynnön vastaanottamisesta (art. 12(3)): "
                "seuraavan kuukauden sama päivä, tai kuukauden viimeinen päivä, jos "
                "samaa päivää ei ole. Jos päivä osuu viikonloppuun tai pyhäpäivään, "
                "määräaika siirtyy seuraavaan arkipäivään.",
            ),
            (
                "Jatkoaika",
                "Monimutkaisissa tai lukuisissa pyynnöissä kerran enintään kahdella "
                "kuukaudella; syy kerrotaan asiakkaalle ensimmäisen kuukauden "
                "aikana.",
            ),
            (
                "Kieltäytyminen",
                "Jos pyyntöön ei suostuta, asiakkaalle kerrotaan syy ja "
                "oikeus tehdä valitus valvontaviranomaiselle.",
            ),
        ],
        "objection": "Suoramarkkinoinnin kieltäminen",
        "objection_text": "Markkinointiviesteistä voi kieltäytyä milloin tahansa. Näin se "
        "tehdään kustakin kampanjasta:",
        "complaint": "Valitus",
        "complaint_text": "Asiakkaalla on oikeus tehdä valitus valvontaviranomaiselle "
        "(art. 77){authority}.",
        "authority_fi": ", Suomessa tietosuojavaltuutetun toimistolle",
        "channel": "Kanava",
        "contact": "Yhteystiedot",
        "type": "Pyyntö",
    },
    "en": {
        "intro": "Every customer has the right to know what data is kept about them and to "
        "decide on it under chapter III of the General Data Protection Regulation "
        "(GDPR). Making a request is free of charge (Art. 12(5)).",
        "rights": "The six rights",
        "where": "Where customers make a request",
        "where_text": "Customers make requests themselves in the privacy center at {url}, "
        "where they also follow them and manage their consents:",
        "where_unset": "Customers make requests themselves in the privacy center, which "
        "this service serves under the path {path} (for example {example}), where they also "
        "follow them and manage their consents:",
        "set_url": "Set {var} to the address customers reach the service at and rebuild "
        "this site ({command}) for direct links here.",
        "page": "Page",
        "address_col": "Address",
        "what": "What the customer does there",
        "center_rows": [
            (
                "Request",
                "chooses the right and gives one identifier ({identifiers}); a code is sent "
                "there and entered on the request's own page, which then shows the status, "
                "the due date, staff's messages and the answer to download.",
            ),
            (
                "Consents",
                "signs in with a code and gives or withdraws each consent with one click.",
            ),
            (
                "Privacy notice",
                "reads the privacy notice generated from the strategy (Art. 13 and 14), also "
                "printable.",
            ),
        ],
        "other_ways": "A request made any other way, for example by email, by post or in "
        "person, is just as valid. Staff record it in the service, which counts the "
        "deadline and logs every step, and point the customer to the privacy center to "
        "follow it. Contact details:",
        "api": "In the service a request is opened with {call}, where {type} is one of the "
        "rights ({types}).",
        "identity": "Identity verification",
        "identity_text": "Before any data is disclosed or changed, the requester's identity is "
        "verified: the service sends a one-time code to an identifier we "
        "already hold for the customer ({identifiers}), and the requester "
        "confirms the request with it. Staff with the requests duty may "
        "instead verify the customer in person. An unverified request reveals "
        "nothing.",
        "deadlines": "Deadlines",
        "deadline_rows": [
            (
                "Answer",
                "Within one month of receipt (Art. 12(3)): the same date of the next "
                "month, or the last day of that month where the date does not exist, "
                "moved to the next working day when it falls on a weekend or holiday.",
            ),
            (
                "Extension",
                "Once, by at most two further months for complex or numerous "
                "requests; the customer is told why within the first month.",
            ),
            (
                "Refusal",
                "If a request is refused, the customer is told why and of the right "
                "to complain to the supervisory authority.",
            ),
        ],
        "objection": "Objecting to direct marketing",
        "objection_text": "Anyone may stop marketing messages at any time. This is how, "
        "campaign by campaign:",
        "complaint": "Complaints",
        "complaint_text": "The customer may lodge a complaint with a supervisory authority "
        "(Art. 77){authority}.",
        "authority_fi": ", in Finland the Office of the Data Protection Ombudsman",
        "channel": "Channel",
        "contact": "Contact",
        "type": "Request",
    },
}


def privacy_center_url(public_url: str) -> str:
    """The privacy center's address on the service at ``public_url`` (``…/privacy``).

    Raises :class:`DocsBuildError` naming ``TIETOTIE_PUBLIC_URL`` when it is not an
    ``http(s)://host`` address.
    """
    return _service_root(public_url) + "/privacy"


def _service_root(public_url: str) -> str:
    parts = urlsplit(public_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise DocsBuildError(
            "TIETOTIE_PUBLIC_URL must be the address customers reach the service at, "
            "http(s)://host[:port][/path] without a query, e.g. https://privacy.example.fi; "
            f"got {public_url!r}",
            field="TIETOTIE_PUBLIC_URL",
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _fill(text: str, **markdown: str) -> str:
    """``text`` escaped, its ``{name}`` placeholders replaced by ready Markdown."""
    out = esc(text.format(**{name: f"@{name.upper()}@" for name in markdown}))
    for name, value in markdown.items():
        out = out.replace(f"@{name.upper()}@", value)
    return out


def _privacy_center(ctx: Context, words: dict[str, Any], identifiers: str) -> list[str]:
    """Where customers act: the privacy center's request, consent and notice pages."""
    root = _service_root(ctx.public_url) if ctx.public_url else None
    pages = [
        (
            f"**{esc(name)}**",
            link(code(root + path), root + path) if root else code(path),
            _fill(what, identifiers=identifiers),
        )
        for path, (name, what) in zip(CENTER_PAGES, words["center_rows"], strict=True)
    ]
    if root:
        out = [_fill(words["where_text"], url=link(code(f"{root}/privacy"), f"{root}/privacy"))]
    else:
        example = code("https://privacy.example.fi/privacy")
        out = [_fill(words["where_unset"], path=code("/privacy"), example=example)]
    columns = [str(words["page"]), str(words["address_col"]), str(words["what"])]
    out += ["", table(columns, pages), ""]
    if not root:
        command = code("TIETOTIE_PUBLIC_URL=https://… tietotie docs build")
        out += [_fill(words["set_url"], var=code("TIETOTIE_PUBLIC_URL"), command=command), ""]
    return out


def requests_page(ctx: Context) -> str:
    """The six rights, where customers make a request (the privacy center, or in any other
    way), identity verification and the deadlines."""
    s, t = ctx.strategy, ctx.labels
    words = _TEXT["fi" if t.language == "fi" else "en"]
    fi = t.language == "fi"
    art = "art." if fi else "Art."
    c = s.controller
    out = [f"# {t('requests')}", "", esc(words["intro"]), ""]
    out += [heading(2, str(words["rights"]), "rights"), ""]
    out.append(
        table(
            [t("right"), t("article"), t("what_you_get"), str(words["type"])],
            [
                (
                    esc((fi_ if fi else en)[0]),
                    f"{art} {article}",
                    esc((fi_ if fi else en)[1]),
                    code(kind),
                )
                for kind, article, fi_, en in _RIGHTS
            ],
        )
    )
    subject = ctx.index.subject_entity
    identifiers = s.system.entities[subject].identifiers if subject else []
    idents = ", ".join(ctx.field(f"{subject}.{i}") for i in identifiers) if subject else "–"
    out += ["", heading(2, str(words["where"]), "where"), ""]
    out += _privacy_center(ctx, words, idents or "–")
    contact = [
        (t("controller"), esc(c.name)),
        (t("email"), esc(c.email or "")),
        (t("address"), esc(c.address or "")),
        (t("dpo"), esc(c.dpo or "")),
    ]
    out += [esc(words["other_ways"]), ""]
    out.append(table([str(words["contact"]), " "], [(f"**{k}**", v) for k, v in contact if v]))
    api = esc(str(words["api"]).format(call="@CALL@", type="@TYPE@", types="@TYPES@"))
    api = api.replace("@CALL@", code("POST /v1/dsar")).replace("@TYPE@", code("type"))
    out += ["", api.replace("@TYPES@", ", ".join(code(k) for k, *_ in _RIGHTS)), ""]
    out += [
        heading(2, str(words["identity"]), "identity"),
        "",
        esc(str(words["identity_text"]).format(identifiers="IDENTS")).replace(
            "IDENTS", idents or "–"
        ),
        "",
    ]
    out += [heading(2, str(words["deadlines"]), "deadlines"), ""]
    out.append(table([" ", " "], [(f"**{esc(k)}**", esc(v)) for k, v in words["deadline_rows"]]))
    out.append("")
    marketing = [
        a
        for a in s.activations
        if (u := ctx.index.uses.get(a.use)) is not None and u.kind is UseKind.DIRECT_MARKETING
    ]
    out += [heading(2, str(words["objection"]), "objection"), "", esc(words["objection_text"]), ""]
    out.append(
        table(
            [t("activations"), str(words["channel"]), t("opt_out")],
            [
                (
                    link(code(a.id), ctx.to("activations", a.id)),
                    t.value("activation_channel", a.channel),
                    esc(a.opt_out) if a.opt_out else t("withdraw_consent"),
                )
                for a in marketing
            ],
        )
        if marketing
        else esc(t("none"))
    )
    authority = str(words["authority_fi"]) if c.jurisdiction == "FI" else ""
    out += [
        "",
        heading(2, str(words["complaint"]), "complaint"),
        "",
        esc(str(words["complaint_text"]).format(authority=authority)),
        "",
    ]
    return "\n".join(out)
