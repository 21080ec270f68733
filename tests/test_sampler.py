"""Rates from two snapshots: hand-made snapshots with numbers worked out by hand; and the sampler
that reads them, with the ticker that ranks its readings."""

from __future__ import annotations

import itertools

import pytest

from lagwatch.model import APPLIES_TO, PROCESS_KEYS, ProcessSample, Snapshot, merge_patch
from lagwatch.ranking import compute_ranking
from lagwatch.sampler import Sampler
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.ticker import Ticker

GIB = 1 << 30


def snap(t_s: float, *samples: ProcessSample) -> Snapshot:
    return Snapshot(
        time=1_700_000_000 + t_s,
        monotonic_ns=int(t_s * 1e9),
        platform="linux",
        sources=["fake"],
        processes={s.identity: s for s in samples},
        system={"memory_total_bytes": 16 * GIB, "cpu_count": 4},
    )


def proc(pid: int, start: int = 1, ppid: int = 1, **kw) -> ProcessSample:
    defaults = dict(cpu_ns=0, child_cpu_ns=0, disk_read_bytes=0, disk_write_bytes=0, pageins=0,
                    wakeups=0, ctx_switches=0, memory_bytes=10 << 20, threads=1)  # fmt: skip
    defaults.update(kw)
    return ProcessSample(pid=pid, start_id=start, name=f"p{pid}", ppid=ppid, **defaults)


def rows_by_pid(prev, cur):
    return {r.pid: r for r in compute_ranking(prev, cur).processes}


def test_rates_over_the_interval():
    prev = snap(0, proc(10, cpu_ns=1_000_000_000, disk_write_bytes=0, wakeups=100, pageins=5))
    cur = snap(2, proc(10, cpu_ns=2_500_000_000, disk_write_bytes=400_000_000, wakeups=700,
                       pageins=25))  # fmt: skip
    row = rows_by_pid(prev, cur)[10]
    assert row.cpu_percent == 75.0  # 1.5 s of CPU in 2 s
    assert row.disk_write_bytes_per_s == 200_000_000
    assert row.wakeups_per_s == 300.0
    assert row.pageins_per_s == 10.0
    # The documented Linux model: CPU + 200 us per wakeup + disk bytes at pmenergy weights.
    assert row.energy_impact == pytest.approx(75.0 + 0.02 * 300 + 100 * 2.4e-10 * 200e6)
    assert row.gpu_percent is None and row.net_bytes_per_s is None and row.power_watts is None


def test_unknown_counter_stays_null_never_zero():
    prev = snap(0, proc(10, disk_read_bytes=None, disk_write_bytes=None))
    cur = snap(1, proc(10, disk_read_bytes=None, disk_write_bytes=None))
    row = rows_by_pid(prev, cur)[10]
    assert row.disk_read_bytes_per_s is None and row.disk_write_bytes_per_s is None
    assert set(row.to_json()) == set(PROCESS_KEYS)


def test_counter_that_went_backwards_is_unknown_not_negative():
    prev = snap(0, proc(10, wakeups=1000, gpu_ns=5_000_000))
    cur = snap(1, proc(10, wakeups=10, gpu_ns=1_000_000))
    row = rows_by_pid(prev, cur)[10]
    assert row.wakeups_per_s is None
    assert row.gpu_percent == 0.0  # GPU time drops when a GPU client closes: no activity


def test_reused_pid_is_a_new_process_not_a_delta():
    old = proc(10, start=100, cpu_ns=50_000_000_000)
    new = proc(10, start=200, cpu_ns=300_000_000)
    row = rows_by_pid(snap(0, old), snap(1, new))[10]
    # Its counters started at zero within the interval: 0.3 s in 1 s, not -49.7 s.
    assert row.cpu_percent == 30.0


def test_process_started_within_the_interval_counts_from_zero():
    cur = snap(1, proc(1), proc(42, cpu_ns=200_000_000))
    row = rows_by_pid(snap(0, proc(1)), cur)[42]
    assert row.cpu_percent == 20.0


def test_fork_storm_shows_up_as_its_parent():
    # Children live and die between readings: only the parent's reaped-children CPU says so.
    prev = snap(0, proc(10, cpu_ns=0, child_cpu_ns=0))
    cur = snap(1, proc(10, cpu_ns=100_000_000, child_cpu_ns=800_000_000))
    assert rows_by_pid(prev, cur)[10].cpu_percent == 90.0


