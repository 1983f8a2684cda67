"""Calibrated switching curves of devices, as the learning code uses them.

A calibration tells the learning code how each device answers a write pulse: the switching
probability P(I) at one pulse width. The device-neuron layer uses it twice: to map its input
onto a current that sits at the device's I50 (so x = 0 <-> P = 0.5), and as the surrogate
gradient dP/dI of the backward pass. The backends use it for how a device answers: 0/1
(``readout`` ``binary``, a macrospin) or a switched fraction (``fraction``, a multi-domain bar).

The file format (``spin-hil-calibration`` JSON) belongs to :mod:`procedures.calibration`,
which reads, validates and writes it; this module builds its view (:class:`Calibration` of
:class:`DeviceCurve`) from what that parser returns, and writes through it. Curves come from
a characterization survey's file, from a simulated chip's truth
(:func:`calibration_from_chip`), or from a fit on the fly through a backend
(:func:`calibrate_backend`, with the fits of :mod:`procedures.fits`).

A ``neel_brown`` curve's I50 and logistic slope are derived from (Ic0, Delta, tau0, n), so the
mapping and the surrogate follow one curve. A device whose file says neither ``readout`` nor
``n_domains`` is taken as a macrospin (1 domain, binary); a ``fraction`` device whose number
of domains was not measured has ``n_domains`` None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from procedures import calibration as calibration_file
from procedures import fits
from procedures.calibration import ChipCalibration, DeviceCalibration

#: a calibration that cannot be used: the file format's own error (one type for both layers)
CalibrationError = calibration_file.CalibrationFileError
FORMAT_NAME = calibration_file.FORMAT_NAME
FORMAT_VERSION = calibration_file.FORMAT_VERSION
MODELS = calibration_file.MODELS
READOUTS = calibration_file.READOUTS


def _readout(n_domains: int | None, readout: str | None) -> str:
    if readout is not None:
        return readout
    return "binary" if n_domains in (None, 1) else "fraction"


@dataclass(frozen=True)
class DeviceCurve:
    """The calibrated switching curve of one device at one pulse width."""

    model: str
    width_s: float
    i50_A: float
    logistic_slope_per_A: float
    ic0_A: float | None = None
    delta: float | None = None
    tau0_s: float = 1e-9
    exponent: float = 1.0
    n_domains: int | None = 1          # None: a fraction device whose domains were not counted
    readout: str = "binary"            # "binary" (0/1 answers) or "fraction" (switched fraction)

    def probability(self, current_A):
        """P_sw(I) of this curve (numpy, vectorized)."""
        current_A = np.abs(np.asarray(current_A, dtype=float))
        if self.model == "neel_brown":
            return fits.neel_brown_probability(current_A, self.width_s, self.ic0_A, self.delta,
                                               self.tau0_s, self.exponent)
        return 1.0 / (1.0 + np.exp(-self.logistic_slope_per_A * (current_A - self.i50_A)))

    def to_device_calibration(self, file_width_s: float | None = None) -> DeviceCalibration:
        """This curve as the file format's entry (its width only where the file's differs)."""
        shape = {} if self.model == "logistic" else {"ic0_A": self.ic0_A, "delta": self.delta,
                                                      "tau0_s": self.tau0_s,
                                                      "exponent": self.exponent}
        return DeviceCalibration(model=self.model, i50_A=self.i50_A,
                                 logistic_slope_per_A=self.logistic_slope_per_A,
                                 n_domains=self.n_domains, readout=self.readout,
                                 width_s=None if self.width_s == file_width_s else self.width_s,
                                 **shape)

    def to_dict(self) -> dict:
        return self.to_device_calibration().to_dict()

    @classmethod
    def from_device_calibration(cls, device: DeviceCalibration, file_width_s: float) -> DeviceCurve:
        width = device.width_s or file_width_s
        n_domains = device.n_domains
        if n_domains is None and _readout(None, device.readout) == "binary":
            n_domains = 1
        if device.model == "logistic":
            return logistic_curve(device.i50_A, device.logistic_slope_per_A, width, n_domains,
                                  device.readout)
        return neel_brown_curve(device.ic0_A, device.delta, width, device.tau0_s, device.exponent,
                                n_domains, device.readout)


def neel_brown_curve(ic0_A, delta, width_s, tau0_s=1e-9, exponent=1.0, n_domains=1,
                     readout: str | None = None) -> DeviceCurve:
    """A Neel-Brown curve with its derived I50 and logistic slope (the slope at I50)."""
    i50 = float(fits.neel_brown_current(0.5, width_s, ic0_A, delta, tau0_s, exponent))
    slope = fits.neel_brown_logistic_slope(width_s, ic0_A, delta, tau0_s, exponent)
    if not slope > 0:
        raise CalibrationError(
            f"Neel-Brown curve ic0_A={ic0_A!r}, delta={delta!r} at width_s={width_s!r} has no "
            f"thermally activated transition (I50 {i50!r} A at or above Ic0); use a shorter pulse")
    n_domains = None if n_domains is None else int(n_domains)
    return DeviceCurve("neel_brown", float(width_s), i50, float(slope), float(ic0_A),
                       float(delta), float(tau0_s), float(exponent), n_domains,
                       _readout(n_domains, readout))


def _same_width(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)))


def curve_at_width(curve: DeviceCurve, width_s: float, name: str = "", source: str = "") -> DeviceCurve:
    """``curve`` at the pulse width ``width_s``: itself when its width is that one, a Neel-Brown
    curve rebuilt at the new width, a :class:`CalibrationError` for a logistic curve (its I50
    and slope hold at its own width only)."""
    if not (isinstance(width_s, (int, float)) and np.isfinite(width_s) and width_s > 0):
        raise CalibrationError(f"pulse width_s must be a finite number > 0, got {width_s!r}")
    if _same_width(curve.width_s, width_s):
        return curve
    if curve.model == "neel_brown":
        return neel_brown_curve(curve.ic0_A, curve.delta, width_s, curve.tau0_s, curve.exponent,
                                curve.n_domains, curve.readout)
    where = f" of device {name!r}" if name else ""
    src = f" ({source})" if source else ""
    raise CalibrationError(
        f"the logistic curve{where}{src} was fitted at width_s={curve.width_s:g} s, but the pulses "
        f"are {float(width_s):g} s wide: a logistic fit holds at its own width only. Pulse at "
        f"{curve.width_s:g} s (--width-s {curve.width_s:g}), or calibrate at {float(width_s):g} s "
        f"(or with the neel_brown model, which can be moved to another width)")


def logistic_curve(i50_A, slope_per_A, width_s, n_domains=1, readout: str | None = None) -> DeviceCurve:
    n_domains = None if n_domains is None else int(n_domains)
    return DeviceCurve("logistic", float(width_s), float(i50_A), float(slope_per_A),
                       n_domains=n_domains, readout=_readout(n_domains, readout))


@dataclass
class Calibration:
    """Calibrated curves of named devices (all at ``width_s`` unless an entry says otherwise)."""

    width_s: float
    devices: dict[str, DeviceCurve]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> DeviceCurve:
        try:
            return self.devices[name]
        except KeyError:
            raise CalibrationError(f"the calibration ({self.source or 'no source'}) has no device "
                           f"{name!r}; it holds {sorted(self.devices)[:6]}"
                           f"{' ...' if len(self.devices) > 6 else ''}: calibrate that device "
                           f"or map the neurons to calibrated devices") from None

    def __contains__(self, name: str) -> bool:
        return name in self.devices

    def at_width(self, width_s: float) -> Calibration:
        """These curves at the pulse width ``width_s`` (the one a layer actually plays).

        A ``neel_brown`` curve is rebuilt at that width from its (Ic0, Delta, tau0, n); a
        ``logistic`` curve only describes the width it was fitted at, so a different width is a
        :class:`CalibrationError`. Returns ``self`` when every curve is already at ``width_s``.
        """
        devices = {name: curve_at_width(curve, width_s, name, self.source)
                   for name, curve in self.devices.items()}
        if all(devices[n] is c for n, c in self.devices.items()) and _same_width(self.width_s, width_s):
            return self
        return Calibration(float(width_s), devices, self.source, dict(self.meta))

    def names(self) -> list[str]:
        return list(self.devices)

    def subset(self, names: Iterable[str]) -> Calibration:
        return Calibration(self.width_s, {n: self[n] for n in names}, self.source, dict(self.meta))

    def to_chip_calibration(self, bench: str = "", chip: str = "") -> ChipCalibration:
        """The file format's object of this calibration (what :func:`save_calibration` writes)."""
        devices = {n: c.to_device_calibration(self.width_s) for n, c in self.devices.items()}
        return ChipCalibration(bench, chip, float(self.width_s), devices, self.source,
                               dict(self.meta))

    @classmethod
    def from_chip_calibration(cls, parsed: ChipCalibration) -> Calibration:
        """The learning view of a parsed calibration file."""
        devices = {name: DeviceCurve.from_device_calibration(dev, parsed.width_s)
                   for name, dev in parsed.devices.items()}
        return cls(float(parsed.width_s), devices, parsed.source, dict(parsed.meta))

    def to_dict(self) -> dict:
        return self.to_chip_calibration().to_dict()

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "<dict>") -> Calibration:
        return parse_calibration(data, source)


