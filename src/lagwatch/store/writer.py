"""The daemon's writer: one transaction per tick, and a loop that never stops for the disk.

When the database cannot be written (disk full, read-only, locked by another program, gone),
ticks wait in a bounded in-memory queue, the condition is logged once with what to do, and every
later tick retries; when a write succeeds the queue is written and the recovery is logged.

The file at the path is watched too (one ``stat`` before each write): when it was deleted, or
replaced by another file (a backup restored by rename), the old one is let go, said once, and
recording goes on in a new history there (see ``Recorder.watch``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lagwatch.events import Event
from lagwatch.model import MACHINE_FACT_KEYS, ProcessRow, Ranking
from lagwatch.store.db import connect_rw
from lagwatch.store.machine import encode_machine
from lagwatch.store.policy import RecordPolicy, select_rows, summarize
from lagwatch.store.retention import Retention, thin
from lagwatch.store.schema import (
    APPLICATION_ID,
    CMDLINE_REFRESH_S,
    EXTRA_PROCESS_KEYS,
    PROCESS_COLUMNS,
    SCHEMA_VERSION,
    StoreError,
)

log = logging.getLogger("lagwatch.store")

# Top-level keys of Ranking.to_json() that have columns; any other key goes to ticks.extra.
_TICK_KEYS = frozenset(
    {"time", "interval_s", "platform", "sources", "processes", "process_count", "restricted_count"}
)
# Events change only while they are recent (a pause for a few ticks, an ongoing episode at each
# save), so the database ids of the last thousand written are all an update can need.
_EVENT_IDS_KEPT = 1024
_CMDLINES_KEPT = 8192  # processes whose command line is known to be on disk
# A newer tick's command line wins (an exec keeps pid and start); `seen` only moves forward.
_CMDLINE_UPSERT = (
    "INSERT INTO cmdlines (pid, start_id, cmdline, seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (pid, start_id) DO UPDATE SET "
    "cmdline = CASE WHEN excluded.seen >= seen THEN excluded.cmdline ELSE cmdline END, "
    "seen = max(seen, excluded.seen)"
)
_PROC_INSERT = (
    f"INSERT OR REPLACE INTO procs (tick_id, {', '.join(PROCESS_COLUMNS)}, start_id, subscores, "
    f"extra, app) VALUES ({', '.join('?' * (len(PROCESS_COLUMNS) + 5))})"
)


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at the path must not hang us
# The files SQLite keeps beside a WAL database; ours are removed when the database is let go.
SIDECARS = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    advice: str


class ForeignFile(Exception):
    """The file now at the history's path is not one this run may write into."""


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def foreign_reason(path: Path) -> str | None:
    """Why the file at ``path`` is not lagwatch history; None when it is (or when nothing is
    there). Its 100-byte header is read first; only when that says nothing yet (a copy taken
    while open holds its schema in the WAL beside it) is it opened, read-only: that writes
    into neither the file nor its WAL."""
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be read: {exc.strerror or exc}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "it is not a regular file"
        head = os.pread(fd, 100, 0)
    finally:
        os.close(fd)
    if not head:
        return "it is empty"
    if len(head) < 100 or not head.startswith(b"SQLite format 3\0"):
        return "it is not an SQLite database"
    version = int.from_bytes(head[60:64], "big")  # user_version
    app_id = int.from_bytes(head[68:72], "big")  # application_id
    if app_id == 0 and version == 0:
        try:
            conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, timeout=1)
            try:
                app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"it cannot be read: {exc}"
    if app_id != APPLICATION_ID and not (app_id == 0 and version > 0):
        return "it is an SQLite database but not lagwatch history"
    if version > SCHEMA_VERSION:
        return f"it has history schema v{version}, newer than this lagwatch understands"
    return None


