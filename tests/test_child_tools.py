"""Child tools run the way they behave on a Mac (issue 11, item 3), against the fake tools
(tests/fake_tools), which reproduce the real ones' buffering and output quirks:

- nettop on a pseudo-terminal with a large window (TIOCSWINSZ): line by line, never cut;
- powermetrics with ``-b 0`` (every sample reaches the pipe when written) and its stderr on
  its own pipe (stray lines never land inside the plist stream);
- a tool that dies is restarted with backoff, and the reading says so.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lagwatch.energy_models import PmenergyWeights
from lagwatch.sources import nettop as nettop_source
from lagwatch.sources import powermetrics as pm_source
from lagwatch.sources.base import SourceError
from lagwatch.sources.child import (
    WINDOW_COLUMNS,
    WINDOW_ROWS,
    Backoff,
    StreamedChild,
    SupervisedChild,
)
from macbox import MacBox, Proc

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX terminals")

DEADLINE_S = 30.0
STRAYS = ["proc_pid_rusage(123) failed: No such process", "Second underflow occured."]


def wait_until(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MacBox:
    """The fake tools, found through lagwatch's seam (LAGWATCH_TOOL_DIR) like the real ones."""
    b = MacBox(
        tmp_path / "box",
        None,
        [
            Proc(
                640,
                "Safari",
                cpu_percent=20.0,
                net_in_per_s=2000,
                net_out_per_s=500,
                energy_impact_per_s=30.0,
            ),
            Proc(
                88,
                "WindowServer",
                uid=88,
                cpu_percent=35.0,
                net_in_per_s=10,
                energy_impact_per_s=12.0,
            ),
        ],
    )
    for key, value in b.env.items():
        monkeypatch.setenv(key, value)
    return b


def configure(b: MacBox, **tools: dict) -> None:
    b.tools = tools
    b.write()


def net(source: nettop_source.NettopSource, pid: int) -> int | None:
    return source.read().patches.get(pid, {}).get("net_bytes")


# -- nettop ------------------------------------------------------------------------------------


def test_nettop_runs_on_a_large_terminal_and_is_read_line_by_line(box: MacBox) -> None:
    configure(box, nettop={"hang_after": 1})  # one frame (~100 bytes), then silence
    source = nettop_source.NettopSource()
    try:
        (start,) = wait_until(lambda: box.starts("nettop"), "nettop to start")
        assert start["argv"] == nettop_source.command(1.0)[1:]
        assert start["stdin_tty"] and start["stdout_tty"]
        # TIOCSWINSZ before it started: no row is cut at a default 80 columns.
        assert start["window"] == [WINDOW_ROWS, WINDOW_COLUMNS]
        assert WINDOW_ROWS >= 1024 and WINDOW_COLUMNS >= 200
        # A pipe would hold this frame in stdio's 4 KiB buffer for good; a terminal does not.
        wait_until(lambda: net(source, 640) == 2500 * 100, "the first (cumulative) frame")
        assert net(source, 88) == 10 * 100
        assert len(box.samples("nettop")) == 1
    finally:
        source.close()


def test_nettop_on_a_pipe_would_see_nothing(box: MacBox) -> None:
    """The reason for the terminal: the same fake, on a pipe, delivers nothing."""
    configure(box, nettop={"hang_after": 3, "period_s": 0.01})
    got: list[bytes] = []
    child = StreamedChild(nettop_source.command(1.0), got.append)  # a pipe, as a naive reader
    try:
        wait_until(lambda: len(box.samples("nettop")) == 3, "three frames written")
        assert got == []
    finally:
        child.close()
    assert got == []  # killed by a signal: stdio never flushed what it held


