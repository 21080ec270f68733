"""Parser of macOS ``top`` output: logging mode (``top -l N``, or top writing to a pipe) and
pasted interactive screens, with any ``-stats`` column set.

A *block* is one sample: an optional header (``Processes:``, date, ``Load Avg:``, ``CPU usage:``,
``SharedLibs:``, ``MemRegions:``, ``PhysMem:``, ``VM:``, ``Networks:``, ``Disks:``) and a process
table. Quirks handled (see ../shared/fixtures/macos/PROVENANCE.md):

- Column widths are computed by top per sample from the content, so cells are cut at the
  positions of *this block's* header line; values are left-aligned under their header. top pads
  every cell to its column's width in *bytes* (strlen; top's logging.c), so a non-ASCII COMMAND
  shifts nothing when lines are sliced as bytes and each cell decoded afterwards. A cell may
  hold spaces (``Google Chrome He``, ``running ``, BOOSTS `` 0[0]``), so every word is assigned to
  the column whose header starts at or before it, never split on whitespace alone.
- COMMAND is the kernel's p_comm: at most 16 bytes, possibly cut inside a UTF-8 character; the
  cut character is dropped and ``TopRow.command_cut`` says the name may be longer
  (lagwatch.kernel_names).
- PID cells end with a one-character suffix (top's pid.c): ``*`` for a process of another CPU
  type than top itself (every native process when an x86_64 top runs under Rosetta), ``-`` for
  a 32-bit process on a 64-bit host, a space otherwise; the man page also names ``+``. It is
  kept in ``TopRow.pid_suffix``.
- Delta mode (``-d``/``-c d``): from the second sample on, counters and sizes are differences
  and may be zero or negative (``-16K``, ``2/-1`` threads); they are read as signed values
  (lagwatch.parsers.top_convert decides what they mean).
- Sizes ``B/K/M/G/T`` are binary multiples; a trailing ``+``/``-`` marks a value that rose or
  fell since the previous sample (in a first sample *every* counter carries ``+``) and is kept
  apart in ``TopRow.marks``; ``N/A`` is None; ``#TH`` and ``#WQ`` may read ``22/1``
  (total/running); BOOSTS reads ``*0[6]`` (``*`` = boosted now, boosts, ``[transitions]``).
- ``CPU usage:`` prints hundredths without zero padding: ``13.7%`` means 13.07 %.
- A row cut short (the capture was truncated, or a transcript tool elided it) is skipped with a
  warning; the whole rows before it are kept.
- Interactive captures may lack the header entirely and carry markdown indentation; lines are
  matched after stripping, positions are relative to the header line's own indentation.

The first block of a ``top -l`` run has no valid rates (top prints 0.0 %CPU and POWER there):
it is flagged ``first`` so consumers can report its rates as unknown.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from lagwatch import kernel_names
from lagwatch.parsers import numbers
from lagwatch.parsers.errors import CaptureError

# Every column header top knows (``-stats`` keys and their headers across macOS releases).
KNOWN_COLUMNS: frozenset[str] = frozenset(
    {
        "PID", "COMMAND", "%CPU", "%CPU_ME", "%CPU_OTHRS", "CSW", "TIME", "#TH", "#WQ", "#PORTS",
        "#MREGS", "#MREG", "MEM", "RPRVT", "RSHRD", "RSIZE", "PURG", "VSIZE", "VPRVT", "KPRVT",
        "KSHRD", "CMPRS", "PGRP", "PPID", "STATE", "UID", "FAULTS", "COW", "USER", "MSGSENT",
        "MSGRECV", "SYSBSD", "SYSMACH", "PAGEINS", "BOOSTS", "INSTRS", "CYCLES", "JETPRI",
        "IDLEW", "POWER", "ARCH", "REGION", "#SYSBSD", "#SYSMACH",
    }
)  # fmt: skip
SIZE_COLUMNS = frozenset(
    {"MEM", "RPRVT", "RSHRD", "RSIZE", "PURG", "VSIZE", "VPRVT", "KPRVT", "KSHRD", "CMPRS"}
)
INT_COLUMNS = frozenset(
    {
        "PID", "PGRP", "PPID", "UID", "#PORTS", "#MREGS", "#MREG", "FAULTS", "COW", "MSGSENT",
        "MSGRECV", "SYSBSD", "SYSMACH", "CSW", "PAGEINS", "IDLEW", "JETPRI",
    }
)  # fmt: skip
FLOAT_COLUMNS = frozenset({"%CPU", "%CPU_ME", "%CPU_OTHRS", "POWER"})
PAIR_COLUMNS = frozenset({"#TH", "#WQ"})  # "22/1": total / running
# Counters that only grow while a process lives (unless top runs in delta mode, -c d).
COUNTER_COLUMNS = frozenset(
    {"CSW", "PAGEINS", "IDLEW", "FAULTS", "COW", "MSGSENT", "MSGRECV", "SYSBSD", "SYSMACH"}
)

_SIZE_FACTORS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"(-?)(\d+(?:\.\d+)?)([BKMGTP])")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_WORD = re.compile(rb"\S+")
_DATE = re.compile(r"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)$")
_CLOCK = re.compile(r"\b(\d{1,2}:\d\d:\d\d)\s*$")
_COUNT_WORD = re.compile(r"(\d+) ([a-z]+)")
_N = r"(\d+(?:\.\d*)?|\.\d+)"  # a decimal number, as top prints them
_LOAD = re.compile(rf"Load Avg:\s*{_N},?\s+{_N},?\s+{_N}")
_CPU = re.compile(rf"CPU usage:\s*{_N}% user,\s*{_N}% sys,\s*{_N}% idle")
_SHLIBS = re.compile(r"SharedLibs:\s*(\S+) resident,\s*(\S+) data,\s*(\S+) linkedit")
_MEMREG = re.compile(
    r"MemRegions:\s*(\d+) total,\s*(\S+) resident,\s*(\S+) private,\s*(\S+) shared"
)
_PHYS = re.compile(r"PhysMem:\s*(\S+) used(?: \(([^)]*)\))?,\s*(\S+) unused")
_VM = re.compile(
    r"VM:\s*(\S+) vsize,\s*(\S+) framework vsize,\s*(\d+)\((\d+)\) swapins,"
    r"\s*(\d+)\((\d+)\) swapouts"
)
_NETS = re.compile(r"Networks:\s*packets:\s*(\d+)/(\S+) in,\s*(\d+)/(\S+) out")
_DISKS = re.compile(r"Disks:\s*(\d+)/(\S+) read,\s*(\d+)/(\S+) written")
_TIME_HMS = re.compile(r"(\d+):(\d\d):(\d\d)")
_TIME_MS = re.compile(r"(\d+):(\d\d)\.(\d\d)")
_TIME_HRS = re.compile(r"(\d+)\s*hrs")
_BOOSTS = re.compile(r"(\*?)(\d+)\[(\d+)\]")
_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")  # what top prints; float() would take "nan"


# --- cell values -------------------------------------------------------------------------------


def split_mark(text: str) -> tuple[str, str | None]:
    """``'316K+'`` -> ``('316K', '+')``: top's changed-since-last-sample marker."""
    if len(text) > 1 and text[-1] in "+-":
        return text[:-1], text[-1]
    return text, None


