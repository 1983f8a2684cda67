"""A chip of simulated spintronic devices: parameters from geometry, D2D variability, state.

All devices of a chip live in flat numpy arrays (one entry per device), so a pulse on one
device and a sampled batch over all devices go through the same vectorized physics.

Device kinds
------------
Each device's kind (the bench file's ``kind``) has its truth in ``simulated_bench.kinds``:
material defaults, per-size physics from geometry, pulse target, damage, write path and
readout (``sot_hall_bar``: AHE Hall cross; ``mtj``: STT tunnel junction). The chip keeps the
parameters every kind shares in flat arrays and asks the kind's module for the rest. A kind
with state beyond those arrays (``dw_mtj_ifr_neuron``: a domain wall's position) builds it
(``build_state``, kept in ``Chip.kind_state``) and moves it itself (its ``apply_pulse``).

Magnet field (:meth:`Chip.expose_to_field`)
-------------------------------------------
Out of plane (``magnet_axis = "z"``, the easy axis): the field lowers the barrier toward
sign(Hz), tau(H) = tau0 exp(Delta (1 - |H| / Hk)^2) (Stoner-Wohlfarth), and every
nucleation region (the free layer of an MTJ) reverses toward sign(Hz) by thermal
activation over the time it spends at that field. A swept field therefore gives a square
R-H loop whose coercive field is a fraction of Hk, smaller for slower sweeps and for
smaller Delta. In plane (``"x"``, the hard axis) the field only tilts m (the readout scales
by sqrt(1 - (H/Hk)^2)); at |Hx| >= Hk the magnet lies in plane, and when the field comes
back below Hk each region falls up or down at random (50/50). Thermal hopping over the
barrier that a sub-Hk in-plane field lowers is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from devices.benchfile import DeviceGroup
from devices.laws import neel_brown
from simulated_bench import physics
from simulated_bench.kinds import OPEN_OHM, SHORT_OHM, truth as kind_truth

MU0 = 4e-7 * np.pi


@dataclass
class DamageEvent:
    device: int
    name: str
    time_s: float
    cause: str


@dataclass
class Chip:
    """Devices of one chip as flat arrays; index = position in ``names``."""

    name: str
    names: list[str]
    size: np.ndarray             # size label per device
    kind: np.ndarray             # "sot_hall_bar" | "mtj"
    slot: np.ndarray
    column: np.ndarray
    width_m: np.ndarray
    cross_section_m2: np.ndarray
    delta: np.ndarray            # energy barrier of one region, in kT
    ic0_A: np.ndarray
    tau0_s: np.ndarray
    exponent: np.ndarray
    n_domains: np.ndarray        # int
    line_resistance_ohm: np.ndarray
    r_offset_ohm: np.ndarray     # SOT: Hall offset; MTJ: R_P
    r_ahe_ohm: np.ndarray        # SOT: AHE step (half the R_xy swing); MTJ: TMR0
    read_noise_ohm: np.ndarray
    hk_T: np.ndarray             # anisotropy field
    damage_limit: np.ndarray     # SOT: current density A/m^2; MTJ: breakdown voltage
    params: dict = field(default_factory=dict)
    up_regions: np.ndarray = None  # number of regions with m = +1
    broken: np.ndarray = None      # "" | "open" | "short"
    in_plane: np.ndarray = None    # bool: pulled in plane by |Hx| >= Hk, falls at random below
    damage_log: list[DamageEvent] = field(default_factory=list)
    #: state a kind keeps beyond the switch arrays, built and owned by its truth module
    #: (``build_state``): kind name -> object (a domain wall's position per device)
    kind_state: dict = field(default_factory=dict)
    #: the chip's non-idealities (simulated_bench.nonideal.NonIdeal), None when all are off
    nonideal: object = None

    def __post_init__(self):
        if self.up_regions is None:
            self.up_regions = np.zeros(len(self.names), dtype=np.int64)  # start all down
        if self.broken is None:
            self.broken = np.array([""] * len(self.names), dtype=object)
        if self.in_plane is None:
            self.in_plane = np.zeros(len(self.names), dtype=bool)

    def __len__(self):
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no device {name!r} on chip {self.name!r}") from None

    # ------------------------------------------------------------------ state
    def magnetization(self, idx=slice(None)):
        """Mean m_z in [-1, 1] of each device."""
        return 2.0 * self.up_regions[idx] / self.n_domains[idx] - 1.0

    def set_state(self, idx, m: int):
        self.up_regions[idx] = self.n_domains[idx] if m > 0 else 0

    # ------------------------------------------------------------------ write
    def apply_pulse(self, idx: int, current_A: float, width_s: float, field_T: float,
                    rng: np.random.Generator, time_s: float = 0.0, voltage_V: float = 0.0):
        """One current pulse through device ``idx``: damage check, then thermal switching."""
        if self.broken[idx]:
            return
        kind = self.truth(idx)
        if broken := kind.damage(self, idx, current_A, voltage_V):
            self.broken[idx], cause = broken
            self.damage_log.append(DamageEvent(idx, self.names[idx], time_s, cause))
            return
        if current_A == 0.0 or width_s <= 0.0:
            return
        if (own_write := getattr(kind, "apply_pulse", None)) is not None:
            own_write(self, idx, current_A, width_s, rng, time_s)   # a kind with its own state
            return
        target = kind.switch_target(self, idx, current_A, field_T)
        if target == 0:
            return
        ic0_A, delta = self.ic0_A[idx], self.delta[idx]
        if self.nonideal is not None:      # drift, wear, c2c noise at this pulse's time
            met = self.nonideal.pulse_parameters(self, idx, current_A, time_s, field_T)
            if met is None:                # stuck: this device no longer switches
                return
            ic0_A, delta = met
        p = neel_brown.probability(abs(current_A), width_s, ic0_A, delta,
                                   self.tau0_s[idx], self.exponent[idx])
        n = self.n_domains[idx]
        if target > 0:
            self.up_regions[idx] += rng.binomial(n - self.up_regions[idx], p)
        else:
            self.up_regions[idx] -= rng.binomial(self.up_regions[idx], p)

    # ------------------------------------------------------------------ magnet field
    def expose_to_field(self, fields_T, dwells_s, axis: str, rng: np.random.Generator) -> None:
        """Let every device live through a field history: ``dwells_s[k]`` seconds at
        ``fields_T[k]``, in order (a magnet ramp cut into short steps, then the hold).

        ``axis`` "z": thermally activated reversal toward sign(H) per region, the
        probabilities of consecutive steps of one sign combined (one binomial draw per
        device and run of the same sign). ``axis`` "x": only the in-plane saturation at
        |H| >= Hk and the random fall when the field drops below Hk again.
        """
        fields_T = np.atleast_1d(np.asarray(fields_T, dtype=float))
        dwells_s = np.atleast_1d(np.asarray(dwells_s, dtype=float))
        if fields_T.size == 0:
            return
        alive = self.broken == ""
        if axis == "x":
            self._in_plane_field(fields_T, alive, rng)
            return
        sign = np.sign(fields_T)
        edges = np.flatnonzero(np.diff(sign)) + 1
        for run in np.split(np.arange(fields_T.size), edges):
            target = sign[run[0]]
            if target == 0:
                continue
            # sum over the run of dwell / tau(H), per device: log-sum-exp keeps it exact
            log_terms = (np.log(np.maximum(dwells_s[run], 1e-300))[None, :]
                         + physics.field_log_rate(fields_T[run][None, :], self.hk_T[:, None],
                                                  self.delta[:, None], self.tau0_s[:, None]))
            top = log_terms.max(axis=1)
            log_rate = top + np.log(np.exp(log_terms - top[:, None]).sum(axis=1))
            p = -np.expm1(-np.exp(log_rate))
            if target > 0:
                movable = np.where(alive, self.n_domains - self.up_regions, 0)
                self.up_regions += rng.binomial(movable, p)
            else:
                movable = np.where(alive, self.up_regions, 0)
                self.up_regions -= rng.binomial(movable, p)

    def _in_plane_field(self, fields_T, alive, rng) -> None:
        peak = np.abs(fields_T).max()
        if not (self.in_plane.any() or np.any(peak >= self.hk_T)):
            return
        saturated = self.in_plane | (peak >= self.hk_T)
        below_now = abs(fields_T[-1]) < self.hk_T
        falls = saturated & below_now & alive
        if falls.any():
            self.up_regions[falls] = rng.binomial(self.n_domains[falls], 0.5)
        self.in_plane = saturated & ~below_now

    # ------------------------------------------------------------------ read
    def truth(self, idx):
        """The simulator's module for this device's kind (:mod:`simulated_bench.kinds`)."""
        return kind_truth(self.kind[idx])

    def write_path_resistance(self, idx, bias_V=0.0) -> float:
        """Two-terminal resistance the pulse generator sees through the device."""
        if self.broken[idx] == "open":
            return OPEN_OHM
        if self.broken[idx] == "short":
            return SHORT_OHM + self.line_resistance_ohm[idx]
        return self.truth(idx).write_path_resistance(self, idx, bias_V)

    def read_resistance(self, idx, rng: np.random.Generator, nplc: float = 1.0,
                        bias_V: float = 0.0) -> float:
        """What a four-wire read measures: R_xy (SOT) or the junction (MTJ), with noise."""
        noise = self.read_noise_ohm[idx] / np.sqrt(max(nplc, 1e-3)) * rng.standard_normal()
        if self.broken[idx] == "open":
            return OPEN_OHM
        if self.broken[idx] == "short":
            return SHORT_OHM + noise
        return self.truth(idx).read_resistance(self, idx, noise, bias_V)

    def hard_axis_mz(self, idx, field_T: float) -> float:
        """|m_z| under an in-plane field (Stoner-Wohlfarth hard-axis loop)."""
        h = min(abs(field_T) / self.hk_T[idx], 1.0)
        return float(np.sqrt(1.0 - h * h))


def _lognormal_spread(rng, nominal, rel, count):
    """Positive D2D draws with relative sigma ``rel`` around ``nominal``."""
    if rel <= 0:
        return np.full(count, float(nominal))
    sigma = np.sqrt(np.log1p(rel * rel))
    return nominal * rng.lognormal(-0.5 * sigma * sigma, sigma, count)


def nominal_parameters(group: DeviceGroup) -> dict:
    """Per-size physics before D2D variability (Delta, Ic0, N, resistances), by the group's kind."""
    return kind_truth(group.kind).nominal_parameters(group)


