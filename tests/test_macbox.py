"""The Mac-in-a-box (issue 11, item 4): the real `lagwatch` CLI, run on Linux as if on a Mac
through lagwatch.platform_seam, against a fake libSystem, a fake IOKit + CoreFoundation and the
fake `top`, `nettop` and `powermetrics` (tests/macbox, docs/development.md).

Every run checks the README's JSON contract and that the fake IOKit saw no misuse and no leak.
Rates depend on timing on a loaded machine, so the assertions are about ranks, dominant
resources, which figures are known and which are null, never about exact rates."""

from __future__ import annotations

import json
import os
import plistlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, lagwatch_cmd, run_lagwatch
from lagwatch import platform_seam
from lagwatch.sources import registry
from macbox import Libraries, MacBox, Proc, build_libraries

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX processes"),
]

DEADLINE_S = 60.0
KERNEL, LAUNCHD, WINDOWSERVER, SAFARI, BLENDER, IDLE = 0, 1, 88, 640, 650, 660
ROOT = os.geteuid() == 0  # powermetrics, real or fake, runs only as root


def machine() -> list[Proc]:
    return [
        Proc(KERNEL, "kernel_task", uid=0, user="root", cpu_percent=8.0, threads=300),
        Proc(LAUNCHD, "launchd", uid=0, user="root", cpu_percent=0.5),
        # Another user's process: libproc may not read it without root (restricted).
        Proc(WINDOWSERVER, "WindowServer", uid=88, user="_windowserver", cpu_percent=45.0,
             power=52.3, idlew_per_s=120, mem_bytes=900 << 20, threads=22, state="running",
             gpu_ns_per_read=150_000_000, energy_impact_per_s=55.0),
        Proc(SAFARI, "Safari", cpu_percent=15.0, threads=30, net_in_per_s=400_000,
             net_out_per_s=20_000, energy_impact_per_s=25.0),
        Proc(BLENDER, "Blender", cpu_percent=4.0, gpu_ns_per_read=800_000_000,
             energy_impact_per_s=90.0),
        Proc(IDLE, "idle_helper"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Libraries:
    return build_libraries(tmp_path_factory.mktemp("macbox-libs"))


@pytest.fixture
def mac(tmp_path: Path, libs: Libraries) -> MacBox:
    return MacBox(tmp_path / "mac", libs, machine())


def lagwatch(mac: MacBox, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    proc = run_lagwatch(*args, env=mac.env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# -- the README's JSON contract -------------------------------------------------------------------


def contract() -> tuple[dict[str, Any], dict[str, Any]]:
    """The example object of README "JSON contract" (top level, one process)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## JSON contract", 1)[1]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    return example, example["processes"][0]


def _same_kind(value: Any, like: Any) -> bool:
    if value is None or like is None:
        return True  # missing data is null, and null in the example says nothing of the type
    if isinstance(like, bool) or isinstance(value, bool):
        return type(value) is type(like)
    if isinstance(like, int | float):
        return isinstance(value, int | float)
    return type(value) is type(like)


def assert_contract(ranking: dict[str, Any]) -> None:
    top, process = contract()
    # Every documented key, in the documented order; new keys may only be added.
    assert [k for k in ranking if k in top] == list(top)
    for key, like in top.items():
        if key != "processes":
            assert _same_kind(ranking[key], like), (key, ranking[key])
    assert ranking["processes"], "no processes"
    for row in ranking["processes"]:
        assert [k for k in row if k in process] == list(process)
        for key, like in process.items():
            assert _same_kind(row[key], like), (row["pid"], key, row[key])


def assert_iokit_clean(mac: MacBox, reads: int) -> None:
    """The fake IOKit saw lagwatch follow CoreFoundation's ownership rules."""
    report = mac.iokit_report()
    assert report["errors"] == 0, report["last_error"]  # no double release, no use after free
    assert report["io_outstanding"] == 0  # every io_object_t released
    assert report["reads"] >= reads
    # Between reads and at exit lagwatch holds no property value and no matching dictionary,
    # only the property-name strings it keeps (cached once, not one per read).
    assert report["cf_other_outstanding_max"] == 0
    assert report["cf_outstanding"] <= 8


# -- sources -----------------------------------------------------------------------------------


def test_sources_on_the_box(mac: MacBox) -> None:
    out = json.loads(lagwatch(mac, "sources", "--json").stdout)
    assert out["platform"] == "darwin"
    status = {s["name"]: s for s in out["sources"]}
    assert status["libproc"]["status"] == "in use"
    assert str(mac.libs.libsystem) in status["libproc"]["detail"]
    assert "rusage v6" in status["libproc"]["detail"]
    assert status["iokit-gpu"]["status"] == "in use"
    assert status["iokit-gpu"]["detail"] == "Apple M1 Pro; 2 GPU clients now"
    assert status["nettop"]["status"] == "in use"
    assert status["memorystatus"]["status"] == "in use"
    # As root libproc reads every process and top stands by; without root top augments it.
    assert status["top"]["status"] == ("standby" if ROOT else "in use")
    if ROOT:
        assert status["powermetrics"]["status"] == "in use"
    else:
        assert status["powermetrics"]["reason"] == "needs root (run with sudo)"
    for linux_only in ("procfs", "drm-fdinfo", "rapl"):
        assert status[linux_only]["reason"] == "not for this platform (darwin)"
    assert out["visibility"] == {
        "source": "libproc",
        "processes": 6,
        "restricted": 3,
        "sweep": None,
    }
    assert_iokit_clean(mac, reads=1)


def test_sources_reports_a_missing_tool(mac: MacBox) -> None:
    (mac.bin / "nettop").unlink()
    out = json.loads(lagwatch(mac, "sources", "--json").stdout)
    nettop = next(s for s in out["sources"] if s["name"] == "nettop")
    assert nettop["reason"] == f"nettop not found at {mac.bin / 'nettop'}"


# -- top -----------------------------------------------------------------------------------------


def test_top_json_on_the_box(mac: MacBox) -> None:
    lines = lagwatch(mac, "top", "--json", "--count", "2", "--interval", "1").stdout.splitlines()
    assert len(lines) == 2
    rankings = [json.loads(line) for line in lines]
    for ranking in rankings:
        assert_contract(ranking)
        assert ranking["platform"] == "macos"
        assert ranking["process_count"] == 6 and ranking["restricted_count"] == 3
        assert ranking["sources"][:3] == ["libproc", "iokit-gpu", "nettop"]
        assert ("powermetrics" in ranking["sources"]) is ROOT
    last = rankings[-1]
    rows = {row["pid"]: row for row in last["processes"]}
    assert set(rows) == {KERNEL, LAUNCHD, WINDOWSERVER, SAFARI, BLENDER, IDLE}
    # GPU time comes through the fake IORegistry, for a restricted process too.
    blender, ws = rows[BLENDER], rows[WINDOWSERVER]
    assert blender["gpu_percent"] > ws["gpu_percent"] > 0
    assert blender["dominant"] == "gpu"
    assert rows[SAFARI]["gpu_percent"] is None  # no GPU client: unknown, not zero
    # Another user's process stays listed; what libproc may not read is null, not zero.
    assert ws["restricted"] is True and ws["name"] == "WindowServer"
    assert rows[SAFARI]["restricted"] is False and rows[SAFARI]["cpu_percent"] > 0
    assert rows[SAFARI]["cpu_percent"] > rows[BLENDER]["cpu_percent"]
    # Network from the fake nettop (on its pseudo-terminal): only Safari has any.
    assert rows[SAFARI]["net_bytes_per_s"] > 0
    # nettop does not list Blender (no socket): unknown, not zero. As root, powermetrics's
    # task table says it moved 0 bytes, a measured zero, once two of its samples have come in
    # (on a loaded machine that can be by the second ranking).
    assert rows[BLENDER]["net_bytes_per_s"] in ((None, 0.0) if ROOT else (None,))
    if ROOT:  # powermetrics runs; until its first sample arrives the model estimates
        assert last["energy_source"] in ("pmenergy", "powermetrics")
    else:  # top augments libproc: its POWER is every process's Energy Impact
        assert last["energy_source"] == "top-power"
        assert ws["energy_impact"] == pytest.approx(52.3)
    if last["energy_source"] == "powermetrics":  # the fake's own figures, as Apple's
        assert rows[BLENDER]["energy_impact"] == 90.0
        assert rows[SAFARI]["energy_impact"] == 25.0
    assert_iokit_clean(mac, reads=2)
    nettop = mac.starts("nettop")
    assert len(nettop) == 1 and nettop[0]["stdout_tty"] is True


def test_board_id_and_pmenergy_weights_come_through_the_box(tmp_path: Path, libs) -> None:
    """sources/macos_machine.py reads the board-id from the fake IORegistry; the model then weighs
    GPU time with that Mac's plist (kgpu_time 3.4), which the built-in default sets to 0."""
    weights = tmp_path / "pmenergy"
    weights.mkdir()
    constants = {"kcpu_time": 1.0, "kcpu_wakeups": 2.0e-4, "kqos_default": 1.0,
                 "kgpu_time": 3.4}  # fmt: skip
    (weights / "Mac-7BA5B2DFE22DDD8C.plist").write_bytes(
        plistlib.dumps({"energy_constants": constants})
    )
    models = {}
    for board_id in ("Mac-7BA5B2DFE22DDD8C", None):
        mac = MacBox(tmp_path / f"mac-{board_id}", libs, machine(), board_id=board_id,
                     pmenergy_dir=weights)  # fmt: skip
        out = lagwatch(mac, "top", "--json", "--count", "1", "--interval", "1",
                       "--source", "libproc,iokit-gpu").stdout  # fmt: skip
        ranking = json.loads(out)
        assert ranking["energy_source"] == "pmenergy"
        rows = {row["pid"]: row for row in ranking["processes"]}
        models[board_id] = (rows[BLENDER], rows[SAFARI])
        assert_iokit_clean(mac, reads=1)
    (blender, safari), (blender_default, safari_default) = models.values()
    # 80 % GPU at 3.4 outweighs 4 % CPU: Blender now costs more than Safari's 15 % CPU.
    assert blender["energy_impact_model"] > safari["energy_impact_model"]
    # Without the board's plist, GPU time weighs nothing and the order is the CPU's.
    assert blender_default["energy_impact_model"] < safari_default["energy_impact_model"]


def test_restricted_processes_carry_cpu_memory_and_energy_from_top(tmp_path, libs) -> None:
    """The default choice of a user (not root): `top` augments libproc, and the processes
    libproc may not read (another user's) get top's CPU, footprint, threads, state, wakeups and
    POWER. They stay restricted: nothing says what they read from disk."""
    mac = MacBox(tmp_path / "mac", libs, machine(), as_user=True)
    out = json.loads(lagwatch(mac, "sources", "--json").stdout)
    status = {s["name"]: s for s in out["sources"]}
    assert status["top"]["status"] == "in use"
    assert status["powermetrics"]["reason"] == "needs root (run with sudo)"
    lines = lagwatch(mac, "top", "--json", "--count", "3", "--interval", "1").stdout.splitlines()
    last = json.loads(lines[-1])
    assert_contract(last)
    assert "top" in last["sources"] and "powermetrics" not in last["sources"]
    assert last["energy_source"] == "top-power"
    assert last["restricted_count"] == 3
    rows = {row["pid"]: row for row in last["processes"]}
    ws = rows[WINDOWSERVER]
    assert ws["restricted"] is True  # still: top cannot say what it reads from disk
    assert ws["cpu_percent"] == pytest.approx(45.0, abs=0.05)  # top's %CPU, as printed
    assert ws["memory_bytes"] == 900 << 20
    assert ws["threads"] == 22 and ws["state"] == "running"
    assert ws["wakeups_per_s"] > 0  # IDLEW counted between top's samples
    assert ws["energy_impact"] == pytest.approx(52.3)  # top's POWER
    assert ws["disk_read_bytes_per_s"] is None and ws["disk_write_bytes_per_s"] is None
    assert ws["dominant"] == "cpu"
    assert rows[KERNEL]["restricted"] is True
    assert rows[KERNEL]["cpu_percent"] == pytest.approx(8.0, abs=0.05)
    assert rows[KERNEL]["memory_bytes"] == 50 << 20 and rows[KERNEL]["threads"] == 300
    # A process libproc reads keeps libproc's own figures (measured, not top's rounding).
    assert rows[SAFARI]["restricted"] is False and rows[SAFARI]["cpu_percent"] > 0
    assert rows[SAFARI]["disk_read_bytes_per_s"] is not None
    # top's POWER stands for Energy Impact: WindowServer ranks first by it.
    by_energy = sorted(rows.values(), key=lambda r: -(r["energy_impact"] or 0))
    assert by_energy[0]["pid"] == WINDOWSERVER
    (start,) = mac.starts("top")
    assert start["argv"][:2] == ["-l", "0"]  # one long-lived top
    assert_iokit_clean(mac, reads=3)


# -- the daemon ------------------------------------------------------------------------------------


def history(mac: MacBox, db: Path) -> list[dict[str, Any]]:
    proc = lagwatch(mac, "history", "--db", str(db), "--format", "json", "--since", "1h")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def run_daemon(
    mac: MacBox, enough: Callable[[list[dict[str, Any]]], bool], *args: str
) -> list[dict[str, Any]]:
    """Run `lagwatch daemon` on the box until the history it records is ``enough``, stop it
    with SIGTERM (it must exit 0), and return the recorded ticks."""
    db = mac.root / "history.db"
    log = open(mac.root / "daemon.log", "wb")  # noqa: SIM115 - closed in finally
    daemon = subprocess.Popen(
        [*lagwatch_cmd(), "daemon", "--db", str(db), "--interval", "0.5", *args],
        env=dict(os.environ, **mac.env), stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:

        def recorded() -> bool:
            assert daemon.poll() is None, (mac.root / "daemon.log").read_text()
            return db.exists() and enough(history(mac, db))

        wait_until(recorded, "the daemon to record enough ticks")
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=30)
        log.close()
    assert status == 0, (mac.root / "daemon.log").read_text()
    ticks = history(mac, db)
    for tick in ticks:
        assert_contract(tick)
        assert tick["platform"] == "macos"
    return ticks


def rows_of(tick: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["pid"]: row for row in tick["processes"]}


def assert_tools_stopped(mac: MacBox, tools: tuple[str, ...]) -> None:
    """Each tool was started once and is gone with the daemon."""
    for tool in tools:
        (start,) = mac.starts(tool)
        with pytest.raises(ProcessLookupError):
            os.kill(start["pid"], 0)


def test_daemon_on_the_box_records_gpu_network_and_restricted_processes(mac: MacBox) -> None:
    def enough(ticks: list[dict[str, Any]]) -> bool:
        done = len(ticks) >= 4 and any(t["sources"][-1:] != ["libproc"] for t in ticks)
        if ROOT:  # wait for powermetrics' first sample too
            done = done and any(t["energy_source"] == "powermetrics" for t in ticks)
        return done

    ticks = run_daemon(mac, enough)
    gpu = [t for t in ticks if "iokit-gpu" in t["sources"]]
    assert gpu, "no tick read the IORegistry"
    for tick in gpu:
        rows = rows_of(tick)
        if BLENDER in rows and rows[BLENDER]["gpu_percent"]:
            assert rows[BLENDER]["dominant"] == "gpu"
    assert any(r["pid"] == BLENDER and r["gpu_percent"] for t in gpu for r in t["processes"])
    # The restricted WindowServer is recorded (its GPU is known whatever else is).
    assert any(r["pid"] == WINDOWSERVER and r["restricted"] for t in ticks for r in t["processes"])
    if ROOT:
        pm = [t for t in ticks if t["energy_source"] == "powermetrics"]
        assert rows_of(pm[-1])[BLENDER]["energy_impact"] == 90.0
    assert_iokit_clean(mac, reads=4)
    assert_tools_stopped(mac, ("nettop", "powermetrics") if ROOT else ("nettop", "top"))


def test_daemon_as_a_user_records_restricted_processes_with_cpu_from_top(
    tmp_path: Path, libs: Libraries
) -> None:
    """A user's daemon (the default choice without root): the history shows WindowServer,
    which libproc may not read, with top's CPU, footprint and Energy Impact."""
    mac = MacBox(tmp_path / "mac", libs, machine(), as_user=True)

    def ws_with_cpu(tick: dict[str, Any]) -> dict[str, Any] | None:
        ws = rows_of(tick).get(WINDOWSERVER)
        return ws if ws is not None and ws["cpu_percent"] is not None else None

    ticks = run_daemon(mac, lambda ticks: sum(1 for t in ticks if ws_with_cpu(t)) >= 2)
    for tick in ticks:
        assert "top" in tick["sources"] and "powermetrics" not in tick["sources"]
    measured = [t for t in ticks if ws_with_cpu(t)]
    for tick in measured:
        ws = rows_of(tick)[WINDOWSERVER]
        assert ws["restricted"] is True and ws["disk_read_bytes_per_s"] is None
        assert ws["cpu_percent"] == pytest.approx(45.0, abs=0.05)
        assert ws["memory_bytes"] == 900 << 20
    last = measured[-1]
    assert last["energy_source"] == "top-power"
    assert rows_of(last)[WINDOWSERVER]["energy_impact"] == pytest.approx(52.3)
    assert_iokit_clean(mac, reads=2)
    assert_tools_stopped(mac, ("nettop", "top"))


@pytest.mark.skipif(not ROOT, reason="powermetrics (real or fake) runs only as root")
def test_powermetrics_energy_impact_wins_over_tops_power_as_root(mac: MacBox) -> None:
    """As root with top forced in: Apple's own Energy Impact (powermetrics, merged first) wins
    over top's POWER for every process, while top still fills WindowServer's CPU."""

    def delivered(tick: dict[str, Any]) -> bool:
        # Only powermetrics knows Safari's 25.0 (top's POWER for it is 0.0).
        return rows_of(tick).get(SAFARI, {}).get("energy_impact") == 25.0

    forced = "libproc,iokit-gpu,nettop,powermetrics,top"
    ticks = run_daemon(mac, lambda ticks: any(delivered(t) for t in ticks), "--source", forced)
    tick = next(t for t in reversed(ticks) if delivered(t))
    assert tick["energy_source"] == "powermetrics"
    assert "top" in tick["sources"]
    rows = rows_of(tick)
    assert rows[WINDOWSERVER]["energy_impact"] == 55.0  # Apple's figure, not top's 52.3
    assert rows[BLENDER]["energy_impact"] == 90.0
    assert rows[WINDOWSERVER]["cpu_percent"] is not None
    assert_tools_stopped(mac, ("nettop", "powermetrics", "top"))


# -- the seam itself -------------------------------------------------------------------------------


def test_the_seam_is_the_real_machine_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in platform_seam.describe():
        monkeypatch.delenv(name)
    assert platform_seam.sys_platform() == sys.platform
    assert platform_seam.libsystem_path() == "/usr/lib/libSystem.B.dylib"
    assert platform_seam.iokit_path() == "/System/Library/Frameworks/IOKit.framework/IOKit"
    assert platform_seam.corefoundation_path().endswith("CoreFoundation.framework/CoreFoundation")
    assert platform_seam.tool_path("nettop") == "/usr/bin/nettop"
    assert platform_seam.pmenergy_dir() == "/usr/share/pmenergy"
    assert platform_seam.describe() == {}


def test_as_user_only_changes_the_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """LAGWATCH_AS_USER makes root choose sources as a user would; it never makes a user root."""
    monkeypatch.setenv("LAGWATCH_PLATFORM", "macos")
    monkeypatch.delenv("LAGWATCH_AS_USER", raising=False)
    assert platform_seam.chooses_as_root() is ROOT
    assert registry.is_root() is ROOT
    monkeypatch.setenv("LAGWATCH_AS_USER", "1")
    assert platform_seam.chooses_as_root() is False and registry.is_root() is False
    assert platform_seam.describe()["LAGWATCH_AS_USER"] == "1"
    powermetrics = registry.by_name("powermetrics")
    assert registry.unavailable_reason(powermetrics) == "needs root (run with sudo)"
    assert registry.not_by_default(registry.by_name("top")) is None
    monkeypatch.setenv("LAGWATCH_AS_USER", "0")  # off, as when unset
    assert platform_seam.chooses_as_root() is ROOT


def test_the_seam_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAGWATCH_PLATFORM", "macos")
    monkeypatch.setenv("LAGWATCH_IOKIT", "/x/libfake.so")
    monkeypatch.delenv("LAGWATCH_COREFOUNDATION", raising=False)
    monkeypatch.setenv("LAGWATCH_TOOL_DIR", str(tmp_path))
    assert (platform_seam.sys_platform(), platform_seam.platform_name()) == ("darwin", "macos")
    assert platform_seam.corefoundation_path() == "/x/libfake.so"  # one library for both
    assert platform_seam.tool_path("top") == str(tmp_path / "top")
    assert platform_seam.tool_missing("top") == f"top not found at {tmp_path / 'top'}"
    assert registry.runs_here(registry.by_name("nettop"))
    assert not registry.runs_here(registry.by_name("procfs"))
    monkeypatch.setenv("LAGWATCH_PLATFORM", "linux")
    assert platform_seam.platform_name() == "linux"
    assert not registry.runs_here(registry.by_name("nettop"))
