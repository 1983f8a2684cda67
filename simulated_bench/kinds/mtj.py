"""Truth of an STT magnetic tunnel junction (see :mod:`devices.kinds.mtj`).

A circular junction of diameter d, always macrospin. R_P = RA / area, R_AP = R_P (1 + TMR(V)),
TMR(V) = TMR0 / (1 + (V / V_half)^2). The target state is set by the current sign alone
(positive current -> parallel, m = +1). A voltage over the MgO breakdown shorts the junction.
"""

from __future__ import annotations

import numpy as np

from devices.laws import neel_brown
from simulated_bench.kinds import NEEL_BROWN_NOTE as DESCRIBE_NOTE  # noqa: F401 (hil bench show)
from simulated_bench.kinds import neel_brown_describe as describe  # noqa: F401 (hil bench show)

DEFAULTS = {
    "fm_thickness_m": 1.3e-9,
    "anisotropy_J_m3": 2.0e5,
    "saturation_A_m": 1.0e6,
    "critical_current_density_A_m2": 3e10,
    "ra_ohm_m2": 10e-12,               # 10 ohm um^2
    "tmr": 1.2,
    "tmr_half_bias_V": 0.5,
    "series_resistance_ohm": 100.0,
    "read_noise_ohm": 2.0,
    "tau0_s": 1e-9,
    "exponent": 2.0,
    "temperature_K": 300.0,
    "breakdown_V": 1.3,
}
READS_HARD_AXIS_TILT = False


def nominal_parameters(group) -> dict:
    p = {**DEFAULTS, **group.params}
    area = np.pi / 4 * group.width_m ** 2
    return {
        **p,
        "delta": float(neel_brown.thermal_stability(p["anisotropy_J_m3"], area * p["fm_thickness_m"],
                                                    p["temperature_K"])),
        "ic0_A": p["critical_current_density_A_m2"] * area,
        "n_domains": 1,
        "cross_section_m2": area,
        "line_resistance_ohm": p["series_resistance_ohm"],
        "r_offset_ohm": p["ra_ohm_m2"] / area,     # R_P
        "r_ahe_ohm": p["tmr"],                     # TMR0
        "damage_limit": p["breakdown_V"],
    }


def junction_resistance(chip, idx, bias_V=0.0) -> float:
    """The barrier's resistance at a bias: R_P (1 + TMR(V) x the antiparallel fraction)."""
    tmr = chip.r_ahe_ohm[idx] / (1.0 + (bias_V / chip.params[idx]["tmr_half_bias_V"]) ** 2)
    ap_fraction = 1.0 - chip.up_regions[idx] / chip.n_domains[idx]
    return chip.r_offset_ohm[idx] * (1.0 + tmr * ap_fraction)


def switch_target(chip, idx, current_A, field_T) -> float:
    return float(np.sign(current_A))


def damage(chip, idx, current_A, voltage_V) -> tuple[str, str] | None:
    """("short", cause) when the voltage over the barrier breaks the MgO down, else None."""
    barrier_V = abs(current_A) * junction_resistance(chip, idx, abs(voltage_V))
    if not barrier_V > chip.damage_limit[idx]:
        return None
    return "short", (f"MgO breakdown: {barrier_V:.3g} V over the barrier, "
                     f"limit {chip.damage_limit[idx]:.3g} V")


def write_path_resistance(chip, idx, bias_V=0.0) -> float:
    return chip.line_resistance_ohm[idx] + junction_resistance(chip, idx, bias_V)


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    return junction_resistance(chip, idx, bias_V) + noise_ohm
