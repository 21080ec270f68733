"""Parser of ``nettop`` CSV logging output (``nettop -L N``), pure: text in, frames out.

Interface (used by the `nettop` live source and by `lagwatch analyze`)::

    frames = parse_nettop(text)          # list[NettopFrame]; CaptureError if not nettop CSV
    for frame in frames:                 # one frame per sample, in order
        frame.index                      # 0-based; frame 0 is cumulative (see below)
        for row in frame.rows:           # NettopRow, one per process
            row.pid, row.name, row.bytes_in, row.bytes_out, row.sockets
        frame.warnings                   # rows skipped, with their line numbers

For a live stream, :class:`NettopStreamParser` takes one line at a time and returns what the
line was (a header, a process row, a socket row, or nothing).

Format and quirks (../shared/fixtures/macos/PROVENANCE.md):

- Every sample starts with its own header line, e.g.
  ``time,,interface,state,bytes_in,bytes_out,rx_dupe,rx_ooo,re-tx,rtt_avg,...,arch,``.
  Columns are located by name in each header; the process column is the one with an empty
  name. With ``-J`` the time column disappears (and the header shrinks to the chosen columns);
  every line ends with a comma, i.e. an empty last field.
- Process rows read ``name.pid``: the pid follows the LAST dot (names hold dots:
  ``io.tailscale.ip.79391``). The name is cut to 15 bytes (15 characters in every capture
  seen, all ASCII; the kernel keeps names in bytes, lagwatch.kernel_names) and may end in a
  space (``Microsoft Edge .772``) or inside a UTF-8 character: ``name`` is stripped, without
  the half character, and ``name_truncated`` says it may be cut (judged on bytes).
- Without ``-P``, socket rows (``tcp4 a:p<->b:p``, ``udp6 *.5353<->*.*``; IPv6 puts a dot before
  the port) follow their process; they are attached to it as ``sockets``, never mistaken for a
  process even when the text after their last dot is all digits.
- ``rtt_avg`` carries a unit (``108.53 ms``): ``rtt_avg_ms``. Byte counts are plain integers
  with ``-x``; human forms (``1.5 MiB``) are read too.
- The first frame is cumulative (since each socket opened). Later frames are deltas when nettop
  runs with ``-d`` (what the live source does) and cumulative otherwise: the parser does not
  guess, consumers know the flags they used (see :func:`accumulate`).
- A capture cut mid-row keeps the whole rows before it (the cut row is skipped with a warning).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lagwatch import kernel_names
from lagwatch.parsers import numbers
from lagwatch.parsers.errors import CaptureError

NAME_WIDTH = kernel_names.NETTOP_NAME_BYTES  # nettop cuts process names to 15 bytes

_SOCKET = re.compile(r"^(?:tcp|udp|quic|raw|icmp)\d*\s|<->")
_UNIT_BYTES = {
    "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
    "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
}  # fmt: skip
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0}
_QUANTITY = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-zµ]*)\s*$")


@dataclass(slots=True)
class NettopSocket:
    """A socket row (only without ``-P``): ``proto local<->remote``."""

    description: str
    proto: str | None
    local: str | None
    remote: str | None
    interface: str | None
    state: str | None
    bytes_in: int | None
    bytes_out: int | None
    rtt_avg_ms: float | None
    line: int


@dataclass(slots=True)
class NettopRow:
    """A process row: bytes in and out (cumulative in frame 0; see the module docstring)."""

    pid: int
    name: str
    name_truncated: bool
    bytes_in: int | None
    bytes_out: int | None
    time: str | None  # "HH:MM:SS.ffffff" as printed (absent with -J)
    line: int
    extra: dict[str, str] = field(default_factory=dict)  # other columns, raw text
    sockets: list[NettopSocket] = field(default_factory=list)

    @property
    def bytes_total(self) -> int | None:
        if self.bytes_in is None and self.bytes_out is None:
            return None
        return (self.bytes_in or 0) + (self.bytes_out or 0)


@dataclass(slots=True)
class NettopFrame:
    index: int
    header_line: int
    columns: list[str]
    rows: list[NettopRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def cumulative(self) -> bool:
        """Frame 0 always counts since each socket opened."""
        return self.index == 0


def parse_bytes(text: str) -> int | None:
    """``"67044191"`` -> 67044191; ``"1.5 MiB"`` -> 1572864; empty -> None."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return numbers.parse_int(text)
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(f"not a byte count: {text!r}")
    unit = m.group(2).upper() or "B"
    if unit not in _UNIT_BYTES:
        raise ValueError(f"unknown byte unit in {text!r}")
    return int(numbers.bounded(float(m.group(1)) * _UNIT_BYTES[unit], text))


