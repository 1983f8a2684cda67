"""Keysight 81160A pulse / function / arbitrary generator: the bench's write-pulse source.

Channel ``wiring.pulse_channel`` (default 1) drives the pulse row of the 7709 matrix; the
other channel is not wired to anything (its pulses go nowhere, but it still runs).

Commands (what ``pymeasure.instruments.keysight.Keysight81160A`` and its channels send; the
channel suffix ``1|2`` may follow the first node, or ``PER``/``WIDT``/``DCYC``/``HOLD`` of
``:PULS``; absent means channel 1):

- shape ``[:SOUR]:FUNC# SIN|SQU|RAMP|PULS|NOIS|DC|USER``; ``:FUNC#:USER VOLATILE|<name>``;
- levels ``:VOLT#`` (amplitude, Vpp), ``:VOLT#:OFFS``, ``:VOLT#:HIGH``, ``:VOLT#:LOW``,
  ``:VOLT#:UNIT``, limits ``:VOLT#:LIM:STAT|HIGH|LOW``;
- timing ``:FREQ#``, ``:PULS:PER#``, ``:PULS:WIDT#``, ``:PULS:DCYC#``, ``:PULS:HOLD#``,
  ``:FUNC#:PULS:TRAN`` (also ``:PULS:TRAN#``), ``:FUNC#:SQU:DCYC``, ``:FUNC#:RAMP:SYMM``;
- output ``OUTP# 0|1|ON|OFF``, ``:OUTP#:LOAD <ohm>|INF|MIN|MAX``, ``:OUTP#:POL NORM|INV``;
- burst / trigger ``:BURS#:STAT``, ``:BURS#:NCYC``, ``:BURS#:MODE TRIG|GAT``,
  ``:BURS#:INT:PER``, ``:TRIG#:COUN`` (count > 1 turns burst on, as on the instrument),
  ``:ARM:SOUR# IMM|INT2|EXT|MAN`` (``:TRIG#:SOUR`` is accepted as the same setting), ``*TRG``;
- arbitrary data ``:DATA#:DAC VOLATILE,<IEEE block of big-endian int16>`` (or a comma list),
  ``:DATA#:COPY <name>,VOLATILE``, ``:DATA#:DEL <name>``, ``:DATA#:NVOL:CAT?``,
  ``:DATA#:NVOL:FREE?``; ``:APPL#:PULS|SIN|SQU|USER|NOIS|DC f, ampl, offs`` (turns the output
  on, as APPLy does); ``:TRAC:CHAN#`` (coupling, stored only);
- channel addition ``:CHAN:MATH OFF|PLUS`` (manual 3.2.10, "Digital Channel Addition"): with
  PLUS, channel 2's waveform is added to channel 1's before channel 1's DAC, so output 1
  carries both; output 2 still carries channel 2 alone.

Ranges (the voltages are *into the load the OUTP:LOAD setting names*; the generator's EMF
is 10 V max behind its 50 ohm, so every voltage range scales by k = 2 Z / (Z + 50): k = 1 for
a 50 ohm load setting, k -> 2 for high Z): amplitude 0.05 k .. 5 k Vpp, offset +-4.995 k V,
high -4.95 k .. 5 k V, low -5 k .. 4.95 k V, |offset| + amplitude / 2 <= 5 k V; pulse width
1.5 ns .. 1e6 s and below the period; period 2 ns .. 1e6 s (pulse frequency <= 330 MHz,
sine 500 MHz); arbitrary waveform 2 .. 262144 points, DAC values -8191 .. 8191, sample
rate (FREQ x points) <= 2.5 GSa/s. A value outside its range -> ``-222 "Data out of
range"`` and the setting is unchanged; a width over the period or a level against the
voltage limits (``:VOLT:LIM:STAT ON``) -> ``-221 "Settings conflict"``.

What reaches the device
-----------------------
The voltage into the load setting is V; the open-circuit EMF that ``bench.deliver_pulse``
receives is ``V * (Z_load + 50) / Z_load`` (2 V for a 50 ohm setting, ~V for high Z); the
bench then divides it between the 50 ohm source and the real device resistance. The pulse
level is ``VOLT:HIGH`` (polarity NORM) or ``VOLT:LOW`` (INV). The *idle* level between
pulses (``VOLT:LOW`` for NORM, ``VOLT:HIGH`` for INV; the offset for ``FUNC DC``) is a DC
level on the line while the output is on: after every message to the generator, a
destructive idle level destroys the devices on the pulse row (``bench.apply_static_level``;
slow switching by DC exposure, and relays closing onto a live line between two messages to
the generator, are not simulated). Keep it at 0 V: set the levels before the output goes on
and turn the output off before changing polarity or shape.

Triggering
----------
With the output on, a trigger plays one *burst*: ``BURS:NCYC`` cycles when the burst state
is on, else one cycle. ``*TRG`` (or a bus trigger) triggers channels armed ``MAN``, ``IMM``
or ``INT2``; a channel armed ``EXT`` ignores ``*TRG`` and plays on :meth:`trigger_in`, the
external trigger input that the bench's trigger link drives (``bench.fire_trigger_link``,
called by the read SMU's ``:INIT``). Free-running (``IMM`` with burst off) and the internal
trigger generator's repetition are not simulated: an untriggered output sends nothing.

Pitfall of the pymeasure 0.16 driver (the simulator follows the instrument, not the driver):
``channel.burst_state = True`` sends ``:BURS1:STAT 0`` (burst *off*; the channel's values list
maps True to index 0) and reads ``1`` back as False. Arm a burst with
``channel.trigger_count = n`` (``:TRIG1:COUN n``, n > 1 turns burst on) or write
``:BURS1:STAT ON`` directly. ``burst_ncycles`` alone does not turn burst on, and pymeasure
refuses values below 2 for it.

One cycle of ``PULS`` = one pulse of ``PULS:WIDT`` at the start of each period; one cycle of
``USER`` = the volatile waveform, sample interval ``1 / (FREQ * points)``, sample value v
giving ``VOLT:OFFS + (amplitude / 2) * v / 8191`` volts; each run of equal samples with a
non-zero voltage is one pulse of the run's width. Other shapes send nothing to devices.

Channel addition: with ``:CHAN:MATH PLUS`` the pulses of channel 2 also leave at output 1
(when channel 1 is the wired one), at channel 1's load setting, whenever output 1 is on
(the sum is formed before channel 1's DAC: output 2's own switch does not matter). The two
channels' pulses are delivered each on its own; where they overlap in time the simulator
does not form their sum (keep them apart, as the drivers' batches do).

Trigger Out (manual 3.2.18): a pulse at the start of every period channel 1 plays (each
cycle of a burst), which the bench routes to the read SMU's digital I/O line
``wiring.generator_trigger_line`` (``bench.fire_generator_trigger_out``); a 2450 running the
``LogicTrigger`` model takes one reading per edge. With it the generator is the master: one
message ``:VOLT2 a;:TRIG1:COUN n;*TRG;*WAI;:VOLT2 b;...`` plays every level of a batch
(``*WAI`` holds the parser until the burst has played, see ``busy_until_s``).

Timing: pulse c of a burst (or run r of cycle c) starts at ``t_trigger + TRIGGER_LATENCY_S +
c / FREQ (+ r's offset)``; each is a ``clock.schedule`` event, so readings the SMU scheduled
interleave in time. ``busy_until_s`` = the end of the burst (``*WAI`` / ``*OPC?`` wait for
it). Turning the output off, ``*RST`` or a new trigger source cancels pulses not yet played.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simulated_bench.framing import parse_block
from simulated_bench.scpi import (
    DATA_OUT_OF_RANGE,
    HEADER_SUFFIX_OUT_OF_RANGE,
    ILLEGAL_PARAMETER,
    INVALID_BLOCK_DATA,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    ScpiError,
    ScpiInstrument,
    format_number,
    parse_bool,
    parse_number,
)

SOURCE_IMPEDANCE_OHM = 50.0
MAX_EMF_V = 10.0                       # open-circuit: 5 V into 50 ohm
AMPLITUDE_RANGE_VPP = (0.05, 5.0)      # into 50 ohm, scaled by the load factor
OFFSET_RANGE_V = (-4.995, 4.995)
HIGH_RANGE_V = (-4.95, 5.0)
LOW_RANGE_V = (-5.0, 4.95)
WINDOW_V = 5.0
LIMIT_RANGE_V = (-10.0, 10.0)
PULSE_WIDTH_RANGE_S = (1.5e-9, 1e6)
PERIOD_RANGE_S = (2e-9, 1e6)
FREQUENCY_MAX_HZ = {"SIN": 500e6, "DEFAULT": 330e6}
FREQUENCY_MIN_HZ = 1e-6
TRANSITION_RANGE_S = (1e-9, 1e3)
LOAD_RANGE_OHM = (0.3, 1e6)
HIGH_Z_OHM = math.inf
BURST_NCYCLES_RANGE = (1, 2_147_483_647)
BURST_PERIOD_RANGE_S = (3.03e-9, 1e6)
DAC_MAX = 8191
ARB_POINTS_RANGE = (2, 262_144)
ARB_SAMPLE_RATE_MAX_HZ = 2.5e9
NONVOLATILE_SLOTS = 4
SHAPES = ("SIN", "SQU", "RAMP", "PULS", "NOIS", "DC", "USER")
ARM_SOURCES = ("IMM", "INT2", "EXT", "MAN")
#: seconds from a trigger (bus or external) to the first edge at the output
TRIGGER_LATENCY_S = 0.0
FIRED_LOG_LENGTH = 100_000


def load_factor(load_ohm: float) -> float:
    """Voltage into the load per volt of the 50-ohm-equivalent setting: 2 Z / (Z + 50)."""
    if math.isinf(load_ohm):
        return 2.0
    return 2.0 * load_ohm / (load_ohm + SOURCE_IMPEDANCE_OHM)


def emf_for(level_V: float, load_ohm: float) -> float:
    """Open-circuit EMF behind the 50 ohm source that gives ``level_V`` into ``load_ohm``."""
    if math.isinf(load_ohm):
        return level_V
    return level_V * (load_ohm + SOURCE_IMPEDANCE_OHM) / load_ohm


@dataclass
class Channel:
    """The settings of one output channel (power-on values)."""

    number: int
    shape: str = "SIN"
    frequency_Hz: float = 1e6
    high_V: float = 0.05
    low_V: float = -0.05
    load_ohm: float = 50.0
    output: bool = False
    polarity: str = "NORM"
    pulse_width_s: float = 100e-9
    hold: str = "WIDT"
    transition_s: float = 2.5e-9
    square_dutycycle_pct: float = 50.0
    ramp_symmetry_pct: float = 100.0
    burst_state: bool = False
    burst_ncycles: int = 1
    burst_mode: str = "TRIG"
    burst_period_s: float = 10e-6
    arm_source: str = "IMM"
    voltage_unit: str = "VPP"
    limit_enabled: bool = False
    limit_high_V: float = 5.0
    limit_low_V: float = -5.0
    coupling: bool = False
    phase_deg: float = 0.0
    user_waveform: str = "VOLATILE"
    volatile: np.ndarray | None = None
    #: bumped when pending pulses must not play any more (output off, reset, re-arm)
    generation: int = 0
    stored: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def amplitude_Vpp(self) -> float:
        return self.high_V - self.low_V

    @property
    def offset_V(self) -> float:
        return (self.high_V + self.low_V) / 2.0

    @property
    def period_s(self) -> float:
        return 1.0 / self.frequency_Hz


class Keysight81160A(ScpiInstrument):
    """Two-channel 81160A whose wired channel delivers pulses through the bench."""

    IDN = "Keysight Technologies,81160A,SIM0081160,3.0.0.0-spin-hil"

    def __init__(self, lab, address: str):
        super().__init__(lab, address)
        self.channels = {1: Channel(1), 2: Channel(2)}
        #: the last FIRED_LOG_LENGTH pulses this generator put on its wired output:
        #: (time_s, emf_V, width_s)
        self.fired: deque[tuple[float, float, float]] = deque(maxlen=FIRED_LOG_LENGTH)
        self.pulses_scheduled = 0
        self.channel_math = "OFF"        # :CHAN:MATH (channel 2 added at output 1 when PLUS)
        ch = self._channel_command
        # ---------------------------------------------------------- shape and arb selection
        self.add("[SOURce]:FUNCtion#", on_set=ch(self._set_shape), on_query=ch(lambda c: c.shape))
        self.add("[SOURce]:FUNCtion#:USER", on_set=ch(self._select_user),
                 on_query=ch(lambda c: c.user_waveform))
        self.add("[SOURce]:FUNCtion#:SQUare:DCYCle",
                 on_set=ch(self._number_setter("square_dutycycle_pct", (0.0001515, 99.9998485))),
                 on_query=ch(lambda c: c.square_dutycycle_pct))
        self.add("[SOURce]:FUNCtion#:RAMP:SYMMetry",
                 on_set=ch(self._number_setter("ramp_symmetry_pct", (0.0, 100.0))),
                 on_query=ch(lambda c: c.ramp_symmetry_pct))
        transition = dict(on_set=ch(self._number_setter("transition_s", TRANSITION_RANGE_S)),
                          on_query=ch(lambda c: c.transition_s))
        self.add("[SOURce]:FUNCtion#:PULSe:TRANsition[:BOTH]", **transition)
        self.add("[SOURce]:PULSe:TRANsition#[:LEADing]", **transition)
        # ---------------------------------------------------------- levels
        self.add("[SOURce]:VOLTage#[:LEVel][:IMMediate][:AMPLitude]", on_set=ch(self._set_amplitude),
                 on_query=ch(lambda c: c.amplitude_Vpp))
        self.add("[SOURce]:VOLTage#[:LEVel][:IMMediate]:OFFSet", on_set=ch(self._set_offset),
                 on_query=ch(lambda c: c.offset_V))
        self.add("[SOURce]:VOLTage#[:LEVel][:IMMediate]:HIGH", on_set=ch(self._set_high),
                 on_query=ch(lambda c: c.high_V))
        self.add("[SOURce]:VOLTage#[:LEVel][:IMMediate]:LOW", on_set=ch(self._set_low),
                 on_query=ch(lambda c: c.low_V))
        self.add("[SOURce]:VOLTage#:UNIT", on_set=ch(self._choice_setter("voltage_unit", ("VPP", "VRMS", "DBM"))),
                 on_query=ch(lambda c: c.voltage_unit))
        self.add("[SOURce]:VOLTage#:LIMit[:STATe]", on_set=ch(self._set_limit_state),
                 on_query=ch(lambda c: c.limit_enabled))
        self.add("[SOURce]:VOLTage#:LIMit:HIGH", on_set=ch(self._set_limit_high),
                 on_query=ch(lambda c: c.limit_high_V))
        self.add("[SOURce]:VOLTage#:LIMit:LOW", on_set=ch(self._set_limit_low),
                 on_query=ch(lambda c: c.limit_low_V))
        # ---------------------------------------------------------- timing
        self.add("[SOURce]:FREQuency#[:CW][:FIXed]", on_set=ch(self._set_frequency),
                 on_query=ch(lambda c: c.frequency_Hz))
        period = dict(on_set=ch(self._set_period), on_query=ch(lambda c: c.period_s))
        self.add("[SOURce]:PULSe:PERiod#", **period)
        self.add("[SOURce]:FUNCtion#:PULSe:PERiod", **period)
        width = dict(on_set=ch(self._set_width), on_query=ch(lambda c: c.pulse_width_s))
        self.add("[SOURce]:PULSe:WIDTh#", **width)
        self.add("[SOURce]:FUNCtion#:PULSe:WIDTh", **width)
        dcyc = dict(on_set=ch(self._set_pulse_dutycycle),
                    on_query=ch(lambda c: 100.0 * c.pulse_width_s / c.period_s))
        self.add("[SOURce]:PULSe:DCYCle#", **dcyc)
        self.add("[SOURce]:FUNCtion#:PULSe:DCYCle", **dcyc)
        hold = dict(on_set=ch(self._choice_setter("hold", ("WIDT", "DCYC"))),
                    on_query=ch(lambda c: c.hold))
        self.add("[SOURce]:PULSe:HOLD#", **hold)
        self.add("[SOURce]:FUNCtion#:PULSe:HOLD", **hold)
        # ---------------------------------------------------------- output
        self.add("OUTPut#[:STATe]", on_set=ch(self._set_output), on_query=ch(lambda c: c.output))
        self.add("OUTPut#:LOAD", on_set=ch(self._set_load), on_query=ch(self._query_load))
        self.add("OUTPut#:IMPedance:EXTernal", on_set=ch(self._set_load),
                 on_query=ch(self._query_load))
        self.add("OUTPut#:POLarity", on_set=ch(self._choice_setter("polarity", ("NORM", "INV"))),
                 on_query=ch(lambda c: c.polarity))
        # ---------------------------------------------------------- burst and trigger
        self.add("[SOURce]:BURSt#:STATe", on_set=ch(self._set_burst_state),
                 on_query=ch(lambda c: c.burst_state))
        ncycles = dict(on_set=ch(self._set_ncycles), on_query=ch(lambda c: c.burst_ncycles))
        self.add("[SOURce]:BURSt#:NCYCles", **ncycles)
        self.add("TRIGger#:COUNt", on_set=ch(self._set_trigger_count),
                 on_query=ch(lambda c: c.burst_ncycles))
        self.add("[SOURce]:BURSt#:MODE", on_set=ch(self._choice_setter("burst_mode", ("TRIG", "GAT"))),
                 on_query=ch(lambda c: c.burst_mode))
        self.add("[SOURce]:BURSt#:INTernal:PERiod",
                 on_set=ch(self._number_setter("burst_period_s", BURST_PERIOD_RANGE_S)),
                 on_query=ch(lambda c: c.burst_period_s))
        arm = dict(on_set=ch(self._set_arm_source), on_query=ch(lambda c: c.arm_source))
        self.add("ARM:SOURce#", **arm)
        self.add("TRIGger#:SOURce", **arm)
        self.add("TRACe:CHANnel#", on_set=ch(self._set_coupling), on_query=ch(lambda c: c.coupling))
        phase = dict(on_set=ch(self._number_setter("phase_deg", (-360.0, 360.0))),
                     on_query=ch(lambda c: c.phase_deg))
        self.add("[SOURce]:PHASe#[:ADJust]", **phase)
        self.add("SOURce#:PHASe[:ADJust]", **phase)   # the 33500-style form pymeasure sends
        # ---------------------------------------------------------- arbitrary data
        self.add("[SOURce]:DATA#:DAC", on_set=ch(self._load_dac))
        self.add("[SOURce]:DATA#:COPY", on_set=ch(self._copy_waveform))
        self.add("[SOURce]:DATA#:DELete", on_set=ch(self._delete_waveform))
        self.add("[SOURce]:DATA#:NVOLatile:CATalog",
                 on_query=ch(lambda c: ",".join(f'"{n}"' for n in c.stored) or '""'))
        self.add("[SOURce]:DATA#:NVOLatile:FREE",
                 on_query=ch(lambda c: NONVOLATILE_SLOTS - len(c.stored)))
        self.add("CHANnel:MATH", on_set=self._set_channel_math,
                 on_query=lambda: self.channel_math)
        self.add("*OPT", on_query=lambda: "0")          # no options installed
        self.add("*TST", on_query=lambda: 0)            # self-test passed
        for shape in ("PULSe", "SINusoid", "SQUare", "USER", "NOISe", "DC", "RAMP"):
            self.add(f"[SOURce]:APPLy#:{shape}", on_set=ch(self._apply(shape)))

    # ------------------------------------------------------------ helpers
    def _channel_command(self, handler):
        """Wrap ``handler(channel, *args)`` so the ``#`` suffix picks the channel."""

        def run(suffix="", *args):
            number = int(suffix) if suffix else 1
            if number not in self.channels:
                raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE,
                                f"channel {number} does not exist; the 81160A has channels 1 and 2")
            return handler(self.channels[number], *args)

        return run

    @staticmethod
    def _value(args, name: str, unit: str, limits: tuple[float, float] | None = None,
               keywords: dict[str, float] | None = None) -> float:
        if not args:
            raise ScpiError(MISSING_PARAMETER, f"{name} needs a value in {unit}")
        text = args[-1].strip()
        keywords = dict(keywords or {})
        if limits is not None:
            keywords.setdefault("MIN", limits[0])
            keywords.setdefault("MAX", limits[1])
        for key, value in keywords.items():
            if text.upper().startswith(key):
                return value
        value = parse_number(text)
        if limits is not None and not limits[0] <= value <= limits[1]:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"{name} {value:g} {unit} is outside {limits[0]:g} .. {limits[1]:g} "
                            f"{unit}; the setting is unchanged")
        return value

    def _number_setter(self, attribute: str, limits: tuple[float, float]):
        def setter(channel: Channel, *args):
            setattr(channel, attribute, self._value(args, attribute, "", limits))
        return setter

    @staticmethod
    def _flag(args, command: str) -> bool:
        """The ON|OFF|1|0 argument of ``command``."""
        if not args:
            raise ScpiError(MISSING_PARAMETER, f"{command} needs ON|OFF|1|0")
        return parse_bool(args[-1])

    @staticmethod
    def _keyword(args, what: str, choices: tuple[str, ...], aliases: dict[str, str]) -> str:
        """A keyword argument in its short form, long forms accepted through ``aliases``."""
        if not args:
            raise ScpiError(MISSING_PARAMETER, f"{what} needs one of {choices}")
        text = args[-1].strip().upper()
        value = aliases.get(text, text)
        if value not in choices:
            raise ScpiError(ILLEGAL_PARAMETER, f"{what} {args[-1]!r} is not one of {choices}")
        return value

    def _choice_setter(self, attribute: str, choices: tuple[str, ...]):
        def setter(channel: Channel, *args):
            if not args:
                raise ScpiError(MISSING_PARAMETER, f"{attribute} needs one of {choices}")
            text = args[-1].strip().upper()
            for choice in choices:
                if text.startswith(choice) or choice.startswith(text) and len(text) >= 3:
                    setattr(channel, attribute, choice)
                    return
            raise ScpiError(ILLEGAL_PARAMETER, f"{attribute} {args[-1]!r} is not one of {choices}")
        return setter

    # ------------------------------------------------------------ levels
    def _check_levels(self, channel: Channel, high_V: float, low_V: float, load_ohm: float,
                      what: str) -> None:
        """Raise -222 (range) or -221 (limits) unless (high, low) is allowed into ``load_ohm``."""
        k = load_factor(load_ohm)
        amplitude, offset = high_V - low_V, (high_V + low_V) / 2.0
        load = "high Z" if math.isinf(load_ohm) else f"{load_ohm:g} ohm"
        checks = (
            (amplitude, AMPLITUDE_RANGE_VPP, "amplitude", "Vpp"),
            (offset, OFFSET_RANGE_V, "offset", "V"),
            (high_V, HIGH_RANGE_V, "high level", "V"),
            (low_V, LOW_RANGE_V, "low level", "V"),
        )
        for value, (lo, hi), name, unit in checks:
            if not lo * k - 1e-12 <= value <= hi * k + 1e-12:
                raise ScpiError(DATA_OUT_OF_RANGE,
                                f"{what}: {name} {value:g} {unit} is outside {lo * k:g} .. "
                                f"{hi * k:g} {unit} into the {load} load setting; the setting "
                                f"is unchanged")
        if abs(offset) + amplitude / 2.0 > WINDOW_V * k + 1e-12:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"{what}: |offset| + amplitude/2 = {abs(offset) + amplitude / 2:g} V "
                            f"exceeds the {WINDOW_V * k:g} V window into the {load} load setting")
        if channel.limit_enabled and (high_V > channel.limit_high_V + 1e-12
                                      or low_V < channel.limit_low_V - 1e-12):
            raise ScpiError(SETTINGS_CONFLICT,
                            f"{what}: levels {low_V:g} .. {high_V:g} V leave the voltage limits "
                            f"{channel.limit_low_V:g} .. {channel.limit_high_V:g} V "
                            f"(:VOLT:LIM:STAT ON); raise the limits or lower the level")

    def _set_levels(self, channel: Channel, high_V: float, low_V: float, what: str) -> None:
        self._check_levels(channel, high_V, low_V, channel.load_ohm, what)
        channel.high_V, channel.low_V = high_V, low_V

    def _set_amplitude(self, channel: Channel, *args):
        k = load_factor(channel.load_ohm)
        amplitude = self._value(args, "amplitude", "Vpp", keywords={
            "MIN": AMPLITUDE_RANGE_VPP[0] * k, "MAX": AMPLITUDE_RANGE_VPP[1] * k})
        offset = channel.offset_V
        self._set_levels(channel, offset + amplitude / 2, offset - amplitude / 2,
                         f"VOLT {amplitude:g}")

    def _set_offset(self, channel: Channel, *args):
        offset = self._value(args, "offset", "V")
        half = channel.amplitude_Vpp / 2
        self._set_levels(channel, offset + half, offset - half, f"VOLT:OFFS {offset:g}")

    def _set_high(self, channel: Channel, *args):
        high = self._value(args, "high level", "V")
        self._set_levels(channel, high, channel.low_V, f"VOLT:HIGH {high:g}")

    def _set_low(self, channel: Channel, *args):
        low = self._value(args, "low level", "V")
        self._set_levels(channel, channel.high_V, low, f"VOLT:LOW {low:g}")

    def _set_limit_state(self, channel: Channel, *args):
        state = self._flag(args, "VOLT:LIM:STAT")
        if state and (channel.high_V > channel.limit_high_V or channel.low_V < channel.limit_low_V):
            raise ScpiError(SETTINGS_CONFLICT,
                            f"the present levels {channel.low_V:g} .. {channel.high_V:g} V are "
                            f"outside the limits {channel.limit_low_V:g} .. "
                            f"{channel.limit_high_V:g} V; set the levels inside first")
        channel.limit_enabled = state

    def _set_limit_high(self, channel: Channel, *args):
        value = self._value(args, "high limit", "V", LIMIT_RANGE_V)
        if value <= channel.limit_low_V or (channel.limit_enabled and channel.high_V > value):
            raise ScpiError(SETTINGS_CONFLICT, f"high limit {value:g} V conflicts with the low "
                                               f"limit {channel.limit_low_V:g} V or the high level "
                                               f"{channel.high_V:g} V")
        channel.limit_high_V = value

    def _set_limit_low(self, channel: Channel, *args):
        value = self._value(args, "low limit", "V", LIMIT_RANGE_V)
        if value >= channel.limit_high_V or (channel.limit_enabled and channel.low_V < value):
            raise ScpiError(SETTINGS_CONFLICT, f"low limit {value:g} V conflicts with the high "
                                               f"limit {channel.limit_high_V:g} V or the low level "
                                               f"{channel.low_V:g} V")
        channel.limit_low_V = value

    def _set_load(self, channel: Channel, *args):
        load = self._value(args, "output load", "ohm", LOAD_RANGE_OHM,
                           keywords={"INF": HIGH_Z_OHM})
        self._check_levels(channel, channel.high_V, channel.low_V, load,
                           f"OUTP:LOAD {load:g}")
        channel.load_ohm = load

    @staticmethod
    def _query_load(channel: Channel):
        return "9.9E+37" if math.isinf(channel.load_ohm) else format_number(channel.load_ohm)

    # ------------------------------------------------------------ timing
    def _frequency_limit_Hz(self, channel: Channel) -> float:
        limit = FREQUENCY_MAX_HZ.get(channel.shape, FREQUENCY_MAX_HZ["DEFAULT"])
        if channel.shape == "USER":
            points = len(self._waveform(channel)) if self._waveform(channel) is not None else 2
            limit = min(limit, ARB_SAMPLE_RATE_MAX_HZ / points)
        return limit

    def _set_frequency(self, channel: Channel, *args):
        limits = (FREQUENCY_MIN_HZ, self._frequency_limit_Hz(channel))
        frequency = self._value(args, "frequency", "Hz", limits)
        self._retime(channel, 1.0 / frequency, f"FREQ {frequency:g}")

    def _set_period(self, channel: Channel, *args):
        period = self._value(args, "period", "s", PERIOD_RANGE_S)
        if 1.0 / period > self._frequency_limit_Hz(channel):
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"period {period:g} s is shorter than the "
                            f"{1 / self._frequency_limit_Hz(channel):g} s minimum of shape "
                            f"{channel.shape}")
        self._retime(channel, period, f"PULS:PER {period:g}")

    def _retime(self, channel: Channel, period_s: float, what: str) -> None:
        width = channel.pulse_width_s
        if channel.hold == "DCYC":
            width = period_s * channel.pulse_width_s / channel.period_s
        elif channel.shape == "PULS" and width >= period_s:
            raise ScpiError(SETTINGS_CONFLICT,
                            f"{what}: the period {period_s:g} s must exceed the pulse width "
                            f"{width:g} s; shorten the width first")
        channel.frequency_Hz = 1.0 / period_s
        channel.pulse_width_s = width

    def _set_width(self, channel: Channel, *args):
        width = self._value(args, "pulse width", "s", PULSE_WIDTH_RANGE_S)
        if width >= channel.period_s:
            raise ScpiError(SETTINGS_CONFLICT,
                            f"pulse width {width:g} s must be shorter than the period "
                            f"{channel.period_s:g} s; raise the period (PULS:PER) first")
        channel.pulse_width_s = width

    def _set_pulse_dutycycle(self, channel: Channel, *args):
        dcyc = self._value(args, "pulse duty cycle", "%", (0.15, 99.99))
        width = channel.period_s * dcyc / 100.0
        if width < PULSE_WIDTH_RANGE_S[0]:
            raise ScpiError(DATA_OUT_OF_RANGE, f"duty cycle {dcyc:g} % gives a width of "
                                               f"{width:g} s, under the 1.5 ns minimum")
        channel.pulse_width_s = width

    # ------------------------------------------------------------ output, shape, burst
    def _set_output(self, channel: Channel, *args):
        state = self._flag(args, "OUTP")
        if not state:
            channel.generation += 1          # pulses not yet played never leave
        channel.output = state

    def _set_shape(self, channel: Channel, *args):
        shape = self._keyword(args, "FUNC shape", SHAPES, {
            "SQUARE": "SQU", "PULSE": "PULS", "SINUSOID": "SIN", "NOISE": "NOIS", "ARB": "USER"})
        if shape == "PULS" and channel.pulse_width_s >= channel.period_s:
            channel.pulse_width_s = channel.period_s / 10.0
        if channel.frequency_Hz > FREQUENCY_MAX_HZ.get(shape, FREQUENCY_MAX_HZ["DEFAULT"]):
            channel.frequency_Hz = FREQUENCY_MAX_HZ["DEFAULT"]
        channel.shape = shape

    def _select_user(self, channel: Channel, *args):
        if not args:
            raise ScpiError(MISSING_PARAMETER, "FUNC:USER needs VOLATILE or a stored name")
        name = args[-1].strip().strip("\"'").upper()
        if name.startswith("VOLATILE") or name == "VOL":
            channel.user_waveform = "VOLATILE"
        elif name in channel.stored:
            channel.user_waveform = name
        else:
            raise ScpiError(ILLEGAL_PARAMETER, f"no user waveform {name!r}; stored: "
                                               f"{sorted(channel.stored) or 'none'} (or VOLATILE)")

    def _set_burst_state(self, channel: Channel, *args):
        channel.burst_state = self._flag(args, "BURS:STAT")

    def _ncycles(self, args) -> int:
        value = self._value(args, "burst cycle count", "", BURST_NCYCLES_RANGE,
                            keywords={"INF": BURST_NCYCLES_RANGE[1]})
        if value != int(value):
            raise ScpiError(DATA_OUT_OF_RANGE, f"burst cycle count {value:g} is not a whole number")
        return int(value)

    def _set_ncycles(self, channel: Channel, *args):
        channel.burst_ncycles = self._ncycles(args)

    def _set_trigger_count(self, channel: Channel, *args):
        """``:TRIG:COUN n``: n cycles per trigger; n > 1 switches burst on, 1 off."""
        count = self._ncycles(args)
        channel.burst_ncycles = count
        channel.burst_state = count > 1

    def _set_arm_source(self, channel: Channel, *args):
        source = self._keyword(args, "ARM:SOUR", ARM_SOURCES, {
            "IMMEDIATE": "IMM", "EXTERNAL": "EXT", "MANUAL": "MAN", "BUS": "MAN",
            "INTERNAL2": "INT2"})
        if source != channel.arm_source:
            channel.generation += 1
        channel.arm_source = source

    def _set_channel_math(self, *args):
        math = self._keyword(args, "CHAN:MATH", ("OFF", "PLUS"), {})
        if math != self.channel_math:
            self.channels[2].generation += 1     # a pending sum must not play as something else
        self.channel_math = math

    def _adds_to_wired(self, channel: Channel) -> bool:
        """Whether ``channel``'s pulses leave at the wired output through channel addition."""
        return (self.channel_math == "PLUS" and channel.number == 2
                and self.lab.config.wiring.pulse_channel == 1)

    def _set_coupling(self, channel: Channel, *args):
        channel.coupling = self._flag(args, "TRAC:CHAN")

    def _apply(self, shape_node: str):
        shape = {"PULSe": "PULS", "SINusoid": "SIN", "SQUare": "SQU", "USER": "USER",
                 "NOISe": "NOIS", "DC": "DC", "RAMP": "RAMP"}[shape_node]

        def apply(channel: Channel, *args):
            values = [a for a in args]
            frequency = values[0] if len(values) > 0 else "DEF"
            amplitude = values[1] if len(values) > 1 else "DEF"
            offset = values[2] if len(values) > 2 else "DEF"
            previous = (channel.shape, channel.frequency_Hz, channel.high_V, channel.low_V)
            try:
                self._set_shape(channel, shape)
                if shape == "DC":                 # the DC shape outputs the offset
                    if not offset.upper().startswith("DEF"):
                        self._set_offset(channel, offset)
                else:
                    if not frequency.upper().startswith("DEF"):
                        self._set_frequency(channel, frequency)
                    if not amplitude.upper().startswith("DEF"):
                        self._set_amplitude(channel, amplitude)
                    if not offset.upper().startswith("DEF"):
                        self._set_offset(channel, offset)
            except ScpiError:
                channel.shape, channel.frequency_Hz, channel.high_V, channel.low_V = previous
                raise
            channel.output = True

        return apply

    # ------------------------------------------------------------ arbitrary waveforms
    def _load_dac(self, channel: Channel, *args):
        if len(args) < 2:
            raise ScpiError(MISSING_PARAMETER, "DATA:DAC needs VOLATILE,<data>")
        if not args[0].strip().upper().startswith("VOL"):
            raise ScpiError(ILLEGAL_PARAMETER, f"DATA:DAC loads VOLATILE memory only, got {args[0]!r}; "
                                               f"then copy it with DATA:COPY <name>,VOLATILE")
        if len(args) == 2 and args[1].startswith("#"):
            data = parse_block(args[1])
            if len(data) % 2:
                raise ScpiError(INVALID_BLOCK_DATA, f"a DAC block holds 16-bit values: "
                                                    f"{len(data)} bytes is odd")
            values = np.frombuffer(data, dtype=">i2").astype(np.int64)
        else:
            try:
                values = np.array([int(a) for a in args[1:]], dtype=np.int64)
            except ValueError:
                raise ScpiError(ILLEGAL_PARAMETER, "DAC values must be integers -8191 .. 8191") from None
        if not ARB_POINTS_RANGE[0] <= len(values) <= ARB_POINTS_RANGE[1]:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"waveform of {len(values)} points; the 81160A holds "
                            f"{ARB_POINTS_RANGE[0]} .. {ARB_POINTS_RANGE[1]} points")
        bad = np.flatnonzero(np.abs(values) > DAC_MAX)
        if bad.size:
            raise ScpiError(DATA_OUT_OF_RANGE,
                            f"DAC value {int(values[bad[0]])} at point {int(bad[0])} is outside "
                            f"-{DAC_MAX} .. {DAC_MAX} ({bad.size} such points); scale the waveform "
                            f"so that its largest |value| is {DAC_MAX}")
        channel.volatile = values

    def _copy_waveform(self, channel: Channel, *args):
        if len(args) < 2 or not args[1].strip().upper().startswith("VOL"):
            raise ScpiError(MISSING_PARAMETER, "DATA:COPY needs <name>,VOLATILE")
        name = args[0].strip().strip("\"'").upper()
        if not name or not name[0].isalpha() or len(name) > 12:
            raise ScpiError(ILLEGAL_PARAMETER, f"waveform name {name!r}: 1-12 characters, "
                                               f"starting with a letter")
        if channel.volatile is None:
            raise ScpiError(SETTINGS_CONFLICT, "volatile memory is empty; load it with DATA:DAC first")
        if name not in channel.stored and len(channel.stored) >= NONVOLATILE_SLOTS:
            raise ScpiError(SETTINGS_CONFLICT, f"all {NONVOLATILE_SLOTS} slots are used; delete one "
                                               f"with DATA:DEL <name>")
        channel.stored[name] = channel.volatile.copy()

    def _delete_waveform(self, channel: Channel, *args):
        name = args[-1].strip().strip("\"'").upper() if args else ""
        if name not in channel.stored:
            raise ScpiError(ILLEGAL_PARAMETER, f"no stored waveform {name!r}")
        if channel.user_waveform == name:
            raise ScpiError(SETTINGS_CONFLICT, f"waveform {name!r} is selected (FUNC:USER); "
                                               f"select another first")
        del channel.stored[name]

    @staticmethod
    def _waveform(channel: Channel):
        if channel.user_waveform == "VOLATILE":
            return channel.volatile
        return channel.stored.get(channel.user_waveform)

    # ------------------------------------------------------------ idle level
    def handle(self, message: str) -> str | None:
        reply = super().handle(message)
        self._apply_idle_level()
        return reply

    @staticmethod
    def idle_level_V(channel: Channel) -> float:
        """The DC level the output holds between pulses (0 with the output off)."""
        if not channel.output:
            return 0.0
        if channel.shape == "PULS":
            return channel.low_V if channel.polarity == "NORM" else channel.high_V
        if channel.shape == "DC":
            return channel.offset_V
        return 0.0                       # arbitrary / periodic shapes: not simulated

    def _apply_idle_level(self) -> None:
        """After every message: a destructive idle level destroys the devices it reaches."""
        channel = self.channels.get(self.lab.config.wiring.pulse_channel)
        if channel is None:
            return
        level = self.idle_level_V(channel)
        if abs(level) > 1e-12:
            self.lab.apply_static_level(self.lab.clock.now_s, emf_for(level, channel.load_ohm))

    # ------------------------------------------------------------ triggering
    def reset(self) -> None:
        super().reset()
        self.channel_math = "OFF"
        for number, channel in list(self.channels.items()):
            channel.generation += 1          # cancels the pulses still scheduled
            self.channels[number] = Channel(number, stored=channel.stored,
                                            generation=channel.generation)
        self.busy_until_s = self.lab.clock.now_s

    def trigger(self) -> None:
        """``*TRG`` / bus trigger: play a burst on every channel armed MAN, IMM or INT2."""
        now = self.lab.clock.now_s
        for channel in self.channels.values():
            if channel.arm_source != "EXT":
                self._play(channel, now + TRIGGER_LATENCY_S)

    def trigger_in(self, time_s: float) -> None:
        """An edge on the external trigger input at ``time_s`` (the bench's trigger link)."""
        for channel in self.channels.values():
            if channel.arm_source == "EXT":
                self._play(channel, time_s + TRIGGER_LATENCY_S)

    def _cycle_pulses(self, channel: Channel) -> list[tuple[float, float, float]]:
        """(offset_s, level_V, width_s) of the pulses in one cycle of the present shape."""
        if channel.shape == "PULS":
            level = channel.high_V if channel.polarity == "NORM" else channel.low_V
            return [(0.0, level, channel.pulse_width_s)] if level != 0.0 else []
        if channel.shape != "USER":
            return []
        waveform = self._waveform(channel)
        if waveform is None:
            return []
        points = len(waveform)
        dt = channel.period_s / points
        levels = channel.offset_V + (channel.amplitude_Vpp / 2.0) * waveform / DAC_MAX
        if channel.polarity == "INV":
            levels = 2 * channel.offset_V - levels
        edges = np.flatnonzero(np.diff(waveform)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [points]))
        return [(float(s * dt), float(levels[s]), float((e - s) * dt))
                for s, e in zip(starts, ends) if abs(levels[s]) > 1e-12]

    def _play(self, channel: Channel, start_s: float) -> None:
        added = self._adds_to_wired(channel)
        if not (self.channels[1].output if added else channel.output):
            return
        if channel.arm_source == "IMM" and not channel.burst_state:
            return                       # free-running output: not simulated, see docstring
        if channel.shape == "USER":
            waveform = self._waveform(channel)
            if waveform is None:
                self.push_error(SETTINGS_CONFLICT, "trigger ignored: FUNC USER but no waveform "
                                                   "is loaded (DATA:DAC VOLATILE,<block>)")
                return
            if channel.frequency_Hz * len(waveform) > ARB_SAMPLE_RATE_MAX_HZ * (1 + 1e-9):
                self.push_error(SETTINGS_CONFLICT,
                                f"trigger ignored: {len(waveform)} points at {channel.frequency_Hz:g} Hz "
                                f"need {channel.frequency_Hz * len(waveform):g} Sa/s, over "
                                f"{ARB_SAMPLE_RATE_MAX_HZ:g} Sa/s; lower FREQ")
                return
        cycles = channel.burst_ncycles if channel.burst_state else 1
        period = channel.period_s
        load_ohm = self.channels[1].load_ohm if added else channel.load_ohm
        pulses = [(offset_s, emf_for(level_V, load_ohm), width_s)
                  for offset_s, level_V, width_s in self._cycle_pulses(channel)]
        wired = added or channel.number == self.lab.config.wiring.pulse_channel
        generation = channel.generation
        clock = self.lab.clock

        # one event per cycle schedules that cycle's pulses and the next cycle, so a burst
        # of 2^31 cycles costs memory for one cycle only
        def cycle_starts(t_cycle: float, cycle: int = 0) -> None:
            if channel.generation != generation or not self._sends(channel, added):
                return
            if channel.number == 1:          # Trigger Out marks channel 1's periods
                self.lab.fire_generator_trigger_out(t_cycle)
            for offset_s, emf_V, width_s in pulses:
                self._schedule_pulse(channel, generation, t_cycle + offset_s, emf_V, width_s,
                                     wired)
            if cycle + 1 < cycles:
                clock.schedule(start_s + (cycle + 1) * period,
                               lambda t, c=cycle + 1: cycle_starts(t, c))

        clock.schedule(start_s, cycle_starts)
        self.busy_until_s = max(self.busy_until_s, start_s + cycles * period)

    def _schedule_pulse(self, channel: Channel, generation: int, time_s: float, emf_V: float,
                        width_s: float, wired: bool) -> None:
        self.pulses_scheduled += 1

        added = self._adds_to_wired(channel)

        def fire(t: float) -> None:
            if channel.generation != generation or not self._sends(channel, added):
                return
            if wired:
                self.fired.append((t, emf_V, width_s))
                self.lab.deliver_pulse(t, emf_V, width_s)

        self.lab.clock.schedule(time_s, fire)

    def _sends(self, channel: Channel, added: bool) -> bool:
        """Whether a pulse of ``channel`` leaves now: its output is on, or (added at output 1)
        channel addition is still on and output 1 is on."""
        if added:
            return self.channel_math == "PLUS" and self.channels[1].output
        return channel.output
