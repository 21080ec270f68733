"""The pages the exporter serves: /metrics, /api/now, /api/events, and an index.

Pages are rendered at most once per tick (and at least once a second, so self-metrics stay
fresh if sampling stalls) whatever the number of scrapers: a burst of scrapes costs one render.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol, cast

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from lagwatch.events import Event, EventLog
from lagwatch.exporter.series import ExportView
from lagwatch.exporter.server import HttpError, Response, Route
from lagwatch.grouping import BY_CHOICES, By, ranking_json
from lagwatch.live import LiveState
from lagwatch.units import parse_time

log = logging.getLogger("lagwatch.exporter")

JSON_TYPE = "application/json"
NDJSON_TYPE = "application/x-ndjson"
CACHE_MAX_AGE_S = 1.0
INDEX = b"""lagwatch exporter
  /metrics      Prometheus metrics (text or OpenMetrics format)
  /api/now      the latest ranking, as `lagwatch top --json` prints it (?limit=K,
                ?by=app or ?by=user as `top --by`)
  /api/events   pauses, rogue episodes and pressure events, one JSON object per line,
                as `lagwatch events --json`
                (?since=TIME: unix time, ISO time or a duration ago like 1h)
"""


class Headers(Protocol):
    """The request headers a page reads (an email.message.Message from http.server)."""

    def get(self, name: str, default: str | None = None, /) -> str | None: ...


def clean_json(value: Any) -> Any:
    """NaN and infinities are not JSON: they become null (unknown), like every missing value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def dumps(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(clean_json(value), separators=(",", ":"))


def render_lines(events: list[Event]) -> bytes:
    """JSON Lines, one `events --json` object each."""
    return "".join(dumps(e.to_json()) + "\n" for e in events).encode()


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _positive_int(query: dict[str, list[str]], name: str) -> int | None:
    text = _one(query, name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a positive integer, got {text!r}")
    return value


def load_events(
    live: EventLog,
    db_path: Path | None,
    since: float | None,
    warned: set[str] | None = None,
) -> list[Event]:
    """Events from the database when it exists (the whole history), else the daemon's recent
    ones. Oldest first. ``since`` keeps events still going on or ended after that time.
    A database error is logged once per distinct message (``warned`` remembers them)."""
    if db_path is not None and db_path.exists():
        try:
            from lagwatch.store import History, StoreError
        except ImportError:
            pass  # no store in this build (no sqlite3): the live list is all there is
        else:
            try:
                with History(db_path) as history:
                    return history.events(since)
            except StoreError as exc:
                if warned is None or str(exc) not in warned:
                    log.warning("exporter: reading events from %s failed (%s); serving recent "
                                "ones", db_path, exc)  # fmt: skip
                    if warned is not None and len(warned) < 100:
                        warned.add(str(exc))
    return live.events(since)


class Pages:
    """Route handlers over one LiveState, a view getter and a metrics registry."""

    def __init__(
        self,
        state: LiveState,
        view: Callable[[], ExportView],
        registry: CollectorRegistry,
        db_path: Path | None,
    ) -> None:
        self._state = state
        self._view = view
        self._registry = registry
        self._db_path = db_path
        self._lock = threading.Lock()
        self._cache: dict[tuple, tuple[float, bytes]] = {}
        self._warned: set[str] = set()

    def routes(self) -> dict[str, Route]:
        return {
            "/": self.index,
            "/metrics": self.metrics,
            "/api/now": self.now,
            "/api/events": self.events,
        }

    def _cached(self, key: tuple, render: Callable[[], bytes]) -> bytes:
        """Render once per (tick, key); concurrent scrapers wait for the one render."""
        full_key = (
            self._view().version,
            self._state.ticks,
            self._state.pause_events_total,
            self._state.rogue_events_total,
            self._state.pressure_events_total,
            *key,
        )
        with self._lock:
            hit = self._cache.get(full_key)
            now = time.monotonic()
            if hit is not None and now - hit[0] < CACHE_MAX_AGE_S:
                return hit[1]
            body = render()
            self._cache = {k: v for k, v in self._cache.items() if k[:5] == full_key[:5]}
            self._cache[full_key] = (now, body)
            return body

    def index(self, query: dict[str, list[str]], headers: Headers) -> Response:
        return Response(INDEX, "text/plain; charset=utf-8")

    def metrics(self, query: dict[str, list[str]], headers: Headers) -> Response:
        encoder, content_type = choose_encoder(headers.get("Accept", "") or "")
        body = self._cached(("metrics", content_type), lambda: encoder(self._registry))
        if "gzip" in (headers.get("Accept-Encoding", "") or "").lower():
            zipped = self._cached(("metrics.gz", content_type), lambda: gzip.compress(body, 5))
            return Response(zipped, content_type, (("Content-Encoding", "gzip"),))
        return Response(body, content_type)

    def now(self, query: dict[str, list[str]], headers: Headers) -> Response:
        limit = _positive_int(query, "limit")
        by = _one(query, "by") or "process"
        if by not in BY_CHOICES:
            raise HttpError(
                HTTPStatus.BAD_REQUEST, f"by must be one of {', '.join(BY_CHOICES)}, got {by!r}"
            )
        ranking = self._view().ranking or self._state.latest
        if ranking is None:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "no ranking yet: wait one interval")

        def render() -> bytes:
            return (dumps(ranking_json(ranking, cast(By, by), limit)) + "\n").encode()

        body = self._cached(("now", limit, by), render)
        return Response(body, JSON_TYPE)

    def events(self, query: dict[str, list[str]], headers: Headers) -> Response:
        since_text = _one(query, "since")
        since: float | None = None
        if since_text is not None:
            try:
                since = parse_time(since_text)
            except ValueError as exc:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"since: {exc}") from None
        limit = _positive_int(query, "limit")
        events = load_events(self._state, self._db_path, since, self._warned)
        if limit is not None:
            events = events[-limit:]
        return Response(render_lines(events), NDJSON_TYPE)
