"""Truth of an SOT Hall bar (see :mod:`devices.kinds.sot_hall_bar`).

The w x w cross holds N = max(1, w^2 / a_nuc) independent nucleation regions (multi-domain
reversal for big bars, macrospin for small ones); each region's barrier is Delta = Ku V / kT
with V = min(w^2, a_nuc) t_FM, and Ic0 = Jc0 w t_HM. Switching needs the in-plane bias field:
the target state is sign(I) sign(Hx). Readout: R_xy = R_off + R_AHE m_z, m_z the mean over
regions. A current density over the electromigration limit opens the line.
"""

from __future__ import annotations

import numpy as np

from devices.laws import neel_brown
from simulated_bench.kinds import NEEL_BROWN_NOTE as DESCRIBE_NOTE
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM, electromigration
from simulated_bench.kinds import neel_brown_describe as describe

DEFAULTS = {
    "hm_thickness_m": 5e-9,
    "fm_thickness_m": 1.1e-9,
    "anisotropy_J_m3": 3.0e4,          # effective Ku of CoFeB near the reorientation
    "saturation_A_m": 1.0e6,           # Ms, for the anisotropy field Hk = 2 Ku / (mu0 Ms)
    "nucleation_diameter_m": 80e-9,    # size of one independently reversing region
    "critical_current_density_A_m2": 8e10,
    "resistivity_ohm_m": 2.0e-6,       # beta-Ta
    "squares": 4.0,                    # write-line length / width
    "series_resistance_ohm": 0.0,      # leads and contacts in series with the channel
    "r_offset_ohm": 5.0,
    "r_ahe_ohm": 1.0,
    "read_noise_ohm": 0.02,            # rms at 1 NPLC; scales as 1/sqrt(NPLC)
    "tau0_s": 1e-9,
    "exponent": 1.0,
    "temperature_K": 300.0,
    "min_bias_field_T": 1e-3,          # below this |Hx| SOT switching is not deterministic
    "electromigration_A_m2": 3e11,     # the line opens above this current density
}
#: an in-plane magnet (x) tilts m out of plane: the hard-axis loop shows in R_xy
READS_HARD_AXIS_TILT = True


def nominal_parameters(group) -> dict:
    p = {**DEFAULTS, **group.params}
    w = group.width_m
    a_nuc = np.pi / 4 * p["nucleation_diameter_m"] ** 2
    area = w * w
    volume = min(area, a_nuc) * p["fm_thickness_m"]
    cross = w * p["hm_thickness_m"]
    return {
        **p,
        "delta": float(neel_brown.thermal_stability(p["anisotropy_J_m3"], volume, p["temperature_K"])),
        "ic0_A": p["critical_current_density_A_m2"] * cross,
        "n_domains": max(1, int(round(area / a_nuc))),
        "cross_section_m2": cross,
        "line_resistance_ohm": (p["resistivity_ohm_m"] * p["squares"] / p["hm_thickness_m"]
                                + p["series_resistance_ohm"]),
        "r_offset_ohm": p["r_offset_ohm"],
        "r_ahe_ohm": p["r_ahe_ohm"],
        "damage_limit": p["electromigration_A_m2"],
    }


def switch_target(chip, idx, current_A, field_T) -> float:
    """The state a pulse drives toward: sign(I) sign(Hx); 0 (none) without enough bias field."""
    if abs(field_T) < chip.params[idx]["min_bias_field_T"]:
        return 0.0
    return float(np.sign(current_A) * np.sign(field_T))


def damage(chip, idx, current_A, voltage_V) -> tuple[str, str] | None:
    """("open", cause) when the pulse's current density electromigrates the line, else None."""
    return electromigration(chip, idx, current_A)


def write_path_resistance(chip, idx, bias_V=0.0) -> float:
    return chip.line_resistance_ohm[idx]


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    return chip.r_offset_ohm[idx] + chip.r_ahe_ohm[idx] * chip.magnetization(idx) + noise_ohm


__all__ = ["DEFAULTS", "DESCRIBE_NOTE", "OPEN_OHM", "SHORT_OHM", "damage", "nominal_parameters", "read_resistance",
           "describe", "switch_target", "write_path_resistance"]
