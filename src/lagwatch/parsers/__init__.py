"""Pure parsers of captured output of macOS tools (top, powermetrics, nettop).

Each parser turns text or bytes into plain dataclasses and never touches the OS, so the same
code reads a capture pasted into an issue (`lagwatch analyze`) and a live child's stream (the
`top` and `powermetrics` sources). Damage is skipped with a warning; a capture with nothing
usable left raises :class:`lagwatch.parsers.errors.CaptureError`.
"""
