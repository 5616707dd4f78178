"""Runtime pydantic models per entity, compiled from the strategy, that validate and normalise.

Every field type has one normaliser that turns an incoming value (JSON, a CSV cell, a Python
object) into its canonical form, and gives the canonical form back unchanged (idempotent):

    string, text   str, outer whitespace stripped; a string is one line of at most 255 chars
    email          lower-cased, checked for one ``@`` and a dotted domain
    phone          E.164 (``+358401234567``) via ``phonenumbers``; the default region is the
                   controller's jurisdiction, so ``040 123 4567`` reads as a Finnish number
    integer        int (``"42"`` accepted; booleans and fractions refused)
    decimal        Decimal, at most 11 integer and 4 fractional digits, trailing zeros dropped
    boolean        bool (``true/false/yes/no/1/0`` accepted as text)
    date           datetime.date from ``YYYY-MM-DD``
    datetime       timezone-aware datetime in UTC; a naive time is refused (say which zone)
    enum           one of the declared values (case-insensitive on input)
    country        ISO 3166-1 alpha-2 via ``pycountry`` (``FIN``, ``Finland``, ``fi`` → ``FI``)
    postal_code    upper-cased, single spaces, 2-10 letters, digits, spaces or hyphens
    url            http(s) with a host; scheme and host lower-cased

Models refuse unknown fields. Errors name ``entity.field`` and say what to do.

:meth:`RuntimeModels.validate_many` is the bulk form of :meth:`RuntimeModels.validate`: the same
normalisers, results and messages, without a pydantic model per row, and each distinct text of a
field normalised once per batch. Phone numbers go through :func:`schemas.phones.phone_e164`:
parsed once per distinct text, and strict E.164 without ``phonenumbers.parse``'s generic text
scanning (the result is the same; see there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Annotated, Any, Final, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pycountry
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from kernel.errors import ValidationFailed
from schemas.enums import FieldType
from schemas.models import FieldSpec, Strategy
from schemas.phones import phone_e164

__all__ = [
    "DECIMAL_FRACTION_DIGITS",
    "DECIMAL_INTEGER_DIGITS",
    "STRING_MAX",
    "RecordModel",
    "RuntimeModels",
    "build_models",
    "canonical_decimal",
    "normalise",
    "to_text",
]

STRING_MAX = 255
"""Longest ``string`` value; longer free text is a ``text`` field."""
DECIMAL_INTEGER_DIGITS = 11
"""Digits before the decimal point a ``decimal`` may have (15 in all: exact on SQLite too)."""
DECIMAL_FRACTION_DIGITS = 4
"""Digits after the decimal point a ``decimal`` may have."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
_POSTAL = re.compile(r"^[A-Z0-9](?:[A-Z0-9 -]{0,8}[A-Z0-9])?$")
_TRUE = frozenset({"true", "yes", "1", "y", "on"})
_FALSE = frozenset({"false", "no", "0", "n", "off"})


