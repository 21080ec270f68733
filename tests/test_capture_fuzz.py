"""Property tests: random and mutated captures never make the parsers or `analyze` raise
anything but the documented CaptureError, and whatever they return keeps the JSON contract."""

from __future__ import annotations

import contextlib
import json
import plistlib
import re
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MACOS_FIXTURES
from lagwatch.captures.analyze import analyze
from lagwatch.model import PROCESS_KEYS
from lagwatch.parsers.errors import CaptureError
from lagwatch.parsers.powermetrics_plist import parse_powermetrics_plist
from lagwatch.parsers.powermetrics_text import parse_powermetrics_text
from lagwatch.parsers.top import parse_top

FORMATS = ("auto", "top", "powermetrics-plist", "powermetrics-text", "nettop")

TOP = b"""\
Processes: 3 total, 1 running, 2 sleeping, 10 threads
2026/01/02 03:04:05
Load Avg: 1.00, 1.00, 1.00
CPU usage: 13.7% user, 3.1% sys, 83.20% idle
PhysMem: 15G used (2105M wired, 1578M compressor), 382M unused.

PID   COMMAND          %CPU TIME     #TH  MEM    STATE    BOOSTS  IDLEW POWER
10    Google Chrome He 0.0  00:10.00 22/1 100M+  running  *0[2+]  100   0.0
11    idle             0.0  00:01.00 3    1M     sleeping  0[0]   5     0.0

Processes: 3 total, 1 running, 2 sleeping, 10 threads
2026/01/02 03:04:07
Load Avg: 1.00, 1.00, 1.00

PID   COMMAND          %CPU TIME     #TH  MEM    STATE    BOOSTS  IDLEW POWER
10    Google Chrome He 50.0 00:11.00 22/1 120M-  running  *0[2]   300   60.0
11    idle             N/A  00:01.00 3    1M     sleeping  0[0]   5     0.0
"""

PM_TEXT = b"""\
Machine model: Mac14,2
OS version: 21G72

*** Sampled system activity (Mon Oct 23 16:51:12 2023 +0200) (1012.07ms elapsed) ***

*** Running tasks ***

Name                               ID     CPU ms/s  User%  Deadlines (<2 ms, 2-5 ms)  Wakeups (Intr, Pkg idle)  GPU ms/s  Energy Impact
com.apple.Terminal                 293    447.66                                      274.83  120.35            221.74    12.00
  firefox                          84627  77.59     55.55  15.37   2.59               91.42   42.12             204.47    9.00
DEAD_TASKS                         -1     12.64     29.96  0.00    0.00               0.00    0.00              0.00      0.10
ALL_TASKS                          -2     1222.65   65.70  1161.97 15.81              2875.29 132.40            0.00      30.00

**** Processor usage ****

CPU Power: 211 mW
Combined Power (CPU + GPU + ANE): 359 mW
"""  # noqa: E501


def _pm_doc(pid: int) -> bytes:
    return plistlib.dumps(
        {
            "is_delta": True,
            "elapsed_ns": 1_000_000_000,
            "coalitions": [
                {
                    "id": 1,
                    "name": "co & co",
                    "tasks": [
                        {
                            "pid": pid,
                            "name": "a",
                            "cputime_ms_per_s": 100.0,
                            "energy_impact_per_s": 12.5,
                            "idle_wakeups_per_s": 3.0,
                        },
                        {
                            "pid": pid + 1,
                            "name": "b",
                            "cputime_ns": 5_000_000,
                            "interval_ns": 1_000_000_000,
                        },
                    ],
                }
            ],
            "processor": {"cpu_power": 800.0},
        }
    )


PM_PLIST = _pm_doc(10) + b"\0" + _pm_doc(20)

NETTOP = b"""\
time,,interface,state,bytes_in,bytes_out,rx_dupe,rx_ooo,re-tx,rtt_avg,rcvsize,tx_win,tc_class,tc_mgt,cc_algo,P,C,R,W,arch,
20:48:16.223325,io.tailscale.ip.79391,,,3950703,10739706,14139,614,71703,,,,,,,,,,,,
time,,interface,state,bytes_in,bytes_out,rx_dupe,rx_ooo,re-tx,rtt_avg,rcvsize,tx_win,tc_class,tc_mgt,cc_algo,P,C,R,W,arch,
20:48:17.212278,io.tailscale.ip.79391,,,745,952,0,0,0,,,,,,,,,,,,
20:48:17.212295,Code Helper (Pl.51458,,,0,702,0,0,0,,,,,,,,,,,,
"""

