"""``SourceMeter`` roles over the Keithley 2450 (read SMU) and 2400 (auxiliary SMU).

The read SMU sources a small current through the device on its matrix row and measures the
voltage: resistance = V / I. Every source setting is checked against the device's
:class:`~devices.benchfile.SafetyLimits` (read current, voltage compliance) before anything
is written; the compliance is always written before the level, so the level never applies
with a stale, larger compliance.

The 2450 also takes buffered readings on its own trigger model (``SimpleLoop``): pymeasure's
:class:`~pymeasure.instruments.keithley.Keithley2450` lacks those commands, so
:class:`Keithley2450Buffered` adds them (and nothing else).
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2400, Keithley2450
from pymeasure.instruments.validators import strict_range

from devices.benchfile import SafetyLimits
from drivers.faults import GarbledReply, confirm_off, output_is_on, parse_floats
from drivers.limits import check_compliance_V, check_read_current, check_source_voltage
from drivers.transport import over_lan

MAX_BUFFER_POINTS = 6_875_000
#: the 2450 datasheet's reading rate, 3000 readings/s at NPLC 0.01 (60 Hz) with autozero off,
#: to the buffer: what one reading costs beyond its integration (s)
READING_OVERHEAD_S = 1.0 / 3000.0 - 0.01 / 60.0


class Keithley2450Buffered(Keithley2450):
    """pymeasure's Keithley 2450 plus the buffer / trigger-model commands of a SimpleLoop."""


    def clear_buffer(self) -> None:
        """Empty the default buffer (``defbuffer1``)."""
        self.write(":TRAC:CLE")

    buffer_capacity = Instrument.setting(
        ":TRAC:POIN %d",
        """Set the capacity of the default buffer (int, 10 .. 6 875 000; refused, not
        clipped, outside that range).""",
        validator=strict_range,
        values=[10, MAX_BUFFER_POINTS],
    )

    def load_simple_loop(self, count: int, delay_s: float = 0.0) -> None:
        """Load the ``SimpleLoop`` trigger model: ``count`` readings, ``delay_s`` before each."""
        self.write(f':TRIG:LOAD "SimpleLoop", {int(count)}, {float(delay_s):.12g}')

    def initiate(self) -> None:
        """Start the loaded trigger model."""
        self.write(":INIT")

    def abort(self) -> None:
        self.write(":ABOR")

    buffer_count = Instrument.measurement(
        ":TRAC:ACT?",
        """Get the number of readings in the default buffer (int).""",
        cast=int,
    )

    def buffer_readings(self, count: int) -> list[float]:
        """Readings 1..count of ``defbuffer1`` (one query)."""
        reply = self.ask(f':TRAC:DATA? 1, {int(count)}, "defbuffer1", READ')
        return parse_floats(reply, int(count), "2450 :TRAC:DATA?")