def parse_size(text: str) -> int:
    """``'4208K'`` -> 4308992. Binary multiples, as top prints them; a delta-mode ``'-16K'`` is
    negative. Raises ValueError."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    value = numbers.scaled_int(match.group(2), _SIZE_FACTORS[match.group(3)], text)
    return -value if match.group(1) else value


def parse_cpu_usage_percent(text: str) -> float:
    """A ``CPU usage:`` percentage. top prints the hundredths without zero padding, so a single
    digit after the point is hundredths: ``'13.7'`` is 13.07 (user+sys+idle then sum to 100)."""
    whole, _, frac = text.partition(".")
    if not numbers.is_int(whole) or not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a percentage: {text[:40]!r}")
    if len(frac) == 1:
        return int(whole) + int(frac) / 100
    return numbers.bounded(float(text), text)


def parse_time_ns(text: str) -> int:
    """TIME column: ``'06:34.87'`` (min:s.hundredths), ``'1:02:03'`` (h:min:s) or ``'123 hrs'``."""
    text = text.strip()
    if len(text) > numbers.MAX_DIGITS + 6:  # a time longer than any top prints is damage
        raise ValueError(f"not a CPU time: {text[:40]!r}")
    if m := _TIME_MS.fullmatch(text):
        return (int(m[1]) * 60 + int(m[2])) * 10**9 + int(m[3]) * 10**7
    if m := _TIME_HMS.fullmatch(text):
        return (int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])) * 10**9
    if m := _TIME_HRS.fullmatch(text):
        return int(m[1]) * 3600 * 10**9
    raise ValueError(f"not a CPU time: {text!r}")


Converter = Callable[[str], tuple[Any, "str | None"]]


def _text_cell(text: str) -> tuple[Any, str | None]:
    return text, None


def _size_cell(text: str) -> tuple[Any, str | None]:
    value, mark = split_mark(text)
    return parse_size(value), mark


def _int_cell(text: str) -> tuple[Any, str | None]:
    if text.isdigit() and text.isascii() and len(text) <= numbers.MAX_DIGITS:  # common, first
        return int(text), None
    value, mark = split_mark(text)
    return numbers.parse_int(value), mark


def _float_cell(text: str) -> tuple[Any, str | None]:
    value, mark = split_mark(text)
    if not _DECIMAL.fullmatch(value):
        raise ValueError(f"not a number: {value!r}")
    return numbers.bounded(float(value), value), mark


def _signed(text: str) -> int:
    return numbers.parse_int(text)


def _pair_cell(text: str) -> tuple[Any, str | None]:
    """``'22/1'`` (total/running; running is left out when none run) or, in delta mode,
    signed differences such as ``'2/-1'``."""
    value, mark = split_mark(text)
    total, _, running = value.partition("/")
    try:
        return (_signed(total), _signed(running) if running else None), mark
    except ValueError:
        raise ValueError(f"not a thread count: {value!r}") from None


def _time_cell(text: str) -> tuple[Any, str | None]:
    value, mark = split_mark(text)
    return parse_time_ns(value), mark


def _boosts_cell(text: str) -> tuple[Any, str | None]:
    m = _BOOSTS.fullmatch(text.rstrip("+").replace("+]", "]"))
    if m is None:
        raise ValueError(f"not a BOOSTS value: {text!r}")
    return (m[1] == "*", int(m[2]), int(m[3])), ("+" if "+" in text else None)


def _other_cell(text: str) -> tuple[Any, str | None]:
    """INSTRS, CYCLES and unknown columns: a plain integer if it is one, else the text."""
    value, mark = split_mark(text)
    if numbers.is_int(value) and value.isdigit():
        return int(value), mark
    return text, None


PID_SUFFIXES = "*-+"  # pid.c: "*" foreign CPU type, "-" 32-bit; "+" in the man page only


def parse_pid(text: str) -> tuple[int, str | None]:
    """A PID cell -> (pid, suffix): ``'412*'`` -> (412, '*'). Raises ValueError."""
    text = text.strip()
    suffix = None
    if text and text[-1] in PID_SUFFIXES:
        text, suffix = text[:-1], text[-1]
    if not text.isdigit() or not numbers.is_int(text):
        raise ValueError(f"not a PID: {text[:40]!r}")
    return int(text), suffix


def converter(column: str) -> Converter:
    """How to read a cell of ``column`` (chosen once per header line, not per cell)."""
    if column in ("COMMAND", "USER", "STATE", "ARCH", "REGION"):
        return _text_cell
    if column in SIZE_COLUMNS:
        return _size_cell
    if column in INT_COLUMNS:
        return _int_cell
    if column in FLOAT_COLUMNS:
        return _float_cell
    if column in PAIR_COLUMNS:
        return _pair_cell
    if column == "TIME":
        return _time_cell
    if column == "BOOSTS":
        return _boosts_cell
    return _other_cell


def parse_cell(column: str, text: str) -> tuple[Any, str | None]:
    """One table cell -> (value, +/- marker). ``N/A`` -> None. Raises ValueError."""
    text = text.strip()
    if text == "N/A":
        return None, None
    return converter(column)(text)


# --- data --------------------------------------------------------------------------------------


@dataclass(slots=True)
class TopRow:
    """One process row. ``values`` maps each column header to its parsed value (None for N/A);
    ``marks`` holds top's ``+``/``-`` changed markers by column."""

    line: int
    pid: int
    values: dict[str, Any]
    marks: dict[str, str] = field(default_factory=dict)
    # "*": another CPU type than top's; "-": 32-bit on a 64-bit host (pid.c); None: native
    pid_suffix: str | None = None
    command_cut: bool = False  # COMMAND filled p_comm's 16 bytes: the name may be longer

    def get(self, column: str) -> Any:
        return self.values.get(column)

    @property
    def command(self) -> str | None:
        return self.values.get("COMMAND")

    @property
    def cpu_percent(self) -> float | None:
        return self.values.get("%CPU")

    @property
    def power(self) -> float | None:
        return self.values.get("POWER")

    @property
    def memory_bytes(self) -> int | None:
        """MEM (the physical footprint) where shown, else the older RPRVT (resident private)."""
        mem = self.values.get("MEM")
        return mem if mem is not None else self.values.get("RPRVT")

    @property
    def threads(self) -> int | None:
        pair = self.values.get("#TH")
        return None if pair is None else pair[0]

    @property
    def threads_running(self) -> int | None:
        pair = self.values.get("#TH")
        return None if pair is None else pair[1]

    @property
    def state(self) -> str | None:
        return self.values.get("STATE")

    @property
    def time_ns(self) -> int | None:
        return self.values.get("TIME")


