"""``Bench``: the instruments of a bench file, opened through one VISA library, as roles.

.. code-block:: python

    from drivers.bench import Bench

    with Bench.open("my_bench.toml", visa_library="@py") as bench:   # or a simulated library
        bench.field.set_field(0.02)                     # in-plane bias field, tesla
        r_ohm = bench.read_resistance("S3")
        batch = bench.trials("S3", amplitudes_V=[0.1, 0.15, 0.2], width_s=20e-9, repeats=50)
        print(batch.switching_probability(), bench.round_trips, bench.projected_time_s)

Roles: ``bench.pulse`` (:class:`~drivers.roles.PulseSource`), ``bench.read`` and ``bench.aux``
(:class:`~drivers.roles.SourceMeter`), ``bench.switch`` (:class:`~drivers.roles.SwitchMatrix`),
``bench.field`` (:class:`~drivers.roles.FieldSource`). A role whose instrument is not in the
bench file raises :class:`MissingRoleError` naming the bench-file key to add.

Safety: the pulse and read roles check every value against the limits of the device the
matrix connects to their row (the tightest limits of the bench while that is unknown); every
source is disarmed (output off, settings kept) before the matrix changes, and re-checked
against the new device before it is turned on again (a hot change, a crossbar's line moves,
keeps a source meter on only when its source passes the new row's limits, checked before the
matrix command; the pulse source is always disarmed); every output goes off (pulse output,
SMU outputs, magnet ramped to 0 and off, matrix open) on leaving the ``with`` block
normally, on an exception, on Ctrl-C and on SIGTERM (a handler is
installed while the bench is open, and the previous one restored after). While the outputs
go off, a further SIGINT / SIGTERM is only recorded and delivered once they are off, and an
interruption of one role does not stop the others (:meth:`Bench.safe_off`).

Faults: the bench's operations (``select``, ``read_resistance``, ``line_resistance``,
``trial``, ``trials``) and the idempotent methods of the roles are retried whole, a bounded
number of times, after a timeout, a garbled reply, an instrument error or a dropped
connection (:mod:`drivers.faults`); ``bench.faults`` counts them. A trial is recorded once:
only a completed batch is returned, and its trials get ids unique over the bench's life.

Cost: every write and read of every instrument is counted at the resource level
(``bench.round_trips``, ``bench.bus``); ``bench.projected_time_s`` is the virtual clock of a
simulated bench (the time a real bench would have taken) or else the wall time.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import pyvisa
from pymeasure.instruments.keithley import Keithley2400, Keithley2750
from pymeasure.instruments.kepco import KepcoBOP3612

from drivers import batch as batching
from devices.benchfile import (
    MODEL_ROLES,
    BenchFile,
    BenchFileError,
    DeviceAddress,
    as_bench_file,
)
from drivers.faults import FaultCounters, InstrumentError, RetryPolicy, parse_error_reply
from drivers.field import KepcoBOPField
from drivers.limits import (
    HIGH_Z_LOAD_OHM,
    check_pulses,
    check_read_current,
    max_pulse_level_V,
    tightest,
)
from drivers.pulse import Keysight81160APulser, Keysight81160APulseSource
from drivers.sourcemeter import (
    Keithley2400SourceMeter,
    Keithley2450Buffered,
    Keithley2450SourceMeter,
)
from drivers.switch import Keithley2750Matrix
from drivers.transport import BusCounter, InstrumentConnectionError, open_adapter

log = logging.getLogger(__name__)

INSTRUMENT_CLASSES = {
    "Keysight81160A": Keysight81160APulser,
    "Keithley2450": Keithley2450Buffered,
    "Keithley2400": Keithley2400,
    "Keithley2750": Keithley2750,
    "KepcoBOP": KepcoBOP3612,
}
ROLE_ATTRIBUTES = {"pulse": "pulse", "read_smu": "read", "aux_smu": "aux",
                   "switch": "switch", "magnet": "field"}
# order in which outputs go off: the most dangerous first, the matrix last
SAFE_OFF_ORDER = ("pulse", "read_smu", "aux_smu", "magnet", "switch")
TrialBatch = batching.TrialBatch


class MissingRoleError(BenchFileError):
    """A role was asked for whose instrument the bench file does not list."""


class MissingCapabilityError(MissingRoleError):
    """A role's instrument lacks a capability that an operation needs (a role protocol)."""