class RecordModel(BaseModel):
    """Base of every runtime model: unknown fields refused, values normalised on the way in."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ── normalisers: value → canonical value, or ValueError saying what to do ──────────────────


def _text(value: Any, *, one_line: bool) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    out = value.strip()
    if not out:
        raise ValueError("is empty: leave the field out instead")
    if one_line:
        if "\n" in out or "\r" in out:
            raise ValueError("has a line break: a string field is one line (use a text field)")
        if len(out) > STRING_MAX:
            raise ValueError(f"is longer than {STRING_MAX} characters (use a text field)")
    return out


def _email(value: Any) -> str:
    out = _text(value, one_line=True).lower()
    if len(out) > 254 or not _EMAIL.match(out):
        raise ValueError(f"{out!r} is not an email address: write e.g. name@example.fi")
    return out


def _phone(value: Any, *, region: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _text(value, one_line=True)
    e164 = phone_e164(text, region)
    if e164 is None:
        raise ValueError(
            f"{text!r} is not a valid phone number: write it with the country code, "
            f"e.g. +358 40 123 4567 (numbers without one are read as {region})"
        )
    return e164


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
        return int(value)
    raise ValueError(f"{value!r} is not a whole number")


def canonical_decimal(value: Decimal) -> Decimal:
    """``Decimal('10.50')`` → ``Decimal('10.5')``; ``Decimal('1E+1')`` → ``Decimal('10')``."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a number, got true/false")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int | float):
            number = Decimal(str(value))
        elif isinstance(value, str):
            text = value.strip()
            if text.count(",") == 1 and "." not in text:  # Finnish decimal comma: 149,90
                text = text.replace(",", ".")
            number = Decimal(text)
        else:
            raise ValueError(f"expected a number, got {type(value).__name__}")
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number: write e.g. 149.90") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    number = canonical_decimal(number)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > DECIMAL_FRACTION_DIGITS:
        raise ValueError(f"{value!r} has more than {DECIMAL_FRACTION_DIGITS} decimal places")
    if abs(number) >= Decimal(10) ** DECIMAL_INTEGER_DIGITS:
        raise ValueError(f"{value!r} is too large (at most {DECIMAL_INTEGER_DIGITS} digits)")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"{value!r} is not true or false")


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError("expected a date without a time: write YYYY-MM-DD")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date: write YYYY-MM-DD, e.g. 2026-04-15")


def _datetime(value: Any) -> datetime:
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        raise ValueError(
            f"{value!r} is not a date and time: write ISO 8601, e.g. 2026-04-15T09:30:00+03:00"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{value!r} has no time zone: add one, e.g. 2026-04-15T09:30:00+03:00 or …Z for UTC"
        )
    return moment.astimezone(UTC)


def _enum(value: Any, *, values: tuple[str, ...]) -> str:
    if isinstance(value, str):
        word = value.strip()
        if word in values:
            return word
        folded = {v.casefold(): v for v in values}
        if word.casefold() in folded:
            return folded[word.casefold()]
    raise ValueError(f"{value!r} is not one of {', '.join(values)}")


def _country(value: Any) -> str:
    text = _text(value, one_line=True)
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        raise ValueError(
            f"{text!r} is not a country: write an ISO 3166-1 code such as FI or SE"
        ) from None
    return str(country.alpha_2)


