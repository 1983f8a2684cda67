"""The Neel-Brown law of thermally activated switching, written once for every face.

    P_sw(I, t) = 1 - exp(-t / tau)
    tau        = tau0 * exp(Delta * (1 - |I| / Ic0) ** n)

with the reduced barrier u = 1 - |I| / Ic0 clamped at zero above the critical current (tau ->
tau0: the pulse switches as fast as the attempt time allows). ``n = 1`` is the linear
(Slonczewski / SOT thermal-activation) form, ``n = 2`` the Taniguchi-Imamura form.

The simulator samples its truth with it (``simulated_bench``), the fits estimate its
parameters (``procedures.fits``, scipy), and the learning side differentiates it
(``hil.surrogate``, torch). Every function here takes numpy arrays or torch tensors and
answers in the same kind: the law is computed in log space, ln(t / tau), which keeps the
probability exact for tiny and huge tau alike. Arguments broadcast.

The fast paths of the device layer evaluate the linear form as an affine function of the
current (:class:`LinearForm`); they take its constants from here instead of re-deriving them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LN2 = math.log(2.0)
BOLTZMANN_J_PER_K = 1.380649e-23


def _xp(*values):
    """numpy, or torch when any argument is a tensor (torch is then already imported)."""
    for value in values:
        if type(value).__module__.startswith("torch"):
            import torch
            return torch
    return np


def reduced_barrier(current_A, ic0_A):
    """u = max(1 - |I| / Ic0, 0): the fraction of the barrier a current leaves standing."""
    if _xp(current_A, ic0_A) is np:
        return np.maximum(1.0 - np.abs(np.asarray(current_A, dtype=float)) / ic0_A, 0.0)
    return (1.0 - current_A.abs() / ic0_A).clamp(min=0.0)


def log_rate_at(ceiling, reduced, delta, exponent=1.0):
    """ln(t / tau) = ln(t / tau0) - Delta u^n, from the ceiling ln(t / tau0) and u."""
    return ceiling - delta * reduced ** exponent


def log_rate(current_A, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """ln(t / tau): the log of the expected number of successful reversal attempts in the pulse."""
    ceiling = np.log(np.asarray(width_s, dtype=float) / tau0_s)
    return log_rate_at(ceiling, reduced_barrier(current_A, ic0_A), delta, exponent)


def probability(current_A, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """P_sw = 1 - exp(-t / tau) for a pulse of amplitude ``current_A`` and width ``width_s``."""
    xp = _xp(current_A, width_s, ic0_A, delta, tau0_s, exponent)
    return -xp.expm1(-xp.exp(log_rate(current_A, width_s, ic0_A, delta, tau0_s, exponent)))


def log_rate_slope(current_A, ic0_A, delta, exponent=1.0):
    """d ln(t / tau) / d|I| = Delta n u^(n-1) / Ic0 below Ic0, 0 above (the curve is flat)."""
    xp = _xp(current_A, ic0_A, delta, exponent)
    u = reduced_barrier(current_A, ic0_A)
    if xp is np:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(u > 0, delta * exponent * u ** (exponent - 1.0) / ic0_A, 0.0)
    slope = (delta * exponent / ic0_A) * u ** (exponent - 1.0)
    return xp.where(u > 0, slope, xp.zeros_like(slope))


def probability_slope(current_A, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """dP_sw / dI in 1/A, odd in I (the law depends on |I|): r exp(-r) d ln r / d|I| sign(I)."""
    xp = _xp(current_A, width_s, ic0_A, delta, tau0_s, exponent)
    rate = xp.exp(log_rate(current_A, width_s, ic0_A, delta, tau0_s, exponent))
    sign = np.sign(np.asarray(current_A, dtype=float)) if xp is np else current_A.sign()
    return xp.exp(-rate) * rate * log_rate_slope(current_A, ic0_A, delta, exponent) * sign


def parameter_jacobian(current_A, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """dP_sw / d(Ic0, Delta) per point (numpy, columns Ic0 then Delta): what the fits need."""
    current = np.abs(np.asarray(current_A, dtype=float))
    u = reduced_barrier(current, ic0_A)
    rate = np.exp(log_rate(current, width_s, ic0_A, delta, tau0_s, exponent))
    dp_dlog = np.exp(-rate) * rate
    # ln r = ln(t/tau0) - Delta u^n with u = 1 - |I|/Ic0: d ln r / d Ic0 = -(d ln r / d|I|) |I| / Ic0
    d_ic0 = -log_rate_slope(current, ic0_A, delta, exponent) * current / ic0_A
    return np.column_stack([dp_dlog * d_ic0, dp_dlog * -u ** exponent])


def relaxation_time(current_A, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """tau(I) in seconds."""
    return tau0_s * np.exp(delta * reduced_barrier(current_A, ic0_A) ** exponent)


def current_for_probability(probability_, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """The inverse in the current: the amplitude that switches with ``probability_`` (I50 at 0.5).

    Valid while the answer lies below Ic0 (the thermally activated regime); a probability
    the pulse reaches at zero current answers Ic0 (u clamped at 0).
    """
    p = np.asarray(probability_, dtype=float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError(f"probability must lie strictly between 0 and 1, got {probability_!r}")
    # t/tau = -ln(1-p)  ->  Delta (1 - I/Ic0)^n = ln(t/tau0) - ln(-ln(1-p))
    barrier = np.log(np.asarray(width_s, dtype=float) / tau0_s) - np.log(-np.log1p(-p))
    return ic0_A * (1.0 - np.clip(barrier / delta, 0.0, None) ** (1.0 / exponent))


def logistic_slope_at_i50(width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0) -> float:
    """k of the logistic with the curve's slope at I50: k = 4 dP/dI there.

    At P = 1/2, t / tau = ln 2, so dP/dI = ln 2 / 2 x Delta n u50^(n-1) / Ic0 with
    u50 = 1 - I50 / Ic0. 0 when I50 is at or above Ic0 (no thermally activated transition).
    """
    u50 = 1.0 - float(current_for_probability(0.5, width_s, ic0_A, delta, tau0_s, exponent)) / ic0_A
    if not u50 > 0:
        return 0.0
    return 2.0 * LN2 * delta * exponent * u50 ** (exponent - 1.0) / ic0_A


def thermal_stability(anisotropy_J_m3, volume_m3, temperature_K=300.0):
    """The barrier in units of kT: Delta = Ku V / (kB T)."""
    return np.asarray(anisotropy_J_m3) * np.asarray(volume_m3) / (BOLTZMANN_J_PER_K * temperature_K)


@dataclass(frozen=True)
class LinearForm:
    """The linear law (n = 1) as an affine function of the current magnitude, per device:

        ln(t / tau) = min(at_zero_A + per_A |I|, ceiling)

    with ``ceiling`` = ln(t / tau0) (reached at Ic0), ``at_zero_A`` = ceiling - Delta and
    ``per_A`` = Delta / Ic0, in float64. Fast paths (float32 numpy, the compiled kernels of
    ``hil._fused``) evaluate this form instead of the general one; :meth:`folded` composes it
    with a linear current mapping I = centre + span t.
    """

    at_zero: np.ndarray
    per_A: np.ndarray
    ceiling: np.ndarray

    @classmethod
    def of(cls, width_s, ic0_A, delta, tau0_s=1e-9) -> LinearForm:
        ceiling = np.log(np.asarray(width_s, dtype=float) / np.asarray(tau0_s, dtype=float))
        delta = np.asarray(delta, dtype=float)
        return cls(ceiling - delta, delta / np.asarray(ic0_A, dtype=float), ceiling)

    def folded(self, centre_A, span_A) -> tuple[np.ndarray, np.ndarray]:
        """(per_t, at_t0): ln(t / tau) = min(at_t0 + per_t t, ceiling) for I = centre + span t >= 0."""
        return self.per_A * span_A, self.at_zero + self.per_A * centre_A

    def log_rate(self, magnitude_A, out=None):
        """ln(t / tau) at current magnitudes, in their float dtype (float32 stays float32);
        ``out`` (the broadcast shape) takes the answer in place."""
        dtype = np.result_type(magnitude_A, np.float32) if np.ndim(magnitude_A) else np.float64
        out = np.multiply(magnitude_A, self.per_A.astype(dtype), out=out)
        out += self.at_zero.astype(dtype)
        return np.minimum(out, self.ceiling.astype(dtype), out=out)


__all__ = ["BOLTZMANN_J_PER_K", "LN2", "LinearForm", "current_for_probability", "log_rate",
           "log_rate_at", "log_rate_slope", "logistic_slope_at_i50", "parameter_jacobian", "probability",
           "probability_slope", "reduced_barrier", "relaxation_time", "thermal_stability"]
