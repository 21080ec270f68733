"""The `lagwatch` command. Each subcommand lives in its own module and is registered below."""

from __future__ import annotations

import os
import sys

import click

from lagwatch.cli.errors import CliError
from lagwatch.sanitize import for_terminal

__all__ = ["CliError", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lagwatch")
def cli() -> None:
    """Which process is making this machine slow, hot or drain its battery."""


def _register() -> None:
    """Every module `lagwatch/cli/*_cmd.py` defines one subcommand as `command`; adding a
    command is adding a file."""
    import importlib
    import pkgutil

    import lagwatch.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.endswith("_cmd"):
            module = importlib.import_module(f"lagwatch.cli.{info.name}")
            cli.add_command(module.command)


_register()


def _one_line(message: str) -> str:
    # Messages quote flags, paths and lines of captures: one line, and nothing a terminal obeys.
    return for_terminal(" ".join(message.split()))


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error is one line on stderr and a non-zero exit, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="lagwatch", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(0)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "lagwatch"
        click.echo(f"{where}: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"lagwatch: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:
        if os.environ.get("LAGWATCH_DEBUG"):
            raise
        click.echo(
            f"lagwatch: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(set LAGWATCH_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
