"""Energy figures that every platform shares: the Energy Impact model.

Energy Impact follows Activity Monitor's scale (100 ~ one core busy at normal priority). Where
no better source exists it is modelled like top's POWER and Chromium's reimplementation of
Apple's formula: CPU time plus a fixed CPU-time cost per wakeup.
"""

from __future__ import annotations

# Chromium's default.plist weight: each package-idle wakeup costs 200 us of CPU time.
WAKEUP_COST_S = 2e-4


def modelled_energy_impact(cpu_percent: float | None, wakeups_per_s: float | None) -> float | None:
    """EI = cpu_percent + 100 * 200us * wakeups/s. None when CPU is unknown."""
    if cpu_percent is None:
        return None
    return cpu_percent + 100.0 * WAKEUP_COST_S * (wakeups_per_s or 0.0)
