"""The `top` and `powermetrics` live sources, driven by fake executables that replay their
output formats (written here into tmp_path; they run on Linux). Each fake prints what the test
gives it, waiting for a gate file before each later sample, so the test decides when a new
sample exists and waits on conditions with deadlines, never on sleeps."""

from __future__ import annotations

import json
import os
import plistlib
import sys
import time
from collections.abc import Callable

import pytest

from lagwatch.energy_models import PmenergyWeights
from lagwatch.model import ProcessSample
from lagwatch.sampler import Sampler
from lagwatch.sources import powermetrics as pm_live
from lagwatch.sources import registry, top_live
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import Backoff
from lagwatch.ticker import Ticker

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX processes")

M = 1 << 20
DEADLINE_S = 30.0

FAKE = """\
import json, os, sys, time
spec = json.loads({spec!r})
if spec.get("argv_file"):
    with open(spec["argv_file"], "w") as fh:
        json.dump(sys.argv[1:], fh)
out = sys.stdout.buffer
for i, chunk in enumerate(spec["chunks"]):
    gate = spec["gates"].get(str(i))
    while gate and not os.path.exists(gate):
        time.sleep(0.01)
    out.write(chunk.encode("latin-1"))
    out.flush()
if spec.get("stderr"):
    sys.stderr.write(spec["stderr"])
    sys.stderr.flush()
if spec.get("exit") is not None:
    sys.exit(spec["exit"])
while True:
    time.sleep(1)
"""


def fake(tmp_path, name: str, chunks: list[bytes], gated: bool = True, **spec) -> tuple[str, list]:
    """Write a fake executable printing ``chunks``; chunk i > 0 waits for gates[i-1]."""
    gates = [str(tmp_path / f"{name}.go{i}") for i in range(1, len(chunks))]
    body = {
        "chunks": [c.decode("latin-1") for c in chunks],
        "gates": {str(i): g for i, g in enumerate(gates, start=1)} if gated else {},
        **spec,
    }
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n" + FAKE.format(spec=json.dumps(body)))
    path.chmod(0o755)
    return str(path), gates


def open_gate(gate: str) -> None:
    with open(gate, "w"):
        pass


