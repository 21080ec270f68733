"""`lagwatch analyze`: rank the processes in a captured top / powermetrics / nettop output, the
way `lagwatch top` would have ranked them live."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from typing import IO, Any

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import limit_option
from lagwatch.ranking import SORT_KEYS
from lagwatch.render.table import legend, output_width
from lagwatch.sanitize import for_terminal

FORMAT_CHOICES = ("auto", "top", "powermetrics-plist", "powermetrics-text", "nettop")
# A capture is read whole: this bounds the memory one file may take (a day of `top -l` at one
# sample a second is about 100 MiB). --max-bytes changes it.
DEFAULT_MAX_BYTES = 256 << 20
MAX_WARNINGS_SHOWN = 100  # per file; then how many more
_CHUNK = 1 << 20
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"\s*([0-9]{1,15})\s*([KMGT]?)(?:I?B)?\s*", re.I)


class ByteSize(click.ParamType):
    """A size in bytes: 1048576, 512K, 256M, 2G (binary multiples; KiB, MB... read the same)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> int:  # fmt: skip
        if isinstance(value, int) and not isinstance(value, bool):
            size = value
        else:
            m = _SIZE.fullmatch(str(value))
            if m is None:
                self.fail(f"{value!r} is not a size (e.g. 1048576, 512K, 256M, 2G)", param, ctx)
            size = int(m[1]) * _UNITS[m[2].upper()]
        if not 1 <= size <= 1 << 40:
            self.fail(f"{value!r} is out of range (1 byte to 1T)", param, ctx)
        return size


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return what
    return "not a regular file"


def _too_big(name: str, max_bytes: int) -> CliError:
    return CliError(
        f"{name}: larger than {max_bytes} bytes, the most analyze reads (--max-bytes to change it)"
    )


def _read_capped(fh: IO[bytes], name: str, max_bytes: int) -> bytes:
    """All of ``fh``, or CliError as soon as more than ``max_bytes`` came (never slurped)."""
    chunks, total = [], 0
    while chunk := fh.read(min(_CHUNK, max_bytes + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise _too_big(name, max_bytes)
    return b"".join(chunks)


def _read(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A capture file's bytes; ``-`` is standard input. Anything but a regular file (a FIFO
    with no writer would block forever, /dev/zero never ends) is refused before it is opened,
    and checked again once open (it may have been swapped meanwhile)."""
    try:
        if path == "-":
            return _read_capped(sys.stdin.buffer, "standard input", max_bytes)
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CliError(
                f"{path}: {_kind(st.st_mode)}, not a capture file; to read from it, use "
                f"standard input: lagwatch analyze - < {path}"
            )
        if st.st_size > max_bytes:
            raise _too_big(path, max_bytes)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CliError(f"{path}: changed into something else than a capture file")
            return _read_capped(fh, path, max_bytes)
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
@click.option(
    "--max-bytes",
    type=ByteSize(),
    default=DEFAULT_MAX_BYTES,
    show_default="256M",
    metavar="SIZE",
    help="Refuse a file (or standard input) larger than this (1048576, 512K, 256M, 2G).",
)
def command(files: tuple[str, ...], fmt: str, as_json: bool, limit: int | None, sort: str,
            max_bytes: int) -> None:  # fmt: skip
    """Rank the processes in captured `top -l`, `powermetrics` or `nettop` output (FILE may be
    - for standard input), one ranking per sample, worst first."""
    from lagwatch.captures.analyze import analyze
    from lagwatch.parsers.errors import CaptureError

    analyses = []
    for path in files:  # every file is checked before anything is printed
        try:
            analyses.append((path, analyze(_read(path, max_bytes), fmt, sort)))
        except CaptureError as exc:
            where = f"{path}:{exc.line}" if exc.line is not None else path
            raise CliError(f"{where}: {exc.message}") from None
    for path, analysis in analyses:
        for warning in analysis.warnings[:MAX_WARNINGS_SHOWN]:
            click.echo(f"lagwatch: {path}: {for_terminal(warning)}", err=True)
        if len(analysis.warnings) > MAX_WARNINGS_SHOWN:
            more = len(analysis.warnings) - MAX_WARNINGS_SHOWN
            click.echo(f"lagwatch: {path}: {more} more warnings not shown", err=True)
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
