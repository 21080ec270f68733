"""Build and drive the fake IOKit + CoreFoundation (fake_iokit.c) the IOKit binding is tested on.

``build(directory)`` compiles the C source with ``cc`` into a shared library (skipping the
calling test, with the reason, when there is no compiler). ``FakeIOKit(path)`` loads it and
builds registry entries from plain Python values; ``lagwatch.sources.iokit.IOKit(path, path)``
loads the same image, so both see one registry.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SOURCE = Path(__file__).with_name("fake_iokit.c")


def build(directory: Path) -> Path:
    """Compile the fake into ``directory``; skip the test when no C compiler is installed."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the fake IOKit for the IOKit binding tests")
    out = directory / "libfakeiokit.so"
    cmd = [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out), str(SOURCE)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"building the fake IOKit failed:\n{proc.stderr}")
    return out


class FakeIOKit:
    """The fake's control surface (see the comment at the top of fake_iokit.c)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = ctypes.CDLL(str(path))
        c, vp = ctypes, ctypes.c_void_p
        for name, argtypes, restype in (
            ("fake_cf_string", [c.c_char_p], vp),
            ("fake_cf_int", [c.c_int64], vp),
            ("fake_cf_float", [c.c_double], vp),
            ("fake_cf_bool", [c.c_int], vp),
            ("fake_cf_data", [c.c_char_p, c.c_long], vp),
            ("fake_cf_array", [], vp),
            ("fake_cf_dict", [], vp),
            ("fake_cf_append", [vp, vp], None),
            ("fake_cf_set", [vp, vp, vp], None),
            ("fake_io_add", [c.c_uint32, c.c_char_p, c.c_int], c.c_uint32),
            ("fake_io_set", [c.c_uint32, c.c_char_p, vp], None),
            ("fake_fail_matching", [c.c_int], None),
            ("fake_cf_outstanding", [], c.c_long),
            ("fake_io_outstanding", [], c.c_long),
            ("fake_errors", [], c.c_long),
            ("fake_last_error", [], c.c_char_p),
        ):
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = restype
        self.lib = lib

    def reset(self) -> None:
        self.lib.fake_reset()

    def value(self, value: Any) -> int:
        """A CF object for a Python value (str, bool, int, float, bytes, list, dict). A dict
        key that is an int becomes a CFNumber key (which the binding must skip)."""
        lib = self.lib
        if isinstance(value, str):
            return lib.fake_cf_string(value.encode())
        if isinstance(value, bool):
            return lib.fake_cf_bool(int(value))
        if isinstance(value, int):
            return lib.fake_cf_int(value)
        if isinstance(value, float):
            return lib.fake_cf_float(value)
        if isinstance(value, bytes):
            return lib.fake_cf_data(value, len(value))
        if isinstance(value, list):
            array = lib.fake_cf_array()
            for item in value:
                lib.fake_cf_append(array, self.value(item))
            return array
        if isinstance(value, dict):
            d = lib.fake_cf_dict()
            for k, v in value.items():
                lib.fake_cf_set(d, self.value(k), self.value(v))
            return d
        raise TypeError(f"no CF type for {type(value).__name__}")

    def add(
        self,
        classes: str,
        properties: dict[str, Any] | None = None,
        *,
        parent: int = 0,
        registered: bool = True,
    ) -> int:
        """A registry entry; ``classes`` is "Class,Superclass,..." (matching sees them all)."""
        entry = self.lib.fake_io_add(parent, classes.encode(), int(registered))
        assert entry, "fake registry full"
        for key, value in (properties or {}).items():
            self.lib.fake_io_set(entry, key.encode(), self.value(value))
        return entry

    def fail_matching(self, fail: bool = True) -> None:
        self.lib.fake_fail_matching(int(fail))

    @property
    def cf_outstanding(self) -> int:
        """CF references handed to the caller and not given back (released or consumed)."""
        return self.lib.fake_cf_outstanding()

    @property
    def io_outstanding(self) -> int:
        """io_object_t handles (entries, iterators) the caller holds."""
        return self.lib.fake_io_outstanding()

    @property
    def errors(self) -> tuple[int, str]:
        """(misuses counted, the last one's description)."""
        return self.lib.fake_errors(), self.lib.fake_last_error().decode()