def until(what: Callable[[], object], message: str) -> object:
    """Call ``what`` until it returns something truthy (it may block itself), or fail."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        result = what()
        if result:
            return result
    pytest.fail(f"timed out waiting for {message}")


def raises_soon(read: Callable[[], object]) -> SourceError:
    def attempt():
        try:
            read()
        except SourceError as exc:
            return exc
        return None

    return until(attempt, "SourceError")  # type: ignore[return-value]


# --- top: tests/test_top_source.py (an augmenting source since issue 11) ------------------------


# --- powermetrics ------------------------------------------------------------------------------


def pm_doc(pid: int, energy: float, rx: int, tx: int, read: int, idle: int) -> bytes:
    return plistlib.dumps(
        {
            "is_delta": True,
            "elapsed_ns": 1_000_000_000,
            "coalitions": [
                {
                    "id": 5,
                    "name": "com.example",
                    "tasks": [
                        {
                            "pid": pid,
                            "name": "worker",
                            "interval_ns": 1_000_000_000,
                            "cputime_ns": 100_000_000,
                            "cputime_ms_per_s": 100.0,
                            "idle_wakeups": idle,
                            "idle_wakeups_per_s": float(idle),
                            "diskio_bytesread": read,
                            "diskio_byteswritten": 0,
                            "pageins": 2,
                            "bytes_received": rx,
                            "bytes_sent": tx,
                            "energy_impact": energy,
                            "energy_impact_per_s": energy,
                        }
                    ],
                }
            ],
            "all_tasks": {"pid": -2, "name": "ALL_TASKS", "cputime_ms_per_s": 300.0},
            "processor": {
                "cpu_power": 800.0,
                "gpu_power": 50.0,
                "ane_power": 0.0,
                "combined_power": 850.0,
            },
        }
    )


def pm_source(argv, **kw):
    return pm_live.PowermetricsSource(argv=argv, weights=PmenergyWeights(), **kw)


def test_powermetrics_command_line():
    argv = pm_live.command(0.5, "/usr/bin/powermetrics")
    assert argv[:3] == ["/usr/bin/powermetrics", "--samplers", "tasks,cpu_power"]
    assert argv[3:6] == ["--show-process-energy", "--show-process-io", "--show-process-netstats"]
    # -b 0: no output buffer, so every sample reaches the pipe when it is written.
    assert argv[6:] == ["-b", "0", "-f", "plist", "-i", "500"]


def test_powermetrics_asks_for_the_sampler_that_reports_power():
    """CPU/GPU/ANE/Combined Power (Apple Silicon) and package power (Intel) are printed by the
    cpu_power sampler ("**** Processor usage ****"); `--samplers tasks` alone prints only the
    task table (shared captures: firefoxdocs tasks-only vs power-server tasks + cpu_power)."""
    argv = pm_live.command(1.0)
    samplers = argv[argv.index("--samplers") + 1].split(",")
    assert "tasks" in samplers and "cpu_power" in samplers


def test_powermetrics_patches_energy_counters_and_system_power(tmp_path):
    first = pm_doc(10, 12.5, rx=1000, tx=500, read=4096, idle=3)
    second = b"\0" + pm_doc(10, 20.0, rx=2000, tx=0, read=0, idle=1)
    argv_file = tmp_path / "pm.argv"
    exe, (gate,) = fake(tmp_path, "powermetrics", [first, second], argv_file=str(argv_file))
    src = pm_live.PowermetricsSource(executable=exe, interval_s=1.0, weights=PmenergyWeights())
    try:
        reading = until(lambda: (r := src.read()).patches and r, "powermetrics' first sample")
        assert json.loads(argv_file.read_text()) == pm_live.command(1.0, exe)[1:]
        patch = reading.patches[10]
        rates = patch["rates"]
        # powermetrics' own figure is the energy_impact; lagwatch's model is kept beside it:
        # 100 ms of CPU at default QoS + 3 package-idle wakeups x 200 us, over 1 s.
        assert rates["energy_impact"] == rates["energy_impact_powermetrics"] == 12.5
        assert rates["energy_impact_modelled"] == pytest.approx(10.0 + 3 * 2e-4 * 100)
        assert (patch["net_bytes"], patch["disk_read_bytes"], patch["pageins"]) == (1500, 4096, 2)
        assert patch["wakeups"] == 3 and "gpu_ns" not in patch
        assert reading.system == {
            "cpu_power_watts": 0.8,
            "gpu_power_watts": 0.05,
            "ane_power_watts": 0.0,
            "combined_power_watts": 0.85,
            "powermetrics_interval_s": 1.0,
        }
        assert -2 not in reading.patches
        open_gate(gate)
        patch = until(lambda: (p := src.read().patches[10])["net_bytes"] == 3500 and p, "sample 2")
        # Counters add up the per-interval amounts; rates are the newest sample's.
        assert (patch["disk_read_bytes"], patch["pageins"], patch["wakeups"]) == (4096, 4, 4)
        assert patch["rates"]["energy_impact"] == 20.0
    finally:
        src.close()


def test_powermetrics_intel_package_power_reaches_the_system_figures(tmp_path):
    """An Intel Mac's plist processor dict carries ``package_watts`` (watts); it must come out
    as ``package_power_watts`` like the text format's "package power" line, not be dropped."""
    d = plistlib.loads(pm_doc(10, 1.0, 0, 0, 0, 0))
    d["processor"] = {"package_watts": 8.53}
    exe, _ = fake(tmp_path, "powermetrics", [plistlib.dumps(d)], gated=False)
    src = pm_live.PowermetricsSource(executable=exe, interval_s=1.0, weights=PmenergyWeights())
    try:
        reading = until(lambda: (r := src.read()).patches and r, "powermetrics' sample")
        assert reading.system.get("package_power_watts") == 8.53
    finally:
        src.close()


class FakePrimary:
    """A process source with one process and counters, as libproc would give."""

    name = "fakeproc"

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> SourceReading:
        self.reads += 1
        sample = ProcessSample(pid=10, start_id=1, name="worker", cpu_ns=self.reads * 10**8,
                               memory_bytes=50 * M)  # fmt: skip
        return SourceReading(processes=[sample], system={"memory_total_bytes": 16 << 30})

    def close(self) -> None:
        pass


