"""Which OS lagwatch reads, and where that OS's libraries and tools are: decided here only.

By default it is the real machine: ``sys.platform``, /usr/lib/libSystem.B.dylib, the IOKit and
CoreFoundation frameworks, /usr/bin/top, /usr/bin/nettop, /usr/bin/powermetrics and
/usr/share/pmenergy. A few environment variables, read in this module and nowhere else, let the
test suite run the real CLI "as if on macOS" on Linux, against fakes it builds (the
Mac-in-a-box, docs/development.md):

- ``LAGWATCH_PLATFORM=macos`` (or ``linux``): the platform sources are chosen for and snapshots
  are labelled with;
- ``LAGWATCH_LIBSYSTEM``, ``LAGWATCH_IOKIT``, ``LAGWATCH_COREFOUNDATION``: library paths
  (CoreFoundation defaults to the IOKit path: one fake library can hold both);
- ``LAGWATCH_TOOL_DIR``: the directory holding ``top``, ``nettop`` and ``powermetrics``;
- ``LAGWATCH_PMENERGY_DIR``: where the per-model Energy Impact weights are;
- ``LAGWATCH_AS_USER=1``: choose sources as a user (not root) would, even when run as root: the
  sources that need root (powermetrics) are left out and `top` augments libproc, as on a Mac
  run without sudo. The box runs as root in CI containers; a maintainer can also use it with
  sudo to see the user's default. It only ever takes privileges away, and only from the
  choice: :func:`chooses_as_root` is read where the registry decides root-dependent defaults.

What stays real whatever the seam says: the privileges the OS grants (permission checks,
who owns files, whom we may signal), clocks, the service manager (launchd or systemd) and
psutil, which always read the machine they run on.
"""

from __future__ import annotations

import os
import sys

ENV_PLATFORM = "LAGWATCH_PLATFORM"
ENV_LIBSYSTEM = "LAGWATCH_LIBSYSTEM"
ENV_IOKIT = "LAGWATCH_IOKIT"
ENV_COREFOUNDATION = "LAGWATCH_COREFOUNDATION"
ENV_TOOL_DIR = "LAGWATCH_TOOL_DIR"
ENV_PMENERGY_DIR = "LAGWATCH_PMENERGY_DIR"
ENV_AS_USER = "LAGWATCH_AS_USER"

LIBSYSTEM = "/usr/lib/libSystem.B.dylib"
IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
COREFOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
TOOLS = {name: f"/usr/bin/{name}" for name in ("top", "nettop", "powermetrics")}
PMENERGY_DIR = "/usr/share/pmenergy"

# LAGWATCH_PLATFORM values -> sys.platform spelling.
_PLATFORMS = {"macos": "darwin", "darwin": "darwin", "linux": "linux"}


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def sys_platform() -> str:
    """``sys.platform`` as lagwatch should see it ("darwin" in the Mac-in-a-box)."""
    wanted = _env(ENV_PLATFORM)
    if wanted is not None:
        return _PLATFORMS.get(wanted.lower(), wanted.lower())
    return sys.platform


def is_macos() -> bool:
    return sys_platform() == "darwin"


def platform_name() -> str:
    """The platform label of snapshots: "macos", "linux", "windows" or sys.platform."""
    platform = sys_platform()
    if platform.startswith("linux"):
        return "linux"
    return {"darwin": "macos", "win32": "windows"}.get(platform, platform)


def libsystem_path() -> str:
    return _env(ENV_LIBSYSTEM) or LIBSYSTEM


def libsystem_overridden() -> bool:
    """A stand-in libSystem is named (tests): libproc may then run off macOS."""
    return _env(ENV_LIBSYSTEM) is not None


def iokit_path() -> str:
    return _env(ENV_IOKIT) or IOKIT


def corefoundation_path() -> str:
    return _env(ENV_COREFOUNDATION) or _env(ENV_IOKIT) or COREFOUNDATION


def tool_path(name: str) -> str:
    """Where the macOS tool ``name`` (top, nettop, powermetrics) is."""
    directory = _env(ENV_TOOL_DIR)
    if directory is not None:
        return os.path.join(directory, name)
    return TOOLS[name]


def tool_missing(name: str) -> str | None:
    """None when the tool can be run, else why not (for a source's probe)."""
    path = tool_path(name)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return None
    return f"{name} not found at {path}"


def pmenergy_dir() -> str:
    return _env(ENV_PMENERGY_DIR) or PMENERGY_DIR


def chooses_as_root() -> bool:
    """Whether the sources are chosen as for root: the effective uid is 0 and
    ``LAGWATCH_AS_USER`` is unset (or "0"). For choosing defaults only, never for deciding
    what lagwatch may do: the OS checks that itself."""
    if (_env(ENV_AS_USER) or "0") != "0":
        return False
    return hasattr(os, "geteuid") and os.geteuid() == 0


def describe() -> dict[str, str]:
    """The overrides in force (for `lagwatch sources --json` and bug reports)."""
    names = (ENV_PLATFORM, ENV_LIBSYSTEM, ENV_IOKIT, ENV_COREFOUNDATION, ENV_TOOL_DIR,
             ENV_PMENERGY_DIR, ENV_AS_USER)  # fmt: skip
    return {name: value for name in names if (value := _env(name)) is not None}
