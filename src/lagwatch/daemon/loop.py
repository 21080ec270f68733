"""The daemon's loop: sample, track, record, publish, then sleep in slices watching the clock.

Nothing that happens to one tick stops the loop: a source that fails is replaced, a write that
fails is queued and retried (see store.writer), an unexpected error is logged once and the next
tick goes on. SIGTERM/SIGINT set a flag the slice sleep notices within a fraction of a second.

This thread never touches the disk: ticks and events go to a writer thread through a bounded
queue (store.background), and the health note goes to its own thread too. A disk that blocks
(frozen, hung) therefore never delays a tick, so it can never pass for a pause: a pause is
only ever the loop itself not being let run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lagwatch.daemon.clocks import Clock, SystemClock
from lagwatch.daemon.pause import PauseTracker
from lagwatch.daemon.pressure import PressureConfig, PressureTracker
from lagwatch.daemon.read_warnings import ReadWarnings
from lagwatch.daemon.ring import RingBuffer
from lagwatch.daemon.rogue import RogueConfig, RogueTracker
from lagwatch.events import Event
from lagwatch.live import LiveState
from lagwatch.model import Ranking
from lagwatch.sources.base import SourceError
from lagwatch.store.background import BackgroundWriter
from lagwatch.store.writer import Recorder
from lagwatch.ticker import Ticker

log = logging.getLogger("lagwatch.daemon")


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    interval_s: float = 1.0
    pause_threshold_s: float = 2.0
    slice_s: float = 0.25  # sleep granularity: bounds the error on a pause's length
    ring_s: float = 300.0
    before_s: float = 10.0  # suspects are ranked over this many seconds before a pause
    after_ticks: int = 3  # ...and over this many ticks after it
    source_retry_s: float = 30.0
    stall_after_s: float = 5.0  # a write blocked this long is reported (log, status)
    stop_writes_s: float = 10.0  # how long stopping waits for the last writes
    rogue: RogueConfig = field(default_factory=RogueConfig)
    pressure: PressureConfig = field(default_factory=PressureConfig)


class Daemon:
    def __init__(
        self,
        make_sampler: Callable[[], Ticker],
        recorder: Recorder,
        state: LiveState | None = None,
        config: DaemonConfig = DaemonConfig(),
        clock: Clock | None = None,
        on_health: Callable[[dict[str, Any]], None] | None = None,
        own_pid: int | None = None,
    ) -> None:
        self.make_sampler = make_sampler
        self.recorder = recorder
        self.state = state or LiveState()
        self.config = config
        self.clock = clock or SystemClock.for_platform()
        self.on_health = on_health
        self.writer = BackgroundWriter(recorder)
        # The health note is written to files too (the lock's): never from this thread.
        self._health_box = None if on_health is None else LatestOnly(on_health)
        self.read_warnings = ReadWarnings()
        self.writes_finished = True  # False when stopping could not wait for the last writes
        # Pause suspects never include this process or the tools it runs (see ring).
        self.own_pid = os.getpid() if own_pid is None else own_pid
        self.ring = RingBuffer(config.ring_s, config.interval_s, exclude_tree_of=self.own_pid)
        self.pauses = PauseTracker(
            self.ring, config.pause_threshold_s, config.before_s, config.after_ticks
        )
        self.rogues = RogueTracker(config.rogue)
        self.pressures = PressureTracker(config.pressure)
        self.sampler: Ticker | None = None
        self._stop = threading.Event()
        self._logged: set[str] = set()
        self._work_s: deque[float] = deque(maxlen=30)
        self._sampler_retry_at = 0.0
        self._health: dict[str, Any] = {}
        self._stall_since: float | None = None  # unix time a blocked write began
        self._dropping_from: int | None = None  # drop count when the queue began to overflow
        self._file_changes_seen = 0

    # -- control ---------------------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _awake(self) -> float:
        return self.clock.awake_ns() / 1e9

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # -- the loop --------------------------------------------------------------------------

    def run(self, max_ticks: int | None = None) -> None:
        self.state.started_at = self.clock.wall()
        self.writer.start()  # opens the history on its own thread
        self._report_health()
        next_tick = self._awake()
        ticks = 0
        try:
            while not self.stopping:
                if self.writer.fatal is not None:
                    raise self.writer.fatal  # the history could not be opened at all
                a0, t0 = self.clock.awake_ns(), self.clock.total_ns()
                tick_started = a0 / 1e9
                self._tick()
                a1, t1 = self.clock.awake_ns(), self.clock.total_ns()
                work_s = (a1 - a0) / 1e9
                if self._work_s:
                    # The loop's own work normally takes about its median; beyond that, plus
                    # the threshold, the loop was not allowed to run.
                    self._observe(statistics.median(self._work_s), work_s, (t1 - t0) / 1e9)
                self._work_s.append(work_s)
                ticks += 1
                if max_ticks is not None and ticks >= max_ticks:
                    break
                next_tick += self.config.interval_s
                now = self._awake()
                if next_tick < now:
                    # Fell behind (a pause, a slow write): go on at once rather than burst to
                    # catch up, but never within half an interval of the last reading, whose
                    # rates over a few milliseconds would be noise.
                    next_tick = max(now, tick_started + self.config.interval_s / 2)
                while not self.stopping:
                    remaining = next_tick - self._awake()
                    if remaining <= 0:
                        break
                    want = min(self.config.slice_s, remaining)
                    a0, t0 = self.clock.awake_ns(), self.clock.total_ns()
                    self._wait(want)
                    a1, t1 = self.clock.awake_ns(), self.clock.total_ns()
                    if not self.stopping:
                        self._observe(want, (a1 - a0) / 1e9, (t1 - t0) / 1e9)
                    self._publish_written()
        finally:
            self._shutdown()
        if self.writer.fatal is not None:
            raise self.writer.fatal  # the history could not be opened at all

    def _tick(self) -> None:
        try:
            sampler = self._sampler()
            if sampler is None:
                return
            t0 = self._awake()
            ranking = sampler.tick()
            sweep_s = self._awake() - t0
            if ranking is not None:
                self._handle(ranking, sweep_s)
        except SourceError as exc:
            self._once(f"source:{exc}", "sampling failed: %s; retrying with fresh sources", exc)
            self._drop_sampler()
        except Exception as exc:  # a bug in one tick must not end the recording
            key = f"{type(exc).__name__}:{exc}"
            if key not in self._logged:
                self._logged.add(key)
                log.error("tick failed: %s\n%s", exc, traceback.format_exc().rstrip())

    def _handle(self, ranking: Ranking, sweep_s: float) -> None:
        entry = self.ring.add(ranking)
        changed = (
            self.pauses.after_tick(entry)
            + self.rogues.update(ranking)
            + self.pressures.update(ranking)
        )
        for event in changed:
            self._event_changed(event)
        if not self.writer.submit(ranking, sweep_s) and self._dropping_from is None:
            self._dropping_from = self.writer.dropped_total - 1
            log.warning(
                "history write queue full (%d ticks wait for the disk): the oldest queued tick "
                "is dropped for each new one until writes go through (counted in lagwatch "
                "status and lagwatch_store_dropped_rankings_total)",
                self.writer.max_queued,
            )
        self.read_warnings.note(ranking.warnings, self._awake())
        self._publish_written()
        self.state.publish(ranking, sweep_s)
        self.state.count_losses(self.writer.dropped_total, self.read_warnings.total)
        self._report_health()

    def _observe(self, expected_s: float, awake_s: float, total_s: float) -> None:
        event = self.pauses.observe(expected_s, awake_s, total_s, self.clock.wall())
        if event is None:
            return
        self._event_changed(event)
        self.writer.flush_soon()  # a pause is precious: on disk now, not with the next tick

    def _event_changed(self, event: Event) -> None:
        """A new version of an event: shown at once, logged when new or ended, queued."""
        if self.state.add_event(self.writer.with_id(event)):
            log.warning("event: %s", event.describe())
        elif event.end is not None and event.kind in ("rogue", "pressure"):
            log.warning("event ended: %s", event.describe())
        self.writer.save_event(event)

    def _publish_written(self) -> None:
        """Show events again with their database ids once the writer has written them (all
        of them when the history file changed: ids of the old file mean nothing in the new)."""
        keys = set(self.writer.take_written())
        changes = self.recorder.file_changes
        if not keys and changes == self._file_changes_seen:
            return
        every = changes != self._file_changes_seen
        self._file_changes_seen = changes
        for held in self.state.events():
            if every or held.key in keys:
                self.state.add_event(self.writer.with_id(replace(held, id=None)))

    def _sampler(self) -> Ticker | None:
        if self.sampler is None:
            if self._awake() < self._sampler_retry_at:
                return None
            try:
                self.sampler = self.make_sampler()
            except (SourceError, OSError) as exc:
                self._sampler_retry_at = self._awake() + self.config.source_retry_s
                self._once(f"nosampler:{exc}", "cannot start sampling: %s (retrying)", exc)
                return None
        return self.sampler

    def _drop_sampler(self) -> None:
        if self.sampler is not None:
            with contextlib.suppress(Exception):
                self.sampler.close()
        self.sampler = None

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)

    def _write_stall(self) -> tuple[str, str] | None:
        """(condition, advice) while a write has been blocked for long; logged once."""
        stalled = self.writer.stalled_s()
        if stalled < self.config.stall_after_s:
            self._stall_since = None
            return None
        if self._stall_since is None:
            self._stall_since = time.time() - stalled
            log.warning(
                "writing history %s has not returned for %.0fs (a frozen or hung "
                "filesystem?): sampling goes on and up to %d ticks wait in memory",
                self.recorder.path,
                stalled,
                self.writer.max_queued,
            )
        return "stalled", (
            f"writing {self.recorder.path} has not returned (a frozen or hung filesystem?); "
            f"sampling goes on and up to {self.writer.max_queued} ticks wait in memory"
        )

    def _report_health(self) -> None:
        cond = self.recorder.condition
        stall = self._write_stall()
        dropped = self.writer.dropped_total
        if self._dropping_from is not None and stall is None and self.writer.queued == 0:
            log.warning(
                "writes caught up: %d ticks were dropped meanwhile", dropped - self._dropping_from
            )
            self._dropping_from = None
        name, advice = stall or ((cond.name, cond.advice) if cond is not None else (None, None))
        health = {
            "health": "ok" if name is None else "degraded",
            "write_condition": name,
            "write_advice": advice,
            "write_failing_since": self._stall_since if stall else self.recorder.condition_since,
            "pending_ticks": self.writer.queued,
            "dropped_ticks": dropped,
            "history_file_change": self.recorder.file_change,
            "read_warnings": self.read_warnings.total,
            "read_warning_kinds": self.read_warnings.top(),
            "dropped_sources": list(self.sampler.dropped) if self.sampler else [],
        }
        if health != self._health:
            self._health = health
            if self._health_box is not None:
                self._health_box.post(health)

    def _shutdown(self) -> None:
        for event in self.rogues.close_all() + self.pressures.close_all():
            self._event_changed(event)
        for event in self.pauses.pending:
            self.writer.save_event(event)
        try:
            self.writes_finished = self.writer.stop(self.config.stop_writes_s)
            self._publish_written()
            self._report_health()  # the last word: what was written, dropped, still queued
        finally:
            self._drop_sampler()
            if self._health_box is not None:
                self._health_box.close(timeout_s=1.0)


class LatestOnly:
    """Hands the newest value to ``deliver`` on its own thread; values posted while it runs
    replace one another (a health note blocked on a frozen disk never blocks the loop)."""

    def __init__(self, deliver: Callable[[Any], None]) -> None:
        self._deliver = deliver
        self._cond = threading.Condition()
        self._value: Any = None
        self._has = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="lagwatch-health", daemon=True)
        self._thread.start()

    def post(self, value: Any) -> None:
        with self._cond:
            self._value, self._has = value, True
            self._cond.notify()

    def close(self, timeout_s: float) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has and not self._closing:
                    self._cond.wait()
                if not self._has:
                    return
                value, self._has = self._value, False
            try:
                self._deliver(value)
            except Exception as exc:  # a note that cannot be written must not end the notes
                log.debug("health note not written: %s", exc)