def test_powermetrics_energy_in_the_ranking_and_its_death_is_survived(tmp_path):
    exe, (gate,) = fake(
        tmp_path, "powermetrics", [pm_doc(10, 42.0, 0, 0, 0, 0), b""],
        stderr="powermetrics: killed for the test\n", exit=1,
    )  # fmt: skip
    source = pm_source([exe], backoff=Backoff(first_s=0.05))
    sampler = Ticker(Sampler([FakePrimary(), source], platform="macos"))
    try:

        def with_energy():
            ranking = sampler.tick()
            return ranking if ranking and ranking.processes[0].energy_impact == 42.0 else None

        ranking = until(with_energy, "powermetrics' energy in a ranking")
        assert ranking.energy_source == "powermetrics"
        assert ranking.sources == ["fakeproc", "powermetrics"]
        assert ranking.system["combined_power_watts"] == 0.85
        open_gate(gate)  # the fake now exits, and each run after it prints a sample and exits
        said: list[str] = []

        def restarted():
            ranking = sampler.tick()
            if ranking is not None:
                said.extend(ranking.warnings)
            return source.restarts >= 1 and ranking is not None and ranking.warnings

        until(restarted, "the dead powermetrics to be restarted")
        death = next(w for w in said if "restarting in" in w)
        assert "exited with status 1" in death and "killed for the test" in death
        assert any("powermetrics restarted (restart 1)" in w for w in said)
        assert sampler.dropped == []  # lagwatch goes on with the same sources
        ranking = until(with_energy, "energy from the restarted powermetrics")
        assert ranking.sources == ["fakeproc", "powermetrics"]
    finally:
        sampler.close()


def test_powermetrics_garbage_output_is_reported(tmp_path):
    bad = b"<?xml version='1.0'?>\n<plist><dict><key>x</key><<<</dict></plist>\n\0"
    exe, _ = fake(tmp_path, "powermetrics", [bad * 3], gated=False)
    src = pm_source([exe])
    try:
        exc = raises_soon(src.read)
        assert "unreadable" in str(exc)
    finally:
        src.close()


def test_powermetrics_not_root(tmp_path):
    exe, _ = fake(tmp_path, "powermetrics", [b""], gated=False,
                  stderr="powermetrics must be invoked as the superuser\n", exit=1)  # fmt: skip
    src = pm_source([exe])
    try:
        exc = raises_soon(src.read)
        assert "status 1" in str(exc) and "superuser" in str(exc)
    finally:
        src.close()


def test_powermetrics_silence_is_reported(tmp_path):
    exe, _ = fake(tmp_path, "powermetrics", [b""], gated=False)
    src = pm_source([exe], first_sample_timeout_s=0.3)
    try:
        exc = raises_soon(src.read)  # (before the deadline, "nothing yet" is no error)
        assert "no sample" in str(exc)
    finally:
        src.close()


def test_registered_as_the_issue_says():
    top = registry.by_name("top")
    assert (top.kind, top.platforms, top.needs_root) == ("augment", ("darwin",), False)
    pm = registry.by_name("powermetrics")
    assert (pm.kind, pm.platforms, pm.needs_root) == ("augment", ("darwin",), True)
    if sys.platform != "darwin":
        assert top_live.probe() is not None and pm_live.probe() is not None
    assert os.path.basename(top_live.TOP) == "top"


def test_powermetrics_nothing_yet_is_not_an_error(tmp_path):
    exe, _ = fake(tmp_path, "powermetrics", [b""], gated=False)
    src = pm_source([exe], first_sample_timeout_s=600)
    try:
        reading = src.read()
        assert reading.patches == {} and reading.system == {} and reading.warnings == []
    finally:
        src.close()


def test_powermetrics_totals_bookkeeping():
    from lagwatch.parsers.powermetrics_model import PmSample, PmTask

    totals = pm_live.PowermetricsTotals()
    sample = PmSample(index=0, line=1, kind="plist", is_delta=True,
                      tasks=[PmTask(pid=7, name="a", pageins=3, bytes_received=10)])  # fmt: skip
    totals.add(sample)
    totals.add(sample)
    assert totals.by_pid[7].counters == {"pageins": 6, "net_bytes": 20}
    # A summary-like sample (not amounts over one interval) is not added.
    totals.add(PmSample(index=1, line=1, kind="plist", is_delta=False, tasks=sample.tasks))
    assert totals.by_pid[7].counters["pageins"] == 6
    # The pid reused by another command starts afresh.
    totals.add(PmSample(index=2, line=1, kind="plist", is_delta=True,
                        tasks=[PmTask(pid=7, name="b", pageins=1)]))  # fmt: skip
    assert totals.by_pid[7].name == "b" and totals.by_pid[7].counters == {"pageins": 1}
