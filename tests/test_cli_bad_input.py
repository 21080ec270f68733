"""Intervals, durations, counts and other bad input: a usage error (one line, exit status 2),
never a busy loop, a traceback or an "internal error", wherever the value is accepted."""

from __future__ import annotations

import socket
import sys

import pytest
from click.testing import CliRunner

from conftest import run_lagwatch
from lagwatch.cli import cli
from lagwatch.cli.options import COUNT, INTERVAL, LIMIT, Count, Seconds

# (command words, option, values that must be refused there)
ABSURD = ["nan", "NaN", "inf", "-inf", "-1", "1e300", "abc", ""]
CASES = [
    (["top"], "--interval", [*ABSURD, "0", "0s", "1e-9", "2d"]),
    (["top"], "--count", [*ABSURD, "0", "1.5", "10000000000"]),
    (["top"], "--limit", [*ABSURD, "0", "10000000"]),
    (["top"], "--pid", ["-1", "nan", "x"]),
    (["daemon"], "--interval", [*ABSURD, "0"]),
    (["daemon"], "--retention", [*ABSURD, "0", "1s", "1000000d"]),
    (["daemon"], "--pause-threshold", [*ABSURD, "0"]),
    (["daemon"], "--export-top-k", [*ABSURD, "0", "5000"]),
    (
        ["daemon"],
        "--pressure-threshold",
        [*(f"memory={v}" for v in ABSURD), "memory=0", "memory=101", "disk=10", "memory", "=5"],
    ),
    (["energy"], "--interval", [*ABSURD, "0"]),
    (["energy"], "--limit", [*ABSURD, "0"]),
    (["energy"], "--since", ["nan", "inf", "-inf", "-1", "abc", "0s", "1e300", "3000d"]),
    (["history"], "--since", ["nan", "inf", "-inf", "-1", "abc", "1e300"]),
    (["history"], "--until", ["nan", "inf", "-1", "1e300"]),
    (["history"], "--limit", [*ABSURD, "0"]),
    (["events"], "--since", ["nan", "inf", "-1", "1e300"]),
    (["tui"], "--interval", [*ABSURD, "0"]),
    (["analyze", "-"], "--limit", [*ABSURD, "0"]),
]


@pytest.mark.parametrize(
    ("words", "option", "value"),
    [(w, o, v) for w, o, values in CASES for v in values],
    ids=lambda x: " ".join(x) if isinstance(x, list) else repr(x),
)
def test_absurd_values_are_usage_errors(words, option, value, tmp_path) -> None:
    # Should a value be taken, the command must end soon and say something else: one tick of
    # top, a database path the daemon cannot use, a short sample.
    db = str(tmp_path / "missing" / "h.db")
    safe = {"top": ["--count", "1"], "daemon": ["--db", db], "energy": ["--sample"],
            "history": ["--db", db], "events": ["--db", db]}  # fmt: skip
    args = [*words, *safe.get(words[0], []), option, value]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, (words, option, value, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert option in res.output or "EVENT_ID" in res.output, res.output


def test_the_shared_types_name_the_bounds() -> None:
    assert INTERVAL.convert("500ms", None, None) == 0.5 and INTERVAL.convert(2, None, None) == 2
    assert LIMIT.convert("7", None, None) == 7 and COUNT.maximum >= 10**9
    for bad, why in (("nan", "not a duration"), ("0.01", "too short"), ("2h", "too long")):
        with pytest.raises(Exception, match=why):
            Seconds(0.05, 3600).convert(bad, None, None)
    with pytest.raises(Exception, match="too large"):
        Count(1, 10).convert("11", None, None)
    with pytest.raises(Exception, match="not a whole number"):
        Count().convert("1e3", None, None)


@pytest.mark.integration
@pytest.mark.parametrize(
    "args, needle",
    [
        (["top", "--interval", "nan"], "--interval"),
        (["top", "--interval", "inf"], "--interval"),
        (["daemon", "--interval", "nan"], "--interval"),
        (["top", "--count", "1e99"], "--count"),
        (["why", "abc"], "EVENT_ID"),
        (["history", "--since", "nan"], "--since"),
        (["energy", "--since", "nan"], "--since"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_as_a_user_sees_it(args, needle, tmp_path) -> None:
    if args[0] in ("daemon", "history"):
        args = [*args, "--db", str(tmp_path / "h.db")]
    res = run_lagwatch(*args, timeout=30)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert "internal error" not in res.stderr and res.stdout == ""


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "darwin", reason="libproc is this platform's source")
def test_a_source_of_another_platform_is_a_usage_error() -> None:
    res = run_lagwatch("top", "--source", "libproc", "--count", "1")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--source" in lines[0] and "libproc" in lines[0], res.stderr


@pytest.mark.integration
def test_a_busy_listen_port_is_a_usage_error(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_lagwatch("daemon", "--db", str(tmp_path / "h.db"), "--interval", "0.2",
                           "--listen", f"127.0.0.1:{port}", timeout=60)  # fmt: skip
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert "--listen" in lines[-1] and str(port) in lines[-1] and "Traceback" not in res.stderr


def test_pressure_thresholds_are_read_per_resource() -> None:
    from lagwatch.cli.options import _thresholds_param

    got = _thresholds_param(None, None, ("memory=20", " IO = 30% ", "memory=15"))
    assert got == {"memory": 15.0, "io": 30.0}  # the last one given wins
