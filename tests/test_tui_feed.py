"""The TUI's data side: memory, sampler and history feeds, without a terminal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fake_rankings import T0, ranking, row
from lagwatch.sources.base import SourceError
from lagwatch.store import Event, Recorder
from lagwatch.tui.feed import HistoryFeed, MemoryFeed, SamplerFeed


def ticks(n: int, start: float = T0, **kw) -> list:
    """n rankings one second apart: a hog (pid 100) and a growing helper (pid 200)."""
    return [
        ranking([row(100, 80.0 + i % 5, "hog", cpu_percent=99.0),
                 row(200, float(i), "helper"), *kw.get("extra", [])], time=start + i)
        for i in range(n)
    ]  # fmt: skip


def wait_until(check, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.01)  # polling a background thread's queue, with a deadline
    raise AssertionError("condition not met in time")


def drain(feed: SamplerFeed, n: int) -> None:
    """Poll (as the UI timer does) until the feed holds ``n`` ticks."""

    def check() -> bool:
        feed.poll()
        return len(feed.tick_times()) >= n

    wait_until(check)


# -- MemoryFeed ------------------------------------------------------------------------------


def test_memory_feed_poll_latest_and_replay_lookups() -> None:
    feed = MemoryFeed(ticks(5))
    assert feed.poll().time == T0 + 4
    assert feed.poll() is None  # nothing new since
    assert feed.latest().time == T0 + 4
    assert feed.tick_times() == [T0 + i for i in range(5)]
    assert feed.tick_times(T0 + 1, T0 + 3) == [T0 + 1, T0 + 2, T0 + 3]
    assert feed.ranking_at(T0 + 2.5).time == T0 + 2
    assert feed.ranking_at(T0 - 1) is None
    assert [r.time for r in feed.rankings(T0 + 3, T0 + 99)] == [T0 + 3, T0 + 4]
    assert feed.bounds() == (T0, T0 + 4)


def test_memory_feed_keeps_the_newest_whole_and_trims_older_ticks() -> None:
    many = [row(pid, float(pid)) for pid in range(1, 101)]
    feed = MemoryFeed(keep_rows=10)
    feed.push(ranking(many, time=T0))
    assert len(feed.latest().processes) == 100
    feed.push(ranking(many, time=T0 + 1))
    older = feed.ranking_at(T0)
    assert [r.pid for r in older.processes] == list(range(100, 90, -1))  # its top 10 by score
    assert len(feed.latest().processes) == 100


def test_memory_feed_forgets_beyond_its_window_and_ignores_the_past() -> None:
    feed = MemoryFeed(ticks(10), keep_s=3.0)
    assert feed.tick_times() == [T0 + 6, T0 + 7, T0 + 8, T0 + 9]
    feed.push(ranking([row(1, 1.0)], time=T0 + 5))  # older than the newest: ignored
    assert feed.latest().time == T0 + 9


def test_step_moves_by_ticks_and_stops_at_the_ends() -> None:
    feed = MemoryFeed(ticks(10))
    assert feed.step(T0 + 9, -1) == T0 + 8
    assert feed.step(T0 + 9, -3) == T0 + 6
    assert feed.step(T0 + 9, -100) == T0  # clamps at the first tick
    assert feed.step(T0, -1) is None  # nothing before the first
    assert feed.step(T0 + 2, 2) == T0 + 4
    assert feed.step(T0 + 8, 5) == T0 + 9
    assert feed.step(T0 + 9, 1) is None
    assert MemoryFeed().step(T0, -1) is None


def test_step_crosses_long_gaps_in_history() -> None:
    # The daemon was off overnight: ticks 10 hours apart are still neighbours.
    feed = MemoryFeed(ticks(3) + ticks(3, start=T0 + 36000), keep_s=10**6)
    assert feed.step(T0 + 36000, -1) == T0 + 2
    assert feed.step(T0 + 2, 1) == T0 + 36000


def test_trends_align_scores_per_process_and_mark_gaps() -> None:
    rks = ticks(6)
    rks[3].processes = [p for p in rks[3].processes if p.pid != 200]  # not recorded then
    feed = MemoryFeed(rks)
    trends = feed.trends(T0 + 5, 4)
    assert trends[(100, 1000)] == [82.0, 83.0, 84.0, 80.0]
    assert trends[(200, 2000)] == [2.0, None, 4.0, 5.0]
    # Fewer ticks than asked: padded with unknowns on the left.
    assert MemoryFeed(ticks(2)).trends(T0 + 1, 4)[(100, 1000)] == [None, None, 80.0, 81.0]


def test_process_history_follows_one_process_not_a_reused_pid() -> None:
    rks = ticks(3)
    rks[2].processes = [row(100, 5.0, "newcomer", start_id=4242)]  # pid 100 reused
    feed = MemoryFeed(rks)
    history = feed.process_history(100, 1000, T0, T0 + 2)
    assert [(t - T0, r.score if r else None) for t, r in history] == [
        (0, 80.0), (1, 81.0), (2, None)
    ]  # fmt: skip


def test_episodes_are_the_rogue_events_blaming_the_process() -> None:
    suspect = {"pid": 100, "name": "hog", "score": 90.0, "dominant": "cpu"}
    events = [
        {"id": 1, "kind": "rogue", "start": T0, "end": T0 + 20, "suspects": [suspect]},
        {"id": 2, "kind": "pause", "start": T0, "end": T0 + 3, "suspects": [suspect]},
        {"id": 3, "kind": "rogue", "start": T0, "end": None,
         "suspects": [dict(suspect, name="other")]},
    ]  # fmt: skip
    feed = MemoryFeed(ticks(1), [Event.from_json(e) for e in events])
    assert [e.id for e in feed.episodes(100, "hog")] == [1]
    assert [e.id for e in feed.episodes(100)] == [1, 3]
    assert feed.event(2).kind == "pause"
    assert feed.event(99) is None
    assert [e.id for e in feed.events(since=T0 + 10)] == [1, 3]


# -- SamplerFeed -----------------------------------------------------------------------------


class FakeSampler:
    """Hands out prepared rankings (one per tick), then fails like a sampler whose sources
    all died."""

    def __init__(self, rankings: list, fail_with: Exception | None = None) -> None:
        self.source_names = ["fake"]
        self.rankings = list(rankings)
        self.fail_with = fail_with
        self.dropped = ["gpu: went away"]
        self.closed = False

    def tick(self):
        if self.rankings:
            return self.rankings.pop(0)
        if self.fail_with is not None:
            raise self.fail_with
        return None

    def close(self) -> None:
        self.closed = True


def test_sampler_feed_delivers_rankings_from_its_thread() -> None:
    sampler = FakeSampler(ticks(3))
    feed = SamplerFeed(lambda: sampler, interval_s=0.01)
    try:
        drain(feed, 3)
        assert feed.latest().time == T0 + 2
        assert feed.describe() == "standalone, sampling every 0.01s (fake)"
        assert feed.problems() == ["dropped source gpu: went away"]
    finally:
        feed.close()
    assert sampler.closed


def test_sampler_feed_reports_a_sampler_that_stopped() -> None:
    sampler = FakeSampler(ticks(1), fail_with=SourceError("no process source produced data"))
    feed = SamplerFeed(lambda: sampler, interval_s=0.01)
    try:
        drain(feed, 1)
        wait_until(lambda: feed.poll() or any("sampling stopped" in p for p in feed.problems()))
        assert "sampling stopped: no process source produced data" in feed.problems()
        assert feed.latest().time == T0  # what was sampled before stays
    finally:
        feed.close()


def test_sampler_feed_finds_rogue_episodes_itself() -> None:
    # 20 s of a process pinned at score 90: the daemon's tracker makes that an episode.
    sampler = FakeSampler(ticks(20))
    feed = SamplerFeed(lambda: sampler, interval_s=0.001)
    try:
        drain(feed, 20)
        episodes = feed.episodes(100, "hog")
        assert len(episodes) == 1
        assert episodes[0].kind == "rogue" and episodes[0].id == 1
        assert episodes[0].end is None  # still going on
    finally:
        feed.close()


@pytest.mark.integration
def test_sampler_feed_with_the_real_sampler() -> None:
    from lagwatch.cli.options import open_sampler

    feed = SamplerFeed(lambda: open_sampler(None), interval_s=0.1)
    try:
        ranking_ = wait_until(feed.poll)
        assert ranking_.processes and ranking_.sources
    finally:
        feed.close()


# -- HistoryFeed -------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "history.db"
    recorder = Recorder(path)
    for r in ticks(30, extra=[row(300, 0.0, "idle")]):
        recorder.record(r, 0.01)
    suspects = [{"pid": 100, "name": "hog", "score": 81.0, "dominant": "cpu"}]
    timeline = [{"time": T0 + 9, "phase": "before", "pid": 100, "name": "hog", "score": 80.0,
                 "dominant": "cpu", "cpu_percent": 99.0}]  # fmt: skip
    recorder.save_event(Event("pause", T0 + 10, T0 + 14, 4.0, suspects, timeline=timeline))
    recorder.save_event(Event("rogue", T0 + 1, None, None, suspects))
    recorder.close()
    return path


def test_history_feed_reads_what_the_daemon_recorded(db: Path) -> None:
    feed = HistoryFeed(db)
    try:
        latest = feed.poll()
        assert latest.time == T0 + 29
        assert feed.poll() is None
        assert feed.interval_s == 1.0
        # The recorder keeps the processes that matter: the idle one is counted, not stored.
        assert {r.pid for r in latest.processes} == {100, 200}
        assert latest.seen_process_count == 3
        assert feed.bounds() == (T0, T0 + 29)
        assert feed.step(T0 + 29, -2) == T0 + 27
        assert feed.ranking_at(T0 + 5.5).time == T0 + 5
        assert feed.trends(T0 + 29, 3)[(100, 1000)] == [82.0, 83.0, 84.0]
        history = feed.process_history(100, 1000, T0 + 27, T0 + 29)
        assert [r.score for _, r in history] == [82.0, 83.0, 84.0]
        assert [e.kind for e in feed.events()] == ["rogue", "pause"]
        assert feed.event(1).timeline[0]["cpu_percent"] == 99.0
        assert [e.id for e in feed.episodes(100, "hog")] == [2]
        assert "no daemon running" in feed.describe()
        assert feed.problems()
    finally:
        feed.close()


def test_history_feed_sees_new_ticks_and_a_running_daemon(db: Path) -> None:
    from lagwatch.store.lock import DaemonLock

    feed = HistoryFeed(db)
    lock = DaemonLock(db)
    lock.acquire()
    try:
        feed.poll()
        recorder = Recorder(db)
        recorder.record(ranking([row(100, 99.0, "hog")], time=T0 + 30), 0.01)
        recorder.close()
        fresh = feed.poll()
        assert fresh is not None and fresh.time == T0 + 30
        feed._daemon = None  # the daemon check is cached for a few seconds
        assert f"daemon pid {lock.note['pid']}" in feed.describe()
        assert feed.problems() == []
    finally:
        lock.release()
        feed.close()


class BreakableHistory:
    """A History whose file goes bad (and comes back) while the TUI has it open."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "close":
            return attr

        def read(*args: Any, **kwargs: Any) -> Any:
            from lagwatch.store import StoreError

            if self.broken:
                raise StoreError("cannot read history h.db: database disk image is malformed")
            return attr(*args, **kwargs)

        return read


