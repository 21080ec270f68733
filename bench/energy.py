"""Benchmark: what energy costs per tick, against the ranking it is part of.

In the same run, on the same synthetic snapshots (N processes, every counter moving):
- compute_ranking with energy attribution disabled (the reference: rates, scores, sort),
- compute_ranking as shipped, on each path: Linux model, RAPL split (rapl-share), macOS
  pmenergy (Intel, QoS counters) and ri_energy_nj (Apple Silicon),
- energy.attribute alone on each path (rows already computed),
- EnergyIntegrator.add of one finished ranking (what `lagwatch energy` adds per interval),
  by process and by app.

Run: `.venv/bin/python bench/energy.py [--procs 1000] [--reps 50]`. Prints CPU-time medians and
each path's ratio to the reference (goal: attribution adds at most 25 % to a ranking).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from unittest import mock

from lagwatch import ranking as ranking_module
from lagwatch.energy import attribute
from lagwatch.energy.integrate import EnergyIntegrator
from lagwatch.energy_models import BUILTIN_WEIGHTS
from lagwatch.model import ProcessSample, Snapshot
from lagwatch.ranking import compute_ranking, compute_row
from lagwatch.sources import pmenergy

S = 1_000_000_000


def snapshots(n: int, platform_name: str, rapl: bool, qos: bool, energy: bool):
    def sample(pid: int, k: int) -> ProcessSample:
        return ProcessSample(
            pid=pid, start_id=pid, name=f"proc{pid % 50}", ppid=1 if pid < 100 else pid // 10,
            cpu_ns=k * pid * 10_000, wakeups=k * (pid % 37), disk_read_bytes=k * pid * 100,
            disk_write_bytes=k * pid * 50, pageins=k, ctx_switches=k * pid, memory_bytes=pid << 12,
            energy_nj=k * pid * 1000 if energy else None,
            cpu_qos_ns={"default": k * pid * 7_000, "background": k * pid * 3_000} if qos else None,
        )  # fmt: skip

    def snap(k: int) -> Snapshot:
        system = {"memory_total_bytes": 8 << 30, "cpu_count": 4}
        if rapl:
            system.update(rapl_energy_uj=k * 5_000_000, rapl_time_ns=k * S, rapl_epoch=1)
        procs = [sample(pid, k) for pid in range(1, n + 1)]
        return Snapshot(time=1e9 + k, monotonic_ns=k * S, platform=platform_name,
                        sources=["x"], processes={p.identity: p for p in procs},
                        system=system)  # fmt: skip

    return snap(1), snap(2)


def interleaved_medians(fns: dict[str, object], reps: int) -> dict[str, float]:
    """CPU-time median of each function, run in rounds (one call of each per round) so that a
    change in machine load during the run hits every variant alike."""
    times: dict[str, list[int]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.process_time_ns()
            fn()
            times[name].append(time.process_time_ns() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def no_attribution(prev: Snapshot, cur: Snapshot):
    with mock.patch.object(ranking_module.energy, "attribute", lambda *a, **k: None):
        return compute_ranking(prev, cur)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    pmenergy._machine = BUILTIN_WEIGHTS  # no plist lookup inside the timed loop

    paths = {
        "linux model": snapshots(args.procs, "linux", rapl=False, qos=False, energy=False),
        "rapl-share": snapshots(args.procs, "linux", rapl=True, qos=False, energy=False),
        "pmenergy (Intel)": snapshots(args.procs, "macos", rapl=False, qos=True, energy=False),
        "ri_energy_nj": snapshots(args.procs, "macos", rapl=False, qos=False, energy=True),
    }
    ranking = compute_ranking(*paths["rapl-share"])
    by_process = EnergyIntegrator(by="process")
    by_app = EnergyIntegrator(by="app")
    fns = {"reference (no attribution)": lambda: no_attribution(*paths["linux model"])}
    for name, (prev, cur) in paths.items():
        fns[f"ranking + {name}"] = lambda p=prev, c=cur: compute_ranking(p, c)
    for name, (prev, cur) in paths.items():
        rows = [compute_row(s, prev.processes.get(i), 1.0) for i, s in cur.processes.items()]
        powers = [r.power_watts for r in rows]

        def attribute_alone(r=rows, w=powers, p=prev, c=cur) -> None:
            for row, watts in zip(r, w, strict=True):  # attribute fills power_watts: undo
                row.power_watts = watts
            attribute(r, p, c, 1.0)

        fns[f"attribute alone, {name}"] = attribute_alone
    fns["integrate one ranking, process"] = lambda: by_process.add(ranking)
    fns["integrate one ranking, app"] = lambda: by_app.add(ranking)
    medians = interleaved_medians(fns, args.reps)
    reference = medians["reference (no attribution)"]
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}")
    print(f"{args.procs} processes, median of {args.reps} interleaved rounds, CPU time")
    for name, t in medians.items():
        print(f"{name:32s} {t / 1e6:8.2f} ms  {t / reference:.2f}")


if __name__ == "__main__":
    main()
