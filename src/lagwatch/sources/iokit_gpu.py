"""Per-process GPU time on Apple Silicon, without root: the `iokit-gpu` augmenting source.

The GPU driver keeps one ``AGXDeviceUserClient`` per Metal device a process opens. Each client
records who created it (``IOUserClientCreator`` = ``"pid <N>, <comm>"``, set by the kernel) and,
per command queue, ``AppUsage[].accumulatedGPUTime`` (nanoseconds according to every
implementer; Apple does not document it). A pid's GPU time is the sum over all its clients.
User clients are not *registered* services, so IOServiceGetMatchingServices never returns them:
they are found by walking each accelerator's children in the IOService plane (reference
section 4).

Layers:
- pure functions (:func:`parse_creator`, :func:`client_from_properties`,
  :func:`gpu_time_by_pid`, :func:`device_stats`) over plain dicts, tested anywhere;
- :func:`parse_ioreg`, a parser of ``ioreg -r -c ...`` / ``ioreg -l`` text into the same dicts,
  so captures feed the same aggregation (it parses values properly, so the key
  "In use system memory (driver)" is never mistaken for "In use system memory");
- :class:`IORegistryReader`, a thin ctypes IOKit/CoreFoundation layer, loaded on first use and
  only on macOS, that yields the same dicts from the live registry.

A client's time leaves the sum when the client is destroyed, so ``gpu_ns`` may go down; the
sampler treats a drop as no activity (``DROPPABLE_COUNTERS``).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lagwatch.sources.base import SourceError, SourceReading

NAME = "iokit-gpu"
CLIENT_CLASS = "AGXDeviceUserClient"
ACCELERATOR_CLASS = "IOAccelerator"  # matches AGXAccelerator* (and Intel/AMD drivers)

_CREATOR = re.compile(r"^\s*pid\s+(\d+)\s*,\s?(.*)$")


# -- pure aggregation ----------------------------------------------------------------------------


def parse_creator(text: Any) -> tuple[int, str] | None:
    """``"pid 440, WindowServer"`` -> (440, "WindowServer"); None if it is not that format.
    The kernel writes the name from p_comm, so it is at most 16 characters."""
    if not isinstance(text, str):
        return None
    m = _CREATOR.match(text)
    if m is None:
        return None
    return int(m.group(1)), m.group(2).rstrip()


@dataclass(frozen=True, slots=True)
class GpuClient:
    """One AGXDeviceUserClient: its creator and the GPU time summed over its command queues."""

    pid: int
    name: str
    gpu_ns: int
    queues: int  # AppUsage records (0 when "AppUsage" = ())


def client_from_properties(props: dict[str, Any]) -> GpuClient | None:
    """A client from its registry properties; None when the creator is missing or unreadable.
    Records without an integer accumulatedGPUTime count as 0 (nothing measured yet)."""
    creator = parse_creator(props.get("IOUserClientCreator"))
    if creator is None:
        return None
    usage = props.get("AppUsage")
    total = 0
    queues = 0
    if isinstance(usage, list):
        for record in usage:
            if not isinstance(record, dict):
                continue
            queues += 1
            value = record.get("accumulatedGPUTime")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                total += value
    return GpuClient(pid=creator[0], name=creator[1], gpu_ns=total, queues=queues)


def gpu_time_by_pid(clients: Iterable[GpuClient | None]) -> dict[int, int]:
    """Total GPU ns per pid, over all of a pid's clients (a process may own several)."""
    totals: dict[int, int] = {}
    for client in clients:
        if client is not None:
            totals[client.pid] = totals.get(client.pid, 0) + client.gpu_ns
    return totals


