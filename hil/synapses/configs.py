"""Device configs: what a synapse or neuron device does, apart from the layers that use it.

A layer is handed a :class:`WeightConfig` (its synapse device and how weights map onto it) and
never looks at the kind: the same ``DeviceLinear`` runs a ferrimagnet synapse with 32 states
or a domain-wall synapse with 3 notches. Each config is plain, frozen data, checked when
built (:class:`SynapseConfigError`, one line naming the value and its range), so it can come
from the typical values below, from a calibration file (:func:`synapse_from_calibration`) or
from a bench file's truth (:mod:`hil.synapses.simulated`).

Conventions (the kinds' laws, ``DESIGN.md`` "Multi-level synapses"): a synapse has ``n_states``
conductance levels and starts at the lowest (G_min). ``law`` says how a pulse moves it:

``ltp_ltd``  the ferrimagnet (:mod:`devices.laws.synapse_conductance`): G moves along the LTP
             curve (nonlinearity ``nu_ltp``) when potentiated, along the LTD mirror (``nu_ltd``)
             when depressed, N = n_states - 1 nominal pulses end to end, each step with
             cycle-to-cycle noise ``write_noise`` (in mean steps);
``notched``  the domain-wall track (:mod:`devices.laws.notched_wall`): the wall sits in one of
             n_states notches, G linear in the notch; a pulse moves it with probability
             ``step_probability`` (p(J)), one notch further with ``overshoot_probability``.

A read is 1 / (1 / G + read noise) with ``read_noise_ohm`` rms, as the read SMU sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping


class SynapseConfigError(ValueError):
    """A device or weight setting that cannot be used (the value and its range are named)."""


def _check(name: str, value, low: float, high: float, what: str = "") -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and low <= value <= high
    if not ok:
        raise SynapseConfigError(f"{what}{name} = {value!r} is outside [{low:g}, {high:g}]; "
                                 f"give a finite number in that range")


#: D2D spreads a synapse config may draw (lognormal relative spreads of G_min, G_max and of
#: both nonlinearities together, as the kinds' truths draw them; absolute spread of p(J))
SYNAPSE_SPREADS = ("gmin_rel", "gmax_rel", "nu_rel", "step_probability_abs")
#: D2D spreads of a CeLU neuron (lognormal relative spreads of alpha and of the gain)
NEURON_SPREADS = ("alpha_rel", "gain_rel")
LAWS = ("ltp_ltd", "notched")


def _check_spreads(spreads: Mapping[str, float], known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(spreads) - set(known))
    if unknown:
        raise SynapseConfigError(f"{what}D2D spread(s) {unknown} unknown; known: {list(known)}")
    for key, value in spreads.items():
        _check(key, value, 0.0, 1.0, what)


@dataclass(frozen=True)
class SynapseDevice:
    """One multi-level synapse kind: its levels, its law's parameters and its non-idealities."""

    kind: str
    law: str
    n_states: int
    g_min_S: float
    g_max_S: float
    nu_ltp: float = 0.0
    nu_ltd: float = 0.0
    write_noise: float = 0.0               # c2c std of one step, in mean steps (ltp_ltd)
    step_probability: float = 1.0          # p(J): a pulse moves the wall at all (notched)
    overshoot_probability: float = 0.0     # a moving wall goes one notch further (notched)
    read_noise_ohm: float = 0.0            # rms of a resistance read
    d2d: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        what = f"synapse {self.kind!r}: "
        if self.law not in LAWS:
            raise SynapseConfigError(f"{what}law {self.law!r} is not one of {LAWS}")
        if not isinstance(self.n_states, int) or isinstance(self.n_states, bool) \
                or not 2 <= self.n_states <= 4097:
            raise SynapseConfigError(f"{what}n_states = {self.n_states!r} must be an integer in "
                                     f"[2, 4097]")
        _check("g_min_S", self.g_min_S, 0.0, 1.0, what)
        _check("g_max_S", self.g_max_S, 0.0, 1.0, what)
        if not self.g_max_S > self.g_min_S > 0:
            raise SynapseConfigError(f"{what}need 0 < g_min_S < g_max_S, got {self.g_min_S!r}, "
                                     f"{self.g_max_S!r}")
        _check("nu_ltp", self.nu_ltp, 0.0, 20.0, what)
        _check("nu_ltd", self.nu_ltd, 0.0, 20.0, what)
        _check("write_noise", self.write_noise, 0.0, 2.0, what)
        _check("step_probability", self.step_probability, 0.01, 1.0, what)
        _check("overshoot_probability", self.overshoot_probability, 0.0, 0.5, what)
        _check("read_noise_ohm", self.read_noise_ohm, 0.0, 1e6, what)
        _check_spreads(self.d2d, SYNAPSE_SPREADS, what)
        object.__setattr__(self, "d2d", dict(self.d2d))

    @property
    def pulses_end_to_end(self) -> int:
        return self.n_states - 1

    def with_states(self, n_states: int) -> "SynapseDevice":
        return replace(self, n_states=n_states)

    def ideal(self) -> "SynapseDevice":
        """The same levels without noise, stochasticity or D2D spread (quantization alone)."""
        return replace(self, write_noise=0.0, step_probability=1.0, overshoot_probability=0.0,
                       read_noise_ohm=0.0, d2d={})

    def describe(self) -> str:
        if self.law == "notched":
            law = f"p(step) {self.step_probability:.2f}, overshoot {self.overshoot_probability:g}"
        else:
            law = f"nu {self.nu_ltp:g}/{self.nu_ltd:g}, write noise {self.write_noise:g} step"
        return (f"{self.kind}: {self.n_states} levels, G {self.g_min_S * 1e6:.4g}-"
                f"{self.g_max_S * 1e6:.4g} uS, {law}")


