"""macOS memory pressure level through sysctlbyname, against the fake libSystem."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_libsystem import FakeLibSystem, build
from lagwatch.sources import macos_pressure
from lagwatch.sources.base import SourceError
from lagwatch.sources.libproc import LibProc


@pytest.fixture(scope="module")
def fake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("fake_libsystem"))


@pytest.fixture
def fake(fake_path: Path) -> FakeLibSystem:
    f = FakeLibSystem(fake_path)
    f.reset()
    return f


def test_dispatch_levels_are_read_as_names(fake: FakeLibSystem):
    fake.sysctl(macos_pressure.SYSCTL, 1, 4)
    source = macos_pressure.MacMemoryPressureSource(LibProc(str(fake.path)))
    # The kernel answers with the dispatch bit as a 4-byte int: 1, 2 or 4 (never 0..4).
    for code, name in ((1, "normal"), (2, "warning"), (4, "critical")):
        fake.sysctl(macos_pressure.SYSCTL, code, 4)
        assert source.read().system == {"pressure": {"memory": {"level": name, "level_code": code}}}
    fake.sysctl(macos_pressure.SYSCTL, 3, 4)  # not a value XNU returns: said, not guessed
    reading = source.read()
    assert reading.system == {} and "returned 3" in reading.warnings[0]


def test_absent_sysctl_makes_the_source_unavailable(fake: FakeLibSystem):
    lib = LibProc(str(fake.path))
    assert "cannot be read" in (macos_pressure.probe(lib) or "")
    with pytest.raises(SourceError):
        macos_pressure.MacMemoryPressureSource(lib)
