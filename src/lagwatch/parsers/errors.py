"""The one error a capture parser raises: the input is not that format, or nothing usable is left.

Parsers are pure (text or bytes in, dataclasses out) and tolerate damage they can step over (a
row cut short, a stray line, a truncated last document) by skipping it with a warning; only when
no sample survives do they raise :class:`CaptureError`, which the CLI prints as one line
``FILE:LINE: message`` with exit status 2.
"""

from __future__ import annotations


class CaptureError(ValueError):
    """Unusable capture. ``line`` is 1-based (the line where parsing gave up), or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"
