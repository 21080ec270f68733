"""Read access to recorded history, safe while a daemon writes (WAL readers never block it).

Every SQLite error (a damaged file, a lock held by another program) comes out as StoreError,
one readable line, so callers handle one exception whatever went wrong underneath."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lagwatch.events import EVENT_COLUMNS, Event
from lagwatch.model import ProcessRow, Ranking
from lagwatch.store.db import connect_ro, connect_rw
from lagwatch.store.schema import (
    EXTRA_PROCESS_KEYS,
    PROCESS_COLUMNS,
    SCHEMA_VERSION,
    StoreError,
    schema_version,
)

_BATCH = 500
_RANKING_FIELDS = frozenset(f.name for f in fields(Ranking)) - {"processes", "system", "sources"}
_TICK_COLUMNS = (
    "t.id, t.time, t.interval_s, c.platform, c.sources, c.system, t.process_count, "
    "t.restricted_count, t.sweep_s, t.extra, t.top_score, t.level, t.cpu_percent_total, "
    "t.disk_bytes_per_s_total, t.pageins_per_s_total, t.load_1m"
)
_PROC_SELECT = (
    f"SELECT tick_id, {', '.join(PROCESS_COLUMNS)}, start_id, subscores, extra, app FROM procs"
)
_EVENT_SELECT = f"SELECT {', '.join(EVENT_COLUMNS[:-1])} FROM events"
_EVENT_SELECT_FULL = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"


@dataclass(slots=True)
class RecordedRanking(Ranking):
    """A ranking read back from history: only the processes that were recorded, with the
    counts of what was seen at the time."""

    seen_process_count: int | None = None
    seen_restricted_count: int | None = None
    sweep_s: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    tick_id: int | None = None

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        # Explicit base call: zero-argument super() does not work in slotted dataclasses.
        out = Ranking.to_json(self, limit)
        if self.seen_process_count is not None:
            out["process_count"] = self.seen_process_count
        if self.seen_restricted_count is not None:
            out["restricted_count"] = self.seen_restricted_count
        out["recorded_count"] = len(self.processes)
        for key, value in self.extra.items():
            if out.get(key) is None:
                out[key] = value
        return out


_ROW_FIELDS = frozenset(f.name for f in fields(ProcessRow))
# Columns that are no longer row fields are dropped, as ProcessRow.from_json does (decided once,
# not for every row).
_ALL_COLUMNS_ARE_FIELDS = _ROW_FIELDS.issuperset(PROCESS_COLUMNS)


def _row_from_db(values: tuple) -> ProcessRow:
    n = len(PROCESS_COLUMNS)
    data = dict(zip(PROCESS_COLUMNS, values[:n], strict=True))
    data["restricted"] = bool(data["restricted"])
    data["start_id"] = values[n] or 0
    data["subscores"] = json.loads(values[n + 1]) if values[n + 1] else {}
    data["app"] = values[n + 3]
    if not _ALL_COLUMNS_ARE_FIELDS:
        data = {k: v for k, v in data.items() if k in _ROW_FIELDS}
    row = ProcessRow(**data)
    if values[n + 2] and EXTRA_PROCESS_KEYS:
        for key, value in json.loads(values[n + 2]).items():
            if hasattr(row, key):
                setattr(row, key, value)
    return row


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class History:
    """Recorded ticks and events of one database."""

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(db_path)
        self._conn = connect_ro(self.path)
        # JSON texts that recur from tick to tick (a context, the extra keys), decoded once.
        self._decoded: dict[str, Any] = {}
        with self._reading():
            version = schema_version(self._conn)
        if version < SCHEMA_VERSION:
            self._upgrade(version)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read history {self.path}: {exc}") from None

    def _upgrade(self, version: int) -> None:
        """An older file (no daemon has run this version yet): migrate it, keeping every row."""
        self._conn.close()
        try:
            connect_rw(self.path, busy_timeout_ms=2000).close()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"{self.path} has history schema v{version} and could not be upgraded to "
                f"v{SCHEMA_VERSION} ({exc}); run `lagwatch daemon` once with write access"
            ) from None
        self._conn = connect_ro(self.path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ticks -----------------------------------------------------------------------------

    def _tick_query(
        self, since: float | None, until: float | None, order: str = "ASC"
    ) -> tuple[str, list]:
        where, args = [], []
        if since is not None:
            where.append("t.time >= ?")
            args.append(since)
        if until is not None:
            where.append("t.time <= ?")
            args.append(until)
        sql = f"SELECT {_TICK_COLUMNS} FROM ticks t LEFT JOIN contexts c ON c.id = t.context_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql + f" ORDER BY t.time {order}, t.id {order}", args

    def _json(self, text: str | None, empty: Any) -> Any:
        """``json.loads(text)`` (a fresh copy: callers may change it), decoded once per text."""
        if not text:
            return type(empty)()
        value = self._decoded.get(text)
        if value is None:
            if len(self._decoded) > 4096:
                self._decoded.clear()
            value = self._decoded[text] = json.loads(text)
        return type(empty)(value)

    def _ranking(self, tick: tuple, rows: list[ProcessRow]) -> RecordedRanking:
        (tid, t, interval_s, platform, sources, system, pcount, rcount, sweep_s, extra,
         top_score, level, cpu_total, disk_total, pageins_total, load) = tick  # fmt: skip
        extras = self._json(extra, {})
        ranking = RecordedRanking(
            time=t,
            interval_s=interval_s,
            platform=platform or "",
            sources=self._json(sources, []),
            processes=rows,
            system=self._json(system, {}),
            seen_process_count=pcount,
            seen_restricted_count=rcount,
            sweep_s=sweep_s,
            summary={
                "top_score": top_score,
                "level": level,
                "cpu_percent_total": cpu_total,
                "disk_bytes_per_s_total": disk_total,
                "pageins_per_s_total": pageins_total,
                "load_1m": load,
            },
            tick_id=tid,
        )
        # Keys that have since become Ranking fields (energy_source) go back to their field.
        for key, value in extras.items():
            if key in _RANKING_FIELDS:
                setattr(ranking, key, value)
            else:
                ranking.extra[key] = value
        return ranking

    def _rows_for(
        self, tick_ids: list[int], pid: int | None, name: str | None
    ) -> dict[int, list[ProcessRow]]:
        marks = ",".join("?" * len(tick_ids))
        sql = f"{_PROC_SELECT} WHERE tick_id IN ({marks})"
        args: list[Any] = list(tick_ids)
        if pid is not None:
            sql += " AND pid = ?"
            args.append(pid)
        if name is not None:
            sql += " AND name LIKE ? ESCAPE '\\'"
            args.append(f"%{_escape_like(name)}%")
        out: dict[int, list[ProcessRow]] = {}
        for values in self._conn.execute(sql, args):
            out.setdefault(values[0], []).append(_row_from_db(values[1:]))
        self._attach_cmdlines([r for rows in out.values() for r in rows])
        for rows in out.values():
            rows.sort(key=lambda r: (-r.score, r.pid))
        return out

    def rankings(
        self,
        since: float | None = None,
        until: float | None = None,
        pid: int | None = None,
        name: str | None = None,
    ) -> Iterator[RecordedRanking]:
        """Recorded ticks in time order. With ``pid`` or ``name`` only the ticks where a
        matching process was recorded, holding only those processes."""
        if pid is not None or name is not None:
            yield from self._matching_rankings(since, until, pid, name)
            return
        sql, args = self._tick_query(since, until)
        with self._reading():
            cursor = self._conn.execute(sql, args)
            while True:
                ticks = cursor.fetchmany(_BATCH)
                if not ticks:
                    return
                rows = self._rows_for([t[0] for t in ticks], None, None)
                for tick in ticks:
                    yield self._ranking(tick, rows.get(tick[0], []))

    def _matching_rankings(
        self, since: float | None, until: float | None, pid: int | None, name: str | None
    ) -> Iterator[RecordedRanking]:
        """The ticks holding a matching process. SQLite finds their rows (in one pass over
        the range's rows, or its primary key per tick for a pid) and only those ticks are
        read: a week of history costs about a scan of its rows, not a Python object per
        tick."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if since is not None:
            where.append("t.time >= ?")
            args.append(since)
        if until is not None:
            where.append("t.time <= ?")
            args.append(until)
        if pid is not None:
            where.append("p.pid = ?")
            args.append(pid)
        if name is not None:
            where.append("p.name LIKE ? ESCAPE '\\'")
            args.append(f"%{_escape_like(name)}%")
        with self._reading():
            ids = self._conn.execute(
                "SELECT DISTINCT p.tick_id, t.time FROM procs p JOIN ticks t ON t.id = p.tick_id "
                f"WHERE {' AND '.join(where)} ORDER BY t.time, p.tick_id",
                args,
            )
            while True:
                batch = [r[0] for r in ids.fetchmany(_BATCH)]
                if not batch:
                    return
                marks = ",".join("?" * len(batch))
                ticks = self._conn.execute(
                    f"SELECT {_TICK_COLUMNS} FROM ticks t LEFT JOIN contexts c ON c.id = "
                    f"t.context_id WHERE t.id IN ({marks}) ORDER BY t.time, t.id",
                    batch,
                ).fetchall()
                rows = self._rows_for(batch, pid, name)
                for tick in ticks:
                    yield self._ranking(tick, rows.get(tick[0], []))

    def tick_times(self, since: float | None = None, until: float | None = None) -> list[float]:
        sql, args = "SELECT time FROM ticks", []
        where = []
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if until is not None:
            where.append("time <= ?")
            args.append(until)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._reading():
            return [r[0] for r in self._conn.execute(sql + " ORDER BY time, id", args)]

    def ranking_at(self, t: float) -> RecordedRanking | None:
        """The recorded tick at or just before ``t``."""
        sql, args = self._tick_query(None, t, order="DESC")
        with self._reading():
            tick = self._conn.execute(sql + " LIMIT 1", args).fetchone()
            if tick is None:
                return None
            return self._ranking(tick, self._rows_for([tick[0]], None, None).get(tick[0], []))

    def latest(self) -> RecordedRanking | None:
        return self.ranking_at(float("inf"))

    def _attach_cmdlines(self, rows: list[ProcessRow]) -> None:
        """Set each row's command line, kept once per process (pid + start) in ``cmdlines``."""
        wanted = {(r.pid, r.start_id) for r in rows}
        if not wanted:
            return
        pids = sorted({pid for pid, _ in wanted})
        found: dict[tuple[int, int], str] = {}
        for at in range(0, len(pids), _BATCH):
            chunk = pids[at : at + _BATCH]
            sql = (
                "SELECT pid, start_id, cmdline FROM cmdlines "
                f"WHERE pid IN ({','.join('?' * len(chunk))})"
            )
            for pid, start_id, cmdline in self._conn.execute(sql, chunk):
                if (pid, start_id) in wanted:
                    found[(pid, start_id)] = cmdline
        for row in rows:
            row.cmdline = found.get((row.pid, row.start_id))

    def span(self) -> tuple[float, float, int] | None:
        """(first tick time, last tick time, tick count), or None when empty."""
        with self._reading():
            row = self._conn.execute("SELECT min(time), max(time), count(*) FROM ticks").fetchone()
        return None if row[2] == 0 else (row[0], row[1], row[2])

    def process_rows(
        self, pids: list[int], since: float, until: float
    ) -> list[tuple[float, float, ProcessRow]]:
        """(tick time, tick interval, row) of the given processes in a time range."""
        if not pids:
            return []
        marks = ",".join("?" * len(pids))
        columns = ", ".join("p." + c for c in PROCESS_COLUMNS)
        sql = (
            f"SELECT t.time, t.interval_s, p.tick_id, {columns}, "
            f"p.start_id, p.subscores, p.extra, p.app "
            f"FROM procs p JOIN ticks t ON t.id = p.tick_id "
            f"WHERE p.pid IN ({marks}) AND t.time >= ? AND t.time <= ? ORDER BY t.time, p.pid"
        )
        with self._reading():
            rows = self._conn.execute(sql, [*pids, since, until]).fetchall()
            found = [(values[0], values[1], _row_from_db(values[3:])) for values in rows]
            self._attach_cmdlines([row for _, _, row in found])
        return found

    # -- events ----------------------------------------------------------------------------

    def events(self, since: float | None = None) -> list[Event]:
        """Events that started at or after ``since`` (or are still going on then), oldest
        first, without their timelines."""
        sql = _EVENT_SELECT
        args: list[Any] = []
        if since is not None:
            sql += " WHERE start >= ? OR end IS NULL OR end >= ?"
            args = [since, since]
        with self._reading():
            rows = self._conn.execute(sql + " ORDER BY start, id", args).fetchall()
        return [Event.from_row(values) for values in rows]

    def event(self, event_id: int | None = None) -> Event | None:
        """One event with its timeline (the latest when ``event_id`` is None)."""
        with self._reading():
            if event_id is None:
                cursor = self._conn.execute(
                    _EVENT_SELECT_FULL + " ORDER BY start DESC, id DESC LIMIT 1"
                )
            else:
                cursor = self._conn.execute(_EVENT_SELECT_FULL + " WHERE id = ?", (event_id,))
            values = cursor.fetchone()
        return None if values is None else Event.from_row(values)
