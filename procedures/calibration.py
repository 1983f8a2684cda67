"""The calibration file: each device's fitted switching curve, for the learning side.

This module owns the format: it writes, reads and validates it; ``hil.calibration`` builds
its learning view from what :func:`parse_calibration` returns. One JSON object::

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

- ``neel_brown`` needs ``ic0_A`` and ``delta``; ``tau0_s`` defaults to 1 ns, ``exponent`` to 1,
  and the derived ``i50_A`` (P = 1/2) and ``logistic_slope_per_A`` (the logistic with the
  curve's slope at I50) are filled in when missing. A given ``i50_A`` must lie below ``ic0_A``.
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

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from procedures.fits import neel_brown_current, neel_brown_logistic_slope

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


@dataclass
class DeviceCalibration:
    """The fitted switching curve of one device (currents in A, at ``width_s`` or the file's)."""

    size: str | None = None
    ic0_A: float | None = None
    delta: float | None = None
    tau0_s: float | None = None
    exponent: float | None = None
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
    width_s: float | None = None       # None: the file's width_s
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"size": self.size} if self.size is not None else {}
        out["model"] = self.model
        for key in NUMBERS + UNCERTAINTIES:
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        if self.readout is not None:
            out["readout"] = self.readout
        if self.n_domains is not None:
            out["n_domains"] = int(self.n_domains)
        out.update(self.extra)
        return out


@dataclass
class ChipCalibration:
    bench: str
    chip: str
    width_s: float
    devices: dict[str, DeviceCalibration]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        out.update({key: value for key in ("bench", "chip") if (value := getattr(self, key))})
        out.update({"width_s": float(self.width_s), "source": self.source})
        if self.meta:
            out["meta"] = dict(self.meta)
        out["devices"] = {name: dev.to_dict() for name, dev in self.devices.items()}
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
        curve = (width, numbers["ic0_A"], numbers["delta"], numbers["tau0_s"], numbers["exponent"])
        if numbers["i50_A"] is not None and numbers["i50_A"] >= numbers["ic0_A"]:
            raise CalibrationFileError(
                f"{where}['i50_A']: i50_A = {numbers['i50_A']!r} A is not below ic0_A = "
                f"{numbers['ic0_A']!r} A; a thermally activated curve switches below Ic0: refit "
                f"the device")
        slope = neel_brown_logistic_slope(*curve)
        if not slope > 0:
            raise CalibrationFileError(
                f"{where}: the neel_brown curve ic0_A={numbers['ic0_A']!r}, delta="
                f"{numbers['delta']!r} has no thermally activated transition at width_s="
                f"{width!r} s (I50 at or above Ic0); use a shorter pulse")
        if numbers["i50_A"] is None:
            numbers["i50_A"] = float(neel_brown_current(0.5, *curve))
        if numbers["logistic_slope_per_A"] is None:
            numbers["logistic_slope_per_A"] = float(slope)
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