def test_history_feed_keeps_going_when_the_database_goes_bad(db: Path) -> None:
    from lagwatch.store import History

    history = BreakableHistory(History(db))
    feed = HistoryFeed(db, history=history)
    try:
        feed.poll()
        known = feed.events()
        recorder = Recorder(db)
        recorder.record(ranking([row(100, 99.0, "hog")], time=T0 + 30), 0.01)
        recorder.close()
        assert feed.poll().time == T0 + 30  # a new tick: the events are read again next time
        history.broken = True
        assert feed.events() == known  # what was read stays on screen
        assert feed.poll() is None and feed.latest().time == T0 + 30
        assert feed.ranking_at(T0 + 5) is None and feed.rankings(T0, T0 + 5) == []
        assert feed.event(1) is None and feed.process_rows([100], T0, T0 + 5) == []
        assert "malformed" in feed.problems()[0]  # said on the status line
        history.broken = False
        assert feed.rankings(T0, T0 + 5)[0].time == T0  # a failed read was not cached
        assert not any("malformed" in p for p in feed.problems())
    finally:
        feed.close()


def test_history_feed_on_a_file_that_is_not_history(tmp_path: Path) -> None:
    from lagwatch.store import StoreError

    bad = tmp_path / "x.db"
    bad.write_text("not a database at all" * 50)
    with pytest.raises(StoreError, match="not a lagwatch history"):
        HistoryFeed(bad)


