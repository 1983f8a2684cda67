"""The largest write current a device neuron may ask for, from the bench's safety limits.

A write pulse reaches a device through the pulse generator's source impedance and the
device's write line. Two of the bench file's ceilings bound its current:

* the electromigration ceiling: ``max_current_density_A_m2 * line_cross_section_m2``;
* the pulse-voltage ceiling: no programmed voltage may exceed ``max_pulse_voltage_V``, so no
  current above ``max_pulse_voltage_V / (source_impedance_ohm + min_line_resistance_ohm)``
  can be reached without breaking that limit (the lowest line resistance is the worst case).

``max_write_current_A`` is the smaller of the two. The hil layer never clips a current to it:
the input -> current mapping is built to stay below it (with headroom), and a configuration
that cannot is refused with :class:`CurrentLimitError`.
"""

from __future__ import annotations

from drivers.benchfile import BenchFile, SafetyLimits


class CurrentLimitError(ValueError):
    """A write current (or a mapping that could produce one) over a device's safety limit."""


def max_write_current_A(limits: SafetyLimits, source_impedance_ohm: float) -> float:
    by_density = limits.max_current_density_A_m2 * limits.line_cross_section_m2
    by_voltage = limits.max_pulse_voltage_V / (source_impedance_ohm + limits.min_line_resistance_ohm)
    return float(min(by_density, by_voltage))


def device_current_limits(bench: BenchFile) -> dict[str, float]:
    """Safe maximum write current (A) of every device of a bench, by device name."""
    return {dev.name: max_write_current_A(bench.limits_for(dev), bench.wiring.source_impedance_ohm)
            for dev in bench.devices()}
