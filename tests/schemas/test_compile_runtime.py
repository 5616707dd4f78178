"""Runtime models validate and normalise values the way the strategy's field types say."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import ValidationFailed
from schemas import load_strategy
from schemas.enums import Category, FieldType
from schemas.models import FieldSpec
from schemas.runtime import build_models, normalise
from tests.records.support import BUNDLED

STRATEGY = load_strategy(BUNDLED).strategy
assert STRATEGY is not None
MODELS = build_models(STRATEGY)


def spec(ftype: FieldType, values: list[str] | None = None) -> FieldSpec:
    return FieldSpec(type=ftype, category=Category.DESCRIPTIVE, values=values)


@pytest.mark.parametrize(
    ("ftype", "given", "expected"),
    [
        (FieldType.EMAIL, "  Anna.Virtanen@Example.FI ", "anna.virtanen@example.fi"),
        (FieldType.PHONE, "040 123 4567", "+358401234567"),
        (FieldType.PHONE, "+46 70 123 45 67", "+46701234567"),
        (FieldType.COUNTRY, "Finland", "FI"),
        (FieldType.COUNTRY, "swe", "SE"),
        (FieldType.POSTAL_CODE, " 02920 ", "02920"),
        (FieldType.POSTAL_CODE, "sw1a  1aa", "SW1A 1AA"),
        (FieldType.URL, "HTTPS://Example.FI/Path?q=1", "https://example.fi/Path?q=1"),
        (FieldType.DECIMAL, "149,90", Decimal("149.9")),
        (FieldType.DECIMAL, 12, Decimal("12")),
        (FieldType.INTEGER, "42", 42),
        (FieldType.BOOLEAN, "yes", True),
        (FieldType.DATE, "2026-04-15", date(2026, 4, 15)),
        (FieldType.DATETIME, "2026-04-15T09:30:00+03:00", datetime(2026, 4, 15, 6, 30, tzinfo=UTC)),
    ],
)
def test_values_are_normalised_to_their_canonical_form(ftype, given, expected) -> None:
    """Each field type turns a value as people write it into one canonical form."""
    assert normalise(spec(ftype), given) == expected


@pytest.mark.parametrize(
    ("ftype", "given", "says"),
    [
        (FieldType.EMAIL, "not-an-email", "not an email address"),
        (FieldType.PHONE, "12", "not a valid phone number"),
        (FieldType.COUNTRY, "Atlantis", "not a country"),
        (FieldType.DATETIME, "2026-04-15T09:30:00", "no time zone"),
        (FieldType.DECIMAL, "1.23456", "decimal places"),
        (FieldType.INTEGER, True, "whole number"),
        (FieldType.URL, "ftp://example.fi", "not a web address"),
    ],
)
def test_bad_values_are_refused_with_what_to_do(ftype, given, says) -> None:
    """A value that does not fit its type is refused with a reason a person can act on."""
    with pytest.raises(ValueError, match=says):
        normalise(spec(ftype), given)


def test_enum_values_match_case_insensitively_but_are_stored_as_declared() -> None:
    """An enum accepts 'Winter' for 'winter' and refuses values it does not declare."""
    assert normalise(spec(FieldType.ENUM, ["summer", "winter"]), "Winter") == "winter"
    with pytest.raises(ValueError, match="not one of summer, winter"):
        normalise(spec(FieldType.ENUM, ["summer", "winter"]), "spring")


def test_unknown_fields_are_refused_naming_entity_and_field() -> None:
    """A field the strategy does not declare is refused, named as entity.field."""
    with pytest.raises(ValidationFailed) as caught:
        MODELS.validate(
            "customer", {"name": "Anna", "phone": "0401234567", "branch": "espoo", "shoe_size": 38}
        )
    assert "customer.shoe_size is not a field of customer" in caught.value.message
    assert caught.value.context["problems"][0]["field"] == "customer.shoe_size"


def test_required_fields_are_needed_for_new_records_but_not_for_updates() -> None:
    """A new customer needs its required fields; a partial update does not."""
    with pytest.raises(ValidationFailed, match=r"customer\.phone is required"):
        MODELS.validate("customer", {"name": "Anna", "branch": "espoo"})
    assert MODELS.validate("customer", {"name": "Anna"}, partial=True) == {"name": "Anna"}


_PHONES = st.sampled_from(["040 123 4567", "+358 50 765 4321", "0451234567", "+46701234567"])
_EMAILS = st.from_regex(r"[A-Za-z0-9._]{1,20}@[A-Za-z0-9]{1,10}\.(fi|com|SE)", fullmatch=True)
_DECIMALS = st.decimals(
    min_value=Decimal("-99999999999"),
    max_value=Decimal("99999999999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)
_MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5))]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.tuples(st.just(FieldType.PHONE), _PHONES),
        st.tuples(st.just(FieldType.EMAIL), _EMAILS),
        st.tuples(st.just(FieldType.DECIMAL), _DECIMALS),
        st.tuples(st.just(FieldType.DATETIME), _MOMENTS),
        st.tuples(
            st.just(FieldType.STRING),
            st.text(min_size=1, max_size=50).filter(
                lambda s: s.strip() and "\n" not in s and "\r" not in s
            ),
        ),
        st.tuples(st.just(FieldType.COUNTRY), st.sampled_from(["fi", "Sweden", "DEU", "EE"])),
        st.tuples(
            st.just(FieldType.POSTAL_CODE), st.from_regex(r"[0-9A-Za-z]{2,5}", fullmatch=True)
        ),
    )
)
def test_normalisation_is_idempotent(case) -> None:
    """Normalising a canonical value gives it back unchanged."""
    ftype, value = case
    once = normalise(spec(ftype), value)
    assert normalise(spec(ftype), once) == once
