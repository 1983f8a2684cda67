"""Stochastic STT switching of a binary MTJ synapse, driven by the voltage over its barrier,
and its bias-dependent tunnel magnetoresistance: written once for the simulator, the fits
and the learning side.

    P_sw(V, t) = 1 - exp(-t / tau),   tau = tau0 exp(Delta (1 - |V| / Vc)^n)

is the Neel-Brown form of :mod:`devices.laws.neel_brown` with the drive a voltage and the
critical drive Vc, one Vc per direction (P -> AP and AP -> P differ: the spin-transfer
efficiency is not symmetric). ``n`` = 2 for an STT macrospin (Taniguchi-Imamura), fitted,
not assumed. The junction's resistance is R_P in the parallel state and R_P (1 + TMR(V)) in
the antiparallel one, TMR(V) = TMR0 / (1 + (V / V_half)^2): the antiparallel conductance
rises with bias, so a crossbar's read current is not exactly linear in V_read.
"""

from __future__ import annotations

import numpy as np

from devices.laws import neel_brown


def probability(voltage_V, width_s, vc_V, delta, tau0_s=1e-9, exponent=2.0):
    """P_sw of one pulse of ``voltage_V`` over the barrier (its magnitude) and ``width_s``."""
    return neel_brown.probability(voltage_V, width_s, vc_V, delta, tau0_s, exponent)


def log_rate(voltage_V, width_s, vc_V, delta, tau0_s=1e-9, exponent=2.0):
    """ln(t / tau) of a pulse: the fits' linear predictor (P = 1 - exp(-e^that))."""
    return neel_brown.log_rate(voltage_V, width_s, vc_V, delta, tau0_s, exponent)


def voltage_for_probability(probability_, width_s, vc_V, delta, tau0_s=1e-9, exponent=2.0):
    """The barrier voltage that switches with ``probability_`` in a pulse of ``width_s``."""
    return neel_brown.current_for_probability(probability_, width_s, vc_V, delta, tau0_s, exponent)


def tmr_at_bias(tmr0, bias_V, half_bias_V):
    """TMR(V) = TMR0 / (1 + (V / V_half)^2): the magnetoresistance falls with bias."""
    return tmr0 / (1.0 + (np.asarray(bias_V, dtype=float) / half_bias_V) ** 2)


def resistance_ohm(r_p_ohm, tmr0, half_bias_V, bias_V, parallel):
    """The junction's resistance at a bias: R_P when ``parallel``, R_P (1 + TMR(V)) else."""
    tmr = tmr_at_bias(tmr0, bias_V, half_bias_V)
    return np.where(parallel, 1.0, 1.0 + tmr) * r_p_ohm


__all__ = ["log_rate", "probability", "resistance_ohm", "tmr_at_bias", "voltage_for_probability"]
