"""The `top` source: Apple's ``top`` in logging mode, augmenting the libproc source on a Mac
when lagwatch is not root.

Why: without root, ``proc_pid_rusage`` and ``PROC_PIDTASKINFO`` refuse other users' processes
(WindowServer, kernel_task, mds_stores, coreaudiod...), which libproc therefore lists as
restricted with no figures. ``/usr/bin/top`` holds the ``com.apple.system-task-ports.read``
entitlement (top's entitlements.plist) and reads every process without root.

One long-lived child::

    top -l 0 -s SECONDS -F -stats pid,ppid,uid,command,state,cpu,power,idlew,pageins,csw,
                                   mem,threads,time

(every key is in top's ``stat_map``, preferences.c). ``-l 0`` samples forever in logging mode,
flushing stdout after each sample (logging.c); ``-F`` skips the shared-library statistics. It
runs on a pseudo-terminal; a top that dies is restarted with backoff
(lagwatch.sources.child.SupervisedChild). A reader thread feeds lagwatch.parsers.top's stream
parser and lagwatch.parsers.top_convert's converter; ``read()`` turns the newest block into
patches, one per pid, that the sampler merges into the primary's samples
(lagwatch.model.merge_patch), best source first:

- ``memory_bytes`` (MEM: the physical footprint, ``TASK_VM_INFO`` ``phys_footprint`` in top's
  libtop.c, the figure libproc reads as ``ri_phys_footprint``), ``threads`` (#TH), ``state``
  (STATE): filled only where the primary does not know them (restricted processes);
- ``stand_in_rates``: %CPU, IDLEW, PAGEINS and CSW as rates per second, each used only where
  the primary's own counter (cpu_ns, wakeups, pageins, ctx_switches) is unknown, so a process
  libproc reads keeps libproc's figures;
- ``rates.energy_impact``: top's POWER (CPU plus 500 us per package-idle wakeup, power.c), for
  every process; a source merged before it (powermetrics, as root) keeps its own figure.

Matching across pid reuse: top prints no start time, so a patch carries a check of the
primary's sample (``applies_to``): the name top printed must be the sample's name cut at
p_comm's 16 bytes (lagwatch.kernel_names), and its PPID and UID must agree where both are known.
XNU hands out pids in sequence (kern_fork.c: ``nextpid++``, wrapping at PID_MAX), so a pid is
reused within one interval only after a wrap-around, and then by the same name, parent and
user only by a coincidence this check cannot see. A block older than a few intervals (top hung)
patches nothing.

What it costs (docs/metrics.md, "What top costs"): top re-reads every process each sample
(about a dozen task_info/proc_info calls per process plus one thread_info per thread, libtop.c)
whatever ``-stats`` shows, so its CPU grows with processes and threads; lagwatch parses its
output in a reader thread. Not run as root: libproc then reads every process itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lagwatch import kernel_names, platform_seam
from lagwatch.model import APPLIES_TO, STAND_IN_RATES, ProcessSample
from lagwatch.parsers.top import TopBlock, TopRow, TopStreamParser
from lagwatch.parsers.top_convert import TopConverter
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import Backoff, StreamedChild, SupervisedChild

NAME = "top"
TOP = platform_seam.TOOLS["top"]
STATS = "pid,ppid,uid,command,state,cpu,power,idlew,pageins,csw,mem,threads,time"

# Rates top measures -> the primary's counter they stand in for.
STAND_IN = (
    ("cpu_percent", "cpu_ns"),
    ("wakeups_per_s", "wakeups"),
    ("pageins_per_s", "pageins"),
    ("ctx_switches_per_s", "ctx_switches"),
)
# top's STATE words (libtop.c libtop_state_str); "unknown" is no state.
STATES = frozenset({"zombie", "running", "stuck", "sleeping", "idle", "stopped", "halted"})
STALE_INTERVALS = 3.0  # a block older than this many intervals patches nothing


def command(interval_s: float = 1.0, executable: str | None = None) -> list[str]:
    seconds = max(1, round(interval_s))  # top's -s takes whole seconds
    executable = executable or platform_seam.tool_path("top")
    return [executable, "-l", "0", "-s", str(seconds), "-F", "-stats", STATS]


def _is_root() -> bool:
    return platform_seam.chooses_as_root()  # LAGWATCH_AS_USER chooses as a user would


def probe() -> str | None:
    if not platform_seam.is_macos():
        return "top -l is macOS's top; not this platform"
    return platform_seam.tool_missing("top")


def not_by_default() -> str | None:
    """Why the automatic choice leaves top out (None: it runs): as root, libproc reads every
    process itself and powermetrics gives Apple's Energy Impact."""
    if _is_root():
        return "not started as root: libproc reads every process itself (--source can add it)"
    return None