class _SourceMeterRole:
    """What the two SMU roles share: limits, the source state, output off."""

    def __init__(self, instrument, limits: SafetyLimits, device: str = ""):
        self.instrument = instrument
        self.limits = limits
        self.device = device
        self._mode: str | None = None       # 'current' or 'voltage' once configured
        self._level = 0.0
        self._output_on: bool | None = None  # None: unknown
        self._source: tuple | None = None    # the source settings last written
        self._capacity: int | None = None

    # the instrument-specific parts: the sense-function commands and the reading's format
    _sense_voltage_command: str
    _sense_current_command: str

    def _write_current_source(self, current_A: float, compliance_V: float, nplc: float) -> None:
        inst = self.instrument
        inst.source_mode = "current"
        inst.compliance_voltage = compliance_V
        inst.source_current = current_A
        inst.write(self._sense_voltage_command)
        inst.voltage_nplc = nplc

    def _write_voltage_source(self, voltage_V: float, compliance_A: float, nplc: float) -> None:
        inst = self.instrument
        inst.source_mode = "voltage"
        inst.compliance_current = compliance_A
        inst.source_voltage = voltage_V
        inst.write(self._sense_current_command)
        inst.current_nplc = nplc

    def _read_once(self) -> float:
        raise NotImplementedError

    # the role
    def source_current(self, current_A: float, compliance_V: float, nplc: float = 1.0) -> None:
        check_read_current(current_A, self.limits, self.device)
        check_compliance_V(compliance_V, self.limits, self.device)
        wanted = ("current", float(current_A), float(compliance_V), float(nplc))
        if self._source != wanted:       # unchanged settings are not written again
            self._source = None
            self._write_current_source(float(current_A), float(compliance_V), float(nplc))
            self._source = wanted
        self._mode, self._level = "current", float(current_A)

    def source_voltage(self, voltage_V: float, compliance_A: float, nplc: float = 1.0) -> None:
        check_source_voltage(voltage_V, compliance_A, self.limits, self.device)
        wanted = ("voltage", float(voltage_V), float(compliance_A), float(nplc))
        if self._source != wanted:
            self._source = None
            self._write_voltage_source(float(voltage_V), float(compliance_A), float(nplc))
            self._source = wanted
        self._mode, self._level = "voltage", float(voltage_V)

    def forget_state(self) -> None:
        """After a fault or a reconnect the instrument state is unknown: write everything."""
        self._source = None
        self._output_on = None
        self._capacity = None

    def enable(self) -> None:
        """Output on. The configured source is checked again against the limits of the
        device on the row *now* (the matrix may have changed since it was configured)."""
        if self._mode is None or self._source is None:
            raise RuntimeError("configure the source (source_current / source_voltage) before "
                               "turning the output on")
        mode, level, compliance, _ = self._source
        if mode == "current":
            check_read_current(level, self.limits, self.device)
            check_compliance_V(compliance, self.limits, self.device)
        else:
            check_source_voltage(level, compliance, self.limits, self.device)
        if self._output_on is not True:
            self._output_on = None
            self.instrument.enable_source()
            self._output_on = True

    def allows(self, limits: SafetyLimits, device: str = "") -> bool:
        """Whether the output may stay on into a matrix change that puts devices of
        ``limits`` on its row: it is off, or its programmed source passes those limits."""
        if self._output_on is False:
            return True
        if self._output_on is None or self._source is None:
            return False
        mode, level, compliance, _ = self._source
        try:
            if mode == "current":
                check_read_current(level, limits, device)
                check_compliance_V(compliance, limits, device)
            else:
                check_source_voltage(level, compliance, limits, device)
        except ValueError:
            return False
        return True

    def disarm(self) -> None:
        """Output off, settings kept (before the matrix connects another device)."""
        if self._output_on is not False:
            self._output_on = None
            self.instrument.disable_source()
            self._output_on = False

    def measure(self) -> tuple[float, float]:
        """One reading, (voltage_V, current_A); the sourced quantity is the programmed one."""
        value = self._read_once()
        if self._mode == "voltage":
            return self._level, value
        return value, self._level

    def resistance_ohm(self) -> float:
        voltage_V, current_A = self.measure()
        if current_A == 0:
            raise ValueError("the source level is 0: no resistance can be read")
        return voltage_V / current_A

    def _abort_trigger_model(self) -> None:
        """Stop the instrument's own trigger model, if it has one that may be running."""

    def identity(self) -> str:
        """The instrument's ``*IDN?`` reply (one query)."""
        return self.instrument.id

    def output_is_on(self) -> bool:
        """Whether the output is on, as the instrument reports it (one query)."""
        return output_is_on(self.instrument, "OUTPUT?", type(self).__name__)

    def output_off(self) -> None:
        """Level to zero, output off (the order matters for an inductive load). A trigger
        model that may still run is aborted first: it would go on sourcing and reading."""
        self._abort_trigger_model()
        if self._mode == "voltage":
            self.instrument.write(self._zero_voltage_command)
        elif self._mode == "current":
            self.instrument.write(self._zero_current_command)
        self._output_on = None
        self._source = None
        self.instrument.disable_source()
        confirm_off(self.instrument, "OUTPUT?", type(self).__name__)
        self._output_on = False
        self._level = 0.0


