"""The device layer's fast path computes what the general path computes.

The layer samples I = centre + span t (t = tanh(x gain / span)) through a backend's fused
sampler and takes dP(I(x))/dx from the surrogate's folded form; here both are held against
the general forms (``backend.sample`` on the currents, the chain rule through
``derivative_numpy``), and the multi-domain answers against the binomial they approximate.
"""

import numpy as np
import pytest
import torch
from torch import nn

from hil import _fused
from hil.backends import (
    CalibratedModelBackend,
    CurrentSampler,
    LinearMappedSampler,
    mapped_sampler,
)
from hil.simulated import SimulatedArrayBackend
from procedures.calibration import neel_brown_curve, parse_calibration
from hil.neuron import DeviceNeuron, DeviceSwitch
from hil.safety import CurrentLimitError
from hil.surrogate import ChainedSlope, chain_through_mapping, mapped_slope
from layerhelpers import BACKEND, BENCH, LIMITS, TRUTH, WIDTH_S
from layerhelpers import size_layer as _layer
from layerhelpers import tanh_inputs as _t


@pytest.fixture(params=["default", "numpy"])
def kernels(request, monkeypatch):
    """The tests that take it run on the default path (numba kernels where numba is
    installed) and on the numpy forms that run without numba."""
    if request.param == "numpy":
        monkeypatch.setattr(_fused, "ENABLED", False)
    return request.param


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_fused_slope_equals_the_chain_rule(size, kernels):
    layer = _layer(size)
    m = layer.mapping
    slope = mapped_slope(layer.surrogate, m.np_centre_A, m.np_span_A, m.np_gain_A)
    assert not isinstance(slope, ChainedSlope)   # the linear law folds
    t = _t(256, 8)
    general = chain_through_mapping(layer.surrogate, t, m.np_centre_A, m.np_span_A, m.np_gain_A)
    assert (general == 0).any() and (general > 0).any()   # above Ic0 the curve is flat
    np.testing.assert_allclose(slope(t), general, rtol=2e-4, atol=1e-6 * general.max())


