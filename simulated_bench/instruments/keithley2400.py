"""Keithley 2400 SourceMeter: the bench's second (auxiliary) SMU.

Wiring: the 2400 reaches a device only through the matrix row the bench file names as
``wiring.aux_row`` (default 3): it sources into, and measures, the device whose aux-row
crosspoint is closed on the 7709. With no such crosspoint closed its terminals are open:
a current source runs into voltage compliance and a voltage source drives no current.
That is the honest picture of a spare SMU on a switch matrix, and it keeps the 2400 from
touching a device unless the user routes it there.

Commands (what ``pymeasure.instruments.keithley.Keithley2400`` and ``KeithleyBuffer`` send):

- source: ``:SOURce:FUNCtion CURR|VOLT``, ``:SOURce:CURRent|VOLTage[:LEVel]`` (+-1.05 A /
  +-210 V), their ``:RANGe`` and ``:RANGe:AUTO``, ``:SOURce:DELay[:AUTO]``,
  ``:SOURce:CLEar:AUTO`` (auto output-off), ``OUTPut[:STATe]``, ``:OUTPut:SMODe``;
- sense: ``:SENSe:FUNCtion 'CURR'[,'VOLT']``, ``:SENSe:FUNCtion:ALL``, ``:SENSe:FUNCtion:OFF:ALL``,
  ``:SENSe:CURRent|VOLTage|RESistance:NPLCycles`` (one global NPLC, 0.01-10),
  ``:SENSe:CURRent:PROTection`` / ``:SENSe:VOLTage:PROTection`` (compliance),
  ``:SENSe:<f>:RANGe[:AUTO]``, ``:SENSe:RESistance:MODE MAN|AUTO``, ``:SENSe:AVERage...``;
- readings: ``:READ?``, ``:MEASure[:<f>]?`` (configure + read; turns the output on),
  ``:FETCh?``, ``:INITiate``, ``:FORMat:ELEMents`` (V, I, R, TIME, STATUS in that fixed order,
  unmeasured values 9.91e37), ``:FORMat:DATA ASCII``;
- buffer and trigger: ``:TRACe:POINts``, ``:TRACe:FEED SENS``, ``:TRACe:FEED:CONTrol
  NEXT|NEVer``, ``:TRACe:CLEar``, ``:TRACe:DATA?``, ``:TRIGger:COUNt``, ``:ARM:COUNt``,
  ``:TRIGger:DELay``, the trigger / arm sources and lines, ``:ABORt``;
  ``:CALCulate3:FORMat MEAN|SDEV|MAX|MIN|PKPK`` + ``:CALCulate3:DATA?`` (statistics of V, I, R
  over the buffer); ``*STB?`` bit 0 (measurement summary: buffer full, enabled by
  ``:STATus:MEASurement:ENABle 512``) and bit 6 (with ``*SRE 1``), as
  ``KeithleyBuffer.is_buffer_full`` polls;
- ``:SYSTem:BEEPer``, ``:DISPlay:ENABle``, ``:SYSTem:RSENse``, ``:SYSTem:AZERo[:STATe]``,
  ``:SYSTem:LFRequency[:AUTO]``, ``:ROUTe:TERMinals``.

Behaviour kept from the real instrument: ``:READ?`` with the output off (and auto output-off
disabled) is refused with error ``+803 "Output disabled"`` and sends no reply (a real 2400
times out the same way); with ``:SOURce:CLEar:AUTO ON`` the output turns on for the
reading and off after it. A reading in compliance sets status bit 3 (value 8).

Timing: a reading integrates NPLC / line frequency (twice that with auto-zero on) plus the
source delay; ``:INITiate`` runs the arm x trigger count readings on the virtual clock, so
``*OPC?`` / ``*WAI`` / a status poll return when they are done. A status poll
(``*STB?``) of a running acquisition waits for it, as an SRQ wait would: the simulator has no
notion of the controller's real-time polling interval.
"""

from __future__ import annotations

import numpy as np

from simulated_bench.clock import LINE_FREQUENCY_HZ
from simulated_bench.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    format_number,
    parse_bool,
    parse_number,
)