def test_process_rows_answers_like_history_does() -> None:
    feed = MemoryFeed(ticks(5))
    rows = feed.process_rows([100], T0 + 1, T0 + 3)
    assert [(t - T0, interval, r.pid, r.score) for t, interval, r in rows] == [
        (1, 1.0, 100, 81.0), (2, 1.0, 100, 82.0), (3, 1.0, 100, 83.0)
    ]  # fmt: skip
    assert feed.process_rows([999], T0, T0 + 4) == []


# -- where replaying an event lands ------------------------------------------------------------


def test_replay_lands_on_the_first_tick_that_recorded_the_culprit() -> None:
    # A hog that only appears at T0 + 5 (a fresh process), blamed by an episode found from its
    # first hot tick, as the daemon's RogueTracker finds it.
    from lagwatch.daemon.rogue import RogueConfig, RogueTracker

    rankings = [
        ranking([row(200, 1.0, "calm")] + ([row(400, 90.0, "newhog")] if i >= 5 else []),
                time=T0 + i)
        for i in range(20)
    ]  # fmt: skip
    tracker = RogueTracker(RogueConfig(sustain_s=3))
    events = [e for r in rankings for e in tracker.update(r)]
    episode = events[0]
    assert episode.start == T0 + 4  # where the first hot interval started
    feed = MemoryFeed(rankings)
    assert feed.ranking_at(episode.start).time == T0 + 4  # the tick before: no culprit in it
    assert not any(r.pid == 400 for r in feed.ranking_at(episode.start).processes)
    assert feed.replay_time(episode) == T0 + 5
    assert any(r.pid == 400 for r in feed.ranking_at(T0 + 5).processes)


