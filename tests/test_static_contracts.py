"""The layering contract and the type check catch what they are there to catch.

`make check`/`make test` run `lint-imports` and `mypy` on the tree as it is; these tests break a
copy of the tree on purpose and assert that each tool then fails, so neither check can silently
stop checking (a contract that names no module, a mypy config that finds no files).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in this environment (pip install -e '.[dev]')")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of src/ and pyproject.toml, safe to break."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool("lint-imports")), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _mypy(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool("mypy")), "--no-incremental", "--cache-dir", str(tree / ".mypy_cache")],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_layers_hold_on_the_tree_as_it_is(tree: Path) -> None:
    done = _lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "line"),
    [
        # A source reaching up into an interface.
        ("sources/psi.py", "from lagwatch.cli import errors as _errors  # noqa\n"),
        # The sampler reaching up into the ranking (it must only read sources).
        ("sampler.py", "from lagwatch import ranking as _ranking  # noqa\n"),
        # A parser reading through a source.
        ("parsers/top.py", "from lagwatch.sources import base as _base  # noqa\n"),
    ],
)
def test_a_backwards_import_breaks_the_contract(tree: Path, module: str, line: str) -> None:
    _append(tree / "src" / "lagwatch" / module, line)
    done = _lint_imports(tree)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout


@pytest.mark.slow
def test_a_type_error_fails_mypy(tree: Path) -> None:
    _append(
        tree / "src" / "lagwatch" / "units.py",
        "\n\ndef _broken() -> int:\n    return 'not an int'\n",
    )
    done = _mypy(tree)
    assert done.returncode != 0
    assert "units.py" in done.stdout and "Incompatible return value" in done.stdout