SMALL = [TOP, PM_TEXT, PM_PLIST, NETTOP]


def _real_captures() -> list[bytes]:
    """The shared real captures that are small enough to mutate many times."""
    if not MACOS_FIXTURES.is_dir():
        return []
    out = []
    for kind in ("top", "powermetrics", "nettop"):
        for path in sorted((MACOS_FIXTURES / kind).iterdir()):
            data = path.read_bytes()
            out.append(data if len(data) < 70_000 else data[:60_000])
    return out


REAL = _real_captures()


def check(data: bytes, fmt: str) -> None:
    """The property: a clean CaptureError, or rankings that keep the contract."""
    try:
        result = analyze(data, fmt)
    except CaptureError as exc:
        assert "\n" not in str(exc) and exc.message
        assert exc.line is None or exc.line >= 1
        return
    assert result.rankings
    for item in result.rankings:
        out = item.to_json("capture", limit=None)
        json.dumps(out, allow_nan=False)  # strict JSON: a huge number is never an Infinity
        for proc in out["processes"]:
            assert tuple(proc) == PROCESS_KEYS


@st.composite
def mutated(draw, bases: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "delete", "insert", "duplicate", "replace", "nul"]))
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 200))]
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=40) | st.sampled_from(
                [b"\n", b"  ", b"\0", b"N/A", b"+", b"-", b"[", b"&", b"<", b"9" * 5000, b"nan"]
            ))  # fmt: skip
        elif op == "duplicate":
            end = data.find(b"\n", at)
            line = bytes(data[at : end + 1 if end != -1 else len(data)])
            data[at:at] = line
        elif op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "nul":
            data[at:at] = b"\0"
    return bytes(data)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=3000), st.sampled_from(FORMATS))
def test_random_bytes(data, fmt):
    check(data, fmt)


@SETTINGS
@given(st.text(max_size=2000), st.sampled_from(FORMATS))
def test_random_text(text, fmt):
    check(text.encode("utf-8", "surrogatepass"), fmt)


@SETTINGS
@given(mutated(SMALL), st.sampled_from(FORMATS))
def test_mutated_small_captures(data, fmt):
    check(data, fmt)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_captures(data):
    if not REAL:
        return  # the shared captures are absent here; the small ones above still run
    check(data.draw(mutated(REAL)), data.draw(st.sampled_from(FORMATS)))


@SETTINGS
@given(st.text(max_size=1500))
def test_parsers_raise_only_capture_error(text):
    for parse in (parse_top, parse_powermetrics_text):
        with contextlib.suppress(CaptureError):
            parse(text)
    with contextlib.suppress(CaptureError):
        parse_powermetrics_plist(text.encode("utf-8", "surrogatepass"))


def test_unmutated_small_captures_rank():
    for data in SMALL:
        assert analyze(data).rankings


# -- hostile shapes: deep nesting, signs, huge numbers, repeated markers ----------------------
#
# Each example must finish well within its deadline: splitting used to be quadratic in the
# number of repeated markers (448 KB of "<plist>" took 25 s), and such inputs are drawn here.

