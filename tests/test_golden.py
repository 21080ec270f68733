"""The JSON contract is unchanged: every output recorded in tests/golden by the reference code
(tests/golden/make_golden.py says how) is recomputed with the code under test and compared:
every recorded key is still there, in the same order, with the same value (floats as stored,
ints stay ints). The contract grows only by added keys (README, "JSON contract"): a key, CSV
column, sort key or metric the reference did not have is allowed after the recorded ones, and
named in a warning so it is seen."""

from __future__ import annotations

import csv
import functools
import json
import re
import warnings
from typing import Any

import pytest

from golden import make_golden

FILES = sorted(make_golden.GOLDEN)


def _recorded(name: str) -> dict[str, Any] | None:
    path = make_golden.HERE / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


@functools.cache
def _computed(name: str) -> dict[str, Any]:
    return make_golden.compute(name, _recorded(name))


def _cases() -> list[Any]:
    cases = []
    for name in FILES:
        doc = _recorded(name)
        if doc is None:
            cases.append(pytest.param(name, None, id=f"{name}-unrecorded"))
            continue
        cases += [pytest.param(name, key, id=f"{name}:{key}") for key in doc]
    return cases


# Metric renames issue 13 asked for: the reference's /metrics lines as the exporter writes them
# since. The blamed resource left the score's labels for its own info series (a change of blame
# no longer starts a new score series), and "_count", a histogram's suffix promtool refuses on a
# gauge, left the CPU count. Values and processes must stay the same.
_SCORE_WITH_BLAME = re.compile(
    r'lagwatch_process_score\{dominant="([^"]*)",(name=".*",pid="\d+")\} (\S+)'
)
_OLD_SCORE_HELP = (
    "# HELP lagwatch_process_score Stress score 0-100 of a process, labelled with the resource "
    "it is blamed on"
)