@dataclass(frozen=True, slots=True)
class GpuDeviceStats:
    """The accelerator's own PerformanceStatistics (device-wide, not per process)."""

    device_utilization_percent: float | None
    renderer_utilization_percent: float | None
    tiler_utilization_percent: float | None
    in_use_system_memory_bytes: int | None
    alloc_system_memory_bytes: int | None
    model: str | None
    core_count: int | None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def device_stats(props: dict[str, Any]) -> GpuDeviceStats | None:
    """Stats of an accelerator entry; None when it has no PerformanceStatistics. Keys are
    looked up exactly, so "In use system memory (driver)" is never read as the total."""
    perf = props.get("PerformanceStatistics")
    if not isinstance(perf, dict):
        return None

    def pct(key: str) -> float | None:
        value = _number(perf.get(key))
        return None if value is None else float(value)

    def size(key: str) -> int | None:
        value = _number(perf.get(key))
        return None if value is None else int(value)

    model = props.get("model")
    cores = _number(props.get("gpu-core-count"))
    return GpuDeviceStats(
        device_utilization_percent=pct("Device Utilization %"),
        renderer_utilization_percent=pct("Renderer Utilization %"),
        tiler_utilization_percent=pct("Tiler Utilization %"),
        in_use_system_memory_bytes=size("In use system memory"),
        alloc_system_memory_bytes=size("Alloc system memory"),
        model=model if isinstance(model, str) else None,
        core_count=None if cores is None else int(cores),
    )


def device_system_figures(stats: GpuDeviceStats | None) -> dict[str, Any]:
    """System-level figures for Snapshot.system (units in the key names)."""
    if stats is None:
        return {}
    out: dict[str, Any] = {}
    if stats.device_utilization_percent is not None:
        out["gpu_device_utilization_percent"] = stats.device_utilization_percent
    if stats.in_use_system_memory_bytes is not None:
        out["gpu_memory_in_use_bytes"] = stats.in_use_system_memory_bytes
    return out


# -- ioreg text ----------------------------------------------------------------------------------


@dataclass(slots=True)
class IoregEntry:
    """One ``+-o NAME  <class CLASS, id 0x..., flags...>`` entry and its properties."""

    name: str
    class_name: str
    entry_id: int | None
    flags: list[str]
    depth: int  # column of "+-o": deeper entries are children
    line: int  # 1-based line of the "+-o"
    properties: dict[str, Any] = field(default_factory=dict)


_ENTRY = re.compile(
    r"^(?P<indent>[\s|]*)\+-o (?P<name>.*?)\s+<class (?P<cls>[^,>]+)(?P<rest>[^>]*)>"
)
_PROPERTY = re.compile(r'^\s*"(?P<key>(?:[^"\\]|\\.)*)"\s*=\s*(?P<value>.*?)\s*$')


class IoregValueError(ValueError):
    pass


