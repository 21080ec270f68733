"""Parsers of macOS ``powermetrics`` output: plist streams (``-f plist``) and the text format.

plist (see ../shared/fixtures/macos/PROVENANCE.md):
- one XML plist per sample, samples separated by a NUL byte right after ``</plist>\\n`` and
  none after the last; a last document cut short when powermetrics is killed keeps its complete
  task dictionaries; stray non-XML lines (stderr mixed in) and XML comments are stepped over;
  an unescaped ``&`` in a process name is escaped; keys with odd spaces/colons (Intel) are
  matched after normalising.
- tasks sit in ``coalitions[].tasks[]`` (``--show-process-coalition``) or in ``tasks[]``; the
  pseudo tasks ALL_TASKS (-2) and DEAD_TASKS (-1) are kept apart from the processes.
- each figure comes both as the amount over the interval (``cputime_ns``, ``intr_wakeups``,
  ``diskio_bytesread``, ``energy_impact``...) and as a rate (``..._per_s``, ``..._ms_per_s``).

text:
- an optional preamble (Machine model, SMC/EFI version on Intel, OS version, Boot arguments,
  Boot time), then per sample ``*** Sampled system activity (<date>) (<ms>ms elapsed) ***``
  and sections; every N samples a ``*** Summary system activity ...`` block whose task table
  adds ``[total]`` bracket columns and a ``Dead`` Y/N column.
- the task table header names its columns (``samp ms/s``, ``GPU ms/s`` and ``Energy Impact``
  are optional); a column group like ``Wakeups (Intr, Pkg idle)`` holds one value per item.
- coalition rows (``--show-process-coalition``) leave User% and Deadlines blank and are
  followed by their member tasks indented by two spaces; markdown indentation of a whole
  capture is tolerated (positions are taken relative to the header line).
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from lagwatch.parsers.errors import CaptureError

DEAD_TASKS_PID = -1
ALL_TASKS_PID = -2
QOS_CLASSES = (
    "disabled", "maintenance", "background", "utility", "default", "user_initiated",
    "user_interactive",
)  # fmt: skip


@dataclass(slots=True)
class PmTask:
    """One task (process) in one sample. Rates are per second of the sample's interval; the
    plain amounts (``intr_wakeups``, ``diskio_bytesread``...) are totals over that interval."""

    pid: int
    name: str
    line: int | None = None
    coalition_id: int | None = None
    coalition_name: str | None = None
    parent_pid: int | None = None
    responsible_pid: int | None = None
    started_abstime_ns: int | None = None
    interval_ns: int | None = None
    cpu_ms_per_s: float | None = None
    cpu_sample_ms_per_s: float | None = None  # "samp ms/s"
    user_percent: float | None = None
    deadlines_short_per_s: float | None = None  # timer wakeups with a deadline < 2 ms
    deadlines_medium_per_s: float | None = None  # 2-5 ms
    intr_wakeups_per_s: float | None = None  # every interrupt wakeup
    idle_wakeups_per_s: float | None = None  # the subset that woke a package from idle
    disk_read_bytes_per_s: float | None = None
    disk_write_bytes_per_s: float | None = None
    pageins_per_s: float | None = None
    net_rx_bytes_per_s: float | None = None
    net_tx_bytes_per_s: float | None = None
    net_rx_packets_per_s: float | None = None
    net_tx_packets_per_s: float | None = None
    gpu_ms_per_s: float | None = None
    energy_impact: float | None = None
    energy_impact_per_s: float | None = None
    qos_ms_per_s: dict[str, float] | None = None
    dead: bool | None = None  # Summary blocks: the task exited during the summary period
    # Amounts over the interval (plist only).
    cputime_ns: int | None = None
    intr_wakeups: int | None = None
    idle_wakeups: int | None = None
    diskio_bytesread: int | None = None
    diskio_byteswritten: int | None = None
    pageins: int | None = None
    bytes_received: int | None = None
    bytes_sent: int | None = None
    gputime_ns: int | None = None
    qos_ns: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown text columns

    @property
    def is_pseudo(self) -> bool:
        return self.pid < 0

    @property
    def cpu_percent(self) -> float | None:
        """Percent of one core."""
        if self.cpu_ms_per_s is not None:
            return self.cpu_ms_per_s / 10.0
        if self.cputime_ns is not None and self.interval_ns:
            return 100.0 * self.cputime_ns / self.interval_ns
        return None

    @property
    def energy_impact_rate(self) -> float | None:
        """powermetrics' Energy Impact as a rate (per second of the interval)."""
        if self.energy_impact_per_s is not None:
            return self.energy_impact_per_s
        return self.energy_impact


