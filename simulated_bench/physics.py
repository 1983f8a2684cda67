"""The simulator's sampling of its truth: switch events under the Neel-Brown law, field reversal.

The law itself (P_sw = 1 - exp(-t / tau), tau = tau0 exp(Delta (1 - |I| / Ic0)^n)) is written
once in :mod:`devices.laws.neel_brown`, shared with the fits and the surrogate gradients; this
module draws trials from it, fast. Everything broadcasts: pass arrays of shape (devices, 1)
for the device parameters and (devices, amplitudes) or (1, amplitudes) for the currents.
"""

from __future__ import annotations

import numpy as np

from devices.laws import neel_brown


def _log_rate_float32(current_A, width_s, ic0_A, delta, tau0_s, exponent, shape):
    """ln(t/tau) as a fresh float32 array of ``shape``: the law's affine form in float32 for
    n = 1 (one multiply, one add, one minimum), its general form in float64 otherwise."""
    n = np.asarray(exponent, dtype=float)
    if n.ndim == 0 and float(n) == 1.0:
        magnitude = np.abs(np.asarray(current_A, dtype=np.float32))
        out = neel_brown.LinearForm.of(width_s, ic0_A, delta, tau0_s).log_rate(magnitude)
        return np.broadcast_to(out, shape).copy() if out.shape != shape else out
    out = np.empty(shape, dtype=np.float32)
    out[...] = neel_brown.log_rate(current_A, width_s, ic0_A, delta, tau0_s, exponent)
    return out


def sample_switch_events(rng: np.random.Generator, current_A, width_s, ic0_A, delta,
                         tau0_s=1e-9, exponent=1.0, n_domains=None):
    """Draw switch outcomes of reset-then-write trials, vectorized over all inputs.

    Returns the switched fraction of each trial (float32, the broadcast shape of the
    inputs; exact for 0/1 and for k/N): 0 or 1 for a macrospin device (``n_domains`` None or all 1), k/N for a
    multi-domain Hall bar whose N nucleation regions each follow the law independently.

    Macrospin fast path (one uniform per sample, near the cost of "draw and compare"):
    with r = t/tau, P_sw = 1 - exp(-r) = P(U > exp(-r)) = P(ln U > -r) for U uniform, so
    the sampler computes r = exp(ln(t/tau)) and ln U in float32 and compares, with no
    probability array and no expm1. Resolution: float32 uniforms are multiples of 2^-24,
    so a per-trial probability is resolved to ~6e-8 (a probability below that draws as 0);
    ln(t/tau) is accurate to ~1e-6 relative. Use :func:`devices.laws.neel_brown.probability` for exact
    tail probabilities.
    """
    shape = np.broadcast_shapes(np.shape(current_A), np.shape(width_s), np.shape(ic0_A),
                                np.shape(delta), np.shape(tau0_s), np.shape(exponent))
    if n_domains is not None:
        n = np.broadcast_to(np.asarray(n_domains), shape)
        if not np.all(n == 1):
            p = neel_brown.probability(current_A, width_s, ic0_A, delta, tau0_s, exponent)
            return (rng.binomial(n, np.broadcast_to(p, shape)) / n).astype(np.float32)
    rate = _log_rate_float32(current_A, width_s, ic0_A, delta, tau0_s, exponent, shape)
    np.exp(rate, out=rate)                              # r = t / tau
    uniform = rng.random(shape, dtype=np.float32)
    with np.errstate(divide="ignore"):                  # U = 0 -> ln U = -inf: no switch
        np.log(uniform, out=uniform)
    uniform += rate                                     # ln U + r > 0  <=>  switched
    np.greater(uniform, np.float32(0.0), out=uniform, casting="unsafe")   # in place: 0.0 / 1.0
    return uniform


# ---------------------------------------------------------------- field-driven reversal
def field_log_rate(field_T, hk_T, delta, tau0_s=1e-9):
    """ln(1 / tau) in 1/s for reversal by an easy-axis field (Stoner-Wohlfarth barrier).

        tau(H) = tau0 * exp(Delta * (1 - |H| / Hk) ** 2)

    with the bracket clamped at zero from |H| = Hk on (the barrier is gone: tau -> tau0).
    The field only lowers the barrier toward the state sign(H); the caller picks the target.
    Broadcasts like :func:`log_rate`.
    """
    reduced = np.maximum(1.0 - np.abs(field_T) / hk_T, 0.0)
    return -np.log(tau0_s) - delta * reduced * reduced


def field_switching_probability(field_T, dwell_s, hk_T, delta, tau0_s=1e-9):
    """P = 1 - exp(-t / tau(H)): reversal toward sign(H) during ``dwell_s`` at field ``field_T``."""
    rate = np.exp(np.log(dwell_s) + field_log_rate(field_T, hk_T, delta, tau0_s))
    return -np.expm1(-rate)


def coercive_field_T(sweep_rate_T_per_s, hk_T, delta, tau0_s=1e-9):
    """Field at which half the magnets have reversed in a linear sweep (Sharrock-like).

    Switching probability under a sweep from far below: P = 1 - exp(-integral dt / tau(H)).
    With H(t) = R t, the integral is (Hk / R) / tau0 * int exp(-Delta (1-h)^2) dh, which
    near the switching field is ~ Hk / (2 Delta (1-h) R tau0) exp(-Delta (1-h)^2). Setting it
    to ln 2 and solving for h by fixed-point iteration gives Hc; the estimate assumes
    Delta (1 - h)^2 >> 1 (Hc well below Hk) and is a guide for tests and plots, not a fit.
    """
    delta = np.asarray(delta, dtype=float)
    rate = np.asarray(sweep_rate_T_per_s, dtype=float)
    reduced = np.full(np.broadcast(delta, rate, hk_T).shape, 0.5)
    for _ in range(50):
        prefactor = np.asarray(hk_T) / (2.0 * delta * np.maximum(reduced, 1e-3) * rate * tau0_s)
        reduced = np.sqrt(np.maximum(np.log(prefactor / np.log(2.0)), 0.0) / delta)
    return np.asarray(hk_T) * np.clip(1.0 - reduced, 0.0, 1.0)
