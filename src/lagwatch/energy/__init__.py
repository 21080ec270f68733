"""Energy: per-process power and Energy Impact on every platform, and energy over time.

- the formulas live in ``lagwatch.energy_models`` (sources use them too); pmenergy weights and
  the macOS machine facts are read by ``sources.pmenergy`` and ``sources.macos_machine``.
- ``attribution``: what compute_ranking calls once per ranking (``attribute``).
- ``integrate``: joules / energy-impact-seconds per process or app over a period.

Energy Impact follows Activity Monitor's scale: 100 ~ one core busy at normal priority.
"""

from __future__ import annotations

from lagwatch.energy.attribution import ENERGY_SOURCES, attribute
from lagwatch.energy_models import WAKEUP_COST_S, modelled_energy_impact

__all__ = ["ENERGY_SOURCES", "WAKEUP_COST_S", "attribute", "modelled_energy_impact"]
