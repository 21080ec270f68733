"""Options several commands share, defined once so they read and behave the same everywhere,
and what turns their values into objects (not a command itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lagwatch.cli.errors import CliError
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError
from lagwatch.ticker import Ticker, open_ticker


def interval_option(help: str = "Seconds between readings.", default: float | None = 1.0
                    ) -> Callable[[Any], Any]:  # fmt: skip
    return click.option(
        "--interval",
        "-i",
        type=click.FloatRange(min=0.05),
        default=default,
        show_default=default is not None,
        help=help,
    )


def limit_option(
    help: str = "Show the K most stressing processes (default: 20 in the table, all in JSON).",
) -> Callable[[Any], Any]:
    return click.option("--limit", "-k", type=click.IntRange(min=1), default=None, help=help)


def source_option(help: str = "Force a set of sources (see `lagwatch sources`).",
                  ) -> Callable[[Any], Any]:  # fmt: skip
    return click.option("--source", default=None, metavar="NAME[,NAME]", help=help)


def parse_source_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        try:
            registry.by_name(name)
        except SourceError as exc:
            raise click.BadParameter(str(exc), param_hint="'--source'") from None
    return names


def open_sampler(source: str | None) -> Ticker:
    """The CLI's way to get a Ticker from a --source value: bad names are usage errors."""
    try:
        sampler, problems = open_ticker(parse_source_list(source))
    except SourceError as exc:
        raise CliError(str(exc), exit_code=1) from None
    for problem in problems:
        if source:  # forced sources that failed are worth saying; auto-selection is quiet
            click.echo(f"lagwatch: source {problem}", err=True)
    return sampler