HOSTILE = settings(
    max_examples=120,
    deadline=timedelta(seconds=8),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MARKERS = [
    b"<plist>", b"<?xml", b"</plist>", b"<plist version='1.0'><dict>", b"<key>tasks</key>",
    b"\0", b"Processes: 1 total\n", b"PID   COMMAND %CPU MEM\n",
    b"*** Sampled system activity (Mon Oct 23 16:51:12 2023 +0200) (1000.00ms elapsed) ***\n",
    b"Name                               ID     CPU ms/s\n",
    b"time,,interface,state,bytes_in,bytes_out,\n", b"&amp;", b"<!--",
]  # fmt: skip
_NUMBER = re.compile(rb"\d+(?:\.\d+)?")
_BOUNDARY = re.compile(rb"(?<=[>\n])")  # an empty match after each tag and line end


@st.composite
def hostile_token(draw, kinds: tuple[str, ...] = ("huge", "sign", "nest", "marker")) -> bytes:
    kind = draw(st.sampled_from(kinds))
    if kind == "huge":
        digits = b"9" * draw(st.integers(20, 600))
        return digits + draw(st.sampled_from([b"", b"M", b"K+", b".5", b"G-", b"e999"]))
    if kind == "sign":
        return draw(st.sampled_from([b"--2", b"-+2", b"+-1", b"--", b"-", b"+", b"-0", b"2-"]))
    depth = draw(st.integers(50, 1500))
    if kind == "nest":
        tag = draw(st.sampled_from([b"array", b"dict"]))
        inner = b"<key>k</key>" if tag == b"dict" else b""
        close = draw(st.booleans())
        return (b"<" + tag + b">" + inner) * depth + (b"</" + tag + b">") * depth * close
    return draw(st.sampled_from(MARKERS)) * depth


@st.composite
def hostile(
    draw,
    bases: list[bytes],
    kinds: tuple[str, ...] = ("huge", "sign", "nest", "marker"),
    places: tuple[str, ...] = ("number", "number", "boundary", "anywhere"),
) -> bytes:
    """A capture with hostile tokens put in: in place of its numbers, after one of its tags
    or line ends (where a parser looks), or anywhere."""
    data = bytes(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 6))):
        token = draw(hostile_token(kinds))
        where = draw(st.sampled_from(places))
        spots = list(_NUMBER.finditer(data) if where == "number" else _BOUNDARY.finditer(data))
        if spots and where != "anywhere":
            m = spots[draw(st.integers(0, len(spots) - 1))]
            data = data[: m.start()] + token + data[m.end() :]
        else:
            at = draw(st.integers(0, len(data)))
            data = data[:at] + token + data[at:]
    return data


@HOSTILE
@given(hostile(SMALL), st.sampled_from(FORMATS))
def test_hostile_shapes_in_small_captures(data, fmt):
    check(data, fmt)


@HOSTILE
@given(hostile(SMALL, kinds=("huge", "sign"), places=("number",)), st.sampled_from(FORMATS))
def test_huge_and_signed_numbers(data, fmt):
    check(data, fmt)


@HOSTILE
@given(hostile([PM_PLIST], kinds=("nest",), places=("boundary",)))
def test_deep_nesting_in_plists(data):
    check(data, "powermetrics-plist")


@HOSTILE
@given(st.data())
def test_hostile_shapes_in_real_captures(data):
    if not REAL:
        return  # the shared captures are absent here; the small ones above still run
    check(data.draw(hostile(REAL)), data.draw(st.sampled_from(FORMATS)))


@HOSTILE
@given(
    st.lists(st.sampled_from(MARKERS), min_size=1, max_size=3),
    st.sampled_from([5000, 40000]) | st.integers(1000, 40000),
)
def test_repeated_markers_alone(markers, times):
    data = b"".join(markers) * (times // len(markers))
    for fmt in ("auto", "powermetrics-plist"):
        check(data, fmt)


def test_a_plist_stream_is_split_in_linear_time():
    """448 KB of "<plist>" took 25 s when each document searched the rest of the stream; four
    times as much must now take about four times as long, not sixteen (with a wide margin)."""
    from lagwatch.parsers.powermetrics_plist import split_plist_stream

    def seconds(n: int) -> float:
        best = float("inf")
        for _ in range(3):  # the fastest of three: the machine is shared
            started = time.perf_counter()
            docs, _, _ = split_plist_stream(b"<plist>" * n)
            best = min(best, time.perf_counter() - started)
            assert len(docs) == n
        return best

    small, large = seconds(16_000), seconds(64_000)
    assert large < 8 * small + 0.5, (small, large)


@pytest.mark.parametrize(
    ("base", "old", "new"),
    [
        (PM_PLIST, b"<array>", b"<array>" * 1000),  # RecursionError before
        (PM_TEXT, b"   293 ", b"   --2 "),  # a task ID "--2": ValueError before
        (TOP, b"100M+", b"9" * 400 + b"M+"),  # a 400-digit MEM: OverflowError before
        (PM_PLIST, b"<real>800.0</real>", b"<integer>" + b"9" * 400 + b"</integer>"),
        (NETTOP, b"745", b"9" * 400),
    ],
    ids=["deep-array", "task-id-minus-minus", "huge-mem", "huge-plist-integer", "huge-bytes"],
)
def test_reported_hostile_values_are_warnings_or_capture_errors(base, old, new):
    data = base.replace(old, new, 1)
    assert data != base
    check(data, "auto")
