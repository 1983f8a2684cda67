"""The CeLU activation backed by ferrimagnet neuron devices.

A ferrimagnet neuron's anomalous-Hall output follows a CeLU of its input current,
R_xy = R0 + gain celu(I; alpha) (:mod:`devices.laws.celu`), with its own alpha and gain and a
read noise (``DESIGN.md``, "Ferrimagnet CeLU neuron"). The layer gives each channel (a conv
feature map, a hidden unit) one device, round-robin over the devices it has, drives it with
I = x I_scale and reads y = (R_xy - R0) / (typical gain x I_scale): a typical device is
celu(x; 1). Forward = the device's answer with its read noise, backward = the *calibrated*
CeLU of the same device (physics-aware: real forward, model backward). ``mode="software"``
is the ideal CeLU of the typical device (the software baseline).

Devices come as per-device (alpha, gain) arrays: drawn from a config's D2D spreads
(:meth:`CeLUDeviceActivation.drawn`), from a bench's truth (:mod:`hil.synapses.simulated`),
or read through the instruments (``NeuronArray.transfer``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from devices.laws.celu import celu
from hil.synapses.array import lognormal
from hil.synapses.configs import CeLUNeuronDevice, SynapseConfigError


class CeLUDeviceActivation(nn.Module):
    """``channels`` CeLU neurons on devices (channel axis 1 of the input); ``alpha`` (A) and
    ``gain`` (ohm/A) per device, the calibrated ones (default: the same) for the backward."""

    def __init__(self, channels: int, neuron: CeLUNeuronDevice, alpha, gain,
                 calibrated_alpha=None, calibrated_gain=None, seed: int = 0):
        super().__init__()
        alpha, gain = np.asarray(alpha, dtype=float), np.asarray(gain, dtype=float)
        if alpha.shape != gain.shape or alpha.ndim != 1 or alpha.size == 0:
            raise SynapseConfigError("CeLU neurons need one alpha and one gain per device")
        if not (np.all(np.isfinite(alpha)) and np.all(alpha > 0) and np.all(np.isfinite(gain))
                and np.all(gain > 0)):
            raise SynapseConfigError(f"CeLU neuron alpha and gain must be finite and > 0, got "
                                     f"alpha {alpha.min():.3g}..{alpha.max():.3g}, gain "
                                     f"{gain.min():.3g}..{gain.max():.3g}")
        owner = np.arange(channels) % alpha.size              # channel -> device, round-robin
        cal_alpha = alpha if calibrated_alpha is None else np.asarray(calibrated_alpha, dtype=float)
        cal_gain = gain if calibrated_gain is None else np.asarray(calibrated_gain, dtype=float)
        self.neuron = neuron
        self.channels = channels
        scale, typical = neuron.current_scale_A, neuron.gain_ohm_per_A
        # in normalised units: celu(I; a) = I_scale celu(x; a / I_scale)
        self.register_buffer("alpha", torch.tensor(alpha[owner] / scale, dtype=torch.float32))
        self.register_buffer("gain", torch.tensor(gain[owner] / typical, dtype=torch.float32))
        self.register_buffer("cal_alpha", torch.tensor(cal_alpha[owner] / scale, dtype=torch.float32))
        self.register_buffer("cal_gain", torch.tensor(cal_gain[owner] / typical, dtype=torch.float32))
        self.generator = torch.Generator().manual_seed(int(seed))
        self.mode = "devices"
        self.reads = 0

    @classmethod
    def drawn(cls, channels: int, neuron: CeLUNeuronDevice, seed: int = 0,
              devices: int | None = None) -> "CeLUDeviceActivation":
        """``devices`` (default: one per channel) drawn with the config's D2D spreads; the
        backward uses the typical device (an uncalibrated model)."""
        n = devices or channels
        rng = np.random.default_rng(seed)
        spread = neuron.d2d
        alpha = lognormal(rng, neuron.alpha_A, spread.get("alpha_rel", 0.0), n)
        gain = lognormal(rng, neuron.gain_ohm_per_A, spread.get("gain_rel", 0.0), n)
        return cls(channels, neuron, alpha, gain, np.full(n, neuron.alpha_A),
                   np.full(n, neuron.gain_ohm_per_A), seed=seed + 1)

    def set_mode(self, mode: str) -> None:
        if mode not in ("software", "devices"):
            raise SynapseConfigError(f"neuron mode {mode!r} is not 'software' or 'devices'")
        self.mode = mode

    def _per_channel(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return t.reshape((1, -1) + (1,) * (x.dim() - 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "software":
            return F.celu(x)
        alpha, gain = self._per_channel(self.alpha, x), self._per_channel(self.gain, x)
        with torch.no_grad():
            real = gain * celu(x, alpha)
            if self.neuron.read_noise > 0:
                real = real + self.neuron.read_noise * torch.randn(
                    x.shape, generator=self.generator, dtype=x.dtype)
        self.reads += x.numel()
        model = self._per_channel(self.cal_gain, x) * celu(x, self._per_channel(self.cal_alpha, x))
        return real + (model - model.detach())

    def rng_state(self):
        return self.generator.get_state()

    def set_rng_state(self, state) -> None:
        if state is not None:
            self.generator.set_state(state)
