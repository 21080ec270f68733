"""The error every command raises for the user (not a command itself): the package that loads
the commands and the commands both import it from here."""

from __future__ import annotations

import click


class CliError(click.ClickException):
    """A user-facing error: printed as one line, exit status 2 (bad input) unless told."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        # click declares exit_code a class variable; main() reads this instance's own.
        self.exit_code = exit_code  # type: ignore[misc]
