"""Safety checks: is a value allowed on a device of a given size? Checked before any write.

Every role calls one of these checks with the :class:`~devices.benchfile.SafetyLimits` of
the device it drives *before* it writes anything to the bus. A value out of its limit
raises :class:`LimitViolation` (a ``ValueError``) that names the limit, the value, the
ceiling and what to do. Nothing is ever clipped: a clipped amplitude is a different
experiment than the one that was asked for.

Worst-case write current. A pulse generator of source impedance ``R_source`` whose output
is programmed to level ``V`` into an expected load ``Z_load`` produces the open-circuit EMF
``V * (Z_load + R_source) / Z_load`` (the 81160A scales its levels so that ``V`` appears
across ``Z_load``). The current through a device line of resistance ``R_line`` is
``EMF / (R_source + R_line)``, largest for the lowest line resistance of that size, so the
worst-case current density is ``EMF / (R_source + min_line_resistance_ohm) /
line_cross_section_m2``. The drivers program the generator for a high-impedance load
(1 MOhm), so ``EMF`` is the programmed level to within 5e-5; the factor is applied anyway.
"""

from __future__ import annotations

import math
from typing import Iterable

from devices.benchfile import SafetyLimits

HIGH_Z_LOAD_OHM = 1e6


class LimitViolation(ValueError):
    """A value outside a device's safety limits. Nothing was sent to any instrument."""

    def __init__(self, limit: str, value: float, ceiling: float, unit: str, advice: str,
                 device: str = "", floor: bool = False, message: str | None = None):
        self.limit = limit
        self.value = value
        self.ceiling = ceiling
        self.unit = unit
        self.device = device
        where = f" on {device}" if device else ""
        relation = "below the minimum" if floor else "over the limit"
        # just over the edge: enough digits that the value and the limit differ
        digits = 6 if f"{value:.6g}" != f"{ceiling:.6g}" else 12
        super().__init__(message or (
            f"{limit}{where}: {value:.{digits}g} {unit} is {relation} {ceiling:.{digits}g} {unit}; "
            f"nothing was sent to the instrument. {advice}"
        ))


_LIMIT_UNITS = {"max_pulse_voltage_V": "V", "max_current_density_A_m2": "A/m^2",
                "max_pulse_width_s": "s", "max_compliance_V": "V", "max_read_current_A": "A",
                "max_field_T": "T", "line_cross_section_m2": "m^2",
                "min_line_resistance_ohm": "ohm", "min_pulse_width_s": "s"}


def _ceiling(name: str, limit, device: str = "") -> float:
    """A limit itself must be a finite positive number: an inf (or NaN) ceiling would pass
    every value and so switch the check off. ``not 0 < x < inf`` refuses NaN too."""
    try:
        limit = float(limit)
    except (TypeError, ValueError):
        limit = math.nan
    if not 0 < limit < math.inf:
        where = f" (for {device})" if device else ""
        raise LimitViolation(
            name, math.nan, limit, _LIMIT_UNITS.get(name, ""), "", device, message=(
                f"safety limit {name}{where} is {limit:g} {_LIMIT_UNITS.get(name, '')}: every "
                f"limit must be a finite positive number; nothing was sent to the instrument. "
                f"Fix [limits.<size>].{name} in the bench file."))
    return limit


def check_limits(limits: SafetyLimits, device: str = "") -> None:
    """Every value of a limits profile finite and positive (see :func:`_ceiling`)."""
    for name in _LIMIT_UNITS:
        _ceiling(name, getattr(limits, name), device)


def _finite(name: str, value: float, unit: str, device: str) -> float:
    given = value
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = None
    if value is None or not math.isfinite(value):
        where = f" on {device}" if device else ""
        shown = repr(given) if value is None else f"{value:g} {unit}"
        raise LimitViolation(name, math.nan, math.nan, unit, "", device, message=(
            f"{name}{where} must be a finite number of {unit}, got {shown}; nothing was sent "
            f"to the instrument.")) from None
    return value


def emf_V(level_V: float, source_impedance_ohm: float, load_ohm: float = HIGH_Z_LOAD_OHM) -> float:
    """Open-circuit voltage of a generator programmed to ``level_V`` into ``load_ohm``."""
    return level_V * (load_ohm + source_impedance_ohm) / load_ohm