def test_a_dying_nettop_is_restarted_and_the_reading_says_so(box: MacBox) -> None:
    configure(
        box,
        nettop={"period_s": 0.02, "die_after": 2, "exit_status": 3,
                "last_words": "nettop: sysctl net.statistics failed"},
    )  # fmt: skip
    source = nettop_source.NettopSource(backoff=Backoff(first_s=0.05, max_s=1.0))
    said: list[str] = []
    try:

        def restarted_twice() -> bool:
            said.extend(source.read().warnings)
            return source.restarts >= 2

        wait_until(restarted_twice, "two restarts")
        deaths = [w for w in said if "restarting in" in w and " is down " not in w]
        assert deaths and all("exited with status 3" in w for w in deaths)
        assert all("nettop: sysctl net.statistics failed" in w for w in deaths)
        # Each run produced data before it died: the delay does not grow.
        assert all("restarting in 0.1s" in w for w in deaths), deaths
        assert any("nettop restarted (restart 1) after: nettop exited with status 3" in w
                   for w in said)  # fmt: skip
        wait_until(lambda: len(box.starts("nettop")) >= 3, "the third run to start")
        starts = box.starts("nettop")
        assert len({s["pid"] for s in starts}) == len(starts)
        assert all(s["window"] == [WINDOW_ROWS, WINDOW_COLUMNS] for s in starts)
        # Each run's first frame is taken as the total, not added: 2500 B/s over 100 s of
        # process life, plus one delta of 2500 * 0.02 s.
        wait_until(lambda: net(source, 640) in (250_000, 250_050), "a run's totals")
    finally:
        source.close()


# -- powermetrics ------------------------------------------------------------------------------


def pm(**kw) -> pm_source.PowermetricsSource:
    return pm_source.PowermetricsSource(weights=PmenergyWeights(), **kw)


def test_powermetrics_flags_make_every_sample_arrive_at_once(box: MacBox) -> None:
    configure(box, powermetrics={"period_s": 0.05, "hang_after": 1, "as_root": True})
    source = pm()
    try:
        (start,) = wait_until(lambda: box.starts("powermetrics"), "powermetrics to start")
        argv = start["argv"]
        assert argv[argv.index("-b") + 1] == "0" and argv[argv.index("-f") + 1] == "plist"
        assert not start["stdout_tty"]  # a pipe: the stream holds NUL bytes
        # One ~3 KiB sample and then silence: without -b 0 it would wait in stdio's buffer.
        reading = wait_until(lambda: (r := source.read()).patches and r, "the first sample")
        assert reading.patches[640]["rates"]["energy_impact"] == 30.0
        assert reading.patches[88]["rates"]["energy_impact"] == 12.0
    finally:
        source.close()


def test_without_the_flag_the_same_sample_would_not_arrive(box: MacBox) -> None:
    configure(box, powermetrics={"period_s": 0.05, "hang_after": 1, "as_root": True})
    argv = [a for a in pm_source.command(1.0) if a not in ("-b", "0")]
    source = pm(argv=argv, first_sample_timeout_s=600)
    try:
        wait_until(lambda: len(box.samples("powermetrics")) == 1, "one sample written")
        assert source.read().patches == {}
    finally:
        source.close()


def test_powermetrics_stderr_stays_out_of_the_plist_stream(box: MacBox) -> None:
    configure(
        box,
        powermetrics={"period_s": 0.02, "as_root": True, "stderr_lines": STRAYS,
                      "hang_after": 6},
    )  # fmt: skip
    source = pm()
    try:
        wait_until(lambda: len(box.samples("powermetrics")) == 6, "six samples written")
        # Each stray line was written mid-document: merged into stdout, it would break all six.
        wait_until(lambda: source._docs == 6, "six documents read")
        reading = source.read()
        assert reading.warnings == []
        assert source._garbage == 0 and source._totals.samples == 6
        assert reading.patches[640]["rates"]["energy_impact"] == 30.0
        assert set(STRAYS) <= set(source._child.diagnostics)  # kept to explain a death
    finally:
        source.close()


def test_merged_stderr_would_have_broken_the_documents(box: MacBox) -> None:
    """The control for the test above: the same fake with stderr on stdout's pipe."""
    configure(
        box,
        powermetrics={"period_s": 0.02, "as_root": True, "stderr_lines": STRAYS,
                      "hang_after": 3},
    )  # fmt: skip
    got = bytearray()
    child = StreamedChild(pm_source.command(1.0), got.extend)  # stderr merged: the old way
    try:
        wait_until(lambda: len(box.samples("powermetrics")) == 3, "three samples written")
        wait_until(lambda: got.count(b"</plist>") == 3, "three documents")
        docs = bytes(got).split(b"\0")
        assert all(STRAYS[0].encode() in d or STRAYS[1].encode() in d for d in docs)
    finally:
        child.close()


