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
line-buffered instead of arriving in 4 KiB lumps. If the child dies, the next ``read()`` raises
:class:`SourceError` with its exit status and last words; the sampler drops the source and the
others go on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from lagwatch.parsers.nettop import NettopFrame, NettopRow, NettopStreamParser
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import StreamedChild

NAME = "nettop"
NETTOP = "/usr/bin/nettop"
# A pid nettop has not reported for this many frames is forgotten (bounded memory).
FORGET_AFTER_FRAMES = 600


def command(interval_s: float = 1.0, executable: str = NETTOP) -> list[str]:
    seconds = max(1, round(interval_s))
    return [executable, "-P", "-L", "0", "-d", "-x", "-n", "-s", str(seconds),
            "-J", "bytes_in,bytes_out"]  # fmt: skip


def probe() -> str | None:
    if sys.platform != "darwin":
        return "nettop exists on macOS only"
    if shutil.which("nettop") is None and not os.path.exists(NETTOP):
        return "nettop not found"
    return None


@dataclass(slots=True)
class _Total:
    name: str
    bytes: int
    frame: int  # last frame that mentioned the pid


class NettopTotals:
    """Cumulative bytes per pid from a stream of frames in delta mode (pure bookkeeping)."""

    def __init__(self) -> None:
        self.by_pid: dict[int, _Total] = {}
        self.frame = -1

    def start_frame(self, frame: NettopFrame) -> None:
        self.frame = frame.index
        if frame.index % 64 == 0:  # now and then, forget processes long gone
            horizon = frame.index - FORGET_AFTER_FRAMES
            self.by_pid = {p: t for p, t in self.by_pid.items() if t.frame >= horizon}

    def add_row(self, row: NettopRow) -> None:
        value = row.bytes_total
        if value is None:
            return
        value = max(0, value)
        old = self.by_pid.get(row.pid)
        if self.frame == 0 or old is None or old.name != row.name:
            # Frame 0 is cumulative; a pid first seen later brings all its bytes so far; a new
            # name on a known pid is a reused pid and starts afresh.
            self.by_pid[row.pid] = _Total(row.name, value, self.frame)
        else:
            old.bytes += value
            old.frame = self.frame

    def patches(self) -> dict[int, dict[str, int]]:
        return {pid: {"net_bytes": t.bytes} for pid, t in self.by_pid.items()}


class NettopSource:
    """The `nettop` source (see the module docstring)."""

    name = NAME

    def __init__(self, argv: list[str] | None = None, interval_s: float = 1.0) -> None:
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
        # A terminal on stdin and stdout: see the module docstring.
        self._child = StreamedChild(
            self.argv, self._on_chunk, use_pty=True, thread_name="lagwatch-nettop"
        )

    @property
    def _proc(self) -> subprocess.Popen[bytes]:
        return self._child.proc

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

    # -- the source ------------------------------------------------------------------------

    def read(self) -> SourceReading:
        if (death := self._child.death) is not None:
            raise SourceError(death)
        with self._lock:
            patches = self._totals.patches()
            last = self._last_frame_at
        warnings = []
        quiet_for = time.monotonic() - (last if last is not None else self._started_at)
        if quiet_for > max(30.0, 10 * self.interval_s):
            warnings.append(f"nettop: no data for {quiet_for:.0f}s")
        return SourceReading(patches=patches, warnings=warnings)

    def close(self) -> None:
        self._child.close()