@dataclass(slots=True)
class PmCoalition:
    id: int
    name: str
    line: int | None = None
    cpu_ms_per_s: float | None = None
    intr_wakeups_per_s: float | None = None
    idle_wakeups_per_s: float | None = None
    gpu_ms_per_s: float | None = None
    energy_impact: float | None = None
    energy_impact_per_s: float | None = None
    tasks: list[PmTask] = field(default_factory=list)


@dataclass(slots=True)
class PmSample:
    index: int
    line: int  # where the sample starts (1-based)
    kind: str  # "sampled", "summary", "table" (a bare task table), "plist"
    time: datetime | None = None  # timezone-aware when the capture says the zone
    time_text: str | None = None
    elapsed_s: float | None = None
    tasks: list[PmTask] = field(default_factory=list)  # real processes, coalition members too
    coalitions: list[PmCoalition] = field(default_factory=list)
    all_tasks: PmTask | None = None
    dead_tasks: PmTask | None = None
    system: dict[str, Any] = field(default_factory=dict)
    has_task_table: bool = False
    truncated: bool = False
    is_delta: bool | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PmCapture:
    format: str  # "plist" or "text"
    samples: list[PmSample]
    machine: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --- plist: documents ---------------------------------------------------------------------------

_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)")
_BAD_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DOC_START = re.compile(rb"<\?xml|<plist[\s>]")
_DOC_END = b"</plist>"


@dataclass(slots=True)
class PlistDocument:
    data: bytes
    line: int  # 1-based line of the document's first byte in the stream
    complete: bool  # ended with </plist>


_XML_DECL = re.compile(rb"<\?xml")
_PLIST_OPEN = re.compile(rb"<plist[\s>]")


def _next_doc_start(data: bytes, begin: int) -> re.Match[bytes] | None:
    """Where the document after the one starting at ``begin`` starts (its own ``<plist>``
    element does not count)."""
    own = _PLIST_OPEN.search(data, begin)
    after = own.end() if own is not None else begin + 1
    decl = _XML_DECL.search(data, begin + 1)
    plist = _PLIST_OPEN.search(data, after)
    found = [m for m in (decl, plist) if m is not None]
    return min(found, key=lambda m: m.start()) if found else None


def _line_at(data: bytes, offset: int, start_offset: int, start_line: int) -> int:
    return start_line + data.count(b"\n", start_offset, offset)


def split_plist_stream(
    data: bytes, final: bool = True, first_line: int = 1
) -> tuple[list[PlistDocument], bytes, list[str]]:
    """Cut a powermetrics plist stream into documents.

    Returns (documents, rest, warnings): ``rest`` is an unfinished document (only when
    ``final`` is False: the live reader keeps it for the next read). Text outside documents
    (stray stderr lines, NUL separators) is skipped with a warning naming its line.
    """
    docs: list[PlistDocument] = []
    warnings: list[str] = []
    pos, line_pos, line = 0, 0, first_line
    n = len(data)
    while pos < n:
        start = _DOC_START.search(data, pos)
        stop = n if start is None else start.start()
        stray = data[pos:stop].replace(b"\0", b"").strip()
        if stray:
            if start is None and not final and b"<" in stray[-16:]:
                return docs, data[pos:], warnings  # maybe the start of "<?xml" still arriving
            lead = len(data[pos:stop]) - len(data[pos:stop].lstrip())
            at = _line_at(data, pos + lead, line_pos, line)
            snippet = stray.split(b"\n", 1)[0][:80].decode("utf-8", "replace").strip()
            warnings.append(f"line {at}: text outside any plist document ignored: {snippet!r}")
        if start is None:
            break
        begin = start.start()
        line = _line_at(data, begin, line_pos, line)
        line_pos = begin
        # A document ends at </plist>; a new "<?xml" before that means this one was cut.
        end = data.find(_DOC_END, begin)
        nxt = _next_doc_start(data, begin)
        if end != -1 and (nxt is None or nxt.start() > end):
            stop_at = end + len(_DOC_END)
            docs.append(PlistDocument(data[begin:stop_at], line, True))
            pos = stop_at
            continue
        cut_at = nxt.start() if nxt is not None else n
        if nxt is None and not final:
            return docs, data[begin:], warnings
        # A NUL inside means the writer moved on: the document ends there, cut.
        nul = data.find(b"\0", begin, cut_at)
        if nul != -1:
            cut_at = nul
        docs.append(PlistDocument(data[begin:cut_at], line, False))
        pos = cut_at
    return docs, b"", warnings


