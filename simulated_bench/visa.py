"""A pyvisa VISA library backed by a simulated bench: the in-process way to reach it.

    lib = SimulatedVisaLibrary()                     # the default bench
    rm = pyvisa.ResourceManager(lib)
    smu = Keithley2450("GPIB0::18::INSTR", visa_library=lib)   # unmodified pymeasure driver

``SimulatedVisaLibrary(bench_or_config=None, fault_rate=None, fault_seed=None)`` takes a
:class:`~simulated_bench.bench.SimulatedBench`, a bench-file path, a dict or ``None`` (the
built-in default bench). Each library object is its own bench: two libraries never share
instruments (pyvisa's registry of libraries is keyed by a unique path per object).

By name, as pyvisa finds pyvisa-py (``@py``) and pyvisa-sim (``@sim``):
``pyvisa.ResourceManager("@spinhil")`` (the default bench) or ``"bench.toml@spinhil"``
open :class:`NamedBenchLibrary` through the ``pyvisa_spinhil`` package; there the same name
gives the same bench, shared by every ResourceManager of the process.

What the drivers may read (duck-typed, so they need not import this module):
``lib.bench`` (the SimulatedBench), ``lib.virtual_time_s`` (the bench clock),
``lib.transactions`` (bus transactions: one per write call, one per reply read - the
chunks of one reply count once -, one per timed-out read, one per bus trigger or serial
poll) and
``lib.transactions_by_address`` (the same per VISA address).

Message handling, as a GPIB instrument does it
----------------------------------------------
- A write is one or more program messages, ended by its END, framed by
  :mod:`simulated_bench.framing` exactly as the TCP server frames them (``\\n``-terminated;
  binary blocks ``#<n><len><data>`` may contain any byte; over-long or non-ASCII messages
  are dropped with ``-363`` / ``-101``). Set-only messages execute on arrival.
- A message containing a query executes when its reply is read (or when another message
  reaches any instrument of the bench first), so a fault can strike before the instrument
  saw it (see :mod:`simulated_bench.faults`). A new message arriving while a reply is unread
  discards the reply and queues ``-410 "Query INTERRUPTED"``, as on a real instrument.
- Reading with no reply queued waits the session timeout on the virtual clock and raises
  ``VisaIOError(VI_ERROR_TMO)``. A reply that becomes ready more than the session timeout
  after the read began (a ``*WAI`` or ``*OPC?`` behind a long trigger model) also times out,
  and arrives late: the next read gets it, unless the session is cleared. Set the timeout
  above the longest operation, as on the real bench.
- The clock advances by :func:`~simulated_bench.clock.bus_write_s` per write (plus the
  instrument's processing time) and :func:`~simulated_bench.clock.bus_read_s` per reply.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pyvisa import constants, rname
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError
from pyvisa.highlevel import VisaLibraryBase
from pyvisa.util import LibraryPath

from simulated_bench.bench import SimulatedBench
from simulated_bench.clock import bus_read_s, bus_write_s
from simulated_bench.faults import FaultInjector, FaultKind
from simulated_bench.framing import FramingError, MessageFramer, split_units, terminate_reply
from simulated_bench.scpi import QUERY_INTERRUPTED, ScpiInstrument

DEFAULT_TIMEOUT_MS = 2000
#: an infinite VISA timeout still ends on the virtual clock after this long
INFINITE_TIMEOUT_S = 3600.0

_library_ids = itertools.count(1)


def _io_error(code: StatusCode, message: str) -> VisaIOError:
    """pyvisa's own error for ``code``, with ``message`` appended to its text."""
    error = VisaIOError(code)
    error.args = (f"{error.args[0]} {message}",)
    return error


@dataclass
class _Session:
    address: str
    instrument: ScpiInstrument
    attributes: dict
    output: bytearray = field(default_factory=bytearray)
    pending: str | None = None             # a query message not executed yet
    failure: FaultKind | None = None       # what the next read will raise
    reply_ready_s: float = 0.0
    alive: bool = True
    reading: bool = False                  # a reply is being read in chunks
    silent_query: str | None = None        # the last query executed without a reply


