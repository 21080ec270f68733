"""nettop: the pure CSV parser over every capture in ../shared/fixtures/macos/nettop and our own
fixtures (tests/fixtures/nettop), the delta bookkeeping, and the live source's handling of its
child, run here against a fake `nettop` script that prints captured-format CSV.

Expected values are read by hand from the files."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lagwatch.model import ProcessSample
from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.nettop import (
    NettopRow,
    NettopStreamParser,
    accumulate,
    parse_bytes,
    parse_duration_ms,
    parse_nettop,
    split_name_pid,
)
from lagwatch.ranking import compute_ranking
from lagwatch.sampler import Sampler
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import Backoff
from lagwatch.sources.nettop import NettopSource, NettopTotals, command

FIXTURES = Path(__file__).parent / "fixtures" / "nettop"
NETSCOPE = "netscope-test_L1_no-P_conn-rows.csv"
DASHBOARD = "network-usage-dashboard-test_P_L2_two-frames.csv"
TS = "ts-comment_P_n_x_two-rows_DEINDENTED.csv"


def test_every_shared_nettop_capture_is_covered(macos_fixtures: Path) -> None:
    names = {p.name for p in (macos_fixtures / "nettop").iterdir()}
    assert names == {NETSCOPE, DASHBOARD, TS}, "a new capture needs its own test below"


def test_netscope_without_P_sockets_follow_their_process(macos_fixtures: Path) -> None:
    (frame,) = parse_nettop((macos_fixtures / "nettop" / NETSCOPE).read_text())
    assert frame.index == 0 and frame.cumulative and frame.warnings == []
    assert frame.columns[:6] == ["time", "", "interface", "state", "bytes_in", "bytes_out"]
    assert frame.columns[-1] == ""  # the trailing comma
    assert [(r.pid, r.name) for r in frame.rows] == [
        (272, "mDNSResponder"),
        (284, "zerotier-one"),
        (772, "Microsoft Edge"),  # "Microsoft Edge .772": cut at 15, ending in a space
    ]
    mdns, zerotier, edge = frame.rows
    assert (mdns.bytes_in, mdns.bytes_out, mdns.time) == (67044191, 20822887, "18:18:38.329546")
    assert mdns.name_truncated is False and edge.name_truncated is True
    assert [s.description for s in mdns.sockets] == ["udp6 *.5353<->*.*", "udp4 *:5353<->*:*"]
    assert mdns.sockets[0].interface == "en0" and mdns.sockets[0].state is None  # udp: no state
    assert (mdns.sockets[1].bytes_in, mdns.sockets[1].bytes_out) == (70116364, 13929787)
    assert zerotier.bytes_total == 80254563 + 60708540
    assert len(zerotier.sockets) == 1
    assert len(edge.sockets) == 3
    tcp = edge.sockets[2]
    assert (tcp.proto, tcp.local, tcp.remote) == ("tcp4", "192.168.3.37:56241", "17.57.145.55:5223")
    assert (tcp.state, tcp.rtt_avg_ms, tcp.bytes_in, tcp.bytes_out) == (
        "Established", 108.53, 27201, 31090)  # fmt: skip
    assert edge.sockets[0].interface == "utun5"


def test_dashboard_two_frames_first_cumulative_then_deltas(macos_fixtures: Path) -> None:
    frames = parse_nettop((macos_fixtures / "nettop" / DASHBOARD).read_text())
    assert [f.index for f in frames] == [0, 1]
    assert [f.header_line for f in frames] == [1, 4]  # the header repeats per frame
    first, second = frames
    assert [(r.pid, r.name, r.bytes_in, r.bytes_out) for r in first.rows] == [
        (79391, "io.tailscale.ip", 3950703, 10739706),  # split at the LAST dot
        (18262, "MacPacketTunnel", 146969880, 145968400),
    ]
    assert [(r.pid, r.name, r.bytes_in, r.bytes_out) for r in second.rows] == [
        (79391, "io.tailscale.ip", 745, 952),
        (18262, "MacPacketTunnel", 39652, 1085),
        (51458, "Code Helper (Pl", 0, 702),
    ]
    assert second.rows[0].extra == {"rx_dupe": "0", "rx_ooo": "0", "re-tx": "0"}
    assert first.rows[1].extra["re-tx"] == "83618"
    # Delta mode: totals are the first frame plus the second.
    totals = accumulate(frames, delta_mode=True)
    assert totals[79391] == ("io.tailscale.ip", 3950703 + 10739706 + 745 + 952)
    assert totals[18262] == ("MacPacketTunnel", 146969880 + 145968400 + 39652 + 1085)
    assert totals[51458] == ("Code Helper (Pl", 702)
    # Read as cumulative frames, the last one wins.
    assert accumulate(frames, delta_mode=False)[79391] == ("io.tailscale.ip", 745 + 952)


def test_ts_comment_two_rows(macos_fixtures: Path) -> None:
    (frame,) = parse_nettop((macos_fixtures / "nettop" / TS).read_text())
    assert [(r.pid, r.name, r.bytes_in, r.bytes_out) for r in frame.rows] == [
        (1, "launchd", 0, 0),
        (5034, "Slack Helper", 108093, 67721),
    ]
    assert frame.rows[1].extra == {"rx_dupe": "2720", "rx_ooo": "1288", "re-tx": "2721"}
    assert frame.rows[1].time == "01:01:46.872376"


def test_own_J_capture_without_time_column_and_cut_last_row() -> None:
    frames = parse_nettop((FIXTURES / "nettop_P_J_d_three-frames_cut.csv").read_text())
    assert [len(f.rows) for f in frames] == [3, 2, 1]
    assert frames[0].columns == ["", "bytes_in", "bytes_out", ""]
    assert frames[0].rows[1].time is None
    assert frames[2].warnings == ["line 10: row cut short, skipped"]
    totals = accumulate(frames, delta_mode=True)
    assert totals == {
        1: ("launchd", 0),
        512: ("com.apple.Safar", 1048576 + 65536 + 4096 + 1024 + 100 + 28),
        772: ("Microsoft Edge", 5000),
    }


@pytest.mark.parametrize("errors", ["replace", "surrogateescape"])
def test_own_J_capture_non_ascii_names_cut_at_15_bytes(errors: str) -> None:
    """`nettop -P -J bytes_in,bytes_out -d`: no time column, `,bytes_in,bytes_out,` headers,
    trailing commas; names cut at 15 bytes, one of them inside a UTF-8 character. The live
    source decodes with errors="replace", a capture may come with "surrogateescape"."""
    data = (FIXTURES.parent / "names" / "nettop_P_J_d_nonascii-names.csv").read_bytes()
    frames = parse_nettop(data.decode("utf-8", errors))
    assert [len(f.rows) for f in frames] == [3, 3] and not frames[0].warnings
    got = [(r.pid, r.name, r.name_truncated, r.bytes_total) for r in frames[0].rows]
    assert got == [
        (2310, "テキストエ", True, 1048576 + 65536),  # 5 characters, 15 bytes: may be cut
        (4120, "Zoom 会議ア", True, 500),  # the half character dropped
        (733, "Übersicht", False, 30),  # 10 bytes
    ]
    assert accumulate(frames, delta_mode=True)[4120] == ("Zoom 会議ア", 550)


def test_own_capture_ipv6_sockets_units_and_junk() -> None:
    (frame,) = parse_nettop((FIXTURES / "nettop_L1_sockets_ipv6_units.csv").read_text())
    assert [r.pid for r in frame.rows] == [4242, 901]  # the tcp6 row ending ".443" is no pid
    curl, chrome = frame.rows
    assert [(s.proto, s.remote, s.rtt_avg_ms) for s in curl.sockets] == [
        ("tcp6", "2001:db8::5.443", 0.85),
        ("tcp4", "93.184.216.34:80", 1500.0),
    ]
    assert curl.sockets[0].local == "fe80::1%en0.50123"
    assert (chrome.name, chrome.name_truncated) == ("Google Chrome H", True)
    assert (chrome.bytes_in, chrome.bytes_out) == (1572864, 12288)
    assert [s.proto for s in chrome.sockets] == ["quic6"]
    assert frame.warnings == [
        "line 7: not a nettop row, skipped",
        "line 8: not a byte count: 'x12', row skipped",
    ]


def test_not_nettop_is_a_clean_error() -> None:
    with pytest.raises(CaptureError) as err:
        parse_nettop("\n\nPID COMMAND %CPU\n1 launchd 0.0\n")
    assert err.value.line == 3 and "bytes_in" in str(err.value)
    with pytest.raises(CaptureError, match="no process rows"):
        parse_nettop("time,,interface,state,bytes_in,bytes_out,\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Microsoft Edge .772", ("Microsoft Edge ", 772)),
        ("io.tailscale.ip.79391", ("io.tailscale.ip", 79391)),
        ("Code Helper (Pl.51458", ("Code Helper (Pl", 51458)),
        ("python3.12", ("python3", 12)),  # only the last dot counts, as nettop prints it
        ("noPid", None),
        ("trailing.", None),
        (".5", None),
    ],
)
def test_split_name_pid(text, expected) -> None:
    assert split_name_pid(text) == expected


def test_units() -> None:
    assert parse_bytes("67044191") == 67044191
    assert parse_bytes("2 KiB") == 2048 and parse_bytes("1.5 MB") == 1_500_000
    assert parse_bytes("") is None
    assert parse_duration_ms("1.22 ms") == 1.22 and parse_duration_ms("2 s") == 2000.0
    with pytest.raises(ValueError):
        parse_bytes("12 parsecs")


def test_stream_parser_line_by_line() -> None:
    parser = NettopStreamParser()
    assert parser.feed("nettop: starting") is None  # before any header
    frame = parser.feed(",bytes_in,bytes_out,", 2)
    assert frame is not None and frame.index == 0
    row = parser.feed("a.b.c.7,1,2,\r\n", 3)
    assert isinstance(row, NettopRow) and (row.name, row.pid, row.bytes_total) == ("a.b.c", 7, 3)


def test_totals_delta_mode_pid_reuse_and_drops() -> None:
    parser = NettopStreamParser()
    totals = NettopTotals()
    for line in [",bytes_in,bytes_out,", "app.10,100,0,", ",bytes_in,bytes_out,", "app.10,5,5,",
                 "new.11,7,0,", ",bytes_in,bytes_out,", "other.10,1,1,"]:  # fmt: skip
        item = parser.feed(line)
        if isinstance(item, NettopRow):
            totals.add_row(item)
        elif item is not None:
            totals.start_frame(item)
    # 10: 100 then +10; then a different name on pid 10 is a new process: starts afresh.
    assert totals.patches() == {10: {"net_bytes": 2}, 11: {"net_bytes": 7}}


# -- the live source, with a fake nettop --------------------------------------------------------

FAKE_NETTOP = """#!{python}
import json, os, sys, time
d = {directory!r}
info = {{"argv": sys.argv[1:], "stdin_tty": os.isatty(0), "stdout_tty": os.isatty(1)}}
with open(os.path.join(d, "argv.tmp"), "w") as f:
    json.dump(info, f)
