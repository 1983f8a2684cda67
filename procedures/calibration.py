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
- ``domain_wall``: a DW-MTJ integrate-fire-reset neuron (:mod:`devices.laws.domain_wall`),
  a :class:`DomainWallCalibration`; written by ``hil characterize ifr-survey``, read by the
  spiking layer. Needs

  - ``jdep_A_m2``: the depinning current density J_dep (A/m^2);
  - ``mobility_m3_per_A_s``: the wall mobility mu (m/s per A/m^2) quoted for ``distance_m``:
    a pulse of density J >= J_dep moves the wall by mu (J - J_dep) width_s;
  - ``distance_m``: the distance the wall travels to fire (the design L - MTJ offset; a
    track longer than designed reads as a slower wall: mu / distance_m is what is measured);
  - ``pinning_rel``: the relative cycle-to-cycle spread of one step (<= 0.5);
  - ``cross_section_m2``: the write line's cross-section (track width x heavy metal), so
    that J = I / cross_section_m2.

  Optional: ``jdep_err_A_m2``, ``mobility_err_m3_per_A_s``, ``pinning_err`` (standard
  errors), ``leak_time_s`` (the restoring drift's time constant; absent: no leak),
  ``reset_fail_probability`` (in [0, 1): a reset that leaves the neuron fired),
  ``line_resistance_ohm``; other keys are extras (a survey adds ``pulses_to_fire_ref``,
  ``pulses_to_fire_ref_err``, ``reference_density_A_m2``). ``pulses_to_fire(J)`` gives the
  law's E[N] at a current density.
- ``ferrimagnet_synapse``, ``dw_quantized_synapse``, ``celu_neuron``: a multi-level synapse or
  a CeLU neuron (issue 17), an :class:`ElementCalibration`; written by ``hil characterize
  ltp-ltd`` / ``neuron-transfer``, read by the device-backed weight and activation layers.
  ``width_s`` is the programming (input) pulse width. Their keys (:data:`ELEMENT_KEYS`):

  - ``ferrimagnet_synapse`` (:mod:`devices.laws.synapse_conductance`) needs ``gmin_S``,
    ``gmax_S`` (the conductance range, S), ``nu_ltp``, ``nu_ltd`` (>= 0: the nonlinearity of
    potentiation and depression), ``n_pulses`` (N: nominal pulses from Gmin to Gmax, a
    fitted real) and ``write_noise`` (the cycle-to-cycle sigma of one nominal step in units
    of the mean step (Gmax - Gmin) / N). Optional: ``n_states`` (distinguishable states, an
    integer), ``read_noise_S`` (rms of one reading, S), ``write_density_A_m2`` (the nominal
    pulse), ``cross_section_m2``, ``line_resistance_ohm``, the standard errors
    ``gmin_err_S``, ``gmax_err_S``, ``nu_ltp_err``, ``nu_ltd_err``, ``n_pulses_err``,
    ``write_noise_err``.
  - ``dw_quantized_synapse`` (:mod:`devices.laws.notched_wall`) needs ``levels`` (K, an
    integer >= 2), ``gmin_S``, ``gmax_S``, ``step_probability`` (p(J) of the nominal pulse,
    in (0, 1]) and ``overshoot_probability`` (a two-notch move given a move, in [0, 1)).
    Optional: ``read_noise_S``, ``write_density_A_m2``, ``cross_section_m2``,
    ``line_resistance_ohm``, ``step_probability_err``, ``overshoot_err``.
  - ``celu_neuron`` (:mod:`devices.laws.celu`: R_xy = R0 + g celu(I; a)) needs ``alpha_A``
    (a, A), ``gain_ohm_per_A`` (g) and ``offset_ohm`` (R0, either sign). Optional:
    ``alpha_err_A``, ``gain_err_ohm_per_A``, ``offset_err_ohm``, ``read_noise_ohm``,
    ``line_resistance_ohm``.
- ``stt_synapse``: a binary stochastic STT-MTJ synapse of a crossbar (issue 16,
  :mod:`devices.laws.stt_switching`), an :class:`ElementCalibration` written by ``hil
  characterize synapse-switching``: ``vc_p_to_ap_V``, ``vc_ap_to_p_V`` (the critical voltage
  over the junction of each direction), ``delta`` and ``exponent`` (n; the free layer's, shared
  by both directions), ``tau0_s``, ``g_p_S`` > ``g_ap_S`` (the read conductances). Optional:
  ``read_voltage_V``, the standard errors ``vc_p_to_ap_err_V``, ``vc_ap_to_p_err_V``,
  ``delta_err``, ``exponent_err``. ``width_s`` is the reference width of the run; the law holds
  at every width (``switching_probability(V, t, to_state)``, ``voltage_for_probability``).

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

from devices import kinds
from devices.kinds import dw_mtj_ifr_neuron
from devices.laws import celu, domain_wall, neel_brown, notched_wall, stt_switching, synapse_conductance

FORMAT_NAME = "spin-hil-calibration"
FORMAT_VERSION = 1
MODELS = ("neel_brown", "logistic", "domain_wall", "ferrimagnet_synapse", "dw_quantized_synapse",
          "celu_neuron", "stt_synapse")
READOUTS = ("binary", "fraction")
#: the keys each model needs
REQUIRED = {"neel_brown": ("ic0_A", "delta"), "logistic": ("i50_A", "logistic_slope_per_A"),
            "domain_wall": ("jdep_A_m2", "mobility_m3_per_A_s", "distance_m", "pinning_rel",
                            "cross_section_m2"),
            "ferrimagnet_synapse": ("gmin_S", "gmax_S", "nu_ltp", "nu_ltd", "n_pulses", "write_noise"),
            "dw_quantized_synapse": ("levels", "gmin_S", "gmax_S", "step_probability",
                                     "overshoot_probability"),
            "celu_neuron": ("alpha_A", "gain_ohm_per_A", "offset_ohm"),
            "stt_synapse": ("vc_p_to_ap_V", "vc_ap_to_p_V", "delta", "exponent", "tau0_s",
                            "g_p_S", "g_ap_S")}
#: positive numbers, in the order a device entry is written
NUMBERS = ("width_s", "ic0_A", "delta", "tau0_s", "exponent", "i50_A", "logistic_slope_per_A",
           "line_resistance_ohm")
UNCERTAINTIES = ("ic0_err_A", "delta_err", "i50_err_A", "logistic_slope_err_per_A")
NEEL_BROWN_DEFAULTS = {"tau0_s": 1e-9, "exponent": 1.0}
#: a domain_wall entry's positive numbers and uncertainties, in the order it is written
DOMAIN_WALL_NUMBERS = ("width_s", "jdep_A_m2", "mobility_m3_per_A_s", "distance_m", "pinning_rel",
                       "cross_section_m2", "leak_time_s", "line_resistance_ohm")
DOMAIN_WALL_UNCERTAINTIES = ("jdep_err_A_m2", "mobility_err_m3_per_A_s", "pinning_err")
#: the domain-wall law holds for a step spread up to this (devices.kinds.dw_mtj_ifr_neuron)
MAX_PINNING_REL = 0.5
#: a domain_wall entry's numbers bounded by the range of a bench-file key (beyond it a
#: neuron never fires: E[N] = inf, a spiking layer at chance)
_DOMAIN_WALL_BOUNDS = {"jdep_A_m2": "depinning_density_A_m2",
                       "mobility_m3_per_A_s": "mobility_m3_per_A_s", "distance_m": "track_length_m"}
#: the synapse and CeLU-neuron models: each key and its rule ("positive", "nonnegative",
#: "probability" in [0, 1], "real", "count" an integer >= 1), required keys first (REQUIRED)
_LINE_KEYS = {"cross_section_m2": "positive", "line_resistance_ohm": "positive"}
ELEMENT_KEYS = {
    "ferrimagnet_synapse": {
        "gmin_S": "positive", "gmax_S": "positive", "nu_ltp": "nonnegative", "nu_ltd": "nonnegative",
        "n_pulses": "positive", "write_noise": "nonnegative", "n_states": "count",
        "read_noise_S": "nonnegative", "write_density_A_m2": "positive", **_LINE_KEYS,
        **{key: "nonnegative" for key in ("gmin_err_S", "gmax_err_S", "nu_ltp_err", "nu_ltd_err",
                                          "n_pulses_err", "write_noise_err")}},
    "dw_quantized_synapse": {
        "levels": "count", "gmin_S": "positive", "gmax_S": "positive",
        "step_probability": "probability", "overshoot_probability": "probability",
        "read_noise_S": "nonnegative", "write_density_A_m2": "positive", **_LINE_KEYS,
        "step_probability_err": "nonnegative", "overshoot_err": "nonnegative"},
    "celu_neuron": {
        "alpha_A": "positive", "gain_ohm_per_A": "positive", "offset_ohm": "real",
        "alpha_err_A": "nonnegative", "gain_err_ohm_per_A": "nonnegative",
        "offset_err_ohm": "nonnegative", "read_noise_ohm": "nonnegative",
        "line_resistance_ohm": "positive"},
    "stt_synapse": {
        "vc_p_to_ap_V": "positive", "vc_ap_to_p_V": "positive", "delta": "positive",
        "exponent": "positive", "tau0_s": "positive", "g_p_S": "positive", "g_ap_S": "positive",
        "read_voltage_V": "positive",
        **{key: "nonnegative" for key in ("vc_p_to_ap_err_V", "vc_ap_to_p_err_V", "delta_err",
                                          "exponent_err")}},
}


#: the device kind whose bench-file ranges bound each element model's numbers (an exponent of
#: 1e300 passed and made every STDP pulse 0 V)
_KIND_OF_ELEMENT_MODEL = {"ferrimagnet_synapse": "ferrimagnet_synapse",
                          "dw_quantized_synapse": "dw_quantized_synapse",
                          "celu_neuron": "ferrimagnet_celu_neuron", "stt_synapse": "stt_mtj_synapse"}

#: an stt_synapse's critical voltage key of each direction (by the target state)
_VC_KEY = {"AP": "vc_p_to_ap_V", "P": "vc_ap_to_p_V"}


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


@dataclass(frozen=True)
class DomainWallCalibration:
    """The calibrated integrate-fire-reset law of one DW-MTJ neuron (model ``domain_wall``):
    steps mu (J - J_dep) width_s of relative spread ``pinning_rel`` toward the MTJ at
    ``distance_m``; see the module docstring for each key."""

    jdep_A_m2: float
    mobility_m3_per_A_s: float
    distance_m: float
    pinning_rel: float
    cross_section_m2: float
    size: str | None = None
    width_s: float | None = None       # None: the chip's width_s
    leak_time_s: float | None = None   # None: no leak
    reset_fail_probability: float | None = None
    line_resistance_ohm: float | None = None
    jdep_err_A_m2: float | None = None
    mobility_err_m3_per_A_s: float | None = None
    pinning_err: float | None = None
    extra: dict = field(default_factory=dict)
    model: str = "domain_wall"

    def density_A_m2(self, current_A):
        """J = I / cross_section_m2."""
        return current_A / self.cross_section_m2

    def pulses_to_fire(self, current_density_A_m2, pulse_period_s: float | None = None):
        """E[N]: the mean count of write pulses of ``width_s`` to fire at a density (numpy or
        torch; inf below depinning), pulses ``pulse_period_s`` apart (for the leak)."""
        step = domain_wall.mean_step_m(current_density_A_m2, self.width_s, self.jdep_A_m2,
                                       self.mobility_m3_per_A_s)
        return domain_wall.expected_pulses_to_fire(step, self.distance_m, self.pinning_rel,
                                                   self.leak(pulse_period_s))

    def leak(self, interval_s: float | None = None) -> float:
        """The fraction of its distance a wall keeps over ``interval_s``: 1 without leak; with
        one, the interval must be given (the leak acts between pulses)."""
        if self.leak_time_s is None:
            return 1.0
        if interval_s is None:
            raise CalibrationFileError("this neuron leaks (leak_time_s "
                                       f"{self.leak_time_s:g} s): give the pulse period")
        return float(domain_wall.leak_factor(interval_s, self.leak_time_s))

    def at_width(self, width_s: float, name: str = "", source: str = "") -> DomainWallCalibration:
        """The law at another pulse width (dx = mu (J - J_dep) t holds at any width)."""
        if not (isinstance(width_s, (int, float)) and math.isfinite(width_s) and width_s > 0):
            raise CalibrationFileError(f"pulse width_s must be a finite number > 0, got {width_s!r}")
        return self if _same_width(self.width_s, width_s) else dataclasses.replace(self, width_s=float(width_s))

    def to_dict(self, chip_width_s: float | None = None) -> dict:
        out = {"size": self.size} if self.size is not None else {}
        out["model"] = self.model
        for key in DOMAIN_WALL_NUMBERS + DOMAIN_WALL_UNCERTAINTIES + ("reset_fail_probability",):
            value = getattr(self, key)
            if key == "width_s" and chip_width_s is not None and _same_width(value, chip_width_s):
                continue
            if value is not None:
                out[key] = float(value)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class ElementCalibration:
    """A calibrated multi-level synapse or CeLU neuron (models ``ferrimagnet_synapse``,
    ``dw_quantized_synapse``, ``celu_neuron``): its numbers by key (:data:`ELEMENT_KEYS`, the
    module docstring), ``cal["nu_ltp"]``, and its law at those numbers."""

    model: str
    values: Mapping[str, float]
    size: str | None = None
    width_s: float | None = None       # the programming / input pulse width; None: the chip's
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key: str):
        try:
            return self.values[key]
        except KeyError:
            raise CalibrationFileError(f"this {self.model} calibration has no {key!r} (it holds "
                                       f"{sorted(self.values)})") from None

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def _need(self, *models: str) -> None:
        if self.model not in models:
            raise CalibrationFileError(f"a {self.model} calibration has no such law (it is one of "
                                       f"{models}'s)")

    def ltp_conductance(self, pulses):
        """G after ``pulses`` nominal potentiating pulses from Gmin (ferrimagnet_synapse)."""
        self._need("ferrimagnet_synapse")
        return synapse_conductance.ltp_conductance(pulses, self["gmin_S"], self["gmax_S"],
                                                   self["nu_ltp"], self["n_pulses"])

    def ltd_conductance(self, pulses):
        """G after ``pulses`` nominal depressing pulses from Gmax (ferrimagnet_synapse)."""
        self._need("ferrimagnet_synapse")
        return synapse_conductance.ltd_conductance(pulses, self["gmin_S"], self["gmax_S"],
                                                   self["nu_ltd"], self["n_pulses"])

    def step_conductance(self, g_S, steps, direction):
        """G after a pulse of ``steps`` nominal steps in ``direction`` (+1 / -1) from ``g_S``,
        without write noise (ferrimagnet_synapse; numpy or torch)."""
        self._need("ferrimagnet_synapse")
        nu = self["nu_ltp"] if direction > 0 else self["nu_ltd"]
        return synapse_conductance.step_conductance(g_S, steps, direction, self["gmin_S"],
                                                    self["gmax_S"], nu, self["n_pulses"])

    def level_conductances(self) -> np.ndarray:
        """G_k of the K notches (dw_quantized_synapse)."""
        self._need("dw_quantized_synapse")
        return notched_wall.level_conductance(np.arange(self["levels"]), self["levels"],
                                              self["gmin_S"], self["gmax_S"])

    def output_ohm(self, current_A):
        """R_xy = R0 + g celu(I; a) (celu_neuron; numpy or torch)."""
        self._need("celu_neuron")
        return celu.hall_output_ohm(current_A, self["offset_ohm"], self["gain_ohm_per_A"],
                                    self["alpha_A"])

    def switching_probability(self, voltage_V, width_s, to_state: str):
        """P_sw of a pulse of ``voltage_V`` (its magnitude, over the junction) and ``width_s``
        toward ``to_state`` ("P" or "AP"; stt_synapse): the law at its fitted numbers."""
        self._need("stt_synapse")
        return stt_switching.probability(voltage_V, width_s, self[_VC_KEY[to_state]],
                                         self["delta"], self["tau0_s"], self["exponent"])

    def voltage_for_probability(self, probability, width_s, to_state: str) -> float:
        """The pulse amplitude (V over the junction) that switches toward ``to_state`` with
        ``probability`` at ``width_s`` (stt_synapse)."""
        self._need("stt_synapse")
        return float(stt_switching.voltage_for_probability(
            probability, width_s, self[_VC_KEY[to_state]], self["delta"], self["tau0_s"],
            self["exponent"]))

    def at_width(self, width_s: float, name: str = "", source: str = "") -> ElementCalibration:
        """Itself at its own width; a synapse's steps hold at their programming width only
        (an stt_synapse's law holds at every width)."""
        if not (isinstance(width_s, (int, float)) and math.isfinite(width_s) and width_s > 0):
            raise CalibrationFileError(f"pulse width_s must be a finite number > 0, got {width_s!r}")
        if _same_width(self.width_s, width_s) or self.model == "stt_synapse":
            return self
        where = f" of device {name!r}" if name else ""
        raise CalibrationFileError(
            f"the {self.model} calibration{where}{' (' + source + ')' if source else ''} holds at "
            f"width_s={self.width_s:g} s, not {float(width_s):g} s: program at {self.width_s:g} s "
            f"or characterize at {float(width_s):g} s")

    def to_dict(self, chip_width_s: float | None = None) -> dict:
        out = {"size": self.size} if self.size is not None else {}
        out["model"] = self.model
        if self.width_s is not None and not (chip_width_s is not None and _same_width(self.width_s, chip_width_s)):
            out["width_s"] = float(self.width_s)
        out.update({k: v for k, v in self.values.items()})
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

    def require_models(self, models: Iterable[str], use: str) -> ChipCalibration:
        """``self`` when every device's model is one of ``models``; else one
        :class:`CalibrationFileError` naming the first other device, its model and ``use``
        (e.g. a domain_wall file handed to a switching-neuron network)."""
        models = tuple(models)
        for name, dev in self.devices.items():
            if dev.model not in models:
                raise CalibrationFileError(
                    f"the calibration ({self.source or 'no source'}) holds device {name!r} as a "
                    f"{dev.model} model; {use} needs {' or '.join(models)}: give a calibration "
                    f"of that kind (a switching survey writes neel_brown, ifr-survey domain_wall)")
        return self

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


