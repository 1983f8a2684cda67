"""The CeLU fit of a neuron's transfer: R_xy(I) = R0 + g celu(I; a) (:mod:`devices.laws.celu`).

Least squares in (R0, g, a) over every (input current, reading) pair; the start from the
positive branch's straight line (R0, g) and the negative branch's floor (a = (R0 - R_min) / g).
Standard errors from the Jacobian scaled by the residual variance; the residual rms is the
read noise's estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares

from devices.laws import celu
from procedures.fits import FitError


@dataclass(frozen=True)
class CeluFit:
    offset_ohm: float
    gain_ohm_per_A: float
    alpha_A: float
    offset_err_ohm: float
    gain_err_ohm_per_A: float
    alpha_err_A: float
    read_noise_ohm: float          # residual rms
    points: int

    def output_ohm(self, current_A):
        return celu.hall_output_ohm(current_A, self.offset_ohm, self.gain_ohm_per_A, self.alpha_A)

    def as_dict(self) -> dict:
        return asdict(self)


def fit_celu(currents_A, readings_ohm) -> CeluFit:
    i = np.asarray(currents_A, dtype=float)
    r = np.asarray(readings_ohm, dtype=float)
    keep = np.isfinite(i) & np.isfinite(r)
    i, r = i[keep], r[keep]
    positive, negative = i > 0, i < 0
    if positive.sum() < 2 or negative.sum() < 3:
        raise FitError(f"a CeLU fit needs >= 2 positive and >= 3 negative input currents, got "
                       f"{int(positive.sum())} and {int(negative.sum())}: widen the input range")
    gain0, offset0 = np.polyfit(i[positive], r[positive], 1)
    if not gain0 > 0:
        raise FitError(f"the output does not rise with a positive input (slope {gain0:.3g} ohm/A): "
                       f"no CeLU transfer (check the device and the polarity)")
    alpha0 = float(np.clip((offset0 - r[negative].min()) / gain0, 1e-3 * np.ptp(i), np.ptp(i)))
    scale = np.array([max(abs(offset0), 1e-3), gain0, alpha0])

    def residuals(x):
        r0, g, a = x * scale
        return celu.hall_output_ohm(i, r0, g, a) - r

    result = least_squares(residuals, np.array([offset0, gain0, alpha0]) / scale,
                           bounds=([-np.inf, 1e-6, 1e-6], [np.inf, np.inf, np.inf]), x_scale="jac")
    if not result.success:
        raise FitError(f"the CeLU fit did not converge: {result.message}")
    dof = max(i.size - 3, 1)
    variance = 2 * result.cost / dof
    try:
        err = np.sqrt(np.abs(np.diag(np.linalg.inv(result.jac.T @ result.jac) * variance))) * scale
    except np.linalg.LinAlgError:
        err = np.full(3, np.nan)
    r0, g, a = result.x * scale
    return CeluFit(float(r0), float(g), float(a), float(err[0]), float(err[1]), float(err[2]),
                   float(np.sqrt(variance)), int(i.size))


__all__ = ["CeluFit", "fit_celu"]
