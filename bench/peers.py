"""lagwatch against the tools people already run, side by side, at 1 000 to 10 000 processes.

For each size N: start N sleeping processes, then run each tool one after the other for the
same window at a 1 s interval, and read its CPU time from /proc (utime + stime + cutime +
cstime of the tool's process: its own and its reaped children's), counted from the end of a
warm-up (imports, first sweep) to the end of the window. Prints the CPU share of one core per
tool and size, and the ratios the goals are about. Linux only.

    .venv/bin/python bench/peers.py [--procs 1000,5000,10000] [--seconds 20] [--rounds 2]
                                    [--tools daemon,top-json,top,atop,pidstat,psutil,glances]

Rounds run the tools in alternating order (forward, then backward), so a neighbour's burst of
load on a shared machine does not always land on the same tool; ratios are given per round.
Tools that are not installed are skipped and say so.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the venv's bin: lagwatch, glances
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

PSUTIL_LOOP = r"""
import time, psutil
attrs = ["pid", "ppid", "name", "username", "status", "cpu_times", "memory_info",
         "num_threads", "io_counters", "num_ctx_switches"]
deadline = time.monotonic()
while True:
    for p in psutil.process_iter(attrs):  # every field, every process, like a sweep
        p.info
    deadline += 1.0
    time.sleep(max(0.0, deadline - time.monotonic()))
