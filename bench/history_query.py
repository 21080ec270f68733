"""How fast `history` and `why` answer over a week of recorded data, against a full table scan
of the same database measured in the same run.

Builds a week as the daemon's retention leaves it: the last day at full resolution (one tick a
second) and the six days before at one tick a minute (thinned, level 1), written through the
daemon's own Recorder from rankings captured live on this machine (optionally with N extra
sleeping processes, ``--extra``) or the worst case where every tick holds the 50-row bound
(``--worst``), plus pause events with timelines. Then times, alternating with the reference
(median of ``--reps``, wall clock):

- `history` over one hour of the full-resolution day and of a thinned day;
- `history --pid P` and `history --name TEXT` over the whole week;
- `events` over the week, `why` of the latest event and of the oldest one;
- reference: a full scan of the process rows (every row's columns read).

    .venv/bin/python bench/history_query.py [--extra 5000] [--worst] [--reps 5]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lagwatch.events import Event, suspect, timeline_item
from lagwatch.model import ProcessRow, Ranking
from lagwatch.store import Recorder
from lagwatch.store.policy import select_rows
from lagwatch.store.reader import History, joined_sql

DAY = 86400.0
sys.path.insert(0, str(Path(__file__).resolve().parent))
from db_growth import capture, worst_case  # noqa: E402  (bench helpers, same folder)

RARE_PID, RARE_NAME = 4_000_001, "rare-batch-job"
LEAN = {"subscores": False, "machine": False}  # what `lagwatch history` reads


def rare_row(template: ProcessRow) -> ProcessRow:
    """A process seen for ten minutes of the week: what `history --pid/--name` is asked for."""
    return dataclasses.replace(template, pid=RARE_PID, name=RARE_NAME, score=33.0)


def build(db: Path, samples: list[Ranking], end: float, events: int) -> dict[str, float]:
    rec = Recorder(db, maintain_every_s=1e9)
    rec.open()
    t0 = time.monotonic()
    week_start = end - 7 * DAY
    full_start = end - DAY
    rare = (end - 0.3 * DAY, end - 0.3 * DAY + 600)
    template = next((row for s in samples for row in s.processes), None)
    k = 0
    t = week_start
    while t < end:  # one a minute for six days, then one a second
        r = samples[k % len(samples)]
        procs = r.processes
        if template is not None and rare[0] <= t < rare[1]:
            procs = [*procs, rare_row(template)]
        rec.record(Ranking(t, 1.0, r.platform, r.sources, procs, r.system))
        k += 1
        t += 60.0 if t < full_start else 1.0
    for i in range(events):
        start = week_start + (i + 0.5) * 7 * DAY / events
        r = samples[i % len(samples)]
        top = select_rows(r)[:3] or r.processes[:3]
        timeline = [
            timeline_item(start - 10 + s, 1.0, "before" if s < 10 else "after", row)
            for s in range(20) for row in top
        ]  # fmt: skip
        rec.save_event(
            Event(kind="pause", start=start, end=start + 3.0, duration_s=3.0,
                  suspects=[suspect(x.pid, x.name, x.score, x.dominant) for x in top],
                  details={"expected_s": 1.0}, timeline=timeline),
            flush=True,
        )  # fmt: skip
    rec.close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE ticks SET level = 1 WHERE time < ?", (full_start,))  # as thinned
    conn.commit()
    counts = {
        "ticks": conn.execute("SELECT count(*) FROM ticks").fetchone()[0],
        "rows": conn.execute("SELECT count(*) FROM procs").fetchone()[0],
        "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
        "mib": db.stat().st_size / 2**20,
        "build_s": time.monotonic() - t0,
    }
    conn.close()
    return counts


def count(rankings: Iterator[object]) -> int:
    """Consume rankings as `lagwatch history` does: one at a time, none kept."""
    return sum(1 for _ in rankings)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--extra", type=int, default=0, help="sleeping processes during capture")
    ap.add_argument("--capture", type=int, default=40)
    ap.add_argument("--worst", action="store_true", help="every tick holds 50 rows")
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="write the week's database here and keep it")
    args = ap.parse_args()
    sleepers = [subprocess.Popen(["sleep", "86400"]) for _ in range(args.extra)]
    try:
        samples = worst_case() if args.worst else capture(args.capture)
    finally:
        for p in sleepers:
            p.kill()
        for p in sleepers:
            p.wait()
    names = collections.Counter(r.name for s in samples for r in select_rows(s))
    pids = collections.Counter(r.pid for s in samples for r in select_rows(s))
    if not pids:
        print("no process was worth recording in the captured rankings; use --worst")
        return 1
    pid = pids.most_common(1)[0][0]
    name = names.most_common(1)[0][0][:4]
    per_ranking = statistics.median(len(s.processes) for s in samples)
    end = time.time()
    with tempfile.TemporaryDirectory() as d:
        db = args.keep or Path(d) / "history.db"
        db.unlink(missing_ok=True)
        info = build(db, samples, end, args.events)
        # The captured rankings (200 000 rows at 5 000 processes) are freed before timing:
        # `lagwatch history` holds nothing else while it reads, and a bench process holding
        # them makes every garbage collection during the queries walk them.
        samples.clear()
        gc.collect()
        hist = History(db)
        scan_conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

        def full_scan() -> object:
            return scan_conn.execute(
                "SELECT count(*), sum(length(name)), sum(cpu_percent), sum(memory_bytes), "
                "sum(length(subscores)) FROM procs"
            ).fetchone()

        first_event = hist.events()[0].id
        queries: dict[str, Callable[[], object]] = {
            "history, 1 h of the full-resolution day": lambda: count(
                hist.rankings(end - 0.5 * DAY, end - 0.5 * DAY + 3600, **LEAN)),
            "history, 1 h of a thinned day": lambda: count(
                hist.rankings(end - 3.5 * DAY, end - 3.5 * DAY + 3600, **LEAN)),
            "history --pid (a process seen for 10 min), whole week": lambda: count(
                hist.rankings(end - 7 * DAY, end, pid=RARE_PID, **LEAN)),
            "history --name (the same), whole week": lambda: count(
                hist.rankings(end - 7 * DAY, end, name=RARE_NAME[:8], **LEAN)),
            f"history --pid {pid} (recorded in every tick), whole week": lambda: count(
                hist.rankings(end - 7 * DAY, end, pid=pid, **LEAN)),
            f"history --name {name!r} (in every tick), whole week": lambda: count(
                hist.rankings(end - 7 * DAY, end, name=name, **LEAN)),
            "events, whole week": lambda: hist.events(end - 7 * DAY),
            "why (latest event)": lambda: hist.event(None),
            "why (oldest event)": lambda: hist.event(first_event),
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in queries}
        answered: dict[str, int] = {}
        ref: list[float] = []
        for _ in range(args.reps):
            for key, fn in queries.items():
                ref.append(timed(full_scan))
                t0 = time.perf_counter()
                result = fn()
                times[key].append(time.perf_counter() - t0)
                answered[key] = (
                    result if isinstance(result, int)
                    else len(result) if isinstance(result, list) else int(bool(result))
                )  # fmt: skip
        scan = statistics.median(ref)
        cli: dict[str, float] = {}
        lagwatch = Path(sys.executable).parent / "lagwatch"
        if lagwatch.exists():
            for which in (RARE_PID, pid):
                for fmt in ("json", "table"):
                    t0 = time.perf_counter()
                    subprocess.run([str(lagwatch), "history", "--db", str(db), "--since",
                                    str(end - 7 * DAY), "--pid", str(which), "--format", fmt],
                                   stdout=subprocess.DEVNULL, check=True)  # fmt: skip
                    cli[f"{which} --format {fmt}"] = time.perf_counter() - t0
        plan = scan_conn.execute(
            "EXPLAIN QUERY PLAN " + joined_sql(["t.time >= ?", "t.time <= ?", "p.pid = ?"],
                                               subscores=False, matching=True, machine=False),
            (end - 7 * DAY, end, pid),
        ).fetchall()  # fmt: skip
        hist.close()
        scan_conn.close()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), "unknown CPU")  # fmt: skip
    print(f"machine: nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}, SQLite "
          f"{sqlite3.sqlite_version}; date {time.strftime('%Y-%m-%d %H:%M %Z')}")  # fmt: skip
    kind = "worst case (50 rows a tick)" if args.worst else "captured on this machine"
    print(f"week: {info['ticks']} ticks, {info['rows']} process rows, {info['events']} events, "
          f"{info['mib']:.0f} MiB ({kind}, ~{per_ranking:.0f} processes per ranking); built in "
          f"{info['build_s']:.0f} s")  # fmt: skip
    print(f"reference, full scan of the process rows: {1e3 * scan:.1f} ms "
          f"(range {1e3 * min(ref):.1f}-{1e3 * max(ref):.1f})")  # fmt: skip
    print("| query | ticks answered | time | ratio to full scan |")
    print("|---|---|---|---|")
    for key, vals in times.items():
        med = statistics.median(vals)
        print(f"| {key} | {answered[key]} | {1e3 * med:.1f} ms ({1e3 * min(vals):.1f}-"
              f"{1e3 * max(vals):.1f}) | {med / scan:.3f} |")  # fmt: skip
    for which, seconds in cli.items():
        print(f"`lagwatch history --since <week> --pid {which}`, the whole command "
              f"(interpreter start and output included): {seconds:.2f} s")  # fmt: skip
    print(f"plan of `history --pid`'s query: {[p[-1] for p in plan]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