def write_current_A(level_V, source_impedance_ohm: float, line_resistance_ohm,
                    load_ohm: float = HIGH_Z_LOAD_OHM):
    """Current (signed, A; arrays welcome) of a pulse of programmed level ``level_V`` through
    a device line of ``line_resistance_ohm``: ``EMF / (R_source + R_line)``.

    ``line_resistance_ohm`` is a number (an ohmic line) or the write-path law of a kind whose
    path resistance depends on the current it carries (a tunnel junction: state and bias,
    :class:`devices.kinds.mtj.JunctionWritePath`), which solves its own circuit."""
    emf = emf_V(level_V, source_impedance_ohm, load_ohm)
    solve = getattr(line_resistance_ohm, "current_at_emf_A", None)
    if solve is not None:
        return solve(emf, source_impedance_ohm)
    return emf / (source_impedance_ohm + line_resistance_ohm)


def level_for_current_V(current_A, source_impedance_ohm: float, line_resistance_ohm,
                        load_ohm: float = HIGH_Z_LOAD_OHM):
    """The programmed level (signed, V; arrays welcome) that drives ``current_A`` through a
    device line of ``line_resistance_ohm`` (a number or a write-path law, as for
    :func:`write_current_A`, whose inverse this is). Not a safety check: the roles check the
    level before it is written."""
    at_current = getattr(line_resistance_ohm, "resistance_at_current_ohm", None)
    line = at_current(current_A) if at_current is not None else line_resistance_ohm
    return current_A * (source_impedance_ohm + line) / emf_V(1.0, source_impedance_ohm, load_ohm)


def worst_case_current_A(level_V: float, limits: SafetyLimits, source_impedance_ohm: float,
                         load_ohm: float = HIGH_Z_LOAD_OHM) -> float:
    """Largest current a pulse of programmed level ``level_V`` can drive in a device line."""
    return abs(write_current_A(level_V, source_impedance_ohm, limits.min_line_resistance_ohm,
                               load_ohm))


def max_pulse_level_V(limits: SafetyLimits, source_impedance_ohm: float,
                      load_ohm: float = HIGH_Z_LOAD_OHM) -> float:
    """The largest programmable |level| that passes both the voltage and the density limit."""
    check_limits(limits)
    by_density = (limits.max_current_density_A_m2 * limits.line_cross_section_m2
                  * (source_impedance_ohm + limits.min_line_resistance_ohm))
    by_voltage = limits.max_pulse_voltage_V
    # a hair under the edge, so that the value itself passes the checks despite rounding
    return min(by_density, by_voltage) * load_ohm / (load_ohm + source_impedance_ohm) * (1 - 1e-9)


def check_pulse(level_V: float, width_s: float, limits: SafetyLimits, source_impedance_ohm: float,
                load_ohm: float = HIGH_Z_LOAD_OHM, device: str = "") -> None:
    """Check one pulse (programmed level, width) against a device's limits."""
    # every comparison is written "not value <= limit": a NaN on either side refuses
    check_limits(limits, device)
    level_V = _finite("pulse level", level_V, "V", device)
    width_s = _finite("pulse width", width_s, "s", device)
    source_impedance_ohm = _finite("source impedance", source_impedance_ohm, "ohm", device)
    emf = abs(emf_V(level_V, source_impedance_ohm, load_ohm))
    if not emf <= limits.max_pulse_voltage_V:
        raise LimitViolation(
            "max_pulse_voltage_V", emf, limits.max_pulse_voltage_V, "V",
            "Lower the pulse amplitude, or raise [limits.<size>].max_pulse_voltage_V in the "
            "bench file if the device really tolerates it.", device)
    density = worst_case_current_A(level_V, limits, source_impedance_ohm, load_ohm) \
        / limits.line_cross_section_m2
    if not density <= limits.max_current_density_A_m2:
        raise LimitViolation(
            "max_current_density_A_m2", density, limits.max_current_density_A_m2, "A/m^2",
            f"The worst-case current (EMF {emf:.4g} V over {source_impedance_ohm:g} ohm + "
            f"min line resistance {limits.min_line_resistance_ohm:g} ohm) would exceed the "
            f"electromigration limit; keep |amplitude| <= "
            f"{max_pulse_level_V(limits, source_impedance_ohm, load_ohm):.4g} V.", device)
    if not width_s <= limits.max_pulse_width_s:
        raise LimitViolation("max_pulse_width_s", width_s, limits.max_pulse_width_s, "s",
                             "Use a shorter pulse (heating grows with the width).", device)
    if not width_s >= limits.min_pulse_width_s:
        raise LimitViolation("min_pulse_width_s", width_s, limits.min_pulse_width_s, "s",
                             "Use a longer pulse: the generator cannot shape a shorter one.",
                             device, floor=True)


