"""IOKit and CoreFoundation through ctypes: the one macOS binding the GPU source and energy use.

Nothing is loaded at import: :func:`frameworks` opens the system frameworks on first use, on
macOS only. :class:`IOKit` takes the library paths, so tests load a fake built from C instead
(tests/fake_iokit). Signatures: ``IOKitUser/IOKitLib.h`` (reference section 4).

Ownership follows Apple's Create rule: what a function named ``...Create...`` or ``...Copy...``
returns belongs to the caller and is released with CFRelease; values read out of a container
(CFArrayGetValueAtIndex, CFDictionaryGetKeysAndValues) are borrowed. IOServiceGetMatchingService(s)
consumes the matching dictionary, so that one is never released here. io_object_t handles
(services, iterators and what an iterator yields) are released with IOObjectRelease.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lagwatch import platform_seam
from lagwatch.sources.base import SourceError

IOKIT_PATH = platform_seam.IOKIT
CF_PATH = platform_seam.COREFOUNDATION
SERVICE_PLANE = "IOService"  # kIOServicePlane
_UTF8 = 0x08000100  # kCFStringEncodingUTF8
_SINT64 = 4  # kCFNumberSInt64Type
_FLOAT64 = 6  # kCFNumberFloat64Type
_NAME_SIZE = 128  # io_name_t
_MAX_DEPTH = 8  # containers nested deeper read as None (the GPU keys nest three levels)


def _bind(iokit: Any, cf: Any) -> None:
    """Declare every function's C types (mach_port_t and io_object_t are 32-bit)."""
    c = ctypes
    u32, vp, long_, ulong, ubyte = c.c_uint32, c.c_void_p, c.c_long, c.c_ulong, c.c_ubyte
    signatures: list[tuple[Any, str, list[Any], Any]] = [
        (iokit, "IOServiceMatching", [c.c_char_p], vp),
        (iokit, "IOServiceGetMatchingServices", [u32, vp, c.POINTER(u32)], c.c_int),
        (iokit, "IOServiceGetMatchingService", [u32, vp], u32),
        (iokit, "IOIteratorNext", [u32], u32),
        (iokit, "IOObjectRelease", [u32], c.c_int),
        (iokit, "IOObjectGetClass", [u32, c.c_char_p], c.c_int),
        (iokit, "IORegistryEntryGetChildIterator", [u32, c.c_char_p, c.POINTER(u32)], c.c_int),
        (iokit, "IORegistryEntryCreateCFProperty", [u32, vp, vp, u32], vp),
        (cf, "CFStringCreateWithCString", [vp, c.c_char_p, u32], vp),
        (cf, "CFStringGetLength", [vp], long_),
        (cf, "CFStringGetMaximumSizeForEncoding", [long_, u32], long_),
        (cf, "CFStringGetCString", [vp, c.c_char_p, long_, u32], ubyte),
        (cf, "CFGetTypeID", [vp], ulong),
        (cf, "CFStringGetTypeID", [], ulong),
        (cf, "CFNumberGetTypeID", [], ulong),
        (cf, "CFBooleanGetTypeID", [], ulong),
        (cf, "CFArrayGetTypeID", [], ulong),
        (cf, "CFDictionaryGetTypeID", [], ulong),
        (cf, "CFDataGetTypeID", [], ulong),
        (cf, "CFNumberGetValue", [vp, long_, vp], ubyte),
        (cf, "CFNumberIsFloatType", [vp], ubyte),
        (cf, "CFBooleanGetValue", [vp], ubyte),
        (cf, "CFArrayGetCount", [vp], long_),
        (cf, "CFArrayGetValueAtIndex", [vp, long_], vp),
        (cf, "CFDictionaryGetCount", [vp], long_),
        (cf, "CFDictionaryGetKeysAndValues", [vp, c.POINTER(vp), c.POINTER(vp)], None),
        (cf, "CFDataGetLength", [vp], long_),
        (cf, "CFDataGetBytePtr", [vp], c.POINTER(ubyte)),
        (cf, "CFRelease", [vp], None),
    ]
    for lib, name, argtypes, restype in signatures:
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype


