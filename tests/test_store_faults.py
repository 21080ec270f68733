"""Faults of the history file under a running writer, with real files: deleted (with or without
its folder), a backup renamed over it (with or without its own WAL), a file that is not history
put in its place; and a disk that blocks, through a writer thread with a bounded queue."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lagwatch.events import Event
from lagwatch.model import ProcessRow, Ranking
from lagwatch.store import History, Recorder

T0 = 1_800_000_000.0
SIDECARS = ("-wal", "-shm")


def row(pid: int, score: float) -> ProcessRow:
    return ProcessRow(
        pid=pid, ppid=1, name=f"p{pid}", user="u", state="running", restricted=False,
        memory_bytes=1 << 20, threads=1, cpu_percent=score, score=score, dominant="cpu",
        start_id=pid,
    )  # fmt: skip


def ranking(t: float) -> Ranking:
    return Ranking(t, 1.0, "linux", ["procfs"], [row(1, 50.0), row(2, 10.0)])


def times(db: Path) -> list[float]:
    with History(db) as h:
        return h.tick_times()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def side(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- a deleted history -------------------------------------------------------------------------


def test_deleted_history_is_said_once_and_a_new_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, umask_022
) -> None:
    db = tmp_path / "history.db"
    rec = Recorder(db)
    for k in range(3):
        assert rec.record(ranking(T0 + k))
    episode = Event("rogue", T0 + 1, None, None, details={"pid": 1, "name": "p1"})
    assert rec.save_event(episode)
    for suffix in ("", *SIDECARS):  # rm history.db*
        side(db, suffix).unlink()
    with caplog.at_level(logging.WARNING, logger="lagwatch.store"):
        for k in range(3, 6):
            assert rec.record(ranking(T0 + k))
    said = messages(caplog, "was deleted")
    assert len(said) == 1 and "the 3 ticks" in said[0] and "new history" in said[0]
    assert rec.file_change is not None and rec.file_change["what"] == "deleted"
    assert rec.file_change["ticks_lost"] == 3
    rec.close()
    assert times(db) == [T0 + 3, T0 + 4, T0 + 5]  # the rest of the run, in a new file
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with History(db) as h:
        (kept,) = h.events()  # the episode still going on is in the new history too
    assert kept.kind == "rogue" and kept.start == T0 + 1
    assert integrity(db) == "ok"


def test_deleted_while_writes_were_failing_is_said_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "history.db"
    rec = Recorder(db)
    assert rec.record(ranking(T0))
    rec._failed(sqlite3.OperationalError("disk I/O error"))  # a failure closed the file
    for suffix in ("", *SIDECARS):  # (closing it removed the -wal and -shm)
        side(db, suffix).unlink(missing_ok=True)
    rec._retry_at = 0.0  # skip the back-off instead of waiting for it
    with caplog.at_level(logging.WARNING, logger="lagwatch.store"):
        assert rec.record(ranking(T0 + 1))
    assert len(messages(caplog, "was deleted")) == 1
    rec.close()
    assert times(db) == [T0 + 1]


def test_deleted_folder_is_made_again_private(tmp_path: Path, umask_022) -> None:
    folder = tmp_path / "data" / "lagwatch"
    db = folder / "history.db"
    rec = Recorder(db)
    assert rec.record(ranking(T0))
    shutil.rmtree(tmp_path / "data")
    assert rec.record(ranking(T0 + 1))
    rec.close()
    assert times(db) == [T0 + 1]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert "with its folder" in (rec.file_change or {}).get("message", "")


def test_only_the_database_deleted_its_old_wal_is_not_replayed_into_the_new(
    tmp_path: Path,
) -> None:
    db = tmp_path / "history.db"
    rec = Recorder(db)
    for k in range(3):
        assert rec.record(ranking(T0 + k))
    db.unlink()  # our -wal and -shm stay: opening a new file beside them would replay them
    assert rec.record(ranking(T0 + 10))
    rec.close()
    assert times(db) == [T0 + 10]
    assert integrity(db) == "ok"


# -- a replaced history -------------------------------------------------------------------------


def backup(src: Path, dst: Path) -> None:
    """A consistent copy, as `sqlite3 history.db .backup` makes it (no WAL beside it)."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def test_backup_renamed_over_is_adopted_and_never_gets_our_wal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "history.db"
    copy = tmp_path / "backup.db"
    rec = Recorder(db)
    for k in range(2):
        assert rec.record(ranking(T0 + k))
    backup(db, copy)
    for k in range(2, 5):  # in our file (and its WAL) only
        assert rec.record(ranking(T0 + k))
    os.rename(copy, db)  # the restore
    with caplog.at_level(logging.WARNING, logger="lagwatch.store"):
        assert rec.record(ranking(T0 + 10))
    said = messages(caplog, "was replaced")
    assert len(said) == 1 and "the 5 ticks" in said[0] and "-wal" in said[0]
    assert messages(caplog, "recording goes on into the lagwatch history")
    rec.close()
    # The restored ticks and the new one; none of the old file's later writes leaked in.
    assert times(db) == [T0, T0 + 1, T0 + 10]
    assert integrity(db) == "ok"