def renamed_metric_lines(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if m := _SCORE_WITH_BLAME.fullmatch(line):
            out.append(f"lagwatch_process_score{{{m[2]}}} {m[3]}")
            if m[1] != "none":  # an unknown blame has no info series
                out.append(f'lagwatch_process_dominant_info{{{m[2]},resource="{m[1]}"}} 1.0')
            continue
        if line == _OLD_SCORE_HELP:
            line = "# HELP lagwatch_process_score Stress score 0-100 of a process"
        out.append(re.sub(r"\blagwatch_system_cpu_count\b", "lagwatch_system_cpus", line))
    return sorted(out)  # as recorded: sorted lines (the order of families is free)


def comparable(value: Any, key: str = "") -> Any:
    """Lists of named things (contract keys, sort keys, metric lines, CSV rows) as ordered
    dicts, so that an added name is an added key and not a shifted list."""
    if isinstance(value, dict):
        if "--format csv" in key and isinstance(value.get("stdout"), list):
            rows = list(csv.DictReader(value["stdout"]))
            return {k: comparable(v) for k, v in value.items() if k != "stdout"} | {"rows": rows}
        return {k: comparable(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key in ("process_keys", "sort_keys"):
            return dict.fromkeys(value, True)
        if "/metrics" in key:
            return dict(
                (line, True) if line.startswith("#") else tuple(line.rsplit(" ", 1))
                for line in renamed_metric_lines(value)
            )
        return [comparable(v) for v in value]
    return value


def differences(want: Any, got: Any, added: list[str], path: str = "$") -> list[str]:
    """Where two JSON values differ, as 'path: want != got' lines. Keys ``got`` adds after the
    recorded ones are not differences: they go to ``added``."""
    if isinstance(want, dict) and isinstance(got, dict):
        missing = [k for k in want if k not in got]
        if missing:
            return [f"{path}: keys missing {missing}"]
        if path.endswith("/metrics"):  # sorted lines: families come in any order
            added += [f"{path}.{k}" for k in got if k not in want]
            return [d for k in want for d in differences(want[k], got[k], added, f"{path}.{k}")]
        if [k for k in got if k in want] != list(want):
            return [f"{path}: key order {list(want)} != {[k for k in got if k in want]}"]
        new = [k for k in got if k not in want]
        # Added keys come after every recorded one (a column inserted in between moves the
        # others for anything that reads by position).
        if new and list(got)[: len(want)] != list(want):
            return [f"{path}: keys {new} inserted among the recorded ones {list(want)}"]
        added += [f"{path}.{k}" for k in new]
        return [d for k in want for d in differences(want[k], got[k], added, f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if (order := _pid_order(want, got)) is not None:
            # Processes in another order: say so once, then compare each process with itself.
            by_pid = {g["pid"]: g for g in got}
            out = [f"{path}: pid order {order[0]} != {order[1]}"]
            for w in want:
                out += differences(w, by_pid[w["pid"]], added, f"{path}[pid {w['pid']}]")
            return out
        if len(want) != len(got):
            return [f"{path}: {len(want)} items != {len(got)}: {_short(want)} != {_short(got)}"]
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, added, f"{path}[{i}]")
        ]
    # Compared as JSON text: 1 and 1.0, or 0 and false, are different outputs.
    if json.dumps(want) != json.dumps(got):
        return [f"{path}: {_short(want)} != {_short(got)}"]
    return []


def _pid_order(want: list[Any], got: list[Any]) -> tuple[list[int], list[int]] | None:
    """The two pid orders, when both lists hold the same processes (one row each) in another
    order."""
    if not want or not all(isinstance(x, dict) and "pid" in x for x in [*want, *got]):
        return None
    a, b = [w["pid"] for w in want], [g["pid"] for g in got]
    if a == b or sorted(a) != sorted(b) or len(set(a)) != len(a):
        return None
    return a, b


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 160 else text[:157] + "..."


@pytest.mark.parametrize(("name", "key"), _cases())
def test_output_matches_the_recorded_golden_json(name: str, key: str | None) -> None:
    if name == "shared_analyze" and not make_golden.SHARED.is_dir():
        pytest.skip(f"shared macOS captures not found at {make_golden.SHARED}")
    if key is None:
        if name == "shared_analyze":
            pytest.skip("shared captures were absent when the golden files were recorded")
        pytest.fail(f"tests/golden/{name}.json is missing: run tests/golden/make_golden.py")
    want = _recorded(name)
    assert want is not None
    got = _computed(name)
    assert key in got, f"{name}: the code under test no longer produces {key!r}"
    added: list[str] = []
    diffs = differences(comparable(want[key], key), comparable(got[key], key), added, key)
    assert not diffs, f"{len(diffs)} differences from tests/golden/{name}.json:\n" + "\n".join(
        diffs[:40]
    )
    if added:
        names = sorted({a.rsplit(".", 1)[-1] for a in added})
        warnings.warn(f"{name}:{key}: keys added to the contract: {names}", stacklevel=1)


def test_every_recorded_output_is_still_produced() -> None:
    for name in FILES:
        want = _recorded(name)
        if want is None or (name == "shared_analyze" and not make_golden.SHARED.is_dir()):
            continue
        assert list(_computed(name)) == list(want), name


def test_differences_allow_only_keys_added_after_the_recorded_ones() -> None:
    added: list[str] = []
    assert differences({"a": 1, "b": [1.0]}, {"a": 1, "b": [1.0], "c": 0}, added) == []
    assert added == ["$.c"]
    assert differences({"a": 1}, {"a": 1.0}, []) == ["$.a: 1 != 1.0"]
    assert differences({"a": 1, "b": 2}, {"b": 2, "a": 1}, []) == [
        "$: key order ['a', 'b'] != ['b', 'a']"
    ]
    assert differences({"a": 1, "b": 2}, {"a": 1, "x": 0, "b": 2}, []) == [
        "$: keys ['x'] inserted among the recorded ones ['a', 'b']"
    ]
    assert differences({"a": [1, 2]}, {"a": [1]}, []) == ["$.a: 2 items != 1: [1, 2] != [1]"]
    assert differences({"a": None}, {"b": None}, []) == ["$: keys missing ['a']"]
    rows = [{"pid": 1, "score": 5.0}, {"pid": 2, "score": 5.0}]
    assert differences(rows, rows[::-1], []) == ["$: pid order [1, 2] != [2, 1]"]
    csv_out = {"exit": 0, "stdout": ["time,pid", "1.0,7"]}
    wider = {"exit": 0, "stdout": ["time,pid,cmdline", "1.0,7,x"]}
    added = []
    assert differences(comparable(csv_out, "--format csv"), comparable(wider, "--format csv"),
                       added) == []  # fmt: skip
    assert added == ["$.rows[0].cmdline"]
