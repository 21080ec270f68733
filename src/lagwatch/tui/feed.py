"""Where the TUI's data comes from, kept apart from the widgets so it is testable without a
terminal.

A :class:`DataFeed` answers the questions the screens ask: the newest ranking, the recorded
ticks and the ranking at any of them (replay), a process's recent history, and the events.

- :class:`MemoryFeed` keeps rankings in memory (tests hand it fixed rankings).
- :class:`SamplerFeed` is a MemoryFeed filled by a :class:`~lagwatch.ticker.Ticker` on a
  background thread (standalone mode: ``lagwatch tui`` without a daemon). It finds rogue
  episodes itself with the daemon's tracker; pauses need the daemon.
- :class:`HistoryFeed` reads a daemon's database through :class:`lagwatch.store.History`
  (attached mode), polling it for new ticks.

Every method is called from the UI thread; only SamplerFeed's sampling runs elsewhere and hands
rankings over through a queue.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lagwatch.events import Event
from lagwatch.model import Identity, ProcessRow, Ranking

log = logging.getLogger("lagwatch.tui")
T = TypeVar("T")


class RankingTicker(Protocol):
    """What SamplerFeed samples with (a lagwatch.ticker.Ticker)."""

    @property
    def source_names(self) -> list[str]: ...

    @property
    def dropped(self) -> list[str]: ...

    def tick(self) -> Ranking | None: ...

    def close(self) -> None: ...


class EpisodeTracker(Protocol):
    """Finds rogue episodes in the rankings (lagwatch.daemon.rogue.RogueTracker)."""

    def update(self, ranking: Ranking) -> list[Event]: ...


class RecordedHistory(Protocol):
    """What HistoryFeed reads (lagwatch.store.History); it raises StoreError when it cannot."""

    def latest(self) -> Ranking | None: ...

    def tick_times(self, since: float | None = None, until: float | None = None) -> list[float]: ...

    def ranking_at(self, t: float) -> Ranking | None: ...

    def span(self) -> tuple[float, float, int] | None: ...

    def rankings(
        self, since: float | None = None, until: float | None = None
    ) -> Iterable[Ranking]: ...

    def process_rows(
        self, pids: list[int], since: float, until: float
    ) -> list[tuple[float, float, ProcessRow]]: ...

    def events(self, since: float | None = None) -> list[Event]: ...

    def event(self, event_id: int | None = None) -> Event | None: ...

    def close(self) -> None: ...


class DataFeed(ABC):
    """What the screens need, whatever the source."""

    mode: str = "live"  # "live": sampling here; "history": reading a daemon's database
    interval_s: float = 1.0

    @abstractmethod
    def poll(self) -> Ranking | None:
        """The newest ranking if one arrived since the last poll, else None. Never blocks."""

    @abstractmethod
    def latest(self) -> Ranking | None:
        """The newest ranking known."""

    @abstractmethod
    def tick_times(self, since: float | None = None, until: float | None = None) -> list[float]:
        """Times of the recorded ticks in [since, until], oldest first."""

    @abstractmethod
    def ranking_at(self, t: float) -> Ranking | None:
        """The recorded tick at or just before ``t``."""

    @abstractmethod
    def rankings(self, since: float, until: float) -> list[Ranking]:
        """Recorded ticks in [since, until], oldest first."""

    @abstractmethod
    def events(self, since: float | None = None) -> list[Event]:
        """Pauses and rogue episodes still going on at ``since`` or ended after it, oldest
        first."""

    def event(self, event_id: int) -> Event | None:
        """One event, with its ``timeline`` when one was recorded."""
        return next((e for e in self.events() if e.id == event_id), None)

    def describe(self) -> str:
        """Where the data comes from, for the status line."""
        return self.mode

    def problems(self) -> list[str]:
        """Things the user should know (dropped sources, a stopped daemon...)."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    # -- derived answers (the same for every feed) -----------------------------------------

    def bounds(self) -> tuple[float, float] | None:
        """(first, last) recorded tick times, or None when nothing is recorded."""
        times = self.tick_times()
        return (times[0], times[-1]) if times else None

    def step(self, t: float, n: int) -> float | None:
        """The tick ``n`` ticks after ``t`` (before it when negative), stopping at the first or
        last tick; None when there is no tick at all in that direction."""
        bounds = self.bounds()
        if n == 0 or bounds is None:
            return None if bounds is None else t
        first, last = bounds
        span = max(60.0, abs(n) * self.interval_s * 4)
        while True:  # widen the window until it holds n ticks or reaches the end of history
            if n < 0:
                earlier = [x for x in self.tick_times(t - span, t) if x < t]
                if len(earlier) >= -n:
                    return earlier[n]
                if t - span <= first:
                    return earlier[0] if earlier else None
            else:
                later = [x for x in self.tick_times(t, t + span) if x > t]
                if len(later) >= n:
                    return later[n - 1]
                if t + span >= last:
                    return later[-1] if later else None
            span *= 8

    def trends(self, until: float, count: int) -> dict[Identity, list[float | None]]:
        """Each process's score over the ``count`` ticks up to ``until`` (oldest first);
        None where a tick did not record it."""
        since = until - max(count * self.interval_s * 3, 10.0)
        window = self.rankings(since, until)[-count:]
        out: dict[Identity, list[float | None]] = {}
        for n, ranking in enumerate(window):
            for row in ranking.processes:
                series = out.get(row.identity)
                if series is None:
                    series = out[row.identity] = [None] * len(window)
                series[n] = row.score
        if len(window) < count:  # pad on the left: no tick there yet
            pad: list[float | None] = [None] * (count - len(window))
            out = {k: pad + v for k, v in out.items()}
        return out

    def process_history(
        self, pid: int, start_id: int | None, since: float, until: float
    ) -> list[tuple[float, ProcessRow | None]]:
        """(tick time, the process's row or None when not recorded then) over a window."""
        out: list[tuple[float, ProcessRow | None]] = []
        for ranking in self.rankings(since, until):
            found = None
            for row in ranking.processes:
                if row.pid == pid and (start_id in (None, 0) or row.start_id in (0, start_id)):
                    found = row
                    break
            out.append((ranking.time, found))
        return out

    def process_rows(
        self, pids: list[int], since: float, until: float
    ) -> list[tuple[float, float, ProcessRow]]:
        """(tick time, tick interval, row) of these pids over a window, as
        ``History.process_rows`` gives them: what `lagwatch why`'s story is built from."""
        wanted = set(pids)
        return [
            (ranking.time, ranking.interval_s, row)
            for ranking in self.rankings(since, until)
            for row in ranking.processes
            if row.pid in wanted
        ]

    def replay_time(self, event: Event, search_ticks: int = 60) -> float | None:
        """The tick to replay an event at: the first one recorded after the event started whose
        rows hold its top suspect. A tick covers the interval that ends at its time, so the
        tick at ``start`` itself (half an interval of slack: wall-clock jitter) is the one
        before the event. Without such a tick: the first tick after the start, else the
        last tick at or before it; None when nothing is recorded."""
        top = event.suspects[0] if event.suspects else None
        after = event.start + self.interval_s / 2
        until = event.end if event.end is not None else float("inf")
        span = max(60.0, search_ticks * self.interval_s * 4)
        times = [t for t in self.tick_times(after, after + span) if t > after][:search_ticks]
        if not times:  # a gap in the recording right after the start
            later = self.step(after, 1)
            times = [later] if later is not None and later > after else []
        if top is not None:
            for t in times:
                if t > until + 5 * self.interval_s:  # a pause's suspects come from ticks after
                    break
                ranking = self.ranking_at(t)
                if ranking is not None and any(
                    r.pid == top["pid"] and r.name == top["name"] for r in ranking.processes
                ):
                    return ranking.time
        if times:
            return times[0]
        fallback = self.ranking_at(event.start)
        return None if fallback is None else fallback.time

    def episodes(self, pid: int, name: str | None = None) -> list[Event]:
        """Rogue episodes blamed on this process (matched by pid and, if given, name)."""
        return [e for e in self.events() if e.kind == "rogue" and e.blames(pid, name)]


