"""Long-lived child tools (`top`, `nettop`, `powermetrics`) run the way they behave on a Mac: the
thin OS layer of those sources (parsing stays in lagwatch.parsers).

:class:`StreamedChild` runs one child in its own session (so ``close()`` ends it and anything
it started) and calls ``on_chunk`` from a reader thread for everything it prints on stdout.

- stdout is a pseudo-terminal (``use_pty``) for tools whose stdio buffers output in 4 KiB
  lumps unless it is a terminal (nettop, top). ``window`` sets the terminal's size
  (TIOCSWINSZ) before the child starts, so a tool that fits its rows to the terminal never
  cuts or wraps one; a new pty is otherwise 0x0, which tools read as 80 columns.
- ``stderr="pipe"`` gives stderr its own pipe, read line by line into ``diagnostics``, for a
  tool whose stdout is a byte stream that stray messages must not corrupt (powermetrics).
  Otherwise stderr shares stdout's terminal or pipe.
- When the output ends, the exit status and the child's last non-data lines become ``death``.

:class:`SupervisedChild` restarts a child that dies, with exponential backoff, and says so in
the warnings its source returns. A tool that dies before it ever produced data cannot run here
(not root, bad flags): that is an error at once, never retried. So is a tool that keeps dying
without producing data between deaths (``Backoff.give_up_after``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from lagwatch.sources.base import SourceError

# A terminal this big never cuts or wraps a row of nettop or top (reference section 7.4:
# peers use 1024+ rows and 200+ columns); struct winsize holds unsigned shorts.
WINDOW_ROWS = 4096
WINDOW_COLUMNS = 1024


# The child whose output the running thread reads: a source notes an error line from inside
# ``on_chunk``, and it must land on the child that printed it, even before the supervisor has
# that child in hand (a tool that fails at once is read while its constructor returns).
_reading = threading.local()


def _set_window(fd: int, rows: int, columns: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class StreamedChild:
    """Run ``argv``; call ``on_chunk(bytes)`` from a reader thread for everything it prints."""

    def __init__(
        self,
        argv: list[str],
        on_chunk: Callable[[bytes], None],
        *,
        use_pty: bool = False,
        window: tuple[int, int] | None = None,
        stderr: Literal["merge", "pipe"] = "merge",
        thread_name: str = "lagwatch-child",
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._on_chunk = on_chunk
        self.diagnostics: deque[str] = deque(maxlen=5)  # lines worth quoting if it dies
        self._lock = threading.Lock()
        self._death: str | None = None
        self._master: int | None = None
        self._stderr_thread: threading.Thread | None = None
        self.proc = self._spawn(use_pty, window, stderr == "pipe", env)
        if self.proc.stderr is not None:
            self._stderr_thread = threading.Thread(
                target=self._stderr_reader, name=f"{thread_name}-stderr", daemon=True
            )
            self._stderr_thread.start()
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

    def _spawn(
        self,
        use_pty: bool,
        window: tuple[int, int] | None,
        stderr_pipe: bool,
        env: dict[str, str] | None,
    ) -> subprocess.Popen[bytes]:
        master = slave = None
        if use_pty:
            try:
                import pty

                master, slave = pty.openpty()
                if window is not None:
                    _set_window(slave, *window)
            except (ImportError, OSError):
                for fd in (master, slave):
                    if fd is not None:
                        os.close(fd)
                master = slave = None
        err: int | None = subprocess.PIPE if stderr_pipe else None
        try:
            if slave is not None:
                proc = subprocess.Popen(
                    self.argv, stdin=slave, stdout=slave, stderr=err or slave,
                    start_new_session=True, close_fds=True, env=env,
                )  # fmt: skip
                os.close(slave)
                self._master = master
            else:
                proc = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=err or subprocess.STDOUT, start_new_session=True, env=env,
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
            stdout = self.proc.stdout
            assert isinstance(stdout, io.BufferedReader)  # Popen's default for a pipe
            while chunk := stdout.read1(65536):
                yield chunk

    def _stderr_reader(self) -> None:
        assert self.proc.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in self.proc.stderr:
                self.note(raw.decode("utf-8", "replace"))

    def _reader(self) -> None:
        _reading.child = self
        try:
            for chunk in self._chunks():
                self._on_chunk(chunk)
        except Exception as exc:  # the reader must always record why it stopped
            self.note(f"reader failed: {type(exc).__name__}: {exc}")
        status = self.proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2)  # its last words explain the death
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
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2)
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@dataclass(frozen=True, slots=True)
class Backoff:
    """When to restart a dead child: ``first_s``, then ``factor`` times longer after each death
    without data in between, at most ``max_s``; give up after ``give_up_after`` such deaths."""

    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    give_up_after: int = 5

    def delay_s(self, failures: int) -> float:
        return min(self.max_s, self.first_s * self.factor ** max(0, failures - 1))


class SupervisedChild:
    """A :class:`StreamedChild` that is started again, with backoff, when it dies.

    ``start`` makes a new child (the source resets its stream state there); :meth:`begin` runs
    the first, once the source holds this object (the child's output may arrive at once). The
    source calls :meth:`data_seen` when the child produced a sample and :meth:`poll` on every
    read, which restarts the child when its time has come and returns the warnings to show.
    ``poll`` raises SourceError when the tool cannot run here (it never produced data) or keeps
    dying.
    """

    def __init__(
        self,
        start: Callable[[], StreamedChild],
        name: str,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start = start
        self.name = name
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._lock = threading.Lock()
        self.child: StreamedChild | None = None
        self.restarts = 0
        self._failures = 0  # deaths in a row without data between them
        self._data_ever = False
        self._data_this_run = False
        self._last_death: str | None = None
        self._restart_at: float | None = None
        self._closed = False

    def begin(self) -> None:
        """Run the first child; a tool that cannot be run at all raises SourceError here."""
        self.child = self._start()

    def _current(self) -> StreamedChild:
        if self.child is None:
            raise SourceError(f"{self.name} was never started")
        return self.child

    @property
    def pid(self) -> int:
        return self._current().pid

    @property
    def diagnostics(self) -> deque[str]:
        return self._current().diagnostics

    def note(self, line: str) -> None:
        """Note a non-data line on the child that printed it (called from its reader)."""
        child = getattr(_reading, "child", None) or self.child
        if child is not None:
            child.note(line)

    def data_seen(self) -> None:
        """The running child produced a sample (called from its reader thread)."""
        with self._lock:
            self._data_ever = self._data_this_run = True

    def poll(self) -> list[str]:
        """Restart the child if it died and its backoff has passed; the warnings to show."""
        death = self._current().death
        if death is None:
            return []
        now = self._clock()
        if self._restart_at is None:  # a death not handled yet
            with self._lock:
                data_ever, data_this_run = self._data_ever, self._data_this_run
            if not data_ever:
                raise SourceError(death)  # it never worked here: retrying will not help
            self._failures = 1 if data_this_run else self._failures + 1
            self._last_death = death
            return self._schedule(now, death)
        if now < self._restart_at or self._closed:
            left = self._restart_at - now
            return [f"{self.name} is down ({self._last_death}); restarting in {left:.1f}s"]
        with self._lock:  # before the start: the new child's reader may see data at once
            self._data_this_run = False
        try:
            child = self._start()
        except SourceError as exc:
            self._failures += 1
            return self._schedule(now, str(exc))
        self.child = child
        self.restarts += 1
        self._restart_at = None
        return [f"{self.name} restarted (restart {self.restarts}) after: {self._last_death}"]

    def _schedule(self, now: float, why: str) -> list[str]:
        if self._failures > self.backoff.give_up_after:
            raise SourceError(
                f"{why}; gave up after {self._failures} deaths in a row without data "
                f"({self.restarts} restarts)"
            )
        delay = self.backoff.delay_s(self._failures)
        self._restart_at = now + delay
        return [f"{why}; restarting in {delay:.1f}s (restart {self.restarts + 1})"]

    def close(self) -> None:
        self._closed = True
        if self.child is not None:
            self.child.close()
