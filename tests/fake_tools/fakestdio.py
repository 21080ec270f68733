"""What the fake `top`, `nettop` and `powermetrics` share: the scenario they replay, the start log,
and C stdio's buffering, which is the behaviour lagwatch's child handling exists for.

A scenario (JSON, path in FAKE_TOOLS_SCENARIO) lists processes with the figures each tool
shows per sample, and per tool how it should behave::

    {"processes": [{"pid": 88, "ppid": 1, "uid": 88, "user": "_windowserver",
                    "command": "WindowServer", "cpu_percent": 35.0, "power": 40.0,
                    "idlew_per_s": 50, "pageins_per_s": 0, "csw_per_s": 900,
                    "mem_bytes": 524288000, "threads": 12, "state": "sleeping",
                    "foreign_arch": false, "net_in_per_s": 0, "net_out_per_s": 0,
                    "energy_impact_per_s": 42.0}],
     "top": {"period_s": null, "die_after": null, "exit_status": 1, "last_words": "..."},
     "nettop": {...}, "powermetrics": {..., "stderr_lines": ["Second underflow occured."]}}

``period_s`` overrides the interval the tool was asked for (tests that must not wait seconds);
``hang_after`` N makes it stop after N samples without exiting (nothing more is flushed);
``as_user`` makes powermetrics act as when a user, not root, runs it (for tests run as root),
``as_root`` as when root runs it (for tests run as a user);
``die_after`` N makes the tool exit after N samples with ``exit_status``, writing
``last_words`` on stderr. Every start appends a line of JSON to FAKE_TOOLS_LOG: the tool, its
arguments, whether stdin/stdout are terminals and the terminal's size; every sample written
appends ``{"tool": ..., "pid": ..., "sample": k}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

BUFSIZ = 4096  # the stdio buffer of a pipe on macOS (BUFSIZ, or the file's st_blksize)


def scenario() -> dict[str, Any]:
    path = os.environ.get("FAKE_TOOLS_SCENARIO")
    if not path:
        return {"processes": []}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def tool_spec(tool: str) -> dict[str, Any]:
    return scenario().get(tool) or {}


def log(entry: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_TOOLS_LOG")
    if not path:
        return
    line = (json.dumps(entry) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: lines of concurrent tools never mix
    finally:
        os.close(fd)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``; None when it is not a terminal."""
    if not os.isatty(fd):
        return None
    size = os.get_terminal_size(fd)
    return size.lines, size.columns


def log_start(tool: str) -> None:
    log(
        {
            "tool": tool,
            "pid": os.getpid(),
            "argv": sys.argv[1:],
            "stdin_tty": os.isatty(0),
            "stdout_tty": os.isatty(1),
            "window": terminal_size(1),
            "euid": os.geteuid(),
        }
    )


class Stdio:
    """stdout as C stdio buffers it: ``"none"`` writes at once, ``"line"`` up to each newline,
    ``"block"`` in BUFSIZ pieces. stdio's default is line-buffered on a terminal and
    block-buffered otherwise (``default_mode``)."""

    def __init__(self, mode: str, fd: int = 1) -> None:
        self.mode = mode
        self.fd = fd
        self.buf = bytearray()

    @staticmethod
    def default_mode(fd: int = 1) -> str:
        return "line" if os.isatty(fd) else "block"

    def _out(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def write(self, data: bytes) -> None:
        if self.mode == "none":
            self._out(data)
            return
        self.buf += data
        if self.mode == "line":
            end = self.buf.rfind(b"\n") + 1
            if end:
                self._out(bytes(self.buf[:end]))
                del self.buf[:end]
        else:
            while len(self.buf) >= BUFSIZ:
                self._out(bytes(self.buf[:BUFSIZ]))
                del self.buf[:BUFSIZ]

    def flush(self) -> None:
        if self.buf:
            self._out(bytes(self.buf))
            self.buf.clear()


def die_if_due(tool: str, spec: dict[str, Any], samples: int, out: Stdio) -> None:
    """Exit like a tool that crashed, after ``die_after`` samples."""
    after = spec.get("die_after")
    if after is None or samples < after:
        return
    out.flush()
    words = spec.get("last_words") or f"{tool}: fake death after {samples} samples"
    os.write(2, (words + "\n").encode())
    os._exit(int(spec.get("exit_status", 1)))


def hang_if_due(spec: dict[str, Any], samples: int) -> None:
    """Stop sampling, but stay alive with whatever sits in the buffer, after ``hang_after``."""
    after = spec.get("hang_after")
    if after is not None and samples >= after:
        while True:
            time.sleep(600)


def pause(seconds: float) -> None:
    time.sleep(max(0.0, seconds))


def cut_utf8(data: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes, as the kernel cuts p_comm: possibly inside a character."""
    return data[:limit]
