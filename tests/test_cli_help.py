"""Help that teaches: every command's --help has examples, the table commands a legend built
from the catalogue, and README's command table names exactly the options each command has."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from conftest import REPO
from lagwatch.catalogue import METRICS
from lagwatch.cli import cli

README = REPO / "README.md"


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], click.Command]
]:  # fmt: skip
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def options(command: click.Command) -> set[str]:
    """The long name of each visible option (the first one: `--kernel`, not `--all`)."""
    return {
        next(o for o in p.opts if o.startswith("--"))
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden
    }


def readme_usages(text: str) -> dict[tuple[str, ...], str]:
    """Command path -> its usage text, from the first column of README's command table."""
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    usages: dict[tuple[str, ...], str] = {}
    for line in section.splitlines():
        if not line.startswith("| `lagwatch"):
            continue
        first_cell = re.split(r"(?<!\\)\|", line)[1]
        for usage in re.findall(r"`(lagwatch [^`]*)`", first_cell):
            words = usage.replace("\\|", "|").split()
            path = []
            for word in words[1:]:
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break
                path.append(word)
            usages[tuple(path)] = usage
    return usages


def test_readme_parser_reads_paths_options_and_escaped_bars() -> None:
    text = (
        "## Commands\n| command | what |\n|---|---|\n"
        "| `lagwatch top [--sort a\\|b] [--json]` / `lagwatch svc run [--x N]` | z |\n"
        "## Next\n| `lagwatch nope` | no |\n"
    )
    usages = readme_usages(text)
    assert set(usages) == {("top",), ("svc", "run")}
    assert re.findall(r"--[a-z][a-z0-9-]*", usages[("top",)]) == ["--sort", "--json"]


def _id(value: object) -> str:
    return " ".join(value) if isinstance(value, tuple) else ""


@pytest.mark.parametrize(("path", "command"), list(commands()), ids=_id)
def test_readme_command_table_matches_the_real_options(path, command) -> None:
    usages = readme_usages(README.read_text())
    assert path in usages, f"README's command table has no row for `lagwatch {' '.join(path)}`"
    written = set(re.findall(r"--[a-z][a-z0-9-]*", usages[path]))
    real = options(command)
    assert written == real, (
        f"`lagwatch {' '.join(path)}`: README lists {sorted(written - real)} that the command "
        f"does not have, and misses {sorted(real - written)}"
    )
    for argument in (p for p in command.params if isinstance(p, click.Argument)):
        assert (argument.metavar or argument.name.upper()) in usages[path], argument.name


def test_every_readme_row_is_a_real_command() -> None:
    real = {path for path, _ in commands()}
    assert set(readme_usages(README.read_text())) <= real


@pytest.mark.parametrize("path", [p for p, _ in commands()], ids=" ".join)
def test_every_help_has_examples_that_fit_80_columns(path) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    group_help = CliRunner().invoke(cli, [*path[:-1], "--help"], terminal_width=80).output
    assert "Examples:" in res.output or "Examples:" in group_help
    assert all(len(line) <= 80 for line in res.output.splitlines()), res.output


@pytest.mark.parametrize("name", ["top", "history", "analyze"])
def test_table_commands_explain_every_column_and_unit(name) -> None:
    out = CliRunner().invoke(cli, [name, "--help"], terminal_width=80).output
    for metric in METRICS:
        if metric.contract and metric.column != "none":
            assert re.search(rf"^\s+{re.escape(metric.header)}\s+\S", out, re.M), metric.header
    for header in ("PID", "NAME", "SCORE", "BLAME", "COMMAND"):
        assert re.search(rf"^\s+{header}\s+\S", out, re.M), header
    assert "1024-based" in out and "KiB" in out and "restricted" in out
