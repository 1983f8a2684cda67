"""Non-idealities of a chip's switches in virtual time and per trial (``[nonideal]``).

What a bench file asks for is resolved per kind in :mod:`devices.nonideal` (magnitudes from
the literature are documented there). :class:`NonIdeal` keeps, per device of one chip, the
state those effects need and hands :meth:`Chip.apply_pulse` the parameters a pulse at time
t really meets:

    T(t)     = T0 + drift t + swing sin(2 pi t / period)            (stage temperature)
    Delta(t) = Delta0 T0 / T(t)                                      (Delta ~ 1 / T)
    Ic0(t)   = Ic0_0 (1 + c_T (T - T0)) exp(W(t)) (1 + a s(t)) wear(n) field(t) (1 + c2c)

W is a random walk of ln Ic0 (variance sigma^2 t), s = +-1 a symmetric telegraph process
(the devices that carry a fluctuator), wear(n) = 1 + shift n / life up to a device's life in
cycles (then it is stuck), field(t) the SOT bias-field factor (Hk/2 - |Hx + dH(t)|/sqrt 2) /
(Hk/2 - |Hx|/sqrt 2); c2c a fresh normal draw per pulse (Delta gets its own). Dead devices
read open and stuck ones never switch from the start.

Each effect draws from its own stream (spawned from the bench seed and the chip's index under
a tag of its own), so turning one on shifts no other draw, and with all of them off no stream
is touched: the bench is bit-identical to one without this module. The random walk and the
telegraph states of all devices advance together, in steps of at least ``STEP_S``, so a pulse
on one device does not change the draws another sees.
"""

from __future__ import annotations

import numpy as np

from devices import nonideal as table

#: the smallest virtual-time step the slow processes advance by (their time scales are s-h)
STEP_S = 1e-3
#: a pulse counts as a write cycle for wear-out from this fraction of the device's Ic0 on
#: (a read current, ~1 % of Ic0, does not wear the device)
CYCLE_FRACTION = 0.5
_TAG = 0x6E6F6E69   # "noni": keeps these streams apart from the bench's own
_STREAMS = ("walk", "telegraph", "c2c", "wear", "yield")


