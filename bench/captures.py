"""Benchmark: parsing and ranking captures (`lagwatch analyze`, the `top` and `powermetrics`
sources), each against a reference measured in the same run on the same bytes.

- top: a synthetic `top -l N` capture with the full default column set and P processes per
  block. Reference: splitting every line on whitespace (``str.split``), the least any parser
  of that text must do. Measured: ``parse_top`` alone, and ``analyze`` (parse + samples +
  scoring + sorting); and one live block (stream parser + conversion), what the `top` source
  costs per interval.
- powermetrics plist: the real M1 Pro capture from ../shared/fixtures (or a synthetic one).
  Reference: ``plistlib.loads`` of the same documents (C expat + the standard converter).
- powermetrics text: a synthetic task table. Reference: ``str.split`` of every line.

Run: `.venv/bin/python bench/captures.py [--procs 1000] [--blocks 10] [--reps 15]`.
Prints CPU-time medians of interleaved rounds and the ratios.
"""

from __future__ import annotations

import argparse
import platform
import plistlib
import statistics
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from lagwatch.captures.analyze import analyze  # noqa: E402
from lagwatch.parsers.powermetrics_plist import parse_powermetrics_plist  # noqa: E402
from lagwatch.parsers.powermetrics_text import parse_powermetrics_text  # noqa: E402
from lagwatch.parsers.top import TopStreamParser, parse_top  # noqa: E402
from lagwatch.parsers.top_convert import TopConverter  # noqa: E402

FIXTURES = HERE.parent.parent / "shared" / "fixtures" / "macos"
HEADER = (
    "PID    COMMAND          %CPU TIME     #TH   #WQ #PORTS MEM    PURG CMPRS PGRP  PPID  "
    "STATE    BOOSTS    %CPU_ME %CPU_OTHRS UID FAULTS  COW  MSGSENT MSGRECV SYSBSD   SYSMACH "
    "CSW     PAGEINS IDLEW POWER INSTRS CYCLES JETPRI USER     #MREGS RPRVT VPRVT VSIZE KPRVT "
    "KSHRD"
)


LIVE_HEADER = (  # the columns the live `top` source asks for (sources/top_live.STATS)
    "PID    PPID  UID USER     COMMAND          STATE    %CPU POWER IDLEW PAGEINS CSW     "
    "MEM    #TH   TIME"
)


def top_capture(procs: int, blocks: int, header: str = HEADER) -> str:
    out = []
    for b in range(blocks):
        out.append(
            f"Processes: {procs} total, 3 running, {procs - 3} sleeping, 4211 threads \n"
            f"2026/05/28 03:43:{b:02d}\n"
            "Load Avg: 6.27, 6.87, 5.71 \n"
            "CPU usage: 19.86% user, 21.3% sys, 58.84% idle \n"
            "SharedLibs: 477M resident, 109M data, 66M linkedit.\n"
            "MemRegions: 640128 total, 3403M resident, 202M private, 1857M shared.\n"
            "PhysMem: 15G used (2496M wired, 7064M compressor), 74M unused.\n"
            "VM: 268T vsize, 5702M framework vsize, 470789(0) swapins, 929703(0) swapouts.\n"
            "Networks: packets: 38864232/46G in, 29586958/31G out.\n"
            "Disks: 6925690/149G read, 5210940/189G written.\n\n" + header + "\n"
        )
        for p in range(procs):
            out.append(top_row(p, b, header) + "\n")
        out.append("\n")
    return "".join(out)


def top_row(p: int, b: int, header: str = HEADER) -> str:
    """One row laid out under ``header``: each value left-aligned at its column's start."""
    value = {
        "PID": str(1000 + p), "COMMAND": f"Process Helper {p % 97}"[:16],
        "%CPU": f"{p % 50}.{b % 10}", "TIME": f"{p % 60:02d}:{b:02d}.{p % 100:02d}",
        "#TH": f"{p % 30 + 1}/1", "#WQ": "1", "#PORTS": str(40 + p % 90),
        "MEM": f"{p % 900 + 1}M+", "PURG": "0B", "CMPRS": f"{p % 50}M", "PGRP": str(1000 + p),
        "PPID": "1", "STATE": "sleeping", "BOOSTS": f"*0[{p % 9}]", "%CPU_ME": "0.00000",
        "%CPU_OTHRS": "0.00000", "UID": "501", "FAULTS": str(p * 7 + b), "COW": str(p % 300),
        "MSGSENT": str(p * 3 + b), "MSGRECV": str(p * 2), "SYSBSD": str(p * 11 + b),
        "SYSMACH": str(p * 5), "CSW": str(p * 13 + b * 7), "PAGEINS": str(p % 700 + b),
        "IDLEW": str(p % 40 + b), "POWER": f"{p % 50}.{b % 10}", "INSTRS": "0", "CYCLES": "0",
        "JETPRI": "0", "USER": "user",
    }  # fmt: skip
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    widths = [b2 - a for a, b2 in pairwise(starts)] + [8]
    columns = header.split()
    return "".join(value.get(c, "N/A").ljust(w) for c, w in zip(columns, widths, strict=True))


