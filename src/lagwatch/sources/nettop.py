"""Per-process network bytes on macOS from ``nettop``: the `nettop` augmenting source.

nettop is the only unprivileged per-process network counter on macOS. One long-lived child
runs in CSV logging mode::

    nettop -P -L 0 -d -x -n -s SECONDS -J bytes_in,bytes_out

``-P`` one row per process, ``-L 0`` CSV samples forever, ``-d`` samples after the first are
deltas, ``-x`` raw byte counts, ``-n`` no name lookups, ``-J`` only the byte columns (the time
column then disappears; the parser finds columns by name). A reader thread parses the stream
(lagwatch.parsers.nettop) so the sampler never waits on nettop, and keeps a cumulative count per
pid: the first frame's totals plus every later delta. ``read()`` returns those totals as
``net_bytes`` patches; the sampler derives ``net_bytes_per_s``.

nettop's stdin is a terminal that never has input (nettop watches stdin for interactive keys;
/dev/null would be "readable" forever) and its stdout is the same terminal, so its output is
line-buffered instead of arriving in 4 KiB lumps (stdio block-buffers a pipe). The terminal is
made large (lagwatch.sources.child.WINDOW_ROWS x WINDOW_COLUMNS) before nettop starts, so no row
is cut or wrapped at a default width.

If nettop dies after it produced data, it is started again with backoff
(lagwatch.sources.child.SupervisedChild) and ``read()`` says so in its warnings; the new run's
first frame is again cumulative, so the totals are taken from it afresh rather than added. If it
dies before its first frame, or keeps dying without one, ``read()`` raises :class:`SourceError`
with its exit status and last words; the sampler drops the source and the others go on.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

from lagwatch import platform_seam
from lagwatch.parsers.nettop import NettopFrame, NettopRow, NettopStreamParser
from lagwatch.sources.base import SourceReading
from lagwatch.sources.child import (
    WINDOW_COLUMNS,
    WINDOW_ROWS,
    Backoff,
    StreamedChild,
    SupervisedChild,
)

NAME = "nettop"
NETTOP = platform_seam.TOOLS["nettop"]
# A pid nettop has not reported for this many frames is forgotten (bounded memory).
FORGET_AFTER_FRAMES = 600


def command(interval_s: float = 1.0, executable: str | None = None) -> list[str]:
    seconds = max(1, round(interval_s))
    executable = executable or platform_seam.tool_path("nettop")
    return [executable, "-P", "-L", "0", "-d", "-x", "-n", "-s", str(seconds),
            "-J", "bytes_in,bytes_out"]  # fmt: skip


def probe() -> str | None:
    if not platform_seam.is_macos():
        return "nettop exists on macOS only"
    return platform_seam.tool_missing("nettop")


@dataclass(slots=True)
class _Total:
    name: str
    bytes: int
    frame: int  # last frame that mentioned the pid


class NettopTotals:
    """Cumulative bytes per pid from a stream of frames in delta mode (pure bookkeeping)."""

    def __init__(self) -> None:
        self.by_pid: dict[int, _Total] = {}
        self.frame = -1  # frames seen, over every run of nettop
        self._cumulative = False

    def start_frame(self, frame: NettopFrame) -> None:
        self.frame += 1
        # The first frame of each nettop run (index 0 of its stream) holds totals, not deltas.
        self._cumulative = frame.index == 0
        if self.frame % 64 == 0:  # now and then, forget processes long gone
            horizon = self.frame - FORGET_AFTER_FRAMES
            self.by_pid = {p: t for p, t in self.by_pid.items() if t.frame >= horizon}

    def add_row(self, row: NettopRow) -> None:
        value = row.bytes_total
        if value is None:
            return
        value = max(0, value)
        old = self.by_pid.get(row.pid)
        if self._cumulative or old is None or old.name != row.name:
            # A run's first frame is cumulative; a pid first seen later brings all its bytes so
            # far; a new name on a known pid is a reused pid and starts afresh.
            self.by_pid[row.pid] = _Total(row.name, value, self.frame)
        else:
            old.bytes += value
            old.frame = self.frame

    def patches(self) -> dict[int, dict[str, int]]:
        return {pid: {"net_bytes": t.bytes} for pid, t in self.by_pid.items()}


class NettopSource:
    """The `nettop` source (see the module docstring)."""

    name = NAME

    def __init__(
        self,
        argv: list[str] | None = None,
        interval_s: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.argv = argv or command(interval_s)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._totals = NettopTotals()
        self._parser = NettopStreamParser()
        self._pending = b""
        self._lineno = 0
        self._frames = 0
        self._last_frame_at: float | None = None
        self._started_at = time.monotonic()
        self._child = SupervisedChild(self._start, NAME, backoff)
        self._child.begin()

    def _start(self) -> StreamedChild:
        """A new nettop run, read from a fresh stream state (its first frame is cumulative)."""
        self._parser = NettopStreamParser()
        self._pending = b""
        self._lineno = 0
        self._started_at = time.monotonic()
        # A terminal on stdin and stdout, and a large one: see the module docstring.
        return StreamedChild(
            self.argv,
            self._on_chunk,
            use_pty=True,
            window=(WINDOW_ROWS, WINDOW_COLUMNS),
            thread_name="lagwatch-nettop",
        )

    @property
    def _proc(self) -> subprocess.Popen[bytes]:
        child = self._child.child
        assert child is not None  # begun in __init__
        return child.proc

    @property
    def restarts(self) -> int:
        return self._child.restarts

    @property
    def pid(self) -> int:
        return self._child.pid

    # -- the reader thread -----------------------------------------------------------------

    def _on_chunk(self, chunk: bytes) -> None:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for raw in lines:
            self._lineno += 1
            self._line(raw.decode("utf-8", "replace").rstrip("\r"), self._lineno)

    def _line(self, line: str, lineno: int) -> None:
        item = self._parser.feed(line, lineno)
        if item is None:
            if line.strip() and "," not in line:
                self._child.note(line)  # an error message, quoted if nettop dies
            return
        with self._lock:
            if isinstance(item, NettopFrame):
                self._totals.start_frame(item)
                self._frames += 1
                self._last_frame_at = time.monotonic()
            elif isinstance(item, NettopRow):
                self._totals.add_row(item)
        self._child.data_seen()

    # -- the source ------------------------------------------------------------------------

    def read(self) -> SourceReading:
        warnings = self._child.poll()  # restarts a dead nettop; raises when it gives up
        with self._lock:
            patches = self._totals.patches()
            last = self._last_frame_at
        quiet_for = time.monotonic() - (last if last is not None else self._started_at)
        if quiet_for > max(30.0, 10 * self.interval_s):
            warnings.append(f"nettop: no data for {quiet_for:.0f}s")
        return SourceReading(patches=patches, warnings=warnings)

    def close(self) -> None:
        self._child.close()
