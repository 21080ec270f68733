"""The JSON contract is unchanged: every output recorded in tests/golden by the reference code
(commit 2c1657c; tests/golden/make_golden.py says how) is recomputed with the code under test and
compared: every recorded key is still there, in the same order, with the same value (floats as
stored, ints stay ints). The contract grows only by added keys (README, "JSON contract"): a key,
CSV column, sort key or metric the reference did not have is allowed after the recorded ones, and
named in a warning so it is seen. Besides added keys, the only differences accepted are the
intended changes in INTENDED_CHANGES below."""

from __future__ import annotations

import copy
import csv
import functools
import io
import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from golden import make_golden


@dataclass(frozen=True)
class Intended:
    issue: str
    change: str
    where: str
    accepted: str


# ============================ INTENDED CHANGES since the reference ============================
# The only differences from the recording this test accepts besides added keys. Each is applied
# to the *recorded* value (never to the output under test), only where it says, by the function
# ACCEPTORS names for it, and reported in a warning each time it applies. The comparison after
# it is as strict as ever: anything it does not describe still fails.
INTENDED_CHANGES: dict[str, Intended] = {
    "tie order": Intended(
        issue="12 item 5",
        change="rows of equal score are ordered by the dominant figure, CPU, footprint, pid, "
        "kernel threads after user processes (lagwatch.ranking.order_key), not by pid alone",
        where="the ranked lists in RANKED_LISTS; shared_analyze's json_sha256, only while its "
        "json_sha256_ties_by_pid (rows in pid order within equal scores) is unchanged",
        accepted="rows of equal sort value (the case's sort figure and the score: what the "
        "reference ordered by before the pid) in another order; where a limit cuts such a run, "
        "other rows of that same run, taken with their values from the reference's uncut list. "
        "Every row keeps its values (by pid); rows of different values keep their order; no "
        "row comes or goes otherwise.",
    ),
    "CSV booleans": Intended(
        issue="13",
        change="CSV writes true/false, not Python's True/False (the issue's 'Why': \"CSV "
        "writes Python's False\"; its item 1: one format in every command)",
        where="store: history --format csv [--top N], the columns CSV_BOOLEAN_COLUMNS",
        accepted='"True" written "true" and "False" written "false"; nothing else.',
    ),
    "metric renames": Intended(
        issue="13 item 7",
        change="/metrics passes promtool; the blamed resource is its own series",
        where="store: the exporter's /metrics pages",
        accepted="lagwatch_system_cpu_count is lagwatch_system_cpus; a score's "
        'dominant="R" label is lagwatch_process_dominant_info{name,pid,resource="R"} 1.0 (no '
        'series for "none"); the score\'s HELP no longer mentions the label. Values unchanged.',
    ),
    "added keys": Intended(
        issue="README 'JSON contract'; 12 items 1-3; 13 items 2, 7, 8",
        change="the contract grows by adding keys. Known: cmdline (13.2), disk_*_ops_per_s and "
        "disk operation totals (12.1), pressure metrics (12.2), groups (12.3), "
        "lagwatch_process_dominant_info (13.7), events' ended and cut_short (13.8)",
        where="everywhere (implemented in differences())",
        accepted="keys, CSV columns and /metrics lines after the recorded ones, named in a "
        "warning.",
    ),
}
# ================================================================================================

FILES = sorted(make_golden.GOLDEN)
T0 = make_golden.T0
HISTORY = f"history --since {T0 - 10} --until {T0 + 100} --format"
Where = tuple[str, str, tuple[str, ...]]  # golden file, case key, path inside the case


# --- tie order (issue 12 item 5) -------------------------------------------------------------


def _sum_known(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


# The figure each --sort key orders by, as the reference defined it (2c1657c,
# lagwatch.sampler.SORT_KEYS), read from a JSON row.
SORT_FIGURES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "score": lambda r: r["score"],
    "cpu": lambda r: r["cpu_percent"],
    "memory": lambda r: r["memory_bytes"],
    "disk": lambda r: _sum_known(r["disk_read_bytes_per_s"], r["disk_write_bytes_per_s"]),
    "wakeups": lambda r: r["wakeups_per_s"],
    "pageins": lambda r: r["pageins_per_s"],
    "gpu": lambda r: r["gpu_percent"],
    "network": lambda r: r["net_bytes_per_s"],
    "energy": lambda r: r["energy_impact"],
}


def sort_value(row: dict[str, Any], sort: str) -> tuple[Any, ...]:
    """What the reference and the code under test both order by before breaking ties: the sort
    figure (unknown last), then the score. Rows with equal values form a run."""
    figure = SORT_FIGURES[sort](row)
    return (figure is None, figure or 0.0, row["score"])


