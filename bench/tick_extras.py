"""What the `tcp-diag` network source and `psi` pressure reading add to a tick, at 1000+ processes.

Spawns N sleeping processes (default 1000), then times whole ticks (every source read, then the
ranking) of four samplers, interleaved round by round so a burst of load hits each alike:
procfs alone (the reference), procfs + psi, procfs + tcp-diag, and all three; plus tcp-diag when
a new TCP connection appears before every tick (the case that searches for a socket's owner).
CPU time of this process (user + system: sock_diag's table walk is kernel time spent here), so
a busy neighbour's load does not count. Linux only.

    .venv/bin/python bench/tick_extras.py [--procs 1000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from lagwatch.sampler import Sampler
from lagwatch.sources import procfs, psi, tcp_diag
from lagwatch.ticker import Ticker


def spawn(n: int) -> subprocess.Popen:
    """One process group of ``n`` sleepers (a shell forking them), killed as a group."""
    script = f"for i in $(seq {n}); do sleep 3600 & done; wait"
    group = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = Path(f"/proc/{group.pid}/task/{group.pid}/children").read_text().split()
        if len(children) >= n:
            break
        time.sleep(0.2)
    return group


def ticker(*extra: str) -> Ticker:
    sources = [procfs.ProcfsSource()]
    if "psi" in extra:
        sources.append(psi.PsiSource())
    if "tcp" in extra:
        sources.append(tcp_diag.TcpDiagSource())
    t = Ticker(Sampler(sources))
    t.tick()  # the first reading: descriptors opened, every process's sockets found once
    return t


def cpu_ms(fn) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("Linux only")
    group = spawn(args.procs)
    listener = socket.create_server(("127.0.0.1", 0))
    conns: list[socket.socket] = []
    try:
        count = len([e for e in os.listdir("/proc") if e.isdigit()])
        contenders = {
            "procfs (reference)": ticker(),
            "procfs + psi": ticker("psi"),
            "procfs + tcp-diag": ticker("tcp"),
            "procfs + psi + tcp-diag": ticker("psi", "tcp"),
            "procfs + tcp-diag, a new connection every tick": ticker("tcp"),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, t in contenders.items():
                if "new connection" in name:
                    conns.append(socket.create_connection(listener.getsockname()))
                    conns.append(listener.accept()[0])
                times[name].append(cpu_ms(t.tick))
            time.sleep(0.05)
        ref = statistics.median(times["procfs (reference)"])
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"{platform.node()} {platform.platform()} {when}")
        print(f"processes: {count}, rounds: {args.rounds}, load average: {os.getloadavg()}")
        print(f"{'tick':<50} {'median CPU ms':>14} {'ratio':>7}")
        for name, values in times.items():
            med = statistics.median(values)
            print(f"{name:<50} {med:>14.2f} {med / ref:>7.2f}")
        for extra, source in (("psi.read() alone", psi.PsiSource()),
                              ("tcp-diag read() alone", tcp_diag.TcpDiagSource())):  # fmt: skip
            source.read()
            alone = statistics.median(cpu_ms(source.read) for _ in range(args.rounds))
            print(f"{extra:<50} {alone:>14.2f} {alone / ref:>7.2f}")
            source.close()
        for t in contenders.values():
            t.close()
    finally:
        for c in conns:
            c.close()
        listener.close()
        os.killpg(group.pid, signal.SIGKILL)
        group.wait()


if __name__ == "__main__":
    main()