@dataclass(frozen=True)
class CeLUNeuronDevice:
    """A ferrimagnet CeLU neuron (:mod:`devices.laws.celu`): R_xy = R0 + gain celu(I; alpha).

    A layer drives it with I = x ``current_scale_A`` (default: the typical alpha) and reads
    y = (R_xy - R0) / (typical gain x current scale), so a typical device is celu(x; 1);
    ``read_noise_ohm`` is the rms of one Hall read."""

    alpha_A: float = 3e-4
    gain_ohm_per_A: float = 1e3
    r_offset_ohm: float = 5.0
    read_noise_ohm: float = 0.0
    current_scale_A: float | None = None
    d2d: Mapping[str, float] = field(default_factory=dict)
    kind: str = "ferrimagnet_celu_neuron"

    def __post_init__(self):
        what = f"neuron {self.kind!r}: "
        _check("alpha_A", self.alpha_A, 1e-9, 1.0, what)
        _check("gain_ohm_per_A", self.gain_ohm_per_A, 1e-6, 1e9, what)
        _check("r_offset_ohm", self.r_offset_ohm, -1e6, 1e6, what)
        _check("read_noise_ohm", self.read_noise_ohm, 0.0, 1e3, what)
        if self.current_scale_A is None:
            object.__setattr__(self, "current_scale_A", self.alpha_A)
        _check("current_scale_A", self.current_scale_A, 1e-9, 1.0, what)
        _check_spreads(self.d2d, NEURON_SPREADS, what)
        object.__setattr__(self, "d2d", dict(self.d2d))

    @property
    def output_scale_ohm(self) -> float:
        """The Hall swing of one unit of the normalised output (typical gain x current scale)."""
        return self.gain_ohm_per_A * self.current_scale_A

    @property
    def read_noise(self) -> float:
        """One read's noise in units of the normalised output."""
        return self.read_noise_ohm / self.output_scale_ohm


def celu_neuron(**changes) -> CeLUNeuronDevice:
    """Typical ferrimagnet CeLU neuron (the kind's defaults; 10 % D2D of alpha and gain)."""
    values = dict(alpha_A=3e-4, gain_ohm_per_A=1e3, r_offset_ohm=5.0, read_noise_ohm=0.01,
                  d2d={"alpha_rel": 0.1, "gain_rel": 0.1})
    values.update(changes)
    return CeLUNeuronDevice(**values)


#: up to this many levels a device is "few-level" (weight_range 2, else 4)
FEW_LEVELS = 8


@dataclass(frozen=True)
class WeightConfig:
    """How a layer's weights sit on synapse devices (the layer's device config).

    A weight is a complementary pair, w = w_max (G+ - G-) / (G_max - G_min) of the typical
    device, with G+ at level k and G- at level N-1-k: N weight levels, symmetric about 0
    (2 levels: binary +-w_max; 3: ternary). ``weight_range`` sets w_max = weight_range /
    sqrt(fan_in); None picks it by the levels (:data:`FEW_LEVELS`): 2 for a device of few
    levels, whose lowest nonzero level must stay within the weights' spread (at 4 a ternary
    device's zero level swallows every initial weight, 1 / sqrt(fan_in) at most, and ex-situ
    training never leaves it), 4 for a fine-grained device, whose trained weights outgrow
    2 / sqrt(fan_in) (clamping them there costs the CNN ~2.5 pp). In situ, a pair is
    programmed when its shadow weight passes the midpoint to the next level by ``margin`` of
    the level spacing (hysteresis against noise and jitter)."""

    device: SynapseDevice
    margin: float = 0.2
    weight_range: float | None = None

    def __post_init__(self):
        _check("margin", self.margin, 0.0, 0.49, "weights: ")
        if self.weight_range is None:
            object.__setattr__(self, "weight_range", 2.0 if self.device.n_states <= FEW_LEVELS else 4.0)
        _check("weight_range", self.weight_range, 1e-3, 100.0, "weights: ")


def ferrimagnet_synapse(n_pulses: int = 50, **changes) -> SynapseDevice:
    """Typical Co-Gd ferrimagnet SOT synapse (near linear and symmetric; the kind's defaults)."""
    values = dict(kind="ferrimagnet_synapse", law="ltp_ltd", n_states=n_pulses + 1, g_min_S=2e-4,
                  g_max_S=4e-4, nu_ltp=1.0, nu_ltd=1.5, write_noise=0.15, read_noise_ohm=2.0,
                  d2d={"gmin_rel": 0.05, "gmax_rel": 0.05, "nu_rel": 0.1})
    values.update(changes)
    return SynapseDevice(**values)


def dw_quantized_synapse(levels: int = 3, **changes) -> SynapseDevice:
    """Typical notched domain-wall synapse (2, 3 or 5 notches; p(J) ~ 0.7 at its design pulse)."""
    values = dict(kind="dw_quantized_synapse", law="notched", n_states=levels, g_min_S=2e-4,
                  g_max_S=4e-4, step_probability=0.7, overshoot_probability=0.03,
                  read_noise_ohm=2.0, d2d={"gmin_rel": 0.05, "gmax_rel": 0.05,
                                           "step_probability_abs": 0.1})
    values.update(changes)
    return SynapseDevice(**values)


#: typical devices by kind name
TYPICAL = {"ferrimagnet_synapse": ferrimagnet_synapse, "dw_quantized_synapse": dw_quantized_synapse}
