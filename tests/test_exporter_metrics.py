"""The /metrics content: names, types, labels, counters, cardinality bound and series removal."""

from __future__ import annotations

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from fake_rankings import T0, ranking, row
from lagwatch.events import Event
from lagwatch.exporter.metrics import LagwatchCollector, system_metric_name
from lagwatch.exporter.series import SeriesTracker, top_by_score
from lagwatch.live import LiveState


class Harness:
    """A LiveState feeding a tracker, as start_exporter wires them, without the HTTP part."""

    def __init__(self, top_k: int = 20, linger_cap: int | None = None) -> None:
        self.state = LiveState()
        self.tracker = SeriesTracker(top_k, linger_cap)
        self.state.subscribe(self.tracker.update)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(LagwatchCollector(self.state, lambda: self.tracker.view))

    def publish(self, rows, t: float = T0, interval_s: float = 1.0, **kw) -> None:
        self.state.publish(ranking(rows, time=t, interval_s=interval_s, **kw), 0.01)

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def families(self) -> dict:
        return {f.name: f for f in text_string_to_metric_families(self.text())}

    def samples(self, sample_name: str) -> dict[str, tuple[dict, float]]:
        """pid -> (labels, value) for a per-process sample name."""
        out = {}
        for family in text_string_to_metric_families(self.text()):
            for s in family.samples:
                if s.name == sample_name:
                    out[s.labels.get("pid", "")] = (s.labels, s.value)
        return out

    def value(self, sample_name: str) -> float | None:
        for family in text_string_to_metric_families(self.text()):
            for s in family.samples:
                if s.name == sample_name:
                    return s.value
        return None


def test_names_types_and_labels_parse() -> None:
    h = Harness()
    h.publish([row(10, 80.0, "hog", cpu_percent=150.0, power_watts=2.5), row(11, 5.0, "idle")])
    fams = h.families()
    expect = {
        "lagwatch_process_score": "gauge",
        "lagwatch_process_memory_bytes": "gauge",
        "lagwatch_process_threads": "gauge",
        "lagwatch_process_cpu_seconds": "counter",
        "lagwatch_process_disk_read_bytes": "counter",
        "lagwatch_process_disk_written_bytes": "counter",
        "lagwatch_process_pageins": "counter",
        "lagwatch_process_wakeups": "counter",
        "lagwatch_process_energy_joules": "counter",
        "lagwatch_system_cpu_seconds": "counter",
        "lagwatch_system_memory_total_bytes": "gauge",
        "lagwatch_sweep_seconds": "gauge",
        "lagwatch_processes": "gauge",
        "lagwatch_processes_restricted": "gauge",
        "lagwatch_pause_events": "counter",
        "lagwatch_ticks": "counter",
        "lagwatch_info": "gauge",  # info metrics are gauges in the text format
    }
    for name, kind in expect.items():
        assert name in fams, name
        assert fams[name].type == kind, name
    score = h.samples("lagwatch_process_score")
    assert score["10"] == ({"pid": "10", "name": "hog"}, 80.0)
    blamed = h.samples("lagwatch_process_dominant_info")
    assert blamed["10"] == ({"pid": "10", "name": "hog", "resource": "cpu"}, 1.0)
    assert fams["lagwatch_process_dominant_info"].type == "gauge"  # info, in the text format
    assert set(h.samples("lagwatch_process_memory_bytes")["10"][0]) == {"pid", "name"}
    assert h.value("lagwatch_processes") == 2
    assert h.value("lagwatch_sweep_seconds") == pytest.approx(0.01)
    assert h.value("lagwatch_pause_events_total") == 0
    # Every metric name follows the lagwatch_ prefix (process_* is the exporter's own process).
    assert all(n.startswith(("lagwatch", "process_")) for n in fams)


def test_openmetrics_format_parses_too() -> None:
    h = Harness()
    h.publish([row(10, 80.0, "hog", cpu_percent=150.0)])
    text = generate_openmetrics(h.registry).decode()
    names = {f.name for f in parse_openmetrics(text)}
    assert {"lagwatch_process_score", "lagwatch_process_cpu_seconds", "lagwatch"} <= names


def test_counters_accumulate_rate_times_interval() -> None:
    h = Harness()
    hog = dict(cpu_percent=50.0, disk_write_bytes_per_s=1000.0, pageins_per_s=3.0,
               wakeups_per_s=100.0, power_watts=2.0)  # fmt: skip
    h.publish([row(10, 80.0, "hog", **hog)], t=T0, interval_s=2.0)
    h.publish([row(10, 80.0, "hog", **hog)], t=T0 + 1, interval_s=1.0)
    assert h.samples("lagwatch_process_cpu_seconds_total")["10"][1] == pytest.approx(1.5)
    assert h.samples("lagwatch_process_disk_written_bytes_total")["10"][1] == pytest.approx(3000)
    assert h.samples("lagwatch_process_pageins_total")["10"][1] == pytest.approx(9.0)
    assert h.samples("lagwatch_process_wakeups_total")["10"][1] == pytest.approx(300.0)
    assert h.samples("lagwatch_process_energy_joules_total")["10"][1] == pytest.approx(6.0)
    assert h.value("lagwatch_ticks_total") == 2


