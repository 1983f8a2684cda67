"""Kepco BOP 36-12 bipolar supply driving the in-plane bias-field magnet (an inductive load).

Commands (what ``pymeasure.instruments.kepco.KepcoBOP3612`` sends, plus their long forms):
``FUNCtion:MODE VOLT|CURR`` (query answers 0 = VOLT, 1 = CURR), ``[SOURce:]CURRent[:LEVel]``,
``[SOURce:]VOLTage[:LEVel]``, ``OUTPut[:STATe] 0|1``, ``MEASure:CURRent?``,
``MEASure:VOLTage?``, ``*TST?`` (interface self-test, 0 = pass), ``DIAGnostic:TST?`` (full
self-test, 0 = pass; the output stays off, no load swing is simulated), ``SYSTem:BEEP``.
Setpoints outside +-12 A / +-36 V are refused with ``-222 Data out of range`` (the real BOP
does the same; pymeasure clips before it sends).

The load is a magnet coil: resistance ``coil_resistance_ohm`` and inductance
``coil_inductance_H``. The output current does not jump to a new setpoint: it *ramps* at
``slew_A_per_s`` on the virtual clock (the BOP's current loop into an inductor, slowed
further where the coil voltage L dI/dt + R I would exceed the 36 V limit). So
``MEAS:CURR?`` right after a setpoint change reads a value in between, and the field the
devices feel (``SimulatedBench.field_T``) follows the same ramp.

Mode semantics: in CURR mode the target current is the current setpoint, limited by the
voltage setpoint acting as compliance (|I| <= |V_set| / R); in VOLT mode the target is
V_set / R, limited by the current setpoint acting as compliance. Output off: the output is
disconnected and reads 0 A (the energy of the coil is dumped in the BOP's protection).
"""

from __future__ import annotations

from simulated_bench.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
    parse_bool,
    parse_number,
)

MAX_CURRENT_A = 12.0
MAX_VOLTAGE_V = 36.0
MODES = ("VOLT", "CURR")


