"""Energy over time: integration over rankings (worked by hand), app grouping, and
`lagwatch energy` over a history database written here with the real store."""

from __future__ import annotations

import json
import time

import pytest

from conftest import run_lagwatch
from lagwatch.apps import app_of
from lagwatch.energy.integrate import EnergyIntegrator
from lagwatch.model import ProcessRow, Ranking


def row(pid, name="p", ppid=1, ei=None, watts=None, cpu=None, start_id=None, user="u"):
    return ProcessRow(pid=pid, ppid=ppid, name=name, user=user, state="running",
                      restricted=False, memory_bytes=None, threads=None, cpu_percent=cpu,
                      energy_impact=ei, power_watts=watts,
                      start_id=pid * 10 if start_id is None else start_id)  # fmt: skip


def integrate(rankings, by="process", since=None, until=None, keep_intervals=False):
    """The rankings added in order, as `lagwatch energy` feeds them."""
    integrator = EnergyIntegrator(by, since, until, keep_intervals)
    for r in rankings:
        integrator.add(r)
    return integrator


def ranking(t, interval, rows, source="rapl-share"):
    return Ranking(time=t, interval_s=interval, platform="linux", sources=["procfs"],
                   processes=rows, energy_source=source)  # fmt: skip


def three_rankings():
    return [
        ranking(101.0, 1.0, [row(1, "a", ei=100.0, watts=3.0, cpu=100.0),
                             row(2, "b", ei=10.0, watts=0.5, cpu=10.0)]),
        ranking(102.0, 1.0, [row(1, "a", ei=50.0, watts=1.5, cpu=50.0),
                             row(3, "c", ei=20.0, watts=1.0, cpu=20.0)]),
        ranking(104.0, 2.0, [row(1, "a", ei=25.0, watts=1.0, cpu=25.0)]),
    ]  # fmt: skip


def test_whole_period_hand_worked():
    # a: EI*s 100*1 + 50*1 + 25*2 = 200; J 3 + 1.5 + 1*2 = 6.5; CPU s 1 + 0.5 + 0.5 = 2.0
    # b: 10 EI*s, 0.5 J; c: 20 EI*s, 1.0 J. Covered 4 s. Totals 230 EI*s, 8.0 J.
    report = integrate(three_rankings()).report()
    assert report["covered_s"] == 4.0 and report["rankings"] == 3
    assert report["since"] == 100.0 and report["until"] == 104.0
    assert report["power_measured"] is True
    assert report["energy_sources"] == ["rapl-share"]
    a, c, b = report["processes"]  # by joules: 6.5, 1.0, 0.5
    assert (a["name"], c["name"], b["name"]) == ("a", "c", "b")
    assert a["energy_impact_s"] == 200.0 and a["energy_j"] == 6.5 and a["cpu_s"] == 2.0
    assert a["avg_watts"] == 6.5 / 4 and a["avg_energy_impact"] == 50.0
    assert a["seen_s"] == 4.0 and b["seen_s"] == 1.0
    assert b["energy_j"] == 0.5 and c["energy_impact_s"] == 20.0
    total = report["total"]
    assert total["energy_j"] == 8.0 and total["avg_watts"] == 2.0
    assert total["energy_impact_s"] == 230.0 and total["avg_energy_impact"] == 57.5


def test_window_clips_intervals():
    # since 101.5, until 103: ranking 1 (100,101] is out; ranking 2 (101,102] counts 0.5 s;
    # ranking 3 (102,104] counts 1 s. a: EI*s 50*0.5 + 25*1 = 50, J 1.5*0.5 + 1*1 = 1.75;
    # c: 20*0.5 = 10 EI*s, 0.5 J.
    report = integrate(three_rankings(), since=101.5, until=103.0).report()
    assert report["covered_s"] == 1.5 and report["rankings"] == 2
    by = {p["name"]: p for p in report["processes"]}
    assert by["a"]["energy_impact_s"] == 50.0 and by["a"]["energy_j"] == 1.75
    assert by["c"]["energy_impact_s"] == 10.0 and by["c"]["energy_j"] == 0.5
    assert "b" not in by