@dataclass(frozen=True)
class RankedList:
    """A list of processes in ranking order, in one golden case. ``path``: keys inside the
    case, "*" for every item of a list or value of a dict. ``uncut``: the same ranking without
    the limit that cut this one (the same "*" items). ``figures``: rows with the figures of the
    sort, by pid, where the list holds less (pids, internal rows); default: the uncut list."""

    file: str
    case: str  # a regular expression the case key matches whole
    path: tuple[str, ...]
    sort: str = "score"
    uncut: Where | None = None
    figures: Where | None = None


def _ranking_doc(case: str, *under: str) -> list[RankedList]:
    """A ranking_doc's process lists (make_golden.ranking_doc): the contract's and the internal
    rows beside it, whose figures are the contract's."""
    procs = (*under, "json", "processes")
    return [
        RankedList("ranking", case, procs),
        RankedList("ranking", case, (*under, "internal", "rows"), figures=("ranking", case, procs)),
    ]


EVERY_METRIC: Where = ("ranking", "every_metric", ("json", "processes"))
TOP_TXT: Where = ("analyze", "top.txt", ("json", "*", "processes"))
API_NOW: Where = ("store", "exporter", ("/api/now", "json", "*", "processes"))
HISTORY_ALL: Where = ("store", f"{HISTORY} json", ("json", "*", "processes"))

RANKED_LISTS: tuple[RankedList, ...] = (
    *_ranking_doc("every_metric"),
    *_ranking_doc("reaped_children"),
    *_ranking_doc("warnings_kept"),
    *_ranking_doc("idle_rows_cache", "*"),
    *_ranking_doc("idle_rows_no_cache", "*"),
    *_ranking_doc("energy", "*"),
    RankedList("ranking", "every_metric_limit_3", ("processes",), uncut=EVERY_METRIC),
    *(
        RankedList("ranking", "every_metric_by_sort", (s,), sort=s, figures=EVERY_METRIC)
        for s in make_golden.SORT_NAMES
    ),
    # analyze: every capture without --sort (nettop fixtures, top.txt, pm.txt, pm.plist).
    RankedList("analyze", r"[^ ]+( --format [\w-]+)?", ("json", "*", "processes")),
    *(
        RankedList(
            "analyze",
            re.escape(f"top.txt --sort {s} --limit 2"),
            ("json", "*", "processes"),
            sort=s,
            uncut=TOP_TXT,
        )
        for s in make_golden.SORT_NAMES
    ),
    RankedList("store", "exporter", API_NOW[2]),
    RankedList("store", "exporter", ("/api/now?limit=2", "json", "*", "processes"), uncut=API_NOW),
    RankedList(
        "store",
        "exporter",
        ("every metric: /api/now?limit=5", "body", "processes"),
        uncut=EVERY_METRIC,
    ),
    RankedList("store", re.escape(f"{HISTORY} json"), HISTORY_ALL[2]),
    RankedList("store", re.escape(f"{HISTORY} json --top 2"), HISTORY_ALL[2], uncut=HISTORY_ALL),
)