def _fs_read_only(path: Path) -> bool:
    """Whether the folder holding ``path`` cannot be written now (read-only mount or rights)."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):
        pass
    return os.path.isdir(folder) and not os.access(folder, os.W_OK)


def classify(exc: BaseException, path: Path) -> Condition:
    """Turn a write failure into a condition a user can act on."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    os_errno = getattr(exc, "errno", None)
    where = path.parent
    if isinstance(exc, ForeignFile):
        return Condition(
            "replaced",
            "lagwatch leaves that file untouched and keeps ticks in memory; move it away (a new "
            "history is then started there) or put a lagwatch history in its place",
        )
    if isinstance(exc, StoreError):
        return Condition("refused", f"{exc}; lagwatch keeps ticks in memory meanwhile")
    if primary == 13 or os_errno in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text:
        return Condition(
            "disk-full",
            f"the disk holding {where} is full; free some space there and writes resume "
            "(ticks are kept in memory meanwhile)",
        )
    read_only = primary == 8 or os_errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    if read_only or "readonly" in text or (primary in (10, 14) and _fs_read_only(path)):
        return Condition(
            "read-only",
            f"{path} is read-only; make it and its folder writable (chmod u+w, or remount the "
            "filesystem read-write) or restart the daemon with another --db",
        )
    if primary in (5, 6) or "locked" in text or "busy" in text:
        return Condition(
            "locked",
            f"another program holds a write lock on {path} (an sqlite3 shell or a backup?); "
            "close it and writes resume",
        )
    if primary in (11, 26) or "malformed" in text or "not a database" in text:
        return Condition(
            "corrupt",
            f"{path} is damaged; stop the daemon, move the file aside and start again "
            "(a new history is created)",
        )
    if primary == 14 or "unable to open" in text:
        return Condition(
            "cannot-open",
            f"cannot open {path}; check that its folder exists and is writable",
        )
    return Condition("io-error", f"writing {path} failed; check the disk and its permissions")


@dataclass(slots=True)
class _TickRecord:
    time: float
    interval_s: float
    context: tuple[str, str, str]
    machine: str | None
    summary: dict[str, Any]
    sweep_s: float | None
    extra: str | None
    rows: list[tuple]
    cmdlines: list[tuple[int, int, str, float]] = field(default_factory=list)


