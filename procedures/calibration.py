"""The calibration: each device's fitted switching curve, written by procedures, read by hil.

This module owns the one calibrated model (:class:`DeviceCalibration` per device,
:class:`ChipCalibration` per chip) and its file format: it writes, reads and validates it.
``hil.calibration`` adds the sources the learning side needs (a simulated chip's truth, a fit
through a backend) and nothing else. One JSON object::

    {
      "format": "spin-hil-calibration", "version": 1,
      "bench": "default", "chip": "chip1", "width_s": 1e-08,
      "source": "variability survey, 64 trials x 16 amplitudes",
      "devices": {
        "chip1/S0": {
          "size": "S", "model": "neel_brown",
          "ic0_A": 2.3e-05, "ic0_err_A": 5e-08,
          "delta": 28.9, "delta_err": 0.6,
          "tau0_s": 1e-09, "exponent": 1.0,
          "i50_A": 2.08e-05, "i50_err_A": 2e-08,
          "logistic_slope_per_A": 1.6e+06, "logistic_slope_err_per_A": 4e+04,
          "line_resistance_ohm": 5507.0,
          "readout": "binary",                # binary (0/1 answers) | fraction (switched fraction)
          "n_domains": 1                      # optional: independent regions (1 = macrospin)
        }, ...
      }
    }

Per device, ``model`` says which curve it is:

- ``neel_brown`` needs ``ic0_A`` and ``delta``; ``tau0_s`` defaults to 1 ns, ``exponent`` to 1.
  Its ``i50_A`` (P = 1/2) and ``logistic_slope_per_A`` (the logistic with the curve's slope
  at I50) are derived from the law at the curve's width: written for readers, recomputed on
  reading (a given ``i50_A`` must still lie below ``ic0_A``: one above is a corrupt entry). A
  survey's separate logistic fit is kept as extras (``logistic_i50_A``,
  ``logistic_fit_slope_per_A``), its slope's standard error as ``logistic_slope_err_per_A``.
- ``logistic`` (P = 1 / (1 + exp(-k (I - I50)))) needs ``i50_A`` and ``logistic_slope_per_A``.

``width_s`` (the pulse width of the curves) is given at the top level, per device, or both
(a device's own wins). Optional: ``bench``, ``chip``, ``source``, ``meta`` (an object) at the
top level; per device ``size``, ``line_resistance_ohm``, the uncertainties (``*_err*``, >= 0),
``n_domains`` (an integer >= 1) and ``readout`` (``binary`` or ``fraction``; a ``binary``
device has 1 domain, a ``fraction`` one more). Other per-device keys are kept as extras. A
characterization survey writes every key it measured. Currents are magnitudes in amperes. A
malformed file raises :class:`CalibrationFileError` naming the file, the device and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devices.laws import neel_brown

FORMAT_NAME = "spin-hil-calibration"
FORMAT_VERSION = 1
MODELS = ("neel_brown", "logistic")
READOUTS = ("binary", "fraction")
#: the keys each model needs
REQUIRED = {"neel_brown": ("ic0_A", "delta"), "logistic": ("i50_A", "logistic_slope_per_A")}
#: positive numbers, in the order a device entry is written
NUMBERS = ("width_s", "ic0_A", "delta", "tau0_s", "exponent", "i50_A", "logistic_slope_per_A",
           "line_resistance_ohm")
UNCERTAINTIES = ("ic0_err_A", "delta_err", "i50_err_A", "logistic_slope_err_per_A")
NEEL_BROWN_DEFAULTS = {"tau0_s": 1e-9, "exponent": 1.0}


class CalibrationFileError(ValueError):
    """A calibration file that cannot be used; the message names the key that is wrong."""


#: one error type for every layer that reads a calibration
CalibrationError = CalibrationFileError


def _same_width(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)))


@dataclass(frozen=True)
class DeviceCalibration:
    """The calibrated switching curve of one device: the one model that procedures write and
    the learning side reads (currents in A, at ``width_s``; None there: the chip's width).

    A ``neel_brown`` curve *is* (Ic0, Delta, tau0, n) at a pulse width: its ``i50_A`` (P = 1/2)
    and ``logistic_slope_per_A`` (the logistic with the curve's slope at I50) are derived
    from the law (:mod:`devices.laws.neel_brown`) whenever the width is known, so the mapping
    and the surrogate of a layer follow one curve. A ``logistic`` curve is its (I50, k) at its
    own width. ``readout`` follows ``n_domains`` when not given (1 or unknown: ``binary``).
    """

    size: str | None = None
    ic0_A: float | None = None
    delta: float | None = None
    tau0_s: float = NEEL_BROWN_DEFAULTS["tau0_s"]
    exponent: float = NEEL_BROWN_DEFAULTS["exponent"]
    i50_A: float | None = None
    logistic_slope_per_A: float | None = None
    line_resistance_ohm: float | None = None
    model: str = "neel_brown"
    ic0_err_A: float | None = None
    delta_err: float | None = None
    i50_err_A: float | None = None
    logistic_slope_err_per_A: float | None = None
    n_domains: int | None = None
    readout: str | None = None
    width_s: float | None = None       # None: the chip's width_s
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        readout = self.readout or ("binary" if self.n_domains in (None, 1) else "fraction")
        object.__setattr__(self, "readout", readout)
        if readout == "binary" and self.n_domains is None:
            object.__setattr__(self, "n_domains", 1)
        if self.model == "neel_brown" and self.width_s is not None:
            curve = (self.width_s, self.ic0_A, self.delta, self.tau0_s, self.exponent)
            object.__setattr__(self, "i50_A", float(neel_brown.current_for_probability(0.5, *curve)))
            object.__setattr__(self, "logistic_slope_per_A",
                               float(neel_brown.logistic_slope_at_i50(*curve)))

    def probability(self, current_A):
        """P_sw(I) of this curve (numpy, vectorized)."""
        current_A = np.abs(np.asarray(current_A, dtype=float))
        if self.model == "neel_brown":
            return neel_brown.probability(current_A, self.width_s, self.ic0_A, self.delta,
                                          self.tau0_s, self.exponent)
        return 1.0 / (1.0 + np.exp(-self.logistic_slope_per_A * (current_A - self.i50_A)))

    def at_width(self, width_s: float, name: str = "", source: str = "") -> DeviceCalibration:
        """This curve at the pulse width ``width_s``: itself when it is at that width, a
        Neel-Brown curve moved to the new width, a :class:`CalibrationFileError` for a
        logistic curve (its I50 and slope hold at its own width only)."""
        if not (isinstance(width_s, (int, float)) and math.isfinite(width_s) and width_s > 0):
            raise CalibrationFileError(f"pulse width_s must be a finite number > 0, got {width_s!r}")
        if _same_width(self.width_s, width_s):
            return self
        if self.model == "neel_brown":
            return neel_brown_curve(self.ic0_A, self.delta, width_s, self.tau0_s, self.exponent,
                                    self.n_domains, self.readout)
        where = f" of device {name!r}" if name else ""
        src = f" ({source})" if source else ""
        raise CalibrationFileError(
            f"the logistic curve{where}{src} was fitted at width_s={self.width_s:g} s, but the "
            f"pulses are {float(width_s):g} s wide: a logistic fit holds at its own width only. "
            f"Pulse at {self.width_s:g} s (--width-s {self.width_s:g}), or calibrate at "
            f"{float(width_s):g} s (or with the neel_brown model, which can be moved to another width)")

    def to_dict(self, chip_width_s: float | None = None) -> dict:
        """The file entry (``width_s`` only where it differs from the chip's)."""
        out = {"size": self.size} if self.size is not None else {}
        out["model"] = self.model
        shape = ("ic0_A", "delta", "tau0_s", "exponent")
        for key in NUMBERS + UNCERTAINTIES:
            value = getattr(self, key)
            if key == "width_s" and chip_width_s is not None and _same_width(value, chip_width_s):
                continue
            if key in shape and self.model != "neel_brown":
                continue
            if value is not None:
                out[key] = float(value)
        out["readout"] = self.readout
        if self.n_domains is not None:
            out["n_domains"] = int(self.n_domains)
        out.update(self.extra)
        return out


def neel_brown_curve(ic0_A, delta, width_s, tau0_s=1e-9, exponent=1.0, n_domains=1,
                     readout: str | None = None, **fields) -> DeviceCalibration:
    """A Neel-Brown curve; refused when it has no thermally activated transition at ``width_s``."""
    if not neel_brown.logistic_slope_at_i50(width_s, ic0_A, delta, tau0_s, exponent) > 0:
        raise CalibrationFileError(
            f"Neel-Brown curve ic0_A = {float(ic0_A):.4g} A, delta = {float(delta):.4g} has no "
            f"thermally activated transition at width_s = {float(width_s):.4g} s (the pulse is "
            f"too short to switch below Ic0: I50 at or above Ic0); use a longer pulse")
    return DeviceCalibration(ic0_A=float(ic0_A), delta=float(delta), tau0_s=float(tau0_s),
                             exponent=float(exponent), width_s=float(width_s), model="neel_brown",
                             n_domains=None if n_domains is None else int(n_domains),
                             readout=readout, **fields)


def logistic_curve(i50_A, slope_per_A, width_s, n_domains=1, readout: str | None = None,
                   **fields) -> DeviceCalibration:
    return DeviceCalibration(i50_A=float(i50_A), logistic_slope_per_A=float(slope_per_A),
                             width_s=float(width_s), model="logistic",
                             n_domains=None if n_domains is None else int(n_domains),
                             readout=readout, **fields)


@dataclass
class ChipCalibration:
    """Calibrated curves of named devices, all at ``width_s`` unless an entry says otherwise."""

    bench: str
    chip: str
    width_s: float
    devices: dict[str, DeviceCalibration]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.devices = {name: dev if dev.width_s is not None
                        else dataclasses.replace(dev, width_s=float(self.width_s))
                        for name, dev in self.devices.items()}

    def __getitem__(self, name: str) -> DeviceCalibration:
        try:
            return self.devices[name]
        except KeyError:
            raise CalibrationFileError(
                f"the calibration ({self.source or 'no source'}) has no device {name!r}; it holds "
                f"{sorted(self.devices)[:6]}{' ...' if len(self.devices) > 6 else ''}: calibrate "
                f"that device or map the neurons to calibrated devices") from None

    def __contains__(self, name: str) -> bool:
        return name in self.devices

    def names(self) -> list[str]:
        return list(self.devices)

    def subset(self, names: Iterable[str]) -> ChipCalibration:
        return ChipCalibration(self.bench, self.chip, self.width_s, {n: self[n] for n in names},
                               self.source, dict(self.meta))

    def at_width(self, width_s: float) -> ChipCalibration:
        """These curves at the pulse width ``width_s`` (the one a layer actually plays): Neel-Brown
        curves moved there, a logistic curve at another width refused; ``self`` when every
        curve already is at ``width_s``."""
        devices = {name: dev.at_width(width_s, name, self.source) for name, dev in self.devices.items()}
        if all(devices[n] is d for n, d in self.devices.items()) and _same_width(self.width_s, width_s):
            return self
        return ChipCalibration(self.bench, self.chip, float(width_s), devices, self.source,
                               dict(self.meta))

    def to_dict(self) -> dict:
        out = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        out.update({key: value for key in ("bench", "chip") if (value := getattr(self, key))})
        out.update({"width_s": float(self.width_s), "source": self.source})
        if self.meta:
            out["meta"] = dict(self.meta)
        out["devices"] = {name: dev.to_dict(self.width_s) for name, dev in self.devices.items()}
        return out

    def by_size(self) -> dict[str, dict[str, DeviceCalibration]]:
        out: dict[str, dict[str, DeviceCalibration]] = {}
        for name, dev in self.devices.items():
            out.setdefault(dev.size, {})[name] = dev
        return out


# ----------------------------------------------------------------------------- validation
def _number(entry: Mapping, key: str, where: str, uncertainty: bool = False) -> float | None:
    """``entry[key]`` as a float (None when absent); errors say ``where[key]: ...``."""
    value = entry.get(key)
    if value is None:
        return None
    at = f"{where}[{key!r}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationFileError(f"{at}: {key} must be a finite number, got {value!r}")
    if uncertainty and value < 0:
        raise CalibrationFileError(f"{at}: {key} (an uncertainty) must be >= 0, got {value!r}")
    if not uncertainty and not value > 0:
        raise CalibrationFileError(f"{at}: {key} must be > 0, got {value!r}")
    return float(value)


def _label(entry: Mapping, key: str, where: str, example: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise CalibrationFileError(f"{where}[{key!r}]: {key} must be a non-empty string such as "
                                   f"{example!r}, got {value!r}")
    return value


def _device(name, entry, where: str, top_width: float | None) -> DeviceCalibration:
    if not isinstance(entry, Mapping):
        raise CalibrationFileError(f"{where} must be an object, got {str(entry)[:60]!r}")
    model = entry.get("model")
    if model not in MODELS:
        raise CalibrationFileError(f"{where}['model']: model {model!r} is not one of {MODELS}")
    for key in REQUIRED[model]:
        if key not in entry:
            raise CalibrationFileError(f"{where}: a {model} curve needs {key!r} (missing key; "
                                       f"required: model, {', '.join(REQUIRED[model])}, width_s)")
    numbers = {key: _number(entry, key, where) for key in NUMBERS}
    errors = {key: _number(entry, key, where, uncertainty=True) for key in UNCERTAINTIES}
    if numbers["width_s"] is None and top_width is None:
        raise CalibrationFileError(f"{where}: missing key 'width_s' (the pulse width of the curve: "
                                   f"give it at the top level or per device)")
    width = numbers["width_s"] or top_width
    n_domains = entry.get("n_domains")
    if n_domains is not None and (isinstance(n_domains, bool) or not isinstance(n_domains, int)
                                  or n_domains < 1):
        raise CalibrationFileError(f"{where}['n_domains']: n_domains must be an integer >= 1, "
                                   f"got {n_domains!r}")
    readout = entry.get("readout")
    if readout is not None and readout not in READOUTS:
        raise CalibrationFileError(f"{where}['readout']: readout {readout!r} is not one of "
                                   f"{READOUTS}")
    if readout is not None and n_domains is not None and (readout == "binary") != (n_domains == 1):
        raise CalibrationFileError(f"{where}['readout']: readout {readout!r} contradicts n_domains "
                                   f"{n_domains!r} (a binary device has 1 domain, a fraction "
                                   f"device more): fix one of them")
    if model == "neel_brown":
        for key, default in NEEL_BROWN_DEFAULTS.items():
            numbers[key] = numbers[key] or default
        if numbers["i50_A"] is not None and numbers["i50_A"] >= numbers["ic0_A"]:
            raise CalibrationFileError(
                f"{where}['i50_A']: i50_A = {numbers['i50_A']!r} A is not below ic0_A = "
                f"{numbers['ic0_A']!r} A; a thermally activated curve switches below Ic0: refit "
                f"the device")
        if not neel_brown.logistic_slope_at_i50(width, numbers["ic0_A"], numbers["delta"],
                                                numbers["tau0_s"], numbers["exponent"]) > 0:
            raise CalibrationFileError(
                f"{where}: the neel_brown curve ic0_A = {numbers['ic0_A']:.4g} A, delta = "
                f"{numbers['delta']:.4g} has no thermally activated transition at width_s = "
                f"{width:.4g} s (the pulse is too short to switch below Ic0: I50 at or above "
                f"Ic0); use a longer pulse")
    numbers = {k: v for k, v in numbers.items() if v is not None or k not in NEEL_BROWN_DEFAULTS}
    numbers["width_s"] = width
    known = {"size", "model", "n_domains", "readout", *NUMBERS, *UNCERTAINTIES}
    extra = {k: v for k, v in entry.items() if k not in known}
    return DeviceCalibration(size=_label(entry, "size", where, "S"), model=model,
                             n_domains=n_domains, readout=readout, extra=extra,
                             **numbers, **errors)


def parse_calibration(data, source: str = "<dict>") -> ChipCalibration:
    """Validate a parsed calibration object and fill in the derived fields.

    Errors name the source, the device and the key (``file: devices['chip1/S0']['delta']: ...``).
    """
    if not isinstance(data, Mapping):
        raise CalibrationFileError(f"{source}: a calibration is a JSON object, got "
                                   f"{type(data).__name__}")
    if data.get("format", FORMAT_NAME) != FORMAT_NAME:
        raise CalibrationFileError(f"{source}['format']: format {data.get('format')!r} is not "
                                   f"{FORMAT_NAME!r}")
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise CalibrationFileError(f"{source}['version']: version {data.get('version')!r} is not "
                                   f"supported; this spin-hil reads version {FORMAT_VERSION}")
    top_width = _number(data, "width_s", source)
    devices_in = data.get("devices")
    if not isinstance(devices_in, Mapping) or not devices_in:
        raise CalibrationFileError(f"{source}['devices']: devices must be a non-empty object of "
                                   f"device name -> fitted curve, got {str(devices_in)[:60]!r}")
    meta = data.get("meta", {})
    if not isinstance(meta, Mapping):
        raise CalibrationFileError(f"{source}['meta']: meta must be an object, got {meta!r:.60}")
    devices = {str(name): _device(name, entry, f"{source}: devices[{name!r}]", top_width)
               for name, entry in devices_in.items()}
    width = top_width if top_width is not None else next(iter(devices.values())).width_s
    return ChipCalibration(_label(data, "bench", source, "default") or "",
                           _label(data, "chip", source, "chip1") or "", width, devices,
                           str(data.get("source", "")), dict(meta))


def save_calibration(calibration: ChipCalibration | Mapping, path: str | Path) -> Path:
    """Validate, then write atomically (a crash never leaves half a file)."""
    data = calibration.to_dict() if isinstance(calibration, ChipCalibration) else dict(calibration)
    parse_calibration(data, f"calibration for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_calibration(path: str | Path) -> ChipCalibration:
    """Read and validate a calibration file; errors name the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationFileError(f"calibration file {str(path)!r} does not exist; run "
                                   f"`hil characterize survey` to write one") from None
    except IsADirectoryError:
        raise CalibrationFileError(f"calibration file {str(path)!r} is a folder: give the JSON "
                                   f"file in it (e.g. calibration_chip1.json)") from None
    except UnicodeDecodeError as exc:
        raise CalibrationFileError(f"calibration file {str(path)!r} is not UTF-8 text (byte "
                                   f"{exc.start}): not a calibration JSON; give the file a "
                                   f"survey wrote") from None
    except OSError as exc:
        raise CalibrationFileError(f"calibration file {str(path)!r} cannot be read: "
                                   f"{exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationFileError(f"calibration file {str(path)!r} is not valid JSON "
                                   f"(line {exc.lineno}: {exc.msg})") from None
    return parse_calibration(data, str(path))


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MODELS",
    "READOUTS",
    "CalibrationFileError",
    "ChipCalibration",
    "DeviceCalibration",
    "load_calibration",
    "parse_calibration",
    "save_calibration",
]
