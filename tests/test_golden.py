"""The JSON contract is unchanged: every output recorded in tests/golden by the reference code
(tests/golden/make_golden.py says how) is recomputed with the code under test and compared
exactly: same keys in the same order, same values, floats as stored, ints stay ints."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from golden import make_golden

FILES = sorted(make_golden.GOLDEN)


def _recorded(name: str) -> dict[str, Any] | None:
    path = make_golden.HERE / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


@functools.cache
def _computed(name: str) -> dict[str, Any]:
    return make_golden.compute(name)


def _cases() -> list[Any]:
    cases = []
    for name in FILES:
        doc = _recorded(name)
        if doc is None:
            cases.append(pytest.param(name, None, id=f"{name}-unrecorded"))
            continue
        cases += [pytest.param(name, key, id=f"{name}:{key}") for key in doc]
    return cases


def differences(want: Any, got: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ, as 'path: want != got' lines (key order counts)."""
    if isinstance(want, dict) and isinstance(got, dict):
        if list(want) != list(got):
            missing = [k for k in want if k not in got]
            added = [k for k in got if k not in want]
            if missing or added:
                return [f"{path}: keys missing {missing}, added {added}"]
            return [f"{path}: key order {list(want)} != {list(got)}"]
        return [d for k in want for d in differences(want[k], got[k], f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: {len(want)} items != {len(got)}: {_short(want)} != {_short(got)}"]
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, f"{path}[{i}]")
        ]
    # Compared as JSON text: 1 and 1.0, or 0 and false, are different outputs.
    if json.dumps(want) != json.dumps(got):
        return [f"{path}: {_short(want)} != {_short(got)}"]
    return []


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
    diffs = differences(want[key], got[key], key)
    assert not diffs, f"{len(diffs)} differences from tests/golden/{name}.json:\n" + "\n".join(
        diffs[:40]
    )


def test_every_recorded_output_is_still_produced() -> None:
    for name in FILES:
        want = _recorded(name)
        if want is None or (name == "shared_analyze" and not make_golden.SHARED.is_dir()):
            continue
        assert list(_computed(name)) == list(want), name


def test_differences_names_paths_and_types() -> None:
    assert differences({"a": 1, "b": [1.0]}, {"a": 1, "b": [1.0]}) == []
    assert differences({"a": 1}, {"a": 1.0}) == ["$.a: 1 != 1.0"]
    assert differences({"a": 1, "b": 2}, {"b": 2, "a": 1}) == [
        "$: key order ['a', 'b'] != ['b', 'a']"
    ]
    assert differences({"a": [1, 2]}, {"a": [1]}) == ["$.a: 2 items != 1: [1, 2] != [1]"]
    assert differences({"a": None}, {"b": None}) == ["$: keys missing ['a'], added ['b']"]