class OutputsNotOffError(RuntimeError):
    """Some output could not be turned off: turn it off by hand."""


class BenchTerminated(BaseException):
    """Raised by the SIGTERM handler so that the ``with`` block unwinds and outputs go off."""


def _check_roles(config: BenchFile) -> None:
    """One instrument per role, each of a model whose driver plays it (a BenchFile built in
    code skips the bench-file checks): refused before anything is opened."""
    seen: dict[str, str] = {}
    for entry in config.instruments:
        if entry.role not in MODEL_ROLES:
            raise BenchFileError(f"{config.source}: unknown role {entry.role!r}; roles: "
                                 f"{', '.join(MODEL_ROLES)}")
        if entry.role in seen:
            raise BenchFileError(f"{config.source}: role {entry.role!r} is played by both "
                                 f"{seen[entry.role]} and {entry.address}; a bench has one "
                                 f"instrument per role. Nothing was opened.")
        if entry.model not in MODEL_ROLES[entry.role]:
            raise BenchFileError(f"{config.source}: {entry.model} at {entry.address} cannot "
                                 f"play {entry.role!r} (the drivers drive it with "
                                 f"{', '.join(MODEL_ROLES[entry.role])}). Nothing was opened.")
        seen[entry.role] = entry.address


class RetryingRole:
    """A role whose idempotent methods are retried by the bench's :class:`RetryPolicy` (with
    the bench's recovery between attempts). Methods that emit pulses (``fire``, ``pulse``)
    or start a trigger model are not idempotent and run once. Attributes pass through."""

    NOT_RETRIED = frozenset({"fire", "pulse", "run_buffered", "start_buffered", "initiate"})

    def __init__(self, bench: "Bench", role: object, name: str):
        object.__setattr__(self, "_bench", bench)
        object.__setattr__(self, "_role", role)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attribute):
        value = getattr(self._role, attribute)
        if attribute.startswith("_") or not callable(value) or attribute in self.NOT_RETRIED:
            return value

        def retried(*args, **kwargs):
            return self._bench.retry.run(lambda: value(*args, **kwargs), self._bench.recover,
                                         f"{self._name}.{attribute}")
        retried.__doc__ = value.__doc__
        return retried

    def __setattr__(self, attribute, value):
        setattr(self._role, attribute, value)

    def __repr__(self) -> str:
        return f"<{self._name}: {self._role!r} (retried)>"


