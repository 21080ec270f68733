"""Activity Monitor's per-model Energy Impact weights: /usr/share/pmenergy/<board-id>.plist.

Lookup order (as libpmenergy is observed to do it): the machine's board-id plist, then
``default.plist``, then lagwatch's built-in copy of default.plist. A plist that cannot be used
gives one clear line naming the file and what is used instead; it never stops sampling.
"""

from __future__ import annotations

import math
import os
import plistlib
from typing import Any

from lagwatch import platform_seam
from lagwatch.energy_models import BUILTIN_WEIGHTS, COEFFICIENT_KEYS, PmenergyWeights

PMENERGY_DIR = platform_seam.PMENERGY_DIR
_MAX_PLIST_BYTES = 1 << 20  # the real files are ~1 KB; anything huge is not one of them


class PmenergyError(ValueError):
    """A pmenergy plist that cannot be used (the message is one line)."""


def parse_weights(data: bytes, origin: str) -> PmenergyWeights:
    """Coefficients from one plist's bytes. Keys missing from the file keep the built-in value
    (Apple Silicon's default.plist has no network keys); a present key must be a finite
    non-negative number."""
    try:
        doc: Any = plistlib.loads(data)
    except Exception as exc:  # plistlib raises several unrelated types for bad input
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise PmenergyError(f"not a readable plist ({reason})") from None
    if not isinstance(doc, dict):
        raise PmenergyError(f"top level is a {type(doc).__name__}, not a dict")
    constants = doc.get("energy_constants")
    if not isinstance(constants, dict):
        raise PmenergyError("no 'energy_constants' dict")
    values: dict[str, float] = {}
    for key in COEFFICIENT_KEYS:
        if key not in constants:
            continue
        value = constants[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PmenergyError(f"{key} is {value!r}, not a number")
        if not math.isfinite(value) or value < 0:
            raise PmenergyError(f"{key} is {value!r}, not a finite non-negative number")
        values[key] = float(value)
    if not values:
        raise PmenergyError("'energy_constants' holds none of the known coefficients")
    base = {key: getattr(BUILTIN_WEIGHTS, key) for key in COEFFICIENT_KEYS}
    base.update(values)
    return PmenergyWeights(**base, origin=origin)


def load_weights(
    board_id: str | None, directory: str = PMENERGY_DIR
) -> tuple[PmenergyWeights, list[str]]:
    """The weights for this machine and one warning line per plist that had to be skipped.

    A missing file is normal (Apple Silicon has no board-id plist) and is not warned about."""
    candidates = []
    if board_id:
        candidates.append(os.path.join(directory, f"{board_id}.plist"))
    candidates.append(os.path.join(directory, "default.plist"))
    problems: list[tuple[str, str]] = []
    chosen = BUILTIN_WEIGHTS
    for path in candidates:
        try:
            with open(path, "rb") as fh:
                data = fh.read(_MAX_PLIST_BYTES + 1)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append((path, f"cannot be read ({exc.strerror or exc})"))
            continue
        if len(data) > _MAX_PLIST_BYTES:
            problems.append((path, f"is larger than {_MAX_PLIST_BYTES} bytes"))
            continue
        try:
            chosen = parse_weights(data, origin=path)
            break
        except PmenergyError as exc:
            problems.append((path, f"is malformed: {exc}"))
    used = chosen.origin
    warnings = [f"pmenergy: {path} {why}; Energy Impact uses {used}" for path, why in problems]
    return chosen, warnings


_machine: PmenergyWeights | None = None


def machine_weights() -> tuple[PmenergyWeights, list[str]]:
    """This Mac's weights, read once; the warnings are returned the first time only."""
    global _machine
    if _machine is not None:
        return _machine, []
    from lagwatch.sources import macos_machine as darwin

    weights, warnings = load_weights(darwin.board_id(), platform_seam.pmenergy_dir())
    _machine = weights
    return weights, warnings
