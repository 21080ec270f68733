"""The history file on disk: private when created, a foreign file left byte for byte as it was,
no file created through a dangling symlink, and a WAL that shrinks back after a long reader."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lagwatch.store import Recorder, StoreError
from lagwatch.store.db import JOURNAL_SIZE_LIMIT_BYTES, connect_rw


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, so 'lagwatch chose the mode' is what the test sees."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_history_is_private(tmp_path: Path, umask_022) -> None:
    db = tmp_path / "new" / "deeper" / "history.db"
    recorder = Recorder(db)
    assert recorder.open()
    try:
        assert mode(db) == 0o600
        for suffix in ("-wal", "-shm"):  # SQLite gives them the database's mode
            assert mode(db.with_name(db.name + suffix)) == 0o600
        assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "deeper") == 0o700
    finally:
        recorder.close()
    assert mode(tmp_path) == 0o700  # an existing folder is not changed (pytest made it 0700)


def test_an_existing_folder_keeps_its_mode(tmp_path: Path, umask_022) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    Recorder(folder / "h.db").close()
    assert mode(folder) == 0o755


def test_a_foreign_sqlite_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    db = tmp_path / "someone-elses.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('ada')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not lagwatch history"):
        Recorder(db).open()
    assert db.read_bytes() == before  # header included: it was not switched to WAL
    assert not db.with_name(db.name + "-wal").exists()


def test_no_file_is_created_through_a_dangling_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "created-by-the-daemon"
    target.parent.mkdir()
    db = tmp_path / "h.db"
    db.symlink_to(target)
    with pytest.raises(StoreError, match="symlink to a missing file"):
        Recorder(db).open()
    assert not target.exists()


def test_the_wal_shrinks_back_after_a_long_reader(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    wal = db.with_name(db.name + "-wal")
    writer = connect_rw(db)
    writer.execute("CREATE TABLE filler (data BLOB)")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM filler").fetchone()  # holds its snapshot
    chunk = os.urandom(512 * 1024)
    for _ in range(2 * JOURNAL_SIZE_LIMIT_BYTES // len(chunk) + 8):  # a checkpoint cannot
        writer.execute("INSERT INTO filler VALUES (?)", (chunk,))  # pass the reader: it grows
    peak = wal.stat().st_size
    assert peak > 2 * JOURNAL_SIZE_LIMIT_BYTES
    reader.execute("COMMIT")
    reader.close()
    try:
        for _ in range(3):  # ordinary ticks: the WAL is checkpointed, restarted and cut back
            writer.execute("INSERT INTO filler VALUES (x'00')")
        assert wal.stat().st_size <= JOURNAL_SIZE_LIMIT_BYTES
    finally:
        writer.close()