class Recorder:
    def __init__(
        self,
        db_path: Path,
        policy: RecordPolicy | None = None,
        retention: Retention | None = None,
        pending_max: int = 600,
        maintain_every_s: float = 60.0,
        busy_timeout_ms: int = 100,
        clock: Callable[[], float] = time.monotonic,
        watch_every_s: float = 2.0,
    ) -> None:
        self.path = Path(db_path)
        self.policy = policy or RecordPolicy()
        self.retention = retention or Retention()
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self.maintain_every_s = maintain_every_s
        self.watch_every_s = watch_every_s
        self._conn: sqlite3.Connection | None = None
        self._contexts: dict[tuple[str, str, str], int] = {}
        self._pending: deque[_TickRecord] = deque(maxlen=pending_max)
        self._dirty_events: dict[int, Event] = {}  # key -> newest version not yet written
        # The sampling thread reads these (prepare, with_id) while a writer thread updates them.
        self._lock = threading.Lock()
        self._event_ids: OrderedDict[int, int] = OrderedDict()  # key -> database id
        # Newest version written of each recent event: the ongoing ones are written again
        # into a new history when the file is deleted or replaced.
        self._written_events: OrderedDict[int, Event] = OrderedDict()
        # (pid, start_id) -> (command line, tick time) as last written: a command line is
        # written once per process, again when it changes or its `seen` time needs a refresh.
        self._cmdlines: OrderedDict[tuple[int, int], tuple[str, float]] = OrderedDict()
        self.dropped = 0  # ticks lost because the queue overflowed while writes failed
        self.dropped_total = 0  # the same, never reset (status and /metrics show it)
        # The file this run writes to, as (st_dev, st_ino), and its -wal/-shm files: compared
        # with what is at the path to notice a deletion or a replacement.
        self._file: tuple[int, int] | None = None
        self._sidecars: dict[str, tuple[int, int]] = {}
        self._stale: dict[str, tuple[int, int]] = {}  # ours, left beside a replaced file
        self._file_gone = False  # the file above was deleted or replaced (and that was said)
        self._adopting: tuple[int, int] | None = None  # a restored history being taken on
        self._next_watch = 0.0
        self.ticks_in_file = 0  # written to the current file by this run
        self.file_change: dict[str, Any] | None = None  # the last deletion/replacement seen
        self.file_changes = 0
        self.condition: Condition | None = None
        self.condition_since: float | None = None  # unix time
        self.ticks_written = 0
        self.last_written_time: float | None = None
        # Keys of the events written, for whoever shows them with their database ids (the
        # daemon takes them from another thread: a deque's append and popleft are atomic).
        self.written_keys: deque[int] = deque(maxlen=4096)
        self._failures = 0
        self._retry_at = 0.0
        self._next_maintenance = clock() + min(maintain_every_s, 10.0)

    # -- public API ------------------------------------------------------------------------

    def open(self) -> bool:
        """Try to open now (a failure is a condition like any other). StoreError (a file that
        is not lagwatch history) is fatal only until a history was opened: later it means the
        file was replaced, a condition like the others."""
        return self._try(lambda: None)

    def record(self, ranking: Ranking, sweep_s: float | None = None) -> bool:
        """Queue the tick and write everything queued. True when the tick is on disk."""
        self.add(self.prepare(ranking, sweep_s))
        return self.flush()

    def add(self, record: _TickRecord) -> None:
        """Queue a prepared tick; the oldest queued one is dropped (and counted) when full."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
            self.dropped_total += 1
        self._pending.append(record)

    def watch(self, force: bool = False) -> bool:
        """Whether the file at the path is still the one being written (checked at most every
        ``watch_every_s`` unless ``force``). When it was deleted or replaced: let it go, say
        so once, and start or adopt the history now there. True when that happened."""
        now = self.clock()
        if self._conn is None or (not force and now < self._next_watch):
            return False
        self._next_watch = now + self.watch_every_s
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            what = "deleted"
        except OSError:
            return False  # cannot tell (a folder we may no longer search): writes will say
        else:
            if _identity(st) == self._file:
                return False
            what = "replaced"
        self._let_go(what)
        self._retry_at = 0.0
        self._try(lambda: None)  # the new history exists at once, not at the next tick
        return True

    def save_event(self, event: Event, flush: bool = True) -> bool:
        """Queue an event (new, or a newer version of one saved before); written now, or with
        the next tick."""
        self._dirty_events[event.key] = event
        return self.flush() if flush else False

    def with_id(self, event: Event) -> Event:
        """The event with its database id, once a version of it has been written."""
        if event.id is not None:
            return event
        with self._lock:
            event_id = self._event_ids.get(event.key)
        return event if event_id is None else replace(event, id=event_id)

    def close_dangling(self) -> bool:
        """End episodes a killed daemon left open, at the last moment they were known."""

        def run() -> None:
            self._connect().execute(
                "UPDATE events SET end = start + coalesce(duration_s, 0), "
                "details = json_set(coalesce(details, '{}'), '$.ended', 'daemon died') "
                "WHERE end IS NULL"
            )

        return self._try(run)

    def flush(self) -> bool:
        if not self._pending and not self._dirty_events:
            return True
        if self.clock() < self._retry_at:
            return False
        return self._try(self._write_pending)

    def maintain(self, now: float | None = None) -> dict | None:
        """Retention pass when due (and the database is writable)."""
        if self.clock() < self._next_maintenance or self.condition is not None:
            return None
        self._next_maintenance = self.clock() + self.maintain_every_s
        result: dict = {}

        def run() -> None:
            result.update(
                thin(self._connect(), time.time() if now is None else now, self.retention)
            )
            self._contexts.clear()  # thinning may have deleted one only pending ticks use

        self._try(run)
        return result or None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._retry_at = 0.0  # one last attempt, whatever the back-off said
        self.watch(force=True)  # never leave our WAL beside a file that replaced ours
        if not self.flush() and self._pending:
            log.warning(
                "%d ticks could not be written before stopping (%s)",
                len(self._pending),
                self.condition.name if self.condition else "error",
            )
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
            self._conn = None

    # -- internals -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self._file is not None:
                self._check_path()
            conn = connect_rw(self.path, self.busy_timeout_ms)
            try:
                st = os.stat(self.path)
            except OSError:
                conn.close()
                raise
            if _identity(st) != self._file:
                self._file = _identity(st)
                self._sidecars.clear()
                self.ticks_in_file = 0
            self._file_gone = False
            self._conn = conn
            self._contexts.clear()
        return self._conn

    def _check_path(self) -> None:
        """Before opening the path again: what is there must be the file this run wrote, none
        (a new history is made), or lagwatch history (a restored backup, adopted). A change
        not yet noticed (the file went while writes were failing anyway) is said here. Our own
        -wal/-shm left beside a replaced file go first: opening the file with them there would
        replay our old writes into it."""
        try:
            st: os.stat_result | None = os.stat(self.path)  # a symlink --db is followed
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError:
            return  # connect_rw will say why
        if st is not None and _identity(st) == self._file:
            return
        if not self._file_gone:
            self._let_go("deleted" if st is None else "replaced")
        self._remove_stale()
        if self._stale:
            names = ", ".join(f"{self.path}{s}" for s in self._stale)
            raise ForeignFile(
                f"{names} (left by the history file that was replaced) cannot be removed, so "
                f"{self.path} is not opened"
            )
        if st is None:
            return  # a new history is made
        why = foreign_reason(self.path)
        if why is not None:
            raise ForeignFile(
                f"{self.path} was replaced by a file that is not lagwatch history ({why})"
            )
        if self._adopting != _identity(st):
            self._adopting = _identity(st)
            log.warning("recording goes on into the lagwatch history now at %s", self.path)

    def _let_go(self, what: str) -> None:
        """The file at the path is no longer ours: close ours (SQLite neither checkpoints into
        nor deletes anything at a path whose database moved), remove our -wal/-shm if still
        there, and start afresh: ongoing events are written again into the next history."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._file_gone = True
        self._stale.update(self._sidecars)
        self._sidecars.clear()
        removed = self._remove_stale()
        lost = self.ticks_in_file
        if what == "deleted":
            folder = "" if self.path.parent.exists() else " (with its folder)"
            message = (
                f"history file {self.path} was deleted while recording{folder}: the {lost} "
                "ticks this run wrote to it went with it; a new history is started there and "
                "recording goes on"
            )
        else:
            tidy = f"; its leftover {', '.join(removed)} removed" if removed else ""
            message = (
                f"history file {self.path} was replaced by another file while recording (a "
                f"restored backup?): the {lost} ticks this run wrote to the old file are not in "
                f"it. The old file was closed without writing into the new one{tidy}"
            )
        log.warning("%s", message)
        self.file_change = {"at": time.time(), "what": what, "ticks_lost": lost,
                            "message": message}  # fmt: skip
        self.file_changes += 1
        self.ticks_in_file = 0
        self._contexts.clear()
        with self._lock:
            self._cmdlines.clear()
            self._event_ids.clear()
        for key, event in self._written_events.items():
            if event.end is None:  # still going on: it belongs in the next history too
                self._dirty_events.setdefault(key, replace(event, id=None))
        self._written_events.clear()

    def _remove_stale(self) -> list[str]:
        """Remove our -wal/-shm left beside a file that replaced ours, only if they are still
        the very files we used (another file under that name is left alone)."""
        removed = []
        for suffix, ident in list(self._stale.items()):
            name = f"{self.path}{suffix}"
            try:
                if _identity(os.lstat(name)) == ident:
                    os.unlink(name)
                    removed.append(name)
            except FileNotFoundError:
                pass
            except OSError:
                continue  # kept: tried again before the path is opened
            del self._stale[suffix]
        return removed

    def _note_sidecars(self) -> None:
        for suffix in SIDECARS:
            if suffix not in self._sidecars:
                with contextlib.suppress(OSError):
                    self._sidecars[suffix] = _identity(os.stat(f"{self.path}{suffix}"))

    def _try(self, action: Callable[[], None]) -> bool:
        try:
            self.watch(force=True)
            self._connect()
            action()
        except StoreError as exc:
            if self._file is None:
                raise  # at start: a file that is not ours is refused outright
            self._failed(exc)  # later: the file at the path was replaced
            return False
        except ForeignFile as exc:
            self._failed(exc)
            return False
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError) as exc:
            # Not a condition of the disk but a bug: fatal, with its cause kept for debugging.
            raise StoreError(f"cannot write history {self.path}: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return False
        self._succeeded()
        return True

    def _failed(self, exc: BaseException) -> None:
        if self._conn is not None and self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.rollback()
        cond = classify(exc, self.path)
        if self.condition is None or cond.name != self.condition.name:
            log.warning(
                "cannot write history (%s: %s): %s. Sampling continues.",
                cond.name,
                exc,
                cond.advice,
            )
            self.condition_since = time.time()
        self.condition = cond
        self._failures += 1
        if cond.name == "locked":
            self._retry_at = 0.0  # the busy timeout already spaced the attempts
        else:
            # Reopen next time: a read-only fallback connection never becomes writable again.
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None
            self._retry_at = self.clock() + min(5.0, 0.5 * 2 ** min(self._failures, 4))

    def _succeeded(self) -> None:
        if self.condition is not None:
            since = self.condition_since or time.time()
            dropped = f", {self.dropped} ticks were dropped" if self.dropped else ""
            log.warning(
                "history writes resumed after %.0fs of %s%s",
                time.time() - since,
                self.condition.name,
                dropped,
            )
            self.dropped = 0
        self.condition = None
        self.condition_since = None
        self._failures = 0
        self._retry_at = 0.0

    def prepare(self, ranking: Ranking, sweep_s: float | None = None) -> _TickRecord:
        """What of ``ranking`` is written (no I/O: the sampling thread may call it)."""
        # Unknown (None) extras are not stored: reading back gives None for them anyway.
        data_extra = {
            k: v
            for k, v in ranking.to_json(limit=0).items()
            if k not in _TICK_KEYS and v is not None
        }
        context = (
            ranking.platform,
            json.dumps(list(ranking.sources)),
            json.dumps(
                {k: v for k, v in ranking.system.items() if k in MACHINE_FACT_KEYS},
                sort_keys=True,
                default=str,
            ),
        )
        rows = []
        selected = select_rows(ranking, self.policy)
        for row in selected:
            values = [getattr(row, c) for c in PROCESS_COLUMNS]
            values[PROCESS_COLUMNS.index("restricted")] = int(bool(row.restricted))
            extra = None
            if EXTRA_PROCESS_KEYS:
                data = row.to_json()
                extra = json.dumps({k: data.get(k) for k in EXTRA_PROCESS_KEYS})
            subs = json.dumps(row.subscores, separators=(",", ":")) if row.subscores else None
            rows.append((*values, row.start_id, subs, extra, row.app))
        return _TickRecord(
            time=ranking.time,
            interval_s=ranking.interval_s,
            context=context,
            machine=encode_machine(ranking.system),
            summary=summarize(ranking),
            sweep_s=None if sweep_s is None else round(sweep_s, 4),
            extra=json.dumps(data_extra, default=str) if data_extra else None,
            rows=rows,
            cmdlines=self._new_cmdlines(ranking.time, selected),
        )

    def _new_cmdlines(self, t: float, rows: list[ProcessRow]) -> list[tuple[int, int, str, float]]:
        """Command lines of the recorded processes that the database lacks or has stale."""
        out = []
        for row in rows:
            if row.cmdline is None:
                continue
            with self._lock:
                known = self._cmdlines.get((row.pid, row.start_id))
            if known is None or known[0] != row.cmdline or t - known[1] >= CMDLINE_REFRESH_S:
                out.append((row.pid, row.start_id, row.cmdline, t))
        return out

    def _context_id(self, conn: sqlite3.Connection, context: tuple[str, str, str]) -> int:
        cid = self._contexts.get(context)
        if cid is None:
            conn.execute(
                "INSERT OR IGNORE INTO contexts (platform, sources, system) VALUES (?, ?, ?)",
                context,
            )
            cid = conn.execute(
                "SELECT id FROM contexts WHERE platform IS ? AND sources = ? AND system = ?",
                context,
            ).fetchone()[0]
            self._contexts[context] = cid
        return cid

    def _write_pending(self) -> None:
        conn = self._connect()
        written: list[tuple[int, int]] = []  # (key, database id)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rec in self._pending:
                s = rec.summary
                cur = conn.execute(
                    "INSERT INTO ticks (time, interval_s, context_id, process_count, "
                    "restricted_count, sweep_s, extra, top_score, level, cpu_percent_total, "
                    "disk_bytes_per_s_total, pageins_per_s_total, load_1m, machine) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                    (
                        rec.time,
                        rec.interval_s,
                        self._context_id(conn, rec.context),
                        s["process_count"],
                        s["restricted_count"],
                        rec.sweep_s,
                        rec.extra,
                        s["top_score"],
                        s["cpu_percent_total"],
                        s["disk_bytes_per_s_total"],
                        s["pageins_per_s_total"],
                        s["load_1m"],
                        rec.machine,
                    ),
                )
                tick_id = cur.lastrowid
                conn.executemany(_PROC_INSERT, [(tick_id, *r) for r in rec.rows])
                conn.executemany(_CMDLINE_UPSERT, rec.cmdlines)
            for key, event in self._dirty_events.items():
                values = event.to_row()
                event_id = self.with_id(event).id
                if event_id is None:
                    cur = conn.execute(
                        "INSERT INTO events (kind, start, end, duration_s, suspects, details, "
                        "timeline) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        values,
                    )
                    event_id = int(cur.lastrowid or 0)
                else:
                    conn.execute(
                        "UPDATE events SET kind=?, start=?, end=?, duration_s=?, suspects=?, "
                        "details=?, timeline=? WHERE id=?",
                        (*values, event_id),
                    )
                written.append((key, event_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        # Only now are the ids real (a rolled-back insert would have handed out a stale one).
        with self._lock:
            for rec in self._pending:
                for pid, start_id, cmdline, t in rec.cmdlines:
                    self._cmdlines[(pid, start_id)] = (cmdline, t)
                    self._cmdlines.move_to_end((pid, start_id))
            while len(self._cmdlines) > _CMDLINES_KEPT:
                self._cmdlines.popitem(last=False)
            for key, event_id in written:
                self._event_ids[key] = event_id
                self._event_ids.move_to_end(key)
            while len(self._event_ids) > _EVENT_IDS_KEPT:
                self._event_ids.popitem(last=False)
        for key, _ in written:
            self._written_events[key] = self._dirty_events[key]
            self._written_events.move_to_end(key)
        while len(self._written_events) > _EVENT_IDS_KEPT:
            self._written_events.popitem(last=False)
        self.written_keys.extend(key for key, _ in written)
        self._note_sidecars()
        if self._pending:
            self.ticks_written += len(self._pending)
            self.ticks_in_file += len(self._pending)
            self.last_written_time = self._pending[-1].time
            if log.isEnabledFor(logging.DEBUG):
                for rec in self._pending:
                    log.debug("recorded tick at %.3f", rec.time)
        self._pending.clear()
        self._dirty_events.clear()
