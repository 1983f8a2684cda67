"""A domain wall in a notched track: a quantized synapse of K levels (K - 1 notch gaps).

The wall sits in one of K notches, k = 0 .. K - 1; the conductance the read junction sees
grows linearly with k (the reversed part of the free layer over the track):

    G_k = Gmin + (Gmax - Gmin) k / (K - 1)

A write pulse depins the wall from its notch by thermal activation over the pinning
barrier Delta_pin lowered by the current (the Neel-Brown form, :mod:`devices.laws.neel_brown`,
with J / J_dep in place of I / Ic0):

    p(J) = 1 - exp(-t / tau),  tau = tau0 exp(Delta_pin (1 - |J| / J_dep))

and a depinned wall moves one notch in the direction of J, or overshoots to the next but one
with probability q (the overshoot probability). The end notches stop it (no ejection).

Functions take numpy arrays or torch tensors and answer in the same kind; arguments broadcast.
"""

from __future__ import annotations

from devices.laws import neel_brown
from devices.laws.arraymath import namespace


def depinning_probability(current_density_A_m2, width_s, jdep_A_m2, delta_pin, tau0_s=1e-9):
    """p(J): the probability that one pulse frees the wall from its notch."""
    return neel_brown.probability(current_density_A_m2, width_s, jdep_A_m2, delta_pin, tau0_s, 1.0)


def notch_move_probabilities(p_depin, overshoot):
    """(P(stay), P(one notch), P(two notches)) of one pulse, away from the end notches."""
    xp, (p, q) = namespace(p_depin, overshoot)
    return 1.0 - p, p * (1.0 - q), p * q


def level_conductance(level, levels, gmin_S, gmax_S):
    """G_k = Gmin + (Gmax - Gmin) k / (K - 1) of notch ``level`` of ``levels`` (K >= 2)."""
    xp, (k, n, gmin, gmax) = namespace(level, levels, gmin_S, gmax_S)
    return gmin + (gmax - gmin) * k / (n - 1.0)


def mean_level_after(pulses, start_level, levels, p_depin, overshoot):
    """E[k] after ``pulses`` forward pulses from ``start_level`` (numpy: the exact chain with
    the end notch absorbing), for the fits and the learning side's expectations."""
    import numpy as np

    k_max = int(levels) - 1
    state = np.zeros(k_max + 1)
    state[int(start_level)] = 1.0
    stay, one, two = (float(v) for v in notch_move_probabilities(p_depin, overshoot))
    means = [float(state @ np.arange(k_max + 1))]
    for _ in range(int(pulses)):
        new = stay * state
        new[1:] += one * state[:-1]
        new[2:] += two * state[:-2]
        new[k_max] += two * state[k_max - 1] if k_max >= 1 else 0.0   # overshoot into the end stop
        new[k_max] += (one + two) * state[k_max]                     # the end notch holds it
        state = new
        means.append(float(state @ np.arange(k_max + 1)))
    return np.array(means)


__all__ = ["depinning_probability", "level_conductance", "mean_level_after",
           "notch_move_probabilities"]
