"""Where the learning side's calibrations come from, besides a characterization survey's file.

The calibrated model and its file are :mod:`procedures.calibration`'s
(:class:`~procedures.calibration.ChipCalibration` of
:class:`~procedures.calibration.DeviceCalibration` curves); this module adds the two other
sources a learning run uses: a simulated chip's truth (:func:`calibration_from_chip`, what a
perfect characterization would give) and a fit on the fly through a backend
(:func:`calibrate_backend`, with the fits of :mod:`procedures.fits`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from devices import kinds
from procedures import fits
from procedures.calibration import (CalibrationError, ChipCalibration, DeviceCalibration,
                                    neel_brown_curve)


# ---------------------------------------------------------------------------- sources
def calibration_from_chip(chip, width_s: float, names: Iterable[str] | None = None,
                          source: str = "simulated truth") -> ChipCalibration:
    """The true curves of a simulated chip (what a perfect characterization would give)."""
    names = list(chip.names if names is None else names)
    devices = {}
    for name in names:
        i = chip.index(name)
        devices[name] = neel_brown_curve(chip.ic0_A[i], chip.delta[i], width_s, chip.tau0_s[i],
                                         chip.exponent[i], int(chip.n_domains[i]))
    return ChipCalibration("", chip.name, float(width_s), devices, f"{source}: chip {chip.name}")


def fit_device_curve(current_A, switched, trials, width_s: float, tau0_s: float = 1e-9,
                     exponent: float = 1.0, n_domains: int | None = 1) -> DeviceCalibration:
    """Fit a Neel-Brown curve (Ic0, Delta at fixed tau0 and exponent) to a switching sweep.

    ``switched`` is the number of switch events (may be fractional for multi-domain devices:
    switched fraction x trials) out of ``trials`` at each amplitude: the binomial
    maximum-likelihood fit of :func:`procedures.fits.fit_neel_brown`.
    """
    try:
        fit = fits.fit_neel_brown(current_A, switched, trials, width_s, tau0_s, exponent)
    except fits.FitError as exc:
        raise CalibrationError(str(exc)) from exc
    return neel_brown_curve(fit.ic0_A, fit.delta, width_s, tau0_s, exponent, n_domains)


def calibrate_backend(backend, max_current_A: Mapping[str, float] | Callable[[str], float],
                      width_s: float, trials: int = 64, points: int = 24,
                      names: Iterable[str] | None = None, tau0_s: float = 1e-9,
                      exponent: float = 1.0) -> ChipCalibration:
    """Measure and fit each device's curve through a backend (on-the-fly calibration).

    Two sweeps per device, all devices in one backend call each: a coarse one from 0 to the
    device's safe maximum current to locate the transition, then ``points`` amplitudes x
    ``trials`` trials across it. ``max_current_A`` gives the safe ceiling per device name.
    """
    names = list(backend.device_names if names is None else names)
    index = [backend.device_names.index(n) for n in names]
    # 95 % of the ceiling: float32 rounding on the way to a device must never cross it
    limit = 0.95 * np.array([max_current_A(n) if callable(max_current_A) else max_current_A[n]
                             for n in names])
    coarse = np.linspace(0.0, 1.0, 129)[1:][None, :] * limit[:, None]          # (dev, 128)
    p_coarse = backend.sample(np.asarray(index), coarse.T, width_s, repeats=8).T
    # the transition: where the smoothed coarse curve crosses 0.5
    rising = np.argmax(p_coarse >= 0.5, axis=1)
    if np.any(p_coarse.max(axis=1) < 0.5):
        bad = [names[i] for i in np.flatnonzero(p_coarse.max(axis=1) < 0.5)]
        raise CalibrationError(f"devices {bad} do not reach P = 0.5 below their safe maximum "
                               f"current at width_s={width_s:g} s; use a longer pulse")
    centre = coarse[np.arange(len(names)), rising]
    step = limit / 128
    low = np.maximum(centre - 10 * step, 0.0)
    high = np.minimum(centre + 10 * step, limit)
    fine = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, points)[None, :]
    p_fine = backend.sample(np.asarray(index), fine.T, width_s, repeats=trials).T
    devices = {}
    for row, name in enumerate(names):
        n_dom = int(backend.n_domains_of(name)) if hasattr(backend, "n_domains_of") else 1
        devices[name] = fit_device_curve(fine[row], p_fine[row] * trials, trials, width_s,
                                         tau0_s, exponent, n_dom)
    return ChipCalibration("", "", float(width_s), devices,
                           f"fit: {trials} trials x {points} amplitudes through {backend.describe()}")


def calibrated_write_paths(calibration: ChipCalibration, bench) -> dict:
    """{device: its kind's write-path law} for the devices of ``bench`` (a BenchFile) whose
    ``calibration`` carries a measured ``junction_write_path`` (a survey writes it for a kind
    with a write-path law: :class:`devices.kinds.mtj.JunctionWritePath`); the others convert
    through their line resistance. The file's half-bias null is "no fall seen": inf."""
    paths, calibrated = {}, set(calibration.names())
    for dev in bench.devices():
        entry = calibration[dev.name].extra.get("junction_write_path") \
            if dev.name in calibrated else None
        if entry is None:
            continue
        kind = bench.group_of(dev).kind
        law = getattr(kinds.kind(kind), "write_path", None)
        try:
            if law is None:
                raise TypeError(f"its kind {kind!r} has no write-path law")
            paths[dev.name] = law(**{**entry, "half_bias_V": entry.get("half_bias_V") or np.inf})
        except (TypeError, AttributeError) as exc:     # not a mapping, or not the law's fields
            raise CalibrationError(
                f"calibration {calibration.source or ''}: junction_write_path of {dev.name!r} is "
                f"{entry!r}, not a write path of this bench's device ({exc}); re-run the survey "
                f"on this bench, or remove the entry") from None
    return paths


__all__ = ["calibrate_backend", "calibrated_write_paths", "calibration_from_chip",
           "fit_device_curve"]
