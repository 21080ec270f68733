"""The daemon's memory over time with many processes and steady churn.

Starts N sleeping processes (default 10 000), runs the real `lagwatch daemon --interval 1`
(temporary DB), and every second starts ``--churn`` short-lived processes (each lives a random
0.2-4 s) while sampling the daemon's RSS, descriptor count and CPU every ``--every`` seconds.
Prints the samples and, after the warm-up, the minimum, maximum and least-squares slope of RSS
(MB per hour): flat means the slope is within noise and the range a few MB. Linux only.

    .venv/bin/python bench/rss_churn.py [--procs 10000] [--churn 50] [--seconds 3600]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM", "RssAnon"):
            out[key] = int(line.split()[1]) / 1024
    return out


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def ticks(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM ticks").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    if len(ts) < 2:
        return float("nan")
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return 3600 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var


def main() -> int:
    # SIGTERM (or SIGINT, ignored in background jobs) ends the run through the finally blocks,
    # which stop every process it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=10000)
    ap.add_argument("--churn", type=int, default=50, help="processes started per second")
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--warm", type=float, default=60.0, help="seconds before the fit starts")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench/rss_churn.py reads /proc: run it on Linux")
        return 2
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), "unknown CPU")  # fmt: skip
    print(f"machine: nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; {args.procs} sleepers, "
          f"{args.churn} new processes per second, {args.seconds:g} s")  # fmt: skip
    rng = random.Random(1)
    sleepers = [subprocess.Popen(["sleep", "86400"]) for _ in range(args.procs)]
    churn: list[subprocess.Popen] = []
    started = 0
    samples: list[tuple[float, dict[str, float], int, float, int]] = []
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "history.db"
        lagwatch = [str(BIN / "lagwatch")] if (BIN / "lagwatch").exists() else [
            sys.executable, "-m", "lagwatch"]  # fmt: skip
        daemon = subprocess.Popen([*lagwatch, "daemon", "--db", str(db), "--interval", "1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            while ticks(db) < 2:
                if daemon.poll() is not None:
                    raise SystemExit("the daemon did not start")
                time.sleep(0.2)
            t0 = time.monotonic()
            c0 = cpu_s(daemon.pid)
            next_sample = t0
            next_churn = t0
            while (now := time.monotonic()) - t0 < args.seconds:
                if now >= next_churn:
                    next_churn += 1.0
                    churn = [p for p in churn if p.poll() is None]
                    for _ in range(args.churn):
                        life = f"{rng.uniform(0.2, 4.0):.2f}"
                        churn.append(subprocess.Popen(["sleep", life]))
                    started += args.churn
                if now >= next_sample:
                    next_sample += args.every
                    fds = len(os.listdir(f"/proc/{daemon.pid}/fd"))
                    st = status(daemon.pid)
                    samples.append((now - t0, st, fds, cpu_s(daemon.pid) - c0, ticks(db)))
                    print(f"  t={now - t0:7.0f}s  RSS {st['VmRSS']:6.1f} MB (anon "
                          f"{st['RssAnon']:6.1f}, peak {st['VmHWM']:6.1f})  descriptors {fds:6d}"
                          f"  ticks {samples[-1][4]}", flush=True)  # fmt: skip
                time.sleep(max(0.0, min(next_churn, next_sample) - time.monotonic()))
        finally:
            daemon.terminate()
            daemon.wait(30)
            for p in sleepers + churn:
                p.kill()
            for p in sleepers + churn:
                p.wait()
    fit = [(t, st["VmRSS"]) for t, st, *_ in samples if t >= args.warm]
    if not fit:
        print("run longer than --warm to fit a slope")
        return 1
    rss = [y for _, y in fit]
    elapsed, cpu_used = samples[-1][0], samples[-1][3]
    print()
    print(f"processes started during the run: {started}")
    slope = slope_per_hour([t for t, _ in fit], rss)
    print(f"daemon RSS after warm-up: first {rss[0]:.1f} MB, min {min(rss):.1f}, max "
          f"{max(rss):.1f}, last {rss[-1]:.1f}; slope {slope:+.2f} MB/hour; "
          f"peak (VmHWM) {samples[-1][1]['VmHWM']:.1f} MB")  # fmt: skip
    # A cache filling up (SQLite's pages, the per-process state) rises early and levels off;
    # a leak keeps its slope: the two halves tell them apart.
    half = fit[len(fit) // 2 :]
    if len(half) >= 2:
        late = slope_per_hour([t for t, _ in half], [y for _, y in half])
        print(f"second half ({half[0][0]:.0f}-{half[-1][0]:.0f} s): RSS {half[0][1]:.1f} -> "
              f"{half[-1][1]:.1f} MB, slope {late:+.2f} MB/hour")  # fmt: skip
    print(f"descriptors: first {samples[0][2]}, last {samples[-1][2]}; daemon CPU "
          f"{100 * cpu_used / elapsed:.2f} % of a core over {elapsed:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