def check_pulses(levels_V: Iterable[float], width_s: float, limits: SafetyLimits,
                 source_impedance_ohm: float, load_ohm: float = HIGH_Z_LOAD_OHM,
                 device: str = "") -> None:
    """Check every pulse of a batch; the first violation raises, so nothing is sent."""
    for level in levels_V:
        check_pulse(level, width_s, limits, source_impedance_ohm, load_ohm, device)


def check_compliance_V(compliance_V: float, limits: SafetyLimits, device: str = "") -> None:
    check_limits(limits, device)
    compliance_V = _finite("SMU voltage compliance", compliance_V, "V", device)
    if not 0 < compliance_V <= limits.max_compliance_V:
        raise LimitViolation(
            "max_compliance_V", compliance_V, limits.max_compliance_V, "V",
            "Use a compliance in (0, max_compliance_V]: the compliance caps the voltage the "
            "SMU may put across the device.", device, floor=compliance_V <= 0)


def check_read_current(current_A: float, limits: SafetyLimits, device: str = "") -> None:
    check_limits(limits, device)
    current_A = _finite("read current", current_A, "A", device)
    if not abs(current_A) <= limits.max_read_current_A:
        raise LimitViolation(
            "max_read_current_A", abs(current_A), limits.max_read_current_A, "A",
            "Use a smaller read current: a large read current disturbs (or switches) the "
            "device it reads.", device)


def check_source_voltage(voltage_V: float, compliance_A: float, limits: SafetyLimits,
                         device: str = "") -> None:
    """A voltage-sourced read: the voltage and the current it may drive are both bounded."""
    check_limits(limits, device)
    voltage_V = _finite("SMU source voltage", voltage_V, "V", device)
    compliance_A = _finite("SMU current compliance", compliance_A, "A", device)
    if not abs(voltage_V) <= limits.max_compliance_V:
        raise LimitViolation("max_compliance_V", abs(voltage_V), limits.max_compliance_V, "V",
                             "Source a smaller voltage.", device)
    if not 0 < compliance_A <= limits.max_read_current_A:
        raise LimitViolation(
            "max_read_current_A", compliance_A, limits.max_read_current_A, "A",
            "Use a current compliance in (0, max_read_current_A].", device,
            floor=compliance_A <= 0)


def check_field(field_T: float, max_field_T: float, device: str = "all devices") -> None:
    max_field_T = _ceiling("max_field_T", max_field_T, device)
    field_T = _finite("bias field", field_T, "T", device)
    if not abs(field_T) <= max_field_T:
        raise LimitViolation(
            "max_field_T", abs(field_T), max_field_T, "T",
            "Ask for a smaller field: the magnet field reaches every device on the chip, so "
            "the tightest max_field_T of the bench applies.", device)


def tightest(limits: Iterable[SafetyLimits]) -> SafetyLimits:
    """One profile that is safe for every device of the given profiles (element-wise worst)."""
    limits = list(limits)
    if not limits:
        raise ValueError("no safety limits given")
    for profile in limits:   # min() over a NaN depends on the order: refuse it first
        check_limits(profile)
    return SafetyLimits(
        max_pulse_voltage_V=min(l.max_pulse_voltage_V for l in limits),
        max_current_density_A_m2=min(l.max_current_density_A_m2 for l in limits),
        max_pulse_width_s=min(l.max_pulse_width_s for l in limits),
        max_compliance_V=min(l.max_compliance_V for l in limits),
        max_read_current_A=min(l.max_read_current_A for l in limits),
        max_field_T=min(l.max_field_T for l in limits),
        line_cross_section_m2=min(l.line_cross_section_m2 for l in limits),
        min_line_resistance_ohm=min(l.min_line_resistance_ohm for l in limits),
        min_pulse_width_s=max(l.min_pulse_width_s for l in limits),
    )
