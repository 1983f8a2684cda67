"""An array of multi-level synapse devices, vectorized in torch: states, pulses, reads.

The fast path of the device-backed layers: every device of a network in one tensor. A
device's state is its conductance (``ltp_ltd``: the ferrimagnet) or its notch (``notched``:
the domain wall); :func:`advance` applies signed counts of nominal pulses to any number of
devices at once, by the kinds' own laws (:mod:`devices.laws.synapse_conductance`,
:mod:`devices.laws.notched_wall`): the same steps, write noise, p(J) and overshoot as the
simulated bench's truth, pulse by pulse. ``read`` answers conductances (S) as a read SMU
sees them (1 / (1/G + noise)).

Every array has the one backend interface the layers use (:class:`SynapseBackend`:
``program``, ``read``, the counters ``pulses_sent`` / ``device_reads`` and ``round_trips`` /
``bench_time_s`` / ``floor_s``); :class:`hil.synapses.bench.BenchSynapseBackend` answers the
same through the instruments. :meth:`DeviceArray.draw` makes a *model* chip (the config's
typical device with its D2D spreads, seeded); :mod:`hil.synapses.simulated` builds one with a
bench's true devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from devices.laws import notched_wall, synapse_conductance
from hil.synapses.configs import SynapseDevice

DTYPE = torch.float64


@dataclass
class DeviceParams:
    """Per-device parameters of an array (tensors of one length, or scalars for one device)."""

    g_min: torch.Tensor
    g_max: torch.Tensor
    nu_ltp: torch.Tensor
    nu_ltd: torch.Tensor
    step_probability: torch.Tensor

    @classmethod
    def of(cls, **columns) -> "DeviceParams":
        return cls(**{k: torch.as_tensor(np.asarray(v, dtype=float), dtype=DTYPE)
                      for k, v in columns.items()})

    @classmethod
    def typical(cls, device: SynapseDevice) -> "DeviceParams":
        return cls.of(g_min=device.g_min_S, g_max=device.g_max_S, nu_ltp=device.nu_ltp,
                      nu_ltd=device.nu_ltd, step_probability=device.step_probability)

    def take(self, index: torch.Tensor) -> "DeviceParams":
        return DeviceParams(*(v if v.dim() == 0 else v[index] for v in
                              (self.g_min, self.g_max, self.nu_ltp, self.nu_ltd,
                               self.step_probability)))

    def __len__(self) -> int:
        return int(self.g_min.numel())


def reset_state(device: SynapseDevice, params: DeviceParams) -> torch.Tensor:
    """A fresh (or fully depressed) device: G_min, notch 0."""
    if device.law == "notched":
        return torch.zeros_like(params.g_min)
    return params.g_min.clone()


def conductance_S(device: SynapseDevice, state: torch.Tensor, params: DeviceParams) -> torch.Tensor:
    if device.law == "notched":
        return notched_wall.level_conductance(state, float(device.n_states), params.g_min, params.g_max)
    return state


def level_fraction(device: SynapseDevice, level: torch.Tensor) -> torch.Tensor:
    """(G - G_min) / (G_max - G_min) of the typical device ``level`` pulses up from reset."""
    if device.law == "notched":
        return notched_wall.level_conductance(level, float(device.n_states), 0.0, 1.0)
    return synapse_conductance.ltp_conductance(level, 0.0, 1.0, float(device.nu_ltp),
                                               float(device.pulses_end_to_end))


def advance(device: SynapseDevice, state: torch.Tensor, pulses: torch.Tensor,
            params: DeviceParams, generator: torch.Generator) -> torch.Tensor:
    """The states after ``pulses`` (signed counts of nominal pulses, one per device), pulse by
    pulse: every device with pulses left takes its next one together."""
    state = state.clone()
    remaining = pulses.abs()
    direction = torch.sign(pulses).to(DTYPE)
    n = float(device.pulses_end_to_end)
    for _ in range(int(remaining.max()) if remaining.numel() else 0):
        on = remaining > 0
        d, p = direction[on], params.take(torch.nonzero(on).squeeze(1))
        if device.law == "notched":
            u = torch.rand((2, int(on.sum())), generator=generator, dtype=DTYPE)
            move = (u[0] < p.step_probability).to(DTYPE) * (1 + (u[1] < device.overshoot_probability).to(DTYPE))
            state[on] = (state[on] + d * move).clamp(0, device.n_states - 1)
        else:
            nu = torch.where(d > 0, p.nu_ltp, p.nu_ltd)
            g = synapse_conductance.step_conductance(state[on], 1.0, d, p.g_min, p.g_max, nu, n)
            if device.write_noise > 0:
                noise = torch.randn(g.shape, generator=generator, dtype=DTYPE)
                g = g + device.write_noise * synapse_conductance.mean_step_S(p.g_min, p.g_max, n) * noise
            state[on] = torch.minimum(torch.maximum(g, p.g_min), p.g_max)
        remaining = remaining - on.to(remaining.dtype)
    return state


def read_S(device: SynapseDevice, g: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """G as a read SMU sees it: 1 / (1/G + read noise)."""
    if device.read_noise_ohm <= 0:
        return g
    return 1.0 / (1.0 / g + device.read_noise_ohm * torch.randn(g.shape, generator=generator, dtype=DTYPE))


@runtime_checkable
class SynapseBackend(Protocol):
    """What a device-backed layer needs of its devices (simulated array or bench)."""

    device: SynapseDevice
    n_devices: int
    pulses_sent: int
    device_reads: int
    bursts: int

    def program(self, index: torch.Tensor, pulses: torch.Tensor) -> None: ...

    def read(self, index: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> str: ...


def lognormal(rng, nominal: float, rel: float, count: int) -> np.ndarray:
    """Lognormal D2D draws of mean ``nominal`` and relative spread ``rel`` (as the kinds draw)."""
    sigma = np.sqrt(np.log1p(rel * rel))
    return nominal * np.exp(sigma * rng.standard_normal(count) - 0.5 * sigma * sigma)


class DeviceArray:
    """Synapses with their own parameters (``params``), all starting at reset."""

    round_trips = 0          # no bus: the projection of a bench run is measured apart
    bench_time_s = 0.0
    floor_s = 0.0

    def __init__(self, device: SynapseDevice, params: DeviceParams, seed: int = 0,
                 name: str = "model array"):
        if bool((params.g_max <= params.g_min).any()) or bool((params.g_min <= 0).any()):
            raise ValueError("every device needs 0 < g_min < g_max")
        self.device = device
        self.params = params
        self.n_devices = len(params)
        self.state = reset_state(device, params)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.name = name
        self.pulses_sent = 0
        self.device_reads = 0
        self.bursts = 0          # (device, call) pairs that got pulses: one burst each on a bench

    @classmethod
    def draw(cls, device: SynapseDevice, n_devices: int, seed: int = 0,
             name: str | None = None) -> "DeviceArray":
        """A model chip: the typical device with the config's D2D spreads (seeded)."""
        rng = np.random.default_rng(seed)
        spread = device.d2d
        g_min = lognormal(rng, device.g_min_S, spread.get("gmin_rel", 0.0), n_devices)
        g_max = np.maximum(lognormal(rng, device.g_max_S, spread.get("gmax_rel", 0.0), n_devices),
                           1.05 * g_min)
        nu_scale = lognormal(rng, 1.0, spread.get("nu_rel", 0.0), n_devices)
        p = np.clip(device.step_probability
                    + spread.get("step_probability_abs", 0.0) * rng.standard_normal(n_devices),
                    0.01, 1.0)
        params = DeviceParams.of(g_min=g_min, g_max=g_max, nu_ltp=device.nu_ltp * nu_scale,
                                 nu_ltd=device.nu_ltd * nu_scale, step_probability=p)
        return cls(device, params, seed=seed + 1,
                   name=name or f"model array of {n_devices} {device.kind}")

    def program(self, index: torch.Tensor, pulses: torch.Tensor) -> None:
        pulses = torch.as_tensor(pulses, dtype=torch.int64)
        active = pulses != 0
        if not bool(active.any()):
            return
        index, pulses = torch.as_tensor(index)[active], pulses[active]
        self.state[index] = advance(self.device, self.state[index], pulses,
                                    self.params.take(index), self.generator)
        self.pulses_sent += int(pulses.abs().sum())
        self.bursts += int(pulses.numel())

    def conductance(self, index: torch.Tensor) -> torch.Tensor:
        """The true conductances (no read noise, not counted)."""
        index = torch.as_tensor(index)
        return conductance_S(self.device, self.state[index], self.params.take(index))

    def read(self, index: torch.Tensor) -> torch.Tensor:
        g = read_S(self.device, self.conductance(index), self.generator)
        self.device_reads += int(torch.as_tensor(index).numel())
        return g

    def describe(self) -> str:
        return f"{self.name} ({self.device.describe()})"
