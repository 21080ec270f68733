"""Parser of macOS ``powermetrics`` text output.

- an optional preamble (Machine model, SMC/EFI version on Intel, OS version, Boot arguments,
  Boot time), then per sample ``*** Sampled system activity (<date>) (<ms>ms elapsed) ***``
  and sections; every N samples a ``*** Summary system activity ...`` block whose task table
  adds ``[total]`` bracket columns and a ``Dead`` Y/N column.
- the task table header names its columns (``samp ms/s``, ``GPU ms/s`` and ``Energy Impact``
  are optional); a column group like ``Wakeups (Intr, Pkg idle)`` holds one value per item.
- coalition rows (``--show-process-coalition``) leave User% and Deadlines blank and are
  followed by their member tasks indented by two spaces; markdown indentation of a whole
  capture is tolerated (positions are taken relative to the header line). A coalition is a
  group of processes, never a process: its rows become :class:`PmCoalition`.
- ``--show-all`` (older macOS) widens the table (disk bytes, pageins, packets and bytes in and
  out, GPU ms/s, a ``QOS (ms/s)`` caption over one column per QoS class, Energy Impact).
  Columns lagwatch has no field for are kept per task in ``extra`` (numbers, or the text as
  printed). Rows that leave columns blank (coalitions) are read by position: each value
  belongs to the column it stands under; a row whose last column is empty was cut.
- ``--show-initial-usage`` prints a ``*** Lifetime system activity`` block (0.00 ms elapsed,
  before the first sampled block): its table covers each task's life, not an interval, so the
  sample is kept with kind ``lifetime`` for consumers to set aside.
"""

from __future__ import annotations

import contextlib
import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lagwatch.parsers import numbers
from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.powermetrics_model import (
    ALL_TASKS_PID,
    DEAD_TASKS_PID,
    PmCapture,
    PmCoalition,
    PmSample,
    PmTask,
)

_N = r"(\d+(?:\.\d*)?|\.\d+)"  # a decimal number (".44" occurs too)
_SAMPLE_HEAD = re.compile(
    rf"^\*\*\* (Sampled|Summary|Lifetime) system activity \((.*?)\)"
    rf"(?: \({_N}\s*ms elapsed\))? \*\*\*$"
)
_SECTION = re.compile(r"^\*{3,4}\s*(.+?)\s*\*{3,4}$")
_PREAMBLE = re.compile(
    r"^(Machine model|SMC version|EFI version|OS version|Boot arguments|Boot time):\s*(.*)$"
)
_POWER = re.compile(rf"^(.+?) Power(?: \([^)]*\))?:\s*{_N}\s*(mW|W)$")
_INTEL_PKG = re.compile(rf"^Intel energy model derived package power \([^)]*\):\s*{_N}\s*W$")
_NET = re.compile(rf"^(in|out):\s+{_N} packets/s,\s+{_N} bytes/s")
_DISK = re.compile(rf"^(read|write):\s+{_N} ops/s\s+{_N} KBytes/s")
_BATTERY = re.compile(rf"^Battery: percent_charge:\s*{_N}")
_GPU_ACTIVE = re.compile(rf"^GPU (?:HW )?active residency:\s*{_N}%")
_GPU_IDLE = re.compile(rf"^GPU idle residency:\s*{_N}%")
_GPU_FREQ = re.compile(rf"^GPU (?:HW )?active frequency:\s*{_N} MHz")
_CLUSTER_ACTIVE = re.compile(rf"^([A-Z]\d*)-Cluster HW active residency:\s*{_N}%")
_TEMP = re.compile(rf"^(CPU|GPU) die temperature:\s*{_N} C")
_FAN = re.compile(rf"^Fan:\s*{_N} rpm")
_PRESSURE = re.compile(r"^Current pressure level:\s*(\S+)")
_GROUPS = re.compile(r"\S+(?: \S+)*")  # header column groups: words joined by single spaces
_ROW_TOKEN = re.compile(r"\[[^\]]*\]|\S+")
_NAME_ID = re.compile(r"(.*?\S)\s+(-?\d+)(?=\s)")
_DATE_FORMATS = ("%a %b %d %H:%M:%S %Y %z", "%a %b %d %H:%M:%S %Y")
_KINDS = {"Sampled": "sampled", "Summary": "summary", "Lifetime": "lifetime"}

