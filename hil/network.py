"""The network of the experiments: inputs -> linear -> a layer of neurons -> linear readout.

The hidden neurons are interchangeable modules (``nn.Sigmoid``, :class:`StochasticSigmoidNeuron`,
:class:`DeviceNeuron`); the weights live in "input units" x, so a network trained with one
kind of neuron can be deployed on another by swapping the layer (ex-situ deployment).
"""

from __future__ import annotations

import torch
from torch import nn


class HiddenLayerNet(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int, neurons: nn.Module,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.neurons = neurons
        self.readout = nn.Linear(n_hidden, n_out)
        if generator is not None:  # seeded init, independent of the global torch RNG
            for layer in (self.hidden, self.readout):
                bound = 1.0 / layer.in_features ** 0.5
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.neurons(self.hidden(x)))

    def swap_neurons(self, neurons: nn.Module) -> nn.Module:
        """Replace the hidden neurons (deployment); returns the old layer."""
        old, self.neurons = self.neurons, neurons
        return old

    def rng_state(self):
        getter = getattr(self.neurons, "rng_state", None)
        return getter() if getter else None

    def set_rng_state(self, state) -> None:
        setter = getattr(self.neurons, "set_rng_state", None)
        if setter and state is not None:
            setter(state)
