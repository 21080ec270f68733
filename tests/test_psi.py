"""PSI: the parser, the per-interval figures, the source over a fake tree and the real kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lagwatch.sources import psi

CPU = "some avg10=12.50 avg60=3.00 avg300=0.75 total=1000000\n"
IO = (
    "some avg10=1.00 avg60=0.50 avg300=0.10 total=500000\n"
    "full avg10=0.50 avg60=0.20 avg300=0.05 total=250000\n"
)


def test_parse_some_and_full():
    parsed = psi.parse_pressure(IO)
    assert parsed["some"] == {"avg10": 1.0, "avg60": 0.5, "avg300": 0.1, "total": 500000}
    assert parsed["full"]["total"] == 250000


def test_parse_cpu_without_full_line_has_no_full():
    assert "full" not in psi.parse_pressure(CPU)  # absent, not zero (kernels before 5.13)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'some' line"),
        ("half avg10=1 avg60=1 avg300=1 total=1\n", ":1: expected 'some' or 'full'"),
        ("some avg10=1 avg60=1 total=1\n", ":1: missing"),
        ("some avg10=x avg60=1 avg300=1 total=1\n", ":1: avg10 is not a number"),
        ("some avg10=1 avg60=1 avg300=1 total=1\nfull avg10\n", ":2: expected key=value"),
    ],
)
def test_bad_text_names_the_file_and_line(text, message):
    with pytest.raises(ValueError, match="cpu") as err:
        psi.parse_pressure(text, "cpu")
    assert message in str(err.value)


def test_share_of_the_interval_comes_from_the_totals():
    before = psi.parse_pressure(IO)
    after = psi.parse_pressure(IO.replace("total=500000", "total=800000"))
    fig = psi.figures(after, before, elapsed_us=1_000_000)
    assert fig["some_percent"] == 30.0  # 0.3 s stalled in 1 s
    assert fig["full_percent"] == 0.0
    assert fig["some_avg10_percent"] == 1.0 and fig["some_total_us"] == 800000
    first = psi.figures(after, None, None)
    assert first["some_percent"] is None  # no previous reading: unknown, not zero
    went_back = psi.figures(before, after, 1_000_000)
    assert went_back["some_percent"] is None


def _tree(root: Path, cpu_total: int) -> None:
    (root / "pressure").mkdir(exist_ok=True)
    (root / "pressure" / "cpu").write_text(CPU.replace("1000000", str(cpu_total)))
    (root / "pressure" / "io").write_text(IO)
    # memory is absent: that resource says nothing
    cg = root / "cgroup"
    (cg / "user.slice").mkdir(parents=True, exist_ok=True)
    (cg / "cgroup.controllers").write_text("cpu io memory\n")
    (cg / "cpu.pressure").write_text(CPU)
    (cg / "user.slice" / "cpu.pressure").write_text(CPU.replace("1000000", str(cpu_total)))
    (cg / "not-a-cgroup").write_text("")


def test_source_over_a_fake_tree(tmp_path: Path):
    _tree(tmp_path, 1_000_000)
    source = psi.PsiSource(root=str(tmp_path / "pressure"), cgroup_root=str(tmp_path / "cgroup"))
    first = source.read().system
    assert set(first["pressure"]) == {"cpu", "io"}
    assert first["pressure"]["cpu"]["some_percent"] is None
    assert first["pressure_cgroups"]["user.slice"]["cpu"]["some_avg10_percent"] == 12.5
    _tree(tmp_path, 1_000_000 + 10**9)  # stalled far longer than the interval: capped
    second = source.read().system
    assert second["pressure"]["cpu"]["some_percent"] == 100.0
    assert second["pressure_cgroups"]["user.slice"]["cpu"]["some_percent"] == 100.0


def test_a_garbled_file_is_a_warning_not_a_failure(tmp_path: Path):
    _tree(tmp_path, 1)
    (tmp_path / "pressure" / "io").write_text("garbage\n")
    reading = psi.PsiSource(root=str(tmp_path / "pressure"), cgroups=False).read()
    assert "io" not in reading.system["pressure"]
    assert any("io:1" in w for w in reading.warnings)


def test_probe_says_why_psi_is_absent(tmp_path: Path):
    reason = psi.probe(str(tmp_path / "nope"))
    assert reason is not None
    assert "4.20" in reason or "Linux only" in reason


@pytest.mark.skipif(not os.path.isdir("/proc/pressure"), reason="this kernel has no PSI")
def test_real_kernel():
    source = psi.PsiSource()
    source.read()
    pressure = source.read().system["pressure"]
    assert {"cpu", "memory", "io"} <= set(pressure)
    for figures in pressure.values():
        assert 0.0 <= figures["some_percent"] <= 100.0
        assert figures["some_total_us"] >= 0


def test_sources_say_psi_is_absent_on_macos(monkeypatch):
    from lagwatch.sources import registry

    monkeypatch.setenv("LAGWATCH_PLATFORM", "macos")
    reason = registry.unavailable_reason(registry.by_name("psi"))
    assert reason is not None and "Linux only" in reason and "memorystatus" in reason
    tcp = registry.by_name("tcp-diag")
    assert "UDP is not counted" in tcp.description
