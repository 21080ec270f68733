"""Options and helpers shared by the commands that read history (not a command itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lagwatch.cli.errors import CliError
from lagwatch.units import parse_time

if TYPE_CHECKING:
    from lagwatch.store import History

db_option = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History database (default: the user data directory).",
)


def db_path(db: Path | None) -> Path:
    from lagwatch.store import default_db_path

    return (db or default_db_path()).expanduser().absolute()


@contextmanager
def open_history(db: Path | None) -> Iterator[History]:
    """The history, open for the ``with`` block; a database that cannot be opened or read
    (there or half-way through) is one line and exit status 1."""
    from lagwatch.store import History, StoreError

    try:
        with History(db_path(db)) as history:
            yield history
    except StoreError as exc:
        raise CliError(str(exc), exit_code=1) from None


# The times a history can hold: from 1970 to the last second of year 9999 (what datetime can
# print); anything else is a typo, not a moment.
LATEST_TIME = 253402300799.0


def time_param(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not 0.0 <= moment <= LATEST_TIME:
        raise click.BadParameter(f"{value!r} is not a time between 1970 and 9999")
    return moment
