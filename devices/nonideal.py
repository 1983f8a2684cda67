"""The bench file's ``[nonideal]`` table: which non-idealities a simulated switch lives with.

Off unless the file asks (``preset = "off"`` is the default): the characterization tests and
every quoted figure run on devices that never leave their calibration. A named set
(``preset = "realistic"`` or ``"strong"``) turns them on with magnitudes per device kind, and
any item may be overridden for every kind (``[nonideal] i50_walk_rel_per_sqrt_h = 0.05``) or
for one (``[nonideal.mtj] wear_life_cycles = 1e6``). The simulator's side is
``simulated_bench.nonideal``; this module only says what a file may ask for.

Typical magnitudes (the ``realistic`` set; literature ranges, order of magnitude):

- stage temperature: an unregulated probe station drifts 0.1-1 K/h and follows the lab's
  air conditioning (+-0.2-0.5 K, 15-30 min period); a regulated stage holds +-0.05 K.
  Delta = Ku V / (kB T) falls as 1/T; Ic0 falls ~0.1-0.3 %/K near room temperature (Ms(T),
  Ku(T) of CoFeB/MgO).
- bias-field drift of an electromagnet (coil heating, pole remanence, supply drift):
  0.01-0.1 mT/h. It moves an SOT bar's Ic0 through Jc ~ (Hk/2 - |Hx|/sqrt 2) (Lee et al.,
  APL 102, 112410 (2013)); an STT-MTJ needs no bias field and does not see it.
- slow random walk of I50 (charge trapping, interface relaxation): a few %/sqrt(h) (an
  estimate: slow switching-current drift of a few % over hours is reported, not a law);
  random telegraph jumps from defects in the MgO barrier or the film: a few % of devices,
  1-5 % in I50, dwell times ms to minutes.
- cycle-to-cycle spread of the switching parameters: 2-5 % in Ic0, ~5 % in Delta (the
  switching-current distribution of STT-MTJs).
- wear-out: MgO time-dependent breakdown gives 1e10-1e16 cycles at operating bias, ~1e6
  under accelerated (high-bias) stress; an SOT write path does not cross the barrier
  (>1e12). I50 shifts toward end of life, then the device is stuck. The ``strong`` set uses
  accelerated lives so a bench run sees them.
- read disturb: the read current shares the write path (the Hall bar's channel, the
  junction), adds to a pulse that arrives while the read SMU sources, and can switch a
  small (low-Delta) device by itself.
- yield: 0.5-2 % dead (open) and about as many stuck-at devices in MTJ arrays.
"""

from __future__ import annotations

from types import MappingProxyType

from devices.benchschema import Flag, Number, Table, Text, check_table

#: the kinds the non-idealities act on (Neel-Brown switches); others ignore the table
KINDS = ("sot_hall_bar", "mtj")

ITEMS = MappingProxyType({
    "temperature_drift_K_per_h": Number(-100.0, 100.0, "K/h", default=0.0),
    "temperature_swing_K": Number(0.0, 50.0, "K", default=0.0),
    "temperature_period_s": Number(1.0, 1e7, "s", default=1800.0),
    "ic0_temperature_coeff_per_K": Number(-0.05, 0.05, "1/K", default=0.0),
    "field_drift_mT_per_h": Number(-100.0, 100.0, "mT/h", default=0.0),
    "i50_walk_rel_per_sqrt_h": Number(0.0, 1.0, "1/sqrt(h)", default=0.0),
    "telegraph_fraction": Number(0.0, 1.0, default=0.0),
    "telegraph_rel": Number(0.0, 0.5, default=0.0),
    "telegraph_dwell_s": Number(1e-3, 1e7, "s", default=60.0),
    "c2c_ic0_rel": Number(0.0, 0.5, default=0.0),
    "c2c_delta_rel": Number(0.0, 0.5, default=0.0),
    "wear_life_cycles": Number(0.0, 1e18, "cycles (0: no wear-out)", default=0.0),
    "wear_life_spread_rel": Number(0.0, 1.0, default=0.0),
    "wear_i50_shift_rel": Number(-0.9, 0.9, default=0.0),
    "read_disturb": Flag(default=False),
    "dead_fraction": Number(0.0, 1.0, default=0.0),
    "stuck_fraction": Number(0.0, 1.0, default=0.0),
})
OFF = MappingProxyType({k: spec.default for k, spec in ITEMS.items()})

