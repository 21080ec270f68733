"""Energy: per-process power and Energy Impact on every platform, and energy over time.

- ``models``: the formulas (Linux model, pmenergy weights, Apple Silicon scale, RAPL split).
- ``pmenergy``: reading /usr/share/pmenergy plists; ``darwin``: the thin macOS layer.
- ``attribution``: what compute_ranking calls once per ranking (``attribute``).
- ``integrate``: joules / energy-impact-seconds per process or app over a period.

Energy Impact follows Activity Monitor's scale: 100 ~ one core busy at normal priority.
"""

from __future__ import annotations

from lagwatch.energy.attribution import ENERGY_SOURCES, attribute
from lagwatch.energy.models import WAKEUP_COST_S, modelled_energy_impact

__all__ = ["ENERGY_SOURCES", "WAKEUP_COST_S", "attribute", "modelled_energy_impact"]
