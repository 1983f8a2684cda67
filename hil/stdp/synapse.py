"""The calibrated binary STT-MTJ synapse: its two conductances and P_sw(V, t) per write direction.

A synapse is one junction, parallel (P, high conductance: weight 1) or antiparallel (AP, low:
weight 0). A write pulse of amplitude V and width t switches it with the Neel-Brown
probability written in voltage,

    P_sw(V, t) = 1 - exp(-t / tau),   tau = tau0 exp(Delta (1 - |V| / Vc) ** n),

with its own (Vc, Delta, n) for AP -> P (potentiation) and P -> AP (depression). The law is
:mod:`devices.laws.stt_switching` (the simulator's and the fits' too). The STDP
rule asks for a switching *probability*; :meth:`SwitchingLaw.amplitude_for` inverts the
calibrated typical law to the amplitude that gives it at the pulse width played, and each
junction then switches with its own law at that amplitude (its D2D spread is what the rule
meets on a real chip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from devices.laws import stt_switching
from hil.stdp.config import StdpConfigError

TO_P, TO_AP = "P", "AP"


class SynapseModelError(StdpConfigError):
    """A synapse model or a pulse that cannot be built as asked (a user error: one line)."""


@dataclass(frozen=True)
class SwitchingLaw:
    """P_sw(V, t) of one write direction (amplitudes are magnitudes in volts)."""

    vc_V: float
    delta: float
    exponent: float = 2.0
    tau0_s: float = 1e-9

    def probability(self, amplitude_V, width_s):
        return stt_switching.probability(np.abs(amplitude_V), width_s, self.vc_V, self.delta,
                                         self.tau0_s, self.exponent)

    def amplitude_for(self, probability: float, width_s: float) -> float:
        """The amplitude whose pulse of ``width_s`` switches with ``probability``.

        ln(t / tau0) - Delta u^n = ln(-ln(1 - p)) gives u, and V = Vc (1 - u); a probability the
        attempt time caps (u would be negative: more than one attempt per tau0) is refused."""
        if not 0.0 < probability < 1.0 or not math.isfinite(probability):
            raise SynapseModelError(f"switching probability {probability!r} must lie in (0, 1)")
        barrier = math.log(width_s / self.tau0_s) - math.log(-math.log1p(-probability))
        if barrier <= 0:
            raise SynapseModelError(
                f"P_sw = {probability:g} at {width_s:g} s needs more than one reversal attempt per "
                f"tau0 = {self.tau0_s:g} s; ask a lower probability or a longer pulse")
        return float(stt_switching.voltage_for_probability(probability, width_s, self.vc_V,
                                                           self.delta, self.tau0_s, self.exponent))


@dataclass(frozen=True)
class SynapseModel:
    """The calibrated synapse: typical laws and conductances, and the D2D spreads around them.

    ``spreads``: relative standard deviations per junction of ``vc_rel`` (both directions),
    ``delta_rel`` and ``g_rel`` (both conductances)."""

    to_p: SwitchingLaw            # AP -> P: potentiation (weight 0 -> 1)
    to_ap: SwitchingLaw           # P -> AP: depression (weight 1 -> 0)
    g_p_S: float
    g_ap_S: float
    spreads: dict = field(default_factory=dict)
    source: str = "typical parameters"

    def law(self, to_state: str) -> SwitchingLaw:
        if to_state not in (TO_P, TO_AP):
            raise SynapseModelError(f"to_state {to_state!r} is not 'P' or 'AP'")
        return self.to_p if to_state == TO_P else self.to_ap

    def pulse(self, to_state: str, probability: float, width_s: float,
              max_amplitude_V: float | None = None) -> float:
        """The amplitude (V) of the write pulse toward ``to_state`` that switches the typical
        junction with ``probability``; one above ``max_amplitude_V`` (the bench's limit) is
        refused before anything is sent."""
        amplitude = self.law(to_state).amplitude_for(probability, width_s)
        if max_amplitude_V is not None and amplitude > max_amplitude_V:
            raise SynapseModelError(
                f"P_sw = {probability:g} toward {to_state} at {width_s:g} s needs {amplitude:.3f} V, "
                f"above the bench's {max_amplitude_V:g} V pulse limit; ask a lower probability "
                f"or a longer pulse (--width-s)")
        return amplitude

    def weight_of(self, conductance_S):
        """Conductance -> weight: 0 at the typical G_AP, 1 at the typical G_P."""
        return (np.asarray(conductance_S) - self.g_ap_S) / (self.g_p_S - self.g_ap_S)


def typical_model() -> SynapseModel:
    """The design junction of ``examples/benches/stt_synapse_crossbar.toml`` (60 nm CoFeB/MgO,
    RA 10 ohm um^2, TMR 150 %, Delta ~ 44, Vc 0.65 V for AP -> P and 0.9 V for P -> AP,
    Taniguchi-Imamura n = 2, 5 % D2D spreads), used until a calibration file gives the
    fitted one."""
    r_p = 10e-12 / (math.pi / 4 * 60e-9 ** 2)
    return SynapseModel(to_p=SwitchingLaw(0.65, 44.0, 2.0), to_ap=SwitchingLaw(0.90, 44.0, 2.0),
                        g_p_S=1 / r_p, g_ap_S=1 / (r_p * 2.5),
                        spreads={"vc_rel": 0.05, "delta_rel": 0.05, "g_rel": 0.05})
