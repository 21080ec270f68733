"""The history database's schema and its migrations.

The schema version lives in SQLite's ``user_version``. Each migration moves the database one
version up inside a single transaction (SQLite DDL is transactional), so an upgrade either
completes or leaves the database exactly as it was; no migration ever drops a table or a row of
history. A database newer than this build is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lagwatch.model import PROCESS_KEYS


class StoreError(Exception):
    """The history database cannot be used (message is one readable line)."""


# Per-process columns: the process JSON contract as it was at schema v1. Deliberately a copy,
# not model.PROCESS_KEYS: a table's columns must not move when the contract grows.
PROCESS_COLUMNS: tuple[str, ...] = (
    "pid",
    "ppid",
    "name",
    "user",
    "state",
    "score",
    "dominant",
    "cpu_percent",
    "memory_bytes",
    "threads",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
    "pageins_per_s",
    "wakeups_per_s",
    "ctx_switches_per_s",
    "gpu_percent",
    "net_bytes_per_s",
    "energy_impact",
    "power_watts",
    "restricted",
)
# Contract keys kept once per process rather than on every row: the command line (table
# ``cmdlines``, by pid and start, since schema v4).
PER_PROCESS_KEYS: tuple[str, ...] = ("cmdline",)
# Contract keys added after this schema was written go to the row's JSON ``extra`` column, so a
# growing contract never needs a schema change to be recorded.
EXTRA_PROCESS_KEYS: tuple[str, ...] = tuple(
    k for k in PROCESS_KEYS if k not in PROCESS_COLUMNS and k not in PER_PROCESS_KEYS
)

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
-- What rarely changes between ticks (platform, sources, machine facts), stored once.
CREATE TABLE contexts (
    id INTEGER PRIMARY KEY,
    platform TEXT,
    sources TEXT NOT NULL,   -- JSON list
    system TEXT NOT NULL,    -- JSON object
    UNIQUE (platform, sources, system)
);
CREATE TABLE ticks (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,          -- unix seconds
    interval_s REAL NOT NULL,
    context_id INTEGER REFERENCES contexts(id),
    process_count INTEGER,       -- processes seen (not only those recorded)
    restricted_count INTEGER,
    sweep_s REAL,                -- how long reading every process took
    extra TEXT                   -- JSON: top-level keys of the ranking contract added later
);
CREATE INDEX ticks_time ON ticks(time);
CREATE TABLE procs (
    tick_id INTEGER NOT NULL REFERENCES ticks(id) ON DELETE CASCADE,
    pid INTEGER NOT NULL,
    ppid INTEGER,
    name TEXT NOT NULL,
    user TEXT,
    state TEXT,
    score REAL NOT NULL,
    dominant TEXT,
    cpu_percent REAL,
    memory_bytes INTEGER,
    threads INTEGER,
    disk_read_bytes_per_s REAL,
    disk_write_bytes_per_s REAL,
    pageins_per_s REAL,
    wakeups_per_s REAL,
    ctx_switches_per_s REAL,
    gpu_percent REAL,
    net_bytes_per_s REAL,
    energy_impact REAL,
    power_watts REAL,
    restricted INTEGER NOT NULL DEFAULT 0,
    start_id INTEGER,
    subscores TEXT,              -- JSON {resource: 0-100}
    extra TEXT,                  -- JSON: contract keys added later
    PRIMARY KEY (tick_id, pid)
) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,          -- 'pause' | 'rogue'
    start REAL NOT NULL,
    end REAL,                    -- NULL while a rogue episode is still going on
    duration_s REAL,
    suspects TEXT NOT NULL,      -- JSON list of {pid, name, score, dominant}
    details TEXT,                -- JSON: kind-specific facts (peak, clocks)
    timeline TEXT                -- JSON: the suspects' metrics around the event, for `why`
);
CREATE INDEX events_start ON events(start);
"""

# v2: thinning needs each tick's worst score and its resolution level; the system summary gets
# columns so status and charts need not read every process row.
_V2 = """
ALTER TABLE ticks ADD COLUMN top_score REAL;
ALTER TABLE ticks ADD COLUMN level INTEGER NOT NULL DEFAULT 0;  -- 0 full, 1+ thinned
ALTER TABLE ticks ADD COLUMN cpu_percent_total REAL;
ALTER TABLE ticks ADD COLUMN disk_bytes_per_s_total REAL;
ALTER TABLE ticks ADD COLUMN pageins_per_s_total REAL;
ALTER TABLE ticks ADD COLUMN load_1m REAL;
UPDATE ticks SET top_score = (SELECT max(score) FROM procs WHERE procs.tick_id = ticks.id);
"""

# v3: each process's app (lagwatch.apps key), decided live where the whole process tree was
# known: history groups apps by it even when the parent was never recorded. NULL before v3.
_V3 = """
ALTER TABLE procs ADD COLUMN app TEXT;
"""

# v4: a process's command line, once per process (pid + start), not on every tick's row.
# ``seen`` is the time of a tick that recorded the process, refreshed at least every
# CMDLINE_REFRESH_S while it is recorded, so retention knows when no row needs it any more.
_V4 = """
CREATE TABLE cmdlines (
    pid INTEGER NOT NULL,
    start_id INTEGER NOT NULL,
    cmdline TEXT NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (pid, start_id)
) WITHOUT ROWID;
CREATE INDEX cmdlines_seen ON cmdlines(seen);
"""
CMDLINE_REFRESH_S = 3600.0

# v5: the machine's figures of each tick (CPU, memory, load, pressure, power: a JSON array in
# lagwatch.store.machine's order), so that a recorded moment has the header of a live one.
# NULL before v5.
_V5 = """
ALTER TABLE ticks ADD COLUMN machine TEXT;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = len(MIGRATIONS)
APPLICATION_ID = 0x6C61_6777  # "lagw": marks the file as ours


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_readable(conn: sqlite3.Connection, path: Path | str) -> int:
    """The file's schema version; raises StoreError if it is not ours or is too new."""
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = schema_version(conn)
    except sqlite3.OperationalError:
        raise  # locked, busy, cannot open: a condition of the file, not what it holds
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a lagwatch history database ({exc})") from None
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(f"{path} is not a lagwatch history database (application_id {app_id})")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has history schema v{version}, newer than this lagwatch understands "
            f"(v{SCHEMA_VERSION}); upgrade lagwatch (the file was left untouched)"
        )
    return version


def statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (comments and quoted ';' are safe)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buf.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement: {buf.strip()[:60]}")
    return out


def migrate(
    conn: sqlite3.Connection, path: Path | str = "database", upto: int | None = None
) -> int:
    """Bring the schema to ``upto`` (default: current), one transaction per version.

    The version is re-read under the write lock, so two processes opening a new database at
    once (a daemon starting, a reader) never apply the same step twice.
    """
    target = SCHEMA_VERSION if upto is None else upto
    version = check_readable(conn, path)
    if version == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()
        if tables[0]:
            raise StoreError(f"{path} is an SQLite database but not lagwatch history")
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)
            if version < target:
                for statement in statements(MIGRATIONS[version]):
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
    return version