def parse_duration_ms(text: str) -> float | None:
    """``"108.53 ms"`` -> 108.53; ``"1.2 s"`` -> 1200.0; empty -> None."""
    text = text.strip()
    if not text:
        return None
    m = _QUANTITY.match(text)
    if m is None or (m.group(2) or "ms") not in _UNIT_MS:
        raise ValueError(f"not a duration: {text!r}")
    return numbers.bounded(float(m.group(1)) * _UNIT_MS[m.group(2) or "ms"], text)


def split_name_pid(text: str) -> tuple[str, int] | None:
    """``"Code Helper (Pl.51458"`` -> ("Code Helper (Pl", 51458): the pid follows the LAST
    dot. None when the text is not ``name.pid``."""
    head, dot, tail = text.rpartition(".")
    if not dot or not tail.isdigit() or not numbers.is_int(tail) or not head:
        return None
    return head, int(tail)


def read_name(raw_name: str) -> tuple[str, bool]:
    """A ``name`` as nettop printed it -> (name, may be cut). The text may come decoded with
    ``surrogateescape`` (the bytes survive) or with ``replace`` (a character cut in half reads
    U+FFFD at the end)."""
    data = raw_name.encode("utf-8", "surrogateescape")
    cut = kernel_names.may_be_cut(data, NAME_WIDTH)
    name = kernel_names.decode(data)
    if name.endswith("\ufffd"):
        name, cut = name[:-1], True
    return name.rstrip(), cut


def is_header(fields: list[str]) -> bool:
    return "bytes_in" in fields and "bytes_out" in fields


@dataclass(slots=True)
class _Layout:
    columns: list[str]
    name_col: int
    index: dict[str, int]


def _layout(fields: list[str]) -> _Layout | None:
    index = {name: i for i, name in enumerate(fields) if name}
    in_col = index["bytes_in"]
    name_col = next((i for i in range(in_col) if fields[i] == ""), None)
    if name_col is None:
        return None
    return _Layout(columns=fields, name_col=name_col, index=index)


