"""Synapse and neuron devices drawn from a simulated bench's truth.

The one module of :mod:`hil.synapses` that imports the simulator (sanctioned in
``pyproject.toml``'s import contracts, as :mod:`hil.simulated` is): a real-bench run never
loads it. It reads a bench file's synapse and neuron groups the way the simulated bench draws
them (its kinds' ``build_state``), so:

- :func:`typical_synapse` / :func:`typical_neuron`: a group's nominal device as a config
  (the truth's parameters at the bench's D2D spreads), what "calibration: truth" means here;
- :func:`true_synapses`: ``n_devices`` synapses of a group drawn by the truth itself (the
  group's count raised to what a network needs; another seed, another chip);
- :func:`bench_synapses`: the bench's own synapses of a group, exactly the chip the simulated
  bench holds (the bench backend's devices), for comparing the two paths;
- :func:`true_neurons`: the bench's own CeLU neurons (alpha, gain per device).
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np

from devices import kinds
from devices.benchfile import BenchFile, DeviceGroup, as_bench_file
from devices.laws import notched_wall
from hil.simulated import build_chips
from hil.synapses.array import DeviceArray, DeviceParams
from hil.synapses.configs import CeLUNeuronDevice, SynapseConfigError, SynapseDevice
from simulated_bench.chip import build_chip
from simulated_bench.kinds import truth as kind_truth

SYNAPSE_ELEMENTS = ("analog_synapse", "quantized_synapse")
NEURON_ELEMENTS = ("celu_neuron",)


def _groups(bench: BenchFile, elements: tuple[str, ...]) -> list[DeviceGroup]:
    return [g for g in bench.groups if kinds.kind(g.kind).element in elements]


def synapse_sizes(bench) -> list[str]:
    return [g.size for g in _groups(as_bench_file(bench), SYNAPSE_ELEMENTS)]


def neuron_sizes(bench) -> list[str]:
    return [g.size for g in _groups(as_bench_file(bench), NEURON_ELEMENTS)]


def _group(bench: BenchFile, size: str, elements: tuple[str, ...], what: str) -> DeviceGroup:
    groups = _groups(bench, elements)
    for group in groups:
        if group.size == size:
            return group
    raise SynapseConfigError(f"bench {bench.name!r} has no {what} group of size {size!r} "
                             f"(its {what} sizes: {[g.size for g in groups] or 'none'})")


def _design_probability(group: DeviceGroup, jdep_A_m2, p: dict) -> np.ndarray:
    """p(J) of a notched wall at the group's design programming pulse."""
    design = importlib.import_module(f"devices.kinds.{group.kind}").programming(group)
    return np.asarray(notched_wall.depinning_probability(
        design.density_A_m2, design.width_s, jdep_A_m2, p["pinning_barrier_kT"], p["tau0_s"]), dtype=float)


def typical_synapse(bench, size: str) -> SynapseDevice:
    """The nominal device of a synapse group (the truth's parameters, the bench's spreads)."""
    bench = as_bench_file(bench)
    group = _group(bench, size, SYNAPSE_ELEMENTS, "synapse")
    p = kind_truth(group.kind).nominal_parameters(group)
    spread = bench.variability
    d2d = {k: float(spread[k]) for k in ("gmin_rel", "gmax_rel", "nu_rel") if k in spread}
    common = dict(kind=group.kind, g_min_S=float(p["gmin_S"]), g_max_S=float(p["gmax_S"]),
                  read_noise_ohm=float(p["read_noise_ohm"]))
    if "levels" in p:       # a notched wall
        rel = float(spread.get("jdep_rel", 0.0))
        jdep = float(p["depinning_density_A_m2"])
        p_typ = float(_design_probability(group, jdep, p))
        if rel > 0:         # the spread of p(J) that the spread of J_dep makes
            lo, hi = _design_probability(group, np.array([jdep * (1 + rel), jdep * (1 - rel)]), p)
            d2d["step_probability_abs"] = float(min(abs(hi - lo) / 2, 1.0))
        d2d.pop("nu_rel", None)
        return SynapseDevice(law="notched", n_states=int(p["levels"]), step_probability=p_typ,
                             overshoot_probability=float(p["overshoot_probability"]), d2d=d2d,
                             **common)
    return SynapseDevice(law="ltp_ltd", n_states=int(p["n_pulses"]) + 1, nu_ltp=float(p["nu_ltp"]),
                         nu_ltd=float(p["nu_ltd"]), write_noise=float(p["write_noise"]), d2d=d2d,
                         **common)