def parse_calibration(data: Mapping, source: str = "<dict>") -> Calibration:
    """Validate a calibration dict (the parsed JSON, see :mod:`procedures.calibration`)."""
    return Calibration.from_chip_calibration(calibration_file.parse_calibration(data, source))


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration JSON file; errors name the file and what is wrong."""
    return Calibration.from_chip_calibration(calibration_file.load_calibration(path))


def save_calibration(calibration: Calibration | ChipCalibration, path: str | Path) -> Path:
    if isinstance(calibration, Calibration):
        calibration = calibration.to_chip_calibration()
    return calibration_file.save_calibration(calibration, path)


# ---------------------------------------------------------------------------- sources
def calibration_from_chip(chip, width_s: float, names: Iterable[str] | None = None,
                          source: str = "simulated truth") -> Calibration:
    """The true curves of a simulated chip (what a perfect characterization would give)."""
    names = list(chip.names if names is None else names)
    devices = {}
    for name in names:
        i = chip.index(name)
        devices[name] = neel_brown_curve(chip.ic0_A[i], chip.delta[i], width_s, chip.tau0_s[i],
                                         chip.exponent[i], int(chip.n_domains[i]))
    return Calibration(float(width_s), devices, f"{source}: chip {chip.name}")


def fit_device_curve(current_A, switched, trials, width_s: float, tau0_s: float = 1e-9,
                     exponent: float = 1.0, n_domains: int | None = 1) -> DeviceCurve:
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
                      exponent: float = 1.0) -> Calibration:
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
    return Calibration(float(width_s), devices,
                       f"fit: {trials} trials x {points} amplitudes through {backend.describe()}")


__all__ = ["Calibration", "CalibrationError", "DeviceCurve", "calibrate_backend",
           "calibration_from_chip", "curve_at_width", "fit_device_curve", "load_calibration", "logistic_curve",
           "neel_brown_curve", "parse_calibration", "save_calibration"]