NOT_MEASURED = 9.91e37
OUTPUT_DISABLED = (803, "Output disabled")
MAX_CURRENT_A = 1.05
MAX_VOLTAGE_V = 210.0
ELEMENTS = ("VOLT", "CURR", "RES", "TIME", "STAT")
FUNCTIONS = ("VOLT", "CURR", "RES")
STATUS_FRONT = 4
STATUS_COMPLIANCE = 8
READING_OVERHEAD_S = 0.4e-3
#: the ranges as the 2400 reports them (nominal x 1.05)
CURRENT_RANGES_A = (1.05e-6, 1.05e-5, 1.05e-4, 1.05e-3, 1.05e-2, 1.05e-1, 1.05)
VOLTAGE_RANGES_V = (0.21, 2.1, 21.0, 210.0)
#: open terminals: the current reading is the input's noise, a few pA rms at NPLC 1
#: (falls as 1 / sqrt(NPLC)), never an exact 0
OPEN_NOISE_A = 2e-12
BUFFER_MAX_POINTS = 2500
STB_MEASUREMENT_SUMMARY = 0x01
STB_MASTER_SUMMARY = 0x40
MEAS_BUFFER_FULL = 512


def _function_name(text: str) -> str:
    """``'CURR:DC'`` / ``"VOLTage"`` / ``RES`` -> CURR | VOLT | RES."""
    name = text.strip().strip("'\"").upper().split(":")[0]
    for function, long_form in (("VOLT", "VOLTAGE"), ("CURR", "CURRENT"), ("RES", "RESISTANCE")):
        if name.startswith(function) and long_form.startswith(name):
            return function
    raise ScpiError(ILLEGAL_PARAMETER,
                    f"sense function {text.strip()!r}: the 2400 measures 'VOLT', 'CURR', 'RES'")


