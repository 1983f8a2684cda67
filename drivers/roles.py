"""Instrument roles: what lab code asks of a bench, independent of the instrument model.

Small ``@runtime_checkable`` protocols in the style of bluesky's ``protocols.py``: a class
is a ``PulseSource`` because it has the methods, not because it inherits from a base class.
``isinstance(obj, PulseSource)`` checks the method names only (not signatures).

Every role answers ``identity()`` (``*IDN?``) and reports its output state (``output_is_on()``,
the matrix its ``closed_channels()``), one query each, through the bench's counted bus: a
status display asks these, never the instruments directly.

Every role can be put in a safe state with ``output_off()``; the :class:`~drivers.bench.Bench`
calls it on exit, on error, on Ctrl-C and on SIGTERM. Every method that could drive a
device checks the value against the device's :class:`~devices.benchfile.SafetyLimits`
before anything is written (see :mod:`drivers.limits`).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from devices.benchfile import SafetyLimits


@runtime_checkable
class SafeOff(Protocol):
    def output_off(self) -> None:
        """Put the instrument in its safe state (output off, level zero). Never raises."""


@runtime_checkable
class PulseSource(Protocol):
    """Voltage pulses into the write line: amplitude (sign = polarity), width, count."""

    limits: SafetyLimits

    def identity(self) -> str: ...

    def output_is_on(self) -> bool: ...

    def set_pulse(self, amplitude_V: float, width_s: float, count: int = 1) -> None:
        """Arm ``count`` pulses of ``amplitude_V`` (signed) and ``width_s`` for the next fire."""

    def fire(self) -> None:
        """Emit the armed pulse(s) now."""

    def output_off(self) -> None: ...


@runtime_checkable
class PlayedWaveform(Protocol):
    """A waveform as the generator will play it (after its DAC quantization)."""

    sample_interval_s: float

    @property
    def levels_V(self) -> Sequence[float]:
        """The level of every sample, as played."""


@runtime_checkable
class WaveformPulseSource(PulseSource, Protocol):
    """A pulse source that plays a stored waveform of many pulses from an external trigger
    (batched trials: the read SMU's trigger link starts it). Its memory and sample rate are
    the instrument's own figures; batching reads them here, never from a constant of its own."""

    max_waveform_points: int
    max_sample_rate_Hz: float

    def build_waveform(self, levels_V, sample_interval_s: float) -> PlayedWaveform:
        """Quantize one level per sample as the instrument will play them (nothing is sent)."""

    def check_waveform(self, waveform, limits: SafetyLimits | None = None,
                       device: str | None = None) -> None:
        """Check every pulse of ``waveform`` as played against ``limits`` (default: the
        role's own, those of the device on its row); raises before anything is sent."""

    def load_waveform(self, waveform, cycles: int) -> None:
        """Load ``waveform`` to play ``cycles`` times on the next external trigger."""

    def sync(self) -> None:
        """Hold until the instrument has executed everything sent to it."""


@runtime_checkable
class SourceMeter(Protocol):
    """Source a small read current (or voltage) and measure the other quantity."""

    limits: SafetyLimits

    def identity(self) -> str: ...

    def output_is_on(self) -> bool: ...

    def source_current(self, current_A: float, compliance_V: float, nplc: float = 1.0) -> None: ...

    def source_voltage(self, voltage_V: float, compliance_A: float, nplc: float = 1.0) -> None: ...

    def enable(self) -> None:
        """Output on (the configured source is checked again against the limits first)."""

    def measure(self) -> tuple[float, float]:
        """One reading: (voltage_V, current_A)."""

    def output_off(self) -> None: ...


@runtime_checkable
class BufferedSourceMeter(SourceMeter, Protocol):
    """A source meter that takes ``count`` readings on its own trigger model (its trigger
    out can start a :class:`WaveformPulseSource`); ``max_buffer_points`` is the instrument's
    reading buffer."""

    max_buffer_points: int

    def start_buffered(self, count: int, delay_s: float) -> None: ...

    def fetch_buffered(self, count: int) -> Sequence[float]: ...

    def set_buffer_capacity(self, count: int) -> None:
        """Size the reading buffer (at most ``max_buffer_points``)."""

    def run_buffered(self, count: int, delay_s: float, timeout_s: float = 0.0,
                     on_garbled=None) -> Sequence[float]:
        """Run ``count`` readings (``delay_s`` before each) to the end and return them;
        ``on_garbled()`` is called each time a garbled reply's pure query is asked again."""


@runtime_checkable
class SwitchMatrix(Protocol):
    """Crosspoints between instrument rows and device columns."""

    def identity(self) -> str: ...

    def connect(self, channels: Sequence[int]) -> None:
        """Open every crosspoint, then close exactly ``channels``."""

    def disconnect_all(self) -> None: ...

    def closed_channels(self) -> list[int]: ...

    def output_off(self) -> None: ...


@runtime_checkable
class FieldSource(Protocol):
    """A magnet driven by a current supply through a calibrated factor (T per A)."""

    max_field_T: float

    def identity(self) -> str: ...

    def output_is_on(self) -> bool: ...

    def set_field(self, field_T: float) -> None: ...

    def field_T(self) -> float:
        """The field the supply is set to (programmed current x calibration)."""

    def measured_field_T(self) -> float:
        """The field from the measured coil current (one query)."""

    def output_off(self) -> None: ...
