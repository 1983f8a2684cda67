"""Device-backed weight layers: ``DeviceLinear`` and ``DeviceConv2d``.

The layer's ``weight`` parameter is the high-precision *shadow* weight the optimizer updates;
what the forward multiplies with depends on ``mode``:

``software``  the shadow weight itself (the software baseline: the same network, float weights);
``model``     ex-situ training: the shadow weight quantized to the device's levels and passed
              through the typical device's write statistics (a fresh draw each forward);
``devices``   the weights read from the layer's conductance pairs. With ``in_situ`` set, the
              pairs first follow the shadow weights changed by the last optimizer step
              (:meth:`~hil.synapses.tile.PairTile.follow`: pulses only where a level was
              crossed past the noise margin); without it the devices stay as programmed (an
              ex-situ deployment).

Gradients reach the shadow weight straight through (the device read in the forward, the
identity backward), so :func:`hil.train.train` trains these layers unchanged. The bias is
digital (the periphery's), never on devices.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hil.synapses.array import SynapseBackend
from hil.synapses.configs import SynapseConfigError, WeightConfig
from hil.synapses.tile import PairTile

MODES = ("software", "model", "devices")


class _DeviceWeights(nn.Module):
    """The shadow weight, its tile and the mode (shared by the linear and conv forms)."""

    def _init_weights(self, shape: tuple[int, ...], fan_in: int, config: WeightConfig,
                      bias: bool, generator: torch.Generator | None) -> None:
        self.config = config
        self.tile = PairTile(shape, fan_in, config)
        bound = 1 / math.sqrt(fan_in)     # PyTorch's default, whatever the device's range
        init = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        self.weight = nn.Parameter(init.float())
        if bias:
            b = 1 / math.sqrt(fan_in)
            self.bias = nn.Parameter(((torch.rand(shape[0], generator=generator) * 2 - 1) * b).float())
        else:
            self.register_parameter("bias", None)
        self.mode = "software"
        self.in_situ = False
        self._followed: torch.Tensor | None = None     # the shadow the pairs last followed

    def set_mode(self, mode: str, in_situ: bool = False) -> None:
        if mode not in MODES:
            raise SynapseConfigError(f"layer mode {mode!r} is not one of {MODES}")
        if mode == "devices" and self.tile.backend is None:
            raise RuntimeError("mode 'devices' needs the layer bound to devices (bind_devices)")
        self.mode, self.in_situ = mode, bool(in_situ and mode == "devices")

    def program_from_shadow(self) -> int:
        """Program the pairs once, from reset, to the shadow weights' nearest levels."""
        before = self.tile.pulses
        self.tile.program_levels(self.tile.nearest_level(self.weight))
        self._followed = self.weight.detach().clone()
        return self.tile.pulses - before

    def effective_weight(self) -> torch.Tensor:
        w = self.weight
        if self.mode == "software":
            return w
        if self.mode == "model":
            real = self.tile.model_weights(self.tile.nearest_level(w))
        else:
            if self.in_situ and (self._followed is None or not torch.equal(w.detach(), self._followed)):
                self.tile.clamp_(w)          # the optimizer moved the shadows: follow them
                self.tile.follow(w)
                self._followed = w.detach().clone()
            real = self.tile.read_weights()
        return real.to(w.dtype).detach() + (w - w.detach())    # device forward, identity backward


class DeviceLinear(_DeviceWeights):
    def __init__(self, in_features: int, out_features: int, config: WeightConfig, bias: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_weights((out_features, in_features), in_features, config, bias, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


class DeviceConv2d(_DeviceWeights):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, config: WeightConfig,
                 stride: int = 1, padding: int = 0, bias: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.stride, self.padding = stride, padding
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self._init_weights(shape, in_channels * kernel_size ** 2, config, bias, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)


def device_layers(model: nn.Module) -> list[_DeviceWeights]:
    return [m for m in model.modules() if isinstance(m, _DeviceWeights)]


def devices_needed(model: nn.Module) -> int:
    return sum(2 * layer.tile.size for layer in device_layers(model))


def bind_devices(model: nn.Module, backend: SynapseBackend) -> None:
    """Give every device layer of ``model`` its pairs on ``backend``, in module order."""
    offset = 0
    for layer in device_layers(model):
        offset = layer.tile.bind(backend, offset)


def set_mode(model: nn.Module, mode: str, in_situ: bool = False) -> None:
    for layer in device_layers(model):
        layer.set_mode(mode, in_situ)


def program_from_shadow(model: nn.Module) -> int:
    """Program every device layer once from its shadow weights; the pulses sent."""
    return sum(layer.program_from_shadow() for layer in device_layers(model))


def pulses_of(model: nn.Module) -> int:
    return sum(layer.tile.pulses for layer in device_layers(model))


def seed_models(model: nn.Module, seed: int) -> None:
    for i, layer in enumerate(device_layers(model)):
        layer.tile.seed_model(seed * 1000 + i)
