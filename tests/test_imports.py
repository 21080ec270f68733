"""Every lagwatch module imports on every platform: OS calls happen only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Third-party and standard modules are imported first under the real platform: their own
# platform branches (msvcrt, _scproxy) are not what this test is about; lagwatch's are.
SCRIPT = r"""
import sys
import ctypes, ctypes.util, http.server, plistlib, sqlite3, ssl, urllib.request  # noqa
import click, platformdirs, prometheus_client, psutil, rich, textual  # noqa
import rich.console, rich.live, rich.table, textual.app, textual.widgets  # noqa
sys.platform = {platform!r}
import os
if {platform!r} == "win32":
    # Unix-only standard modules are absent on Windows.
    for name in ("pwd", "grp", "resource", "fcntl", "termios"):
        sys.modules[name] = None
import importlib, pkgutil
import lagwatch
failed = []
for info in pkgutil.walk_packages(lagwatch.__path__, "lagwatch."):
    if info.name.endswith("__main__"):
        continue  # running it is the point of it
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{{info.name}}: {{type(exc).__name__}}: {{exc}}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32", "freebsd14"])
def test_every_module_imports(platform):
    res = subprocess.run([sys.executable, "-c", SCRIPT.format(platform=platform)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, (
        f"modules failing to import on {platform}:\n{res.stdout}{res.stderr}"
    )
