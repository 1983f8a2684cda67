"""Surrogate gradients: the derivative dP/dI of each device's *calibrated* switching curve.

A device neuron's forward pass is what the device did (a switch event); its backward pass
needs a smooth stand-in. Here it is the calibrated curve itself, so training is physics-aware:
real forward, model backward. Like snnTorch's ``spike_grad=`` objects, a surrogate is a small
callable handed to the neuron::

    surrogate = NeelBrownSurrogate.from_curves(curves)   # one curve per neuron
    dp_dI = surrogate(current_A)                          # (batch, neurons) -> same shape

Each surrogate also exposes ``probability(current_A)``, the curve as a differentiable torch
function; ``surrogate(I)`` is its closed-form derivative, which the tests check against
``torch.autograd`` through ``probability``. ``derivative_numpy(I)`` is the same derivative in
float32 numpy, because torch's elementwise transcendentals on small CPU tensors cost 10-50x
more than numpy's (thread start-up); the device layer takes it through its input mapping
(:func:`mapped_slope`: folded into the constants under the linear law, else the chain rule
:func:`chain_through_mapping`). Per-neuron parameters are non-persistent buffers:
they follow ``.to()`` but are not part of a checkpoint (the calibration file is).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from devices.laws import neel_brown
from hil import _fused
from procedures.calibration import DeviceCalibration


def _buffer(values, dtype) -> torch.Tensor:
    return torch.as_tensor([float(v) for v in values], dtype=dtype)


def chain_through_mapping(surrogate, t, centre_A, span_A, gain_A) -> np.ndarray:
    """d P(I(x)) / dx for the device layer's mapping I = centre + span t, t = tanh(x gain / span):
    dP/dI(I) x gain (1 - t^2), in float32 numpy (``surrogate.derivative_numpy`` for dP/dI)."""
    current = np.multiply(t, span_A)
    current += centre_A
    out = surrogate.derivative_numpy(current, nonnegative=bool(np.all(centre_A >= span_A)))
    d_mapping = np.multiply(t, t, out=current)
    np.subtract(np.float32(1.0), d_mapping, out=d_mapping)
    d_mapping *= gain_A
    out *= d_mapping
    return out


class ChainedSlope:
    """t -> :func:`chain_through_mapping` for one surrogate and mapping (the general form)."""

    def __init__(self, surrogate, centre_A, span_A, gain_A):
        self.surrogate, self.centre_A, self.span_A, self.gain_A = surrogate, centre_A, span_A, gain_A

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return chain_through_mapping(self.surrogate, t, self.centre_A, self.span_A, self.gain_A)


def mapped_slope(surrogate, centre_A, span_A, gain_A):
    """A callable t -> d P(I(x)) / dx for a device layer: the surrogate's folded form when it
    has one (``mapped_derivative``), else :class:`ChainedSlope`."""
    fused = getattr(surrogate, "mapped_derivative", None)
    slope = fused(centre_A, span_A, gain_A) if fused else None
    return slope or ChainedSlope(surrogate, centre_A, span_A, gain_A)


class _LinearNeelBrownSlope:
    """d P(I(x)) / dx under the linear law with the mapping folded in (see
    :meth:`NeelBrownSurrogate.mapped_derivative`)."""

    def __init__(self, form: neel_brown.LinearForm, centre_A, span_A, gain_A):
        per_t, at_t0 = form.folded(centre_A, span_A)
        self._log_rate_per_t = per_t.astype(np.float32)
        self._log_rate_at_t0 = at_t0.astype(np.float32)
        self._log_t = form.ceiling.astype(np.float32)
        self._scale = (form.per_A * gain_A).astype(np.float32)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        if _fused.ENABLED and t.ndim == 2 and t.dtype == np.float32:
            return _fused.neel_brown_slope(t, self._log_rate_per_t, self._log_rate_at_t0,
                                           self._log_t, self._scale)
        log_rate = np.multiply(t, self._log_rate_per_t)
        log_rate += self._log_rate_at_t0
        below = log_rate < self._log_t            # I < Ic0: the curve is flat above
        out = np.subtract(log_rate, np.exp(log_rate), out=log_rate)
        np.exp(out, out=out)                      # r exp(-r) = exp(ln r - r)
        out *= below                              # a multiply by the mask: np.where costs 5x more
        d_mapping = np.multiply(t, t)
        np.subtract(np.float32(1.0), d_mapping, out=d_mapping)
        d_mapping *= self._scale                  # (Delta / Ic0) gain (1 - t^2)
        out *= d_mapping
        return out


class NeelBrownSurrogate(nn.Module):
    """The Neel-Brown curve P(I) of :mod:`devices.laws.neel_brown` and its derivative, per neuron."""

    def __init__(self, ic0_A, delta, width_s, tau0_s, exponent, dtype=torch.float64):
        super().__init__()
        self.register_buffer("ic0_A", _buffer(ic0_A, dtype), persistent=False)
        self.register_buffer("delta", _buffer(delta, dtype), persistent=False)
        self.register_buffer("log_width_over_tau0",
                             _buffer([math.log(w / t) for w, t in zip(width_s, tau0_s)], dtype),
                             persistent=False)
        self.register_buffer("exponent", _buffer(exponent, dtype), persistent=False)
        # the same curve as float64 numpy parameters, for the layer's fast backward path
        self._curve = tuple(np.array([float(v) for v in values])
                            for values in (width_s, ic0_A, delta, tau0_s, exponent))
        self._linear = bool(np.all(self._curve[4] == 1.0))
        self._form = neel_brown.LinearForm.of(*self._curve[:4])

    @classmethod
    def from_curves(cls, curves: Sequence[DeviceCalibration], dtype=torch.float64):
        for curve in curves:
            if curve.ic0_A is None or curve.delta is None:
                raise ValueError(f"a Neel-Brown surrogate needs ic0_A and delta; the curve "
                                 f"{curve} is logistic only: use LogisticSurrogate")
        return cls([c.ic0_A for c in curves], [c.delta for c in curves],
                   [c.width_s for c in curves], [c.tau0_s for c in curves],
                   [c.exponent for c in curves], dtype)

    def _log_rate(self, current_A):
        return neel_brown.log_rate_at(self.log_width_over_tau0,
                                      neel_brown.reduced_barrier(current_A, self.ic0_A),
                                      self.delta, self.exponent)

    def probability(self, current_A: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(-torch.exp(self._log_rate(current_A)))

    def forward(self, current_A: torch.Tensor) -> torch.Tensor:
        """dP/dI in 1/A (zero above Ic0, where the curve is flat at its ceiling)."""
        rate = torch.exp(self._log_rate(current_A))
        slope = neel_brown.log_rate_slope(current_A, self.ic0_A, self.delta, self.exponent)
        return torch.exp(-rate) * rate * slope * torch.sign(current_A)

    def derivative_numpy(self, current_A: np.ndarray, nonnegative: bool = False) -> np.ndarray:
        """dP/dI as :meth:`forward`, in float32 numpy (small-array CPU fast path).

        ``nonnegative=True`` promises every current is >= 0 (the device layer's mapping
        guarantees it): under the linear law the law's affine form then gives dP/dI =
        (Delta/Ic0) exp(ln r - r) below Ic0 and 0 above in a few float32 passes.
        """
        if self._linear and nonnegative:
            form = self._form
            log_rate = form.log_rate(np.asarray(current_A, dtype=np.float32))
            below = log_rate < form.ceiling.astype(np.float32)
            out = np.subtract(log_rate, np.exp(log_rate), out=log_rate)
            np.exp(out, out=out)
            out *= form.per_A.astype(np.float32)
            out *= below                  # a multiply by the mask: np.where costs 5x more
            return out
        width, ic0, delta, tau0, n = self._curve
        return neel_brown.probability_slope(current_A, width, ic0, delta, tau0, n).astype(np.float32)

    def mapped_derivative(self, centre_A, span_A, gain_A):
        """t -> d P(I(x)) / dx for I = centre + span t, t = tanh(x gain / span), in fewer passes
        than :func:`chain_through_mapping` (each costs ~2 us at a layer's sizes): under the
        linear law ln(t/tau) = a + b I is affine in t too (a, b folded with the mapping once,
        in float64) and d P/dx = b gain (1 - t^2) exp(ln r - r) below Ic0, 0 above. None (the
        general form) for other exponents or a mapping that can go negative."""
        centre, span = np.asarray(centre_A, dtype=float), np.asarray(span_A, dtype=float)
        if self._linear and centre.shape == span.shape == self._curve[1].shape and np.all(centre >= span):
            return _LinearNeelBrownSlope(self._form, centre, span, np.asarray(gain_A, dtype=float))
        return None


class LogisticSurrogate(nn.Module):
    """P(I) = 1 / (1 + exp(-k (|I| - I50))) and its derivative k P (1 - P), per neuron."""

    def __init__(self, i50_A, slope_per_A, dtype=torch.float64):
        super().__init__()
        self.register_buffer("i50_A", _buffer(i50_A, dtype), persistent=False)
        self.register_buffer("slope_per_A", _buffer(slope_per_A, dtype), persistent=False)
        self._i50 = self.i50_A.double().numpy().astype(np.float32)
        self._slope = self.slope_per_A.double().numpy().astype(np.float32)

    @classmethod
    def from_curves(cls, curves: Sequence[DeviceCalibration], dtype=torch.float64):
        return cls([c.i50_A for c in curves], [c.logistic_slope_per_A for c in curves], dtype)

    def probability(self, current_A: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope_per_A * (current_A.abs() - self.i50_A))

    def forward(self, current_A: torch.Tensor) -> torch.Tensor:
        p = self.probability(current_A)
        return self.slope_per_A * p * (1.0 - p) * torch.sign(current_A)

    def derivative_numpy(self, current_A: np.ndarray, nonnegative: bool = False) -> np.ndarray:
        """dP/dI as :meth:`forward`, in float32 numpy (small-array CPU fast path)."""
        p = np.exp(-self._slope * (np.abs(current_A) - self._i50))
        p += 1.0
        np.reciprocal(p, out=p)
        return self._slope * p * (1.0 - p) * np.sign(current_A)


class SigmoidSurrogate(nn.Module):
    """The ideal software neuron's curve in input units: P(x) = sigmoid(slope x)."""

    def __init__(self, slope: float = 1.0):
        super().__init__()
        self.slope = float(slope)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope * x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.slope * x)
        return self.slope * p * (1.0 - p)


SURROGATES = {"neel_brown": NeelBrownSurrogate, "logistic": LogisticSurrogate}


def surrogate_for(curves: Sequence[DeviceCalibration], model: str | None = None, dtype=torch.float64):
    """The surrogate of a list of per-neuron curves; ``model`` None = the curves' own model."""
    model = model or curves[0].model
    if model not in SURROGATES:
        raise ValueError(f"surrogate model {model!r} is not one of {sorted(SURROGATES)}")
    return SURROGATES[model].from_curves(curves, dtype)