# Header group (without its "/s" and "[total]" decorations) -> field name(s).
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "CPU ms": ("cpu_ms_per_s",),
    "samp ms": ("cpu_sample_ms_per_s",),
    "User%": ("user_percent",),
    "Deadlines": ("deadlines_short_per_s", "deadlines_medium_per_s"),
    "Wakeups": ("intr_wakeups_per_s", "idle_wakeups_per_s"),
    "GPU ms": ("gpu_ms_per_s",),
    "Energy Impact": ("energy_impact",),
    "Dead": ("dead",),
}
_KNOWN_FIELDS = frozenset(n for names in _TEXT_FIELDS.values() for n in names)
# --show-process-qos: a "QOS (ms/s)" caption, then one column per QoS class (Apple's Energy
# Efficiency Guide for Mac Apps, listing 10-10).
_QOS_COLUMNS = {
    "Default": "default", "Maint": "maintenance", "BG": "background", "Util": "utility",
    "Lgcy": "legacy", "U-Init": "user_initiated", "U-Intr": "user_interactive",
}  # fmt: skip
_QOS_PREFIX = "qos_ms_per_s:"
_POSITION_SLACK = 2  # columns a value may start left of its header (hand-pasted captures)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass(slots=True)
class _Table:
    indent: int
    id_pos: int
    fields: list[str]
    field_pos: dict[str, int]
    line: int
    # Header groups in order: (where it starts, the fields it holds; none for a caption).
    groups: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    rows: list[tuple[int, int, PmTask, bool]] = field(default_factory=list)  # line, rel indent


def _group_fields(group: str) -> tuple[str, ...]:
    """The fields one header group holds, in order."""
    label, _, items = group.partition("(")
    label = label.replace("[total]", "").strip()
    base = label[:-2] if label.endswith("/s") else label
    if base.upper() == "QOS" and "ms/s" in items:
        return ()  # a caption over the QoS columns that follow it
    if base in _QOS_COLUMNS:
        return (_QOS_PREFIX + _QOS_COLUMNS[base],)
    names = _TEXT_FIELDS.get(base)
    if names is not None:
        return names
    slug = _slug(base) or "column"
    parts = [_slug(item) for item in items.rstrip(")").split(",")] if items else []
    if len(parts) > 1:
        return tuple(f"{slug}_{part or i}" for i, part in enumerate(parts))
    return (slug,)


def parse_table_header(text: str, lineno: int) -> _Table | None:
    """The task table's header line -> its fields in order, or None if it is not one."""
    stripped = text.strip()
    if not stripped.startswith("Name") or "CPU ms/s" not in stripped:
        return None
    indent = len(text) - len(text.lstrip())
    groups = [(m.start(), m.group()) for m in _GROUPS.finditer(text)]
    if len(groups) < 3 or groups[0][1] != "Name" or groups[1][1] != "ID":
        return None
    fields: list[str] = []
    field_pos: dict[str, int] = {}
    table_groups: list[tuple[int, tuple[str, ...]]] = []
    for pos, group in groups[2:]:
        names = _group_fields(group)
        table_groups.append((pos, names))
        for name in names:
            field_pos.setdefault(name, pos)
            fields.append(name)
    return _Table(indent=indent, id_pos=groups[1][0], fields=fields, field_pos=field_pos,
                  line=lineno, groups=table_groups)  # fmt: skip


_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")  # float() would also take "nan", "1e9"


def _text_value(name: str, token: str) -> Any:
    if name == "dead":
        if token not in ("Y", "N"):
            raise ValueError(token)
        return token == "Y"
    if not _DECIMAL.fullmatch(token):
        if name in _KNOWN_FIELDS:
            raise ValueError(token)
        return token  # a column lagwatch does not read: kept as printed
    return numbers.parse_decimal(token)  # at most 24 digits: never an infinity


def _by_position(values: list[tuple[int, str]], table: _Table) -> list[tuple[str, str]] | None:
    """Each value is the column's whose header starts at or before it: (field, token) pairs;
    None when the values do not fit the header (more than a column holds, under a caption,
    or nothing under the last column: a row cut short)."""
    starts = [start - _POSITION_SLACK for start, _ in table.groups]
    filled: dict[int, list[str]] = {}
    for pos, token in values:
        g = bisect_right(starts, pos) - 1
        if g < 0:
            return None
        filled.setdefault(g, []).append(token)
    out: list[tuple[str, str]] = []
    for g, tokens in filled.items():
        names = table.groups[g][1]
        if len(tokens) > len(names):
            return None
        out.extend(zip(names, tokens, strict=False))
    last = max(g for g, (_, names) in enumerate(table.groups) if names)
    if last not in filled:
        return None
    return out


