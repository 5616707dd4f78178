"""The bulk path normalises exactly like the per-record models: same values, same messages."""

from __future__ import annotations

import random
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import ValidationFailed
from schemas import load_strategy, phones, runtime
from schemas.runtime import build_models
from tests.records.support import BUNDLED

_LOADED = load_strategy(BUNDLED).strategy
assert _LOADED is not None
STRATEGY = _LOADED
MODELS = build_models(STRATEGY)
COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_TYPES = [
    getattr(phonenumbers.PhoneNumberType, name)
    for name in (
        "FIXED_LINE",
        "MOBILE",
        "TOLL_FREE",
        "PREMIUM_RATE",
        "SHARED_COST",
        "VOIP",
        "PERSONAL_NUMBER",
        "PAGER",
        "UAN",
        "VOICEMAIL",
    )
]


def _examples() -> list[str]:
    """phonenumbers' own example number of every region and type, in E.164."""
    numbers = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in _TYPES
    ]
    numbers += [
        phonenumbers.example_number_for_non_geo_entity(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    return sorted(
        {
            phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
            for n in numbers
            if n is not None
        }
    )


EXAMPLES = _examples()


def _variants(number: str, rng: random.Random) -> list[str]:
    """Near misses of a valid number: a digit changed, added or dropped, a 0 after the code."""
    digits = number[1:]
    out = []
    for _ in range(12):
        d = list(digits)
        pick = rng.random()
        if pick < 0.4:
            d[rng.randrange(1, len(d))] = rng.choice("0123456789")
        elif pick < 0.6:
            d.insert(rng.randrange(1, len(d) + 1), rng.choice("0123456789"))
        elif pick < 0.8 and len(d) > 3:
            del d[rng.randrange(1, len(d))]
        else:
            d.insert(rng.randint(1, 3), "0")
        out.append("+" + "".join(d))
    return out


def test_strict_e164_numbers_of_every_region_and_type_read_as_phonenumbers_reads_them() -> None:
    """The E.164 fast path gives what phonenumbers gives, for real numbers and near misses."""
    rng = random.Random(20240501)
    checked = valid = 0
    for number in EXAMPLES:
        for text in [number, *_variants(number, rng)]:
            for region in ("FI", "US"):
                expected = phones.phone_full(text, region)
                assert phones.phone_e164.__wrapped__(text, region) == expected, text
                checked += 1
                valid += expected is not None
    assert valid > len(EXAMPLES)  # the comparison covers plenty of valid numbers
    assert checked > 20_000


@settings(max_examples=400, deadline=None)
@given(code=st.sampled_from(COUNTRY_CODES), rest=st.text("0123456789", min_size=1, max_size=14))
def test_any_plus_and_digits_reads_as_phonenumbers_reads_it(code: int, rest: str) -> None:
    """For any + and digits, the fast path agrees with a full parse (or defers to one)."""
    text = f"+{code}{rest}"
    assert phones.phone_e164.__wrapped__(text, "FI") == phones.phone_full(text, "FI")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.sampled_from(EXAMPLES),
        st.from_regex(r"\+?[0-9 ()-]{4,18}", fullmatch=True),
        st.sampled_from(
            [
                "040 123 4567",
                "+358 40 123 4567",
                "(09) 123 4567",
                "0401234567",
                "+3580401234567",
                "12",
                "+1 202 555 0143",
                "358401234567",
            ]
        ),
    )
)
def test_the_phone_cache_does_not_change_what_a_phone_number_normalises_to(text: str) -> None:
    """A cached normalisation (asked twice) equals a plain phonenumbers parse each time."""
    expected = phones.phone_full(text.strip(), "FI")
    for _ in range(2):
        if expected is None:
            with pytest.raises(ValueError, match="not a valid phone number"):
                runtime._phone(text, region="FI")
        else:
            assert runtime._phone(text, region="FI") == expected


# ── validate_many against validate ───────────────────────────────────────────────────────────

_VALUES: dict[str, list[Any]] = {
    "name": ["Anna", "  Ben  ", "", "x" * 300, "two\nlines", 7],
    "email": ["anna@example.fi", "ANNA@Example.fi", "not-an-email", " b@c.de ", 3],
    "phone": ["040 123 4567", "+358401234567", "12", 401234567, "+46 70 123 45 67", True],
    "branch": ["espoo", "VANTAA", "turku", None],
    "postal_code": ["02100", "sw1a 1aa", 2100, "!"],
    "customer_since": ["2026-04-15", "15.4.2026", None],
    "visited_at": ["2026-03-01T10:00:00+02:00", "2026-03-01T10:00:00", "yesterday"],
    "service_type": ["tyre_change", "Repair", "wash"],
    "amount_eur": ["89.90", "149,90", 12, 1.5, "1e3", "0.00001", "abc", True, "NaN"],
    "mileage_km": ["42", 42, 4.0, 4.5, "x", False],
    "satisfaction_score": [9, "10", None],
    "studded": ["yes", "no", 1, 2, "maybe"],
    "season": ["summer", "WINTER", "autumn"],
    "shoe_size": ["42"],
}


def _records(entity: str) -> st.SearchStrategy[dict[str, Any]]:
    names = [n for n in _VALUES if n in STRATEGY.index.entities[entity].fields]
    names.append("shoe_size")  # not a field of any entity
    return st.dictionaries(st.sampled_from(names), st.none(), max_size=len(names)).flatmap(
        lambda keys: st.fixed_dictionaries({k: st.sampled_from(_VALUES[k]) for k in keys})
    )


def _single(entity: str, values: dict[str, Any], partial: bool) -> dict[str, Any] | tuple:
    try:
        return MODELS.validate(entity, values, partial=partial)
    except ValidationFailed as exc:
        return ("error", exc.message, exc.context)


def _bulk(result: dict[str, Any] | ValidationFailed) -> dict[str, Any] | tuple:
    if isinstance(result, ValidationFailed):
        return ("error", result.message, result.context)
    return result


@settings(max_examples=150, deadline=None)
@given(
    entity=st.sampled_from(["customer", "visit", "tyre_storage"]),
    data=st.data(),
    partial=st.booleans(),
)
def test_validate_many_gives_each_record_what_validate_gives_it(entity, data, partial) -> None:
    """Values, their order and types, and every error message match the per-record model."""
    batch = data.draw(st.lists(_records(entity), max_size=8))
    results = MODELS.validate_many(entity, batch, partial=partial)
    assert len(results) == len(batch)
    for values, result in zip(batch, results, strict=True):
        expected = _single(entity, values, partial)
        got = _bulk(result)
        assert got == expected
        if isinstance(expected, dict):
            assert isinstance(got, dict)
            assert list(got) == list(expected)
            assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
