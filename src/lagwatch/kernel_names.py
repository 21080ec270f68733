"""Process names as the macOS kernel keeps them: cut at a number of *bytes*, not characters.

At exec, XNU copies the executable's file name into ``p_comm`` (at most MAXCOMLEN = 16 bytes)
and ``p_name`` (at most 2 * MAXCOMLEN = 32 bytes) with a plain byte copy (bsd/kern/kern_exec.c
``set_proc_name``), so a non-ASCII name can be cut inside a UTF-8 character. Each reader then
sees its own cut of it:

- top's COMMAND is ``p_comm`` (kinfo_proc): up to 16 bytes (top's libtop.c);
- libproc's ``pbi_comm``/``pbsi_comm`` (char[16], NUL-terminated by the kernel) keep 15 bytes,
  ``pbi_name`` and ``proc_name()`` (char[32]) keep 31;
- nettop prints 15 bytes before ``.pid``;
- IOKit's ``IOUserClientCreator`` (``"pid N, NAME"``, IOCopyLogNameForPID in IOKit's
  IOLib.cpp) takes NAME from the kernel's ``proc_name()``, a copy of ``p_comm``: up to 16 bytes.

So a name is *possibly cut* when it fills its field or ends inside a character; the trailing
partial character is dropped before the name is shown or completed from the executable path.
"""

from __future__ import annotations

MAXCOMLEN = 16
TOP_COMMAND_BYTES = MAXCOMLEN  # p_comm as top prints it
PBI_COMM_BYTES = MAXCOMLEN - 1  # pbi_comm / pbsi_comm
PBI_NAME_BYTES = 2 * MAXCOMLEN - 1  # pbi_name, proc_name()
NETTOP_NAME_BYTES = MAXCOMLEN - 1
IOKIT_CREATOR_BYTES = MAXCOMLEN  # kernel proc_name(): p_comm


def _sequence_length(lead: int) -> int:
    """Bytes in the UTF-8 character that starts with ``lead`` (0: not a lead byte)."""
    if lead < 0x80:
        return 1
    if lead & 0xE0 == 0xC0:
        return 2
    if lead & 0xF0 == 0xE0:
        return 3
    if lead & 0xF8 == 0xF0:
        return 4
    return 0


def partial_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` are an incomplete UTF-8 character (0 to 3)."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for its lead byte
            continue
        return back if _sequence_length(byte) > back else 0
    return 0  # only continuation bytes: invalid, not cut (the decoder replaces them)


def drop_partial_tail(data: bytes) -> bytes:
    n = partial_tail(data)
    return data[:-n] if n else data


def cut(data: bytes, limit: int) -> bytes:
    """``data`` as a field of ``limit`` bytes would hold it, without a split last character."""
    return drop_partial_tail(data[:limit])


def decode(raw: bytes) -> str:
    """A kernel name's bytes as text: a character cut in half is dropped, other invalid bytes
    are replaced (U+FFFD)."""
    return drop_partial_tail(raw).decode("utf-8", "replace")


def may_be_cut(raw: bytes, limit: int) -> bool:
    """Whether a name read from a field of ``limit`` bytes may have been cut by the kernel."""
    return len(raw) >= limit or partial_tail(raw) > 0


def read_printed(text: str, limit: int) -> tuple[str, bool]:
    """A name a tool or API printed from a field of ``limit`` bytes -> (name, may be cut). The
    text may come decoded with ``surrogateescape`` (the bytes survive, a character cut in half
    is dropped here) or with ``replace`` (a character cut in half reads U+FFFD at the end)."""
    data = text.encode("utf-8", "surrogateescape" if _escapes_only(text) else "replace")
    cut_here = may_be_cut(data, limit)
    name = decode(data)
    if name.endswith("\ufffd"):
        name, cut_here = name[:-1], True
    return name, cut_here


def _escapes_only(text: str) -> bool:
    """No surrogate in ``text`` but surrogateescape's (U+DC80..U+DCFF): it encodes back."""
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def same_name(full: str, shown: str, limit: int) -> bool:
    """Whether ``shown`` (a name a tool printed, cut at ``limit`` bytes) can be ``full``."""
    if full == shown:
        return True
    if full.isascii() and shown.isascii():
        return full[:limit] == shown[:limit]
    a = cut(full.encode("utf-8", "replace"), limit)
    b = cut(shown.encode("utf-8", "replace"), limit)
    return a == b
