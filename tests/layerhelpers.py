"""Shared helpers of the device-layer tests: the default bench's simulated array, its true
curves at 10 ns, and layers of one device size on it."""

from __future__ import annotations

import numpy as np

from devices.benchfile import load_bench_file
from hil.simulated import SimulatedArrayBackend
from hil.calibration import calibration_from_chip
from hil.neuron import DeviceNeuron
from hil.safety import device_current_limits

BENCH = load_bench_file(None)
LIMITS = device_current_limits(BENCH)
WIDTH_S = 10e-9
BACKEND = SimulatedArrayBackend.from_bench(BENCH, seed=3)
TRUTH = calibration_from_chip(BACKEND.chips[0], WIDTH_S)


def size_layer(size: str, repeats: int = 4, backend=BACKEND) -> DeviceNeuron:
    """A layer with one neuron per device of ``size``, mapped from the true curves."""
    names = backend.devices_of_size(size)
    return DeviceNeuron.from_calibration(backend, TRUTH, names, LIMITS, repeats=repeats)


def tanh_inputs(rows: int, n: int, seed: int = 0) -> np.ndarray:
    """float32 t = tanh(x) over the whole range, the saturated ends included."""
    x = np.random.default_rng(seed).normal(0.0, 2.5, (rows, n))
    return np.tanh(x).astype(np.float32)
