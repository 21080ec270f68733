"""The daemon's logic without real time: pause classification, suspects, ring buffer, rogue
episodes, and the loop itself driven by a fake clock and a fake sampler."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from lagwatch.daemon.clocks import SystemClock, clock_ids
from lagwatch.daemon.loop import Daemon, DaemonConfig
from lagwatch.daemon.pause import PauseTracker, classify_gap, rank_suspects
from lagwatch.daemon.ring import RingBuffer, RingEntry, process_tree
from lagwatch.daemon.rogue import RogueConfig, RogueTracker
from lagwatch.events import Event
from lagwatch.live import LiveState
from lagwatch.model import ProcessRow, Ranking
from lagwatch.sources.base import SourceError
from lagwatch.store import History, Recorder

T0 = 1_800_000_000.0


def row(pid: int, score: float, start_id: int = 1, name: str | None = None) -> ProcessRow:
    return ProcessRow(
        pid=pid, ppid=1, name=name or f"p{pid}", user="u", state="running", restricted=False,
        memory_bytes=1 << 20, threads=1, cpu_percent=score, score=score, dominant="cpu",
        start_id=start_id,
    )  # fmt: skip


def ranking(t: float, rows: list[ProcessRow], interval_s: float = 1.0) -> Ranking:
    return Ranking(t, interval_s, "linux", ["fake"], rows)


# -- gaps --------------------------------------------------------------------------------


def test_gap_on_time_late_and_asleep() -> None:
    assert classify_gap(0.25, 0.26, 0.26).kind == "ok"
    assert classify_gap(0.25, 2.2, 2.2).kind == "ok"  # under the 2 s threshold
    pause = classify_gap(0.25, 4.2, 4.2)
    assert pause.kind == "pause" and pause.late_s == pytest.approx(3.95)
    # The machine slept 60 s: the awake clock stopped, the total clock did not.
    sleep = classify_gap(0.25, 0.3, 60.3)
    assert sleep.kind == "sleep" and sleep.slept_s == pytest.approx(60.0)
    # Late on waking from sleep is the machine resuming, not a freeze.
    assert classify_gap(0.25, 5.0, 65.0).kind == "sleep"
    assert classify_gap(1.0, 3.5, 3.5, threshold_s=3.0).kind and (
        classify_gap(1.0, 3.5, 3.5, threshold_s=3.0).kind == "ok"
    )


def test_clock_ids_per_platform() -> None:
    import time

    linux = clock_ids("linux")
    assert linux == (getattr(time, "CLOCK_MONOTONIC", None), getattr(time, "CLOCK_BOOTTIME", None))
    awake, total = clock_ids("darwin")
    assert awake == getattr(time, "CLOCK_UPTIME_RAW", None)
    assert total == getattr(time, "CLOCK_MONOTONIC_RAW", None)
    assert clock_ids("win32") == (None, None)
    clock = SystemClock.for_platform()
    a, t = clock.awake_ns(), clock.total_ns()
    assert t >= a > 0  # the sleep-counting clock is never behind the awake one


# -- ring and suspects ---------------------------------------------------------------------


def test_ring_buffer_is_bounded_in_time_and_rows() -> None:
    ring = RingBuffer(seconds=10.0, interval_s=1.0, top_k=3, threshold=50.0, max_rows=5)
    for k in range(30):
        entry = ring.add(ranking(T0 + k, [row(i, float(i * 10)) for i in range(10)]))
    assert len(ring) <= 12
    assert ring.window(T0, T0 + 100)[0].time >= T0 + 29 - 10
    # Top 3, plus any at or above 50, at most 5.
    assert [r.pid for r in entry.rows] == [9, 8, 7, 6, 5]


def child(pid: int, ppid: int, score: float, name: str | None = None) -> ProcessRow:
    r = row(pid, score, name=name)
    r.ppid = ppid
    return r


def test_process_tree_is_a_process_and_all_its_descendants() -> None:
    rows = [row(1, 0.0), child(500, 1, 10.0, "lagwatch"), child(501, 500, 5.0, "sudo"),
            child(502, 501, 80.0, "powermetrics"), child(7, 1, 50.0),
            child(600, 601, 1.0), child(601, 600, 1.0)]  # fmt: skip
    assert process_tree(rows, 500) == {(500, 1), (501, 1), (502, 1)}
    assert process_tree(rows, 600) == {(600, 1), (601, 1)}  # a ppid cycle ends
    assert process_tree(rows, 999) == set()


def test_ring_never_keeps_the_daemon_or_the_tools_it_runs() -> None:
    ring = RingBuffer(exclude_tree_of=500)
    rows = [child(500, 1, 90.0, "lagwatch"), child(502, 500, 85.0, "powermetrics"),
            child(7, 1, 30.0, "hog")]  # fmt: skip
    assert [r.pid for r in ring.add(ranking(T0, rows)).rows] == [7]
    assert [r.pid for r in RingBuffer().add(ranking(T0, rows)).rows] == [500, 502, 7]


def test_rank_suspects_before_and_after() -> None:
    before = [RingEntry(T0 + k, 1.0, (row(1, 80.0), row(2, 10.0))) for k in range(5)]
    # Process 3 shows up only after the pause, with a high score.
    after = [RingEntry(T0 + 10, 5.0, (row(3, 90.0), row(1, 20.0)))]
    suspects = rank_suspects(before, after)
    assert [s["pid"] for s in suspects] == [3, 1, 2]
    assert suspects[0] == {"pid": 3, "name": "p3", "score": 90.0, "dominant": "cpu",
                           "score_before": 0.0, "score_after": 90.0}  # fmt: skip
    assert suspects[1]["score"] == 80.0 and suspects[1]["score_after"] == 20.0
    # A process present in one tick of five averages to a fifth of its score.
    sparse = [RingEntry(T0 + k, 1.0, (row(4, 50.0),) if k == 0 else ()) for k in range(5)]
    assert rank_suspects(sparse, [])[0]["score"] == 10.0
    assert rank_suspects([RingEntry(T0, 1.0, (row(5, 0.2),))], []) == []  # nobody stood out


def test_pause_tracker_completes_suspects_from_ticks_after() -> None:
    ring = RingBuffer()
    for k in range(20):
        ring.add(ranking(T0 + k, [row(1, 70.0), row(2, 5.0)]))
    tracker = PauseTracker(ring, threshold_s=2.0, before_s=10.0, after_ticks=2)
    assert tracker.observe(0.25, 0.3, 0.3, T0 + 20) is None
    event = tracker.observe(0.25, 4.25, 4.25, T0 + 24.0)
    assert event is not None and event.kind == "pause"
    assert event.start == pytest.approx(T0 + 20.0) and event.end == T0 + 24.0
    assert event.duration_s == pytest.approx(4.0)
    assert event.details["ticks_before"] == 10
    assert event.suspects[0]["pid"] == 1
    changed = tracker.after_tick(ring.add(ranking(T0 + 24.1, [row(9, 95.0)], interval_s=5.0)))
    assert [e.key for e in changed] == [event.key]  # a new version of the same pause
    assert event.details["ticks_after"] == 0  # versions are never changed in place
    (event,) = tracker.after_tick(ring.add(ranking(T0 + 25.1, [row(9, 95.0)])))
    assert tracker.pending == []
    assert event.details["ticks_after"] == 2
    assert event.suspects[0]["pid"] == 9  # the process that dominated after the pause
    assert {i["phase"] for i in event.timeline} == {"before", "during", "after"}
    assert tracker.after_tick(ring.add(ranking(T0 + 26, []))) == []  # nothing open any more
    assert tracker.observe(0.25, 0.3, 100.3, T0 + 127) is None  # sleep is not a pause
    assert tracker.slept_s == pytest.approx(100.0)


# -- rogue episodes -------------------------------------------------------------------------


def feed(tracker: RogueTracker, scores: list[float], pid: int = 7, t0: float = T0):
    """The newest version of each event the tracker reported, in order of appearance."""
    events: dict[int, Event] = {}
    for k, score in enumerate(scores):
        rows = [row(pid, score)] if score >= 0 else []
        for ev in tracker.update(ranking(t0 + k, rows)):
            events[ev.key] = ev
    return list(events.values())


def test_sustained_process_is_one_episode_with_peak_and_end() -> None:
    tracker = RogueTracker(RogueConfig(enter=50, exit=35, sustain_s=5, cooldown_s=4))
    scores = [10, 60, 62, 65, 90, 70, 60, 55, 20, 20, 20, 20, 20, 20]
    events = feed(tracker, scores)
    assert len(events) == 1
    ev = events[0]
    assert ev.start == T0 + 0  # the first hot interval started one tick before it
    assert ev.end == T0 + 7  # the last tick at or above the exit band
    assert ev.duration_s == 7.0
    assert ev.details["peak_score"] == 90 and ev.details["peak_time"] == T0 + 4
    assert ev.details["ended"] == "calmed"
    assert ev.suspects == [{"pid": 7, "name": "p7", "score": 90.0, "dominant": "cpu"}]


def test_flapping_process_is_one_event_and_short_burst_none() -> None:
    cfg = RogueConfig(enter=50, exit=35, sustain_s=5, cooldown_s=4)
    flapping = [60, 20, 70, 30, 65, 10, 80, 20, 60, 25, 70] + [0] * 8
    events = feed(RogueTracker(cfg), flapping)
    assert len(events) == 1 and events[0].end == T0 + 10
    assert feed(RogueTracker(cfg), [80, 80, 80, 10, 10, 10, 10, 10, 10]) == []  # 3 s burst


def test_episode_ends_when_process_exits_or_daemon_stops() -> None:
    cfg = RogueConfig(enter=50, exit=35, sustain_s=3, cooldown_s=30)
    tracker = RogueTracker(cfg)
    events = feed(tracker, [80, 80, 80, 80, 80, -1])  # -1: the process is gone
    assert len(events) == 1 and events[0].details["ended"] == "exited"
    assert events[0].end == T0 + 4
    tracker = RogueTracker(cfg)
    events = feed(tracker, [80] * 6)
    assert events[0].end is None and [e.key for e in tracker.ongoing] == [events[0].key]
    closed = tracker.close_all()
    assert [e.key for e in closed] == [events[0].key] and closed[0].end == T0 + 5
    assert closed[0].details["ended"] == "daemon stopped"


def test_reused_pid_is_a_different_process() -> None:
    tracker = RogueTracker(RogueConfig(enter=50, exit=35, sustain_s=3, cooldown_s=30))
    for k in range(5):
        tracker.update(ranking(T0 + k, [row(7, 80, start_id=1)]))
    changed = tracker.update(ranking(T0 + 5, [row(7, 80, start_id=2)]))
    assert [e.details["ended"] for e in changed] == ["exited"]


# -- the loop with a fake clock --------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.awake = 1000.0
        self.total = 1000.0

    def awake_ns(self) -> int:
        return int(self.awake * 1e9)

    def total_ns(self) -> int:
        return int(self.total * 1e9)

    def wall(self) -> float:
        return T0 + self.total


class FakeSampler:
    """Ticks whose rankings come from ``script(n)``; raises what the script returns."""

    def __init__(self, clock: FakeClock, script) -> None:
        self.clock = clock
        self.script = script
        self.n = 0
        self.last: float | None = None
        self.dropped: list[str] = []
        self.source_names = ["fake"]
        self.closed = False

    def tick(self) -> Ranking | None:
        self.n += 1
        now = self.clock.wall()
        prev, self.last = self.last, now
        rows = self.script(self.n)
        if isinstance(rows, BaseException):
            raise rows
        return None if prev is None else ranking(now, rows, interval_s=now - prev)

    def close(self) -> None:
        self.closed = True


class ScriptedDaemon(Daemon):
    """Sleeping advances the fake clock; ``on_wait`` may freeze or suspend the machine."""

    def __init__(self, *args, on_wait=None, **kw) -> None:
        super().__init__(*args, **kw)
        self.on_wait = on_wait
        self.waits = 0

    def _wait(self, seconds: float) -> None:
        self.waits += 1
        self.clock.awake += seconds
        self.clock.total += seconds
        if self.on_wait:
            self.on_wait(self)


def make_daemon(tmp_path: Path, script, on_wait=None, own_pid: int | None = None, **config):
    clock = FakeClock()
    samplers: list[FakeSampler] = []

    def make():
        samplers.append(FakeSampler(clock, script))
        return samplers[-1]

    recorder = Recorder(tmp_path / "h.db")
    cfg = DaemonConfig(**{"interval_s": 1.0, "rogue": RogueConfig(sustain_s=3), **config})
    state = LiveState()
    daemon = ScriptedDaemon(
        make, recorder, state, cfg, clock=clock, on_wait=on_wait, own_pid=own_pid
    )
    return daemon, clock, samplers, state


def test_loop_records_a_frozen_daemon_as_one_pause_with_suspects(tmp_path: Path) -> None:
    def freeze(d: ScriptedDaemon) -> None:
        if d.waits == 50:  # around the 13th tick
            d.clock.awake += 4.0
            d.clock.total += 4.0

    daemon, _, _, state = make_daemon(
        tmp_path, lambda n: [row(50, 80.0, name="hog"), row(2, 3.0)], on_wait=freeze
    )
    daemon.run(max_ticks=25)
    with History(tmp_path / "h.db") as h:
        pauses = [e.to_json() for e in h.events() if e.kind == "pause"]
        assert len(h.tick_times()) == 24
        assert len(pauses) == 1
        pause = pauses[0]
        assert pause["duration_s"] == pytest.approx(4.0)
        assert pause["suspects"][0]["pid"] == 50 and pause["suspects"][0]["name"] == "hog"
        assert pause["details"]["ticks_after"] == 3
        story = h.event(pause["id"])
        assert {i["phase"] for i in story.timeline} == {"before", "during", "after"}
        rogues = [e for e in h.events() if e.kind == "rogue"]
        assert len(rogues) == 1 and rogues[0].ended == "daemon stopped"
    live = state.snapshot()
    assert live["ticks"] == 24 and live["pause_events_total"] == 1
    live_pause = next(e for e in live["recent_events"] if e.kind == "pause")
    assert live_pause.id == pause["id"]  # the live copy was replaced by its completed version
    assert live_pause.details["ticks_after"] == 3


def test_the_daemon_never_suspects_itself_or_its_children(tmp_path: Path) -> None:
    def freeze(d: ScriptedDaemon) -> None:
        if d.waits == 30:
            d.clock.awake += 4.0
            d.clock.total += 4.0

    # The daemon (pid 500) scores highest, and so does the tool it runs; the hog is third.
    rows = [child(500, 1, 90.0, "lagwatch"), child(501, 500, 85.0, "powermetrics"),
            child(50, 1, 40.0, "hog")]  # fmt: skip
    daemon, _, _, _ = make_daemon(tmp_path, lambda n: rows, on_wait=freeze, own_pid=500)
    daemon.run(max_ticks=15)
    with History(tmp_path / "h.db") as h:
        (pause,) = [e for e in h.events() if e.kind == "pause"]
        story = h.event(pause.id)
    assert [s["pid"] for s in pause.suspects] == [50]
    assert {item["pid"] for item in story.timeline} == {50}
    # What it records is not filtered: the history still holds every process.
    with History(tmp_path / "h.db") as h:
        latest = h.latest()
    assert latest is not None and {r.pid for r in latest.processes} == {500, 501, 50}


def test_an_episode_cut_short_by_stopping_the_daemon_says_so(tmp_path: Path) -> None:
    """`events` and `why` (text and JSON) tell an episode the daemon stopped watching from
    one that ended on its own."""
    from click.testing import CliRunner

    from lagwatch.cli import cli

    def stop_after(d: ScriptedDaemon) -> None:
        if d.waits == 40:  # the hog is still at it: only the daemon stops
            d.request_stop()

    daemon, _, _, _ = make_daemon(tmp_path, lambda n: [row(50, 80.0, name="hog")], stop_after)
    daemon.run()
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    listed = runner.invoke(cli, ["events", "--db", db, "--json"])
    (episode,) = [json.loads(line) for line in listed.output.splitlines()]
    assert episode["kind"] == "rogue" and episode["ongoing"] is False
    assert (episode["ended"], episode["cut_short"]) == ("daemon stopped", True)
    assert episode["details"]["ended"] == "daemon stopped"  # as before: keys are only added
    text = runner.invoke(cli, ["events", "--db", db]).output
    assert "(cut short: daemon stopped)" in " ".join(text.split())  # however it is wrapped
    story = runner.invoke(cli, ["why", str(episode["id"]), "--db", db]).output
    assert "was cut short: the daemon stopped" in story
    why_json = json.loads(runner.invoke(cli, ["why", str(episode["id"]), "--db", db, "--json"])
                          .output)  # fmt: skip
    assert why_json["event"]["cut_short"] is True


def test_loop_does_not_count_sleep_as_pause(tmp_path: Path) -> None:
    def suspend(d: ScriptedDaemon) -> None:
        if d.waits == 20:
            d.clock.total += 3600.0  # an hour asleep: only the sleep-counting clock moves

    daemon, _, _, _ = make_daemon(tmp_path, lambda n: [row(1, 10.0)], on_wait=suspend)
    daemon.run(max_ticks=10)
    with History(tmp_path / "h.db") as h:
        assert h.events() == []
    assert daemon.pauses.slept_s == pytest.approx(3600.0)


def test_loop_survives_source_failures_and_bugs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [0]

    def script(_: int):
        calls[0] += 1  # across samplers
        n = calls[0]
        if n in (3, 4):
            return RuntimeError("boom")  # the same bug twice: logged once
        if n == 6:
            return SourceError("procfs vanished")
        return [row(1, 10.0)]

    daemon, _, samplers, _ = make_daemon(tmp_path, script, source_retry_s=0.0)
    with caplog.at_level(logging.WARNING, logger="lagwatch"):
        daemon.run(max_ticks=12)
    assert len(samplers) == 2 and samplers[0].closed  # replaced after the source error
    messages = [r.getMessage() for r in caplog.records]
    assert sum("boom" in m for m in messages) == 1
    assert sum("procfs vanished" in m for m in messages) == 1
    with History(tmp_path / "h.db") as h:
        # Every tick but the failed ones and each sampler's first reading was recorded.
        assert len(h.tick_times()) == 12 - 3 - 2


def test_stop_request_ends_the_loop(tmp_path: Path) -> None:
    def stop_soon(d: ScriptedDaemon) -> None:
        if d.waits == 7:
            d.request_stop()

    daemon, _, samplers, _ = make_daemon(tmp_path, lambda n: [], on_wait=stop_soon)
    daemon.run()
    assert daemon.waits == 7 and samplers[0].closed


def test_freeze_during_a_sweep_is_a_pause_too(tmp_path: Path) -> None:
    clock_box: list[FakeClock] = []

    def script(n: int):
        if n == 12:  # the machine stalls while the sampler reads /proc
            clock_box[0].awake += 5.0
            clock_box[0].total += 5.0
        return [row(1, 60.0)]

    daemon, clock, _, _ = make_daemon(tmp_path, script)
    clock_box.append(clock)
    daemon.run(max_ticks=20)
    with History(tmp_path / "h.db") as h:
        pauses = [e for e in h.events() if e.kind == "pause"]
    assert len(pauses) == 1 and pauses[0].duration_s == pytest.approx(5.0)


# -- faults of the disk and of the sources, with the loop on its real clock ------------------


def wait_until(cond, timeout: float, what: str):
    """Poll ``cond`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
    return value


class RealTimeSampler:
    """Rankings stamped with the real time, for the loop on its real clock."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.dropped: list[str] = []
        self.source_names = ["fake"]

    def tick(self) -> Ranking | None:
        now = time.time()
        prev, self.last = self.last, now
        rows = [row(50, 80.0, name="hog"), row(2, 3.0)]
        return None if prev is None else ranking(now, rows, interval_s=now - prev)

    def close(self) -> None:
        pass


class FreezableRecorder(Recorder):
    """A recorder whose disk hangs, as under fsfreeze, while ``frozen`` is set: a write then
    blocks until ``thaw`` is set."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.frozen = threading.Event()
        self.thaw = threading.Event()
        self.blocked = threading.Event()

    def _write_pending(self) -> None:
        if self.frozen.is_set():
            self.blocked.set()
            assert self.thaw.wait(60), "the test never thawed the disk"
        super()._write_pending()


def run_in_thread(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, name="daemon-under-test", daemon=True)
    thread.start()
    return thread


def thaw_and_stop(rec: FreezableRecorder, daemon: Daemon, thread: threading.Thread) -> None:
    rec.frozen.clear()
    rec.thaw.set()
    try:
        wait_until(lambda: daemon.writer.queued == 0, 30, "the writes to catch up")
    finally:
        daemon.request_stop()
        thread.join(30)
    assert not thread.is_alive()


def freeze(rec: FreezableRecorder, state: LiveState, ticks: int) -> None:
    """Freeze the disk once some ticks are written, until ``ticks`` more were sampled."""
    wait_until(lambda: rec.ticks_written >= 3, 30, "the first writes")
    rec.frozen.set()
    assert rec.blocked.wait(30), "no write reached the frozen disk"
    seen = state.snapshot()["ticks"]
    wait_until(lambda: state.snapshot()["ticks"] >= seen + ticks, 30,
               f"{ticks} ticks sampled while the disk is frozen")  # fmt: skip


def test_a_blocked_write_neither_stops_sampling_nor_makes_a_pause(tmp_path: Path) -> None:
    rec = FreezableRecorder(tmp_path / "h.db")
    state = LiveState()
    health: list[dict] = []
    cfg = DaemonConfig(interval_s=0.05, pause_threshold_s=1.0, stall_after_s=0.5,
                       rogue=RogueConfig(sustain_s=3600.0))  # fmt: skip
    daemon = Daemon(RealTimeSampler, rec, state, cfg, on_health=health.append)
    thread = run_in_thread(daemon)
    try:
        # The scenario: the disk stays frozen for 40 ticks, twice the pause threshold.
        freeze(rec, state, 40)
        wait_until(lambda: any(h["write_condition"] == "stalled" for h in health), 30,
                   "the stall to be reported")  # fmt: skip
    finally:
        thaw_and_stop(rec, daemon, thread)
    published = state.snapshot()["ticks"]
    # Every tick sampled while the disk was frozen was kept and written afterwards.
    assert rec.ticks_written == published and daemon.writer.dropped_total == 0
    with History(tmp_path / "h.db") as h:
        assert len(h.tick_times()) == published
        long_pauses = [e for e in h.events() if e.kind == "pause" and e.duration_s >= 1.0]
    assert long_pauses == []  # the sampler ran all along: no pause, nobody blamed
    stalled = next(h for h in health if h["write_condition"] == "stalled")
    assert stalled["health"] == "degraded" and "frozen or hung" in stalled["write_advice"]
    assert health[-1]["health"] == "ok" and health[-1]["pending_ticks"] == 0


def test_ticks_the_write_queue_cannot_hold_are_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from lagwatch.exporter.metrics import LagwatchCollector
    from lagwatch.exporter.series import SeriesTracker

    rec = FreezableRecorder(tmp_path / "h.db", pending_max=5)  # the writer's queue: 5 too
    state = LiveState()
    tracker = SeriesTracker(20)
    state.subscribe(tracker.update)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LagwatchCollector(state, lambda: tracker.view))
    health: list[dict] = []
    cfg = DaemonConfig(interval_s=0.05, rogue=RogueConfig(sustain_s=3600.0))
    daemon = Daemon(RealTimeSampler, rec, state, cfg, on_health=health.append)
    with caplog.at_level(logging.WARNING, logger="lagwatch"):
        thread = run_in_thread(daemon)
        try:
            freeze(rec, state, 20)  # 20 ticks into a queue of 5
        finally:
            thaw_and_stop(rec, daemon, thread)
    published = state.snapshot()["ticks"]
    dropped = daemon.writer.dropped_total
    assert dropped >= 10
    assert rec.ticks_written + dropped == published  # each tick written or counted, none lost
    with History(tmp_path / "h.db") as h:
        assert len(h.tick_times()) == rec.ticks_written
    assert health[-1]["dropped_ticks"] == dropped
    assert state.snapshot()["store_dropped_rankings_total"] == dropped
    page = generate_latest(registry).decode()
    assert f"lagwatch_store_dropped_rankings_total {float(dropped)}" in page
    said = [r.getMessage() for r in caplog.records]
    assert sum("write queue full" in m for m in said) == 1
    assert any(f"{dropped} ticks were dropped" in m for m in said)


def test_read_warnings_are_logged_once_per_kind_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()

    class WarningSampler(FakeSampler):
        def tick(self) -> Ranking | None:
            r = super().tick()
            if r is not None:
                pid = 100 + self.n
                r.warnings = [
                    f"procfs: pid {pid}: [Errno 5] Input/output error",
                    f"procfs: pid {pid + 1}: [Errno 5] Input/output error",
                    f"nettop: no data for {self.n}s",
                ]
            return r

    health: list[dict] = []
    state = LiveState()
    daemon = ScriptedDaemon(
        lambda: WarningSampler(clock, lambda n: [row(1, 10.0)]), Recorder(tmp_path / "h.db"),
        state, DaemonConfig(interval_s=1.0), clock=clock, on_health=health.append,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="lagwatch"):
        daemon.run(max_ticks=11)  # the first reading has no ranking: 10 rankings
    said = [r.getMessage() for r in caplog.records if "read warning" in r.getMessage()]
    assert len(said) == 2  # one line per kind, not per process or tick
    assert any("Input/output error" in m for m in said) and any("nettop" in m for m in said)
    assert health[-1]["read_warnings"] == 30
    kinds = health[-1]["read_warning_kinds"]
    assert kinds["procfs: pid N: [Errno N] Input/output error"] == 20
    assert state.snapshot()["read_warnings_total"] == 30
