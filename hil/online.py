"""Each device's switching curve tracked online from the answers it gives in the forward pass.

A drifting device leaves its calibration: its I50 walks, its slope changes with temperature.
Re-measuring it costs bench time (a calibration sweep); but during in-situ training every
batch already asks each device hundreds of questions at known currents, and its answers are
exactly the data a calibration fits. :class:`OnlineCurves` keeps them, per device, and fits
the device's curve to them again every few batches: no extra trial.

What is kept: per device, the trials and switches in B fixed current bins over the device's
range (and the current sum, so a bin's current is the mean of what was written in it), every
batch's counts added to counts decayed by ``exp(-1 / memory)``: an exponentially weighted
window of about ``memory`` batches. A multi-domain device's answer k/N counts as N trials of
its regions.

What is fitted: the Neel-Brown law's own linear form, P = 1 - exp(-exp(eta)) with
eta = ln(t / tau) = a + b I below Ic0 (a complementary log-log model, the law exactly, not a
logistic stand-in), by weighted maximum likelihood: Fisher scoring on (alpha, beta) of
eta = alpha + beta z in the device's normalised current z = (I - I50_0) / w_0 (its
calibrated I50 and curve width), a few iterations per refresh from the last estimate, every
device at once (2 x 2 systems as arrays). A weak prior toward the last estimate keeps a
device whose recent answers sit on one side of its curve where it was. The estimate is a
Neel-Brown curve again: b = beta / w_0, a = alpha - b I50_0, Delta = ln(t / tau0) - a,
Ic0 = Delta / b (:meth:`OnlineCurves.calibration`), which a device layer is rebuilt with
(:meth:`hil.neuron.DeviceNeuron.rebuild`): the surrogate follows the device, and so does the
mapping's centre, so each neuron's P(x) keeps the shape it was trained with.

A checkpoint keeps the estimator whole (:meth:`OnlineCurves.state`: the binned answers, the
estimate, the refresh count and the last estimated calibration), so a resumed run goes on
with the same estimate, not from the calibration it started with.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hil.train import array_from_state, array_state
from procedures.calibration import (CalibrationFileError, ChipCalibration, neel_brown_curve,
                                   parse_calibration)

#: current bins per device
BINS = 48
#: Fisher-scoring iterations per refresh
ITERATIONS = 3
#: the prior's weight, in trials at the curve's steepest point
PRIOR_TRIALS = 20.0
LN_LN_2 = float(np.log(np.log(2.0)))


class OnlineCurves:
    """Per-device Neel-Brown curves estimated from forward-pass answers (module docstring).

    ``calibration`` holds the starting curves (linear law) of ``devices``; ``ranges_A`` the
    (low, high) write currents each device may see (the bins span them, with a margin).
    """

    def __init__(self, calibration: ChipCalibration, devices: Sequence[str], ranges_A,
                 backend_names: Sequence[str], memory_batches: float = 8.0, bins: int = BINS):
        self.base = calibration
        self.devices = list(devices)
        self.width_s = float(calibration.width_s)
        curves = [calibration[n] for n in self.devices]
        if any(c.ic0_A is None or c.exponent != 1.0 for c in curves):
            raise ValueError("online curves track Neel-Brown curves under the linear law (exponent 1)")
        self.tau0_s = np.array([c.tau0_s for c in curves])
        self.n_domains = np.array([c.n_domains or 1 for c in curves], dtype=float)
        self.log_t = np.log(self.width_s / self.tau0_s)
        ic0 = np.array([c.ic0_A for c in curves])
        delta = np.array([c.delta for c in curves])
        self.i50_0 = np.array([c.i50_A for c in curves])
        self.w_0 = 1.0 / np.array([c.logistic_slope_per_A for c in curves])
        b = delta / ic0
        a = self.log_t - delta
        self.alpha = a + b * self.i50_0          # eta at z = 0
        self.beta = b * self.w_0                 # d eta / dz
        low, high = (np.asarray(r, dtype=float) for r in zip(*ranges_A))
        margin = 0.25 * (high - low)
        self.low, self.span = low - margin, (high - low) + 2 * margin
        self.bins = int(bins)
        shape = (len(self.devices), self.bins)
        self.trials, self.switches, self.current_sum = (np.zeros(shape) for _ in range(3))
        self.decay = float(np.exp(-1.0 / memory_batches))
        lookup = {n: i for i, n in enumerate(self.devices)}
        #: backend device index -> row here (-1: not tracked)
        self.row_of = np.array([lookup.get(n, -1) for n in backend_names], dtype=np.int64)
        self.refreshes = 0

    # ------------------------------------------------------------------ data
    def observe(self, layer, t: np.ndarray, answer: np.ndarray) -> None:
        """A layer's batch (a :class:`~hil.neuron.DeviceNeuron` observer): its answers at
        the currents written, binned per device."""
        rows = self.row_of[layer.device_index]
        keep = rows >= 0
        if not keep.any():
            return
        repeats = layer.repeats if layer.training else layer.eval_repeats
        current = layer.written_currents_A(t)[:, keep].astype(float)
        rows = rows[keep]
        pos = (current - self.low[rows]) / self.span[rows] * self.bins
        np.clip(pos, 0, self.bins - 1, out=pos)
        flat = (rows * self.bins + pos.astype(np.int64)).ravel()
        weight = repeats * np.broadcast_to(self.n_domains[rows], current.shape).ravel()
        size = self.trials.size
        self.trials += np.bincount(flat, weights=weight, minlength=size).reshape(self.trials.shape)
        self.switches += np.bincount(flat, weights=weight * answer[:, keep].ravel(),
                                     minlength=size).reshape(self.trials.shape)
        self.current_sum += np.bincount(flat, weights=weight * current.ravel(),
                                        minlength=size).reshape(self.trials.shape)

    def step(self) -> None:
        """One batch has passed: older answers weigh ``exp(-1 / memory)`` less."""
        for counts in (self.trials, self.switches, self.current_sum):
            counts *= self.decay

    # ------------------------------------------------------------------ fit
    def refresh(self) -> None:
        """Fit every device's (alpha, beta) to its weighted answers (Fisher scoring)."""
        n = self.trials
        seen = n > 1e-9
        current = np.where(seen, self.current_sum / np.where(seen, n, 1.0), 0.0)
        z = (current - self.i50_0[:, None]) / self.w_0[:, None]
        s = np.minimum(self.switches, n)
        alpha0, beta0 = self.alpha.copy(), self.beta.copy()
        alpha, beta = alpha0.copy(), beta0.copy()
        prior = PRIOR_TRIALS * np.array([1.0, 1.0])
        for _ in range(ITERATIONS):
            eta = np.minimum(alpha[:, None] + beta[:, None] * z, 5.0)
            r = np.exp(eta)
            q = np.exp(-r)
            p = np.clip(1.0 - q, 1e-9, 1.0)
            score = np.where(seen, r * (s / p - n), 0.0)            # d loglik / d eta
            info = np.where(seen, n * r * r * q / p, 0.0)           # Fisher information in eta
            g = np.stack([score.sum(1), (score * z).sum(1)], axis=1)
            g -= prior * np.stack([alpha - alpha0, beta - beta0], axis=1)
            h00 = info.sum(1) + prior[0]
            h01 = (info * z).sum(1)
            h11 = (info * z * z).sum(1) + prior[1]
            det = h00 * h11 - h01 * h01
            d_alpha = (h11 * g[:, 0] - h01 * g[:, 1]) / det
            d_beta = (h00 * g[:, 1] - h01 * g[:, 0]) / det
            alpha += np.clip(d_alpha, -1.0, 1.0)
            beta = np.clip(beta + np.clip(d_beta, -0.5 * beta, 0.5 * beta), 0.2 * beta0, 5.0 * beta0)
        ok = np.isfinite(alpha) & np.isfinite(beta)
        self.alpha = np.where(ok, alpha, alpha0)
        self.beta = np.where(ok, beta, beta0)
        self.refreshes += 1

    # ------------------------------------------------------------------ the estimate
    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """(Ic0, Delta) per tracked device from the current estimate."""
        b = self.beta / self.w_0
        a = self.alpha - b * self.i50_0
        delta = self.log_t - a
        return delta / b, delta

    def i50_A(self) -> np.ndarray:
        """The estimated I50 per tracked device: eta(I50) = ln ln 2."""
        return self.i50_0 + (LN_LN_2 - self.alpha) / self.beta * self.w_0

    def calibration(self) -> ChipCalibration:
        """The base calibration with every tracked device's curve replaced by its estimate
        (a device whose estimate is no thermally activated curve keeps its last one)."""
        ic0, delta = self.parameters()
        devices = {n: self.base[n] for n in self.base.names()}
        for j, name in enumerate(self.devices):
            try:
                curve = neel_brown_curve(ic0[j], delta[j], self.width_s, self.tau0_s[j], 1.0,
                                         int(self.n_domains[j]), self.base[name].readout)
            except CalibrationFileError:
                continue
            if np.isfinite(curve.i50_A) and curve.i50_A > 0:
                devices[name] = curve
        self.base = ChipCalibration(self.base.bench, self.base.chip, self.width_s, devices,
                                    f"online estimate ({self.refreshes} refreshes) from forward-pass answers")
        return self.base

    # ------------------------------------------------------------------ checkpoints
    #: the arrays a checkpoint keeps: per device, and per device and bin
    _PER_DEVICE, _PER_BIN = ("alpha", "beta"), ("trials", "switches", "current_sum")

    def state(self) -> dict:
        """Plain data (tensors, lists): everything the next batches depend on."""
        return {"devices": list(self.devices), "refreshes": int(self.refreshes),
                "base": self.base.to_dict(),
                **{k: array_state(getattr(self, k)) for k in self._PER_DEVICE + self._PER_BIN}}

    def set_state(self, saved: dict) -> None:
        """Continue from :meth:`state`; a ValueError (nothing changed) when it was written for
        other devices or bins, or is damaged."""
        if saved["devices"] != self.devices:
            raise ValueError(f"the online estimate tracks devices {saved['devices']!r:.80}, "
                             f"this run {self.devices!r:.80}")
        n = len(self.devices)
        arrays = {k: array_from_state(saved[k], (n,), f"online {k}") for k in self._PER_DEVICE}
        arrays.update({k: array_from_state(saved[k], (n, self.bins), f"online {k}")
                       for k in self._PER_BIN})
        refreshes = saved["refreshes"]
        if not (isinstance(refreshes, int) and refreshes >= 0):
            raise ValueError(f"online refreshes is {refreshes!r}, not a count")
        base = parse_calibration(saved["base"], "online base calibration")
        missing = sorted(set(self.base.names()) - set(base.names()))
        if missing:
            raise ValueError(f"the online base calibration lacks devices {missing[:4]}")
        for key, values in arrays.items():
            setattr(self, key, values)
        self.refreshes, self.base = refreshes, base
