"""Options several commands share, defined once so they read and behave the same everywhere
(not a command itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


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
