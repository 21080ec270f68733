"""Power and Energy Impact per platform through the sampler's pure compute_ranking, on
hand-made snapshots whose numbers are worked out by hand in the comments."""

from __future__ import annotations

import pytest

from lagwatch.energy import ENERGY_SOURCES, attribute
from lagwatch.energy_models import BUILTIN_WEIGHTS
from lagwatch.model import ProcessSample, Snapshot
from lagwatch.ranking import compute_ranking, compute_row
from lagwatch.sources import pmenergy as pmenergy_module

S = 1_000_000_000  # ns per second


def snap(t_s: float, samples: list[ProcessSample], platform="linux", sources=None, system=None):
    return Snapshot(
        time=1_700_000_000.0 + t_s,
        monotonic_ns=int(t_s * S),
        platform=platform,
        sources=sources or (["procfs"] if platform == "linux" else ["libproc"]),
        processes={s.identity: s for s in samples},
        system=system or {},
    )


def proc(pid, cpu_ns, **kw) -> ProcessSample:
    return ProcessSample(pid=pid, start_id=pid * 10, name=kw.pop("name", f"p{pid}"), ppid=1,
                         cpu_ns=cpu_ns, **kw)  # fmt: skip


def by_pid(ranking):
    return {r.pid: r for r in ranking.processes}


# -- Linux ----------------------------------------------------------------------------------


def test_linux_model_through_compute_ranking():
    # Over 1 s: 0.5 s CPU (50 %), 100 wakeups, 1 MB read, 2 MB written, 1.5 MB network:
    # EI = 50 + 100*(0.02 + 0.00045 + 0.00048 + 0.004) = 52.493 -> 52.49 after rounding.
    prev = snap(0, [proc(10, 0, wakeups=0, disk_read_bytes=0, disk_write_bytes=0, net_bytes=0)])
    cur = snap(1, [proc(10, S // 2, wakeups=100, disk_read_bytes=1_000_000,
                        disk_write_bytes=2_000_000, net_bytes=1_500_000)])  # fmt: skip
    ranking = compute_ranking(prev, cur)
    row = by_pid(ranking)[10]
    assert row.energy_impact == 52.49
    assert row.power_watts is None
    assert ranking.energy_source == "model"
    out = ranking.to_json()
    assert out["energy_source"] == "model"
    assert out["processes"][0]["power_watts"] is None


def rapl_system(energy_uj: int, t_ns: int, epoch: int = 1) -> dict:
    return {"rapl_energy_uj": energy_uj, "rapl_time_ns": t_ns, "rapl_epoch": epoch}