def _postal_code(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError('write a postal code as text, so leading zeros stay (e.g. "00100")')
    text = " ".join(_text(value, one_line=True).upper().split())
    if not _POSTAL.match(text):
        raise ValueError(f"{text!r} is not a postal code: 2-10 letters, digits, spaces or '-'")
    return text


def _url(value: Any) -> str:
    text = _text(value, one_line=True)
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{text!r} is not a web address: write e.g. https://example.fi/page")
    netloc = parts.netloc.rsplit("@", 1)
    netloc[-1] = netloc[-1].lower()
    return urlunsplit(
        (parts.scheme.lower(), "@".join(netloc), parts.path, parts.query, parts.fragment)
    )


def _normaliser(spec: FieldSpec, *, region: str) -> Callable[[Any], Any]:
    match spec.type:
        case FieldType.STRING:
            return partial(_text, one_line=True)
        case FieldType.TEXT:
            return partial(_text, one_line=False)
        case FieldType.EMAIL:
            return _email
        case FieldType.PHONE:
            return partial(_phone, region=region)
        case FieldType.INTEGER:
            return _integer
        case FieldType.DECIMAL:
            return _decimal
        case FieldType.BOOLEAN:
            return _boolean
        case FieldType.DATE:
            return _date
        case FieldType.DATETIME:
            return _datetime
        case FieldType.ENUM:
            return partial(_enum, values=tuple(spec.values or ()))
        case FieldType.COUNTRY:
            return _country
        case FieldType.POSTAL_CODE:
            return _postal_code
        case FieldType.URL:
            return _url
    raise AssertionError(spec.type)  # pragma: no cover - the enum is closed


_PYTHON_TYPE: dict[FieldType, type] = {
    FieldType.INTEGER: int,
    FieldType.DECIMAL: Decimal,
    FieldType.BOOLEAN: bool,
    FieldType.DATE: date,
    FieldType.DATETIME: datetime,
}


def normalise(spec: FieldSpec, value: Any, *, region: str = "FI") -> Any:
    """The canonical form of ``value`` for a field of ``spec``; ValueError says what is wrong."""
    return _normaliser(spec, region=region)(value)


def to_text(spec: FieldSpec, value: Any) -> str:
    """A canonical value as text (for encryption at rest); :func:`normalise` reads it back."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ── models ───────────────────────────────────────────────────────────────────────────────────


def _model(
    entity: str,
    fields: Mapping[str, FieldSpec],
    *,
    region: str,
    partial_: bool,
) -> type[RecordModel]:
    definitions: dict[str, Any] = {}
    for name, spec in fields.items():
        py_type = _PYTHON_TYPE.get(spec.type, str)
        annotated = Annotated[py_type, BeforeValidator(_normaliser(spec, region=region))]  # type: ignore[valid-type]
        description = f"{entity}.{name}: {spec.type.value}, category {spec.category.value}"
        if spec.required and not partial_:
            definitions[name] = (annotated, Field(description=description))
        else:
            definitions[name] = (annotated | None, Field(default=None, description=description))
    model_name = "".join(p.capitalize() for p in entity.split("_")) + ("Update" if partial_ else "")
    return create_model(model_name, __base__=RecordModel, **definitions)


class _Field(NamedTuple):
    position: int
    normalise: Callable[[Any], Any]
    required: bool


class _Refused(NamedTuple):
    """A normaliser's refusal, cached like a result."""

    reason: str


_MISS: Final[Any] = object()


def _attempt(normaliser: Callable[[Any], Any], value: Any) -> Any:
    """The normalised value, or :class:`_Refused` with pydantic's wording of the reason."""
    try:
        return normaliser(value)
    except ValueError as exc:  # pydantic: "Value error, …", of which _failure keeps the rest
        return _Refused(str(exc))
    except AssertionError as exc:  # pydantic: "Assertion failed, …"
        return _Refused(f"Assertion failed, {exc}")


class RuntimeModels:
    """The runtime models of every entity: ``full`` for new records, ``partial`` for merges."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.region = strategy.controller.jurisdiction.upper()
        entities = strategy.system.entities
        self.full: dict[str, type[RecordModel]] = {
            name: _model(name, e.fields, region=self.region, partial_=False)
            for name, e in entities.items()
        }
        self.partial: dict[str, type[RecordModel]] = {
            name: _model(name, e.fields, region=self.region, partial_=True)
            for name, e in entities.items()
        }
        self._fields: dict[str, dict[str, _Field]] = {
            name: {
                field: _Field(i, _normaliser(spec, region=self.region), spec.required)
                for i, (field, spec) in enumerate(e.fields.items())
            }
            for name, e in entities.items()
        }

    def normaliser(self, entity: str, field: str) -> Callable[[Any], Any]:
        """The normaliser of ``entity.field`` (what :func:`normalise` applies), built once."""
        return self._fields[entity][field].normalise

    def validate(
        self, entity: str, values: Mapping[str, Any], *, partial: bool = False
    ) -> dict[str, Any]:
        """Normalised values of ``entity`` (only those given); ValidationFailed names each field.

        ``partial=True`` does not insist on required fields (an update of an existing record).
        """
        models = self.partial if partial else self.full
        model = models.get(entity)
        if model is None:
            raise ValidationFailed(
                f"unknown entity {entity!r}: the strategy declares {', '.join(sorted(models))}",
                entity=entity,
            )
        if not isinstance(values, Mapping):
            raise ValidationFailed(
                f"{entity}: values must be an object of field: value", entity=entity
            )
        given = {k: v for k, v in values.items() if v is not None}
        try:
            record = model.model_validate(given)
        except ValidationError as exc:
            raise _failure(entity, exc) from None
        return {k: getattr(record, k) for k in given}

    def validate_many(
        self, entity: str, rows: Iterable[Mapping[str, Any]], *, partial: bool = False
    ) -> list[dict[str, Any] | ValidationFailed]:
        """:meth:`validate` of each row, in order: its values, or the error it would raise.

        The same normalisers, values and messages (problems in the model's field order, then
        unknown fields as given), without building a pydantic model per row; a text value
        seen before in the same field reuses its result (normalisers are pure functions).
        """
        fields = self._fields.get(entity)
        if fields is None:
            declared = ", ".join(sorted(self._fields))
            raise ValidationFailed(
                f"unknown entity {entity!r}: the strategy declares {declared}", entity=entity
            )
        required = (
            [] if partial else [(f.position, name) for name, f in fields.items() if f.required]
        )
        # Per field: its position, its normaliser and the results of the texts seen so far.
        slots: dict[str, tuple[int, Callable[[Any], Any], dict[str, Any]]] = {
            name: (f.position, f.normalise, {}) for name, f in fields.items()
        }
        out: list[dict[str, Any] | ValidationFailed] = []
        for values in rows:
            if type(values) is not dict and not isinstance(values, Mapping):
                out.append(
                    ValidationFailed(
                        f"{entity}: values must be an object of field: value", entity=entity
                    )
                )
                continue
            clean: dict[str, Any] = {}
            refused: list[tuple[int, str, str]] | None = None
            unknown: list[str] | None = None
            for name, value in values.items():
                if value is None:
                    continue
                slot = slots.get(name)
                if slot is None:
                    unknown = [*(unknown or ()), name]
                    continue
                if type(value) is str:
                    result = slot[2].get(value, _MISS)
                    if result is _MISS:
                        result = slot[2][value] = _attempt(slot[1], value)
                else:
                    result = _attempt(slot[1], value)
                if type(result) is _Refused:
                    refused = [*(refused or ()), (slot[0], name, result.reason)]
                else:
                    clean[name] = result
            for position, name in required:
                if values.get(name) is None:
                    refused = [*(refused or ()), (position, name, "is required: give a value")]
            if refused or unknown:
                out.append(_problems(entity, refused or [], unknown or []))
            else:
                out.append(clean)
        return out


def _problems(
    entity: str,
    refused: list[tuple[int, str, str]],
    unknown: list[str],
) -> ValidationFailed:
    """The error :func:`_failure` makes of the same problems found by pydantic."""
    problems = [{"field": f"{entity}.{name}", "reason": why} for _, name, why in sorted(refused)]
    problems += [
        {"field": f"{entity}.{name}", "reason": _unknown_reason(entity)} for name in unknown
    ]
    message = "; ".join(f"{p['field']} {p['reason']}" for p in problems)
    return ValidationFailed(message, entity=entity, problems=problems)


def _unknown_reason(entity: str) -> str:
    return (
        f"is not a field of {entity}: the strategy does not declare it, so it may "
        "not be stored (declare it in 5-system.yaml with a use that needs it)"
    )


def _failure(entity: str, exc: ValidationError) -> ValidationFailed:
    problems: list[dict[str, str]] = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "?"
        if err["type"] == "extra_forbidden":
            why = _unknown_reason(entity)
        elif err["type"] == "missing":
            why = "is required: give a value"
        else:
            why = str(err["msg"]).removeprefix("Value error, ")
        problems.append({"field": f"{entity}.{field}", "reason": why})
    message = "; ".join(f"{p['field']} {p['reason']}" for p in problems)
    return ValidationFailed(message, entity=entity, problems=problems)


def build_models(strategy: Strategy) -> RuntimeModels:
    """The runtime models of ``strategy``'s entities."""
    return RuntimeModels(strategy)
