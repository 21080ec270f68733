"""A parser of ``ioreg`` text (``ioreg -l``, ``ioreg -r -c CLASS``, ``-d N``, ``-w 0``).

Each ``+-o NAME  <class CLASS, id 0x..., flags...>`` line starts an entry; the property lines
below it (``"key" = value``, inside ``{ }`` and behind the tree's ``|`` columns) fill its
properties. Values are parsed into Python (str, int, float, bool, bytes, list, dict), so a key is
read exactly: "In use system memory (driver)" is never mistaken for "In use system memory".
Captures feed the GPU aggregation (lagwatch.sources.gpu_clients) the same dicts the live
IORegistry reader returns.

How ioreg prints values (Apple's IOKitTools ioreg.c, ``cfshow``): a CFString in MacRoman
(``cfstringshow``: a string MacRoman cannot hold is printed empty), so read from a file's bytes a
string is decoded as MacRoman; CFData as hex, or as ``<"text">`` (``<"a","b">`` for strings
separated by NULs, zero padding left out) when it looks like ASCII text (``cfdatashow``), read
back as bytes either way.
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

    def __init__(self, text: str, macroman: bool = False) -> None:
        self.text = text
        self.pos = 0
        # The text is a file's bytes decoded with surrogateescape: strings are MacRoman.
        self.macroman = macroman

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
        if ch == "<" and self.text.startswith('<"', self.pos):
            return self.text_data()
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
                text = "".join(out)
                if self.macroman and not text.isascii():
                    return _raw(text).decode("mac_roman")
                return text
            out.append(ch)
            self.pos += 1
        raise IoregValueError("unterminated string")

    def text_data(self) -> bytes:
        """``<"a","b">``: CFData ioreg found to be text (bytes printed as they are, no escapes),
        NUL-separated strings."""
        parts = []
        self.pos += 1  # "<"
        while True:
            if not self.text.startswith('"', self.pos):
                raise IoregValueError('expected " in <"text"> data')
            end = self.text.find('"', self.pos + 1)
            while end >= 0 and not self.text.startswith(('",', '">'), end):
                end = self.text.find('"', end + 1)  # a quote inside the text
            if end < 0:
                raise IoregValueError('unterminated <"text"> data')
            parts.append(_raw(self.text[self.pos + 1 : end]))
            self.pos = end + 2
            if self.text[end + 1] == ">":
                return b"\0".join(parts)

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


def _raw(text: str) -> bytes:
    """The bytes ``text`` was decoded from (UTF-8, with surrogateescape for the rest)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate surrogateescape did not make
        return text.encode("utf-8", "replace")


def parse_ioreg_value(text: str, macroman: bool = False) -> Any:
    """One property value as ioreg prints it. ``macroman``: ``text`` is a file's bytes decoded
    with surrogateescape, whose strings ioreg wrote in MacRoman."""
    return _ValueParser(text, macroman).parse()


def parse_ioreg(text: str | bytes) -> tuple[list[IoregEntry], list[str]]:
    """Entries of ``ioreg`` output (with ``-l``/``-r``/``-c``; ``-w 0`` keeps lines whole),
    and warnings for property lines that could not be read (skipped). A capture cut short
    keeps the entries and properties read so far.

    Give a file's bytes when you can: strings are then decoded as ioreg wrote them (MacRoman,
    see the module docstring), so a name's length in UTF-8 bytes, which tells whether the kernel
    cut it (``IOUserClientCreator``, lagwatch.kernel_names), is its real one. Text is taken
    as already decoded."""
    macroman = isinstance(text, bytes)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
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
            current.properties[p.group("key")] = parse_ioreg_value(p.group("value"), macroman)
        except IoregValueError as exc:
            warnings.append(f"line {lineno}: {p.group('key')!r}: {exc}, skipped")
    return entries, warnings
