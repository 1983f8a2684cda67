"""``FieldSource`` over a Kepco BOP bipolar supply driving the bias-field magnet.

The field is the supply current times the bench's calibration factor
(``[wiring].magnet_T_per_A``). The supply runs in current mode, its voltage setpoint acting as
compliance. A coil cannot change its current at once: after a new setpoint the role waits for
the ramp to end with ``*OPC?`` (the supply holds the reply until the operation is complete),
so a pulse that follows sees the field that was asked for.

Safety: ``|field_T|`` is checked against ``max_field_T`` (the tightest of the bench, since the
field reaches every device) and the current against the supply's range *before* anything is
written. pymeasure's ``KepcoBOP3612.current_setpoint`` clips out-of-range values silently
(``truncated_range``); the check here makes that clipping unreachable.
"""

from __future__ import annotations

from pymeasure.instruments.kepco import KepcoBOP3612

from drivers.faults import confirm_off, output_is_on
from drivers.limits import LimitViolation, check_field


class KepcoBOPField:
    """Role ``FieldSource``: set a field in tesla through a calibrated current."""

    def __init__(self, instrument: KepcoBOP3612, T_per_A: float, max_field_T: float,
                 compliance_V: float = 20.0, wait: bool = True):
        self.instrument = instrument
        self.T_per_A = float(T_per_A)
        self.max_field_T = float(max_field_T)
        self.compliance_V = float(compliance_V)
        self.wait = wait
        self._current_A = 0.0
        self._configured = False
        self._output_on = False

    def _configure(self) -> None:
        self.instrument.operating_mode = "CURR"
        self.instrument.voltage_setpoint = self.compliance_V
        self._configured = True

    def set_field(self, field_T: float) -> None:
        check_field(field_T, self.max_field_T)
        current_A = float(field_T) / self.T_per_A
        supply_max_A = float(self.instrument._Imax)
        if not abs(current_A) <= supply_max_A:    # NaN refuses
            raise LimitViolation(
                "supply current range", abs(current_A), supply_max_A, "A",
                f"{field_T} T needs {current_A:.4g} A at {self.T_per_A} T/A; the Kepco BOP "
                "gives at most that. Check [wiring].magnet_T_per_A in the bench file.")
        if not self._configured:
            self._configure()
        self.instrument.current_setpoint = current_A
        self._current_A = current_A
        if not self._output_on:
            self.instrument.output_enabled = True
            self._output_on = True
        if self.wait:
            self.instrument.ask("*OPC?")

    def field_T(self) -> float:
        """The field the supply is programmed for (setpoint x calibration)."""
        return self._current_A * self.T_per_A

    def measured_field_T(self) -> float:
        """The field from the measured coil current (one query)."""
        return float(self.instrument.current) * self.T_per_A

    def identity(self) -> str:
        """The supply's ``*IDN?`` reply (one query)."""
        return self.instrument.id

    def output_is_on(self) -> bool:
        """Whether the supply's output is on, as it reports it (one query)."""
        return output_is_on(self.instrument, "OUTPut?", "Kepco BOP")

    def output_off(self) -> None:
        """Ramp the coil to zero, then switch the output off."""
        self.instrument.current_setpoint = 0.0
        self._current_A = 0.0
        self.instrument.ask("*OPC?")
        self.instrument.output_enabled = False
        confirm_off(self.instrument, "OUTPut?", "Kepco BOP")
        self._output_on = False