def test_fused_backward_is_autograd_through_mapping_and_curve(kernels):
    # linear-law curves only, so the layer takes the folded slope (the mixed-exponent test in
    # test_hil_surrogate.py covers the general one)
    curves = [neel_brown_curve(2.4e-5, 28.7, WIDTH_S), neel_brown_curve(1.6e-4, 40.0, WIDTH_S)]
    names = ["d0", "d1"]
    calibration = parse_calibration({"width_s": WIDTH_S,
                                     "devices": {n: c.to_dict() for n, c in zip(names, curves)}})
    limits = {n: 3 * c.ic0_A for n, c in zip(names, curves)}
    layer = DeviceNeuron.from_calibration(CalibratedModelBackend(calibration, seed=3), calibration,
                                          names, limits)
    assert isinstance(layer.fast_path()[0], LinearMappedSampler)
    x = torch.linspace(-5, 5, 34).reshape(17, 2).requires_grad_(True)
    weights = torch.linspace(0.5, 1.5, 34).reshape(17, 2)
    (grad,) = torch.autograd.grad((DeviceSwitch.apply(x, layer) * weights).sum(), x)
    x64 = x.detach().double().requires_grad_(True)
    m = layer.mapping
    current = m.centre_A.double() + m.span_A.double() * torch.tanh(x64 * m.gain_A.double() / m.span_A.double())
    surrogate = layer.surrogate.double()
    (reference,) = torch.autograd.grad((surrogate.probability(current) * weights.double()).sum(), x64)
    np.testing.assert_allclose(grad.numpy(), reference.numpy(), rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_mapped_sampler_answers_as_sample_does(size, kernels):
    layer = _layer(size)
    m = layer.mapping
    sampler = mapped_sampler(BACKEND, layer.device_index, m.np_centre_A, m.np_span_A, WIDTH_S, 4)
    assert isinstance(sampler, LinearMappedSampler)
    general = CurrentSampler(BACKEND, layer.device_index, m.np_centre_A, m.np_span_A, WIDTH_S, 4)
    # three rows of t (low, mid, high P) repeated: each column's mean over 3000 answers
    t = np.repeat(np.array([[-0.2] * 8, [0.0] * 8, [0.15] * 8], dtype=np.float32), 3000, axis=0)
    fused = sampler(t).reshape(3, 3000, 8).mean(axis=1)
    plain = general(t).reshape(3, 3000, 8).mean(axis=1)
    current = m.np_centre_A + m.np_span_A * t[::3000]
    expected = np.stack([TRUTH[n].probability(current[:, j]) for j, n in enumerate(layer.neuron_devices)],
                        axis=1)
    # the mean of 4 x 3000 trials (fewer for the normal approximation's k/N spread)
    np.testing.assert_allclose(fused, expected, atol=0.03)
    np.testing.assert_allclose(plain, expected, atol=0.03)


def test_mapped_sampler_refuses_nan_and_over_limit_and_draws_nothing(kernels):
    layer = _layer("S")
    sample, _ = layer.fast_path()
    state = BACKEND.rng_state()
    t = np.zeros((4, 8), dtype=np.float32)
    t[2, 5] = np.nan
    with pytest.raises(CurrentLimitError, match="chip1/S5"):
        sample(t)
    # a mapping reaching 5 % past the ceiling: t = 1 is refused, t = 0 is not
    ceiling = np.array([LIMITS[n] for n in layer.neuron_devices], dtype=np.float32)
    wide = mapped_sampler(BACKEND, layer.device_index, 0.95 * ceiling, 0.1 * ceiling, WIDTH_S, 4)
    assert isinstance(wide, LinearMappedSampler)
    with pytest.raises(CurrentLimitError, match="exceeds its safe maximum"):
        wide(np.ones((1, 8), dtype=np.float32))
    state = BACKEND.rng_state()
    wide(np.zeros((1, 8), dtype=np.float32))
    assert BACKEND.rng_state() != state
    state = BACKEND.rng_state()
    with pytest.raises(CurrentLimitError):
        wide(np.ones((1, 8), dtype=np.float32))
    assert BACKEND.rng_state() == state
    with pytest.raises(ValueError, match="float32"):
        sample(np.zeros((4, 7), dtype=np.float32))


@pytest.mark.parametrize("size, repeats", [("M", 4), ("L", 1), ("L", 3)])
def test_multi_domain_answers_follow_the_binomial(size, repeats):
    names = BACKEND.devices_of_size(size)
    idx = BACKEND.index_of(names)
    n_domains = BACKEND.n_domains_of(names[0])
    regions = n_domains * repeats
    # P ~ 0.3 and ~ 0.7 per device; an odd batch (the Box-Muller pairs leave one over)
    rows = []
    for target in (0.3, 0.7):
        rows.append([TRUTH[n].i50_A + np.log(target / (1 - target)) / TRUTH[n].logistic_slope_per_A
                     for n in names])
    current = np.repeat(np.array(rows), 4001, axis=0)
    answer = BACKEND.sample(idx, current, WIDTH_S, repeats).reshape(2, 4001, len(names))
    p = np.stack([[TRUTH[n].probability(np.array([c]))[0] for n, c in zip(names, row)] for row in rows])
    assert np.allclose(answer * regions, np.rint(answer * regions), atol=1e-3)   # k / (N K)
    np.testing.assert_allclose(answer.mean(axis=1), p, atol=0.01)
    np.testing.assert_allclose(answer.var(axis=1), p * (1 - p) / regions, rtol=0.1)


def test_fast_path_is_bound_once_and_rebound_when_a_part_changes():
    layer = _layer("S")
    first = layer.fast_path()
    assert layer.fast_path()[0] is first[0] and layer.fast_path()[1] is first[1]
    layer.eval()                       # eval_repeats: its own binding
    assert layer.fast_path()[0].repeats == layer.eval_repeats
    layer.train()
    other = SimulatedArrayBackend.from_bench(BENCH, seed=4)
    layer.backend = other
    assert layer.fast_path()[0] is not first[0]
    layer.backend = BACKEND
    again = layer.fast_path()
    assert again[0] is not first[0]
    layer.surrogate = layer.surrogate.double()   # the same object: the binding holds
    assert layer.fast_path()[1] is again[1]
    real = layer.surrogate
    layer.surrogate = _NoSlope()
    assert layer.fast_path()[1] is not again[1]
    layer.surrogate = real
    layer.current_levels = 4               # a new level count: a new grid, a new binding
    assert layer.current_grid().levels == 4 and layer.fast_path()[0].grid is layer.current_grid()
    layer.current_levels = None
    assert layer.current_grid() is None and isinstance(layer.fast_path()[0], LinearMappedSampler)


class _NoSlope(nn.Module):
    """A surrogate whose slope must not be asked for."""

    def mapped_derivative(self, centre_A, span_A, gain_A):
        def slope(t):
            raise AssertionError("the slope was computed without a gradient to compute")
        return slope


def test_forward_without_grad_skips_the_slope():
    layer = _layer("M")
    layer.surrogate = _NoSlope()
    x = torch.randn(5, 8, requires_grad=True)
    with torch.no_grad():
        assert layer(x).shape == (5, 8)
    assert layer(x.detach()).grad_fn is None
    with pytest.raises(AssertionError, match="without a gradient"):
        layer(x)


def test_retain_graph_backward_twice_gives_the_same_gradient():
    layer = _layer("S")
    x = torch.randn(6, 8, requires_grad=True)
    y = layer(x).sum()
    (first,) = torch.autograd.grad(y, x, retain_graph=True)
    (second,) = torch.autograd.grad(y, x)
    assert torch.equal(first, second)
