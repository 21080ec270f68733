"""Benchmark: what the Prometheus exporter costs, against references measured in the same run.

1. Sampling thread: the exporter's per-tick work (``SeriesTracker.update``: top K, counters,
   system sums) against ``compute_ranking`` of the same tick (the sampler's own work), on
   synthetic snapshots of N processes with every counter moving.
2. Rendering /metrics without the cache: lagwatch's collector against prometheus_client's own
   Gauge/Counter objects holding the same series.
3. Serving: scrapes per second of lagwatch's server (cached page) against prometheus_client's
   ``start_http_server`` serving the same registry, 1 and 8 concurrent clients, 127.0.0.1.

Run: `.venv/bin/python bench/exporter.py [--procs 1000] [--reps 50] [--requests 400]`.
"""

from __future__ import annotations

import argparse
import http.client
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lagwatch.exporter import start_exporter
from lagwatch.exporter.series import SeriesTracker
from lagwatch.live import LiveState
from lagwatch.model import ProcessSample, Snapshot
from lagwatch.ranking import compute_ranking

S = 1_000_000_000


def snapshot(n: int, k: int) -> Snapshot:
    procs = [
        ProcessSample(
            pid=pid, start_id=pid, name=f"proc{pid % 50}", ppid=1, cpu_ns=k * pid * 10_000,
            wakeups=k * (pid % 37), disk_read_bytes=k * pid * 100, disk_write_bytes=k * pid * 50,
            pageins=k, ctx_switches=k * pid, memory_bytes=pid << 12, threads=4,
        )
        for pid in range(1, n + 1)
    ]  # fmt: skip
    return Snapshot(
        time=1e9 + k, monotonic_ns=k * S, platform="linux", sources=["x"],
        processes={p.identity: p for p in procs},
        system={"memory_total_bytes": 8 << 30, "cpu_count": 4},
    )  # fmt: skip


def interleaved_medians(fns: dict, reps: int, clock=time.process_time_ns) -> dict[str, float]:
    """Median of each function, run in rounds so a change in machine load hits all alike."""
    times: dict[str, list[int]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def reference_registry(exporter_text: str) -> CollectorRegistry:
    """prometheus_client's own metric objects holding the same series as lagwatch's page."""
    registry = CollectorRegistry(auto_describe=False)
    for family in text_string_to_metric_families(exporter_text):
        if not family.samples or family.name.startswith("process_"):
            continue
        labels = sorted(family.samples[0].labels)
        kind = Counter if family.type == "counter" else Gauge
        name = family.name
        metric = kind(name, family.documentation or "x", labels, registry=registry)
        for s in family.samples:
            if not s.name.endswith(("_total", "_info")) and family.type == "counter":
                continue
            child = metric.labels(**s.labels) if labels else metric
            if kind is Counter:
                child.inc(s.value)
            else:
                child.set(s.value)
    return registry


def scrape_rate(port: int, requests: int, clients: int) -> float:
    def one(_: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"status {resp.status}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--requests", type=int, default=400)
    args = ap.parse_args()
    disable_created_metrics()  # lagwatch exports no _created series; the reference neither
    print(f"machine: {platform.machine()} {platform.processor() or ''} {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}")  # fmt: skip

    snaps = [snapshot(args.procs, k) for k in range(1, 4)]
    ranking = compute_ranking(snaps[0], snaps[1])
    tracker = SeriesTracker(20)
    tracker.update(ranking)

    def update() -> None:  # a fresh tick each time, as on the sampling thread
        ranking.time += 1
        tracker.update(ranking)

    tick = interleaved_medians(
        {"compute_ranking": lambda: compute_ranking(snaps[1], snaps[2]), "update": update},
        args.reps,
    )
    print(f"\n1. per tick, {args.procs} processes (CPU time, median of {args.reps})")
    ref = tick["compute_ranking"]
    print(f"   reference compute_ranking      {ref / 1e6:8.2f} ms  1.00")
    print(f"   exporter SeriesTracker.update  {tick['update'] / 1e6:8.2f} ms  "
          f"{tick['update'] / ref:.2f}")  # fmt: skip

    state = LiveState()
    exporter = start_exporter(state, "127.0.0.1", 0, None)
    try:
        state.publish(ranking, 0.01)
        text = generate_latest(exporter.registry).decode()
        reference = reference_registry(text)
        samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        render = interleaved_medians(
            {
                "reference": lambda: generate_latest(reference),
                "lagwatch": lambda: generate_latest(exporter.registry),
            },
            args.reps,
        )
        print(f"\n2. rendering /metrics uncached, {samples} samples (CPU time)")
        print(f"   reference prometheus_client objects  {render['reference'] / 1e6:6.2f} ms  1.00")
        print(f"   lagwatch collector                   {render['lagwatch'] / 1e6:6.2f} ms  "
              f"{render['lagwatch'] / render['reference']:.2f}")  # fmt: skip

        server, thread = start_http_server(0, "127.0.0.1", registry=reference)
        ref_port = server.server_address[1]
        try:
            print(f"\n3. scrapes per second over loopback ({args.requests} requests)")
            for clients in (1, 8):
                rates = {"reference": [], "lagwatch": []}
                for _ in range(3):
                    rates["reference"].append(scrape_rate(ref_port, args.requests, clients))
                    rates["lagwatch"].append(scrape_rate(exporter.port, args.requests, clients))
                r = statistics.median(rates["reference"])
                lw = statistics.median(rates["lagwatch"])
                rejected = exporter.rejected_connections
                print(f"   {clients} client(s): prometheus_client {r:7.0f}/s  lagwatch {lw:7.0f}/s"
                      f"  ratio {lw / r:.2f}  (rejected: {rejected})")  # fmt: skip
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
    finally:
        exporter.stop()


if __name__ == "__main__":
    main()
