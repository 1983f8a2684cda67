"""The network of the experiments: inputs -> (linear -> a layer of neurons) x L -> linear readout.

The hidden neurons are interchangeable modules (``nn.Sigmoid``, :class:`StochasticSigmoidNeuron`,
:class:`DeviceNeuron`); the weights live in "input units" x, so a network trained with one
kind of neuron can be deployed on another by swapping the layers (ex-situ deployment).

``n_hidden`` an int is the one-hidden-layer network (its parameters keep the names
``hidden`` and ``readout``); a list of widths stacks one neuron layer per width, the first as
``hidden`` / ``neurons`` and the others under ``deeper`` / ``deeper_neurons``. Device layers
of several hidden layers may share the same devices: a bench serves them one after another.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class HiddenLayerNet(nn.Module):
    def __init__(self, n_in: int, n_hidden: int | Sequence[int], n_out: int,
                 neurons: nn.Module | Sequence[nn.Module], generator: torch.Generator | None = None):
        super().__init__()
        widths = [int(n_hidden)] if isinstance(n_hidden, int) else [int(w) for w in n_hidden]
        layers = [neurons] if isinstance(neurons, nn.Module) else list(neurons)
        if len(layers) != len(widths):
            raise ValueError(f"{len(widths)} hidden layer width(s) {widths} need as many neuron "
                             f"layers, got {len(layers)}")
        self.hidden = nn.Linear(n_in, widths[0])
        self.neurons = layers[0]
        self.deeper = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.deeper_neurons = nn.ModuleList(layers[1:])
        self.readout = nn.Linear(widths[-1], n_out)
        if generator is not None:  # seeded init, independent of the global torch RNG
            for layer in (self.hidden, *self.deeper, self.readout):
                bound = 1.0 / layer.in_features ** 0.5
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)

    def neuron_layers(self) -> list[nn.Module]:
        """The hidden neuron layers, input side first."""
        return [self.neurons, *self.deeper_neurons]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.neurons(self.hidden(x))
        for linear, neurons in zip(self.deeper, self.deeper_neurons):
            h = neurons(linear(h))
        return self.readout(h)

    def swap_neurons(self, neurons: nn.Module | Sequence[nn.Module]):
        """Replace the hidden neurons (deployment): one module, or one per hidden layer;
        returns the old layer (one hidden layer) or the list of old layers."""
        layers = [neurons] if isinstance(neurons, nn.Module) else list(neurons)
        old = self.neuron_layers()
        if len(layers) != len(old):
            raise ValueError(f"this network has {len(old)} hidden layer(s), got {len(layers)} "
                             f"neuron layer(s)")
        self.neurons = layers[0]
        self.deeper_neurons = nn.ModuleList(layers[1:])
        return old[0] if len(old) == 1 else old

    def rng_state(self):
        states = [getattr(n, "rng_state", lambda: None)() for n in self.neuron_layers()]
        return states[0] if len(states) == 1 else states

    def set_rng_state(self, state) -> None:
        layers = self.neuron_layers()
        states = [state] if len(layers) == 1 else (state or [None] * len(layers))
        for layer, s in zip(layers, states):
            setter = getattr(layer, "set_rng_state", None)
            if setter and s is not None:
                setter(s)