class Bench:
    """The instruments of one bench file as roles, with safety limits, counters and retries."""

    def __init__(self, config: BenchFile, visa_library="", addresses: Mapping | None = None,
                 retry: RetryPolicy | None = None, timeout_ms: int = 2000,
                 time_source: Callable[[], float] | None = None,
                 line_frequency_Hz: float = 50.0):
        self.config = config
        self.line_frequency_Hz = float(line_frequency_Hz)
        self.visa_library = visa_library
        self.addresses = dict(addresses or {})
        self.retry = retry or RetryPolicy()
        self.timeout_ms = timeout_ms
        self.bus = BusCounter()
        self._time_source = time_source
        self._wall_start = time.perf_counter()
        self._adapters: dict[str, object] = {}     # role -> CountingAdapter
        self._instruments: dict[str, object] = {}  # role -> pymeasure instrument
        self._roles: dict[str, object] = {}        # role -> role object
        self._previous_sigterm = None
        self._opened = False
        self._selected: DeviceAddress | None = None
        self._row_devices: dict[int, dict[int, list]] = {}   # matrix row -> channel -> devices
        self._next_trial_id = 0
        #: the physical floor of the batches run so far (see :func:`drivers.batch.physical_floor_s`)
        self.floor_s = 0.0
        _check_roles(config)
        self.all_limits = tightest(config.limits[g.size] for g in config.groups)

    # ------------------------------------------------------------ construction
    @classmethod
    def open(cls, bench_file=None, visa_library=None, addresses: Mapping | None = None,
             **kwargs) -> "Bench":
        """Build a bench from a bench file (path, dict, BenchFile or None = default bench)
        and a VISA library (None = pyvisa's default, ``"@py"``, or a library object), and
        open every instrument of the file. Use it as a context manager."""
        config = as_bench_file(bench_file)
        bench = cls(config, "" if visa_library is None else visa_library, addresses, **kwargs)
        bench.connect()
        return bench

    def _address(self, configured: str) -> str:
        if configured in self.addresses:
            return self.addresses[configured]
        return configured

    def connect(self) -> None:
        """Open every instrument of the bench file, identify it, put it in its safe state."""
        try:
            pyvisa.ResourceManager(self.visa_library)
        except (OSError, ValueError, pyvisa.errors.Error) as exc:
            raise InstrumentConnectionError(
                f"cannot load the VISA library {self.visa_library or '(system default)'!r}: "
                f"{exc}. Install a VISA implementation (NI-VISA, Keysight IO Libraries) or pass "
                "visa_library='@py' (pyvisa-py, for LAN / `hil serve` benches).") from exc
        try:
            for entry in self.config.instruments:
                address = self._address(entry.address)
                adapter, _ = open_adapter(address, self.visa_library, entry.model, entry.role,
                                          self.bus, self.config.source, entry.address,
                                          self.timeout_ms)
                self._adapters[entry.role] = adapter
                instrument = INSTRUMENT_CLASSES[entry.model](adapter)
                self._instruments[entry.role] = instrument
                self._roles[entry.role] = self._make_role(entry.role, instrument)
            self._opened = True
            for role in self._adapters:
                self._adapters[role].write("*CLS")
            for obj in self._roles.values():  # left by whoever used them last: unknown
                if hasattr(obj, "forget_state"):
                    obj.forget_state()
            self.safe_off(strict=True)        # confirmed by every instrument
        except BaseException:
            with self._signals_deferred():    # a Ctrl-C / SIGTERM now must not cut it short
                try:                          # what did open goes to its safe state
                    self.safe_off()
                finally:
                    self.close()
            raise

    def _make_role(self, role: str, instrument):
        wiring = self.config.wiring
        if role == "pulse":
            return Keysight81160APulseSource(instrument, self.all_limits,
                                             wiring.source_impedance_ohm, wiring.pulse_channel)
        if role == "read_smu":
            return Keithley2450SourceMeter(instrument, self.all_limits)
        if role == "aux_smu":
            return Keithley2400SourceMeter(instrument, self.all_limits)
        if role == "switch":
            return Keithley2750Matrix(instrument, on_change=self._matrix_changed)
        if role == "magnet":
            return KepcoBOPField(instrument, wiring.magnet_T_per_A, self.all_limits.max_field_T)
        raise BenchFileError(f"unknown role {role!r}")

    # ------------------------------------------------------------ roles
    def _role(self, role: str):
        if role in self._roles:
            return RetryingRole(self, self._roles[role], ROLE_ATTRIBUTES[role])
        if any(entry.role == role for entry in self.config.instruments):
            raise InstrumentConnectionError(f"the {role} instrument is not open (bench closed?)")
        raise MissingRoleError(
            f"{self.config.source}: the bench file has no instrument with role {role!r}; add "
            f"an [[instrument]] table with address, model and role = {role!r} (roles present: "
            f"{[e.role for e in self.config.instruments]})")

    pulse = property(lambda self: self._role("pulse"), doc="PulseSource (81160A)")
    read = property(lambda self: self._role("read_smu"), doc="SourceMeter (read SMU, 2450)")
    aux = property(lambda self: self._role("aux_smu"), doc="SourceMeter (aux SMU, 2400)")
    switch = property(lambda self: self._role("switch"), doc="SwitchMatrix (2750/7709)")
    field = property(lambda self: self._role("magnet"), doc="FieldSource (Kepco BOP)")

    def instrument(self, role: str):
        """The pymeasure instrument behind a role (for what the role does not offer)."""
        self._role(role)
        return self._instruments[role]

    # ------------------------------------------------------------ counters and clocks
    @property
    def round_trips(self) -> int:
        return self.bus.round_trips

    @property
    def faults(self) -> FaultCounters:
        return self.retry.counters

    @property
    def projected_time_s(self) -> float:
        """Virtual time of a simulated bench (what a real bench would take), else wall time."""
        if self._time_source is not None:
            return float(self._time_source())
        clock = getattr(self.visa_library, "virtual_time_s", None)
        if clock is not None:
            return float(clock() if callable(clock) else clock)
        return time.perf_counter() - self._wall_start

    # ------------------------------------------------------------ the matrix decides the limits
    def _matrix_changed(self, channels: frozenset[int] | None,
                        upcoming: frozenset[int] | None = None) -> None:
        """Called with None just before the matrix changes (every source is disarmed: a
        level set for the old device must not reach the new one), then with the closed
        crosspoints (the roles get the limits of the devices now on their rows).

        A hot change (``upcoming``: the crosspoints about to be closed, from
        ``SwitchMatrix.connect(..., hot=True)``) disarms the pulse source always, and a
        source meter only where its programmed source fails the limits of the devices
        ``upcoming`` puts on its row: checked here, before the matrix command is sent. (A
        read-level source switched between lines at its checked level is what a matrix
        scan does; the generator is never switched hot.)"""
        if channels is None:
            for role in ("pulse", "read_smu", "aux_smu"):
                obj = self._roles.get(role)
                if obj is None:
                    continue
                if upcoming is not None and role != "pulse" and hasattr(obj, "allows"):
                    limits, device = self._row_limits(role, upcoming)
                    if obj.allows(limits, device):
                        continue
                obj.disarm()
        for role in ("pulse", "read_smu", "aux_smu"):
            obj = self._roles.get(role)
            if obj is not None:
                obj.limits, obj.device = self._row_limits(role, channels or frozenset())
        self._selected = None

    def _row_limits(self, role: str, channels: frozenset[int]):
        """(limits, device names) of what ``channels`` put on ``role``'s matrix row."""
        wiring = self.config.wiring
        row = {"pulse": wiring.pulse_row, "read_smu": wiring.read_row,
               "aux_smu": getattr(wiring, "aux_row", 3)}[role]
        if row not in self._row_devices:        # the wiring is fixed: index it once per row
            index: dict[int, list] = {}
            for position, d in enumerate(self.config.devices()):
                index.setdefault(d.channel(row), []).append((position, d))
            self._row_devices[row] = index
        on_row = [d for _, d in sorted(
            (entry for c in channels for entry in self._row_devices[row].get(c, ())),
            key=lambda entry: entry[0])]
        if not on_row:
            return self.all_limits, ""
        return tightest(self.config.limits_for(d) for d in on_row), ",".join(d.name for d in on_row)

    def device(self, device) -> DeviceAddress:
        return self.config.device(device)

    def limits_for(self, device):
        return self.config.limits_for(self.config.device(device))

    def _raw(self, role: str):
        """The role object itself (no retries): for steps that the bench retries whole."""
        self._role(role)
        return self._roles[role]

    def role_for_step(self, role: str, capability: type | None = None):
        """The role object of bench-file role ``role`` without retries of its own, for a step
        that the bench retries whole (``bench.retry.run(step, bench.recover, ...)``).
        ``capability``: the role protocol the step needs (e.g.
        :class:`~drivers.roles.WaveformPulseSource`); a role without it raises
        :class:`MissingCapabilityError` before anything is sent."""
        obj = self._raw(role)
        if capability is not None and not isinstance(obj, capability):
            raise MissingCapabilityError(
                f"{self.config.source}: the {role} instrument ({self._model(role)}) has no "
                f"{capability.__name__} capability; use an instrument model that has it, or "
                "the one-at-a-time path (bench.trial). Nothing was sent.")
        return obj

    def _run(self, step, what: str):
        return self.retry.run(step, self.recover, what)

    def select(self, device) -> DeviceAddress:
        """Open every crosspoint, then close the device's pulse-row and read-row crosspoints."""
        dev = self.config.device(device)
        return self._run(lambda: self._select(dev), f"select {dev.name}")

    def select_for_step(self, device) -> DeviceAddress:
        """:meth:`select` without retries of its own, for a step retried whole."""
        return self._select(self.config.device(device))

    def _select(self, dev: DeviceAddress) -> DeviceAddress:
        wiring = self.config.wiring
        self._raw("switch").connect([dev.channel(wiring.pulse_row), dev.channel(wiring.read_row)])
        self._selected = dev
        return dev

    def _ensure_selected(self, device) -> DeviceAddress:
        dev = self.config.device(device)
        if self._selected != dev:
            self._select(dev)
        return dev

    # ------------------------------------------------------------ defaults from the limits
    def default_read_current_A(self, device) -> float:
        return 0.5 * self.limits_for(device).max_read_current_A

    def default_reset_V(self, device) -> float:
        """-80 % of the largest safe pulse level of the device's size."""
        limits = self.limits_for(device)
        return -0.8 * max_pulse_level_V(limits, self.config.wiring.source_impedance_ohm)

    def _compliance_V(self, device) -> float:
        return self.limits_for(device).max_compliance_V

    # ------------------------------------------------------------ measurements
    def read_resistance(self, device, current_A: float | None = None, nplc: float = 1.0) -> float:
        """Four-terminal (Hall / junction) resistance of a device: V / I of the read SMU."""
        dev = self.config.device(device)
        current_A = self.default_read_current_A(dev) if current_A is None else current_A
        check_read_current(current_A, self.limits_for(dev), dev.name)
        if current_A == 0:
            raise ValueError("a resistance needs a non-zero read current; nothing was sent")
        return self._run(lambda: self._read_resistance(dev, current_A, nplc),
                         f"read_resistance {dev.name}")

    def _read_resistance(self, dev: DeviceAddress, current_A: float, nplc: float) -> float:
        self._ensure_selected(dev)
        read = self._raw("read_smu")
        read.source_current(current_A, self._compliance_V(dev), nplc)
        read.enable()
        return read.resistance_ohm()

    def line_resistance(self, device, nplc: float = 1.0) -> float:
        """Two-terminal resistance of the device's write line (voltage-sourced read)."""
        dev = self.config.device(device)
        return self._run(lambda: self._line_resistance(dev, nplc), f"line_resistance {dev.name}")

    def _line_resistance(self, dev: DeviceAddress, nplc: float) -> float:
        self._ensure_selected(dev)
        limits = self.limits_for(dev)
        compliance_A = limits.max_read_current_A
        voltage_V = min(0.5 * compliance_A * limits.min_line_resistance_ohm,
                        limits.max_compliance_V)
        read = self._raw("read_smu")
        read.source_voltage(voltage_V, compliance_A, nplc)
        read.enable()
        voltage, current = read.measure()
        read.output_off()
        if current == 0:
            return float("inf")
        return voltage / current

    def trial(self, device, amplitude_V: float, width_s: float, reset_V: float | None = None,
              read_current_A: float | None = None, nplc: float = 1.0) -> float:
        """One write-read trial, the naive way: reset pulse, write pulse, read (several
        round trips each). Returns the read resistance in ohm. Retried whole on a fault
        (it starts with its reset pulse)."""
        dev = self.config.device(device)
        reset_V = self.default_reset_V(dev) if reset_V is None else reset_V
        read_current_A = self.default_read_current_A(dev) if read_current_A is None \
            else read_current_A
        limits = self.limits_for(dev)
        pulse = self._raw("pulse")
        for level in (reset_V, amplitude_V):        # as the generator would apply them
            if level != 0:
                pulse.plan_pulse(level, width_s, limits, dev.name)
        check_pulses([reset_V, amplitude_V], width_s, limits,
                     self.config.wiring.source_impedance_ohm, HIGH_Z_LOAD_OHM, dev.name)
        check_read_current(read_current_A, limits, dev.name)
        if read_current_A == 0:
            raise ValueError("a resistance needs a non-zero read current; nothing was sent")

        def step() -> float:
            self._ensure_selected(dev)
            pulse = self._raw("pulse")
            pulse.pulse(reset_V, width_s)
            pulse.pulse(amplitude_V, width_s)
            return self._read_resistance(dev, read_current_A, nplc)
        return self._run(step, f"trial on {dev.name}")

    def trials(self, device, amplitudes_V: Sequence[float], width_s: float, repeats: int = 1,
               reset_V: float | None = None, read_current_A: float | None = None,
               nplc: float = 0.01, reset_width_s: float | None = None) -> "TrialBatch":
        """Batched write-read trials on one device: per trial a reset pulse, a write pulse of
        the trial's amplitude and a read, for every amplitude ``repeats`` times. The pulses
        and reads run on the instruments' own trigger systems, so the batch costs O(1) round
        trips. Retried as a whole on a bus fault (each trial starts with its reset pulse)."""
        return batching.run_trials(self, device, amplitudes_V, width_s, repeats, reset_V,
                                   read_current_A, nplc, reset_width_s)

    def add_floor_s(self, seconds: float) -> None:
        """Add a completed batch's physical floor (trials x read integration + pulses)."""
        self.floor_s += float(seconds)

    def count_garbled_retry(self) -> None:
        """A garbled reply whose pure query part was asked again (inside a step)."""
        self.retry.counters.garbled += 1
        self.retry.counters.retries += 1

    def reserve_trial_ids(self, count: int) -> np.ndarray:
        """``count`` trial ids, unique over the bench's lifetime (call once per completed
        batch: a retried attempt must not use up ids)."""
        count = int(count)
        if count < 0:
            raise ValueError(f"a trial-id count must be >= 0, got {count}")
        ids = np.arange(self._next_trial_id, self._next_trial_id + count)
        self._next_trial_id += count
        return ids

    # ------------------------------------------------------------ errors and recovery
    def check_instrument_errors(self, roles: Sequence[str] | None = None) -> None:
        """Read each instrument's error queue (``SYST:ERR?``) until empty; raise if any."""
        for role in roles or list(self._adapters):
            adapter = self._adapters.get(role)
            if adapter is None:
                continue
            errors = []
            for _ in range(20):
                adapter.write("SYST:ERR?")
                code, message = parse_error_reply(adapter.read())
                if code == 0:
                    break
                errors.append((code, message))
            if errors:
                raise InstrumentError(f"{role} ({self._model(role)})", errors)

    def _model(self, role: str) -> str:
        return next(e.model for e in self.config.instruments if e.role == role)

    def recover(self, kind: str, exc: BaseException | None = None) -> None:
        """Bring the bus back to a known state after a fault (before a retry).

        Whatever fails below, the cached instrument state of every role and the selected
        device are forgotten first (the next attempt writes everything again: a power-cycled
        instrument is back at its defaults), and the pulse output is always turned off. The
        read SMU's trigger model is aborted (``:ABOR``) as the first message after its bus is
        back: a model left running refuses the retried ``:INIT``. Each instrument is
        recovered on its own; the first failure is raised at the end (the retry policy
        reports it)."""
        self._selected = None
        for obj in self._roles.values():
            if hasattr(obj, "forget_state"):
                obj.forget_state()
        first_error: BaseException | None = None
        try:
            # the read SMU first: its trigger model may still run (and fire the pulses)
            order = sorted(self._adapters.items(), key=lambda item: item[0] != "read_smu")
            for role, adapter in order:
                try:
                    self._recover_adapter(role, adapter, kind)
                except Exception as rexc:  # noqa: BLE001 - recover the others, raise below
                    log.warning("recovering %s after %s failed: %s", role, kind, rexc)
                    if first_error is None:
                        first_error = rexc
        finally:
            pulse = self._roles.get("pulse")
            if pulse is not None:
                pulse.output_off()
        if first_error is not None:
            raise first_error

    def _recover_adapter(self, role: str, adapter, kind: str) -> None:
        """Device clear (or reopen) one instrument, abort a 2450 trigger model, ``*CLS``.
        (An ``:ABOR`` written before the device clear would wait behind a pending ``*WAI``
        and then be discarded by the clear: it is the first message after it.)"""
        try:
            if kind in ("dropped", "io"):
                adapter.reopen()
                self.retry.counters.reconnects += 1
            else:
                adapter.clear_device()
        except Exception as rexc:  # noqa: BLE001 - a reopen may still bring it back
            log.warning("recovering %s after %s: %s; reopening", role, kind, rexc)
            adapter.reopen()
            self.retry.counters.reconnects += 1
        error: Exception | None = None
        if role == "read_smu":
            try:
                adapter.write(":ABOR")
            except Exception as aexc:  # noqa: BLE001 - *CLS is still worth a try
                log.warning("aborting the %s trigger model: %s", role, aexc)
                error = aexc
        try:
            adapter.write("*CLS")
        except Exception as cexc:  # noqa: BLE001
            log.warning("clearing the status of %s: %s", role, cexc)
            error = error or cexc
        if error is not None:
            raise error

    # ------------------------------------------------------------ safe state
    def safe_off(self, strict: bool = False, clear: bool = False) -> list[str]:
        """Every output off, the matrix open. Tries each role (with a reconnect if needed)
        even when another fails; returns the roles that could not be turned off.
        ``clear``: device-clear each instrument first (after an interruption, a reply may be
        half read).

        An interruption (``KeyboardInterrupt``, :class:`BenchTerminated`, any other
        ``BaseException``) while a role goes off does not stop the others: that role is tried
        again, the remaining roles go off, and the first interruption is raised at the end.
        (The bench's own cleanup paths also defer SIGINT / SIGTERM while this runs.)"""
        failed = []
        interruption: BaseException | None = None
        for role in SAFE_OFF_ORDER:
            obj = self._roles.get(role)
            if obj is None:
                continue
            for attempt in range(3):
                try:
                    if attempt:
                        self._adapters[role].reopen()
                        if hasattr(obj, "forget_state"):
                            obj.forget_state()
                    elif clear:
                        self._adapters[role].clear_device()
                    obj.output_off()
                    break
                except Exception as exc:  # noqa: BLE001 - keep going with the other roles
                    log.error("turning off %s (attempt %d): %s", role, attempt + 1, exc)
                except BaseException as exc:  # noqa: BLE001 - raised once every output is off
                    log.error("turning off %s (attempt %d) interrupted: %r; going on with "
                              "the outputs", role, attempt + 1, exc)
                    if interruption is None:
                        interruption = exc
            else:
                failed.append(role)
        if interruption is not None:
            if failed:
                log.critical("outputs of %s may still be on: turn them off by hand", failed)
            raise interruption
        if failed and strict:
            raise OutputsNotOffError(
                f"could not turn off {failed}: turn those outputs off on the instruments' "
                "front panels and check their connections")
        return failed

    # ------------------------------------------------------------ context manager
    def _on_sigterm(self, signum, frame):
        raise BenchTerminated(f"signal {signum}: outputs are being turned off")

    def __enter__(self) -> "Bench":
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            with self._signals_deferred():    # a second SIGTERM / a Ctrl-C waits for this
                try:
                    failed = self.safe_off(clear=exc_type is not None)
                    if failed and exc_type is None:
                        raise OutputsNotOffError(
                            f"could not turn off {failed}: turn those outputs off on the "
                            "instruments' front panels and check their connections")
                    if failed:
                        log.critical("outputs of %s may still be on: turn them off by hand",
                                     failed)
                finally:
                    self.close()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None

    @contextlib.contextmanager
    def _signals_deferred(self):
        """While the outputs go off, SIGINT and SIGTERM are only recorded; once the block is
        done the handlers in place before are restored and each recorded signal is delivered
        to them (the bench's SIGTERM handler raises :class:`BenchTerminated`, the default
        SIGINT handler ``KeyboardInterrupt``). Main thread only: elsewhere Python delivers no
        signal to the block anyway."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        received: list[int] = []

        def record(signum, frame):
            log.warning("signal %d while the outputs go off: deferred until they are off",
                        signum)
            received.append(signum)

        previous = {}
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, record)
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for signum in dict.fromkeys(received):
                handler = previous.get(signum)
                if callable(handler):
                    handler(signum, None)
                elif handler == signal.SIG_DFL:
                    signal.raise_signal(signum)

    def close(self) -> None:
        """Close every resource (without touching the outputs; see :meth:`safe_off`)."""
        for adapter in self._adapters.values():
            try:
                adapter.close()
            except Exception:  # noqa: BLE001
                pass
        self._adapters.clear()
        self._instruments.clear()
        self._roles.clear()
        self._opened = False