class NettopStreamParser:
    """Line-at-a-time parser. ``feed(line, lineno)`` returns a :class:`NettopFrame` when the
    line starts a new frame, a :class:`NettopRow` or :class:`NettopSocket` for a data row, and
    None for anything else (blank lines, junk before the first header, skipped rows, which
    are recorded in ``warnings``)."""

    def __init__(self) -> None:
        self.frames = 0
        self.layout: _Layout | None = None
        self.frame: NettopFrame | None = None
        self.last_row: NettopRow | None = None
        self.warnings: list[str] = []  # damage outside any frame

    def _warn(self, message: str) -> None:
        (self.frame.warnings if self.frame is not None else self.warnings).append(message)

    def feed(self, line: str, lineno: int = 0) -> NettopFrame | NettopRow | NettopSocket | None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        # Stripping is safe for names too: a name cut to 15 characters keeps its trailing space
        # *inside* the field ("Microsoft Edge .772").
        fields = [f.strip() for f in line.split(",")]
        if is_header(fields):
            layout = _layout(fields)
            if layout is None:
                self._warn(f"line {lineno}: header without a process column, ignored")
                return None
            self.layout = layout
            self.frame = NettopFrame(index=self.frames, header_line=lineno, columns=fields)
            self.frames += 1
            self.last_row = None
            return self.frame
        if self.layout is None or self.frame is None:
            return None  # before the first header: not nettop data (yet)
        return self._row(fields, lineno)

    def _row(self, fields: list[str], lineno: int) -> NettopRow | NettopSocket | None:
        layout = self.layout
        assert layout is not None
        in_col, out_col = layout.index["bytes_in"], layout.index["bytes_out"]
        if len(fields) == 1:
            self._warn(f"line {lineno}: not a nettop row, skipped")
            return None
        # Rows have as many fields as their header (the trailing comma may be missing).
        if len(fields) < len(layout.columns) - 1 or len(fields) <= max(in_col, out_col):
            self._warn(f"line {lineno}: row cut short, skipped")
            return None
        label = fields[layout.name_col]
        try:
            bytes_in = parse_bytes(fields[in_col])
            bytes_out = parse_bytes(fields[out_col])
        except ValueError as exc:
            self._warn(f"line {lineno}: {exc}, row skipped")
            return None

        def col(name: str) -> str | None:
            i = layout.index.get(name)
            if i is None or i >= len(fields):
                return None
            return fields[i].strip() or None

        if _SOCKET.search(label):
            rtt_text = col("rtt_avg")
            try:
                rtt = parse_duration_ms(rtt_text) if rtt_text else None
            except ValueError:
                rtt = None
            proto, _, ends = label.partition(" ")
            local, _, remote = ends.partition("<->")
            socket = NettopSocket(
                description=label,
                proto=proto or None,
                local=local or None,
                remote=remote or None,
                interface=col("interface"),
                state=col("state"),
                bytes_in=bytes_in,
                bytes_out=bytes_out,
                rtt_avg_ms=rtt,
                line=lineno,
            )
            if self.last_row is not None:
                self.last_row.sockets.append(socket)
            return socket
        split = split_name_pid(label)
        if split is None:
            self._warn(f"line {lineno}: {label!r} is not name.pid, row skipped")
            return None
        raw_name, pid = split
        extra = {
            name: fields[i]
            for name, i in layout.index.items()
            if i < len(fields) and fields[i] and name not in ("time", "bytes_in", "bytes_out")
        }
        name, cut = read_name(raw_name)
        row = NettopRow(
            pid=pid,
            name=name,
            name_truncated=cut,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            time=col("time"),
            line=lineno,
            extra=extra,
        )
        self.frame.rows.append(row)  # type: ignore[union-attr]
        self.last_row = row
        return row


def parse_nettop(text: str) -> list[NettopFrame]:
    """Every frame of a nettop CSV capture. Raises :class:`CaptureError` when the text has no
    nettop header, or no process row survives."""
    parser = NettopStreamParser()
    frames: list[NettopFrame] = []
    first_data: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if first_data is None and line.strip():
            first_data = lineno
        item = parser.feed(line, lineno)
        if isinstance(item, NettopFrame):
            frames.append(item)
    if not frames:
        raise CaptureError(
            "not nettop CSV output: no header line with bytes_in and bytes_out "
            "(expected `nettop -L N` output)",
            line=first_data or 1,
        )
    if not any(frame.rows for frame in frames):
        raise CaptureError("nettop capture has no process rows", line=frames[-1].header_line)
    if parser.warnings:
        frames[0].warnings[:0] = parser.warnings
    return frames


def accumulate(frames: Iterable[NettopFrame], delta_mode: bool) -> dict[int, tuple[str, int]]:
    """Cumulative bytes (in + out) per pid after the given frames: (name, bytes).

    ``delta_mode``: nettop ran with ``-d``, so frames after the first are deltas to add; without
    it every frame restates totals, and the last one wins."""
    totals: dict[int, tuple[str, int]] = {}
    for frame in frames:
        for row in frame.rows:
            value = row.bytes_total
            if value is None:
                continue
            old = totals.get(row.pid)
            if delta_mode and not frame.cumulative and old is not None and old[0] == row.name:
                totals[row.pid] = (row.name, old[1] + value)
            else:
                totals[row.pid] = (row.name, value)
    return totals
