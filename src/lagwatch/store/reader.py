"""Read access to recorded history, safe while a daemon writes (WAL readers never block it).

Every SQLite error (a damaged file, a lock held by another program) comes out as StoreError,
one readable line, so callers handle one exception whatever went wrong underneath."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lagwatch.events import EVENT_COLUMNS, Event
from lagwatch.filters import ProcessFilter
from lagwatch.model import ProcessRow, Ranking
from lagwatch.store.db import connect_ro, connect_rw
from lagwatch.store.machine import decode_machine
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
    "t.id, t.time, t.interval_s, t.context_id, t.process_count, "
    "t.restricted_count, t.sweep_s, t.extra, t.top_score, t.level, t.cpu_percent_total, "
    "t.disk_bytes_per_s_total, t.pageins_per_s_total, t.load_1m, t.machine"
)
_TICK_LEN = _TICK_COLUMNS.count(",") + 1
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


# A row is selected in ProcessRow's field order (the command line from its own table, joined as
# ``m``; NULL for fields not stored) and built by position: a week of one process is 100 000
# rows.
_ROW_ORDER = [f.name for f in fields(ProcessRow)]
_STORED = {*PROCESS_COLUMNS, "start_id", "subscores", "app"}
# Keys of the contract added after the table (kept in its extra JSON) that are row fields:
# SQLite takes them out of the JSON (in C, one parse per row).
_EXTRA_FIELDS = {k for k in EXTRA_PROCESS_KEYS if k in _ROW_ORDER}


def _column(name: str) -> str:
    if name in _STORED:
        return f"p.{name}"
    if name in _EXTRA_FIELDS:
        return f"json_extract(p.extra, '$.\"{name}\"')"
    return "m.cmdline" if name == "cmdline" else "NULL"


_ROW_SELECT = ", ".join(_column(n) for n in _ROW_ORDER)
# The same without the sub-scores (views of history show none; decoding them is a third of a
# row's cost).
_ROW_SELECT_LEAN = _ROW_SELECT.replace("p.subscores", "NULL")
_ROW_LEN = len(_ROW_ORDER)
_RESTRICTED_AT = _ROW_ORDER.index("restricted")
_PID_AT = _TICK_LEN + _ROW_ORDER.index("pid")
_START_AT = _ROW_ORDER.index("start_id")
_SUBSCORES_AT = _ROW_ORDER.index("subscores")
# The C scanner behind json.loads, without its wrapper's checks: (value, end).
# (Set in JSONDecoder.__init__, so typeshed does not declare it.)
_scanner: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _scan(text: str, at: int) -> tuple[Any, int]:
    try:
        return _scanner(text, at)
    except StopIteration:  # the scanner's way of saying "no JSON value here"
        raise StoreError(f"damaged JSON in the history: {text[:60]!r}") from None


def _row_from_db(values: tuple, at: int) -> ProcessRow:
    """The ProcessRow of ``_ROW_SELECT``'s columns starting at ``values[at]``."""
    args = list(values[at : at + _ROW_LEN])
    args[_RESTRICTED_AT] = bool(args[_RESTRICTED_AT])
    args[_START_AT] = args[_START_AT] or 0
    text = args[_SUBSCORES_AT]
    args[_SUBSCORES_AT] = _scan(text, 0)[0] if text else {}
    return ProcessRow(*args)


def _time_where(
    since: float | None, until: float | None, column: str = "t.time"
) -> tuple[list[str], list[Any]]:
    """SQL conditions for a time range (either end open) and their arguments."""
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append(f"{column} >= ?")
        args.append(since)
    if until is not None:
        where.append(f"{column} <= ?")
        args.append(until)
    return where, args


