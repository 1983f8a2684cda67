"""The CeLU transfer of a ferrimagnetic neuron: Hall output vs input current.

    celu(x; a) = x                    for x >= 0
               = a (exp(x / a) - 1)   for x < 0        (a > 0; continuous with slope 1 at 0)

The neuron's output is R_xy(I) = R0 + g celu(I; a): the Hall resistance read after an input
current pulse I (A), with R0 (ohm) the reading at I = 0, g (ohm/A) the gain and a (A) the
current scale of the saturating negative branch (the output never falls below R0 - g a).

Functions take numpy arrays or torch tensors and answer in the same kind (torch keeps
gradients); arguments broadcast.
"""

from __future__ import annotations

from devices.laws.arraymath import namespace


def celu(x, alpha):
    """x for x >= 0, alpha (exp(x / alpha) - 1) below."""
    xp, (x, a) = namespace(x, alpha)
    negative = xp.minimum(x, xp.zeros_like(x))       # no overflow of exp for large x
    return xp.where(x >= 0, x, a * xp.expm1(negative / a))


def hall_output_ohm(current_A, offset_ohm, gain_ohm_per_A, alpha_A):
    """R_xy = R0 + g celu(I; a): the neuron's reading after an input current ``current_A``."""
    xp, (i, r0, g, a) = namespace(current_A, offset_ohm, gain_ohm_per_A, alpha_A)
    return r0 + g * celu(i, a)


def celu_slope(x, alpha):
    """d celu / dx: 1 for x >= 0, exp(x / alpha) below."""
    xp, (x, a) = namespace(x, alpha)
    negative = xp.minimum(x, xp.zeros_like(x))
    return xp.where(x >= 0, xp.ones_like(x), xp.exp(negative / a))


__all__ = ["celu", "celu_slope", "hall_output_ohm"]