def build_chip(name: str, groups: list[DeviceGroup], variability: dict,
               rng: np.random.Generator) -> Chip:
    """Draw every device of a chip: nominal physics per size, then D2D spreads."""
    delta_rel = variability.get("delta_rel", 0.0)
    ic0_rel = variability.get("ic0_rel", 0.0)
    r_rel = variability.get("resistance_rel", 0.0)
    cols: dict[str, list] = {k: [] for k in (
        "names", "size", "kind", "slot", "column", "width_m", "cross_section_m2", "delta",
        "ic0_A", "tau0_s", "exponent", "n_domains", "line_resistance_ohm", "r_offset_ohm",
        "r_ahe_ohm", "read_noise_ohm", "hk_T", "damage_limit", "params")}
    for group in groups:
        nom = nominal_parameters(group)
        n = group.device_count
        cols["names"] += [f"{name}/{group.size}{i}" for i in range(n)]
        cols["size"] += [group.size] * n
        cols["kind"] += [group.kind] * n
        cols["slot"] += [group.slot] * n
        cols["column"] += list(range(1, n + 1))
        cols["width_m"] += [group.width_m] * n
        cols["cross_section_m2"] += [nom["cross_section_m2"]] * n
        cols["delta"] += list(_lognormal_spread(rng, nom["delta"], delta_rel, n))
        cols["ic0_A"] += list(_lognormal_spread(rng, nom["ic0_A"], ic0_rel, n))
        cols["tau0_s"] += [nom["tau0_s"]] * n
        cols["exponent"] += [nom["exponent"]] * n
        cols["n_domains"] += [nom["n_domains"]] * n
        cols["line_resistance_ohm"] += list(_lognormal_spread(rng, nom["line_resistance_ohm"], r_rel, n))
        cols["r_offset_ohm"] += list(_lognormal_spread(rng, nom["r_offset_ohm"], r_rel, n))
        cols["r_ahe_ohm"] += list(_lognormal_spread(rng, nom["r_ahe_ohm"], r_rel, n))
        cols["read_noise_ohm"] += [nom["read_noise_ohm"]] * n
        cols["hk_T"] += [2 * nom["anisotropy_J_m3"] / nom["saturation_A_m"]] * n
        cols["damage_limit"] += [nom["damage_limit"]] * n
        cols["params"] += [nom] * n
    names = cols.pop("names")
    params = dict(enumerate(cols.pop("params")))
    arrays = {k: np.asarray(v) for k, v in cols.items()}
    arrays["n_domains"] = arrays["n_domains"].astype(np.int64)
    arrays["size"] = arrays["size"].astype(object)
    arrays["kind"] = arrays["kind"].astype(object)
    chip = Chip(name=name, names=names, params=params, **arrays)
    for kind in dict.fromkeys(g.kind for g in groups):    # after the shared draws: same streams
        if (build_state := getattr(kind_truth(kind), "build_state", None)) is not None:
            chip.kind_state[kind] = build_state(chip, [g for g in groups if g.kind == kind],
                                                variability, rng)
    return chip
