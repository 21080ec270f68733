"""The stress score: band edges, absoluteness, and what a person would blame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lagwatch.model import ProcessRow
from lagwatch.scoring import BANDS, Band, combine, score_row

GIB = 1 << 30
SYSTEM = {"memory_total_bytes": 16 * GIB}


def row(**kw) -> ProcessRow:
    base = dict(pid=1, ppid=0, name="x", user="u", state="running", restricted=False,
                memory_bytes=50 << 20, threads=1, cpu_percent=0.0, disk_read_bytes_per_s=0.0,
                disk_write_bytes_per_s=0.0, pageins_per_s=0.0, wakeups_per_s=0.0)  # fmt: skip
    base.update(kw)
    r = ProcessRow(**base)
    score_row(r, SYSTEM)
    return r


def test_band_edges():
    band = Band(10.0, 1000.0)
    assert band.score(None) == 0.0
    assert band.score(10.0) == 0.0
    assert band.score(100.0) == pytest.approx(50.0)  # one decade of two
    assert band.score(1000.0) == 100.0
    assert band.score(1e9) == 100.0


@given(st.floats(min_value=0, max_value=1e12), st.floats(min_value=0, max_value=1e12))
def test_bands_are_monotonic_and_bounded(a, b):
    for band in BANDS.values():
        lo, hi = sorted((a, b))
        assert 0.0 <= band.score(lo) <= band.score(hi) <= 100.0


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=7))
def test_combine_never_exceeds_100_and_is_at_least_the_worst(subs):
    total = combine(dict(enumerate(subs)))
    assert 0.0 <= total <= 100.0 + 1e-9
    assert total >= max(subs, default=0.0) - 1e-9


def test_idle_process_scores_zero():
    r = row(cpu_percent=0.3, wakeups_per_s=4.0)
    assert r.score == 0.0


def test_one_core_busy_is_high_and_blames_cpu():
    r = row(cpu_percent=100.0)
    assert 70 <= r.score <= 90 and r.dominant == "cpu"


def test_disk_writer_is_a_disk_culprit_even_when_it_burns_cpu():
    r = row(cpu_percent=70.0, disk_write_bytes_per_s=300e6)
    assert r.dominant == "disk" and r.score >= 95


def test_wakeup_storm_is_a_wakeups_culprit():
    r = row(cpu_percent=40.0, wakeups_per_s=30000.0)
    assert r.dominant == "wakeups"


def test_quarter_of_ram_is_a_memory_culprit():
    r = row(memory_bytes=4 * GIB)
    assert r.dominant == "memory" and r.score >= 60


def test_score_is_absolute_not_relative():
    # The same process scores the same whatever else runs (no fair-share normalisation).
    assert row(cpu_percent=50.0).score == row(cpu_percent=50.0).score


def test_unknown_metrics_do_not_score():
    r = row(cpu_percent=None, memory_bytes=None, disk_read_bytes_per_s=None,
            disk_write_bytes_per_s=None, pageins_per_s=None, wakeups_per_s=None)  # fmt: skip
    assert r.score == 0.0 and r.dominant is None and r.subscores == {}


def test_pageins_and_gpu_and_network():
    assert row(pageins_per_s=800.0).dominant == "pageins"
    assert row(gpu_percent=80.0, cpu_percent=20.0).dominant == "gpu"
    assert row(net_bytes_per_s=40e6, cpu_percent=10.0).dominant == "network"
