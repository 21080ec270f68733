"""`lagwatch tui` on the command line: bad input, where it attaches, and a real run in an
80x24 pseudo-terminal (as over SSH)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import lagwatch_cmd, run_lagwatch
from fake_rankings import ranking, row
from lagwatch.cli import tui_cmd
from lagwatch.store import Recorder
from lagwatch.store.lock import DaemonLock


@pytest.mark.integration
def test_missing_db_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_lagwatch("tui", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "nope.db: no such history file" in result.stderr


@pytest.mark.integration
def test_db_and_standalone_exclude_each_other(tmp_path: Path) -> None:
    result = run_lagwatch("tui", "--standalone", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "--db and --standalone exclude each other" in result.stderr


@pytest.mark.integration
def test_a_file_that_is_not_history(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("hello" * 100)
    result = run_lagwatch("tui", "--db", str(bad))
    assert result.returncode == 1
    assert "not a lagwatch history database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_without_a_terminal_it_says_what_to_use(tmp_path: Path) -> None:
    result = run_lagwatch("tui", "--standalone")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr and "lagwatch top --json" in result.stderr


@pytest.mark.integration
def test_bad_interval_is_a_usage_error() -> None:
    result = run_lagwatch("tui", "--interval", "0")
    assert result.returncode == 2 and "--interval" in result.stderr


def test_attaches_to_the_default_db_only_while_a_daemon_records(tmp_path, monkeypatch) -> None:
    import lagwatch.store as store

    default = tmp_path / "history.db"
    monkeypatch.setattr(store, "default_db_path", lambda: default)
    assert tui_cmd.choose_db(None, False) is None  # nothing recorded: sample here
    recorder = Recorder(default)
    assert recorder.open()
    recorder.close()
    assert default.exists()
    assert tui_cmd.choose_db(None, False) is None  # history, but no daemon: still standalone
    lock = DaemonLock(default)
    lock.acquire()
    try:
        assert tui_cmd.choose_db(None, False) == default
        assert tui_cmd.choose_db(None, True) is None  # --standalone wins
    finally:
        lock.release()
    assert tui_cmd.choose_db(default, False) == default


# -- a real terminal ---------------------------------------------------------------------------

ANSI = re.compile(
    rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])"
)


class Terminal:
    """lagwatch in a pseudo-terminal of a given size; collects what it draws, as text."""

    def __init__(self, args: list[str], cols: int = 80, rows: int = 24) -> None:
        pid, fd = os.forkpty()
        if pid == 0:  # child
            try:
                env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
                os.execvpe(args[0], args, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.raw = b""

    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def read_until(self, needle: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} never appeared; screen: {self.text()[-1500:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    self.raw += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    break
        return self.text()

    def pump(self, seconds: float) -> None:
        """Collect output for a while."""
        ready, _, _ = select.select([self.fd], [], [], seconds)
        if ready:
            with contextlib.suppress(OSError):
                self.raw += os.read(self.fd, 65536)

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def wait(self, timeout_s: float = 15.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:  # keep draining so the child never blocks on a full terminal
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.raw += os.read(self.fd, 65536)
            except OSError:
                pass
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
        raise AssertionError("lagwatch tui did not exit")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


@pytest.mark.integration
def test_standalone_in_an_80x24_terminal() -> None:
    term = Terminal([*lagwatch_cmd(), "tui", "--standalone", "--interval", "0.2"])
    try:
        term.read_until("sources:")
        screen = term.read_until("PID")
        assert "LIVE" in screen and "restricted" in screen
        term.send("[")
        term.read_until("REPLAY - the past")
        term.send("q")
        assert term.wait() == 0
    finally:
        term.kill()


@pytest.mark.integration
def test_attached_to_a_database_in_an_80x24_terminal(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    recorder = Recorder(db)
    now = time.time()
    for i in range(5):
        recorder.record(ranking([row(4242, 90.0, "recorded-hog")], time=now - 5 + i), 0.01)
    recorder.close()
    term = Terminal([*lagwatch_cmd(), "tui", "--db", str(db)])
    try:
        screen = term.read_until("recorded-hog")
        assert "no daemon is recording" in screen
        term.send("q")
        assert term.wait() == 0
    finally:
        term.kill()


def test_forkpty_terminal_helper_reports_exit_codes() -> None:
    term = Terminal(["sh", "-c", "echo ready; exit 3"])
    try:
        term.read_until("ready")
        assert term.wait() == 3
    finally:
        term.kill()


def test_tui_module_imports_lazily() -> None:
    # Registering the command must not import Textual (it would slow every lagwatch command).
    code = "import sys, lagwatch.cli; assert 'textual' not in sys.modules, 'textual imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
def test_attached_to_a_running_daemon(tmp_path: Path) -> None:
    from exporter_harness import start_daemon, stop

    daemon, _ = start_daemon(tmp_path, interval_s=0.5)
    term = None
    try:
        term = Terminal([*lagwatch_cmd(), "tui", "--db", str(tmp_path / "history.db")])
        term.read_until(f"daemon pid {daemon.pid}")

        def shown_ticks() -> set[str]:
            return set(re.findall(r"LIVE  (\d\d:\d\d:\d\d)", term.text()))

        # Ticks keep arriving from the daemon's database: at least two different ones shown.
        deadline = time.monotonic() + 30
        while len(shown_ticks()) < 2:
            assert time.monotonic() < deadline, f"no new ticks shown: {term.text()[-800:]!r}"
            term.pump(0.5)
        term.send("q")
        assert term.wait() == 0
    finally:
        if term is not None:
            term.kill()
        stop(daemon)
