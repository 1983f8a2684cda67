"""Truth of a domain-wall MTJ integrate-fire-reset neuron (see :mod:`devices.kinds.dw_mtj_ifr_neuron`).

The device: a PMA ferromagnet (CoFeB, t_FM) on a heavy metal (t_HM) track of width w and
length L holds one domain wall at x in [0, L], pinned at a start notch x = 0 after a reset.
The write line is the track: the pulse generator's current I gives J = I / (w t_HM).

- **Integrate.** A pulse of J > 0 and width t moves the wall by dx = mu (J - J_dep) t (1 + s eps)
  above J_dep (:func:`devices.laws.domain_wall.mean_step_m`), eps cycle-to-cycle pinning noise
  (``pinning_rel`` = s), nothing below. An optional strong pinning site at ``pin_site_m``
  stops the wall unless J exceeds ``pin_depinning_rel`` x J_dep: a stuck wall.
- **Leak.** Between pulses the wall relaxes toward the start, x -> x exp(-dt / leak_time_s)
  over the virtual time dt since the device's last pulse (``leak_time_s`` = inf: no leak).
- **Fire.** An MTJ over the track at L - ``mtj_offset_m`` reads R_AP while the wall is short of
  it and R_P once the wall has passed under it (the domain below its free layer reversed):
  R_P = RA / (pi d^2 / 4), R_AP = R_P (1 + TMR(V)), TMR(V) = TMR0 / (1 + (V / V_half)^2),
  plus read noise. The read SMU measures the junction on its row, as for an MTJ.
- **Eject and reset** (the mechanism this bench documents): further forward pulses push the
  wall out at the track end (x >= L: the track is one reversed domain, the MTJ stays fired).
  A *reverse* pulse on the same write line, |J| >= ``reset_density_A_m2``, nucleates a new wall
  at the end (spin-orbit torque at the end contact) and drives it back by mu (|J| - J_dep) t,
  to the start notch when the pulse is long enough. Nucleation fails with the device's
  probability ``reset_fail_probability`` (D2D spread ``reset_fail_rel``): the track stays
  ejected and the MTJ keeps reading fired, which is how a bench sees a failed reset. A
  reverse pulse on a track that still holds its wall only drives it back (no nucleation).
- **Damage.** A current density over ``electromigration_A_m2`` opens the track.

D2D: J_dep (``jdep_rel``), mu (``mu_rel``) and L (``length_rel``; the MTJ keeps its offset from
the end) per device; R_P, TMR and the track resistance through ``resistance_rel`` (the chip's
shared draws). The wall state lives in a :class:`WallState` that this module builds and
owns (``chip.kind_state[KIND]``); the chip's switch arrays are not used for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.kinds import dw_mtj_ifr_neuron as kind
from devices.laws import domain_wall, neel_brown
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM, electromigration

NAME = kind.KIND.name
DEFAULTS = {
    **kind.GEOMETRY_DEFAULTS,
    "fm_thickness_m": 1.0e-9,
    "anisotropy_J_m3": 3.0e5,          # PMA of the track
    "saturation_A_m": 1.0e6,
    "resistivity_ohm_m": 1.0e-6,       # the heavy metal (W / Ta)
    "series_resistance_ohm": 50.0,     # leads and contacts of the write line
    "depinning_density_A_m2": 3.0e10,
    "mobility_m3_per_A_s": 6.0e-10,    # 30 m/s at 5e10 A/m^2 over depinning: 0.3 um / 10 ns
    "pinning_rel": 0.15,               # cycle-to-cycle relative spread of one step
    "leak_time_s": float("inf"),       # restoring drift between pulses (inf: none)
    "pin_site_m": 0.0,                 # a strong pinning site (0: none)
    "pin_depinning_rel": 2.0,          # ... it holds the wall below this x J_dep
    "reset_density_A_m2": 1.0e11,      # reverse density that nucleates the reset wall
    "reset_fail_probability": 0.02,
    "mtj_diameter_m": 100e-9,
    "ra_ohm_m2": 10e-12,
    "tmr": 1.0,
    "tmr_half_bias_V": 0.5,
    "read_noise_ohm": 5.0,
    "tau0_s": 1e-9,
    "exponent": 1.0,
    "temperature_K": 300.0,
    "electromigration_A_m2": 3e11,
}
READS_HARD_AXIS_TILT = False


def nominal_parameters(group) -> dict:
    p = {**DEFAULTS, **group.params}
    track = kind.geometry(group)
    mtj_area = np.pi / 4 * p["mtj_diameter_m"] ** 2
    return {
        **p,
        # the chip's shared columns: the MTJ free layer's barrier, the depinning current
        "delta": float(neel_brown.thermal_stability(p["anisotropy_J_m3"], mtj_area * p["fm_thickness_m"],
                                                    p["temperature_K"])),
        "ic0_A": p["depinning_density_A_m2"] * track.cross_section_m2,
        "n_domains": 1,
        "cross_section_m2": track.cross_section_m2,
        "line_resistance_ohm": (p["resistivity_ohm_m"] * track.length_m / track.cross_section_m2
                                + p["series_resistance_ohm"]),
        "r_offset_ohm": p["ra_ohm_m2"] / mtj_area,    # R_P
        "r_ahe_ohm": p["tmr"],                        # TMR0
        "damage_limit": p["electromigration_A_m2"],
    }


@dataclass
class WallState:
    """Per-device truth and state of the walls of one chip (arrays over the chip's devices;
    NaN / unused for devices of other kinds)."""

    jdep_A_m2: np.ndarray
    mobility_m3_per_A_s: np.ndarray
    length_m: np.ndarray
    mtj_distance_m: np.ndarray       # start notch to the MTJ
    pinning_rel: np.ndarray
    leak_time_s: np.ndarray
    pin_site_m: np.ndarray
    pin_jdep_A_m2: np.ndarray
    reset_density_A_m2: np.ndarray
    reset_fail_probability: np.ndarray
    position_m: np.ndarray
    ejected: np.ndarray              # bool: no wall on the track (pushed out at the end)
    last_time_s: np.ndarray          # when the leak was last brought up to date

    def fired(self, idx) -> bool:
        return bool(self.ejected[idx] or self.position_m[idx] >= self.mtj_distance_m[idx])


def _spread(rng, nominal, rel, count):
    """Lognormal D2D draws of relative sigma ``rel`` with mean ``nominal``."""
    if rel <= 0:
        return np.full(count, float(nominal))
    sigma = np.sqrt(np.log1p(rel * rel))
    return float(nominal) * np.exp(sigma * rng.standard_normal(count) - 0.5 * sigma * sigma)


def build_state(chip, groups, variability: dict, rng: np.random.Generator) -> WallState:
    """Draw the walls' D2D parameters of this kind's groups (after the chip's shared draws,
    so a bench without this kind draws exactly as before)."""
    n = len(chip)
    cols = {name: np.full(n, np.nan) for name in (
        "jdep_A_m2", "mobility_m3_per_A_s", "length_m", "mtj_distance_m", "pinning_rel",
        "leak_time_s", "pin_site_m", "pin_jdep_A_m2", "reset_density_A_m2",
        "reset_fail_probability")}
    for group in groups:
        idx = np.flatnonzero(chip.size == group.size)
        p, track, count = {**DEFAULTS, **group.params}, kind.geometry(group), len(idx)
        jdep = _spread(rng, p["depinning_density_A_m2"], variability.get("jdep_rel", 0.0), count)
        cols["jdep_A_m2"][idx] = jdep
        cols["mobility_m3_per_A_s"][idx] = _spread(rng, p["mobility_m3_per_A_s"],
                                                   variability.get("mu_rel", 0.0), count)
        length = _spread(rng, track.length_m, variability.get("length_rel", 0.0), count)
        cols["length_m"][idx] = length
        # the track's share of the write line scales with its length (leads do not)
        series = p["series_resistance_ohm"]
        chip.line_resistance_ohm[idx] = series + (chip.line_resistance_ohm[idx] - series) * length / track.length_m
        cols["mtj_distance_m"][idx] = length - track.mtj_offset_m
        cols["reset_fail_probability"][idx] = np.minimum(
            _spread(rng, p["reset_fail_probability"], variability.get("reset_fail_rel", 0.0), count), 0.5)
        cols["pinning_rel"][idx] = p["pinning_rel"]
        cols["leak_time_s"][idx] = p["leak_time_s"]
        cols["pin_site_m"][idx] = p["pin_site_m"]
        cols["pin_jdep_A_m2"][idx] = p["pin_depinning_rel"] * jdep
        cols["reset_density_A_m2"][idx] = p["reset_density_A_m2"]
    return WallState(**cols, position_m=np.zeros(n), ejected=np.zeros(n, dtype=bool),
                     last_time_s=np.zeros(n))


def _relax(state: WallState, idx: int, time_s: float) -> None:
    """The restoring drift over the virtual time since the device's last pulse."""
    elapsed = time_s - state.last_time_s[idx]
    if elapsed > 0 and not state.ejected[idx] and np.isfinite(state.leak_time_s[idx]):
        state.position_m[idx] *= float(domain_wall.leak_factor(elapsed, state.leak_time_s[idx]))
    state.last_time_s[idx] = max(state.last_time_s[idx], time_s)


