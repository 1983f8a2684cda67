"""Thermally activated switching of a nanomagnet under a current pulse (Neel-Brown).

The contract of the whole simulated bench is this behavioural law:

    P_sw(I, t) = 1 - exp(-t / tau)
    tau        = tau0 * exp(Delta * (1 - |I| / Ic0) ** n)

with the bracket clamped at zero above the critical current (tau -> tau0: the pulse
switches as fast as the attempt time allows). ``n = 1`` is the linear (Slonczewski /
SOT thermal-activation) form, ``n = 2`` the Taniguchi-Imamura form.

Everything here is vectorized and broadcasts: pass arrays of shape (devices, 1) for the
device parameters and (devices, amplitudes) or (1, amplitudes) for the currents.
"""

from __future__ import annotations

import numpy as np

BOLTZMANN_J_PER_K = 1.380649e-23


def thermal_stability(anisotropy_J_m3, volume_m3, temperature_K=300.0):
    """Energy barrier in units of kT: Delta = Ku V / (kB T)."""
    return np.asarray(anisotropy_J_m3) * np.asarray(volume_m3) / (BOLTZMANN_J_PER_K * temperature_K)


def log_rate(current_A, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """ln(t / tau): the log of the expected number of reversal events during the pulse.

    Working in log space keeps the probability exact for both tiny and huge tau.
    """
    reduced = 1.0 - np.abs(current_A) / ic0_A
    reduced = np.maximum(reduced, 0.0)
    return np.log(width_s / tau0_s) - delta * reduced**exponent


def switching_probability(current_A, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """P_sw = 1 - exp(-t/tau) for a pulse of amplitude ``current_A`` and width ``width_s``."""
    rate = np.exp(log_rate(current_A, width_s, ic0_A, delta, tau0_s, exponent))
    return -np.expm1(-rate)


def relaxation_time(current_A, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """tau(I) in seconds."""
    reduced = np.maximum(1.0 - np.abs(current_A) / ic0_A, 0.0)
    return tau0_s * np.exp(delta * reduced**exponent)


def current_for_probability(probability, width_s, ic0_A, delta, tau0_s=1e-9, exponent=1.0):
    """Inverse of :func:`switching_probability` in the current (e.g. I50 for p = 0.5).

    Valid while the answer lies below Ic0 (the thermally activated regime).
    """
    p = np.asarray(probability, dtype=float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError(f"probability must lie strictly between 0 and 1, got {probability!r}")
    # t/tau = -ln(1-p)  ->  Delta (1 - I/Ic0)^n = ln(t/tau0) - ln(-ln(1-p))
    barrier = np.log(width_s / tau0_s) - np.log(-np.log1p(-p))
    reduced = np.clip(barrier / delta, 0.0, None) ** (1.0 / exponent)
    return ic0_A * (1.0 - reduced)


def sample_switch_events(rng: np.random.Generator, current_A, width_s, ic0_A, delta,
                         tau0_s=1e-9, exponent=1.0, n_domains=None):
    """Draw switch outcomes of reset-then-write trials, vectorized over all inputs.

    Returns the switched fraction of each trial: 0 or 1 for a macrospin device
    (``n_domains`` None or 1), k/N for a multi-domain Hall bar whose N nucleation regions
    each follow the law independently.

    This is the fast path: one uniform draw per macrospin sample, compared against the
    probability computed in place.
    """
    p = switching_probability(current_A, width_s, ic0_A, delta, tau0_s, exponent)
    if n_domains is None:
        return (rng.random(p.shape) < p).astype(p.dtype)
    n = np.broadcast_to(np.asarray(n_domains), p.shape)
    if np.all(n == 1):
        return (rng.random(p.shape) < p).astype(p.dtype)
    return rng.binomial(n, p) / n
