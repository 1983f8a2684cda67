"""STT-MTJ binary stochastic synapse in a passive crossbar: the weight is the conductance of
a binary junction (G_P or G_AP), written by stochastic spin-transfer switching (the pulse's
polarity over the junction picks the state, its amplitude and width the probability).

A bench-file group of this kind is a crossbar: ``count`` row lines on the 7709 card in
``slot`` (row line r on card column r + 1) and ``columns`` column lines on the card in
``column_slot``; junction (r, c) sits where row line r crosses column line c and is named
``<chip>/<size><r * columns + c>``. The crossbar is passive (no access transistor): every
junction of a line sees what the line carries, so unselected lines give sneak paths and
half-selected junctions see part of a write pulse (simulated_bench/crossbar.py, the physics;
drivers/crossbar.py, the read and write schemes).

Conventions every face shares (from this module, below all of them):

- polarity: a positive voltage from the row line to the column line drives P -> AP, a
  negative one AP -> P (``POLARITY``);
- state as a bit: AP = 0, P = 1 (``STATE_BITS``), so a larger conductance is a 1.

The design values of the junction (``DESIGN_DEFAULTS``: diameter from ``width_m``, RA, TMR)
are the bench file's to override in the group; the simulator builds its truth from them and
the drivers set their P / AP read threshold from them.
"""

import math

from devices.benchschema import Number
from devices.kinds import DeviceKind
from devices.laws import stt_switching


def _positive(high: float, unit: str) -> Number:
    return Number(0.0, high, unit, open_low=True)


KIND = DeviceKind(
    "stt_mtj_synapse",
    "STT-MTJ binary stochastic synapse (crossbar junction, G_P / G_AP)",
    stt_switching, "crossbar_synapse",
    spreads=("delta_rel", "vc_rel", "resistance_rel"),
    parameters={   # the keys of its truth's DEFAULTS, each with its range
        "fm_thickness_m": _positive(1e-7, "m"),
        "anisotropy_J_m3": _positive(1e7, "J/m^3"),
        "temperature_K": _positive(1000.0, "K"),
        "tau0_s": _positive(1e-3, "s"),
        "exponent": _positive(4.0, ""),
        "vc_p_to_ap_V": _positive(10.0, "V"),
        "vc_ap_to_p_V": _positive(10.0, "V"),
        "ra_ohm_m2": _positive(1e-6, "ohm m^2"),
        "tmr": _positive(100.0, ""),
        "tmr_half_bias_V": _positive(100.0, "V"),
        "breakdown_V": _positive(100.0, "V"),
        "cell_line_resistance_ohm": Number(0.0, 1e5, "ohm"),
        "line_access_resistance_ohm": Number(0.0, 1e5, "ohm"),
    })

#: the sign of the row-to-column voltage that drives a junction toward each state
POLARITY = {"AP": +1, "P": -1}
#: a junction's state as a bit (read_states, the learning side)
STATE_BITS = {"AP": 0, "P": 1}

DESIGN_DEFAULTS = {
    "ra_ohm_m2": 10e-12,            # 10 ohm um^2
    "tmr": 1.5,                     # 150 % at zero bias
    "tmr_half_bias_V": 0.5,
}


def design_conductances_S(group) -> tuple[float, float]:
    """(G_P, G_AP) at zero bias of a group's design junction (before D2D spread)."""
    p = {**DESIGN_DEFAULTS, **{k: v for k, v in group.params.items() if k in DESIGN_DEFAULTS}}
    r_p = p["ra_ohm_m2"] / (math.pi / 4 * group.width_m ** 2)
    return 1.0 / r_p, 1.0 / (r_p * (1.0 + p["tmr"]))