def test_unmeasured_metrics_have_no_series() -> None:
    h = Harness()
    # A restricted process: the OS refused its disk counters; no energy source here.
    h.publish([row(10, 50.0, "other", disk_read_bytes_per_s=None, disk_write_bytes_per_s=None,
                   restricted=True, memory_bytes=None)])  # fmt: skip
    assert "10" not in h.samples("lagwatch_process_disk_read_bytes_total")
    assert "10" not in h.samples("lagwatch_process_energy_joules_total")
    assert "10" not in h.samples("lagwatch_process_memory_bytes")
    assert "10" in h.samples("lagwatch_process_cpu_seconds_total")
    assert h.value("lagwatch_processes_restricted") == 1
    # Nobody measured energy: no system energy counter either (not a made-up zero).
    assert h.value("lagwatch_system_energy_joules_total") is None


def test_cardinality_is_bounded_by_top_k() -> None:
    h = Harness(top_k=5)
    rows = [row(pid, float(pid % 97)) for pid in range(100, 400)]
    h.publish(rows)
    scores = h.samples("lagwatch_process_score")
    expected = {str(r.pid) for r in top_by_score(rows, 5)}
    assert set(scores) == expected
    for name in ("lagwatch_process_memory_bytes", "lagwatch_process_cpu_seconds_total"):
        assert set(h.samples(name)) == expected
    assert h.value("lagwatch_exported_processes") == 5
    # The system counters still cover every process.
    assert h.value("lagwatch_system_cpu_seconds_total") == pytest.approx(300 * 0.01)


def test_series_linger_while_alive_and_go_when_exited() -> None:
    h = Harness(top_k=2)
    h.publish([row(1, 90.0), row(2, 80.0), row(3, 10.0)])
    assert set(h.samples("lagwatch_process_score")) == {"1", "2"}
    # 3 overtakes 2: 2 left the top K but lives, so its series stay (marked out of the top).
    h.publish([row(1, 90.0), row(2, 5.0), row(3, 85.0)], t=T0 + 1)
    assert set(h.samples("lagwatch_process_score")) == {"1", "2", "3"}
    in_top = {pid: v for pid, (_, v) in h.samples("lagwatch_process_in_top").items()}
    assert in_top == {"1": 1.0, "2": 0.0, "3": 1.0}
    # Its counter kept counting while it lingered (2 ticks x 1% x 1 s).
    assert h.samples("lagwatch_process_cpu_seconds_total")["2"][1] == pytest.approx(0.02)
    # 2 exits: its series disappear; 1 (in the top K) exits too.
    h.publish([row(3, 85.0), row(4, 1.0)], t=T0 + 2)
    assert set(h.samples("lagwatch_process_score")) == {"3", "4"}
    assert set(h.samples("lagwatch_process_cpu_seconds_total")) == {"3", "4"}


def test_a_reused_pid_starts_fresh_counters() -> None:
    h = Harness(top_k=1)
    h.publish([row(7, 90.0, "old", cpu_percent=100.0)])
    h.publish([row(7, 90.0, "new", cpu_percent=100.0, start_id=999)], t=T0 + 1)
    labels, value = h.samples("lagwatch_process_cpu_seconds_total")["7"]
    assert labels["name"] == "new"
    assert value == pytest.approx(1.0)


def test_lingering_series_are_capped() -> None:
    h = Harness(top_k=3, linger_cap=4)
    everyone = [row(pid, 0.0) for pid in range(1, 31)]
    for step in range(10):  # a new trio takes the top each tick; the others stay alive
        rows = [
            row(r.pid, 50.0 + r.pid if step * 3 < r.pid <= step * 3 + 3 else 0.0) for r in everyone
        ]
        h.publish(rows, t=T0 + step)
        assert len(h.samples("lagwatch_process_score")) <= 3 + 4
    in_top = h.samples("lagwatch_process_in_top")
    assert sorted(p for p, (_, v) in in_top.items() if v == 1.0) == ["28", "29", "30"]
    # The most recent leavers are kept: 25-27 left last tick, then one of the trio before.
    assert sorted(p for p, (_, v) in in_top.items() if v == 0.0) == ["24", "25", "26", "27"]


def test_dominant_change_keeps_the_score_series() -> None:
    # The blame is its own info series: the score series stays the same series (no churn).
    h = Harness()
    h.publish([row(5, 60.0, dominant="cpu")])
    before = h.samples("lagwatch_process_score")["5"][0]
    h.publish([row(5, 61.0, dominant="disk")], t=T0 + 1)
    assert h.samples("lagwatch_process_score")["5"] == (before, 61.0)
    blamed = [
        line for line in h.text().splitlines() if line.startswith("lagwatch_process_dominant_info")
    ]
    assert blamed == ['lagwatch_process_dominant_info{name="proc5",pid="5",resource="disk"} 1.0']


