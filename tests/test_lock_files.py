"""The daemon's lock and runtime files: only in safe folders, never through a symlink or into a
file lagwatch did not create, never blocking a restart; and `status` reading the right note."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lagwatch.store.files import UnsafePath
from lagwatch.store.lock import (
    AlreadyRunning,
    DaemonLock,
    fallback_lock_path,
    lock_path,
    plan,
    running_daemon,
)

LAGWATCH = [sys.executable, "-m", "lagwatch"]
VICTIM_TEXT = b"root:secret-hash:19000:0:99999:7:::\n"


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)  # polling a condition, with a deadline
    return value


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(runtime)}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file another program owns the contents of (standing in for /etc/shadow)."""
    path = tmp_path / "victim"
    path.write_bytes(VICTIM_TEXT)
    path.chmod(0o640)
    return path


def untouched(path: Path) -> bool:
    return path.read_bytes() == VICTIM_TEXT and stat.S_IMODE(path.stat().st_mode) == 0o640


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- in-process: where the locks go, what is refused -------------------------------------------


def test_locks_are_private_files_in_private_folders(tmp_path: Path, env) -> None:
    db = tmp_path / "data" / "h.db"
    lock = DaemonLock(db, env)
    lock.acquire(interval_s=1.0)
    try:
        runtime = fallback_lock_path(db, env)
        assert runtime.parent == Path(env["XDG_RUNTIME_DIR"]) / "lagwatch"
        assert lock.held == [runtime, lock_path(db)]
        assert mode(runtime.parent) == 0o700 and mode(db.parent) == 0o700
        assert mode(runtime) == 0o600 and mode(lock_path(db)) == 0o600
        assert running_daemon(db, env)["pid"] == os.getpid()
        with pytest.raises(AlreadyRunning, match=f"already recording to {db}"):
            DaemonLock(db, env).acquire(retry_s=0)
    finally:
        lock.release()
    assert running_daemon(db, env) is None


@pytest.mark.parametrize("where", ["runtime", "beside the database"])
def test_a_symlink_where_the_lock_goes_is_refused_and_its_target_kept(
    tmp_path: Path, env, victim: Path, where: str
) -> None:
    db = tmp_path / "h.db"
    path = fallback_lock_path(db, env) if where == "runtime" else lock_path(db)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.symlink_to(victim)
    lock = DaemonLock(db, env)
    with pytest.raises(UnsafePath, match="is a symlink"):
        lock.acquire()
    lock.release()
    assert untouched(victim)
    assert running_daemon(db, env) is None  # status does not read through it either


@pytest.mark.parametrize("kind", ["hard link", "foreign file", "fifo"])
def test_a_lock_path_holding_something_else_is_refused_untouched(
    tmp_path: Path, env, victim: Path, kind: str
) -> None:
    db = tmp_path / "h.db"
    path = lock_path(db)
    if kind == "hard link":
        os.link(victim, path)
    elif kind == "foreign file":
        shutil.copy(victim, path)
    else:
        os.mkfifo(path)  # opening it must not hang either
    with pytest.raises(UnsafePath, match="never writes into a file it did not create"):
        DaemonLock(db, env).acquire()
    assert untouched(victim)
    if kind == "foreign file":
        assert path.read_bytes() == VICTIM_TEXT


def test_an_unsafe_runtime_folder_is_skipped_and_left_alone(tmp_path: Path, env) -> None:
    folder = Path(env["XDG_RUNTIME_DIR"]) / "lagwatch"
    folder.mkdir()
    folder.chmod(0o777)  # anyone may plant files here
    planted = folder / "planted"
    planted.write_text("x")
    db = tmp_path / "h.db"
    lock = DaemonLock(db, env)
    lock.acquire()
    try:
        assert lock.held == [lock_path(db)]
        assert any("can be written by other users" in w for w in lock.warnings)
    finally:
        lock.release()
    assert sorted(p.name for p in folder.iterdir()) == ["planted"]
    assert mode(folder) == 0o777


def test_a_runtime_folder_of_another_user_is_refused(tmp_path: Path, env) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    planted = Path(env["XDG_RUNTIME_DIR"]) / "lagwatch"
    planted.mkdir(mode=0o700)
    os.chown(planted, 65534, 65534)  # somebody else made it first
    where = plan(tmp_path / "h.db", env)
    assert where.paths == [lock_path(tmp_path / "h.db")]
    assert "belongs to uid 65534" in where.skipped[0]


def test_an_old_private_runtime_folder_is_tightened(tmp_path: Path, env) -> None:
    folder = Path(env["XDG_RUNTIME_DIR"]) / "lagwatch"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as an older lagwatch made it
    lock = DaemonLock(tmp_path / "h.db", env)
    lock.acquire()
    lock.release()
    assert mode(folder) == 0o700


def test_a_database_folder_others_can_write_gets_no_lock_file(tmp_path: Path, env) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    db = shared / "h.db"
    lock = DaemonLock(db, env)
    lock.acquire()
    try:
        assert lock.held == [fallback_lock_path(db, env)]
        assert not lock_path(db).exists()
        assert running_daemon(db, env)["pid"] == os.getpid()
    finally:
        lock.release()
    # With no safe place at all, the daemon refuses to start and says why.
    folder = Path(env["XDG_RUNTIME_DIR"]) / "lagwatch"
    folder.chmod(0o777)
    with pytest.raises(UnsafePath, match="no safe place for the lock"):
        DaemonLock(db, env).acquire()


