"""Truth of a ferrimagnetic SOT synapse (see :mod:`devices.kinds.ferrimagnet_synapse`).

The device: a Co-Gd ferrimagnet (multi-domain) on a w-wide heavy-metal write line (t_HM, a
few squares long), and a junction on top whose conductance follows the reversed fraction.

- **Write.** A pulse of density J = I / (w t_HM) and width t makes s = max(|J| - J_th, 0) /
  (J_nom - J_th) x t / t_nom nominal steps (:func:`devices.laws.synapse_conductance.pulse_steps`);
  J > 0 potentiates along G_ltp (nonlinearity ``nu_ltp``), J < 0 depresses along G_ltd
  (``nu_ltd``); N = ``n_pulses`` nominal pulses go from one end to the other. Each step gets
  cycle-to-cycle noise ``write_noise`` x s x (Gmax - Gmin) / N x eps; G stays in [Gmin, Gmax].
  The read current (a few uA, J << J_th) never steps it.
- **Read.** The read SMU measures 1 / G plus read noise (``read_noise_ohm`` at 1 NPLC).
- **Damage.** A density over ``electromigration_A_m2`` opens the line.

D2D: Gmin (``gmin_rel``), Gmax (``gmax_rel``), both nonlinearities (``nu_rel``, one draw per
device for both: a device is more or less nonlinear as a whole); the line through
``resistance_rel``. A fresh device sits at Gmin. The state lives in a :class:`SynapseState`
(``chip.kind_state[KIND]``). The helpers here (the write line's columns, the lognormal draws)
serve the other kinds on a heavy-metal line too.

Typical magnitudes (defaults): SOT in Co-Gd / Pt switches at ~1e10-1e11 A/m^2 (threshold
2e10, nominal 5e10 A/m^2 at 20 ns); the seed's synapse (ferrimagnetic SOT synapse and CeLU
neuron, all-spin CNN; ACS AMI 2024, DESIGN.md) is near linear and symmetric (nu ~ 1, tens of
states; nonlinearities of 1-5 are usual for other multi-level SOT and RRAM synapses);
junction conductances 0.2-0.4 mS (2.5-5 kohm, an on/off ratio of 2); cycle-to-cycle write
noise of 5-20 % of a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.benchfile import BenchFileError
from devices.kinds import ferrimagnet_synapse as kind
from devices.laws import synapse_conductance as law
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM, electromigration

NAME = kind.KIND.name
#: the write line (shared by the kinds on a heavy-metal line)
LINE_DEFAULTS = {
    "hm_thickness_m": 5e-9,            # Pt / W
    "resistivity_ohm_m": 1.0e-6,       # ~1e-6 ohm m for a thin W or Pt line
    "squares": 5.0,                    # line length / width: R_line ~ 1 kohm
    "series_resistance_ohm": 50.0,     # leads and contacts
    "electromigration_A_m2": 3e11,     # the line opens above this density
}
#: the columns every chip device has, at values that play no part for a non-switch kind
NOT_A_SWITCH = {"anisotropy_J_m3": 1e5, "saturation_A_m": 1e5, "tau0_s": 1e-9, "exponent": 1.0,
                "temperature_K": 300.0}


def fixed_placeholders(device_kind) -> tuple[str, ...]:
    """The NOT_A_SWITCH keys a kind does not declare: its truth has them, no bench file sets them."""
    return tuple(key for key in NOT_A_SWITCH if key not in device_kind.parameters)

#: defaults a bench file may not override: the chip's switch columns, unused by this kind
FIXED = fixed_placeholders(kind.KIND)
DEFAULTS = {
    **LINE_DEFAULTS,
    **kind.PROGRAMMING_DEFAULTS,
    **NOT_A_SWITCH,
    "gmin_S": 2.0e-4,                  # 5 kohm
    "gmax_S": 4.0e-4,                  # 2.5 kohm
    "nu_ltp": 1.0,                     # near linear (the seed: high linearity)
    "nu_ltd": 1.5,                     # ... and near symmetric
    "n_pulses": 50,                    # nominal pulses Gmin -> Gmax (tens of states)
    "write_noise": 0.15,               # c2c sigma of one step, in mean steps
    "threshold_density_A_m2": 2.0e10,  # no step below (the read current is far below)
    "read_noise_ohm": 2.0,             # rms at 1 NPLC on ~3 kohm
}
READS_HARD_AXIS_TILT = False


def line_columns(p: dict, width_m: float) -> dict:
    """The chip's shared columns of a device on a heavy-metal write line (cross-section, line
    resistance, damage limit), from its parameters ``p`` and width."""
    cross = width_m * p["hm_thickness_m"]
    return {"cross_section_m2": cross,
            "line_resistance_ohm": p["resistivity_ohm_m"] * p["squares"] / p["hm_thickness_m"]
            + p["series_resistance_ohm"],
            "damage_limit": p["electromigration_A_m2"], "n_domains": 1, "delta": 60.0}


def spread(rng, nominal, rel, count):
    """Lognormal D2D draws of relative sigma ``rel`` with mean ``nominal``."""
    if rel <= 0:
        return np.full(count, float(nominal))
    sigma = np.sqrt(np.log1p(rel * rel))
    return float(nominal) * np.exp(sigma * rng.standard_normal(count) - 0.5 * sigma * sigma)


def group_parameters(defaults: dict, group) -> dict:
    return {**defaults, **group.params}


def check_conductance_window(p: dict, group) -> None:
    """gmin_S < gmax_S: keys the bench file checks one by one, so a pair in the wrong order is
    a bench file's error here, not a traceback later (every synapse kind with a window)."""
    if not p["gmax_S"] > p["gmin_S"]:
        raise BenchFileError(f"group {group.size!r}: gmax_S {p['gmax_S']:g} S must be over gmin_S "
                             f"{p['gmin_S']:g} S; set them in that order in the bench file")


