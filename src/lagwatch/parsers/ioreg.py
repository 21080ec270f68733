"""A parser of ``ioreg`` text (``ioreg -l``, ``ioreg -r -c CLASS``, ``-d N``, ``-w 0``).

Each ``+-o NAME  <class CLASS, id 0x..., flags...>`` line starts an entry; the property lines
below it (``"key" = value``, inside ``{ }`` and behind the tree's ``|`` columns) fill its
properties. Values are parsed into Python (str, int, float, bool, bytes, list, dict), so a key is
read exactly: "In use system memory (driver)" is never mistaken for "In use system memory".
Captures feed the GPU aggregation (lagwatch.sources.gpu_clients) the same dicts the live
IORegistry reader returns.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class IoregEntry:
    """One ``+-o NAME  <class CLASS, id 0x..., flags...>`` entry and its properties."""

    name: str
    class_name: str
    entry_id: int | None
    flags: list[str]
    depth: int  # column of "+-o": deeper entries are children
    line: int  # 1-based line of the "+-o"
    properties: dict[str, Any] = field(default_factory=dict)


_ENTRY = re.compile(
    r"^(?P<indent>[\s|]*)\+-o (?P<name>.*?)\s+<class (?P<cls>[^,>]+)(?P<rest>[^>]*)>"
)
_PROPERTY = re.compile(r'^\s*"(?P<key>(?:[^"\\]|\\.)*)"\s*=\s*(?P<value>.*?)\s*$')


class IoregValueError(ValueError):
    """A property value that is not in ioreg's syntax (a line cut short, a stray character)."""


class _ValueParser:
    """ioreg's value syntax: "str", 123, -4, 0x1f, 1.5, Yes/No, <hex data>, {"k"=v,...},
    (v,...). Unknown bare words are kept as strings."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Any:
        value = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise IoregValueError(f"unexpected {self.text[self.pos : self.pos + 20]!r}")
        return value

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def value(self) -> Any:
        self.skip()
        if self.pos >= len(self.text):
            raise IoregValueError("value missing")
        ch = self.text[self.pos]
        if ch == '"':
            return self.string()
        if ch == "{":
            return self.container("{", "}", keyed=True)
        if ch == "(":
            return self.container("(", ")", keyed=False)
        if ch == "<":
            end = self.text.find(">", self.pos)
            if end < 0:
                raise IoregValueError("unterminated <data>")
            hexdigits = self.text[self.pos + 1 : end].replace(" ", "")
            self.pos = end + 1
            try:
                return bytes.fromhex(hexdigits)
            except ValueError:
                return hexdigits
        return self.bare()

    def string(self) -> str:
        out = []
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise IoregValueError("unterminated string")

    def bare(self) -> Any:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)}=":
            self.pos += 1
        word = self.text[start : self.pos].strip()
        if not word:
            raise IoregValueError("empty value")
        if word == "Yes":
            return True
        if word == "No":
            return False
        try:
            return int(word, 0)
        except ValueError:
            pass
        try:
            return float(word)
        except ValueError:
            return word

    def container(self, open_ch: str, close_ch: str, keyed: bool) -> Any:
        self.pos += 1
        items: Any = {} if keyed else []
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == close_ch:
            self.pos += 1
            return items
        while True:
            if keyed:
                self.skip()
                if self.pos >= len(self.text) or self.text[self.pos] != '"':
                    raise IoregValueError("dictionary key missing")
                key = self.string()
                self.skip()
                if self.pos >= len(self.text) or self.text[self.pos] != "=":
                    raise IoregValueError(f"'=' missing after {key!r}")
                self.pos += 1
                items[key] = self.value()
            else:
                items.append(self.value())
            self.skip()
            if self.pos >= len(self.text):
                raise IoregValueError(f"unterminated {open_ch}")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == close_ch:
                return items
            if ch != ",":
                raise IoregValueError(f"',' or {close_ch!r} expected, got {ch!r}")


def parse_ioreg_value(text: str) -> Any:
    """One property value as ioreg prints it."""
    return _ValueParser(text).parse()


def parse_ioreg(text: str) -> tuple[list[IoregEntry], list[str]]:
    """Entries of ``ioreg`` output (with ``-l``/``-r``/``-c``; ``-w 0`` keeps lines whole),
    and warnings for property lines that could not be read (skipped). A capture cut short
    keeps the entries and properties read so far."""
    entries: list[IoregEntry] = []
    warnings: list[str] = []
    current: IoregEntry | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        m = _ENTRY.match(line)
        if m is not None:
            rest = [f.strip() for f in m.group("rest").split(",") if f.strip()]
            entry_id = None
            flags = []
            for item in rest:
                if item.startswith("id "):
                    with contextlib.suppress(ValueError):
                        entry_id = int(item[3:], 16)
                else:
                    flags.append(item)
            current = IoregEntry(
                name=m.group("name").strip(),
                class_name=m.group("cls").strip(),
                entry_id=entry_id,
                flags=flags,
                depth=len(m.group("indent")),
                line=lineno,
            )
            entries.append(current)
            continue
        body = line.lstrip(" |")
        if current is None or not body or body in ("{", "}"):
            continue
        p = _PROPERTY.match(body)
        if p is None:
            warnings.append(f"line {lineno}: not a property line, skipped")
            continue
        try:
            current.properties[p.group("key")] = parse_ioreg_value(p.group("value"))
        except IoregValueError as exc:
            warnings.append(f"line {lineno}: {p.group('key')!r}: {exc}, skipped")
    return entries, warnings
