"""Benchmark: one full sweep of all processes with the complete field set.

Compares, in the same run and on the same process table (the machine's own processes plus
1000+ extra sleeping ones):
- lagwatch's procfs source (steady state: descriptors kept across sweeps),
- psutil's process_iter reading the same fields (the usual way Python tools do it),
- C floors (bench/floor.c), parsing nothing, descriptors kept: "full" preads stat, status and io
  of every process (what any tool reading these fields pays the kernel); "incremental" makes
  exactly the reads lagwatch's rule makes (stat; schedstat for an unchanged single-threaded
  process; status and io only for processes that ran), i.e. lagwatch's own kernel-bound floor.

Run: `.venv/bin/python bench/sweep.py [--extra 1000] [--sweeps 30]` (`--extra 5000` for the
scale goal). Prints medians and the ratios psutil/lagwatch (goal >= 5) and lagwatch/floor
(goal <= 1.5), with the mode the sweep ran in (descriptors kept, or opened per read) and, per
round, the ratio to the floor, so the spread on a shared machine shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PSUTIL_ATTRS = [
    "pid", "ppid", "name", "username", "status", "create_time", "memory_info", "num_threads",
    "cpu_times", "io_counters", "num_ctx_switches",
]  # fmt: skip


def spawn_sleepers(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["sleep", "3600"]) for _ in range(n)]


def median_ns(fn, sweeps: int) -> float:
    fn()  # warm-up (opens descriptors, fills caches)
    times = []
    for _ in range(sweeps):
        t0 = time.process_time_ns()  # CPU time: robust to a busy machine
        fn()
        times.append(time.process_time_ns() - t0)
    return statistics.median(times)


def build_floor(tmp: Path) -> Path | None:
    exe = tmp / "floor"
    res = subprocess.run(["cc", "-O2", "-o", str(exe), str(HERE / "floor.c")],
                         capture_output=True, text=True)  # fmt: skip
    return exe if res.returncode == 0 else None


def run_floor(exe: Path, sweeps: int, mode: str) -> float:
    """Median sweep CPU time (ns) of the C floor; it says how many reads it could not keep a
    descriptor for (over its RLIMIT_NOFILE budget, like lagwatch's)."""
    out = subprocess.run([str(exe), str(sweeps), mode], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    return float(out[0])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    py = platform.python_version()
    return f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, Python {py}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", type=int, default=1000, help="extra sleeping processes")
    ap.add_argument("--sweeps", type=int, default=30)
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench/sweep.py measures the Linux procfs source; run it on Linux")
        return 2
    import psutil

    from lagwatch.sources.procfs import ProcfsSource

    sleepers = spawn_sleepers(args.extra)
    try:
        src = ProcfsSource()
        cold = ProcfsSource(keep_fds=False)
        n = len(src.read().processes)

        def psutil_sweep() -> None:
            for _ in psutil.process_iter(PSUTIL_ATTRS, ad_value=None):
                pass

        # The measurements are interleaved in rounds, so a neighbour's burst of load on this
        # shared machine hits every contender alike instead of one of them.
        samples: dict[str, list[float]] = {k: [] for k in ("lag", "cold", "busy", "ps", "f", "fi")}
        rounds = max(1, args.sweeps // 5)
        with tempfile.TemporaryDirectory() as tmp:
            exe = build_floor(Path(tmp))
            for _ in range(rounds):
                samples["lag"].append(median_ns(src.read, 5))
                samples["cold"].append(median_ns(cold.read, 5))
                # Worst case: as if every process had changed since the last sweep (everything
                # parsed). Its three descriptors per process are given back after each round:
                # all sources here share one RLIMIT_NOFILE.
                busy = ProcfsSource(reuse_unchanged=False)
                samples["busy"].append(median_ns(busy.read, 5))
                busy.close()
                samples["ps"].append(median_ns(psutil_sweep, 5))
                if exe:
                    samples["f"].append(run_floor(exe, 5, "full"))
                    samples["fi"].append(run_floor(exe, 5, "incremental"))
        src_info = src.sweep_info()
        med = {k: statistics.median(v) if v else None for k, v in samples.items()}
        per_round = [a / b for a, b in zip(samples["lag"], samples["fi"], strict=False)]
        lag, lag_cold, lag_busy, ps = med["lag"], med["cold"], med["busy"], med["ps"]
        floor, floor_inc = med["f"], med["fi"]
    finally:
        for s in sleepers:
            s.kill()
        for s in sleepers:
            s.wait()
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d')}")
    print(f"processes per sweep: {n}")
    info = src_info
    print(f"lagwatch sweep mode: {info['sweep_mode']} ({info['descriptors_kept']} descriptors "
          f"kept, budget {info['descriptor_budget']}, RLIMIT_NOFILE {info['nofile_soft_limit']}"
          f"/{info['nofile_hard_limit']})")  # fmt: skip
    print(f"lagwatch procfs (kept fds):   {lag / 1e6:8.2f} ms")
    print(f"lagwatch procfs (open/close): {lag_cold / 1e6:8.2f} ms")
    print(f"lagwatch procfs (all parsed): {lag_busy / 1e6:8.2f} ms  (every process changed)")
    print(f"psutil process_iter:          {ps / 1e6:8.2f} ms")
    if floor is not None:
        print(f"C floor, full reads:          {floor / 1e6:8.2f} ms")
        print(f"C floor, lagwatch's reads:    {floor_inc / 1e6:8.2f} ms")
    print(f"ratio psutil / lagwatch: {ps / lag:.2f}x  (goal >= 5)")
    if floor is not None:
        print(f"ratio lagwatch / its floor (same reads): {lag / floor_inc:.2f}x  (goal <= 1.5);"
              f" per round {', '.join(f'{r:.2f}' for r in per_round)}")  # fmt: skip
        print(f"ratio lagwatch / full-read floor:        {lag / floor:.2f}x")
        print(f"worst case, every process changed: psutil / lagwatch {ps / lag_busy:.2f}x, "
              f"lagwatch / full-read floor {lag_busy / floor:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
