"""Calibrated switching curves of devices: the JSON format, its loader/saver, and a small fitter.

A calibration tells the learning code how each device answers a write pulse: the switching
probability P(I) at one pulse width. The device-neuron layer uses it twice: to map its input
onto a current that sits at the device's I50 (so x = 0 <-> P = 0.5), and as the surrogate
gradient dP/dI of the backward pass. The characterization procedures write these files; the
hil code can also fit one on the fly from a backend (:func:`calibrate_backend`).

JSON format (version 1)
-----------------------
::

    {
      "format": "spin-hil-calibration",
      "version": 1,
      "width_s": 1e-08,                    # pulse width every curve below was measured at
      "source": "fit: simulated-array ...", # free text, optional
      "devices": {
        "chip1/S0": {
          "model": "neel_brown",           # which curve the surrogate uses: neel_brown | logistic
          "ic0_A": 2.38e-05,               # Neel-Brown critical current
          "delta": 24.7,                   # energy barrier in kT
          "tau0_s": 1e-09,                 # attempt time
          "exponent": 1.0,                 # 1 = linear form, 2 = Taniguchi-Imamura
          "width_s": 1e-08,                # pulse width of this curve (may override the top level)
          "i50_A": 2.12e-05,               # current of P = 0.5 at width_s
          "logistic_slope_per_A": 7.9e+05, # k of P ~ 1 / (1 + exp(-k (I - I50)))
          "n_domains": 1                   # optional: independent regions (1 = macrospin)
        },
        ...
      }
    }

Rules: ``model`` is required; a ``neel_brown`` entry needs ``ic0_A`` and ``delta``
(``tau0_s`` defaults to 1 ns, ``exponent`` to 1); a ``logistic`` entry needs ``i50_A`` and
``logistic_slope_per_A``. ``width_s`` comes from the entry or the top level. The derived
fields (``i50_A``, ``logistic_slope_per_A`` of a Neel-Brown entry) are filled in on load when
missing, so both forms of every curve are always available. All currents are magnitudes in
amperes; a file is rejected with a message naming the device, the field and the value.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
from scipy import optimize

from simulated_bench import physics

FORMAT_NAME = "spin-hil-calibration"
FORMAT_VERSION = 1
MODELS = ("neel_brown", "logistic")


class CalibrationError(ValueError):
    """A calibration file or dict that cannot be used."""


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
    n_domains: int = 1

    def probability(self, current_A):
        """P_sw(I) of this curve (numpy, vectorized)."""
        current_A = np.abs(np.asarray(current_A, dtype=float))
        if self.model == "neel_brown":
            return physics.switching_probability(current_A, self.width_s, self.ic0_A, self.delta,
                                                 self.tau0_s, self.exponent)
        return 1.0 / (1.0 + np.exp(-self.logistic_slope_per_A * (current_A - self.i50_A)))

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.model == "logistic":
            for key in ("tau0_s", "exponent"):
                out.pop(key, None)
        return out


def neel_brown_curve(ic0_A, delta, width_s, tau0_s=1e-9, exponent=1.0, n_domains=1) -> DeviceCurve:
    """A Neel-Brown curve with its derived I50 and logistic slope (the slope at I50)."""
    i50 = float(physics.current_for_probability(0.5, width_s, ic0_A, delta, tau0_s, exponent))
    # dP/dI at I50: (1 - P) * r * dL/dI with r = ln 2 at P = 0.5; logistic k = 4 dP/dI.
    reduced = max(1.0 - i50 / ic0_A, 0.0)
    dlog_rate = delta * exponent * reduced ** (exponent - 1.0) / ic0_A if reduced > 0 else 0.0
    slope = 4.0 * 0.5 * math.log(2.0) * dlog_rate
    if not slope > 0:
        raise CalibrationError(
            f"Neel-Brown curve ic0_A={ic0_A!r}, delta={delta!r} at width_s={width_s!r} has no "
            f"thermally activated transition (I50 {i50!r} A at or above Ic0); use a shorter pulse")
    return DeviceCurve("neel_brown", float(width_s), i50, float(slope), float(ic0_A),
                       float(delta), float(tau0_s), float(exponent), int(n_domains))


def logistic_curve(i50_A, slope_per_A, width_s, n_domains=1) -> DeviceCurve:
    return DeviceCurve("logistic", float(width_s), float(i50_A), float(slope_per_A),
                       n_domains=int(n_domains))


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
            raise KeyError(f"the calibration ({self.source or 'no source'}) has no device "
                           f"{name!r}; it holds {sorted(self.devices)[:6]}"
                           f"{' ...' if len(self.devices) > 6 else ''}: calibrate that device "
                           f"or map the neurons to calibrated devices") from None

    def __contains__(self, name: str) -> bool:
        return name in self.devices

    def names(self) -> list[str]:
        return list(self.devices)

    def subset(self, names: Iterable[str]) -> "Calibration":
        return Calibration(self.width_s, {n: self[n] for n in names}, self.source, dict(self.meta))

    def to_dict(self) -> dict:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "width_s": self.width_s,
                "source": self.source, **({"meta": self.meta} if self.meta else {}),
                "devices": {n: c.to_dict() for n, c in self.devices.items()}}

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "<dict>") -> "Calibration":
        return parse_calibration(data, source)


def _number(entry: Mapping, key: str, where: str, positive=True, default=None) -> float | None:
    value = entry.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationError(f"{where}: {key} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise CalibrationError(f"{where}: {key} must be > 0, got {value!r}")
    return float(value)


def parse_calibration(data: Mapping, source: str = "<dict>") -> Calibration:
    """Validate a calibration dict (the parsed JSON) and fill in derived fields."""
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{source}: a calibration is a JSON object, got {type(data).__name__}")
    if data.get("format", FORMAT_NAME) != FORMAT_NAME:
        raise CalibrationError(f"{source}: format is {data.get('format')!r}, expected {FORMAT_NAME!r}")
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise CalibrationError(f"{source}: version {version!r} is not supported "
                               f"(this spin-hil reads version {FORMAT_VERSION})")
    top_width = _number(data, "width_s", source) if "width_s" in data else None
    devices_in = data.get("devices")
    if not isinstance(devices_in, Mapping) or not devices_in:
        raise CalibrationError(f"{source}: 'devices' must be a non-empty object of "
                               f"device name -> curve, got {devices_in!r:.80}")
    devices = {}
    for name, entry in devices_in.items():
        where = f"{source}: devices[{name!r}]"
        if not isinstance(entry, Mapping):
            raise CalibrationError(f"{where} must be an object, got {entry!r:.80}")
        model = entry.get("model")
        if model not in MODELS:
            raise CalibrationError(f"{where}: model {model!r} is not one of {MODELS}")
        width = _number(entry, "width_s", where, default=top_width)
        if width is None:
            raise CalibrationError(f"{where}: no width_s (give it per device or at the top level)")
        n_domains = entry.get("n_domains", 1)
        if isinstance(n_domains, bool) or not isinstance(n_domains, int) or n_domains < 1:
            raise CalibrationError(f"{where}: n_domains must be an integer >= 1, got {n_domains!r}")
        if model == "neel_brown":
            for key in ("ic0_A", "delta"):
                if key not in entry:
                    raise CalibrationError(f"{where}: a neel_brown curve needs {key!r}")
            curve = neel_brown_curve(_number(entry, "ic0_A", where), _number(entry, "delta", where),
                                     width, _number(entry, "tau0_s", where, default=1e-9),
                                     _number(entry, "exponent", where, default=1.0), n_domains)
        else:
            for key in ("i50_A", "logistic_slope_per_A"):
                if key not in entry:
                    raise CalibrationError(f"{where}: a logistic curve needs {key!r}")
            curve = logistic_curve(_number(entry, "i50_A", where),
                                   _number(entry, "logistic_slope_per_A", where), width, n_domains)
        devices[str(name)] = curve
    width_s = top_width if top_width is not None else next(iter(devices.values())).width_s
    return Calibration(width_s, devices, str(data.get("source", "")), dict(data.get("meta", {})))


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration JSON file; errors name the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CalibrationError(f"calibration file {str(path)!r} does not exist; run the "
                               f"characterization (or pass calibration='fit')") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"calibration file {str(path)!r} is not valid JSON: {exc}") from None
    return parse_calibration(data, str(path))


def save_calibration(calibration: Calibration, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(calibration.to_dict(), indent=2))
    tmp.replace(path)
    return path


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
                     exponent: float = 1.0, n_domains: int = 1) -> DeviceCurve:
    """Fit a Neel-Brown curve (Ic0, Delta at fixed tau0 and exponent) to a switching sweep.

    ``switched`` is the number of switch events (may be fractional for multi-domain devices:
    switched fraction x trials) out of ``trials`` at each amplitude. Binomial maximum
    likelihood; the start point comes from the linear form, where ln(-ln(1 - P)) is affine in I.
    """
    current_A = np.abs(np.asarray(current_A, dtype=float))
    trials = np.broadcast_to(np.asarray(trials, dtype=float), current_A.shape)
    switched = np.asarray(switched, dtype=float)
    p = switched / trials
    informative = (p > 0.02) & (p < 0.98)
    if informative.sum() < 2:
        raise CalibrationError(
            f"the sweep has {int(informative.sum())} amplitudes with 0.02 < P < 0.98 "
            f"(need >= 2 on the transition) over {current_A.min():.3g}..{current_A.max():.3g} A; "
            f"sweep finer around the switching current")
    y = np.log(-np.log1p(-p[informative]))
    slope, intercept = np.polyfit(current_A[informative], y, 1)
    log_t = math.log(width_s / tau0_s)
    delta0 = max(log_t - intercept, 1.0)
    ic0_0 = delta0 / slope if slope > 0 else current_A.max()
    eps = 1e-12

    def nll(theta):
        ic0, delta = math.exp(theta[0]), math.exp(theta[1])
        q = physics.switching_probability(current_A, width_s, ic0, delta, tau0_s, exponent)
        q = np.clip(q, eps, 1 - eps)
        return -float(np.sum(switched * np.log(q) + (trials - switched) * np.log1p(-q)))

    result = optimize.minimize(nll, [math.log(ic0_0), math.log(delta0)], method="Nelder-Mead",
                               options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000})
    ic0, delta = (math.exp(v) for v in result.x)
    return neel_brown_curve(ic0, delta, width_s, tau0_s, exponent, n_domains)


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
           "calibration_from_chip", "fit_device_curve", "load_calibration", "logistic_curve",
           "neel_brown_curve", "parse_calibration", "save_calibration"]
