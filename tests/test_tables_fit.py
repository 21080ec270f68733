"""Tables that fit: at any width every number is whole (columns are left out instead, the least
useful first), wider terminals get more columns and longer names, and `top` in a real terminal
(a pty of 80x24) fits it."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import termios
import time

import pytest
from rich.console import Console

from conftest import lagwatch_cmd
from fake_rankings import ranking, row
from lagwatch.catalogue import BY_KEY, METRICS
from lagwatch.render.table import (
    ELLIPSIS,
    PID,
    Column,
    fit_widths,
    ranking_table,
    tree_items,
)

WIDTHS = (60, 80, 120, 160, 200)


def extreme_ranking():
    """Every metric at a wide magnitude, long and hostile names, a restricted process."""
    big = {
        "cpu_percent": 1234.5, "memory_bytes": 3 * 2**40, "disk_read_bytes_per_s": 9.9e11,
        "disk_write_bytes_per_s": 1.5e9, "pageins_per_s": 99999.0, "wakeups_per_s": 123456.0,
        "ctx_switches_per_s": 7.5e6, "gpu_percent": 99.95, "net_bytes_per_s": 1e12,
        "energy_impact": 8765.4, "power_watts": 123.456, "threads": 12345,
    }  # fmt: skip
    rows = [
        row(4194303, 99.0, "a-process-with-a-really-long-name-indeed", **big,
            cmdline="/opt/x/bin/worker --config /etc/x.conf --threads 64 " + "-v " * 40),
        row(2, 50.0, "evil\x1b]0;owned\x07\x1b[2J", restricted=True, cmdline="evil\x1b[31m"),
        row(33, 1.0, "short", cmdline=None),
    ]  # fmt: skip
    return ranking(rows)


def render(table, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(table)
    return console.export_text()


KNOWN_HEADERS = ("PID", "NAME", "USER", "SCORE", "BLAME", "COMMAND",
                 *(m.header for m in METRICS))  # fmt: skip


def header_cells(text: str) -> list[str]:
    """The headers of a rendered table's first line, in order."""
    head = text.splitlines()[0]
    found: list[tuple[int, int, str]] = []
    for h in sorted(KNOWN_HEADERS, key=len, reverse=True):  # "DISK W" before "W"
        for m in re.finditer(rf"(?:^| ){re.escape(h)}(?= |$)", head):
            if not any(a < m.end() and m.start() < b for a, b, _ in found):
                found.append((m.start(), m.end(), h))
    return [h for _, _, h in sorted(found)]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_line_fits_and_every_number_is_whole(width: int) -> None:
    rk = extreme_ranking()
    out = render(ranking_table(rk, width=width), width)
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines), out
    assert "\x1b" not in out and "\x07" not in out
    # Every metric shown holds exactly the catalogue's text for the value (never cut).
    by_header = {m.header: m for m in METRICS}
    shown_headers = header_cells(out)
    for header in shown_headers:
        if header in by_header:
            metric = by_header[header]
            cell = metric.format(metric.get(rk.processes[0]))
            assert f" {cell}" in lines[2], (header, cell, lines[2])
    assert {"PID", "NAME", "SCORE", "BLAME", "CPU%", "MEM"} <= set(shown_headers)
    for line in lines[2:]:
        # Only names and command lines may be cut: the metric cells carry no ellipsis.
        metric_part = line[: line.rfind("/")] if "COMMAND" in shown_headers else line
        cells = metric_part.split()[3:]
        assert all(ELLIPSIS not in cell for cell in cells[1:] if "\\" not in cell), line


def test_wider_terminals_get_more_columns_and_longer_names() -> None:
    rk = extreme_ranking()
    heads = [header_cells(render(ranking_table(rk, width=w), w)) for w in WIDTHS]
    counts = [len(h) for h in heads]
    assert counts == sorted(counts) and counts[0] < counts[-1], heads
    # The narrowest keeps the most useful: CPU and memory before threads and switches.
    assert {"CPU%", "MEM"} <= set(heads[0]) and "THR" not in heads[0]
    assert "COMMAND" in heads[-1] and "COMMAND" not in heads[0]
    names = [render(ranking_table(rk, width=w), w).splitlines()[2] for w in WIDTHS]
    assert "a-process-" in names[0] and ELLIPSIS in names[0]
    assert "a-process-with-a-really-long-name-indeed" in names[-1]  # the full name


def test_unknown_columns_are_never_shown() -> None:
    rk = ranking([row(1, 5.0), row(2, 3.0)])  # no GPU, network, energy or power source
    head = header_cells(render(ranking_table(rk, width=200), 200))
    assert not {"GPU%", "NET", "EI", "W"} & set(head)
    assert {"CPU%", "MEM", "WAKE/s"} <= set(head)


