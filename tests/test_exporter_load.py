"""Load: hundreds of concurrent scrapes and junk requests must not stall the sampling.

The exporter runs inside a real `lagwatch daemon --listen`; the load comes from this process.
Sampling health is read back from the exporter itself: the tick counter must keep advancing at
about the sampling rate while the load runs.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter_harness import start_daemon, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERVAL_S = 0.25
SCRAPES = 400
JUNK = 200
MIN_LOAD_S = 4.0


def scrape(host: str, port: int, path: str = "/metrics") -> int:
    """Status of one request; 0 when the server closed or reset the connection instead."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=15)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status
    except (ConnectionError, http.client.HTTPException, TimeoutError):
        return 0


JUNK_PAYLOADS = [
    b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /" + b"x" * 50000 + b" HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello
    b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
    os.urandom(512),
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n",  # never finishes its headers
]


def junk(host: str, port: int, n: int) -> str:
    payload = JUNK_PAYLOADS[n % len(JUNK_PAYLOADS)]
    try:
        with socket.create_connection((host, port), timeout=15) as sock:
            try:
                sock.sendall(payload)
            except OSError:
                return "closed"
            data = sock.recv(64)
            return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
    except (OSError, IndexError):
        return "closed"


def ticks(host: str, port: int) -> float:
    for _ in range(50):
        conn = http.client.HTTPConnection(host, port, timeout=15)
        try:
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            body = resp.read().decode()
        except (ConnectionError, TimeoutError):
            continue
        finally:
            conn.close()
        if resp.status != 200:
            continue  # turned away while busy: ask again
        for family in text_string_to_metric_families(body):
            if family.name == "lagwatch_ticks":
                return family.samples[0].value
    raise AssertionError("could not read lagwatch_ticks_total")


def test_sampling_goes_on_under_a_flood_of_requests(tmp_path) -> None:
    proc, url = start_daemon(tmp_path, INTERVAL_S)
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
        deadline = time.monotonic() + 30
        while ticks(host, port) < 2:
            assert time.monotonic() < deadline, "the harness never published a ranking"
            time.sleep(INTERVAL_S)  # waiting for the first ticks, not synchronising

        # The pace sampling keeps here and now without the flood (others may load the
        # machine): the flood must not slow it much below that.
        base_ticks, base_began = ticks(host, port), time.monotonic()
        while time.monotonic() - base_began < MIN_LOAD_S:
            time.sleep(INTERVAL_S)  # the length of the measurement, not a synchronisation
        before = ticks(host, port)
        began = time.monotonic()
        base_pace = (before - base_ticks) / (began - base_began)
        statuses: list[int] = []
        junk_answers: list[str] = []
        with ThreadPoolExecutor(max_workers=200) as pool:
            while True:
                scrapes = [pool.submit(scrape, host, port) for _ in range(SCRAPES)]
                scrapes += [pool.submit(scrape, host, port, "/api/now") for _ in range(50)]
                junks = [pool.submit(junk, host, port, n) for n in range(JUNK)]
                statuses += [f.result() for f in scrapes]
                junk_answers += [f.result() for f in junks]
                if time.monotonic() - began >= MIN_LOAD_S:
                    break
        elapsed = time.monotonic() - began
        after = ticks(host, port)

        print(
            f"load: {len(statuses)} requests in {elapsed:.1f}s, {after - before:.0f} ticks "
            f"({base_pace * elapsed:.0f} at the pace before), "
            f"served {statuses.count(200)}, 503 {statuses.count(503)}, closed {statuses.count(0)}"
        )
        assert proc.poll() is None, "the daemon died under load"
        # Sampling kept its pace: at least half the ticks it made just before the flood.
        expected = elapsed * base_pace
        assert after - before >= 0.5 * expected, (
            f"{after - before:.0f} ticks in {elapsed:.1f}s, expected about {expected:.0f} "
            f"(the pace before the flood, {base_pace:.1f}/s)"
        )
        # Every request got an answer or a closed connection; many scrapes were served.
        assert set(statuses) <= {200, 503, 0}, set(statuses)
        assert statuses.count(200) >= len(statuses) // 4, (
            f"only {statuses.count(200)} of {len(statuses)} scrapes served"
        )
        assert set(junk_answers) <= {"400", "405", "414", "431", "501", "503", "closed"}, set(
            junk_answers
        )
        # And it still serves normally afterwards.
        assert scrape(host, port) == 200
    finally:
        stop(proc)