"""

ALL_TOOLS = ("daemon", "top-json", "top", "atop", "pidstat", "psutil", "glances")
LABELS = {
    "daemon": "lagwatch daemon",
    "top-json": "lagwatch top --json",
    "top": "procps top -b",
    "atop": "atop -w",
    "pidstat": "pidstat -urdw",
    "psutil": "psutil loop",
    "glances": "glances (csv export)",
}


def cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid``, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ticks_recorded(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM ticks").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def command(tool: str, tmp: Path) -> tuple[list[str], Callable[[float], bool]] | None:
    """The command line of ``tool`` and its readiness test (given seconds since start)."""
    warm = 4.0  # seconds: past imports and a first sweep for tools without a better signal

    def after(s: float) -> bool:
        return s >= warm

    if tool == "daemon":
        db = tmp / "history.db"
        for stale in tmp.glob("history.db*"):
            stale.unlink()
        lagwatch = [str(BIN / "lagwatch")] if (BIN / "lagwatch").exists() else [
            sys.executable, "-m", "lagwatch"]  # fmt: skip
        return [*lagwatch, "daemon", "--db", str(db), "--interval", "1"], (
            lambda s: ticks_recorded(db) >= 2
        )
    if tool == "top-json":
        lagwatch = [str(BIN / "lagwatch")] if (BIN / "lagwatch").exists() else [
            sys.executable, "-m", "lagwatch"]  # fmt: skip
        return [*lagwatch, "top", "--json", "--interval", "1"], after
    if tool == "top":
        return (["top", "-b", "-d", "1"], after) if shutil.which("top") else None
    if tool == "atop":
        raw = tmp / "atop.raw"
        raw.unlink(missing_ok=True)
        return (["atop", "-w", str(raw), "1"], after) if shutil.which("atop") else None
    if tool == "pidstat":
        return (["pidstat", "-urdw", "1"], after) if shutil.which("pidstat") else None
    if tool == "psutil":
        return [sys.executable, "-c", PSUTIL_LOOP], after
    if tool == "glances":
        exe = BIN / "glances" if (BIN / "glances").exists() else shutil.which("glances")
        if exe is None:
            return None
        csv = tmp / "glances.csv"
        csv.unlink(missing_ok=True)
        return [str(exe), "-t", "1", "--quiet", "--export", "csv",
                "--export-csv-file", str(csv)], after  # fmt: skip
    raise ValueError(tool)


def measure(tool: str, seconds: float, tmp: Path) -> dict | None:
    spec = command(tool, tmp)
    if spec is None:
        return None
    cmd, ready = spec
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
    try:
        start = time.monotonic()
        while not ready(time.monotonic() - start):
            if proc.poll() is not None or time.monotonic() - start > 180:
                raise SystemExit(f"{tool}: did not start ({cmd})")
            time.sleep(0.1)
        c0, t0 = cpu_s(proc.pid), time.monotonic()
        time.sleep(seconds)  # the measurement window
        c1, t1 = cpu_s(proc.pid), time.monotonic()
        return {"cpu_percent": 100.0 * (c1 - c0) / (t1 - t0), "rss_mb": rss_mb(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def processes() -> int:
    return sum(1 for e in os.listdir("/proc") if e.isdigit())


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}, Python " + (
        platform.python_version()
    )


def spawn(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["sleep", "86400"], stdin=subprocess.DEVNULL) for _ in range(n)]


def stop(sleepers: list[subprocess.Popen]) -> None:
    for s in sleepers:
        s.kill()
    for s in sleepers:
        s.wait()


def main() -> int:
    # SIGTERM (or SIGINT, ignored in background jobs) ends the run through the finally blocks,
    # which stop every process it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", default="1000,5000,10000", help="sleeping processes per size")
    ap.add_argument("--seconds", type=float, default=20.0, help="window per tool")
    ap.add_argument("--rounds", type=int, default=2, help="tool sequences per size")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS))
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench/peers.py reads /proc: run it on Linux")
        return 2
    sizes = [int(x) for x in args.procs.split(",")]
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(ALL_TOOLS)
    if unknown:
        print(f"unknown tool(s): {', '.join(sorted(unknown))}; known: {', '.join(ALL_TOOLS)}")
        return 2
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; window {args.seconds:g} s per tool, "
          f"{args.rounds} round(s), 1 s interval")  # fmt: skip
    # results[size][tool] = list of per-round dicts
    results: dict[int, dict[str, list[dict]]] = {}
    seen: dict[int, list[int]] = {}
    skipped: set[str] = set()
    for size in sizes:
        sleepers = spawn(size)
        results[size] = {t: [] for t in tools}
        seen[size] = []
        try:
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d)
                for r in range(args.rounds):
                    order = tools if r % 2 == 0 else tools[::-1]
                    for tool in order:
                        seen[size].append(processes())
                        res = measure(tool, args.seconds, tmp)
                        if res is None:
                            skipped.add(tool)
                            continue
                        res["load_1m"] = os.getloadavg()[0]
                        results[size][tool].append(res)
                        print(f"  {size:>6} sleepers, round {r + 1}, {LABELS[tool]:<22} "
                              f"{res['cpu_percent']:6.2f} % of a core, RSS "
                              f"{res['rss_mb']:6.1f} MB, load {res['load_1m']:.1f}",
                              flush=True)  # fmt: skip
        finally:
            stop(sleepers)
    report(results, seen, tools, skipped)
    return 0


def _cell(runs: list[dict]) -> str:
    if not runs:
        return ""
    vals = [r["cpu_percent"] for r in runs]
    med = statistics.median(vals)
    return f"{med:.2f} %" + (f" ({min(vals):.2f}-{max(vals):.2f})" if len(vals) > 1 else "")


def report(results, seen, tools, skipped) -> None:  # type: ignore[no-untyped-def]
    present = [t for t in tools if t not in skipped]
    print()
    print("CPU share of one core (median of rounds, range in parentheses):")
    print("| processes | " + " | ".join(LABELS[t] for t in present) + " |")
    print("|---" * (len(present) + 1) + "|")
    for size, by_tool in results.items():
        n = int(statistics.median(seen[size]))
        print(f"| ~{n} | " + " | ".join(_cell(by_tool[t]) for t in present) + " |")
    for t in sorted(skipped):
        print(f"({LABELS[t]}: not installed, skipped)")
    print()
    print("Ratios, per round (goal):")

    def per_round(size: int, a: str, b: str) -> list[float]:
        ra, rb = results[size].get(a, []), results[size].get(b, [])
        return [x["cpu_percent"] / y["cpu_percent"] for x, y in zip(ra, rb, strict=False)
                if y["cpu_percent"] > 0]  # fmt: skip

    def fmt(vals: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in vals) or "n/a"

    for size in results:
        if "daemon" in present and "top" in present:
            print(f"  {size:>6}: daemon / procps top: {fmt(per_round(size, 'daemon', 'top'))} "
                  "(goal < 1)")  # fmt: skip
        if "daemon" in present and "atop" in present:
            print(f"  {size:>6}: daemon / atop: {fmt(per_round(size, 'daemon', 'atop'))} "
                  "(goal <= 0.5)")  # fmt: skip
        if "daemon" in present and "top-json" in present:
            print(f"  {size:>6}: top --json / daemon: "
                  f"{fmt(per_round(size, 'top-json', 'daemon'))} (goal <= 1.2)")  # fmt: skip
    small, large = min(results), max(results)
    if small != large:
        n_small = statistics.median(seen[small])
        n_large = statistics.median(seen[large])
        for tool in present:
            a, b = results[small][tool], results[large][tool]
            if not a or not b:
                continue
            per_small = statistics.median(r["cpu_percent"] for r in a) / n_small
            per_large = statistics.median(r["cpu_percent"] for r in b) / n_large
            goal = " (goal <= 1.2)" if tool in ("daemon", "top-json") else ""
            print(
                f"  per-process cost at ~{n_large:.0f} vs ~{n_small:.0f} processes, "
                f"{LABELS[tool]}: {per_large / per_small:.2f}{goal}"
            )


if __name__ == "__main__":
    sys.exit(main())