def detail() -> str:
    """What it adds and what it costs (for `lagwatch sources`)."""
    return (
        f"one `top -l 0 -s 1 -F -stats {STATS}` child; top reads every process each second: "
        "a few % of one core on a typical Mac (estimate; see docs/metrics.md)"
    )


def same_process(
    command_name: str | None, ppid: int | None, uid: int | None
) -> Callable[[ProcessSample], bool]:
    """The check a patch carries (see the module docstring): the primary's sample is the
    process top printed."""

    def applies(sample: ProcessSample) -> bool:
        if command_name is None or not kernel_names.same_name(
            sample.name, command_name, kernel_names.TOP_COMMAND_BYTES
        ):
            return False
        if ppid is not None and sample.ppid is not None and sample.ppid != ppid:
            return False
        return uid is None or sample.uid is None or sample.uid == uid

    return applies


def row_patch(row: TopRow, sample: ProcessSample) -> dict[str, Any]:
    """The patch for one top row (``sample`` is that row converted)."""
    patch: dict[str, Any] = {APPLIES_TO: same_process(row.command, sample.ppid, sample.uid)}
    if sample.memory_bytes is not None and sample.memory_bytes >= 0:
        patch["memory_bytes"] = sample.memory_bytes
    if sample.threads is not None and sample.threads >= 0:
        patch["threads"] = sample.threads
    if sample.state in STATES:
        patch["state"] = sample.state
    rates = sample.rates or {}
    stand_in = {
        counter: {key: rates[key]} for key, counter in STAND_IN if rates.get(key) is not None
    }
    if stand_in:
        patch[STAND_IN_RATES] = stand_in
    if rates.get("energy_impact") is not None:
        patch["rates"] = {"energy_impact": rates["energy_impact"]}
    return patch