class MemoryFeed(DataFeed):
    """Rankings held in memory: the newest in full, older ones trimmed to their top rows."""

    def __init__(
        self,
        rankings: list[Ranking] | None = None,
        events: list[Event] | None = None,
        interval_s: float = 1.0,
        keep_s: float = 600.0,
        keep_rows: int = 60,
        label: str = "memory",
    ) -> None:
        self.interval_s = interval_s
        self.keep_s = keep_s
        self.keep_rows = keep_rows
        self.label = label
        self._rankings: deque[Ranking] = deque()
        self._times: deque[float] = deque()
        self._events: list[Event] = list(events or [])
        self._fresh: Ranking | None = None
        for ranking in rankings or []:
            self.push(ranking)

    def push(self, ranking: Ranking) -> None:
        """Add a ranking (newest last); the previous newest is trimmed to its top rows."""
        if self._rankings and ranking.time <= self._times[-1]:
            return  # out of order or repeated: history only moves forward
        if self._rankings:
            self._rankings[-1] = _trimmed(self._rankings[-1], self.keep_rows)
        self._rankings.append(ranking)
        self._times.append(ranking.time)
        while self._times and self._times[0] < ranking.time - self.keep_s:
            self._rankings.popleft()
            self._times.popleft()
        self._fresh = ranking

    def add_event(self, event: Event) -> None:
        """A new event, or a newer version of one held (same key), which it replaces."""
        for i, held in enumerate(self._events):
            if held.key == event.key:
                self._events[i] = event
                return
        self._events.append(event)

    def held(self, key: int) -> Event | None:
        """The version held of the event with this key."""
        return next((e for e in self._events if e.key == key), None)

    def poll(self) -> Ranking | None:
        fresh, self._fresh = self._fresh, None
        return fresh

    def latest(self) -> Ranking | None:
        return self._rankings[-1] if self._rankings else None

    def tick_times(self, since: float | None = None, until: float | None = None) -> list[float]:
        times = list(self._times)
        lo = 0 if since is None else bisect.bisect_left(times, since)
        hi = len(times) if until is None else bisect.bisect_right(times, until)
        return times[lo:hi]

    def ranking_at(self, t: float) -> Ranking | None:
        i = bisect.bisect_right(list(self._times), t)
        return self._rankings[i - 1] if i else None

    def rankings(self, since: float, until: float) -> list[Ranking]:
        times = list(self._times)
        lo, hi = bisect.bisect_left(times, since), bisect.bisect_right(times, until)
        return [self._rankings[i] for i in range(lo, hi)]

    def events(self, since: float | None = None) -> list[Event]:
        if since is None:
            return list(self._events)
        return [e for e in self._events if e.active_since(since)]

    def describe(self) -> str:
        return self.label