@dataclass(slots=True)
class TopBlock:
    """One sample of top. ``system`` holds the header figures with units in their names."""

    index: int
    line: int  # first line of the block (1-based)
    logging: bool  # logging-mode header (date line), i.e. `top -l` or top into a pipe
    first: bool  # first block of a `top -l` run: top printed no rates in it
    system: dict[str, Any] = field(default_factory=dict)
    date: datetime | None = None
    clock: str | None = None  # interactive mode's time of day, top right
    columns: list[str] = field(default_factory=list)
    column_starts: list[int] = field(default_factory=list)  # where each header starts
    table_line: int | None = None
    rows: list[TopRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    end_line: int = 0  # last non-blank line that belonged to the block


@dataclass(slots=True)
class TopCapture:
    blocks: list[TopBlock]
    warnings: list[str]


# --- header ------------------------------------------------------------------------------------


def _put_size(system: dict[str, Any], key: str, text: str) -> None:
    with contextlib.suppress(ValueError):
        system[key] = parse_size(text.rstrip(".,"))


def parse_header_line(text: str, system: dict[str, Any]) -> bool:
    """Read every header field present in ``text`` into ``system``. Interactive top packs
    several fields on one line, so each is searched anywhere. Returns whether any matched
    (a damaged number, e.g. thousands of digits, counts as no match)."""
    try:
        return _parse_header_line(text, system)
    except (ValueError, OverflowError):
        return False


def _parse_header_line(text: str, system: dict[str, Any]) -> bool:
    found = False
    if "Processes:" in text:
        found = True
        body = text.split("Processes:", 1)[1]
        for count, word in _COUNT_WORD.findall(body):
            key = "threads_total" if word == "threads" else f"processes_{word}"
            system[key] = int(count)
    if m := _LOAD.search(text):
        found = True
        with contextlib.suppress(ValueError):  # a load no float holds is damage: left out
            system["load_avg_1m"], system["load_avg_5m"], system["load_avg_15m"] = (
                numbers.bounded(float(m[1]), m[1]),
                numbers.bounded(float(m[2]), m[2]),
                numbers.bounded(float(m[3]), m[3]),
            )
    if m := _CPU.search(text):
        found = True
        for key, value in zip(("user", "sys", "idle"), m.groups(), strict=True):
            with contextlib.suppress(ValueError):
                system[f"cpu_{key}_percent"] = parse_cpu_usage_percent(value)
    if m := _SHLIBS.search(text):
        found = True
        for key, value in zip(("resident", "data", "linkedit"), m.groups(), strict=True):
            _put_size(system, f"sharedlibs_{key}_bytes", value)
    if m := _MEMREG.search(text):
        found = True
        system["memregions_total"] = int(m[1])
        for key, value in zip(("resident", "private", "shared"), m.groups()[1:], strict=True):
            _put_size(system, f"memregions_{key}_bytes", value)
    if m := _PHYS.search(text):
        found = True
        _put_size(system, "physmem_used_bytes", m[1])
        _put_size(system, "physmem_unused_bytes", m[3])
        for part in (m[2] or "").split(","):
            size, _, what = part.strip().partition(" ")
            if what:
                _put_size(system, f"physmem_{what.strip()}_bytes", size)
    if m := _VM.search(text):
        found = True
        _put_size(system, "vm_vsize_bytes", m[1])
        _put_size(system, "vm_framework_vsize_bytes", m[2])
        system["vm_swapins"], system["vm_swapouts"] = int(m[3]), int(m[5])
    if m := _NETS.search(text):
        found = True
        system["net_packets_in"], system["net_packets_out"] = int(m[1]), int(m[3])
        _put_size(system, "net_in_bytes", m[2])
        _put_size(system, "net_out_bytes", m[4])
    if m := _DISKS.search(text):
        found = True
        system["disk_reads"], system["disk_writes"] = int(m[1]), int(m[3])
        _put_size(system, "disk_read_bytes", m[2])
        _put_size(system, "disk_written_bytes", m[4])
    return found


def memory_total_bytes(system: dict[str, Any]) -> int | None:
    """Physical RAM as top's PhysMem line implies it (used + unused; rounded as top rounds)."""
    used, unused = system.get("physmem_used_bytes"), system.get("physmem_unused_bytes")
    if used is None or unused is None:
        return None
    return used + unused


def is_table_header(text: str) -> bool:
    words = text.split()
    if len(words) < 2 or "PID" not in words:
        return False
    known = sum(1 for w in words if w in KNOWN_COLUMNS)
    return known >= 2 and known * 10 >= len(words) * 6


# --- rows --------------------------------------------------------------------------------------


def line_bytes(text: str | bytes) -> bytes:
    """A line as the bytes top wrote: text decoded with ``surrogateescape`` round-trips exactly
    (column positions are byte offsets)."""
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def _cells_by_words(data: bytes, starts: list[int]) -> list[bytes | None]:
    """Each word belongs to the column whose header starts at or before it (values are
    left-aligned under their header); a column's words keep the spaces between them."""
    spans: list[tuple[int, int] | None] = [None] * len(starts)
    for m in _WORD.finditer(data):
        col = max(0, bisect_right(starts, m.start()) - 1)
        span = spans[col]
        spans[col] = (m.start() if span is None else span[0], m.end())
    return [None if s is None else data[s[0] : s[1]] for s in spans]


def _cells(data: bytes, starts: list[int]) -> list[bytes | None]:
    """Cut a row into cells at the header's column starts (byte offsets). top sizes every
    column to its widest value in bytes, so a value never crosses into the next column and
    plain slicing is exact; if one does (an edited paste), fall back to assigning words one by
    one."""
    n = len(data)
    for b in starts[1:]:
        if b >= n:
            break
        if data[b] != 0x20 and data[b - 1] != 0x20:
            return _cells_by_words(data, starts)
    bounds = [0, *starts[1:], None]
    return [data[a:b].strip() or None for a, b in pairwise(bounds)]


@dataclass(slots=True)
class _Layout:
    """A header line, read once: its columns, where they start (bytes), how to read each."""

    columns: list[str]
    starts: list[int]
    converters: list[Converter]

    @classmethod
    def of(cls, text: str | bytes) -> _Layout:
        words = list(_WORD.finditer(line_bytes(text)))
        columns = [m.group().decode("ascii", "replace") for m in words]
        return cls(columns, [m.start() for m in words], [converter(c) for c in columns])


def parse_row(
    text: str | bytes,
    layout: _Layout | list[str],
    starts: list[int] | None = None,
    lineno: int = 0,
) -> tuple[TopRow | None, str | None]:
    """(row, None) or (None, why it was skipped). ``layout`` may also be the column names,
    with ``starts`` their positions (byte offsets)."""
    if not isinstance(layout, _Layout):
        assert starts is not None
        layout = _Layout(list(layout), list(starts), [converter(c) for c in layout])
    columns = layout.columns
    raw_cells = _cells(line_bytes(text), layout.starts)
    if raw_cells[-1] is None:
        return None, f"line {lineno}: row cut short (no {columns[-1]} value), skipped"
    values: dict[str, Any] = {}
    marks: dict[str, str] = {}
    bad: list[str] = []
    pid: int | None = None
    suffix: str | None = None
    command_cut = False
    last = len(columns) - 1
    for col, (name, read, raw) in enumerate(
        zip(columns, layout.converters, raw_cells, strict=True)
    ):
        if raw is None or raw == b"N/A":
            values[name] = None
            continue
        if name == "COMMAND":  # the kernel's p_comm: cut at 16 bytes, maybe mid-character
            if raw.isascii():  # the common case, first
                values[name] = raw.decode("ascii")
                command_cut = len(raw) >= kernel_names.TOP_COMMAND_BYTES
            else:
                values[name] = kernel_names.decode(raw)
                command_cut = kernel_names.may_be_cut(raw, kernel_names.TOP_COMMAND_BYTES)
            continue
        cell = raw.decode("utf-8", "replace")
        try:
            if name == "PID":
                pid, suffix = parse_pid(cell)
                values[name] = pid
                continue
            value, mark = read(cell)
        except ValueError:
            if col == last:
                return None, f"line {lineno}: row cut short ({name} reads {cell!r}), skipped"
            bad.append(name)
            values[name] = None
            continue
        values[name] = value
        if mark:
            marks[name] = mark
    if pid is None or "PID" in bad:
        return None, f"line {lineno}: no valid PID, row skipped"
    if bad:
        # A damaged cell in the middle means the row is not what top printed: keep nothing.
        return None, f"line {lineno}: unreadable {', '.join(bad)}, row skipped"
    row = TopRow(line=lineno, pid=pid, values=values, marks=marks, pid_suffix=suffix)
    row.command_cut = command_cut
    return row, None


# --- the stream parser -------------------------------------------------------------------------


class TopStreamParser:
    """Incremental parser: ``feed(line)`` returns the blocks a line completed, ``flush()`` ends
    the current one (end of input, or the live reader saw top go quiet after a block)."""

    def __init__(self) -> None:
        self.lineno = 0
        self.warnings: list[str] = []
        self.first_content_line: int | None = None
        self._block: TopBlock | None = None
        self._state = "idle"  # idle | header | table | after
        self._layout: _Layout | None = None
        self._count = 0
        self._seen_logging = False

    @property
    def pending(self) -> TopBlock | None:
        return self._block

    def _finish(self) -> list[TopBlock]:
        block, self._block = self._block, None
        self._state = "idle"
        return [block] if block is not None else []

    def _start(self, logging: bool, lineno: int) -> None:
        first = logging and not self._seen_logging
        self._seen_logging = self._seen_logging or logging
        self._block = TopBlock(index=self._count, line=lineno, logging=logging, first=first)
        self._count += 1

    def feed(self, raw: str | bytes) -> list[TopBlock]:
        """One line, as bytes (what top wrote) or as text decoded with ``surrogateescape``
        (see :func:`line_bytes`); rows are sliced on bytes either way."""
        self.lineno += 1
        lineno = self.lineno
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "surrogateescape")
        text = raw.rstrip("\r\n")
        if "\x1b" in text:
            text = _ANSI.sub("", text)
        stripped = text.strip()
        if stripped and self.first_content_line is None:
            self.first_content_line = lineno
        done: list[TopBlock] = []
        if stripped.startswith("Processes:"):
            done = self._finish()
            clock = _CLOCK.search(stripped)
            # Interactive top ends this line with the time of day; logging mode prints a date
            # line instead. Logging mode is decided for good when that date line shows up.
            self._start(logging=False, lineno=lineno)
            assert self._block is not None
            self._block.clock = clock[1] if clock else None
            parse_header_line(stripped, self._block.system)
            self._state = "header"
        elif "PID" in stripped and is_table_header(stripped):
            if self._block is None or self._block.columns:
                done = self._finish()
                self._start(logging=False, lineno=lineno)
            assert self._block is not None
            self._layout = _Layout.of(text)
            self._block.columns = list(self._layout.columns)
            self._block.column_starts = list(self._layout.starts)
            self._block.table_line = lineno
            self._state = "table"
        elif self._state == "header":
            assert self._block is not None
            if m := _DATE.match(stripped):
                self._block.date = _date(m)
                if not self._block.logging and self._block.clock is None:
                    self._block.logging = True
                    self._block.first = not self._seen_logging
                    self._seen_logging = True
            elif stripped and not parse_header_line(stripped, self._block.system):
                self._block.warnings.append(f"line {lineno}: unrecognised header line ignored")
        elif self._state == "table":
            assert self._block is not None
            if not stripped:
                self._state = "after"
            else:
                assert self._layout is not None
                row, why = parse_row(text, self._layout, lineno=lineno)
                if row is not None:
                    self._block.rows.append(row)
                else:
                    self._block.warnings.append(str(why))
        elif stripped:
            where = self._block.warnings if self._block is not None else self.warnings
            where.append(f"line {lineno}: not top output, ignored")
        if self._block is not None and stripped:
            self._block.end_line = lineno
        return done

    def flush(self) -> TopBlock | None:
        done = self._finish()
        return done[0] if done else None


def _date(m: re.Match[str]) -> datetime | None:
    try:
        year, month, day, hour, minute, second = (int(g) for g in m.groups())
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def iter_lines(text: str) -> Iterable[str]:
    """Lines on '\\n' only (str.splitlines would also split on form feeds and U+2028)."""
    return text.split("\n")


def parse_top(text: str | bytes) -> TopCapture:
    """Parse a whole capture: bytes as read from the file (best: columns are byte offsets), or
    text. Raises CaptureError when it holds no top block at all."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    parser = TopStreamParser()
    blocks: list[TopBlock] = []
    for line in iter_lines(text):
        blocks.extend(parser.feed(line))
    last = parser.flush()
    if last is not None:
        blocks.append(last)
    if not blocks:
        raise CaptureError(
            "not top output (no 'Processes:' header line and no 'PID ...' column header)",
            line=parser.first_content_line or 1,
        )
    return TopCapture(blocks=blocks, warnings=parser.warnings)