class SimulatedVisaLibrary(VisaLibraryBase):
    """``VisaLibraryBase`` over a :class:`SimulatedBench`; see the module docstring."""

    def __new__(cls, bench_or_config=None, fault_rate: float | None = None,
                fault_seed: int | None = None, enforce_timeouts: bool = True,
                fault_weights: dict | None = None):
        # pyvisa caches libraries by path; a unique path keeps one bench per object.
        path = LibraryPath(f"spin-hil-simulated-bench-{next(_library_ids)}", "simulated bench")
        return super().__new__(cls, path)

    def __init__(self, bench_or_config=None, fault_rate: float | None = None,
                 fault_seed: int | None = None, enforce_timeouts: bool = True,
                 fault_weights: dict | None = None):
        """``fault_rate`` None: the bench's (0 unless built with one); ``fault_seed`` None:
        the bench's fault stream; ``fault_weights``: relative odds per
        :class:`~simulated_bench.faults.FaultKind` (default equal); ``enforce_timeouts``:
        a reply later than the session timeout times out (see the module docstring)."""
        if isinstance(bench_or_config, SimulatedBench):
            self.bench = bench_or_config
        else:
            self.bench = SimulatedBench.from_config(bench_or_config)
        rate = self.bench.fault_rate if fault_rate is None else float(fault_rate)
        rng = self.bench.fault_rng if fault_seed is None else np.random.default_rng(fault_seed)
        self.faults = FaultInjector(rate, rng, fault_weights)
        self.enforce_timeouts = enforce_timeouts
        self.transactions = 0
        self.transactions_by_address: dict[str, int] = {}

    # ------------------------------------------------------------ pyvisa plumbing
    @staticmethod
    def get_library_paths():
        return (LibraryPath("spin-hil-simulated-bench", "simulated bench"),)

    @staticmethod
    def get_debug_info():
        return ["spin-hil simulated bench (in-process SCPI simulators)"]

    def _init(self) -> None:
        self._sessions: dict[int, _Session] = {}
        self._rm_sessions: set[int] = set()
        self._session_ids = itertools.count(1)

    # ------------------------------------------------------------ duck-typed extras
    @property
    def virtual_time_s(self) -> float:
        return self.bench.clock.now_s

    def wait_virtual_s(self, seconds: float) -> None:
        """Let ``seconds`` of bench time pass with no bus traffic (a drift monitor's pause
        between checks: the simulated devices drift, no real time is spent)."""
        self.bench.clock.advance(float(seconds))

    def stage_temperature_K(self) -> float | None:
        """The stage temperature where the bench's non-idealities move it, else None."""
        return self.bench.stage_temperature_K()

    def _count(self, session: _Session) -> None:
        self.transactions += 1
        self.transactions_by_address[session.address] = \
            self.transactions_by_address.get(session.address, 0) + 1

    # ------------------------------------------------------------ resource manager
    def open_default_resource_manager(self):
        session = next(self._session_ids)
        self._rm_sessions.add(session)
        return session, self.handle_return_value(None, StatusCode.success)

    def list_resources(self, session, query: str = "?*::INSTR"):
        return rname.filter(tuple(self.bench.instruments), query)

    def parse_resource(self, session, resource_name: str):
        return super().parse_resource(session, resource_name)

    def _canonical(self, resource_name: str) -> str | None:
        try:   # VISA resource names are case-insensitive
            wanted = str(rname.parse_resource_name(resource_name.strip().upper())).upper()
        except Exception:  # noqa: BLE001 - any unparsable name is simply not on the bench
            wanted = resource_name.strip().upper()
        for address in self.bench.instruments:
            try:
                candidate = str(rname.parse_resource_name(address)).upper()
            except Exception:  # noqa: BLE001
                candidate = address.upper()
            if candidate == wanted:
                return address
        return None

    def open(self, session, resource_name: str,
             access_mode=constants.AccessModes.no_lock, open_timeout=constants.VI_TMO_IMMEDIATE):
        address = self._canonical(resource_name)
        if address is None:
            raise _io_error(
                StatusCode.error_resource_not_found,
                f"{resource_name!r} is not an instrument of the simulated bench "
                f"{self.bench.config.name!r} ({self.bench.config.source}); its addresses are "
                f"{', '.join(sorted(self.bench.instruments))}. Fix the address or the bench "
                f"file's [[instrument]] entries.")
        new = next(self._session_ids)
        attributes = {
            constants.VI_ATTR_TMO_VALUE: DEFAULT_TIMEOUT_MS,
            constants.VI_ATTR_TERMCHAR: ord("\n"),
            constants.VI_ATTR_TERMCHAR_EN: constants.VI_FALSE,
            constants.VI_ATTR_SEND_END_EN: constants.VI_TRUE,
            constants.VI_ATTR_SUPPRESS_END_EN: constants.VI_FALSE,
            constants.VI_ATTR_IO_PROT: constants.IOProtocol.normal,
            constants.VI_ATTR_RSRC_NAME: address,
            constants.VI_ATTR_RSRC_CLASS: "INSTR",
            constants.VI_ATTR_RSRC_LOCK_STATE: constants.AccessModes.no_lock,
            constants.VI_ATTR_RM_SESSION: session,
        }
        try:
            parsed = rname.parse_resource_name(address)
            attributes[constants.VI_ATTR_INTF_TYPE] = parsed.interface_type_const
            attributes[constants.VI_ATTR_INTF_NUM] = int(getattr(parsed, "board", 0) or 0)
            if hasattr(parsed, "primary_address"):
                attributes[constants.VI_ATTR_GPIB_PRIMARY_ADDR] = int(parsed.primary_address)
        except Exception:  # noqa: BLE001 - attributes of exotic names stay unset
            pass
        self._sessions[new] = _Session(address, self.bench.instruments[address], attributes)
        return new, self.handle_return_value(new, StatusCode.success)

    def close(self, session):
        if session in self._rm_sessions:
            self._rm_sessions.discard(session)
            return self.handle_return_value(None, StatusCode.success)
        if self._sessions.pop(session, None) is None:
            raise _io_error(StatusCode.error_invalid_object,
                            f"session {session} is not open on this simulated bench")
        return self.handle_return_value(None, StatusCode.success)

    # ------------------------------------------------------------ sessions
    def _session(self, session, allow_lost: bool = False) -> _Session:
        state = self._sessions.get(session)
        if state is None:
            raise _io_error(StatusCode.error_invalid_object,
                            f"session {session} is not open; open the resource first")
        if not state.alive and not allow_lost:
            raise _io_error(StatusCode.error_connection_lost,
                            f"the connection to {state.address} was lost; close the resource "
                            f"and open it again")
        return state

    def _timeout_s(self, state: _Session) -> float:
        value = state.attributes.get(constants.VI_ATTR_TMO_VALUE, DEFAULT_TIMEOUT_MS)
        if value == constants.VI_TMO_INFINITE:
            return INFINITE_TIMEOUT_S
        return float(value) / 1000.0

    @staticmethod
    def _has_query(message: str) -> bool:
        return any(unit.partition(" ")[0].endswith("?") for unit in split_units(message))

    def _resolve(self, state: _Session, draw_fault: bool = True) -> None:
        """Execute the pending query message (or let a fault take it)."""
        message, state.pending = state.pending, None
        if message is None:
            return
        fault = self.faults.draw() if draw_fault else None
        if fault in (FaultKind.TIMEOUT, FaultKind.INSTRUMENT_ERROR, FaultKind.CONNECTION_LOST):
            state.failure = fault
            if fault is FaultKind.INSTRUMENT_ERROR:
                code, text = self.faults.instrument_error()
                state.instrument.push_error((code, text),
                                            f"message {message[:40]!r} was not executed")
            if fault is FaultKind.CONNECTION_LOST:
                state.alive = False
            return
        reply = state.instrument.handle(message)
        state.reply_ready_s = self.bench.clock.now_s
        if reply is None:
            state.silent_query = message
            return
        data = terminate_reply(reply)
        if fault is FaultKind.GARBLED:
            data = self.faults.garble(data)
        state.output.extend(data)

    def _resolve_others(self, current: _Session | None) -> None:
        """A message reaches some instrument: queries sent earlier elsewhere run first."""
        for other in self._sessions.values():
            if other is not current and other.pending is not None and other.alive:
                self._resolve(other)

    def _discard_unread(self, state: _Session) -> None:
        if state.pending is not None:
            self._resolve(state, draw_fault=False)
        if state.output:
            state.output.clear()
            state.instrument.push_error(QUERY_INTERRUPTED, "a new message arrived before the "
                                                           "reply was read; the reply is lost")
        state.failure = None
        state.silent_query = None

    # ------------------------------------------------------------ I/O
    def write(self, session, data: bytes):
        state = self._session(session)
        self._resolve_others(state)
        self._count(state)
        self.bench.clock.advance(bus_write_s(len(data)) + state.instrument.PROCESSING_S)
        self._discard_unread(state)
        messages = MessageFramer().messages(bytes(data), end=True)
        for index, message in enumerate(messages):
            if isinstance(message, FramingError):
                state.instrument.push_error(message.error, message.detail)
            elif self._has_query(message):
                if index == len(messages) - 1:
                    state.pending = message
                    continue
                if state.instrument.handle(message) is not None:
                    state.instrument.push_error(QUERY_INTERRUPTED,
                                                f"reply to {message[:40]!r} was not read before "
                                                f"the next message")
            else:
                state.instrument.handle(message)
        return len(data), self.handle_return_value(session, StatusCode.success)

    def read(self, session, count: int):
        state = self._session(session)
        clock = self.bench.clock
        if state.output and state.failure is None and not state.pending \
                and state.reading:
            return self._chunk(state, count)            # the rest of a reply being read
        t_read = clock.now_s
        timeout_s = self._timeout_s(state)
        self._count(state)
        if state.pending is not None:
            self._resolve(state)
        failure, state.failure = state.failure, None
        if failure is FaultKind.CONNECTION_LOST:
            raise _io_error(StatusCode.error_connection_lost,
                            f"the connection to {state.address} dropped (simulated fault); "
                            f"the query was not executed. Close the resource and open it again.")
        if failure is not None or not state.output:
            clock.advance_to(max(clock.now_s, t_read + timeout_s))
            silent, state.silent_query = state.silent_query, None
            if failure is not None:
                why = "simulated fault: the query was not executed"
            elif silent is not None:
                why = (f"{silent[:40]!r} produced no reply; the instrument's error queue "
                       f"(SYST:ERR?) says why")
            else:
                why = "no query pending: was the last message a query?"
            raise _io_error(StatusCode.error_timeout,
                            f"{state.address} sent no reply within {timeout_s:g} s ({why})")
        if self.enforce_timeouts and state.reply_ready_s > t_read + timeout_s + 1e-12:
            late = state.reply_ready_s - t_read
            state.reply_ready_s = t_read                # the reply is there for the next read
            raise _io_error(StatusCode.error_timeout,
                            f"{state.address} answered {late:g} s after the read began, over "
                            f"the {timeout_s:g} s timeout; the reply arrives late (the next read "
                            f"gets it). Raise the resource's timeout above the operation time.")
        clock.advance(bus_read_s(len(state.output)))
        state.reading = True
        return self._chunk(state, count)

    def _chunk(self, state: _Session, count: int):
        chunk = bytes(state.output[:count])
        del state.output[:count]
        if state.output:
            return chunk, StatusCode.success_max_count_read
        state.reading = False
        return chunk, StatusCode.success_termination_character_read

    def assert_trigger(self, session, protocol):
        state = self._session(session)
        self._resolve_others(state)
        self._count(state)
        self.bench.clock.advance(bus_write_s(0))
        self._discard_unread(state)
        state.instrument.handle("*TRG")
        return self.handle_return_value(session, StatusCode.success)

    def read_stb(self, session):
        state = self._session(session)
        self._resolve_others(state)
        self._count(state)
        self.bench.clock.advance(bus_write_s(0))
        for command in state.instrument.commands:
            if command.path == "*STB" and command.on_query is not None:
                return int(command.on_query()), self.handle_return_value(session, StatusCode.success)
        return 0, self.handle_return_value(session, StatusCode.success)

    def clear(self, session):
        """Device clear (SDC): input and output queues emptied; settings and errors kept."""
        state = self._session(session)
        self.bench.clock.advance(bus_write_s(0))
        state.pending = None
        state.failure = None
        state.output.clear()
        state.reading = False
        return self.handle_return_value(session, StatusCode.success)

    def flush(self, session, mask):
        state = self._session(session, allow_lost=True)
        if state.pending is not None and state.alive:
            self._resolve(state, draw_fault=False)
        state.output.clear()
        state.reading = False
        return self.handle_return_value(session, StatusCode.success)

    # ------------------------------------------------------------ attributes
    def get_attribute(self, session, attribute):
        if session in self._rm_sessions:
            return None, self.handle_return_value(None, StatusCode.success)
        state = self._session(session, allow_lost=True)
        if attribute not in state.attributes:
            raise _io_error(StatusCode.error_nonsupported_attribute,
                            f"attribute {attribute!r} is not simulated")
        return state.attributes[attribute], self.handle_return_value(session, StatusCode.success)

    def set_attribute(self, session, attribute, attribute_state: Any):
        if session in self._rm_sessions:
            return self.handle_return_value(None, StatusCode.success)
        state = self._session(session, allow_lost=True)
        state.attributes[attribute] = attribute_state
        return self.handle_return_value(session, StatusCode.success)

    # ------------------------------------------------------------ events, locks: no-ops
    def enable_event(self, session, event_type, mechanism, context=None):
        return StatusCode.success

    def disable_event(self, session, event_type, mechanism):
        return StatusCode.success

    def discard_events(self, session, event_type, mechanism):
        return StatusCode.success

    def wait_on_event(self, session, in_event_type, timeout):
        raise _io_error(StatusCode.error_timeout, "the simulated bench raises no VISA events")

    def install_handler(self, session, event_type, handler, user_handle):
        return handler, user_handle, None, StatusCode.success

    def uninstall_handler(self, session, event_type, handler, user_handle=None):
        return StatusCode.success

    def lock(self, session, lock_type, timeout, requested_key=None):
        return None, StatusCode.success

    def unlock(self, session):
        return StatusCode.success

    def gpib_control_ren(self, session, mode):
        return StatusCode.success


