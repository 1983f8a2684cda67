"""Keithley 2450 SourceMeter (SCPI command set): the bench's read SMU.

Wiring: the 2450 reaches the device whose *read row* crosspoint (``wiring.read_row``, row 2)
is closed on the 7709. Sourcing a current it measures the Hall / junction voltage
(``bench.source_and_measure``); sourcing a voltage, the current
(``bench.source_voltage_and_measure``). With the output off no current flows: a reading
returns 0 V / 0 A (resistance 9.9e37). The source current acts on the device's physics during
readings only (a read current is far below the switching current; between readings it would
change nothing measurable).

Commands (what ``pymeasure.instruments.keithley.Keithley2450`` and ``KeithleyBuffer`` send,
plus the 2450's trigger model and reading buffer):

- source: ``:SOUR:FUNC CURR|VOLT``, ``:SOUR:CURR[:LEV]`` (+-1.05 A), ``:SOUR:VOLT[:LEV]``
  (+-210 V), ``:SOUR:<f>:RANG`` / ``:RANG:AUTO``, limits ``:SOUR:CURR:VLIM`` (0.02 .. 210 V)
  and ``:SOUR:VOLT:ILIM`` (1 nA .. 1.05 A) = the compliance, ``:SOUR:<f>:VLIM|ILIM:TRIP?``,
  ``:SOUR:<f>:DEL``, ``:SOUR:<f>:DEL:AUTO``; ``OUTP[:STAT] ON|OFF`` (``OUTPUT?``),
  ``:OUTP:<f>:SMOD``; ``:ROUT:TERM FRON|REAR``;
- measure: ``:SENS:FUNC 'VOLT'|'CURR'|'RES'``, ``:SENS:<f>:NPLC`` (0.01 .. 10),
  ``:SENS:<f>:RANG`` / ``:RANG:AUTO``, ``:SENS:RES:RSEN``, ``:SENS:<f>:AVER[:STAT]``,
  ``:AVER:COUN``, ``:AVER:TCON``; ``:READ? ["defbuffer1"[, READ|SOUR|REL|SEC ...]]``
  (with current sourcing and the VOLT function it returns the measured voltage) and
  ``:MEAS:VOLT|CURR|RES?``; every reading is also stored in defbuffer1, as on the 2450;
- buffer: ``:TRAC:CLE``, ``:TRAC:POIN n`` (clears), ``:TRAC:ACT?``, ``:TRAC:ACT:STAR?``,
  ``:TRAC:ACT:END?``, ``:TRAC:DATA? <start>, <end>[, "defbuffer1"[, READ|SOUR|REL|SEC ...]]``
  (one comma-separated list, elements per reading in the order asked), ``:TRAC:STAT:AVER?``,
  ``:MAX?``, ``:MIN?``, ``:STDD?`` (of the readings), ``:FORM:DATA ASCII``;
  ``:TRAC:FEED SENS``, ``:TRAC:FEED:CONT NEXT`` and ``:STAT:MEAS:ENAB`` are accepted (no-ops)
  because ``KeithleyBuffer.config_buffer`` sends them;
- trigger model: ``:TRIG:LOAD "SimpleLoop", <count>[, <delay_s>[, "defbuffer1"]]``,
  ``:TRIG:LOAD "Empty"``, ``:INIT[:IMM]``, ``:ABOR``, ``:TRIG:STAT?``; ``*WAI`` / ``*OPC?``
  wait for the model's end; ``*STB?`` of a running model waits for it too (as an SRQ wait
  would: the simulator has no notion of real-time polling) and reports bit 0 + bit 6 (65)
  once the buffer holds ``:TRAC:POIN`` readings, as ``KeithleyBuffer.is_buffer_full`` polls.

Errors: out-of-range values -> ``-222`` (setting unchanged); unknown headers -> ``-113``;
``:TRAC:DATA?`` indexes outside the readings stored -> ``-222``.

Timing: one reading integrates ``t_meas = NPLC / 50 Hz`` (times the averaging count when
the filter is on); ``:READ?`` advances the clock by the manual source delay (when auto
delay is off) plus ``t_meas``.

Batched protocol (buffered, triggered readings: N readings in O(1) transactions)
--------------------------------------------------------------------------------
Setup (once)::

    :SOUR:FUNC CURR; :SOUR:CURR:LEV <i_read_A>; :SOUR:CURR:VLIM <v_compliance_V>
    :SENS:FUNC "VOLT"; :SENS:VOLT:NPLC <nplc>; OUTP ON
    :TRAC:CLE; :TRAC:POIN <N>
    :TRIG:LOAD "SimpleLoop", <N>, <delay_s>

Per batch (one write + one read; send as one compound message)::

    :TRAC:CLE;:INIT;*WAI;:TRAC:DATA? 1, <N>, "defbuffer1", READ

``:INIT`` starts the model at the present virtual time t0. With ``t_meas = NPLC / 50 Hz``
and ``T_trial = delay_s + t_meas``, reading k (k = 0 .. N-1) starts at

    t_k = t0 + (k + 1) * delay_s + k * t_meas  =  t0 + k * T_trial + delay_s

and integrates until ``t_k + t_meas``; it is a ``clock.schedule`` event, so it sees every
pulse scheduled before ``t_k`` and none after. The model ends at ``t0 + N * T_trial``
(``busy_until_s``). ``:TRAC:ACT?`` counts the readings finished by the present time.

Trigger link: if the bench file's ``wiring.trigger_link`` is true, ``:INIT`` also fires the
pulse generator's external trigger input at t0 (``bench.fire_trigger_link``; latency
``SimulatedBench.TRIGGER_LINK_LATENCY_S`` = 0). A generator armed ``:ARM:SOUR1 EXT`` then
plays its burst / waveform from t0: trial k's pulses must lie in
``[t0 + k * T_trial, t0 + k * T_trial + delay_s)`` - e.g. one 81160A waveform cycle per
trial (``FREQ1 = 1 / T_trial``, ``:TRIG1:COUN N``, waveform = reset pulse, gap, write pulse,
quiet window covering the reading) or one cycle for all N trials (``FREQ1 = 1 / (N T_trial)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulated_bench.clock import LINE_FREQUENCY_HZ
from simulated_bench.scpi import (
    DATA_OUT_OF_RANGE,
    EXECUTION_ERROR,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    ScpiError,
    ScpiInstrument,
    format_number,
    parse_bool,
    parse_number,
)

OVERFLOW = 9.9e37
MAX_CURRENT_A = 1.05
MAX_VOLTAGE_V = 210.0
CURRENT_RANGES_A = (10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0)
VOLTAGE_RANGES_V = (20e-3, 200e-3, 2.0, 20.0, 200.0)
RESISTANCE_RANGES_OHM = (2.0, 20.0, 200.0, 2e3, 20e3, 200e3, 2e6, 20e6, 200e6)
VLIM_RANGE_V = (0.02, 210.0)
ILIM_RANGE_A = (1e-9, 1.05)
NPLC_RANGE = (0.01, 10.0)
DELAY_RANGE_S = (0.0, 10_000.0)
BUFFER_POINTS_RANGE = (1, 6_875_000)
SIMPLE_LOOP_COUNT_RANGE = (1, 268_000_000)
DEFAULT_BUFFER_POINTS = 100_000
BUFFER_NAMES = ("DEFBUFFER1",)
ELEMENTS = ("READ", "SOUR", "REL", "SEC")
STB_MEASUREMENT_SUMMARY = 0x01
STB_ERROR_AVAILABLE = 0x04
STB_MASTER_SUMMARY = 0x40
#: times within this of each other are equal: t0 + k T sums round differently in floats
TIME_SLACK_S = 1e-9


def _function(text: str, allowed=("VOLT", "CURR", "RES")) -> str:
    """``'VOLT:DC'`` / ``"CURRent"`` / ``RES`` -> VOLT | CURR | RES."""
    name = text.strip().strip("'\"").upper().split(":")[0]
    for short, long_form in (("VOLT", "VOLTAGE"), ("CURR", "CURRENT"), ("RES", "RESISTANCE")):
        if short in allowed and name.startswith(short) and long_form.startswith(name):
            return short
    raise ScpiError(ILLEGAL_PARAMETER, f"function {text!r} is not one of {allowed}")


def _range_for(value: float, ranges) -> float:
    """The smallest range that holds |value|."""
    for r in ranges:
        if abs(value) <= r * 1.0000001:
            return r
    return ranges[-1]


@dataclass
class Reading:
    value: float
    source: float
    time_s: float        # when the integration started
    done_s: float        # when it finished (counts in :TRAC:ACT? from then on)


class Keithley2450(ScpiInstrument):
    """A 2450 SourceMeter in SCPI mode on the bench's read path."""

    IDN = "KEITHLEY INSTRUMENTS,MODEL 2450,SIM0002450,1.7.12b"

    def __init__(self, lab, address: str):
        super().__init__(lab, address)
        self._reset_state()
        # ------------------------------------------------------------ source
        self.add("[SOURce]:FUNCtion[:MODE]", on_set=self._set_source_function,
                 on_query=lambda: self.source_function)
        for f in ("CURRent", "VOLTage"):
            key = f[:4].upper()
            self.add(f"[SOURce]:{f}[:LEVel][:IMMediate][:AMPLitude]",
                     on_set=self._setter(self._set_level, key), on_query=lambda k=key: self.level[k])
            self.add(f"[SOURce]:{f}:RANGe", on_set=self._setter(self._set_source_range, key),
                     on_query=lambda k=key: self.source_range[k])
            self.add(f"[SOURce]:{f}:RANGe:AUTO", on_set=self._setter(self._set_flag, "source_auto", key),
                     on_query=lambda k=key: self.source_auto[k])
            self.add(f"[SOURce]:{f}:DELay", on_set=self._setter(self._set_delay, key),
                     on_query=lambda k=key: self.source_delay_s[k])
            self.add(f"[SOURce]:{f}:DELay:AUTO", on_set=self._setter(self._set_flag, "delay_auto", key),
                     on_query=lambda k=key: self.delay_auto[k])
            self.add(f"OUTPut:{f}:SMODe", on_set=self._setter(self._set_off_mode, key),
                     on_query=lambda k=key: self.off_mode[k])
        self.add("[SOURce]:CURRent:VLIMit[:LEVel]", on_set=self._set_vlim, on_query=lambda: self.vlim_V)
        self.add("[SOURce]:VOLTage:ILIMit[:LEVel]", on_set=self._set_ilim, on_query=lambda: self.ilim_A)
        self.add("[SOURce]:CURRent:VLIMit:TRIPped", on_query=lambda: self.tripped and self.source_function == "CURR")
        self.add("[SOURce]:VOLTage:ILIMit:TRIPped", on_query=lambda: self.tripped and self.source_function == "VOLT")
        self.add("OUTPut[:STATe]", on_set=self._set_output, on_query=lambda: self.output_on)
        self.add("ROUTe:TERMinals", on_set=self._set_terminals, on_query=lambda: self.terminals)
        # ------------------------------------------------------------ sense
        self.add("[SENSe]:FUNCtion[:ON]", on_set=self._set_sense_function,
                 on_query=lambda: f'"{self.sense_function}:DC"' if self.sense_function != "RES"
                 else '"RES"')
        for f in ("CURRent", "VOLTage", "RESistance"):
            key = f[:4].upper() if f != "RESistance" else "RES"
            self.add(f"[SENSe]:{f}[:DC]:NPLCycles", on_set=self._setter(self._set_nplc, key),
                     on_query=lambda k=key: self.nplc[k])
            self.add(f"[SENSe]:{f}[:DC]:RANGe[:UPPer]", on_set=self._setter(self._set_sense_range, key),
                     on_query=lambda k=key: self.sense_range[k])
            self.add(f"[SENSe]:{f}[:DC]:RANGe:AUTO", on_set=self._setter(self._set_flag, "sense_auto", key),
                     on_query=lambda k=key: self.sense_auto[k])
            self.add(f"[SENSe]:{f}[:DC]:AVERage[:STATe]", on_set=self._setter(self._set_flag, "average_on", key),
                     on_query=lambda k=key: "ON" if self.average_on[k] else "OFF")
            self.add(f"[SENSe]:{f}[:DC]:AVERage:COUNt", on_set=self._setter(self._set_average_count, key),
                     on_query=lambda k=key: self.average_count[k])
            self.add(f"[SENSe]:{f}[:DC]:AVERage:TCONtrol", on_set=self._setter(self._set_average_type, key),
                     on_query=lambda k=key: self.average_type[k])
            self.add(f"MEASure:{f}[:DC]", on_query=lambda *a, k=key: self._measure_query(k, *a))
        self.add("[SENSe]:RESistance:RSENse", on_set=self._set_rsense, on_query=lambda: self.rsense)
        self.add("READ", on_query=self._read_query)
        self.add("FETCh", on_query=self._fetch_query)
        # ------------------------------------------------------------ buffer
        self.add("TRACe:CLEar", on_set=self._trace_clear)
        self.add("TRACe:POINts", on_set=self._set_points, on_query=lambda *a: self.capacity)
        self.add("TRACe:ACTual", on_query=lambda *a: self._actual())
        self.add("TRACe:ACTual:STARt", on_query=lambda *a: 1 if self._actual() else 0)
        self.add("TRACe:ACTual:END", on_query=lambda *a: self._actual())
        self.add("TRACe:DATA", on_query=self._trace_data)
        for node, fn in (("AVERage", np.mean), ("MAXimum", np.max), ("MINimum", np.min),
                         ("STDDev", lambda v: np.std(v, ddof=1) if len(v) > 1 else 0.0)):
            self.add(f"TRACe:STATistics:{node}", on_query=lambda *a, fn=fn: self._statistic(fn))
        self.add("TRACe:FEED", on_set=lambda *a: None)
        self.add("TRACe:FEED:CONTrol", on_set=lambda *a: None)
        self.add("STATus:MEASurement:ENABle", on_set=lambda *a: None, on_query=lambda: 0)
        self.add("FORMat[:DATA]", on_set=self._set_format, on_query=lambda: "ASC")
        # ------------------------------------------------------------ trigger model
        self.add("TRIGger:LOAD", on_set=self._trigger_load)
        self.add("INITiate[:IMMediate]", on_set=self._initiate)
        self.add("ABORt", on_set=self._abort)
        self.add("TRIGger:STATe", on_query=self._trigger_state)
        self._replace("*STB", on_query=self.status_byte)
        self.add("*OPT", on_query=lambda: "0")          # no options installed
        self.add("*TST", on_query=lambda: 0)            # self-test passed

    # ------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self.source_function = "VOLT"
        self.level = {"CURR": 0.0, "VOLT": 0.0}
        self.source_range = {"CURR": 1e-6, "VOLT": 20e-3}
        self.source_auto = {"CURR": True, "VOLT": True}
        self.source_delay_s = {"CURR": 0.0, "VOLT": 0.0}
        self.delay_auto = {"CURR": True, "VOLT": True}
        self.off_mode = {"CURR": "NORM", "VOLT": "NORM"}
        self.vlim_V = 21.0
        self.ilim_A = 105e-6
        self.tripped = False
        self.output_on = False
        self.terminals = "FRON"
        self.sense_function = "CURR"
        self.nplc = {"CURR": 1.0, "VOLT": 1.0, "RES": 1.0}
        self.sense_range = {"CURR": 1e-4, "VOLT": 0.2, "RES": 2e5}
        self.sense_auto = {"CURR": True, "VOLT": True, "RES": True}
        self.average_on = {"CURR": False, "VOLT": False, "RES": False}
        self.average_count = {"CURR": 10, "VOLT": 10, "RES": 10}
        self.average_type = {"CURR": "REP", "VOLT": "REP", "RES": "REP"}
        self.rsense = 0
        self.capacity = DEFAULT_BUFFER_POINTS
        self.buffer: list[Reading] = []
        self.model: tuple[int, float] | None = None     # SimpleLoop (count, delay_s)
        self.model_running_until_s = 0.0
        self._model_generation = getattr(self, "_model_generation", 0) + 1

    def reset(self) -> None:
        super().reset()
        self._reset_state()
        self.busy_until_s = self.lab.clock.now_s

    def _replace(self, pattern: str, **handlers) -> None:
        self.commands = [c for c in self.commands if c.path != pattern]
        self.add(pattern, **handlers)

    @staticmethod
    def _setter(handler, *bound):
        return lambda *args: handler(*bound, *args)

    @staticmethod
    def _number(args, name: str, unit: str, limits=None, keywords=None) -> float:
        if not args:
            raise ScpiError(MISSING_PARAMETER, f"{name} needs a value in {unit}")
        text = args[0].strip().upper()
        keywords = dict(keywords or {})
        if limits is not None:
            keywords.setdefault("MIN", limits[0])
            keywords.setdefault("MAX", limits[1])
            keywords.setdefault("DEF", limits[0])
        for key, value in keywords.items():
            if text.startswith(key):
                return value
        value = parse_number(text)
        if limits is not None and not limits[0] <= value <= limits[1]:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{name} {value:g} {unit} is outside "
                                               f"{limits[0]:g} .. {limits[1]:g} {unit}; unchanged")
        return value

    # ------------------------------------------------------------ source
    def _set_source_function(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, ":SOUR:FUNC needs CURR or VOLT")
        self.source_function = _function(args[0], ("CURR", "VOLT"))

    def _set_level(self, key: str, *args):
        limit = MAX_CURRENT_A if key == "CURR" else MAX_VOLTAGE_V
        unit = "A" if key == "CURR" else "V"
        value = self._number(args, f"source {key.lower()} level", unit, (-limit, limit))
        if not self.source_auto[key] and abs(value) > self.source_range[key] * 1.05:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"source level {value:g} {unit} exceeds the fixed source range "
                            f"{self.source_range[key]:g} {unit}; raise :SOUR:{key}:RANG or set "
                            f":SOUR:{key}:RANG:AUTO ON")
        self.level[key] = value
        if self.source_auto[key]:
            self.source_range[key] = _range_for(value, CURRENT_RANGES_A if key == "CURR" else VOLTAGE_RANGES_V)

    def _set_source_range(self, key: str, *args):
        ranges = CURRENT_RANGES_A if key == "CURR" else VOLTAGE_RANGES_V
        unit = "A" if key == "CURR" else "V"
        value = self._number(args, f"source {key.lower()} range", unit, (-ranges[-1] * 1.05, ranges[-1] * 1.05))
        new_range = _range_for(value, ranges)
        if abs(self.level[key]) > new_range * 1.05:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"source range {new_range:g} {unit} cannot hold the present level "
                            f"{self.level[key]:g} {unit}; lower the level first")
        self.source_range[key] = new_range
        self.source_auto[key] = False

    def _set_flag(self, table: str, key: str, *args):
        """``table``: the name of the per-function dict (re-created by *RST)."""
        if not args:
            raise ScpiError(MISSING_PARAMETER, "expected ON|OFF|1|0")
        getattr(self, table)[key] = parse_bool(args[0])

    def _set_delay(self, key: str, *args):
        self.source_delay_s[key] = self._number(args, "source delay", "s", DELAY_RANGE_S)
        self.delay_auto[key] = False

    def _set_off_mode(self, key: str, *args):
        text = args[0].strip().upper() if args else ""
        for mode in ("HIMP", "NORM", "ZERO", "GUAR"):
            if text.startswith(mode):
                self.off_mode[key] = mode
                return
        raise ScpiError(ILLEGAL_PARAMETER, f"output-off mode {text!r} is not HIMP|NORM|ZERO|GUAR")

    def _set_vlim(self, *args):
        self.vlim_V = self._number(args, "voltage limit (VLIM)", "V", VLIM_RANGE_V)

    def _set_ilim(self, *args):
        self.ilim_A = self._number(args, "current limit (ILIM)", "A", ILIM_RANGE_A)

    def _set_output(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "OUTP needs ON or OFF")
        self.output_on = parse_bool(args[0])
        if not self.output_on:
            self.tripped = False

    def _set_terminals(self, *args):
        text = args[0].strip().upper() if args else ""
        if text.startswith("FRON") or text.startswith("REAR"):
            self.terminals = text[:4]
            return
        raise ScpiError(ILLEGAL_PARAMETER, f"terminals {text!r} is not FRON or REAR")

    # ------------------------------------------------------------ sense
    def _set_sense_function(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, ':SENS:FUNC needs "VOLT", "CURR" or "RES"')
        self.sense_function = _function(args[0])

    def _set_nplc(self, key: str, *args):
        self.nplc[key] = self._number(args, "NPLC", "power-line cycles", NPLC_RANGE)

    def _set_sense_range(self, key: str, *args):
        ranges = {"CURR": CURRENT_RANGES_A, "VOLT": VOLTAGE_RANGES_V, "RES": RESISTANCE_RANGES_OHM}[key]
        value = self._number(args, f"{key.lower()} measure range", "", (-ranges[-1] * 1.05, ranges[-1] * 1.05))
        self.sense_range[key] = _range_for(value, ranges)
        self.sense_auto[key] = False

    def _set_average_count(self, key: str, *args):
        self.average_count[key] = int(self._number(args, "filter count", "readings", (1, 100)))

    def _set_average_type(self, key: str, *args):
        text = args[0].strip().upper() if args else ""
        if text.startswith("REP") or text.startswith("MOV"):
            self.average_type[key] = text[:3] if text.startswith("MOV") else "REP"
            return
        raise ScpiError(ILLEGAL_PARAMETER, f"filter type {text!r} is not REP or MOV")

    def _set_rsense(self, *args):
        self.rsense = int(parse_bool(args[0])) if args else 0

    def _set_format(self, *args):
        text = args[0].strip().upper() if args else ""
        if not text.startswith("ASC"):
            raise ScpiError(ILLEGAL_PARAMETER, f"data format {text!r}: the simulator sends ASCII only")

    # ------------------------------------------------------------ measuring
    def measure_time_s(self) -> float:
        """t_meas: one reading's integration (NPLC / line frequency, times the filter count)."""
        key = self.sense_function
        count = self.average_count[key] if self.average_on[key] else 1
        return self.nplc[key] / LINE_FREQUENCY_HZ * count

    def _effective_nplc(self) -> float:
        key = self.sense_function
        return self.nplc[key] * (self.average_count[key] if self.average_on[key] else 1)

    def _measure_now(self) -> tuple[float, float]:
        """One reading at the present virtual time: (value of the sense function, source value)."""
        key = self.sense_function
        if not self.output_on:
            self.tripped = False
            value = {"VOLT": 0.0, "CURR": 0.0, "RES": OVERFLOW}[key]
            return value, 0.0
        nplc = self._effective_nplc()
        if self.source_function == "CURR":
            source = self.level["CURR"]
            voltage, current, compliance = self.lab.source_and_measure(
                source, self.vlim_V, self.measure_time_s(), nplc)
        else:
            source = self.level["VOLT"]
            voltage, current, compliance = self.lab.source_voltage_and_measure(
                source, self.ilim_A, nplc)
        self.tripped = bool(compliance)
        if key == "VOLT":
            value = voltage
        elif key == "CURR":
            value = current
        else:
            value = voltage / current if current else OVERFLOW
        if not self.sense_auto[key] and value != OVERFLOW and abs(value) > self.sense_range[key] * 1.05:
            value = OVERFLOW
        return float(value), float(source)

    def _store(self, value: float, source: float, time_s: float, done_s: float) -> None:
        self.buffer.append(Reading(value, source, time_s, done_s))
        if len(self.buffer) > self.capacity:      # defbuffer1 fills continuously
            del self.buffer[: len(self.buffer) - self.capacity]

    def _single_reading(self) -> Reading:
        clock = self.lab.clock
        key = self.source_function
        if self.output_on and not self.delay_auto[key]:
            clock.advance(self.source_delay_s[key])
        start = clock.now_s
        value, source = self._measure_now()
        clock.advance(self.measure_time_s())
        self._store(value, source, start, clock.now_s)
        return self.buffer[-1]

    def _read_query(self, *args):
        buffer, elements = self._buffer_and_elements(args)
        reading = self._single_reading()
        return self._format_reading(reading, elements)

    def _measure_query(self, key: str, *args):
        self.sense_function = key
        return self._read_query(*args)

    def _fetch_query(self, *args):
        done = self._done_readings()
        if not done:
            raise ScpiError(EXECUTION_ERROR, "no reading to fetch: take one with :READ? or :INIT")
        _, elements = self._buffer_and_elements(args)
        return self._format_reading(done[-1], elements)

    # ------------------------------------------------------------ buffer
    def _buffer_name(self, text: str) -> str:
        name = text.strip().strip("'\"").upper()
        if name not in BUFFER_NAMES:
            raise ScpiError(ILLEGAL_PARAMETER, f"buffer {text!r} does not exist; the simulator "
                                               f'has "defbuffer1" only')
        return name

    def _buffer_and_elements(self, args) -> tuple[str, list[str]]:
        buffer = self._buffer_name(args[0]) if args else "DEFBUFFER1"
        elements = [self._element(a) for a in args[1:]] or ["READ"]
        return buffer, elements

    @staticmethod
    def _element(text: str) -> str:
        name = text.strip().upper()
        for element in ELEMENTS:
            if name.startswith(element):
                return element
        raise ScpiError(ILLEGAL_PARAMETER, f"buffer element {text!r} is not one of {ELEMENTS}")

    def _format_reading(self, reading: Reading, elements: list[str],
                        first_s: float | None = None) -> str:
        if first_s is None:                   # REL is relative to the buffer's first reading
            first_s = self.buffer[0].time_s if self.buffer else reading.time_s
        values = {"READ": reading.value, "SOUR": reading.source,
                  "REL": reading.time_s - first_s, "SEC": reading.time_s}
        return ",".join(format_number(float(values[e])) for e in elements)

    def _done_count(self) -> int:
        """Readings finished by now: they are stored in time order, so only the last few
        (a reading still integrating) can be unfinished."""
        self.lab.clock.advance_to(self.lab.clock.now_s)     # run events due exactly now
        limit = self.lab.clock.now_s + TIME_SLACK_S
        count = len(self.buffer)
        while count and self.buffer[count - 1].done_s > limit:
            count -= 1
        return count

    def _done_readings(self) -> list[Reading]:
        return self.buffer[:self._done_count()]

    def _actual(self) -> int:
        return self._done_count()

    def _trace_clear(self, *args):
        if args:
            self._buffer_name(args[0])
        self.buffer.clear()

    def _set_points(self, *args):
        points = self._number(args, "buffer size", "readings", BUFFER_POINTS_RANGE)
        if len(args) > 1:
            self._buffer_name(args[1])
        self.capacity = int(points)
        self.buffer.clear()                     # resizing a buffer clears it, as on the 2450

    def _trace_data(self, *args):
        done = self._done_readings()
        if not args:                            # KeithleyBuffer.buffer_data sends no indexes
            start, end = (1, len(done)) if done else (1, 0)
            elements = ["READ"]
        else:
            if len(args) < 2:
                raise ScpiError(MISSING_PARAMETER, ":TRAC:DATA? needs <start>, <end>")
            start, end = int(parse_number(args[0])), int(parse_number(args[1]))
            _, elements = self._buffer_and_elements(args[2:])
        if not done and not args:
            return ""
        if not 1 <= start <= end <= len(done):
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"readings {start} .. {end} requested but the buffer holds "
                            f"{len(done)} finished readings (1 .. {len(done)}); wait for the "
                            f"trigger model (*WAI) or ask :TRAC:ACT? first")
        first_s = done[0].time_s
        return ",".join(self._format_reading(r, elements, first_s) for r in done[start - 1:end])

    def _statistic(self, fn):
        done = self._done_readings()
        if not done:
            return format_number(0.0)
        return format_number(float(fn(np.array([r.value for r in done]))))

    # ------------------------------------------------------------ trigger model
    def _trigger_load(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, ':TRIG:LOAD needs "SimpleLoop", <count>[, <delay>]')
        name = args[0].strip().strip("'\"").upper()
        if name == "EMPTY":
            self.model = None
            return
        if name != "SIMPLELOOP":
            raise ScpiError(ILLEGAL_PARAMETER, f"trigger model {args[0]} is not simulated; use "
                                               f'"SimpleLoop", <count>, <delay_s> or "Empty"')
        if len(args) < 2:
            raise ScpiError(MISSING_PARAMETER, '"SimpleLoop" needs a count')
        count = self._number(args[1:2], "SimpleLoop count", "readings", SIMPLE_LOOP_COUNT_RANGE)
        if count != int(count):
            raise ScpiError(DATA_OUT_OF_RANGE, f"SimpleLoop count {count:g} is not a whole number")
        delay = self._number(args[2:3], "SimpleLoop delay", "s", DELAY_RANGE_S) if len(args) > 2 else 0.0
        if len(args) > 3:
            self._buffer_name(args[3])
        self.model = (int(count), float(delay))

    def _model_running(self) -> bool:
        return self.lab.clock.now_s < self.model_running_until_s - TIME_SLACK_S

    def _initiate(self, *args):
        if self._model_running():
            raise ScpiError(EXECUTION_ERROR, ":INIT while the trigger model runs; wait (*WAI) "
                                             "or :ABOR first")
        clock = self.lab.clock
        t0 = clock.now_s
        if self.model is None:
            self.lab.fire_trigger_link(t0)
            return
        count, delay = self.model
        t_meas = self.measure_time_s()
        self._model_generation += 1
        generation = self._model_generation
        clock.schedule(t0 + delay, self._reading_event(generation, t0, 0, count, delay, t_meas))
        self.model_running_until_s = t0 + count * (delay + t_meas)
        self.busy_until_s = max(self.busy_until_s, self.model_running_until_s)
        self.lab.fire_trigger_link(t0)

    def _reading_event(self, generation: int, t0: float, k: int, count: int, delay: float,
                       t_meas: float):
        """Reading k at t_k = t0 + (k + 1) delay + k t_meas; it schedules reading k + 1
        (one pending event per model, whatever the count)."""
        def take(t: float) -> None:
            if generation != self._model_generation:
                return
            value, source = self._measure_now()
            self._store(value, source, t, t + t_meas)
            if k + 1 < count:
                t_next = t0 + (k + 2) * delay + (k + 1) * t_meas
                self.lab.clock.schedule(t_next, self._reading_event(
                    generation, t0, k + 1, count, delay, t_meas))
        return take

    def _abort(self, *args):
        now = self.lab.clock.now_s
        self._model_generation += 1
        # readings already under way finish; later ones never start
        self.model_running_until_s = min(self.model_running_until_s, now)
        self.busy_until_s = max((r.done_s for r in self.buffer if r.done_s > now), default=now)

    def _trigger_state(self):
        state = "RUNNING" if self._model_running() else "IDLE"
        return f"{state};{state};0"

    # ------------------------------------------------------------ status
    def status_byte(self) -> int:
        """``*STB?``: a running trigger model is waited for (as an SRQ wait would)."""
        if self._model_running():
            self._wait()
        stb = STB_ERROR_AVAILABLE if self.errors else 0
        if self._done_count() >= self.capacity:              # buffer full
            stb |= STB_MEASUREMENT_SUMMARY | STB_MASTER_SUMMARY
        return stb
