"""Masking by field type: a masked value stays useful to its reader and leaks nothing more.

    email              first letter and the domain            jaana@example.fi → j***@example.fi
    phone              the last 3 digits (2 when short)       +358 40 123 4567 → ***567
    name (identity)    initials                               Kari Virtanen → K. V.
    postal code        the area: first two characters         02920 → 02***
    identifier, or     its domain token (``token``), else     ABC-123 → h1.1.Xy…
      protect hmac/encrypt                                    [masked]
    date, datetime     year and month                         2026-03-14 → 2026-03
    integer, decimal   a 1-2-5 range bucket                   237.50 → [200, 500)
    everything else    a fixed [masked]

The rules apply top to bottom: an email or phone keeps its useful part even when it is
``protect: hmac`` (its reader needs the domain or the last digits, not a token). Whatever the
rule, the result is never the original value (checked last, whatever the input).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from access_policy.models import MaskedValue
from schemas.enums import Category, FieldType, Protect
from schemas.models import FieldSpec

__all__ = ["MASKED_TEXT", "TokenFunction", "bucket", "mask_value", "masked"]

MASKED_TEXT = "[masked]"
"""What a masked value becomes when nothing of it is useful to show."""

_MASKED_ALT = "[masked value]"  # for the one original that equals MASKED_TEXT

TokenFunction = Callable[[str], str]
"""Turns a value into its domain token (e.g. ``functools.partial(pseudonymiser.hmac, domain)``)."""

_TOKENISED_CATEGORIES = frozenset({Category.IDENTIFIER, Category.ONLINE_IDENTIFIER})


def mask_value(spec: FieldSpec, value: Any, *, token: TokenFunction | None = None) -> str | None:
    """The masked form of ``value`` of a field declared as ``spec`` (``None`` stays ``None``)."""
    if value is None:
        return None
    try:
        out = _mask(spec, value, token)
    except (ValueError, TypeError, ArithmeticError, InvalidOperation):
        out = MASKED_TEXT
    return _never_original(out, value)


def masked(value: str | None) -> dict[str, Any]:
    """The API form of a masked value: ``{"masked": true, "value": …}``."""
    return MaskedValue(value=value).model_dump()


def bucket(number: Decimal | float | int) -> str:
    """The 1-2-5 range a number falls in, as a half-open interval: ``237.5`` → ``[200, 500)``."""
    value = Decimal(str(number)) if not isinstance(number, Decimal) else number
    if not value.is_finite():
        raise ValueError("not a finite number")
    if value == 0:
        return "[0, 1)"
    magnitude = abs(value)
    exponent = math.floor(magnitude.log10())
    base = Decimal(10) ** exponent
    steps = (Decimal(1), Decimal(2), Decimal(5), Decimal(10))
    lower = upper = base
    for lo, hi in itertools.pairwise(steps):
        if base * lo <= magnitude < base * hi:
            lower, upper = base * lo, base * hi
            break
    else:  # log10 rounding put the magnitude just below the base
        lower, upper = base / 2, base
    if value < 0:
        return f"(-{_plain(upper)}, -{_plain(lower)}]"
    return f"[{_plain(lower)}, {_plain(upper)})"


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _mask(spec: FieldSpec, value: Any, token: TokenFunction | None) -> str:
    kind = spec.type
    text = value if isinstance(value, str) else str(value)
    if kind is FieldType.EMAIL:
        return _email(text)
    if kind is FieldType.PHONE:
        return _phone(text)
    if spec.category in _TOKENISED_CATEGORIES or spec.protect in (Protect.HMAC, Protect.ENCRYPT):
        return token(text) if token is not None else MASKED_TEXT
    if spec.category is Category.IDENTITY and kind is FieldType.STRING:
        return _initials(text)
    if kind is FieldType.POSTAL_CODE:
        return _postal(text)
    if kind in (FieldType.DATE, FieldType.DATETIME):
        return _year_month(value)
    if kind in (FieldType.INTEGER, FieldType.DECIMAL) and not isinstance(value, bool):
        return bucket(value if isinstance(value, int | float | Decimal) else Decimal(text))
    return MASKED_TEXT


def _email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return MASKED_TEXT
    return f"{local[0]}***@{domain}"


def _phone(text: str) -> str:
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 5:
        return MASKED_TEXT
    keep = 3 if len(digits) >= 8 else 2
    return "***" + "".join(digits[-keep:])


def _initials(text: str) -> str:
    parts = [p for p in text.replace("-", " ").split() if p]
    if not parts:
        return MASKED_TEXT
    return " ".join(f"{p[0].upper()}." for p in parts[:3])


def _postal(text: str) -> str:
    compact = text.strip()
    if len(compact) < 3:
        return MASKED_TEXT
    return compact[:2] + "*" * 3


def _year_month(value: Any) -> str:
    if isinstance(value, datetime | date):
        moment: date = value
    else:
        text = str(value)
        moment = (
            datetime.fromisoformat(text)
            if "T" in text or " " in text.strip()
            else date.fromisoformat(text)
        )
    return f"{moment.year:04d}-{moment.month:02d}"


def _never_original(out: str, value: Any) -> str:
    original = value if isinstance(value, str) else str(value)
    if out in (original, value):
        return _MASKED_ALT if out == MASKED_TEXT else MASKED_TEXT
    return out
