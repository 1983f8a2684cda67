"""``PulseSource`` over a Keysight 81160A pulse / arbitrary waveform generator.

Two ways to make pulses:

*Pulse mode* (single pulses, the naive path): the ``PULS`` function, one cycle per bus
trigger (``*TRG``). A positive pulse is polarity ``NORM`` with ``VOLT:LOW 0`` and
``VOLT:HIGH = amplitude``; a negative one is polarity ``INV`` with ``VOLT:HIGH 0`` and
``VOLT:LOW = amplitude``, so the idle level stays 0 V. The output is switched off while the
shape or the polarity changes (else the old idle level would be the new pulse level for a
moment, or, coming from a batch's waveform, ``offset - amplitude / 2 = -full_scale_V`` would
sit on the line as DC until ``VOLT:LOW 0`` arrives).

*Arbitrary mode* (batches): a volatile ``USER`` waveform whose runs of equal non-zero samples
are the pulses, played from the external trigger input (the read SMU's trigger link). The
sample voltage is ``full_scale_V * dac / 8191`` (offset 0, amplitude ``2 * full_scale_V``
Vpp), so pulses of many amplitudes and both signs share one waveform. The output is switched
off before every load (shape, levels, DAC data and sample rate change together; with the
output on, a trigger between two of those writes would play a mix nothing checked) and on
again once all of them are written; the levels go before the DAC data.

Levels and load. The 81160A scales its levels to the expected load (``:OUTP:LOAD``). The device
line is not a 50 ohm load, so the role sets the load to 1 MOhm: the programmed level is then
the open-circuit EMF (to 5e-5), which :mod:`drivers.limits` bounds. Levels into 1 MOhm range
over about twice the 50 ohm figures; the smallest amplitude is 0.1 Vpp (pulse mode: 0.1 V
pulses; arbitrary mode: 0.05 V full scale, finer levels by DAC fraction).

Safety: every level and width is checked, *as the instrument will apply it* (after the
rounding of the command format and the 14-bit DAC), against the limits of the device(s) on
the pulse row (``limits``; the bench keeps it up to date as the matrix changes) before
anything is written. Levels are always written, never skipped as "already set".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.keysight import Keysight81160A
from pymeasure.instruments.keysight.keysight81160A import MAX_DAC_VALUE, Keysight81160AChannel
from pymeasure.instruments.validators import strict_discrete_set

from devices.benchfile import SafetyLimits
from drivers.faults import GarbledReply, confirm_off, output_is_on
from drivers.limits import HIGH_Z_LOAD_OHM, check_pulse, check_pulses

MAX_ARB_POINTS = 262_144
MAX_SAMPLE_RATE_HZ = 2.5e9
MIN_AMPLITUDE_VPP_50OHM = 0.05
MAX_LEVEL_V_50OHM = 5.0


def load_factor(load_ohm: float) -> float:
    """Volts into ``load_ohm`` per volt of the 50-ohm-referred ranges: 2 Z / (Z + 50)."""
    return 2.0 * load_ohm / (load_ohm + 50.0)


def as_written(value: float, fmt: str = "%f") -> float:
    """The value an instrument receives after the command's number format."""
    return float(fmt % value)


def level_as_written(level_V: float) -> float:
    """|level| as ``%f`` carries it (1 uV), rounded toward zero: the level played is never
    above the one checked, so the largest level the limits allow can be played."""
    written = as_written(abs(level_V))
    return written if written <= abs(level_V) else as_written(abs(level_V) - 5e-7)


class PulseChannel(Keysight81160AChannel):
    """An 81160A channel plus what pymeasure's lacks: the output polarity, and waveform
    scaling to a chosen full scale (pymeasure scales by the largest value, which overflows
    the DAC when the negative excursion is the larger one)."""

    polarity = Instrument.control(
        ":OUTP{ch}:POL?", ":OUTP{ch}:POL %s",
        """Control the output polarity (str, 'NORM' or 'INV').""",
        validator=strict_discrete_set,
        values=["NORM", "INV"],
    )

    # pymeasure's ranges are referred to a 50 ohm load; into the 1 MOhm setting the
    # instrument takes about twice as much (the safety limits are far tighter anyway)
    amplitude_values = [0.0999, 10.0]
    offset_values = [-9.99, 9.99]
    voltage_high_values = [-9.9, 10.0]
    voltage_low_values = [-10.0, 9.9]

    #: volts of DAC value 8191 for the next ``waveform_volatile`` (None: the largest |value|)
    dac_full_scale_V: float | None = None

    def _preprocess_waveform(self, data):
        data = np.asarray(data, dtype=float)
        scale = self.dac_full_scale_V or float(np.max(np.abs(data)))
        if scale == 0.0:
            return np.zeros(len(data), dtype=int)
        dac = np.round(data / scale * MAX_DAC_VALUE).astype(int)
        if np.any(np.abs(dac) > MAX_DAC_VALUE):
            raise ValueError(f"waveform exceeds the full scale {scale} V")
        return dac

    def write_binary_values(self, command, values, *args, **kwargs):
        """pymeasure sends a block without a terminator; a message on a LAN socket (and
        any SCPI parser that frames by newline) needs one after the block."""
        kwargs.setdefault("termination", "\n")
        super().write_binary_values(command, values, *args, **kwargs)


