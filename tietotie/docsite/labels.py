"""The words of the generated pages in the strategy's language (Finnish and English)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LANGUAGES", "Labels", "humanise_duration"]

LANGUAGES = ("fi", "en")
"""Languages with a full label set; any other language falls back to English labels."""

# key → (Finnish, English). Page titles, headings and column names.
_WORDS: dict[str, tuple[str, str]] = {
    # navigation and page titles
    "home": ("Etusivu", "Home"),
    "road": ("Tietotie", "The road"),
    "steps": ("Vaiheet", "Steps"),
    "contents": ("Sisältö", "Contents"),
    "goals": ("Tavoitteet", "Goals"),
    "uses": ("Käyttötarkoitukset", "Uses"),
    "questions": ("Kysymykset", "Questions"),
    "sources": ("Tietolähteet", "Sources"),
    "system": ("Järjestelmä", "System"),
    "reports": ("Raportit", "Reports"),
    "activations": ("Aktivoinnit", "Activations"),
    "fields": ("Kenttäluettelo", "Field catalogue"),
    "registers": ("Selosteet", "Registers"),
    "ropa": ("Käsittelytoimien seloste", "Record of processing activities"),
    "dpia": ("Vaikutustenarvioinnin tarve", "DPIA screening"),
    "retention": ("Säilytysajat", "Retention schedule"),
    "access": ("Käyttöoikeusmatriisi", "Access matrix"),
    "consent": ("Suostumukset", "Consent purposes"),
    "requests": ("Rekisteröidyn pyynnöt", "Making a request"),
    "breaches": ("Tietoturvaloukkaukset", "Personal data breaches"),
    "guides": ("Ohjeet", "Guides"),
    "api": ("API-kuvaus", "API reference"),
    # the seven steps, one word each (the road's column heads)
    "step.goal": ("Tavoite", "Goal"),
    "step.use": ("Käyttö", "Use"),
    "step.question": ("Kysymys", "Question"),
    "step.field": ("Kenttä", "Field"),
    "step.source": ("Lähde", "Source"),
    "step.report": ("Raportti", "Report"),
    "step.activation": ("Aktivointi", "Activation"),
    # column heads and short labels
    "id": ("Tunnus", "Id"),
    "name": ("Nimi", "Name"),
    "title": ("Nimike", "Title"),
    "statement": ("Tavoite", "Statement"),
    "owner": ("Omistaja", "Owner"),
    "value_per_year": ("Arvo vuodessa", "Value per year"),
    "kpis": ("Mittarit", "KPIs"),
    "kpi": ("Mittari", "KPI"),
    "baseline": ("Lähtötaso", "Baseline"),
    "target": ("Tavoitetaso", "Target"),
    "unit": ("Yksikkö", "Unit"),
    "by": ("Mennessä", "By"),
    "served_by": ("Palvelevat käyttötarkoitukset", "Served by uses"),
    "serves": ("Palvelee tavoitteita", "Serves goals"),
    "description": ("Kuvaus", "Description"),
    "kind": ("Laji", "Kind"),
    "legal_basis": ("Oikeusperuste", "Legal basis"),
    "law": ("Säännös", "Law"),
    "lia": ("Oikeutetun edun arvio", "Legitimate interest assessment"),
    "art9": ("Erityisten tietojen peruste (art. 9(2))", "Special-category condition (Art. 9(2))"),
    "consent_valid_for": ("Suostumus voimassa", "Consent valid for"),
    "data_subjects": ("Rekisteröityjen ryhmät", "Categories of data subjects"),
    "recipients": ("Vastaanottajat", "Recipients"),
    "no_recipients": (
        "Ei vastaanottajia organisaation ulkopuolella",
        "No recipients outside the organisation",
    ),
    "retention_period": ("Säilytysaika", "Retention"),
    "adm": ("Automaattiset päätökset (art. 22)", "Automated decisions (Art. 22)"),
    "yes": ("kyllä", "yes"),
    "no": ("ei", "no"),
    "none": ("ei ole", "none"),
    "text": ("Kysymys", "Question"),
    "priority": ("Tärkeys", "Priority"),
    "for_uses": ("Käyttötarkoitukset", "For uses"),
    "needs": ("Tarvitsee kentät", "Needs fields"),
    "answered_by": ("Vastaavat raportit", "Answered by reports"),
    "channel": ("Kanava", "Channel"),
    "collected_by": ("Kerääjä", "Collected by"),
    "cost_per_record": ("Kustannus / tietue", "Cost per record"),
    "records_per_year": ("Tietueita vuodessa", "Records per year"),
    "cost_per_year": ("Kustannus vuodessa", "Cost per year"),
    "collects": ("Kerää kentät", "Collects fields"),
    "consent_for": ("Kerää suostumuksen", "Captures consent for"),
    "notice": ("Tietosuojaseloste", "Privacy notice"),
    "entities": ("Tietokokonaisuudet", "Entities"),
    "entity": ("Tietokokonaisuus", "Entity"),
    "parent": ("Kuuluu", "Belongs to"),
    "subject_root": ("Rekisteröity (juuri)", "Data subject (root)"),
    "identifiers": ("Tunnistetaan kentistä", "Identifiers"),
    "match_on": ("Kaksoiskappaleet tunnistetaan", "Deduplicated on"),
    "field_count": ("Kenttiä", "Fields"),
    "roles": ("Roolit", "Roles"),
    "role": ("Rooli", "Role"),
    "department": ("Osasto", "Department"),
    "function": ("Toiminto", "Function"),
    "location": ("Sijainti", "Location"),
    "person": ("Henkilö", "Person"),
    "duties": ("Tehtävät", "Duties"),
    "processors": ("Henkilötietojen käsittelijät", "Processors"),
    "country": ("Maa", "Country"),
    "dpa_signed": ("Käsittelysopimus", "DPA signed"),
    "safeguard": ("Siirron peruste", "Transfer safeguard"),
    "external": ("Muut rekisterit", "Other systems of record"),
    "tables": ("Taulut", "Tables"),
    "answers": ("Vastaa kysymyksiin", "Answers"),
    "audience": ("Yleisö", "Audience"),
    "report_audience": ("Vastaanottajaroolit", "Audience"),
    "shows": ("Näyttää kentät", "Shows fields"),
    "identity": ("Tunnistettavuus", "Identity level"),
    "refresh": ("Päivitys", "Refresh"),
    "chart": ("Esitys", "Chart"),
    "use": ("Käyttötarkoitus", "Use"),
    "where": ("Ehdot", "Conditions"),
    "message": ("Viesti", "Message"),
    "frequency_cap": ("Enimmäistiheys", "Frequency cap"),
    "opt_out": ("Kielto-oikeus (art. 21)", "Objection route (Art. 21)"),
    "figures_intro": (
        "Koostetut raportit alla on koottu asiakasrekisteristä tätä sivustoa rakennettaessa. "
        "Ryhmät, joissa on alle k asiakasta, on jätetty pois, joten kuvista ei voi tunnistaa "
        "ketään.",
        "The aggregated reports below were built from the system of record when this site was "
        "built. Groups of fewer than k customers are left out, so no one can be recognised "
        "from them.",
    ),
    "figure_caption": (
        "Koottu {at}: {groups} ryhmää näytetään; {suppressed} alle {k} asiakkaan ryhmää "
        "({suppressed_subjects} asiakasta) jätetty pois.",
        "Built {at}: {groups} groups shown; {suppressed} groups of fewer than {k} customers "
        "({suppressed_subjects} customers) left out.",
    ),
    "figure_alt": ("Raportin {report} kaavio", "Chart of the report {report}"),
    "figure_row_level": (
        "Rivitason raporttia ei julkaista henkilöstön sivustolla; sen saa vain "
        "vastaanottajaroolin tunnuksella.",
        "Row-level reports are not published on the staff site; only their audience roles "
        "can build them.",
    ),
    "times_per": ("enintään {max} kertaa / {per}", "at most {max} per {per}"),
    "type": ("Tyyppi", "Type"),
    "category": ("Tietoryhmä", "Category"),
    "protection": ("Suojaus", "Protection"),
    "required": ("Pakollinen", "Required"),
    "field": ("Kenttä", "Field"),
    "read_by": ("Lukuoikeus", "Read by"),
    "masked_for": ("Näkyy peitettynä", "Masked for"),
    "written_by": ("Kirjoitusoikeus", "Written by"),
    "encrypted_at_rest": ("salattu tallennettaessa", "encrypted at rest"),
    "special": ("erityinen tietoryhmä", "special category"),
    "entity_retention": ("Kokonaisuuden säilytysaika", "Entity retention"),
    "kept_for": ("Säilytetään", "Kept for"),
    "because_of": ("Peruste", "Because of"),
    "not_held": ("ei yhdessäkään käyttötarkoituksessa", "in no use"),
    "download_csv": ("Lataa CSV-tiedostona", "Download as CSV"),
    "download_mermaid": ("Kaavion Mermaid-lähde", "The diagram's Mermaid source"),
    "rows": ("Rivirajaus", "Row filter"),
    "all_rows": ("kaikki rivit", "all rows"),
    "controller": ("Rekisterinpitäjä", "Controller"),
    "business_id": ("Y-tunnus", "Business id"),
    "address": ("Osoite", "Address"),
    "email": ("Sähköposti", "Email"),
    "dpo": ("Tietosuojavastaava", "Data protection officer"),
    "language": ("Kieli", "Language"),
    "captured_by": ("Suostumuksen keräävät lähteet", "Captured by sources"),
    "notice_versions": ("Tietosuojaselosteen versiot", "Notice versions"),
    "right": ("Oikeus", "Right"),
    "article": ("Artikla", "Article"),
    "what_you_get": ("Mitä se tarkoittaa", "What it means"),
    "withdraw_consent": (
        "peruuttamalla suostumuksen (art. 7(3))",
        "by withdrawing consent (Art. 7(3))",
    ),
    "consent_none": (
        "Mikään käyttötarkoitus ei perustu suostumukseen.",
        "No use rests on consent.",
    ),
    "dec.read": ("lukee", "reads"),
    "dec.masked": ("peitetty", "masked"),
    "dec.masked_some": ("osin peitetty", "masked for some uses"),
    "dec.write": ("kirjoittaa", "writes"),
    "access_overview": ("Yhteenveto", "Overview"),
    "access_none": (
        "Roolilla ei ole pääsyä asiakastietoihin.",
        "The role has no access to customer data.",
    ),
    "ropa.a": (
        "Rekisterinpitäjä ja tietosuojavastaava (art. 30(1)(a))",
        "Controller and data protection officer (Art. 30(1)(a))",
    ),
    "ropa.b": ("Käsittelyn tarkoitus (b)", "Purpose (b)"),
    "ropa.c": ("Henkilötietoryhmät (c)", "Categories of personal data (c)"),
    "ropa.d": ("Vastaanottajat (d)", "Recipients (d)"),
    "ropa.e": ("Siirrot EU/ETA-alueen ulkopuolelle (e)", "Transfers outside the EEA (e)"),
    "ropa.f": ("Poistamisen määräajat (f)", "Time limits for erasure (f)"),
    "ropa.g": (
        "Tekniset ja organisatoriset turvatoimet (g)",
        "Technical and organisational security measures (g)",
    ),
}

_INTRO: dict[str, tuple[str, str]] = {
    "home": (
        "Tältä sivustolta näet, mitä tietoja {name} pitää asiakkaistaan, miksi, mistä tiedot "
        "tulevat, kuinka kauan niitä säilytetään ja kuka saa nähdä ne. Sivut on koottu "
        "tietostrategiasta (strategy/-hakemisto) sivuston rakentamisen yhteydessä.",
        "This site shows what data {name} keeps about its customers, why, where it comes "
        "from, how long it is kept and who may see it. The pages are generated from the "
        "customer-data strategy (the strategy/ directory) whenever the site is built.",
    ),
    "road": (
        "Jokainen kenttä kulkee samaa tietä: tavoite → käyttötarkoitus → kysymys → kenttä → "
        "lähde → raportti → aktivointi. Napsauta laatikkoa nähdäksesi sen tiedot.",
        "Every field travels the same road: goal → use → question → field → source → report "
        "→ activation. Click a box to open its step.",
    ),
    "road_edges": (
        "Viivat: tavoitetta palveleva käyttötarkoitus; käyttötarkoituksen kysymys; kysymyksen "
        "tarvitsema kenttä; kentän kerännyt lähde; lähde, joka kerää raportin näyttämän kentän; "
        "raportti, joka vastaa aktivoinnin käyttötarkoituksen kysymykseen.",
        "Lines: a use serving a goal; a question of a use; a field a question needs; a source "
        "collecting the field; a source collecting a field the report shows; a report answering "
        "a question of the activation's use.",
    ),
    "road_mermaid": (
        "Kaavio piirretään palvelimella, jotta sivusto toimii ilman verkkoyhteyttä eikä lataa "
        "mitään ulkopuolisilta palvelimilta. Sama kaavio Mermaid-muodossa:",
        "The diagram is drawn when the site is built, so the site works offline and loads "
        "nothing from other servers. The same diagram in Mermaid:",
    ),
    "fields": (
        "Kaikki järjestelmään tallennettavat kentät tietokokonaisuuksittain: nimi, tyyppi, "
        "tietoryhmä, suojaus, säilytysaika, lähteet, käyttötarkoitukset ja roolit, jotka saavat "
        "lukea kentän tai nähdä sen peitettynä.",
        "Every field held in the system of record, entity by entity: its name, type, category, "
        "protection, retention, sources, uses, and the roles that may read it or see it masked.",
    ),
    "retention": (
        "Kuinka kauan tietoja säilytetään (art. 5(1)(e)). Kenttä säilytetään niin kauan kuin "
        "pisin sitä käyttävä käyttötarkoitus vaatii, ellei tietokokonaisuudelle ole asetettu "
        "omaa säilytysaikaa.",
        "How long data is kept (Art. 5(1)(e)). A field is kept as long as the longest use that "
        "needs it requires, unless its entity sets its own retention.",
    ),
    "access": (
        "Kuka saa lukea, nähdä peitettynä tai kirjoittaa minkäkin kentän, käyttötarkoitus "
        "kerrallaan (art. 5(1)(f), 25 ja 32). Kaikki, mitä ei ole erikseen sallittu, on "
        "kielletty. Taulukko on koottu samasta käyttöoikeuspolitiikasta, jota palvelu "
        "noudattaa.",
        "Who may read, see masked or write each field, use by use (Art. 5(1)(f), 25 and 32). "
        "Anything not granted is denied. The table is compiled from the same access policy "
        "the service enforces.",
    ),
    "ropa": (
        "Seloste käsittelytoimista (art. 30(1)): yksi käsittelytoimi kutakin "
        "käyttötarkoitusta kohden. Koko seloste on ladattavissa CSV-tiedostona.",
        "The record of processing activities (Art. 30(1)): one activity per use. The whole "
        "record can be downloaded as CSV.",
    ),
    "fields_legend": (
        "Lukuoikeuden ja peitetyn näkymän roolit: vie osoitin roolin päälle nähdäksesi, minkä "
        "käyttötarkoitusten vuoksi oikeus on annettu; käyttöoikeusmatriisissa on kaikki "
        "yksityiskohdat.",
        "Roles that read a field or see it masked: hover over a role to see for which uses; "
        "the access matrix has every detail.",
    ),
    "consent": (
        "Käyttötarkoitukset, joiden oikeusperuste on suostumus (art. 6(1)(a) ja 7). Suostumus "
        "kerätään vain alla luetelluissa lähteissä, niissä näytetyn tietosuojaselosteen "
        "version kera, ja se on voimassa ilmoitetun ajan.",
        "The uses whose legal basis is consent (Art. 6(1)(a) and 7). Consent is captured only "
        "by the sources listed, with the version of the privacy notice they show, and lasts "
        "for the period given.",
    ),
}


# Closed vocabularies: (enum value) → (Finnish, English)
_VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "legal_basis": {
        "consent": ("suostumus", "consent"),
        "contract": ("sopimus", "contract"),
        "legal_obligation": ("lakisääteinen velvoite", "legal obligation"),
        "vital_interests": ("elintärkeä etu", "vital interests"),
        "public_task": ("yleisen edun mukainen tehtävä", "public task"),
        "legitimate_interests": ("oikeutettu etu", "legitimate interests"),
    },
    "kind": {
        "direct_marketing": ("suoramarkkinointi", "direct marketing"),
        "profiling": ("profilointi", "profiling"),
        "service_delivery": ("palvelun tuottaminen", "service delivery"),
        "customer_service": ("asiakaspalvelu", "customer service"),
        "analytics": ("analytiikka", "analytics"),
        "product_development": ("tuotekehitys", "product development"),
        "legal_compliance": ("lakisääteinen velvoite", "legal compliance"),
        "security": ("tietoturva", "security"),
    },
    "category": {
        "identity": ("henkilöllisyys", "identity"),
        "contact": ("yhteystieto", "contact"),
        "identifier": ("tunniste", "identifier"),
        "online_identifier": ("verkkotunniste", "online identifier"),
        "descriptive": ("kuvaileva", "descriptive"),
        "behavioural": ("käyttäytyminen", "behavioural"),
        "contextual": ("tilannetieto", "contextual"),
        "financial": ("taloudellinen", "financial"),
        "location": ("sijainti", "location"),
        "health": ("terveys", "health"),
        "biometric": ("biometrinen", "biometric"),
        "genetic": ("geneettinen", "genetic"),
        "racial_ethnic": ("rotu tai etninen alkuperä", "racial or ethnic origin"),
        "political": ("poliittiset mielipiteet", "political opinions"),
        "religious": ("uskonnollinen vakaumus", "religious beliefs"),
        "trade_union": ("ammattiliiton jäsenyys", "trade-union membership"),
        "sex_life": ("seksuaalinen käyttäytyminen", "sex life or orientation"),
        "criminal": ("rikostiedot (art. 10)", "criminal data (Art. 10)"),
        "non_personal": ("ei henkilötieto", "not personal data"),
    },
    "type": {
        "string": ("teksti", "text"),
        "text": ("pitkä teksti", "long text"),
        "email": ("sähköpostiosoite", "email address"),
        "phone": ("puhelinnumero", "phone number"),
        "integer": ("kokonaisluku", "integer"),
        "decimal": ("desimaaliluku", "decimal"),
        "boolean": ("kyllä/ei", "yes/no"),
        "date": ("päivämäärä", "date"),
        "datetime": ("aikaleima", "date and time"),
        "enum": ("valinta", "choice"),
        "country": ("maa", "country"),
        "postal_code": ("postinumero", "postal code"),
        "url": ("verkko-osoite", "URL"),
    },
    "protect": {
        "none": ("ei pseudonymisoida", "not pseudonymised"),
        "hmac": ("yksisuuntainen tunnus", "one-way token"),
        "encrypt": ("salattu, palautettava tunnus", "encrypted, reversible token"),
    },
    "source_channel": {
        "web_form": ("verkkolomake", "web form"),
        "checkout": ("verkkokaupan kassa", "checkout"),
        "point_of_sale": ("palvelupiste", "point of sale"),
        "phone": ("puhelin", "phone"),
        "email": ("sähköposti", "email"),
        "survey": ("kysely", "survey"),
        "social_media": ("sosiaalinen media", "social media"),
        "import": ("tuonti", "import"),
        "partner": ("kumppani", "partner"),
        "privacy_center": ("tietosuojasivut", "privacy center"),
    },
    "activation_channel": {
        "email": ("sähköposti", "email"),
        "sms": ("tekstiviesti", "SMS"),
        "phone": ("puhelu", "phone call"),
        "post": ("kirje", "post"),
        "push": ("push-ilmoitus", "push notification"),
        "in_app": ("sovelluksessa", "in the app"),
        "ads": ("mainonta", "ads"),
    },
    "identity": {
        "aggregated": ("koottu", "aggregated"),
        "pseudonymised": ("pseudonymisoitu", "pseudonymised"),
        "identified": ("tunnistettava", "identified"),
    },
    "chart": {
        "bar": ("pylväskaavio", "bar chart"),
        "line": ("viivakaavio", "line chart"),
        "pie": ("piirakkakaavio", "pie chart"),
        "table": ("taulukko", "table"),
    },
    "duty": {
        "requests": ("rekisteröityjen pyynnöt", "data-subject requests"),
        "audit": ("auditointi", "audit"),
        "reidentify": ("tunnisteiden palautus", "re-identification"),
    },
    "art9": {
        "explicit_consent": ("nimenomainen suostumus (a)", "explicit consent (a)"),
        "employment": ("työoikeus ja sosiaaliturva (b)", "employment and social security (b)"),
        "vital_interests": ("elintärkeä etu (c)", "vital interests (c)"),
        "not_for_profit": ("aatteellinen yhteisö (d)", "not-for-profit body (d)"),
        "made_public": ("rekisteröidyn julkistamat (e)", "made public by the subject (e)"),
        "legal_claims": ("oikeusvaateet (f)", "legal claims (f)"),
        "substantial_public_interest": (
            "tärkeä yleinen etu (g)",
            "substantial public interest (g)",
        ),
        "health_care": ("terveydenhuolto (h)", "health or social care (h)"),
        "public_health": ("kansanterveys (i)", "public health (i)"),
        "research": ("tutkimus ja tilastot (j)", "research and statistics (j)"),
    },
    "safeguard": {
        "adequacy_decision": (
            "komission tietosuojan riittävyyttä koskeva päätös (art. 45)",
            "adequacy decision (Art. 45)",
        ),
        "standard_contractual_clauses": (
            "vakiosopimuslausekkeet (art. 46(2)(c))",
            "standard contractual clauses (Art. 46(2)(c))",
        ),
        "binding_corporate_rules": (
            "yritystä koskevat sitovat säännöt (art. 47)",
            "binding corporate rules (Art. 47)",
        ),
        "derogation": ("poikkeus erityistilanteessa (art. 49)", "derogation (Art. 49)"),
    },
    "operator": {
        "eq": ("=", "="),
        "ne": ("≠", "≠"),
        "in": ("jokin arvoista", "in"),
        "not_in": ("ei mikään arvoista", "not in"),
        "lt": ("<", "<"),
        "le": ("≤", "≤"),
        "gt": (">", ">"),
        "ge": ("≥", "≥"),
        "before": ("ennen", "before"),
        "after": ("jälkeen", "after"),
        "within": ("viimeisen", "within the last"),
        "exists": ("on annettu", "exists"),
    },
}

_ARTICLE = {
    "consent": "6(1)(a)",
    "contract": "6(1)(b)",
    "legal_obligation": "6(1)(c)",
    "vital_interests": "6(1)(d)",
    "public_task": "6(1)(e)",
    "legitimate_interests": "6(1)(f)",
}

_UNITS = {  # ISO 8601 designator → (Finnish singular, plural, English singular, plural)
    "Y": ("vuosi", "vuotta", "year", "years"),
    "M": ("kuukausi", "kuukautta", "month", "months"),
    "W": ("viikko", "viikkoa", "week", "weeks"),
    "D": ("päivä", "päivää", "day", "days"),
    "H": ("tunti", "tuntia", "hour", "hours"),
    "TM": ("minuutti", "minuuttia", "minute", "minutes"),
    "S": ("sekunti", "sekuntia", "second", "seconds"),
}
_DURATION_PART = re.compile(r"(\d+)([YMWDHS])")


def humanise_duration(value: str, language: str) -> str:
    """``P2Y`` → "2 vuotta" / "2 years"; ``P1Y6M`` → "1 vuosi 6 kuukautta"."""
    date_part, _, time_part = value.removeprefix("P").partition("T")
    fi = language == "fi"
    words: list[str] = []
    for part, is_time in ((date_part, False), (time_part, True)):
        for number, designator in _DURATION_PART.findall(part):
            key = "TM" if is_time and designator == "M" else designator
            one_fi, many_fi, one_en, many_en = _UNITS[key]
            n = int(number)
            unit = (one_fi if n == 1 else many_fi) if fi else (one_en if n == 1 else many_en)
            words.append(f"{n} {unit}")
    return " ".join(words) or value


@dataclass(frozen=True)
class Labels:
    """Look up the words of one language; unknown languages read English."""

    language: str

    @property
    def _column(self) -> int:
        return 0 if self.language == "fi" else 1

    def __call__(self, key: str, **fmt: object) -> str:
        """The label of ``key``, formatted with ``fmt``."""
        text = _WORDS[key][self._column]
        return text.format(**fmt) if fmt else text

    def intro(self, key: str, **fmt: object) -> str:
        """A paragraph of page introduction."""
        text = _INTRO[key][self._column]
        return text.format(**fmt) if fmt else text

    def value(self, vocabulary: str, value: object) -> str:
        """The label of an enum ``value`` in ``vocabulary`` (the raw value when unknown)."""
        raw = str(value)
        pair = _VALUES.get(vocabulary, {}).get(raw)
        return pair[self._column] if pair else raw

    def basis(self, value: object) -> str:
        """A legal basis with its article: "suostumus (art. 6(1)(a))"."""
        raw = str(value)
        art = "art." if self.language == "fi" else "Art."
        return f"{self.value('legal_basis', raw)} ({art} {_ARTICLE.get(raw, '6(1)')})"

    def duration(self, value: str | None) -> str:
        """An ISO 8601 duration in words, or "none"."""
        return humanise_duration(value, self.language) if value else self("none")

    def euros(self, amount: object) -> str:
        """An amount in euros, written the local way (12 000 € / €12,000)."""
        number = float(str(amount))
        digits = f"{number:,.2f}" if number % 1 else f"{number:,.0f}"
        if self.language == "fi":
            return digits.replace(",", "\u00a0").replace(".", ",") + "\u00a0€"
        return f"€{digits}"

    def yes_no(self, flag: bool) -> str:
        """kyllä/ei, yes/no."""
        return self("yes") if flag else self("no")