_REALISTIC = {
    "temperature_drift_K_per_h": 0.3, "temperature_swing_K": 0.3, "temperature_period_s": 1200.0,
    "ic0_temperature_coeff_per_K": -0.002, "field_drift_mT_per_h": 0.05,
    "i50_walk_rel_per_sqrt_h": 0.03, "telegraph_fraction": 0.05, "telegraph_rel": 0.03,
    "telegraph_dwell_s": 30.0, "c2c_ic0_rel": 0.03, "c2c_delta_rel": 0.05,
    "read_disturb": True, "dead_fraction": 0.01, "stuck_fraction": 0.01,
}
_STRONG = {
    "temperature_drift_K_per_h": 2.0, "temperature_swing_K": 1.0, "temperature_period_s": 900.0,
    "ic0_temperature_coeff_per_K": -0.003, "field_drift_mT_per_h": 0.5,
    "i50_walk_rel_per_sqrt_h": 0.15, "telegraph_fraction": 0.2, "telegraph_rel": 0.08,
    "telegraph_dwell_s": 10.0, "c2c_ic0_rel": 0.06, "c2c_delta_rel": 0.1,
    "wear_life_spread_rel": 0.3, "wear_i50_shift_rel": 0.15,
    "read_disturb": True, "dead_fraction": 0.04, "stuck_fraction": 0.04,
}
PRESETS = MappingProxyType({
    "off": {kind: dict(OFF) for kind in KINDS},
    "realistic": {"sot_hall_bar": {**OFF, **_REALISTIC},
                  "mtj": {**OFF, **_REALISTIC, "wear_life_cycles": 1e10,
                          "wear_life_spread_rel": 0.3, "wear_i50_shift_rel": 0.05}},
    # accelerated lives: a bench run of 1e5-1e6 pulses per device sees them wear out
    "strong": {"sot_hall_bar": {**OFF, **_STRONG, "wear_life_cycles": 1e6},
               "mtj": {**OFF, **_STRONG, "wear_life_cycles": 1e5}},
})

SCHEMA = {"preset": Text(choices=tuple(PRESETS), default="off"),
          **{k: Number(s.low, s.high, s.unit, default=None) if isinstance(s, Number)
             else Flag(default=None) for k, s in ITEMS.items()}}
KIND_TABLES = {kind: Table(f"a [nonideal.{kind}] table of per-kind overrides") for kind in KINDS}


def parse(table: dict, err) -> dict[str, dict]:
    """The ``[nonideal]`` table resolved to every item's value per kind (preset, then the
    table's overrides for all kinds, then ``[nonideal.<kind>]``'s). ``err(path, message)``
    builds the caller's error (the bench file adds the line)."""
    top = check_table(table, SCHEMA, "nonideal", err, "non-ideality (or preset, or kind table)",
                      extra=KIND_TABLES)
    everyone = {k: v for k, v in top.items() if k in ITEMS and v is not None}
    resolved = {}
    for kind in KINDS:
        own = check_table(top.get(kind) or {}, ITEMS, f"nonideal.{kind}", err, "non-ideality")
        own = {k: v for k, v in own.items() if k in (top.get(kind) or {})}
        resolved[kind] = {**PRESETS[top["preset"]][kind], **everyone, **own}
    return resolved


def is_off(resolved: dict[str, dict]) -> bool:
    """True when no kind lives with any non-ideality (the simulator then adds nothing)."""
    return all(values == dict(OFF) for values in resolved.values())