def pm_text_capture(procs: int) -> str:
    lines = [
        "*** Sampled system activity (Mon Oct 23 16:51:12 2023 +0200) (1012.07ms elapsed) ***",
        "",
        "*** Running tasks ***",
        "",
        "Name                               ID     CPU ms/s  samp ms/s  User%  Deadlines "
        "(<2 ms, 2-5 ms)  Wakeups (Intr, Pkg idle)  GPU ms/s",
    ]
    for p in range(procs):
        lines.append(
            f"{'task ' + str(p):<35}{1000 + p:<7}{p % 300 + 0.5:<10.2f}{p % 300 + 0.7:<11.2f}"
            f"{p % 99 + 0.1:<7.2f}{p % 9 + 0.2:<8.2f}{p % 3:<19.2f}{p % 500 + 0.3:<8.2f}"
            f"{p % 7:<18.2f}{0.0:<10.2f}"
        )
    return "\n".join(lines) + "\n\n"


def pm_plist_capture() -> tuple[bytes, str]:
    real = FIXTURES / "powermetrics" / "hog_m1pro_macos15.3.2_showall_5samples.plist"
    if real.exists():
        return real.read_bytes(), real.name
    tasks = [{"pid": p, "name": f"task {p}", "cputime_ms_per_s": float(p)} for p in range(1000)]
    docs = [plistlib.dumps({"elapsed_ns": 10**9, "tasks": tasks}) for _ in range(5)]
    return b"\0".join(docs), "synthetic, 5 x 1000 tasks"


def cpu_ms(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) * 1000


def interleaved(pairs: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    for fn in pairs.values():
        fn()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(reps):
        for name, fn in pairs.items():
            samples[name].append(cpu_ms(fn))
    return {name: statistics.median(v) for name, v in samples.items()}


def live_block(block_text: str) -> Callable[[], object]:
    lines = block_text.split("\n")

    def run() -> object:
        parser, conv = TopStreamParser(), TopConverter()
        for line in lines:
            for block in parser.feed(line):
                conv.convert(block)
        last = parser.flush()
        return conv.convert(last) if last else None

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.machine()} Python {platform.python_version()}")

    top_text = top_capture(args.procs, args.blocks)
    top_bytes = top_text.encode()
    rows = args.procs * args.blocks
    assert sum(len(b.rows) for b in parse_top(top_text).blocks) == rows
    one_block = top_capture(args.procs, 1, LIVE_HEADER)
    r = interleaved(
        {
            "reference: str.split every line": lambda: [ln.split() for ln in top_text.split("\n")],
            "parse_top": lambda: parse_top(top_text),
            "analyze (parse + rank every block)": lambda: analyze(top_bytes, "top"),
        },
        args.reps,
    )
    ref = r["reference: str.split every line"]
    print(f"\n## top: {args.blocks} blocks x {args.procs} processes, full column set")
    for name, ms in r.items():
        print(f"| {name} | {ms:.1f} ms | {ms / rows * 1000:.2f} us/row | {ms / ref:.1f} |")
    r = interleaved(
        {
            "reference: str.split every line": lambda: [ln.split() for ln in one_block.split("\n")],
            "live top source, one block (stream parser + conversion)": live_block(one_block),
        },
        args.reps * 3,
    )
    ref = r["reference: str.split every line"]
    print(f"\n## top source: one block of {args.procs} processes, the source's 14 columns")
    for name, ms in r.items():
        print(f"| {name} | {ms:.2f} ms | {ms / ref:.1f} |")

    data, what = pm_plist_capture()
    docs = [d for d in data.split(b"\0") if d.strip()]
    r = interleaved(
        {
            "reference: plistlib.loads of each document": lambda: [plistlib.loads(d) for d in docs],
            "parse_powermetrics_plist": lambda: parse_powermetrics_plist(data),
            "analyze (parse + rank every sample)": lambda: analyze(data, "powermetrics-plist"),
        },
        max(3, args.reps // 3),
    )
    ref = r["reference: plistlib.loads of each document"]
    print(f"\n## powermetrics plist: {what} ({len(data) / 1e6:.1f} MB, {len(docs)} documents)")
    for name, ms in r.items():
        print(f"| {name} | {ms:.1f} ms | {ms / ref:.2f} |")

    pm_text = pm_text_capture(args.procs)
    assert len(parse_powermetrics_text(pm_text).samples[0].tasks) == args.procs
    r = interleaved(
        {
            "reference: str.split every line": lambda: [ln.split() for ln in pm_text.split("\n")],
            "parse_powermetrics_text": lambda: parse_powermetrics_text(pm_text),
        },
        args.reps * 3,
    )
    ref = r["reference: str.split every line"]
    print(f"\n## powermetrics text: one task table of {args.procs} rows")
    for name, ms in r.items():
        print(f"| {name} | {ms:.2f} ms | {ms / ref:.1f} |")


if __name__ == "__main__":
    main()
