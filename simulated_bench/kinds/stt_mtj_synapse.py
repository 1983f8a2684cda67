"""Truth of an STT-MTJ binary stochastic synapse in a passive crossbar (see
:mod:`devices.kinds.stt_mtj_synapse`; the circuit is :mod:`simulated_bench.crossbar`).

- **Junction.** A circular MTJ of diameter d = ``width_m``, a macrospin: R_P = RA / area,
  R_AP = R_P (1 + TMR(V)), TMR(V) = TMR0 / (1 + (V / V_half)^2)
  (:mod:`devices.laws.stt_switching`). State P (m = +1) or AP (m = -1); a new chip is all AP.
- **Write.** A voltage V over the barrier for a time t (a pulse, or a read's integration)
  switches P -> AP when V > 0 (row line above column line) and AP -> P when V < 0, with
  P_sw = 1 - exp(-t / tau), tau = tau0 exp(Delta (1 - |V| / Vc)^n), Vc = ``vc_p_to_ap_V``
  or ``vc_ap_to_p_V`` by direction, n = ``exponent`` (2: Taniguchi-Imamura). A voltage toward
  the state the junction holds changes nothing. One uniform draw per junction per event
  (whether it can switch or not), so the stream does not depend on the states.
- **D2D.** Delta (Ku V / kT) by ``delta_rel``; each direction's Vc by ``vc_rel``
  (independent draws); R_P and TMR0 by ``resistance_rel`` (the chip's shared draws).
- **Damage.** |V| over ``breakdown_V`` breaks the MgO down: the junction shorts (``SHORT_OHM``)
  and ties its row and column lines together from then on, as a real shorted cell does.

The chip's shared columns hold, for this kind: ``ic0_A`` = Vc(P -> AP) in volts (the
critical drive), ``r_offset_ohm`` = R_P, ``r_ahe_ohm`` = TMR0, ``damage_limit`` = the
breakdown voltage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from devices.kinds import stt_mtj_synapse as kind
from devices.laws import neel_brown, stt_switching
from simulated_bench.chip import DamageEvent
from simulated_bench.crossbar import CrossbarNetwork
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM

NAME = kind.KIND.name
DEFAULTS = {
    **kind.DESIGN_DEFAULTS,
    "fm_thickness_m": 1.3e-9,
    "anisotropy_J_m3": 5.0e4,          # effective Ku: Delta ~ 44 at 60 nm
    "temperature_K": 300.0,
    "tau0_s": 1e-9,
    "exponent": 2.0,
    "vc_p_to_ap_V": 0.9,               # P -> AP needs more (lower spin-torque efficiency)
    "vc_ap_to_p_V": 0.65,
    "breakdown_V": 1.3,
    "cell_line_resistance_ohm": 2.0,   # one junction pitch of a row or column line
    "line_access_resistance_ohm": 20.0,  # card trace, cable, pad and relay of a line
}
READS_HARD_AXIS_TILT = False
#: the pulse width at which ``hil bench show`` quotes each direction's V50
REFERENCE_WIDTH_S = 100e-9


def nominal_parameters(group) -> dict:
    p = {**DEFAULTS, **group.params}
    area = np.pi / 4 * group.width_m ** 2
    return {
        **p,
        "delta": float(neel_brown.thermal_stability(p["anisotropy_J_m3"], area * p["fm_thickness_m"],
                                                    p["temperature_K"])),
        "ic0_A": p["vc_p_to_ap_V"],                  # the critical drive: a voltage here
        "n_domains": 1,
        "cross_section_m2": area,
        "line_resistance_ohm": p["line_access_resistance_ohm"],
        "r_offset_ohm": p["ra_ohm_m2"] / area,       # R_P
        "r_ahe_ohm": p["tmr"],                       # TMR0
        "damage_limit": p["breakdown_V"],
        "saturation_A_m": 1.0e6,                     # (Hk for the chip's field model)
        "read_noise_ohm": 0.0,                       # the read SMU's current noise instead
    }


@dataclass
class SynapseState:
    """Per-junction truth beyond the chip's shared columns (NaN for other kinds' devices)
    and the chip's crossbars."""

    vc_p_to_ap_V: np.ndarray
    vc_ap_to_p_V: np.ndarray
    half_bias_V: np.ndarray
    crossbars: list[CrossbarNetwork] = field(default_factory=list)
    position: dict = field(default_factory=dict)    # device index -> (row, column)


def _spread(rng, nominal, rel, count):
    if rel <= 0:
        return np.full(count, float(nominal))
    sigma = np.sqrt(np.log1p(rel * rel))
    return float(nominal) * np.exp(sigma * rng.standard_normal(count) - 0.5 * sigma * sigma)


def build_state(chip, groups, variability: dict, rng: np.random.Generator) -> SynapseState:
    """Draw each direction's Vc and lay out each group's crossbar (after the chip's shared
    draws, so a bench without this kind draws exactly as before)."""
    n = len(chip)
    state = SynapseState(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))
    for group in groups:
        idx = np.flatnonzero(chip.size == group.size)
        p = {**DEFAULTS, **group.params}
        rel = variability.get("vc_rel", 0.0)
        state.vc_p_to_ap_V[idx] = _spread(rng, p["vc_p_to_ap_V"], rel, idx.size)
        state.vc_ap_to_p_V[idx] = _spread(rng, p["vc_ap_to_p_V"], rel, idx.size)
        state.half_bias_V[idx] = p["tmr_half_bias_V"]
        chip.ic0_A[idx] = state.vc_p_to_ap_V[idx]
        junctions = idx.reshape(group.count, group.columns)
        state.crossbars.append(CrossbarNetwork(junctions, group.slot, group.column_slot,
                                               p["cell_line_resistance_ohm"],
                                               p["line_access_resistance_ohm"]))
        for (r, c), i in np.ndenumerate(junctions):
            state.position[int(i)] = (r, c)
    return state


