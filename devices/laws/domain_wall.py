"""Current-driven domain-wall motion on a track, and the integrate-fire law it gives.

One wall on a track; a write pulse of current density J and width t moves it by

    dx = sign(J) mu (|J| - J_dep) t        above the depinning density J_dep, 0 below

(mu in m/s per A/m^2: tens of m/s at 1e11 A/m^2). Pinning makes each step stochastic: a
pulse moves the wall by m (1 + s eps), eps standard normal, m the mean step above and s the
relative cycle-to-cycle spread (``pinning_rel``). An optional restoring drift relaxes the
wall toward the start between pulses, x -> a x with a = exp(-dt / tau_leak): the neuron leaks.

The neuron *fires* when the wall reaches the MTJ at distance D from the start. With steps
of mean m and spread s m and a leak a per pulse period, the position after n pulses is
Gaussian with mean m (1 - a^n) / (1 - a) and variance s^2 m^2 (1 - a^2n) / (1 - a^2) (n m
and n s^2 m^2 without leak), so the survival of the count N of pulses to fire is

    P(N > n) = Phi((D - mean_n) / sd_n)

exact without leak (the wall only moves forward; steps truncated at 0 are negligible for
s < 0.3), and the first-passage approximation with leak (a wall that drifted past the MTJ
and back is counted at its latest position). Mean and spread of N follow from the sum over
n; at s = 0 N = ceil(D / m) without leak.

The simulator samples it (``simulated_bench.kinds.dw_mtj_ifr_neuron``), the fits invert it
(``procedures.ifr``), the learning side differentiates it. Functions take numpy arrays or
torch tensors and answer in the same kind; arguments broadcast.
"""

from __future__ import annotations

import math

import numpy as np

#: largest pulse count the firing sums run to: beyond it a neuron "never fires"
MAX_PULSES = 512


def _arrays(*values):
    """(xp, values as arrays of xp): numpy float64, or torch tensors of the first tensor's
    dtype when any argument is a tensor (torch is then already imported)."""
    tensors = [v for v in values if type(v).__module__.startswith("torch")]
    if not tensors:
        return np, [np.asarray(v, dtype=float) for v in values]
    import torch
    dtype = tensors[0].dtype if tensors[0].is_floating_point() else torch.float64
    return torch, [torch.as_tensor(v, dtype=dtype) for v in values]


def _normal_cdf(xp, z):
    if xp is np:
        from scipy.special import ndtr
        return ndtr(z)
    return xp.special.ndtr(z)


def mean_step_m(current_density_A_m2, width_s, jdep_A_m2, mobility_m3_per_A_s):
    """dx = sign(J) mu max(|J| - J_dep, 0) t: the mean wall displacement of one pulse, in m."""
    xp, (j, t, jdep, mu) = _arrays(current_density_A_m2, width_s, jdep_A_m2, mobility_m3_per_A_s)
    over = xp.abs(j) - jdep
    return xp.sign(j) * mu * xp.maximum(over, xp.zeros_like(over)) * t


def leak_factor(interval_s, leak_time_s):
    """a = exp(-dt / tau_leak): the fraction of its distance from the start a wall keeps
    over ``interval_s``; 1 without leak (tau_leak = inf)."""
    xp, (dt, tau) = _arrays(interval_s, leak_time_s)
    return xp.exp(-dt / tau)


def position_moments(n, step_m, pinning_rel, leak=1.0):
    """(mean, sd) of the wall position after ``n`` pulses from the start (n broadcasts)."""
    xp, (n, step, s, a) = _arrays(n, step_m, pinning_rel, leak)
    leaky = a < 1.0
    safe = xp.where(leaky, a, xp.full_like(a, 0.5))        # no 0 / 0 where a = 1
    gain = xp.where(leaky, (1.0 - safe ** n) / (1.0 - safe), n + 0.0 * safe)
    spread = xp.where(leaky, (1.0 - safe ** (2 * n)) / (1.0 - safe * safe), n + 0.0 * safe)
    return step * gain, s * xp.abs(step) * xp.sqrt(spread)