def test_restricted_mark_and_sanitized_text_survive_cutting() -> None:
    out = render(ranking_table(extreme_ranking(), width=60), 60)
    evil = next(line for line in out.splitlines() if line.lstrip().startswith("2 "))
    name = evil.split()[1]
    assert name.startswith("evil\\x1b") and name.endswith(f"{ELLIPSIS}*")  # cut, mark kept


def test_fit_keeps_priority_zero_and_drops_by_priority() -> None:
    cols = [
        Column("A", lambda i: "1", 0),
        Column("B", lambda i: "22", 20),
        Column("C", lambda i: "333", 10),
        Column("N", lambda i: "name-long", 0, right=False, min_width=4),
    ]
    natural = [1, 2, 3, 9]
    assert fit_widths(cols, natural, None) == natural
    assert fit_widths(cols, natural, 10) == [1, None, 3, 4]  # C (10) before B (20)
    assert fit_widths(cols, natural, 14) == [1, 2, 3, 5]  # the rest widens the name
    assert fit_widths(cols, natural, 3) == [1, None, None, 4]  # too narrow: still whole
    assert PID.priority == 0


def test_tree_puts_children_under_parents_sorted_by_the_ranking() -> None:
    rows = [
        row(30, 90.0, "worker-b", ppid=10), row(20, 80.0, "worker-a", ppid=10),
        row(40, 70.0, "lonely", ppid=1), row(50, 10.0, "grandchild", ppid=20),
    ]  # fmt: skip
    parent = row(10, 0.0, "server", ppid=1)
    init = row(1, 0.0, "init", ppid=0)
    items = tree_items(rows, [*rows, parent, init])
    layout = [(i.prefix + i.row.name, i.context) for i in items]
    assert layout == [
        ("init", True),
        ("├─server", True),
        ("│ ├─worker-b", False),
        ("│ └─worker-a", False),
        ("│   └─grandchild", False),
        ("└─lonely", False),
    ]
    out = render(ranking_table(ranking([*rows, parent, init]), limit=3, width=80, tree=True), 80)
    assert "│ └─worker-a" in out and "grandchild" not in out  # only the top 3 and ancestors


def test_metric_widths_in_the_catalogue_hold_their_widest_cell() -> None:
    for key in ("memory_bytes", "net_bytes_per_s", "cpu_percent"):
        m = BY_KEY[key]
        assert len(m.format(-9.99e14)) <= m.width + 1


# -- in a real terminal ------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_pty(args: list[str], columns: int, rows: int, timeout: float = 60) -> str:
    """Run lagwatch on a pty of the given size (no COLUMNS: it must ask the terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    pid = os.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execvpe(lagwatch_cmd()[0], [*lagwatch_cmd(), *args], env)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif os.waitpid(pid, os.WNOHANG)[0]:
            break
    os.close(master)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, b"".join(chunks)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.integration
@pytest.mark.parametrize(("columns", "rows"), [(80, 24), (60, 20), (160, 40)])
def test_top_in_a_terminal_fits_it(columns: int, rows: int) -> None:
    text = run_in_pty(["top", "--count", "1", "--interval", "0.3"], columns, rows)
    # Rich's Live draws the view, then redraws it in place (cursor up, carriage return) when
    # it stops: every line drawn must fit, and the last drawing must fit the screen's height.
    drawn = [ANSI.sub("", line) for line in re.split(r"\r\n|\r|\n", text)]
    drawn = [line for line in drawn if line.strip()]
    assert all(len(line) <= columns for line in drawn), [x for x in drawn if len(x) > columns]
    last = max(i for i, line in enumerate(drawn) if line.startswith("CPU "))
    screen = drawn[last:]
    assert len(screen) < rows, screen  # and the line the cursor is left on
    table = [i for i, line in enumerate(screen) if line.lstrip().startswith("PID ")]
    assert table, screen
    head_line = screen[table[-1]]
    head = head_line.split()
    assert head[:4] == ["PID", "NAME", "SCORE", "BLAME"] and "CPU%" in head
    # From SCORE to the command line (text, which may be cut) every cell is whole.
    start, end = head_line.index("SCORE"), head_line.find("COMMAND")
    for line in screen[table[-1] + 2 :]:
        assert line.split()[0].isdigit(), line
        assert ELLIPSIS not in line[start : end if end > 0 else None], line


def test_a_deep_tree_gives_up_indentation_before_names() -> None:
    rows = [row(100 + n, 50.0 - n, f"level{n}", ppid=99 + n) for n in range(1, 12)]
    out = render(ranking_table(ranking(rows), limit=None, width=60, tree=True), 60)
    lines = out.splitlines()
    assert all(len(line) <= 60 for line in lines)
    deepest = next(line for line in lines if "level11" in line)
    assert f"{ELLIPSIS}" in deepest.split()[1] and "└─level11" in deepest  # name whole
