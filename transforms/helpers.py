"""Helpers that handlers call as globals inside the sandbox.

Each takes plain data and returns plain data (str or list of str), so nothing but the
function itself becomes reachable from handler code. Bad input raises ``TypeError`` or
``ValueError`` with a message that quotes the value, because that message is what the
person who wrote the handler sees.
"""

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

__all__ = [
    "HELPERS",
    "currency_exponent",
    "hubspot_date",
    "hubspot_datetime",
    "minor_to_decimal",
    "split_name",
    "url_quote",
]

# ISO 4217 minor-unit exponents that differ from the usual 2. Dodo amounts are "in the smallest
# currency unit" (PY-SDK `types/payment.py`), so a JPY amount of 500 is ¥500, not ¥5.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
FOUR_DECIMAL_CURRENCIES = frozenset({"CLF", "UYW"})
DEFAULT_EXPONENT = 2

# Longest digit string accepted as an amount; far beyond any real amount, well inside the
# interpreter's own 4300-digit limit on int/str conversion.
MAX_AMOUNT_DIGITS = 60

# A bare number at or above this is read as epoch milliseconds: 1e11 seconds is the year 5138,
# while 1e11 milliseconds is 1973.
EPOCH_MS_THRESHOLD = 100_000_000_000
# Longest digit string accepted as an epoch timestamp (milliseconds reach year 9999 in 15).
MAX_EPOCH_DIGITS = 20

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_EPOCH_DIGITS = re.compile(r"[+-]?[0-9]+")
_WHOLE_NUMBER = re.compile(r"([+-]?[0-9]+)(?:\.0*)?")


def minor_to_decimal(amount_minor: int | str, currency: str) -> str:
    """Turn an amount in the currency's smallest unit into a decimal string.

    ``minor_to_decimal(4999, "USD")`` is ``"49.99"``, ``(500, "JPY")`` is ``"500"`` and
    ``(12345, "KWD")`` is ``"12.345"``. The amount may be an int or a string holding a whole
    number, as Dodo sends dispute amounts.
    """
    exponent = currency_exponent(currency)
    minor = _whole_minor_units(amount_minor)

    # Whole-number arithmetic, so no amount is ever rounded, however large.
    sign = "-" if minor < 0 else ""
    major, fraction = divmod(abs(minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{major}"
    return f"{sign}{major}.{fraction:0{exponent}d}"


def currency_exponent(currency: str) -> int:
    """The number of decimal places of an ISO 4217 currency code (2 unless listed otherwise)."""
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a three-letter code like 'USD', got {currency!r}")
    code = currency.strip().upper()
    if not _CURRENCY_CODE.fullmatch(code):
        raise ValueError(f"currency must be a three-letter code like 'USD', got {currency!r}")

    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    if code in FOUR_DECIMAL_CURRENCIES:
        return 4
    return DEFAULT_EXPONENT


def split_name(full_name: str | None) -> list[str]:
    """Split a full name into ``[first, last]``: the first word, then everything after it.

    ``"Jane Mary Doe"`` gives ``["Jane", "Mary Doe"]``, ``"Cher"`` gives ``["Cher", ""]`` and
    ``None`` or ``""`` gives ``["", ""]``. Runs of whitespace become one space.
    """
    if full_name is None:
        return ["", ""]
    if not isinstance(full_name, str):
        raise TypeError(f"full_name must be a string or None, got {full_name!r}")

    words = full_name.split()
    if not words:
        return ["", ""]
    return [words[0], " ".join(words[1:])]


def hubspot_date(value: str | int | float | datetime) -> str:
    """The UTC calendar date of a timestamp, as ``"YYYY-MM-DD"``, for HubSpot ``date`` properties.

    HubSpot rejects ``date`` values that are not midnight UTC (INVALID_DATE), and a date string
    is always midnight. Accepts ISO 8601 text (``"2025-08-04T05:30:45.182629Z"``), epoch
    seconds or milliseconds.
    """
    return _to_utc(value).strftime("%Y-%m-%d")


def hubspot_datetime(value: str | int | float | datetime) -> str:
    """A timestamp as ISO 8601 UTC with milliseconds, like ``"2025-08-04T05:30:45.182Z"``.

    This is the form HubSpot ``datetime`` properties and ``hs_timestamp`` accept. Extra
    precision is truncated, never rounded, so the result never moves past the original instant.
    """
    moment = _to_utc(value)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def url_quote(value: str) -> str:
    """Percent-encode text for one URL path segment or query value.

    Everything except letters, digits and ``-._~`` is encoded, so ``"jane+1@example.com"``
    becomes ``"jane%2B1%40example.com"``. Use it when an email goes into a HubSpot URL.
    """
    if not isinstance(value, str):
        raise TypeError(f"url_quote needs a string, got {value!r}")
    return quote(value, safe="")


# The globals handed to the sandbox: name → function.
HELPERS: dict[str, Callable[..., Any]] = {
    "minor_to_decimal": minor_to_decimal,
    "split_name": split_name,
    "hubspot_date": hubspot_date,
    "hubspot_datetime": hubspot_datetime,
    "url_quote": url_quote,
}


def _whole_minor_units(amount_minor: object) -> int:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int | str):
        raise TypeError(
            f"amount_minor must be an int or a decimal string like '4999', got {amount_minor!r}"
        )
    if isinstance(amount_minor, int):
        return amount_minor

    # Digits only: exponent forms like "1e9999" would build enormous numbers.
    match = _WHOLE_NUMBER.fullmatch(amount_minor.strip())
    if match is None or len(match.group(1)) > MAX_AMOUNT_DIGITS:
        raise ValueError(
            f"amount_minor must be a whole number of minor units, got {amount_minor!r}"
        )
    return int(match.group(1))


def _to_utc(value: object) -> datetime:
    if isinstance(value, bool):
        raise TypeError(f"expected an ISO 8601 timestamp or epoch number, got {value!r}")
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp or epoch number, got {value!r}")

    text = value.strip()
    if _EPOCH_DIGITS.fullmatch(text):
        if len(text) > MAX_EPOCH_DIGITS:
            raise ValueError(f"epoch timestamp out of range: {value!r}")
        return _from_epoch(int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    return _as_utc(parsed)


def _from_epoch(number: int | float) -> datetime:
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"not a usable epoch timestamp: {number!r}")

    is_ms = abs(number) >= EPOCH_MS_THRESHOLD
    try:
        if isinstance(number, int):
            offset = timedelta(milliseconds=number) if is_ms else timedelta(seconds=number)
        else:
            offset = timedelta(seconds=number / 1000 if is_ms else number)
        return _EPOCH + offset
    except OverflowError:
        raise ValueError(f"epoch timestamp out of range: {number!r}") from None


def _as_utc(moment: datetime) -> datetime:
    # A timestamp without an offset is taken as UTC: Dodo always sends UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
