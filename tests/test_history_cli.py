"""history, events, why and status on a recorded database, and their errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import run_lagwatch
from lagwatch.events import Event
from lagwatch.model import PROCESS_KEYS, ProcessRow, Ranking
from lagwatch.store import Recorder

pytestmark = pytest.mark.integration  # runs the real CLI as a user does

NOW = time.time()
T0 = NOW - 600  # ten minutes ago


def row(pid: int, score: float, name: str, **kw) -> ProcessRow:
    values = dict(pid=pid, ppid=1, name=name, user="u", state="running", restricted=False,
                  memory_bytes=50 << 20, threads=4, cpu_percent=score * 1.5, score=score,
                  dominant="cpu", disk_read_bytes_per_s=0.0, disk_write_bytes_per_s=1e6,
                  pageins_per_s=0.0, wakeups_per_s=12.0, energy_impact=score)  # fmt: skip
    values.update(kw)
    return ProcessRow(**values)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hist") / "h.db"
    rec = Recorder(path)
    for k in range(30):
        hog = 85.0 if 10 <= k < 20 else 5.0
        rows = [row(101, hog, "compiler"), row(202, 30.0, 'indexer, "fast"'), row(303, 2.0, "idle")]
        rec.record(Ranking(T0 + k, 1.0, "linux", ["procfs"], rows, {"cpu_count": 2}))
    pause = Event("pause", T0 + 14.5, T0 + 18.6, 4.1,
                  [{"pid": 101, "name": "compiler", "score": 85.0, "dominant": "cpu",
                    "score_before": 85.0, "score_after": 85.0}],
                  {"slept_s": 0.0, "ticks_after": 3}, [])  # fmt: skip
    rogue = Event("rogue", T0 + 9, T0 + 19, 10.0,
                  [{"pid": 101, "name": "compiler", "score": 85.0, "dominant": "cpu"}],
                  {"peak_score": 85.0, "peak_time": T0 + 12, "dominant": "cpu",
                   "ended": "calmed"})  # fmt: skip
    rec.save_event(rogue)
    rec.save_event(pause)
    rec.close()
    return path


def test_history_json_is_tops_contract(db: Path) -> None:
    res = run_lagwatch("history", "--db", str(db), "--since", "1h", "--format", "json")
    assert res.returncode == 0, res.stderr
    ticks = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(ticks) == 30
    first = ticks[0]
    assert list(first)[:5] == ["time", "interval_s", "platform", "sources", "processes"]
    assert first["process_count"] == 3 and first["recorded_count"] == 3
    assert [p["pid"] for p in first["processes"]] == [202, 101, 303]
    assert all(list(p) == list(PROCESS_KEYS) for t in ticks for p in t["processes"])
    assert ticks[12]["processes"][0]["pid"] == 101 and ticks[12]["processes"][0]["score"] == 85.0


def test_history_csv_one_row_per_process_per_tick(db: Path) -> None:
    res = run_lagwatch("history", "--db", str(db), "--format", "csv", "--name", "index")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 30
    assert rows[0]["name"] == 'indexer, "fast"'  # quoted properly
    assert rows[0]["gpu_percent"] == ""  # unknown stays empty, never 0
    assert set(rows[0]) == {"time", "interval_s", *PROCESS_KEYS}


def test_history_table_and_filters(db: Path) -> None:
    res = run_lagwatch("history", "--db", str(db), "--pid", "101", "--limit", "1")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:4] == ["TIME", "PID", "NAME", "SCORE"]
    assert lines[1].startswith("-- ") and lines[1].endswith(" --")  # the day, then times
    assert len(lines) == 32 and all(" 101 compiler " in line for line in lines[2:])
    # `--top` is still understood (the old name of --limit), but not both at once.
    old = run_lagwatch("history", "--db", str(db), "--pid", "101", "--top", "1")
    assert old.stdout == res.stdout
    both = run_lagwatch("history", "--db", str(db), "--top", "1", "--limit", "1")
    assert both.returncode == 2 and "--top" in both.stderr
    until = str(T0 + 4.5)
    res = run_lagwatch("history", "--db", str(db), "--until", until, "--format", "json")
    assert len(res.stdout.splitlines()) == 5
    empty = run_lagwatch("history", "--db", str(db), "--pid", "999")
    assert empty.returncode == 0
    assert "no recorded ticks for those processes" in empty.stderr


def test_history_bad_input_is_one_line(db: Path, tmp_path: Path) -> None:
    res = run_lagwatch("history", "--db", str(db), "--since", "yesterdayish")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "--since" in res.stderr
    for bad in (["--pid", "x"], ["--name", "re:("], ["--limit", "0"], ["--until", "nan"],
                ["--since", "inf"], ["--limit", "10000000000"]):  # fmt: skip
        res = run_lagwatch("history", "--db", str(db), *bad)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, (bad, res)
        assert bad[0] in res.stderr and "Traceback" not in res.stderr
    missing = run_lagwatch("history", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and "no history at" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_events_json_contract(db: Path) -> None:
    res = run_lagwatch("events", "--db", str(db), "--json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["kind"] for e in events] == ["rogue", "pause"]
    pause = events[1]
    assert list(pause)[:6] == ["id", "kind", "start", "end", "duration_s", "suspects"]
    assert pause["duration_s"] == 4.1
    assert pause["suspects"][0]["pid"] == 101
    assert set(pause["suspects"][0]) >= {"pid", "name", "score", "dominant"}
    since = run_lagwatch("events", "--db", str(db), "--json", "--since", "1s")
    assert since.stdout == ""
    table = run_lagwatch("events", "--db", str(db))
    assert "pause of 4.1s; suspect: compiler (pid 101" in table.stdout


def test_why_tells_the_story_before_during_after(db: Path) -> None:
    res = run_lagwatch("why", "--db", str(db))  # the latest: the pause
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("Pause #2: the machine froze for 4.1s")
    assert "1. compiler (pid 101): score 85, cpu" in out
    for phase in ("before", "during", "after"):
        assert f" {phase} " in out
    lines = out.splitlines()
    begins = next(i for i, line in enumerate(lines) if "pause begins" in line)
    ends = next(i for i, line in enumerate(lines) if "pause ends (4.1s)" in line)
    assert begins < ends
    assert all(" before " in line for line in lines[begins - 2 : begins])
    as_json = json.loads(run_lagwatch("why", "1", "--db", str(db), "--json").stdout)
    assert as_json["event"]["kind"] == "rogue"
    phases = {i["phase"] for i in as_json["timeline"]}
    assert phases == {"before", "during", "after"}
    assert all(i["pid"] == 101 for i in as_json["timeline"])
    rogue = run_lagwatch("why", "1", "--db", str(db)).stdout
    assert "Rogue episode #1: compiler (pid 101) stressed the machine for 10.0s" in rogue
    assert "Peak score 85 (cpu)" in rogue
    missing = run_lagwatch("why", "99", "--db", str(db))
    assert missing.returncode == 1 and "no event #99" in missing.stderr


def test_status_without_a_daemon_says_so(db: Path, tmp_path: Path) -> None:
    res = run_lagwatch("status", "--db", str(db), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["daemon"] == {"running": False}
    assert info["history"]["ticks"] == 30
    assert info["last_pause"]["id"] == 2
    assert info["top"] is None or info["top"]["source"] == "sampled now"
    line = run_lagwatch("status", "--db", str(db)).stdout.strip()
    assert line.startswith("no daemon running (history in")
    assert "last pause 4.1s" in line and "(lagwatch why 2)" in line
    nothing = run_lagwatch("status", "--db", str(tmp_path / "none.db")).stdout
    assert nothing.startswith("no daemon running and no history at")
    assert not (tmp_path / "none.db").exists()  # status never creates a database


def test_a_damaged_database_is_one_line_for_every_reader(db: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    data = bytearray(db.read_bytes())
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]  # the first page (header, schema) stays
    conn.close()
    data[page:] = b"\xa5" * (len(data) - page)
    damaged.write_bytes(bytes(data))
    for args in (["events"], ["why"], ["history", "--since", "1h"]):
        res = run_lagwatch(*args, "--db", str(damaged))
        assert res.returncode == 1, (args, res.stderr)
        assert res.stderr.startswith("lagwatch: error: cannot read history"), res.stderr
        assert "malformed" in res.stderr and len(res.stderr.splitlines()) == 1
    status = json.loads(run_lagwatch("status", "--db", str(damaged), "--json").stdout)
    assert "malformed" in status["error"] and status["last_pause"] is None


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_history_and_events_fit_the_width_with_whole_numbers(db: Path, columns: int) -> None:
    env = {"COLUMNS": str(columns)}
    res = run_lagwatch("history", "--db", str(db), "--limit", "3", env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines and all(len(line) <= columns for line in lines), lines
    head = lines[0].split()
    # No source recorded GPU or network figures: those columns are left out, not "-".
    assert "GPU%" not in head and "NET" not in head
    for line in lines[2:]:
        cells = line.split()
        assert cells[1].isdigit() and cells[-1] != "-"
    wide = run_lagwatch("history", "--db", str(db), "--limit", "3", env={"COLUMNS": "400"})
    wide_cells = [line.split() for line in wide.stdout.splitlines()[2:]]
    for narrow, full in zip((ln.split() for ln in lines[2:]), wide_cells, strict=True):
        assert narrow[-1] in full  # a number is never cut: it is one of the full row's cells
    events = run_lagwatch("events", "--db", str(db), env=env)
    assert events.returncode == 0, events.stderr
    assert all(len(line) <= columns for line in events.stdout.splitlines()), events.stdout
    assert "compiler (pid 101" in " ".join(events.stdout.split())  # wrapped, never cut
