"""What one process with many threads adds to a tick (issue 15, item 7).

Measures the procfs source's CPU per tick (1 s apart, so the per-thread refresh runs as it does
in the daemon) on this machine as it is (reference), then with one extra process of N threads
(default 20 000) that are all blocked, then with the same process where ``--busy`` of them wake
every millisecond. Configurations alternate in rounds; each is a median of ``--ticks`` ticks,
and the ratio to the reference is per round. Also reports the per-thread status reads of a
tick against the budget (which grows with processes, not threads). Reference for what the
kernel itself charges: the C floor (bench/floor.c, "full": stat, status and io of every process,
no parsing) in the same configurations: /proc/PID/stat and /proc/PID/io sum over every thread
of the process inside the kernel, a cost every tool that shows a process's CPU or I/O pays.
Linux only; needs a C compiler for bench/threads.c and bench/floor.c.

    .venv/bin/python bench/threads.py [--threads 20000] [--busy 500] [--rounds 2] [--ticks 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(ticks: int, warm: int = 3) -> tuple[float, float, int, int]:
    """Mean CPU ms per tick (a periodic refresh counts in full), median processes, max
    thread reads in a tick and the budget (-1 for a build that does not count them)."""
    from lagwatch.sources.procfs import ProcfsSource

    src = ProcfsSource()
    times, counts, reads = [], [], []
    try:
        deadline = time.monotonic()
        for k in range(warm + ticks):
            deadline += 1.0
            time.sleep(max(0.0, deadline - time.monotonic()))
            t0 = time.process_time()
            n = len(src.read().processes)
            if k >= warm:
                times.append(1e3 * (time.process_time() - t0))
                counts.append(n)
                reads.append(getattr(src, "thread_reads", -1))
        budget = getattr(src, "thread_budget", -1)
        return statistics.fmean(times), statistics.median(counts), max(reads), budget
    finally:
        src.close()


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=20000)
    ap.add_argument("--busy", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ticks", type=int, default=15)
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench/threads.py measures the Linux procfs source; run it on Linux")
        return 2
    with tempfile.TemporaryDirectory() as d:
        exe = Path(d) / "threads"
        subprocess.run(["cc", "-O2", "-pthread", "-o", str(exe), str(HERE / "threads.c")],
                       check=True)  # fmt: skip
        floor = Path(d) / "floor"
        subprocess.run(["cc", "-O2", "-o", str(floor), str(HERE / "floor.c")], check=True)
        floors: dict[str, list[float]] = {"reference": [], "idle": [], "busy": []}
        results: dict[str, list[tuple[float, float, int, int]]] = {
            "reference": [], "idle": [], "busy": []}  # fmt: skip
        for r in range(args.rounds):
            order = ["reference", "idle", "busy"]
            for config in order if r % 2 == 0 else order[::-1]:
                proc = None
                if config != "reference":
                    nbusy = args.busy if config == "busy" else 0
                    proc = subprocess.Popen([str(exe), str(args.threads), str(nbusy)],
                                            stdout=subprocess.PIPE, text=True)  # fmt: skip
                    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
                try:
                    res = measure(args.ticks)
                    out = subprocess.run([str(floor), "9", "full"], capture_output=True,
                                         text=True, check=True).stdout.split()  # fmt: skip
                    floors[config].append(float(out[0]) / 1e6)
                finally:
                    if proc is not None:
                        proc.kill()
                        proc.wait()
                results[config].append(res)
                print(f"  round {r + 1}, {config}: {res[0]:.2f} ms per tick, {res[1]:.0f} "
                      f"processes, at most {res[2]} thread reads in a tick (budget {res[3]}); "
                      f"C floor, full reads: {floors[config][-1]:.2f} ms", flush=True)  # fmt: skip
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), "unknown CPU")  # fmt: skip
    print(f"machine: nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}; date "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")  # fmt: skip
    ref = [x[0] for x in results["reference"]]
    labels = {"idle": f"{args.threads} blocked threads",
              "busy": f"{args.threads} threads, {args.busy} waking every ms"}  # fmt: skip
    for config, label in labels.items():
        ratios = [x[0] / y for x, y in zip(results[config], ref, strict=False)]
        floor_ratios = [x / y for x, y in zip(floors[config], floors["reference"], strict=False)]
        extra = [x[0] - y for x, y in zip(results[config], ref, strict=False)]
        floor_extra = [x - y for x, y in zip(floors[config], floors["reference"], strict=False)]
        print(f"one process with {label}: tick x{statistics.median(ratios):.2f} the reference "
              f"(per round {', '.join(f'{v:.2f}' for v in ratios)}), +"
              f"{statistics.median(extra):.2f} ms; the C floor x"
              f"{statistics.median(floor_ratios):.2f}, +{statistics.median(floor_extra):.2f} ms "
              f"(the kernel summing its threads); thread reads per tick at most "
              f"{max(x[2] for x in results[config])}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
