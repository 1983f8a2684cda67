"""SCPI simulators, one module per instrument model; ``build_instrument`` picks by model."""

from __future__ import annotations

import importlib

# model name in the bench file -> (module, class)
MODELS = {
    "Keysight81160A": ("simulated_bench.instruments.keysight81160a", "Keysight81160A"),
    "Keithley2450": ("simulated_bench.instruments.keithley2450", "Keithley2450"),
    "Keithley2400": ("simulated_bench.instruments.keithley2400", "Keithley2400"),
    "Keithley2750": ("simulated_bench.instruments.keithley2750", "Keithley2750"),
    "KepcoBOP": ("simulated_bench.instruments.kepco_bop", "KepcoBOP"),
}


def build_instrument(model: str, lab, address: str):
    module_name, class_name = MODELS[model]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(lab, address)
