"""The JSON Lines encoder of `top --json`: the contract's exact text, rows re-encoded only when
their values change."""

from __future__ import annotations

import json

from fake_rankings import ranking, row
from lagwatch.render.json_lines import RankingEncoder
from lagwatch.store.reader import RecordedRanking


def _reference(r, limit=None) -> str:
    return json.dumps(r.to_json(limit), separators=(",", ":"))


def test_output_is_the_contracts_text_across_ticks_with_changing_rows():
    rows = [row(10 + i, float(i), name=f'we"ird\\name {i}\x1b') for i in range(30)]
    enc = RankingEncoder()
    for tick in range(6):
        # Rows are shared between rankings (the sampler's idle-row cache) and some change.
        rows[tick].cpu_percent = 50.0 + tick
        rows[7].energy_impact = [0.0, None, 1.5, 1.5, 2.25, 0.0][tick]
        if tick == 3:
            rows[8] = row(18, 9.0)  # a new row object for the same process
        r = ranking(rows, time=1000.0 + tick, energy_source="model")
        for limit in (None, 5):
            assert enc.encode(r, limit) == _reference(r, limit)


def test_empty_ranking_and_recorded_ranking_keys():
    enc = RankingEncoder()
    assert enc.encode(ranking([])) == _reference(ranking([]))
    rec = RecordedRanking(
        time=5.0, interval_s=1.0, platform="linux", sources=["processes"],
        processes=[row(1, 3.0)], seen_process_count=400, extra={"note": '"processes":[]'},
    )  # fmt: skip
    assert enc.encode(rec) == _reference(rec)


def test_cache_holds_only_the_last_rankings_rows():
    enc = RankingEncoder()
    enc.encode(ranking([row(i, 1.0) for i in range(100)]))
    enc.encode(ranking([row(i, 1.0) for i in range(3)]))
    assert len(enc._texts) == 3
