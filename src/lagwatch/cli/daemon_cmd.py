"""`lagwatch daemon`: record history, rogue episodes and pauses until stopped."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import (
    DAY_S,
    Count,
    Seconds,
    interval_option,
    open_sampler,
    pressure_threshold_option,
    source_option,
)
from lagwatch.cli.store_args import db_option
from lagwatch.daemon.pressure import DEFAULT_ENTER
from lagwatch.listen import host_port, is_wildcard, parse_listen
from lagwatch.sanitize import for_log

EXIT_ALREADY_RUNNING = 3  # another daemon records to this database (the service retries)


def _listen_param(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class OneLineFormatter(logging.Formatter):
    """Every message is one line: a process name holding a newline or an escape sequence is
    escaped, so it can neither forge a log line nor drive the terminal reading the log."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = for_log(record.message)
        return super().formatMessage(record)


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s lagwatch daemon: %(message)s"))
    # Written by a thread of its own: a log file on a frozen disk (a LaunchAgent's log often
    # sits on the history's volume) must not stop the sampling loop, whose log calls queue.
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()
    atexit.register(listener.stop)  # what was logged is written before the process ends
    root = logging.getLogger("lagwatch")
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def start_listener(state, host: str, port: int, db_path: Path, top_k: int):
    """Start the exporter (imported only when asked for: prometheus-client is not free)."""
    try:
        from lagwatch.exporter import start_exporter
    except ImportError as exc:
        raise CliError(f"--listen: the exporter cannot be loaded: {exc}", exit_code=1) from None
    try:
        return start_exporter(state, host, port, db_path, top_k=top_k)
    except OSError as exc:
        why = exc.strerror or exc
        # Bad input like any other (a port in use, an address not of this machine): exit 2.
        raise CliError(f"--listen: cannot listen on {host_port(host, port)}: {why}") from None


def _spread(write: Callable[..., None]) -> Callable[[dict[str, Any]], None]:
    return lambda health: write(**health)


EXAMPLES = """\b
Examples:
  lagwatch daemon                               record to the default history
  lagwatch daemon --listen 127.0.0.1:9683       and serve /metrics and /api
  lagwatch daemon --interval 2s --retention 7d  lighter, and keep one week
  lagwatch daemon --pressure-threshold io=40    I/O stalls count from 40 %
  lagwatch service install                      run it at every login instead
"""


def _exit_on_signal(signum: int, _frame: object) -> None:
    """Before the loop runs, SIGTERM/SIGINT end the command through its finally blocks."""
    raise SystemExit(128 + signum)


@click.command("daemon", epilog=EXAMPLES)
@db_option
@interval_option()
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    callback=_listen_param,
    help="Serve Prometheus metrics and the JSON API here: 127.0.0.1:9683, [::1]:9683, or "
    ":9683 for every interface.",
)
@click.option(
    "--export-top-k",
    type=Count(1, 1000),
    default=20,
    show_default=True,
    help="With --listen: how many of the highest-scoring processes get per-process series.",
)
@click.option(
    "--retention",
    default="30d",
    metavar="DURATION",
    show_default=True,
    type=Seconds(60.0, 100 * 366 * DAY_S),
    help="Keep recorded ticks this long (older ones are thinned first, see docs/daemon.md).",
)
@click.option(
    "--pause-threshold",
    type=Seconds(0.1, 3600.0),
    default=2.0,
    show_default=True,
    help="Seconds of lateness that count as a pause.",
)
@pressure_threshold_option()
@source_option()
@click.option("--verbose", "-v", is_flag=True, help="Log every recorded tick.")
def command(
    db: Path | None, interval: float, listen: tuple[str, int] | None, export_top_k: int,
    retention: float, pause_threshold: float, pressure_thresholds: dict[str, float],
    source: str | None, verbose: bool,
) -> None:  # fmt: skip
    """Record which processes stress this machine, rogue episodes and pauses, until stopped."""
    from lagwatch.daemon.loop import Daemon, DaemonConfig, LatestOnly
    from lagwatch.daemon.pressure import PressureConfig
    from lagwatch.live import LiveState
    from lagwatch.store import Recorder, Retention, StoreError, default_db_path
    from lagwatch.store.files import UnsafePath
    from lagwatch.store.lock import AlreadyRunning, DaemonLock

    db_path = (db or default_db_path()).expanduser().absolute()
    setup_logging(verbose)
    lock = DaemonLock(db_path)
    try:
        lock.acquire(interval_s=interval, listen=None if listen is None else host_port(*listen))
    except AlreadyRunning as exc:
        # A distinct status: the message says who runs; the service retries later.
        raise CliError(str(exc), exit_code=EXIT_ALREADY_RUNNING) from None
    except UnsafePath as exc:
        raise CliError(f"refusing to lock {db_path}: {exc}", exit_code=1) from None
    except OSError as exc:
        where = exc.filename or lock.path
        raise CliError(f"cannot create the lock {where}: {exc.strerror or exc}", 1) from None
    for warning in lock.warnings:
        logging.getLogger("lagwatch.daemon").warning("lock: %s", warning)
    # Until the loop runs (the first sweep, the database, the exporter), a stop request unwinds
    # through the finally below: the lock and the exporter are given back, not left behind.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    exporter = None
    notes: list = []
    try:
        sampler = open_sampler(source)
        first = [sampler]

        def make_sampler():
            return first.pop() if first else open_sampler(source)

        recorder = Recorder(db_path, retention=Retention(keep_s=retention))
        try:
            recorder.open()  # a file that is not ours is fatal; a full disk is not
        except StoreError as exc:
            raise CliError(str(exc), exit_code=1) from None
        state = LiveState()
        if listen is not None:
            exporter = start_listener(state, listen[0], listen[1], db_path, export_top_k)
        config = DaemonConfig(
            interval_s=interval,
            pause_threshold_s=pause_threshold,
            pressure=PressureConfig(enter={**DEFAULT_ENTER, **pressure_thresholds}),
        )
        # Each lock file's note is written by a thread of its own: the one beside the database
        # on a frozen disk never holds back the other, which `status` then reads.
        notes += [LatestOnly(_spread(w)) for w in lock.note_writers()]

        def on_health(health: dict) -> None:
            for box in notes:
                box.post(health)

        daemon = Daemon(make_sampler, recorder, state, config, on_health=on_health)
        signal.signal(signal.SIGTERM, daemon.request_stop)
        signal.signal(signal.SIGINT, daemon.request_stop)
        where = "" if exporter is None else f", serving {exporter.url}/metrics"
        if listen is not None and is_wildcard(listen[0]):
            where += " (listening on every interface)"
        logging.getLogger("lagwatch.daemon").info(
            "recording to %s every %gs (pid %d, sources: %s)%s",
            db_path, interval, os.getpid(), ", ".join(sampler.source_names), where,
        )  # fmt: skip
        try:
            daemon.run()
        except StoreError as exc:
            raise CliError(str(exc), exit_code=1) from None
        logging.getLogger("lagwatch.daemon").info(
            "stopped; %d ticks recorded this run", recorder.ticks_written
        )
    finally:
        if exporter is not None:
            exporter.stop()
        for box in notes:
            box.close(timeout_s=1.0)  # a note stuck on a frozen disk is given up
        lock.release()
