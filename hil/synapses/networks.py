"""The all-spin CNN and the synapse MLP: device synapses, CeLU device neurons, digital pooling.

Both take flat images (``hil.data``'s rows) and reshape them; the weight layers are
:class:`~hil.synapses.layers.DeviceConv2d` / ``DeviceLinear`` and every activation a
:class:`~hil.synapses.neurons.CeLUDeviceActivation`. The software baseline is the *same*
network (same initial weights from the same generator) with its layers in ``software`` mode:
float weights, ideal CeLU. Pooling and the biases are the digital periphery's.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from hil.synapses.configs import WeightConfig
from hil.synapses.layers import DeviceConv2d, DeviceLinear, device_layers
from hil.synapses.neurons import CeLUDeviceActivation

#: channels -> the activation layer for them (one device per channel, or round-robin)
NeuronFactory = Callable[[int], CeLUDeviceActivation]


class AllSpinCNN(nn.Module):
    """conv3x3(c1) - CeLU - avgpool2 - conv3x3(c2) - CeLU - avgpool2 - linear (classes)."""

    def __init__(self, image: tuple[int, int, int], n_classes: int, weights: WeightConfig,
                 neurons: NeuronFactory, channels: tuple[int, int] = (8, 16), seed: int = 0):
        super().__init__()
        c, h, w = image
        if h % 4 or w % 4:
            raise ValueError(f"the CNN pools twice by 2: image {h}x{w} must be a multiple of 4")
        g = torch.Generator().manual_seed(int(seed))
        self.image = image
        c1, c2 = channels
        self.conv1 = DeviceConv2d(c, c1, 3, weights, padding=1, generator=g)
        self.act1 = neurons(c1)
        self.conv2 = DeviceConv2d(c1, c2, 3, weights, padding=1, generator=g)
        self.act2 = neurons(c2)
        self.pool = nn.AvgPool2d(2)
        self.readout = DeviceLinear(c2 * (h // 4) * (w // 4), n_classes, weights, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape((-1,) + tuple(self.image))
        x = self.pool(self.act1(self.conv1(x)))
        x = self.pool(self.act2(self.conv2(x)))
        return self.readout(x.flatten(1))


class SynapseMLP(nn.Module):
    """inputs - DeviceLinear(hidden) - CeLU neurons - DeviceLinear(classes)."""

    def __init__(self, n_in: int, n_classes: int, weights: WeightConfig, neurons: NeuronFactory,
                 hidden: int = 32, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.hidden = DeviceLinear(n_in, hidden, weights, generator=g)
        self.act = neurons(hidden)
        self.readout = DeviceLinear(hidden, n_classes, weights, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.act(self.hidden(x)))


def activations(model: nn.Module) -> list[CeLUDeviceActivation]:
    return [m for m in model.modules() if isinstance(m, CeLUDeviceActivation)]


def set_network_mode(model: nn.Module, synapses: str, neurons: str, in_situ: bool = False) -> None:
    """Synapse layers to ``synapses`` (software / model / devices), activations to ``neurons``."""
    for layer in device_layers(model):
        layer.set_mode(synapses, in_situ)
    for act in activations(model):
        act.set_mode(neurons)
