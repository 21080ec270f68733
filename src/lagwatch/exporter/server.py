"""A small, defensive HTTP server for /metrics and the JSON API.

Why not prometheus_client's own server: it spawns a thread per connection without a cap and
has no limit on how slowly or how much a client may send. Here every slow part is done by one
event loop, never by a worker a slow client could hold:

- the loop reads each request head (request line and headers, capped at 414 / 431 sizes)
  without blocking, and cuts a connection at its **whole-request deadline** whatever it sends
  (and after ``read_timeout`` without a byte). Slowloris clients trickling bytes cost a file
  descriptor and a small buffer each; at most ``max_pending`` are kept, and when full the
  oldest is dropped, so a good client's request (sent at once) is always read;
- a complete request goes to a fixed pool of ``max_connections`` workers that only build the
  page in memory; when all are busy the request gets an immediate 503 (never queued);
- the loop writes the response without blocking, within ``write_timeout`` for the whole of it
  (a client that does not read is cut);
- HTTP/1.0 semantics (one request per connection); only GET: other known methods get 405,
  unknown ones 501, junk 400.

The sampling thread never touches any of this: pages are built from immutable views.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from queue import Empty, SimpleQueue
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lagwatch import __version__
from lagwatch.listen import host_port, open_listener

log = logging.getLogger("lagwatch.exporter")

MAX_REQUEST_LINE_BYTES = 8192
MAX_HEADER_BYTES = 16384
# A head longer than this is answered (414/431) without reading more.
_MAX_HEAD_BYTES = MAX_REQUEST_LINE_BYTES + MAX_HEADER_BYTES + 2
_SWEEP_EVERY_S = 0.05  # how often deadlines are checked: the precision of every cut
_REJECT_503 = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections, retry\r\n"
)


class HttpError(Exception):
    """Raised by a route to answer with an error status and a one-line message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Response:
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


# A route gets (query parameters, request headers) and returns a Response or raises HttpError.
Route = Callable[[dict[str, list[str]], Any], Response]


class _TooLarge(Exception):
    def __init__(self, in_request_line: bool) -> None:
        super().__init__("request too large")
        self.in_request_line = in_request_line


