"""How fast the history database grows, at full resolution and after thinning.

Takes real rankings from this machine (or a synthetic worst case where every tick fills the
per-tick bound), writes a day of 1 Hz ticks through the daemon's own Recorder, and measures the
file. Reference in the same run: the same ticks as `lagwatch top --json` lines (what recording
the raw contract would cost). Then thins as the retention pass would 1.5 and 8 days later, and
estimates the steady 30-day size.

    .venv/bin/python bench/db_growth.py [--ticks 86400] [--capture 40] [--worst] [--extra N]

``--extra N`` starts N sleeping processes while the rankings are captured (e.g. 5000: the
growth at that many processes; the record policy bounds rows per tick, not processes).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from lagwatch.model import ProcessRow, Ranking
from lagwatch.store import Recorder
from lagwatch.store.policy import select_rows
from lagwatch.store.retention import DAY, Retention, thin


def capture(n: int) -> list[Ranking]:
    from lagwatch.sampler import Sampler
    from lagwatch.sources import registry
    from lagwatch.ticker import Ticker

    sampler = Ticker(Sampler(registry.select()[0]))
    out: list[Ranking] = []
    try:
        for ranking in sampler.rankings(0.5):
            out.append(ranking)
            if len(out) >= n:
                return out
    finally:
        sampler.close()
    return out


def worst_case() -> list[Ranking]:
    rows = [
        ProcessRow(
            pid=1000 + i,
            ppid=1,
            name=f"busy-worker-{i}",
            user="someone",
            state="running",
            restricted=False,
            memory_bytes=300 << 20,
            threads=12,
            cpu_percent=55.5 + i,
            disk_read_bytes_per_s=1.5e6,
            disk_write_bytes_per_s=3e6,
            pageins_per_s=12.0,
            wakeups_per_s=850.0,
            ctx_switches_per_s=900.0,
            energy_impact=60.0 + i,
            power_watts=1.2345,
            score=40.0 + i % 50,
            dominant="cpu",
            subscores={"cpu": 40.0, "disk": 30.0, "wakeups": 20.0},
            start_id=123456 + i,
        )
        for i in range(80)
    ]
    return [Ranking(0.0, 1.0, "linux", ["procfs"], rows, {"memory_total_bytes": 16 << 30})]


def used_bytes(db: Path) -> int:
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    count = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    return (count - free) * page


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=86400)
    ap.add_argument("--capture", type=int, default=40)
    ap.add_argument("--worst", action="store_true", help="every tick holds the bound (50 rows)")
    ap.add_argument("--extra", type=int, default=0, help="sleeping processes during capture")
    args = ap.parse_args()
    sleepers = [subprocess.Popen(["sleep", "86400"]) for _ in range(args.extra)]
    try:
        samples = worst_case() if args.worst else capture(args.capture)
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()
    processes = statistics.median(len(r.processes) for r in samples)
    rows_per_tick = sum(len(select_rows(r)) for r in samples) / len(samples)
    # Reference: the same ticks as `top --json` lines. Each captured ranking's line has the same
    # length every time it recurs (but for the time's digits), so it is measured once.
    line_bytes = [len(json.dumps(r.to_json(), separators=(",", ":")).encode()) + 1 for r in samples]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "h.db"
        rec = Recorder(db, maintain_every_s=1e9)
        start = time.time() - 10 * DAY
        t0 = time.process_time()
        raw = 0
        for k in range(args.ticks):
            r = samples[k % len(samples)]
            tick = Ranking(start + k, 1.0, r.platform, r.sources, r.processes, r.system)
            rec.record(tick)
            raw += line_bytes[k % len(samples)]
        write_s = time.process_time() - t0
        rec.close()
        full = used_bytes(db)
        per_day = full * 86400 / args.ticks
        conn = sqlite3.connect(db, isolation_level=None)
        machine_b, contexts = conn.execute(
            "SELECT avg(length(machine)), (SELECT count(*) FROM contexts) FROM ticks"
        ).fetchone()
        end = start + args.ticks
        retention = Retention()
        while thin(conn, end + 1.5 * DAY, retention)["thinned"]:
            pass
        minute = used_bytes(db)
        while thin(conn, end + 8 * DAY, retention)["thinned"]:
            pass
        ten = used_bytes(db)
        conn.close()
    scale = 86400 / args.ticks
    day_1min, day_10min = minute * scale, ten * scale
    steady = per_day + 6 * day_1min + 23 * day_10min
    kind = "worst case (bound reached every tick)" if args.worst else "captured on this machine"
    print(f"rankings: {len(samples)} {kind}, ~{processes:.0f} processes each; recorded rows "
          f"per tick: {rows_per_tick:.1f}")  # fmt: skip
    print(f"{args.ticks} ticks at 1 Hz written in {write_s:.1f}s CPU "
          f"({1e3 * write_s / args.ticks:.2f} ms/tick)")  # fmt: skip
    print(f"full resolution: {per_day / 2**20:.1f} MiB/day ({full / args.ticks:.0f} B/tick); "
          f"reference top --json lines: {raw * scale / 2**20:.1f} MiB/day; "
          f"ratio {full / raw:.3f}")  # fmt: skip
    print(f"of which the machine's figures (ticks.machine): {machine_b or 0:.0f} B/tick of "
          f"text; contexts stored: {contexts}")  # fmt: skip
    print(f"thinned to 1/min: {day_1min / 2**20:.2f} MiB/day; to 1/10 min: "
          f"{day_10min / 2**20:.2f} MiB/day")  # fmt: skip
    print(f"steady state with 30-day retention: {steady / 2**20:.0f} MiB "
          f"(1 day full + 6 days 1/min + 23 days 1/10 min)")  # fmt: skip
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
