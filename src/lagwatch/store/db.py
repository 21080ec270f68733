"""Opening the history database: one writer (the daemon), any number of readers.

WAL mode lets readers see a consistent database while the daemon writes, and a writer killed
mid-transaction leaves the database intact (the uncommitted frames are ignored on the next
open). ``synchronous=NORMAL`` keeps every committed tick across a crash of the process; only a
power loss can cost the last few.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lagwatch.store.files import UnsafePath, create_private_file, make_folders
from lagwatch.store.schema import StoreError, check_readable, migrate

# The WAL is cut back to this after a checkpoint. Normal use stays under it (SQLite
# checkpoints every ~4 MB); only a reader holding a snapshot for long makes it grow past.
JOURNAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024


def default_db_path() -> Path:
    """Where the history lives unless --db says otherwise (the platform's user data dir)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("lagwatch", appauthor=False)) / "history.db"


def connect_rw(
    path: Path,
    busy_timeout_ms: int = 100,
    journal_size_limit_bytes: int = JOURNAL_SIZE_LIMIT_BYTES,
) -> sqlite3.Connection:
    """Open (creating if needed) and migrate; raise sqlite3/OS errors as they come so the
    caller can classify them, and StoreError when the file is not usable history at all.

    A new database is private: its missing folders are made 0700 and the file 0600 (history
    tells who ran what). A file that is not lagwatch history is refused before anything is
    written to it (switching to WAL would already rewrite its header)."""
    try:
        make_folders(path.parent)
        create_private_file(path)
    except UnsafePath as exc:
        raise StoreError(str(exc)) from None
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=0)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        version = check_readable(conn, path)
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and objects:
            raise StoreError(f"{path} is an SQLite database but not lagwatch history")
        if objects == 0:
            # Lets thinning hand freed pages back to the filesystem; only settable while the
            # file has no tables, and before WAL mode writes the first page.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        # After a long reader held the WAL back it would otherwise keep its peak size.
        conn.execute(f"PRAGMA journal_size_limit = {int(journal_size_limit_bytes)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch {path} to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_ro(path: Path, busy_timeout_ms: int = 2000) -> sqlite3.Connection:
    """A read-only connection; safe beside a writing daemon."""
    if not path.exists():
        raise StoreError(
            f"no history at {path}: start the daemon (lagwatch daemon, or lagwatch service "
            "install) or point --db at a history file"
        )
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        check_readable(conn, path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read history {path}: {exc}") from None
    return conn