def test_powermetrics_without_root_is_an_error_not_a_restart_loop(box: MacBox) -> None:
    configure(box, powermetrics={"as_user": True})
    source = pm(backoff=Backoff(first_s=0.01))

    def error() -> str | None:
        try:
            source.read()
        except SourceError as exc:
            return str(exc)
        return None

    try:
        message = wait_until(error, "the error")
        assert "exited with status 1" in message and "superuser" in message
        assert len(box.starts("powermetrics")) == 1 and source.restarts == 0
    finally:
        source.close()


# -- the supervisor's backoff, step by step ------------------------------------------------------


def test_backoff_grows_while_the_tool_dies_without_data_then_gives_up(tmp_path: Path) -> None:
    """First run: data, then death. Later runs die at once. The clock is the test's."""
    marker = tmp_path / "ran"
    script = (
        "import os, sys\n"
        f"m = {str(marker)!r}\n"
        "if not os.path.exists(m):\n"
        "    open(m, 'w').close(); sys.stdout.write('data\\n'); sys.stdout.flush(); sys.exit(3)\n"
        "sys.stderr.write('tool: cannot start\\n'); sys.exit(4)\n"
    )
    now = [0.0]
    holder: list[SupervisedChild] = []

    def on_chunk(chunk: bytes) -> None:
        if b"data" in chunk:
            holder[0].data_seen()

    def start() -> StreamedChild:
        return StreamedChild([sys.executable, "-c", script], on_chunk, stderr="pipe")

    backoff = Backoff(first_s=1.0, factor=2.0, max_s=3.0, give_up_after=3)
    sup = SupervisedChild(start, "tool", backoff, clock=lambda: now[0])
    holder.append(sup)
    sup.begin()
    try:
        delays = []
        for _ in range(3):
            wait_until(lambda: sup.child.death is not None, "the child's death")
            (death,) = sup.poll()
            assert "restarting in" in death
            delay = float(death.split("restarting in ")[1].split("s")[0])
            delays.append(delay)
            assert sup.poll() == [f"tool is down ({death.split('; restarting')[0]}); "
                                  f"restarting in {delay:.1f}s"]  # fmt: skip
            now[0] += delay
            (restarted,) = sup.poll()
            assert restarted.startswith(f"tool restarted (restart {len(delays)}) after: python")
        assert delays == [1.0, 2.0, 3.0]  # doubled each time, capped at max_s
        wait_until(lambda: sup.child.death is not None, "the child's death")
        with pytest.raises(SourceError, match="gave up after 4 deaths in a row without data"):
            sup.poll()
        assert "tool: cannot start" in sup.child.death
    finally:
        sup.close()


def test_a_tool_that_fails_at_once_is_quoted_even_before_its_supervisor_holds_it() -> None:
    # The tool prints its error and exits while StreamedChild's constructor is still returning:
    # the source notes the line from the reader thread before SupervisedChild.begin() has the
    # child. (Under load this lost nettop's "failed to open" from the death message.)
    script = "import sys; sys.stdout.write('tool: no entitlement\\n'); sys.exit(3)\n"
    holder: list[SupervisedChild] = []
    noted = threading.Event()

    def on_chunk(chunk: bytes) -> None:
        for line in chunk.decode().splitlines():
            holder[0].note(line)  # what the sources do with a line that is not data
        noted.set()

    def start() -> StreamedChild:
        child = StreamedChild([sys.executable, "-c", script], on_chunk)
        assert noted.wait(20), "the reader never saw the tool's line"  # before begin() returns
        return child

    sup = SupervisedChild(start, "tool", Backoff(first_s=0.05))
    holder.append(sup)
    sup.begin()
    try:
        wait_until(lambda: sup.child.death is not None, "the child's death")
        with pytest.raises(SourceError, match="exited with status 3: tool: no entitlement"):
            sup.poll()
    finally:
        sup.close()
