"""A small, defensive HTTP server for /metrics and the JSON API.

Why not prometheus_client's own server: it spawns a thread per connection without a cap and
has no limit on how slowly or how much a client may send. Here:

- a fixed pool of worker threads; a connection beyond the cap gets an immediate 503 from the
  accept thread (never queued behind slow clients);
- the request line and headers are capped in size (414 / 431) and must arrive within a deadline
  (a client trickling bytes is dropped); responses are written with a timeout;
- HTTP/1.0 semantics (one request per connection), so no worker waits on an idle keep-alive;
- only GET: other known methods get 405, unknown ones 501, junk 400.

The sampling thread never touches any of this: pages are built from immutable views.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lagwatch import __version__

log = logging.getLogger("lagwatch.exporter")

MAX_REQUEST_LINE_BYTES = 8192
MAX_HEADER_BYTES = 16384
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


class _LimitedReader:
    """Wraps a handler's rfile: caps the bytes of the request head and enforces one deadline
    for all of it, whatever the per-read timeout."""

    def __init__(self, raw: Any, sock: socket.socket, deadline: float, read_timeout: float):
        self._raw = raw
        self._sock = sock
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._used = 0
        self._lines = 0

    def _arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request took too long to arrive")
        self._sock.settimeout(min(self._read_timeout, remaining))

    def readline(self, size: int = -1) -> bytes:
        limit = MAX_REQUEST_LINE_BYTES if self._lines == 0 else MAX_HEADER_BYTES
        remaining = limit - (0 if self._lines == 0 else self._used)
        if remaining <= 0:
            raise _TooLarge(self._lines == 0)
        self._arm()
        cap = remaining + 1 if size is None or size < 0 else min(size, remaining + 1)
        line = self._raw.readline(cap)
        if len(line) > remaining:
            raise _TooLarge(self._lines == 0)
        if self._lines > 0:
            self._used += len(line)
        self._lines += 1
        return line

    def read(self, size: int = -1) -> bytes:
        # GET has no body; nothing here reads one. Bound it anyway.
        self._arm()
        return self._raw.read(min(size, MAX_HEADER_BYTES) if size >= 0 else 0)

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = f"lagwatch/{__version__}"
    sys_version = ""
    # Errors before the version is parsed still get a status line (not a bare HTTP/0.9 body).
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)
        deadline = time.monotonic() + self.server.request_deadline
        self.rfile = _LimitedReader(  # type: ignore[assignment]
            self.rfile, self.connection, deadline, self.server.read_timeout
        )

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
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.headers.defects:  # a header line without a colon, and the like
            self._send_error(HTTPStatus.BAD_REQUEST, "malformed request headers")
            return False
        return True

    def do_GET(self) -> None:
        self.connection.settimeout(self.server.write_timeout)
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
        try:
            self.send_response(status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Connection", "close")
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (OSError, TimeoutError):
            pass  # the client went away or would not read: nothing left to do
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("exporter %s: " + format, self.client_address[0], *args)


class _Server(socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        routes: dict[str, Route],
        max_connections: int,
        read_timeout: float,
        request_deadline: float,
        write_timeout: float,
    ) -> None:
        self.address_family = family
        self.routes = routes
        self.read_timeout = read_timeout
        self.request_deadline = request_deadline
        self.write_timeout = write_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._pool = ThreadPoolExecutor(max_connections, thread_name_prefix="lagwatch-http")
        self.rejected = 0
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.rejected += 1
            self._reject(request)
            return
        try:
            self._pool.submit(self._work, request, client_address)
        except RuntimeError:  # the pool is shutting down
            self._slots.release()
            self.shutdown_request(request)

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as exc:
            log.debug("exporter: connection from %s failed: %s", client_address, exc)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def _reject(self, request: socket.socket) -> None:
        # From the accept thread: never block here.
        with contextlib.suppress(OSError):
            request.setblocking(False)
            request.send(_REJECT_503)
        self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


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
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        bind_host = host.strip("[]")
        try:
            self._server = _Server(
                (bind_host, port),
                family,
                routes,
                max_connections,
                read_timeout,
                request_deadline,
                write_timeout,
            )
        except OSError as exc:
            # strerror stays the bare reason (callers add their own context); str() names
            # the address: "[Errno 98] Address already in use: '127.0.0.1:9683'".
            raise OSError(exc.errno, exc.strerror or str(exc), f"{host}:{port}") from None
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.25},
            name="lagwatch-exporter",
            daemon=True,
        )
        self._thread.start()

    @property
    def rejected(self) -> int:
        return self._server.rejected

    def stop(self, timeout: float = 5.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