class _HeadReader:
    """The handler's rfile: the head the loop already read, with its size caps."""

    def __init__(self, head: bytes) -> None:
        self._raw = io.BytesIO(head)
        self._used = 0
        self._lines = 0

    def readline(self, size: int = -1) -> bytes:
        limit = MAX_REQUEST_LINE_BYTES if self._lines == 0 else MAX_HEADER_BYTES
        remaining = limit - (0 if self._lines == 0 else self._used)
        if remaining <= 0:
            raise _TooLarge(self._lines == 0)
        cap = remaining + 1 if size is None or size < 0 else min(size, remaining + 1)
        line = self._raw.readline(cap)
        if len(line) > remaining:
            raise _TooLarge(self._lines == 0)
        if self._lines > 0:
            self._used += len(line)
        self._lines += 1
        return line

    def read(self, size: int = -1) -> bytes:
        return b""  # GET has no body; nothing here reads one

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    """Turns one request head into response bytes; never touches the socket."""

    server: Any  # _Loop (only .routes is read)
    protocol_version = "HTTP/1.0"
    server_version = f"lagwatch/{__version__}"
    sys_version = ""
    # Errors before the version is parsed still get a status line (not a bare HTTP/0.9 body).
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        self.rfile = _HeadReader(self.request)  # type: ignore[assignment]
        self.wfile = io.BytesIO()

    def finish(self) -> None:
        self.response = self.wfile.getvalue()  # type: ignore[attr-defined]

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _TooLarge as exc:
            # Not (fully) parsed: fill what logging and the status line rely on.
            if exc.in_request_line:
                self.requestline, self.request_version = "", "HTTP/1.0"
            self.command = ""
            status = (
                HTTPStatus.REQUEST_URI_TOO_LONG
                if exc.in_request_line
                else HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            )
            self._send_error(status, "request too large")

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.headers.defects:  # a header line without a colon, and the like
            self._send_error(HTTPStatus.BAD_REQUEST, "malformed request headers")
            return False
        return True

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith("/"):
            self._send_error(HTTPStatus.BAD_REQUEST, "the path must start with /")
            return
        route = self.server.routes.get(parts.path.rstrip("/") or "/")
        if route is None:
            self._send_error(HTTPStatus.NOT_FOUND, f"no such page: {parts.path[:100]}")
            return
        try:
            query = parse_qs(parts.query, max_num_fields=20)
            response = route(query, self.headers)
        except HttpError as exc:
            self._send_error(exc.status, str(exc))
            return
        except ValueError as exc:  # parse_qs limits, bad parameters
            self._send_error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except Exception:
            log.exception("exporter: error serving %s", parts.path)
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
            return
        self._send(HTTPStatus.OK, response)

    def _not_allowed(self) -> None:
        self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET is served", allow=True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed
    do_TRACE = do_CONNECT = _not_allowed

    def _send_error(self, status: HTTPStatus, message: str, allow: bool = False) -> None:
        body = (" ".join(message.split()) + "\n").encode("utf-8", "replace")
        headers = (("Allow", "GET"),) if allow else ()
        self._send(status, Response(body, "text/plain; charset=utf-8", headers))

    def _send(self, status: HTTPStatus, response: Response) -> None:
        self.send_response(status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("exporter %s: " + format, self.client_address[0], *args)


def _head_complete(buf: bytearray, searched_from: int) -> bool:
    """Whether the head ended (a blank line) or must be answered now for its size."""
    start = max(0, searched_from - 3)
    if buf.find(b"\r\n\r\n", start) >= 0 or buf.find(b"\n\n", start) >= 0:
        return True
    if len(buf) > MAX_REQUEST_LINE_BYTES and buf.find(b"\n", 0, MAX_REQUEST_LINE_BYTES + 1) < 0:
        return True  # the request line alone is too long: 414
    return len(buf) >= _MAX_HEAD_BYTES  # 431


@dataclass(slots=True, eq=False)
class _Conn:
    sock: socket.socket
    address: Any
    deadline: float  # monotonic: for the whole request (reading), then the whole response
    last_read: float
    state: str = "reading"  # then "serving" (a worker builds the page), then "writing"
    head: bytearray = field(default_factory=bytearray)
    out: memoryview = field(default_factory=lambda: memoryview(b""))


class _Loop:
    """Accepts, reads heads, hands complete requests to workers, writes responses."""

    def __init__(
        self,
        listener: socket.socket,
        routes: dict[str, Route],
        max_connections: int,
        max_pending: int,
        read_timeout: float,
        request_deadline: float,
        write_timeout: float,
    ) -> None:
        self.routes = routes
        self.read_timeout = read_timeout
        self.request_deadline = request_deadline
        self.write_timeout = write_timeout
        self.max_pending = max_pending
        self.rejected = 0  # complete requests turned away with 503 (every worker busy)
        self.cut = 0  # connections closed at a deadline or dropped for newer ones
        self._listener = listener
        self._conns: dict[socket.socket, _Conn] = {}  # accept order: oldest first
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._done: SimpleQueue[tuple[_Conn, bytes | None]] = SimpleQueue()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._pool = ThreadPoolExecutor(max_connections, thread_name_prefix="lagwatch-http")
        self._stopping = False

    # -- the loop thread -------------------------------------------------------------------

    def run(self) -> None:
        next_sweep = 0.0
        while not self._stopping:
            try:
                for key, mask in self._selector.select(_SWEEP_EVERY_S):
                    self._on_event(key, mask)
                self._take_finished()
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + _SWEEP_EVERY_S
            except Exception:  # the loop must outlive any one connection's surprise
                log.exception("exporter: unexpected error in the connection loop")
        self._close_all()

    def _on_event(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.fileobj is self._listener:
            self._accept()
        elif key.fileobj is self._wake_r:
            with contextlib.suppress(OSError):
                while self._wake_r.recv(4096):
                    pass
        elif key.data.state == "writing":
            self._write(key.data)
        else:
            self._read(key.data)

    def _oldest_reading(self) -> _Conn | None:
        return next((c for c in self._conns.values() if c.state == "reading"), None)

    def _accept(self) -> None:
        for _ in range(64):  # a burst at a time; the rest on the next turn
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                oldest = self._oldest_reading()
                if exc.errno in (errno.EMFILE, errno.ENFILE) and oldest is not None:
                    self._drop(oldest)  # free a descriptor for the newcomer
                    continue
                log.debug("exporter: accept failed: %s", exc)
                return
            if len(self._conns) >= self.max_pending:
                oldest = self._oldest_reading()
                if oldest is not None:  # the longest still sending is the likeliest attacker
                    self._drop(oldest)
            sock.setblocking(False)
            now = time.monotonic()
            conn = _Conn(sock, address, now + self.request_deadline, now)
            self._conns[sock] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_MAX_HEAD_BYTES - len(conn.head))
        except BlockingIOError:
            return
        except OSError:
            self._close(conn)
            return
        if not data:  # the client finished sending (or left): answer what came
            if conn.head:
                self._dispatch(conn)
            else:
                self._close(conn)
            return
        searched = len(conn.head)
        conn.head += data
        conn.last_read = time.monotonic()
        if _head_complete(conn.head, searched):
            self._dispatch(conn)

    def _dispatch(self, conn: _Conn) -> None:
        self._selector.unregister(conn.sock)
        if not self._slots.acquire(blocking=False):
            self.rejected += 1
            with contextlib.suppress(OSError):
                conn.sock.send(_REJECT_503)
            self._close(conn)
            return
        conn.state = "serving"
        try:
            self._pool.submit(self._work, conn, bytes(conn.head))
        except RuntimeError:  # the pool is shutting down
            self._slots.release()
            self._close(conn)

    def _take_finished(self) -> None:
        while True:
            try:
                conn, response = self._done.get_nowait()
            except Empty:
                return
            if response is None or conn.sock not in self._conns:
                self._close(conn)
                continue
            conn.state = "writing"
            conn.out = memoryview(response)
            conn.deadline = time.monotonic() + self.write_timeout
            self._selector.register(conn.sock, selectors.EVENT_WRITE, conn)
            self._write(conn)

    def _write(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError:
            self._close(conn)
            return
        conn.out = conn.out[sent:]
        if not conn.out:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
            self._close(conn)

    def _sweep(self, now: float) -> None:
        """Cut every connection past its deadline, whatever it is sending: a request still
        arriving, or a response the client does not read. A page being built is our time."""
        for conn in list(self._conns.values()):
            if conn.state == "serving":
                continue
            idle = conn.state == "reading" and now - conn.last_read >= self.read_timeout
            if idle or now >= conn.deadline:
                self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        self.cut += 1
        self._close(conn)

    def _close(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        self._conns.pop(conn.sock, None)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _close_all(self) -> None:
        self._take_finished()
        for conn in list(self._conns.values()):
            self._close(conn)
        with contextlib.suppress(OSError):
            self._selector.close()
        for s in (self._wake_r, self._wake_w):
            s.close()

    # -- worker threads --------------------------------------------------------------------

    def _work(self, conn: _Conn, head: bytes) -> None:
        response: bytes | None = None
        try:
            handler = _Handler(head, conn.address, self)  # type: ignore[arg-type]
            response = handler.response
        except Exception as exc:
            log.debug("exporter: request from %s failed: %s", conn.address, exc)
        finally:
            self._slots.release()
            self._done.put((conn, response or None))
            with contextlib.suppress(OSError):  # full means the loop is already awake
                self._wake_w.send(b"\0")

    # -- any thread ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        self._pool.shutdown(wait=False, cancel_futures=True)


def _fd_limit() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1024
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


class HttpServer:
    """Serves ``routes`` on (host, port) from a background thread until ``stop()``."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: dict[str, Route],
        max_connections: int = 16,
        read_timeout: float = 5.0,
        request_deadline: float = 10.0,
        write_timeout: float = 10.0,
        max_pending: int = 256,
    ) -> None:
        host = host.strip("[]")
        # Slow clients must never take the descriptors the sampler and the database need.
        max_pending = max(8, min(max_pending, _fd_limit() // 4))
        try:
            listener = open_listener(host, port)  # host "": every interface
        except OSError as exc:
            # strerror stays the bare reason (callers add their own context); str() names
            # the address: "[Errno 98] Address already in use: '127.0.0.1:9683'".
            raise OSError(exc.errno, exc.strerror or str(exc), host_port(host, port)) from None
        self._listener = listener
        self._loop = _Loop(
            listener,
            routes,
            max_connections=max_connections,
            max_pending=max_pending,
            read_timeout=read_timeout,
            request_deadline=request_deadline,
            write_timeout=write_timeout,
        )
        self.host = host
        self.port: int = listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._loop.run, name="lagwatch-exporter", daemon=True
        )
        self._thread.start()

    @property
    def rejected(self) -> int:
        """Complete requests answered 503 because every worker was busy."""
        return self._loop.rejected

    @property
    def open_connections(self) -> int:
        """Connections held now (being read, served or written)."""
        return len(self._loop._conns)

    @property
    def cut(self) -> int:
        """Connections closed at their deadline (or dropped for newer ones) unanswered."""
        return self._loop.cut

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.stop()
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._listener.close()
