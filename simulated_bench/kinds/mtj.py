"""Truth of an STT magnetic tunnel junction (see :mod:`devices.kinds.mtj`).

A circular junction of diameter d, always macrospin. R_P = RA / area, R_AP = R_P (1 + TMR(V)),
TMR(V) = TMR0 / (1 + (V / V_half)^2) (:mod:`devices.laws.stt_switching`), V the voltage over the
barrier itself: the part of a pulse's (or read's) path voltage that the junction takes from the
leads in series, solved self-consistently, so the write current depends on the bias and on the
state (R_P or R_AP). The target state is set by the current sign alone (positive current ->
parallel, m = +1). A voltage over the MgO breakdown (the barrier's own, from the current) shorts
the junction.
"""

from __future__ import annotations

import numpy as np

from devices.laws import neel_brown, stt_switching
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


#: fixed-point steps of the junction's own bias (TMR(V) makes R_AP depend on it)
BIAS_STEPS = 6


def junction_resistance(chip, idx, bias_V=0.0) -> float:
    """The barrier's resistance at the voltage ``bias_V`` over it: R_P (1 + TMR(V) x the
    antiparallel fraction), TMR(V) from :mod:`devices.laws.stt_switching`."""
    tmr = float(stt_switching.tmr_at_bias(chip.r_ahe_ohm[idx], abs(bias_V),
                                          chip.params[idx]["tmr_half_bias_V"]))
    ap_fraction = 1.0 - chip.up_regions[idx] / chip.n_domains[idx]
    return chip.r_offset_ohm[idx] * (1.0 + tmr * ap_fraction)


def junction_bias_V(chip, idx, path_V: float) -> float:
    """The voltage over the barrier when ``path_V`` is over the whole write path (leads in
    series): V_j = V R_j(V_j) / (R_line + R_j(V_j)), solved by fixed point. It depends on the
    state (R_P or R_AP) and, through TMR(V), on the bias itself."""
    v = abs(path_V)
    junction = v
    for _ in range(BIAS_STEPS):
        r = junction_resistance(chip, idx, junction)
        junction = v * r / (chip.line_resistance_ohm[idx] + r)
    return junction


def barrier_voltage_V(chip, idx, current_A: float) -> float:
    """The voltage over the barrier that carries ``current_A``: V = |I| R_j(V), fixed point."""
    v = abs(current_A) * junction_resistance(chip, idx, 0.0)
    for _ in range(BIAS_STEPS):
        v = abs(current_A) * junction_resistance(chip, idx, v)
    return v


def switch_target(chip, idx, current_A, field_T) -> float:
    return float(np.sign(current_A))


def damage(chip, idx, current_A, voltage_V) -> tuple[str, str] | None:
    """("short", cause) when the voltage over the barrier breaks the MgO down, else None."""
    barrier_V = barrier_voltage_V(chip, idx, current_A)
    if not barrier_V > chip.damage_limit[idx]:
        return None
    return "short", (f"MgO breakdown: {barrier_V:.3g} V over the barrier, "
                     f"limit {chip.damage_limit[idx]:.3g} V")


def write_path_resistance(chip, idx, bias_V=0.0) -> float:
    """Leads plus junction with ``bias_V`` over the whole path: the junction's share of it
    sets its resistance (state and bias), so a write current depends on both."""
    return chip.line_resistance_ohm[idx] + junction_resistance(chip, idx,
                                                               junction_bias_V(chip, idx, bias_V))


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    """The junction (four-wire) at the read's bias ``bias_V`` over the two-terminal path."""
    return junction_resistance(chip, idx, junction_bias_V(chip, idx, bias_V)) + noise_ohm
