"""Instrument roles: what lab code asks of a bench, independent of the instrument model.

Small ``@runtime_checkable`` protocols in the style of bluesky's ``protocols.py``: a class
is a ``PulseSource`` because it has the methods, not because it inherits from a base class.
``isinstance(obj, PulseSource)`` checks the method names only (not signatures).

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

    def set_pulse(self, amplitude_V: float, width_s: float, count: int = 1) -> None:
        """Arm ``count`` pulses of ``amplitude_V`` (signed) and ``width_s`` for the next fire."""

    def fire(self) -> None:
        """Emit the armed pulse(s) now."""

    def output_off(self) -> None: ...


@runtime_checkable
class SourceMeter(Protocol):
    """Source a small read current (or voltage) and measure the other quantity."""

    limits: SafetyLimits

    def source_current(self, current_A: float, compliance_V: float) -> None: ...

    def source_voltage(self, voltage_V: float, compliance_A: float) -> None: ...

    def measure(self) -> tuple[float, float]:
        """One reading: (voltage_V, current_A)."""

    def output_off(self) -> None: ...


@runtime_checkable
class BufferedSourceMeter(SourceMeter, Protocol):
    """A source meter that takes ``count`` readings on its own trigger model."""

    def start_buffered(self, count: int, delay_s: float) -> None: ...

    def fetch_buffered(self, count: int) -> Sequence[float]: ...


@runtime_checkable
class SwitchMatrix(Protocol):
    """Crosspoints between instrument rows and device columns."""

    def connect(self, channels: Sequence[int]) -> None:
        """Open every crosspoint, then close exactly ``channels``."""

    def disconnect_all(self) -> None: ...

    def closed_channels(self) -> list[int]: ...

    def output_off(self) -> None: ...


@runtime_checkable
class FieldSource(Protocol):
    """A magnet driven by a current supply through a calibrated factor (T per A)."""

    max_field_T: float

    def set_field(self, field_T: float) -> None: ...

    def field_T(self) -> float:
        """The field the supply is set to (programmed current x calibration)."""

    def output_off(self) -> None: ...
