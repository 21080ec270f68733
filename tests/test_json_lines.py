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


def test_extra_keys_are_set_in_place_or_appended():
    r = ranking([row(10 + i, float(i)) for i in range(5)])
    extra = {"process_count": 99, "by": "app", "groups": [{"name": '"processes":[]'}]}
    text = RankingEncoder().encode(r, 2, extra)
    assert text == json.dumps(r.to_json(2) | extra, separators=(",", ":"))


def test_top_json_lines_are_the_grouped_and_filtered_documents(capsys):
    from lagwatch.cli.top_cmd import emit_json
    from lagwatch.filters import ProcessFilter
    from lagwatch.grouping import ranking_json

    rows = [row(10 + i, float(i), name=f"app{i % 3}", user=f"u{i % 2}", restricted=i == 4)
            for i in range(12)]  # fmt: skip
    flt = ProcessFilter.build(users=["u0"])
    enc = RankingEncoder()
    for tick in range(3):
        rows[tick].cpu_percent = 40.0 + tick  # shared rows, some changing
        r = ranking(rows, time=1000.0 + tick)
        for by in ("process", "app", "user"):
            for limit in (None, 2):
                emit_json(r, limit, by, "score", flt, enc)
                # What `top --json` printed before the encoder: the same text.
                doc = ranking_json(flt.apply(r), by, limit, "score")
                doc["process_count"] = len(r.processes)
                doc["restricted_count"] = r.restricted_count
                got = capsys.readouterr().out
                assert got == json.dumps(doc, separators=(",", ":")) + "\n"
