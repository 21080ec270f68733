"""Every energy formula against numbers worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from lagwatch.energy import modelled_energy_impact
from lagwatch.energy_models import (
    APPLE_SILICON_EI_PER_WATT,
    BUILTIN_WEIGHTS,
    PmenergyWeights,
    energy_impact_from_power,
    normalise_qos,
    pmenergy_energy_impact,
    rapl_delta_uj,
    split_by_cpu_share,
)

# -- Linux model ------------------------------------------------------------------------------


def test_linux_model_cpu_only_is_cpu_percent():
    # No wakeups, disk or network: EI is the CPU percentage (100 = one core busy).
    assert modelled_energy_impact(100.0, 0.0, 0.0, 0.0, 0.0) == 100.0
    assert modelled_energy_impact(37.5, None) == 37.5


def test_linux_model_every_term():
    # cpu 50 %, 100 wakeups/s, 1 MB/s read, 2 MB/s written, 1.5 MB/s network:
    #   wakeups 100 * 2e-4 s          = 0.02    s/s
    #   read    1e6 * 4.5e-10 s/B     = 0.00045 s/s
    #   write   2e6 * 2.4e-10 s/B     = 0.00048 s/s
    #   net     1.5e6 * 4e-6/1500 s/B = 0.004   s/s
    #   EI = 50 + 100 * 0.02493 = 52.493
    ei = modelled_energy_impact(50.0, 100.0, 1e6, 2e6, 1.5e6)
    assert ei == pytest.approx(52.493, abs=1e-9)


def test_linux_model_wakeups_alone():
    # A process at 0 % CPU waking 500 times a second: 500 * 2e-4 s = 0.1 s/s -> 10 EI.
    assert modelled_energy_impact(0.0, 500.0) == pytest.approx(10.0)


def test_linux_model_unknown_cpu_is_unknown():
    assert modelled_energy_impact(None, 1000.0, 1e9, 1e9, 1e9) is None


# -- macOS Intel: pmenergy weights ------------------------------------------------------------


def test_reference_worked_example_wakeups():
    # The reference (Chromium's test): 133 package-idle wakeups at 2e-4 s each, over 1 s:
    #   133 * 2e-4 s = 0.0266 s = 2.66e7 ns; * 1e-7 = 2.66 EI.
    ei = pmenergy_energy_impact(BUILTIN_WEIGHTS, 1.0, cpu_ns=0.0, idle_wakeups=133)
    assert ei == pytest.approx(2.66, abs=1e-12)


def test_reference_worked_example_background_cpu():
    # 100 ms of background-QoS CPU at weight 0.8 (default.plist), over 1 s:
    #   0.8 * 1e8 ns = 8e7 ns; * 1e-7 = 8.0 EI.
    ei = pmenergy_energy_impact(BUILTIN_WEIGHTS, 1.0, qos_ns={"background": 1e8})
    assert ei == pytest.approx(8.0, abs=1e-12)


def test_pmenergy_board_weights_all_terms():
    # Mac-7BA5B2DFE22DDD8C weights: kqos_background 0.39, kgpu_time 3.4, others 1.0, over 2 s:
    #   default 500 ms *1.0 = 5e8; background 100 ms * 0.39 = 3.9e7;
    #   user_interactive 20 ms * 1.0 = 2e7; 50 wakeups * 2e-4 s = 1e7 ns; GPU 10 ms * 3.4 = 3.4e7
    #   sum = 6.03e8 ns -> 60.3 EI-over-the-interval -> / 2 s = 30.15 EI
    weights = PmenergyWeights(kqos_background=0.39, kgpu_time=3.4)
    ei = pmenergy_energy_impact(
        weights,
        2.0,
        qos_ns={"default": 5e8, "background": 1e8, "user_interactive": 2e7},
        idle_wakeups=50,
        gpu_ns=1e7,
    )
    assert ei == pytest.approx(30.15, abs=1e-9)


def test_pmenergy_maintenance_counts_as_background():
    # No kqos_maintenance key exists: 100 ms of maintenance at background 0.39 = 3.9 EI.
    weights = PmenergyWeights(kqos_background=0.39)
    ei = pmenergy_energy_impact(weights, 1.0, qos_ns={"ri_cpu_time_qos_maintenance": 1e8})
    assert ei == pytest.approx(3.9)


def test_pmenergy_without_qos_uses_default_weight():
    # 250 ms of CPU with no QoS split, over 0.5 s, at kqos_default 1.0: 2.5e8 * 1e-7 / 0.5 = 50.
    assert pmenergy_energy_impact(BUILTIN_WEIGHTS, 0.5, cpu_ns=2.5e8) == pytest.approx(50.0)


def test_pmenergy_unknown_cpu_or_empty_interval():
    assert pmenergy_energy_impact(BUILTIN_WEIGHTS, 1.0, idle_wakeups=100) is None
    assert pmenergy_energy_impact(BUILTIN_WEIGHTS, 0.0, cpu_ns=1e9) is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ri_cpu_time_qos_user_interactive", "user_interactive"),
        ("qos_background_ns", "background"),
        ("UTILITY", "utility"),
        ("legacy", "legacy"),
    ],
)
def test_qos_key_names(key, expected):
    assert normalise_qos(key) == expected


def test_unknown_qos_class_gets_default_weight():
    weights = PmenergyWeights(kqos_default=0.5)
    assert weights.qos_weight("something_new") == 0.5


# -- Apple Silicon: from measured power --------------------------------------------------------


def test_apple_silicon_scale():
    # 100 EI per watt: 1.5 W -> 150; 0.02 W -> 2.
    assert APPLE_SILICON_EI_PER_WATT == 100.0
    assert energy_impact_from_power(1.5) == pytest.approx(150.0)
    assert energy_impact_from_power(0.02) == pytest.approx(2.0)
    assert energy_impact_from_power(None) is None
    assert energy_impact_from_power(math.nan) is None


# -- RAPL ----------------------------------------------------------------------------------------


def test_rapl_delta_plain():
    assert rapl_delta_uj(1_000_000, 3_500_000, 262_143_328_850) == 2_500_000


def test_rapl_delta_wraps():
    # max 262143328850 uJ; from 262143000000 to 500000: (262143328850 - 262143000000) + 500000
    # = 328850 + 500000 = 828850 uJ.
    assert rapl_delta_uj(262_143_000_000, 500_000, 262_143_328_850) == 828_850


def test_rapl_delta_backwards_without_range_is_unknown():
    assert rapl_delta_uj(5_000, 1_000, None) is None
    # A previous value beyond the range cannot be a wrap: a reset.
    assert rapl_delta_uj(9_000, 1_000, 8_000) is None


def test_split_by_cpu_share_hand_worked():
    # 12 W package; CPU 0.6 s, 0.3 s, 0.1 s, 0 s, unknown -> 7.2 W, 3.6 W, 1.2 W, 0 W, None.
    shares = split_by_cpu_share(12.0, {"a": 0.6, "b": 0.3, "c": 0.1, "d": 0.0, "e": None})
    assert shares["a"] == pytest.approx(7.2)
    assert shares["b"] == pytest.approx(3.6)
    assert shares["c"] == pytest.approx(1.2)
    assert shares["d"] == 0.0
    assert shares["e"] is None
    assert sum(v for v in shares.values() if v is not None) == pytest.approx(12.0)


def test_split_with_no_cpu_attributes_nothing():
    assert split_by_cpu_share(5.0, {"a": 0.0, "b": None}) == {"a": None, "b": None}
