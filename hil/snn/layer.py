"""Spiking layers: domain-wall IFR devices (device forward, calibrated-model backward) and the
ideal LIF baseline (snnTorch's ``Leaky``).

Inputs are time-major pre-activations x (steps, batch, neurons); outputs spikes of the same
shape. A device neuron's input sets its write pulse's current density each step
(:class:`DensityMapping`)::

    J(x) = J_c + span tanh(x)   for x > 0,   0 (no pulse) for x <= 0

``J_c`` is the calibrated depinning density of the neuron's device (x = 0+ is where its wall
starts to move, whatever the D2D spread) and ``span`` the density over it at which one pulse
moves the wall ``full_drive`` x its distance to fire (1: the neuron can fire every step),
narrowed where that would pass ``headroom`` x the device's safe maximum density: the limit
holds by construction, and a device whose J_dep is not below it is refused
(:class:`~hil.safety.CurrentLimitError`). An uncalibrated deployment gives every neuron the
typical device's ``J_c`` and ``span``.

Backward (physics-aware, as the switching layer's): the calibrated model of each device, run
alongside the device with the same densities and reset where the *device* fired, is a
membrane u_t = a u_{t-1} + mu (J_t - J_dep)+ t / D (the law's mean step over the distance to
fire, :func:`devices.laws.domain_wall.mean_step_m`; a the leak over a step); the spike's
gradient is a fast-sigmoid surrogate of u_t - 1, 1 / (1 + k |u_t - 1|)^2 (the shape of
snnTorch's ``surrogate.fast_sigmoid``), and the forward value is the device's spike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from devices.laws import domain_wall
from hil.neuron import BackendTrialState
from hil.safety import CurrentLimitError
from hil.snn.devices import FLOAT32_MARGIN, IFRParameters


class DensityMapping(nn.Module):
    """Per-neuron x -> write current density (A/m^2), bounded by construction."""

    def __init__(self, centre_A_m2, span_A_m2, ceiling_A_m2, device_names: Sequence[str]):
        super().__init__()
        centre, span, ceiling = (np.asarray(v, dtype=float).reshape(-1)
                                 for v in (centre_A_m2, span_A_m2, ceiling_A_m2))
        names = list(device_names)
        for label, arr in (("centre", centre), ("span", span), ("ceiling", ceiling)):
            if arr.shape != (len(names),) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(f"density mapping {label} must be one finite value > 0 per "
                                 f"neuron ({len(names)}), got {arr[:4]}")
        top = (centre + span) * (1 + FLOAT32_MARGIN)
        if np.any(top > ceiling):
            j = int(np.argmax(top - ceiling))
            raise CurrentLimitError(
                f"neuron {j} on device {names[j]!r}: the mapping reaches {centre[j] + span[j]:.4g} "
                f"A/m^2, over the device's safe maximum {ceiling[j]:.4g} A/m^2; lower the span "
                f"(DensityMapping.from_parameters sizes it from the limits)")
        self.device_names = names
        f32 = torch.float32
        self.register_buffer("centre", torch.tensor(centre, dtype=f32), persistent=False)
        self.register_buffer("span", torch.tensor(span, dtype=f32), persistent=False)
        self.ceiling_A_m2 = ceiling
        self.narrowed: list[str] = []

    @classmethod
    def from_parameters(cls, own: IFRParameters, width_s: float, full_drive: float = 1.0,
                        headroom: float = 0.9, like: IFRParameters | None = None) -> "DensityMapping":
        """Centre and span from ``like``'s devices (default: ``own``, the neurons' own
        calibrated devices, one entry per neuron), ceilings from ``own``'s."""
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom!r}")
        if not full_drive > 0:
            raise ValueError(f"full_drive must be > 0, got {full_drive!r}")
        like = own if like is None else like
        centre = like.jdep_A_m2
        wanted = full_drive * like.distance_m / (like.mobility_m3_per_A_s * width_s)
        room = headroom * own.max_density_A_m2 - centre
        for j, name in enumerate(own.names):
            if room[j] <= 0:
                raise CurrentLimitError(
                    f"device {name!r}: its depinning density {centre[j]:.4g} A/m^2 is not below "
                    f"{headroom:g} x its safe maximum {own.max_density_A_m2[j]:.4g} A/m^2: its wall "
                    f"cannot be moved safely; use another device or raise the bench limits")
        span = np.minimum(wanted, room)
        mapping = cls(centre, span, own.max_density_A_m2, own.names)
        mapping.narrowed = [n for n, s, w in zip(own.names, span, wanted) if s < w * (1 - 1e-9)]
        return mapping

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on = self.centre + self.span * torch.tanh(x)
        return torch.where(x > 0, on, torch.zeros_like(on))


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward; 1 / (1 + k |v|)^2 backward (snnTorch's fast-sigmoid surrogate shape)."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, slope: float):
        ctx.save_for_backward(v)
        ctx.slope = slope
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (v,) = ctx.saved_tensors
        return grad_out / (1.0 + ctx.slope * v.abs()) ** 2, None


class IFRSpikingLayer(BackendTrialState, nn.Module):
    """A layer of spiking neurons, each a (time-shared) domain-wall IFR device.

    ``backend`` plays the sequences (:class:`~hil.snn.devices.IFRArrayBackend`: the calibrated
    model or the simulated truth; :class:`~hil.snn.bench.IFRBenchBackend`: the instruments);
    ``model`` holds the calibrated parameters of each neuron's device (one entry per neuron)
    for the backward pass; ``period_s`` is the time between a neuron's pulses (its leak).
    """

    def __init__(self, backend, neuron_devices: Sequence[str], mapping: DensityMapping,
                 model: IFRParameters, width_s: float, period_s: float = 1e-6,
                 slope: float = 5.0):
        super().__init__()
        if list(mapping.device_names) != list(neuron_devices) or list(model.names) != list(neuron_devices):
            raise ValueError("the mapping and the model must be built for neuron_devices, in order")
        self.backend = backend
        self.neuron_devices = list(neuron_devices)
        self.device_index = backend.index_of(self.neuron_devices)
        self.mapping = mapping
        self.width_s, self.period_s, self.slope = float(width_s), float(period_s), float(slope)
        f32 = torch.float32
        self.register_buffer("jdep", torch.tensor(model.jdep_A_m2, dtype=f32), persistent=False)
        self.register_buffer("mobility", torch.tensor(model.mobility_m3_per_A_s, dtype=f32),
                             persistent=False)
        self.register_buffer("inv_distance", torch.tensor(1.0 / model.distance_m, dtype=f32),
                             persistent=False)
        self.register_buffer("leak", torch.tensor(
            domain_wall.leak_factor(self.period_s, model.leak_time_s), dtype=f32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != len(self.neuron_devices):
            raise ValueError(f"IFRSpikingLayer expects (steps, batch, {len(self.neuron_devices)}) "
                             f"inputs, got {tuple(x.shape)}")
        density = self.mapping(x.float())
        fired = torch.from_numpy(self.backend.run(
            self.device_index, density.detach().double().numpy(), self.width_s, self.period_s))
        if not (torch.is_grad_enabled() and x.requires_grad):
            return fired
        # the calibrated model's membrane, in units of the distance to fire
        drive = domain_wall.mean_step_m(density, self.width_s, self.jdep, self.mobility) * self.inv_distance
        u = torch.zeros_like(drive[0])
        out = []
        for t in range(drive.shape[0]):
            u = self.leak * u + drive[t]
            spike = FastSigmoidSpike.apply(u - 1.0, self.slope)
            out.append(spike + (fired[t] - spike).detach())    # the device's spike, the model's slope
            u = u * (1.0 - fired[t])                           # reset where the device fired
        return torch.stack(out)

    def report(self) -> str:
        per = {n: self.neuron_devices.count(n) for n in dict.fromkeys(self.neuron_devices)}
        shared = ", ".join(f"{name.rsplit('/', 1)[-1]} x{k}" for name, k in per.items())
        narrowed = f"; span narrowed by the safety limit on {len(self.mapping.narrowed)} neuron(s)" \
            if self.mapping.narrowed else ""
        return f"{len(self.neuron_devices)} neurons on {len(per)} devices ({shared}){narrowed}"

    def extra_repr(self) -> str:
        return (f"neurons={len(self.neuron_devices)}, devices={len(set(self.neuron_devices))}, "
                f"width_s={self.width_s:g}, period_s={self.period_s:g}, slope={self.slope:g}")


class LIFLayer(nn.Module):
    """The ideal baseline: snnTorch's ``Leaky`` (membrane decay ``beta``, threshold 1, reset to
    zero as the wall's reset) with its fast-sigmoid surrogate, stepped over time."""

    def __init__(self, beta: float = 0.95, slope: float = 5.0):
        super().__init__()
        import snntorch
        from snntorch import surrogate

        self.lif = snntorch.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero",
                                  spike_grad=surrogate.fast_sigmoid(slope=slope))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem = self.lif.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spike, mem = self.lif(x[t], mem)
            out.append(spike)
        return torch.stack(out)


__all__ = ["DensityMapping", "FastSigmoidSpike", "IFRSpikingLayer", "LIFLayer"]
