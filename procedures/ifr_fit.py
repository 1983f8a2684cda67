"""Fits of integrate-fire-reset data: J_dep, the wall mobility and the pinning spread from the
mean and spread of pulses-to-fire vs write current density (:mod:`devices.laws.domain_wall`).

Pulses to fire depend on the step per pulse over the distance to the MTJ, mu (J - J_dep) t / D,
so the data give J_dep and mu / D; the mobility is quoted for the design distance D of the
bench file (a track longer than designed reads as a slower wall: the fit's ``mobility`` is
mu x D_design / D_true).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares

from devices.laws import domain_wall
from procedures.fits import FitError

#: pulses: the spread used for the standard errors never falls below this. A count is an
#: integer (rounding alone spreads it by ~1 / sqrt(12) = 0.29), so a few cycles that all
#: fired at the same count (sample sd 0) say little about a sub-pulse spread: weighting them
#: by their own sd 0 pinned the fit to a pinning spread near 0
SD_FLOOR = 0.3


@dataclass(frozen=True)
class AmplitudeStats:
    density_A_m2: float
    cycles: int
    fired: int
    mean_pulses: float
    sd_pulses: float


def amplitude_stats(density_A_m2: float, pulses, fired) -> AmplitudeStats:
    pulses = np.asarray(pulses, dtype=float)[np.asarray(fired, dtype=bool)]
    mean = float(pulses.mean()) if pulses.size else float("nan")
    sd = float(pulses.std(ddof=1)) if pulses.size > 1 else float("nan")
    return AmplitudeStats(float(density_A_m2), len(fired), int(pulses.size), mean, sd)


@dataclass(frozen=True)
class IFRFit:
    jdep_A_m2: float
    jdep_err_A_m2: float
    mobility_m3_per_A_s: float
    mobility_err_m3_per_A_s: float
    pinning_rel: float
    pinning_err: float
    distance_m: float            # the design distance the mobility is quoted for
    width_s: float
    chi2_per_dof: float
    points: int
    #: correlation of the J_dep and mobility estimates (a higher J_dep needs a faster wall)
    jdep_mobility_corr: float = 0.0

    def mean_pulses(self, density_A_m2, jdep_A_m2=None, mobility_m3_per_A_s=None, pinning_rel=None):
        """E[N] at a density, of this fit or with one parameter moved."""
        jdep = self.jdep_A_m2 if jdep_A_m2 is None else jdep_A_m2
        mu = self.mobility_m3_per_A_s if mobility_m3_per_A_s is None else mobility_m3_per_A_s
        s = self.pinning_rel if pinning_rel is None else pinning_rel
        step = domain_wall.mean_step_m(density_A_m2, self.width_s, jdep, mu)
        return domain_wall.expected_pulses_to_fire(step, self.distance_m, s)

    def pulses_with_error(self, density_A_m2: float) -> tuple[float, float]:
        """(E[N], its standard error) at one density: the fit's errors carried through the law
        by finite differences, J_dep and mu with their correlation, the pinning spread apart."""
        mean = float(self.mean_pulses(density_A_m2))
        values = (self.jdep_A_m2, self.mobility_m3_per_A_s, self.pinning_rel)
        errors = (self.jdep_err_A_m2, self.mobility_err_m3_per_A_s, self.pinning_err)
        grads = []
        for k, (value, key) in enumerate(zip(values, ("jdep_A_m2", "mobility_m3_per_A_s", "pinning_rel"))):
            h = 1e-4 * value
            grads.append((float(self.mean_pulses(density_A_m2, **{key: value + h}))
                          - float(self.mean_pulses(density_A_m2, **{key: value - h}))) / (2 * h))
        g = np.array(grads) * np.array(errors)
        var = g @ g + 2 * g[0] * g[1] * self.jdep_mobility_corr
        return mean, float(np.sqrt(max(var, 0.0)))

    def as_dict(self) -> dict:
        return asdict(self)


_SCALE = np.array([1e10, 1e-10, 1.0])      # J_dep, mu, s in units of order 1


def _model(x, density, width_s, distance_m):
    jdep, mu, s = x * _SCALE
    step = domain_wall.mean_step_m(density, width_s, jdep, mu)
    return (domain_wall.expected_pulses_to_fire(step, distance_m, s),
            domain_wall.pulses_to_fire_sd(step, distance_m, s))


def fit_ifr_transfer(stats: list[AmplitudeStats], width_s: float, distance_m: float) -> IFRFit:
    """Weighted least squares of the law's mean and spread of N to the measured ones (points
    with at least 3 fired cycles); uncertainties from the Jacobian, scaled by chi^2/dof > 1."""
    use = [s for s in stats if s.fired >= 3 and np.isfinite(s.sd_pulses)]
    if len(use) < 3:
        raise FitError(f"an IFR transfer fit needs >= 3 amplitudes with >= 3 fired cycles each, "
                       f"got {len(use)}: raise the amplitudes or the cycles per amplitude")
    j = np.array([s.density_A_m2 for s in use])
    mean = np.array([s.mean_pulses for s in use])
    sd = np.array([s.sd_pulses for s in use])
    n = np.array([s.fired for s in use], dtype=float)
    mean_err = np.maximum(sd, SD_FLOOR) / np.sqrt(n)
    sd_err = np.maximum(sd, SD_FLOOR) / np.sqrt(2 * (n - 1))
    # start: 1 / (N - 1/2) ~ (mu t / D) (J - J_dep), a line in J
    slope, intercept = np.polyfit(j, 1.0 / np.maximum(mean - 0.5, 0.5), 1)
    if not slope > 0:
        raise FitError("pulses to fire do not fall with the amplitude: no wall motion to fit "
                       f"(means {np.round(mean, 2).tolist()} at {j.tolist()} A/m^2)")
    jdep0 = float(np.clip(-intercept / slope, 0.0, 0.95 * j.min()))
    x0 = np.array([jdep0, slope * distance_m / width_s, 0.1]) / _SCALE

    def residuals(x):
        m, s = _model(x, j, width_s, distance_m)
        r = np.concatenate([(m - mean) / mean_err, (s - sd) / sd_err])
        return np.where(np.isfinite(r), r, 1e3)

    upper = np.array([0.999 * j.min(), np.inf, 0.5]) / _SCALE
    result = least_squares(residuals, np.minimum(x0, 0.9 * upper), bounds=([0.0, 1e-6, 1e-3], upper),
                           x_scale="jac")
    if not result.success:
        raise FitError(f"IFR transfer fit did not converge: {result.message}")
    dof = max(2 * len(use) - 3, 1)
    chi2 = float(np.sum(result.fun ** 2)) / dof
    try:
        cov = np.linalg.inv(result.jac.T @ result.jac) * max(chi2, 1.0)
    except np.linalg.LinAlgError:
        cov = np.full((3, 3), np.nan)
    err = np.sqrt(np.abs(np.diag(cov))) * _SCALE
    corr = cov[0, 1] / np.sqrt(abs(cov[0, 0] * cov[1, 1])) if cov[0, 0] * cov[1, 1] > 0 else 0.0
    jdep, mu, s = result.x * _SCALE
    return IFRFit(float(jdep), float(err[0]), float(mu), float(err[1]), float(s), float(err[2]),
                  float(distance_m), float(width_s), chi2, len(use),
                  float(corr) if np.isfinite(corr) else 0.0)


__all__ = ["AmplitudeStats", "IFRFit", "amplitude_stats", "fit_ifr_transfer"]
