"""Prometheus endpoint and JSON API of a running lagwatch (`lagwatch daemon --listen`).

``start_exporter`` subscribes to the daemon's :class:`~lagwatch.live.LiveState`, keeps the
per-process counters (see ``series``), and serves ``GET /metrics``, ``/api/now`` and
``/api/events`` from a background thread (see ``server``) until ``handle.stop()``.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path

from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from lagwatch.exporter.api import Pages
from lagwatch.exporter.metrics import LagwatchCollector
from lagwatch.exporter.series import DEFAULT_TOP_K, ExportView, SeriesTracker
from lagwatch.exporter.server import HttpServer
from lagwatch.listen import url_for
from lagwatch.live import LiveState
from lagwatch.model import Ranking

__all__ = ["DEFAULT_PORT", "DEFAULT_TOP_K", "Exporter", "is_loopback", "start_exporter"]

log = logging.getLogger("lagwatch.exporter")

DEFAULT_PORT = 9683


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach. An empty host means every interface."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


class Exporter:
    """A running exporter: ``url`` (one that reaches it from this machine, IPv6 in
    brackets, loopback for every-interface hosts), ``port``, and ``stop()``."""

    def __init__(
        self,
        state: LiveState,
        host: str,
        port: int,
        db_path: Path | None,
        top_k: int = DEFAULT_TOP_K,
        max_connections: int = 16,
        request_timeout_s: float = 2.0,
    ) -> None:
        self.state = state
        self.tracker = SeriesTracker(top_k)
        self._update_lock = threading.Lock()
        self._last: Ranking | None = None
        self._stopped = False
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(LagwatchCollector(state, self.view))
        # The exporter's own CPU and memory (process_* families; Linux only, empty elsewhere).
        ProcessCollector(registry=self.registry)
        pages = Pages(state, self.view, self.registry, db_path)

        # Listen first: if the port is taken, nothing stays subscribed to the sampling thread.
        self._http = HttpServer(
            host,
            port,
            pages.routes(),
            max_connections=max_connections,
            # A scraper sends its few hundred bytes at once: a client still sending after
            # 1.5x the timeout is holding a worker on purpose. Writing gets more room (slow
            # links, big pages).
            read_timeout=request_timeout_s,
            request_deadline=1.5 * request_timeout_s,
            write_timeout=5 * request_timeout_s,
        )
        state.subscribe(self._on_ranking)
        if state.latest is not None:
            self._on_ranking(state.latest)
        self.host = host
        self.port = self._http.port
        self.url = url_for(host.strip("[]"), self.port)

    def view(self) -> ExportView:
        return self.tracker.view

    @property
    def rejected_connections(self) -> int:
        return self._http.rejected

    def _on_ranking(self, ranking: Ranking) -> None:
        """Runs on the sampling thread: quick, and never raises into it."""
        if self._stopped:
            return
        try:
            with self._update_lock:
                if ranking is self._last:  # primed at start and published again
                    return
                self._last = ranking
                self.tracker.update(ranking)
        except Exception:
            log.exception("exporter: could not update metrics from a ranking")

    def stop(self) -> None:
        """Stop serving and close the port. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.state.unsubscribe(self._on_ranking)
        self._http.stop()


def start_exporter(
    state: LiveState,
    host: str,
    port: int,
    db_path: Path | None,
    *,
    top_k: int = DEFAULT_TOP_K,
    max_connections: int = 16,
    request_timeout_s: float = 2.0,
) -> Exporter:
    """Serve /metrics, /api/now and /api/events for ``state`` on ``host:port`` (port 0 picks a
    free one; see ``.port``). A non-loopback host is allowed but logged as a warning: the pages
    show every top process's name. Raises OSError with a one-line reason if it cannot listen."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if not is_loopback(host):
        log.warning(
            "exporter listening on %s, reachable from other machines: process names and "
            "activity are visible to anyone who can connect (use 127.0.0.1 to keep it local)",
            host or "every interface",
        )
    return Exporter(
        state,
        host,
        port,
        None if db_path is None else Path(db_path),
        top_k=top_k,
        max_connections=max_connections,
        request_timeout_s=request_timeout_s,
    )
