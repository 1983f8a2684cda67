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
    HEADER_SUFFIX_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    format_number,
    match_mnemonic,
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
DEFAULT_BUFFERS = ("DEFBUFFER1", "DEFBUFFER2")
#: :TRAC:MAKE sizes (2450-901-01 :TRACe:MAKE: at least 10 readings)
USER_BUFFER_POINTS_RANGE = (10, 6_875_000)
BUFFER_STYLES = ("STANdard", "FULL", "COMPact", "WRITable", "FULLWRITable")
#: the buffer elements of :TRAC:DATA? / :READ? / :FETC? (2450-901-01 :TRACe:DATA?), as
#: mnemonics: SOURUNIT is its own element, never SOURce
ELEMENTS = ("DATE", "FORMatted", "FRACtional", "READing", "RELative", "SEConds", "SOURce",
            "SOURFORMatted", "SOURSTATus", "SOURUNIT", "STATus", "TIME", "TSTamp", "UNIT")
MAX_ELEMENTS = 14
MAX_LIST_POINTS = 100                  # :SOURce:LIST:<function> holds up to 100 values
SWEEP_POINTS_RANGE = (2, 1_000_000)
COUNT_RANGE = (1, 300_000)
USER_DELAYS = 5                        # :DELay:USER1 .. USER5
LANGUAGES = ("SCPI", "TSP", "SCPI2400")
#: the rear-panel digital I/O lines (2450-901-01 :DIGital:LINE<n>)
DIGITAL_LINES = 6
#: the datasheet's 3000 readings/s at NPLC 0.01 (60 Hz line, autozero off, to the buffer):
#: what a reading costs beyond its integration
READING_OVERHEAD_S = 1.0 / 3000.0 - 0.01 / 60.0
#: autozero on: each reading adds a reference and a zero measurement of the same aperture
AUTOZERO_EXTRA_INTEGRATIONS = 2
#: the 2450's status word of a reading (2450-901-01 buffer STATus): bit 3 = source limit
STATUS_SOURCE_LIMIT = 0x08
#: the bench's virtual date: buffer DATE/TIME/TSTamp count from 2024-01-01 00:00:00 UTC
EPOCH_UTC_S = 1_704_067_200
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