def test_reaped_child_already_seen_is_not_counted_twice():
    # The child ran 5 s before the first reading (already shown) and 0.5 s more after it.
    child = proc(11, ppid=10, cpu_ns=5_000_000_000)
    prev = snap(0, proc(10), child)
    cur = snap(1, proc(10, child_cpu_ns=5_500_000_000))  # reaped: its whole life lands at once
    assert rows_by_pid(prev, cur)[10].cpu_percent == 50.0


def test_reaped_grandchild_cascades_to_the_first_living_ancestor():
    prev = snap(0, proc(10), proc(11, ppid=10, cpu_ns=1_000_000_000),
                proc(12, ppid=11, cpu_ns=3_000_000_000))  # fmt: skip
    # 12 exits (+0.2 s), 11 reaps it and exits (+0.1 s); 10 reaps 11 with both lifetimes.
    cur = snap(1, proc(10, child_cpu_ns=1_100_000_000 + 3_200_000_000))
    assert rows_by_pid(prev, cur)[10].cpu_percent == pytest.approx(30.0)


def test_memory_gauge_and_growth():
    prev = snap(0, proc(10, memory_bytes=1 * GIB))
    cur = snap(1, proc(10, memory_bytes=1 * GIB + 300_000_000))
    row = rows_by_pid(prev, cur)[10]
    assert row.memory_bytes == 1 * GIB + 300_000_000
    assert row.memory_growth_bytes_per_s == 300_000_000
    assert row.dominant == "memory"


def test_rates_measured_by_a_source_win():
    s = proc(10, cpu_ns=None)
    s.rates = {"cpu_percent": 12.5, "energy_impact": 40.0}
    row = rows_by_pid(snap(0, proc(10, cpu_ns=None)), snap(1, s))[10]
    assert (row.cpu_percent, row.energy_impact) == (12.5, 40.0)
    # lagwatch's own estimate stays beside the measured figure (12.5 % CPU, nothing else).
    assert row.energy_impact_model == 12.5


def test_own_energy_estimate_equals_energy_impact_when_nothing_measured_it():
    row = rows_by_pid(snap(0, proc(10)), snap(1, proc(10, cpu_ns=300_000_000)))[10]
    assert row.energy_impact == row.energy_impact_model == 30.0


def test_ranking_is_worst_first_and_sortable():
    prev = snap(0, proc(10), proc(11), proc(12))
    cur = snap(1, proc(10, cpu_ns=50_000_000), proc(11, cpu_ns=900_000_000),
               proc(12, disk_read_bytes=300_000_000))  # fmt: skip
    ranking = compute_ranking(prev, cur)
    assert [r.pid for r in ranking.processes][:2] == [12, 11]
    assert next(r.pid for r in compute_ranking(prev, cur, sort="cpu").processes) == 11
    doc = ranking.to_json()
    assert doc["interval_s"] == 1.0 and doc["platform"] == "linux"
    assert all(set(p) == set(PROCESS_KEYS) for p in doc["processes"])


def test_merge_patch_fills_only_unknowns():
    s = proc(10, gpu_ns=None)
    merge_patch(s, {"gpu_ns": 7, "cpu_ns": 99, "bogus": 1})
    assert s.gpu_ns == 7 and s.cpu_ns == 0


class FakeSource:
    def __init__(self, name, readings):
        self.name = name
        self.readings = list(readings)
        self.closed = False

    def read(self):
        item = self.readings.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self):
        self.closed = True


def test_failing_augmenting_source_is_dropped_and_others_continue():
    primary = FakeSource("primary", [SourceReading(processes=[proc(10)]) for _ in range(3)])
    gpu = FakeSource("gpu", [SourceReading(patches={10: {"gpu_ns": 1}}),
                             SourceError("device went away")])  # fmt: skip
    sampler = Sampler([primary, gpu])
    first = sampler.read()
    assert first.sources == ["primary", "gpu"]
    assert first.processes[(10, 1)].gpu_ns == 1
    second = sampler.read()
    assert second.sources == ["primary"] and gpu.closed
    assert any("gpu" in w and "device went away" in w for w in second.warnings)
    assert sampler.dropped == ["gpu: device went away"]


def test_failing_primary_falls_back_to_the_next_process_source():
    broken = FakeSource("native", [SourceReading(processes=[proc(10)]), OSError("EIO")])
    fallback = FakeSource("portable", [SourceReading(processes=[proc(10, start=7)])] * 3)
    sampler = Ticker(Sampler([broken, fallback]))
    assert sampler.tick() is None  # first reading
    # The primary changes: no ranking across two sources' units, then rankings resume.
    assert sampler.tick() is None
    assert sampler.tick() is not None
    assert sampler.source_names == ["portable"]