def joined_sql(
    where: list[str], subscores: bool = True, matching: bool = False, machine: bool = True
) -> str:
    """The query reading ticks with their rows: each tick joined to its rows (by the primary
    key, tick then pid) and each row to its command line, worst row first within a tick.
    ``matching``: only the ticks where a row met ``where``'s process conditions."""
    select = _ROW_SELECT if subscores else _ROW_SELECT_LEAN
    ticks = _TICK_COLUMNS if machine else _TICK_COLUMNS.replace("t.machine", "NULL")
    join = "JOIN" if matching else "LEFT JOIN"
    sql = (
        f"SELECT {ticks}, {select} FROM ticks t {join} procs p ON p.tick_id = t.id "
        "LEFT JOIN cmdlines m ON m.pid = p.pid AND m.start_id = ifnull(p.start_id, 0)"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY t.time, t.id, p.score DESC, p.pid"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class History:
    """Recorded ticks and events of one database."""

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(db_path)
        self._conn = connect_ro(self.path)
        self._contexts: dict[int | None, tuple[str, list[str], dict[str, Any]]] = {}
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

    def _context(self, context_id: int | None) -> tuple[str, list[str], dict[str, Any]]:
        """A tick's platform, sources and machine facts (fresh copies: callers may change
        them). Ticks share a handful of contexts, each read and decoded once."""
        known = self._contexts.get(context_id)
        if known is None:
            found = None
            if context_id is not None:
                found = self._conn.execute(
                    "SELECT platform, sources, system FROM contexts WHERE id = ?", (context_id,)
                ).fetchone()
            platform, sources, system = found or ("", None, None)
            known = (
                platform or "",
                _scan(sources, 0)[0] if sources else [],
                _scan(system, 0)[0] if system else {},
            )
            if len(self._contexts) > 4096:
                self._contexts.clear()
            self._contexts[context_id] = known
        return known[0], list(known[1]), dict(known[2])

    def _ranking(self, tick: tuple, rows: list[ProcessRow]) -> RecordedRanking:
        (tid, t, interval_s, context_id, pcount, rcount, sweep_s, extra,
         top_score, level, cpu_total, disk_total, pageins_total, load, machine) = tick  # fmt: skip
        extras = _scan(extra, 0)[0] if extra else {}
        platform, sources, system = self._context(context_id)
        if machine:  # the figures of the moment, beside the machine's facts (as live)
            system.update(decode_machine(_scan(machine, 0)[0]))
        ranking = RecordedRanking(
            time=t,
            interval_s=interval_s,
            platform=platform,
            sources=sources,
            processes=rows,
            system=system,
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

    def _joined(
        self, where: list[str], args: list[Any], subscores: bool, matching: bool = False,
        machine: bool = True,
    ) -> Iterator[RecordedRanking]:  # fmt: skip
        """Ticks with their process rows (worst first, as the ranking had them), from one
        query (``joined_sql``), grouped here by tick."""
        tick: tuple | None = None
        rows: list[ProcessRow] = []
        # Retention deletes contexts no tick needs, and SQLite may give a new one the id of a
        # deleted one: what this connection decoded before is not trusted across queries.
        self._contexts.clear()
        with self._reading():
            cursor = self._conn.execute(joined_sql(where, subscores, matching, machine), args)
            while batch := cursor.fetchmany(_BATCH):
                for values in batch:
                    if tick is None or values[0] != tick[0]:
                        if tick is not None:
                            yield self._ranking(tick, rows)
                        tick, rows = values[:_TICK_LEN], []
                    if values[_PID_AT] is not None:  # NULL: a tick that recorded no process
                        rows.append(_row_from_db(values, _TICK_LEN))
            if tick is not None:
                yield self._ranking(tick, rows)

    def rankings(
        self,
        since: float | None = None,
        until: float | None = None,
        pid: int | None = None,
        name: str | None = None,
        only: ProcessFilter | None = None,
        subscores: bool = True,
        machine: bool = True,
    ) -> Iterator[RecordedRanking]:
        """Recorded ticks in time order. With ``pid``, ``name`` (a substring, any case) or
        ``only`` (its --pid/--user/--name part) only the ticks where a matching process was
        recorded, holding only those processes; SQLite does the matching while it reads the
        range, so a week of history costs about a scan of its rows. ``subscores=False``
        leaves the rows' sub-scores empty, ``machine=False`` the machine's figures of the
        moment out of ``system`` (each cheaper, for views that show neither)."""
        where, args = _time_where(since, until)
        process_where, process_args = self._process_where(pid, name, only)
        yield from self._joined(
            where + process_where, args + process_args, subscores,
            matching=bool(process_where), machine=machine,
        )  # fmt: skip

    def _process_where(
        self, pid: int | None, name: str | None, only: ProcessFilter | None
    ) -> tuple[list[str], list[Any]]:
        """SQL conditions on the procs table (alias ``p``) and their arguments."""
        where: list[str] = []
        args: list[Any] = []
        if pid is not None:
            where.append("p.pid = ?")
            args.append(pid)
        if name is not None:
            where.append("p.name LIKE ? ESCAPE '\\'")
            args.append(f"%{_escape_like(name)}%")
        if only is not None and only.narrows:
            if only.pids:  # lets SQLite skip the other rows before calling Python
                where.append(f"p.pid IN ({','.join('?' * len(only.pids))})")
                args.extend(sorted(only.pids))
            # The filter's own test, exactly (casefold, regular expressions), run by SQLite.
            self._conn.create_function(
                "lagwatch_wanted", 3, only.matches_identity, deterministic=True
            )
            where.append("lagwatch_wanted(p.pid, p.user, p.name)")
        return where, args

    def tick_times(self, since: float | None = None, until: float | None = None) -> list[float]:
        sql = "SELECT time FROM ticks"
        where, args = _time_where(since, until, "time")
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._reading():
            return [r[0] for r in self._conn.execute(sql + " ORDER BY time, id", args)]

    def ranking_at(self, t: float) -> RecordedRanking | None:
        """The recorded tick at or just before ``t``."""
        where = [
            "t.id = (SELECT id FROM ticks WHERE time <= ? ORDER BY time DESC, id DESC LIMIT 1)"
        ]
        return next(self._joined(where, [t], subscores=True), None)

    def latest(self) -> RecordedRanking | None:
        return self.ranking_at(float("inf"))

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
        sql = (
            f"SELECT t.time, t.interval_s, {_ROW_SELECT} "
            "FROM procs p JOIN ticks t ON t.id = p.tick_id "
            "LEFT JOIN cmdlines m ON m.pid = p.pid AND m.start_id = ifnull(p.start_id, 0) "
            f"WHERE p.pid IN ({marks}) AND t.time >= ? AND t.time <= ? ORDER BY t.time, p.pid"
        )
        with self._reading():
            rows = self._conn.execute(sql, [*pids, since, until]).fetchall()
        return [(values[0], values[1], _row_from_db(values, 2)) for values in rows]

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
