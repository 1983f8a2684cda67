"""Ferrimagnetic CeLU neuron: a Co-Gd Hall cross on a heavy-metal line whose Hall output
after an input current pulse follows a CeLU of the current (:mod:`devices.laws.celu`):
linear for positive inputs, saturating below, with a device-specific alpha and gain.

The input is a write pulse of current I (either sign) of the programming width; the output
the read SMU measures is R_xy (ohm). Written on a heavy-metal line like the ferrimagnetic
synapse (:mod:`devices.kinds.ferrimagnet_synapse`).
"""

from __future__ import annotations

from devices.benchschema import Number
from devices.kinds import DeviceKind
from devices.kinds.ferrimagnet_synapse import WRITE_LINE_PARAMETERS
from devices.laws import celu

KIND = DeviceKind(
    "ferrimagnet_celu_neuron",
    "ferrimagnetic CeLU neuron (Hall output vs input current pulse)",
    celu, "celu_neuron",
    spreads=("alpha_rel", "gain_rel", "resistance_rel"),
    parameters={
        **WRITE_LINE_PARAMETERS,
        "input_width_s": Number(0.0, 1e-3, "s", open_low=True),
        "r_offset_ohm": Number(-1e6, 1e6, "ohm"),
        "gain_ohm_per_A": Number(0.0, 1e9, "ohm/A", open_low=True),
        "alpha_A": Number(0.0, 1.0, "A", open_low=True),
        "input_threshold_A": Number(0.0, 1.0, "A"),
    })

#: the input pulse width the neuron is designed for (the state settles within it)
INPUT_WIDTH_S = 50e-9


def input_width_s(group) -> float:
    """The input pulse width of a bench-file group of this kind."""
    return float(group.params.get("input_width_s", INPUT_WIDTH_S))


__all__ = ["INPUT_WIDTH_S", "KIND", "input_width_s"]
