"""The `top` augmenting source (sources/top_live.py): a fake `top` replays logging-mode blocks
laid out as Apple's top writes them (bytes-padded columns, tests/fixtures/top/README.md), waiting
for a gate file before each later block, so the test decides when a new sample exists; waits are
on conditions with deadlines, never on sleeps."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from lagwatch import platform_seam
from lagwatch.cli import sources_cmd
from lagwatch.model import APPLIES_TO, STAND_IN_RATES, ProcessSample, merge_patch
from lagwatch.sampler import Sampler
from lagwatch.sources import registry, top_live
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import Backoff
from lagwatch.ticker import Ticker

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX processes")

M = 1 << 20
DEADLINE_S = 30.0
# Every -stats key top accepts (stat_map in top's preferences.c, tag top-144).
TOP_STAT_KEYS = frozenset({
    "pid", "command", "cpu", "cpu_me", "cpu_others", "boosts", "csw", "time", "threads", "th",
    "ports", "prt", "mregion", "mreg", "mregs", "reg", "mem", "rsize", "psize", "rprvt", "purg",
    "compress", "cmprs", "compressed", "vsize", "vprvt", "instrs", "cycles", "pgrp", "ppid",
    "state", "pstate", "uid", "wq", "#wq", "workqueue", "faults", "fault", "cow", "cow_faults",
    "user", "username", "msgsent", "msgrecv", "sysbsd", "sysmach", "pageins", "kprvt", "kshrd",
    "jetpri", "idlew", "power",
})  # fmt: skip

FAKE = """\
import json, os, sys, time
spec = json.loads({spec!r})
out = sys.stdout.buffer
for i, chunk in enumerate(spec["chunks"]):
    gate = spec["gates"].get(str(i))
    while gate and not os.path.exists(gate):
        time.sleep(0.01)
    out.write(bytes.fromhex(chunk))
    out.flush()
if spec.get("exit") is not None:
    sys.exit(spec["exit"])
while True:
    time.sleep(1)