def _formatted(value: float, unit: str) -> str:
    """A value as the front panel shows it (FORMatted / SOURFORMatted): engineering prefix,
    six digits, the unit."""
    if value == OVERFLOW:
        return "Overflow"
    if value == 0:
        return f"+0.00000 {unit}"
    exponent = int(np.floor(np.log10(abs(value)) / 3) * 3)
    exponent = min(max(exponent, -12), 6)
    prefix = {-12: "p", -9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M"}[exponent]
    return f"{value / 10.0 ** exponent:+.5f} {prefix}{unit}"


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
    unit: str = "V"      # the measure function's unit (UNIT element)
    source_unit: str = "A"
    limited: bool = False


@dataclass
class ReadingBuffer:
    """One reading buffer: defbuffer1, defbuffer2 or a :TRAC:MAKE user buffer."""
    capacity: int
    style: str = "STAN"
    readings: list = None

    def __post_init__(self):
        self.readings = [] if self.readings is None else self.readings


_UNITS = {"VOLT": "V", "CURR": "A", "RES": "Ohm"}
_DISPLAY_UNITS = {"VOLT": "V", "CURR": "A", "RES": "\u03a9"}


class Keithley2450(ScpiInstrument):
    """A 2450 SourceMeter in SCPI mode on the bench's read path."""

    IDN = "KEITHLEY INSTRUMENTS,MODEL 2450,SIM0002450,1.7.12b"
    #: the datasheet's reading time (per-reading overhead, autozero's extra integrations);
    #: drivers/batch.py budgets it. False (integration alone) only for the few simulator
    #: tests whose arithmetic predates it
    DATASHEET_TIMING = True

    def __init__(self, lab, address: str):
        super().__init__(lab, address)
        self.language = "SCPI"
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
            self.add(f"[SENSe]:{f}[:DC]:RSENse", on_set=self._setter(self._set_flag, "rsense", key),
                     on_query=lambda k=key: self.rsense[k])
            self.add(f"[SENSe]:{f}[:DC]:AZERo[:STATe]", on_set=self._setter(self._set_flag, "autozero", key),
                     on_query=lambda k=key: self.autozero[k])
            self.add(f"[SENSe]:{f}[:DC]:DELay:USER#", on_set=self._setter(self._set_user_delay, "sense", key),
                     on_query=lambda n, k=key: self._user_delay("sense", k, n))
        for f in ("CURRent", "VOLTage"):
            key = f[:4].upper()
            self.add(f"[SOURce]:{f}:READ:BACK", on_set=self._setter(self._set_flag, "readback", key),
                     on_query=lambda k=key: self.readback[k])
            self.add(f"[SOURce]:{f}:DELay:USER#", on_set=self._setter(self._set_user_delay, "source", key),
                     on_query=lambda n, k=key: self._user_delay("source", k, n))
            for kind in ("LINear", "LINear:STEP", "LOG", "LIST"):
                self.add(f"[SOURce]:SWEep:{f}:{kind}",
                         on_set=self._setter(self._sweep, key, kind.split(":")[-1].upper()[:4]))
            self.add(f"[SOURce]:LIST:{f}", on_set=self._setter(self._set_list, key, False),
                     on_query=lambda k=key: [float(v) for v in self.source_list[k]] or "")
            self.add(f"[SOURce]:LIST:{f}:APPend", on_set=self._setter(self._set_list, key, True))
            self.add(f"[SOURce]:LIST:{f}:POINts", on_query=lambda k=key: len(self.source_list[k]))
        self.add("[SENSe]:COUNt", on_set=self._set_count, on_query=lambda: self.count)
        self.add("[SENSe]:AZERo:ONCE", on_set=self._autozero_once)
        self.add("READ", on_query=self._read_query)
        self.add("MEASure", on_query=lambda *a: self._read_query(*a))
        self.add("FETCh", on_query=self._fetch_query)
        # ------------------------------------------------------------ buffer
        self.add("TRACe:CLEar", on_set=self._trace_clear)
        self.add("TRACe:MAKE", on_set=self._trace_make)
        self.add("TRACe:DELete", on_set=self._trace_delete)
        self.add("TRACe:TRIGger", on_set=self._trace_trigger)
        self.add("TRACe:POINts", on_set=self._set_points,
                 on_query=lambda *a: self._named_buffer(a[0] if a else None).capacity)
        self.add("TRACe:ACTual", on_query=lambda *a: self._actual(*a))
        self.add("TRACe:ACTual:STARt", on_query=lambda *a: 1 if self._actual(*a) else 0)
        self.add("TRACe:ACTual:END", on_query=lambda *a: self._actual(*a))
        self.add("TRACe:DATA", on_query=self._trace_data)
        for node, fn in (("AVERage", np.mean), ("MAXimum", np.max), ("MINimum", np.min),
                         ("STDDev", lambda v: np.std(v, ddof=1) if len(v) > 1 else 0.0)):
            self.add(f"TRACe:STATistics:{node}", on_query=lambda *a, fn=fn: self._statistic(fn, *a))
        self.add("TRACe:FEED", on_set=lambda *a: None)
        self.add("TRACe:FEED:CONTrol", on_set=lambda *a: None)
        self.add("STATus:MEASurement:ENABle", on_set=lambda *a: None, on_query=lambda: 0)
        self.add("FORMat[:DATA]", on_set=self._set_format, on_query=lambda: "ASC")
        # ------------------------------------------------------------ trigger model
        self.add("TRIGger:LOAD", on_set=self._trigger_load)
        self.add("INITiate[:IMMediate]", on_set=self._initiate)
        self.add("ABORt", on_set=self._abort)
        self.add("TRIGger:STATe", on_query=self._trigger_state)
        self.add("DIGital:LINE#:MODE", on_set=self._set_digital_mode,
                 on_query=lambda n: ",".join(self.digital_mode[self._line(n)]))
        self._replace("*STB", on_query=self.status_byte)
        self.add("*OPT", on_query=lambda: "0")          # no options installed
        self.add("*TST", on_query=lambda: 0)            # self-test passed
        # *LANG: kept in nonvolatile memory (not *RST); a change takes effect at the next
        # power cycle, which the simulator never has, so it keeps speaking SCPI
        self.add("*LANG", on_set=self._set_language, on_query=lambda: self.language)
        self.add("SYSTem:LFRequency", on_query=lambda: int(LINE_FREQUENCY_HZ))
        self.add("STATus:CLEar", on_set=lambda: None)   # event registers: none are simulated
        self.add("SYSTem:CLEar", on_set=self.errors.clear)   # the event log (error queue)

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
        self.rsense = {"CURR": 0, "VOLT": 0, "RES": 0}
        self.autozero = {"CURR": True, "VOLT": True, "RES": True}
        self.readback = {"CURR": True, "VOLT": True}
        self.user_delays_s = {(side, k, n): 0.0 for side in ("source", "sense")
                              for k in ("CURR", "VOLT", "RES") for n in range(1, USER_DELAYS + 1)}
        self.source_list: dict[str, list[float]] = {"CURR": [], "VOLT": []}
        self.count = 1
        self.buffers = {name: ReadingBuffer(DEFAULT_BUFFER_POINTS) for name in DEFAULT_BUFFERS}
        #: (count, delay_s, buffer name, source levels or None, source function)
        self.model: tuple | None = None
        self.model_running_until_s = 0.0
        self._model_generation = getattr(self, "_model_generation", 0) + 1
        #: digital I/O line -> (mode, direction) as :DIG:LINE<n>:MODE sets it
        self.digital_mode = {n: ("DIG", "IN") for n in range(1, DIGITAL_LINES + 1)}
        #: a running LogicTrigger model: [generation, in line, count left, delay, t_meas,
        #: buffer, the end of the reading under way, an edge latched while it ran]
        self._logic: list | None = None

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

    def _set_count(self, *args):
        count = self._number(args, "measure count", "readings", COUNT_RANGE)
        if count != int(count):
            raise ScpiError(DATA_OUT_OF_RANGE, f"measure count {count:g} is not a whole number")
        self.count = int(count)

    def _autozero_once(self):
        """A reference and a zero measurement now (the aperture of the active function)."""
        if self.DATASHEET_TIMING:
            self.lab.clock.advance(AUTOZERO_EXTRA_INTEGRATIONS * self._integration_s())

    def _user_delay_key(self, side: str, key: str, n: str) -> tuple:
        index = int(n) if n else 1
        if not 1 <= index <= USER_DELAYS:
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"DELay:USER{index}: the 2450 has "
                                                        f"USER1 .. USER{USER_DELAYS}")
        return side, key, index

    def _set_user_delay(self, side: str, key: str, n: str, *args):
        slot = self._user_delay_key(side, key, n)
        self.user_delays_s[slot] = self._number(args, "user delay", "s", DELAY_RANGE_S)

    def _user_delay(self, side: str, key: str, n: str) -> float:
        return self.user_delays_s[self._user_delay_key(side, key, n)]

    def _set_language(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "*LANG needs SCPI, TSP or SCPI2400")
        name = args[0].strip().upper()
        if name not in LANGUAGES:
            raise ScpiError(ILLEGAL_PARAMETER, f"command set {args[0]!r} is not one of {LANGUAGES}")
        self.language = name

    def _set_format(self, *args):
        text = args[0].strip().upper() if args else ""
        if not text.startswith("ASC"):
            raise ScpiError(ILLEGAL_PARAMETER, f"data format {text!r}: the simulator sends ASCII only")

    # ------------------------------------------------------------ measuring
    def _integration_s(self) -> float:
        return self.nplc[self.sense_function] / LINE_FREQUENCY_HZ

    def measure_time_s(self) -> float:
        """t_meas: one reading, as the datasheet's reading rate has it: the integration (plus
        a reference and a zero integration with autozero on) and the per-reading overhead,
        times the filter count."""
        key = self.sense_function
        count = self.average_count[key] if self.average_on[key] else 1
        if not self.DATASHEET_TIMING:
            return self._integration_s() * count
        integrations = 1 + (AUTOZERO_EXTRA_INTEGRATIONS if self.autozero[key] else 0)
        return (integrations * self._integration_s() + READING_OVERHEAD_S) * count

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
        if self.readback[self.source_function]:     # SOUR element: the measured source value
            source = current if self.source_function == "CURR" else voltage
        if key == "VOLT":
            value = voltage
        elif key == "CURR":
            value = current
        else:
            value = voltage / current if current else OVERFLOW
        if not self.sense_auto[key] and value != OVERFLOW and abs(value) > self.sense_range[key] * 1.05:
            value = OVERFLOW
        return float(value), float(source)

    def _store(self, buffer: ReadingBuffer, value: float, source: float, time_s: float,
               done_s: float) -> None:
        buffer.readings.append(Reading(value, source, time_s, done_s, _UNITS[self.sense_function],
                                       _UNITS[self.source_function], self.tripped))
        if len(buffer.readings) > buffer.capacity:      # buffers fill continuously
            del buffer.readings[: len(buffer.readings) - buffer.capacity]

    def _single_reading(self, buffer: ReadingBuffer) -> Reading:
        clock = self.lab.clock
        key = self.source_function
        if self.output_on and not self.delay_auto[key]:
            clock.advance(self.source_delay_s[key])
        start = clock.now_s
        value, source = self._measure_now()
        clock.advance(self.measure_time_s())
        self._store(buffer, value, source, start, clock.now_s)
        return buffer.readings[-1]

    def _read_query(self, *args):
        """:READ? / :MEAS?: ``[:SENS]:COUN`` readings into the buffer, the last one returned."""
        buffer, elements = self._buffer_and_elements(args)
        for _ in range(self.count):
            reading = self._single_reading(buffer)
        return self._format_reading(reading, elements, buffer)

    def _measure_query(self, key: str, *args):
        self.sense_function = key
        return self._read_query(*args)

    def _fetch_query(self, *args):
        buffer, elements = self._buffer_and_elements(args)
        done = self._done_readings(buffer)
        if not done:
            raise ScpiError(EXECUTION_ERROR, "no reading to fetch: take one with :READ? or :INIT")
        return self._format_reading(done[-1], elements, buffer)

    # ------------------------------------------------------------ buffer
    def _named_buffer(self, text: str | None) -> ReadingBuffer:
        name = "DEFBUFFER1" if text is None else text.strip().strip("'\"").upper()
        if name not in self.buffers:
            raise ScpiError(ILLEGAL_PARAMETER, f"reading buffer {text!r} does not exist: "
                                               f"make it with :TRAC:MAKE first")
        return self.buffers[name]

    @property
    def buffer(self) -> list[Reading]:
        """defbuffer1's readings (the buffer every driver uses)."""
        return self.buffers["DEFBUFFER1"].readings

    @property
    def capacity(self) -> int:
        return self.buffers["DEFBUFFER1"].capacity

    def _buffer_and_elements(self, args) -> tuple[ReadingBuffer, list[str]]:
        buffer = self._named_buffer(args[0] if args else None)
        if len(args) > 1 + MAX_ELEMENTS:
            raise ScpiError(ILLEGAL_PARAMETER, f"{len(args) - 1} buffer elements asked; "
                                               f"at most {MAX_ELEMENTS}")
        elements = [self._element(a) for a in args[1:]] or ["READing"]
        return buffer, elements

    @staticmethod
    def _element(text: str) -> str:
        element = match_mnemonic(text, ELEMENTS)
        if element is None:
            raise ScpiError(ILLEGAL_PARAMETER, f"buffer element {text.strip()!r} is not one of "
                                               f"{', '.join(ELEMENTS)}")
        return element

    def _format_reading(self, reading: Reading, elements: list[str], buffer: ReadingBuffer,
                        first_s: float | None = None) -> str:
        if first_s is None:                   # REL is relative to the buffer's first reading
            first_s = buffer.readings[0].time_s if buffer.readings else reading.time_s
        return ",".join(self._element_value(reading, e, first_s) for e in elements)

    @staticmethod
    def _element_value(reading: Reading, element: str, first_s: float) -> str:
        """One element as the 2450 prints it (2450-901-01 :TRACe:DATA?, buffer elements)."""
        utc_s = EPOCH_UTC_S + reading.time_s
        whole_s = int(np.floor(utc_s))
        stamp = np.datetime64(whole_s, "s").astype(object)          # a datetime, in UTC
        fraction = utc_s - whole_s
        if element == "READing":
            return format_number(float(reading.value))
        if element == "SOURce":
            return format_number(float(reading.source))
        if element == "RELative":
            return format_number(float(reading.time_s - first_s))
        if element == "SEConds":
            return str(whole_s)
        if element == "FRACtional":
            return format_number(float(fraction))
        if element == "DATE":
            return stamp.strftime("%m/%d/%Y")
        if element == "TIME":
            return stamp.strftime("%H:%M:%S") + f"{fraction:.9f}"[1:]
        if element == "TSTamp":
            return stamp.strftime("%m/%d/%Y %H:%M:%S") + f"{fraction:.9f}"[1:]
        if element == "UNIT":
            return {"V": "Volt DC", "A": "Amp DC", "Ohm": "Ohm"}[reading.unit]
        if element == "SOURUNIT":
            return {"V": "Volt DC", "A": "Amp DC"}[reading.source_unit]
        if element == "FORMatted":
            return _formatted(reading.value, reading.unit)
        if element == "SOURFORMatted":
            return _formatted(reading.source, reading.source_unit)
        if element == "STATus":
            return str(STATUS_SOURCE_LIMIT if reading.limited else 0)
        return str(STATUS_SOURCE_LIMIT if reading.limited else 0)      # SOURSTATus

    def _done_count(self, buffer: ReadingBuffer) -> int:
        """Readings finished by now: they are stored in time order, so only the last few
        (a reading still integrating) can be unfinished."""
        self.lab.clock.advance_to(self.lab.clock.now_s)     # run events due exactly now
        limit = self.lab.clock.now_s + TIME_SLACK_S
        readings = buffer.readings
        count = len(readings)
        while count and readings[count - 1].done_s > limit:
            count -= 1
        return count

    def _done_readings(self, buffer: ReadingBuffer) -> list[Reading]:
        return buffer.readings[:self._done_count(buffer)]

    def _actual(self, *args) -> int:
        return self._done_count(self._named_buffer(args[0] if args else None))

    def _trace_clear(self, *args):
        self._named_buffer(args[0] if args else None).readings.clear()

    def _set_points(self, *args):
        buffer = self._named_buffer(args[1] if len(args) > 1 else None)
        points = self._number(args, "buffer size", "readings", BUFFER_POINTS_RANGE)
        buffer.capacity = int(points)
        buffer.readings.clear()                 # resizing a buffer clears it, as on the 2450

    def _trace_make(self, *args):
        if len(args) < 2:
            raise ScpiError(MISSING_PARAMETER, ':TRAC:MAKE needs "<name>", <size>[, <style>]')
        name = args[0].strip().strip("'\"").upper()
        if not name or name in self.buffers:
            raise ScpiError(ILLEGAL_PARAMETER, f"reading buffer {args[0]} exists already "
                                               f"(defbuffer1/2 are built in): pick another name")
        size = self._number(args[1:2], "buffer size", "readings", USER_BUFFER_POINTS_RANGE)
        style = "STANdard"
        if len(args) > 2 and args[2].strip():   # QCoDeS sends an empty style: the default
            style = match_mnemonic(args[2], BUFFER_STYLES)
            if style is None:
                raise ScpiError(ILLEGAL_PARAMETER, f"buffer style {args[2]!r} is not one of "
                                                   f"{', '.join(BUFFER_STYLES)}")
        self.buffers[name] = ReadingBuffer(int(size), style)

    def _trace_delete(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, ':TRAC:DEL needs "<name>"')
        name = args[0].strip().strip("'\"").upper()
        if name in DEFAULT_BUFFERS:
            raise ScpiError(ILLEGAL_PARAMETER, f"{args[0]} is a default buffer and cannot be deleted")
        self._named_buffer(args[0])
        if self.model is not None and self.model[2] == name:
            self.model = None                   # its trigger model has nowhere to store
        del self.buffers[name]

    def _trace_trigger(self, *args):
        """:TRAC:TRIG: ``[:SENS]:COUN`` readings into the buffer, nothing returned."""
        buffer = self._named_buffer(args[0] if args else None)
        for _ in range(self.count):
            self._single_reading(buffer)

    def _trace_data(self, *args):
        if args and len(args) < 2:
            raise ScpiError(MISSING_PARAMETER, ":TRAC:DATA? needs <start>, <end>")
        buffer, elements = self._buffer_and_elements(args[2:])
        done = self._done_readings(buffer)
        if not args:                            # KeithleyBuffer.buffer_data sends no indexes
            if not done:
                return ""
            start, end = 1, len(done)
        else:
            start, end = int(parse_number(args[0])), int(parse_number(args[1]))
        if not 1 <= start <= end <= len(done):
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"readings {start} .. {end} requested but the buffer holds "
                            f"{len(done)} finished readings (1 .. {len(done)}); wait for the "
                            f"trigger model (*WAI) or ask :TRAC:ACT? first")
        first_s = done[0].time_s
        return ",".join(self._format_reading(r, elements, buffer, first_s)
                        for r in done[start - 1:end])

    def _statistic(self, fn, *args):
        done = self._done_readings(self._named_buffer(args[0] if args else None))
        if not done:
            return format_number(0.0)
        return format_number(float(fn(np.array([r.value for r in done]))))

    # ------------------------------------------------------------ sweeps
    def _set_list(self, key: str, append: bool, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, f":SOUR:LIST:{key} needs source values")
        limit = MAX_CURRENT_A if key == "CURR" else MAX_VOLTAGE_V
        values = [self._number([a], f"list {key.lower()} value", "A" if key == "CURR" else "V",
                               (-limit, limit)) for a in args]
        levels = (self.source_list[key] if append else []) + values
        if len(levels) > MAX_LIST_POINTS:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{len(levels)} source list values; the 2450 "
                                               f"holds at most {MAX_LIST_POINTS}")
        self.source_list[key] = levels

    def _sweep(self, key: str, kind: str, *args):
        """:SOUR:SWE:<f>:LIN|LIN:STEP|LOG|LIST: a source sweep into the trigger model; :INIT
        runs it (2450-901-01 :SOURce[1]:SWEep:<function>:LINear and after)."""
        unit = "A" if key == "CURR" else "V"
        limit = MAX_CURRENT_A if key == "CURR" else MAX_VOLTAGE_V
        if kind == "LIST":
            start = int(self._number(args[:1] or ["1"], "list start index", "", (1, MAX_LIST_POINTS)))
            if not self.source_list[key] or start > len(self.source_list[key]):
                raise ScpiError(SETTINGS_CONFLICT, f"the source list holds {len(self.source_list[key])} "
                                                   f"values; set it with :SOUR:LIST:{key} first")
            levels = list(self.source_list[key][start - 1:])
            rest, dual = args[1:], False
            delay_default = 0.0
            options = rest[2:3]                    # failAbort
            buffer_arg = rest[3:4]
        else:
            if len(args) < 3:
                raise ScpiError(MISSING_PARAMETER, f":SOUR:SWE:{key}:{kind} needs <start>, <stop>, "
                                                   f"<{'steps' if kind == 'STEP' else 'points'}>")
            first = self._number(args[0:1], "sweep start", unit, (-limit, limit))
            last = self._number(args[1:2], "sweep stop", unit, (-limit, limit))
            if kind == "STEP":
                step = self._number(args[2:3], "sweep step", unit, (0.0, 2 * limit))
                if step <= 0:
                    raise ScpiError(DATA_OUT_OF_RANGE, "sweep step must be greater than 0")
                points = int(np.floor(abs(last - first) / step + 1e-9)) + 1
                levels = [first + np.sign(last - first) * step * i for i in range(points)]
            else:
                points = self._number(args[2:3], "sweep points", "", SWEEP_POINTS_RANGE)
                if kind == "LOG":
                    if first == 0 or last == 0 or np.sign(first) != np.sign(last):
                        raise ScpiError(DATA_OUT_OF_RANGE, "a log sweep needs start and stop of one "
                                                           "sign, neither 0")
                    levels = list(np.geomspace(first, last, int(points)))
                else:
                    levels = list(np.linspace(first, last, int(points)))
            rest = args[3:]
            delay_default = -1.0
            dual = len(rest) > 4 and parse_bool(rest[4])
            options = rest[2:5]                    # rangeType, failAbort, dual
            buffer_arg = rest[5:6]                 # (LOG's asymptote, rest[6], changes nothing here)
            if len(options) > 0 and match_mnemonic(options[0], ("AUTO", "BEST", "FIXed")) is None:
                raise ScpiError(ILLEGAL_PARAMETER, f"sweep range type {options[0]!r} is not "
                                                   f"AUTO, BEST or FIXed")
        delay = self._number(rest[0:1], "sweep delay", "s", (-1.0, DELAY_RANGE_S[1])) \
            if rest[0:1] else delay_default
        count = int(self._number(rest[1:2], "sweep count", "", (1, SIMPLE_LOOP_COUNT_RANGE[1]))) \
            if rest[1:2] else 1
        for flag in options[1 if kind != "LIST" else 0:]:
            parse_bool(flag)
        buffer = self._named_buffer(buffer_arg[0]) if buffer_arg else self.buffers["DEFBUFFER1"]
        if dual:
            levels = levels + levels[::-1]
        name = next(n for n, b in self.buffers.items() if b is buffer)
        # delay -1 = autodelay: the simulator's source settles at once, so it adds no time
        self.model = (len(levels) * count, max(delay, 0.0), name, [float(v) for v in levels], key)

    # ------------------------------------------------------------ trigger model
    def _trigger_load(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, ':TRIG:LOAD needs "SimpleLoop", <count>[, <delay>]')
        name = args[0].strip().strip("'\"").upper()
        if name == "EMPTY":
            self.model = None
            return
        if name == "LOGICTRIGGER":
            self._logic_trigger_load(args[1:])
            return
        if name != "SIMPLELOOP":
            raise ScpiError(ILLEGAL_PARAMETER, f"trigger model {args[0]} is not simulated; use "
                                               f'"SimpleLoop", "LogicTrigger" or "Empty"')
        if len(args) < 2:
            raise ScpiError(MISSING_PARAMETER, '"SimpleLoop" needs a count')
        count = self._number(args[1:2], "SimpleLoop count", "readings", SIMPLE_LOOP_COUNT_RANGE)
        if count != int(count):
            raise ScpiError(DATA_OUT_OF_RANGE, f"SimpleLoop count {count:g} is not a whole number")
        delay = self._number(args[2:3], "SimpleLoop delay", "s", DELAY_RANGE_S) if len(args) > 2 else 0.0
        if len(args) > 3:
            self._named_buffer(args[3])
        name = args[3].strip().strip("'\"").upper() if len(args) > 3 else "DEFBUFFER1"
        self.model = (int(count), float(delay), name, None, None)

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
        count, delay, name, levels, source_key = self.model
        if name not in self.buffers:
            raise ScpiError(EXECUTION_ERROR, f"the trigger model's buffer {name} was deleted")
        if levels == "LOGIC":
            self._logic_initiate(t0, count, delay, self.buffers[name], source_key)
            return
        t_meas = self.measure_time_s()
        self._model_generation += 1
        generation = self._model_generation
        run = (generation, t0, count, delay, t_meas, self.buffers[name], levels, source_key)
        clock.schedule(t0 + delay, self._reading_event(run, 0))
        self.model_running_until_s = t0 + count * (delay + t_meas)
        self.busy_until_s = max(self.busy_until_s, self.model_running_until_s)
        self.lab.fire_trigger_link(t0)

    def _reading_event(self, run: tuple, k: int):
        """Reading k at t_k = t0 + (k + 1) delay + k t_meas (a sweep sources its level k
        first); it schedules reading k + 1 (one pending event per model, whatever the count)."""
        generation, t0, count, delay, t_meas, buffer, levels, source_key = run

        def take(t: float) -> None:
            if generation != self._model_generation:
                return
            if levels is not None:
                self.source_function = source_key
                self.level[source_key] = levels[k % len(levels)]
            value, source = self._measure_now()
            self._store(buffer, value, source, t, t + t_meas)
            if k + 1 < count:
                t_next = t0 + (k + 2) * delay + (k + 1) * t_meas
                self.lab.clock.schedule(t_next, self._reading_event(run, k + 1))
        return take

    # ------------------------------------------------------------ LogicTrigger (digital in)
    @staticmethod
    def _line(n: str) -> int:
        line = int(n) if n else 1
        if not 1 <= line <= DIGITAL_LINES:
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"DIG:LINE{line}: the 2450 has digital "
                                                        f"I/O lines 1 .. {DIGITAL_LINES}")
        return line

    def _set_digital_mode(self, n: str, *args):
        """:DIG:LINE<n>:MODE DIG|TRIG|SYNC, IN|OUT|OPENdrain (2450-901-01 :DIGital:LINE:MODE)."""
        line = self._line(n)
        if len(args) < 2:
            raise ScpiError(MISSING_PARAMETER, f":DIG:LINE{line}:MODE needs a mode and a direction")
        mode = match_mnemonic(args[0].strip().upper(), ("DIGital", "TRIGger", "SYNChronous"))
        direction = match_mnemonic(args[1].strip().upper(), ("IN", "OUT", "OPENdrain"))
        if mode is None or direction is None:
            raise ScpiError(ILLEGAL_PARAMETER, f"digital line mode {args[0]!r}, {args[1]!r}")
        self.digital_mode[line] = (mode[:4].upper(), direction[:3].upper()
                                   if direction != "OPENdrain" else "OPEN")

    def _logic_trigger_load(self, args):
        """``"LogicTrigger", <digInLine>, <digOutLine>, <count>, <clear>[, <delay>[, <buffer>]]``
        (2450-901-01 :TRIGger:LOAD "LogicTrigger"): per reading, wait for an edge on the
        digital input line, wait ``delay``, measure, pulse the output line; ``count`` times.
        ``clear`` ENTer empties the buffer when the model starts, NEVer keeps it."""
        if len(args) < 4:
            raise ScpiError(MISSING_PARAMETER, '"LogicTrigger" needs <digInLine>, <digOutLine>, '
                                               '<count>, <clear>')
        line_in = self._number(args[0:1], "digital input line", "", (1, DIGITAL_LINES))
        self._number(args[1:2], "digital output line", "", (1, DIGITAL_LINES))
        count = self._number(args[2:3], "LogicTrigger count", "readings", SIMPLE_LOOP_COUNT_RANGE)
        if count != int(count) or line_in != int(line_in):
            raise ScpiError(DATA_OUT_OF_RANGE, "LogicTrigger line and count are whole numbers")
        clear = match_mnemonic(args[3].strip().upper(), ("ENTer", "NEVer"))
        if clear is None:
            raise ScpiError(ILLEGAL_PARAMETER, f"LogicTrigger clear {args[3]!r} is not ENT or NEV")
        delay = self._number(args[4:5], "LogicTrigger delay", "s", DELAY_RANGE_S) \
            if len(args) > 4 else 0.0
        name = args[5].strip().strip("'\"").upper() if len(args) > 5 else "DEFBUFFER1"
        self._named_buffer(name)
        self.model = (int(count), float(delay), name, "LOGIC", (int(line_in), clear == "ENTer"))

    def _logic_initiate(self, t0: float, count: int, delay: float, buffer, how) -> None:
        line, clear = how
        if self.digital_mode[line] != ("TRIG", "IN"):
            raise ScpiError(SETTINGS_CONFLICT, f"LogicTrigger waits on digital line {line}, which "
                                               f"is not a trigger input (:DIG:LINE{line}:MODE "
                                               "TRIG, IN)")
        if clear:
            buffer.readings.clear()
        self._model_generation += 1
        self._logic = [self._model_generation, line, count, delay, self.measure_time_s(),
                       buffer, t0, False]
        self.model_running_until_s = float("inf")     # until its last reading
        self.busy_until_s = max(self.busy_until_s, t0)
        self.lab.fire_trigger_link(t0)

    def digital_trigger_in(self, line: int, time_s: float) -> None:
        """An edge on digital I/O ``line`` at ``time_s`` (the pulse generator's trigger out):
        a LogicTrigger model waiting on it takes its next reading ``delay`` later; an edge
        while a reading is under way is latched (one) and served when it ends, as the
        2450's event detector holds one event."""
        logic = self._logic
        if logic is None or logic[0] != self._model_generation or logic[1] != line:
            return
        if logic[2] <= 0:
            return
        if time_s < logic[6] - TIME_SLACK_S:
            if logic[7]:
                self.push_error(EXECUTION_ERROR, "LogicTrigger: trigger overrun, an edge lost")
            logic[7] = True
            return
        self._logic_reading(time_s)

    def _logic_reading(self, edge_s: float) -> None:
        logic = self._logic
        generation, _, _, delay, t_meas, buffer = logic[:6]
        start = edge_s + delay
        logic[2] -= 1
        logic[6] = start + t_meas
        self.busy_until_s = max(self.busy_until_s, logic[6])
        if logic[2] == 0:
            self.model_running_until_s = logic[6]

        def take(t: float) -> None:
            if generation != self._model_generation:
                return
            value, source = self._measure_now()
            self._store(buffer, value, source, t, t + t_meas)
            if logic[7] and logic[2] > 0:          # serve the latched edge now
                logic[7] = False
                self._logic_reading(t + t_meas)
        self.lab.clock.schedule(start, take)

    def _abort(self, *args):
        now = self.lab.clock.now_s
        self._model_generation += 1
        # readings already under way finish; later ones never start
        self.model_running_until_s = min(self.model_running_until_s, now)
        self.busy_until_s = max((r.done_s for b in self.buffers.values() for r in b.readings
                                 if r.done_s > now), default=now)

    def _trigger_state(self):
        state = "RUNNING" if self._model_running() else "IDLE"
        return f"{state};{state};0"

    # ------------------------------------------------------------ status
    def status_byte(self) -> int:
        """``*STB?``: a running trigger model is waited for (as an SRQ wait would)."""
        if self._model_running():
            self._wait()
        stb = STB_ERROR_AVAILABLE if self.errors else 0
        if self._done_count(self.buffers["DEFBUFFER1"]) >= self.capacity:    # buffer full
            stb |= STB_MEASUREMENT_SUMMARY | STB_MASTER_SUMMARY
        return stb