class IOKit:
    """The two frameworks, typed, and the few registry operations lagwatch needs.

    Raises SourceError when a library cannot be loaded or lacks a function."""

    def __init__(self, iokit_path: str = IOKIT_PATH, cf_path: str = CF_PATH) -> None:
        try:
            iokit = ctypes.CDLL(iokit_path)
            cf = ctypes.CDLL(cf_path)
        except OSError as exc:
            raise SourceError(f"cannot load IOKit: {exc}") from None
        try:
            _bind(iokit, cf)
        except AttributeError as exc:
            raise SourceError(f"IOKit lacks a function lagwatch needs: {exc}") from None
        self.iokit, self.cf = iokit, cf
        self._types = {
            cf.CFStringGetTypeID(): "string",
            cf.CFNumberGetTypeID(): "number",
            cf.CFBooleanGetTypeID(): "bool",
            cf.CFArrayGetTypeID(): "array",
            cf.CFDictionaryGetTypeID(): "dict",
            cf.CFDataGetTypeID(): "data",
        }
        # Property keys are created once and kept for this object's lifetime (a handful of
        # small CFStrings), so no read pays for creating and releasing them.
        self._keys: dict[str, int] = {}
        self._keys_lock = threading.Lock()

    # CoreFoundation -> Python ---------------------------------------------------------------

    def key(self, name: str) -> int:
        """A CFString for ``name``, owned by this object (never release it)."""
        with self._keys_lock:
            ref = self._keys.get(name)
            if ref is None:
                ref = self.cf.CFStringCreateWithCString(None, name.encode(), _UTF8)
                if not ref:
                    raise SourceError(f"CFStringCreateWithCString({name!r}) failed")
                self._keys[name] = ref
            return ref

    def _string(self, ref: int) -> str:
        cf = self.cf
        size = cf.CFStringGetMaximumSizeForEncoding(cf.CFStringGetLength(ref), _UTF8) + 1
        buf = ctypes.create_string_buffer(size)
        if not cf.CFStringGetCString(ref, buf, size, _UTF8):
            return ""
        return buf.value.decode("utf-8", "replace")

    def to_python(self, ref: int | None, depth: int = 0) -> Any:
        """A CF object (borrowed) as str/int/float/bool/list/dict/bytes; None if unknown.
        Dictionary entries whose key is not a string are left out."""
        if not ref or depth > _MAX_DEPTH:
            return None
        cf = self.cf
        kind = self._types.get(cf.CFGetTypeID(ref))
        if kind == "string":
            return self._string(ref)
        if kind == "number":
            if cf.CFNumberIsFloatType(ref):
                f = ctypes.c_double()
                return f.value if cf.CFNumberGetValue(ref, _FLOAT64, ctypes.byref(f)) else None
            i = ctypes.c_int64()
            return i.value if cf.CFNumberGetValue(ref, _SINT64, ctypes.byref(i)) else None
        if kind == "bool":
            return bool(cf.CFBooleanGetValue(ref))
        if kind == "array":
            return [
                self.to_python(cf.CFArrayGetValueAtIndex(ref, i), depth + 1)
                for i in range(cf.CFArrayGetCount(ref))
            ]
        if kind == "dict":
            n = cf.CFDictionaryGetCount(ref)
            keys = (ctypes.c_void_p * n)()
            values = (ctypes.c_void_p * n)()
            cf.CFDictionaryGetKeysAndValues(ref, keys, values)
            out = {}
            for k, v in zip(keys, values, strict=True):
                key = self.to_python(k, depth + 1)
                if isinstance(key, str):
                    out[key] = self.to_python(v, depth + 1)
            return out
        if kind == "data":
            return ctypes.string_at(cf.CFDataGetBytePtr(ref), cf.CFDataGetLength(ref))
        return None

    # IORegistry ---------------------------------------------------------------------------

    def property(self, entry: int, key: str) -> Any:
        """One property of a registry entry as Python; None when the entry lacks it."""
        ref = self.iokit.IORegistryEntryCreateCFProperty(entry, self.key(key), None, 0)
        if not ref:
            return None
        try:
            return self.to_python(ref)
        finally:
            self.cf.CFRelease(ref)

    def class_name(self, obj: int) -> str:
        buf = ctypes.create_string_buffer(_NAME_SIZE)
        if self.iokit.IOObjectGetClass(obj, buf) != 0:
            return ""
        return buf.value.decode("ascii", "replace")

    def iterate(self, iterator: int) -> Iterator[int]:
        """The objects of an io_iterator_t; each is released once the loop moves on, and the
        iterator itself when the loop ends or is abandoned."""
        try:
            while obj := self.iokit.IOIteratorNext(iterator):
                try:
                    yield obj
                finally:
                    self.iokit.IOObjectRelease(obj)
        finally:
            self.iokit.IOObjectRelease(iterator)

    def matching_services(self, class_name: str) -> Iterator[int]:
        """Registered services of ``class_name`` or a subclass. Raises SourceError now (not
        when iterated) if the lookup fails."""
        matching = self.iokit.IOServiceMatching(class_name.encode())
        if not matching:
            raise SourceError(f"IOServiceMatching({class_name}) failed")
        found = ctypes.c_uint32(0)
        # kIOMainPortDefault is 0; the call consumes `matching` whatever it returns.
        if self.iokit.IOServiceGetMatchingServices(0, matching, ctypes.byref(found)) != 0:
            raise SourceError(f"IOServiceGetMatchingServices({class_name}) failed")
        return self.iterate(found.value)

    @contextmanager
    def matching_service(self, class_name: str) -> Iterator[int | None]:
        """The first registered service of ``class_name`` (None if there is none), released
        when the block ends."""
        matching = self.iokit.IOServiceMatching(class_name.encode())
        service = self.iokit.IOServiceGetMatchingService(0, matching) if matching else 0
        try:
            yield service or None
        finally:
            if service:
                self.iokit.IOObjectRelease(service)

    def children(self, entry: int, plane: str = SERVICE_PLANE) -> Iterator[int]:
        """The entry's children in ``plane`` (none when the registry refuses)."""
        found = ctypes.c_uint32(0)
        if self.iokit.IORegistryEntryGetChildIterator(entry, plane.encode(), ctypes.byref(found)):
            return iter(())
        return self.iterate(found.value)


_system: IOKit | None = None
_system_lock = threading.Lock()


def frameworks() -> IOKit:
    """This Mac's IOKit, loaded once on first use. Raises SourceError off macOS or when the
    frameworks cannot be loaded (the next call tries again)."""
    global _system
    if not platform_seam.is_macos():
        raise SourceError("the IORegistry exists on macOS only")
    with _system_lock:
        if _system is None:
            # The frameworks, or the stand-ins lagwatch.platform_seam names (Mac-in-a-box).
            _system = IOKit(platform_seam.iokit_path(), platform_seam.corefoundation_path())
        return _system