def parse_task_row(text: str, table: _Table, lineno: int) -> tuple[PmTask | None, bool, str]:
    """(task, some columns left blank, why_skipped)."""
    indent = len(text) - len(text.lstrip())
    id_pos = table.id_pos
    if len(text) > id_pos and text[id_pos - 1].isspace() and not text[id_pos].isspace():
        name, rest_at = text[indent:id_pos].strip(), id_pos
    else:  # a name longer than its column pushes the ID right
        m = _NAME_ID.match(text, indent)
        if m is None:
            return None, False, f"line {lineno}: no task ID, row skipped"
        name, rest_at = m.group(1).strip(), m.start(2)
    tokens = [(m.start(), m.group()) for m in _ROW_TOKEN.finditer(text, rest_at)]
    if not name or not tokens:
        return None, False, f"line {lineno}: row cut short, skipped"
    pid_text = tokens[0][1]
    if not numbers.is_int(pid_text, max_digits=12):  # not "--2": one sign at most
        return None, False, f"line {lineno}: no task ID, row skipped"
    pid = int(pid_text)
    values = [(pos, tok) for pos, tok in tokens[1:] if not tok.startswith("[")]
    fields = table.fields
    blank = False
    if len(values) == len(fields):
        pairs = [(f, tok) for f, (_, tok) in zip(fields, values, strict=True)]
    else:
        # Blank columns (a coalition row) or a cut row: place each value under its header.
        # Positions are the header's: rows share its indentation (member rows indent their
        # name, not their values).
        placed = _by_position(values, table) if len(values) < len(fields) else None
        if placed is None:
            return None, False, f"line {lineno}: row cut short or garbled, skipped"
        pairs, blank = placed, True
    task = PmTask(pid=pid, name=name, line=lineno)
    for fname, token in pairs:
        try:
            value = _text_value(fname, token)
        except ValueError:
            return None, False, f"line {lineno}: unreadable {fname} {token!r}, row skipped"
        if fname.startswith(_QOS_PREFIX):
            if isinstance(value, float):
                task.qos_ms_per_s = task.qos_ms_per_s or {}
                task.qos_ms_per_s[fname[len(_QOS_PREFIX) :]] = value
        elif fname in _KNOWN_FIELDS:
            setattr(task, fname, value)
        else:
            task.extra[fname] = value
    return task, blank, ""