def apply_pulse(chip, idx, current_A, width_s, rng, time_s) -> None:
    """One pulse through the track (after the chip's damage check): leak, then move, eject
    or reset the wall."""
    state: WallState = chip.kind_state[NAME]
    _relax(state, idx, time_s)
    density = current_A / chip.cross_section_m2[idx]
    step = abs(float(domain_wall.mean_step_m(abs(density), width_s, state.jdep_A_m2[idx],
                                             state.mobility_m3_per_A_s[idx])))
    if step > 0:
        step *= max(1.0 + state.pinning_rel[idx] * rng.standard_normal(), 0.0)
    if density > 0:
        _forward(state, idx, step, density)
    elif density < 0:
        _reverse(state, idx, step, -density, rng)
    state.last_time_s[idx] = max(state.last_time_s[idx], time_s + width_s)


def _forward(state: WallState, idx: int, step: float, density: float) -> None:
    if state.ejected[idx] or step <= 0:
        return
    x, target = state.position_m[idx], state.position_m[idx] + step
    pin = state.pin_site_m[idx]
    if 0 < pin and x < pin <= target and density < state.pin_jdep_A_m2[idx]:
        target = pin                                  # held by the strong pinning site
    if target >= state.length_m[idx]:
        state.ejected[idx], target = True, state.length_m[idx]
    state.position_m[idx] = target


