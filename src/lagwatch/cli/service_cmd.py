"""`lagwatch service install|uninstall|status`: run the daemon at login."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lagwatch.cli.errors import CliError
from lagwatch.cli.options import interval_option, pressure_threshold_option
from lagwatch.listen import host_port, parse_listen


def _platform_check() -> None:
    from lagwatch import service

    try:
        service.platform_kind()
    except OSError as exc:
        raise CliError(str(exc), exit_code=1) from None


EXAMPLES = """\b
Examples:
  lagwatch service install          record at every login
  lagwatch service install --print  show the file it would write
  lagwatch service status
  lagwatch service uninstall
"""


@click.group("service", epilog=EXAMPLES)
def command() -> None:
    """Install the daemon as a login service (systemd user unit / launchd LaunchAgent)."""


def _listen_param(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return host_port(*parse_listen(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@command.command("install")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="History database the service records to (default: user data dir).")  # fmt: skip
@interval_option(help="The daemon's seconds between readings (or 500ms, 2s); default: its own.",
                 default=None)  # fmt: skip
@click.option("--listen", metavar="HOST:PORT", default=None, callback=_listen_param,
              help="The daemon serves Prometheus metrics here (127.0.0.1:9683, [::1]:9683, "
              ":9683).")  # fmt: skip
@pressure_threshold_option(help="The daemon's --pressure-threshold (repeatable); default: its "
                           "own.")  # fmt: skip
@click.option("--print", "print_only", is_flag=True, help="Print the file; write nothing.")
def install_cmd(db: Path | None, interval: float | None, listen: str | None,
                pressure_thresholds: dict[str, float], print_only: bool) -> None:  # fmt: skip
    """Write the service file and load it.

    \b
    Examples:
      lagwatch service install
      lagwatch service install --interval 2 --listen 127.0.0.1:9683
      lagwatch service install --print     (show the unit or plist, write nothing)

    On Linux the daemon is a systemd user service, which systemd stops at logout unless
    lingering is enabled for you (loginctl enable-linger $USER).
    """
    from lagwatch import service

    _platform_check()
    db = None if db is None else db.expanduser().absolute()
    try:
        # Refuses control characters in paths and addresses, and bad intervals.
        command_line = service.daemon_command(db, interval_s=interval, listen=listen,
                                              pressure_thresholds=pressure_thresholds)  # fmt: skip
        if print_only:
            if service.platform_kind() == "systemd":
                click.echo(service.systemd_unit(command_line), nl=False)
            else:
                click.echo(service.launchd_plist(command_line, Path.home()).decode(), nl=False)
            return
        result = service.install(db, interval_s=interval, listen=listen,
                                 pressure_thresholds=pressure_thresholds)  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None
    except OSError as exc:
        raise CliError(f"cannot write the service file: {exc}", exit_code=1) from None
    # The unit is written either way: what logout will do to it is worth knowing now.
    linger = service.linger_advice(service.user_name())
    if not result.ok:
        if service.platform_kind() == "systemd":
            click.echo(linger)
        raise CliError(result.message, exit_code=1)
    click.echo(result.message)
    if service.platform_kind() == "systemd":
        click.echo(linger)
    from lagwatch.store import default_db_path
    from lagwatch.store.lock import running_daemon

    note = running_daemon(db or default_db_path())
    if note is not None and note.get("pid") is not None:
        click.echo(
            f"note: a daemon (pid {note['pid']}) already records to {note.get('db')}; the "
            "service's daemon will refuse to start until it stops",
            err=True,
        )


@command.command("uninstall")
def uninstall_cmd() -> None:
    """Stop the service and remove its file."""
    from lagwatch import service

    _platform_check()
    try:
        result = service.uninstall()
    except OSError as exc:
        raise CliError(f"cannot remove the service file: {exc}", exit_code=1) from None
    click.echo(result.message)


@command.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(as_json: bool) -> None:
    """Is the service installed and running."""
    from lagwatch import service

    _platform_check()
    info = service.status()
    if as_json:
        click.echo(json.dumps(info))
        return
    if not info["installed"]:
        line = f"not installed ({info['path']} does not exist; lagwatch service install)"
    else:
        line = f"installed at {info['path']}"
    if info["state"]:
        line += f"; {info['manager']}: {info['state']}"
    elif info["installed"]:
        line += f"; {info['manager']} state unknown ({info['manager_error']})"
    if info.get("linger") is not None:
        line += "; lingering " + (
            "enabled (records after logout)"
            if info["linger"]
            else "not enabled (stops at logout: loginctl enable-linger $USER)"
        )
    click.echo(line)