def _domain_wall(entry: Mapping, where: str, top_width: float | None) -> DomainWallCalibration:
    numbers = {key: _number(entry, key, where) for key in DOMAIN_WALL_NUMBERS}
    errors = {key: _number(entry, key, where, uncertainty=True) for key in DOMAIN_WALL_UNCERTAINTIES}
    if numbers["width_s"] is None and top_width is None:
        raise CalibrationFileError(f"{where}: missing key 'width_s' (the write pulse width of "
                                   f"the law: give it at the top level or per device)")
    numbers["width_s"] = numbers["width_s"] or top_width
    if numbers["pinning_rel"] > MAX_PINNING_REL:
        raise CalibrationFileError(f"{where}['pinning_rel']: pinning_rel must be <= "
                                   f"{MAX_PINNING_REL} (the domain-wall law's range), got "
                                   f"{numbers['pinning_rel']!r}: refit the device")
    for key, bound in _DOMAIN_WALL_BOUNDS.items():   # a bench file's own bound for the truth
        high = dw_mtj_ifr_neuron.KIND.parameters[bound].high
        if numbers[key] is not None and numbers[key] > high:
            raise CalibrationFileError(f"{where}[{key!r}]: {key} {numbers[key]!r} is over {high:g}, "
                                       f"the largest a bench file allows ({bound}): refit the device")
    p_fail = _number(entry, "reset_fail_probability", where, uncertainty=True)
    if p_fail is not None and not p_fail < 1:
        raise CalibrationFileError(f"{where}['reset_fail_probability']: reset_fail_probability "
                                   f"must be below 1 (a probability), got {p_fail!r}")
    known = {"size", "model", "reset_fail_probability", *DOMAIN_WALL_NUMBERS,
             *DOMAIN_WALL_UNCERTAINTIES}
    extra = {k: v for k, v in entry.items() if k not in known}
    return DomainWallCalibration(size=_label(entry, "size", where, "M"), reset_fail_probability=p_fail,
                                 extra=extra, **numbers, **errors)


