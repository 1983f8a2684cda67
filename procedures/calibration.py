"""The per-chip calibration file: each device's fitted switching curve, for the learning side.

One JSON object per chip, written by a characterization survey and read by ``hil``::

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
          "n_domains": 1                      # optional
        }, ...
      }
    }

Required per device: ``size``, ``model`` (``neel_brown``), ``ic0_A``, ``delta``, ``tau0_s``,
``exponent``, ``i50_A``, ``logistic_slope_per_A``, ``line_resistance_ohm``. Uncertainties
(``*_err*``) are optional and >= 0; other keys are kept as extras. The top level carries
``format`` / ``version`` so other readers of the format (``hil.calibration``) accept it.
A malformed file raises :class:`CalibrationFileError` naming the file, the device and the key.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

FORMAT_NAME = "spin-hil-calibration"
FORMAT_VERSION = 1
MODELS = ("neel_brown",)
REQUIRED_NUMBERS = ("ic0_A", "delta", "tau0_s", "exponent", "i50_A", "logistic_slope_per_A",
                    "line_resistance_ohm")
UNCERTAINTIES = ("ic0_err_A", "delta_err", "i50_err_A", "logistic_slope_err_per_A")


class CalibrationFileError(ValueError):
    """A calibration file that cannot be used; the message names the key that is wrong."""


@dataclass
class DeviceCalibration:
    """The fitted switching curve of one device (currents in A, at the file's width_s)."""

    size: str
    ic0_A: float
    delta: float
    tau0_s: float
    exponent: float
    i50_A: float
    logistic_slope_per_A: float
    line_resistance_ohm: float
    model: str = "neel_brown"
    ic0_err_A: float | None = None
    delta_err: float | None = None
    i50_err_A: float | None = None
    logistic_slope_err_per_A: float | None = None
    n_domains: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"size": self.size, "model": self.model}
        for key in REQUIRED_NUMBERS + UNCERTAINTIES:
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
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

    def to_dict(self) -> dict:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "bench": self.bench,
                "chip": self.chip, "width_s": float(self.width_s), "source": self.source,
                "devices": {name: dev.to_dict() for name, dev in self.devices.items()}}

    def by_size(self) -> dict[str, dict[str, DeviceCalibration]]:
        out: dict[str, dict[str, DeviceCalibration]] = {}
        for name, dev in self.devices.items():
            out.setdefault(dev.size, {})[name] = dev
        return out


def _finite(value, where: str, key: str, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationFileError(f"{where}: {key!r} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise CalibrationFileError(f"{where}: {key!r} must be > 0, got {value!r}")
    if not positive and value < 0:
        raise CalibrationFileError(f"{where}: {key!r} (an uncertainty) must be >= 0, got {value!r}")
    return float(value)


def parse_calibration(data, source: str = "<dict>") -> ChipCalibration:
    """Validate a parsed calibration object; errors name the source, device and key."""
    if not isinstance(data, Mapping):
        raise CalibrationFileError(f"{source}: a calibration is a JSON object, got "
                                   f"{type(data).__name__}")
    if data.get("format", FORMAT_NAME) != FORMAT_NAME:
        raise CalibrationFileError(f"{source}: key 'format' is {data.get('format')!r}, expected "
                                   f"{FORMAT_NAME!r}")
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise CalibrationFileError(f"{source}: key 'version' is {data.get('version')!r}; this "
                                   f"spin-hil reads version {FORMAT_VERSION}")
    for key in ("bench", "chip", "width_s", "devices"):
        if key not in data:
            raise CalibrationFileError(f"{source}: missing top-level key {key!r} (a calibration "
                                       f"has bench, chip, width_s and devices)")
    for key in ("bench", "chip"):
        if not isinstance(data[key], str) or not data[key]:
            raise CalibrationFileError(f"{source}: key {key!r} must be a non-empty string, "
                                       f"got {data[key]!r}")
    width = _finite(data["width_s"], source, "width_s", positive=True)
    devices_in = data["devices"]
    if not isinstance(devices_in, Mapping) or not devices_in:
        raise CalibrationFileError(f"{source}: key 'devices' must be a non-empty object of "
                                   f"device name -> fitted curve, got {str(devices_in)[:60]!r}")
    devices = {}
    for name, entry in devices_in.items():
        where = f"{source}: devices[{name!r}]"
        if not isinstance(entry, Mapping):
            raise CalibrationFileError(f"{where} must be an object, got {str(entry)[:60]!r}")
        for key in ("size", "model") + REQUIRED_NUMBERS:
            if key not in entry:
                raise CalibrationFileError(f"{where}: missing key {key!r} (required: "
                                           f"size, model, {', '.join(REQUIRED_NUMBERS)})")
        if entry["model"] not in MODELS:
            raise CalibrationFileError(f"{where}: key 'model' is {entry['model']!r}, expected one "
                                       f"of {MODELS}")
        if not isinstance(entry["size"], str) or not entry["size"]:
            raise CalibrationFileError(f"{where}: key 'size' must be a size label such as 'S', "
                                       f"got {entry['size']!r}")
        numbers = {k: _finite(entry[k], where, k, positive=True) for k in REQUIRED_NUMBERS}
        errors = {k: _finite(entry[k], where, k, positive=False) for k in UNCERTAINTIES
                  if entry.get(k) is not None}
        n_domains = entry.get("n_domains")
        if n_domains is not None and (isinstance(n_domains, bool) or not isinstance(n_domains, int)
                                      or n_domains < 1):
            raise CalibrationFileError(f"{where}: key 'n_domains' must be an integer >= 1, got "
                                       f"{n_domains!r}")
        if numbers["i50_A"] >= numbers["ic0_A"]:
            raise CalibrationFileError(f"{where}: key 'i50_A' = {numbers['i50_A']!r} A is not below "
                                       f"ic0_A = {numbers['ic0_A']!r} A; a thermally activated curve "
                                       f"switches below Ic0: refit the device")
        known = {"size", "model", "n_domains", *REQUIRED_NUMBERS, *UNCERTAINTIES}
        extra = {k: v for k, v in entry.items() if k not in known}
        devices[str(name)] = DeviceCalibration(size=entry["size"], model=entry["model"],
                                               n_domains=n_domains, extra=extra,
                                               **numbers, **errors)
    return ChipCalibration(data["bench"], data["chip"], width, devices, str(data.get("source", "")))


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
    "CalibrationFileError",
    "ChipCalibration",
    "DeviceCalibration",
    "load_calibration",
    "parse_calibration",
    "save_calibration",
]
