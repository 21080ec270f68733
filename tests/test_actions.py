"""Signals and nice values sent to real processes (children of the test), the checks that the
pid still names the process shown, and real EPERM from a process without the capability."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from lagwatch import actions
from lagwatch.actions import Target


@pytest.fixture
def child() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def target_of(proc: subprocess.Popen, **kw) -> Target:
    return Target(proc.pid, "sleep", kw.pop("user", None), shown_at=kw.pop("shown_at", time.time()))


def test_sigterm_comes_first_and_every_offered_signal_exists() -> None:
    offered = actions.available_signals()
    assert offered[0][:2] == ("SIGTERM", signal.SIGTERM)
    assert {"SIGKILL", "SIGINT", "SIGHUP", "SIGSTOP", "SIGCONT"} <= {n for n, _, _ in offered}


def test_a_signal_reaches_the_process(child: subprocess.Popen) -> None:
    outcome = actions.send_signal(target_of(child), signal.SIGTERM)
    assert outcome == actions.Outcome(True, f"sent SIGTERM to sleep (pid {child.pid})")
    assert child.wait(10) == -signal.SIGTERM


def test_sigkill_too(child: subprocess.Popen) -> None:
    assert actions.send_signal(target_of(child), signal.SIGKILL).ok
    assert child.wait(10) == -signal.SIGKILL


def test_an_exited_process_is_reported_not_raised(child: subprocess.Popen) -> None:
    child.kill()
    child.wait(10)
    outcome = actions.send_signal(target_of(child), signal.SIGTERM)
    assert not outcome.ok and "has exited" in outcome.message


def test_a_pid_reused_since_the_ranking_gets_nothing(child: subprocess.Popen) -> None:
    # Shown in a ranking taken before this process started: the pid named another process.
    old = target_of(child, shown_at=time.time() - 3600)
    outcome = actions.send_signal(old, signal.SIGTERM)
    assert not outcome.ok and outcome.message.startswith("nothing sent: sleep")
    assert f"pid {child.pid} is now sleep" in outcome.message
    renamed = Target(child.pid, "firefox", shown_at=time.time())
    outcome = actions.send_signal(renamed, signal.SIGTERM)
    assert not outcome.ok and "is now sleep, not firefox" in outcome.message
    assert child.poll() is None  # still running: nothing was sent
    assert not actions.renice(old, 5).ok and actions.nice_value(child.pid) == 0


def test_init_and_lagwatch_itself_are_refused() -> None:
    for pid in (1, os.getpid()):
        outcome = actions.send_signal(Target(pid, "x"), signal.SIGTERM)
        assert not outcome.ok and outcome.message.startswith("refusing to send SIGTERM")


def test_renice_changes_the_nice_value(child: subprocess.Popen) -> None:
    before = actions.nice_value(child.pid)
    outcome = actions.renice(target_of(child), 7)
    assert outcome.ok, outcome.message
    assert outcome.message == f"sleep (pid {child.pid}) now runs at nice 7 (was {before})"
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == 7
    assert not actions.renice(target_of(child), 20).ok  # out of range: nothing asked of the OS
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == 7


def test_nice_values_typed_by_the_user() -> None:
    assert actions.parse_nice(" -5 ") == -5 and actions.parse_nice("19") == 19
    for bad, why in (("20", "out of range"), ("-21", "out of range"), ("five", "whole number"),
                     ("", "whole number"), ("1.5", "whole number")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            actions.parse_nice(bad)


# A root process without CAP_KILL and CAP_SYS_NICE acts on another user's process: the kernel
# answers EPERM for real (a container's root has no other way to be refused).
WITHOUT_CAPS = """
import json, signal, sys
from lagwatch import actions
target = actions.Target(int(sys.argv[1]), "sleep", "nobody", shown_at=float(sys.argv[2]))
print(json.dumps([actions.send_signal(target, signal.SIGTERM).message,
                  actions.renice(target, 5).message]))
"""


def test_eperm_comes_back_as_one_readable_line(tmp_path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to make a real EPERM")
    victim = subprocess.Popen([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                               "sleep", "300"])  # fmt: skip
    try:
        result = subprocess.run(
            [setpriv, "--bounding-set=-kill,-sys_nice", sys.executable, "-c", WITHOUT_CAPS,
             str(victim.pid), str(time.time() + 5)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        signalled, reniced = json.loads(result.stdout)
        assert signalled == (
            f"not permitted to send SIGTERM to sleep (pid {victim.pid}) (EPERM): it belongs to "
            "nobody"
        )
        assert reniced.startswith(f"not permitted to renice sleep (pid {victim.pid}) (EPERM)")
        assert victim.poll() is None  # untouched
    finally:
        victim.kill()
        victim.wait(10)
