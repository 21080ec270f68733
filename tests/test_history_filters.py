"""`history --pid/--name` over many ticks: SQLite finds the matching rows, and the answer is the
same as filtering every tick by hand."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fake_rankings import ranking, row
from lagwatch.filters import ProcessFilter
from lagwatch.store import History, Recorder, StoreError

T0 = 1_800_000_000.0


def _record(db: Path) -> None:
    rec = Recorder(db, maintain_every_s=1e9)
    rec.open()
    for k in range(1200):  # more ticks than one batch of the reader
        rows = [row(100 + (k % 7), 40.0, name=f"worker_{k % 3}"), row(5, 30.0, name="fire%fox")]
        if k % 50 == 0:
            rows.append(row(999, 60.0, name="rare"))
        # Out-of-order times (a clock stepped back) must still come out in time order.
        t = T0 + k if k != 600 else T0 - 10
        rec.record(ranking(rows, time=t, system={"cpu_count": 2, "nested": {"a": [1]}}))
    rec.close()


def _by_hand(h: History, since, until, pid=None, name=None) -> list[tuple[float, list[int]]]:
    out = []
    for r in h.rankings(since, until):
        keep = [p.pid for p in r.processes
                if (pid is None or p.pid == pid)
                and (name is None or name.lower() in p.name.lower())]  # fmt: skip
        if keep:
            out.append((r.time, keep))
    return out


def test_filtered_history_equals_filtering_every_tick(tmp_path):
    db = tmp_path / "h.db"
    _record(db)
    with History(db) as h:
        for since, until in ((None, None), (T0 + 100, T0 + 900), (T0 - 20, T0 + 5)):
            for pid, name in ((999, None), (101, None), (None, "RARE"), (None, "worker_1"),
                              (None, "e%f"), (None, "_"), (42, None)):  # fmt: skip
                got = [(r.time, [p.pid for p in r.processes])
                       for r in h.rankings(since, until, pid=pid, name=name)]  # fmt: skip
                assert got == _by_hand(h, since, until, pid, name), (since, until, pid, name)


def test_rankings_do_not_share_their_decoded_context(tmp_path):
    db = tmp_path / "h.db"
    _record(db)
    with History(db) as h:
        first, second = list(h.rankings(T0, T0 + 1))
        first.system["cpu_count"] = 64  # a caller may change what it was given
        assert second.system["cpu_count"] == 2


def test_a_view_filter_run_by_sqlite_equals_the_filter_run_on_every_tick(tmp_path):
    # `history` hands its --pid/--user/--name filter to the store: casefolding (a German
    # "STRASSE" matches "straße"), regular expressions and several pids must select exactly
    # what the filter itself selects.
    db = tmp_path / "h.db"
    rec = Recorder(db, maintain_every_s=1e9)
    rec.open()
    for k in range(700):
        rows = [row(100 + (k % 5), 40.0, name=f"worker_{k % 3}"), row(7, 20.0, name="straße"),
                row(8, 10.0, name="Kelvin", user="bob")]  # fmt: skip
        rec.record(ranking(rows, time=T0 + k))
    rec.close()
    filters = [
        ProcessFilter.build(name="STRASSE"),
        ProcessFilter.build(name="re:^worker_[12]$"),
        ProcessFilter.build(pids=[101, 8]),
        ProcessFilter.build(users=["bob"], name="kel"),
        ProcessFilter.build(pids=[7], name="worker"),  # both must hold: nothing
    ]
    with History(db) as h:
        for flt in filters:
            got = [(r.time, [p.pid for p in r.processes]) for r in h.rankings(only=flt)]
            want = [(r.time, keep) for r in h.rankings()
                    if (keep := [p.pid for p in r.processes if flt.matches(p)])]  # fmt: skip
            assert got == want, flt.name
            assert bool(got) == (flt.pids != frozenset({7})), flt


def test_a_damaged_json_value_is_a_store_error_not_a_traceback(tmp_path):
    db = tmp_path / "h.db"
    _record(db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE procs SET extra = '{\"energy_impact_model\": ' WHERE pid = 999")
    conn.close()
    with History(db) as h, pytest.raises(StoreError, match=r"(damaged|malformed) JSON"):
        list(h.rankings(pid=999))
