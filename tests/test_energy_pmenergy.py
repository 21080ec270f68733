"""pmenergy plists: the shared real ones, malformed ones (clear warning, defaults used), the
lookup order, and the board-id layer (never loaded at import, None off macOS)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lagwatch.energy_models import BUILTIN_WEIGHTS, pmenergy_energy_impact
from lagwatch.sources import macos_machine as darwin
from lagwatch.sources.pmenergy import PmenergyError, load_weights, parse_weights

BOARD = "Mac-7BA5B2DFE22DDD8C"


def _plist(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        f'<plist version="1.0">\n{body}\n</plist>\n'
    ).encode()


GOOD = _plist(
    "<dict><key>energy_constants</key><dict>"
    "<key>kcpu_wakeups</key><real>5.0e-4</real>"
    "<key>kqos_background</key><real>0.5</real>"
    "</dict></dict>"
)


# -- the shared real plists --------------------------------------------------------------------


def test_chromium_board_plist(macos_fixtures):
    path = macos_fixtures / "pmenergy" / "chromium_testdata_Mac-7BA5B2DFE22DDD8C.plist"
    w = parse_weights(path.read_bytes(), origin=str(path))
    # Values as the file states them ("3.4e+00", "3.9e-01", "2.0e-4", "4.0e-6" notation).
    assert w.kgpu_time == 3.4
    assert w.kqos_background == 0.39
    assert w.kcpu_wakeups == 2.0e-4
    assert w.kqos_default == 1.0
    assert w.kdiskio_bytesread == 2.8e-09
    assert w.kdiskio_byteswritten == 3.8e-10
    assert w.knetwork_recv_packets == 4.0e-6
    assert w.knetwork_sent_bytes == 0.0
    assert w.origin == str(path)
    # 100 ms background on this model: 0.39 * 1e8 * 1e-7 = 3.9 EI (vs 8.0 with default.plist).
    assert pmenergy_energy_impact(w, 1.0, qos_ns={"background": 1e8}) == pytest.approx(3.9)


def test_apple_silicon_default_plist(macos_fixtures):
    path = macos_fixtures / "pmenergy" / "rustfixture_default_applesilicon_REFORMATTED.plist"
    w = parse_weights(path.read_bytes(), origin="default.plist")
    assert w.kcpu_wakeups == 0.0002
    assert w.kqos_background == 0.8
    assert w.kgpu_time == 0.0
    assert w.kdiskio_bytesread == 4.5e-10
    # This copy lacks the network keys: they keep the built-in values.
    assert w.knetwork_recv_packets == BUILTIN_WEIGHTS.knetwork_recv_packets
    # The reference's worked numbers hold with it: 133 wakeups -> 2.66, 100 ms background -> 8.0.
    assert pmenergy_energy_impact(w, 1.0, cpu_ns=0, idle_wakeups=133) == pytest.approx(2.66)
    assert pmenergy_energy_impact(w, 1.0, qos_ns={"background": 1e8}) == pytest.approx(8.0)


def test_builtin_defaults_equal_default_plist(macos_fixtures):
    path = macos_fixtures / "pmenergy" / "rustfixture_default_applesilicon_REFORMATTED.plist"
    w = parse_weights(path.read_bytes(), origin="x")
    for key in ("kcpu_time", "kcpu_wakeups", "kgpu_time", "kdiskio_bytesread"):
        assert getattr(w, key) == getattr(BUILTIN_WEIGHTS, key)
    for key in ("kqos_default", "kqos_background", "kqos_utility", "kqos_legacy"):
        assert getattr(w, key) == getattr(BUILTIN_WEIGHTS, key)


def test_lookup_uses_board_plist_from_shared_fixture(macos_fixtures, tmp_path):
    src = macos_fixtures / "pmenergy" / "chromium_testdata_Mac-7BA5B2DFE22DDD8C.plist"
    (tmp_path / f"{BOARD}.plist").write_bytes(src.read_bytes())
    (tmp_path / "default.plist").write_bytes(GOOD)
    weights, warnings = load_weights(BOARD, str(tmp_path))
    assert warnings == []
    assert weights.kgpu_time == 3.4
    assert weights.origin == str(tmp_path / f"{BOARD}.plist")


# -- malformed plists ---------------------------------------------------------------------------

MALFORMED = {
    "truncated": GOOD[: len(GOOD) // 2],
    "not_xml": b"kcpu_wakeups = 2e-4\n",
    "array_top": _plist("<array><real>1.0</real></array>"),
    "no_constants": _plist("<dict><key>other</key><dict/></dict>"),
    "constants_not_dict": _plist("<dict><key>energy_constants</key><string>x</string></dict>"),
    "string_value": _plist(
        "<dict><key>energy_constants</key><dict>"
        "<key>kgpu_time</key><string>fast</string></dict></dict>"
    ),
    "negative_value": _plist(
        "<dict><key>energy_constants</key><dict>"
        "<key>kqos_background</key><real>-0.5</real></dict></dict>"
    ),
    "bool_value": _plist(
        "<dict><key>energy_constants</key><dict><key>kgpu_time</key><true/></dict></dict>"
    ),
    "no_known_key": _plist(
        "<dict><key>energy_constants</key><dict><key>kfoo</key><real>1.0</real></dict></dict>"
    ),
    "empty": b"",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_plist_raises_one_line(case):
    with pytest.raises(PmenergyError) as info:
        parse_weights(MALFORMED[case], origin="x")
    assert "\n" not in str(info.value)
    assert str(info.value)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_board_plist_falls_back_to_default_plist(case, tmp_path):
    (tmp_path / f"{BOARD}.plist").write_bytes(MALFORMED[case])
    (tmp_path / "default.plist").write_bytes(GOOD)
    weights, warnings = load_weights(BOARD, str(tmp_path))
    assert weights.kcpu_wakeups == 5.0e-4  # from default.plist
    assert weights.kqos_background == 0.5
    assert len(warnings) == 1
    line = warnings[0]
    assert "\n" not in line
    assert str(tmp_path / f"{BOARD}.plist") in line  # names the bad file
    assert "malformed" in line
    assert str(tmp_path / "default.plist") in line  # and what is used instead


def test_malformed_everywhere_uses_builtin_defaults(tmp_path):
    (tmp_path / f"{BOARD}.plist").write_bytes(MALFORMED["truncated"])
    (tmp_path / "default.plist").write_bytes(MALFORMED["string_value"])
    weights, warnings = load_weights(BOARD, str(tmp_path))
    assert weights == BUILTIN_WEIGHTS
    assert len(warnings) == 2
    assert all(line.endswith("Energy Impact uses built-in defaults") for line in warnings)
    assert "kgpu_time is 'fast', not a number" in warnings[1]


def test_missing_files_are_silent(tmp_path):
    # No board plist (Apple Silicon, or an unknown model) and no default.plist: no warning.
    weights, warnings = load_weights(BOARD, str(tmp_path))
    assert weights == BUILTIN_WEIGHTS
    assert warnings == []
    (tmp_path / "default.plist").write_bytes(GOOD)
    weights, warnings = load_weights(None, str(tmp_path))
    assert warnings == []
    assert weights.kcpu_wakeups == 5.0e-4


def test_unreadable_plist_is_warned(tmp_path):
    (tmp_path / f"{BOARD}.plist").mkdir()  # a directory where a file should be
    weights, warnings = load_weights(BOARD, str(tmp_path))
    assert weights == BUILTIN_WEIGHTS
    assert len(warnings) == 1 and "cannot be read" in warnings[0]


# -- board-id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Mac-7BA5B2DFE22DDD8C\0", "Mac-7BA5B2DFE22DDD8C"),
        (b"Mac-7BA5B2DFE22DDD8C", "Mac-7BA5B2DFE22DDD8C"),
        (b"Mac-ABC\0garbage", "Mac-ABC"),
        (b"", None),
        (None, None),
        (b"../../etc/passwd\0", None),  # used in a file path: refused
        (b"a/b", None),
        (b"A\0\0\0", None),  # Apple Silicon stores a small binary integer, not an id
    ],
)
def test_decode_board_id(raw, expected):
    assert darwin.decode_board_id(raw) == expected


@pytest.mark.skipif(sys.platform == "darwin", reason="off-macOS behaviour")
def test_darwin_layer_is_inert_off_macos():
    assert darwin.board_id() is None
    assert darwin.responsible_pid(1) is None


def test_no_library_is_loaded_at_import():
    # Import every energy module with ctypes' loaders booby-trapped: none may load a library.
    code = (
        "import ctypes\n"
        "def trap(*a, **k):\n"
        "    raise SystemExit('library loaded at import: %r' % (a,))\n"
        "ctypes.CDLL = trap\n"
        "ctypes.cdll.LoadLibrary = trap\n"
        "import lagwatch.energy, lagwatch.sources.macos_machine, lagwatch.sources.pmenergy\n"
        "import lagwatch.energy.integrate, lagwatch.apps, lagwatch.sources.rapl\n"
        "import lagwatch.cli.energy_cmd\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
