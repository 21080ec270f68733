"""`lagwatch tui`: the interactive view, attached to a daemon's history or sampling itself."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import interval_option, open_sampler, source_option


def choose_db(db: Path | None, standalone: bool) -> Path | None:
    """The database to attach to, or None for standalone sampling.

    --db attaches (it must exist). Without it, the default database is used when a daemon is
    recording to it right now; otherwise the TUI samples by itself."""
    if standalone:
        if db is not None:
            raise click.UsageError("--db and --standalone exclude each other")
        return None
    if db is not None:
        db = db.expanduser()
        if not db.exists():
            raise CliError(
                f"--db {db}: no such history file (start `lagwatch daemon --db {db}`, or run "
                "`lagwatch tui` without --db to sample here)"
            )
        return db
    try:
        from lagwatch.store import default_db_path
        from lagwatch.store.lock import running_daemon
    except ImportError:
        return None
    default = default_db_path()
    if default.exists() and running_daemon(default) is not None:
        return default
    return None


def open_feed(db: Path | None, interval: float | None, source: str | None):
    from lagwatch.tui.feed import HistoryFeed, SamplerFeed

    if db is not None:
        from lagwatch.store import StoreError

        try:
            return HistoryFeed(db, interval_s=interval)
        except StoreError as exc:
            raise CliError(str(exc), exit_code=1) from None

    return SamplerFeed(lambda: open_sampler(source), interval_s=interval or 1.0)


EXAMPLES = """\b
Examples:
  lagwatch tui                  attach to a running daemon, or sample here
  lagwatch tui --standalone     sample here even if a daemon runs
  lagwatch tui --db ~/h.db      replay a history database
(keys: ? in the TUI lists them; docs/tui.md)
"""


@click.command("tui", epilog=EXAMPLES)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Attach to this history database (default: a running daemon's).")  # fmt: skip
@interval_option(
    "Seconds between readings when sampling here (default 1); attached, how often to look for "
    "new ticks (default: the daemon's interval).",
    default=None,
)
@click.option("--standalone", is_flag=True, help="Sample here even if a daemon is running.")
@source_option("Standalone: force a set of sources (see `lagwatch sources`).")
def command(db: Path | None, interval: float | None, standalone: bool, source: str | None) -> None:
    """Interactive ranking with details, events and replay of recorded history."""
    path = choose_db(db, standalone)
    # A bad database is reported before anything else; sampling starts only with a terminal.
    feed = open_feed(path, interval, source) if path is not None else None
    try:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise CliError(
                "lagwatch tui needs a terminal; for pipes and scripts use `lagwatch top --json`"
            )
        if feed is None:
            feed = open_feed(None, interval, source)
        from lagwatch.tui.app import LagwatchApp

        LagwatchApp(feed).run()
    finally:
        if feed is not None:
            feed.close()
