"""Surrogate gradients: closed-form dP/dI against torch autograd through the calibrated curve."""

import numpy as np
import pytest
import torch

from hil.backends import CalibratedModelBackend
from procedures.calibration import logistic_curve, neel_brown_curve
from hil.neuron import DeviceNeuron, DeviceSwitch
from hil.surrogate import LogisticSurrogate, NeelBrownSurrogate, SigmoidSurrogate
from devices.laws import neel_brown

WIDTH_S = 10e-9
CURVES = [neel_brown_curve(2.4e-5, 28.7, WIDTH_S), neel_brown_curve(1.6e-4, 40.0, WIDTH_S),
          neel_brown_curve(5e-5, 35.0, WIDTH_S, exponent=2.0)]


def _currents(curves, n=40):
    # a grid across each curve's transition (I50 +- 6 curve widths), kept below Ic0
    cols = [np.linspace(c.i50_A - 6 / c.logistic_slope_per_A, c.i50_A + 6 / c.logistic_slope_per_A, n)
            for c in curves]
    return torch.tensor(np.stack(cols, axis=1), dtype=torch.float64)


def test_neel_brown_probability_matches_simulated_physics():
    surrogate = NeelBrownSurrogate.from_curves(CURVES)
    current = _currents(CURVES)
    expected = np.stack([neel_brown.probability(current[:, j].numpy(), WIDTH_S, c.ic0_A,
                                                       c.delta, c.tau0_s, c.exponent)
                         for j, c in enumerate(CURVES)], axis=1)
    np.testing.assert_allclose(surrogate.probability(current).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("surrogate", [NeelBrownSurrogate.from_curves(CURVES),
                                       LogisticSurrogate.from_curves(CURVES)])
def test_closed_form_derivative_matches_autograd(surrogate):
    current = _currents(CURVES).requires_grad_(True)
    p = surrogate.probability(current)
    (autograd,) = torch.autograd.grad(p.sum(), current)
    closed = surrogate(current.detach())
    np.testing.assert_allclose(closed.numpy(), autograd.numpy(), rtol=1e-9, atol=1e-3)
    # and the derivative is large where it should be: the peak sits near I50
    peak_rows = closed.argmax(dim=0).numpy()
    assert np.all(np.abs(peak_rows - 20) <= 3)


def test_neel_brown_logistic_slope_is_the_slope_at_i50():
    for curve in CURVES:
        surrogate = NeelBrownSurrogate.from_curves([curve])
        d = float(surrogate(torch.tensor([[curve.i50_A]], dtype=torch.float64)))
        assert d == pytest.approx(curve.logistic_slope_per_A / 4, rel=1e-9)


def test_sigmoid_surrogate_derivative():
    x = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    s = SigmoidSurrogate(2.0)
    (g,) = torch.autograd.grad(s.probability(x).sum(), x)
    np.testing.assert_allclose(s(x.detach()).numpy(), g.numpy(), rtol=1e-12)


def _layer(curves, model="neel_brown"):
    names = [f"d{j}" for j in range(len(curves))]
    calibration = {"width_s": WIDTH_S, "devices": {n: c.to_dict() for n, c in zip(names, curves)}}
    backend = CalibratedModelBackend(calibration, seed=3)
    from procedures.calibration import parse_calibration
    cal = parse_calibration(calibration)
    limits = {n: 3 * c.ic0_A if c.ic0_A else 3 * c.i50_A for n, c in zip(names, curves)}
    return DeviceNeuron.from_calibration(backend, cal, names, limits, surrogate_model=model)


@pytest.mark.parametrize("model", ["neel_brown", "logistic"])
def test_device_switch_backward_is_autograd_through_mapping_and_curve(model):
    layer = _layer(CURVES, model)
    layer.surrogate = layer.surrogate.double()
    layer.surrogate_dtype = torch.float64
    x = torch.linspace(-5, 5, 33).unsqueeze(1).repeat(1, 3).requires_grad_(True)
    weights = torch.linspace(0.5, 1.5, 99).reshape(33, 3)
    (hil_grad,) = torch.autograd.grad((DeviceSwitch.apply(x, layer) * weights).sum(), x)

    x64 = x.detach().double().requires_grad_(True)
    m = layer.mapping
    current = m.centre_A.double() + m.span_A.double() * torch.tanh(x64 * m.gain_A.double() / m.span_A.double())
    (reference,) = torch.autograd.grad((layer.surrogate.probability(current) * weights.double()).sum(), x64)
    np.testing.assert_allclose(hil_grad.numpy(), reference.numpy(), rtol=2e-4, atol=1e-6)
    # with the gain 1/k, the slope of P(x) at x = 0 is about 1/4 (a sigmoid's)
    assert reference[16].numpy() / weights[16].numpy() == pytest.approx([0.25] * 3, rel=0.02)


@pytest.mark.parametrize("model", ["neel_brown", "logistic"])
def test_layer_backward_is_the_finite_difference_of_the_calibrated_curve(model):
    """DeviceSwitch.backward, reached through the layer's public forward (float32, the fast
    path; the exponent-2 curve takes the general chained slope), against central differences
    of P(I(x)): the calibration's own curve (numpy, float64) at the layer's mapping. The
    forward samples, so its output cannot be differentiated numerically; the curve can."""
    layer = _layer(CURVES, model)
    x = torch.linspace(-6, 6, 49).unsqueeze(1).repeat(1, 3).requires_grad_(True)
    weights = torch.linspace(0.5, 1.5, 147).reshape(49, 3)
    (grad,) = torch.autograd.grad((layer(x) * weights).sum(), x)
    slope = (grad / weights).numpy()

    # the curve the surrogate stands for: the file's Neel-Brown law, or its logistic fit
    curves = CURVES if model == "neel_brown" else [
        logistic_curve(c.i50_A, c.logistic_slope_per_A, WIDTH_S) for c in CURVES]

    def p_of_x(x64: torch.Tensor) -> np.ndarray:
        current = layer.mapping(x64).detach().numpy()
        return np.stack([c.probability(current[:, j]) for j, c in enumerate(curves)], axis=1)

    h = 1e-3                         # x units; P(x) turns over on a scale of ~1
    x64 = x.detach().double()
    finite = (p_of_x(x64 + h) - p_of_x(x64 - h)) / (2 * h)
    # the grid spans the transition: the slope peaks near 1/4 mid-grid and falls off at the ends
    assert (finite.max(axis=0) > 0.2).all() and (finite[[0, -1]] < 0.1 * finite.max()).all()
    np.testing.assert_allclose(slope, finite, rtol=2e-4, atol=2e-6)   # float32 vs float64: ~1e-5


def test_logistic_only_calibration_refuses_neel_brown_surrogate():
    curve = logistic_curve(1e-4, 1e5, WIDTH_S)
    with pytest.raises(ValueError, match="logistic only"):
        NeelBrownSurrogate.from_curves([curve])
