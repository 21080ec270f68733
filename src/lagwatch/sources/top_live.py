"""The `top` process source: macOS's own ``top`` in logging mode, for Macs where the libproc
binding is unusable (priority between libproc and psutil).

One long-lived child::

    top -l 0 -s SECONDS -F -stats pid,ppid,uid,user,command,state,cpu,power,idlew,pageins,
                                   csw,mem,threads,time

``-l 0`` samples forever in logging mode (full-width lines, a date line per block), ``-F``
skips the shared-library statistics (cheaper). It runs on a pseudo-terminal so its stdio
output arrives line by line. A reader thread feeds lagwatch.parsers.top's stream parser and
turns every block into ProcessSamples (lagwatch.parsers.top_convert) with the rates top measured;
counter rates (IDLEW, PAGEINS, CSW) use the time between blocks as this process saw them
arrive. A block is complete when it holds as many rows as its ``Processes: N total`` line, or
when the next block starts.

``read()`` returns the newest block, waiting up to one interval for a block newer than the
one it returned last; the first ``read()`` waits for top's first block, whose rates are null
(top measures nothing in it). If top dies or prints no sample, ``read()`` raises SourceError
with its exit status and last words; the sampler drops the source and carries on.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lagwatch import platform_seam
from lagwatch.model import ProcessSample
from lagwatch.parsers.top import TopBlock, TopStreamParser
from lagwatch.parsers.top_convert import TopConverter
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import StreamedChild

NAME = "top"
TOP = platform_seam.TOOLS["top"]
STATS = "pid,ppid,uid,user,command,state,cpu,power,idlew,pageins,csw,mem,threads,time"


def command(interval_s: float = 1.0, executable: str | None = None) -> list[str]:
    seconds = max(1, round(interval_s))  # top's -s takes whole seconds
    executable = executable or platform_seam.tool_path("top")
    return [executable, "-l", "0", "-s", str(seconds), "-F", "-stats", STATS]


def probe() -> str | None:
    if not platform_seam.is_macos():
        return "top -l is macOS's top; not this platform"
    return platform_seam.tool_missing("top")


@dataclass(slots=True)
class _Latest:
    seq: int = 0
    samples: list[ProcessSample] = field(default_factory=list)
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class TopSource:
    """The `top` source (see the module docstring)."""

    name = NAME

    def __init__(
        self,
        interval_s: float = 1.0,
        executable: str | None = None,
        argv: list[str] | None = None,
        first_sample_timeout_s: float | None = None,
        use_pty: bool = True,
    ) -> None:
        self.interval_s = max(1.0, float(round(interval_s)) or 1.0)
        self.argv = argv or command(interval_s, executable)
        # top needs one interval to print its first block; allow for a slow start.
        self.first_sample_timeout_s = first_sample_timeout_s or 3 * self.interval_s + 5.0
        self._cond = threading.Condition()
        self._latest = _Latest()
        self._returned_seq = 0
        self._parser = TopStreamParser()
        self._converter = TopConverter()
        self._pending = b""
        self._block_started: dict[int, float] = {}  # block index -> monotonic time first line
        self._last_block_time: float | None = None
        self._started_at = time.monotonic()
        self._child = StreamedChild(
            self.argv, self._on_chunk, use_pty=use_pty, thread_name="lagwatch-top"
        )

    @property
    def pid(self) -> int:
        return self._child.pid

    # -- reader thread ---------------------------------------------------------------------

    def _on_chunk(self, chunk: bytes) -> None:
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._line(raw.decode("utf-8", "replace"))

    def _line(self, line: str) -> None:
        now = time.monotonic()
        before = self._parser.pending
        done = self._parser.feed(line)
        block = self._parser.pending
        if block is not None and block is not before:
            self._block_started[block.index] = now
        if not done and not line.strip().startswith(("Processes:", "PID")) and block is None:
            self._child.note(line)  # not top output: probably why it is about to die
        if len(self._parser.warnings) > 100:  # garbage between blocks: keep memory bounded
            del self._parser.warnings[:-10]
        for finished in done:
            self._publish(finished)
        if block is not None and _complete(block):
            finished = self._parser.flush()
            if finished is not None:
                self._publish(finished)

    def _publish(self, block: TopBlock) -> None:
        started = self._block_started.pop(block.index, time.monotonic())
        interval = None
        if self._last_block_time is not None:
            interval = started - self._last_block_time
        self._last_block_time = started
        conv = self._converter.convert(block, interval if interval and interval > 0 else None)
        warnings = [f"top: {w}" for w in block.warnings[:3]]
        with self._cond:
            self._latest = _Latest(
                seq=self._latest.seq + 1,
                samples=conv.samples,
                system=conv.system,
                warnings=warnings,
            )
            self._cond.notify_all()

    # -- the source ------------------------------------------------------------------------

    def read(self) -> SourceReading:
        with self._cond:
            if self._latest.seq == 0:
                deadline = self._started_at + self.first_sample_timeout_s
                self._wait(lambda: self._latest.seq > 0, deadline)
                if self._latest.seq == 0:
                    death = self._child.death
                    if death is not None:
                        raise SourceError(death)
                    words = "; ".join(self._child.diagnostics)
                    raise SourceError(
                        f"top printed no sample in {self.first_sample_timeout_s:.0f}s"
                        + (f": {words}" if words else "")
                    )
            else:
                # Wait a little for a block newer than the last one returned.
                deadline = time.monotonic() + 1.5 * self.interval_s
                self._wait(lambda: self._latest.seq > self._returned_seq, deadline)
            latest = self._latest
            self._returned_seq = latest.seq
        death = self._child.death
        if death is not None:  # what it printed last is no longer news
            raise SourceError(death)
        return SourceReading(
            # Copies: the sampler merges other sources' patches into these objects.
            processes=[_copy(s) for s in latest.samples],
            system=dict(latest.system),
            warnings=list(latest.warnings),
        )

    def _wait(self, ready: Any, deadline: float) -> None:
        while not ready():
            if self._child.death is not None:
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


def _copy(sample: ProcessSample) -> ProcessSample:
    out = copy.copy(sample)
    if sample.rates is not None:
        out.rates = dict(sample.rates)
    return out
