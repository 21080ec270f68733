"""Shared test helpers. Real macOS captures live outside the repo, in ../shared/fixtures/macos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MACOS_FIXTURES = REPO.parent / "shared" / "fixtures" / "macos"


@pytest.fixture
def macos_fixtures() -> Path:
    """The shared real macOS captures; skip (with why) where that folder is absent."""
    if not MACOS_FIXTURES.is_dir():
        pytest.skip(f"shared macOS captures not found at {MACOS_FIXTURES}")
    return MACOS_FIXTURES


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Local time is UTC for the test (what it prints does not depend on the machine)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def lagwatch_cmd() -> list[str]:
    """The installed console script if present, else the module, from this interpreter."""
    script = Path(sys.executable).parent / "lagwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lagwatch"]


def run_lagwatch(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, **kw.pop("env", {}))
    return subprocess.run(
        [*lagwatch_cmd(), *args], capture_output=True, text=True, timeout=timeout, env=env, **kw
    )


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    return path
