"""Pressure events: sustained stall on a resource becomes one event naming who consumed it."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from conftest import need
from lagwatch.daemon.pressure import PressureConfig, PressureTracker
from lagwatch.events import Event
from lagwatch.exporter.pressure import pressure_families
from lagwatch.model import ProcessRow, Ranking
from lagwatch.ticker import open_ticker


def _row(pid: int, name: str, cpu: float = 0.0, disk: float = 0.0) -> ProcessRow:
    row = ProcessRow(pid, 1, name, "u", "R", False, 1 << 20, 1, cpu_percent=cpu)
    row.subscores = {"cpu": cpu / 2, "disk": disk}
    row.dominant = "cpu" if cpu else "disk"
    return row


def _tick(t: float, cpu_some: float | None, rows: list[ProcessRow], io_some: float = 0.0):
    pressure = {"cpu": {"some_percent": cpu_some}, "io": {"some_percent": io_some}}
    return Ranking(t, 1.0, "linux", ["procfs", "psi"], rows, system={"pressure": pressure})


def _run(tracker: PressureTracker, ticks: list[Ranking]) -> list[Event]:
    out: list[Event] = []
    for ranking in ticks:
        out.extend(tracker.update(ranking))
    return out


def test_sustained_cpu_pressure_is_one_event_with_its_consumers():
    cfg = PressureConfig(sustain_s=3.0, cooldown_s=2.0)
    hogs = [_row(10 + i, "hog", cpu=33.0) for i in range(6)]
    idle = _row(99, "idle", cpu=0.0)
    ticks = [_tick(100.0 + i, 90.0 if i < 6 else 5.0, [*hogs, idle]) for i in range(10)]
    events = _run(PressureTracker(cfg), ticks)
    first, last = events[0], events[-1]
    assert first.kind == "pressure" and first.end is None
    assert last.key == first.key and last.end == 105.0 and last.details["ended"] == "calmed"
    assert last.start == 99.0 and last.duration_s == 6.0
    data = last.to_json()
    assert data["resource"] == "cpu" and data["pressure_percent"] == 90.0
    assert data["details"]["pressure_stat"] == "mean"
    assert {s["name"] for s in data["suspects"]} == {"hog"}  # idle consumed nothing
    assert data["suspects"][0]["resource_use"]["cpu_percent"] == 33.0
    assert "cpu 90% (mean) pressure" in last.describe()
    assert "hog" in last.describe()


def test_a_short_burst_and_a_single_hot_tick_make_no_event():
    cfg = PressureConfig(sustain_s=5.0, cooldown_s=2.0)
    ticks = [_tick(float(i), 90.0 if i in (1, 2, 8) else 0.0, [_row(1, "a", cpu=50)])
             for i in range(12)]  # fmt: skip
    assert _run(PressureTracker(cfg), ticks) == []


def test_resources_are_tracked_apart_and_io_blames_disk_users():
    cfg = PressureConfig(sustain_s=2.0, cooldown_s=2.0)
    rows = [_row(1, "cruncher", cpu=150.0), _row(2, "writer", disk=80.0)]
    ticks = [_tick(float(i), 10.0, rows, io_some=60.0) for i in range(5)]
    events = _run(PressureTracker(cfg), ticks)
    assert {e.details["resource"] for e in events} == {"io"}  # cpu stayed under its threshold
    assert events[-1].suspects[0]["name"] == "writer"
    assert [s["name"] for s in events[-1].suspects] == ["writer"]


def test_unknown_pressure_opens_nothing_and_closing_ends_ongoing_events():
    tracker = PressureTracker(PressureConfig(sustain_s=1.0))
    assert _run(tracker, [_tick(float(i), None, []) for i in range(5)]) == []
    _run(tracker, [_tick(10.0 + i, 99.0, []) for i in range(3)])
    closed = tracker.close_all()
    assert len(closed) == 1 and closed[0].details["ended"] == "daemon stopped"
    assert tracker.ongoing == []


def test_macos_memory_level_counts_as_pressure():
    tracker = PressureTracker(PressureConfig(sustain_s=2.0, cooldown_s=1.0))
    levels = ["normal", "warning", "critical", "warning", "normal", "normal"]
    ticks = [
        Ranking(float(i), 1.0, "macos", ["libproc"], [_row(1, "big")],
                system={"pressure": {"memory": {"level": lvl, "level_code": 2}}})
        for i, lvl in enumerate(levels)
    ]  # fmt: skip
    events = _run(tracker, ticks)
    assert events and events[-1].details["level"] == "critical"
    assert events[-1].to_json()["pressure_percent"] is None
    assert "memory critical" in events[-1].describe()


def test_prometheus_families():
    ranking = _tick(1.0, 42.0, [])
    ranking.system["pressure"]["cpu"]["some_total_us"] = 2_000_000
    ranking.system["pressure_cgroups"] = {"user.slice": {"cpu": {"some_percent": 10.0}}}
    families = {f.name: f for f in pressure_families(ranking, 3)}
    assert families["lagwatch_pressure_events"].samples[0].value == 3
    some = {s.labels["resource"]: s.value for s in families["lagwatch_pressure_some_ratio"].samples}
    assert some == {"cpu": 0.42, "io": 0.0}
    stalled = families["lagwatch_pressure_stalled_seconds"].samples
    assert [(s.labels, s.value) for s in stalled] == [({"resource": "cpu", "kind": "some"}, 2.0)]
    cg = families["lagwatch_cgroup_pressure_some_ratio"].samples[0]
    assert cg.labels == {"cgroup": "user.slice", "resource": "cpu"} and cg.value == 0.1


@pytest.mark.integration
@pytest.mark.skipif(not os.path.isdir("/proc/pressure"), reason="this kernel has no PSI")
def test_six_cpu_hogs_on_few_cores_make_a_cpu_pressure_event():
    stress = need("stress-ng")
    cores = os.cpu_count() or 1
    hogs = subprocess.Popen(
        [stress, "--cpu", str(3 * cores), "--quiet", "-t", "120"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # A low threshold and a short sustain, so the test takes seconds (defaults: docs/daemon.md).
    tracker = PressureTracker(PressureConfig.uniform(30.0, sustain_s=2.0, cooldown_s=1.5))
    ticker, _ = open_ticker(["procfs", "psi"])
    events: list[Event] = []
    try:
        for n, ranking in enumerate(ticker.rankings(0.5)):
            events.extend(e for e in tracker.update(ranking) if e.details["resource"] == "cpu")
            if events or n > 120:
                break
    finally:
        ticker.close()
        os.killpg(hogs.pid, signal.SIGKILL)
        hogs.wait()
    assert events, "no cpu pressure event"
    # Other programs may keep this shared machine under pressure after the hogs go: the event
    # is ended the way a stopping daemon ends it.
    closed = [e for e in tracker.close_all() if e.details["resource"] == "cpu"]
    last = closed[-1].to_json()
    assert last["kind"] == "pressure" and last["resource"] == "cpu" and last["end"] is not None
    assert closed[-1].key == events[0].key
    assert any(s["name"].startswith("stress-ng") for s in last["suspects"]), last["suspects"]


def test_the_daemon_records_pressure_events_for_events_why_and_the_api(tmp_path):
    from conftest import run_lagwatch
    from lagwatch.store import History
    from test_daemon_logic import make_daemon

    def script(n: int) -> list[ProcessRow]:
        return [_row(40 + i, "hog", cpu=33.0) for i in range(6)]

    daemon, _, _, state = make_daemon(
        tmp_path, script, pressure=PressureConfig(sustain_s=3.0, cooldown_s=2.0)
    )
    some = iter([90.0] * 8 + [0.0] * 8)
    original = daemon.make_sampler

    def make():
        sampler = original()
        plain = sampler.tick

        def tick():
            ranking = plain()
            if ranking is not None:
                ranking.system["pressure"] = {"cpu": {"some_percent": next(some, 0.0)}}
            return ranking

        sampler.tick = tick
        return sampler

    daemon.make_sampler = make
    daemon.run(max_ticks=16)
    with History(tmp_path / "h.db") as h:
        events = [e for e in h.events() if e.kind == "pressure"]
    assert len(events) == 1 and events[0].details["ended"] == "calmed"
    assert state.snapshot()["pressure_events_total"] == 1
    res = run_lagwatch("events", "--db", str(tmp_path / "h.db"), "--json")
    assert res.returncode == 0, res.stderr
    data = [d for d in map(json.loads, res.stdout.splitlines()) if d["kind"] == "pressure"]
    assert data[0]["resource"] == "cpu" and data[0]["pressure_percent"] == 90.0
    assert data[0]["suspects"][0]["name"] == "hog"
    why = run_lagwatch("why", str(data[0]["id"]), "--db", str(tmp_path / "h.db"))
    assert why.returncode == 0, why.stderr
    assert "tasks waited for cpu" in why.stdout and "hog" in why.stdout
