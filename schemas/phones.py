"""Phone numbers to E.164, exactly as ``phonenumbers`` reads them, fast on the bulk path.

:func:`phone_full` is the reference: ``phonenumbers.parse`` with the controller's region,
``is_valid_number``, E.164. :func:`phone_e164` gives the same answer for every text, cached
per distinct text (a bounded LRU), and for text already in strict E.164 (``+`` and 8-15 ASCII
digits) without the generic scanning steps of ``parse`` and with the validity decision of
``is_valid_number`` over patterns compiled once per calling code (see :func:`_e164_fast`).
It also turns on ``phonenumbers``' own cache of compiled metadata patterns. Tests compare the
fast answer with the reference on numbers of every region and type.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any, Final, NamedTuple

import phonenumbers
from phonenumbers import phonenumberutil as _pnu
from phonenumbers import re_util as _pn_re
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["phone_e164", "phone_full"]

_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII)
_PHONE_CACHE: Final = 1 << 16


@cache
def _keep_phone_patterns() -> None:
    """Let phonenumbers keep its compiled metadata patterns (its own switch; same results)."""
    enable = getattr(_pn_re, "enable_pattern_cache", None)  # phonenumbers >= 9
    if enable is not None:
        enable()


@lru_cache(maxsize=_PHONE_CACHE)
def phone_e164(text: str, region: str) -> str | None:
    """``text`` as E.164, or None when it is not a valid phone number (cached per text)."""
    _keep_phone_patterns()
    if _E164.fullmatch(text):
        sure, e164 = _e164_fast(text)
        if sure:
            return e164
    return phone_full(text, region)


def phone_full(text: str, region: str) -> str | None:
    """What ``phonenumbers`` makes of ``text``: the E.164 form, or None when not valid."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_SHORT_LENGTHS: Final = (
    _pnu.ValidationResult.TOO_SHORT,
    _pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    _pnu.ValidationResult.INVALID_LENGTH,
)


def _e164_fast(text: str) -> tuple[bool, str | None]:
    """:func:`phone_full` of ``text`` in strict E.164, as ``(True, result)``; ``(False, None)``
    when unsure, and the caller asks ``phonenumbers`` in full.

    For ``+`` and 8-15 ASCII digits (the first not 0), the steps of ``phonenumbers.parse``
    before the country code is read change nothing whatever the region: no RFC 3966 context,
    nothing to trim, the text is viable, the ``+`` makes any default region acceptable, there
    is no extension, and normalising ASCII digits gives them back. The steps after it are taken
    here in ``parse``'s order with its own functions: the country code (the first 1-3 digits
    that name one), that code's metadata, the national prefix stripped only when the rest still
    has a possible length, the length limits. The national significant number is then exactly
    the digits left (``parse`` keeps leading zeros as "Italian" zeros), so the E.164 form is
    ``+``, the code and those digits. Validity is :func:`_valid_national`, the decision of
    ``phonenumbers.is_valid_number`` over precompiled patterns. Tests compare this path with
    the full one on numbers of every region and type.
    """
    digits = text[1:]
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in _pnu.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False, None
    national = digits[size:]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, _pnu.region_code_for_country_code(country_code)
    )
    if metadata is None or len(national) < _pnu._MIN_LENGTH_FOR_NSN:
        return False, None
    _, stripped, _ = _pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
    if _pnu._test_number_length(stripped, metadata) not in _SHORT_LENGTHS:
        national = stripped
    if not _pnu._MIN_LENGTH_FOR_NSN <= len(national) <= _pnu._MAX_LENGTH_FOR_NSN:
        return False, None
    valid = _valid_national(country_code, national)
    if valid is None:
        return False, None
    return True, (f"+{country_code}{national}" if valid else None)


class _Desc(NamedTuple):
    """A ``PhoneNumberDesc``: its possible lengths (empty: any) and its compiled pattern."""

    lengths: frozenset[int]
    pattern: re.Pattern[str] | None

    def matches(self, national: str) -> bool:
        """``phonenumberutil._is_number_matching_desc``."""
        if self.lengths and len(national) not in self.lengths:
            return False
        return self.pattern is not None and self.pattern.fullmatch(national) is not None


class _Plan(NamedTuple):
    """One region's metadata as ``_number_type_helper`` reads it: the general description, and
    the type descriptions any of which makes a number of a known type."""

    general: _Desc | None
    types: tuple[_Desc, ...]

    def known_type(self, national: str) -> bool:
        """``_number_type_helper(national, metadata) != PhoneNumberType.UNKNOWN``."""
        if self.general is None or not self.general.matches(national):
            return False
        return any(desc.matches(national) for desc in self.types)


def _desc(desc: Any) -> _Desc | None:
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return _Desc(frozenset(desc.possible_length), re.compile(pattern) if pattern else None)


def _plan(metadata: PhoneMetadata) -> _Plan:
    # The order of _number_type_helper; mobile counts apart only when its pattern differs.
    names = [
        "premium_rate",
        "toll_free",
        "shared_cost",
        "voip",
        "personal_number",
        "pager",
        "uan",
        "voicemail",
        "fixed_line",
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        names.append("mobile")
    types = tuple(d for n in names if (d := _desc(getattr(metadata, n))) is not None)
    return _Plan(_desc(metadata.general_desc), types)


class _CodePlan(NamedTuple):
    """What ``is_valid_number`` needs for one country calling code."""

    # region_code_for_number: each region's leading digits (None: ask its type plan instead).
    candidates: tuple[tuple[str, re.Pattern[str] | None, _Plan], ...]
    # is_valid_number_for_region: per region, None when it refuses the code, else its plan.
    final: dict[str, _Plan | None]


@cache
def _code_plan(country_code: int) -> _CodePlan | None:
    """The precompiled metadata of ``country_code``; None when something is unexpected."""
    regions = _pnu.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None
    try:
        candidates = []
        final: dict[str, _Plan | None] = {}
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is not None:
                leading = metadata.leading_digits
                candidates.append(
                    (region, None if leading is None else re.compile(leading), _plan(metadata))
                )
            chosen = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
            refused = chosen is None or (
                region != _NON_GEO and country_code != _pnu.country_code_for_valid_region(region)
            )
            final[region] = None if refused or chosen is None else _plan(chosen)
    except Exception:  # metadata this mirror does not expect: let phonenumbers decide
        return None
    return _CodePlan(tuple(candidates), final)


_NON_GEO: Final = "001"


def _valid_national(country_code: int, national: str) -> bool | None:
    """``phonenumbers.is_valid_number`` of this code and national significant number; None
    when the metadata is not what this mirror expects."""
    plan = _code_plan(country_code)
    if plan is None:
        return None
    if len(plan.final) == 1:
        (region,) = plan.final
    else:  # region_code_for_number → _region_code_for_number_from_list
        found = None
        for candidate, leading, types in plan.candidates:
            if leading is not None:
                if leading.match(national):
                    found = candidate
                    break
            elif types.known_type(national):
                found = candidate
                break
        if found is None:
            return False
        region = found
    chosen = plan.final.get(region)
    return chosen is not None and chosen.known_type(national)
