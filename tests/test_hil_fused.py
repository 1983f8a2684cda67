"""The compiled kernels of the fast path (hil._fused, numba) against the numpy forms they
replace, and the numpy forms themselves with the kernels off (what runs without numba)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from hil import _fused
from hil.backends import LinearMappedSampler
from hil.simulated import SimulatedArrayBackend
from hil.neuron import DeviceSwitch
from layerhelpers import BACKEND, BENCH, size_layer, tanh_inputs

needs_kernels = pytest.mark.skipif(not _fused.ENABLED, reason="numba not installed (or disabled)")


def _both_paths(size, repeats, rows=512, seed=7):
    """The fused sampler's answers with the kernels on and off, from the same generator state."""
    backend = SimulatedArrayBackend.from_bench(BENCH, seed=seed)
    layer = size_layer(size, repeats, backend)
    sample, _ = layer.fast_path()
    assert isinstance(sample, LinearMappedSampler)
    t = tanh_inputs(rows, len(layer.neuron_devices), seed) * np.float32(0.3)   # P across 0..1
    state = backend.rng_state()
    fused = sample(t)
    after = backend.rng_state()
    backend.set_rng_state(state)
    enabled, _fused.ENABLED = _fused.ENABLED, False
    try:
        plain = sample(t)
    finally:
        _fused.ENABLED = enabled
    assert backend.rng_state() == after          # the same draws, the same number of them
    return fused, plain, layer


@needs_kernels
@pytest.mark.parametrize("size, repeats", [("S", 1), ("S", 4), ("S", 3), ("M", 4), ("L", 1), ("L", 3)])
def test_kernels_answer_as_the_numpy_form_from_the_same_draws(size, repeats):
    fused, plain, layer = _both_paths(size, repeats)
    assert fused.dtype == plain.dtype == np.float32 and fused.shape == plain.shape
    assert 0.05 < plain.mean() < 0.95
    # the same draws against thresholds that differ by a few ulp of exp(): equal but for a
    # draw sitting exactly on a threshold, or a normal count on a rounding boundary (one
    # region of N K)
    differ = fused != plain
    assert differ.mean() <= 1e-3
    regions = BACKEND.n_domains_of(layer.neuron_devices[0]) * repeats
    assert np.all(np.abs(fused - plain) <= 1.0 / regions + 1e-6)


@needs_kernels
@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_slope_kernel_equals_the_numpy_form(size):
    layer = size_layer(size)
    _, slope = layer.fast_path()
    t = tanh_inputs(256, len(layer.neuron_devices))
    fused = slope(t)
    enabled, _fused.ENABLED = _fused.ENABLED, False
    try:
        plain = slope(t)
    finally:
        _fused.ENABLED = enabled
    assert (plain == 0).any() and (plain > 0).any()
    np.testing.assert_array_equal(fused == 0, plain == 0)
    np.testing.assert_allclose(fused, plain, rtol=2e-6, atol=1e-7 * plain.max())


@needs_kernels
def test_exp_and_box_muller_helpers():
    x = np.concatenate([np.linspace(-120, 88, 20001), [np.nan, -np.inf, 0.0, -87.0, 11.09]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    _fused._exp(x, out)
    ref = np.exp(x.astype(np.float64))
    ok = x >= -87
    np.testing.assert_allclose(out[ok], ref[ok], rtol=3e-7)
    assert np.all(out[(x < -87) & ~np.isnan(x)] == 0) and np.isnan(out[np.isnan(x)]).all()
    uniform = np.random.default_rng(0).random((2, 50000), dtype=np.float32)
    uniform[:, :4] = [[0.0, 1 - 2 ** -24, 0.5, 0.25], [0.0, 0.125, 0.625, 1 - 2 ** -24]]
    log_u, cos_v, sin_v = (np.empty(50000, dtype=np.float32) for _ in range(3))
    _fused._box_muller(uniform, log_u, cos_v, sin_v)
    u, v = uniform.astype(np.float64)
    np.testing.assert_allclose(log_u, np.log1p(-u), rtol=3e-7, atol=1e-7)
    np.testing.assert_allclose(cos_v, np.cos(2 * np.pi * v), atol=2e-7)
    np.testing.assert_allclose(sin_v, np.sin(2 * np.pi * v), atol=2e-7)


@needs_kernels
def test_same_seed_same_answers_and_gradients():
    def run():
        backend = SimulatedArrayBackend.from_bench(BENCH, seed=11)
        layer = size_layer("M", 4, backend)
        x = torch.linspace(-3, 3, 40 * len(layer.neuron_devices)).reshape(40, -1).requires_grad_(True)
        y = DeviceSwitch.apply(x, layer, True)
        (grad,) = torch.autograd.grad(y.sum(), x)
        return y.detach().numpy(), grad.numpy()

    (y1, g1), (y2, g2) = run(), run()
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)


# the numpy forms (no numba) run the tests of test_hil_fastpath.py too: its ``kernels`` fixture
def test_without_numba_the_kernels_are_off():
    code = "import hil._fused as f; print(f.ENABLED)"
    env = dict(os.environ, SPIN_HIL_NUMBA="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "False"


@needs_kernels
@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_trials_by_level_equal_quantize_then_sample(size):
    """The quantized layer's kernel path (thresholds once per level, trials by level index)
    answers exactly as quantizing t and sampling the levels' t, drawing the same words."""
    from hil.neuron import DeviceNeuron, QuantizedSampler
    from layerhelpers import LIMITS, TRUTH
    backend = SimulatedArrayBackend.from_bench(BENCH, seed=5)
    names = backend.devices_of_size(size)
    layer = DeviceNeuron.from_calibration(backend, TRUTH, names, LIMITS, repeats=4,
                                          current_levels=8)
    sample, _ = layer.fast_path()
    assert isinstance(sample, QuantizedSampler) and sample._by_level is not None
    t = tanh_inputs(256, len(names), 3) * np.float32(0.3)
    state = backend.rng_state()
    by_level = sample(t)
    after = backend.rng_state()
    backend.set_rng_state(state)
    levels_t = layer.current_grid().quantize_t(t)
    assert len(np.unique(levels_t)) > 4 * len(names)          # many levels in play
    np.testing.assert_array_equal(by_level, sample.sampler(levels_t))
    assert backend.rng_state() == after
