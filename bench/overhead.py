"""Overhead of `lagwatch daemon` against a plain psutil loop, with many processes alive.

With N extra sleeping processes (default 1000), run the real daemon at 1 Hz for S seconds
(default 30), then a loop that reads the same fields of every process with psutil at 1 Hz for
the same time, and compare their CPU time (user + system, from /proc) measured in this run.
Also reports the daemon's RSS and its peak. Linux only (reads /proc).

    .venv/bin/python bench/overhead.py [--procs 1000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PSUTIL_LOOP = r"""
import sys, time, psutil
attrs = ["pid", "ppid", "name", "username", "status", "cpu_times", "memory_info",
         "num_threads", "io_counters", "num_ctx_switches"]
deadline = time.monotonic()
while True:
    for p in psutil.process_iter(attrs):  # every field, every process, like a sweep
        p.info
    deadline += 1.0
    time.sleep(max(0.0, deadline - time.monotonic()))
"""


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    val = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
           if line.startswith(("VmRSS", "VmHWM"))}  # fmt: skip
    return val["VmRSS"] / 1024, val["VmHWM"] / 1024


def measure(cmd: list[str], seconds: float, ready) -> tuple[float, float, float, int]:
    """CPU seconds over ``seconds`` once ``ready()`` is true; RSS now and peak."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{cmd} did not get ready")
            time.sleep(0.1)
        start = cpu_s(proc.pid)
        time.sleep(seconds)  # the measurement window
        used = cpu_s(proc.pid) - start
        rss, peak = rss_mb(proc.pid)
        return used, rss, peak, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def breakdown(ticks: int = 20) -> dict[str, float]:
    """Where one daemon tick's CPU goes (in this process, same machine state): the sampler's
    read, its ranking, and the daemon's own handling (ring, pauses, rogues, recording)."""
    from lagwatch.daemon.loop import Daemon, DaemonConfig
    from lagwatch.ranking import compute_ranking
    from lagwatch.sampler import Sampler
    from lagwatch.sources import registry
    from lagwatch.store import Recorder
    from lagwatch.ticker import Ticker

    sampler = Sampler(registry.select()[0])
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(
            lambda: Ticker(sampler), Recorder(Path(tmp) / "h.db"), config=DaemonConfig()
        )
        daemon.recorder.open()
        prev = sampler.read()
        idle: dict = {}  # the cache of idle processes' rows, as Ticker.tick keeps it
        read = rank = handle = 0.0
        for _ in range(ticks):
            time.sleep(0.25)  # let counters move
            a = time.process_time()
            cur = sampler.read()
            b = time.process_time()
            ranking = compute_ranking(prev, cur, "score", idle)
            c = time.process_time()
            daemon._handle(ranking, b - a)
            d = time.process_time()
            prev = cur
            read, rank, handle = read + b - a, rank + c - b, handle + d - c
        daemon.recorder.close()
    sampler.close()
    return {"read_ms": 1e3 * read / ticks, "rank_ms": 1e3 * rank / ticks,
            "handle_ms": 1e3 * handle / ticks, "processes": len(cur.processes)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    sleepers = []
    try:
        for _ in range(args.procs):
            sleepers.append(subprocess.Popen(["sleep", "3600"]))
        nproc = len(os.listdir("/proc")) if os.path.isdir("/proc") else 0
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "h.db"

            def daemon_ready() -> bool:
                import sqlite3

                if not db.exists():
                    return False
                try:
                    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                    n = c.execute("SELECT count(*) FROM ticks").fetchone()[0]
                    c.close()
                    return n >= 2
                except sqlite3.Error:
                    return False

            load_before = os.getloadavg()
            d_cpu, d_rss, d_peak, _ = measure(
                [sys.executable, "-m", "lagwatch", "daemon", "--db", str(db), "--interval", "1"],
                args.seconds,
                daemon_ready,
            )
            size = db.stat().st_size + sum(
                p.stat().st_size for p in Path(tmp).glob("h.db-*") if p.is_file()
            )
            t0 = time.monotonic()
            p_cpu, p_rss, _, _ = measure(
                [sys.executable, "-c", PSUTIL_LOOP],
                args.seconds,
                lambda: time.monotonic() - t0 > 3.0,  # past its first sweep
            )
            parts = breakdown()
            load_after = os.getloadavg()
    finally:
        for s in sleepers:
            s.kill()
        for s in sleepers:
            s.wait()
    cpu_model = "?"
    if os.path.exists("/proc/cpuinfo"):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    print(f"machine: nproc={os.cpu_count()} cpu={cpu_model!r} kernel={platform.release()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; load before {load_before}, "
          f"after {load_after}; /proc entries ~{nproc}")  # fmt: skip
    print(f"window: {args.seconds:g}s at 1 Hz with {args.procs} extra sleeping processes")
    print(f"daemon:      CPU {d_cpu:.2f}s = {100 * d_cpu / args.seconds:.2f}% of one core; "
          f"RSS {d_rss:.1f} MB (peak {d_peak:.1f} MB); DB+WAL {size / 1024:.0f} KiB")  # fmt: skip
    print(f"psutil loop: CPU {p_cpu:.2f}s = {100 * p_cpu / args.seconds:.2f}% of one core; "
          f"RSS {p_rss:.1f} MB")  # fmt: skip
    print(f"ratio daemon/psutil: {d_cpu / p_cpu:.3f}" if p_cpu else "psutil used no CPU")
    print(f"one tick of {parts['processes']} processes, CPU: sampler read "
          f"{parts['read_ms']:.1f} ms, compute_ranking {parts['rank_ms']:.1f} ms, daemon's "
          f"own handling {parts['handle_ms']:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