class KepcoBOP(ScpiInstrument):
    """BOP 36-12 with a BIT 4886 interface, loaded by the bias-field magnet."""

    IDN = "KEPCO,BOP 36-12M,E1234567,BIT4886 1.0"

    #: defaults of the magnet coil and of the current ramp (attributes, change per bench)
    SLEW_A_PER_S = 10.0
    COIL_RESISTANCE_OHM = 1.5
    COIL_INDUCTANCE_H = 0.5

    def __init__(self, lab, address: str):
        super().__init__(lab, address)
        self.slew_A_per_s = self.SLEW_A_PER_S
        self.coil_resistance_ohm = self.COIL_RESISTANCE_OHM
        self.coil_inductance_H = self.COIL_INDUCTANCE_H
        self.mode = "VOLT"
        self.current_setpoint_A = 0.0
        self.voltage_setpoint_V = 0.0
        self.output_on = False
        # the ramp: current ``_start_A`` at time ``_start_s``, moving toward ``_target_A``
        self._start_s = 0.0
        self._start_A = 0.0
        self._target_A = 0.0
        self.add("FUNCtion:MODE", on_set=self._set_mode,
                 on_query=lambda *a: MODES.index(self.mode))
        self.add("[SOURce]:CURRent[:LEVel][:IMMediate]", on_set=self._set_current,
                 on_query=lambda *a: self.current_setpoint_A)
        self.add("[SOURce]:VOLTage[:LEVel][:IMMediate]", on_set=self._set_voltage,
                 on_query=lambda *a: self.voltage_setpoint_V)
        self.add("OUTPut[:STATe]", on_set=self._set_output, on_query=lambda *a: self.output_on)
        self.add("MEASure[:SCALar]:CURRent[:DC]", on_query=lambda *a: self.output_current_A())
        self.add("MEASure[:SCALar]:VOLTage[:DC]", on_query=lambda *a: self.output_voltage_V())
        self.add("*TST", on_query=lambda: 0)
        self.add("DIAGnostic:TST", on_query=lambda: 0)
        self.add("SYSTem:BEEP", on_set=lambda *a: None)

    # ------------------------------------------------------------ the bench asks this
    def output_current_A(self) -> float:
        """Coil current now (A): the ramp evaluated at the virtual clock; 0 with output off."""
        if not self.output_on:
            return 0.0
        elapsed_s = max(self.lab.clock.now_s - self._start_s, 0.0)
        step_A = self._slew_now_A_per_s() * elapsed_s
        gap_A = self._target_A - self._start_A
        if abs(gap_A) <= step_A:
            return float(self._target_A)
        return float(self._start_A + step_A * (1.0 if gap_A > 0 else -1.0))

    def output_voltage_V(self) -> float:
        """Terminal voltage: R I plus L dI/dt while the current ramps."""
        current = self.output_current_A()
        if not self.output_on:
            return 0.0
        ramping = abs(self._target_A - current) > 1e-12
        emf = 0.0
        if ramping:
            emf = self.coil_inductance_H * self._slew_now_A_per_s() * (
                1.0 if self._target_A > current else -1.0)
        return float(current * self.coil_resistance_ohm + emf)

    def ramp_done_s(self) -> float:
        """Virtual time at which the present ramp ends (for tests and waits)."""
        if not self.output_on:
            return self.lab.clock.now_s
        rate = self._slew_now_A_per_s()
        return self._start_s + abs(self._target_A - self._start_A) / rate

    # ------------------------------------------------------------ behaviour
    def reset(self) -> None:
        super().reset()
        self.mode = "VOLT"
        self.current_setpoint_A = 0.0
        self.voltage_setpoint_V = 0.0
        self.output_on = False
        self._retarget()

    def _slew_now_A_per_s(self) -> float:
        """Configured slew, slowed where L dI/dt + R I would pass the 36 V limit."""
        headroom_V = MAX_VOLTAGE_V - self.coil_resistance_ohm * max(
            abs(self._start_A), abs(self._target_A))
        voltage_limited = max(headroom_V, 0.1) / self.coil_inductance_H
        return min(self.slew_A_per_s, voltage_limited)

    def _target_current_A(self) -> float:
        if self.mode == "CURR":
            limit_A = abs(self.voltage_setpoint_V) / self.coil_resistance_ohm
            return max(-limit_A, min(limit_A, self.current_setpoint_A))
        wanted_A = self.voltage_setpoint_V / self.coil_resistance_ohm
        limit_A = abs(self.current_setpoint_A)
        return max(-limit_A, min(limit_A, wanted_A))

    def _retarget(self) -> None:
        """A setting changed: the ramp restarts from where the current is now."""
        now_A = self.output_current_A()
        self._start_s = self.lab.clock.now_s
        self._start_A = now_A
        self._target_A = self._target_current_A() if self.output_on else 0.0
        self.busy_until_s = max(self.busy_until_s, self.ramp_done_s())

    def _set_mode(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "FUNC:MODE needs VOLT or CURR")
        value = args[-1].strip().upper()
        matches = [m for m in MODES if value.startswith(m)]
        if not matches:
            raise ScpiError(ILLEGAL_PARAMETER,
                            f"FUNC:MODE {args[-1]!r}: the BOP modes are VOLT and CURR")
        self.mode = matches[0]
        self._retarget()

    def _set_current(self, *args):
        value = self._level(args, "current", "A", MAX_CURRENT_A)
        self.current_setpoint_A = value
        self._retarget()

    def _set_voltage(self, *args):
        value = self._level(args, "voltage", "V", MAX_VOLTAGE_V)
        self.voltage_setpoint_V = value
        self._retarget()

    def _set_output(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "OUTP needs 0|1|ON|OFF")
        on = parse_bool(args[-1])
        if on == self.output_on:
            return
        if on:
            self.output_on = True
            self._start_s, self._start_A = self.lab.clock.now_s, 0.0
            self._target_A = self._target_current_A()
            self.busy_until_s = max(self.busy_until_s, self.ramp_done_s())
        else:
            self.output_on = False
            self._start_A = self._target_A = 0.0

    @staticmethod
    def _level(args, what: str, unit: str, limit: float) -> float:
        if not args:
            raise ScpiError(MISSING_PARAMETER, f"{what} setpoint missing")
        text = args[-1].strip().upper()
        if text in ("MAX", "MAXIMUM"):
            return limit
        if text in ("MIN", "MINIMUM"):
            return -limit
        value = parse_number(args[-1])
        if abs(value) > limit:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"{what} setpoint {value:g} {unit} outside the BOP 36-12's "
                            f"+-{limit:g} {unit}")
        return value
