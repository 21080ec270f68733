"""`lagwatch service install|uninstall|status`: run the daemon at login."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lagwatch.cli.errors import CliError


def _platform_check() -> None:
    from lagwatch import service

    try:
        service.platform_kind()
    except OSError as exc:
        raise CliError(str(exc), exit_code=1) from None


@click.group("service")
def command() -> None:
    """Install the daemon as a login service (systemd user unit / launchd LaunchAgent)."""


@command.command("install")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="History database the service records to (default: user data dir).")  # fmt: skip
@click.option("--print", "print_only", is_flag=True, help="Print the file; write nothing.")
def install_cmd(db: Path | None, print_only: bool) -> None:
    """Write the service file and load it."""
    from lagwatch import service

    _platform_check()
    db = None if db is None else db.expanduser().absolute()
    try:
        command_line = service.daemon_command(db)  # refuses control characters in paths
        if print_only:
            if service.platform_kind() == "systemd":
                click.echo(service.systemd_unit(command_line), nl=False)
            else:
                click.echo(service.launchd_plist(command_line, Path.home()).decode(), nl=False)
            return
        result = service.install(db)
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None
    except OSError as exc:
        raise CliError(f"cannot write the service file: {exc}", exit_code=1) from None
    if not result.ok:
        raise CliError(result.message, exit_code=1)
    click.echo(result.message)
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
    click.echo(line)
