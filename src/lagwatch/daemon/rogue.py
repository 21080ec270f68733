"""Rogue episodes: a process that stays stressed for a while becomes one event.

Hysteresis keeps a flapping process to one event. A process becomes a candidate when its score
reaches ``enter``; it stays one while its score keeps coming back to at least ``exit`` within
``cooldown_s``; it becomes an episode once that has lasted ``sustain_s``. The episode ends when
the score has stayed below ``exit`` for ``cooldown_s`` (the end is the last tick at or above
``exit``) or when the process exits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lagwatch.events import Event, EventDetails, suspect
from lagwatch.model import Identity, ProcessRow, Ranking


@dataclass(frozen=True, slots=True)
class RogueConfig:
    enter: float = 50.0
    exit: float = 35.0
    sustain_s: float = 10.0
    cooldown_s: float = 15.0
    max_tracked: int = 200
    save_every_s: float = 30.0  # how often an ongoing episode's progress is written


@dataclass(slots=True)
class _Track:
    pid: int
    name: str
    start: float
    last_warm: float
    peak_score: float
    peak_time: float
    peak_row: ProcessRow
    event: Event | None = None
    last_saved: float = 0.0


class RogueTracker:
    def __init__(self, config: RogueConfig = RogueConfig()) -> None:
        self.config = config
        self._tracks: dict[Identity, _Track] = {}

    @property
    def ongoing(self) -> list[Event]:
        return [t.event for t in self._tracks.values() if t.event is not None]

    def update(self, ranking: Ranking) -> list[Event]:
        """Feed one tick; returns the new versions of events opened, progressed (periodically)
        or closed."""
        cfg = self.config
        t = ranking.time
        changed: list[Event] = []
        for row in ranking.processes:
            if row.score < cfg.exit:
                continue  # most processes: nothing to track, nothing to start
            ident = row.identity
            track = self._tracks.get(ident)
            if track is not None:
                track.last_warm = t
                track.name = row.name
                if row.score > track.peak_score:
                    track.peak_score, track.peak_time, track.peak_row = row.score, t, row
            elif row.score >= cfg.enter and len(self._tracks) < cfg.max_tracked:
                # The episode starts where the first hot interval started.
                start = t - ranking.interval_s
                self._tracks[ident] = _Track(row.pid, row.name, start, t, row.score, t, row)
        present = {row.identity for row in ranking.processes} if self._tracks else set()
        for ident, track in list(self._tracks.items()):
            gone = ident not in present
            cold_for = t - track.last_warm
            if gone or cold_for >= cfg.cooldown_s:
                del self._tracks[ident]
                if track.event is not None:
                    changed.append(self._refresh(track, ended="exited" if gone else "calmed"))
                continue
            if track.event is None:
                if track.last_warm - track.start >= cfg.sustain_s:
                    track.event = Event("rogue", track.start, None, None)
                    track.last_saved = t
                    changed.append(self._refresh(track))
            else:
                event = self._refresh(track)
                if t - track.last_saved >= cfg.save_every_s:
                    track.last_saved = t
                    changed.append(event)
        return changed

    def close_all(self, reason: str = "daemon stopped") -> list[Event]:
        """End every ongoing episode at its last stressed tick (the daemon is stopping)."""
        closed = [
            self._refresh(track, ended=reason)
            for track in self._tracks.values()
            if track.event is not None
        ]
        self._tracks.clear()
        return closed

    def _refresh(self, track: _Track, ended: str | None = None) -> Event:
        """The episode's next version, from what the track knows now; ``ended`` (why) closes
        it at its last stressed tick."""
        assert track.event is not None
        details = self._details(track)
        if ended is not None:
            details["ended"] = ended
        track.event = replace(
            track.event,
            end=None if ended is None else track.last_warm,
            duration_s=round(track.last_warm - track.start, 3),
            suspects=[suspect(track.pid, track.name, track.peak_score, track.peak_row.dominant)],
            details=details,
        )
        return track.event

    def _details(self, track: _Track) -> EventDetails:
        return {
            "pid": track.pid,
            "name": track.name,
            "start_id": track.peak_row.start_id,
            "peak_score": track.peak_score,
            "peak_time": round(track.peak_time, 3),
            "dominant": track.peak_row.dominant,
            "peak": track.peak_row.to_json(),
            "enter": self.config.enter,
            "exit": self.config.exit,
        }
