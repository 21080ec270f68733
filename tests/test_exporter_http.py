"""The exporter's HTTP side: routes, JSON contracts, and what it does with bad clients."""

from __future__ import annotations

import errno
import gzip
import http.client
import json
import logging
import os
import socket
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import lagwatch.exporter as exporter_pkg
from fake_rankings import T0, ranking, row
from lagwatch.events import Event
from lagwatch.exporter import is_loopback, start_exporter
from lagwatch.live import LiveState


@pytest.fixture
def state() -> LiveState:
    return LiveState()


@pytest.fixture
def exporter(state: LiveState) -> Iterator[exporter_pkg.Exporter]:
    ex = start_exporter(state, "127.0.0.1", 0, None, request_timeout_s=0.5, max_connections=4)
    try:
        yield ex
    finally:
        ex.stop()


def get(ex, path: str, method: str = "GET", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", ex.port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw(ex, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, half-close, and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", ex.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close on us first: that is an acceptable answer
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/"):
        return None
    return int(response.split(b" ", 2)[1])


def test_metrics_page(exporter, state) -> None:
    state.publish(ranking([row(42, 77.0, "hog", cpu_percent=120.0)]), 0.02)
    status, headers, body = get(exporter, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "lagwatch_process_score" in names
    assert 'lagwatch_process_score{name="hog",pid="42"} 77.0' in body.decode()
    assert 'lagwatch_process_dominant_info{name="hog",pid="42",resource="cpu"} 1.0' in (
        body.decode()
    )


def test_metrics_gzip_and_openmetrics(exporter, state) -> None:
    state.publish(ranking([row(42, 77.0, "hog")]), 0.02)
    status, headers, body = get(exporter, "/metrics", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert b"lagwatch_process_score" in gzip.decompress(body)
    om = "application/openmetrics-text; version=1.0.0"
    status, headers, body = get(exporter, "/metrics", headers={"Accept": om})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_metrics_follow_new_ticks(exporter, state) -> None:
    state.publish(ranking([row(1, 10.0)]), 0.01)
    assert b'pid="1"' in get(exporter, "/metrics")[2]
    state.publish(ranking([row(2, 10.0)], time=T0 + 1), 0.01)
    body = get(exporter, "/metrics")[2]
    assert b'pid="2"' in body and b'pid="1"' not in body


def test_api_now_is_tops_contract(exporter, state) -> None:
    status, _, body = get(exporter, "/api/now")
    assert status == 503 and b"no ranking yet" in body
    r = ranking([row(1, 50.0), row(2, 40.0), row(3, 30.0)])
    state.publish(r, 0.01)
    status, headers, body = get(exporter, "/api/now")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == json.loads(json.dumps(r.to_json()))
    data = json.loads(get(exporter, "/api/now?limit=2")[2])
    assert [p["pid"] for p in data["processes"]] == [1, 2]
    assert data["process_count"] == 3
    for bad in ("limit=0", "limit=x", "limit=-1"):
        status, _, body = get(exporter, f"/api/now?{bad}")
        assert status == 400 and b"limit must be a positive integer" in body


def test_api_now_turns_non_finite_numbers_into_null(exporter, state) -> None:
    state.publish(ranking([row(1, 50.0, cpu_percent=float("inf"))]), 0.01)
    data = json.loads(get(exporter, "/api/now")[2])
    assert data["processes"][0]["cpu_percent"] is None


def test_api_events_from_live_state(exporter, state) -> None:
    assert get(exporter, "/api/events")[:1] == (200,)
    assert get(exporter, "/api/events")[2] == b""
    old = Event("pause", T0 - 7200, T0 - 7196, 4.0,
                [{"pid": 9, "name": "x", "score": 80.0, "dominant": "cpu"}], id=1)  # fmt: skip
    new = Event("rogue", T0, None, None, id=2)
    state.add_event(old)
    state.add_event(new)
    status, headers, body = get(exporter, "/api/events")
    assert status == 200 and headers["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line) for line in body.splitlines()] == [old.to_json(), new.to_json()]
    body = get(exporter, f"/api/events?since={T0 - 3600}")[2]
    assert [json.loads(line)["id"] for line in body.splitlines()] == [2]
    body = get(exporter, "/api/events?limit=1")[2]
    assert [json.loads(line)["id"] for line in body.splitlines()] == [2]
    status, _, body = get(exporter, "/api/events?since=yesterdayish")
    assert status == 400 and b"since" in body


def test_index_and_unknown_pages(exporter) -> None:
    status, _, body = get(exporter, "/")
    assert status == 200 and b"/metrics" in body
    status, _, body = get(exporter, "/nope")
    assert status == 404 and b"no such page" in body
    assert get(exporter, "/metrics/")[0] == 200  # a trailing slash is the same page


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_get_is_served(exporter, method) -> None:
    status, headers, _ = get(exporter, "/metrics", method=method)
    assert status == 405
    assert headers["Allow"] == "GET"


def test_unknown_method_is_refused(exporter) -> None:
    assert status_of(raw(exporter, b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 501


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00\x01\x02\xff\xfe garbage \r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics FTP/1.0\r\n\r\n",
        b"GET metrics HTTP/1.1\r\n\r\n",
        b"\r\n",
        b"",
        b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
    ],
)
def test_junk_gets_an_error_or_a_closed_connection(exporter, state, junk) -> None:
    response = raw(exporter, junk)
    assert response == b"" or status_of(response) in (400, 404, 505)
    # And the server still serves.
    assert get(exporter, "/")[0] == 200


def test_oversized_request_line_and_headers(exporter) -> None:
    response = raw(exporter, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
    assert response == b"" or status_of(response) == 414
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(300))
    response = raw(exporter, b"GET /metrics HTTP/1.1\r\n" + many + b"\r\n")
    assert response == b"" or status_of(response) == 431
    one_huge = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"v" * 100000 + b"\r\n\r\n"
    response = raw(exporter, one_huge)
    assert response == b"" or status_of(response) == 431
    assert get(exporter, "/")[0] == 200


def test_a_client_trickling_bytes_is_dropped(exporter) -> None:
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                sock.sendall(b"X: y\r\n")  # a header line now and then, never the end
            except OSError:
                closed = True
                break
            sock.settimeout(0.2)
            try:
                closed = sock.recv(4096) == b""
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
        assert closed, "the server kept a trickling client past its deadline"


def test_stop_closes_the_port(state) -> None:
    ex = start_exporter(state, "127.0.0.1", 0, None)
    port = ex.port
    assert get(ex, "/")[0] == 200
    ex.stop()
    ex.stop()  # twice is fine
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    # A stopped exporter's listener does nothing (and never raises into the sampler).
    state.publish(ranking([row(1, 1.0)]), 0.01)


def test_port_in_use_is_one_clear_error(exporter, state) -> None:
    with pytest.raises(OSError) as caught:
        start_exporter(state, "127.0.0.1", exporter.port, None)
    assert caught.value.errno == errno.EADDRINUSE
    assert caught.value.strerror == os.strerror(errno.EADDRINUSE)  # the daemon adds context
    assert f"127.0.0.1:{exporter.port}" in str(caught.value)


def test_ipv6_loopback(state) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        ex = start_exporter(state, "::1", 0, None)
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    try:
        assert ex.url == f"http://[::1]:{ex.port}"
        conn = http.client.HTTPConnection("::1", ex.port, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        ex.stop()


def test_loopback_detection() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "192.168.1.5", "example.com", "10.0.0.1"):
        assert not is_loopback(host), host


def test_non_loopback_host_logs_a_warning(state, monkeypatch, caplog) -> None:
    # Tests bind loopback only: pretend 127.0.0.1 were a public address.
    with caplog.at_level(logging.WARNING, logger="lagwatch.exporter"):
        ex = start_exporter(state, "127.0.0.1", 0, None)
        ex.stop()
    assert not caplog.records
    monkeypatch.setattr(exporter_pkg, "is_loopback", lambda host: False)
    with caplog.at_level(logging.WARNING, logger="lagwatch.exporter"):
        ex = start_exporter(state, "127.0.0.1", 0, None)
        ex.stop()
    assert any("reachable from other machines" in r.getMessage() for r in caplog.records)


def test_a_failing_update_never_reaches_the_sampling_thread(exporter, state, caplog) -> None:
    def boom(ranking):
        raise RuntimeError("boom")

    exporter.tracker.update = boom  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="lagwatch.exporter"):
        state.publish(ranking([row(1, 1.0)]), 0.01)  # must not raise
    assert state.ticks == 1
    assert any("could not update metrics" in r.getMessage() for r in caplog.records)


def test_primed_with_the_latest_ranking(state) -> None:
    state.publish(ranking([row(5, 60.0, "early")]), 0.01)
    ex = start_exporter(state, "127.0.0.1", 0, None)
    try:
        assert b'name="early"' in get(ex, "/metrics")[2]
        assert json.loads(get(ex, "/api/now")[2])["processes"][0]["pid"] == 5
    finally:
        ex.stop()


def test_api_events_reads_the_database(tmp_path, state) -> None:
    from lagwatch.store import Event, Recorder

    db = tmp_path / "history.db"
    recorder = Recorder(db)
    suspects = [{"pid": 9, "name": "x", "score": 80.0, "dominant": "cpu"}]
    recorder.save_event(Event("pause", T0 - 7200, T0 - 7196, 4.0, suspects))
    recorder.save_event(Event("rogue", T0 - 60, None, None, suspects))
    recorder.close()
    state.add_event(Event("pause", T0, T0, 0.0, id=99))
    ex = start_exporter(state, "127.0.0.1", 0, db)
    try:
        lines = [json.loads(x) for x in get(ex, "/api/events")[2].splitlines()]
        assert [(e["id"], e["kind"]) for e in lines] == [(1, "pause"), (2, "rogue")]
        assert lines[0]["duration_s"] == 4.0 and lines[0]["suspects"] == suspects
        lines = [json.loads(x) for x in get(ex, f"/api/events?since={T0 - 3600}")[2].splitlines()]
        assert [e["id"] for e in lines] == [2]  # the ongoing episode
    finally:
        ex.stop()


def test_api_events_falls_back_to_live_events_when_the_db_is_unreadable(tmp_path, state, caplog):
    db = tmp_path / "history.db"
    db.write_bytes(b"this is not sqlite" * 100)
    state.add_event(Event("pause", T0, T0 + 3, 3.0, id=1))
    ex = start_exporter(state, "127.0.0.1", 0, db)
    try:
        with caplog.at_level(logging.WARNING, logger="lagwatch.exporter"):
            status, _, body = get(ex, "/api/events")
        assert status == 200
        assert [json.loads(x)["id"] for x in body.splitlines()] == [1]
        assert any("reading events" in r.getMessage() for r in caplog.records)
    finally:
        ex.stop()
