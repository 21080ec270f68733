"""Options several commands share, defined once so they read and behave the same everywhere,
and what turns their values into objects (not a command itself).

Every interval, duration and count a command accepts goes through :class:`Seconds` or
:class:`Count`: NaN, infinities, zero, negatives and absurdly large values are usage errors
(one line, exit status 2), never a busy loop or an internal error.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import click

from lagwatch.cli.errors import CliError
from lagwatch.daemon.pressure import DEFAULT_ENTER, RESOURCES
from lagwatch.filters import ProcessFilter, compile_name
from lagwatch.sources import registry
from lagwatch.sources.base import SourceError
from lagwatch.ticker import Ticker, open_ticker
from lagwatch.units import parse_duration

DAY_S = 86400.0


class Seconds(click.ParamType):
    """A length of time: plain seconds (0.5) or a duration (500ms, 30s, 5m, 2h, 1d), finite and
    within [minimum, maximum]."""

    name = "seconds"

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> float:  # fmt: skip
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds, text = float(value), repr(value)
        else:
            text = str(value)
            try:
                seconds = parse_duration(text)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{text!r} is not a number of seconds", param, ctx)
        if seconds < self.minimum:
            self.fail(f"{text} is too short (at least {self.minimum:g}s)", param, ctx)
        if seconds > self.maximum:
            self.fail(f"{text} is too long (at most {_span(self.maximum)})", param, ctx)
        return seconds


class Count(click.ParamType):
    """A whole number within [minimum, maximum]."""

    name = "count"

    def __init__(self, minimum: int = 1, maximum: int = 1_000_000, what: str = "a whole number"
                 ) -> None:  # fmt: skip
        self.minimum = minimum
        self.maximum = maximum
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> int:  # fmt: skip
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not text.lstrip("+-").isdigit():
                self.fail(f"{value!r} is not {self.what}", param, ctx)
            number = int(text)
        if number < self.minimum:
            self.fail(f"{number} is too small (at least {self.minimum})", param, ctx)
        if number > self.maximum:
            self.fail(f"{number} is too large (at most {self.maximum})", param, ctx)
        return number


def _span(seconds: float) -> str:
    if seconds >= DAY_S:
        return f"{seconds / DAY_S:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} hours"
    return f"{seconds:g}s"


# The bounds every command shares: an interval below 50 ms measures the sampler itself, one
# above an hour is no longer "live"; a table of a million rows is not a table.
INTERVAL = Seconds(0.05, 3600.0)
LIMIT = Count(1, 100_000)
COUNT = Count(1, 1_000_000_000)


def interval_option(help: str = "Seconds between readings (or 500ms, 2s, 1m).",
                    default: float | None = 1.0) -> Callable[[Any], Any]:  # fmt: skip
    return click.option(
        "--interval",
        "-i",
        type=INTERVAL,
        default=default,
        show_default=default is not None,
        help=help,
    )


def limit_option(
    help: str = "Show the K most stressing processes (default: what fits the terminal in the "
    "table, all in JSON).",
) -> Callable[[Any], Any]:
    return click.option("--limit", "-k", type=LIMIT, default=None, help=help)


def source_option(help: str = "Force a set of sources (see `lagwatch sources`).",
                  ) -> Callable[[Any], Any]:  # fmt: skip
    return click.option("--source", default=None, metavar="NAME[,NAME]", help=help)


def _thresholds_param(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    """``--pressure-threshold memory=20`` (repeatable): per resource, a share of time in %."""
    out: dict[str, float] = {}
    for value in values:
        resource, sep, number = value.partition("=")
        resource = resource.strip().lower()
        if not sep or resource not in RESOURCES:
            raise click.BadParameter(
                f"{value!r}: give RESOURCE=PERCENT, RESOURCE one of {', '.join(RESOURCES)}"
            )
        try:
            percent = float(number.strip().rstrip("%"))
        except ValueError:
            raise click.BadParameter(f"{value!r}: {number!r} is not a number") from None
        if not 0 < percent <= 100:
            raise click.BadParameter(f"{value!r}: the percent must be above 0 and at most 100")
        out[resource] = percent
    return out


_DEFAULT_THRESHOLDS = " ".join(f"{r}={p:g}" for r, p in DEFAULT_ENTER.items())


def pressure_threshold_option(
    help: str = "Share of time tasks stall on cpu, memory or io that starts a pressure event "
    f"(repeatable) [default: {_DEFAULT_THRESHOLDS}; see docs/daemon.md].",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--pressure-threshold RESOURCE=PERCENT`` as ``pressure_thresholds``: a dict holding
    the resources given (the daemon keeps its default for the others)."""
    return click.option("--pressure-threshold", "pressure_thresholds", metavar="RESOURCE=PERCENT",
                        multiple=True, callback=_thresholds_param, help=help)  # fmt: skip


def _name_param(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            compile_name(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--user, --pid, --name and --kernel, handed to the command as one ``flt``
    (lagwatch.filters.ProcessFilter) keyword argument."""

    @functools.wraps(func)
    def command(*args: Any, user: tuple[str, ...], pid: tuple[int, ...], name: str | None,
                kernel: bool, **kwargs: Any) -> Any:  # fmt: skip
        kwargs["flt"] = ProcessFilter.build(user, pid, name, kernel)
        return func(*args, **kwargs)

    options = (
        click.option("--user", "-u", multiple=True, metavar="USER",
                     help="Only processes of this user (repeatable)."),
        click.option("--pid", "-p", type=Count(0, 2**31, "a process id"), multiple=True,
                     metavar="PID",
                     help="Only this process (repeatable)."),
        click.option("--name", default=None, metavar="TEXT|re:REGEX", callback=_name_param,
                     help="Only names containing TEXT (any case), or matching the regular "
                     "expression after re:."),
        click.option("--kernel", "--all", "kernel", is_flag=True,
                     help="Show kernel threads too (hidden unless one scores 40 or more)."),
    )  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def parse_source_list(value: str | None) -> list[str] | None:
    """Forced source names; an unknown one, or one made for another OS, is a usage error."""
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        try:
            info = registry.by_name(name)
        except SourceError as exc:
            raise click.BadParameter(str(exc), param_hint="'--source'") from None
        if not registry.runs_here(info):
            raise click.BadParameter(
                f"{name}: {registry.unavailable_reason(info)}; `lagwatch sources` lists the "
                "sources of this machine",
                param_hint="'--source'",
            )
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
