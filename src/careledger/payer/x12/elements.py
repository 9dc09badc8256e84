"""Element-level checks and conversions shared by the X12 mappers (dates, amounts, quantities).

Each check returns ``None`` when the value is sound, else the IK403 code a 999 reports
(``6`` invalid character, ``8`` invalid date, ``4``/``5`` too short/long); conversions refuse
what the canonical model cannot hold (money that is not whole cents, fractional units).
"""

from __future__ import annotations

import re
from datetime import date

from careledger.payer.x12.errors import X12Error

_DECIMAL = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_D8 = re.compile(r"^\d{8}$")


def date_problem(value: str) -> str | None:
    """``None`` for a valid CCYYMMDD, else IK403 ``8``."""
    if not _D8.match(value):
        return "8"
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return "8"
    return None


def period_problem(qualifier: str, value: str) -> str | None:
    """Check a DTP03 against its DTP02 format qualifier (D8 or RD8)."""
    if qualifier == "D8":
        return date_problem(value)
    if qualifier == "RD8":
        start, _, end = value.partition("-")
        if date_problem(start) or date_problem(end) or end < start:
            return "8"
        return None
    return "7"


def decimal_problem(value: str) -> str | None:
    """``None`` for an X12 R (decimal) value, else IK403 ``6``."""
    return None if _DECIMAL.match(value) and len(value) <= 18 else "6"


def cents(value: str) -> int:
    """An X12 decimal amount as integer cents; sub-cent precision is refused."""
    if decimal_problem(value):
        raise X12Error("content", f"{value!r} is not an amount")
    negative = value.startswith("-")
    digits = value.lstrip("-")
    whole, _, frac = digits.partition(".")
    frac = frac.rstrip("0")
    if len(frac) > 2:
        raise X12Error("content", f"{value!r} has fractions of a cent")
    amount = int(whole or "0") * 100 + int(frac.ljust(2, "0"))
    return -amount if negative else amount


def whole_units(value: str) -> int:
    """An X12 quantity as whole units (``"1.00"`` → 1); fractional units are refused."""
    if decimal_problem(value) or value.startswith("-"):
        raise X12Error("content", f"{value!r} is not a quantity")
    whole, _, frac = value.partition(".")
    if frac.strip("0"):
        raise X12Error("content", f"fractional units {value!r}")
    return int(whole or "0")


def iso(d8: str) -> str:
    """CCYYMMDD → YYYY-MM-DD (checked by the caller)."""
    return f"{d8[:4]}-{d8[4:6]}-{d8[6:]}"


def d8(iso_date: str) -> str:
    """YYYY-MM-DD → CCYYMMDD."""
    return iso_date.replace("-", "")


def safe_cents(value: str) -> int | None:
    try:
        return cents(value)
    except X12Error:
        return None
