"""Supervisory authorities (Art. 51) a data subject may complain to (Art. 13(2)(d), 77).

A small table of the authorities of the jurisdictions the project's users are in; for any other
jurisdiction the notice names the European Data Protection Board's list of its members, where
every authority's contact is kept up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["EDPB_MEMBERS", "Authority", "authority_for"]

EDPB_MEMBERS: Final = "https://www.edpb.europa.eu/about-edpb/about-edpb/members_en"
"""Where every EEA supervisory authority is listed with its contact."""


@dataclass(frozen=True)
class Authority:
    """A supervisory authority and how to reach it."""

    name: str
    address: str
    email: str | None
    url: str


_AUTHORITIES: Final[dict[str, Authority]] = {
    "FI": Authority(
        "Tietosuojavaltuutetun toimisto (Office of the Data Protection Ombudsman)",
        "PL 800, 00531 Helsinki",
        "tietosuoja@om.fi",
        "https://tietosuoja.fi",
    ),
    "SE": Authority(
        "Integritetsskyddsmyndigheten (IMY)",
        "Box 8114, 104 20 Stockholm",
        "imy@imy.se",
        "https://www.imy.se",
    ),
    "EE": Authority(
        "Andmekaitse Inspektsioon (Estonian Data Protection Inspectorate)",
        "Tatari 39, 10134 Tallinn",
        "info@aki.ee",
        "https://www.aki.ee",
    ),
    "DK": Authority(
        "Datatilsynet (Danish Data Protection Agency)",
        "Carl Jacobsens Vej 35, 2500 Valby",
        "dt@datatilsynet.dk",
        "https://www.datatilsynet.dk",
    ),
    "NO": Authority(
        "Datatilsynet (Norwegian Data Protection Authority)",
        "Postboks 458 Sentrum, 0105 Oslo",
        "postkasse@datatilsynet.no",
        "https://www.datatilsynet.no",
    ),
    "IE": Authority(
        "Data Protection Commission",
        "21 Fitzwilliam Square South, Dublin 2, D02 RD28",
        None,
        "https://www.dataprotection.ie",
    ),
}


def authority_for(jurisdiction: str) -> Authority | None:
    """The authority of ``jurisdiction`` (ISO 3166-1 alpha-2), or None when not in the table."""
    return _AUTHORITIES.get(jurisdiction.upper())
