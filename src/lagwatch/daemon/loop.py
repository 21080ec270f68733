"""The daemon's loop: sample, track, record, publish, then sleep in slices watching the clock.

Nothing that happens to one tick stops the loop: a source that fails is replaced, a write that
fails is queued and retried (see store.writer), an unexpected error is logged once and the next
tick goes on. SIGTERM/SIGINT set a flag the slice sleep notices within a fraction of a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lagwatch.daemon.clocks import Clock, SystemClock
from lagwatch.daemon.pause import PauseTracker
from lagwatch.daemon.pressure import PressureConfig, PressureTracker
from lagwatch.daemon.ring import RingBuffer
from lagwatch.daemon.rogue import RogueConfig, RogueTracker
from lagwatch.events import Event
from lagwatch.live import LiveState
from lagwatch.model import Ranking
from lagwatch.sources.base import SourceError
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
        self.recorder.open()
        self.recorder.close_dangling()
        self._report_health()
        next_tick = self._awake()
        ticks = 0
        try:
            while not self.stopping:
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
                self._maintain()
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
        finally:
            self._shutdown()

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
        self.recorder.record(ranking, sweep_s)
        for event in changed:  # ids exist once written
            self._publish(event)
        self.state.publish(ranking, sweep_s)
        self._report_health()

    def _observe(self, expected_s: float, awake_s: float, total_s: float) -> None:
        event = self.pauses.observe(expected_s, awake_s, total_s, self.clock.wall())
        if event is None:
            return
        self._event_changed(event)
        self.recorder.flush()  # a pause is precious: on disk now, not with the next tick
        self._publish(event)

    def _event_changed(self, event: Event) -> None:
        """A new version of an event: shown at once, logged when new or ended, queued."""
        if self.state.add_event(event):
            log.warning("event: %s", event.describe())
        elif event.end is not None and event.kind in ("rogue", "pressure"):
            log.warning("event ended: %s", event.describe())
        self.recorder.save_event(event, flush=False)

    def _publish(self, event: Event) -> None:
        """Show the event again with its database id, once a version of it is written."""
        self.state.add_event(self.recorder.with_id(event))

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

    def _maintain(self) -> None:
        try:
            result = self.recorder.maintain()
        except Exception as exc:
            self._once(f"maintain:{exc}", "history maintenance failed: %s", exc)
            return
        if result and (result.get("thinned") or result.get("deleted_old")):
            log.info("history maintenance: %s", result)

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)

    def _report_health(self) -> None:
        cond = self.recorder.condition
        health = {
            "health": "ok" if cond is None else "degraded",
            "write_condition": None if cond is None else cond.name,
            "write_advice": None if cond is None else cond.advice,
            "write_failing_since": self.recorder.condition_since,
            "pending_ticks": self.recorder.pending,
            "dropped_sources": list(self.sampler.dropped) if self.sampler else [],
        }
        if health != self._health:
            self._health = health
            if self.on_health is not None:
                self.on_health(health)

    def _shutdown(self) -> None:
        for event in self.rogues.close_all() + self.pressures.close_all():
            self._event_changed(event)
            self._publish(event)
        for event in self.pauses.pending:
            self.recorder.save_event(event, flush=False)
        try:
            self.recorder.close()
        finally:
            self._drop_sampler()
