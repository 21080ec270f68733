"""The thin macOS layer energy needs: the board-id (IORegistry) and responsible pids.

Nothing is loaded at import: libraries are opened on first use, on macOS only (the IORegistry
through the shared binding, lagwatch.sources.iokit), and every failure means "unknown" (None),
never an exception in the sampling loop.

- board-id: the ``board-id`` property (CFData, NUL-terminated) of the IOPlatformExpertDevice
  service, which is what libpmenergy uses to pick /usr/share/pmenergy/<board-id>.plist.
- responsible pid: ``responsibility_get_pid_responsible_for_pid`` (libSystem, macOS 10.12+;
  private but stable, used by Chromium): the app a helper or XPC service works for.
"""

from __future__ import annotations

import ctypes
import re
from functools import cache
from typing import Any

from lagwatch import platform_seam
from lagwatch.sources.base import SourceError
from lagwatch.sources.iokit import IOKit, frameworks

# Board ids look like "Mac-7BA5B2DFE22DDD8C"; the value is used in a file path, so nothing else
# (no '/', no '..') is accepted.
_BOARD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,-]{2,63}")  # Apple Silicon: a binary int


def decode_board_id(data: bytes | None) -> str | None:
    """The board-id string from the property's bytes (NUL-terminated ASCII), or None."""
    if not data:
        return None
    text = data.split(b"\0", 1)[0].decode("ascii", "replace").strip()
    if not _BOARD_ID.fullmatch(text) or ".." in text:
        return None
    return text


def board_id(kit: IOKit | None = None) -> str | None:
    """This Mac's board-id (Intel Macs have one; Apple Silicon usually does not), or None.
    ``kit``: the IOKit binding to read through (this Mac's when None)."""
    try:
        kit = kit if kit is not None else frameworks()
        with kit.matching_service("IOPlatformExpertDevice") as service:
            if service is None:
                return None
            data = kit.property(service, "board-id")
    except (SourceError, OSError, AttributeError, ValueError):
        return None
    if not isinstance(data, bytes) or not 0 < len(data) <= 256:
        return None
    return decode_board_id(data)


@cache
def _responsibility() -> Any | None:
    if not platform_seam.is_macos():
        return None
    for path in (platform_seam.libsystem_path(), "/usr/lib/system/libquarantine.dylib"):
        try:
            fn = ctypes.CDLL(path).responsibility_get_pid_responsible_for_pid
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = ctypes.c_int
        return fn
    return None


def responsible_pid(pid: int) -> int | None:
    """The pid macOS holds responsible for ``pid`` (itself for an app), or None if unknown."""
    fn = _responsibility()
    if fn is None:
        return None
    try:
        value = fn(pid)
    except (OSError, ValueError):
        return None
    return value if value > 0 else None