def window_columns(p: dict, group, ic0_density_A_m2: float) -> dict:
    """The chip columns of a line device with a conductance window: its parameters, the line's
    geometry, the drive that starts a change (``ic0_A``) and the window as resistances."""
    line = line_columns(p, group.width_m)
    return {**p, **line, "ic0_A": ic0_density_A_m2 * line["cross_section_m2"],
            "r_offset_ohm": 1.0 / p["gmin_S"], "r_ahe_ohm": 1.0 / p["gmax_S"]}


def nominal_parameters(group) -> dict:
    p = group_parameters(DEFAULTS, group)
    check_conductance_window(p, group)
    if not p["write_density_A_m2"] > p["threshold_density_A_m2"]:
        raise BenchFileError(f"group {group.size!r}: write_density_A_m2 "
                             f"{p['write_density_A_m2']:g} must be over threshold_density_A_m2 "
                             f"{p['threshold_density_A_m2']:g} A/m^2; raise it in the bench file")
    return window_columns(p, group, p["threshold_density_A_m2"])


@dataclass
class SynapseState:
    """Per-device truth and conductance of one chip's synapses (NaN for other kinds)."""

    gmin_S: np.ndarray
    gmax_S: np.ndarray
    nu_ltp: np.ndarray
    nu_ltd: np.ndarray
    n_pulses: np.ndarray
    write_noise: np.ndarray
    threshold_A_m2: np.ndarray
    nominal_A_m2: np.ndarray
    nominal_width_s: np.ndarray
    g_S: np.ndarray


def build_state(chip, groups, variability: dict, rng: np.random.Generator) -> SynapseState:
    """Draw the synapses' D2D parameters (after the chip's shared draws)."""
    n = len(chip)
    cols = {name: np.full(n, np.nan) for name in SynapseState.__dataclass_fields__ if name != "g_S"}
    for group in groups:
        idx = np.flatnonzero(chip.size == group.size)
        p, count = group_parameters(DEFAULTS, group), len(idx)
        gmin = spread(rng, p["gmin_S"], variability.get("gmin_rel", 0.0), count)
        gmax = spread(rng, p["gmax_S"], variability.get("gmax_rel", 0.0), count)
        cols["gmin_S"][idx] = gmin
        cols["gmax_S"][idx] = np.maximum(gmax, 1.05 * gmin)    # a range survives any draw
        scale = spread(rng, 1.0, variability.get("nu_rel", 0.0), count)
        cols["nu_ltp"][idx] = p["nu_ltp"] * scale
        cols["nu_ltd"][idx] = p["nu_ltd"] * scale
        cols["n_pulses"][idx] = p["n_pulses"]
        cols["write_noise"][idx] = p["write_noise"]
        cols["threshold_A_m2"][idx] = p["threshold_density_A_m2"]
        cols["nominal_A_m2"][idx] = p["write_density_A_m2"]
        cols["nominal_width_s"][idx] = p["write_width_s"]
    return SynapseState(**cols, g_S=cols["gmin_S"].copy())