"""


def fake_top(tmp_path, chunks: list[bytes], **spec: Any) -> tuple[str, list[str]]:
    gates = [str(tmp_path / f"top.go{i}") for i in range(1, len(chunks))]
    body = {"chunks": [c.hex() for c in chunks],
            "gates": {str(i): g for i, g in enumerate(gates, start=1)}, **spec}  # fmt: skip
    path = tmp_path / "top"
    path.write_text(f"#!{sys.executable}\n" + FAKE.format(spec=json.dumps(body)))
    path.chmod(0o755)
    return str(path), gates


def open_gate(gate: str) -> None:
    with open(gate, "w"):
        pass


def until(what: Callable[[], Any], message: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        result = what()
        if result:
            return result
    pytest.fail(f"timed out waiting for {message}")


COLUMNS = ["PID", "PPID", "UID", "COMMAND", "STATE", "%CPU", "POWER", "IDLEW", "PAGEINS", "CSW",
           "MEM", "#TH", "TIME"]  # fmt: skip


def block(date: str, rows: list[tuple], total: int | None = None) -> bytes:
    """A logging-mode block as top writes it: cells padded to the widest in bytes."""
    cells = [[c if isinstance(c, bytes) else str(c).encode() for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(COLUMNS)]

    def line(cs: list[bytes]) -> bytes:
        return b" ".join(c + b" " * (w - len(c)) for c, w in zip(cs, widths, strict=True))

    total = len(rows) if total is None else total
    head = [
        f"Processes: {total} total, 1 running, {total - 1} sleeping, 90 threads ",
        date,
        "Load Avg: 1.00, 1.00, 1.00 ",
        "PhysMem: 15G used (2105M wired), 1024M unused.",
        "",
    ]
    return b"\n".join([*(h.encode() for h in head), line([h.encode() for h in COLUMNS]),
                       *(line(r) for r in cells)]) + b"\n"  # fmt: skip


JP = "テキストエディット".encode()  # 27 bytes: top prints the first 16 (p_comm)
# pid, ppid, uid, command, state, %CPU, POWER, IDLEW, PAGEINS, CSW, MEM, #TH, TIME
BLOCK1 = block("2026/01/02 03:04:05", [
    ("412 ", 1, 88, b"WindowServer", "running", "0.0", "0.0", 1000, 50, 9000, "903M", "22/1",
     "51:02.33"),
    ("501 ", 1, 501, b"Safari", "sleeping", "0.0", "0.0", 10, 5, 100, "300M", "9", "00:10.00"),
    ("600 ", 1, 0, b"oldd", "sleeping", "0.0", "0.0", 1, 1, 1, "1M", "1", "00:00.01"),
    ("700 ", 1, 501, JP[:16], "sleeping", "0.0", "0.0", 3, 0, 7, "88M", "6", "00:03.12"),
])  # fmt: skip
BLOCK2 = block("2026/01/02 03:04:06", [
    ("412 ", 1, 88, b"WindowServer", "running", "45.0", "52.3", "1100+", "54+", "9900+",
     "900M-", "22/1", "51:02.78"),
    ("501 ", 1, 501, b"Safari", "sleeping", "50.0", "55.0", "30+", "5", "300+", "301M+", "9",
     "00:10.50"),
    ("600 ", 1, 0, b"oldd", "sleeping", "70.0", "70.0", "1", "1", "1", "1M", "1", "00:00.71"),
    ("700 ", 1, 501, JP[:16], "sleeping", "2.0", "2.5", "5+", "0", "9+", "88M", "6",
     "00:03.14"),
])  # fmt: skip


class Primary:
    """A libproc-like primary: Safari readable (its own counters), WindowServer restricted (no
    counters), pid 600 now another process than the one top saw, pid 700 readable under its
    full (31-byte pbi_name) name."""

    name = "libproc"

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> SourceReading:
        self.reads += 1
        procs = [
            ProcessSample(pid=412, start_id=9, name="WindowServer", ppid=1, uid=88,
                          restricted=True),
            ProcessSample(pid=501, start_id=7, name="Safari", ppid=1, uid=501, cpu_ns=10**10,
                          memory_bytes=200 * M, threads=8, wakeups=10, pageins=5,
                          ctx_switches=100, state="sleeping"),
            ProcessSample(pid=600, start_id=8, name="newd", ppid=1, uid=0, restricted=True),
            ProcessSample(pid=700, start_id=6, name="テキストエディット", ppid=1, uid=501,
                          restricted=True),
        ]  # fmt: skip
        return SourceReading(processes=procs, system={"memory_total_bytes": 16 << 30})

    def close(self) -> None:
        pass


# --- the command and where it is registered -------------------------------------------------------


def test_command_line_uses_only_stats_keys_top_knows():
    argv = top_live.command(2.4, "/usr/bin/top")
    assert argv[:7] == ["/usr/bin/top", "-l", "0", "-s", "2", "-F", "-stats"]
    keys = argv[7].split(",")
    assert set(keys) <= TOP_STAT_KEYS
    assert {"pid", "command", "ppid", "uid", "cpu", "power", "idlew", "pageins", "csw", "mem",
            "threads", "state"} <= set(keys)  # fmt: skip


def test_registered_as_an_augmenting_source_after_powermetrics():
    top = registry.by_name("top")
    assert (top.kind, top.platforms, top.needs_root) == ("augment", ("darwin",), False)
    # Merged after powermetrics: Apple's own Energy Impact (root) wins over top's POWER.
    assert registry.by_name("powermetrics").priority < top.priority
    assert top.detail is not None and "top -l 0" in top.detail()
    assert "restricted" in top.description and "POWER" in top.description


def test_on_by_default_on_macos_when_not_root(tmp_path, monkeypatch):
    fake_top(tmp_path, [BLOCK1])
    monkeypatch.setenv(platform_seam.ENV_PLATFORM, "macos")
    monkeypatch.setenv(platform_seam.ENV_TOOL_DIR, str(tmp_path))
    info = registry.by_name("top")
    monkeypatch.setattr(top_live, "_is_root", lambda: False)
    assert registry.unavailable_reason(info) is None
    started, _ = registry.select()  # psutil (no libproc on Linux) + top
    try:
        names = [s.name for s in started]
        assert "top" in names and "psutil" in names and "libproc" not in names
    finally:
        for source in started:
            source.close()
    # --source can leave it out.
    started, _ = registry.select(["psutil"])
    assert [s.name for s in started] == ["psutil"]
    for source in started:
        source.close()
    # As root libproc reads every process: top is not started unless --source asks for it.
    monkeypatch.setattr(top_live, "_is_root", lambda: True)
    assert registry.unavailable_reason(info) is None
    assert "not started as root" in (registry.not_by_default(info) or "")
    started, _ = registry.select()
    names = [s.name for s in started]
    for source in started:
        source.close()
    assert "top" not in names
    started, _ = registry.select(["psutil", "top"])
    names = [s.name for s in started]
    for source in started:
        source.close()
    assert names == ["top", "psutil"]
    monkeypatch.setenv(platform_seam.ENV_PLATFORM, "linux")
    assert "not for this platform" in (registry.unavailable_reason(info) or "")


def test_sources_says_what_top_fills_in():
    report = [{"name": "top", "status": "in use"}, {"name": "nettop", "status": "in use"}]
    assert sources_cmd.filled_by(report, {"source": "libproc", "processes": 9,
                                          "restricted": 3}) == ["top"]  # fmt: skip
    assert sources_cmd.filled_by(report, {"source": "libproc", "processes": 9,
                                          "restricted": 0}) == []  # fmt: skip
    report[0]["status"] = "unavailable"
    assert sources_cmd.filled_by(report, {"source": "libproc", "processes": 9,
                                          "restricted": 3}) == []  # fmt: skip
    line = sources_cmd.filled_line(["top"]) or ""
    assert "CPU" in line and "footprint" in line and "disk I/O stays unknown" in line
    assert "costs" in line
    assert sources_cmd.filled_line([]) is None


# --- patches ----------------------------------------------------------------------------------


def test_patches_fill_restricted_processes_and_give_power_to_all(tmp_path):
    exe, (gate,) = fake_top(tmp_path, [BLOCK1, BLOCK2])
    src = top_live.TopSource(argv=[exe])
    try:
        first = src.read()  # waits for top's first block: gauges, no rates yet
        assert first.processes is None
        ws = first.patches[412]
        assert (ws["memory_bytes"], ws["threads"], ws["state"]) == (903 * M, 22, "running")
        assert STAND_IN_RATES not in ws and "rates" not in ws
        open_gate(gate)
        second = until(lambda: src.read().patches[412].get(STAND_IN_RATES), "top's 2nd block")
        assert second["cpu_ns"] == {"cpu_percent": 45.0}
        assert set(second) == {"cpu_ns", "wakeups", "pageins", "ctx_switches"}
        reading = src.read()
        ws = reading.patches[412]
        assert ws["rates"] == {"energy_impact": 52.3} and ws["memory_bytes"] == 900 * M
        assert reading.patches[501]["rates"] == {"energy_impact": 55.0}
    finally:
        src.close()
    assert src._child.child is not None and src._child.child.proc.poll() is not None


def test_under_the_sampler_restricted_rows_are_no_longer_blank(tmp_path):
    exe, (gate,) = fake_top(tmp_path, [BLOCK1, BLOCK2])
    ticker = Ticker(Sampler([Primary(), top_live.TopSource(argv=[exe])], platform="macos"))
    try:
        assert ticker.tick() is None
        open_gate(gate)

        def ranked():
            ranking = ticker.tick()
            if ranking is None:
                return None
            rows = {r.pid: r for r in ranking.processes}
            return ranking if rows[412].cpu_percent is not None else None

        ranking = until(ranked, "a ranking with top's figures")
    finally:
        ticker.close()
    assert ranking.sources == ["libproc", "top"] and ranking.energy_source == "top-power"
    rows = {r.pid: r for r in ranking.processes}
    ws = rows[412]
    assert ws.restricted is True  # still: disk I/O is unknown
    assert (ws.cpu_percent, ws.memory_bytes, ws.threads, ws.state) == (45.0, 900 * M, 22,
                                                                       "running")  # fmt: skip
    assert ws.energy_impact == 52.3 and ws.disk_read_bytes_per_s is None
    # Counter rates share the interval between top's blocks: their ratio is the counters'.
    assert ws.ctx_switches_per_s / ws.wakeups_per_s == pytest.approx(900 / 100)
    # A readable process keeps what libproc counted; only top's POWER is taken.
    safari = rows[501]
    assert safari.cpu_percent == 0.0 and safari.memory_bytes == 200 * M and safari.threads == 8
    assert safari.energy_impact == 55.0
    # pid 600 is another process now ("newd", not the "oldd" top printed): nothing from top.
    newd = rows[600]
    assert newd.cpu_percent is None and newd.memory_bytes is None and newd.energy_impact != 70.0
    # top's 16 bytes of a 27-byte name (cut inside a character) match the full name.
    jp = rows[700]
    assert (jp.cpu_percent, jp.memory_bytes, jp.energy_impact) == (2.0, 88 * M, 2.5)


def test_powermetrics_energy_impact_wins_over_top_power(tmp_path):
    class Pm:
        name = "powermetrics"

        def read(self) -> SourceReading:
            return SourceReading(patches={412: {"rates": {"energy_impact": 12.0}}})

        def close(self) -> None:
            pass

    exe, (gate,) = fake_top(tmp_path, [BLOCK1, BLOCK2])
    open_gate(gate)
    # Sources run best first, as registry.select orders them: powermetrics (40) before top.
    ticker = Ticker(Sampler([Primary(), Pm(), top_live.TopSource(argv=[exe])], platform="macos"))
    try:
        ticker.tick()

        def ranked():
            ranking = ticker.tick()
            return (
                ranking
                if ranking and {r.pid: r for r in ranking.processes}[412].cpu_percent
                else None
            )

        ranking = until(ranked, "a ranking with top's figures")
    finally:
        ticker.close()
    rows = {r.pid: r for r in ranking.processes}
    assert rows[412].energy_impact == 12.0 and ranking.energy_source == "powermetrics"
    assert rows[501].energy_impact == 55.0  # no powermetrics figure: top's


@pytest.mark.parametrize(
    ("sample", "applies"),
    [
        (ProcessSample(pid=412, start_id=1, name="WindowServer", ppid=1, uid=88), True),
        (ProcessSample(pid=412, start_id=1, name="WindowServer"), True),  # unknown ppid, uid
        (ProcessSample(pid=412, start_id=1, name="Finder", ppid=1, uid=88), False),
        (ProcessSample(pid=412, start_id=1, name="WindowServer", ppid=77, uid=88), False),
        (ProcessSample(pid=412, start_id=1, name="WindowServer", ppid=1, uid=0), False),
    ],
)
def test_a_patch_applies_only_to_the_process_top_printed(sample, applies):
    patch = {APPLIES_TO: top_live.same_process("WindowServer", 1, 88), "memory_bytes": 5}
    assert merge_patch(sample, patch) is applies
    assert sample.memory_bytes == (5 if applies else None)


def test_names_compare_on_bytes_cut_at_16():
    check = top_live.same_process(JP[:16].decode("utf-8", "ignore"), None, None)
    assert check(ProcessSample(pid=1, start_id=1, name="テキストエディット"))
    assert check(ProcessSample(pid=1, start_id=1, name="テキストエ"))  # libproc cut it too
    assert not check(ProcessSample(pid=1, start_id=1, name="テキスト"))
    long = top_live.same_process("com.apple.WebKi", None, None)  # 15 bytes: not cut by top
    assert not check(ProcessSample(pid=1, start_id=1, name="com.apple.WebKit.WebContent"))
    assert long(ProcessSample(pid=1, start_id=1, name="com.apple.WebKi"))
    assert not long(ProcessSample(pid=1, start_id=1, name="com.apple.WebKit.WebContent"))


def test_stand_in_rates_never_replace_the_primarys_own_counters():
    patch = {STAND_IN_RATES: {"cpu_ns": {"cpu_percent": 45.0}, "wakeups": {"wakeups_per_s": 9.0}}}
    readable = ProcessSample(pid=1, start_id=1, name="a", cpu_ns=5, wakeups=None)
    merge_patch(readable, patch)
    assert readable.rates == {"wakeups_per_s": 9.0}
    restricted = ProcessSample(pid=2, start_id=1, name="b", restricted=True)
    merge_patch(restricted, patch)
    assert restricted.rates == {"cpu_percent": 45.0, "wakeups_per_s": 9.0}


# --- a top that stalls or dies --------------------------------------------------------------


def test_a_stale_block_patches_nothing(tmp_path, monkeypatch):
    exe, _ = fake_top(tmp_path, [BLOCK1, BLOCK2])  # the second block never comes
    src = top_live.TopSource(argv=[exe])
    try:
        assert src.read().patches  # the first block
        clock = time.monotonic() + 10 * src.interval_s
        monkeypatch.setattr(top_live.time, "monotonic", lambda: clock)
        reading = src.read()
        assert reading.patches == {} and any("no new sample" in w for w in reading.warnings)
    finally:
        monkeypatch.undo()
        src.close()


def test_a_top_that_dies_after_working_is_restarted(tmp_path):
    exe, _ = fake_top(tmp_path, [BLOCK1], exit=3)
    src = top_live.TopSource(argv=[exe], backoff=Backoff(first_s=0.0))

    def restarted():
        try:
            warnings = src.read().warnings
        except SourceError as exc:  # gave up: not what this test expects
            pytest.fail(str(exc))
        return any("restarted" in w for w in warnings)

    try:
        until(restarted, "top restarted")
        assert src.restarts >= 1
    finally:
        src.close()


def test_a_top_that_never_samples_is_an_error(tmp_path):
    exe, _ = fake_top(tmp_path, [b"invalid stat: bogus\n"], exit=1)
    src = top_live.TopSource(argv=[exe], first_sample_timeout_s=20)
    try:

        def error():
            try:
                src.read()
            except SourceError as exc:
                return exc
            return None

        exc = until(error, "SourceError")
        assert "exited with status 1" in str(exc) and "invalid stat" in str(exc)
    finally:
        src.close()


def test_sources_shows_top_standing_by_as_root_and_in_use_otherwise(tmp_path, monkeypatch):
    from click.testing import CliRunner

    fake_top(tmp_path, [BLOCK1])
    monkeypatch.setenv(platform_seam.ENV_PLATFORM, "macos")
    monkeypatch.setenv(platform_seam.ENV_TOOL_DIR, str(tmp_path))
    for root, status in ((True, "standby"), (False, "in use")):
        monkeypatch.setattr(top_live, "_is_root", lambda root=root: root)
        result = CliRunner().invoke(sources_cmd.command, ["--json"])
        assert result.exit_code == 0, result.output
        top = next(s for s in json.loads(result.output)["sources"] if s["name"] == "top")
        assert top["status"] == status
        if root:
            assert "not started as root" in top["detail"]
        else:
            assert "top -l 0" in top["detail"]
