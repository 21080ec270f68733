"""Parser of macOS ``powermetrics -f plist`` streams (see ../shared/fixtures/macos/PROVENANCE.md).

- one XML plist per sample, samples separated by a NUL byte right after ``</plist>\\n`` and
  none after the last; a last document cut short when powermetrics is killed keeps its complete
  task dictionaries; stray non-XML lines (stderr mixed in) and XML comments are stepped over;
  an unescaped ``&`` in a process name is escaped; keys with odd spaces/colons (Intel) are
  matched after normalising.
- tasks sit in ``coalitions[].tasks[]`` (``--show-process-coalition``) or in ``tasks[]``; the
  pseudo tasks ALL_TASKS (-2) and DEAD_TASKS (-1) are kept apart from the processes.
- each figure comes both as the amount over the interval (``cputime_ns``, ``intr_wakeups``,
  ``diskio_bytesread``, ``energy_impact``...) and as a rate (``..._per_s``, ``..._ms_per_s``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from lagwatch.parsers import numbers
from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.powermetrics_model import (
    ALL_TASKS_PID,
    DEAD_TASKS_PID,
    QOS_CLASSES,
    PmCapture,
    PmCoalition,
    PmSample,
    PmTask,
)

# --- documents ---------------------------------------------------------------------------------

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
_DOC_END_RE = re.compile(re.escape(_DOC_END))
# Deeper than any powermetrics document (about 5 levels): a deeper one is damaged or hostile,
# and converting it would exhaust the recursion limit.
MAX_DEPTH = 32
MAX_WARNINGS = 200  # per capture; then only how many more


class _Next:
    """The next match of a pattern at or after a position. Documents are cut front to back, so
    the positions asked for only grow and a search found earlier still answers: each byte is
    scanned about once however many documents (or bare ``<plist>`` markers) there are, where
    searching afresh each time took quadratic time."""

    def __init__(self, pattern: re.Pattern[bytes], data: bytes) -> None:
        self.pattern = pattern
        self.data = data
        self._from = -1  # where the last search started...
        self._at: re.Match[bytes] | None = None  # ...and what it found (None: nothing after)

    def at(self, pos: int) -> re.Match[bytes] | None:
        found = self._at
        if 0 <= self._from <= pos and (found is None or found.start() >= pos):
            return found
        self._from, self._at = pos, self.pattern.search(self.data, pos)
        return self._at


def _next_doc_start(decl: _Next, plist: _Next, begin: int) -> re.Match[bytes] | None:
    """Where the document after the one starting at ``begin`` starts (its own ``<plist>``
    element does not count)."""
    own = plist.at(begin)
    after = own.end() if own is not None else begin + 1
    found = [m for m in (decl.at(begin + 1), plist.at(after)) if m is not None]
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
    rest = b""
    for item in iter_plist_stream(data, final, first_line):
        if isinstance(item, PlistDocument):
            docs.append(item)
        elif isinstance(item, str):
            warnings.append(item)
        else:
            rest = item
    return docs, rest, warnings


def iter_plist_stream(
    data: bytes, final: bool = True, first_line: int = 1
) -> Iterator[PlistDocument | str | bytes]:
    """``split_plist_stream`` one item at a time, in stream order: documents, warnings
    (``str``) and, last, the unfinished rest (``bytes``, only when ``final`` is False). A
    capture is read without holding every document at once; the time is linear in its size."""
    pos, line_pos, line = 0, 0, first_line
    n = len(data)
    decl, plist = _Next(_XML_DECL, data), _Next(_PLIST_OPEN, data)
    doc_end = _Next(_DOC_END_RE, data)
    while pos < n:
        found = [m for m in (decl.at(pos), plist.at(pos)) if m is not None]
        start = min(found, key=lambda m: m.start()) if found else None
        stop = n if start is None else start.start()
        stray = data[pos:stop].replace(b"\0", b"").strip()
        if stray:
            if start is None and not final and b"<" in stray[-16:]:
                yield data[pos:]  # maybe the start of "<?xml" still arriving
                return
            lead = len(data[pos:stop]) - len(data[pos:stop].lstrip())
            at = _line_at(data, pos + lead, line_pos, line)
            snippet = stray.split(b"\n", 1)[0][:80].decode("utf-8", "replace").strip()
            yield f"line {at}: text outside any plist document ignored: {snippet!r}"
        if start is None:
            break
        begin = start.start()
        line = _line_at(data, begin, line_pos, line)
        line_pos = begin
        # A document ends at </plist>; a new "<?xml" before that means this one was cut.
        end_match = doc_end.at(begin)
        end = -1 if end_match is None else end_match.start()
        nxt = _next_doc_start(decl, plist, begin)
        if end != -1 and (nxt is None or nxt.start() > end):
            stop_at = end + len(_DOC_END)
            yield PlistDocument(data[begin:stop_at], line, True)
            pos = stop_at
            continue
        cut_at = nxt.start() if nxt is not None else n
        if nxt is None and not final:
            yield data[begin:]
            return
        # A NUL inside means the writer moved on: the document ends there, cut.
        nul = data.find(b"\0", begin, cut_at)
        if nul != -1:
            cut_at = nul
        yield PlistDocument(data[begin:cut_at], line, False)
        pos = cut_at


def _full(el: Element, depth: int = 0) -> Any:
    tag = el.tag
    if tag in ("dict", "array") and depth >= MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if tag == "dict":
        out: dict[str, Any] = {}
        children = list(el)
        for i in range(0, len(children) - 1, 2):
            out[children[i].text or ""] = _full(children[i + 1], depth + 1)
        return out
    if tag == "array":
        return [_full(child, depth + 1) for child in el]
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


def _partial(el: Element, ended: set[int], depth: int = 0) -> Any:
    """Convert what was complete of an element whose end never came; incomplete dictionaries
    carry ``PARTIAL`` so a consumer can refuse half a task."""
    if id(el) in ended:
        return _full(el, depth)
    if depth >= MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    children = list(el)
    if el.tag == "dict":
        out: dict[str, Any] = {PARTIAL: True}
        for i in range(0, len(children) - 1, 2):
            key, value = children[i], children[i + 1]
            if id(key) not in ended:
                break
            if id(value) in ended:
                out[key.text or ""] = _full(value, depth + 1)
            elif value.tag in ("dict", "array"):
                out[key.text or ""] = _partial(value, ended, depth + 1)
                break
            else:
                break
        return out
    if el.tag == "array":
        items = []
        for child in children:
            if id(child) in ended:
                items.append(_full(child, depth + 1))
            else:
                if child.tag in ("dict", "array"):
                    items.append(_partial(child, ended, depth + 1))
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
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    ended: set[int] = set()
    root: Element | None = None
    problem: str | None = None
    try:
        parser.feed(text)
        parser.close()
    except ParseError as exc:
        problem = str(exc)
    try:
        for event in parser.read_events():
            kind, el = event[0], event[-1]
            if not isinstance(el, Element):
                continue  # namespace events: not asked for, so never seen
            if kind == "start":
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


# --- samples -----------------------------------------------------------------------------------


def _norm(key: str) -> str:
    return key.strip().rstrip(":").strip()


def _number(value: Any) -> float | None:
    """A plist number as a float; None when not a number or out of range (a 400-digit
    <integer> is damage, not a measurement)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return numbers.bounded(float(value))
    except (OverflowError, ValueError):
        return None