def apply_pulse(chip, idx, current_A, width_s, rng, time_s) -> None:
    """One write pulse (after the chip's damage check): a step along LTP or LTD, with noise."""
    s: SynapseState = chip.kind_state[NAME]
    density = current_A / chip.cross_section_m2[idx]
    steps = float(law.pulse_steps(density, width_s, s.threshold_A_m2[idx], s.nominal_A_m2[idx],
                                  s.nominal_width_s[idx]))
    if steps <= 0:
        return
    direction = 1.0 if density > 0 else -1.0
    nu = s.nu_ltp[idx] if direction > 0 else s.nu_ltd[idx]
    g = float(law.step_conductance(s.g_S[idx], steps, direction, s.gmin_S[idx], s.gmax_S[idx],
                                   nu, s.n_pulses[idx]))
    g += s.write_noise[idx] * steps * float(law.mean_step_S(s.gmin_S[idx], s.gmax_S[idx],
                                                            s.n_pulses[idx])) * rng.standard_normal()
    s.g_S[idx] = min(max(g, s.gmin_S[idx]), s.gmax_S[idx])


def set_conductance(chip, idx, g_S: float) -> None:
    """Put a device at conductance ``g_S`` (clamped to its range): a test's starting point."""
    s: SynapseState = chip.kind_state[NAME]
    s.g_S[idx] = min(max(float(g_S), s.gmin_S[idx]), s.gmax_S[idx])


# switch_target, damage, write_path_resistance: the faces of every heavy-metal line device
# that is not a Neel-Brown switch (the DW synapse and the CeLU neuron take them from here)
def switch_target(chip, idx, current_A, field_T) -> float:
    """0: a synapse is not a Neel-Brown switch (the chip calls :func:`apply_pulse`)."""
    return 0.0


def damage(chip, idx, current_A, voltage_V) -> tuple[str, str] | None:
    return electromigration(chip, idx, current_A)


def write_path_resistance(chip, idx, bias_V=0.0) -> float:
    return chip.line_resistance_ohm[idx]


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    """The junction: 1 / G plus read noise."""
    return 1.0 / chip.kind_state[NAME].g_S[idx] + noise_ohm


def describe(chip, idx) -> list[tuple[str, int, str]]:
    s: SynapseState = chip.kind_state[NAME]
    return [("width", 8, f"{chip.width_m[idx] * 1e9:.0f}nm"),
            ("Gmin uS", 8, f"{s.gmin_S[idx] * 1e6:.1f}"), ("Gmax uS", 8, f"{s.gmax_S[idx] * 1e6:.1f}"),
            ("nu_p", 5, f"{s.nu_ltp[idx]:.2f}"), ("nu_d", 5, f"{s.nu_ltd[idx]:.2f}"),
            ("N", 4, f"{int(s.n_pulses[idx])}"), ("c2c", 5, f"{s.write_noise[idx]:.2f}"),
            ("Jth A/m2", 9, f"{s.threshold_A_m2[idx]:.2e}"),
            ("Jnom A/m2", 9, f"{s.nominal_A_m2[idx]:.2e}"),
            ("t_nom ns", 8, f"{s.nominal_width_s[idx] * 1e9:.0f}"),
            ("R_line", 7, f"{chip.line_resistance_ohm[idx]:.0f}"),
            ("G uS", 7, f"{s.g_S[idx] * 1e6:.1f}")]


DESCRIBE_NOTE = ("  (G_ltp(p) = Gmin + (Gmax - Gmin)(1 - exp(-nu_p p/N))/(1 - exp(-nu_p)), G_ltd its "
                 "mirror with nu_d; N nominal pulses end to end;",
                 "   a pulse of J, t makes (|J| - Jth)/(Jnom - Jth) t/t_nom steps; c2c: sigma of one "
                 "step in mean steps; G: now)")

__all__ = ["DEFAULTS", "DESCRIBE_NOTE", "FIXED", "LINE_DEFAULTS", "NOT_A_SWITCH", "fixed_placeholders", "OPEN_OHM", "SHORT_OHM",
           "SynapseState", "apply_pulse", "build_state", "check_conductance_window", "damage",
           "describe", "group_parameters", "line_columns", "window_columns",
           "nominal_parameters", "read_resistance", "set_conductance", "spread", "switch_target",
           "write_path_resistance"]
