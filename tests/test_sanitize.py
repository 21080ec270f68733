"""Process-provided text printed safely: terminals, log lines, CSV cells, service files; and the
CLI's output for hostile names (fake rankings here; a real renamed process in
test_hostile_names.py)."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from conftest import run_lagwatch
from fake_rankings import ranking, row
from lagwatch.cli.daemon_cmd import OneLineFormatter
from lagwatch.render.table import ranking_table
from lagwatch.sanitize import (
    csv_cell,
    for_log,
    for_terminal,
    has_control,
    refuse_control,
    tree_for_terminal,
)
from lagwatch.store import Recorder

# What a hostile process can put in its name: retitle the window, clear the screen, ring the
# bell, split a log line, fake markup, reorder text, and bytes that are not UTF-8.
HOSTILE = {
    "osc title + clear": ("\x1b]0;pwned\x07\x1b[2J", r"\x1b]0;pwned\x07\x1b[2J"),
    "newline": ("a\nFAKE LOG LINE", r"a\x0aFAKE LOG LINE"),
    "carriage return": ("evil\rgood", r"evil\x0dgood"),
    "nul": ("a\x00b", r"a\x00b"),
    "del": ("a\x7fb", r"a\x7fb"),
    "c1 csi": ("a\x9b2Jb", r"a\x9b2Jb"),
    "bidi override": ("txt.\u202eexe", r"txt.\u202eexe"),
    "line separator": ("a\u2028b", r"a\u2028b"),
    "surrogateescape byte": (b"a\xffb".decode("utf-8", "surrogateescape"), r"a\xffb"),
}
# Every character the sanitizer must never let through.
FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_text_is_shown_escaped(name: str) -> None:
    raw, shown = HOSTILE[name]
    assert for_terminal(raw) == shown
    assert for_log(raw) == shown
    assert has_control(raw) and not has_control(shown)


def test_bytes_that_are_not_utf8_are_shown_as_hex() -> None:
    assert for_terminal(b"ok\xff\xfe\x1b") == r"ok\xff\xfe\x1b"
    assert for_terminal("caf\u00e9 日本語 🙂 tab-free") == "caf\u00e9 日本語 🙂 tab-free"


@given(st.text(alphabet=st.characters(codec=None)))
def test_nothing_unsafe_survives_and_output_always_encodes(text: str) -> None:
    out = for_terminal(text)
    assert FORBIDDEN.search(out) is None
    out.encode("utf-8")  # never a lone surrogate that would crash a print
    if FORBIDDEN.search(text) is None:
        assert out == text  # ordinary text is untouched


@given(st.binary())
def test_any_bytes_become_printable_text(data: bytes) -> None:
    assert FORBIDDEN.search(for_terminal(data)) is None


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", r"\x09=1"),  # escaped: no longer a leading tab
        ("\r=1", r"\x0d=1"),
        ("Safari", "Safari"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_never_start_a_formula(cell: str, expected: str) -> None:
    assert csv_cell(cell) == expected


def test_csv_numbers_and_missing_values_are_kept() -> None:
    assert csv_cell(-5) == -5 and csv_cell(-2.5) == -2.5 and csv_cell(None) is None
    assert csv_cell(True) is True


def test_service_values_with_control_characters_are_refused() -> None:
    assert refuse_control("/home/u/h b.db", "--db") == "/home/u/h b.db"
    with pytest.raises(ValueError, match=r"--db contains a control character.*x\\x0aExec"):
        refuse_control("x\nExecStartPre=/bin/true", "--db")


def test_trees_of_strings_and_dataclasses_are_sanitized() -> None:
    @dataclasses.dataclass(frozen=True)
    class Story:
        title: str
        suspects: list[dict]
        score: float

    story = Story("a\x1bb", [{"name": "x\ny", "pid": 3}], 1.5)
    safe = tree_for_terminal(story)
    assert safe == Story(r"a\x1bb", [{"name": r"x\x0ay", "pid": 3}], 1.5)
    assert story.title == "a\x1bb"  # a copy: the data itself is unchanged


def test_log_lines_are_never_split_by_a_name() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("lagwatch.test-sanitize")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("event: pause, suspects %s", "a\nERROR forged line \x1b[2J")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert text.count("\n") == 1 and "\x1b" not in text
    assert r"a\x0aERROR forged line \x1b[2J" in text


def test_the_top_table_shows_names_as_text_not_markup_or_escapes() -> None:
    names = ["[/]", "[red]fake[/]", "\x1b]0;pwn\x07x", "a\nb"]
    r = ranking([row(i + 1, 50.0 - i, name) for i, name in enumerate(names)])
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(ranking_table(r, limit=None))  # "[/]" used to raise MarkupError
    text = console.file.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "[/]" in text and "[red]fake[/]" in text
    assert r"\x1b]0;pwn" in text and r"a\x0ab" in text


@pytest.mark.integration
def test_history_csv_and_table_with_hostile_names(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    now = time.time()
    names = {
        11: "=cmd|' /C calc'!A0",
        12: "+SUM(1)",
        13: "@HYPERLINK(x)",
        14: "\x1b]0;pwn\x07\x1b[2J",
        15: "two\nlines",
    }
    rec = Recorder(db)
    for k in range(3):
        rows = [row(pid, 90.0 - pid, name) for pid, name in names.items()]
        rec.record(ranking(rows, time=now - 60 + k))
    rec.close()
    res = run_lagwatch("history", "--db", str(db), "--since", "10m", "--format", "csv")
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    records = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(records) == 3 * len(names)  # a newline in a name split no row
    shown = {int(r["pid"]): r["name"] for r in records}
    assert shown == {
        11: "'=cmd|' /C calc'!A0",
        12: "'+SUM(1)",
        13: "'@HYPERLINK(x)",
        14: r"\x1b]0;pwn\x07\x1b[2J",
        15: r"two\x0alines",
    }
    res = run_lagwatch("history", "--db", str(db), "--since", "10m", "--top", "10")
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert r"\x1b]0;pwn" in res.stdout and r"two\x0alines" in res.stdout
    # One line per row: besides the header and date lines, every line starts with its time.
    lines = res.stdout.strip().splitlines()
    rows = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert len(rows) == 3 * len(names)
    assert all(line.startswith(("TIME", "--")) for line in lines if line not in rows), lines


def test_error_lines_quoting_hostile_input_are_escaped():
    """An error quotes the bad path or value back: an escape sequence in it (a script passing a
    process name through) must not reach the terminal through it."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "lagwatch", "analyze", "/nonexistent/\x1b]0;owned\x07\x1b[2J"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "\\x1b" in done.stderr and len(done.stderr.strip().splitlines()) == 1
