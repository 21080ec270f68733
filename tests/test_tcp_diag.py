"""TCP bytes per process from sock_diag: a loopback transfer at a known rate, the bounded cost
of mapping sockets to processes, and what another user's processes get without root."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from conftest import lagwatch_cmd, need
from lagwatch.sampler import Sampler
from lagwatch.sources import registry, tcp_diag
from lagwatch.ticker import Ticker

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or tcp_diag.probe() is not None,
    reason=f"sock_diag unavailable: {tcp_diag.probe()}",
)

RATE = 2_000_000  # bytes/s

SENDER = textwrap.dedent(
    """
    import socket, sys, time
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    rate, chunk = float(sys.argv[2]), b"x" * 20000
    start, sent = time.monotonic(), 0
    while True:
        # Paced on the clock: a late loop catches up, so the mean rate is the one asked for.
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
        sock.sendall(chunk)
        sent += len(chunk)
    """
)
RECEIVER = textwrap.dedent(
    """
    import socket, sys
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    while conn.recv(1 << 16):
        pass
    """
)


def _transfer(prefix: list[str]) -> tuple[subprocess.Popen, subprocess.Popen]:
    receiver = subprocess.Popen(
        [*prefix, sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True
    )
    port = receiver.stdout.readline().strip()
    return subprocess.Popen([*prefix, sys.executable, "-c", SENDER, port, str(RATE)]), receiver


@pytest.fixture
def transfer():
    sender, receiver = _transfer([])
    yield sender.pid, receiver.pid
    for p in (sender, receiver):
        p.kill()
        p.wait()


@pytest.mark.integration
def test_loopback_transfer_is_measured_within_30_percent(transfer):
    sender, receiver = transfer
    sources, _ = registry.select(["procfs", "tcp-diag"])
    ticker = Ticker(Sampler(sources))
    try:
        ticker.tick()
        rates: dict[int, list[float]] = {sender: [], receiver: []}
        seconds = 0.0
        while seconds < 4.0:
            ranking = ticker.tick()
            if ranking is None:
                continue
            seconds += ranking.interval_s
            rows = {r.pid: r for r in ranking.processes}
            for pid, got in rates.items():
                got.append(rows[pid].net_bytes_per_s * ranking.interval_s)
    finally:
        ticker.close()
    for pid, amounts in rates.items():
        measured = sum(amounts) / seconds
        assert abs(measured - RATE) <= 0.3 * RATE, (pid, measured)


@pytest.mark.integration
def test_new_sockets_are_found_without_rereading_every_process():
    source = tcp_diag.TcpDiagSource()
    try:
        source.read()
        everyone = source.owners.scans  # the first tick reads every process once
        assert everyone > 1
        source.read()
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        client.sendall(b"z" * 1000)
        server.recv(1000)
        # Processes other programs start meanwhile are read once, being new (a busy machine
        # starts hundreds): only re-reads of processes already known count against the budget.
        known = set(source.owners.held)
        rescanned: list[int] = []
        scan = source.owners._scan

        def counting_scan(pid: int):  # type: ignore[no-untyped-def]
            if pid in known:
                rescanned.append(pid)
            return scan(pid)

        source.owners._scan = counting_scan  # type: ignore[method-assign]
        patches = source.read().patches
        source.owners._scan = scan  # type: ignore[method-assign]
        assert os.getpid() in rescanned  # the new socket's owner was found by a re-read
        assert len(rescanned) <= tcp_diag.DEFAULT_SCAN_BUDGET
        assert source.owners.owner[os.fstat(client.fileno()).st_ino] == os.getpid()
        assert patches[os.getpid()]["net_bytes"] >= 2000  # sent by one end, received by the other
        # Nothing new: no known process's descriptors are read again (processes that other
        # programs started meanwhile are read once, being new).
        known = set(source.owners.held)
        scanned: list[int] = []
        scan = source.owners._scan
        source.owners._scan = lambda pid: (scanned.append(pid), scan(pid))  # type: ignore[method-assign]
        source.read()
        assert not known & set(scanned)
        for s in (client, server, listener):
            s.close()
    finally:
        source.close()


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_without_root_other_users_processes_have_no_network_figure():
    setpriv = need("setpriv")
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    other = subprocess.Popen([*nobody, "sleep", "60"])
    caps = "-sys_ptrace,-dac_override,-dac_read_search"
    drop = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    mine = _transfer(drop)  # same user, same privileges: readable
    try:
        res = subprocess.run(
            [*drop, *lagwatch_cmd(), "top", "--json", "--count", "1", "--interval", "0.5"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert "tcp-diag" in doc["sources"]
        procs = {p["pid"]: p for p in doc["processes"]}
        assert procs[other.pid]["net_bytes_per_s"] is None  # refused: unknown, not zero
        assert procs[other.pid]["restricted"] is True
        assert procs[mine[0].pid]["net_bytes_per_s"] is not None  # the same user's: counted
    finally:
        for p in (other, *mine):
            p.kill()
            p.wait()
