"""Is a tick's cost linear in the number of processes? Per-process CPU time per tick at a small
and a large process count (default 1 000 and 10 000 sleeping processes), in this process:

- sweep: the procfs source reading every process (``Sampler.read``);
- tick: what the daemon does per tick, i.e. the sweep, the ranking with energy attribution
  (``compute_ranking`` with the ticker's idle-row cache), and the daemon's own handling (ring
  buffer, pause and rogue tracking, the SQLite write of the tick: ``Daemon._handle``; the
  daemon writes on its own thread, here the write is done in line so that it is counted);
- top --json: the sweep, the ranking and encoding the whole ranking as one JSON line
  (``RankingEncoder``), written to /dev/null.

Sizes alternate in rounds (the extra processes are started and stopped between them), so load
from neighbours on a shared machine lands on both; each round is a median over ``--ticks``
ticks at ``--interval`` seconds after a warm-up. Linux only.

    .venv/bin/python bench/scale.py [--small 1000] [--large 10000] [--rounds 3] [--ticks 15]
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


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}, Python " + (
        platform.python_version()
    )


def run_round(ticks: int, interval: float, warm: int, tmp: Path) -> dict[str, float]:
    """Median per-process CPU (us) of each part over ``ticks`` ticks, fresh objects."""
    from lagwatch.daemon.loop import Daemon, DaemonConfig
    from lagwatch.ranking import compute_ranking
    from lagwatch.render.json_lines import RankingEncoder
    from lagwatch.sampler import Sampler
    from lagwatch.sources import registry
    from lagwatch.store import Recorder
    from lagwatch.ticker import Ticker

    sampler = Sampler(registry.select()[0])
    db = tmp / f"h{time.monotonic_ns()}.db"
    recorder = Recorder(db)
    daemon = Daemon(lambda: Ticker(sampler), recorder, config=DaemonConfig(interval_s=interval))
    # The writer thread's work (prepare, insert, commit) done in line, inside the measured
    # handling, rather than on a thread whose CPU would land outside it.
    daemon.writer.submit = recorder.record  # type: ignore[method-assign]
    recorder.open()
    encoder = RankingEncoder()
    out = open(os.devnull, "w")  # noqa: SIM115 - closed below
    idle: dict = {}
    parts: dict[str, list[float]] = {k: [] for k in ("sweep", "rank", "handle", "encode")}
    counts = []
    try:
        prev = sampler.read()
        deadline = time.monotonic()
        for k in range(warm + ticks):
            deadline += interval
            time.sleep(max(0.0, deadline - time.monotonic()))
            a = time.process_time()
            cur = sampler.read()
            b = time.process_time()
            ranking = compute_ranking(prev, cur, "score", idle)
            c = time.process_time()
            daemon._handle(ranking, b - a)
            d = time.process_time()
            out.write(encoder.encode(ranking) + "\n")
            out.flush()
            e = time.process_time()
            prev = cur
            if k >= warm:
                n = len(cur.processes)
                counts.append(n)
                for key, v in zip(parts, (b - a, c - b, d - c, e - d), strict=True):
                    parts[key].append(1e6 * v / n)
        mode = sampler.sources[0].sweep_mode if hasattr(sampler.sources[0], "sweep_mode") else ""
    finally:
        out.close()
        daemon.recorder.close()
        sampler.close()
        for f in tmp.glob(f"{db.name}*"):
            f.unlink()
    res = {k: statistics.median(v) for k, v in parts.items()}
    res["processes"] = statistics.median(counts)
    res["tick"] = res["sweep"] + res["rank"] + res["handle"]
    res["top_json"] = res["sweep"] + res["rank"] + res["encode"]
    res["mode"] = mode  # type: ignore[assignment]
    return res


def main() -> int:
    # SIGTERM (or SIGINT, ignored in background jobs) ends the run through the finally blocks,
    # which stop every process it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ticks", type=int, default=15)
    ap.add_argument("--warm", type=int, default=5, help="ticks before measuring")
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench/scale.py measures the Linux procfs source; run it on Linux")
        return 2
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; {args.rounds} rounds of {args.ticks} "
          f"ticks at {args.interval:g} s per size")  # fmt: skip
    base = [subprocess.Popen(["sleep", "86400"]) for _ in range(args.small)]
    extra: list[subprocess.Popen] = []
    results: dict[str, list[dict]] = {"small": [], "large": []}
    try:
        with tempfile.TemporaryDirectory() as d:
            for r in range(args.rounds):
                for size in ("small", "large") if r % 2 == 0 else ("large", "small"):
                    if size == "large" and not extra:
                        extra = [subprocess.Popen(["sleep", "86400"])
                                 for _ in range(args.large - args.small)]  # fmt: skip
                    elif size == "small" and extra:
                        for p in extra:
                            p.kill()
                        for p in extra:
                            p.wait()
                        extra = []
                    res = run_round(args.ticks, args.interval, args.warm, Path(d))
                    res["load_1m"] = os.getloadavg()[0]
                    results[size].append(res)
                    print(f"  round {r + 1}, {res['processes']:.0f} processes ({res['mode']}): "
                          f"sweep {res['sweep']:.2f}, ranking {res['rank']:.2f}, daemon's "
                          f"handling {res['handle']:.2f}, encoding {res['encode']:.2f} us per "
                          f"process; load {res['load_1m']:.1f}", flush=True)  # fmt: skip
    finally:
        for p in base + extra:
            p.kill()
        for p in base + extra:
            p.wait()
    print()
    print("per-process CPU per tick, us (median of rounds; per-round values):")
    for key, label in (("sweep", "sweep"), ("tick", "daemon tick (sweep+ranking+handling)"),
                       ("top_json", "top --json tick (sweep+ranking+encoding)")):  # fmt: skip
        s = [x[key] for x in results["small"]]
        lg = [x[key] for x in results["large"]]
        ratios = [b / a for a, b in zip(s, lg, strict=False)]
        print(f"  {label}: {statistics.median(s):.2f} at ~{results['small'][0]['processes']:.0f}"
              f", {statistics.median(lg):.2f} at ~{results['large'][0]['processes']:.0f}; "
              f"large/small {statistics.median(lg) / statistics.median(s):.2f} (per round "
              f"{', '.join(f'{x:.2f}' for x in ratios)}; goal <= 1.2)")  # fmt: skip
    for size in ("small", "large"):
        ratios = [x["top_json"] / x["tick"] for x in results[size]]
        print(f"  top --json / daemon tick at ~{results[size][0]['processes']:.0f}: "
              f"{statistics.median(ratios):.2f} (per round "
              f"{', '.join(f'{x:.2f}' for x in ratios)}; goal <= 1.2)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