class _ValueParser:
    """ioreg's value syntax: "str", 123, -4, 0x1f, 1.5, Yes/No, <hex data>, {"k"=v,...},
    (v,...). Unknown bare words are kept as strings."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> Any:
        value = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise IoregValueError(f"unexpected {self.text[self.pos : self.pos + 20]!r}")
        return value

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def value(self) -> Any:
        self.skip()
        if self.pos >= len(self.text):
            raise IoregValueError("value missing")
        ch = self.text[self.pos]
        if ch == '"':
            return self.string()
        if ch == "{":
            return self.container("{", "}", keyed=True)
        if ch == "(":
            return self.container("(", ")", keyed=False)
        if ch == "<":
            end = self.text.find(">", self.pos)
            if end < 0:
                raise IoregValueError("unterminated <data>")
            hexdigits = self.text[self.pos + 1 : end].replace(" ", "")
            self.pos = end + 1
            try:
                return bytes.fromhex(hexdigits)
            except ValueError:
                return hexdigits
        return self.bare()

    def string(self) -> str:
        out = []
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise IoregValueError("unterminated string")

    def bare(self) -> Any:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)}=":
            self.pos += 1
        word = self.text[start : self.pos].strip()
        if not word:
            raise IoregValueError("empty value")
        if word == "Yes":
            return True
        if word == "No":
            return False
        try:
            return int(word, 0)
        except ValueError:
            pass
        try:
            return float(word)
        except ValueError:
            return word

    def container(self, open_ch: str, close_ch: str, keyed: bool) -> Any:
        self.pos += 1
        items: Any = {} if keyed else []
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == close_ch:
            self.pos += 1
            return items
        while True:
            if keyed:
                self.skip()
                if self.pos >= len(self.text) or self.text[self.pos] != '"':
                    raise IoregValueError("dictionary key missing")
                key = self.string()
                self.skip()
                if self.pos >= len(self.text) or self.text[self.pos] != "=":
                    raise IoregValueError(f"'=' missing after {key!r}")
                self.pos += 1
                items[key] = self.value()
            else:
                items.append(self.value())
            self.skip()
            if self.pos >= len(self.text):
                raise IoregValueError(f"unterminated {open_ch}")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == close_ch:
                return items
            if ch != ",":
                raise IoregValueError(f"',' or {close_ch!r} expected, got {ch!r}")


def parse_ioreg_value(text: str) -> Any:
    """One property value as ioreg prints it."""
    return _ValueParser(text).parse()


def parse_ioreg(text: str) -> tuple[list[IoregEntry], list[str]]:
    """Entries of ``ioreg`` output (with ``-l``/``-r``/``-c``; ``-w 0`` keeps lines whole),
    and warnings for property lines that could not be read (skipped). A capture cut short
    keeps the entries and properties read so far."""
    entries: list[IoregEntry] = []
    warnings: list[str] = []
    current: IoregEntry | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        m = _ENTRY.match(line)
        if m is not None:
            rest = [f.strip() for f in m.group("rest").split(",") if f.strip()]
            entry_id = None
            flags = []
            for item in rest:
                if item.startswith("id "):
                    with contextlib.suppress(ValueError):
                        entry_id = int(item[3:], 16)
                else:
                    flags.append(item)
            current = IoregEntry(
                name=m.group("name").strip(),
                class_name=m.group("cls").strip(),
                entry_id=entry_id,
                flags=flags,
                depth=len(m.group("indent")),
                line=lineno,
            )
            entries.append(current)
            continue
        body = line.lstrip(" |")
        if current is None or not body or body in ("{", "}"):
            continue
        p = _PROPERTY.match(body)
        if p is None:
            warnings.append(f"line {lineno}: not a property line, skipped")
            continue
        try:
            current.properties[p.group("key")] = parse_ioreg_value(p.group("value"))
        except IoregValueError as exc:
            warnings.append(f"line {lineno}: {p.group('key')!r}: {exc}, skipped")
    return entries, warnings


def gpu_clients_from_ioreg(entries: Iterable[IoregEntry]) -> list[GpuClient]:
    clients = []
    for entry in entries:
        if entry.class_name == CLIENT_CLASS:
            client = client_from_properties(entry.properties)
            if client is not None:
                clients.append(client)
    return clients


def devices_from_ioreg(entries: Iterable[IoregEntry]) -> list[GpuDeviceStats]:
    return [s for e in entries if (s := device_stats(e.properties)) is not None]


# -- the live registry (ctypes, macOS only) -------------------------------------------------------

_IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
_CF = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
_UTF8 = 0x08000100  # kCFStringEncodingUTF8
_SINT64 = 4  # kCFNumberSInt64Type
_FLOAT64 = 6  # kCFNumberFloat64Type
_MAX_DEPTH = 8
_PROPERTY_KEYS = ("IOUserClientCreator", "AppUsage", "PerformanceStatistics", "model",
                  "gpu-core-count")  # fmt: skip


class IORegistryReader:
    """Reads accelerators and their user clients from the IORegistry, as plain dicts."""

    def __init__(self) -> None:
        if sys.platform != "darwin":
            raise SourceError("the IORegistry exists on macOS only")
        c = ctypes
        try:
            iokit = c.CDLL(_IOKIT)
            cf = c.CDLL(_CF)
        except OSError as exc:
            raise SourceError(f"cannot load IOKit: {exc}") from None
        u32, vp, long_ = c.c_uint32, c.c_void_p, c.c_long
        iokit.IOServiceMatching.argtypes = [c.c_char_p]
        iokit.IOServiceMatching.restype = vp
        iokit.IOServiceGetMatchingServices.argtypes = [u32, vp, c.POINTER(u32)]
        iokit.IOServiceGetMatchingServices.restype = c.c_int
        iokit.IOIteratorNext.argtypes = [u32]
        iokit.IOIteratorNext.restype = u32
        iokit.IOObjectRelease.argtypes = [u32]
        iokit.IOObjectRelease.restype = c.c_int
        iokit.IOObjectGetClass.argtypes = [u32, c.c_char_p]
        iokit.IOObjectGetClass.restype = c.c_int
        iokit.IORegistryEntryGetChildIterator.argtypes = [u32, c.c_char_p, c.POINTER(u32)]
        iokit.IORegistryEntryGetChildIterator.restype = c.c_int
        iokit.IORegistryEntryCreateCFProperty.argtypes = [u32, vp, vp, u32]
        iokit.IORegistryEntryCreateCFProperty.restype = vp
        cf.CFStringCreateWithCString.argtypes = [vp, c.c_char_p, u32]
        cf.CFStringCreateWithCString.restype = vp
        cf.CFStringGetLength.argtypes = [vp]
        cf.CFStringGetLength.restype = long_
        cf.CFStringGetMaximumSizeForEncoding.argtypes = [long_, u32]
        cf.CFStringGetMaximumSizeForEncoding.restype = long_
        cf.CFStringGetCString.argtypes = [vp, c.c_char_p, long_, u32]
        cf.CFStringGetCString.restype = c.c_ubyte
        cf.CFGetTypeID.argtypes = [vp]
        cf.CFGetTypeID.restype = c.c_ulong
        for name in ("CFStringGetTypeID", "CFNumberGetTypeID", "CFBooleanGetTypeID",
                     "CFArrayGetTypeID", "CFDictionaryGetTypeID", "CFDataGetTypeID"):  # fmt: skip
            getattr(cf, name).argtypes = []
            getattr(cf, name).restype = c.c_ulong
        cf.CFNumberGetValue.argtypes = [vp, long_, vp]
        cf.CFNumberGetValue.restype = c.c_ubyte
        cf.CFNumberIsFloatType.argtypes = [vp]
        cf.CFNumberIsFloatType.restype = c.c_ubyte
        cf.CFBooleanGetValue.argtypes = [vp]
        cf.CFBooleanGetValue.restype = c.c_ubyte
        cf.CFArrayGetCount.argtypes = [vp]
        cf.CFArrayGetCount.restype = long_
        cf.CFArrayGetValueAtIndex.argtypes = [vp, long_]
        cf.CFArrayGetValueAtIndex.restype = vp
        cf.CFDictionaryGetCount.argtypes = [vp]
        cf.CFDictionaryGetCount.restype = long_
        cf.CFDictionaryGetKeysAndValues.argtypes = [vp, c.POINTER(vp), c.POINTER(vp)]
        cf.CFDictionaryGetKeysAndValues.restype = None
        cf.CFDataGetLength.argtypes = [vp]
        cf.CFDataGetLength.restype = long_
        cf.CFDataGetBytePtr.argtypes = [vp]
        cf.CFDataGetBytePtr.restype = c.POINTER(c.c_ubyte)
        cf.CFRelease.argtypes = [vp]
        cf.CFRelease.restype = None
        self.iokit, self.cf = iokit, cf
        self._types = {
            cf.CFStringGetTypeID(): "string",
            cf.CFNumberGetTypeID(): "number",
            cf.CFBooleanGetTypeID(): "bool",
            cf.CFArrayGetTypeID(): "array",
            cf.CFDictionaryGetTypeID(): "dict",
            cf.CFDataGetTypeID(): "data",
        }
        # Keys live for the process's lifetime (a handful of small CFStrings).
        self._keys = {
            k: cf.CFStringCreateWithCString(None, k.encode(), _UTF8) for k in _PROPERTY_KEYS
        }

    # CoreFoundation -> Python ---------------------------------------------------------------

    def _string(self, ref: int) -> str:
        cf = self.cf
        size = cf.CFStringGetMaximumSizeForEncoding(cf.CFStringGetLength(ref), _UTF8) + 1
        buf = ctypes.create_string_buffer(size)
        if not cf.CFStringGetCString(ref, buf, size, _UTF8):
            return ""
        return buf.value.decode("utf-8", "replace")

    def to_python(self, ref: int | None, depth: int = 0) -> Any:
        """A CF object (not owned) as str/int/float/bool/list/dict/bytes; None if unknown."""
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

    def _property(self, entry: int, key: str) -> Any:
        ref = self.iokit.IORegistryEntryCreateCFProperty(entry, self._keys[key], None, 0)
        if not ref:
            return None
        try:
            return self.to_python(ref)
        finally:
            self.cf.CFRelease(ref)

    # IORegistry ---------------------------------------------------------------------------

    def _iterate(self, iterator: int) -> Iterator[int]:
        try:
            while obj := self.iokit.IOIteratorNext(iterator):
                try:
                    yield obj
                finally:
                    self.iokit.IOObjectRelease(obj)
        finally:
            self.iokit.IOObjectRelease(iterator)

    def _class(self, obj: int) -> str:
        buf = ctypes.create_string_buffer(128)  # io_name_t
        if self.iokit.IOObjectGetClass(obj, buf) != 0:
            return ""
        return buf.value.decode("ascii", "replace")

    def read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(client property dicts, accelerator property dicts)."""
        iokit = self.iokit
        matching = iokit.IOServiceMatching(ACCELERATOR_CLASS.encode())  # consumed below
        accelerators = ctypes.c_uint32(0)
        if iokit.IOServiceGetMatchingServices(0, matching, ctypes.byref(accelerators)) != 0:
            raise SourceError("IOServiceGetMatchingServices(IOAccelerator) failed")
        clients: list[dict[str, Any]] = []
        devices: list[dict[str, Any]] = []
        for acc in self._iterate(accelerators.value):
            devices.append(
                {
                    "class": self._class(acc),
                    "PerformanceStatistics": self._property(acc, "PerformanceStatistics"),
                    "model": self._property(acc, "model"),
                    "gpu-core-count": self._property(acc, "gpu-core-count"),
                }
            )
            children = ctypes.c_uint32(0)
            if iokit.IORegistryEntryGetChildIterator(acc, b"IOService", ctypes.byref(children)):
                continue
            for child in self._iterate(children.value):
                if self._class(child) != CLIENT_CLASS:
                    continue
                clients.append(
                    {
                        "IOUserClientCreator": self._property(child, "IOUserClientCreator"),
                        "AppUsage": self._property(child, "AppUsage"),
                    }
                )
        return clients, devices


