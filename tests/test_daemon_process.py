"""The real daemon as a process: one per database, clean stops, pauses from SIGSTOP, SIGKILL
while writing, and a disk that fills up, goes read-only or gets locked."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lagwatch.store import History
from lagwatch.store.lock import lock_path, running_daemon

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAGWATCH = [sys.executable, "-m", "lagwatch"]


def wait_for(cond: Callable[[], object], timeout: float, what: str, every: float = 0.05):
    """Poll ``cond`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class DaemonProcess:
    def __init__(
        self, db: Path, *args: str, prefix: list[str] | None = None, logs: Path | None = None
    ) -> None:
        self.db = db
        self.log_path = (logs or db.parent) / f"daemon-{random.randrange(1 << 30)}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        cmd = [*(prefix or []), *LAGWATCH, "daemon", "--db", str(db), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)

    @property
    def stderr(self) -> str:
        return self.log_path.read_text()

    def lines(self, text: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if text in line]

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@contextmanager
def daemon(
    db: Path, *args: str, prefix: list[str] | None = None, logs: Path | None = None
) -> Iterator[DaemonProcess]:
    d = DaemonProcess(db, *args, prefix=prefix, logs=logs)
    try:
        yield d
    finally:
        d.stop(signal.SIGKILL if d.proc.poll() is None else signal.SIGTERM, timeout=5)


def tick_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def tick_times(db: Path) -> list[float]:
    with History(db) as h:
        return h.tick_times()


def pending_ticks(db: Path) -> int:
    """Ticks the running daemon holds in memory because it cannot write them (its own count,
    from the note it keeps with its lock)."""
    note = running_daemon(db) or {}
    return int(note.get("pending_ticks") or 0)


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_one_daemon_per_database_status_and_clean_stop(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with daemon(db, "--interval", "0.2") as d:
        wait_for(lambda: tick_count(db) >= 3, 30, "three recorded ticks")
        second = subprocess.run(
            [*LAGWATCH, "daemon", "--db", str(db)], capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 3  # not 1: a service manager must not retry it
        assert f"already recording to {db}" in second.stderr
        assert f"pid {d.proc.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        status = subprocess.run(
            [*LAGWATCH, "status", "--db", str(db), "--json"], capture_output=True, text=True,
            timeout=30,
        )  # fmt: skip
        info = json.loads(status.stdout)
        assert info["daemon"]["running"] is True and info["daemon"]["pid"] == d.proc.pid
        assert info["health"] == "ok" and info["top"]["source"] == "daemon"
        line = subprocess.run(
            [*LAGWATCH, "status", "--db", str(db)], capture_output=True, text=True, timeout=30
        ).stdout
        assert line.startswith(f"daemon running (pid {d.proc.pid}") and "ok" in line
        d.send(signal.SIGTERM)
        # "Stops cleanly within a second or two."
        wait_for(lambda: d.proc.poll() is not None, 3.0, "the daemon to stop on SIGTERM")
        assert d.proc.returncode == 0
        assert d.lines("stopped;")
    assert running_daemon(db) is None
    assert integrity(db) == "ok"
    after = subprocess.run(
        [*LAGWATCH, "status", "--db", str(db)], capture_output=True, text=True, timeout=30
    ).stdout
    assert after.startswith("no daemon running (history in")
    with daemon(db, "--interval", "0.2") as d:  # the lock was released: a new one may start
        before = tick_count(db)
        wait_for(lambda: tick_count(db) > before, 30, "a tick from the second daemon")
        d.send(signal.SIGINT)
        wait_for(lambda: d.proc.poll() is not None, 3.0, "the daemon to stop on SIGINT")
        assert d.proc.returncode == 0


def test_a_stop_while_starting_gives_the_lock_back(tmp_path: Path) -> None:
    # SIGTERM right after the lock is taken lands during start-up (sources, database,
    # exporter) far more often than not: the daemon must unwind (exit 143) or stop cleanly
    # (0), never die of the signal with its lock note left behind.
    db = tmp_path / "h.db"
    lock = lock_path(db)
    from exporter_harness import free_port

    listen = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([*LAGWATCH, "daemon", "--db", str(db), "--listen", listen],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: lock.exists() and lock.stat().st_size > 0, 30, "the lock", every=0.001)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 128 + signal.SIGTERM), err
    assert lock.stat().st_size == 0  # released: its note emptied
    assert "Traceback" not in err


def test_sigstopped_daemon_records_one_pause_with_the_hog_as_suspect(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with daemon(db, "--interval", "0.5") as d:
            wait_for(lambda: tick_count(db) >= 12, 60, "six seconds of ticks")
            stopped = time.monotonic()
            d.send(signal.SIGSTOP)
            time.sleep(4.0)  # the scenario itself: the daemon stays frozen for 4 s
            d.send(signal.SIGCONT)
            stopped_s = time.monotonic() - stopped  # a loaded machine may oversleep

            def completed_pause():
                with History(db) as h:
                    pauses = [e.to_json() for e in h.events() if e.kind == "pause"]
                return [p for p in pauses if p["details"].get("ticks_after") == 3]

            pauses = wait_for(completed_pause, 30, "the pause event with its after-ticks")
            long_ones = [p for p in pauses if p["duration_s"] >= 3.0]
            assert len(long_ones) == 1, pauses
            pause = long_ones[0]
            # Late by the frozen time, less the part of an interval it would have slept anyway.
            assert stopped_s - 0.5 - 0.1 <= pause["duration_s"] <= stopped_s + 1.0, stopped_s
            assert pause["end"] - pause["start"] == pytest.approx(pause["duration_s"], abs=0.01)
            suspects = pause["suspects"]
            assert set(suspects[0]) >= {"pid", "name", "score", "dominant"}
            culprit = hog.pid
            if hog.pid not in [s["pid"] for s in suspects]:
                # Left out only if five processes outscored it (others' busy processes on a
                # shared machine): its recorded scores around the pause say by how much.
                with History(db) as h:
                    rows = h.process_rows([hog.pid], pause["start"] - 5, pause["end"] + 5)
                hog_score = max((row.score for _t, _i, row in rows), default=0.0)
                assert len(suspects) == 5, suspects
                assert min(s["score"] for s in suspects) >= hog_score - 5.0, (hog_score, suspects)
                culprit = suspects[0]["pid"]
            assert pause["details"]["slept_s"] < 0.5
            why = subprocess.run(
                [*LAGWATCH, "why", str(pause["id"]), "--db", str(db)], capture_output=True,
                text=True, timeout=30,
            )  # fmt: skip
            assert why.returncode == 0
            assert f"Pause #{pause['id']}: the machine froze for" in why.stdout
            assert "pause begins" in why.stdout and "pause ends" in why.stdout
            assert f"({culprit})" in why.stdout
            for phase in ("before", "during", "after"):
                assert re.search(rf"\s{phase}\s+\S+ \({culprit}\)", why.stdout), phase
            assert d.lines("event: pause of")
        # No reading right after the late one: rates over a few milliseconds are noise (the
        # hog would show several cores), so every interval is at least half the configured one.
        with History(db) as h:
            intervals = [r.interval_s for r in h.rankings()]
            hog_cpu = [p.cpu_percent for r in h.rankings() for p in r.processes
                       if p.pid == hog.pid and p.cpu_percent is not None]  # fmt: skip
        assert min(intervals) >= 0.2, intervals
        assert max(hog_cpu) < 150, hog_cpu
    finally:
        hog.kill()
        hog.wait()


def test_sigkill_while_writing_keeps_the_database_intact(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    rng = random.Random(6)
    recorded: list[float] = []
    for _ in range(6):
        d = DaemonProcess(db, "--interval", "0.05", "--verbose")
        try:
            want = rng.randint(3, 15)
            wait_for(
                lambda d=d, want=want: len(d.lines("recorded tick at")) >= want,
                60,
                f"{want} ticks",
            )
            time.sleep(rng.uniform(0, 0.05))  # land the kill anywhere in the tick cycle
            d.send(signal.SIGKILL)
            d.proc.wait(10)
        finally:
            d.stop(signal.SIGKILL)
        logged = [float(line.rsplit(" ", 1)[1]) for line in d.lines("recorded tick at")]
        recorded += logged
        assert integrity(db) == "ok"
        stored = set(tick_times(db))
        # Every tick the daemon reported as committed survived the kill.
        assert {round(t, 3) for t in recorded} <= {round(t, 3) for t in stored}
    conn = sqlite3.connect(db)
    orphans = conn.execute(
        "SELECT count(*) FROM procs WHERE tick_id NOT IN (SELECT id FROM ticks)"
    ).fetchone()[0]
    conn.close()
    assert orphans == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tiny real filesystem (needs root and mount; skipped elsewhere)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("mount is not available")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True,
        text=True,
    )  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path: Path) -> None:
    """Write until the filesystem is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_disk_full_keeps_sampling_logs_once_and_resumes(tmpfs: Path) -> None:
    db = tmpfs / "h.db"
    with daemon(db, "--interval", "0.1") as d:
        wait_for(lambda: tick_count(db) >= 5, 30, "ticks before the disk fills")
        filler = tmpfs / "filler"
        fill(filler)
        wait_for(lambda: d.lines("disk-full"), 30, "the disk-full message")
        # The scenario: the disk stays full while ticks keep coming, until the daemon holds
        # several more in memory (a tick or two may straddle the moment the writes failed).
        failing_at, queued = time.time(), pending_ticks(db)
        wait_for(lambda: pending_ticks(db) >= queued + 7, 60, "ticks queued while full")
        status = subprocess.run(
            [*LAGWATCH, "status", "--db", str(db), "--json"], capture_output=True, text=True,
            timeout=30,
        )  # fmt: skip
        info = json.loads(status.stdout)
        assert info["health"] == "degraded" and info["write_condition"] == "disk-full"
        filler.unlink()
        freed_at = time.time()
        wait_for(lambda: d.lines("resumed"), 30, "writes to resume")
        assert d.proc.poll() is None
        full_lines = d.lines("cannot write history")
        assert len(full_lines) == 1 and "disk-full" in full_lines[0]
        assert "free some space" in full_lines[0]
        wait_for(lambda: tick_times(db)[-1] > freed_at, 30, "a tick after the disk was freed")
    times = tick_times(db)
    # Ticks sampled while the disk was full were kept in memory and written afterwards.
    assert sum(failing_at < t < freed_at for t in times) >= 5
    assert integrity(db) == "ok"


def test_read_only_database_keeps_sampling_and_resumes_when_writable(tmp_path: Path) -> None:
    if shutil.which("mount") is None:
        pytest.skip("mount is not available")
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    from lagwatch.store import Recorder

    Recorder(rw / "h.db").close()  # an existing history...
    bind = subprocess.run(["mount", "--bind", str(rw), str(ro)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        db = ro / "h.db"  # ...seen through a read-only mount
        with daemon(db, "--interval", "0.1", logs=tmp_path) as d:
            wait_for(lambda: d.lines("read-only"), 30, "the read-only message")
            # The scenario: ticks come while the database is read-only (nothing is written),
            # until the daemon holds a few in memory.
            wait_for(lambda: pending_ticks(db) >= 5, 60, "ticks queued while read-only")
            queued_by = time.time()
            assert d.proc.poll() is None
            subprocess.run(["mount", "-o", "remount,bind,rw", str(ro)], check=True)
            wait_for(lambda: d.lines("resumed"), 30, "writes to resume")
            lines = d.lines("cannot write history")
            assert len(lines) == 1 and "read-only" in lines[0] and "writable" in lines[0]
            wait_for(lambda: tick_count(db) >= 15, 30, "ticks after resuming")
        assert sum(t < queued_by for t in tick_times(rw / "h.db")) >= 5
        assert integrity(rw / "h.db") == "ok"
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_locked_database_keeps_sampling_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with daemon(db, "--interval", "0.1") as d:
        wait_for(lambda: tick_count(db) >= 3, 30, "first ticks")
        holder = sqlite3.connect(db, isolation_level=None, timeout=10)
        holder.execute("BEGIN IMMEDIATE")  # another program takes the write lock
        wait_for(lambda: d.lines("locked"), 30, "the locked message")
        # The scenario: the lock is held until the daemon holds several ticks in memory.
        failing_at, queued = time.time(), pending_ticks(db)
        wait_for(lambda: pending_ticks(db) >= queued + 7, 60, "ticks queued while locked")
        holder.execute("ROLLBACK")
        holder.close()
        released_at = time.time()
        wait_for(lambda: d.lines("resumed"), 30, "writes to resume")
        lines = d.lines("cannot write history")
        assert len(lines) == 1 and "locked" in lines[0]
    times = tick_times(db)
    assert sum(failing_at < t < released_at for t in times) >= 5
    assert integrity(db) == "ok"


def test_permission_errors_and_vanishing_processes_never_stop_the_loop(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run processes as another user")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # Another user's processes: one that lives, and a storm of ones that vanish at once.
    others = [
        subprocess.Popen([*nobody, "sleep", "60"]),
        subprocess.Popen([*nobody, "sh", "-c", "while :; do /bin/true; done"]),
    ]
    # The daemon without the capabilities that let root read every process.
    caps = "-sys_ptrace,-dac_override,-dac_read_search"
    unprivileged = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    db = tmp_path / "h.db"
    try:
        with daemon(db, "--interval", "0.1", prefix=unprivileged) as d:
            wait_for(lambda: tick_count(db) >= 30, 60, "thirty ticks")
            assert d.proc.poll() is None
            assert not d.lines("tick failed") and not d.lines("Traceback")
        with History(db) as h:
            restricted = [r.to_json()["restricted_count"] for r in h.rankings()]
        assert max(restricted) >= 1  # the other user's processes were seen, restricted
    finally:
        for p in others:
            p.kill()
            p.wait()


# -- the history file deleted or replaced under the daemon -------------------------------------


def status_json(db: Path) -> dict:
    out = subprocess.run(
        [*LAGWATCH, "status", "--db", str(db), "--json"], capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_deleting_the_history_while_recording_starts_a_new_one_and_says_so(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "history.db"
    with daemon(db, "--interval", "0.1", logs=tmp_path) as d:
        wait_for(lambda: tick_count(db) >= 5, 30, "ticks before the deletion")
        for path in db.parent.glob("history.db*"):  # rm history.db*
            path.unlink()
        deleted_at = time.time()
        wait_for(lambda: d.lines("was deleted"), 30, "the deletion to be noticed")
        wait_for(lambda: tick_count(db) >= 3, 30, "ticks in the new history")
        info = status_json(db)
        assert info["daemon"]["running"] and info["health"] == "ok"
        assert info["history_file_change"]["what"] == "deleted"
        line = subprocess.run(
            [*LAGWATCH, "status", "--db", str(db)], capture_output=True, text=True, timeout=30
        ).stdout
        assert "history file was deleted" in line
        assert d.proc.poll() is None
    (said,) = d.lines("was deleted")  # once
    assert "new history" in said
    assert min(tick_times(db)) > deleted_at - 0.5  # the rest of the run, nothing resurrected
    assert integrity(db) == "ok"


def test_a_backup_renamed_over_the_history_is_kept_and_never_gets_our_wal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "history.db"
    copy = tmp_path / "backup.db"
    with daemon(db, "--interval", "0.1", logs=tmp_path) as d:
        wait_for(lambda: tick_count(db) >= 5, 30, "ticks before the backup")
        src, dst = sqlite3.connect(db), sqlite3.connect(copy)
        src.backup(dst)  # what `sqlite3 history.db ".backup backup.db"` does
        src.close()
        dst.close()
        backed_up = tick_times(copy)
        wait_for(lambda: tick_count(db) >= len(backed_up) + 5, 30, "ticks after the backup")
        os.rename(copy, db)  # the restore, while the daemon runs
        replaced_at = time.time()
        wait_for(lambda: d.lines("was replaced"), 30, "the replacement to be noticed")
        wait_for(lambda: tick_count(db) >= len(backed_up) + 3, 30, "ticks after the restore")
        assert status_json(db)["history_file_change"]["what"] == "replaced"
    times = tick_times(db)
    # The backup's ticks, then the ones after the restore: the ticks written to the old file
    # after the backup (only in its WAL) never reached the restored file.
    assert times[: len(backed_up)] == backed_up
    assert all(t > replaced_at - 0.5 for t in times[len(backed_up) :])
    assert len(times) > len(backed_up)
    assert integrity(db) == "ok"
    assert len(d.lines("was replaced")) == 1


# -- a frozen filesystem -------------------------------------------------------------------------


@pytest.fixture
def freezable(tmp_path: Path) -> Iterator[Path]:
    """A small ext4 filesystem on a loop device that fsfreeze can freeze (needs root,
    losetup, mkfs.ext4 and fsfreeze; skipped elsewhere, saying which is missing)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to set up a loop device and freeze a filesystem")
    for tool in ("losetup", "mkfs.ext4", "fsfreeze", "mount", "umount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not available")
    image = tmp_path / "fs.img"
    with open(image, "wb") as fh:
        fh.truncate(32 << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    attached = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True,
                              text=True)  # fmt: skip
    if attached.returncode != 0:
        pytest.skip(f"no loop device here: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        mounted = subprocess.run(["mount", device, str(mnt)], capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount {device}: {mounted.stderr.strip()}")
        try:
            yield mnt
        finally:
            subprocess.run(["fsfreeze", "-u", str(mnt)], capture_output=True)
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True)


def metric(url: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            page = resp.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    m = re.search(rf"^{name} (\S+)$", page, re.M)
    return None if m is None else float(m[1])


def test_a_frozen_filesystem_neither_stops_sampling_nor_makes_a_pause(freezable: Path) -> None:
    from exporter_harness import free_port

    db = freezable / "h.db"
    logs = freezable.parent  # the log must not be on the frozen filesystem
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    args = ("--interval", "0.1", "--pause-threshold", "2", "--listen", f"127.0.0.1:{port}")
    with daemon(db, *args, logs=logs) as d:
        wait_for(lambda: tick_count(db) >= 5, 30, "ticks before the freeze")
        frozen = subprocess.run(["fsfreeze", "-f", str(freezable)], capture_output=True,
                                text=True)  # fmt: skip
        if frozen.returncode != 0:
            pytest.skip(f"fsfreeze refused: {frozen.stderr.strip()}")
        frozen_at = time.time()
        try:
            wait_for(lambda: d.lines("has not returned"), 30, "the stall to be logged")
            # The note beside the database is on the frozen disk: the runtime one says it.
            wait_for(lambda: (running_daemon(db) or {}).get("write_condition") == "stalled", 30,
                     "the stall in the daemon's note")  # fmt: skip
            status = subprocess.Popen([*LAGWATCH, "status", "--db", str(db), "--json"],
                                      stdout=subprocess.PIPE, text=True)  # fmt: skip
            try:
                out, _ = status.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                subprocess.run(["fsfreeze", "-u", str(freezable)], check=True)  # lets it end
                status.kill()
                status.communicate()
                pytest.fail("lagwatch status hung on the frozen disk")
            info = json.loads(out)
            assert info["health"] == "degraded" and info["write_condition"] == "stalled"
            # /metrics goes on too, with ticks still counted.
            before = metric(url, "lagwatch_ticks_total")
            assert before is not None, d.stderr
            wait_for(lambda: (metric(url, "lagwatch_ticks_total") or 0) >= before + 5, 30,
                     "ticks counted in /metrics while frozen")  # fmt: skip
            # The scenario: frozen for 4 s at least (twice the pause threshold).
            wait_for(lambda: time.time() - frozen_at >= 4.0 and d.proc.poll() is None, 30,
                     "four seconds of freeze")  # fmt: skip
        finally:
            subprocess.run(["fsfreeze", "-u", str(freezable)], check=True)
        thawed_at = time.time()
        wait_for(lambda: d.lines("resumed after blocking"), 30, "writes to resume")
        wait_for(lambda: tick_times(db)[-1] > thawed_at, 30, "a tick after the thaw")
        assert d.proc.poll() is None
    times = tick_times(db)
    during = [t for t in times if frozen_at + 0.5 < t < thawed_at - 0.5]
    # Sampled all along at 0.1 s and written after the thaw (a loaded machine may skip some).
    assert len(during) >= 10, during
    with History(db) as h:
        long_pauses = [e.to_json() for e in h.events() if e.kind == "pause"
                       and e.duration_s >= 2.0]  # fmt: skip
    assert long_pauses == []  # no pause fabricated, nobody blamed
    assert len(d.lines("has not returned")) == 1
    assert integrity(db) == "ok"
