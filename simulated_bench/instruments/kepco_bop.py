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
devices feel (``SimulatedBench.field_T``) follows the same ramp: the bench lets the devices
live through that history (:meth:`KepcoBOP.current_history_A`) before every reading,
pulse and setting, so a field acts for the virtual time it was applied.

Mode semantics: in CURR mode the target current is the current setpoint, limited by the
voltage setpoint acting as compliance (|I| <= |V_set| / R); in VOLT mode the target is
V_set / R, limited by the current setpoint acting as compliance. Output off: the output is
disconnected and reads 0 A (the energy of the coil is dumped in the BOP's protection).
"""

from __future__ import annotations

import numpy as np

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
    def output_current_A(self, time_s: float | None = None) -> float:
        """Coil current (A) now, or at ``time_s`` of the present ramp; 0 with output off."""
        if not self.output_on:
            return 0.0
        time_s = self.lab.clock.now_s if time_s is None else time_s
        elapsed_s = max(time_s - self._start_s, 0.0)
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

    def current_history_A(self, from_s: float, to_s: float,
                          max_step_A: float) -> tuple[np.ndarray, np.ndarray]:
        """The coil current between two times of the present ramp, as steps for the physics.

        Returns (currents_A, dwells_s): the ramping part cut into steps of at most
        ``max_step_A`` (each at its midpoint current), then the hold at the end value.
        The ramp state only changes through a setting, and the bench brings the devices up
        to date before every setting (:meth:`_before_change`), so this is exact history.
        """
        if to_s <= from_s:
            return np.zeros(0), np.zeros(0)
        if not self.output_on:
            return np.zeros(1), np.array([to_s - from_s])
        ramp_end_s = min(max(self.ramp_done_s(), from_s), to_s)
        currents, dwells = [], []
        if ramp_end_s > from_s:
            start_A = self.output_current_A(from_s)
            end_A = self.output_current_A(ramp_end_s)
            steps = int(min(max(np.ceil(abs(end_A - start_A) / max_step_A), 1), 4000))
            edges = np.linspace(from_s, ramp_end_s, steps + 1)
            middles = 0.5 * (edges[1:] + edges[:-1])
            currents.append(start_A + (end_A - start_A) * (middles - from_s)
                            / (ramp_end_s - from_s))
            dwells.append(np.diff(edges))
        if to_s > ramp_end_s:
            currents.append([self.output_current_A(to_s)])
            dwells.append([to_s - ramp_end_s])
        return np.concatenate(currents).astype(float), np.concatenate(dwells).astype(float)

    def ramp_done_s(self) -> float:
        """Virtual time at which the present ramp ends (for tests and waits)."""
        if not self.output_on:
            return self.lab.clock.now_s
        rate = self._slew_now_A_per_s()
        return self._start_s + abs(self._target_A - self._start_A) / rate

    # ------------------------------------------------------------ behaviour
    def reset(self) -> None:
        self._before_change()
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

    def _before_change(self) -> None:
        """The devices live through the field so far before the ramp changes."""
        update = getattr(self.lab, "update_field_exposure", None)
        if update is not None:
            update()

    def _retarget(self) -> None:
        """A setting changed: the ramp restarts from where the current is now."""
        self._before_change()
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
        self._before_change()
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