def _num(d: dict[str, Any], key: str) -> float | None:
    return _number(d.get(key))


def _int(d: dict[str, Any], key: str) -> int | None:
    value = d.get(key)
    if _number(value) is None:
        return None
    return int(value)  # type: ignore[arg-type]  # a bounded int or float (_number says so)


def task_from_plist(d: dict[str, Any], coalition: PmCoalition | None = None) -> PmTask | None:
    pid, name = _int(d, "pid"), d.get("name")
    if pid is None or d.get(PARTIAL):  # half a task is not a task
        return None
    qos_ns = {q: v for q in QOS_CLASSES if (v := _int(d, f"qos_{q}_ns")) is not None}
    qos_ms = {q: r for q in QOS_CLASSES if (r := _num(d, f"qos_{q}_ms_per_s")) is not None}
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
        for raw_key, raw in proc.items():
            key = _norm(raw_key).lower().replace(" ", "_")
            value = _number(raw)
            if value is None:
                continue
            if key.endswith("_power"):  # Apple Silicon: milliwatts
                system[f"{key}_watts"] = round(value / 1000.0, 6)
            elif key.endswith("_watts"):  # Intel packages report watts
                system[key] = float(value)
            elif key.endswith("_energy"):  # millijoules over the interval
                system[f"{key}_mj"] = raw
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
    if b"<dict" not in doc.data:  # cheap: a stream of bare markers must not cost a parse each
        return None, f"line {doc.line}: plist document holds no dictionary, skipped"
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
    """Parse a ``powermetrics -f plist`` stream. Raises CaptureError when no sample survives.
    At most ``MAX_WARNINGS`` warnings are kept (then how many more there were): a damaged
    or hostile stream of a million bad documents gives a readable list, in bounded memory."""
    capture = PmCapture(format="plist", samples=[], warnings=[])
    more = 0

    def warn(text: str) -> None:
        nonlocal more
        if len(capture.warnings) < MAX_WARNINGS:
            capture.warnings.append(text)
        else:
            more += 1

    first_doc: int | None = None
    first_problem: tuple[int, str] | None = None
    docs = 0
    for item in iter_plist_stream(data, final=True):
        if isinstance(item, str):
            warn(item)
            continue
        if not isinstance(item, PlistDocument):
            continue
        doc = item
        first_doc = doc.line if first_doc is None else first_doc
        docs += 1
        sample, warning = parse_plist_document(doc, len(capture.samples))
        if warning:
            warn(warning)
            if sample is None and first_problem is None:
                first_problem = (doc.line, warning.split(": ", 1)[1])
        if sample is not None:
            capture.samples.append(sample)
            for key in ("hw_model", "kern_osversion"):
                if key in sample.system:
                    capture.machine.setdefault(key, sample.system[key])
    if more:
        capture.warnings.append(f"{more} more warnings like the ones above left out")
    if not docs:
        raise CaptureError("no plist document found (not powermetrics -f plist output)", line=1)
    if not capture.samples:
        line, why = first_problem or (first_doc or 1, "no sample")
        raise CaptureError(f"no readable powermetrics sample: {why}", line=line)
    return capture
