"""The thin macOS layer energy needs: the board-id (IORegistry) and responsible pids.

Nothing is loaded at import: the frameworks are opened on first use, on macOS only, and every
failure means "unknown" (None), never an exception in the sampling loop.

- board-id: the ``board-id`` property (CFData, NUL-terminated) of the IOPlatformExpertDevice
  service, which is what libpmenergy uses to pick /usr/share/pmenergy/<board-id>.plist.
- responsible pid: ``responsibility_get_pid_responsible_for_pid`` (libSystem, macOS 10.12+;
  private but stable, used by Chromium): the app a helper or XPC service works for.
"""

from __future__ import annotations

import ctypes
import re
import sys
from functools import cache
from typing import Any

_IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
_CF = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
_LIBSYSTEM = "/usr/lib/libSystem.B.dylib"
_UTF8 = 0x08000100  # kCFStringEncodingUTF8
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


@cache
def _frameworks() -> tuple[Any, Any] | None:
    if sys.platform != "darwin":
        return None
    try:
        iokit = ctypes.CDLL(_IOKIT)
        cf = ctypes.CDLL(_CF)
    except OSError:
        return None
    vp, u32 = ctypes.c_void_p, ctypes.c_uint32
    iokit.IOServiceMatching.argtypes = [ctypes.c_char_p]
    iokit.IOServiceMatching.restype = vp
    iokit.IOServiceGetMatchingService.argtypes = [u32, vp]
    iokit.IOServiceGetMatchingService.restype = u32
    iokit.IORegistryEntryCreateCFProperty.argtypes = [u32, vp, vp, u32]
    iokit.IORegistryEntryCreateCFProperty.restype = vp
    iokit.IOObjectRelease.argtypes = [u32]
    iokit.IOObjectRelease.restype = ctypes.c_int
    cf.CFStringCreateWithCString.argtypes = [vp, ctypes.c_char_p, u32]
    cf.CFStringCreateWithCString.restype = vp
    cf.CFGetTypeID.argtypes = [vp]
    cf.CFGetTypeID.restype = ctypes.c_ulong
    cf.CFDataGetTypeID.argtypes = []
    cf.CFDataGetTypeID.restype = ctypes.c_ulong
    cf.CFDataGetLength.argtypes = [vp]
    cf.CFDataGetLength.restype = ctypes.c_long
    cf.CFDataGetBytePtr.argtypes = [vp]
    cf.CFDataGetBytePtr.restype = vp
    cf.CFRelease.argtypes = [vp]
    cf.CFRelease.restype = None
    return iokit, cf


def board_id() -> str | None:
    """This Mac's board-id (Intel Macs have one; Apple Silicon usually does not), or None."""
    libs = _frameworks()
    if libs is None:
        return None
    iokit, cf = libs
    try:
        matching = iokit.IOServiceMatching(b"IOPlatformExpertDevice")
        if not matching:
            return None
        service = iokit.IOServiceGetMatchingService(0, matching)  # consumes `matching`
        if not service:
            return None
        try:
            key = cf.CFStringCreateWithCString(None, b"board-id", _UTF8)
            if not key:
                return None
            try:
                prop = iokit.IORegistryEntryCreateCFProperty(service, key, None, 0)
            finally:
                cf.CFRelease(key)
            if not prop:
                return None
            try:
                if cf.CFGetTypeID(prop) != cf.CFDataGetTypeID():
                    return None
                length = cf.CFDataGetLength(prop)
                if length <= 0 or length > 256:
                    return None
                return decode_board_id(ctypes.string_at(cf.CFDataGetBytePtr(prop), length))
            finally:
                cf.CFRelease(prop)
        finally:
            iokit.IOObjectRelease(service)
    except (OSError, AttributeError, ValueError):
        return None


@cache
def _responsibility() -> Any | None:
    if sys.platform != "darwin":
        return None
    for path in (_LIBSYSTEM, "/usr/lib/system/libquarantine.dylib"):
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