# -- the source ---------------------------------------------------------------------------------


def probe() -> str | None:
    if sys.platform != "darwin":
        return "the IORegistry exists on macOS only"
    try:
        _, devices = IORegistryReader().read()
    except SourceError as exc:
        return str(exc)
    if not any(str(d.get("class", "")).startswith("AGX") for d in devices):
        return "no Apple GPU (AGX accelerator): per-process GPU time needs Apple Silicon"
    return None


def detail() -> str | None:
    try:
        clients, devices = IORegistryReader().read()
    except SourceError as exc:
        return str(exc)
    names = ", ".join(sorted({str(d.get("model") or d.get("class")) for d in devices}))
    return f"{names}; {len(clients)} GPU clients now"


class IokitGpuSource:
    """Augmenting source: ``gpu_ns`` per pid, plus device-wide utilization in ``system``."""

    name = NAME

    def __init__(self, reader: Any | None = None) -> None:
        self.reader = reader if reader is not None else IORegistryReader()

    def read(self) -> SourceReading:
        try:
            client_props, device_props = self.reader.read()
        except SourceError:
            raise
        except OSError as exc:
            raise SourceError(f"IORegistry read failed: {exc}") from None
        totals = gpu_time_by_pid(client_from_properties(p) for p in client_props)
        system: dict[str, Any] = {}
        for props in device_props:
            system.update(device_system_figures(device_stats(props)))
            if system:
                break
        return SourceReading(
            patches={pid: {"gpu_ns": ns} for pid, ns in totals.items()}, system=system
        )

    def close(self) -> None:
        pass
