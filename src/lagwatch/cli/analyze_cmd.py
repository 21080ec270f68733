"""`lagwatch analyze`: rank the processes in a captured top / powermetrics / nettop output, the
way `lagwatch top` would have ranked them live."""

from __future__ import annotations

import json
import sys

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import limit_option
from lagwatch.ranking import SORT_KEYS
from lagwatch.render.table import legend, output_width
from lagwatch.sanitize import for_terminal

FORMAT_CHOICES = ("auto", "top", "powermetrics-plist", "powermetrics-text", "nettop")


def _read(path: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None


EXAMPLES = """\b
Examples:
  top -l 2 -s 1 -stats pid,command,cpu,mem,power > top.txt
  lagwatch analyze top.txt
  sudo powermetrics -n 3 -f plist > pm.plist; lagwatch analyze pm.plist --json
  nettop -P -L 1 | lagwatch analyze -
"""


@click.command("analyze", epilog=EXAMPLES + "\n" + legend())
@click.argument(
    "files",
    nargs=-1,
    required=True,
    metavar="FILE...",
    type=click.Path(dir_okay=False, allow_dash=True),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="auto",
    show_default=True,
    help="Capture format; auto detects it from the content.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample (JSON Lines).")
@limit_option()
@click.option(
    "--sort",
    type=click.Choice(sorted(SORT_KEYS)),
    default="score",
    show_default=True,
    help="Order of the rows in each ranking.",
)
def command(files: tuple[str, ...], fmt: str, as_json: bool, limit: int | None, sort: str) -> None:
    """Rank the processes in captured `top -l`, `powermetrics` or `nettop` output (FILE may be
    - for standard input), one ranking per sample, worst first."""
    from lagwatch.captures.analyze import analyze
    from lagwatch.parsers.errors import CaptureError

    analyses = []
    for path in files:  # every file is checked before anything is printed
        try:
            analyses.append((path, analyze(_read(path), fmt, sort)))
        except CaptureError as exc:
            where = f"{path}:{exc.line}" if exc.line is not None else path
            raise CliError(f"{where}: {exc.message}") from None
    for path, analysis in analyses:
        for warning in analysis.warnings:
            click.echo(f"lagwatch: {path}: {for_terminal(warning)}", err=True)
    if as_json:
        for path, analysis in analyses:
            for item in analysis.rankings:
                line = json.dumps(item.to_json(path, limit), separators=(",", ":"))
                sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    _tables(analyses, limit or 20)


def _tables(analyses: list, limit: int) -> None:
    from rich.console import Console
    from rich.text import Text

    from lagwatch.render.table import ranking_header, ranking_table

    console = Console()
    width = console.width if console.is_terminal else output_width()  # fit, whole numbers
    for path, analysis in analyses:
        for item in analysis.rankings:
            when = item.time_text or "time unknown"
            title = f"{path} · {analysis.format} sample {item.sample} ({item.kind}) · {when}"
            console.print(Text(title, style="bold"))
            header = ranking_header(item.ranking)
            if not item.interval_known:
                header = header.replace(f"interval {item.ranking.interval_s:.1f}s", "interval ?")
            console.print(Text(header, style="dim"))
            power = _power_line(item.system)
            if power:
                console.print(Text(power, style="dim"))
            console.print(ranking_table(item.ranking, limit, width=width))


def _power_line(system: dict) -> str:
    parts = []
    for key, label in (("cpu_power_watts", "CPU"), ("gpu_power_watts", "GPU"),
                       ("ane_power_watts", "ANE"), ("combined_power_watts", "combined"),
                       ("package_power_watts", "package")):  # fmt: skip
        if system.get(key) is not None:
            parts.append(f"{label} {system[key]:.2f} W")
    return "system power: " + ", ".join(parts) if parts else ""