def _full(el: Element) -> Any:
    tag = el.tag
    if tag == "dict":
        out: dict[str, Any] = {}
        children = list(el)
        for i in range(0, len(children) - 1, 2):
            out[children[i].text or ""] = _full(children[i + 1])
        return out
    if tag == "array":
        return [_full(child) for child in el]
    return _scalar(el)


def _scalar(el: Element) -> Any:
    tag, text = el.tag, (el.text or "").strip()
    if tag == "integer":
        return int(text)
    if tag == "real":
        return float(text)
    if tag == "string" or tag == "key":
        return el.text or ""
    if tag == "true":
        return True
    if tag == "false":
        return False
    if tag == "date":
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    if tag == "data":
        return None  # binary blobs carry nothing lagwatch reads
    raise ValueError(f"unknown plist element <{tag}>")


# Marks a dictionary whose end never came (a NUL cannot occur in a plist key).
PARTIAL = "\0partial"


def _partial(el: Element, ended: set[int]) -> Any:
    """Convert what was complete of an element whose end never came; incomplete dictionaries
    carry ``PARTIAL`` so a consumer can refuse half a task."""
    if id(el) in ended:
        return _full(el)
    children = list(el)
    if el.tag == "dict":
        out: dict[str, Any] = {PARTIAL: True}
        for i in range(0, len(children) - 1, 2):
            key, value = children[i], children[i + 1]
            if id(key) not in ended:
                break
            if id(value) in ended:
                out[key.text or ""] = _full(value)
            elif value.tag in ("dict", "array"):
                out[key.text or ""] = _partial(value, ended)
                break
            else:
                break
        return out
    if el.tag == "array":
        items = []
        for child in children:
            if id(child) in ended:
                items.append(_full(child))
            else:
                if child.tag in ("dict", "array"):
                    items.append(_partial(child, ended))
                break
        return items
    return None


