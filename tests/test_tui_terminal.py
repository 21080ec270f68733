"""`lagwatch tui` in a real terminal (tmux), where the terminal matters: Ctrl-C reaches the TUI
as a key (the terminal is raw) and quits it cleanly, and `k`/`n` act on real processes, an
EPERM from the kernel showing on screen while the TUI goes on."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import lagwatch_cmd, need

pytestmark = pytest.mark.integration


class Tmux:
    """One command in a detached tmux session on a private server; the screen as text."""

    def __init__(self, tmp_path: Path, command: list[str], cols: int = 100, rows: int = 30):
        self.tmux = need("tmux")
        self.socket = str(tmp_path / "tmux.sock")
        # The shell line after the command says how it ended, and keeps the pane to read it.
        line = f"{shlex.join(command)}; echo EXITED:$?; sleep 600"
        self._run("new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows), line)

    def _run(self, *args: str) -> str:
        result = subprocess.run([self.tmux, "-S", self.socket, *args], capture_output=True,
                                text=True, timeout=30, check=True)  # fmt: skip
        return result.stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout_s: float = 40.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; screen:\n{screen}")
            time.sleep(0.2)  # polling the screen, with a deadline

    def wait_for_gone(self, text: str, timeout_s: float = 40.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never went away; screen:\n{screen}")
            time.sleep(0.2)  # polling the screen, with a deadline

    def send(self, *keys: str) -> None:
        self._run("send-keys", "-t", "t", *keys)

    def open_filter(self, text: str) -> None:
        """`/`, the text, Enter. A key sent while the TUI still talks with the terminal at
        start-up can be taken as part of the terminal's answer: `/` is sent again until the
        filter box shows."""
        for _attempt in range(5):
            self.send("/")
            try:
                self.wait_for("Enter keeps", timeout_s=5)
                break
            except AssertionError:
                continue
        self.type(text)
        self.send("Enter")
        self.wait_for(f"filter: {text!r} (1)")

    def type(self, text: str) -> None:
        self._run("send-keys", "-t", "t", "-l", text)

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=30)  # fmt: skip


def tui(*extra: str) -> list[str]:
    return [*lagwatch_cmd(), "tui", "--standalone", "--interval", "0.5", *extra]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    # A fractional duration no other process has: the filter finds it by its command line.
    proc = subprocess.Popen(["sleep", "300.4711"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_ctrl_c_quits_the_tui_cleanly(tmp_path: Path) -> None:
    term = Tmux(tmp_path, tui())
    try:
        term.wait_for("LIVE")
        term.wait_for("PID")
        term.send("C-c")
        screen = term.wait_for("EXITED:")
        assert "EXITED:0" in screen
        assert "Traceback" not in screen and "PID" not in screen  # the screen was restored
    finally:
        term.close()


def test_k_sends_sigterm_to_the_process_chosen(tmp_path: Path, sleeper) -> None:
    term = Tmux(tmp_path, tui())
    try:
        term.wait_for("PID")
        term.open_filter("300.4711")
        term.send("k")
        term.wait_for("SIGTERM  15")  # the dialog, its list drawn
        assert sleeper.poll() is None
        term.send("Enter")
        term.wait_for(f"sent SIGTERM to sleep (pid {sleeper.pid})")
        assert sleeper.wait(10) == -15
        term.send("q")
        assert "EXITED:0" in term.wait_for("EXITED:")
    finally:
        term.close()


def test_eperm_is_shown_and_the_tui_goes_on(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to make a real EPERM")
    # Another user's process, and a TUI that may not signal or renice it: root without
    # CAP_KILL and CAP_SYS_NICE gets EPERM from the kernel, as any user would.
    victim = subprocess.Popen([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                               "sleep", "300.4712"])  # fmt: skip
    term = Tmux(tmp_path, [setpriv, "--bounding-set=-kill,-sys_nice", *tui()])
    try:
        term.wait_for("PID")
        term.open_filter("300.4712")
        term.send("k")
        term.wait_for("SIGTERM  15")
        term.send("Enter")
        term.wait_for("not permitted to send SIGTERM")
        term.wait_for_gone("SIGTERM  15")
        term.send("n")
        term.wait_for("Renice sleep")
        # One key at a time, each seen on screen: on a loaded machine the TUI may still be
        # busy with the previous one (keys are never lost, but the focus may not have moved).
        term.send("BSpace")
        term.wait_for("-20 to 19")  # the empty box shows its placeholder
        term.type("5")
        term.wait_for_gone("-20 to 19")
        term.send("Enter")
        term.wait_for("not permitted to renice")
        assert victim.poll() is None and os.getpriority(os.PRIO_PROCESS, victim.pid) == 0
        term.wait_for("LIVE")  # still running, still sampling
        term.send("q")
        assert "EXITED:0" in term.wait_for("EXITED:")
    finally:
        term.close()
        victim.kill()
        victim.wait(10)