def _element_value(entry: Mapping, key: str, rule: str, where: str) -> float | int:
    value = entry[key]
    at = f"{where}[{key!r}]"
    if rule == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CalibrationFileError(f"{at}: {key} must be an integer >= 1, got {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationFileError(f"{at}: {key} must be a finite number, got {value!r}")
    bad = {"positive": not value > 0, "nonnegative": value < 0,
           "probability": not 0 <= value <= 1, "real": False}[rule]
    if bad:
        what = {"positive": "> 0", "nonnegative": ">= 0", "probability": "in [0, 1]"}[rule]
        raise CalibrationFileError(f"{at}: {key} must be {what}, got {value!r}")
    return float(value)


def _element(model: str, entry: Mapping, where: str, top_width: float | None) -> ElementCalibration:
    """A synapse or CeLU-neuron entry, every key by its rule (:data:`ELEMENT_KEYS`)."""
    width = _number(entry, "width_s", where) or top_width
    if width is None:
        raise CalibrationFileError(f"{where}: missing key 'width_s' (the programming pulse width: "
                                   f"give it at the top level or per device)")
    rules = ELEMENT_KEYS[model]
    values = {key: _element_value(entry, key, rule, where) for key, rule in rules.items() if key in entry}
    if "gmax_S" in rules and not values["gmax_S"] > values["gmin_S"]:
        raise CalibrationFileError(f"{where}['gmax_S']: gmax_S {values['gmax_S']!r} S must be over "
                                   f"gmin_S {values['gmin_S']!r} S: refit the device")
    bounds = kinds.kind(_KIND_OF_ELEMENT_MODEL[model]).parameters
    for key, value in values.items():   # a number past the bench file's range for the truth
        if key in bounds and rules[key] != "probability" and value > bounds[key].high:
            raise CalibrationFileError(f"{where}[{key!r}]: {key} {value!r} is over "
                                       f"{bounds[key].high:g}, the largest a bench file allows: "
                                       f"refit the device")
    if model == "stt_synapse" and not values["g_p_S"] > values["g_ap_S"]:
        raise CalibrationFileError(f"{where}['g_p_S']: g_p_S {values['g_p_S']!r} S must be over "
                                   f"g_ap_S {values['g_ap_S']!r} S (P conducts more): refit the junction")
    if model == "dw_quantized_synapse":
        if values["levels"] < 2 or not values["step_probability"] > 0 or not values["overshoot_probability"] < 1:
            raise CalibrationFileError(f"{where}: a quantized synapse needs levels >= 2, "
                                       f"step_probability > 0 and overshoot_probability < 1, got "
                                       f"{values['levels']}, {values['step_probability']!r}, "
                                       f"{values['overshoot_probability']!r}")
    extra = {k: v for k, v in entry.items() if k not in {"size", "model", "width_s", *rules}}
    return ElementCalibration(model, values, _label(entry, "size", where, "F"), width, extra)


def _device(name, entry, where: str, top_width: float | None):
    if not isinstance(entry, Mapping):
        raise CalibrationFileError(f"{where} must be an object, got {str(entry)[:60]!r}")
    model = entry.get("model")
    if model not in MODELS:
        raise CalibrationFileError(f"{where}['model']: model {model!r} is not one of {MODELS}")
    for key in REQUIRED[model]:
        if key not in entry:
            raise CalibrationFileError(f"{where}: a {model} curve needs {key!r} (missing key; "
                                       f"required: model, {', '.join(REQUIRED[model])}, width_s)")
    if model == "domain_wall":
        return _domain_wall(entry, where, top_width)
    if model in ELEMENT_KEYS:
        return _element(model, entry, where, top_width)
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
    "DomainWallCalibration",
    "ELEMENT_KEYS",
    "ElementCalibration",
    "load_calibration",
    "parse_calibration",
    "save_calibration",
]
