"""Process-provided text made safe for where lagwatch prints it.

A process picks its own name and command line (``prctl(PR_SET_NAME)``, exec through a renamed
file): it can put terminal escape sequences there (retitle the window, clear the screen, fake a
prompt), a newline that splits a log line into a forged one, or a spreadsheet formula. Every
name, user or command line lagwatch prints goes through one of these functions. Only the
standard library here: every layer may use it.

Escaping, not dropping: the reader still sees that a name holds ``\\x1b``. Bytes that are not
UTF-8 (a ``str`` decoded with ``surrogateescape``, or ``bytes``) are shown as ``\\xNN`` too.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

# C0 controls (NUL, BEL, BS, TAB, LF, CR, ESC...), DEL, C1 controls (0x80-0x9f: CSI, OSC... in
# 8-bit terminals), lone surrogates (undecodable bytes), and the Unicode characters that move
# or reorder text on screen (line/paragraph separators, bidi embeddings and isolates).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)

# A spreadsheet app treats a cell starting with one of these as a formula (OWASP "CSV
# injection"); a leading apostrophe makes it text in Excel, LibreOffice and Google Sheets.
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def for_terminal(text: str | bytes) -> str:
    """``text`` with every control, non-UTF-8 or text-moving character shown as an escape."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if _UNSAFE.search(text) is None:
        return text  # the common case, without building a new string
    return _UNSAFE.sub(_escape, text)


def for_log(text: str | bytes) -> str:
    """One log line's worth of ``text``: a newline in it can never start a forged line."""
    return for_terminal(text)


def tree_for_terminal(value: Any) -> Any:
    """A copy of ``value`` with every string inside (dict values, list and tuple items,
    dataclass fields) made safe to print; keys and other values are kept. For data a renderer
    lays out over many lines, where a newline in a name must not start a line of its own."""
    if isinstance(value, str | bytes):
        return for_terminal(value)
    if isinstance(value, dict):
        return {k: tree_for_terminal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(tree_for_terminal(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: tree_for_terminal(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def csv_cell(value: Any) -> Any:
    """A CSV cell: text made safe to print (CSV often goes to a terminal) and, when it would
    start a formula, prefixed with an apostrophe. Numbers and None are kept as they are."""
    if not isinstance(value, str):
        return value
    text = for_terminal(value)
    return "'" + text if text.startswith(_FORMULA_LEAD) else text


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`for_terminal` would escape."""
    return _UNSAFE.search(text) is not None


def refuse_control(text: str, what: str) -> str:
    """``text`` unchanged, or ValueError naming ``what`` when it holds a control character (or
    undecodable bytes): such a value must never be written into a config file line by line."""
    if has_control(text):
        raise ValueError(
            f"{what} contains a control character or bytes that are not UTF-8 "
            f"({for_terminal(text)}); refusing to write it into a service file"
        )
    return text