def test_backup_with_its_own_wal_is_adopted_and_its_wal_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    rec = Recorder(db)
    assert rec.record(ranking(T0))
    # Another lagwatch history, copied while open: part of it is only in its WAL.
    other = tmp_path / "other" / "history.db"
    writer = Recorder(other)
    for k in range(3):
        assert writer.record(ranking(T0 + 100 + k))
    (tmp_path / "restore").mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(side(other, suffix), side(tmp_path / "restore" / "history.db", suffix))
    writer.close()
    for suffix in ("", "-wal"):
        os.rename(side(tmp_path / "restore" / "history.db", suffix), side(db, suffix))
    assert rec.record(ranking(T0 + 200))
    rec.close()
    assert times(db) == [T0 + 100, T0 + 101, T0 + 102, T0 + 200]
    assert integrity(db) == "ok"


@pytest.mark.parametrize(
    "content",
    [b"", b"my notes, not a database\n" * 10, "sqlite"],
    ids=["empty", "text", "other-sqlite"],
)
def test_a_file_that_is_not_history_put_in_place_is_never_touched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | str
) -> None:
    db = tmp_path / "history.db"
    rec = Recorder(db)
    assert rec.record(ranking(T0))
    foreign = tmp_path / "foreign"
    if content == "sqlite":
        conn = sqlite3.connect(foreign)
        conn.execute("CREATE TABLE notes (x)")
        conn.commit()
        conn.close()
    else:
        foreign.write_bytes(content)  # type: ignore[arg-type]
    before = digest(foreign)
    os.rename(foreign, db)
    with caplog.at_level(logging.WARNING, logger="lagwatch.store"):
        for k in range(1, 4):
            assert not rec.record(ranking(T0 + k))
    assert rec.condition is not None and rec.condition.name == "replaced"
    assert rec.pending == 3  # kept in memory, not written anywhere
    assert digest(db) == before
    assert not side(db, "-wal").exists() and not side(db, "-shm").exists()
    assert len(messages(caplog, "cannot write history (replaced")) == 1
    db.unlink()  # moved away by the user: a new history is started with what waited
    rec._retry_at = 0.0  # skip the back-off instead of waiting for it
    assert rec.record(ranking(T0 + 4))
    rec.close()
    assert times(db) == [T0 + 1, T0 + 2, T0 + 3, T0 + 4]


# -- a disk that blocks -------------------------------------------------------------------------


class BlockingRecorder(Recorder):
    """A recorder whose disk hangs in ``open`` until ``release`` is set (a frozen filesystem
    under a writer that has not opened yet: nothing has left the queue)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.entered = threading.Event()
        self.release = threading.Event()

    def open(self) -> bool:
        self.entered.set()
        assert self.release.wait(60), "the test never released the disk"
        return super().open()


def test_a_blocked_disk_never_blocks_the_sampling_side_and_drops_are_counted(
    tmp_path: Path,
) -> None:
    from lagwatch.store.background import BackgroundWriter

    db = tmp_path / "history.db"
    rec = BlockingRecorder(db)
    writer = BackgroundWriter(rec, max_queued=5)
    writer.start()
    try:
        assert rec.entered.wait(30)
        accepted = [writer.submit(ranking(T0 + k)) for k in range(12)]
        assert accepted == [True] * 5 + [False] * 7  # never waits for the disk
        assert writer.dropped == 7 and writer.dropped_total == 7 and writer.queued == 5
        assert writer.stalled_s() > 0  # a disk call is running and has not returned
    finally:
        rec.release.set()
    assert writer.stop(30)
    assert times(db) == [T0 + k for k in range(7, 12)]  # the newest were kept
    assert writer.dropped_total == 7
