"""The simulated array backend: the simulated chips' true physics for whole batches at once.

The one module of the learning side that imports the simulator (the layer contracts in
``pyproject.toml`` sanction it): a real-bench run never loads it. Its sampling is
:mod:`hil.backends`' (the same vectorized trial sampler as the calibrated model), fed with the
chips' true Neel-Brown parameters instead of fitted ones.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from devices.benchfile import BenchFile, as_bench_file
from hil.backends import ArrayBackend, CurveArray
from hil.safety import device_current_limits
from simulated_bench.chip import Chip, build_chip


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



class SimulatedArrayBackend(ArrayBackend):
    """The simulated chips' true Neel-Brown physics, sampled for whole batches at once.

    ``max_current_A`` maps device name -> safe ceiling (from the bench's limits); a current
    above it raises. Build one from a bench configuration with :meth:`from_bench`.
    """

    def __init__(self, chips: Sequence[Chip], max_current_A: Mapping[str, float], seed: int = 0,
                 name: str = "simulated array"):
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

    @classmethod
    def from_bench(cls, bench: BenchFile | str | dict | None = None, seed: int = 0,
                   chip_seed: int | None = None,
                   variability: Mapping[str, float] | None = None) -> "SimulatedArrayBackend":
        """``seed`` drives the trials; ``chip_seed`` (default: the bench's) the D2D draw."""
        bench = as_bench_file(bench)
        chips = build_chips(bench, chip_seed, variability)
        return cls(chips, device_current_limits(bench), seed,
                   name=f"simulated array of bench {bench.name!r}")

    def devices_of_size(self, size: str) -> list[str]:
        return [n for n, s in zip(self.device_names, self.sizes) if s == size]

    def describe(self) -> str:
        return f"{self.name} ({len(self.device_names)} devices, true physics)"
