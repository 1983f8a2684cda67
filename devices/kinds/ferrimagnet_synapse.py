"""Ferrimagnetic SOT synapse: a multi-domain ferrimagnet (Co-Gd) on a heavy-metal write line,
its conductance stepped up or down by each write pulse and read through a junction on top.

The conductance follows :mod:`devices.laws.synapse_conductance` (LTP from Gmin, LTD from
Gmax, nonlinearity nu per direction, N nominal pulses end to end, cycle-to-cycle write noise;
a pulse's step set by its current density over a threshold and its width). The *programming
pulse* that defines one step (``write_density_A_m2``, ``write_width_s``) is the lab's design
choice in the bench file: the simulator builds its truth from it and the drivers play it, so
both read it here (:func:`programming`). The write-line parameters below are shared by the
other synapse and neuron kinds on a heavy-metal line.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.benchschema import Integer, Number
from devices.kinds import DeviceKind
from devices.laws import synapse_conductance


def _positive(high: float, unit: str) -> Number:
    return Number(0.0, high, unit, open_low=True)


#: the heavy-metal write line a kind on one shares (and its electromigration damage)
WRITE_LINE_PARAMETERS = {
    "hm_thickness_m": _positive(1e-6, "m"),
    "resistivity_ohm_m": _positive(1e-3, "ohm m"),
    "squares": _positive(1e4, ""),
    "series_resistance_ohm": Number(0.0, 1e8, "ohm"),
    "electromigration_A_m2": _positive(1e14, "A/m^2"),
    "read_noise_ohm": Number(0.0, 1e6, "ohm"),
}
#: the programming pulse a synapse kind is designed for (one nominal step)
PROGRAMMING_PARAMETERS = {
    "write_density_A_m2": _positive(1e13, "A/m^2"),
    "write_width_s": _positive(1e-3, "s"),
}
#: a synapse's conductance range
CONDUCTANCE_PARAMETERS = {
    "gmin_S": _positive(1.0, "S"),
    "gmax_S": _positive(1.0, "S"),
}

KIND = DeviceKind(
    "ferrimagnet_synapse",
    "ferrimagnetic SOT synapse (conductance stepped by +/- pulses, LTP/LTD)",
    synapse_conductance, "analog_synapse",
    spreads=("gmin_rel", "gmax_rel", "nu_rel", "resistance_rel"),
    parameters={
        **WRITE_LINE_PARAMETERS, **PROGRAMMING_PARAMETERS, **CONDUCTANCE_PARAMETERS,
        "nu_ltp": Number(0.0, 20.0, ""),
        "nu_ltd": Number(0.0, 20.0, ""),
        "n_pulses": Integer(2, 4096, "nominal pulses from Gmin to Gmax"),
        "write_noise": Number(0.0, 2.0, "(of a mean step)"),
        "threshold_density_A_m2": _positive(1e13, "A/m^2"),
    })

PROGRAMMING_DEFAULTS = {
    "write_density_A_m2": 5.0e10,   # SOT switching of Co-Gd on Pt: ~1e10-1e11 A/m^2
    "write_width_s": 20e-9,         # tens of ns pulses in the seed's synapse
}


@dataclass(frozen=True)
class Programming:
    """The design programming pulse of a synapse group: one nominal step."""

    density_A_m2: float
    width_s: float


def programming(group, defaults=PROGRAMMING_DEFAULTS) -> Programming:
    """The programming pulse of a bench-file group of a synapse kind (its overrides, else
    the kind's ``defaults``)."""
    p = {**defaults, **{k: v for k, v in group.params.items() if k in defaults}}
    return Programming(float(p["write_density_A_m2"]), float(p["write_width_s"]))


__all__ = ["CONDUCTANCE_PARAMETERS", "KIND", "PROGRAMMING_DEFAULTS", "PROGRAMMING_PARAMETERS",
           "Programming", "WRITE_LINE_PARAMETERS", "programming"]