def _parse_time(text: str) -> datetime | None:
    text = " ".join(text.split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _text_system(stripped: str, system: dict[str, Any]) -> None:
    read: dict[str, Any] = {}
    with contextlib.suppress(ValueError, OverflowError):  # a damaged figure is no figure
        _read_system_line(stripped, read)
    for key, value in read.items():  # nor is one no float holds (400 digits: an infinity)
        if not isinstance(value, float) or abs(value) < numbers.LIMIT:
            system[key] = value


def _read_system_line(stripped: str, system: dict[str, Any]) -> None:
    if m := _POWER.match(stripped):
        slug = re.sub(r"[^a-z0-9]+", "_", m[1].lower()).strip("_")
        system[f"{slug}_power_watts"] = float(m[2]) / (1000.0 if m[3] == "mW" else 1.0)
    elif m := _INTEL_PKG.match(stripped):
        system["package_power_watts"] = float(m[1])
    elif m := _NET.match(stripped):
        system[f"net_{m[1]}_packets_per_s"] = float(m[2])
        system[f"net_{m[1]}_bytes_per_s"] = float(m[3])
    elif m := _DISK.match(stripped):
        system[f"disk_{m[1]}_ops_per_s"] = float(m[2])
        system[f"disk_{m[1]}_kbytes_per_s"] = float(m[3])  # powermetrics' "KBytes"
    elif m := _BATTERY.match(stripped):
        system["battery_percent"] = float(m[1])
    elif m := _GPU_ACTIVE.match(stripped):
        system["gpu_active_percent"] = float(m[1])
    elif m := _GPU_IDLE.match(stripped):
        system["gpu_idle_percent"] = float(m[1])
    elif m := _GPU_FREQ.match(stripped):
        system["gpu_active_frequency_mhz"] = float(m[1])
    elif m := _CLUSTER_ACTIVE.match(stripped):
        system[f"{m[1].lower()}_cluster_active_percent"] = float(m[2])
    elif m := _TEMP.match(stripped):
        system[f"{m[1].lower()}_die_temperature_celsius"] = float(m[2])
    elif m := _FAN.match(stripped):
        system["fan_rpm"] = float(m[1])
    elif m := _PRESSURE.match(stripped):
        system["thermal_pressure"] = m[1]


class _TextParser:
    def __init__(self) -> None:
        self.capture = PmCapture(format="text", samples=[])
        self.sample: PmSample | None = None
        self.table: _Table | None = None
        self.first_content_line: int | None = None
        self.unread_seen: set[tuple[str, ...]] = set()

    def new_sample(self, kind: str, lineno: int) -> PmSample:
        self.end_table()
        self.sample = PmSample(index=len(self.capture.samples), line=lineno, kind=kind)
        self.capture.samples.append(self.sample)
        return self.sample

    def _note_unread_columns(self, table: _Table) -> None:
        """Say once which columns are kept per task but not ranked (their unit is not in
        their header: per second or per interval?)."""
        unread = tuple(
            f for f in table.fields if f not in _KNOWN_FIELDS and not f.startswith(_QOS_PREFIX)
        )
        if unread and unread not in self.unread_seen:
            self.unread_seen.add(unread)
            self.capture.warnings.append(
                f"line {table.line}: columns {', '.join(unread)} kept as printed, not ranked "
                "(their header states no unit)"
            )

    def end_table(self) -> None:
        table, self.table = self.table, None
        if table is None or self.sample is None:
            return
        sample = self.sample
        sample.has_task_table = True
        coalition_mode = any(rel > 0 for _, rel, _, _ in table.rows)
        current: PmCoalition | None = None
        seen: set[int] = set()
        for lineno, rel, task, blank in table.rows:
            if task.pid == ALL_TASKS_PID or task.name == "ALL_TASKS":
                sample.all_tasks = task
                current = None
            elif task.pid == DEAD_TASKS_PID or task.name == "DEAD_TASKS":
                sample.dead_tasks = task
                current = None
            elif coalition_mode and rel == 0:
                current = PmCoalition(
                    id=task.pid, name=task.name, line=lineno, cpu_ms_per_s=task.cpu_ms_per_s,
                    intr_wakeups_per_s=task.intr_wakeups_per_s,
                    idle_wakeups_per_s=task.idle_wakeups_per_s, gpu_ms_per_s=task.gpu_ms_per_s,
                    energy_impact=task.energy_impact,
                )  # fmt: skip
                sample.coalitions.append(current)
            elif blank:
                sample.warnings.append(f"line {lineno}: coalition row outside a coalition table")
            elif task.pid < 0:
                continue
            else:
                if current is not None and rel > 0:
                    task.coalition_id, task.coalition_name = current.id, current.name
                    current.tasks.append(task)
                if task.pid in seen:
                    sample.warnings.append(f"line {lineno}: pid {task.pid} listed twice")
                    continue
                seen.add(task.pid)
                sample.tasks.append(task)

    def feed(self, lineno: int, raw: str) -> None:
        text = raw.rstrip("\r\n").expandtabs()
        stripped = text.strip()
        if stripped and self.first_content_line is None:
            self.first_content_line = lineno
        if self.table is not None:
            if not stripped:
                self.end_table()
                return
            task, blank, why = parse_task_row(text, self.table, lineno)
            if task is None:
                assert self.sample is not None
                self.sample.warnings.append(why)
            else:
                rel = len(text) - len(text.lstrip()) - self.table.indent
                self.table.rows.append((lineno, rel, task, blank))
            return
        if m := _SAMPLE_HEAD.match(stripped):
            sample = self.new_sample(_KINDS[m[1]], lineno)
            sample.time_text = m[2]
            sample.time = _parse_time(m[2])
            elapsed = float(m[3]) / 1000.0 if m[3] else None
            sample.elapsed_s = elapsed if elapsed and math.isfinite(elapsed) else None
            return
        if (table := parse_table_header(text, lineno)) is not None:
            if self.sample is None or self.sample.has_task_table:
                self.new_sample("table", lineno)
            self.table = table
            self._note_unread_columns(table)
            return
        if m := _PREAMBLE.match(stripped):
            self.capture.machine[m[1].lower().replace(" ", "_")] = m[2].strip()
            return
        if _SECTION.match(stripped):
            return
        if stripped and self.sample is not None:
            _text_system(stripped, self.sample.system)


def parse_powermetrics_text(text: str) -> PmCapture:
    """Parse powermetrics' text output. Raises CaptureError when it holds no sample at all."""
    parser = _TextParser()
    lineno = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        parser.feed(lineno, line)
    parser.end_table()
    capture = parser.capture
    if not capture.samples:
        raise CaptureError(
            "not powermetrics text output (no '*** Sampled system activity' line and no "
            "'Name ID CPU ms/s ...' task table)",
            line=parser.first_content_line or max(lineno, 1),
        )
    return capture
