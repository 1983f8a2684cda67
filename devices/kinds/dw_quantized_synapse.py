"""Quantized domain-wall synapse: one wall in a track with K notches (K = 2, 3, 5 levels in
the seed), moved a notch per write pulse with the depinning probability p(J) (thermally
activated), overshooting a notch now and then, read through a junction over the track
(:mod:`devices.laws.notched_wall`). Written on a heavy-metal line like the ferrimagnetic
synapse (:mod:`devices.kinds.ferrimagnet_synapse`: line, programming pulse, conductance range).
"""

from __future__ import annotations

from devices.benchschema import Integer, Number
from devices.kinds import DeviceKind
from devices.kinds.ferrimagnet_synapse import (
    CONDUCTANCE_PARAMETERS,
    PROGRAMMING_DEFAULTS as LINE_PROGRAMMING_DEFAULTS,
    PROGRAMMING_PARAMETERS,
    WRITE_LINE_PARAMETERS,
    Programming,
)
from devices.kinds.ferrimagnet_synapse import programming as _line_programming
from devices.laws import notched_wall

KIND = DeviceKind(
    "dw_quantized_synapse",
    "quantized domain-wall synapse (K notches, stochastic depinning per pulse)",
    notched_wall, "quantized_synapse",
    spreads=("jdep_rel", "gmin_rel", "gmax_rel", "resistance_rel"),
    parameters={
        **WRITE_LINE_PARAMETERS, **PROGRAMMING_PARAMETERS, **CONDUCTANCE_PARAMETERS,
        "levels": Integer(2, 64, "notches along the track (2, 3, 5 in the seed)"),
        "depinning_density_A_m2": Number(0.0, 1e13, "A/m^2", open_low=True),
        "pinning_barrier_kT": Number(0.0, 200.0, "kT", open_low=True),
        "tau0_s": Number(0.0, 1e-3, "s", open_low=True),
        "overshoot_probability": Number(0.0, 0.5, ""),
    })


#: the design programming pulse: p(J) ~ 0.7 at 20 ns near J_dep ~ 1e11 A/m^2 (stochastic, as
#: in the seed)
PROGRAMMING_DEFAULTS = {**LINE_PROGRAMMING_DEFAULTS, "write_density_A_m2": 9.3e10}
#: notches of a track whose group does not say (``levels``)
LEVELS_DEFAULT = 3


def levels(group) -> int:
    """K, the notches of a bench-file group of this kind (its design)."""
    return int(group.params.get("levels", LEVELS_DEFAULT))


def programming(group) -> Programming:
    """The design programming pulse of a group (see :mod:`devices.kinds.ferrimagnet_synapse`)."""
    return _line_programming(group, PROGRAMMING_DEFAULTS)


__all__ = ["KIND", "LEVELS_DEFAULT", "PROGRAMMING_DEFAULTS", "levels", "programming"]
