"""--user, --pid, --name and --kernel: one predicate (lagwatch.filters), the same options on
`top`, `history` and `energy` (lagwatch.cli.options)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import run_lagwatch
from fake_rankings import ranking, row
from lagwatch.cli import cli
from lagwatch.filters import DEFAULT, KERNEL_SHOWN_FROM_SCORE, NO_FILTER, ProcessFilter

KTHREAD = {"ppid": 2, "memory_bytes": 0, "user": "root"}


def names(flt: ProcessFilter, rows) -> list[str]:
    return [r.name for r in flt.rows(rows)]


ROWS = [
    row(10, 50.0, "Firefox", user="bob"),
    row(11, 40.0, "python3", user="alice"),
    row(12, 30.0, "python-worker", user="alice"),
    row(13, 0.0, "kworker/0:1", **KTHREAD),
    row(14, 90.0, "kswapd0", **KTHREAD),  # a kernel thread that stresses the machine
    row(2, 0.0, "kthreadd", ppid=0, memory_bytes=0, user="root"),
]


def test_kernel_threads_are_hidden_unless_they_stress_the_machine() -> None:
    assert names(DEFAULT, ROWS) == ["Firefox", "python3", "python-worker", "kswapd0"]
    assert names(NO_FILTER, ROWS) == [r.name for r in ROWS]
    assert DEFAULT.hidden_kernel_threads(ranking(ROWS)) == 2
    assert KERNEL_SHOWN_FROM_SCORE <= 90.0
    # Asked for by pid: shown, kernel thread or not.
    assert names(ProcessFilter.build(pids=[13]), ROWS) == ["kworker/0:1"]


def test_name_user_and_pid_combine() -> None:
    assert names(ProcessFilter.build(name="PYTHON"), ROWS) == ["python3", "python-worker"]
    assert names(ProcessFilter.build(name="re:^python\\d"), ROWS) == ["python3"]
    assert names(ProcessFilter.build(name="re:(?i)^FIRE"), ROWS) == ["Firefox"]
    assert names(ProcessFilter.build(users=["bob", "alice"]), ROWS) == [
        "Firefox", "python3", "python-worker",
    ]  # fmt: skip
    both = ProcessFilter.build(users=["alice"], pids=[10, 12], name="worker")
    assert names(both, ROWS) == ["python-worker"]
    assert not DEFAULT.narrows and both.narrows
    with pytest.raises(ValueError, match="bad regular expression"):
        ProcessFilter.build(name="re:(")


def test_apply_keeps_order_and_the_rest_of_the_ranking() -> None:
    rk = ranking(ROWS)
    shown = ProcessFilter.build(name="py").apply(rk)
    assert [r.pid for r in shown.processes] == [11, 12]
    assert shown.time == rk.time and shown.system == rk.system and len(rk.processes) == 6


@pytest.mark.parametrize("command", ["top", "history", "energy"])
def test_every_filtering_command_has_the_same_options(command: str) -> None:
    out = CliRunner().invoke(cli, [command, "--help"]).output
    for option in ("--user", "--pid", "--name TEXT|re:REGEX", "--kernel, --all"):
        assert option in out, (command, option)
    bad = CliRunner().invoke(cli, [command, "--name", "re:[oops"])
    assert bad.exit_code == 2 and "bad regular expression" in bad.output


@pytest.mark.integration
def test_top_json_shows_only_the_asked_processes_and_counts_them_all() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "lw-filter"])
    try:
        res = run_lagwatch("top", "--json", "--count", "1", "--interval", "0.3",
                           "--pid", str(sleeper.pid), "--pid", str(os.getpid()))  # fmt: skip
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert sorted(p["pid"] for p in doc["processes"]) == sorted([sleeper.pid, os.getpid()])
        assert doc["process_count"] > 2  # still every process seen
        mine = next(p for p in doc["processes"] if p["pid"] == sleeper.pid)
        assert mine["cmdline"].endswith("time.sleep(60) lw-filter")
        by_regex = run_lagwatch("top", "--json", "--count", "1", "--interval", "0.3",
                                "--name", "re:^python", "--pid", str(sleeper.pid))  # fmt: skip
        assert [p["pid"] for p in json.loads(by_regex.stdout)["processes"]] == [sleeper.pid]
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kthreadd is Linux's")
def test_idle_kernel_threads_are_hidden_by_default_and_kernel_shows_them() -> None:
    def kthreads(*extra: str) -> list[dict]:
        res = run_lagwatch("top", "--json", "--count", "1", "--interval", "0.3", *extra)
        assert res.returncode == 0, res.stderr
        procs = json.loads(res.stdout)["processes"]
        return [p for p in procs if p["ppid"] == 2 and p["memory_bytes"] == 0]

    hidden = kthreads()
    assert all(p["score"] >= KERNEL_SHOWN_FROM_SCORE for p in hidden)
    assert len(kthreads("--kernel")) > len(hidden)
    assert kthreads("--all")


@pytest.fixture
def history_db(tmp_path):
    from lagwatch.store import Recorder

    db = tmp_path / "h.db"
    rec = Recorder(db)
    t0 = time.time() - 120
    for k in range(10):
        rows = [
            row(10, 60.0, "Firefox", user="bob", energy_impact=60.0),
            row(11, 50.0, "python3", user="alice", energy_impact=50.0),
        ]
        rec.record(ranking(rows, time=t0 + k))
    rec.close()
    return db


@pytest.mark.integration
def test_history_and_energy_filter_recorded_processes_the_same_way(history_db) -> None:
    res = run_lagwatch("history", "--db", str(history_db), "--format", "json", "--user", "bob")
    assert res.returncode == 0, res.stderr
    ticks = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(ticks) == 10 and {p["name"] for t in ticks for p in t["processes"]} == {"Firefox"}
    assert ticks[0]["process_count"] == 2  # what was seen, whatever is shown
    since = time.strftime("%H:%M", time.localtime(time.time() - 600))  # a time, as history
    res = run_lagwatch("energy", "--db", str(history_db), "--json", "--name", "re:^py",
                       "--since", since)  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert [p["name"] for p in report["processes"]] == ["python3"]
    nothing = run_lagwatch("history", "--db", str(history_db), "--pid", "999")
    assert nothing.returncode == 0 and "for those processes" in nothing.stderr