def _reverse(state: WallState, idx: int, step: float, density: float, rng) -> None:
    if state.ejected[idx]:
        if density < state.reset_density_A_m2[idx]:
            return                                    # nothing to move, too weak to nucleate
        if rng.random() < state.reset_fail_probability[idx]:
            return                                    # nucleation failed: the track stays reversed
        state.ejected[idx] = False
        state.position_m[idx] = state.length_m[idx]
    state.position_m[idx] = max(state.position_m[idx] - step, 0.0)


def set_position(chip, idx, position_m: float) -> None:
    """Put a device's wall at ``position_m`` (a test's or a demo's starting point)."""
    state: WallState = chip.kind_state[NAME]
    state.ejected[idx] = position_m >= state.length_m[idx]
    state.position_m[idx] = min(max(position_m, 0.0), state.length_m[idx])


def switch_target(chip, idx, current_A, field_T) -> float:
    """0: a wall is not a Neel-Brown switch (the chip calls :func:`apply_pulse` instead)."""
    return 0.0


def damage(chip, idx, current_A, voltage_V) -> tuple[str, str] | None:
    """("open", cause) when the pulse's current density electromigrates the track, else None."""
    return electromigration(chip, idx, current_A, "track")


def write_path_resistance(chip, idx, bias_V=0.0) -> float:
    return chip.line_resistance_ohm[idx]


def read_resistance(chip, idx, noise_ohm, bias_V=0.0) -> float:
    """The MTJ: R_AP while the wall is short of it, R_P once it has fired."""
    if chip.kind_state[NAME].fired(idx):
        return chip.r_offset_ohm[idx] + noise_ohm
    tmr = chip.r_ahe_ohm[idx] / (1.0 + (bias_V / chip.params[idx]["tmr_half_bias_V"]) ** 2)
    return chip.r_offset_ohm[idx] * (1.0 + tmr) + noise_ohm


def describe(chip, idx) -> list[tuple[str, int, str]]:
    """``hil bench show`` columns: (title, width, text) of one device's truth."""
    s: WallState = chip.kind_state[NAME]
    leak = s.leak_time_s[idx]
    return [("width", 8, f"{chip.width_m[idx] * 1e9:.0f}nm"),
            ("L um", 6, f"{s.length_m[idx] * 1e6:.3f}"),
            ("MTJ um", 6, f"{s.mtj_distance_m[idx] * 1e6:.3f}"),
            ("Jdep A/m2", 9, f"{s.jdep_A_m2[idx]:.3e}"),
            ("mu m/s/(A/m2)", 13, f"{s.mobility_m3_per_A_s[idx]:.3e}"),
            ("pin", 5, f"{s.pinning_rel[idx]:.2f}"),
            ("leak s", 8, "none" if not np.isfinite(leak) else f"{leak:.2e}"),
            ("P_fail", 6, f"{s.reset_fail_probability[idx]:.4f}"),
            ("R_line", 8, f"{chip.line_resistance_ohm[idx]:.0f}"),
            ("R_P", 7, f"{chip.r_offset_ohm[idx]:.5g}"),
            ("TMR", 5, f"{chip.r_ahe_ohm[idx]:.3f}")]


DESCRIBE_NOTE = ("  (L: track length; MTJ: start notch to the MTJ, the distance to fire; Jdep, mu: "
                 "dx = mu (J - Jdep) t;",
                 "   pin: cycle-to-cycle spread of a step; P_fail: reset failure probability; "
                 "R_line: the track)")

__all__ = ["DEFAULTS", "DESCRIBE_NOTE", "OPEN_OHM", "SHORT_OHM", "WallState", "apply_pulse",
           "build_state", "damage", "describe", "nominal_parameters", "read_resistance",
           "set_position", "switch_target", "write_path_resistance"]