os.rename(os.path.join(d, "argv.tmp"), os.path.join(d, "argv.json"))
k = 0
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    frame = os.path.join(d, "frame%d.csv" % k)
    if os.path.exists(frame):
        with open(frame) as f:
            sys.stdout.write(f.read())
        sys.stdout.flush()
        k += 1
        continue
    stop = os.path.join(d, "exit")
    if os.path.exists(stop):
        with open(stop) as f:
            code, _, message = f.read().partition(" ")
        sys.stderr.write(message + "\\n")
        sys.stderr.flush()
        sys.exit(int(code))
    time.sleep(0.01)
sys.exit(9)
"""


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 20.0):
    """Poll ``condition`` until it is truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


class FakeNettop:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.exe = directory / "nettop"
        self.exe.write_text(FAKE_NETTOP.format(python=sys.executable, directory=str(directory)))
        self.exe.chmod(0o755)
        self.frames = 0

    def frame(self, text: str) -> None:
        tmp = self.dir / "frame.tmp"
        tmp.write_text(text)
        tmp.rename(self.dir / f"frame{self.frames}.csv")
        self.frames += 1

    def exit(self, code: int, message: str) -> None:
        tmp = self.dir / "exit.tmp"
        tmp.write_text(f"{code} {message}")
        tmp.rename(self.dir / "exit")

    def info(self) -> dict:
        path = self.dir / "argv.json"
        wait_until(path.exists, "the fake nettop to start")
        return json.loads(path.read_text())