class NonIdeal:
    """The non-ideal state of one chip's switch devices (see the module docstring)."""

    def __init__(self, chip, resolved: dict[str, dict], seed: int, chip_index: int):
        n = len(chip)
        kinds = list(chip.kind)
        self.on = np.array([k in resolved and resolved[k] != dict(table.OFF) for k in kinds])
        self.values = {item: np.array([float(resolved.get(k, table.OFF).get(item) or 0.0)
                                       for k in kinds]) for item in table.ITEMS}
        self.t0_K = np.array([float(chip.params[i].get("temperature_K", 300.0)) for i in range(n)])
        self.is_sot = np.array([k == "sot_hall_bar" for k in kinds])
        seq = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, _TAG, chip_index])
        self.rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seq.spawn(len(_STREAMS)))}
        self.time_s = 0.0
        self.log_walk = np.zeros(n)
        v = self.values
        self.has_telegraph = self.rng["telegraph"].random(n) < v["telegraph_fraction"]
        self.telegraph = np.where(self.rng["telegraph"].random(n) < 0.5, -1.0, 1.0)
        self.cycles = np.zeros(n, dtype=np.int64)
        life = v["wear_life_cycles"]
        spread = v["wear_life_spread_rel"]
        sigma = np.sqrt(np.log1p(spread * spread))
        self.life_cycles = np.where(life > 0, life * self.rng["wear"].lognormal(-0.5 * sigma * sigma, sigma),
                                    np.inf)
        self.stuck = np.zeros(n, dtype=bool)
        u_dead, u_stuck, u_state = (self.rng["yield"].random(n) for _ in range(3))
        self.dead_at_start = u_dead < v["dead_fraction"]
        self.stuck_at_start = ~self.dead_at_start & (u_stuck < v["stuck_fraction"])
        self.stuck_state = np.where(u_state < 0.5, -1, 1)
        self.stuck |= self.stuck_at_start

    # ------------------------------------------------------------------ build-time faults
    def apply_yield(self, chip) -> None:
        """Dead devices read open from the start; stuck-at ones hold a random state."""
        for idx in np.flatnonzero(self.dead_at_start):
            chip.broken[idx] = "open"
        for idx in np.flatnonzero(self.stuck_at_start):
            chip.set_state(idx, int(self.stuck_state[idx]))

    # ------------------------------------------------------------------ slow processes
    def advance(self, time_s: float) -> None:
        """Bring the random walks and telegraph states of every device up to ``time_s``."""
        dt = time_s - self.time_s
        if not dt >= STEP_S:
            return
        v = self.values
        sigma = v["i50_walk_rel_per_sqrt_h"] * np.sqrt(dt / 3600.0)
        if sigma.any():
            self.log_walk += sigma * self.rng["walk"].standard_normal(len(sigma))
        if self.has_telegraph.any():
            # a symmetric two-state process flips an odd number of times with this probability
            p_flip = 0.5 * -np.expm1(-2.0 * dt / v["telegraph_dwell_s"])
            flips = (self.rng["telegraph"].random(len(p_flip)) < p_flip) & self.has_telegraph
            self.telegraph[flips] *= -1.0
        self.time_s = time_s

    def temperature_K(self, time_s: float) -> np.ndarray:
        """Each device's stage temperature at ``time_s`` (its material temperature at t = 0)."""
        v = self.values
        return (self.t0_K + v["temperature_drift_K_per_h"] * time_s / 3600.0
                + v["temperature_swing_K"] * np.sin(2 * np.pi * time_s / v["temperature_period_s"]))

    def field_offset_T(self, time_s: float) -> np.ndarray:
        """The bias-field drift each device sees at ``time_s`` (T)."""
        return self.values["field_drift_mT_per_h"] * 1e-3 * time_s / 3600.0

    def parameters(self, chip, time_s: float, field_T: float = 0.0):
        """(Ic0, Delta) of every device at ``time_s`` without the per-pulse draws: the truth a
        fast path samples, and what a drift test compares a fit against."""
        self.advance(time_s)
        v = self.values
        temp_K = self.temperature_K(time_s)
        delta = chip.delta * self.t0_K / temp_K
        factor = (1.0 + v["ic0_temperature_coeff_per_K"] * (temp_K - self.t0_K)) * np.exp(self.log_walk)
        factor *= 1.0 + v["telegraph_rel"] * np.where(self.has_telegraph, self.telegraph, 0.0)
        finite = np.isfinite(self.life_cycles)
        worn = np.where(finite, np.minimum(self.cycles / np.where(finite, self.life_cycles, 1.0), 1.0), 0.0)
        factor *= 1.0 + v["wear_i50_shift_rel"] * worn
        offset = self.field_offset_T(time_s)
        if field_T and np.any(offset[self.is_sot]):
            half = chip.hk_T / 2.0
            base = half - abs(field_T) / np.sqrt(2.0)
            moved = half - np.abs(field_T + offset * np.sign(field_T)) / np.sqrt(2.0)
            factor = np.where(self.is_sot, factor * np.maximum(moved, 0.05 * half) / np.maximum(base, 0.05 * half),
                              factor)
        return chip.ic0_A * factor, delta

    # ------------------------------------------------------------------ one pulse
    def pulse_parameters(self, chip, idx: int, current_A: float, time_s: float, field_T: float):
        """(Ic0, Delta) that this pulse meets, or None when the device is stuck (nothing
        switches). Counts the pulse as a write cycle when it is a write."""
        if not self.on[idx]:
            return chip.ic0_A[idx], chip.delta[idx]
        if self.stuck[idx]:
            return None
        ic0, delta = self.parameters(chip, time_s, field_T)
        ic0, delta = float(ic0[idx]), float(delta[idx])
        v = self.values
        if abs(current_A) >= CYCLE_FRACTION * ic0:
            self.cycles[idx] += 1
            if self.cycles[idx] > self.life_cycles[idx]:
                self.stuck[idx] = True
                return None
        if v["c2c_ic0_rel"][idx] or v["c2c_delta_rel"][idx]:
            draw = self.rng["c2c"].standard_normal(2)
            ic0 *= max(1.0 + v["c2c_ic0_rel"][idx] * draw[0], 0.05)
            delta *= max(1.0 + v["c2c_delta_rel"][idx] * draw[1], 0.05)
        return ic0, delta

    def read_disturb(self, idx: int) -> bool:
        return bool(self.values["read_disturb"][idx])


def build(chip, resolved: dict[str, dict], seed: int, chip_index: int) -> NonIdeal | None:
    """The chip's non-ideal state, or None when its file turns none on for its kinds."""
    if all(resolved.get(k, table.OFF) == dict(table.OFF) for k in set(chip.kind)):
        return None
    state = NonIdeal(chip, resolved, seed, chip_index)
    state.apply_yield(chip)
    return state
