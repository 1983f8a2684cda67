"""Fits of switching data: Neel-Brown curve, logistic neuron curve, relaxation time tau(I).

The data of a switching measurement are counts: at each pulse amplitude (and width), ``k``
switch events out of ``n`` reset-then-write trials. For a multi-domain Hall bar the reading
is the switched *fraction* of each trial; pass ``k = mean fraction x n`` (it need not be an
integer). Every fit here is a binomial maximum-likelihood fit, and its uncertainties are the
inverse of the expected (Fisher) information, scaled by the Pearson dispersion of the data
(quasi-binomial): the dispersion is ~1 for binary macrospin events, and well below 1 for the
switched fraction of a bar with many independent regions, whose average is less noisy than
a coin flip. Binary data are never credited with less noise than a binomial (scale >= 1).
Where the noise of a point is known better than the binomial guess (a multi-domain bar's
switched fractions carry read noise too), pass ``std_err`` (each point's standard error of
P, e.g. the spread of its trials / sqrt(trials)): the fit becomes weighted least squares
and ``dispersion`` its chi^2 per degree of freedom.

The Pearson dispersion measures everything the model does not explain: noise *and* lack of
fit. The Neel-Brown law is the data's own law, so its dispersion is the noise. The logistic
is only an approximation of it (the Neel-Brown curve is asymmetric), and on a well-sampled
sweep its lack of fit dominates: its dispersion is ~2 where the noise alone gives ~1
(macrospin) or ~0.001-0.03 (bars of ~800-30 regions). The logistic's default errors therefore
bound how well a logistic describes the data, not how much its I50 and slope would scatter on
a repeated measurement: in the simulator (24 points over P = 0.02-0.98, 200 trials each) they
exceed that scatter ~1.5x for a macrospin and ~7-35x for bars of 32-800 regions. For the
statistical errors pass the noise dispersion of a correctly specified fit of the same data,
``fit_logistic(..., noise_dispersion=nb.dispersion)`` with ``nb = fit_neel_brown(...)``
(same ``std_err``, if any): they then match the scatter (within ~15 % in the simulator).

Models (the Neel-Brown law is :mod:`devices.laws.neel_brown`, the one the simulator samples)::

    Neel-Brown  P(I, t) = 1 - exp(-t / tau),  tau = tau0 exp(Delta (1 - I / Ic0)^n)
    logistic    P(I)    = 1 / (1 + exp(-k (I - I50)))

The Neel-Brown fit frees ``Ic0`` and ``Delta`` at a known attempt time ``tau0`` and exponent
``n``; with one pulse width the two are identified because ln(t / tau0) is known. The
logistic fit gives the neuron's slope ``k`` and offset ``I50``; its 10-90 % width is
``2 ln 9 / k``. ``fit_tau`` turns P vs pulse width at one current into tau(I), and
``fit_tau_curve`` turns tau(I) at several currents into (Delta, Ic0) and, with ``exponent``
None, n. ``fit_neel_brown_exponent`` fits (critical drive, Delta, n) to counts at several
widths at once (one critical drive per group: a synapse's two directions): n is fitted, not
assumed (an STT macrospin has n = 2, not the linear n = 1).

Currents are magnitudes in amperes throughout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize

from devices.laws import neel_brown

LN2 = neel_brown.LN2
WIDTH_10_90 = 2.0 * math.log(9.0)   # logistic: I(P=0.9) - I(P=0.1) = 2 ln 9 / k
_EPS = 1e-12


class FitError(ValueError):
    """Data that cannot support the requested fit (too few points on the transition...)."""


# ----------------------------------------------------------------------------- helpers
def _check_counts(switched, trials):
    """Refuse counts no binomial fit can use: trials finite and > 0, 0 <= switched <= trials."""
    if not np.all(np.isfinite(trials)):
        bad = trials[~np.isfinite(trials)][0]
        raise FitError(f"trials must be a finite number at every point, got {float(bad):g}; "
                       f"give the number of reset-then-write trials behind each count")
    if np.any(trials <= 0):
        raise FitError(f"trials must be > 0 at every point, got min {float(trials.min()):g}")
    if not np.all(np.isfinite(switched)):
        raise FitError("switched must be finite numbers at every point")
    if np.any((switched < 0) | (switched > trials + 1e-9)):
        raise FitError("switched must lie in [0, trials] at every point "
                       f"(got {float(switched.min()):g}..{float(switched.max()):g} for up to {float(trials.max()):g} trials)")


def _check_widths(width):
    if not np.all(np.isfinite(width)) or np.any(width <= 0):
        raise FitError(f"pulse widths must be finite and > 0 s, got {float(width.min()):g}..{float(width.max()):g} s")


def _counts(current_A, switched, trials, width_s=None):
    current = np.abs(np.asarray(current_A, dtype=float)).ravel()
    switched = np.asarray(switched, dtype=float).ravel()
    trials = np.broadcast_to(np.asarray(trials, dtype=float), current.shape).astype(float)
    if switched.shape != current.shape:
        raise FitError(f"switched has {switched.size} entries but current_A has {current.size}; "
                       f"give one count per amplitude")
    _check_counts(switched, trials)
    if not np.all(np.isfinite(current)):
        raise FitError("current_A and switched must be finite numbers")
    out = [current, switched, trials]
    if width_s is not None:
        width = np.broadcast_to(np.asarray(width_s, dtype=float), current.shape).astype(float)
        _check_widths(width)
        out.append(width)
    return out


def _reference_width(width) -> float:
    """The most common pulse width of the data (ties: the smallest), widths equal to 1e-9."""
    values = np.unique(width)
    counts = [int(np.count_nonzero(np.isclose(width, v, rtol=1e-9, atol=0.0))) for v in values]
    return float(values[int(np.argmax(counts))])   # argmax: the first, i.e. smallest, of a tie


def _is_fractional(switched) -> bool:
    return bool(np.any(np.abs(switched - np.round(switched)) > 1e-9))


def _binomial_nll(p, switched, trials) -> float:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return -float(np.sum(switched * np.log(p) + (trials - switched) * np.log1p(-p)))


def _dispersion(p, switched, trials, n_params) -> float:
    """Pearson chi^2 per degree of freedom of binomial counts (1 for an ideal binomial)."""
    p = np.clip(p, 1e-6, 1.0 - 1e-6)
    chi2 = np.sum((switched - trials * p) ** 2 / (trials * p * (1.0 - p)))
    dof = max(len(p) - n_params, 1)
    return float(chi2 / dof)


def _covariance(jacobian, p, trials, scale) -> np.ndarray:
    """(sum_i n_i g_i g_i^T / (p_i (1 - p_i)))^-1 x scale, with g = dp/dtheta."""
    w = trials / np.clip(p * (1.0 - p), 1e-9, None)
    info = (jacobian * w[:, None]).T @ jacobian
    try:
        return np.linalg.inv(info) * scale
    except np.linalg.LinAlgError:
        return np.full_like(info, np.nan)


def _scale(p, switched, trials, n_params) -> tuple[float, float]:
    disp = _dispersion(p, switched, trials, n_params)
    return disp, (disp if _is_fractional(switched) else max(1.0, disp))


def _std_err(std_err, shape, trials):
    """Per-point standard errors of P for a Gaussian (weighted least squares) fit, or None.

    A point whose trials all agree has an empirical error of 0; it is floored at
    0.5 / trials (half a trial), so no point gets an infinite weight.
    """
    if std_err is None:
        return None
    se = np.broadcast_to(np.asarray(std_err, dtype=float), shape).astype(float)
    if not np.all(np.isfinite(se)) or np.any(se < 0):
        raise FitError("std_err must be finite and >= 0 at every point")
    return np.maximum(se, 0.5 / trials)


def _wls(residual_model, jacobian, start, p_obs, se, n_params, scale=None):
    """Weighted least squares in the model's parameters; (theta, covariance, chi2/dof).

    The covariance is scaled by chi2/dof, or by ``scale`` where given.
    """
    res = optimize.least_squares(lambda th: (residual_model(th) - p_obs) / se, start,
                                 method="lm", xtol=1e-12, ftol=1e-12, max_nfev=4000)
    chi2 = float(np.sum(res.fun ** 2) / max(len(p_obs) - n_params, 1))
    jac = jacobian(res.x) / se[:, None]
    try:
        cov = np.linalg.inv(jac.T @ jac) * (chi2 if scale is None else scale)
    except np.linalg.LinAlgError:
        cov = np.full((n_params, n_params), np.nan)
    return res.x, cov, chi2


def _nelder_mead(fun, start):
    """Minimize, then restart once from the optimum (a standard guard against an early stop)."""
    options = {"xatol": 1e-8, "fatol": 1e-9, "maxiter": 4000}
    first = optimize.minimize(fun, start, method="Nelder-Mead", options=options)
    again = optimize.minimize(fun, first.x, method="Nelder-Mead", options=options)
    return again if again.fun <= first.fun else first


def _require_transition(p, what: str, current):
    informative = (p > 0.02) & (p < 0.98)
    low, high = p <= 0.5, p >= 0.5
    if informative.sum() < 2 and not (low.any() and high.any() and informative.sum() >= 1):
        raise FitError(
            f"{what}: only {int(informative.sum())} points with 0.02 < P < 0.98 over "
            f"{current.min():.4g}..{current.max():.4g} A (P from {p.min():.2f} to {p.max():.2f}); "
            f"the sweep misses the switching transition: sweep finer around it or widen the range")
    return informative


# ----------------------------------------------------------------------------- logistic
@dataclass(frozen=True)
class LogisticFit:
    """P = 1 / (1 + exp(-k (I - I50))), the stochastic neuron's activation.

    ``dispersion`` is the logistic's own Pearson chi^2 per degree of freedom (or weighted
    chi^2 per dof with ``std_err``): noise plus the logistic's lack of fit. ``i50_err_A`` and
    ``slope_err_per_A`` are scaled by it, unless the fit was given ``noise_dispersion``; see
    :func:`fit_logistic`.
    """

    i50_A: float
    i50_err_A: float
    slope_per_A: float
    slope_err_per_A: float
    dispersion: float
    n_points: int

    @property
    def width_10_90_A(self) -> float:
        return WIDTH_10_90 / self.slope_per_A

    @property
    def width_10_90_err_A(self) -> float:
        return WIDTH_10_90 * self.slope_err_per_A / self.slope_per_A ** 2

    @property
    def relative_width(self) -> float:
        """10-90 % width over I50: the size-independent broadness of the curve."""
        return self.width_10_90_A / self.i50_A

    def probability(self, current_A):
        x = self.slope_per_A * (np.abs(np.asarray(current_A, dtype=float)) - self.i50_A)
        return 0.5 * (1.0 + np.tanh(0.5 * x))

    def to_dict(self) -> dict:
        return {**asdict(self), "width_10_90_A": self.width_10_90_A,
                "relative_width": self.relative_width}


def _logistic(current, i50, k):
    return 0.5 * (1.0 + np.tanh(0.5 * k * (current - i50)))


def fit_logistic(current_A, switched, trials, std_err=None,
                 noise_dispersion: float | None = None) -> LogisticFit:
    """Binomial ML fit of a logistic to a switching curve.

    With ``std_err`` (the standard error of each point's P, e.g. the spread of a
    multi-domain bar's switched fractions over its trials / sqrt(trials)), the fit is a
    weighted least-squares fit instead, and ``dispersion`` is its chi^2 per degree of freedom.

    Errors: by default the covariance is scaled by the logistic's own ``dispersion``, which
    includes its lack of fit to Neel-Brown data; the errors are then a conservative bound
    (several to tens of times the real scatter of I50 and k for multi-domain bars, see the
    module docstring), and that is what a calibration's ``logistic_slope_err_per_A`` means
    when it is taken from this default fit. ``noise_dispersion`` (> 0), typically
    ``fit_neel_brown(...).dispersion`` of the same data and ``std_err``, scales the
    covariance by the noise alone (for binomial counts of binary events never below 1, as
    the default), giving the statistical errors; ``dispersion`` still reports the
    logistic's own value, a lack-of-fit indicator.
    """
    if noise_dispersion is not None and not (np.isfinite(noise_dispersion) and noise_dispersion > 0):
        raise FitError(f"noise_dispersion must be a finite number > 0, got {noise_dispersion!r}; "
                       f"pass e.g. the dispersion of a Neel-Brown fit of the same data")
    current, switched, trials = _counts(current_A, switched, trials)
    se = _std_err(std_err, current.shape, trials)
    p_obs = switched / trials
    _require_transition(p_obs, "logistic fit", current)
    scale_I = float(np.max(current))
    x = current / scale_I
    # start: I50 where the observed curve crosses 0.5, width from the 20/80 crossings
    order = np.argsort(x)
    xs, ps = x[order], np.maximum.accumulate(p_obs[order])

    def crossing(level):
        idx = int(np.argmax(ps >= level))
        return xs[idx] if ps[-1] >= level else xs[-1]

    i50_0 = crossing(0.5)
    spread = max(crossing(0.8) - crossing(0.2), (xs[-1] - xs[0]) / max(len(xs), 2))
    k0 = 2.0 * math.log(4.0) / spread

    def nll(theta):
        return _binomial_nll(_logistic(x, theta[0], math.exp(theta[1])), switched, trials)

    best = _nelder_mead(nll, [i50_0, math.log(k0)])
    i50, k = best.x[0] * scale_I, math.exp(best.x[1]) / scale_I

    def jacobian(i50, k):
        dp = _logistic(current, i50, k) * (1.0 - _logistic(current, i50, k))
        return np.column_stack([-k * dp, (current - i50) * dp])

    if se is not None:
        theta, cov, disp = _wls(lambda th: _logistic(current, th[0], th[1]),
                                lambda th: jacobian(th[0], th[1]), [i50, k], p_obs, se, 2,
                                scale=noise_dispersion)
        i50, k = float(theta[0]), float(theta[1])
    else:
        p = _logistic(current, i50, k)
        disp, scale = _scale(p, switched, trials, 2)
        if noise_dispersion is not None:
            scale = noise_dispersion if _is_fractional(switched) else max(1.0, noise_dispersion)
        cov = _covariance(jacobian(i50, k), p, trials, scale)
    return LogisticFit(float(i50), float(math.sqrt(max(cov[0, 0], 0.0))), float(k),
                       float(math.sqrt(max(cov[1, 1], 0.0))), disp, int(current.size))


# ----------------------------------------------------------------------------- Neel-Brown
@dataclass(frozen=True)
class NeelBrownFit:
    """Ic0 and Delta of the Neel-Brown law at a known tau0 and exponent."""

    ic0_A: float
    ic0_err_A: float
    delta: float
    delta_err: float
    correlation: float           # between Ic0 and Delta
    width_s: float               # the most common pulse width of the data (ties: the smallest)
    tau0_s: float
    exponent: float
    i50_A: float                 # at width_s
    i50_err_A: float
    dispersion: float
    n_points: int

    def probability(self, current_A, width_s=None):
        return neel_brown.probability(current_A, self.width_s if width_s is None else width_s,
                                      self.ic0_A, self.delta, self.tau0_s, self.exponent)

    def current_for(self, probability, width_s=None) -> float:
        return float(neel_brown.current_for_probability(
            probability, self.width_s if width_s is None else width_s, self.ic0_A, self.delta,
            self.tau0_s, self.exponent))

    @property
    def width_10_90_A(self) -> float:
        return self.current_for(0.9) - self.current_for(0.1)

    @property
    def relative_width(self) -> float:
        return self.width_10_90_A / self.i50_A

    def to_dict(self) -> dict:
        return {**asdict(self), "width_10_90_A": self.width_10_90_A,
                "relative_width": self.relative_width}


def fit_neel_brown(current_A, switched, trials, width_s, tau0_s: float = 1e-9,
                   exponent: float = 1.0, std_err=None) -> NeelBrownFit:
    """Binomial ML fit of (Ic0, Delta) to switching counts.

    ``width_s`` is one pulse width or one per point (a global fit over amplitudes and
    widths). The start comes from the logistic fit at one measured width, which fixes I50
    and the slope there. That reference width, reported as ``width_s`` with ``i50_A`` at it,
    is the most common width in the data; where several are equally common (an even split),
    the smallest of them.
    ``std_err``: per-point standard errors of P -> weighted least squares (see
    :func:`fit_logistic`), for switched fractions whose noise is not binomial.
    """
    if not (tau0_s > 0 and exponent > 0):
        raise FitError(f"tau0_s and exponent must be > 0, got {tau0_s!r}, {exponent!r}")
    current, switched, trials, width = _counts(current_A, switched, trials, width_s)
    se = _std_err(std_err, current.shape, trials)
    p_obs = switched / trials
    _require_transition(p_obs, "Neel-Brown fit", current)
    # start: at one width the logistic gives I50 and k; solve the law for (Ic0, Delta)
    # (the reference width w0 is a measured one: the most common, ties the smallest)
    w0 = _reference_width(width)
    sel = np.isclose(width, w0, rtol=1e-9, atol=0.0)
    if not sel.any():
        raise FitError(f"no point at the reference pulse width {float(w0):g} s; give one finite pulse "
                       f"width per point (or one width for all points)")
    try:
        logi = fit_logistic(current[sel], switched[sel], trials[sel],
                            None if se is None else se[sel])
        barrier = math.log(w0 / tau0_s) - math.log(LN2)
        ic0_0 = logi.i50_A + 2.0 * LN2 * exponent * barrier / logi.slope_per_A
        delta_0 = barrier / (1.0 - logi.i50_A / ic0_0) ** exponent
    except FitError:
        ic0_0, delta_0 = float(current.max()), 40.0
    if not (np.isfinite(ic0_0) and np.isfinite(delta_0) and delta_0 > 0):
        ic0_0, delta_0 = float(current.max()), 40.0

    def nll(theta):
        ic0, delta = ic0_0 * math.exp(theta[0]), delta_0 * math.exp(theta[1])
        return _binomial_nll(neel_brown.probability(current, width, ic0, delta, tau0_s, exponent),
                             switched, trials)

    best = _nelder_mead(nll, [0.0, 0.0])
    ic0, delta = ic0_0 * math.exp(best.x[0]), delta_0 * math.exp(best.x[1])
    if se is not None:
        theta, cov, disp = _wls(
            lambda th: neel_brown.probability(current, width, th[0], th[1], tau0_s, exponent),
            lambda th: neel_brown.parameter_jacobian(current, width, th[0], th[1], tau0_s, exponent),
            [ic0, delta], p_obs, se, 2)
        ic0, delta = float(theta[0]), float(theta[1])
    else:
        p = neel_brown.probability(current, width, ic0, delta, tau0_s, exponent)
        disp, scale = _scale(p, switched, trials, 2)
        cov = _covariance(neel_brown.parameter_jacobian(current, width, ic0, delta, tau0_s, exponent),
                          p, trials, scale)
    ic0_err, delta_err = (math.sqrt(max(v, 0.0)) for v in np.diag(cov))
    corr = float(cov[0, 1] / (ic0_err * delta_err)) if ic0_err > 0 and delta_err > 0 else float("nan")
    # I50 and its error by the delta method: dI50/dIc0 = 1 - u50, dI50/dDelta = Ic0 u50 / (n Delta)
    i50 = float(neel_brown.current_for_probability(0.5, w0, ic0, delta, tau0_s, exponent))
    u50 = 1.0 - i50 / ic0
    grad = np.array([1.0 - u50, ic0 * u50 / (exponent * delta)])
    i50_err = float(math.sqrt(max(grad @ cov @ grad, 0.0)))
    _require_physical(ic0, ic0_err, delta, delta_err, i50, i50_err, current)
    return NeelBrownFit(float(ic0), float(ic0_err), float(delta), float(delta_err), corr, w0,
                        float(tau0_s), float(exponent), float(i50), i50_err, disp,
                        int(current.size))


def _require_physical(ic0, ic0_err, delta, delta_err, i50, i50_err, current) -> None:
    """Refuse a fit that ended on no physical curve (a negative or non-finite Ic0 or Delta,
    I50 at or above Ic0, errors that do not exist): a caller must not record it as a device."""
    values = (ic0, ic0_err, delta, delta_err, i50, i50_err)
    if not (all(math.isfinite(v) for v in values) and ic0 > 0 and delta > 0 and 0 < i50 < ic0):
        raise FitError(
            f"the Neel-Brown fit ended on no physical curve (Ic0 {ic0:.4g} +- {ic0_err:.3g} A, "
            f"Delta {delta:.4g} +- {delta_err:.3g}, I50 {i50:.4g} A) for currents "
            f"{float(np.min(current)):.4g}..{float(np.max(current)):.4g} A: measure more points "
            f"across the transition")


# ----------------------------------------------------------------------------- n free
@dataclass(frozen=True)
class ExponentFit:
    """(critical drives, Delta, n) of the Neel-Brown law at a known tau0, fitted together.

    The drive is whatever the law is written in: a current for a neuron, the voltage over
    the barrier for a synapse (:mod:`devices.laws.stt_switching`), so ``critical`` holds Ic0
    or Vc in the data's unit, one per group of points (a synapse's two directions share
    its free layer's Delta and n but not Vc). n is identified by the curvature of the
    barrier Delta (1 - x)^n in the drive, which one pulse width barely shows: give widths
    over two decades or more.
    """

    critical: tuple
    critical_err: tuple
    delta: float
    delta_err: float
    exponent: float
    exponent_err: float
    tau0_s: float
    dispersion: float
    n_points: int
    widths_s: tuple

    def probability(self, drive, width_s, group: int = 0):
        return neel_brown.probability(drive, width_s, self.critical[group], self.delta,
                                      self.tau0_s, self.exponent)

    def drive_for(self, probability, width_s, group: int = 0) -> float:
        return float(neel_brown.current_for_probability(probability, width_s, self.critical[group],
                                                        self.delta, self.tau0_s, self.exponent))

    def to_dict(self) -> dict:
        return {**asdict(self), "critical": list(self.critical),
                "critical_err": list(self.critical_err), "widths_s": list(self.widths_s)}


#: the largest n the free-n fit goes to (a fit that ends there has not identified n)
MAX_EXPONENT = 4.0


def _jacobian_with_exponent(drive, width, critical, delta, tau0_s, exponent) -> np.ndarray:
    """dP / d(critical, Delta, n) per point (``critical`` per point): the law's (Ic0, Delta)
    columns and dP/dn = dP/d ln r x (-Delta u^n ln u)."""
    two = neel_brown.parameter_jacobian(drive, width, critical, delta, tau0_s, exponent)
    u = neel_brown.reduced_barrier(drive, critical)
    rate = np.exp(neel_brown.log_rate(drive, width, critical, delta, tau0_s, exponent))
    d_n = -delta * u ** exponent * np.log(np.where(u > 0, u, 1.0))
    return np.column_stack([two, np.exp(-rate) * rate * d_n])


def fit_neel_brown_exponent(drive, switched, trials, width_s, tau0_s: float = 1e-9,
                            group=None, max_exponent: float | None = None) -> ExponentFit:
    """Binomial ML fit of (critical drive per group, Delta, n) to switching counts over
    several pulse widths (one width per point; ``group``: each point's group index 0..G-1,
    None: one group). Starts from the fixed-n fits at n = 1 and n = 2 of each group (the
    better n); the errors are the Fisher ones, scaled by the dispersion as for
    :func:`fit_neel_brown`."""
    if not tau0_s > 0:
        raise FitError(f"tau0_s must be > 0, got {tau0_s!r}")
    max_exponent = MAX_EXPONENT if max_exponent is None else max_exponent
    drive, switched, trials, width = _counts(drive, switched, trials, width_s)
    labels = np.zeros(drive.size, dtype=int) if group is None else \
        np.broadcast_to(np.asarray(group), drive.shape).astype(int)
    groups = np.unique(labels)
    if not np.array_equal(groups, np.arange(groups.size)):
        raise FitError(f"group labels must be 0..G-1, got {groups.tolist()}")
    widths = tuple(float(w) for w in np.unique(width))
    if len(widths) < 2:
        raise FitError(f"fitting the exponent n needs two or more pulse widths, got one "
                       f"({widths[0]:g} s): the curvature of the barrier in the drive shows "
                       "only across widths")
    starts = []
    for n in (1.0, 2.0):
        try:
            fixed = [fit_neel_brown(drive[labels == g], switched[labels == g], trials[labels == g],
                                    width[labels == g], tau0_s, n) for g in groups]
        except FitError:
            continue
        c = np.array([f.ic0_A for f in fixed])
        d = float(np.mean([f.delta for f in fixed]))
        p = neel_brown.probability(drive, width, c[labels], d, tau0_s, n)
        starts.append((_binomial_nll(p, switched, trials), tuple(c), d, n))
    if not starts:
        raise FitError("no Neel-Brown curve fits the data at n = 1 or 2: measure across the "
                       "switching transition at every width")
    _, c0, d0, n0 = min(starts)
    c0 = np.asarray(c0)

    def unpack(theta):
        return c0 * np.exp(theta[:groups.size]), d0 * math.exp(theta[-2]), \
            min(n0 * math.exp(theta[-1]), max_exponent)

    def nll(theta):
        c, d, n = unpack(theta)
        return _binomial_nll(neel_brown.probability(drive, width, c[labels], d, tau0_s, n),
                             switched, trials)

    critical, delta, exponent = unpack(_nelder_mead(nll, np.zeros(groups.size + 2)).x)
    p = neel_brown.probability(drive, width, critical[labels], delta, tau0_s, exponent)
    disp, scale = _scale(p, switched, trials, groups.size + 2)
    jac3 = _jacobian_with_exponent(drive, width, critical[labels], delta, tau0_s, exponent)
    jac = np.column_stack([np.where(labels == g, jac3[:, 0], 0.0) for g in groups] + [jac3[:, 1:]])
    errs = [math.sqrt(max(v, 0.0)) for v in np.diag(_covariance(jac, p, trials, scale))]
    below = [float(drive[(labels == g) & (p < 0.5)].max(initial=0.0)) for g in groups]
    if not (all(math.isfinite(v) for v in (*critical, delta, exponent, *errs))
            and all(c > b for c, b in zip(critical, below)) and delta > 0):
        raise FitError(f"the (critical, Delta, n) fit ended on no physical curve (critical "
                       f"{np.round(critical, 4).tolist()}, Delta {delta:.4g}, n {exponent:.3g}): "
                       "measure more points across the transition at each width")
    return ExponentFit(tuple(float(c) for c in critical), tuple(errs[:groups.size]), float(delta),
                       errs[-2], float(exponent), errs[-1], float(tau0_s), disp, int(drive.size),
                       widths)


# ----------------------------------------------------------------------------- tau(I)
@dataclass(frozen=True)
class TauFit:
    """Relaxation time at one current from P vs pulse width: P = 1 - exp(-t / tau)."""

    current_A: float
    tau_s: float
    tau_err_s: float
    dispersion: float
    n_points: int


def fit_tau(width_s, switched, trials, current_A: float = float("nan")) -> TauFit:
    """ML estimate of tau from switching counts at several pulse widths, one current."""
    width, switched, trials = (np.asarray(v, dtype=float).ravel() for v in
                               np.broadcast_arrays(width_s, switched, trials))
    if width.size == 0:
        raise FitError("fit_tau needs at least one pulse width")
    _check_widths(width)
    _check_counts(switched, trials)
    p_obs = switched / trials
    if not np.any((p_obs > 0) & (p_obs < 1)) and not (np.any(p_obs == 0) and np.any(p_obs == 1)):
        raise FitError(f"tau fit at {current_A:.4g} A: P is {p_obs.min():.2f}..{p_obs.max():.2f} at "
                       f"every width ({width.min():.3g}..{width.max():.3g} s); no information on "
                       f"tau: choose widths around the switching time")
    # start: pooled estimate -ln(1 - P) = t / tau over informative points
    ok = (p_obs > 0) & (p_obs < 1)
    tau_0 = float(np.median(width[ok] / -np.log1p(-p_obs[ok]))) if ok.any() else float(np.median(width))

    def nll(theta):
        return _binomial_nll(-np.expm1(-width / (tau_0 * math.exp(theta[0]))), switched, trials)

    res = optimize.minimize_scalar(lambda v: nll([v]), bounds=(-12.0, 12.0), method="bounded",
                                   options={"xatol": 1e-10})
    tau = tau_0 * math.exp(res.x)
    p = -np.expm1(-width / tau)
    disp, scale = _scale(p, switched, trials, 1)
    jac = (-np.exp(-width / tau) * width / tau ** 2)[:, None]
    cov = _covariance(jac, p, trials, scale)
    return TauFit(float(current_A), float(tau), float(math.sqrt(max(cov[0, 0], 0.0))), disp,
                  int(width.size))


@dataclass(frozen=True)
class TauCurveFit:
    """(Ic0, Delta) and n (given or fitted) from ln tau(I) = ln tau0 + Delta (1 - I / Ic0)^n at a
    known tau0."""

    ic0_A: float
    ic0_err_A: float
    delta: float
    delta_err: float
    tau0_s: float
    exponent: float
    chi2_per_dof: float
    exponent_err: float = 0.0      # 0: n was given, not fitted

    def tau_s(self, current_A):
        return neel_brown.relaxation_time(current_A, self.ic0_A, self.delta, self.tau0_s,
                                          self.exponent)


def fit_tau_curve(taus: list[TauFit], tau0_s: float = 1e-9,
                  exponent: float | None = 1.0) -> TauCurveFit:
    """Weighted least squares of ln tau vs current (errors of ln tau = tau_err / tau).
    ``exponent`` None fits n too (needs tau at 4 or more currents; ``exponent_err`` then
    holds its error): ln(tau / tau0) = Delta u^n is curved in I for n != 1."""
    taus = [t for t in taus if t.tau_err_s > 0 and np.isfinite(t.tau_err_s)]
    free = exponent is None
    if len(taus) < (4 if free else 2):
        raise FitError(f"fit_tau_curve needs tau at >= {4 if free else 2} currents with finite "
                       f"errors{' to fit the exponent n' if free else ''}, got {len(taus)}")
    current = np.array([t.current_A for t in taus])
    y = np.log([t.tau_s for t in taus]) - math.log(tau0_s)
    sigma = np.array([t.tau_err_s / t.tau_s for t in taus])
    if np.any(y <= 0):
        raise FitError("some tau are at or below tau0: those currents are above Ic0; "
                       "use currents where switching is thermally activated")
    n_0 = 1.0 if free else float(exponent)
    # start from the straight line of y^(1/n) = Delta^(1/n) (1 - I / Ic0)
    b, a = np.polyfit(current, y ** (1.0 / n_0), 1, w=1.0 / sigma)
    delta_0 = max(a, 1e-3) ** n_0
    ic0_0 = -a / b if b < 0 else float(current.max()) * 1.5

    def unpack(theta):
        n = n_0 * math.exp(theta[2]) if free else n_0
        return ic0_0 * math.exp(theta[0]), delta_0 * math.exp(theta[1]), n

    def residuals(theta):
        ic0, delta, n = unpack(theta)
        # ln(tau / tau0) = -ln(t / tau) + ln(t / tau0) = Delta u^n
        return (delta * neel_brown.reduced_barrier(current, ic0) ** n - y) / sigma

    res = optimize.least_squares(residuals, np.zeros(3 if free else 2), method="lm", xtol=1e-12,
                                 ftol=1e-12)
    ic0, delta, n = unpack(res.x)
    dof = max(len(current) - res.x.size, 1)
    chi2 = float(np.sum(res.fun ** 2) / dof)
    # covariance in natural parameters: J is in log parameters -> chain rule
    jac = res.jac / np.array([ic0, delta, n][:res.x.size])[None, :]
    try:
        cov = np.linalg.inv(jac.T @ jac) * max(chi2, 1.0)
    except np.linalg.LinAlgError:
        cov = np.full((res.x.size, res.x.size), np.nan)
    return TauCurveFit(float(ic0), float(math.sqrt(max(cov[0, 0], 0))), float(delta),
                       float(math.sqrt(max(cov[1, 1], 0))), float(tau0_s), float(n), chi2,
                       float(math.sqrt(max(cov[2, 2], 0))) if free else 0.0)


__all__ = ["ExponentFit", "FitError", "LogisticFit", "NeelBrownFit", "TauCurveFit", "TauFit",
           "fit_logistic", "fit_neel_brown", "fit_neel_brown_exponent", "fit_tau", "fit_tau_curve"]