def test_a_killed_holder_never_blocks_the_next_daemon(tmp_path: Path, env) -> None:
    db = tmp_path / "h.db"
    code = (
        "import sys; from pathlib import Path; from lagwatch.store.lock import DaemonLock\n"
        "lock = DaemonLock(Path(sys.argv[1]), {'XDG_RUNTIME_DIR': sys.argv[2]})\n"
        "lock.acquire(); print('locked', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(db), env["XDG_RUNTIME_DIR"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert running_daemon(db, env)["pid"] == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    finally:
        holder.kill()
        holder.wait(10)
    assert running_daemon(db, env) is None
    lock = DaemonLock(db, env)
    lock.acquire(retry_s=0)  # the dead holder's files are reused, its note replaced
    try:
        assert running_daemon(db, env)["pid"] == os.getpid()
    finally:
        lock.release()


def test_status_reads_the_complete_note_when_one_could_not_be_written(tmp_path: Path, env):
    """The note beside the database stayed empty (its disk was full at start); the runtime one
    is complete: that is the one that tells who runs."""
    db = tmp_path / "h.db"
    lock = DaemonLock(db, env)
    lock.acquire(interval_s=2.0)
    try:
        fd = lock._fds[lock.held.index(lock_path(db))]
        os.ftruncate(fd, 0)  # what a failed write of the note leaves
        note = running_daemon(db, env)
        assert note["pid"] == os.getpid() and note["interval_s"] == 2.0
    finally:
        lock.release()


# -- the real daemon -------------------------------------------------------------------------


class Daemon:
    def __init__(self, db: Path, env: dict[str, str], log: Path, *args: str) -> None:
        self.log_path = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [*LAGWATCH, "daemon", "--db", str(db), "--interval", "0.2", *args],
                stdout=subprocess.DEVNULL, stderr=out, env=env,
            )  # fmt: skip

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def daemon_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True, mode=0o700)
    env = dict(os.environ, TMPDIR=str(tmp), **extra)
    if "XDG_RUNTIME_DIR" not in extra:
        env.pop("XDG_RUNTIME_DIR", None)
    return env


@pytest.mark.integration
def test_daemon_refuses_a_symlinked_lock_and_never_writes_through_it(
    tmp_path: Path, victim: Path
) -> None:
    db = tmp_path / "h.db"
    lock_path(db).symlink_to(victim)
    env = daemon_env(tmp_path)
    res = subprocess.run(
        [*LAGWATCH, "daemon", "--db", str(db), "--interval", "0.2"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "is a symlink" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert untouched(victim)


@pytest.mark.integration
def test_daemon_runs_beside_a_hostile_runtime_folder_without_touching_it(
    tmp_path: Path, victim: Path
) -> None:
    """Another user made <tmp>/lagwatch-<uid> first, with symlinks where the lock would go:
    the daemon skips that folder, says so, and records with the lock beside the database."""
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    env = daemon_env(tmp_path)
    tmp = Path(env["TMPDIR"])
    tmp.chmod(0o1777)
    hostile = tmp / f"lagwatch-{os.geteuid()}"
    hostile.mkdir(mode=0o777)
    hostile.chmod(0o777)
    db = tmp_path / "data" / "h.db"
    import hashlib

    for digest in (hashlib.sha1, hashlib.sha256):  # the name any version would use
        name = digest(str(db).encode()).hexdigest()[:16] + ".lock"
        (hostile / name).symlink_to(victim)
    os.chown(hostile, 65534, 65534)
    d = Daemon(db, env, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "recording to" in d.log or d.proc.poll() is not None, 60, "the start")
        assert d.proc.poll() is None, d.log
        assert "runtime folder refused" in d.log and "uid 65534" in d.log
        note = running_daemon(db, {})  # read beside the database
        assert note is not None and note["pid"] == d.proc.pid
    finally:
        assert d.stop() == 0
    assert untouched(victim)


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tiny real filesystem with a folder in it, then filled up (needs root and mount)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("mount is not available")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True,
        text=True,
    )  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        (mnt / "data").mkdir(mode=0o700)
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (65536, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        yield mnt / "data"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.integration
def test_status_names_the_daemon_when_its_disk_was_full_at_start(
    tmp_path: Path, full_tmpfs: Path
) -> None:
    db = full_tmpfs / "h.db"
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = daemon_env(tmp_path, XDG_RUNTIME_DIR=str(runtime))
    d = Daemon(db, env, tmp_path / "daemon.log")
    try:
        wait_for(lambda: "disk-full" in d.log or d.proc.poll() is not None, 60, "disk-full")
        assert d.proc.poll() is None, d.log
        assert lock_path(db).exists() and lock_path(db).stat().st_size == 0  # could not write
        res = subprocess.run(
            [*LAGWATCH, "status", "--db", str(db), "--json"], capture_output=True, text=True,
            timeout=60, env=env,
        )  # fmt: skip
        info = json.loads(res.stdout)
        assert info["daemon"]["pid"] == d.proc.pid
        assert info["health"] == "degraded" and info["write_condition"] == "disk-full"
    finally:
        d.stop()
