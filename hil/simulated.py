"""The simulated array backend: the simulated chips' true physics for whole batches at once.

The one module of the learning side that imports the simulator (the layer contracts in
``pyproject.toml`` sanction it): a real-bench run never loads it. Its sampling is
:mod:`hil.backends`' (the same vectorized trial sampler as the calibrated model), fed with the
chips' true Neel-Brown parameters instead of fitted ones.

Devices that drift: given a bench file's resolved ``[nonideal]`` table that turns anything on
(:mod:`devices.nonideal`), the backend lives in virtual time. Every trial advances its clock
by ``trial_time_s`` (a trial's bench duration: the bench projection measures ~0.4 ms, twice the
0.2 ms read floor), and a batch meets the parameters the simulator's own law gives at the
batch's time (:meth:`simulated_bench.nonideal.NonIdeal.parameters`: stage temperature and
bias-field drift, the I50 random walk and telegraph jumps, wear with each device's cycle
count). On top, per trial, the cycle-to-cycle draws of Ic0 and Delta; dead devices (open: no
switch is read) and stuck ones (a fixed answer) from the start, and devices worn past their
life stuck from then on. All of it is numpy over the whole batch (trials x neurons), no loop
per trial. Read disturb needs the read path the array does not model (the bench has it). With
the table off (the default) nothing here runs: the figures are bit-identical to a bench
without it.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from devices import nonideal as nonideal_table
from devices.benchfile import BenchFile, as_bench_file
from hil.backends import ArrayBackend, CurveArray, check_sample_inputs
from hil.safety import CurrentLimitError, device_current_limits
from simulated_bench.chip import Chip, build_chip
from simulated_bench.nonideal import CYCLE_FRACTION, NonIdeal

#: a trial's bench duration on the virtual clock (s): the bench projection of an in-situ batch
#: measures ~0.4 ms per trial (1.98x the 0.2 ms read integration at NPLC 0.01, 50 Hz)
TRIAL_TIME_S = 0.4e-3
#: the in-plane bias field an SOT bar is written under (the bench backend's default, T)
BIAS_FIELD_T = 0.01


def build_chips(bench: BenchFile | str | dict | None = None, seed: int | None = None,
                variability: Mapping[str, float] | None = None) -> list[Chip]:
    """Draw the chips of a bench; one generator feeds every chip in order.

    ``seed`` None draws exactly the simulated bench's chips (``SimulatedBench`` seeds its
    device-to-device generator with the first of four children of the bench file's seed), so a
    calibration measured on the simulated bench fits them; an integer gives another chip
    (``np.random.default_rng(seed)``). ``variability`` replaces the bench file's D2D spreads
    (e.g. a high-variability study of the same bench).
    """
    bench = as_bench_file(bench)
    if seed is None:
        rng = np.random.default_rng(np.random.SeedSequence(bench.seed).spawn(4)[0])
    else:
        rng = np.random.default_rng(seed)
    spreads = dict(bench.variability if variability is None else variability)
    chips, order = [], []
    for group in bench.groups:
        if group.chip not in order:
            order.append(group.chip)
    for name in order:
        groups = [g for g in bench.groups if g.chip == name]
        chips.append(build_chip(name, groups, spreads, rng))
    return chips


def with_variability(bench: BenchFile, variability: Mapping[str, float]) -> BenchFile:
    return dataclasses.replace(bench, variability=dict(variability))


class DriftingDevices:
    """The non-ideal state of a backend's devices (flat over its chips): one
    :class:`~simulated_bench.nonideal.NonIdeal` per chip, seeded by ``seed`` and the chip's
    index (a backend built with the same seed meets the same dead, stuck and fluctuating
    devices and the same lives), read as arrays in the backend's device order."""

    def __init__(self, chips: Sequence[Chip], resolved: dict, seed: int):
        self.chips = list(chips)
        self.states = [NonIdeal(chip, resolved, seed, i) for i, chip in enumerate(self.chips)]
        flat = lambda f: np.concatenate([f(s) for s in self.states])   # noqa: E731
        self.c2c_ic0 = flat(lambda s: s.values["c2c_ic0_rel"])
        self.c2c_delta = flat(lambda s: s.values["c2c_delta_rel"])
        self.dead = flat(lambda s: s.dead_at_start)
        #: the answer a stuck device gives (1: stuck in the written state, 0: in reset)
        self.stuck_answer = flat(lambda s: (s.stuck_state > 0).astype(np.float32))
        self.cycle_fraction = CYCLE_FRACTION

    def parameters(self, time_s: float, field_T: float = BIAS_FIELD_T) -> tuple[np.ndarray, np.ndarray]:
        """(Ic0, Delta) of every device at ``time_s``: the simulator's law, without the
        per-trial draws."""
        ic0, delta = zip(*(s.parameters(c, time_s, field_T) for s, c in zip(self.states, self.chips)))
        return np.concatenate(ic0), np.concatenate(delta)

    @property
    def stuck(self) -> np.ndarray:
        return np.concatenate([s.stuck for s in self.states])

    @property
    def cycles(self) -> np.ndarray:
        return np.concatenate([s.cycles for s in self.states])

    def add_cycles(self, per_device: np.ndarray) -> None:
        """Count write cycles per device; a device past its life is stuck from now on."""
        start = 0
        for s in self.states:
            n = len(s.cycles)
            s.cycles += per_device[start:start + n].astype(np.int64)
            s.stuck |= s.cycles > s.life_cycles
            start += n

    def state(self) -> dict:
        """Plain data (lists): what a checkpoint needs to continue the same drift."""
        return {"states": [{"time_s": s.time_s, "log_walk": s.log_walk.tolist(),
                            "telegraph": s.telegraph.tolist(), "cycles": s.cycles.tolist(),
                            "stuck": s.stuck.tolist(),
                            "rng": {k: g.bit_generator.state for k, g in s.rng.items()}}
                           for s in self.states]}

    def set_state(self, state: dict) -> None:
        for s, saved in zip(self.states, state["states"]):
            s.time_s = float(saved["time_s"])
            s.log_walk = np.asarray(saved["log_walk"], dtype=float)
            s.telegraph = np.asarray(saved["telegraph"], dtype=float)
            s.cycles = np.asarray(saved["cycles"], dtype=np.int64)
            s.stuck = np.asarray(saved["stuck"], dtype=bool)
            for k, g in s.rng.items():
                g.bit_generator.state = saved["rng"][k]



