"""``PulseSource`` over a Keysight 81160A pulse / arbitrary waveform generator.

Single pulses (the naive path) use the pulse function in triggered burst mode: baseline 0 V,
top ``|amplitude|``, the sign of the amplitude given by the output polarity (normal /
inverted), so that the output rests at 0 V between pulses whatever the sign. A bus trigger
(``*TRG``) fires ``count`` pulses.

Levels. The 81160A scales its levels to the expected load (``:OUTP:LOAD``). The device line is
not a 50 ohm load, so the role sets the load to high impedance (1 MOhm): the programmed level
is then the open-circuit EMF (to 5e-5), which is what the safety check in
:mod:`drivers.limits` bounds.

Safety: every amplitude and width is checked against the limits of the device(s) on the pulse
row (``limits``, kept up to date by the bench when the matrix changes) before anything is
written. pymeasure's channel validators only know the instrument's own ranges.
"""

from __future__ import annotations

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.keysight import Keysight81160A
from pymeasure.instruments.keysight.keysight81160A import MAX_DAC_VALUE, Keysight81160AChannel
from pymeasure.instruments.validators import strict_discrete_set

from drivers.benchfile import SafetyLimits
from drivers.limits import HIGH_Z_LOAD_OHM, check_pulse, check_pulses


class PulseChannel(Keysight81160AChannel):
    """An 81160A channel plus what pymeasure's lacks: the output polarity, and waveform
    scaling by the largest |value| (pymeasure scales by the largest value, which overflows
    the DAC for a waveform whose negative excursion is the larger one)."""

    polarity = Instrument.control(
        ":OUTP{ch}:POL?", ":OUTP{ch}:POL %s",
        """Control the output polarity (str, 'NORM' or 'INV').""",
        validator=strict_discrete_set,
        values=["NORM", "INV"],
    )

    def _preprocess_waveform(self, data):
        peak = float(np.max(np.abs(data)))
        if peak == 0.0:
            return np.zeros(len(data), dtype=int)
        return np.round(np.asarray(data) / peak * MAX_DAC_VALUE).astype(int)


class Keysight81160APulser(Keysight81160A):
    """pymeasure's Keysight 81160A with :class:`PulseChannel` channels."""

    ch_1 = Instrument.ChannelCreator(PulseChannel, 1)
    ch_2 = Instrument.ChannelCreator(PulseChannel, 2)


class Keysight81160APulseSource:
    """Role ``PulseSource`` on one channel of an 81160A."""

    def __init__(self, instrument: Keysight81160APulser, limits: SafetyLimits,
                 source_impedance_ohm: float = 50.0, channel: int = 1, device: str = "",
                 trigger_source: str = "MAN"):
        self.instrument = instrument
        self.channel = instrument.channels[channel]
        self.limits = limits
        self.device = device
        self.source_impedance_ohm = float(source_impedance_ohm)
        self.load_ohm = HIGH_Z_LOAD_OHM
        self.trigger_source = trigger_source
        self._state: dict[str, object] = {}      # what was last written (skip repeats)
        self._output_on = False

    # ------------------------------------------------------------ helpers
    def _set(self, name: str, value) -> None:
        """Write a channel property unless it already holds ``value`` (saves round trips)."""
        if self._state.get(name) != value:
            self._state.pop(name, None)
            setattr(self.channel, name, value)
            self._state[name] = value

    def forget_state(self) -> None:
        """After a fault or a reconnect the instrument state is unknown: write everything."""
        self._state.clear()

    def _setup_pulse_mode(self) -> None:
        self._set("output_load", self.load_ohm)
        self._set("shape", "PULS")
        self._set("trigger_mode", self.trigger_source)
        self._set("burst_state", True)

    # ------------------------------------------------------------ role
    def set_pulse(self, amplitude_V: float, width_s: float, count: int = 1) -> None:
        """Arm ``count`` pulses of ``amplitude_V`` (sign = polarity) and ``width_s``."""
        check_pulse(amplitude_V, width_s, self.limits, self.source_impedance_ohm,
                    self.load_ohm, self.device)
        count = int(count)
        if count < 1:
            raise ValueError(f"pulse count must be >= 1, got {count}")
        amplitude_V, width_s = float(amplitude_V), float(width_s)
        self._setup_pulse_mode()
        # period: long enough for the width and the edges, short enough for a quick burst
        self._set("pulse_period", max(4.0 * width_s, 1e-6))
        self._set("pulse_width", width_s)
        self._set("polarity", "INV" if amplitude_V < 0 else "NORM")
        self._set("voltage_low", 0.0)
        self._set("voltage_high", abs(amplitude_V))
        self._set("trigger_count", count)

    def fire(self) -> None:
        """Emit the armed pulse(s): output on (once), then a bus trigger."""
        if not self._output_on:
            self.channel.output = True
            self._output_on = True
        self.instrument.trigger()

    def pulse(self, amplitude_V: float, width_s: float, count: int = 1) -> None:
        """``set_pulse`` then ``fire``; an amplitude of 0 sends nothing."""
        if amplitude_V == 0:
            check_pulse(0.0, width_s, self.limits, self.source_impedance_ohm, self.load_ohm,
                        self.device)
            return
        self.set_pulse(amplitude_V, width_s, count)
        self.fire()

    def check(self, amplitudes_V, width_s: float) -> None:
        """Check a whole batch of amplitudes (raises before anything is written)."""
        check_pulses(amplitudes_V, width_s, self.limits, self.source_impedance_ohm,
                     self.load_ohm, self.device)

    def output_off(self) -> None:
        self.channel.output = False
        self._output_on = False