def survival(n, step_m, distance_m, pinning_rel, leak=1.0):
    """P(N > n): the neuron has not fired after ``n`` pulses (n = 0 gives 1)."""
    xp, (n, step, distance, s, a) = _arrays(n, step_m, distance_m, pinning_rel, leak)
    mean, sd = position_moments(n, step, s, a)
    gap = distance - mean
    positive = sd > 0
    z = xp.where(positive, gap / xp.where(positive, sd, xp.ones_like(sd)),
                 xp.where(gap > 0, xp.full_like(gap, math.inf), xp.full_like(gap, -math.inf)))
    return xp.where(n <= 0, xp.ones_like(z), _normal_cdf(xp, z))


def _survival_table(step_m, distance_m, pinning_rel, leak):
    """(xp, n, P(N > n)) for n = 0 .. MAX_PULSES along a new last axis."""
    xp, (step, distance, s, a) = _arrays(step_m, distance_m, pinning_rel, leak)
    n = xp.arange(MAX_PULSES + 1, dtype=step.dtype)
    return xp, n, survival(n, step[..., None], distance[..., None], s[..., None], a[..., None])


def firing_distribution(step_m, distance_m, pinning_rel, leak=1.0):
    """P(N = n) for n = 0 .. MAX_PULSES along a new last axis (the rest: never fires)."""
    xp, _, s = _survival_table(step_m, distance_m, pinning_rel, leak)
    pmf = xp.zeros_like(s)
    pmf[..., 1:] = s[..., :-1] - s[..., 1:]
    return pmf


def expected_pulses_to_fire(step_m, distance_m, pinning_rel, leak=1.0):
    """E[N] = sum_n P(N > n): the mean count of pulses to fire; inf where the neuron does not
    fire within MAX_PULSES with probability > 1e-6 (below depinning, or a leak that holds
    the wall short of the MTJ)."""
    xp, _, s = _survival_table(step_m, distance_m, pinning_rel, leak)
    mean = s.sum(-1)
    return xp.where(s[..., -1] > 1e-6, xp.full_like(mean, math.inf), mean)


def pulses_to_fire_sd(step_m, distance_m, pinning_rel, leak=1.0):
    """The spread (standard deviation) of N, from Var N = sum_n (2n + 1) P(N > n) - E[N]^2."""
    xp, n, s = _survival_table(step_m, distance_m, pinning_rel, leak)
    mean = s.sum(-1)
    var = ((2 * n + 1) * s).sum(-1) - mean * mean
    sd = xp.sqrt(xp.maximum(var, xp.zeros_like(var)))
    return xp.where(s[..., -1] > 1e-6, xp.full_like(sd, math.inf), sd)


def deterministic_pulses_to_fire(step_m, distance_m, leak=1.0):
    """N without pinning noise: ceil(D / m), or with a leak a the least n with
    m (1 - a^n) / (1 - a) >= D; inf when the wall never gets there (m <= 0 or the leaky
    fixed point m / (1 - a) short of D). Numpy."""
    step = np.asarray(step_m, dtype=float)
    distance = np.asarray(distance_m, dtype=float)
    a = np.asarray(leak, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = np.ceil(distance / step - 1e-12)
        ratio = 1.0 - distance * (1.0 - a) / step
        leaky = np.ceil(np.log(np.where(ratio > 0, ratio, 1.0)) / np.log(np.where(a < 1, a, 0.5)) - 1e-12)
    out = np.where(a < 1.0, np.where(ratio > 0, leaky, np.inf), plain)
    return np.where(step > 0, np.maximum(out, 1.0), np.inf)


__all__ = ["MAX_PULSES", "deterministic_pulses_to_fire", "expected_pulses_to_fire",
           "firing_distribution", "leak_factor", "mean_step_m", "position_moments",
           "pulses_to_fire_sd", "survival"]