def _trimmed(ranking: Ranking, keep: int) -> Ranking:
    if len(ranking.processes) <= keep:
        return ranking
    top = sorted(ranking.processes, key=lambda r: (-r.score, r.pid))[:keep]
    return Ranking(
        time=ranking.time,
        interval_s=ranking.interval_s,
        platform=ranking.platform,
        sources=ranking.sources,
        processes=top,
        system=ranking.system,
        warnings=ranking.warnings,
    )


class SamplerFeed(MemoryFeed):
    """Standalone mode: sample here, every ``interval_s``, on a background thread."""

    def __init__(
        self,
        make_sampler: Callable[[], RankingTicker],
        interval_s: float = 1.0,
        keep_s: float = 600.0,
        rogue_tracker: EpisodeTracker | None = None,
    ) -> None:
        super().__init__(interval_s=interval_s, keep_s=keep_s, label="standalone")
        self._sampler = make_sampler()
        self._queue: queue.SimpleQueue[Ranking | Exception] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._error: str | None = None
        self._rogues = rogue_tracker if rogue_tracker is not None else _rogue_tracker()
        self._next_id = 1  # no database here: episodes are numbered in order of appearance
        self._thread = threading.Thread(target=self._run, name="lagwatch-tui-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            try:
                ranking = self._sampler.tick()
            except Exception as exc:  # every source failed: say so, stop sampling
                self._queue.put(exc)
                return
            if ranking is not None:
                self._queue.put(ranking)
            deadline += self.interval_s
            delay = deadline - time.monotonic()
            if delay <= 0:
                deadline = time.monotonic()  # fell behind: do not burst
            self._stop.wait(max(0.0, delay))

    def poll(self) -> Ranking | None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Exception):
                self._error = f"sampling stopped: {item}"
                continue
            self.push(item)
            self._track_rogues(item)
        return super().poll()

    def _track_rogues(self, ranking: Ranking) -> None:
        if self._rogues is None:
            return
        try:
            changed = self._rogues.update(ranking)
        except Exception as exc:  # episode tracking is a bonus here, never fatal
            log.debug("rogue tracking failed: %s", exc)
            return
        for event in changed:
            held = self.held(event.key)
            if held is not None:
                self.add_event(replace(event, id=held.id))
            else:
                self.add_event(replace(event, id=self._next_id))
                self._next_id += 1

    def describe(self) -> str:
        names = ", ".join(self._sampler.source_names)
        return f"standalone, sampling every {self.interval_s:g}s" + (f" ({names})" if names else "")

    def problems(self) -> list[str]:
        out = [f"dropped source {d}" for d in self._sampler.dropped]
        if self._error:
            out.append(self._error)
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._sampler.close()


class _EveryTracker:
    """Several trackers fed the same rankings, as one."""

    def __init__(self, *trackers: EpisodeTracker) -> None:
        self.trackers = trackers

    def update(self, ranking: Ranking) -> list[Event]:
        return [event for tracker in self.trackers for event in tracker.update(ranking)]


def _rogue_tracker() -> EpisodeTracker | None:
    """The daemon's rogue-episode and pressure trackers, so standalone mode finds episodes and
    pressure events the same way."""
    try:
        from lagwatch.daemon.pressure import PressureTracker
        from lagwatch.daemon.rogue import RogueTracker
    except ImportError:
        return None
    return _EveryTracker(RogueTracker(), PressureTracker())


