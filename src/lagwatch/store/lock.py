"""One daemon per database: an advisory lock the kernel drops when the holder dies.

The lock file sits beside the database and holds a small JSON note about the daemon (pid, start,
health), which `lagwatch status` reads. ``flock`` is released on any exit, SIGKILL included, so a
crashed daemon never leaves a stale lock behind. A second lock in the temporary directory, named
after the database's path, is always taken too: it still works when the database's folder is
read-only (the daemon must then keep sampling and wait for it to become writable).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

try:  # POSIX only; this module must still import elsewhere.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


_UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


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


def fallback_lock_path(db_path: Path) -> Path:
    digest = hashlib.sha1(str(Path(db_path).absolute()).encode()).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"lagwatch-{uid}" / f"{digest}.lock"


def _lock(path: Path) -> int:
    """Open and flock ``path``; BlockingIOError (with the fd closed) when it is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        exc.filename = _read_note(fd)  # type: ignore[assignment]
        os.close(fd)
        raise
    return fd


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
        self.fallback = fallback_lock_path(self.db_path)
        self._fds: list[int] = []
        self.note: dict[str, Any] = {}

    def acquire(self, **note: Any) -> None:
        """Take the lock or raise AlreadyRunning; OSError if no lock file can be made."""
        if fcntl is None:  # pragma: no cover
            raise OSError("daemon locking needs a POSIX system")
        try:
            self._fds.append(_lock(self.fallback))
            try:
                self._fds.append(_lock(self.path))
            except OSError as exc:
                if isinstance(exc, BlockingIOError) or exc.errno not in _UNWRITABLE:
                    raise
                # The database's folder is read-only: the temporary lock alone guards it.
        except BlockingIOError as exc:
            self.release()
            info = exc.filename if isinstance(exc.filename, dict) else {}
            raise AlreadyRunning(self.db_path, info) from None
        except OSError:
            self.release()
            raise
        self.update(pid=os.getpid(), started_at=time.time(), db=str(self.db_path), **note)

    def update(self, **changes: Any) -> None:
        """Rewrite the note (best effort: a full disk must not stop the daemon)."""
        self.note.update(changes)
        self.note["updated_at"] = time.time()
        data = json.dumps(self.note, default=str).encode()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock
        self._fds.clear()


def _held_note(path: Path) -> dict[str, Any] | None:
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


def running_daemon(db_path: Path) -> dict[str, Any] | None:
    """The note of the daemon holding the lock on ``db_path``, or None if none runs."""
    if fcntl is None:  # pragma: no cover
        return None
    db_path = Path(db_path)
    for path in (lock_path(db_path), fallback_lock_path(db_path)):
        note = _held_note(path)
        if note is not None:
            return note
    return None
