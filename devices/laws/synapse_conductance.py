"""Multi-level synapse conductance: long-term potentiation and depression by write pulses.

A synapse holds a conductance G in [Gmin, Gmax]. From Gmin, p potentiating pulses (of the
nominal amplitude and width) give

    G_ltp(p) = Gmin + (Gmax - Gmin) (1 - exp(-nu_p p / N)) / (1 - exp(-nu_p))

and from Gmax, q depressing pulses give the mirror curve

    G_ltd(q) = Gmax - (Gmax - Gmin) (1 - exp(-nu_d q / N)) / (1 - exp(-nu_d))

(N: pulses from one end to the other; nu: the nonlinearity, 0 = linear, the limit
Gmin + (Gmax - Gmin) p / N; nu_p != nu_d: an asymmetric device). A pulse at any G moves
along the curve of its direction: G -> G_ltp(G_ltp^-1(G) + s) for potentiation, the same with
G_ltd for depression, where s is the pulse's step in units of a nominal pulse, clamped at the
ends (G never leaves [Gmin, Gmax]).

Step of a pulse (spin-orbit torque on a multi-domain ferrimagnet: the reversed area a pulse
adds grows with the charge over the depinning threshold):

    s = max(|J| - J_th, 0) / (J_nom - J_th) * t / t_nom

so a pulse below the threshold density J_th does nothing and the nominal pulse (J_nom,
t_nom) is one step. Cycle-to-cycle write noise adds sigma_w s (Gmax - Gmin) / N eps to a
step (eps standard normal): sigma_w is the spread of one nominal step in units of the mean
step (Gmax - Gmin) / N.

Functions take numpy arrays or torch tensors and answer in the same kind; arguments broadcast.
"""

from __future__ import annotations

from devices.laws.arraymath import namespace

#: below this |nu| the curves are evaluated by their linear limit (no 0 / 0)
LINEAR_NU = 1e-6


def _shape(xp, x, nu):
    """(1 - exp(-nu x)) / (1 - exp(-nu)) for x in [0, 1] (x itself at nu ~ 0)."""
    small = xp.abs(nu) < LINEAR_NU
    safe = xp.where(small, xp.ones_like(nu), nu)
    curved = xp.expm1(-safe * x) / xp.expm1(-safe)
    return xp.where(small, x + 0.0 * nu, curved)


def _inverse_shape(xp, y, nu):
    """x with _shape(x, nu) = y, for y in [0, 1]."""
    small = xp.abs(nu) < LINEAR_NU
    safe = xp.where(small, xp.ones_like(nu), nu)
    curved = -xp.log1p(y * xp.expm1(-safe)) / safe
    return xp.where(small, y + 0.0 * nu, curved)


def ltp_conductance(pulses, gmin_S, gmax_S, nu, n_pulses):
    """G after ``pulses`` potentiating nominal pulses from Gmin (clamped at N: Gmax)."""
    xp, (p, gmin, gmax, nu, n) = namespace(pulses, gmin_S, gmax_S, nu, n_pulses)
    x = xp.clip(p / n, 0.0, 1.0)
    return gmin + (gmax - gmin) * _shape(xp, x, nu)


def ltd_conductance(pulses, gmin_S, gmax_S, nu, n_pulses):
    """G after ``pulses`` depressing nominal pulses from Gmax (clamped at N: Gmin)."""
    xp, (q, gmin, gmax, nu, n) = namespace(pulses, gmin_S, gmax_S, nu, n_pulses)
    x = xp.clip(q / n, 0.0, 1.0)
    return gmax - (gmax - gmin) * _shape(xp, x, nu)


def pulse_coordinate(g_S, direction, gmin_S, gmax_S, nu, n_pulses):
    """Where G lies on the curve of ``direction`` (+1 potentiation, -1 depression), in
    nominal pulses from that curve's start (G_ltp^-1 or G_ltd^-1)."""
    xp, (g, d, gmin, gmax, nu, n) = namespace(g_S, direction, gmin_S, gmax_S, nu, n_pulses)
    y = xp.clip((g - gmin) / (gmax - gmin), 0.0, 1.0)
    y = xp.where(d > 0, y, 1.0 - y)
    return n * _inverse_shape(xp, y, nu)


def step_conductance(g_S, steps, direction, gmin_S, gmax_S, nu, n_pulses):
    """The conductance after a pulse of ``steps`` nominal steps in ``direction`` (+1 / -1),
    without write noise: the move along that direction's curve, clamped at the ends."""
    xp, (g, s, d, gmin, gmax, nu, n) = namespace(g_S, steps, direction, gmin_S, gmax_S, nu,
                                                 n_pulses)
    at = pulse_coordinate(g, d, gmin, gmax, nu, n) + s
    return xp.where(d > 0, ltp_conductance(at, gmin, gmax, nu, n),
                    ltd_conductance(at, gmin, gmax, nu, n))


def pulse_steps(current_density_A_m2, width_s, threshold_A_m2, nominal_A_m2, nominal_width_s):
    """s = max(|J| - J_th, 0) / (J_nom - J_th) * t / t_nom: a pulse's step in nominal steps."""
    xp, (j, t, jth, jnom, tnom) = namespace(current_density_A_m2, width_s, threshold_A_m2,
                                            nominal_A_m2, nominal_width_s)
    over = xp.abs(j) - jth
    return xp.maximum(over, xp.zeros_like(over)) / (jnom - jth) * t / tnom


def density_for_steps(steps, width_s, threshold_A_m2, nominal_A_m2, nominal_width_s):
    """The inverse of :func:`pulse_steps` in |J|: the density whose pulse of ``width_s`` makes
    ``steps`` nominal steps (> 0)."""
    xp, (s, t, jth, jnom, tnom) = namespace(steps, width_s, threshold_A_m2, nominal_A_m2,
                                            nominal_width_s)
    return jth + s * (jnom - jth) * tnom / t


def mean_step_S(gmin_S, gmax_S, n_pulses):
    """(Gmax - Gmin) / N: the mean conductance change of one nominal pulse over the range."""
    xp, (gmin, gmax, n) = namespace(gmin_S, gmax_S, n_pulses)
    return (gmax - gmin) / n


__all__ = ["LINEAR_NU", "density_for_steps", "ltd_conductance", "ltp_conductance", "mean_step_S",
           "pulse_coordinate", "pulse_steps", "step_conductance"]
