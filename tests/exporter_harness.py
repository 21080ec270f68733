"""A minimal daemon for exporter tests: a real Sampler publishing into a LiveState, served by
start_exporter, in its own process (so load on the HTTP side competes as it would for real).

Usage: python exporter_harness.py INTERVAL_S [TOP_K]
Prints the exporter's URL on the first line of stdout, then samples until SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from lagwatch.exporter import start_exporter
from lagwatch.live import LiveState
from lagwatch.sampler import Sampler
from lagwatch.sources import registry


def main() -> None:
    interval = float(sys.argv[1])
    top_k = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    state = LiveState(started_at=time.time())
    sampler = Sampler(registry.select()[0])
    exporter = start_exporter(state, "127.0.0.1", 0, None, top_k=top_k)
    print(exporter.url, flush=True)
    try:
        deadline = time.monotonic()
        while not stop.is_set():
            began = time.perf_counter()
            ranking = sampler.tick()
            if ranking is not None:
                state.publish(ranking, time.perf_counter() - began)
            deadline += interval
            stop.wait(max(0.0, deadline - time.monotonic()))
    finally:
        exporter.stop()
        sampler.close()


if __name__ == "__main__":
    main()



def start(interval_s: float, top_k: int = 20, timeout_s: float = 30.0):
    """Start the harness in a subprocess; returns (Popen, url). The caller kills it."""
    import selectors
    import subprocess
    import tempfile
    from pathlib import Path

    # stderr goes to a file, never to a pipe nobody reads (a full pipe would block the child).
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(interval_s), str(top_k)],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = bool(sel.select(timeout_s))
    url = proc.stdout.readline().strip() if ready else ""
    if not url.startswith("http://"):
        proc.kill()
        proc.wait()
        errors.seek(0)
        raise RuntimeError(f"exporter harness did not start: {errors.read().decode()[-2000:]}")
    errors.close()
    return proc, url
