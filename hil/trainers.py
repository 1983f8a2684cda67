"""The networks ``hil train --network NAME`` trains, one experiment module each.

A module named here gives ``add_train_arguments(parser)`` (its options) and
``train_main(args) -> int``; ``hil train`` imports only the one asked for, so a network's
dependencies (snnTorch for the ideal-LIF baseline, say) matter only to its own runs. Adding a
network adds its module and one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEFAULT = "mlp"

#: name -> (experiment module, one line for ``hil train --help``)
NETWORKS: dict[str, tuple[str, str]] = {
    "mlp": ("hil.experiment", "one hidden layer of stochastic switching neurons (default)"),
    "snn": ("hil.snn.experiment", "a spiking layer of DW-MTJ integrate-fire-reset neurons (digits)"),
    "stdp": ("hil.stdp.experiment", "unsupervised stochastic binary STDP on STT-MTJ synapses (WTA)"),
    "cnn": ("hil.synapses.experiment", "the all-spin CNN: multi-level synapses + CeLU device neurons"),
    "synapse-mlp": ("hil.synapses.experiment", "an MLP on multi-level synapses + CeLU device neurons"),
}

#: a device kind's network element (devices.kinds) -> the --network that trains it, for the
#: one line that refuses a bench of another kind
NETWORK_OF_ELEMENT: dict[str, str] = {
    "switching_neuron": "mlp",
    "ifr_neuron": "snn",
    "crossbar_synapse": "stdp",
    "analog_synapse": "cnn or synapse-mlp",
    "quantized_synapse": "cnn or synapse-mlp",
    "celu_neuron": "cnn or synapse-mlp (as --neuron-bench)",
}


def names() -> tuple[str, ...]:
    return tuple(NETWORKS)


def module(name: str) -> ModuleType:
    """The experiment module of ``name`` (a ValueError naming the known networks otherwise)."""
    if name not in NETWORKS:
        raise ValueError(f"network {name!r} is not one of {names()}")
    return importlib.import_module(NETWORKS[name][0])


def network_in(argv: list[str]) -> str:
    """The ``--network`` value of a ``hil train`` command line (the default when absent), read
    before parsing so that the parser gets that network's own options."""
    for i, arg in enumerate(argv):
        if arg == "--network" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--network="):
            return arg.split("=", 1)[1]
    return DEFAULT