# ---------------------------------------------------------------- pyvisa's backend by name
BACKEND_NAME = "spinhil"


class NamedBenchLibrary(SimulatedVisaLibrary):
    """The library pyvisa opens by name, through the ``pyvisa_spinhil`` package.

    ``pyvisa.ResourceManager("@spinhil")`` opens the built-in default bench,
    ``ResourceManager("path/to/bench.toml@spinhil")`` a bench file, and so does pymeasure's
    ``visa_library="@spinhil"``: no spin-hil import in the user's code.

    **One lab per bench.** Every open of the same name in a process gets the same library and
    so the same simulated bench (one chip, one clock): pymeasure makes a ResourceManager per
    instrument, and a pulse from one instrument must reach the device another one reads.
    Bench-file paths are compared resolved (``./b.toml`` and its absolute path are one lab);
    the lab lives as long as the process. For a bench of one's own, fresh from the bench
    file's seed, use :meth:`private` (what the project's procedures do).
    """

    _labs: dict[str, "NamedBenchLibrary"] = {}     # strong: a lab outlives its instruments

    @staticmethod
    def _lab_key(library_path) -> str:
        spec = str(library_path or "").strip()
        if spec in ("", "default"):
            return "default"
        return str(Path(spec).expanduser().resolve())

    def __new__(cls, library_path=""):
        key = cls._lab_key(library_path)
        lab = cls._labs.get(key)
        if lab is not None:
            return lab
        return VisaLibraryBase.__new__(cls, LibraryPath(f"{BACKEND_NAME}:{key}", "bench"))

    def __init__(self, library_path=""):
        if getattr(self, "bench", None) is not None:
            return                                   # pyvisa calls cls(path) per open
        key = self._lab_key(library_path)
        super().__init__(None if key == "default" else key)
        type(self)._labs[key] = self

    @classmethod
    def private(cls, bench_or_config=None, **options) -> SimulatedVisaLibrary:
        """A bench of its own, never shared, fresh from the bench file's seed: the same
        arguments as :class:`SimulatedVisaLibrary` (a bench, a bench file, a path, a dict
        or None; ``fault_rate``, ``fault_seed``, ``fault_weights``, ``enforce_timeouts``)."""
        return SimulatedVisaLibrary(bench_or_config, **options)

    @staticmethod
    def get_debug_info():
        return [f"spin-hil simulated bench (in-process SCPI simulators), version "
                f"{_version()}",
                f"ResourceManager('@{BACKEND_NAME}'): the built-in default bench; "
                f"'path/to/bench.toml@{BACKEND_NAME}': a bench file (one lab per file)"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("spin-hil")
    except PackageNotFoundError:
        return "unknown (not installed)"
