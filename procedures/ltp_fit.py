"""Fits of LTP/LTD data: a ferrimagnetic synapse's curves (:mod:`devices.laws.synapse_conductance`)
and a quantized domain-wall synapse's levels and step statistics (:mod:`devices.laws.notched_wall`).

Data: per cycle, the conductance read before and after each pulse of a potentiation sweep
(from Gmin, ``P`` pulses) and of the depression sweep that follows (``P`` pulses back);
``read_noise_S``: the rms of one reading, from reads of the device at rest.

Analog synapse (:func:`fit_ltp_ltd`):

- *Curves.* Gmin, Gmax, N, nu_ltp and nu_ltd by least squares of G_ltp(p) and G_ltd(q) to the
  cycle means (N from where the curves flatten: P must exceed it), over a few N starts;
  standard errors by a jackknife over the cycles (3 or more: the write noise is a random walk
  along a sweep, so its points are correlated), else from the Jacobian. *Asymmetry*: nu_ltd -
  nu_ltp (0: symmetric).
- *Write noise.* Each measured step minus the fitted curve's step from the measured starting
  conductance has variance sigma_w^2 s^2 + 2 sigma_r^2 (s = (Gmax - Gmin) / N, sigma_r the
  read noise): sigma_w = sqrt(var - 2 sigma_r^2) / s, from the steps inside the range.
- *Distinguishable states.* Along the fitted LTP curve, levels at least 2 sigma apart, sigma =
  sqrt((sigma_w s)^2 + sigma_r^2) the spread of one programmed state: N + 1 for a linear,
  quiet device, fewer where a nonlinear curve's steps shrink under the noise.

Quantized synapse (:func:`fit_quantized`): the readings cluster at K levels (gaps over 10
sigma_r); each pulse's move in notches gives p(J) (moves / pulses not at the end stop in
their direction) and the overshoot probability (two-notch moves / moves, from notches two or
more from the end).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares

from devices.laws import synapse_conductance as law
from procedures.fits import FitError

#: levels closer than this many read-noise sigmas are one state (distinguishable states)
STATE_SEPARATION_SIGMA = 2.0
#: readings whose gap exceeds this many read-noise sigmas belong to different notches
LEVEL_GAP_SIGMA = 10.0


@dataclass(frozen=True)
class LTPFit:
    gmin_S: float
    gmax_S: float
    n_pulses: float
    nu_ltp: float
    nu_ltd: float
    gmin_err_S: float
    gmax_err_S: float
    n_pulses_err: float
    nu_ltp_err: float
    nu_ltd_err: float
    asymmetry: float             # nu_ltd - nu_ltp
    write_noise: float           # sigma of one nominal step, in mean steps
    write_noise_err: float
    read_noise_S: float
    n_states: int                # distinguishable states along the LTP curve
    rms_residual_S: float
    cycles: int
    pulses: int

    def as_dict(self) -> dict:
        return asdict(self)

    def ltp(self, pulses):
        return law.ltp_conductance(pulses, self.gmin_S, self.gmax_S, self.nu_ltp, self.n_pulses)

    def ltd(self, pulses):
        return law.ltd_conductance(pulses, self.gmin_S, self.gmax_S, self.nu_ltd, self.n_pulses)


def _as_cycles(curves) -> np.ndarray:
    data = np.asarray(curves, dtype=float)
    if data.ndim != 2 or data.shape[1] < 4 or not np.all(np.isfinite(data)):
        raise FitError(f"LTP/LTD data must be finite readings, cycles x (pulses + 1) with >= 3 "
                       f"pulses, got shape {data.shape}")
    return data


def _curves_fit(p, ltp_mean, ltd_mean, n_start):
    scale = np.array([1e-4, 1e-4, 1.0, 1.0, 1.0])
    g0 = np.array([ltp_mean[0], ltp_mean[-1], n_start, 1.0, 1.0])
    top = float(p[-1])

    def residuals(x):
        gmin, gmax, n, nu_p, nu_d = x * scale
        return np.concatenate([law.ltp_conductance(p, gmin, gmax, nu_p, n) - ltp_mean,
                               law.ltd_conductance(p, gmin, gmax, nu_d, n) - ltd_mean]) / 1e-7

    lower = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    upper = np.array([np.inf, np.inf, top, 20.0, 20.0])
    x0 = np.clip(g0 / scale, lower + 1e-9, np.where(np.isfinite(upper), upper - 1e-9, np.inf))
    return least_squares(residuals, x0, bounds=(lower, upper), x_scale="jac"), scale


def _mean_curves_fit(ltp, ltd):
    """The law fitted to the cycle means, from a few starts of N around where LTP flattens."""
    points = ltp.shape[1]
    p = np.arange(points, dtype=float)
    ltp_mean, ltd_mean = ltp.mean(0), ltd.mean(0)
    span = ltp_mean[-1] - ltp_mean[0]
    if not span > 0 or not ltd_mean[0] > ltd_mean[-1]:
        raise FitError("the conductance does not rise under potentiation and fall under "
                       "depression: no programming to fit (check the amplitude, the polarity "
                       "and that the pulses reach the device)")
    reached = np.flatnonzero(ltp_mean >= ltp_mean[0] + 0.97 * span)
    guess = float(max(reached[0], 2)) if reached.size else float(points - 1)
    best = None
    for start in np.unique(np.clip(np.round(guess * np.array([0.8, 1.0, 1.2, 1.5])), 2, points - 1)):
        result, scale = _curves_fit(p, ltp_mean, ltd_mean, start)
        if best is None or result.cost < best[0].cost:
            best = (result, scale)
    return best


def fit_ltp_ltd(ltp_curves, ltd_curves, read_noise_S: float = 0.0) -> LTPFit:
    """Fit the LTP/LTD law to ``cycles x (P + 1)`` readings of each sweep (S; index 0 the
    reading before the sweep's first pulse)."""
    ltp, ltd = _as_cycles(ltp_curves), _as_cycles(ltd_curves)
    if ltp.shape != ltd.shape:
        raise FitError(f"LTP and LTD sweeps differ in shape: {ltp.shape} vs {ltd.shape}")
    cycles, points = ltp.shape
    result, scale = _mean_curves_fit(ltp, ltd)
    gmin, gmax, n, nu_p, nu_d = result.x * scale
    dof = max(2 * points - 5, 1)
    rms = float(np.sqrt(2 * result.cost / dof)) * 1e-7
    if cycles >= 3:
        # the noise is a random walk along each sweep: the points of a cycle are correlated,
        # so the errors come from the cycles themselves (jackknife, one cycle left out)
        keep = [np.arange(cycles) != c for c in range(cycles)]
        runs = np.array([_mean_curves_fit(ltp[k], ltd[k])[0].x * scale for k in keep])
        err = np.sqrt((cycles - 1) / cycles * ((runs - runs.mean(0)) ** 2).sum(0))
    else:
        try:
            cov = np.linalg.inv(result.jac.T @ result.jac) * (2 * result.cost / dof)
            err = np.sqrt(np.abs(np.diag(cov))) * scale
        except np.linalg.LinAlgError:
            err = np.full(5, np.nan)
    if n >= points - 1.5:
        raise FitError(f"the curves do not flatten within the {points - 1} pulses of a sweep "
                       f"(fitted N {n:.1f}): raise the pulses per sweep over N")
    noise, noise_err = _write_noise(ltp, ltd, gmin, gmax, nu_p, nu_d, n, read_noise_S)
    states = distinguishable_states(gmin, gmax, nu_p, n, noise, read_noise_S)
    return LTPFit(float(gmin), float(gmax), float(n), float(nu_p), float(nu_d), float(err[0]),
                  float(err[1]), float(err[2]), float(err[3]), float(err[4]), float(nu_d - nu_p),
                  noise, noise_err, float(read_noise_S), states, rms, cycles, points - 1)


def _write_noise(ltp, ltd, gmin, gmax, nu_p, nu_d, n, read_noise_S) -> tuple[float, float]:
    """sigma_w from the steps inside the range: the last 15 % of a sweep is left out, where
    the accumulated noise has taken some cycles to the clamp at the far end."""
    residuals = []
    inside = max(int(0.85 * n), 2)
    for curves, direction, nu in ((ltp, 1.0, nu_p), (ltd, -1.0, nu_d)):
        start, after = curves[:, :inside], curves[:, 1:inside + 1]
        model = law.step_conductance(start, 1.0, direction, gmin, gmax, nu, n)
        residuals.append((after - model)[:, 1:].ravel())   # the first step starts at an end
    r = np.concatenate(residuals)
    if r.size < 10:
        raise FitError(f"too few steps inside the range ({r.size}) to estimate the write noise: "
                       f"more cycles or a device with more states")
    mean_step = (gmax - gmin) / n
    variance = float(np.var(r, ddof=1))
    excess = max(variance - 2.0 * read_noise_S ** 2, 0.0)
    noise = float(np.sqrt(excess) / mean_step)
    # the variance's standard error, 2 var / sqrt(2 (n - 1)), carried to sigma_w
    var_err = variance * np.sqrt(2.0 / (r.size - 1))
    noise_err = float(var_err / (2.0 * max(np.sqrt(excess), 1e-30)) / mean_step) if excess > 0 \
        else float(np.sqrt(var_err) / mean_step)
    return noise, noise_err


def distinguishable_states(gmin, gmax, nu, n, write_noise, read_noise_S) -> int:
    """Levels along G_ltp(0 .. N) at least STATE_SEPARATION_SIGMA x the spread of one
    programmed state apart (greedy from Gmin)."""
    sigma = np.hypot(write_noise * (gmax - gmin) / n, read_noise_S)
    levels = law.ltp_conductance(np.arange(int(np.floor(n)) + 1), gmin, gmax, nu, n)
    if sigma <= 0:
        return int(levels.size)
    count, last = 1, levels[0]
    for g in levels[1:]:
        if g - last >= STATE_SEPARATION_SIGMA * sigma:
            count, last = count + 1, g
    return count


@dataclass(frozen=True)
class QuantizedFit:
    levels: int
    level_conductances_S: list
    gmin_S: float
    gmax_S: float
    step_probability: float
    step_probability_err: float
    overshoot_probability: float
    overshoot_err: float | None      # None: no move could overshoot (K = 2)
    pulses: int                  # pulses counted for p(J)
    moves: int
    read_noise_S: float

    def as_dict(self) -> dict:
        return asdict(self)


def cluster_levels(readings_S, read_noise_S: float) -> np.ndarray:
    """The conductance levels of a quantized device: the means of readings split where
    sorted neighbours are over LEVEL_GAP_SIGMA read-noise sigmas apart."""
    values = np.sort(np.asarray(readings_S, dtype=float).ravel())
    floor = 1e-3 * (values[-1] - values[0])
    gap = max(LEVEL_GAP_SIGMA * read_noise_S, floor, 1e-12)
    cuts = np.flatnonzero(np.diff(values) > gap) + 1
    return np.array([chunk.mean() for chunk in np.split(values, cuts)])


def fit_quantized(sweeps, read_noise_S: float) -> QuantizedFit:
    """``sweeps``: (direction, readings) pairs, each readings[0] the state before the sweep's
    first pulse, direction +1 / -1. Levels, p(J) and the overshoot probability."""
    every = np.concatenate([np.asarray(r, dtype=float) for _, r in sweeps])
    levels = cluster_levels(every, read_noise_S)
    k_max = levels.size - 1
    if k_max < 1:
        raise FitError("the readings show one level only: the wall never moved (raise the "
                       "amplitude or the pulses) or the device is not a notched track")
    attempts = moved = two_possible = two = 0
    for direction, readings in sweeps:
        index = np.abs(np.asarray(readings, dtype=float)[:, None] - levels[None, :]).argmin(1)
        for before, after in zip(index[:-1], index[1:]):
            room = k_max - before if direction > 0 else before
            if room == 0:
                continue                      # at the end stop: a pulse cannot move it
            move = (after - before) * direction
            attempts += 1
            moved += move > 0
            if room >= 2 and move > 0:
                two_possible += 1
                two += move >= 2
    if attempts == 0 or moved == 0:
        raise FitError("no pulse moved the wall: raise the amplitude or the width")
    p = moved / attempts
    q = two / two_possible if two_possible else 0.0
    # binomial errors; with no two-notch move seen, the rule of three's 1 / n scale instead of 0
    q_err = float(np.sqrt(max(q * (1 - q), 1.0 / two_possible) / two_possible)) if two_possible else None
    return QuantizedFit(int(levels.size), [float(g) for g in levels], float(levels[0]),
                        float(levels[-1]), float(p), float(np.sqrt(p * (1 - p) / attempts)),
                        float(q), q_err, int(attempts), int(moved), float(read_noise_S))


def d2d_spread(values) -> float:
    """Relative device-to-device spread: sd / mean (ddof 1; NaN for fewer than 2 devices)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size < 2 or v.mean() == 0:
        return float("nan")
    return float(v.std(ddof=1) / abs(v.mean()))


__all__ = ["LTPFit", "QuantizedFit", "cluster_levels", "d2d_spread", "distinguishable_states",
           "fit_ltp_ltd", "fit_quantized"]
