"""`--listen` as Prometheus exporters take it: HOST:PORT, [IPv6]:PORT and :PORT (every
interface), served for real and logged as URLs that work (IPv6 in brackets)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_lagwatch
from exporter_harness import start_daemon, stop
from lagwatch.exporter import start_exporter
from lagwatch.listen import host_port, open_listener, parse_listen, url_for
from lagwatch.live import LiveState


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def status_of(host: str, port: int) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().status
    finally:
        conn.close()


def test_addresses_are_shown_as_they_are_typed_back() -> None:
    for text in ("127.0.0.1:9683", "[::1]:9683", ":9683", "localhost:1", "[::]:80"):
        assert host_port(*parse_listen(text)) == text
    assert url_for("::1", 9683) == "http://[::1]:9683"
    assert url_for("fe80::1%eth0", 80) == "http://[fe80::1%eth0]:80"
    assert url_for("", 9683) == "http://127.0.0.1:9683"  # every interface: reach it locally
    assert url_for("0.0.0.0", 9683) == "http://127.0.0.1:9683"
    assert url_for("::", 9683) == "http://[::1]:9683"
    assert url_for("example.org", 9) == "http://example.org:9"


@pytest.fixture
def every_interface() -> Iterator:
    state = LiveState()
    ex = start_exporter(state, "", 0, None)
    try:
        yield ex
    finally:
        ex.stop()


def test_every_interface_serves_ipv4_and_ipv6(every_interface) -> None:
    ex = every_interface
    assert ex.url == f"http://127.0.0.1:{ex.port}"
    assert status_of("127.0.0.1", ex.port) == 200
    if ipv6_loopback():  # one dual-stack socket where the machine has IPv6
        assert status_of("::1", ex.port) == 200


def test_a_busy_port_on_every_interface_is_an_error_naming_it(every_interface) -> None:
    with pytest.raises(OSError) as caught:
        open_listener("", every_interface.port)
    assert caught.value.errno is not None


@pytest.mark.integration
def test_daemon_listens_on_every_interface_with_colon_port(tmp_path: Path) -> None:
    proc, url = start_daemon(tmp_path, interval_s=0.5, host="")
    try:
        port = int(url.rsplit(":", 1)[1])
        assert url == f"http://127.0.0.1:{port}"
        if ipv6_loopback():
            assert status_of("::1", port) == 200
    finally:
        stop(proc)
    log = (tmp_path / f"daemon-{port}.log").read_text()
    assert f"serving http://127.0.0.1:{port}/metrics (listening on every interface)" in log
    assert "reachable from other machines" in log  # the warning for a non-loopback address


@pytest.mark.integration
def test_daemon_on_ipv6_loopback_logs_a_bracketed_url(tmp_path: Path) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    proc, url = start_daemon(tmp_path, interval_s=0.5, host="::1")
    try:
        port = int(url.rsplit(":", 1)[1])
        assert url == f"http://[::1]:{port}"
        assert status_of("::1", port) == 200
        status = run_lagwatch("status", "--json", "--db", str(tmp_path / "history.db"))
        assert json.loads(status.stdout)["daemon"]["listen"] == f"[::1]:{port}"
    finally:
        stop(proc)
    log = (tmp_path / f"daemon-{port}.log").read_text()
    assert f"serving http://[::1]:{port}/metrics" in log
    assert "every interface" not in log and "reachable from other machines" not in log