def load_plist_document(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(top-level dict, None) for a whole document; (partial dict, why) for a damaged one;
    (None, why) when nothing was readable. Never raises on bad input."""
    text = data.decode("utf-8", errors="replace")
    if "&" in text:
        text = _BARE_AMP.sub("&amp;", text)
    text = _BAD_XML_CHARS.sub("", text)
    parser = XMLPullParser(events=("start", "end"))
    ended: set[int] = set()
    root: Element | None = None
    problem: str | None = None
    try:
        parser.feed(text)
        parser.close()
    except ParseError as exc:
        problem = str(exc)
    try:
        for event, el in parser.read_events():
            if event == "start":
                if root is None:
                    root = el
            else:
                ended.add(id(el))
    except ParseError as exc:  # pragma: no cover - events raised lazily on some versions
        problem = problem or str(exc)
    if root is None:
        return None, problem or "empty document"
    body = root[0] if root.tag == "plist" and len(root) else root
    try:
        value = _full(body) if problem is None else _partial(body, ended)
    except (ValueError, IndexError, TypeError) as exc:
        return None, f"unreadable value: {exc}"
    if not isinstance(value, dict):
        return None, problem or "top level is not a dictionary"
    return value, problem


# --- plist: samples ----------------------------------------------------------------------------


def _norm(key: str) -> str:
    return key.strip().rstrip(":").strip()


def _num(d: dict[str, Any], key: str) -> float | None:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _int(d: dict[str, Any], key: str) -> int | None:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


def task_from_plist(d: dict[str, Any], coalition: PmCoalition | None = None) -> PmTask | None:
    pid, name = _int(d, "pid"), d.get("name")
    if pid is None or d.get(PARTIAL):  # half a task is not a task
        return None
    qos_ns = {q: v for q in QOS_CLASSES if (v := _int(d, f"qos_{q}_ns")) is not None}
    qos_ms = {q: v for q in QOS_CLASSES if (v := _num(d, f"qos_{q}_ms_per_s")) is not None}
    parent, responsible = _int(d, "parent_pid"), _int(d, "responsible_pid")
    return PmTask(
        pid=pid,
        name=name if isinstance(name, str) else "?",
        coalition_id=coalition.id if coalition else None,
        coalition_name=coalition.name if coalition else None,
        parent_pid=parent if parent is not None and parent >= 0 else None,
        responsible_pid=responsible if responsible is not None and responsible >= 0 else None,
        started_abstime_ns=_int(d, "started_abstime_ns"),
        interval_ns=_int(d, "interval_ns"),
        cpu_ms_per_s=_num(d, "cputime_ms_per_s"),
        cpu_sample_ms_per_s=_num(d, "cputime_sample_ms_per_s"),
        user_percent=None
        if (ratio := _num(d, "cputime_userland_ratio")) is None
        else 100.0 * ratio,
        intr_wakeups_per_s=_num(d, "intr_wakeups_per_s"),
        idle_wakeups_per_s=_num(d, "idle_wakeups_per_s"),
        disk_read_bytes_per_s=_num(d, "diskio_bytesread_per_s"),
        disk_write_bytes_per_s=_num(d, "diskio_byteswritten_per_s"),
        pageins_per_s=_num(d, "pageins_per_s"),
        net_rx_bytes_per_s=_num(d, "bytes_received_per_s"),
        net_tx_bytes_per_s=_num(d, "bytes_sent_per_s"),
        net_rx_packets_per_s=_num(d, "packets_received_per_s"),
        net_tx_packets_per_s=_num(d, "packets_sent_per_s"),
        gpu_ms_per_s=_num(d, "gputime_ms_per_s"),
        energy_impact=_num(d, "energy_impact"),
        energy_impact_per_s=_num(d, "energy_impact_per_s"),
        qos_ms_per_s=qos_ms or None,
        cputime_ns=_int(d, "cputime_ns"),
        intr_wakeups=_int(d, "intr_wakeups"),
        idle_wakeups=_int(d, "idle_wakeups"),
        diskio_bytesread=_int(d, "diskio_bytesread"),
        diskio_byteswritten=_int(d, "diskio_byteswritten"),
        pageins=_int(d, "pageins"),
        bytes_received=_int(d, "bytes_received"),
        bytes_sent=_int(d, "bytes_sent"),
        gputime_ns=_int(d, "gputime_ns"),
        qos_ns=qos_ns or None,
    )


def _plist_system(d: dict[str, Any]) -> dict[str, Any]:
    system: dict[str, Any] = {}
    proc = d.get("processor")
    if isinstance(proc, dict):
        for raw_key, value in proc.items():
            key = _norm(raw_key).lower().replace(" ", "_")
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if key.endswith("_power"):  # Apple Silicon: milliwatts
                system[f"{key}_watts"] = round(value / 1000.0, 6)
            elif key.endswith("_watts"):  # Intel packages report watts
                system[key] = float(value)
            elif key.endswith("_energy"):  # millijoules over the interval
                system[f"{key}_mj"] = value
    gpu = d.get("gpu")
    if isinstance(gpu, dict):
        idle = _num(gpu, "idle_ratio")
        if idle is not None:
            system["gpu_active_percent"] = round(100.0 * (1.0 - idle), 3)
        if (freq := _num(gpu, "freq_hz")) is not None:
            system["gpu_frequency_hz"] = freq
    net = d.get("network")
    if isinstance(net, dict):
        for src, dst in (("ibyte_rate", "net_in_bytes_per_s"),
                         ("obyte_rate", "net_out_bytes_per_s"),
                         ("ipacket_rate", "net_in_packets_per_s"),
                         ("opacket_rate", "net_out_packets_per_s")):  # fmt: skip
            if (v := _num(net, src)) is not None:
                system[dst] = v
    disk = d.get("disk")
    if isinstance(disk, dict):
        for src, dst in (("rbytes_per_s", "disk_read_bytes_per_s"),
                         ("wbytes_per_s", "disk_write_bytes_per_s"),
                         ("rops_per_s", "disk_read_ops_per_s"),
                         ("wops_per_s", "disk_write_ops_per_s")):  # fmt: skip
            if (v := _num(disk, src)) is not None:
                system[dst] = v
    battery = d.get("battery")
    if isinstance(battery, dict) and (pct := _num(battery, "percent_charge")) is not None:
        system["battery_percent"] = pct
    if isinstance(tp := d.get("thermal_pressure"), str):
        system["thermal_pressure"] = tp
    return system


def is_powermetrics_dict(d: dict[str, Any]) -> bool:
    return any(k in d for k in ("elapsed_ns", "coalitions", "tasks", "processor", "all_tasks"))


def sample_from_plist(d: dict[str, Any], index: int, line: int) -> PmSample:
    sample = PmSample(index=index, line=line, kind="plist")
    if (elapsed := _num(d, "elapsed_ns")) is not None and elapsed > 0:
        sample.elapsed_s = elapsed / 1e9
    stamp = d.get("timestamp")
    if isinstance(stamp, datetime):
        sample.time = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        sample.time_text = stamp.isoformat()
    if isinstance(d.get("is_delta"), bool):
        sample.is_delta = d["is_delta"]
    seen: set[int] = set()

    def add(task: PmTask | None) -> None:
        if task is None:
            return
        if task.pid == ALL_TASKS_PID:
            sample.all_tasks = task
        elif task.pid == DEAD_TASKS_PID:
            sample.dead_tasks = task
        elif task.pid < 0:
            return
        elif task.pid in seen:
            sample.warnings.append(f"pid {task.pid} listed twice; the first entry is kept")
        else:
            seen.add(task.pid)
            sample.tasks.append(task)

    coalitions = d.get("coalitions")
    if isinstance(coalitions, list):
        sample.has_task_table = True
        for c in coalitions:
            if not isinstance(c, dict):
                continue
            co = PmCoalition(
                id=_int(c, "id") if _int(c, "id") is not None else -1,  # type: ignore[arg-type]
                name=c["name"] if isinstance(c.get("name"), str) else "?",
                cpu_ms_per_s=_num(c, "cputime_ms_per_s"),
                intr_wakeups_per_s=_num(c, "intr_wakeups_per_s"),
                idle_wakeups_per_s=_num(c, "idle_wakeups_per_s"),
                gpu_ms_per_s=_num(c, "gputime_ms_per_s"),
                energy_impact=_num(c, "energy_impact"),
                energy_impact_per_s=_num(c, "energy_impact_per_s"),
            )
            for t in c.get("tasks") or []:
                if isinstance(t, dict) and (task := task_from_plist(t, co)) is not None:
                    co.tasks.append(task)
                    add(task)
            sample.coalitions.append(co)
    tasks = d.get("tasks")
    if isinstance(tasks, list):
        sample.has_task_table = True
        for t in tasks:
            if isinstance(t, dict):
                add(task_from_plist(t))
    if isinstance(all_tasks := d.get("all_tasks"), dict):
        add(task_from_plist(all_tasks))
    sample.system = _plist_system(d)
    for key in ("hw_model", "kern_osversion"):
        if isinstance(d.get(key), str):
            sample.system[key] = d[key]
    return sample


def parse_plist_document(doc: PlistDocument, index: int) -> tuple[PmSample | None, str | None]:
    """(sample, warning) for one document; (None, why) when it yields no sample."""
    d, problem = load_plist_document(doc.data)
    if d is None:
        return None, f"line {doc.line}: unreadable plist document ({problem}), skipped"
    if not is_powermetrics_dict(d):
        return None, f"line {doc.line}: plist document is not powermetrics output, skipped"
    sample = sample_from_plist(d, index, doc.line)
    warning = None
    if problem is not None or not doc.complete:
        sample.truncated = True
        warning = (
            f"line {doc.line}: plist document cut short"
            + (f" ({problem})" if problem else "")
            + f"; its {len(sample.tasks)} complete tasks are kept"
        )
        if not sample.tasks and not sample.system:
            return None, f"line {doc.line}: plist document cut before any task, skipped"
    return sample, warning


def parse_powermetrics_plist(data: bytes) -> PmCapture:
    """Parse a ``powermetrics -f plist`` stream. Raises CaptureError when no sample survives."""
    docs, _, warnings = split_plist_stream(data, final=True)
    capture = PmCapture(format="plist", samples=[], warnings=warnings)
    if not docs:
        raise CaptureError("no plist document found (not powermetrics -f plist output)", line=1)
    first_problem: tuple[int, str] | None = None
    for doc in docs:
        sample, warning = parse_plist_document(doc, len(capture.samples))
        if warning:
            capture.warnings.append(warning)
            if sample is None and first_problem is None:
                first_problem = (doc.line, warning.split(": ", 1)[1])
        if sample is not None:
            capture.samples.append(sample)
            for key in ("hw_model", "kern_osversion"):
                if key in sample.system:
                    capture.machine.setdefault(key, sample.system[key])
    if not capture.samples:
        line, why = first_problem or (docs[0].line, "no sample")
        raise CaptureError(f"no readable powermetrics sample: {why}", line=line)
    return capture


# --- text --------------------------------------------------------------------------------------

_N = r"(\d+(?:\.\d*)?|\.\d+)"  # a decimal number (".44" occurs too)
_SAMPLE_HEAD = re.compile(
    rf"^\*\*\* (Sampled|Summary) system activity \((.*?)\)(?: \({_N}\s*ms elapsed\))? \*\*\*$"
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
# Coalition rows leave these blank.
_BLANKABLE = ("user_percent", "deadlines_short_per_s", "deadlines_medium_per_s")


@dataclass(slots=True)
class _Table:
    indent: int
    id_pos: int
    fields: list[str]
    field_pos: dict[str, int]
    line: int
    rows: list[tuple[int, int, PmTask, bool]] = field(default_factory=list)  # line, rel indent


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
    for pos, group in groups[2:]:
        label, _, items = group.partition("(")
        label = label.replace("[total]", "").strip()
        base = label[:-2] if label.endswith("/s") else label
        names = _TEXT_FIELDS.get(base)
        if names is None:
            slug = re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_") or "column"
            count = len(items.split(",")) if items else 1
            names = tuple(f"{slug}_{i}" if count > 1 else slug for i in range(count))
        for name in names:
            field_pos.setdefault(name, pos)
            fields.append(name)
    return _Table(indent=indent, id_pos=groups[1][0], fields=fields, field_pos=field_pos,
                  line=lineno)  # fmt: skip


_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")  # float() would also take "nan", "1e9"


def _text_value(name: str, token: str) -> Any:
    if name == "dead":
        if token not in ("Y", "N"):
            raise ValueError(token)
        return token == "Y"
    if not _DECIMAL.fullmatch(token):
        raise ValueError(token)
    return float(token)


def parse_task_row(text: str, table: _Table, lineno: int) -> tuple[PmTask | None, bool, str]:
    """(task, blank_user_and_deadlines, why_skipped)."""
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
    if not pid_text.lstrip("-").isdigit() or not pid_text.isascii() or len(pid_text) > 12:
        return None, False, f"line {lineno}: no task ID, row skipped"
    pid = int(pid_text)
    values = [(pos, tok) for pos, tok in tokens[1:] if not tok.startswith("[")]
    fields = table.fields
    blank = False
    if len(values) == len(fields):
        names = fields
    elif len(values) == len(fields) - len(_BLANKABLE) and all(f in fields for f in _BLANKABLE):
        # A coalition row, if the User%/Deadlines region really is empty (not a cut row).
        after = [f for f in fields if f not in _BLANKABLE]
        first_kept = fields.index(_BLANKABLE[-1]) + 1
        start = table.field_pos["user_percent"] - table.indent + indent
        stop = table.field_pos.get(fields[first_kept], len(text)) - table.indent + indent
        if text[start : stop - 2].strip():  # (2 columns of slack for hand-pasted captures)
            return None, False, f"line {lineno}: row cut short, skipped"
        names, blank = after, True
    else:
        return None, False, f"line {lineno}: row cut short or garbled, skipped"
    task = PmTask(pid=pid, name=name, line=lineno)
    for fname, (_, token) in zip(names, values, strict=True):
        try:
            value = _text_value(fname, token)
        except ValueError:
            return None, False, f"line {lineno}: unreadable {fname} {token!r}, row skipped"
        if hasattr(task, fname):
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
    with contextlib.suppress(ValueError, OverflowError):  # a damaged figure is no figure
        _read_system_line(stripped, system)


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

    def new_sample(self, kind: str, lineno: int) -> PmSample:
        self.end_table()
        self.sample = PmSample(index=len(self.capture.samples), line=lineno, kind=kind)
        self.capture.samples.append(self.sample)
        return self.sample

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
            sample = self.new_sample("summary" if m[1] == "Summary" else "sampled", lineno)
            sample.time_text = m[2]
            sample.time = _parse_time(m[2])
            elapsed = float(m[3]) / 1000.0 if m[3] else None
            sample.elapsed_s = elapsed if elapsed and math.isfinite(elapsed) else None
            return
        if (table := parse_table_header(text, lineno)) is not None:
            if self.sample is None or self.sample.has_task_table:
                self.new_sample("table", lineno)
            self.table = table
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