def test_replay_skips_ticks_that_did_not_record_the_culprit() -> None:
    rankings = [ranking([row(200, 1.0)] + ([row(7, 60.0, "late")] if i >= 8 else []),
                        time=T0 + i) for i in range(12)]  # fmt: skip
    suspects = [{"pid": 7, "name": "late", "score": 60.0, "dominant": "cpu"}]
    pause = Event("pause", T0 + 2.2, T0 + 6.2, 4.0, suspects)
    assert MemoryFeed(rankings).replay_time(pause) == T0 + 8
    # The culprit never recorded near the event: the first tick after its start.
    ghost = Event("pause", T0 + 2.2, T0 + 3.0, 0.8,
                  [{"pid": 99, "name": "ghost", "score": 9.0, "dominant": None}])  # fmt: skip
    assert MemoryFeed(rankings).replay_time(ghost) == T0 + 3
    # Nothing recorded after it: the last tick before it; nothing at all: None.
    late = Event("rogue", T0 + 30, None, None, suspects)
    assert MemoryFeed(rankings).replay_time(late) == T0 + 11
    assert MemoryFeed().replay_time(late) is None


def test_replay_from_recorded_history_lands_on_the_culprits_tick(db: Path) -> None:
    # The pause at T0 + 10 blames the hog, recorded every tick: the first tick after the start.
    feed = HistoryFeed(db)
    try:
        pause = next(e for e in feed.events() if e.kind == "pause")
        assert feed.replay_time(pause) == T0 + 11
        rogue = next(e for e in feed.events() if e.kind == "rogue")
        assert feed.replay_time(rogue) == T0 + 2
    finally:
        feed.close()