@pytest.fixture
def fake_nettop(tmp_path: Path) -> FakeNettop:
    return FakeNettop(tmp_path)


def _net(source: NettopSource, pid: int) -> int | None:
    return source.read().patches.get(pid, {}).get("net_bytes")


HEADER_J = ",bytes_in,bytes_out,\n"


def test_source_runs_one_child_with_the_chosen_flags(fake_nettop: FakeNettop) -> None:
    source = NettopSource(argv=[str(fake_nettop.exe), *command(1.0)[1:]])
    try:
        info = fake_nettop.info()
        assert info["argv"] == ["-P", "-L", "0", "-d", "-x", "-n", "-s", "1", "-J",
                                "bytes_in,bytes_out"]  # fmt: skip
        # A terminal on both ends: stdin never "readable" (no busy loop), stdout line-buffered.
        assert info["stdin_tty"] is True and info["stdout_tty"] is True
        # Nothing printed yet: read() answers at once with nothing, it never waits on nettop.
        assert source.read().patches == {}
        fake_nettop.frame(HEADER_J + "Safari.512,1048576,65536,\nMicrosoft Edge .772,2000,3000,\n")
        wait_until(lambda: _net(source, 512) == 1114112, "frame 0 (cumulative)")
        assert _net(source, 772) == 5000
        fake_nettop.frame(HEADER_J + "Safari.512,4096,1024,\nMicrosoft Edge .772,0,0,\n")
        wait_until(lambda: _net(source, 512) == 1114112 + 5120, "frame 1 (delta)")
        assert _net(source, 772) == 5000
    finally:
        source.close()
    assert source._proc.returncode is not None  # the child is gone, not left running