def test_no_ranking_across_a_dropped_source():
    primary = FakeSource("primary", [SourceReading(processes=[proc(10)]) for _ in range(3)])
    gpu = FakeSource("gpu", [SourceReading(patches={10: {"gpu_ns": 1}}), SourceError("gone")])
    ticker = Ticker(Sampler([primary, gpu]))
    assert ticker.tick() is None  # first reading
    # The gpu source is dropped while reading: its counters must not be diffed against none.
    assert ticker.tick() is None and ticker.dropped == ["gpu: gone"]
    ranking = ticker.tick()
    assert ranking is not None and ranking.sources == ["primary"]
    assert ranking.processes[0].gpu_percent is None
    ticker.close()
    assert primary.closed


def test_primary_failing_at_run_time_is_replaced_by_the_next_best_source():
    native = FakeSource("native", [SourceReading(processes=[proc(10)]), SourceError("gone")])
    portable = FakeSource("portable", [SourceReading(processes=[proc(10, start=7)])] * 3)
    asked: list[set[str]] = []

    def fallback(exclude: set[str]):
        asked.append(set(exclude))
        return portable

    sampler = Sampler([native], fallback=fallback)
    assert sampler.read().sources == ["native"]
    snap = sampler.read()
    assert snap.sources == ["portable"] and asked == [{"native"}]
    assert any("now reading processes with portable" in w for w in snap.warnings)


def test_augmenting_source_listed_first_still_patches_the_primary():
    gpu = FakeSource("gpu", [SourceReading(patches={10: {"gpu_ns": 5}})])
    primary = FakeSource("primary", [SourceReading(processes=[proc(10)])])
    snap = Sampler([gpu, primary]).read()
    assert snap.sources == ["primary", "gpu"] and snap.processes[(10, 1)].gpu_ns == 5


def test_a_patch_never_changes_the_sample_object_the_source_handed_out():
    # A source hands the same object out again for an idle process (procfs does): a patch
    # of one tick must not stick to it and hide the next tick's patch (known values win).
    idle = proc(10, net_bytes=None)
    primary = FakeSource("primary", [SourceReading(processes=[idle])] * 2)
    net = FakeSource("net", [SourceReading(patches={10: {"net_bytes": 100}}),
                             SourceReading(patches={10: {"net_bytes": 250}})])  # fmt: skip
    sampler = Sampler([primary, net])
    assert sampler.read().processes[(10, 1)].net_bytes == 100
    assert sampler.read().processes[(10, 1)].net_bytes == 250
    assert idle.net_bytes is None


def test_a_patch_for_another_process_under_the_pid_keeps_the_sample():
    idle = proc(10, start=5, gpu_ns=None)
    other = {"gpu_ns": 9, APPLIES_TO: lambda s: s.start_id == 6}
    snap = Sampler([FakeSource("p", [SourceReading(processes=[idle])]),
                    FakeSource("g", [SourceReading(patches={10: other})])]).read()  # fmt: skip
    assert snap.processes[(10, 5)] is idle and idle.gpu_ns is None


def test_idle_row_cache_gives_the_same_rankings_as_computing_everything():
    idle = proc(10, cpu_ns=5, memory_bytes=3 * GIB)
    busy_then_idle = [proc(11, cpu_ns=0), proc(11, cpu_ns=500_000_000),
                      proc(11, cpu_ns=500_000_000), proc(11, cpu_ns=500_000_000)]  # fmt: skip
    snaps = [snap(t, idle, b) for t, b in enumerate(busy_then_idle)]
    cache: dict = {}
    for prev, cur in itertools.pairwise(snaps):
        cached = compute_ranking(prev, cur, idle_rows=cache).to_json()
        assert cached == compute_ranking(prev, cur).to_json()
    # Both processes are idle now; the big one still scores for its memory.
    assert set(cache) == {(10, 1), (11, 1)}
    assert compute_ranking(snaps[2], snaps[3], idle_rows=cache).processes[0].dominant == "memory"


def test_sum_known_hides_neither_a_known_part_nor_invents_a_zero():
    from lagwatch.model import sum_known

    assert sum_known(None, None) is None
    assert sum_known(3, None) == 3 and sum_known(2, 5) == 7