def conductances_S(chip, junctions, junction_V) -> np.ndarray:
    """Each junction's conductance at its bias (the shape of ``junctions``)."""
    state: SynapseState = chip.kind_state[NAME]
    parallel = chip.up_regions[junctions] > 0
    r = stt_switching.resistance_ohm(chip.r_offset_ohm[junctions], chip.r_ahe_ohm[junctions],
                                     state.half_bias_V[junctions], np.abs(junction_V), parallel)
    r = np.where(chip.broken[junctions] == "short", SHORT_OHM, r)
    return 1.0 / r


def apply_voltages(chip, junctions, junction_V, duration_s: float, rng, time_s: float) -> None:
    """Every junction of a crossbar lives ``duration_s`` at its voltage: breakdown, then
    stochastic switching toward the state the voltage's sign drives."""
    state: SynapseState = chip.kind_state[NAME]
    idx = np.asarray(junctions).ravel()
    volts = np.asarray(junction_V, dtype=float).ravel()
    alive = chip.broken[idx] == ""
    over = alive & (np.abs(volts) > chip.damage_limit[idx])
    for i, v in zip(idx[over], volts[over]):
        chip.broken[i] = "short"
        chip.damage_log.append(DamageEvent(int(i), chip.names[i], time_s,
                                           f"MgO breakdown: {abs(v):.3g} V over the barrier, "
                                           f"limit {chip.damage_limit[i]:.3g} V"))
    if not duration_s > 0:
        return
    alive &= ~over
    parallel = chip.up_regions[idx] > 0
    vc = np.where(parallel, state.vc_p_to_ap_V[idx], state.vc_ap_to_p_V[idx])
    # P switches under V > 0 (toward AP), AP under V < 0 (toward P)
    can = alive & np.where(parallel, volts > 0, volts < 0)
    p = stt_switching.probability(np.abs(volts), duration_s, vc, chip.delta[idx],
                                  chip.tau0_s[idx], chip.exponent[idx])
    flips = can & (rng.random(idx.size) < p)
    chip.up_regions[idx[flips]] = np.where(parallel[flips], 0, 1)


def set_states(chip, junctions, parallel) -> None:
    """Put junctions in P (True) or AP (False): a test's or a demo's starting point."""
    chip.up_regions[np.asarray(junctions)] = np.asarray(parallel, dtype=np.int64)


# ---------------------------------------------------------------- the chip's two-terminal face
def switch_target(chip, idx, current_A, field_T) -> float:
    """0: a crossbar junction is never a device on a pulse row (its lines are: the crossbar
    circuit switches it)."""
    return 0.0


def damage(chip, idx, current_A, voltage_V) -> tuple[str, str] | None:
    return None


def write_path_resistance(chip, idx, bias_V=0.0) -> float:
    return chip.line_resistance_ohm[idx] + float(1.0 / conductances_S(chip, np.array([idx]),
                                                                      np.array([bias_V]))[0])


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    return float(1.0 / conductances_S(chip, np.array([idx]), np.array([bias_V]))[0]) + noise_ohm


def describe(chip, idx) -> list[tuple[str, int, str]]:
    """``hil bench show`` columns: (title, width, text) of one junction's truth."""
    s: SynapseState = chip.kind_state[NAME]
    r, c = s.position[int(idx)]
    v50 = [float(stt_switching.voltage_for_probability(0.5, REFERENCE_WIDTH_S, vc, chip.delta[idx],
                                                       chip.tau0_s[idx], chip.exponent[idx]))
           for vc in (s.vc_p_to_ap_V[idx], s.vc_ap_to_p_V[idx])]
    state = "P" if chip.up_regions[idx] > 0 else "AP"
    return [("r,c", 5, f"{r},{c}"), ("Delta", 6, f"{chip.delta[idx]:.1f}"),
            ("n", 4, f"{chip.exponent[idx]:g}"),
            ("Vc P>AP", 8, f"{s.vc_p_to_ap_V[idx]:.4f}"), ("Vc AP>P", 8, f"{s.vc_ap_to_p_V[idx]:.4f}"),
            ("V50 P>AP", 8, f"{v50[0]:.4f}"), ("V50 AP>P", 8, f"{v50[1]:.4f}"),
            ("R_P", 7, f"{chip.r_offset_ohm[idx]:.0f}"), ("TMR0", 5, f"{chip.r_ahe_ohm[idx]:.3f}"),
            ("V_bd", 5, f"{chip.damage_limit[idx]:.2f}"), ("state", 5, state)]


DESCRIBE_NOTE = (
    f"  (r,c: crossbar row and column line; V50 at {REFERENCE_WIDTH_S * 1e9:g} ns over the barrier; "
    "P>AP: row line above column line; R_P in ohm; V_bd: MgO breakdown;",
    "   pulse ch / read ch: the junction's row line on the pulse / read rows; its column line "
    "is on the column card)")

__all__ = ["DEFAULTS", "DESCRIBE_NOTE", "OPEN_OHM", "SHORT_OHM", "SynapseState", "apply_voltages",
           "build_state", "conductances_S", "damage", "describe", "nominal_parameters",
           "read_resistance", "set_states", "switch_target", "write_path_resistance"]