def test_full_format_frames_from_a_capture(fake_nettop: FakeNettop, macos_fixtures: Path) -> None:
    text = (macos_fixtures / "nettop" / DASHBOARD).read_text()
    source = NettopSource(argv=[str(fake_nettop.exe)])
    try:
        fake_nettop.frame(text)
        # The capture's two frames: cumulative, then a delta of 745 + 952.
        wait_until(lambda: _net(source, 79391) == 3950703 + 10739706 + 1697, "both frames")
        assert _net(source, 51458) == 702
    finally:
        source.close()


class _Processes:
    name = "stub"

    def read(self) -> SourceReading:
        return SourceReading(
            processes=[ProcessSample(pid=p, start_id=1, name=f"p{p}") for p in (512, 9)]
        )

    def close(self) -> None:
        pass


def test_a_dead_nettop_is_restarted_and_its_totals_start_afresh(fake_nettop: FakeNettop) -> None:
    nettop = NettopSource(argv=[str(fake_nettop.exe)], backoff=Backoff(first_s=0.05))
    sampler = Sampler([_Processes(), nettop], platform="macos")
    try:
        fake_nettop.frame(HEADER_J + "Safari.512,1000,0,\n")
        wait_until(lambda: _net(nettop, 512) == 1000, "frame 0")
        first = sampler.read()
        fake_nettop.frame(HEADER_J + "Safari.512,3000,1000,\n")
        wait_until(lambda: _net(nettop, 512) == 5000, "frame 1")
        second = sampler.read()
        second.monotonic_ns = first.monotonic_ns + 2_000_000_000
        rows = {r.pid: r for r in compute_ranking(first, second).processes}
        assert rows[512].net_bytes_per_s == 2000.0  # 4000 bytes in 2 s
        assert rows[9].net_bytes_per_s is None  # never seen by nettop: unknown
        first_pid = nettop.pid
        fake_nettop.exit(3, "nettop: failed to open the network statistics")
        said: list[str] = []

        def restarted() -> bool:
            said.extend(sampler.read().warnings)
            return nettop.restarts >= 1 and _net(nettop, 512) is not None

        wait_until(restarted, "nettop to be restarted")
        death = next(w for w in said if "restarting in" in w)
        assert "exited with status 3" in death
        assert "failed to open the network statistics" in death
        assert any("nettop restarted (restart 1)" in w for w in said)
        assert nettop.pid != first_pid
        assert sampler.source_names == ["stub", "nettop"]  # kept, not dropped
        # The new run replays frame 0 (cumulative: taken as the total) and frame 1 (a delta).
        wait_until(lambda: _net(nettop, 512) == 5000, "the new run's frames")
        assert _net(nettop, 512) == 5000
    finally:
        sampler.close()
        nettop.close()


def test_a_nettop_that_never_ran_is_dropped(fake_nettop: FakeNettop) -> None:
    fake_nettop.exit(3, "nettop: failed to open the network statistics")
    nettop = NettopSource(argv=[str(fake_nettop.exe)], backoff=Backoff(first_s=0.05))
    sampler = Sampler([_Processes(), nettop], platform="macos")
    try:

        def dropped() -> bool:
            sampler.read()
            return sampler.source_names == ["stub"]

        wait_until(dropped, "the source to be dropped")
        assert "exited with status 3" in sampler.dropped[0]
        assert "failed to open the network statistics" in sampler.dropped[0]
        assert nettop.restarts == 0  # a tool that cannot run here is not retried
    finally:
        sampler.close()
        nettop.close()


def test_close_stops_a_silent_child(fake_nettop: FakeNettop) -> None:
    source = NettopSource(argv=[str(fake_nettop.exe)])
    fake_nettop.info()
    pid = source.pid
    source.close()
    assert source._proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot run"):
        NettopSource(argv=[str(tmp_path / "no-nettop")])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="time,bytes_in,bytes_out.0123456789 \n-<>:*tcp4udp6MiB ms", max_size=400))
def test_nettop_parser_raises_only_capture_errors(text: str) -> None:
    for prefix in ("", ",bytes_in,bytes_out,\n"):
        try:
            frames = parse_nettop(prefix + text)
        except CaptureError:
            continue
        assert all(row.pid >= 0 for frame in frames for row in frame.rows)