class HistoryFeed(DataFeed):
    """Attached mode: a daemon's database, read through lagwatch.store.History.

    A database that cannot be opened raises StoreError here; one that stops being readable
    later (damaged, locked by another program) is reported by problems() while the screens keep
    what they have, and read again at the next question."""

    mode = "history"

    def __init__(
        self,
        db_path: Path,
        history: RecordedHistory | None = None,
        interval_s: float | None = None,
    ) -> None:
        from lagwatch.store import History

        self.db_path = Path(db_path)
        self.history: RecordedHistory = history if history is not None else History(self.db_path)
        self._newest: Ranking | None = self.history.latest()
        self._fresh: Ranking | None = self._newest
        self._read_error: str | None = None
        self._cache: dict[tuple[float, float], list[Ranking]] = {}
        self._events: list[Event] = []
        self._events_read_at: float | None = None  # None: read them at the next question
        self._daemon: tuple[float, dict[str, Any] | None] | None = None
        self._first: tuple[float, float | None] | None = None
        if interval_s is None:
            interval_s = self._newest.interval_s if self._newest is not None else 1.0
        self.interval_s = max(0.05, interval_s or 1.0)

    def _read(self, read: Callable[[], T], default: T) -> T:
        """``read()``, or ``default`` when the database cannot be read now (problems() says)."""
        from lagwatch.store import StoreError

        try:
            value = read()
        except StoreError as exc:
            self._read_error = str(exc)
            return default
        self._read_error = None
        return value

    def poll(self) -> Ranking | None:
        newest = self._read(self.history.latest, None)
        if newest is not None and (self._newest is None or newest.time > self._newest.time):
            self._newest = newest
            self._fresh = newest
            self._cache.clear()
            self._events_read_at = None
        fresh, self._fresh = self._fresh, None
        return fresh

    def latest(self) -> Ranking | None:
        return self._newest

    def tick_times(self, since: float | None = None, until: float | None = None) -> list[float]:
        if until == float("inf"):
            until = None
        return self._read(lambda: self.history.tick_times(since, until), [])

    def ranking_at(self, t: float) -> Ranking | None:
        return self._read(lambda: self.history.ranking_at(t), None)

    def bounds(self) -> tuple[float, float] | None:
        # span() counts every tick: ask for the first one now and then (retention moves it),
        # the last one is the newest tick polled.
        now = time.monotonic()
        if self._first is None or now - self._first[0] > 60.0:
            span = self._read(self.history.span, None)
            self._first = (now, None if span is None else span[0])
        first = self._first[1]
        if first is None or self._newest is None:
            span = self._read(self.history.span, None)
            return None if span is None else (span[0], span[1])
        return first, self._newest.time

    def rankings(self, since: float, until: float) -> list[Ranking]:
        key = (since, until)
        hit = self._cache.get(key)
        if hit is None:
            none: list[Ranking] = []
            hit = self._read(lambda: list(self.history.rankings(since, until)), none)
            if self._read_error is not None:
                return hit  # not what was recorded: ask again next time
            if len(self._cache) > 32:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def process_history(
        self, pid: int, start_id: int | None, since: float, until: float
    ) -> list[tuple[float, ProcessRow | None]]:
        rows = {
            t: row
            for t, _, row in self.process_rows([pid], since, until)
            if start_id in (None, 0) or row.start_id in (0, start_id)
        }
        return [(t, rows.get(t)) for t in self.tick_times(since, until)]

    def process_rows(
        self, pids: list[int], since: float, until: float
    ) -> list[tuple[float, float, ProcessRow]]:
        return self._read(lambda: self.history.process_rows(pids, since, until), [])

    def events(self, since: float | None = None) -> list[Event]:
        now = time.monotonic()
        if self._events_read_at is None or now - self._events_read_at > 2.0:
            self._events = self._read(self.history.events, self._events)  # or what was known
            self._events_read_at = now
        events = self._events
        if since is None:
            return list(events)
        return [e for e in events if e.active_since(since)]

    def event(self, event_id: int) -> Event | None:
        return self._read(lambda: self.history.event(event_id), None)

    def daemon(self) -> dict[str, Any] | None:
        """The running daemon's lock note, or None when no daemon records to this database."""
        now = time.monotonic()
        if self._daemon is None or now - self._daemon[0] > 5.0:
            try:
                from lagwatch.store.lock import running_daemon

                note = running_daemon(self.db_path)
            except (ImportError, OSError):
                note = None
            self._daemon = (now, note)
        return self._daemon[1]

    def describe(self) -> str:
        note = self.daemon()
        who = f"daemon pid {note.get('pid')}" if note else "no daemon running"
        return f"attached to {self.db_path.name} ({who})"

    def problems(self) -> list[str]:
        out = [] if self._read_error is None else [self._read_error]
        if self.daemon() is None:
            out.append("no daemon is recording to this database: showing recorded history")
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.history.close()