class Keysight81160APulser(Keysight81160A):
    """pymeasure's Keysight 81160A with :class:`PulseChannel` channels."""

    ch_1 = Instrument.ChannelCreator(PulseChannel, 1)
    ch_2 = Instrument.ChannelCreator(PulseChannel, 2)


@dataclass(frozen=True)
class ArbWaveform:
    """A waveform as the generator will play it: DAC values, full scale, sample interval."""

    dac: np.ndarray
    full_scale_V: float
    sample_interval_s: float
    frequency_Hz: float             # as written: one cycle = len(dac) samples

    @property
    def levels_V(self) -> np.ndarray:
        return self.full_scale_V * self.dac / MAX_DAC_VALUE

    def pulses(self) -> list[tuple[int, float, float]]:
        """(start sample, level V, width s) of every run of equal non-zero samples."""
        dac = self.dac
        edges = np.flatnonzero(np.diff(dac)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [len(dac)]))
        keep = dac[starts] != 0
        starts, ends = starts[keep], ends[keep]
        levels = self.full_scale_V * dac[starts] / MAX_DAC_VALUE
        widths = (ends - starts) * self.sample_interval_s
        return list(zip(starts.tolist(), levels.tolist(), widths.tolist()))


class Keysight81160APulseSource:
    """Roles ``PulseSource`` and ``WaveformPulseSource`` on one channel of an 81160A."""

    #: the instrument's figures, read by batching through the role
    max_waveform_points = MAX_ARB_POINTS
    max_sample_rate_Hz = MAX_SAMPLE_RATE_HZ

    def __init__(self, instrument: Keysight81160APulser, limits: SafetyLimits,
                 source_impedance_ohm: float = 50.0, channel: int = 1, device: str = ""):
        self.instrument = instrument
        self.channel = instrument.channels[channel]
        self.limits = limits
        self.device = device
        self.source_impedance_ohm = float(source_impedance_ohm)
        self.load_ohm = HIGH_Z_LOAD_OHM
        self.period_s = max(10e-6, 10 * limits.max_pulse_width_s)
        self._state: dict[str, object] = {}      # non-level settings last written
        self._output_on: bool | None = None      # None: unknown
        # channel addition (level runs): False off, True maybe on, None unknown; kept over
        # forget_state (a sum this role turned on is assumed on until it writes it off)
        self._added: bool | None = None

    # ------------------------------------------------------------ helpers
    def _set(self, name: str, value) -> None:
        """Write a (non-level) channel setting unless it already holds ``value``."""
        if self._state.get(name) != value:
            self._state.pop(name, None)
            setattr(self.channel, name, value)
            self._state[name] = value

    def _write_once(self, key: str, command: str) -> None:
        if self._state.get(key) is not True:
            self._state.pop(key, None)
            self.channel.write(command)
            self._state[key] = True

    def forget_state(self) -> None:
        """After a fault or a reconnect the instrument state is unknown: write everything."""
        self._state.clear()
        self._output_on = None

    def _holds(self, **settings) -> bool:
        """Whether the channel is known to hold the load setting and ``settings``: then a
        level change keeps the idle level at 0 V (pulse mode: NORM writes HIGH then LOW 0, INV
        LOW then HIGH 0)."""
        if self._state.get("output_load") != self.load_ohm:
            return False
        return all(self._state.get(name) == value for name, value in settings.items())

    def _output(self, on: bool) -> None:
        if self._output_on is not on:
            self._output_on = None
            self.channel.output = on
            self._output_on = on

    @property
    def min_pulse_level_V(self) -> float:
        return MIN_AMPLITUDE_VPP_50OHM * load_factor(self.load_ohm) * (1 + 1e-9)

    @property
    def max_level_V(self) -> float:
        return MAX_LEVEL_V_50OHM * load_factor(self.load_ohm) * 0.99

    def _check(self, levels_V, width_s: float) -> None:
        check_pulses(levels_V, width_s, self.limits, self.source_impedance_ohm,
                     self.load_ohm, self.device)

    # ------------------------------------------------------------ pulse mode (naive)
    def plan_pulse(self, amplitude_V: float, width_s: float, limits: SafetyLimits | None = None,
                   device: str | None = None):
        """What ``set_pulse`` would write, checked as the instrument would apply it, without
        writing anything: ``("PULS", level_V, width_s)`` or ``("USER", waveform, width_s)``.
        ``limits`` / ``device`` default to the role's (those of the device on the row)."""
        limits = self.limits if limits is None else limits
        device = self.device if device is None else device
        args = (limits, self.source_impedance_ohm, self.load_ohm, device)
        check_pulse(amplitude_V, width_s, *args)
        level = level_as_written(float(amplitude_V))
        width = as_written(float(width_s), "%e")
        check_pulse(level, width, *args)                   # as the command will carry them
        if level > self.max_level_V:
            raise ValueError(f"pulse level {amplitude_V:g} V is over the 81160A's "
                             f"{self.max_level_V:.3g} V into its high-Z load setting. "
                             "Nothing was sent.")
        if level >= self.min_pulse_level_V:
            return "PULS", level, width
        # below the smallest pulse-mode amplitude: a one-pulse arbitrary waveform
        # (one sample of the level, nine of 0 V; full scale >= the minimum amplitude)
        levels = np.zeros(10)
        levels[0] = float(amplitude_V)
        waveform = self.build_waveform(levels, width)
        for _, played, played_width in waveform.pulses():
            check_pulse(played, played_width, *args)
        return "USER", waveform, width

    def set_pulse(self, amplitude_V: float, width_s: float, count: int = 1) -> None:
        """Arm ``count`` pulses of ``amplitude_V`` (sign = polarity) and ``width_s``."""
        count = int(count)
        if count < 1:
            raise ValueError(f"pulse count must be >= 1, got {count}; nothing was sent")
        mode, level, width = self.plan_pulse(amplitude_V, width_s)
        if mode == "USER":
            self.load_waveform(level, count, trigger="MAN")
            return
        polarity = "INV" if amplitude_V < 0 else "NORM"
        # the same pulse level as the last pulse-mode pulse, nothing written between (a
        # waveform or a level pair changes the shape): the levels need no rewrite
        same_levels = (self._holds(shape="PULS", polarity=polarity)
                       and self._state.get("pulse_level") == level)
        self._state.pop("level_pair", None)      # channel 1 no longer holds the reset
        self._addition_off()
        if self._output_on is not False and not self._holds(shape="PULS", polarity=polarity):
            # the idle level must not jump to the pulse level (a polarity change) nor to a
            # waveform's low level (``:FUNC PULS`` after a batch: LOW = -full scale until
            # ``VOLT:LOW 0`` arrives)
            self._output(False)
        self._set("output_load", self.load_ohm)
        self._set("shape", "PULS")
        self._set("trigger_mode", "MAN")
        self._set("pulse_period", self.period_s)
        self._set("pulse_width", width)
        self._set("polarity", polarity)
        if not same_levels:
            self._state.pop("pulse_level", None)
            if polarity == "NORM":     # widen first so that high > low holds at every step
                self.channel.voltage_high = level
                self.channel.voltage_low = 0.0
            else:
                self.channel.voltage_low = -level
                self.channel.voltage_high = 0.0
            self._state["pulse_level"] = level
        self._set("trigger_count", count)

    def fire(self) -> None:
        """Emit the armed pulse(s): output on, then a bus trigger; ``*OPC?`` answers when
        the pulses are out, so a reading that follows (on another instrument) sees them."""
        self._output(True)
        self._opc("*TRG;*OPC?")

    def sync(self) -> None:
        """Hold until the generator has executed everything sent to it (``*OPC?``): writes
        to different instruments are not ordered on a bus or LAN."""
        self._opc("*OPC?")

    def _opc(self, query: str) -> None:
        reply = self.instrument.ask(query).strip()
        if reply != "1":
            raise GarbledReply(f"81160A {query} answered {reply!r}")

    def pulse(self, amplitude_V: float, width_s: float, count: int = 1) -> None:
        """``set_pulse`` then ``fire``; an amplitude of 0 sends nothing."""
        if amplitude_V == 0:
            self._check([0.0], width_s)
            return
        self.set_pulse(amplitude_V, width_s, count)
        self.fire()

    def check(self, amplitudes_V, width_s: float) -> None:
        """Check a whole batch of amplitudes (raises before anything is written)."""
        self._check(amplitudes_V, width_s)

    # ------------------------------------------------------------ arbitrary mode (batches)
    def build_waveform(self, levels_V: np.ndarray, sample_interval_s: float) -> ArbWaveform:
        """Quantize ``levels_V`` (one value per sample) as the generator will play them."""
        levels_V = np.asarray(levels_V, dtype=float)
        points = len(levels_V)
        if not 2 <= points <= MAX_ARB_POINTS:
            raise ValueError(f"an 81160A waveform holds 2 .. {MAX_ARB_POINTS} points, got {points}")
        peak = float(np.max(np.abs(levels_V))) if points else 0.0
        full_scale = max(peak, self.min_pulse_level_V / 2)
        # ':VOLT1 %f' carries the Vpp with 6 decimals: round up, so that the instrument's
        # minimum amplitude and the peak both fit
        full_scale = math.ceil(2 * full_scale * 1e6 - 1e-6) / 1e6 / 2
        if full_scale * 2 > 2 * self.max_level_V:
            raise ValueError(f"waveform peak {peak:g} V is over the 81160A's range")
        dac = np.round(levels_V / full_scale * MAX_DAC_VALUE).astype(np.int64)
        frequency = as_written(1.0 / (points * sample_interval_s))
        if 1.0 / (frequency * points) > sample_interval_s:     # never longer than asked
            frequency = as_written(frequency + 1e-6)
        if frequency * points > MAX_SAMPLE_RATE_HZ:
            raise ValueError(f"{points} points at {frequency:g} Hz exceed the 81160A's "
                             f"{MAX_SAMPLE_RATE_HZ:g} Sa/s; use longer pulses")
        return ArbWaveform(dac, full_scale, 1.0 / (frequency * points), frequency)

    def check_waveform(self, waveform: ArbWaveform, limits: SafetyLimits | None = None,
                       device: str | None = None) -> None:
        """Check every pulse of a waveform as it will be played (each distinct
        (level, width) once: a batch repeats a few of them many times). ``limits`` /
        ``device`` default to the role's (those of the device on the row); a batch checks
        against the device it is about to select."""
        limits = self.limits if limits is None else limits
        device = self.device if device is None else device
        for level, width in sorted({(lvl, w) for _, lvl, w in waveform.pulses()}):
            check_pulse(level, width, limits, self.source_impedance_ohm, self.load_ohm, device)

    def load_waveform(self, waveform: ArbWaveform, cycles: int, trigger: str = "EXT") -> None:
        """Load ``waveform`` to play ``cycles`` times on the next trigger (``EXT``: the
        external input, i.e. the read SMU's trigger link; ``MAN``: ``*TRG``)."""
        self.check_waveform(waveform)
        if cycles < 1:
            raise ValueError(f"cycles must be >= 1, got {cycles}")
        self._state.pop("level_pair", None)      # channel 1 no longer holds the reset
        # Output off first, whatever the shape: from pulse mode, ``:FUNC USER`` with the output
        # on would play the old waveform at the pulse levels; from an earlier batch (USER,
        # armed), a trigger between the writes below would play the old data at the new
        # levels or the new data at the old ones, neither of them checked.
        if self._output_on is not False:
            self._output(False)
        self._addition_off()
        self._set("output_load", self.load_ohm)
        self._set("polarity", "NORM")
        self._set("trigger_mode", trigger)
        self._set("shape", "USER")
        self._write_once("user_volatile", ":FUNC{ch}:USER VOLATILE")
        # levels before the data: the idle level (offset) is 0 V before the data can play
        self.channel.offset = 0.0
        self.channel.amplitude = 2 * waveform.full_scale_V
        _upload_volatile(self.channel, waveform, self._state, "volatile1")
        # ``:FREQ`` is pulse mode's period too, and the instrument may move the pulse width
        # with it: the next pulse-mode pulse must write both again
        self._state.pop("pulse_period", None)
        self._state.pop("pulse_width", None)
        self.channel.frequency = waveform.frequency_Hz
        self._set("trigger_count", int(cycles))
        self._output(True)

    # ------------------------------------------------------------ level runs (histogram batches)
    # Channel 1 plays a one-trial waveform holding the reset pulse (fixed); channel 2 one with
    # the write pulse at full DAC scale, added at output 1 (``:CHAN:MATH PLUS``, manual
    # 3.2.10). Both stay loaded; a level is ``:VOLT2`` (Vpp = 2 x level), its repeats the
    # trigger count; level 0 turns the addition off (the reset alone). Nothing is uploaded
    # per level, so a batch costs one message per distinct level here.
    @property
    def supports_level_runs(self) -> bool:
        """Channel addition sums channel 2 into output 1: the write line must be channel 1."""
        return self.channel.id == 1

    @property
    def min_write_level_V(self) -> float:
        """The smallest non-zero level of a level run (the 81160A's smallest amplitude)."""
        return math.ceil(self.min_pulse_level_V * 1e6) / 1e6 / 2   # as ':VOLT2 %f' carries it

    @staticmethod
    def played_level_V(level_V: float) -> float:
        """A level run's write level as the generator plays it (``:VOLT2 %f`` Vpp / 2)."""
        return as_written(2 * abs(float(level_V))) / 2

    def check_level(self, level_V: float, width_s: float, limits: SafetyLimits | None = None,
                    device: str | None = None) -> float:
        """Check a level run's write level, as played, against ``limits``; returns it."""
        limits = self.limits if limits is None else limits
        device = self.device if device is None else device
        level = float(level_V)
        if not np.isfinite(level) or level < 0:
            raise ValueError(f"a level run plays levels >= 0 V, got {level_V!r}; nothing was sent")
        played = self.played_level_V(level)
        args = (limits, self.source_impedance_ohm, self.load_ohm, device)
        check_pulse(level, width_s, *args)
        check_pulse(played, width_s, *args)
        if played and not self.min_write_level_V <= played <= self.max_level_V:
            raise ValueError(f"write level {level:g} V is outside the 81160A's "
                             f"{self.min_write_level_V:g} .. {self.max_level_V:.3g} V for a level "
                             "run. Nothing was sent.")
        return played

    def load_level_pair(self, reset_wave: ArbWaveform, write_wave: ArbWaveform,
                        trigger: str = "EXT") -> None:
        """Load the reset waveform on channel 1 and the write waveform on channel 2 (same
        length and rate; their pulses never overlap), both armed on ``trigger`` (``EXT``: the
        read SMU's trigger link; ``MAN``: ``*TRG``, the generator as master), addition off.
        Skipped when the same pair is known to be loaded."""
        if not self.supports_level_runs:
            raise ValueError("level runs add channel 2 at output 1: wire the write line to "
                             "channel 1 (pulse_channel = 1)")
        if len(reset_wave.dac) != len(write_wave.dac) or \
                reset_wave.frequency_Hz != write_wave.frequency_Hz:
            raise ValueError("the reset and write waveforms must have one length and rate")
        if np.any((reset_wave.dac != 0) & (write_wave.dac != 0)):
            raise ValueError("the reset and write pulses overlap: their sum was not checked")
        self.check_waveform(reset_wave)
        key = (reset_wave.dac.tobytes(), reset_wave.full_scale_V, write_wave.dac.tobytes(),
               reset_wave.frequency_Hz, trigger)
        if self._state.get("level_pair") == key:
            return
        self._state.pop("level_pair", None)
        other = self._channel2_for_addition(":ARM:SOUR{ch} %s" % trigger)
        _upload_volatile(other, write_wave, self._state, "volatile2")
        other.frequency = write_wave.frequency_Hz
        self.load_waveform(reset_wave, 1, trigger)   # channel 1 armed alike, output 1 on
        self._state["level_pair"] = key

    def _channel2_for_addition(self, arm: str):
        """Channel 2 set up to be added into output 1 (a user waveform in volatile memory,
        armed by ``arm``), with output 1 off while it changes; returns the channel."""
        if self._output_on is not False:        # channel 2 changes with output 1 off
            self._output(False)
        self._added = True if self._added is None else self._added
        self._addition_off()
        self._state["added"] = False
        other = self.instrument.channels[2]
        other.write(":OUTP{ch}:LOAD %g" % self.load_ohm)
        other.write(arm)
        other.write(":FUNC{ch} USER")
        other.write(":FUNC{ch}:USER VOLATILE")
        other.offset = 0.0
        other.amplitude = 2 * self.min_write_level_V
        return other

    def arm_level(self, level_V: float, cycles: int, width_s: float) -> float:
        """Arm ``cycles`` trials at write level ``level_V`` (0: reset only) for the next
        external trigger, output 1 on; one query (``*OPC?``: applied before the trigger).
        Returns the level as played."""
        cycles = int(cycles)
        if cycles < 1:
            raise ValueError(f"cycles must be >= 1, got {cycles}; nothing was sent")
        if "level_pair" not in self._state:
            raise RuntimeError("load the level pair (load_level_pair) before arm_level")
        played = self.check_level(level_V, width_s)
        parts = [f":TRIG1:COUN {cycles}"]
        if played:
            parts += [f":VOLT2 {2 * played:f}", f":TRIG2:COUN {cycles}"]
        added = bool(played)
        if self._state.get("added") != added:
            parts.append(":CHAN:MATH PLUS" if added else ":CHAN:MATH OFF")
        if self._output_on is not True:
            parts.append(":OUTP1 ON")
        self._state.pop("added", None)
        self._output_on = None
        if added:
            self._added = True                  # maybe on from here until written off
        self._opc(";".join(parts) + ";*OPC?")
        self._state["added"] = added
        if not added and ":CHAN:MATH OFF" in parts:
            self._added = False
        self._output_on = True
        self._state["trigger_count"] = cycles
        return played

    def play_levels(self, levels_V, counts, width_s: float) -> list[float]:
        """Play every level of a batch in one message, the generator as master: per level
        its trigger counts, ``:VOLT2`` and the addition, then ``*TRG;*WAI`` (the parser holds
        until the burst has played, so the next level never changes a burst under way).
        Trigger Out marks each trial for the read SMU. The pair must be loaded armed ``MAN``.
        Every level is checked, as played, before the message is sent. Returns the levels
        as played."""
        if "level_pair" not in self._state or self._state["level_pair"][-1] != "MAN":
            raise RuntimeError("load the level pair armed MAN (load_level_pair(..., 'MAN')) "
                               "before play_levels")
        counts = [int(c) for c in counts]
        if len(counts) != len(levels_V) or min(counts, default=0) < 1:
            raise ValueError(f"one trial count >= 1 per level, got {counts}; nothing was sent")
        played = [self.check_level(level, width_s) for level in levels_V]
        parts = [] if self._output_on is True else [":OUTP1 ON"]
        added = self._state.get("added")
        for level, count in zip(played, counts):
            parts += [f":TRIG1:COUN {count}", f":TRIG2:COUN {count}"]
            if level:
                parts.append(f":VOLT2 {2 * level:f}")
            if added != bool(level):
                parts.append(":CHAN:MATH PLUS" if level else ":CHAN:MATH OFF")
                added = bool(level)
            parts += ["*TRG", "*WAI"]
        self._state.pop("added", None)
        self._output_on = None
        self._added = True if any(played) else self._added
        self.instrument.write(";".join(parts))
        self._state["added"] = added
        self._added = added
        self._output_on = True
        self._state["trigger_count"] = counts[-1]
        return played

    # ------------------------------------------------------------ pulse trains (a read per pulse)
    # Channel 1 plays a quiet slot (all zeros): its Trigger Out marks every slot for the read
    # SMU, whose LogicTrigger model reads once per slot. Channel 2 holds the write slot (write
    # pulse at full DAC scale) in volatile memory and two stored slots: the reset (reverse
    # pulse, full scale) and a low write (the write pulse at 1 / LOW_WRITE_DIVISOR of full
    # scale: levels under the smallest ``:VOLT2``). A slot is a write (its slot selected,
    # ``:VOLT2`` scaling it to the level), a reset, or read-only (addition off), all added at
    # output 1. Nothing is uploaded per train: a train costs one message here.
    TRAIN_SLOTS = {"reset": "SPINHILRST", "low": "SPINHILWLO", "write": "VOLATILE"}
    LOW_WRITE_DIVISOR = 16
    QUIET_POINTS = 8          # channel 1's quiet slot (the 81160A's smallest waveform: 2)

    def load_train(self, write_wave: ArbWaveform, reset_wave: ArbWaveform) -> None:
        """Load a pulse train's slots: on channel 1 a quiet slot of the same period
        (``QUIET_POINTS`` zeros: each channel has its own sample rate) at the full amplitude
        range (the sum's range; its zeros play 0 V); on channel 2 the write slot in volatile
        memory, the reset and low-write slots stored beside it; all armed ``MAN`` (the
        generator as master), addition off. Skipped when the same slots are known loaded."""
        if not self.supports_level_runs:
            raise ValueError("pulse trains add channel 2 at output 1: wire the write line to "
                             "channel 1 (pulse_channel = 1)")
        if len(write_wave.dac) != len(reset_wave.dac) or \
                write_wave.frequency_Hz != reset_wave.frequency_Hz:
            raise ValueError("a train's write and reset slots must have one length and rate")
        if np.any(write_wave.dac < 0) or np.any(reset_wave.dac > 0):
            raise ValueError("a train's write slot holds forward pulses and its reset slot "
                             "reverse ones only")
        span = math.floor(self.max_level_V / 2 * 1e6) / 1e6   # the widest arbitrary full scale
        quiet_wave = ArbWaveform(np.zeros(self.QUIET_POINTS, dtype=np.int64), span,
                                 1.0 / (write_wave.frequency_Hz * self.QUIET_POINTS),
                                 write_wave.frequency_Hz)
        low_wave = dataclasses.replace(
            write_wave, dac=np.round(write_wave.dac / self.LOW_WRITE_DIVISOR).astype(np.int64))
        key = ("train", quiet_wave.dac.size, write_wave.dac.tobytes(), reset_wave.dac.tobytes(),
               quiet_wave.frequency_Hz)
        if self._state.get("level_pair") == key:
            return
        self._state.pop("level_pair", None)
        other = self._channel2_for_addition(":ARM:SOUR{ch} MAN;:TRIG{ch}:COUN 1")
        for kind, wave in (("reset", reset_wave), ("low", low_wave)):
            stored = wave.dac.tobytes()
            if self._state.get(f"train_{kind}_stored") != stored:
                _upload_volatile(other, wave, self._state, "volatile2")
                other.write(":DATA{ch}:COPY %s,VOLATILE" % self.TRAIN_SLOTS[kind])
                self._state[f"train_{kind}_stored"] = stored
        _upload_volatile(other, write_wave, self._state, "volatile2")
        other.frequency = write_wave.frequency_Hz
        self.load_waveform(quiet_wave, 1, "MAN")
        self._state["level_pair"] = key
        self._state["train_slot"] = "VOLATILE"
        self._state.pop("train_vpp", None)

    def train_slot(self, level_V: float) -> tuple[str, float, float]:
        """(slot, ``:VOLT2`` Vpp as written, level as played) of a train slot of ``level_V``
        (> 0 write, < 0 reset); ``:VOLT2`` rounds toward zero, so the level played is never
        above the one asked. Raises where the generator cannot play it."""
        level = float(level_V)
        if not (np.isfinite(level) and level != 0):
            raise ValueError(f"a train slot's pulse level must be finite and non-zero, got "
                             f"{level_V!r}; nothing was sent")
        low = abs(level) < self.min_write_level_V and level > 0
        # the low slot's pulse as stored: DAC round(8191 / divisor)
        scale = round(MAX_DAC_VALUE / self.LOW_WRITE_DIVISOR) / MAX_DAC_VALUE if low else 1.0
        vpp = math.floor(2 * abs(level) / scale * 1e6 + 1e-6) / 1e6
        kind = "low" if low else ("reset" if level < 0 else "write")
        if not 2 * self.min_write_level_V <= vpp <= 2 * self.max_level_V:
            smallest = self.min_write_level_V / self.LOW_WRITE_DIVISOR
            raise ValueError(f"train {kind} level {level:g} V is outside the 81160A's "
                             f"{smallest:g} .. {self.max_level_V:.3g} V (resets from "
                             f"{self.min_write_level_V:g} V) in a pulse train. Nothing was sent.")
        return self.TRAIN_SLOTS[kind], vpp, vpp / 2 * scale * (1.0 if level > 0 else -1.0)

    def check_train_level(self, level_V: float, width_s: float,
                          limits: SafetyLimits | None = None, device: str | None = None) -> float:
        """Check a train slot's level (> 0 write, < 0 reset, 0 read-only), as the generator
        will play it, against ``limits`` (default: the role's); returns the level played."""
        limits = self.limits if limits is None else limits
        device = self.device if device is None else device
        level = float(level_V)
        args = (limits, self.source_impedance_ohm, self.load_ohm, device)
        check_pulse(level, width_s, *args)
        if level == 0:
            return 0.0
        played = self.train_slot(level)[2]
        check_pulse(played, width_s, *args)
        return played

    def play_train(self, runs, width_s: float, reset_width_s: float) -> list[float]:
        """Play a train of slot runs in one message, the generator as master: ``runs`` is
        ``(level_V, count)`` per run of equal slots (level > 0: write pulses of ``width_s``;
        0: read-only slots; < 0: reset pulses of ``reset_width_s``), each run ``*TRG;*WAI``
        (the parser holds until it has played). Every level is checked, as played, before
        the message is sent; settings are written only where they change. The train slots
        must be loaded (:meth:`load_train`). Returns the levels as played, per run."""
        key = self._state.get("level_pair")
        if not (isinstance(key, tuple) and key and key[0] == "train"):
            raise RuntimeError("load the train slots (load_train) before play_train")
        runs = [(float(level), int(count)) for level, count in runs]
        if not runs or min(count for _, count in runs) < 1:
            raise ValueError(f"one slot count >= 1 per run, got {runs[:4]}; nothing was sent")
        played = [self.check_train_level(level, reset_width_s if level < 0 else width_s)
                  for level, _ in runs]
        parts = [] if self._output_on is True else [":OUTP1 ON"]
        added, slot = self._state.get("added"), self._state.get("train_slot")
        vpp, count = self._state.get("train_vpp"), self._state.get("trigger_count")
        for level, n in runs:
            if n != count:
                parts += [f":TRIG1:COUN {n}", f":TRIG2:COUN {n}"]
                count = n
            if level:
                wanted, wanted_vpp, _ = self.train_slot(level)
                if slot != wanted:
                    parts.append(f":FUNC2:USER {wanted}")
                    slot = wanted
                if vpp != wanted_vpp:
                    parts.append(f":VOLT2 {wanted_vpp:f}")
                    vpp = wanted_vpp
            if added != bool(level):
                parts.append(":CHAN:MATH PLUS" if level else ":CHAN:MATH OFF")
                added = bool(level)
            parts += ["*TRG", "*WAI"]
        for name in ("added", "train_slot", "train_vpp", "trigger_count"):
            self._state.pop(name, None)
        self._output_on = None
        self._added = True if any(played) else self._added
        self.instrument.write(";".join(parts))
        self._state.update(added=added, train_slot=slot, train_vpp=vpp, trigger_count=count)
        self._added = added
        self._output_on = True
        return played

    # ------------------------------------------------------------ status (one query each)
    def identity(self) -> str:
        """The generator's ``*IDN?`` reply."""
        return self.instrument.id

    def output_is_on(self) -> bool:
        """Whether the channel's output is on, as the generator reports it."""
        return output_is_on(self.channel, "OUTP{ch}?", "81160A")

    # ------------------------------------------------------------ safe state
    def disarm(self) -> None:
        """Output off, settings kept (before the matrix connects another device: a waveform
        armed for the old device must not reach the new one on a stray trigger)."""
        if self._output_on is not False:
            self._output(False)

    def output_off(self) -> None:
        """Output off, confirmed by the instrument; channel addition off (a later pulse must
        not carry a level run's write pulse)."""
        self._output_on = None
        self.channel.output = False
        confirm_off(self.channel, "OUTP{ch}?", "81160A")
        self._output_on = False
        if self._added is not False:            # unknown (a fresh bench) or maybe on
            self._added = True
            self._addition_off()

    def _addition_off(self) -> None:
        """``:CHAN:MATH OFF`` where this role may have turned it on (a fresh bench's safe
        off writes it once; only output 1 receives a sum)."""
        if self.supports_level_runs and self._added:
            self.instrument.write(":CHAN:MATH OFF")
            self._added = False


def _upload_volatile(channel, waveform: ArbWaveform, state: dict, key: str) -> None:
    """Send ``waveform``'s DAC values to the channel's volatile memory, unless they are the
    data it already holds there (``state[key]``). The memory keeps its data through a shape
    change (pulse mode between batches) and the values are sent unscaled (the level is the
    channel's ``:VOLT``), so a batch on another device, whose reset level differs only in
    ``:VOLT``, or after a pulse-mode reset, needs no upload (~74 ms each at GPIB rates)."""
    data = waveform.dac.tobytes()
    if state.get(key) == data:
        return
    state.pop(key, None)
    channel.dac_full_scale_V = MAX_DAC_VALUE     # the DAC values are sent as they are
    try:
        channel.waveform_volatile = waveform.dac.astype(float)
    finally:
        channel.dac_full_scale_V = None
    state[key] = data


def samples_for(duration_s: float, sample_interval_s: float) -> int:
    """Whole samples covering ``duration_s`` (at least one)."""
    return max(1, int(math.ceil(duration_s / sample_interval_s - 1e-9)))
