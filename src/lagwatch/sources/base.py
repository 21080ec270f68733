"""What a source is, and what it returns.

A *process source* lists every process and returns one :class:`ProcessSample` per process; the
first working one in priority order is the sampler's primary. An *augmenting source* (GPU,
network, powermetrics) returns patches keyed by pid that fill metrics the primary lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from lagwatch.model import ProcessSample


class SourceError(Exception):
    """A source cannot deliver data (it will be reported and dropped; others continue)."""


@dataclass(slots=True)
class SourceReading:
    processes: list[ProcessSample] | None = None  # process sources
    patches: dict[int, dict[str, Any]] = field(default_factory=dict)  # augmenting sources
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Source(Protocol):
    name: str

    def read(self) -> SourceReading: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source as `lagwatch sources` shows it, and how to make one."""

    name: str
    kind: Literal["processes", "augment"]
    platforms: tuple[str, ...]  # sys.platform prefixes it can run on
    metrics: tuple[str, ...]
    needs_root: bool
    description: str
    # Returns None when usable here, else the reason it is not.
    probe: Callable[[], str | None]
    factory: Callable[[], Source]
    # Lower runs first; the first source to know a metric provides it.
    priority: int = 50
    # For an available source, what it found here (library, version, device), shown by
    # `lagwatch sources` beside the reason unavailable ones give.
    detail: Callable[[], str | None] | None = None
