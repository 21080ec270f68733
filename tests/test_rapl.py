"""The rapl source on fake /sys/class/powercap trees: zone selection, wrap-around, failures,
the reasons `lagwatch sources` gives, and per-process power through the real Sampler."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import run_lagwatch
from lagwatch.model import ProcessSample
from lagwatch.sampler import Sampler
from lagwatch.sources import rapl
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.registry import by_name, unavailable_reason
from lagwatch.ticker import Ticker

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux source")

MAX = 262_143_328_850  # a real max_energy_range_uj value


def zone(root: Path, entry: str, name: str, energy: int | None = 0, max_range: int | None = MAX):
    d = root / entry
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    if energy is not None:
        (d / "energy_uj").write_text(f"{energy}\n")
    if max_range is not None:
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def set_energy(d: Path, value: int) -> None:
    (d / "energy_uj").write_text(f"{value}\n")


@pytest.fixture
def tree(tmp_path) -> Path:
    """Two packages, with sub-zones, psys, an MMIO duplicate and the control-type dir."""
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)  # the control type: no energy_uj
    zone(root, "intel-rapl:0", "package-0", 1_000_000)
    zone(root, "intel-rapl:0:0", "core", 400_000)
    zone(root, "intel-rapl:0:1", "uncore", 100_000)
    zone(root, "intel-rapl:1", "package-1", 5_000_000)
    zone(root, "intel-rapl:2", "psys", 9_000_000)
    zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    return root


def test_only_package_zones_count(tree):
    zones = rapl.find_package_zones(str(tree))
    assert [z.name for z in zones] == ["package-0", "package-1"]
    assert [Path(z.path).name for z in zones] == ["intel-rapl:0", "intel-rapl:1"]  # not MMIO
    assert all(z.max_range_uj == MAX for z in zones)


def test_mmio_used_when_alone(tmp_path):
    root = tmp_path / "pc"
    zone(root, "intel-rapl-mmio:0", "package-0", 7)
    assert [Path(z.path).name for z in rapl.find_package_zones(str(root))] == ["intel-rapl-mmio:0"]


def test_counts_energy_across_packages_and_wraps(tree):
    src = rapl.RaplSource(str(tree))
    first = src.read()
    assert first.system["rapl_energy_uj"] == 0  # the chain starts here
    epoch = first.system["rapl_epoch"]
    # +2 J on package 0, +3 J on package 1 (psys and sub-zones change too: ignored).
    set_energy(tree / "intel-rapl:0", 3_000_000)
    set_energy(tree / "intel-rapl:1", 8_000_000)
    set_energy(tree / "intel-rapl:2", 99_000_000)
    assert src.read().system["rapl_energy_uj"] == 5_000_000
    # Package 0 wraps: from 3 000 000 up to MAX and round to 250 000:
    #   (MAX - 3 000 000) + 250 000 = 262 140 578 850 uJ; package 1 +1 uJ.
    set_energy(tree / "intel-rapl:0", MAX)
    set_energy(tree / "intel-rapl:1", 8_000_000)
    assert src.read().system["rapl_energy_uj"] == 5_000_000 + (MAX - 3_000_000)
    set_energy(tree / "intel-rapl:0", 250_000)
    set_energy(tree / "intel-rapl:1", 8_000_001)
    reading = src.read()
    assert reading.system["rapl_energy_uj"] == 5_000_000 + (MAX - 3_000_000) + 250_001
    assert reading.system["rapl_epoch"] == epoch
    assert reading.system["rapl_zones"] == ["package-0", "package-1"]
    assert reading.warnings == []


def test_backwards_without_range_restarts_the_chain(tmp_path):
    root = tmp_path / "pc"
    d = zone(root, "intel-rapl:0", "package-0", 5_000, max_range=None)
    src = rapl.RaplSource(str(root))
    epoch = src.read().system["rapl_epoch"]
    set_energy(d, 1_000)
    reading = src.read()
    assert reading.system["rapl_epoch"] != epoch  # the interval will get null power
    assert reading.system["rapl_energy_uj"] == 0
    assert "went backwards" in reading.warnings[0]
    set_energy(d, 4_000)
    assert src.read().system["rapl_energy_uj"] == 3_000  # and counting resumes


def test_read_failure_warns_and_restarts(tree):
    src = rapl.RaplSource(str(tree))
    epoch = src.read().system["rapl_epoch"]
    (tree / "intel-rapl:1" / "energy_uj").unlink()
    reading = src.read()
    assert reading.system == {}
    assert "cannot read" in reading.warnings[0] and "intel-rapl:1" in reading.warnings[0]
    set_energy(tree / "intel-rapl:1", 6_000_000)
    again = src.read()
    assert again.system["rapl_epoch"] != epoch


# -- probe: why the source is unavailable ---------------------------------------------------------


def test_probe_ok(tree):
    assert rapl.probe(str(tree)) is None


def test_probe_absent_root(tmp_path):
    reason = rapl.probe(str(tmp_path / "nope"))
    assert "does not exist" in reason


def test_probe_no_package_zone(tmp_path):
    root = tmp_path / "pc"
    zone(root, "intel-rapl:0", "psys")
    (root / "intel-rapl").mkdir()
    assert "no RAPL package domain" in rapl.probe(str(root))


def test_probe_root_only(tree, monkeypatch):
    # The tests may run as root, for whom a 0400 file is readable: simulate the kernel's EACCES.
    real_open = open

    def refusing_open(path, *args, **kw):
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(rapl, "open", refusing_open, raising=False)
    reason = rapl.probe(str(tree))
    assert "readable by root only" in reason and "5.10" in reason
    with pytest.raises(SourceError, match="root only"):
        rapl.RaplSource(str(tree))


def test_probe_garbage_counter(tmp_path):
    root = tmp_path / "pc"
    d = zone(root, "intel-rapl:0", "package-0")
    (d / "energy_uj").write_text("lots\n")
    assert "not an integer" in rapl.probe(str(root))


def test_registered_and_reason_shown_here():
    info = by_name("rapl")
    assert info.kind == "augment" and "power" in info.metrics
    reason = unavailable_reason(info)
    if not Path(rapl.DEFAULT_ROOT).exists():  # this machine: no powercap at all
        assert reason is not None and rapl.DEFAULT_ROOT in reason


@pytest.mark.integration
def test_sources_command_lists_rapl():
    out = run_lagwatch("sources", "--json")
    assert out.returncode == 0, out.stderr
    entry = next(s for s in json.loads(out.stdout)["sources"] if s["name"] == "rapl")
    assert entry["available"] is (rapl.probe() is None)
    if not entry["available"]:
        assert entry["reason"]


# -- through the real Sampler --------------------------------------------------------------------


class FakeProcesses:
    """A process source whose CPU counters advance by fixed amounts per read."""

    name = "fake"

    def __init__(self, steps_ns: dict[int, int]) -> None:
        self.steps = steps_ns
        self.reads = 0

    def read(self) -> SourceReading:
        self.reads += 1
        procs = [
            ProcessSample(pid=pid, start_id=1, name=f"p{pid}", cpu_ns=step * self.reads)
            for pid, step in self.steps.items()
        ]
        return SourceReading(processes=procs, system={"cpu_count": 2})

    def close(self) -> None:
        pass


class AdvancingRapl(rapl.RaplSource):
    """The real source; package 0 gains 6 J before each read (a fake tree cannot heat up)."""

    def read(self) -> SourceReading:
        d = Path(self.zones[0].path)
        set_energy(d, int((d / "energy_uj").read_text()) + 6_000_000)
        return super().read()


def test_sampler_splits_package_power_by_cpu(tree):
    procs = FakeProcesses({1: 300_000_000, 2: 100_000_000, 3: 0})
    sampler = Ticker(Sampler([procs, AdvancingRapl(str(tree))], platform="linux"))
    assert sampler.tick() is None
    prev_system = dict(sampler.prev.system)
    ranking = sampler.tick()
    assert ranking is not None
    assert ranking.sources == ["fake", "rapl"]
    assert ranking.energy_source == "rapl-share"
    # 6 J between the two RAPL reads; package power = 6 J / (their time apart).
    dt = (ranking.system["rapl_time_ns"] - prev_system["rapl_time_ns"]) / 1e9
    package = 6.0 / dt
    rows = {r.pid: r for r in ranking.processes}
    # CPU 3:1:0 -> 3/4 and 1/4 of the package (power is rounded to 4 decimals).
    assert rows[1].power_watts == pytest.approx(package * 0.75, abs=1e-4)
    assert rows[2].power_watts == pytest.approx(package * 0.25, abs=1e-4)
    assert rows[3].power_watts == 0.0
    assert ranking.to_json()["energy_source"] == "rapl-share"
