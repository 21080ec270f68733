"""Slow and hostile clients against the exporter's HTTP server, over real sockets on 127.0.0.1.

The deadlines are made small here so the tests run quickly; what is asserted is who gets served
and that slow connections are cut, never how fast anything was.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from lagwatch.exporter.server import HttpServer, Response

DEADLINE_S = 0.5


def ok_page(query, headers) -> Response:
    return Response(b"ok\n", "text/plain")


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)  # polling a condition, with a deadline


def need_descriptors(count: int) -> None:
    """Both ends of every connection live in this process (macOS allows 256 by default)."""
    try:
        import resource
    except ImportError:
        pytest.skip("no resource module: cannot check the descriptor limit")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        target = count if hard == resource.RLIM_INFINITY else min(count, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < count:
            pytest.skip(f"only {target} file descriptors allowed here, {count} needed")


@pytest.fixture
def make_server() -> Iterator[Callable[..., HttpServer]]:
    servers: list[HttpServer] = []

    def make(**kw) -> HttpServer:
        routes = kw.pop("routes", {"/": ok_page})
        server = HttpServer("127.0.0.1", 0, routes, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def fetch(port: int, path: str = "/") -> int:
    """Status of one GET; 0 when the connection was refused, reset or timed out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def attempts_until_served(port: int, most: int) -> int | None:
    """How many requests (each on a new connection) a client needs for a 200, or None."""
    for attempt in range(1, most + 1):
        if fetch(port) == 200:
            return attempt
    return None


class Slowloris:
    """``n`` connections that send a request line, then one header byte at a time and never
    the end of the line. A connection the server closes is reopened at once, as an attacker
    would, when ``reopen``."""

    def __init__(self, port: int, n: int, reopen: bool = True, pace_s: float = 0.05) -> None:
        self.port = port
        self.reopen = reopen
        self.pace_s = pace_s
        self.socks: list[socket.socket | None] = [self._open() for _ in range(n)]
        self.original_cut = [False] * n  # the first connection of each slot was closed
        self.cuts = 0
        self.rounds = 0
        self.bytes_after_open = [0] * n
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sock.setblocking(False)
        return sock

    @staticmethod
    def _closed(sock: socket.socket) -> bool:
        try:
            return sock.recv(4096) == b""  # the server's FIN (or its answer, then FIN)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _run(self) -> None:
        while not self._stop.is_set():
            for i, sock in enumerate(self.socks):
                if sock is None:
                    continue
                closed = self._closed(sock)
                if not closed:
                    try:
                        sock.send(b"a")
                        self.bytes_after_open[i] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                if closed:
                    sock.close()
                    self.cuts += 1
                    self.original_cut[i] = True
                    self.socks[i] = self._open() if self.reopen else None
            self.rounds += 1
            self._stop.wait(self.pace_s)  # the attack's pace: a byte per connection per turn

    def __enter__(self) -> Slowloris:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        for sock in self.socks:
            if sock is not None:
                sock.close()


def test_good_clients_are_served_while_200_connections_trickle_bytes(make_server) -> None:
    need_descriptors(2048)
    # Per-byte timeout far longer than the deadline: only the whole-request deadline can cut.
    server = make_server(max_connections=4, request_deadline=DEADLINE_S, read_timeout=60.0)
    threads_before = threading.active_count()
    with Slowloris(server.port, 200) as attack:
        wait_for(lambda: attack.rounds >= 2, 60, "every slow connection to send bytes")
        served = [attempts_until_served(server.port, most=5) for _ in range(30)]
        assert None not in served, f"good clients not served within 5 attempts: {served}"
        # Each trickling connection was cut although it kept sending (and was reopened).
        wait_for(lambda: all(attack.original_cut), 60, "the slow connections to be cut")
        assert min(attack.bytes_after_open) >= 1
        # Bounded concurrency: 4 workers and the loop, whatever the number of connections.
        assert threading.active_count() <= threads_before + 4 + 2
    assert server.cut >= 200


def test_more_slow_clients_than_the_cap_drop_the_oldest_not_the_newcomer(make_server) -> None:
    need_descriptors(2048)
    server = make_server(
        max_connections=2, max_pending=32, request_deadline=60.0, read_timeout=60.0
    )
    with Slowloris(server.port, 200, reopen=False) as attack:
        wait_for(lambda: attack.rounds >= 2, 60, "the slow connections to send bytes")
        assert server.open_connections <= 32
        assert attempts_until_served(server.port, most=3) is not None
        # Only the cap's worth of them is still held; the rest were dropped, oldest first.
        wait_for(lambda: attack.cuts >= 200 - 32, 60, "the oldest connections to be dropped")
        assert not any(attack.original_cut[-16:]), "the newest slow connections were dropped"
        assert server.open_connections <= 32


def test_a_slow_client_is_cut_at_the_deadline_whatever_it_sends(make_server) -> None:
    server = make_server(request_deadline=DEADLINE_S, read_timeout=60.0)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        began = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
        sent = 0
        sock.settimeout(0.05)  # the client's pace: one byte per read timeout
        while True:
            try:
                if sock.recv(4096) == b"":
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
            try:
                sock.send(b"a")
                sent += 1
            except OSError:
                break
            assert time.monotonic() - began < 60, "the server never cut a trickling client"
        elapsed = time.monotonic() - began
    assert elapsed >= DEADLINE_S * 0.9  # not before its deadline
    assert sent >= 2  # it was sending all along
    assert server.cut == 1


def test_a_client_that_does_not_read_is_cut_and_holds_no_worker(make_server) -> None:
    big = Response(b"x" * (16 << 20), "application/octet-stream")
    routes = {"/": ok_page, "/big": lambda q, h: big}
    server = make_server(max_connections=1, write_timeout=DEADLINE_S, routes=routes)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")  # and never reads past the first byte
        sock.settimeout(30)
        assert sock.recv(1, socket.MSG_PEEK) == b"H"  # the page is built and being sent
        # The one worker went back to the pool while the loop sends: others are served.
        assert attempts_until_served(server.port, most=3) is not None
        wait_for(lambda: server.cut >= 1, 60, "the non-reading client to be cut")
        wait_for(lambda: server.open_connections == 0, 60, "its connection to be released")
    finally:
        sock.close()


def test_busy_workers_answer_503_at_once_and_recover(make_server) -> None:
    entered = threading.Semaphore(0)
    release = threading.Event()

    def slow_page(query, headers) -> Response:
        entered.release()
        release.wait(30)
        return Response(b"slow\n", "text/plain")

    server = make_server(max_connections=2, routes={"/": ok_page, "/slow": slow_page})
    holders = [threading.Thread(target=fetch, args=(server.port, "/slow")) for _ in range(2)]
    for t in holders:
        t.start()
    try:
        for _ in holders:
            assert entered.acquire(timeout=30), "a slow page was never requested"
        assert fetch(server.port) == 503  # both workers busy: turned away, not queued
        assert server.rejected >= 1
    finally:
        release.set()
        for t in holders:
            t.join(30)
    assert attempts_until_served(server.port, most=3) is not None
