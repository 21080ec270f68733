"""Start a real `lagwatch daemon --listen` on 127.0.0.1 for exporter tests; the caller stops it
(in a finally). Its log goes to a file, never to a pipe nobody reads."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import lagwatch_cmd
from lagwatch.listen import host_port, url_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_daemon(
    workdir: Path, interval_s: float, timeout_s: float = 30.0, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen, str]:
    """(process, base URL) of a daemon serving /metrics on ``host`` ('' for every interface).
    Retries on another port if the free port it picked was taken in between."""
    for _attempt in range(3):
        port = free_port()
        log = (workdir / f"daemon-{port}.log").open("wb")
        proc = subprocess.Popen(
            [*lagwatch_cmd(), "daemon", "--db", str(workdir / "history.db"),
             "--interval", str(interval_s), "--listen", host_port(host, port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        url = url_for(host, port)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            if answers(f"{url}/metrics"):
                return proc, url
            time.sleep(0.1)  # polling for readiness, with a deadline
        stop(proc)
        text = (workdir / f"daemon-{port}.log").read_text(errors="replace")
        if "cannot listen" not in text:
            raise RuntimeError(f"lagwatch daemon did not start serving:\n{text[-2000:]}")
    raise RuntimeError("lagwatch daemon could not find a free port")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