def test_unknown_dominant_has_no_info_series() -> None:
    h = Harness()
    h.publish([row(5, 0.0, dominant=None), row(6, 50.0, dominant="memory")])
    assert set(h.samples("lagwatch_process_score")) == {"5", "6"}
    assert set(h.samples("lagwatch_process_dominant_info")) == {"6"}  # unknown is no series


def test_awkward_process_names_round_trip() -> None:
    h = Harness()
    name = 'we"ird\\name\nwith newline ünï'
    h.publish([row(5, 60.0, name)])
    assert h.samples("lagwatch_process_score")["5"][0]["name"] == name


def test_self_metrics_follow_live_state() -> None:
    h = Harness()
    h.publish([row(5, 60.0)], system={"memory_total_bytes": 1000, "cpu_count": 2})
    h.state.add_event(Event("pause", T0, T0, 0.0, id=1))
    h.state.add_event(Event("rogue", T0, None, None, id=2))
    h.state.add_event(Event("pause", T0, T0, 0.0, id=3))
    assert h.value("lagwatch_pause_events_total") == 2
    assert h.value("lagwatch_rogue_events_total") == 1
    assert h.value("lagwatch_last_tick_timestamp_seconds") == pytest.approx(T0)
    assert h.value("lagwatch_system_cpus") == 2
    assert h.value("lagwatch_system_cpu_count") is None  # "_count" is a histogram's suffix


def test_no_ranking_yet_still_serves_self_metrics() -> None:
    h = Harness()
    fams = h.families()
    assert "lagwatch_ticks" in fams
    assert "lagwatch_process_score" in fams
    assert fams["lagwatch_process_score"].samples == []


def test_system_figures_get_prometheus_names_and_base_units() -> None:
    assert system_metric_name("memory_total_bytes") == (
        "lagwatch_system_memory_total_bytes", 1.0, False
    )  # fmt: skip
    assert system_metric_name("cpu_busy_percent") == ("lagwatch_system_cpu_busy_ratio", 0.01, False)
    assert system_metric_name("uptime_s") == ("lagwatch_system_uptime_seconds", 1.0, False)
    assert system_metric_name("idle_ns") == ("lagwatch_system_idle_seconds", 1e-9, False)
    assert system_metric_name("swapins_per_s") == ("lagwatch_system_swapins_per_second", 1.0, False)
    assert system_metric_name("pageouts_total") == ("lagwatch_system_pageouts", 1.0, True)
    # promtool: "_count", "_sum" and "_bucket" end only histograms and summaries.
    assert system_metric_name("cpu_count") == ("lagwatch_system_cpus", 1.0, False)
    assert system_metric_name("gpu_core_count") == ("lagwatch_system_gpu_cores", 1.0, False)
    assert system_metric_name("wait_sum") == ("lagwatch_system_wait_summed", 1.0, False)
    # top's "Processes: 412 total" is a count now, not a counter.
    assert system_metric_name("processes_total") == ("lagwatch_system_processes", 1.0, False)
    assert system_metric_name("load-avg 1m") == ("lagwatch_system_load_avg_1m", 1.0, False)
    assert system_metric_name("cpu_energy_mj") == ("lagwatch_system_cpu_energy_joules", 1e-3, False)
    assert system_metric_name("gpu_frequency_hz") == (
        "lagwatch_system_gpu_frequency_hertz", 1.0, False
    )  # fmt: skip


def test_system_figures_of_any_type_render() -> None:
    h = Harness()
    system = {"memory_total_bytes": 1000, "busy_percent": 50.0, "on_battery": True,
              "energy_source": "rapl-share", "nested": {"a": 1}, "bad": float("nan"),
              "pageouts_total": 12}  # fmt: skip
    h.publish([row(5, 60.0)], system=system)
    assert h.value("lagwatch_system_busy_ratio") == pytest.approx(0.5)
    assert h.value("lagwatch_system_pageouts_total") == 12
    assert h.value("lagwatch_system_bad") is None
    info = h.samples("lagwatch_info")[""][0]
    assert info["energy_source"] == "rapl-share"
    assert info["sources"] == "procfs"


def test_top_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="top_k"):
        SeriesTracker(0)


def test_system_sums_match_per_process_accumulation() -> None:
    from lagwatch.exporter.series import accumulate, accumulate_all

    rows = [
        row(1, 1.0, cpu_percent=50.0, power_watts=None, disk_read_bytes_per_s=None),
        row(2, 1.0, cpu_percent=None, power_watts=2.0, disk_read_bytes_per_s=10.0),
        row(3, 1.0, cpu_percent=-1.0, power_watts=None, disk_read_bytes_per_s=None),
    ]
    one_by_one: dict[str, float] = {}
    for r in rows:
        accumulate(one_by_one, r, 2.0)
    together: dict[str, float] = {}
    accumulate_all(together, rows, 2.0)
    assert together == pytest.approx(one_by_one)
    assert together["cpu_seconds"] == pytest.approx(1.0)  # a negative rate adds nothing
    assert "network_bytes" not in together  # nobody measured it
