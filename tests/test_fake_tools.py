"""The fake `top`, `nettop` and `powermetrics` (tests/fake_tools) behave the way the reference
(../shared/reference/macos-apis.md sections 6-7) and the shared captures say the real tools do:
the child-tool and Mac-in-a-box tests are only as good as these fakes."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from macbox import MacBox, Proc

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX terminals")

DEADLINE_S = 20.0
CAFE = "Caf\u00e9 au lait"  # 'é' is 2 bytes in UTF-8
JAPANESE = "\u65e5\u672c\u8a9e\u30a2\u30d7\u30ea"  # 6 characters, 18 bytes


def wait_until(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def read_until(fd: int, end: bytes, count: int = 1) -> bytes:
    """Read ``fd`` until ``end`` has appeared ``count`` times."""
    data = b""
    deadline = time.monotonic() + DEADLINE_S
    while data.count(end) < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"no {end!r} in {data[-200:]!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            pytest.fail(f"output ended before {end!r}: {data[-200:]!r}")
        data += chunk
    return data


def box(tmp_path: Path, **tools) -> MacBox:
    return MacBox(
        tmp_path / "box",
        None,
        [
            Proc(640, CAFE, cpu_percent=12.5, power=20.0, mem_bytes=6321 << 10, net_in_per_s=100),
            Proc(701, "x86tool", cpu_percent=3.0, foreign_arch=True, mem_bytes=846 << 20),
            Proc(
                88,
                JAPANESE,
                uid=88,
                user="_windowserver",
                cpu_percent=35.0,
                power=40.5,
                threads=12,
                state="running",
                net_out_per_s=7,
            ),
        ],
        tools=tools,
    )


def spawn(b: MacBox, tool: str, *args: str, **kw) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(b.bin / tool), *args], env=b.tool_env(), **kw)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


# -- top ---------------------------------------------------------------------------------------


def test_top_pads_by_bytes_marks_foreign_pids_and_cuts_names_at_16_bytes(tmp_path: Path) -> None:
    b = box(tmp_path)
    out = subprocess.run(
        [str(b.bin / "top"), "-l", "2", "-s", "0", "-stats", "pid,command,cpu,power,mem,threads"],
        env=b.tool_env(), capture_output=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    blocks = out.split(b"Processes: ")[1:]
    assert len(blocks) == 2
    for k, block in enumerate(blocks):
        lines = block.split(b"\n")
        header = next(line for line in lines if line.startswith(b"PID"))
        rows = lines[lines.index(header) + 1 :][:3]
        starts = [header.index(h) for h in (b"COMMAND", b"%CPU", b"POWER", b"MEM")]
        for row in rows:
            for start in starts[1:]:  # columns line up in bytes, whatever the name
                assert row[start - 1 : start] == b" " and row[start : start + 1] != b" "
        by_pid = {row.split(b" ", 1)[0]: row for row in rows}
        assert set(by_pid) == {b"701*", b"640", b"88"}  # descending pid; '*': foreign CPU type
        cafe = by_pid[b"640"][starts[0] :]
        assert cafe.startswith(CAFE.encode())
        # In characters the columns after a non-ASCII name sit one to the left per extra byte.
        text = by_pid[b"640"].decode()
        assert text.index("12.5" if k else "0.0") == starts[1] - 1
        # p_comm keeps 16 bytes: 5 whole characters and the first byte of the sixth.
        cut = JAPANESE.encode()[:16]
        assert by_pid[b"88"][starts[0] : starts[0] + 16] == cut
        with pytest.raises(UnicodeDecodeError):
            cut.decode()
        cpu = [row[starts[1] : starts[2]].strip() for row in rows]
        assert cpu == ([b"3.0", b"12.5", b"35.0"] if k else [b"0.0"] * 3)  # nothing measured yet
        assert by_pid[b"88"].rstrip().endswith(b"12/1")  # threads/running
        assert b"6321K" in by_pid[b"640"] and b"846M" in by_pid[b"701*"]


@pytest.mark.parametrize(("pids", "command_at"), [((95207, 376), 7), ((640, 88), 5)])
def test_top_prints_a_space_after_native_pids(tmp_path: Path, pids, command_at) -> None:
    """pid.c prints every PID as "%u%s" with a one-character suffix, a space for a native
    process: the PID column is one byte wider than its digits. With 5-digit pids COMMAND starts
    at byte 7, as in the shared capture m1pro_macos15.7.5_l1_n15 ("PID    COMMAND")."""
    b = MacBox(tmp_path / "box", None, [Proc(pid, f"p{pid}") for pid in pids])
    out = subprocess.run(
        [str(b.bin / "top"), "-l", "1", "-s", "0", "-stats", "pid,command"],
        env=b.tool_env(), capture_output=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    lines = out.split(b"\n")
    header = next(line for line in lines if line.startswith(b"PID"))
    rows = lines[lines.index(header) + 1 :][: len(pids)]
    assert header.index(b"COMMAND") == command_at
    widest = str(max(pids)).encode()
    assert header[: len(widest) + 1].rstrip() == b"PID"
    # The widest pid, its suffix (a space), then the one space between columns.
    assert rows[0].startswith(widest + b"  ") and rows[0][command_at:].startswith(b"p")
    assert all(row[command_at - 1 : command_at] == b" " for row in rows)


def test_top_flushes_every_sample_even_on_a_pipe(tmp_path: Path) -> None:
    b = box(tmp_path, top={"period_s": 600})
    proc = spawn(b, "top", "-l", "0", "-s", "1", "-stats", "pid,command,cpu",
                 stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        first = read_until(proc.stdout.fileno(), b"\n\n")  # one block, ~700 bytes, not 4 KiB
        assert first.startswith(b"Processes: 3 total") and len(first) < 4096
        assert proc.poll() is None  # still running: it flushed, it did not exit
    finally:
        stop(proc)


# -- nettop ------------------------------------------------------------------------------------

NETTOP_ARGS = ("-P", "-L", "0", "-d", "-x", "-n", "-s", "1")
FULL_HEADER = (
    b"time,,interface,state,bytes_in,bytes_out,rx_dupe,rx_ooo,re-tx,rtt_avg,rcvsize,tx_win,"
    b"tc_class,tc_mgt,cc_algo,P,C,R,W,arch,"
)  # as in the shared captures


def test_nettop_block_buffers_on_a_pipe(tmp_path: Path) -> None:
    b = box(tmp_path, nettop={"period_s": 0.02})
    proc = spawn(b, "nettop", *NETTOP_ARGS, "-J", "bytes_in,bytes_out", stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        wait_until(lambda: len(b.samples("nettop")) >= 3, "three samples written")
        assert not readable(fd)  # three frames of ~60 bytes sit in stdio's buffer
        wait_until(lambda: readable(fd), "4 KiB of frames")
        assert len(os.read(fd, 65536)) == 4096  # then one buffer's worth at once
    finally:
        stop(proc)


def _nettop_on_a_pty(b: MacBox, window: tuple[int, int] | None) -> list[bytes]:
    master, slave = pty.openpty()
    if window is not None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *window, 0, 0))
    proc = spawn(b, "nettop", *NETTOP_ARGS, stdin=slave, stdout=slave)
    os.close(slave)
    try:
        return read_until(master, b"\r\n", count=3).split(b"\r\n")  # a header and two rows
    finally:
        stop(proc)
        os.close(master)


def test_nettop_line_buffers_on_a_terminal_and_cuts_rows_at_its_width(tmp_path: Path) -> None:
    b = box(tmp_path, nettop={"period_s": 600})  # one frame, then a long wait
    narrow = _nettop_on_a_pty(b, None)  # a new pty says 0 columns: taken as 80
    wide = _nettop_on_a_pty(b, (4096, 1024))
    assert wide[0] == FULL_HEADER and len(FULL_HEADER) > 80
    assert narrow[0] == FULL_HEADER[:80]
    (row,) = [line for line in wide if b"\xe6\x97\xa5" in line]  # the Japanese name
    name = row.split(b",")[1]
    assert name == JAPANESE.encode()[:15] + b".88"  # cut at 15 bytes, inside a character
    first_frame = row.split(b",")
    assert first_frame[5] == str(7 * 100).encode()  # frame 0: bytes since the process started


# -- powermetrics ------------------------------------------------------------------------------


def test_powermetrics_refuses_to_run_without_root(tmp_path: Path) -> None:
    b = box(tmp_path, powermetrics={"as_user": True})  # as root, the fake is told it is not
    proc = subprocess.run(
        [str(b.bin / "powermetrics"), "-f", "plist", "-i", "100"],
        env=b.tool_env(), capture_output=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert proc.stderr == b"powermetrics must be invoked as the superuser\n"


def test_powermetrics_nul_separated_plists_and_stray_stderr(tmp_path: Path) -> None:
    strays = ["proc_pid_rusage failed", "Second underflow occured."]
    b = box(tmp_path, powermetrics={"stderr_lines": strays, "as_root": True})
    proc = subprocess.run(
        [str(b.bin / "powermetrics"), "--samplers", "tasks,cpu_power", "--show-process-energy",
         "-b", "0", "-f", "plist", "-i", "10", "-n", "3"],
        env=b.tool_env(), capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    out = proc.stdout
    assert out.count(b"\0") == 2 and not out.endswith(b"\0")
    docs = out.split(b"\0")
    assert all(d.startswith(b"<?xml") and d.endswith(b"</plist>\n") for d in docs)
    assert b"proc_pid" not in out and b"underflow" not in out  # stderr only
    assert proc.stderr.decode().splitlines() == [
        "proc_pid_rusage failed", "Second underflow occured.", "proc_pid_rusage failed"
    ]  # fmt: skip


@pytest.mark.parametrize("buffer_flag", [(), ("-b", "1"), ("-b", "0")])
def test_powermetrics_output_buffer(tmp_path: Path, buffer_flag: tuple[str, ...]) -> None:
    """Without -b a pipe gets 4 KiB lumps; -b 1 holds the NUL after a sample's last line
    until the next line; -b 0 hands over every byte at once."""
    b = box(tmp_path, powermetrics={"period_s": 0.05, "as_root": True})
    proc = spawn(b, "powermetrics", "--samplers", "tasks", *buffer_flag, "-f", "plist",
                 "-i", "50", stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        wait_until(lambda: len(b.samples("powermetrics")) >= 1, "one sample written")
        if not buffer_flag:
            assert not readable(fd)  # one ~3 KiB document waits in the buffer
        else:
            data = read_until(fd, b"</plist>\n")
            assert data.startswith(b"<?xml")
            if buffer_flag == ("-b", "1"):
                wait_until(lambda: len(b.samples("powermetrics")) >= 2, "a second sample")
                data += read_until(fd, b"</plist>\n")
                assert data.count(b"\0") == 1  # the NUL came out with the next line
    finally:
        stop(proc)