def test_without_power_orders_by_energy_impact_and_reports_null_joules():
    rankings = [ranking(10.0, 1.0, [row(1, "a", ei=5.0), row(2, "b", ei=40.0)], source="model")]
    report = integrate(rankings).report()
    assert report["power_measured"] is False
    assert [p["name"] for p in report["processes"]] == ["b", "a"]
    assert report["processes"][0]["energy_j"] is None
    assert report["processes"][0]["avg_watts"] is None
    assert report["total"]["energy_j"] is None and report["total"]["avg_watts"] is None


def test_pid_reuse_is_two_processes():
    rankings = [
        ranking(1.0, 1.0, [row(7, "old", ei=10.0, start_id=1)]),
        ranking(2.0, 1.0, [row(7, "new", ei=30.0, start_id=2)]),
    ]
    report = integrate(rankings).report()
    assert {(p["name"], p["energy_impact_s"]) for p in report["processes"]} == {
        ("old", 10.0),
        ("new", 30.0),
    }


def test_intervals_add_up_to_totals_exactly():
    rankings = [
        ranking(float(t), 0.7, [row(p, f"n{p}", ei=1.1 * p * t, watts=0.013 * p + t / 7,
                                    cpu=3.3 * p) for p in range(1, 6)])
        for t in range(1, 40)
    ]  # fmt: skip
    for by in ("process", "app"):
        report = json.loads(json.dumps(integrate(rankings, by=by, keep_intervals=True).report()))
        total_j, total_ei, per = 0.0, 0.0, {}
        for interval in report["intervals"]:
            for c in interval["contributions"]:
                total_j += c["energy_j"]
                total_ei += c["energy_impact_s"]
                j, e = per.get(c["group"], (0.0, 0.0))
                per[c["group"]] = (j + c["energy_j"], e + c["energy_impact_s"])
        assert total_j == report["total"]["energy_j"]
        assert total_ei == report["total"]["energy_impact_s"]
        groups = report["processes" if by == "process" else "apps"]
        assert {g["key"]: (g["energy_j"], g["energy_impact_s"]) for g in groups} == per


# -- apps -----------------------------------------------------------------------------------

TREE = {
    1: (0, "systemd"),
    2: (0, "kthreadd"),
    700: (2, "kworker/0:1"),
    100: (1, "sshd"),
    150: (100, "sshd-session"),
    200: (150, "bash"),
    300: (200, "make"),
    400: (300, "sh"),
    500: (400, "cc1"),
    600: (1000, "chrome"),
    601: (600, "chrome"),
    602: (601, "chrome"),
    1000: (1, "systemd"),  # systemd --user
    1100: (1000, "gnome-terminal-"),
    1200: (1100, "bash"),
    1300: (1200, "vim"),
    1400: (1300, "bash"),  # :!shell inside vim
    1500: (1400, "python3"),
    50: (49, "orphan"),  # parent not in the data
}


@pytest.mark.parametrize(
    ("pid", "app"),
    [
        (500, 300),  # cc1 <- sh <- make: make is the app (below the login shell)
        (400, 300),
        (300, 300),
        (200, 200),  # a busy login shell is its own app
        (150, 150),
        (100, 100),
        (1, 1),
        (602, 600),  # chrome helpers under chrome (below systemd --user)
        (601, 600),
        (1300, 1300),  # vim typed in a terminal: its own app, not the terminal's
        (1500, 1300),  # a command run from vim belongs to vim
        (1200, 1200),
        (1100, 1100),
        (700, 2),  # kernel threads under kthreadd
        (50, 50),
    ],
)
def test_app_of_process_tree(pid, app):
    assert app_of(pid, TREE) == app


def test_app_of_responsible_pid_wins():
    # macOS: an XPC service (ppid launchd) that macOS charges to an app.
    procs = {1: (0, "launchd"), 80: (1, "Safari"), 81: (1, "com.apple.WebKit.WebContent")}
    assert app_of(81, procs) == 81
    assert app_of(81, procs, responsible={81: 80}) == 80
    assert app_of(81, procs, responsible={81: 999}) == 81  # unknown owner: fall back to tree


def test_app_of_survives_a_cycle():
    assert app_of(5, {5: (6, "a"), 6: (5, "b")}) in (5, 6)