class Keithley2400(ScpiInstrument):
    """2400 SourceMeter on the aux row of the switch matrix."""

    IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4000001,C32   Oct  4 2010 14:20:11/A02  /K/J"

    def __init__(self, lab, address: str):
        super().__init__(lab, address)
        self.buffer: list[list[float]] = []
        self.last_reading: list[float] | None = None
        self.sense_functions: set[str] = set()
        self._timestamp_zero_s = 0.0
        self._acquisition_end_s = 0.0
        self._measurement_enable = 0
        self._service_enable = 0
        self._armed = False
        s = self.add_setting
        # source
        s(":SOURce:FUNCtion[:MODE]", "source_function", "VOLT", parse=str, choices=("VOLTage", "CURRent"))
        s(":SOURce:CURRent[:LEVel][:IMMediate][:AMPLitude]", "source_current_A", 0.0,
          limits=(-MAX_CURRENT_A, MAX_CURRENT_A))
        s(":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "source_voltage_V", 0.0,
          limits=(-MAX_VOLTAGE_V, MAX_VOLTAGE_V))
        s(":SOURce:CURRent:RANGe", "source_current_range_A", 1.05e-4,
          parse=lambda t: abs(parse_number(t)), limits=(0, MAX_CURRENT_A),
          on_change=lambda v: self._set("source_current_range_auto", False))
        s(":SOURce:VOLTage:RANGe", "source_voltage_range_V", 21.0,
          parse=lambda t: abs(parse_number(t)), limits=(0, MAX_VOLTAGE_V),
          on_change=lambda v: self._set("source_voltage_range_auto", False))
        s(":SOURce:CURRent:RANGe:AUTO", "source_current_range_auto", True, parse=parse_bool)
        s(":SOURce:VOLTage:RANGe:AUTO", "source_voltage_range_auto", True, parse=parse_bool)
        s(":SOURce:DELay", "source_delay_s", 1e-3, limits=(0.0, 999.9999),
          on_change=lambda v: self._set("source_delay_auto", False))
        s(":SOURce:DELay:AUTO", "source_delay_auto", True, parse=parse_bool)
        s(":SOURce:CLEar:AUTO", "auto_output_off", False, parse=parse_bool)
        s(":OUTPut:SMODe", "output_off_mode", "NORM", parse=str,
          choices=("HIMPedance", "NORMal", "ZERO", "GUARd"))
        # sense
        s(":SENSe:CURRent[:DC]:PROTection[:LEVel]", "compliance_current_A", 1.05e-4,
          parse=lambda t: abs(parse_number(t)), limits=(0.0, MAX_CURRENT_A))
        s(":SENSe:VOLTage[:DC]:PROTection[:LEVel]", "compliance_voltage_V", 21.0,
          parse=lambda t: abs(parse_number(t)), limits=(0.0, MAX_VOLTAGE_V))
        for function in ("CURRent[:DC]", "VOLTage[:DC]", "RESistance"):
            self.add(f":SENSe:{function}:NPLCycles", on_set=self._set_nplc,
                     on_query=lambda *a: self.settings["nplc"])
            self.add(f":SENSe:{function}:RANGe:AUTO", on_set=lambda *a: None,
                     on_query=lambda *a: 1)
        self._setting_defaults["nplc"] = self.settings["nplc"] = 1.0
        s(":SENSe:CURRent[:DC]:RANGe[:UPPer]", "sense_current_range_A", 1.05e-4,
          parse=lambda t: abs(parse_number(t)), limits=(0, MAX_CURRENT_A))
        s(":SENSe:VOLTage[:DC]:RANGe[:UPPer]", "sense_voltage_range_V", 21.0,
          parse=lambda t: abs(parse_number(t)), limits=(0, MAX_VOLTAGE_V))
        s(":SENSe:RESistance:RANGe[:UPPer]", "sense_resistance_range_ohm", 2.1e5,
          parse=lambda t: abs(parse_number(t)), limits=(0, 2.1e8))
        s(":SENSe:RESistance:MODE", "resistance_mode", "MAN", parse=str, choices=("MANual", "AUTO"))
        s(":SENSe:AVERage[:STATe]", "filter_enabled", False, parse=parse_bool)
        s(":SENSe:AVERage:TCONtrol", "filter_type", "REP", parse=str, choices=("REPeat", "MOVing"))
        s(":SENSe:AVERage:COUNt", "filter_count", 10, parse=lambda t: int(parse_number(t)),
          limits=(1, 100))
        self.add(":SENSe:FUNCtion[:ON]", on_set=self._sense_on, on_query=self._sense_query)
        self.add(":SENSe:FUNCtion:OFF", on_set=self._sense_off)
        self.add(":SENSe:FUNCtion:ALL", on_set=lambda: self.sense_functions.update(FUNCTIONS))
        self.add(":SENSe:FUNCtion[:ON]:ALL", on_set=lambda: self.sense_functions.update(FUNCTIONS))
        self.add(":SENSe:FUNCtion:OFF:ALL", on_set=lambda: self.sense_functions.clear())
        self.add(":SENSe:FUNCtion:CONCurrent", on_set=lambda *a: None, on_query=lambda: 1)
        # output, readings, format
        self.add("OUTPut[:STATe]", on_set=self._set_output, on_query=lambda *a: self.output_on)
        self.add(":READ", on_query=self._read)
        self.add(":FETCh", on_query=self._fetch)
        self.add(":MEASure", on_query=lambda *a: self._measure(None))
        for function, name in (("CURRent[:DC]", "CURR"), ("VOLTage[:DC]", "VOLT"),
                               ("RESistance", "RES")):
            self.add(f":MEASure:{function}", on_query=lambda *a, f=name: self._measure(f))
            self.add(f":CONFigure:{function}", on_set=lambda *a, f=name: self._configure(f))
        self.add(":INITiate[:IMMediate]", on_set=self._initiate)
        self.add(":ABORt", on_set=self._abort)
        self.add(":FORMat:ELEMents[:SENSe]", on_set=self._set_elements,
                 on_query=lambda: ",".join(self.elements))
        s(":FORMat[:DATA]", "data_format", "ASC", parse=str, choices=("ASCii",))
        # buffer, trigger, statistics
        s(":TRACe:POINts", "buffer_points", 100, parse=lambda t: int(parse_number(t)),
          limits=(1, BUFFER_MAX_POINTS))
        s(":TRACe:FEED", "buffer_feed", "SENS", parse=str, choices=("SENSe", "SENSe1", "CALCulate", "CALCulate1", "CALCulate2", "NONE"))
        s(":TRACe:FEED:CONTrol", "buffer_control", "NEV", parse=str, choices=("NEXT", "NEVer"))
        self.add(":TRACe:CLEar", on_set=lambda: self.buffer.clear())
        self.add(":TRACe:DATA", on_query=self._trace_data)
        self.add(":TRACe:POINts:ACTual", on_query=lambda: len(self.buffer))
        s(":TRIGger:COUNt", "trigger_count", 1, parse=lambda t: int(parse_number(t)),
          limits=(1, BUFFER_MAX_POINTS))
        s(":ARM:COUNt", "arm_count", 1, parse=lambda t: int(parse_number(t)),
          limits=(1, BUFFER_MAX_POINTS))
        s(":TRIGger:DELay", "trigger_delay_s", 0.0, limits=(0.0, 999.9999))
        s(":ARM:TIMer", "arm_timer_s", 0.1, limits=(0.001, 99999.99))
        s(":TRIGger:SOURce", "trigger_source", "IMM", parse=str, choices=("IMMediate", "TLINk"))
        s(":ARM:SOURce", "arm_source", "IMM", parse=str,
          choices=("IMMediate", "TLINk", "TIMer", "MANual", "BUS", "NSTest", "PSTest", "BSTest"))
        s(":TRIGger:OUTPut", "trigger_output", "NONE", parse=str,
          choices=("SOURce", "DELay", "SENSe", "NONE"))
        s(":ARM:OUTPut", "arm_output", "NONE", parse=str, choices=("TENTer", "TEXit", "NONE"))
        for layer in ("TRIGger", "ARM"):
            for line in ("ILINe", "OLINe"):
                s(f":{layer}:{line}", f"{layer.lower()}_{line.lower()}", 1,
                  parse=lambda t: int(parse_number(t)), limits=(1, 4))
        self.add(":TRIGger:CLEar", on_set=lambda: None)
        s(":CALCulate#:FORMat", "statistic", "MEAN", parse=str,
          choices=("MEAN", "SDEViation", "MAXimum", "MINimum", "PKPK"))
        self.add(":CALCulate#:DATA", on_query=self._statistics)
        self.add(":STATus:MEASurement:ENABle", on_set=self._set_measurement_enable,
                 on_query=lambda: self._measurement_enable)
        self.add(":STATus:MEASurement[:EVENt]", on_query=self._measurement_event)
        self.remove("*SRE")
        self.remove("*STB")
        self.remove("SYSTem:BEEPer[:IMMediate]")
        self.add("*SRE", on_set=self._set_service_enable, on_query=lambda: self._service_enable)
        self.add("*STB", on_query=self._status_byte)
        # system, display
        self.add("SYSTem:BEEPer[:IMMediate]", on_set=self._beep)
        s(":SYSTem:BEEPer:STATe", "beeper_enabled", True, parse=parse_bool)
        s(":DISPlay:ENABle", "display_enabled", True, parse=parse_bool)
        s(":SYSTem:RSENse", "four_wire", False, parse=parse_bool)
        self.add(":SYSTem:AZERo[:STATe]", on_set=self._set_auto_zero,
                 on_query=lambda: self.settings["auto_zero"])
        self._setting_defaults["auto_zero"] = self.settings["auto_zero"] = True
        s(":SYSTem:LFRequency", "line_frequency_Hz", int(LINE_FREQUENCY_HZ),
          parse=lambda t: int(parse_number(t)), choices=(50, 60))
        s(":SYSTem:LFRequency:AUTO", "line_frequency_auto", False, parse=parse_bool)
        s(":ROUTe:TERMinals", "terminals", "FRON", parse=str, choices=("FRONt", "REAR"))
        self.add(":SYSTem:TIME:RESet", on_set=self._reset_timestamp)
        # the sourced quantity's measure range is the source range (2400 manual, "Range")
        for kind, setting in (("CURR", "sense_current_range_A"), ("VOLT", "sense_voltage_range_V")):
            long_form = "CURRent" if kind == "CURR" else "VOLTage"
            command = next(c for c in self.commands
                           if c.path == f":SENSe:{long_form}[:DC]:RANGe[:UPPer]")
            command.on_query = lambda *a, k=kind, n=setting: (
                self.source_range(k) if self.settings["source_function"] == k else self.settings[n])
        # a stream of its own: open-terminal noise leaves the bench's other draws unchanged
        self.open_noise_rng = np.random.default_rng(
            np.random.SeedSequence([int(lab.config.seed), 2400]))
        self.output_on = False
        self.elements = list(ELEMENTS)
        self.reset()

    # ------------------------------------------------------------ helpers
    def remove(self, pattern: str) -> None:
        """Drop a header the base class declared, so this instrument's own handler answers."""
        path = pattern.rstrip("?").lstrip(":")
        self.commands = [c for c in self.commands if c.path.lstrip(":") != path]

    def source_range(self, kind: str) -> float:
        """The source range in effect: the set one, or with auto range the smallest that
        holds the level."""
        ranges = CURRENT_RANGES_A if kind == "CURR" else VOLTAGE_RANGES_V
        level, fixed, auto = (("source_current_A", "source_current_range_A", "source_current_range_auto")
                              if kind == "CURR" else
                              ("source_voltage_V", "source_voltage_range_V", "source_voltage_range_auto"))
        wanted = abs(self.settings[level]) if self.settings[auto] else self.settings[fixed]
        return next((r for r in ranges if wanted <= r * 1.0000001), ranges[-1])

    def _set(self, name, value):
        self.settings[name] = value

    def _set_auto_zero(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "AZER:STAT needs ON|OFF|ONCE")
        if args[-1].strip().upper() == "ONCE":
            self.lab.clock.advance(self.integration_s)   # one zero measurement now
            return
        self.settings["auto_zero"] = parse_bool(args[-1])

    def _set_nplc(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "NPLC value missing")
        value = parse_number(args[-1])
        if not 0.01 <= value <= 10:
            raise ScpiError(DATA_OUT_OF_RANGE, f"NPLC {value:g} outside 0.01-10")
        self.settings["nplc"] = value

    def _sense_on(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "sense function missing")
        self.sense_functions.update(_function_name(a) for a in args)

    def _sense_off(self, *args):
        for a in args:
            self.sense_functions.discard(_function_name(a))

    def _sense_query(self, *args):
        names = {"VOLT": '"VOLT:DC"', "CURR": '"CURR:DC"', "RES": '"RES"'}
        return ",".join(names[f] for f in FUNCTIONS if f in self.sense_functions)

    def _set_elements(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "no elements given")
        chosen = set()
        for arg in args:
            name = arg.strip().upper()
            match = [e for e in ELEMENTS if name.startswith(e)]
            if not match:
                raise ScpiError(ILLEGAL_PARAMETER,
                                f"element {arg.strip()!r}: choose from VOLT, CURR, RES, TIME, STAT")
            chosen.add(match[0])
        self.elements = [e for e in ELEMENTS if e in chosen]

    def _set_measurement_enable(self, *args):
        self._measurement_enable = int(parse_number(args[-1])) if args else 0

    def _set_service_enable(self, *args):
        self._service_enable = int(parse_number(args[-1])) if args else 0

    def _reset_timestamp(self):
        self._timestamp_zero_s = self.lab.clock.now_s

    def _beep(self, *args):
        if len(args) >= 1:
            frequency_Hz = parse_number(args[0])
            if not 65 <= frequency_Hz <= 2e6:
                raise ScpiError(DATA_OUT_OF_RANGE, f"beep frequency {frequency_Hz:g} Hz outside 65 Hz-2 MHz")
        if len(args) >= 2:
            duration_s = parse_number(args[1])
            if not 0 <= duration_s <= 7.9:
                raise ScpiError(DATA_OUT_OF_RANGE, f"beep duration {duration_s:g} s outside 0-7.9 s")

    # ------------------------------------------------------------ state
    def reset(self) -> None:
        super().reset()
        self.output_on = False
        self.sense_functions = {"CURR"}
        self.elements = list(ELEMENTS)
        self.buffer.clear()
        self.last_reading = None
        self._measurement_enable = 0
        self._service_enable = 0
        self._armed = False
        self._acquisition_end_s = min(self._acquisition_end_s, self.lab.clock.now_s)

    def _set_output(self, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "OUTP needs 0|1|ON|OFF")
        self.output_on = parse_bool(args[-1])

    @property
    def integration_s(self) -> float:
        return self.settings["nplc"] / float(self.settings["line_frequency_Hz"])

    def reading_time_s(self) -> float:
        """Virtual seconds one reading takes: delay + integration (x2 with auto-zero)."""
        delay_s = 1e-3 if self.settings["source_delay_auto"] else self.settings["source_delay_s"]
        zero = 2.0 if self.settings["auto_zero"] else 1.0
        return delay_s + self.integration_s * zero + READING_OVERHEAD_S

    # ------------------------------------------------------------ one reading
    def take_reading(self) -> list[float]:
        """Source and measure once through the wiring; returns the five raw elements."""
        sourcing_current = self.settings["source_function"] == "CURR"
        bench = self.lab
        row = bench.config.wiring.aux_row
        nplc = self.settings["nplc"]
        if sourcing_current:
            level_A = self.settings["source_current_A"]
            voltage, current, compliance = bench.source_and_measure(
                level_A, self.settings["compliance_voltage_V"], self.integration_s, nplc, row=row)
        else:
            level_V = self.settings["source_voltage_V"]
            voltage, current, compliance = bench.source_voltage_and_measure(
                level_V, self.settings["compliance_current_A"], nplc, row=row)
        functions = self.sense_functions
        if "RES" in functions:
            res = voltage / current if current else NOT_MEASURED
        else:
            res = NOT_MEASURED
        if current == 0.0:      # open terminals (or nothing driven): the input's noise floor
            current = OPEN_NOISE_A / np.sqrt(max(nplc, 0.01)) * self.open_noise_rng.standard_normal()
        volt = voltage if ("VOLT" in functions or not sourcing_current) else NOT_MEASURED
        curr = current if ("CURR" in functions or sourcing_current) else NOT_MEASURED
        status = (STATUS_FRONT if self.settings["terminals"] == "FRON" else 0) | (
            STATUS_COMPLIANCE if compliance else 0)
        stamp_s = bench.clock.now_s - self._timestamp_zero_s
        reading = [float(volt), float(curr), float(res), float(stamp_s), float(status)]
        self.last_reading = reading
        return reading

    def _format_reading(self, reading: list[float]) -> str:
        out = []
        for element, value in zip(ELEMENTS, reading):
            if element in self.elements:
                out.append(format_number(value))
        return ",".join(out)

    def _read_once(self) -> str:
        """READ?: trigger (arm x trigger count readings), then return them all."""
        self._wait()
        auto_off = self.settings["auto_output_off"]
        if not self.output_on and not auto_off:
            raise ScpiError(OUTPUT_DISABLED, "turn the output on (OUTP ON) before :READ?")
        self.output_on = True
        readings = []
        count = self.settings["trigger_count"] * self.settings["arm_count"]
        for _ in range(count):
            self.lab.clock.advance(self.reading_time_s() + self.settings["trigger_delay_s"])
            reading = self.take_reading()
            readings.append(reading)
            self._store(reading)
        if auto_off:
            self.output_on = False
        return ",".join(self._format_reading(r) for r in readings)

    def _read(self, *args):
        return self._read_once()

    def _fetch(self, *args):
        self._wait()
        if self.last_reading is None:
            raise ScpiError((-230, "Data corrupt or stale"), "no reading yet; send :READ? or :INIT")
        return self._format_reading(self.last_reading)

    def _configure(self, function: str) -> None:
        self.sense_functions = {function}
        if function == "RES" and self.settings["resistance_mode"] == "AUTO":
            self.settings["source_function"] = "CURR"

    def _measure(self, function: str | None):
        """MEASure[:<f>]?: configure that function, turn the output on, read."""
        if function is not None:
            self._configure(function)
        if not self.output_on and not self.settings["auto_output_off"]:
            self.output_on = True
        return self._read_once()

    def _store(self, reading: list[float]) -> None:
        if self.settings["buffer_control"] != "NEXT":
            return
        if len(self.buffer) < self.settings["buffer_points"]:
            self.buffer.append(reading)
        if len(self.buffer) >= self.settings["buffer_points"]:
            self.settings["buffer_control"] = "NEV"   # NEXT fills once, then stops

    # ------------------------------------------------------------ triggered acquisition
    def _initiate(self):
        """INIT: leave idle. With the arm source IMM (or TIM) the arm x trigger count readings
        run at once in the background on the virtual clock; with BUS they wait for ``*TRG``;
        with TLIN / MAN they wait for an event this bench never wires (a real 2400 waits
        too: ``:ABORt`` ends the wait)."""
        if not self.output_on and not self.settings["auto_output_off"]:
            raise ScpiError(OUTPUT_DISABLED, "turn the output on (OUTP ON) before :INIT")
        if self.lab.clock.now_s < self._acquisition_end_s or self._armed:
            raise ScpiError(SETTINGS_CONFLICT, "an acquisition is already running; :ABORt it first")
        if self.settings["arm_source"] in ("IMM", "TIM"):
            self._start_acquisition()
        else:
            self._armed = True

    def trigger(self) -> None:
        """*TRG: starts an acquisition that :INIT armed with ``:ARM:SOUR BUS``."""
        if self._armed and self.settings["arm_source"] == "BUS":
            self._armed = False
            self._start_acquisition()

    def _start_acquisition(self):
        self.output_on = True
        step_s = self.reading_time_s() + self.settings["trigger_delay_s"]
        count = self.settings["trigger_count"] * self.settings["arm_count"]
        start_s = self.lab.clock.now_s
        for k in range(count):
            self.lab.clock.schedule(start_s + (k + 1) * step_s, self._scheduled_reading)
        self._acquisition_end_s = start_s + count * step_s
        self.busy_until_s = max(self.busy_until_s, self._acquisition_end_s)
        if self.settings["auto_output_off"]:
            self.lab.clock.schedule(self._acquisition_end_s, lambda t: self._auto_off())

    def _auto_off(self):
        self.output_on = False

    def _scheduled_reading(self, time_s: float):
        if time_s > self._acquisition_end_s:
            return                                   # aborted
        self._store(self.take_reading())

    def _abort(self):
        self._armed = False
        self._acquisition_end_s = min(self._acquisition_end_s, self.lab.clock.now_s)
        self.busy_until_s = min(self.busy_until_s, self.lab.clock.now_s)

    def _buffer_full(self) -> bool:
        return len(self.buffer) >= self.settings["buffer_points"]

    def _measurement_event(self):
        return MEAS_BUFFER_FULL if self._buffer_full() else 0

    def _status_byte(self):
        self._wait()   # a poll of a running acquisition returns when it is done (see module doc)
        stb = 4 if self.errors else 0
        if self._measurement_event() & self._measurement_enable:
            stb |= STB_MEASUREMENT_SUMMARY
        if stb & self._service_enable:
            stb |= STB_MASTER_SUMMARY
        return stb

    def _trace_data(self, *args):
        self._wait()
        if not self.buffer:
            return ""
        return ",".join(self._format_reading(r) for r in self.buffer)

    def _statistics(self, *args):
        self._wait()
        if not self.buffer:
            raise ScpiError(SETTINGS_CONFLICT, "the buffer is empty; fill it (:TRAC:FEED:CONT NEXT; :INIT) first")
        data = np.array([r[:3] for r in self.buffer], dtype=float)
        kept = [i for i, e in enumerate(ELEMENTS[:3]) if e in self.elements]
        columns = data[:, kept]
        statistic = self.settings["statistic"]
        if statistic == "MEAN":
            values = columns.mean(axis=0)
        elif statistic == "SDEV":
            values = columns.std(axis=0, ddof=1) if len(columns) > 1 else np.zeros(len(kept))
        elif statistic == "MAX":
            values = columns.max(axis=0)
        elif statistic == "MIN":
            values = columns.min(axis=0)
        else:
            values = columns.max(axis=0) - columns.min(axis=0)
        return ",".join(format_number(float(v)) for v in values)
