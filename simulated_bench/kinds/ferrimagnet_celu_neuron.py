"""Truth of a ferrimagnetic CeLU neuron (see :mod:`devices.kinds.ferrimagnet_celu_neuron`).

The device: a Co-Gd Hall cross on a heavy-metal line. An input current pulse I (either sign)
sets the multi-domain state, read as R_xy = R0 + g celu(I; a) (:mod:`devices.laws.celu`) plus
read noise: linear for I >= 0, saturating at R0 - g a for large negative I. The state holds
until the next input; a current below ``input_threshold_A`` (the read current among them)
leaves it. A fresh device reads R0.

D2D: a (``alpha_rel``), g (``gain_rel``), R0 and the line through ``resistance_rel``.
Typical magnitudes: a Hall cross a few um wide on 5 nm Pt (I ~ 1 mA at 1e11 A/m^2);
anomalous-Hall swings of ~1 ohm over a mA (g ~ 1 kohm/A), a ~ 0.3 mA, Hall offset ~5 ohm,
read noise ~0.01 ohm at 1 NPLC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.kinds import ferrimagnet_celu_neuron as kind
from devices.laws import celu
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM
from simulated_bench.kinds.ferrimagnet_synapse import (  # noqa: F401 (faces)
    LINE_DEFAULTS, NOT_A_SWITCH, damage, fixed_placeholders, line_columns, spread,
    switch_target, write_path_resistance)

NAME = kind.KIND.name
#: defaults a bench file may not override: the chip's switch columns, unused by this kind
FIXED = fixed_placeholders(kind.KIND)
DEFAULTS = {
    **LINE_DEFAULTS,
    **NOT_A_SWITCH,
    "squares": 2.0,                    # a cross: R_line ~ 450 ohm
    "input_width_s": kind.INPUT_WIDTH_S,
    "input_threshold_A": 5e-6,         # smaller currents leave the state
    "r_offset_ohm": 5.0,               # R0, the Hall offset
    "gain_ohm_per_A": 1.0e3,           # 1 ohm of Hall output per mA
    "alpha_A": 3.0e-4,                 # the negative branch's current scale
    "read_noise_ohm": 0.01,            # rms at 1 NPLC
}
READS_HARD_AXIS_TILT = False


def nominal_parameters(group) -> dict:
    p = {**DEFAULTS, **group.params}
    line = line_columns(p, group.width_m)
    return {**p, **line, "ic0_A": p["input_threshold_A"],
            "r_offset_ohm": p["r_offset_ohm"], "r_ahe_ohm": p["gain_ohm_per_A"] * p["alpha_A"]}


@dataclass
class NeuronState:
    alpha_A: np.ndarray
    gain_ohm_per_A: np.ndarray
    threshold_A: np.ndarray
    input_A: np.ndarray        # the last input that set the state


def build_state(chip, groups, variability: dict, rng: np.random.Generator) -> NeuronState:
    n = len(chip)
    cols = {name: np.full(n, np.nan) for name in ("alpha_A", "gain_ohm_per_A", "threshold_A")}
    for group in groups:
        idx = np.flatnonzero(chip.size == group.size)
        p, count = {**DEFAULTS, **group.params}, len(idx)
        cols["alpha_A"][idx] = spread(rng, p["alpha_A"], variability.get("alpha_rel", 0.0), count)
        cols["gain_ohm_per_A"][idx] = spread(rng, p["gain_ohm_per_A"], variability.get("gain_rel", 0.0), count)
        cols["threshold_A"][idx] = p["input_threshold_A"]
    return NeuronState(**cols, input_A=np.zeros(n))


def apply_pulse(chip, idx, current_A, width_s, rng, time_s) -> None:
    s: NeuronState = chip.kind_state[NAME]
    if abs(current_A) >= s.threshold_A[idx]:
        s.input_A[idx] = current_A


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    s: NeuronState = chip.kind_state[NAME]
    return float(celu.hall_output_ohm(s.input_A[idx], chip.r_offset_ohm[idx], s.gain_ohm_per_A[idx],
                                      s.alpha_A[idx])) + noise_ohm


def describe(chip, idx) -> list[tuple[str, int, str]]:
    s: NeuronState = chip.kind_state[NAME]
    return [("width", 8, f"{chip.width_m[idx] * 1e9:.0f}nm"),
            ("R0 ohm", 7, f"{chip.r_offset_ohm[idx]:.3f}"),
            ("gain ohm/A", 10, f"{s.gain_ohm_per_A[idx]:.1f}"),
            ("alpha uA", 8, f"{s.alpha_A[idx] * 1e6:.1f}"),
            ("I_th uA", 7, f"{s.threshold_A[idx] * 1e6:.1f}"),
            ("R_line", 7, f"{chip.line_resistance_ohm[idx]:.0f}")]


DESCRIBE_NOTE = ("  (R_xy = R0 + gain celu(I; alpha) after an input pulse I; celu(x) = x for x >= 0, "
                 "alpha (exp(x/alpha) - 1) below;",
                 "   inputs under I_th leave the state)")

__all__ = ["DEFAULTS", "DESCRIBE_NOTE", "NeuronState", "OPEN_OHM", "SHORT_OHM", "apply_pulse",
           "build_state", "damage", "describe", "nominal_parameters", "read_resistance",
           "switch_target", "write_path_resistance"]
