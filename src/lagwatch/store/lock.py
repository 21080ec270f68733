"""One daemon per database: an advisory lock the kernel drops when the holder dies.

The lock file sits beside the database and holds a small JSON note about the daemon (pid, start,
health), which `lagwatch status` reads. ``flock`` is released on any exit, SIGKILL included, so a
crashed daemon never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

try:  # POSIX only; this module must still import elsewhere.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class AlreadyRunning(Exception):
    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path = path
        self.info = info
        pid = info.get("pid")
        who = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"another lagwatch daemon ({who}) is already recording to {path}; stop it first "
            "(lagwatch service uninstall, or kill it) or give this one another --db"
        )


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _read_note(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 65536, 0)
        note = json.loads(data.decode() or "{}")
        return note if isinstance(note, dict) else {}
    except (OSError, ValueError):
        return {}


class DaemonLock:
    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path(self.db_path)
        self._fd: int | None = None
        self.note: dict[str, Any] = {}

    def acquire(self, **note: Any) -> None:
        """Take the lock or raise AlreadyRunning; OSError if the lock file cannot be made."""
        if fcntl is None:  # pragma: no cover
            raise OSError("daemon locking needs a POSIX system")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_note(fd)
            os.close(fd)
            raise AlreadyRunning(self.db_path, info) from None
        self._fd = fd
        self.update(pid=os.getpid(), started_at=time.time(), db=str(self.db_path), **note)

    def update(self, **changes: Any) -> None:
        """Rewrite the note (best effort: a full disk must not stop the daemon)."""
        self.note.update(changes)
        self.note["updated_at"] = time.time()
        if self._fd is None:
            return
        data = json.dumps(self.note, default=str).encode()
        with contextlib.suppress(OSError):
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def running_daemon(db_path: Path) -> dict[str, Any] | None:
    """The note of the daemon holding the lock on ``db_path``, or None if none runs."""
    if fcntl is None:  # pragma: no cover
        return None
    path = lock_path(Path(db_path))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            note = _read_note(fd)
            note.setdefault("pid", None)
            return note
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