def test_by_app_adds_helpers_under_their_app():
    rows = [row(pid, name, ppid, ei=float(pid % 100), cpu=1.0) for pid, (ppid, name) in
            TREE.items()]  # fmt: skip
    report = integrate([ranking(5.0, 2.0, rows, source="model")], by="app").report()
    apps = {a["pid"]: a for a in report["apps"]}
    # chrome 600 + 601 + 602: EI 0 + 1 + 2 over 2 s = 6 EI*s, three members.
    assert apps[600]["energy_impact_s"] == 6.0
    assert apps[600]["member_count"] == 3 and apps[600]["members"] == ["chrome"]
    # make 300 + sh 400 + cc1 500: (0 + 0 + 0) * 2 -> 0, three members
    assert apps[300]["member_count"] == 3
    assert sorted(apps[300]["members"]) == ["cc1", "make", "sh"]
    assert 500 not in apps and 400 not in apps
    assert report["app_count"] == len(apps)


def test_by_app_uses_responsible_lookup_once_per_process():
    calls = []

    def lookup(pid):
        calls.append(pid)
        return {81: 80}.get(pid)

    rows = [row(1, "launchd", 0, ei=1.0), row(80, "Safari", 1, ei=2.0),
            row(81, "WebContent", 1, ei=3.0)]  # fmt: skip
    integrator = EnergyIntegrator(by="app", responsible_pid=lookup)
    integrator.add(ranking(1.0, 1.0, rows, source="pmenergy"))
    integrator.add(ranking(2.0, 1.0, rows, source="pmenergy"))
    apps = {a["name"]: a for a in integrator.report()["apps"]}
    assert apps["Safari"]["energy_impact_s"] == 10.0  # (2 + 3) * 2 intervals
    assert sorted(calls) == [1, 80, 81]


# -- `lagwatch energy` over a history database --------------------------------------------------


def write_history(db, rankings):
    from lagwatch.store import Recorder, RecordPolicy

    keep_all = RecordPolicy(top_k=1000, threshold=0.0, min_score=0.0, min_energy_impact=0.0,
                            max_rows=1000)  # fmt: skip
    recorder = Recorder(db, policy=keep_all)
    try:
        for r in rankings:
            assert recorder.record(r)
    finally:
        recorder.close()


@pytest.mark.integration
def test_energy_command_from_history(tmp_path):
    now = time.time()
    rows_at = [
        [row(1, "a", ei=100.0, watts=3.0, cpu=100.0), row(2, "b", ei=10.0, watts=0.5, cpu=10.0)],
        [row(1, "a", ei=50.0, watts=1.5, cpu=50.0), row(3, "c", ei=20.0, watts=1.0, cpu=20.0)],
        [row(1, "a", ei=25.0, watts=1.0, cpu=25.0)],
    ]
    rankings = [ranking(now - 30 + 2 * i, 2.0, rows) for i, rows in enumerate(rows_at)]
    db = tmp_path / "history.db"
    write_history(db, rankings)
    out = run_lagwatch("energy", "--db", str(db), "--since", "5m", "--json", "--intervals")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["mode"] == "history"
    assert report["rankings"] == 3 and report["covered_s"] == pytest.approx(6.0)
    assert report["energy_sources"] == ["rapl-share"]
    by = {p["name"]: p for p in report["processes"]}
    # a: 2 s each: J (3 + 1.5 + 1) * 2 = 11; EI*s (100 + 50 + 25) * 2 = 350.
    assert by["a"]["energy_j"] == pytest.approx(11.0)
    assert by["a"]["energy_impact_s"] == pytest.approx(350.0)
    assert by["a"]["avg_watts"] == pytest.approx(11.0 / 6.0)
    assert by["b"]["energy_j"] == pytest.approx(1.0) and by["c"]["energy_j"] == pytest.approx(2.0)
    assert report["total"]["energy_j"] == pytest.approx(14.0)
    # Totals equal the sum of the per-interval contributions, exactly.
    total = 0.0
    for interval in report["intervals"]:
        for c in interval["contributions"]:
            total += c["energy_j"]
    assert total == report["total"]["energy_j"]
    table = run_lagwatch("energy", "--db", str(db), "--since", "5m", "--by", "app")
    assert table.returncode == 0, table.stderr
    assert "ENERGY J" in table.stdout and "total" in table.stdout


@pytest.mark.integration
def test_energy_command_empty_history_window(tmp_path):
    db = tmp_path / "history.db"
    write_history(db, [ranking(time.time() - 7200, 1.0, [row(1, "a", ei=1.0)])])
    out = run_lagwatch("energy", "--db", str(db), "--since", "1m", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["rankings"] == 0 and report["processes"] == []
    assert any("no history recorded" in n for n in report["notes"])
