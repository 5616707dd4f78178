"""Masking by field type: useful to the reader, never the original value."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from access_policy import MASKED_TEXT, bucket, mask_value, masked
from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring
from schemas.enums import Category, FieldType, Protect
from schemas.models import FieldSpec


def spec(type_: str, category: str = "descriptive", protect: str = "none") -> FieldSpec:
    """A field declaration as the system step writes it."""
    return FieldSpec(type=type_, category=category, protect=protect)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        (spec("email", "contact"), "jaana.virtanen@example.fi", "j***@example.fi"),
        (spec("email", "contact", "hmac"), "kari@rengasvirtanen.fi", "k***@rengasvirtanen.fi"),
        (spec("email", "contact"), "not-an-email", MASKED_TEXT),
        (spec("phone", "contact", "hmac"), "+358 40 123 4567", "***567"),
        (spec("phone", "contact"), "040 12345", "***345"),
        (spec("phone", "contact"), "12345", "***45"),
        (spec("phone", "contact"), "112", MASKED_TEXT),
        (spec("string", "identity"), "Kari Virtanen", "K. V."),
        (spec("string", "identity"), "anna-liisa mäki", "A. L. M."),
        (spec("postal_code", "location"), "02920", "02***"),
        (spec("date", "behavioural"), date(2026, 3, 14), "2026-03"),
        (spec("date", "behavioural"), "2026-03-14", "2026-03"),
        (spec("datetime", "behavioural"), datetime(2026, 11, 2, 9, 30, tzinfo=UTC), "2026-11"),
        (spec("datetime", "behavioural"), "2026-03-14T09:30:00+00:00", "2026-03"),
        (spec("decimal", "financial"), Decimal("237.50"), "[200, 500)"),
        (spec("decimal", "financial"), "1999.99", "[1000, 2000)"),
        (spec("integer", "descriptive"), 5, "[5, 10)"),
        (spec("integer", "descriptive"), 0, "[0, 1)"),
        (spec("decimal", "financial"), Decimal("-7"), "(-10, -5]"),
        (spec("decimal", "descriptive"), Decimal("0.003"), "[0.002, 0.005)"),
        (spec("text", "health"), "pyörätuoli", MASKED_TEXT),
        (spec("enum", "location"), "espoo", MASKED_TEXT),
        (spec("boolean", "descriptive"), True, MASKED_TEXT),
        (spec("string", "descriptive"), "Volvo", MASKED_TEXT),
        (spec("string", "financial"), "INV-2026-0042", MASKED_TEXT),
    ],
)
def test_each_type_is_masked_to_its_useful_part(field: FieldSpec, value: Any, shown: str):
    assert mask_value(field, value) == shown


def test_identifiers_and_protected_fields_become_their_domain_token():
    """A plate (protect: encrypt) or an identifier shows as its token, the same every time."""
    tokens = Pseudonymiser(Keyring.ephemeral())
    plate = spec("string", "identifier", "encrypt")
    encrypt = partial(tokens.encrypt, "masked-reads")
    shown = mask_value(plate, "ABC-123", token=encrypt)
    assert shown is not None and shown.startswith("e1.")
    assert shown == mask_value(plate, "ABC-123", token=encrypt)
    assert tokens.reidentify("masked-reads", shown) == "ABC-123"
    hmac_field = spec("string", "descriptive", "hmac")
    hmac_token = mask_value(hmac_field, "loyal-42", token=partial(tokens.hmac, "masked-reads"))
    assert hmac_token is not None and hmac_token.startswith("h1.")
    assert mask_value(plate, "ABC-123") == MASKED_TEXT  # no token function: nothing shown


def test_absent_values_stay_absent():
    assert mask_value(spec("email", "contact"), None) is None


def test_masked_values_are_marked_for_api_responses():
    assert masked("j***@example.fi") == {"masked": True, "value": "j***@example.fi"}
    assert masked(None) == {"masked": True, "value": None}


def test_a_token_function_that_echoes_the_value_still_does_not_leak_it():
    assert mask_value(spec("string", "identifier"), "ABC-123", token=lambda v: v) == MASKED_TEXT


# ── properties ───────────────────────────────────────────────────────────────────────────────

specs = st.builds(
    FieldSpec,
    type=st.sampled_from(list(FieldType)),
    category=st.sampled_from(list(Category)),
    protect=st.sampled_from(list(Protect)),
)
values = st.one_of(
    st.text(),
    st.emails(),
    st.from_regex(r"\+?[0-9 *]{0,16}", fullmatch=True),
    st.from_regex(r"[A-Z]\. [A-Z]\.|[0-9]{2}\*\*\*|\[masked( value)?\]", fullmatch=True),
    st.integers(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)
tokens = st.one_of(st.none(), st.just(lambda v: v), st.just(lambda v: "tok:" + v[:3]))


@given(field=specs, value=values, token=tokens)
def test_masking_never_returns_the_original_value(field: FieldSpec, value: Any, token: Any):
    shown = mask_value(field, value, token=token)
    assert shown is not None
    assert shown != value
    assert shown != str(value)


@given(
    number=st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
    )
)
def test_a_bucket_holds_the_number_it_was_made_from(number: Decimal):
    text = bucket(number)
    match = re.fullmatch(r"([\[(])(-?[\d.]+), (-?[\d.]+)([\])])", text)
    assert match, text
    low, high = Decimal(match[2]), Decimal(match[3])
    if match[1] == "[":
        assert low <= number < high
    else:
        assert low < number <= high
