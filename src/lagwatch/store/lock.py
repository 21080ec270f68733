"""One daemon per database: an advisory lock the kernel drops when the holder dies.

Two lock files, each holding a small JSON note about the daemon (pid, start, health) that
`lagwatch status` reads:

- in the user's runtime folder (``$XDG_RUNTIME_DIR/lagwatch``, else ``<tmp>/lagwatch-<uid>``),
  named after the database's path: it still works when the database's folder is read-only
  (the daemon then keeps sampling and waits for it to become writable);
- beside the database (``history.db.lock``).

``flock`` is released on any exit, SIGKILL included, so a dead daemon never leaves a lock that
blocks the next one. A root daemon writes these files, so where they go is guarded (see
``files``): a folder another user owns or can write into, or a symlink in its place, is
skipped with its reason (another user pre-creating ``/tmp/lagwatch-0`` cannot stop root's
daemon, nor make it write anywhere); with no safe folder left the daemon refuses to start. A
lock file is created with ``O_EXCL`` (0600) or opened with ``O_NOFOLLOW`` and must be a regular
file of ours with one link, empty or holding a note: anything else is refused, never written
into or truncated.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lagwatch.store.files import UnsafePath, check_folder, ensure_private_dir, euid, make_folders

try:  # POSIX only; this module must still import elsewhere.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO planted at the path must not hang
# A status reader holds a shared lock for a moment; a starting daemon retries this long.
_CONTENDED_RETRY_S = 1.0


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


def runtime_dir(env: dict[str, str] | None = None) -> Path:
    """The per-user folder for runtime files: ``$XDG_RUNTIME_DIR/lagwatch`` when that variable
    names an absolute folder, else ``<tmp>/lagwatch-<uid>`` (macOS: a per-user $TMPDIR)."""
    xdg = (os.environ if env is None else env).get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "lagwatch"
    return Path(tempfile.gettempdir()) / f"lagwatch-{euid()}"


def fallback_lock_path(db_path: Path, env: dict[str, str] | None = None) -> Path:
    digest = hashlib.sha256(str(Path(db_path).absolute()).encode()).hexdigest()[:16]
    return runtime_dir(env) / f"{digest}.lock"


def _refuse_file(path: Path, fd: int, why: str) -> UnsafePath:
    os.close(fd)
    return UnsafePath(f"{path} {why}; lagwatch never writes into a file it did not create")


def _open_lock_file(path: Path) -> int:
    """An fd on the lock file ``path``: created new (O_EXCL, 0600), or an existing one opened
    without following a symlink and checked to be a plain file of ours."""
    flags = os.O_RDWR | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, flags | _NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW on a symlink
            raise UnsafePath(
                f"{path} is a symlink; lagwatch never writes through one (remove it)"
            ) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse_file(path, fd, "is not a regular file")
    if st.st_uid != euid():
        raise _refuse_file(path, fd, f"belongs to uid {st.st_uid}")
    if st.st_nlink != 1:
        raise _refuse_file(path, fd, "has other hard links")
    if _NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def _read_note(fd: int) -> dict[str, Any] | None:
    """The JSON note in the lock file; {} when empty, None when it holds anything else."""
    try:
        data = os.pread(fd, 65536, 0)
    except OSError:
        return {}
    if not data.strip():
        return {}
    try:
        note = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def _try_flock(fd: int, retry_s: float) -> bool:
    """Take the exclusive lock; False if someone else still holds it after ``retry_s``."""
    give_up = time.monotonic() + retry_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= give_up:
                return False
            time.sleep(0.05)  # a `status` reader's shared lock lasts microseconds


class _Held(Exception):
    def __init__(self, note: dict[str, Any]) -> None:
        super().__init__("held")
        self.note = note


def _take(path: Path, retry_s: float) -> int:
    """Open, lock and check ``path``; _Held (with its note) when another process holds it."""
    fd = _open_lock_file(path)
    if not _try_flock(fd, retry_s):
        note = _read_note(fd) or {}
        os.close(fd)
        raise _Held(note)
    # Checked only now: holders write the note under the lock, so it is never half-written.
    if _read_note(fd) is None:
        raise _refuse_file(path, fd, "holds something other than a lagwatch lock note")
    return fd


@dataclass(slots=True)
class LockPlan:
    """Where the locks for one database go, and why a place was skipped."""

    paths: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def plan(db_path: Path, env: dict[str, str] | None = None) -> LockPlan:
    """The lock files to take for ``db_path``: the runtime one first, then the one beside the
    database; a place that is not safe is left out with its reason."""
    out = LockPlan()
    runtime = fallback_lock_path(db_path, env)
    try:
        ensure_private_dir(runtime.parent)
        out.paths.append(runtime)
    except (UnsafePath, OSError) as exc:
        why = exc if isinstance(exc, UnsafePath) else (exc.strerror or exc)
        out.skipped.append(f"runtime folder refused: {why}")
    try:
        with contextlib.suppress(OSError):  # a read-only place is handled when locking
            make_folders(db_path.parent)
        check_folder(db_path.parent)
        out.paths.append(lock_path(db_path))
    except UnsafePath as exc:
        out.skipped.append(f"database folder refused for the lock: {exc}")
    return out


class DaemonLock:
    def __init__(self, db_path: Path, env: dict[str, str] | None = None) -> None:
        self.db_path = Path(db_path)
        self.env = env
        self.path = lock_path(self.db_path)
        self.fallback = fallback_lock_path(self.db_path, env)
        self._fds: list[int] = []
        self.held: list[Path] = []
        self.warnings: list[str] = []  # places skipped (the caller logs them)
        self.note: dict[str, Any] = {}

    def acquire(self, retry_s: float = _CONTENDED_RETRY_S, **note: Any) -> None:
        """Take the lock or raise AlreadyRunning; UnsafePath when no safe place is left or a
        lock file is not ours; OSError if no lock file can be made."""
        if fcntl is None:  # pragma: no cover
            raise OSError("daemon locking needs a POSIX system")
        where = plan(self.db_path, self.env)
        self.warnings = list(where.skipped)
        failed: OSError | None = None
        try:
            for path in where.paths:
                try:
                    self._fds.append(_take(path, retry_s))
                    self.held.append(path)
                except UnsafePath:
                    raise  # something planted where our file goes: say so, do not work around
                except OSError as exc:
                    # A read-only database folder, a full /tmp: the other lock guards it alone
                    # (a second daemon always meets at least one of the two).
                    failed = exc
                    self.warnings.append(f"no lock at {path}: {exc.strerror or exc}")
        except _Held as held:
            self.release()
            raise AlreadyRunning(self.db_path, held.note) from None
        except BaseException:
            self.release()
            raise
        if not self.held and failed is not None:
            raise failed
        if not self.held:
            raise UnsafePath(
                f"no safe place for the lock of {self.db_path}: " + "; ".join(self.warnings)
            )
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

    def note_writers(self) -> list[Callable[..., None]]:
        """For each lock file held, a function rewriting only that file's note with
        ``changes`` (best effort). The daemon calls each from a thread of its own: a file on a
        frozen or hung filesystem (the one beside the database) then never holds back the
        other, and `status` (which reads the freshest note) still sees what happens."""

        def writer(fd: int) -> Callable[..., None]:
            def write(**changes: Any) -> None:
                if fd not in self._fds:  # released: the number may belong to another file now
                    return
                data = json.dumps({**self.note, **changes, "updated_at": time.time()},
                                  default=str).encode()  # fmt: skip
                with contextlib.suppress(OSError):
                    os.pwrite(fd, data, 0)
                    os.ftruncate(fd, len(data))

            return write

        return [writer(fd) for fd in self._fds]

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # ours: created or checked when taken
            os.close(fd)  # closing drops the flock
        self._fds.clear()
        self.held.clear()


def _held_note(path: Path) -> dict[str, Any] | None:
    """The note in ``path`` if a process holds its lock, else None (symlinks are not read)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            note = _read_note(fd) or {}
            note.setdefault("pid", None)
            return note
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def running_daemon(db_path: Path, env: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The note of the daemon holding a lock on ``db_path``, or None if none runs.

    Both lock files are read: a write to one may have failed (the disk beside the database was
    full at start, or its folder became read-only), so the freshest complete note wins."""
    if fcntl is None:  # pragma: no cover
        return None
    db_path = Path(db_path)
    notes = [
        note
        for path in (lock_path(db_path), fallback_lock_path(db_path, env))
        if (note := _held_note(path)) is not None
    ]
    if not notes:
        return None
    return max(notes, key=lambda n: (n.get("pid") is not None, n.get("updated_at") or 0.0))
