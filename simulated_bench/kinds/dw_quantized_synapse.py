"""Truth of a quantized domain-wall synapse (see :mod:`devices.kinds.dw_quantized_synapse`).

The device: a PMA track on a heavy-metal write line with K notches; one wall sits in notch
k in 0 .. K - 1 (a fresh device: k = 0); a junction over the track reads
G_k = Gmin + (Gmax - Gmin) k / (K - 1) (:mod:`devices.laws.notched_wall`).

- **Write.** A pulse of density J and width t frees the wall with p(J) = 1 - exp(-t / tau),
  tau = tau0 exp(Delta_pin (1 - |J| / J_dep)); a freed wall moves one notch along sign(J),
  two with the overshoot probability q; the end notches hold it.
- **Read.** 1 / G_k plus read noise. **Damage:** electromigration of the line.

D2D: J_dep (``jdep_rel``), Gmin, Gmax (``gmin_rel``, ``gmax_rel``); the line through
``resistance_rel``. Typical magnitudes (the seed: quantized stochastic DW synapses with 2, 3
and 5 states, arXiv 2111.07284): depinning from a notch at ~1e11 A/m^2 with a pinning barrier
of tens of kT (p from ~0.3 to ~0.9 over 0.90-0.95 J_dep at 20 ns); overshoot a few %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.kinds import dw_quantized_synapse as kind
from devices.laws import notched_wall
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM
from simulated_bench.kinds.ferrimagnet_synapse import (  # noqa: F401 (faces)
    LINE_DEFAULTS, NOT_A_SWITCH, check_conductance_window, damage, fixed_placeholders,
    group_parameters, spread, switch_target, window_columns, write_path_resistance)

NAME = kind.KIND.name
#: defaults a bench file may not override: the chip's switch columns, unused by this kind
FIXED = fixed_placeholders(kind.KIND)
DEFAULTS = {
    **LINE_DEFAULTS,
    **NOT_A_SWITCH,
    **kind.PROGRAMMING_DEFAULTS,       # p(J) ~ 0.7 at 20 ns: stochastic, as in the seed
    "levels": kind.LEVELS_DEFAULT,
    "depinning_density_A_m2": 1.0e11,
    "pinning_barrier_kT": 40.0,
    "tau0_s": 1e-9,
    "overshoot_probability": 0.03,
    "gmin_S": 2.0e-4,
    "gmax_S": 4.0e-4,
    "read_noise_ohm": 2.0,
}
READS_HARD_AXIS_TILT = False


def nominal_parameters(group) -> dict:
    p = group_parameters(DEFAULTS, group)
    check_conductance_window(p, group)
    return window_columns(p, group, p["depinning_density_A_m2"])


@dataclass
class NotchState:
    levels: np.ndarray
    jdep_A_m2: np.ndarray
    barrier_kT: np.ndarray
    tau0_s: np.ndarray
    overshoot: np.ndarray
    gmin_S: np.ndarray
    gmax_S: np.ndarray
    level: np.ndarray          # the notch the wall sits in (int)


def build_state(chip, groups, variability: dict, rng: np.random.Generator) -> NotchState:
    n = len(chip)
    cols = {name: np.full(n, np.nan) for name in NotchState.__dataclass_fields__ if name != "level"}
    for group in groups:
        idx = np.flatnonzero(chip.size == group.size)
        p, count = {**DEFAULTS, **group.params}, len(idx)
        cols["levels"][idx] = p["levels"]
        cols["jdep_A_m2"][idx] = spread(rng, p["depinning_density_A_m2"], variability.get("jdep_rel", 0.0), count)
        gmin = spread(rng, p["gmin_S"], variability.get("gmin_rel", 0.0), count)
        cols["gmin_S"][idx] = gmin
        cols["gmax_S"][idx] = np.maximum(spread(rng, p["gmax_S"], variability.get("gmax_rel", 0.0), count),
                                         1.05 * gmin)
        cols["barrier_kT"][idx] = p["pinning_barrier_kT"]
        cols["tau0_s"][idx] = p["tau0_s"]
        cols["overshoot"][idx] = p["overshoot_probability"]
    return NotchState(**cols, level=np.zeros(n, dtype=np.int64))


def apply_pulse(chip, idx, current_A, width_s, rng, time_s) -> None:
    """One write pulse: the wall stays, or moves one notch (two on an overshoot)."""
    s: NotchState = chip.kind_state[NAME]
    density = current_A / chip.cross_section_m2[idx]
    p = float(notched_wall.depinning_probability(abs(density), width_s, s.jdep_A_m2[idx],
                                                 s.barrier_kT[idx], s.tau0_s[idx]))
    if not rng.random() < p:
        return
    move = 2 if rng.random() < s.overshoot[idx] else 1
    top = int(s.levels[idx]) - 1
    s.level[idx] = min(max(int(s.level[idx]) + (move if density > 0 else -move), 0), top)


def set_level(chip, idx, level: int) -> None:
    s: NotchState = chip.kind_state[NAME]
    s.level[idx] = min(max(int(level), 0), int(s.levels[idx]) - 1)


def conductance_S(chip, idx) -> float:
    s: NotchState = chip.kind_state[NAME]
    return float(notched_wall.level_conductance(s.level[idx], s.levels[idx], s.gmin_S[idx], s.gmax_S[idx]))


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    return 1.0 / conductance_S(chip, idx) + noise_ohm


def describe(chip, idx) -> list[tuple[str, int, str]]:
    s: NotchState = chip.kind_state[NAME]
    p50 = float(notched_wall.depinning_probability(
        chip.params[idx]["write_density_A_m2"], chip.params[idx]["write_width_s"], s.jdep_A_m2[idx],
        s.barrier_kT[idx], s.tau0_s[idx]))
    return [("width", 8, f"{chip.width_m[idx] * 1e9:.0f}nm"), ("K", 3, f"{int(s.levels[idx])}"),
            ("Jdep A/m2", 9, f"{s.jdep_A_m2[idx]:.3e}"), ("Dpin", 5, f"{s.barrier_kT[idx]:.0f}"),
            ("p(Jnom)", 7, f"{p50:.3f}"), ("q over", 6, f"{s.overshoot[idx]:.3f}"),
            ("Gmin uS", 8, f"{s.gmin_S[idx] * 1e6:.1f}"), ("Gmax uS", 8, f"{s.gmax_S[idx] * 1e6:.1f}"),
            ("R_line", 7, f"{chip.line_resistance_ohm[idx]:.0f}"), ("k", 3, f"{int(s.level[idx])}")]


DESCRIBE_NOTE = ("  (K notches, G_k = Gmin + (Gmax - Gmin) k/(K-1); p(Jnom): depinning probability of "
                 "the group's programming pulse;",
                 "   Dpin: pinning barrier in kT; q over: overshoot probability (two notches); k: "
                 "the notch now)")

__all__ = ["DEFAULTS", "DESCRIBE_NOTE", "NotchState", "OPEN_OHM", "SHORT_OHM", "apply_pulse",
           "build_state", "conductance_S", "damage", "describe", "nominal_parameters",
           "read_resistance", "set_level", "switch_target", "write_path_resistance"]