class Keithley2450SourceMeter(_SourceMeterRole):
    """Roles ``SourceMeter`` and ``BufferedSourceMeter`` on a Keithley 2450."""

    #: the instrument's reading buffer, read by batching through the role
    max_buffer_points = MAX_BUFFER_POINTS

    _zero_current_command = ":SOUR:CURR:LEV 0"
    _zero_voltage_command = ":SOUR:VOLT:LEV 0"
    # autozero off (in the same message): with it on every reading adds a reference and a
    # zero integration (3x the time); a batch's readings are called against its own
    # calibration rows, taken minutes apart at most, so the drift it corrects does not matter
    _sense_voltage_command = ':SENS:FUNC "VOLT";:SENS:VOLT:AZER OFF'
    _sense_current_command = ':SENS:FUNC "CURR"'

    def __init__(self, instrument: Keithley2450Buffered, limits: SafetyLimits, device: str = ""):
        super().__init__(instrument, limits, device)
        # whether a trigger model started here may still run: False (none started, or it
        # ended / was aborted), True (started, its end not seen), None (unknown: after a
        # fault or a reconnect)
        self._trigger_model: bool | None = False

    def _read_once(self) -> float:
        return parse_floats(self.instrument.ask(":READ?"), 1, "2450 :READ?")[0]

    def forget_state(self) -> None:
        super().forget_state()
        self._trigger_model = None

    def _abort_trigger_model(self) -> None:
        """``:ABOR`` unless no trigger model can be running (a model left running after a
        timeout keeps sourcing, and refuses the next ``:INIT``)."""
        if self._trigger_model is not False:
            self.instrument.abort()
            self._trigger_model = False

    def reading_time_s(self, nplc: float, line_frequency_Hz: float) -> float:
        """One buffered reading as the datasheet has it (autozero off): the integration plus
        the per-reading overhead. A trigger model's period must budget all of it."""
        return float(nplc) / float(line_frequency_Hz) + READING_OVERHEAD_S

    # ------------------------------------------------------------ generator as master
    def start_logic_trigger(self, count: int, delay_s: float, line: int,
                            confirm: bool | None = None) -> None:
        """Clear the buffer and start the ``LogicTrigger`` model (2450-901-01 :TRIGger:LOAD
        "LogicTrigger"): ``count`` readings, each ``delay_s`` after an edge on digital I/O
        ``line`` (the pulse generator's Trigger Out). One write; the readings come with
        :meth:`fetch_logic_trigger`. ``confirm``: one query instead (``:TRIG:STAT?`` in the
        same message, which answers at once), so the model is armed before the caller writes
        to the generator: writes to two instruments on two LAN sockets are not ordered. The
        default confirms over LAN only (one GPIB bus, or the library in process, keeps order)."""
        if confirm is None:
            confirm = over_lan(self.instrument)
        count = int(count)
        if not 1 <= count <= MAX_BUFFER_POINTS:
            raise ValueError(f"buffered count {count} outside 1..{MAX_BUFFER_POINTS}")
        out = 1 if int(line) != 1 else 3      # the output line's pulses: the generator is MAN
        self._trigger_model = True
        message = (f":DIG:LINE{int(line)}:MODE TRIG, IN;"
                   f':TRIG:LOAD "LogicTrigger", {int(line)}, {out}, {count}, ENT, '
                   f"{float(delay_s):.12g};:INIT")
        if not confirm:
            self.instrument.write(message)
            return
        reply = self.instrument.ask(message + ";:TRIG:STAT?").strip()
        if reply.split(";")[0].upper() not in ("RUNNING", "WAITING"):
            raise GarbledReply(f"2450 :TRIG:STAT? answered {reply!r} after :INIT: the "
                               "LogicTrigger model is not running")

    def fetch_logic_trigger(self, count: int, timeout_s: float = 0.0, garbled_retries: int = 3,
                            on_garbled=None) -> list[float]:
        """Wait for the model's end and fetch its ``count`` readings: one query."""
        pure = f':TRAC:DATA? 1, {int(count)}, "defbuffer1", READ'
        return self._ask_waiting("*WAI;" + pure, pure, _readings(int(count)), timeout_s,
                                 garbled_retries, on_garbled)

    def _ask_waiting(self, message: str, pure: str, parse, timeout_s: float,
                     garbled_retries: int, on_garbled):
        """Ask ``message`` (it waits for a trigger model's end) with a timeout that covers
        ``timeout_s``, and ``parse`` its reply. A garbled reply means the query ran: only the
        ``pure`` query is asked again (at most ``garbled_retries`` times), the model is not
        run twice."""
        inst = self.instrument
        connection = getattr(inst.adapter, "connection", None)
        saved = getattr(connection, "timeout", None)
        needed_ms = 1000.0 * (2.0 * timeout_s + 2.0)
        if saved is not None and saved < needed_ms:
            connection.timeout = needed_ms
        try:
            self._trigger_model = True
            reply = inst.ask(message)
            self._trigger_model = False     # a reply came after *WAI: the model has ended
            for attempt in range(garbled_retries + 1):
                try:
                    return parse(reply)
                except GarbledReply:
                    if attempt == garbled_retries:
                        raise
                    if on_garbled is not None:
                        on_garbled()
                    reply = inst.ask(pure)
        finally:
            if saved is not None and saved < needed_ms:
                connection.timeout = saved

    # ------------------------------------------------------------ buffered
    def start_buffered(self, count: int, delay_s: float = 0.0) -> None:
        """Clear the buffer and start ``count`` readings on the SimpleLoop trigger model."""
        count = int(count)
        if not 1 <= count <= MAX_BUFFER_POINTS:
            raise ValueError(f"buffered count {count} outside 1..{MAX_BUFFER_POINTS}")
        inst = self.instrument
        inst.clear_buffer()
        inst.buffer_capacity = max(count, 10)
        inst.load_simple_loop(count, delay_s)
        self._trigger_model = True
        inst.initiate()

    def wait_buffered(self) -> None:
        """Hold until the trigger model has finished (``*OPC?`` answers when it is done)."""
        reply = self.instrument.ask("*OPC?").strip()
        if reply != "1":
            raise GarbledReply(f"2450 *OPC? answered {reply!r}")
        self._trigger_model = False

    def fetch_buffered(self, count: int) -> list[float]:
        return self.instrument.buffer_readings(count)

    def set_buffer_capacity(self, count: int) -> None:
        """Size the default buffer (written only when it changes; writing clears it)."""
        count = max(int(count), 10)
        if self._capacity != count:
            self._capacity = None
            self.instrument.buffer_capacity = count
            self._capacity = count

    def run_buffered(self, count: int, delay_s: float, timeout_s: float = 0.0,
                     garbled_retries: int = 3, on_garbled=None) -> list[float]:
        """Load a SimpleLoop of ``count`` readings (``delay_s`` before each), start it (the
        trigger link starts the pulse generator at the same instant), wait for the end and
        fetch the readings: two messages, one of them a query.

        A garbled reply means the query ran: only the pure ``:TRAC:DATA?`` part is asked
        again (at most ``garbled_retries`` times), the trigger model is not run twice.
        """
        count = int(count)
        self.instrument.load_simple_loop(count, delay_s)
        fetch = f':TRAC:DATA? 1, {count}, "defbuffer1", READ'
        return self._ask_waiting(f":TRAC:CLE;:INIT;*WAI;{fetch}", fetch, _readings(count),
                                 timeout_s, garbled_retries, on_garbled)


    def run_appended(self, count: int, delay_s: float, timeout_s: float = 0.0,
                     clear: bool = False, fetch: int | None = None, garbled_retries: int = 3,
                     on_garbled=None):
        """One SimpleLoop run of ``count`` readings appended to the buffer (``clear``: empty
        it first), waited for: one query. Returns the readings in the buffer (an int), or,
        with ``fetch`` = N, readings 1..N (the batch's one fetch, in the same message).
        A garbled reply asks only its pure query again; the run is not repeated."""
        count = int(count)
        if not 1 <= count <= MAX_BUFFER_POINTS:
            raise ValueError(f"buffered count {count} outside 1..{MAX_BUFFER_POINTS}")
        pure = (':TRAC:ACT?' if fetch is None
                else f':TRAC:DATA? 1, {int(fetch)}, "defbuffer1", READ')
        message = (":TRAC:CLE;" if clear else "") + \
            f':TRIG:LOAD "SimpleLoop", {count}, {float(delay_s):.12g};:INIT;*WAI;{pure}'
        parse = (_readings(int(fetch)) if fetch is not None
                 else lambda reply: int(parse_floats(reply, 1, "2450 :TRAC:ACT?")[0]))
        return self._ask_waiting(message, pure, parse, timeout_s, garbled_retries, on_garbled)


def _readings(count: int):
    """The parser of a ``:TRAC:DATA?`` reply of ``count`` readings."""
    return lambda reply: parse_floats(reply, count, "2450 :TRAC:DATA?")


class Keithley2400SourceMeter(_SourceMeterRole):
    """Role ``SourceMeter`` on a Keithley 2400 (the auxiliary SMU)."""

    _zero_current_command = ":SOURCE:CURRENT 0"
    _zero_voltage_command = ":SOURCE:VOLTAGE 0"
    _sense_voltage_command = ":SENSE:FUNCTION 'VOLT'"
    _sense_current_command = ":SENSE:FUNCTION 'CURR'"

    def __init__(self, instrument: Keithley2400, limits: SafetyLimits, device: str = ""):
        super().__init__(instrument, limits, device)

    def _read_once(self) -> float:
        # elements V, I, R, TIME, STATUS (pymeasure's Keithley2400 sets them at start)
        values = parse_floats(self.instrument.ask(":READ?"), None, "2400 :READ?")
        if len(values) < 2:
            raise GarbledReply(f"2400 :READ? gave {len(values)} values, expected V, I, ...")
        return values[1] if self._mode == "voltage" else values[0]