class SimulatedArrayBackend(ArrayBackend):
    """The simulated chips' true Neel-Brown physics, sampled for whole batches at once.

    ``max_current_A`` maps device name -> safe ceiling (from the bench's limits); a current
    above it raises. Build one from a bench configuration with :meth:`from_bench`.
    """

    def __init__(self, chips: Sequence[Chip], max_current_A: Mapping[str, float], seed: int = 0,
                 name: str = "simulated array", nonideal: dict | None = None,
                 nonideal_seed: int = 0, trial_time_s: float = TRIAL_TIME_S):
        names, cols = [], {k: [] for k in ("ic0", "delta", "tau0", "exp", "ndom", "imax", "size")}
        for chip in chips:
            for i, dev in enumerate(chip.names):
                if dev not in max_current_A:
                    raise KeyError(f"no safe maximum current for device {dev!r}; pass the "
                                   f"bench limits (hil.safety.device_current_limits)")
                names.append(dev)
                cols["ic0"].append(chip.ic0_A[i])
                cols["delta"].append(chip.delta[i])
                cols["tau0"].append(chip.tau0_s[i])
                cols["exp"].append(chip.exponent[i])
                cols["ndom"].append(chip.n_domains[i])
                cols["imax"].append(max_current_A[dev])
                cols["size"].append(chip.size[i])
        self.chips = list(chips)
        self.sizes = list(cols["size"])
        self.name = name
        nan = np.full(len(names), np.nan)
        super().__init__(CurveArray(names, ["neel_brown"] * len(names), cols["ic0"], cols["delta"],
                                     cols["tau0"], cols["exp"], nan, nan, cols["ndom"],
                                     cols["imax"], np.random.default_rng(seed)))
        #: the devices' non-ideal state (None: they never leave their truth)
        self.drift = (None if nonideal is None or nonideal_table.is_off(nonideal)
                      else DriftingDevices(self.chips, nonideal, nonideal_seed))
        self.nonideal, self.nonideal_seed = nonideal, nonideal_seed
        self.trial_time_s = float(trial_time_s)
        self.clock_s = 0.0          # virtual time the devices have lived (drifting devices)
        self.trials = 0             # trials answered through sample()
        self._cols = cols
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_bench(cls, bench: BenchFile | str | dict | None = None, seed: int = 0,
                   chip_seed: int | None = None,
                   variability: Mapping[str, float] | None = None,
                   nonideal: dict | None = None, nonideal_seed: int | None = None,
                   trial_time_s: float = TRIAL_TIME_S) -> "SimulatedArrayBackend":
        """``seed`` drives the trials; ``chip_seed`` (default: the bench's) the D2D draw;
        ``nonideal`` (default: the bench file's resolved ``[nonideal]``) what drifts, with
        ``nonideal_seed`` (default: the bench's seed) its streams."""
        bench = as_bench_file(bench)
        chips = build_chips(bench, chip_seed, variability)
        return cls(chips, device_current_limits(bench), seed,
                   name=f"simulated array of bench {bench.name!r}",
                   nonideal=bench.nonideal if nonideal is None else nonideal,
                   nonideal_seed=bench.seed if nonideal_seed is None else nonideal_seed,
                   trial_time_s=trial_time_s)

    # ------------------------------------------------------------------ drifting devices
    def sample(self, device_index, current_A, width_s, repeats=1):
        if self.drift is None:
            self.trials += int(np.size(current_A)) * int(repeats)
            return super().sample(device_index, current_A, width_s, repeats)
        return self._drifting_sample(np.asarray(device_index, dtype=np.int64),
                                     np.abs(np.asarray(current_A, dtype=np.float32)),
                                     float(width_s), repeats)

    def mapped_sampler(self, device_index, centre_A, span_A, width_s, repeats=1):
        """None for drifting devices (their constants change every batch: :meth:`sample`)."""
        if self.drift is not None:
            return None
        return super().mapped_sampler(device_index, centre_A, span_A, width_s, repeats)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass with no trial (the devices drift, nothing wears)."""
        if not seconds >= 0:
            raise ValueError(f"advance takes seconds >= 0, got {seconds!r}")
        self.clock_s += float(seconds)

    def _drifting_sample(self, idx, current, width_s, repeats):
        check_sample_inputs(current, len(idx), repeats)
        cols = self._cols
        ceiling = np.asarray(cols["imax"])[idx]
        peak = current.max(axis=0) if len(current) else np.zeros(len(idx))
        over = ~(peak <= ceiling)
        if over.any():
            j = int(np.flatnonzero(over)[0])
            raise CurrentLimitError(
                f"write current {peak[j]:.4g} A for device {self.device_names[idx[j]]!r} (neuron "
                f"{j}) exceeds its safe maximum {ceiling[j]:.4g} A; nothing was applied")
        drift = self.drift
        ic0_all, delta_all = drift.parameters(self.clock_s)
        ic0, delta = ic0_all[idx].astype(np.float32), delta_all[idx].astype(np.float32)
        shape = (int(repeats),) + current.shape
        rng = self._rng
        # cycle-to-cycle: every trial meets its own Ic0 and Delta
        if drift.c2c_ic0[idx].any():
            ic0 = ic0 * np.maximum(1.0 + drift.c2c_ic0[idx].astype(np.float32)
                                   * rng.standard_normal(shape, dtype=np.float32), 0.05)
        if drift.c2c_delta[idx].any():
            delta = delta * np.maximum(1.0 + drift.c2c_delta[idx].astype(np.float32)
                                       * rng.standard_normal(shape, dtype=np.float32), 0.05)
        log_t = np.log(width_s / np.asarray(cols["tau0"], dtype=float)[idx]).astype(np.float32)
        exponent = np.asarray(cols["exp"], dtype=np.float32)[idx]
        reduced = np.maximum(1.0 - current / ic0, 0.0)
        log_rate = log_t - delta * (reduced if np.all(exponent == 1.0) else reduced ** exponent)
        p = -np.expm1(-np.exp(log_rate))
        domains = np.asarray(cols["ndom"], dtype=np.int64)[idx]
        p = np.broadcast_to(p, shape)
        if np.all(domains == 1):
            answer = (rng.random(shape, dtype=np.float32) < p).mean(axis=0, dtype=np.float32)
        else:
            n = np.broadcast_to(domains, shape)
            answer = (rng.binomial(n, p) / n).mean(axis=0).astype(np.float32)
        stuck = drift.stuck[idx]
        answer[:, drift.dead[idx]] = 0.0                 # open: no switch is ever read
        answer[:, stuck] = drift.stuck_answer[idx][stuck]
        # wear: the reset pulse and a write from CYCLE_FRACTION x Ic0 up are cycles
        writes = (current >= drift.cycle_fraction * ic0_all[idx]).sum(axis=0) + len(current)
        drift.add_cycles(np.bincount(idx, weights=writes * int(repeats), minlength=len(ic0_all)))
        n_trials = current.size * int(repeats)
        self.trials += n_trials
        self.clock_s += n_trials * self.trial_time_s
        return answer

    def rng_state(self) -> dict:
        """The trial generator's state; for drifting devices also the clock and the drift."""
        if self.drift is None:
            return super().rng_state()
        return {"trials": super().rng_state(), "own": self._rng.bit_generator.state,
                "clock_s": self.clock_s, "drift": self.drift.state()}

    def set_rng_state(self, state: dict) -> None:
        if "drift" not in state:
            super().set_rng_state(state)
            return
        super().set_rng_state(state["trials"])
        if self.drift is not None:
            self._rng.bit_generator.state = state["own"]
            self.clock_s = float(state["clock_s"])
            self.drift.set_state(state["drift"])

    def twin(self, seed: int, name: str | None = None) -> "SimulatedArrayBackend":
        """A fresh backend on the same chips and non-idealities, from virtual time 0 (the same
        dead, stuck and fluctuating devices), with its own trial generator ``seed``."""
        return SimulatedArrayBackend(self.chips, {n: float(m) for n, m in zip(
            self.device_names, self._cols["imax"])}, seed, name or self.name, self.nonideal,
            self.nonideal_seed, self.trial_time_s)

    def devices_of_size(self, size: str) -> list[str]:
        return [n for n, s in zip(self.device_names, self.sizes) if s == size]

    def describe(self) -> str:
        drift = "" if self.drift is None else ", drifting in virtual time"
        return f"{self.name} ({len(self.device_names)} devices, true physics{drift})"
