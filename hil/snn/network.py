"""Spike coding of the inputs and the spiking network of the experiment.

The features (standardized pixels) become spike trains over ``steps`` time steps with
p = sigmoid(x) per pixel: ``rate`` coding fires each step with probability p (a seeded
generator, in training and test alike), ``latency`` coding fires once, at step
round((1 - p) (steps - 1)): bright pixels early. The network is
inputs -> linear -> a spiking layer (devices or the ideal LIF) -> linear readout of each
neuron's spike rate (its count over the steps): logits for a cross-entropy loss, so
:func:`hil.train.train` trains it as it trains the switching net.
"""

from __future__ import annotations

import torch
from torch import nn

CODINGS = ("rate", "latency")


def encode(x: torch.Tensor, steps: int, coding: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Spikes (steps, batch, features) float32 of the features ``x`` (batch, features)."""
    p = torch.sigmoid(x)
    if coding == "rate":
        return (torch.rand((steps,) + tuple(x.shape), generator=generator) < p).float()
    if coding == "latency":
        first = torch.round((1.0 - p) * (steps - 1)).long()
        return (torch.arange(steps).view(-1, 1, 1) == first.unsqueeze(0)).float()
    raise ValueError(f"coding {coding!r} is not one of {CODINGS}")


class SpikingNet(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int, neurons: nn.Module, steps: int,
                 coding: str = "rate", init_seed: int = 0, coding_seed: int = 0):
        super().__init__()
        if coding not in CODINGS:
            raise ValueError(f"coding {coding!r} is not one of {CODINGS}")
        self.hidden = nn.Linear(n_in, n_hidden)
        self.neurons = neurons
        self.readout = nn.Linear(n_hidden, n_out)
        self.steps, self.coding = int(steps), coding
        self.coding_rng = torch.Generator().manual_seed(int(coding_seed))
        init = torch.Generator().manual_seed(int(init_seed))
        for layer in (self.hidden, self.readout):      # seeded, independent of the global RNG
            bound = 1.0 / layer.in_features ** 0.5
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=init)
                layer.bias.uniform_(-bound, bound, generator=init)

    def spikes(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer's spikes (steps, batch, hidden) for features ``x``."""
        return self.neurons(self.hidden(encode(x, self.steps, self.coding, self.coding_rng)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.spikes(x).mean(0))

    def swap_neurons(self, neurons: nn.Module) -> nn.Module:
        """Replace the spiking layer (deployment); returns the old one."""
        old, self.neurons = self.neurons, neurons
        return old

    def rng_state(self) -> dict:
        getter = getattr(self.neurons, "rng_state", None)
        return {"coding": self.coding_rng.get_state(), "neurons": getter() if getter else None}

    def set_rng_state(self, state) -> None:
        if not state:
            return
        self.coding_rng.set_state(state["coding"])
        setter = getattr(self.neurons, "set_rng_state", None)
        if setter and state.get("neurons") is not None:
            setter(state["neurons"])


__all__ = ["CODINGS", "SpikingNet", "encode"]