def _places(
    value: Any, path: tuple[str, ...], bound: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(what each "*" stood for, the value) for every place ``path`` names in ``value``."""
    if not path:
        yield bound, value
        return
    step, rest = path[0], path[1:]
    if step == "*" and isinstance(value, dict | list):
        for k, v in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _places(v, rest, (*bound, k))
    elif isinstance(value, dict) and step in value:
        yield from _places(value[step], rest, bound)


def _at(value: Any, path: tuple[str, ...], bound: tuple[Any, ...]) -> Any:
    """The value at ``path`` with its "*" standing for ``bound`` (None where there is none)."""
    items = iter(bound)
    for step in path:
        try:
            value = value[next(items) if step == "*" else step]
        except (KeyError, IndexError, TypeError, StopIteration):
            return None
    return value


def _pid(row: Any) -> Any:
    return row["pid"] if isinstance(row, dict) else row


def tie_reordered(
    want: list[Any],
    got: list[Any],
    sort: str,
    uncut: list[Any] | None = None,
    figures: list[dict[str, Any]] | None = None,
) -> list[Any] | None:
    """The recorded list ``want`` in the order of ``got`` when the two differ only as issue 12
    item 5 allows: the rows at each place belong to the same run of equal sort value (runs
    taken from the reference: ``uncut``, which ``want`` is the start of, else ``want``). The
    rows come from the recording, so their values are still compared. None: not that change."""
    uncut = want if uncut is None else uncut
    figures = uncut if figures is None else figures
    if not isinstance(got, list) or len(got) != len(want):
        return None
    mine, theirs = [_pid(x) for x in want], [_pid(x) for x in got]
    whole = [_pid(x) for x in uncut]
    if mine == theirs or len(set(theirs)) != len(theirs) or whole[: len(mine)] != mine:
        return None
    rows = {r["pid"]: r for r in figures if isinstance(r, dict)}
    if any(p not in rows for p in whole):
        return None
    run: dict[Any, int] = {}  # pid -> which run of equal sort value, in the reference's order
    index, last = -1, None
    for p in whole:
        value = sort_value(rows[p], sort)
        if index < 0 or value != last:
            index += 1
        run[p], last = index, value
    if any(p not in run or run[p] != run[w] for w, p in zip(mine, theirs, strict=True)):
        return None
    recorded = {_pid(x): x for x in uncut} | {_pid(x): x for x in want}
    return [recorded[p] for p in theirs]


def accept_tie_order(file: str, case: str, want: Any, got: Any) -> tuple[Any, list[str]]:
    notes = []
    for spec in RANKED_LISTS:
        if spec.file != file or not re.fullmatch(spec.case, case):
            continue
        for bound, mine in list(_places(want, spec.path)):
            theirs = _at(got, spec.path, bound)
            uncut = _recorded_at(spec.uncut, bound)
            figures = _recorded_at(spec.figures, bound)
            if spec.uncut is not None and uncut is None:
                continue
            new = tie_reordered(mine, theirs, spec.sort, uncut, figures)
            if new is None:
                continue
            want = _replaced(want, spec.path, bound, new)
            notes.append(
                f"{_where(spec.path, bound)} (sort {spec.sort}): pids "
                f"{[_pid(x) for x in mine]} -> {[_pid(x) for x in new]}"
            )
    if file == "shared_analyze" and isinstance(want, dict) and isinstance(got, dict):
        # Only hashes are kept of the shared captures: the second one is taken with rows of
        # equal score in pid order, so it is unchanged when only their order changed.
        ties = "json_sha256_ties_by_pid"
        same_ties = want.get(ties) is not None and want.get(ties) == got.get(ties)
        if same_ties and want.get("json_sha256") != got.get("json_sha256"):
            want = {**want, "json_sha256": got.get("json_sha256")}
            notes.append(f"json_sha256: rows of equal score in another order ({ties} unchanged)")
    return want, notes


def _where(path: tuple[str, ...], bound: tuple[Any, ...]) -> str:
    items = iter(bound)
    return ".".join(str(next(items)) if step == "*" else step for step in path)


def _recorded_at(where: Where | None, bound: tuple[Any, ...]) -> Any:
    if where is None:
        return None
    file, case, path = where
    doc = _recorded(file) or {}
    return _at(doc.get(case), path, bound)


def _replaced(value: Any, path: tuple[str, ...], bound: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(value)
    *head, last = path
    items = iter(bound)
    parent = out
    for step in head:
        parent = parent[next(items) if step == "*" else step]
    parent[next(items) if last == "*" else last] = new
    return out


# --- CSV booleans (issue 13 item 1) ------------------------------------------------------------

CSV_BOOLEAN_COLUMNS = ("restricted",)  # the contract's only boolean process key
_PY_BOOLEANS = {"True": "true", "False": "false"}


def accept_csv_booleans(file: str, case: str, want: Any, got: Any) -> tuple[Any, list[str]]:
    if file != "store" or not re.fullmatch(re.escape(f"{HISTORY} csv") + r"( --top \d+)?", case):
        return want, []
    rows = list(csv.reader(want["stdout"]))
    columns = [i for i, name in enumerate(rows[0] if rows else []) if name in CSV_BOOLEAN_COLUMNS]
    changed = 0
    for row in rows[1:]:
        for i in columns:
            if i < len(row) and row[i] in _PY_BOOLEANS:
                row[i] = _PY_BOOLEANS[row[i]]
                changed += 1
    if not changed:
        return want, []
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return {**want, "stdout": text.getvalue().splitlines()}, [
        f"{changed} values of {list(CSV_BOOLEAN_COLUMNS)}: True/False -> true/false"
    ]


# --- metric renames (issue 13 item 7) ----------------------------------------------------------

# The blamed resource left the score's labels for its own info series (a change of blame no
# longer starts a new score series), and "_count", a histogram's suffix promtool refuses on a
# gauge, left the CPU count.
_SCORE_WITH_BLAME = re.compile(
    r'lagwatch_process_score\{dominant="([^"]*)",(name="(?:[^"\\]|\\.)*",pid="\d+")\} (\S+)'
)
_OLD_SCORE_HELP = (
    "# HELP lagwatch_process_score Stress score 0-100 of a process, labelled with the resource "
    "it is blamed on"
)
_NEW_SCORE_HELP = "# HELP lagwatch_process_score Stress score 0-100 of a process"
_CPU_COUNT = re.compile(r"(?<![\w])lagwatch_system_cpu_count(?![\w])")


def renamed_metric_lines(lines: list[str]) -> tuple[list[str], int]:
    """The reference's /metrics lines as the exporter writes them since issue 13, and how many
    lines changed."""
    out, changed = [], 0
    for line in lines:
        if m := _SCORE_WITH_BLAME.fullmatch(line):
            out.append(f"lagwatch_process_score{{{m[2]}}} {m[3]}")
            if m[1] != "none":  # an unknown blame has no info series
                out.append(f'lagwatch_process_dominant_info{{{m[2]},resource="{m[1]}"}} 1.0')
            changed += 1
            continue
        if line == _OLD_SCORE_HELP:
            new = _NEW_SCORE_HELP
        else:
            new = _CPU_COUNT.sub("lagwatch_system_cpus", line)
        changed += new != line
        out.append(new)
    return sorted(out), changed  # as recorded: sorted lines (the order of families is free)


def accept_metric_renames(file: str, case: str, want: Any, got: Any) -> tuple[Any, list[str]]:
    if file != "store" or case != "exporter" or not isinstance(want, dict):
        return want, []
    notes = []
    want = dict(want)
    for page in [p for p in want if p.endswith("/metrics")]:
        want[page], changed = renamed_metric_lines(want[page])
        if changed:
            notes.append(f"{page}: {changed} recorded lines renamed")
    return want, notes


ACCEPTORS: dict[str, Callable[[str, str, Any, Any], tuple[Any, list[str]]]] = {
    "tie order": accept_tie_order,
    "CSV booleans": accept_csv_booleans,
    "metric renames": accept_metric_renames,
}


def as_intended(file: str, case: str, want: Any, got: Any) -> tuple[Any, dict[str, list[str]]]:
    """The recorded value with every intended change that applies to it, and what each did."""
    applied = {}
    for name, accept in ACCEPTORS.items():
        want, notes = accept(file, case, want, got)
        if notes:
            applied[name] = notes
    return want, applied


# --- comparison --------------------------------------------------------------------------------


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
                for line in value
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
    recorded = _recorded(name)
    assert recorded is not None
    got = _computed(name)
    assert key in got, f"{name}: the code under test no longer produces {key!r}"
    want, applied = as_intended(name, key, recorded[key], got[key])
    added: list[str] = []
    diffs = differences(comparable(want, key), comparable(got[key], key), added, key)
    assert not diffs, f"{len(diffs)} differences from tests/golden/{name}.json:\n" + "\n".join(
        diffs[:40]
    )
    for change, notes in applied.items():
        issue = INTENDED_CHANGES[change].issue
        warnings.warn(
            f"{name}:{key}: intended change '{change}' (issue {issue}) accepted: "
            + "; ".join(notes[:10])
            + (f"; and {len(notes) - 10} more" if len(notes) > 10 else ""),
            stacklevel=1,
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


# --- the comparison itself -----------------------------------------------------------------------


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


def test_the_table_names_every_intended_change_and_only_those() -> None:
    assert set(ACCEPTORS) | {"added keys"} == set(INTENDED_CHANGES)
    assert set(SORT_FIGURES) == set(make_golden.SORT_NAMES)


def test_every_ranked_list_names_a_recorded_list() -> None:
    for spec in RANKED_LISTS:
        doc = _recorded(spec.file)
        if doc is None:
            continue
        found = [
            place for k in doc if re.fullmatch(spec.case, k) for place in _places(doc[k], spec.path)
        ]
        assert found and all(isinstance(v, list) for _, v in found), spec
        for bound, _ in found:
            for where in (spec.uncut, spec.figures):
                assert where is None or isinstance(_recorded_at(where, bound), list), spec


def _r(pid: int, score: float, cpu: float | None = 0.0, **more: Any) -> dict[str, Any]:
    return {"pid": pid, "score": score, "cpu_percent": cpu, **more}


def test_tie_order_accepts_another_order_only_within_equal_sort_values() -> None:
    want = [_r(1, 9.0), _r(2, 5.0), _r(3, 5.0), _r(4, 5.0), _r(5, 1.0)]
    got = [want[0], want[3], want[1], want[2], want[4]]
    assert tie_reordered(want, got, "score") == got
    # Across different scores: not this change, so the strict comparison reports it.
    assert tie_reordered(want, [want[1], want[0], *want[2:]], "score") is None
    # A row gone or come: not this change either.
    assert tie_reordered(want, [*want[:4], _r(6, 1.0)], "score") is None
    # Within a run, a changed value is still a difference: the rows are the recorded ones.
    changed = [want[0], {**want[3], "cpu_percent": 7.0}, want[1], want[2], want[4]]
    accepted = tie_reordered(want, changed, "score")
    assert accepted is not None
    assert differences(accepted, changed, []) == ["$[1].cpu_percent: 0.0 != 7.0"]
    # --sort cpu: a run is equal CPU *and* equal score (the reference's order before pid).
    by_cpu = [_r(1, 5.0, 3.0), _r(2, 4.0, 3.0), _r(3, 4.0, 3.0)]
    assert tie_reordered(by_cpu, [by_cpu[0], by_cpu[2], by_cpu[1]], "cpu") is not None
    assert tie_reordered(by_cpu, [by_cpu[1], by_cpu[0], by_cpu[2]], "cpu") is None
    # Lists of pids take their figures from elsewhere.
    assert tie_reordered([1, 2, 3, 4, 5], [1, 4, 2, 3, 5], "score", figures=want) == [1, 4, 2, 3, 5]
    assert tie_reordered([1, 2, 3, 4, 5], [2, 1, 3, 4, 5], "score", figures=want) is None


def test_tie_order_lets_a_limit_cut_a_run_only_with_rows_of_that_run() -> None:
    uncut = [_r(1, 9.0), _r(2, 5.0), _r(3, 5.0), _r(4, 5.0), _r(5, 1.0)]
    assert tie_reordered(uncut[:2], [uncut[0], uncut[3]], "score", uncut) == [uncut[0], uncut[3]]
    assert tie_reordered(uncut[:2], [uncut[0], uncut[4]], "score", uncut) is None
    assert tie_reordered(uncut[:2], [uncut[0], _r(9, 5.0)], "score", uncut) is None
    # Without the uncut list a cut run cannot take in another row.
    assert tie_reordered(uncut[:2], [uncut[0], uncut[3]], "score") is None


def test_csv_booleans_map_only_python_booleans_in_boolean_columns() -> None:
    case = f"{HISTORY} csv"
    want = {"exit": 0, "stdout": ["pid,name,restricted", "1,True,False", "2,x,True"]}
    got = {"exit": 0, "stdout": ["pid,name,restricted", "1,True,false", "2,x,true"]}
    mapped, notes = accept_csv_booleans("store", case, want, got)
    assert mapped["stdout"] == got["stdout"] and notes
    assert accept_csv_booleans("store", "events --json", want, got) == (want, [])
    lower = {"exit": 0, "stdout": ["pid,name,restricted", "1,true,false", "2,x,true"]}
    diffs = differences(comparable(mapped, case), comparable(lower, case), [])
    assert diffs == ['$.rows[0].name: "True" != "true"']


def test_metric_renames_apply_to_the_recording_only() -> None:
    recorded = {
        "/metrics": [
            "# HELP lagwatch_system_cpu_count System figure 'cpu_count' reported by the sources",
            'lagwatch_process_score{dominant="disk",name="a b",pid="7"} 1.5',
            'lagwatch_process_score{dominant="none",name="c",pid="8"} 0.0',
            "lagwatch_system_cpu_count 4.0",
        ]
    }
    now = sorted(
        [
            "# HELP lagwatch_system_cpus System figure 'cpu_count' reported by the sources",
            'lagwatch_process_score{name="a b",pid="7"} 1.5',
            'lagwatch_process_dominant_info{name="a b",pid="7",resource="disk"} 1.0',
            'lagwatch_process_score{name="c",pid="8"} 0.0',
            "lagwatch_system_cpus 4.0",
        ]
    )
    want, notes = accept_metric_renames("store", "exporter", recorded, {"/metrics": now})
    assert want["/metrics"] == now and notes
    # An exporter that still wrote the old names would fail: the output is never renamed.
    still_old = {"/metrics": sorted(recorded["/metrics"])}
    assert differences(comparable(want, "exporter"), comparable(still_old, "exporter"), [])
    # A changed value is not a rename.
    moved = [line.replace("} 1.5", "} 2.5") for line in now]
    assert differences(comparable(want, "exporter"), comparable({"/metrics": moved}, "x"), [])
