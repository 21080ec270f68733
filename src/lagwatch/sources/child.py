"""One long-lived child process whose output a reader thread consumes (the thin OS layer of the
`top` and `powermetrics` sources; parsing stays in lagwatch.parsers).

The child runs in its own session so ``close()`` can end it and anything it started. Its
output comes either through a pseudo-terminal, so that a stdio program line-buffers instead of
sending 4 KiB lumps, or through a pipe. When the output ends, the exit status and the child's
last non-data lines are kept as ``death`` for the source to report.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator

from lagwatch.sources.base import SourceError


class StreamedChild:
    """Run ``argv``; call ``on_chunk(bytes)`` from a reader thread for everything it prints."""

    def __init__(
        self,
        argv: list[str],
        on_chunk: Callable[[bytes], None],
        *,
        use_pty: bool = False,
        thread_name: str = "lagwatch-child",
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._on_chunk = on_chunk
        self.diagnostics: deque[str] = deque(maxlen=5)  # lines worth quoting if it dies
        self._lock = threading.Lock()
        self._death: str | None = None
        self._master: int | None = None
        self.proc = self._spawn(use_pty, env)
        self._thread = threading.Thread(target=self._reader, name=thread_name, daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def death(self) -> str | None:
        with self._lock:
            return self._death

    def note(self, line: str) -> None:
        """Remember a line that was not data (an error message, usually)."""
        line = line.strip()
        if line:
            self.diagnostics.append(line[:200])

    def _spawn(self, use_pty: bool, env: dict[str, str] | None) -> subprocess.Popen[bytes]:
        master = slave = None
        if use_pty:
            try:
                import pty

                master, slave = pty.openpty()
            except (ImportError, OSError):
                master = slave = None
        try:
            if slave is not None:
                proc = subprocess.Popen(
                    self.argv, stdin=slave, stdout=slave, stderr=slave,
                    start_new_session=True, close_fds=True, env=env,
                )  # fmt: skip
                os.close(slave)
                self._master = master
            else:
                proc = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, start_new_session=True, env=env,
                )  # fmt: skip
        except OSError as exc:
            for fd in (master, slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            raise SourceError(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        return proc

    def _chunks(self) -> Iterator[bytes]:
        if self._master is not None:
            while True:
                try:
                    chunk = os.read(self._master, 65536)
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EBADF):  # the child closed the terminal
                        return
                    raise
                if not chunk:
                    return
                yield chunk
        else:
            assert self.proc.stdout is not None
            while chunk := self.proc.stdout.read1(65536):
                yield chunk

    def _reader(self) -> None:
        try:
            for chunk in self._chunks():
                self._on_chunk(chunk)
        except Exception as exc:  # the reader must always record why it stopped
            self.note(f"reader failed: {type(exc).__name__}: {exc}")
        status = self.proc.wait()
        words = "; ".join(self.diagnostics)
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        name = os.path.basename(self.argv[0])
        with self._lock:
            self._death = f"{name} {how}" + (f": {words}" if words else "")

    def close(self) -> None:
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._thread.join(timeout=5)
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        if proc.stdout is not None:
            with contextlib.suppress(OSError):
                proc.stdout.close()
