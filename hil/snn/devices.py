"""Domain-wall IFR neurons as arrays: per-device parameters and a vectorized pulse player.

:class:`IFRParameters` holds what the spiking layer needs of each device (the
``domain_wall`` model of :mod:`procedures.calibration`: J_dep, mu, the distance to fire, the
pinning spread, the leak, the reset failure probability, the write line's cross-section) and
its safe maximum current density (the bench's limits over its write path and cross-section).

:class:`IFRArrayBackend` plays whole batches of pulse sequences at once: lane (b, j) is neuron
j's spike train for sample b on its device ``device_index[j]``, every lane starting from a
reset wall (a device time-shared by several neurons runs their sequences one after another
on the bench; here they are independent draws). Per time step, as the truth does it
(``simulated_bench.kinds.dw_mtj_ifr_neuron``): the leak over the step period, a write pulse of
the step's density moves the wall by the law's mean step (:func:`devices.laws.domain_wall.
mean_step_m`) times (1 + s eps) (cycle-to-cycle pinning noise, truncated at 0), the MTJ reads
fired once the wall passed it; a fired neuron is ejected and reset, and the reset fails with
the device's probability: the track stays ejected and the MTJ reads fired at the next step
too (a spurious spike), when the reset is tried again. Fed calibrated parameters it is the
calibrated model (ex-situ training); fed the chip's true ones (:mod:`hil.snn.simulated`) it is
the fast simulated path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devices.benchfile import BenchFile
from devices.laws import domain_wall
from hil.safety import CurrentLimitError, max_write_current_A
from procedures.calibration import CalibrationFileError, ChipCalibration

#: relative margin below a ceiling so float32 arithmetic never crosses it
FLOAT32_MARGIN = 1e-5


@dataclass(frozen=True)
class IFRParameters:
    """Per-device IFR parameters as arrays over ``names`` (one entry per device)."""

    names: tuple[str, ...]
    jdep_A_m2: np.ndarray
    mobility_m3_per_A_s: np.ndarray
    distance_m: np.ndarray
    pinning_rel: np.ndarray
    leak_time_s: np.ndarray            # inf: no leak
    reset_fail_probability: np.ndarray
    cross_section_m2: np.ndarray
    max_density_A_m2: np.ndarray       # the safe ceiling of a write pulse

    @classmethod
    def from_calibration(cls, calibration: ChipCalibration, names: Sequence[str],
                         bench: BenchFile) -> "IFRParameters":
        """The devices ``names`` of a ``domain_wall`` calibration, each with the safe ceiling
        of its write path: the bench limits' largest pulse over the calibrated line
        resistance (the size's lowest where the calibration has none), over its cross-section."""
        cols = {k: [] for k in ("jdep", "mu", "distance", "pinning", "leak", "fail", "area", "jmax")}
        for name in names:
            c = calibration[name]
            if c.model != "domain_wall":
                raise CalibrationFileError(
                    f"device {name!r} of calibration ({calibration.source}) is a {c.model!r} "
                    f"curve; a spiking layer needs a 'domain_wall' calibration (hil characterize "
                    f"ifr-survey, or --calibration truth on a simulated bench)")
            cols["jdep"].append(c.jdep_A_m2)
            cols["mu"].append(c.mobility_m3_per_A_s)
            cols["distance"].append(c.distance_m)
            cols["pinning"].append(c.pinning_rel)
            cols["leak"].append(np.inf if c.leak_time_s is None else c.leak_time_s)
            cols["fail"].append(c.reset_fail_probability or 0.0)
            cols["area"].append(c.cross_section_m2)
            cols["jmax"].append(max_density_A_m2(bench, name, c.cross_section_m2, c.line_resistance_ohm))
        arrays = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
        return cls(tuple(names), arrays["jdep"], arrays["mu"], arrays["distance"],
                   arrays["pinning"], arrays["leak"], arrays["fail"], arrays["area"],
                   arrays["jmax"])

    def index_of(self, names: Sequence[str]) -> np.ndarray:
        lookup = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise KeyError(f"no IFR parameters for device(s) {missing[:3]}; known: "
                           f"{list(self.names)[:4]}... ({len(self.names)} devices)")
        return np.asarray([lookup[n] for n in names], dtype=np.int64)

    def mean_pulses_to_fire(self, density_A_m2, width_s: float) -> np.ndarray:
        """E[N] of every device at one density (the law's first passage; inf below J_dep)."""
        step = domain_wall.mean_step_m(density_A_m2, width_s, self.jdep_A_m2, self.mobility_m3_per_A_s)
        return domain_wall.expected_pulses_to_fire(step, self.distance_m, self.pinning_rel)


def max_density_A_m2(bench: BenchFile, name: str, cross_section_m2: float,
                     line_resistance_ohm: float | None = None) -> float:
    """The largest write density the drivers let a pulse drive through a device's write path
    (:func:`hil.safety.max_write_current_A` over its cross-section)."""
    current = max_write_current_A(bench.limits_for(name), bench.wiring.source_impedance_ohm,
                                  line_resistance_ohm)
    return current / cross_section_m2


def check_densities(params: IFRParameters, device_index: np.ndarray, density: np.ndarray) -> None:
    """Refuse (never clip) a write density that is negative, not finite, or over a device's
    safe ceiling; nothing is played."""
    if not np.all(np.isfinite(density)):
        raise CurrentLimitError("a write current density is NaN or infinite; nothing was sent")
    if np.any(density < 0):
        raise CurrentLimitError("write pulses of a spiking layer are forward (J >= 0); a "
                                f"density {float(density.min()):.4g} A/m^2 was asked; nothing was sent")
    peak = density.reshape(-1, density.shape[-1]).max(axis=0) if density.size else None
    if peak is None:
        return
    ceiling = params.max_density_A_m2[device_index]
    over = peak > ceiling * (1 + FLOAT32_MARGIN)
    if np.any(over):
        j = int(np.argmax(over))
        raise CurrentLimitError(
            f"write density {peak[j]:.4g} A/m^2 for device {params.names[device_index[j]]!r} "
            f"(neuron {j}) exceeds its safe maximum {ceiling[j]:.4g} A/m^2; nothing was sent")


class IFRArrayBackend:
    """Vectorized IFR pulse sequences on devices of known parameters (see the module doc)."""

    def __init__(self, params: IFRParameters, seed: int = 0, name: str = "IFR array"):
        self.params = params
        self.device_names = list(params.names)
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.pulses = 0            # write pulses played (density > 0)
        self.fires = 0             # spikes (each one an eject + reset on a bench)

    def index_of(self, names: Sequence[str]) -> np.ndarray:
        return self.params.index_of(names)

    def max_density_of(self, device_index: np.ndarray) -> np.ndarray:
        return self.params.max_density_A_m2[np.asarray(device_index)]

    def run(self, device_index, density_A_m2, width_s: float, period_s: float) -> np.ndarray:
        """Spikes (T, B, N) float32 of the sequences ``density_A_m2`` (T, B, N); a step of
        density 0 sends no pulse (the MTJ is still read: an ejected track reads fired)."""
        p, idx = self.params, np.asarray(device_index, dtype=np.int64)
        density = np.asarray(density_A_m2, dtype=float)
        if density.ndim != 3 or density.shape[2] != len(idx):
            raise ValueError(f"densities must be (steps, batch, {len(idx)}), got {density.shape}")
        check_densities(p, idx, density)
        steps = domain_wall.mean_step_m(density, width_s, p.jdep_A_m2[idx], p.mobility_m3_per_A_s[idx])
        noise = 1.0 + p.pinning_rel[idx] * self.rng.standard_normal(density.shape)
        steps = steps * np.maximum(noise, 0.0)
        leak = domain_wall.leak_factor(period_s, p.leak_time_s[idx])
        distance, fail = p.distance_m[idx], p.reset_fail_probability[idx]
        fail_draws = self.rng.random(density.shape)
        shape = density.shape[1:]
        x, ejected = np.zeros(shape), np.zeros(shape, dtype=bool)
        spikes = np.zeros(density.shape, dtype=np.float32)
        for t in range(density.shape[0]):
            x = np.where(ejected, x, x * leak + steps[t])
            fired = ejected | (x >= distance)
            spikes[t] = fired
            # a fired neuron is ejected and reset; the reset leaves it ejected with P = fail
            ejected = fired & (fail_draws[t] < fail)
            x = np.where(fired, 0.0, x)
        self.pulses += int(np.count_nonzero(density > 0))
        self.fires += int(spikes.sum())
        return spikes

    def rng_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def describe(self) -> str:
        return f"{self.name} ({len(self.device_names)} DW-MTJ IFR devices)"


__all__ = ["IFRArrayBackend", "IFRParameters", "check_densities", "max_density_A_m2"]