def _array_of(chip, group: DeviceGroup, device: SynapseDevice, seed: int, name: str) -> DeviceArray:
    idx = np.flatnonzero(chip.size == group.size)
    state = chip.kind_state[group.kind]
    p = kind_truth(group.kind).nominal_parameters(group)
    if device.law == "notched":
        prob = _design_probability(group, state.jdep_A_m2[idx], p)
        nu = np.zeros(len(idx))
        params = DeviceParams.of(g_min=state.gmin_S[idx], g_max=state.gmax_S[idx], nu_ltp=nu,
                                 nu_ltd=nu, step_probability=prob)
    else:
        params = DeviceParams.of(g_min=state.gmin_S[idx], g_max=state.gmax_S[idx],
                                 nu_ltp=state.nu_ltp[idx], nu_ltd=state.nu_ltd[idx],
                                 step_probability=np.ones(len(idx)))
    return DeviceArray(device, params, seed=seed, name=name)


def true_synapses(bench, size: str, n_devices: int, seed: int) -> DeviceArray:
    """``n_devices`` synapses of group ``size`` drawn by the simulator's truth (seeded chip)."""
    bench = as_bench_file(bench)
    group = _group(bench, size, SYNAPSE_ELEMENTS, "synapse")
    device = typical_synapse(bench, size)
    big = dataclasses.replace(group, count=int(n_devices), columns=0)
    chip = build_chip("model", [big], dict(bench.variability), np.random.default_rng(seed))
    return _array_of(chip, big, device, seed + 1,
                     f"{n_devices} simulated {group.kind} devices like {bench.name}:{size}")


def bench_synapses(bench, size: str, seed: int = 0) -> DeviceArray:
    """The bench's own synapses of group ``size``: the chip the simulated bench holds."""
    bench = as_bench_file(bench)
    group = _group(bench, size, SYNAPSE_ELEMENTS, "synapse")
    chip = next(c for c in build_chips(bench) if group.size in set(c.size))
    return _array_of(chip, group, typical_synapse(bench, size), seed,
                     f"the simulated bench's {bench.name}:{size} synapses")


def typical_neuron(bench, size: str | None = None) -> CeLUNeuronDevice:
    bench = as_bench_file(bench)
    sizes = neuron_sizes(bench)
    if not sizes:
        raise SynapseConfigError(f"bench {bench.name!r} has no CeLU neuron group: give "
                                 f"--neuron-bench examples/benches/celu_neurons.toml (or a bench "
                                 f"with ferrimagnet_celu_neuron devices), or leave it out")
    group = _group(bench, size or sizes[0], NEURON_ELEMENTS, "neuron")
    p = kind_truth(group.kind).nominal_parameters(group)
    d2d = {k: float(bench.variability[k]) for k in ("alpha_rel", "gain_rel") if k in bench.variability}
    return CeLUNeuronDevice(alpha_A=float(p["alpha_A"]), gain_ohm_per_A=float(p["gain_ohm_per_A"]),
                            r_offset_ohm=float(p["r_offset_ohm"]),
                            read_noise_ohm=float(p["read_noise_ohm"]), d2d=d2d, kind=group.kind)


def true_neurons(bench, size: str | None = None) -> tuple[CeLUNeuronDevice, np.ndarray, np.ndarray]:
    """(typical config, alpha_A, gain_ohm_per_A) of the bench's own neurons of group ``size``."""
    bench = as_bench_file(bench)
    device = typical_neuron(bench, size)
    size = size or neuron_sizes(bench)[0]
    chip = next(c for c in build_chips(bench) if size in set(c.size))
    idx = np.flatnonzero(chip.size == size)
    state = chip.kind_state[device.kind]
    return device, np.asarray(state.alpha_A[idx]), np.asarray(state.gain_ohm_per_A[idx])