@dataclass(slots=True)
class _Latest:
    seq: int = 0
    at: float = 0.0  # monotonic time its first line arrived (about when top sampled)
    rated: bool = False  # top measured rates in it (not the first block of a run)
    patches: dict[int, dict[str, Any]] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class TopSource:
    """The `top` augmenting source (see the module docstring)."""

    name = NAME

    def __init__(
        self,
        interval_s: float = 1.0,
        executable: str | None = None,
        argv: list[str] | None = None,
        first_sample_timeout_s: float | None = None,
        use_pty: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        self.interval_s = max(1.0, float(round(interval_s)) or 1.0)
        self.argv = argv or command(interval_s, executable)
        # top prints its first block after one pass over every process: allow a slow start.
        self.first_sample_timeout_s = first_sample_timeout_s or 3 * self.interval_s + 5.0
        self._use_pty = use_pty
        self._cond = threading.Condition()
        self._latest = _Latest()
        self._returned_seq = 0
        self._started_at = time.monotonic()
        self._child = SupervisedChild(self._start, NAME, backoff)
        self._child.begin()

    def _start(self) -> StreamedChild:
        """A new top run, read from a fresh stream state (its first block has no rates)."""
        self._parser = TopStreamParser()
        self._converter = TopConverter()
        self._pending = b""
        self._block_started: dict[int, float] = {}  # block index -> monotonic time, first line
        self._last_block_time: float | None = None
        self._started_at = time.monotonic()
        return StreamedChild(
            self.argv, self._on_chunk, use_pty=self._use_pty, thread_name="lagwatch-top"
        )

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def restarts(self) -> int:
        return self._child.restarts

    # -- reader thread ---------------------------------------------------------------------

    def _on_chunk(self, chunk: bytes) -> None:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for raw in lines:
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        # Bytes go to the parser as they are: top pads its columns by bytes.
        now = time.monotonic()
        before = self._parser.pending
        done = self._parser.feed(raw)
        block = self._parser.pending
        if block is not None and block is not before:
            self._block_started[block.index] = now
        if not done and block is None:
            text = raw.decode("utf-8", "replace")
            if not text.strip().startswith(("Processes:", "PID")):
                self._child.note(text)  # not top output: probably why it is about to die
        if len(self._parser.warnings) > 100:  # garbage between blocks: keep memory bounded
            del self._parser.warnings[:-10]
        for finished in done:
            self._publish(finished)
        if block is not None and _complete(block):
            whole = self._parser.flush()
            if whole is not None:
                self._publish(whole)

    def _publish(self, block: TopBlock) -> None:
        started = self._block_started.pop(block.index, time.monotonic())
        interval = None
        if self._last_block_time is not None:
            interval = started - self._last_block_time
        self._last_block_time = started
        conv = self._converter.convert(block, interval if interval and interval > 0 else None)
        patches = {
            row.pid: row_patch(row, sample)
            for row, sample in zip(block.rows, conv.samples, strict=True)
        }
        system = {k: v for k, v in conv.system.items() if k != "memory_total_bytes"}
        warnings = [f"top: {w}" for w in block.warnings[:3]]
        with self._cond:
            self._latest = _Latest(
                seq=self._latest.seq + 1,
                at=started,
                rated=conv.rates_known,
                patches=patches,
                system=system,
                warnings=warnings,
            )
            self._cond.notify_all()
        self._child.data_seen()

    # -- the source ------------------------------------------------------------------------

    def read(self) -> SourceReading:
        warnings = self._child.poll()  # restarts a dead top; raises when it gives up
        with self._cond:
            latest = self._latest
            if latest.seq == 0:
                # top prints its first block after one pass over every process.
                deadline = self._started_at + self.first_sample_timeout_s
                self._wait(lambda: self._latest.seq > 0, deadline)
            elif self._next_is_due(latest):
                # The next block is about to arrive (or the one we have measured no rates):
                # wait a little for it rather than hand out the older one again.
                seq = latest.seq
                slack = 1.5 if latest.rated else 2.0  # top's second pass may still be running
                self._wait(lambda: self._latest.seq > seq, latest.at + slack * self.interval_s)
            latest = self._latest
            self._returned_seq = latest.seq
        if latest.seq == 0:
            warnings += self._child.poll()  # a top that died before its first sample: error
            if time.monotonic() >= self._started_at + self.first_sample_timeout_s:
                words = "; ".join(self._child.diagnostics)
                raise SourceError(
                    f"top printed no sample in {self.first_sample_timeout_s:.0f}s"
                    + (f": {words}" if words else "")
                )
            return SourceReading(warnings=warnings)  # not yet
        age = time.monotonic() - latest.at
        if age > STALE_INTERVALS * self.interval_s:
            warnings.append(f"top: no new sample for {age:.0f}s")
            return SourceReading(warnings=warnings)
        return SourceReading(
            patches=latest.patches,  # read-only: merge_patch copies what it takes
            system=dict(latest.system),
            warnings=warnings + latest.warnings,
        )

    def _next_is_due(self, latest: _Latest) -> bool:
        if latest.seq > self._returned_seq and latest.rated:
            return False  # a block not handed out yet, with rates: use it now
        return time.monotonic() >= latest.at + 0.75 * self.interval_s or not latest.rated

    def _wait(self, ready: Callable[[], bool], deadline: float) -> None:
        while not ready():
            child = self._child.child
            if child is not None and child.death is not None:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(timeout=min(left, 0.25))

    def close(self) -> None:
        self._child.close()


def _complete(block: TopBlock) -> bool:
    """All rows are in when there are as many as the header's process count."""
    total = block.system.get("processes_total")
    return bool(block.columns) and isinstance(total, int) and total > 0 and len(block.rows) >= total
