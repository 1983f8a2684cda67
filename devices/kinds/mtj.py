"""STT magnetic tunnel junction: a circular junction switched by spin-transfer torque (the
current sign picks the state), read by its tunnel magnetoresistance; always a macrospin.

Its write path is not an ohmic line: the leads are in series with the barrier, whose
resistance depends on the state a write starts from (R_P, or R_AP = R_P (1 + TMR(V))) and,
in the antiparallel state, on the barrier's own bias (TMR(V) = TMR0 / (1 + (V / V_half)^2),
:mod:`devices.laws.stt_switching`). :class:`JunctionWritePath` is that law with measured
parameters; the one current <-> level conversion (:mod:`drivers.limits`) takes it in place
of a line resistance. The switching law's exponent n is fitted (an STT macrospin has n = 2,
Taniguchi-Imamura, not the linear n = 1); ``JunctionKind.exponent`` is the n used where the
data cannot tell it (one pulse width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from devices.benchschema import Number
from devices.kinds import NEEL_BROWN_PARAMETERS, DeviceKind
from devices.laws import neel_brown, stt_switching

#: bisection steps of the barrier-voltage solves (2^-60 of the bracket: float precision)
_STEPS = 60


def _increasing_root(f, high):
    """x in [0, high] with f(x) = 0 for f increasing from f(0) <= 0 (arrays, element-wise)."""
    low, high = np.zeros_like(high), np.array(high, dtype=float)
    for _ in range(_STEPS):
        mid = 0.5 * (low + high)
        above = f(mid) > 0
        high, low = np.where(above, mid, high), np.where(above, low, mid)
    return 0.5 * (low + high)


@dataclass(frozen=True)
class JunctionWritePath:
    """A junction's write path with measured parameters: ``leads_ohm`` in series with a
    barrier of ``r_p_ohm``, ``tmr0``, ``half_bias_V`` (inf: no fall of TMR seen) in the state
    writes start from (``parallel`` or not). Currents are signed, their magnitude counts."""

    leads_ohm: float
    r_p_ohm: float
    tmr0: float
    half_bias_V: float
    parallel: bool

    def junction_ohm(self, barrier_V):
        """The barrier's resistance at ``barrier_V`` over it (the law of the kind)."""
        return stt_switching.resistance_ohm(self.r_p_ohm, self.tmr0, self.half_bias_V,
                                            np.abs(barrier_V), self.parallel)

    def barrier_voltage_V(self, current_A):
        """|V| over the barrier carrying ``current_A``: V = |I| R_j(V), solved (R_j falls with
        V, so V - |I| R_j(V) increases from -|I| R_j(0) at V = 0 to >= 0 at |I| R_j(0))."""
        current = np.abs(np.asarray(current_A, dtype=float))
        return _increasing_root(lambda v: v - current * self.junction_ohm(v),
                                current * self.junction_ohm(0.0))

    def resistance_at_current_ohm(self, current_A):
        """Two-terminal resistance of the path while it carries ``current_A``."""
        current = np.abs(np.asarray(current_A, dtype=float))
        return self.leads_ohm + self.junction_ohm(self.barrier_voltage_V(current))

    def current_at_emf_A(self, emf_V, series_ohm: float):
        """Current (signed) that an open-circuit ``emf_V`` behind ``series_ohm`` drives through
        the path: |EMF| = V_j (1 + (R_series + R_leads) / R_j(V_j)) rises with the barrier
        voltage V_j, solved for it; then I = V_j / R_j(V_j)."""
        emf = np.asarray(emf_V, dtype=float)
        outside = series_ohm + self.leads_ohm
        barrier = _increasing_root(lambda v: v * (1.0 + outside / self.junction_ohm(v)) - np.abs(emf),
                                   np.abs(emf))
        return np.sign(emf) * barrier / self.junction_ohm(barrier)

    def to_dict(self) -> dict:
        return {"leads_ohm": self.leads_ohm, "r_p_ohm": self.r_p_ohm, "tmr0": self.tmr0,
                "half_bias_V": self.half_bias_V if math.isfinite(self.half_bias_V) else None,
                "parallel": self.parallel}


@dataclass(frozen=True)
class JunctionKind(DeviceKind):
    """A kind whose write path is a tunnel junction (``write_path``: the procedures measure its
    parameters) and whose Neel-Brown exponent is fitted, ``exponent`` where it cannot be."""

    write_path: type = JunctionWritePath
    exponent: float = 2.0


KIND = JunctionKind("mtj", "STT-MTJ (TMR read, current-sign selects the state)", neel_brown,
                    "switching_neuron", spreads=("delta_rel", "ic0_rel", "resistance_rel"),
                    parameters={
                        **NEEL_BROWN_PARAMETERS,
                        "ra_ohm_m2": Number(0.0, 1e-6, "ohm m^2", open_low=True),
                        "tmr": Number(0.0, 100.0, "", open_low=True),
                        "tmr_half_bias_V": Number(0.0, 100.0, "V", open_low=True),
                        "breakdown_V": Number(0.0, 100.0, "V", open_low=True),
                    })
