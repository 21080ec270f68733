"""Numbers read from captured tool output, bounded.

What a tool prints fits in 64 bits; a damaged or hostile capture may hold anything. Each
reader here accepts ASCII digits only (``int`` would take "٣" or "1_000", ``float`` "nan" and
"1e999") with one optional leading minus, at most ``MAX_DIGITS`` of them, and gives a finite
number below ``LIMIT``; anything else is a ValueError, which the parsers turn into a warning for
that cell or row. A 400-digit count never becomes an OverflowError or an infinity later.
"""

from __future__ import annotations

import math
import re

MAX_DIGITS = 24  # a 64-bit counter has at most 20
LIMIT = 2.0**64  # larger than any counter, size or rate a tool prints

_INT = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")
_DECIMAL = re.compile(rf"-?(?:[0-9]{{1,{MAX_DIGITS}}}(?:\.[0-9]*)?|\.[0-9]+)")


def is_int(text: str, max_digits: int = MAX_DIGITS) -> bool:
    """Whether ``text`` is a plain integer ("12", "-2"; not "--2", "+3", "1e9")."""
    return _INT.fullmatch(text) is not None and len(text.lstrip("-")) <= max_digits


def parse_int(text: str) -> int:
    if not is_int(text):
        raise ValueError(f"not an integer: {text[:40]!r}")
    return int(text)


def parse_decimal(text: str) -> float:
    """A plain decimal ("12", "-0.5", ".5"; not "nan", "1e9" or 400 digits)."""
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"not a number: {text[:40]!r}")
    return float(text)


def bounded(value: float, text: str = "") -> float:
    """``value`` if finite and below LIMIT in size, else ValueError naming ``text``."""
    if not math.isfinite(value) or abs(value) >= LIMIT:
        raise ValueError(f"number out of range: {(text or str(value))[:40]!r}")
    return value


def scaled_int(number: str, factor: float, text: str = "") -> int:
    """``number`` x ``factor`` as an int ("1.5", 1024 -> 1536), bounded."""
    return int(bounded(parse_decimal(number) * factor, text or number))