def test_rapl_share_hand_worked():
    # Package: 24 J over 2 s = 12 W. CPU over the 2 s: A 1.2 s (60 %), B 0.6 s, C 0.2 s, D 0:
    # shares 1.2/2.0, 0.6/2.0, 0.2/2.0 of 12 W -> 7.2 W, 3.6 W, 1.2 W, 0 W.
    prev = snap(0, [proc(1, 0), proc(2, 0), proc(3, 0), proc(4, 5 * S)],
                system=rapl_system(1_000_000, 0))  # fmt: skip
    cur = snap(2, [proc(1, 12 * S // 10), proc(2, 6 * S // 10), proc(3, 2 * S // 10),
                   proc(4, 5 * S)], system=rapl_system(25_000_000, 2 * S))  # fmt: skip
    ranking = compute_ranking(prev, cur)
    rows = by_pid(ranking)
    assert rows[1].power_watts == pytest.approx(7.2)
    assert rows[2].power_watts == pytest.approx(3.6)
    assert rows[3].power_watts == pytest.approx(1.2)
    assert rows[4].power_watts == 0.0
    assert sum(r.power_watts for r in ranking.processes) == pytest.approx(12.0)
    # Energy Impact stays modelled (60 %, 30 %, 10 %, 0 % CPU, nothing else).
    assert [rows[p].energy_impact for p in (1, 2, 3, 4)] == [60.0, 30.0, 10.0, 0.0]
    assert ranking.energy_source == "rapl-share"


def test_rapl_uses_its_own_read_times():
    # RAPL read 1.6 J over 0.8 s (2 W) although the snapshots are 1 s apart: 2 W, not 1.6 W.
    prev = snap(0, [proc(1, 0)], system=rapl_system(0, S // 10))
    cur = snap(1, [proc(1, S)], system=rapl_system(1_600_000, 9 * S // 10))
    assert by_pid(compute_ranking(prev, cur))[1].power_watts == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("prev_sys", "cur_sys"),
    [
        (rapl_system(0, 0, epoch=1), rapl_system(5_000_000, S, epoch=2)),  # counter restarted
        ({}, rapl_system(5_000_000, S)),  # first RAPL reading
        (rapl_system(0, 0), {}),  # RAPL failed this time
    ],
)
def test_rapl_that_does_not_chain_gives_null_power(prev_sys, cur_sys):
    prev = snap(0, [proc(1, 0)], system=prev_sys)
    cur = snap(1, [proc(1, S)], system=cur_sys)
    ranking = compute_ranking(prev, cur)
    assert by_pid(ranking)[1].power_watts is None
    assert ranking.energy_source == "model"


# -- macOS Apple Silicon: ri_energy_nj --------------------------------------------------------


def test_ri_energy_nj_power_and_estimated_ei():
    # 1.5e9 nJ over 1 s = 1.5 W -> EI 150; 2e7 nJ = 0.02 W -> EI 2.
    prev = snap(0, [proc(5, 0, energy_nj=0), proc(6, 0, energy_nj=10)], platform="macos")
    cur = snap(1, [proc(5, S, energy_nj=1_500_000_000), proc(6, S // 100, energy_nj=20_000_010)],
               platform="macos")  # fmt: skip
    ranking = compute_ranking(prev, cur)
    rows = by_pid(ranking)
    assert rows[5].power_watts == pytest.approx(1.5)
    assert rows[5].energy_impact == pytest.approx(150.0)
    assert rows[6].power_watts == pytest.approx(0.02)
    assert rows[6].energy_impact == pytest.approx(2.0)
    assert ranking.energy_source == "ri_energy_nj"
    assert "estimated" in ENERGY_SOURCES["ri_energy_nj"]


def test_restricted_process_has_no_energy_on_apple_silicon():
    prev = snap(0, [proc(5, 0, energy_nj=0), proc(7, None, restricted=True)], platform="macos")
    cur = snap(1, [proc(5, S, energy_nj=10**9), proc(7, None, restricted=True)],
               platform="macos")  # fmt: skip
    rows = by_pid(compute_ranking(prev, cur))
    assert rows[7].power_watts is None and rows[7].energy_impact is None


# -- macOS Intel: pmenergy ---------------------------------------------------------------------


def test_intel_zero_energy_is_not_measured_and_pmenergy_is_used(monkeypatch):
    monkeypatch.setattr(pmenergy_module, "_machine", BUILTIN_WEIGHTS)
    # ri_energy_nj stays 0 on Intel: power is unknown, not 0 W. Over 1 s: 100 ms background
    # CPU (0.8 -> 8.0 EI) and 133 package-idle wakeups (2.66 EI): 10.66.
    prev = snap(0, [proc(9, 0, energy_nj=0, wakeups=0, cpu_qos_ns={"background": 0})],
                platform="macos")  # fmt: skip
    cur = snap(1, [proc(9, S // 10, energy_nj=0, wakeups=133,
                        cpu_qos_ns={"background": S // 10})], platform="macos")  # fmt: skip
    ranking = compute_ranking(prev, cur)
    row = by_pid(ranking)[9]
    assert row.power_watts is None
    assert row.energy_impact == pytest.approx(10.66)
    assert ranking.energy_source == "pmenergy"


def test_intel_with_board_weights_and_gpu():
    # Board weights kqos_background 0.39, kgpu_time 3.4, over 2 s: 400 ms default (4e8 ns),
    # 200 ms background (0.39*2e8 = 7.8e7), GPU 10 % of 2 s = 2e8 ns * 3.4 = 6.8e8;
    # total 1.158e9 ns * 1e-7 / 2 s = 57.9 EI.
    from lagwatch.energy_models import PmenergyWeights

    weights = PmenergyWeights(kqos_background=0.39, kgpu_time=3.4)
    prev = snap(0, [proc(9, 0, gpu_ns=0, cpu_qos_ns={"default": 0, "background": 0})],
                platform="macos")  # fmt: skip
    cur = snap(2, [proc(9, 6 * S // 10, gpu_ns=2 * S // 10,
                        cpu_qos_ns={"default": 4 * S // 10, "background": 2 * S // 10})],
               platform="macos")  # fmt: skip
    rows = [compute_row(cur.processes[(9, 90)], prev.processes[(9, 90)], 2.0)]
    assert attribute(rows, prev, cur, 2.0, weights=weights) == "pmenergy"
    assert rows[0].energy_impact == pytest.approx(57.9)


def test_intel_reaped_children_cpu_counts_at_default_qos(monkeypatch):
    monkeypatch.setattr(pmenergy_module, "_machine", BUILTIN_WEIGHTS)
    # QoS says 100 ms background; reaped children add 300 ms of CPU not split by QoS:
    # 0.8*1e8 + 1.0*3e8 = 3.8e8 ns over 1 s -> 38 EI.
    prev = snap(0, [proc(9, 0, child_cpu_ns=0, cpu_qos_ns={"background": 0})], platform="macos")
    cur = snap(1, [proc(9, S // 10, child_cpu_ns=3 * S // 10,
                        cpu_qos_ns={"background": S // 10})], platform="macos")  # fmt: skip
    assert by_pid(compute_ranking(prev, cur))[9].energy_impact == pytest.approx(38.0)


def test_malformed_machine_plist_warns_once(monkeypatch, tmp_path):
    from lagwatch.sources import macos_machine as darwin

    (tmp_path / "Mac-X.plist").write_bytes(b"<plist><dict>")
    monkeypatch.setattr(pmenergy_module, "_machine", None)
    monkeypatch.setenv("LAGWATCH_PMENERGY_DIR", str(tmp_path))  # the seam: platform_seam
    monkeypatch.setattr(darwin, "board_id", lambda: "Mac-X")
    prev = snap(0, [proc(9, 0)], platform="macos")
    cur = snap(1, [proc(9, S // 2)], platform="macos")
    first = compute_ranking(prev, cur)
    second = compute_ranking(prev, cur)
    assert len(first.warnings) == 1
    assert "Mac-X.plist is malformed" in first.warnings[0]
    assert first.warnings[0].endswith("Energy Impact uses built-in defaults")
    assert second.warnings == []
    # Defaults used: 500 ms at kqos_default 1.0 over 1 s -> 50 EI.
    assert by_pid(first)[9].energy_impact == 50.0


# -- sources with their own Energy Impact -------------------------------------------------------


def test_powermetrics_energy_impact_wins():
    prev = snap(0, [proc(5, 0, energy_nj=0), proc(6, 0, energy_nj=0)], platform="macos",
                sources=["libproc", "powermetrics"])  # fmt: skip
    cur = snap(1, [proc(5, S, energy_nj=10**9, rates={"energy_impact": 42.5}),
                   proc(6, S, energy_nj=2 * 10**9)],
               platform="macos", sources=["libproc", "powermetrics"])  # fmt: skip
    ranking = compute_ranking(prev, cur)
    rows = by_pid(ranking)
    assert rows[5].energy_impact == 42.5  # powermetrics' own
    assert rows[5].power_watts == pytest.approx(1.0)  # measured power is kept
    assert rows[6].energy_impact == pytest.approx(200.0)  # no powermetrics row: from power
    assert ranking.energy_source == "powermetrics"


def test_top_power_column():
    prev = snap(0, [proc(5, 0)], platform="macos", sources=["top"])
    cur = snap(1, [proc(5, S, rates={"energy_impact": 91.4, "cpu_percent": 88.0})],
               platform="macos", sources=["top"])  # fmt: skip
    ranking = compute_ranking(prev, cur)
    assert by_pid(ranking)[5].energy_impact == 91.4
    assert by_pid(ranking)[5].power_watts is None
    assert ranking.energy_source == "top-power"


def test_no_figures_no_source():
    prev = snap(0, [proc(5, None)])
    cur = snap(1, [proc(5, None)])
    ranking = compute_ranking(prev, cur)
    assert ranking.processes[0].energy_impact is None
    assert ranking.energy_source is None
    assert ranking.to_json()["energy_source"] is None


def test_every_source_value_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    for name in ENERGY_SOURCES:
        assert f"`{name}`" in doc
