"""Pure parsers of captured output of macOS tools (top, powermetrics, nettop, ioreg).

Each parser turns text or bytes into plain dataclasses and never touches the OS, so the same
code reads a capture pasted into an issue (`lagwatch analyze`) and a live child's stream (the
`top` and `powermetrics` sources). Damage is skipped with a warning; a capture with nothing
usable left raises :class:`lagwatch.parsers.errors.CaptureError`.

``top_convert`` turns top's blocks into ProcessSamples for both of those callers. Parsers
import only lagwatch.model and each other: sources and captures build on them, never the
reverse.
"""
