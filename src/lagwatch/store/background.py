"""The daemon's writes on their own thread, so a disk that blocks never stops sampling.

A frozen filesystem (``fsfreeze``, a backup tool's snapshot) or a hung network home makes a
write block for as long as it lasts. The sampling thread only queues: each tick is prepared
(no I/O) and put in a bounded queue that this thread writes through a ``Recorder``. When the
queue is full (the writer has been blocked for ``max_queued`` ticks) the oldest tick is dropped
and counted: ``dropped`` here plus ``Recorder.dropped_total`` (ticks its own queue could not
hold while writes failed) is what status and ``/metrics`` report. Events are never dropped:
each keeps only its newest version until written.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable

from lagwatch.events import Event
from lagwatch.model import Ranking
from lagwatch.store.writer import Recorder, _TickRecord

log = logging.getLogger("lagwatch.store")


class BackgroundWriter:
    def __init__(
        self,
        recorder: Recorder,
        max_queued: int | None = None,
        idle_wait_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recorder = recorder
        maxlen = recorder._pending.maxlen
        self.max_queued = max_queued if max_queued is not None else (maxlen or 600)
        self.idle_wait_s = idle_wait_s  # how often retries, retention and the file watch run
        self.clock = clock
        self._cond = threading.Condition()
        self._ticks: deque[_TickRecord] = deque()
        self._events: dict[int, Event] = {}
        self._wake = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None  # clock() when the current disk call began
        self.dropped = 0  # ticks this queue could not hold (the writer was blocked)
        self.fatal: BaseException | None = None  # a bug or a file refused at start
        self._maintain_failed = False
        self._bugs: set[str] = set()

    # -- the sampling thread's side ----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lagwatch-writer", daemon=True)
        self._thread.start()

    def submit(self, ranking: Ranking, sweep_s: float | None = None) -> bool:
        """Queue a tick; False when the queue was full and its oldest tick was dropped."""
        record = self.recorder.prepare(ranking, sweep_s)
        with self._cond:
            full = len(self._ticks) >= self.max_queued
            if full:
                self._ticks.popleft()
                self.dropped += 1
            self._ticks.append(record)
            self._cond.notify()
        return not full

    def save_event(self, event: Event) -> None:
        """Queue the newest version of an event (it replaces an older one still queued)."""
        with self._cond:
            self._events[event.key] = event
            self._cond.notify()

    def flush_soon(self) -> None:
        """Write what is queued now rather than with the next tick (a pause is precious)."""
        with self._cond:
            self._wake = True
            self._cond.notify()

    def with_id(self, event: Event) -> Event:
        return self.recorder.with_id(event)

    def take_written(self) -> list[int]:
        """Keys of the events written since the last call (their ids are now known)."""
        keys = self.recorder.written_keys
        out = []
        while keys:
            out.append(keys.popleft())
        return out

    @property
    def queued(self) -> int:
        """Ticks waiting: in this queue, and in the recorder's while writes fail."""
        return len(self._ticks) + self.recorder.pending

    @property
    def dropped_total(self) -> int:
        return self.dropped + self.recorder.dropped_total

    def stalled_s(self) -> float:
        """How long the disk call running now has been blocked (0 when none runs)."""
        since = self._busy_since
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def stop(self, timeout_s: float) -> bool:
        """Write what is queued, close, and end the thread. False when the disk did not let
        that finish within ``timeout_s`` (what is still queued is then lost, and said)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning(
                "history writes still blocked after %.0fs (a frozen or hung filesystem?): "
                "stopping without the %d ticks still queued",
                self.stalled_s(),
                self.queued,
            )
            return False
        return True

    # -- the writer thread ----------------------------------------------------------------

    def _disk(self, action: Callable[[], object]) -> None:
        self._busy_since = self.clock()
        try:
            action()
        finally:
            stalled = self.clock() - self._busy_since
            self._busy_since = None
        if stalled >= 5.0:
            log.warning("history writes resumed after blocking for %.0fs", stalled)

    def _maintain(self) -> None:
        try:
            result = self.recorder.maintain()
        except Exception as exc:  # a bug in retention must not stop the writes
            if not self._maintain_failed:
                self._maintain_failed = True
                log.warning("history maintenance failed: %s", exc)
            return
        if result and (result.get("thinned") or result.get("deleted_old")):
            log.info("history maintenance: %s", result)

    def _run(self) -> None:
        rec = self.recorder
        try:
            self._disk(rec.open)
            self._disk(rec.close_dangling)
        except BaseException as exc:  # the sampling thread raises it
            self.fatal = exc
            return
        while True:
            with self._cond:
                if not (self._ticks or self._events or self._wake or self._stopping):
                    self._cond.wait(self.idle_wait_s)
                ticks = list(self._ticks)
                self._ticks.clear()
                events = list(self._events.values())
                self._events.clear()
                self._wake = False
                stopping = self._stopping
            for event in events:
                rec.save_event(event, flush=False)
            for record in ticks:
                rec.add(record)
            if stopping:
                break
            try:
                self._disk(rec.flush)  # retries what failed before too (with its back-off)
                self._disk(rec.watch)  # when idle; each write checks the file anyway
                self._disk(self._maintain)
            except Exception as exc:  # a bug in one write must not end the recording
                self._bug(exc)
        try:
            self._disk(rec.close)
        except Exception as exc:
            self._bug(exc)

    def _bug(self, exc: Exception) -> None:
        key = f"{type(exc).__name__}:{exc}"
        if key not in self._bugs:
            self._bugs.add(key)
            log.error("history write failed: %s\n%s", exc, traceback.format_exc().rstrip())
