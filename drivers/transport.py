"""The bus: open a VISA resource for an instrument, count its transactions, explain failures.

The cost of a bench is its bus round trips, so they are counted here, at the resource
level, for every instrument of a bench: :class:`CountingAdapter` is a pymeasure
``VISAAdapter`` whose raw writes and reads increment a shared :class:`BusCounter`. A round
trip is one message sent (a command, or a query with its reply); a read that follows a read
(e.g. a retried read after a timeout) counts as a round trip of its own.

:func:`open_adapter` turns the failures of opening an instrument into errors that say what
to check: a resource that does not exist (the address in the bench file), an instrument that
does not answer ``*IDN?`` (power, cable, address), or one that answers as another model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyvisa
from pyvisa.constants import StatusCode
from pymeasure.adapters import VISAAdapter

TERMINATION = "\n"
DEFAULT_TIMEOUT_MS = 2000
IDN_ATTEMPTS = 3
_LOST = (StatusCode.error_connection_lost, StatusCode.error_invalid_object)

# What each bench-file model answers to *IDN? (a fragment of the model field).
IDN_FRAGMENTS = {
    "Keysight81160A": "81160A",
    "Keithley2450": "2450",
    "Keithley2400": "2400",
    "Keithley2750": "2750",
    "KepcoBOP": "BOP",
}


class InstrumentConnectionError(RuntimeError):
    """An instrument of the bench file could not be reached or is not what the file says."""


@dataclass
class BusCounter:
    """Transactions of every instrument of a bench, together and per address."""

    writes: int = 0
    reads: int = 0
    round_trips: int = 0
    per_address: dict[str, int] = field(default_factory=dict)

    def count(self, address: str, write: bool, new_transaction: bool) -> None:
        if write:
            self.writes += 1
        else:
            self.reads += 1
        if new_transaction:
            self.round_trips += 1
            self.per_address[address] = self.per_address.get(address, 0) + 1


class CountingAdapter(VISAAdapter):
    """A pymeasure VISA adapter that counts every raw write and read in a :class:`BusCounter`."""

    def __init__(self, resource_name, visa_library="", counter: BusCounter | None = None,
                 label: str | None = None, **kwargs):
        self._open_kwargs = dict(kwargs)
        super().__init__(resource_name, visa_library=visa_library, **kwargs)
        self.counter = counter if counter is not None else BusCounter()
        self.label = label or str(resource_name)
        self._reply_pending = False

    def _write(self, command: str, **kwargs) -> None:
        self.counter.count(self.label, True, True)
        self._reply_pending = True
        super()._write(command, **kwargs)

    def _write_bytes(self, content: bytes, **kwargs) -> None:
        self.counter.count(self.label, True, True)
        self._reply_pending = True
        super()._write_bytes(content, **kwargs)

    def _read(self, **kwargs) -> str:
        self.counter.count(self.label, False, not self._reply_pending)
        self._reply_pending = False
        return super()._read(**kwargs)

    def _read_bytes(self, count: int, break_on_termchar: bool = False, **kwargs) -> bytes:
        self.counter.count(self.label, False, not self._reply_pending)
        self._reply_pending = False
        return super()._read_bytes(count, break_on_termchar, **kwargs)

    def clear_device(self) -> None:
        """Device clear and flush: drop a late or partial reply after a timeout / garbage.

        A socket whose peer has gone (refused, closed) raises a connection-lost VisaIOError
        instead: pyvisa-py's device clear reads a socket until it is quiet, and a socket at
        EOF is never quiet (it spun at 100 % CPU forever)."""
        self._reply_pending = False
        if _socket_gone(self.connection):
            raise pyvisa.errors.VisaIOError(StatusCode.error_connection_lost)
        self.connection.clear()
        self.flush_read_buffer()

    def reopen(self) -> None:
        """Close and reopen the resource (after a dropped connection)."""
        self._reply_pending = False
        _close_connection_quietly(self.connection)
        self.connection = self.manager.open_resource(self.resource_name, **self._open_kwargs)
        _no_delay(self.connection)


def open_adapter(address: str, visa_library, model: str, role: str, counter: BusCounter,
                 bench_source: str = "bench file", configured_address: str | None = None,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS) -> tuple[CountingAdapter, str]:
    """Open ``address`` and check that the instrument answers ``*IDN?`` as ``model``.

    ``configured_address`` is the bench-file address when ``address`` replaces it (e.g. the
    TCPIP socket of ``hil serve``). Returns the adapter and the identification string.
    """
    where = (f"{role} instrument {model} at {address}"
             + (f" (bench-file address {configured_address})"
                if configured_address and configured_address != address else ""))
    key = f"[[instrument]] role = {role!r} in {bench_source}"
    try:
        adapter = CountingAdapter(address, visa_library=visa_library, counter=counter,
                                  label=configured_address or address,
                                  read_termination=TERMINATION, write_termination=TERMINATION,
                                  timeout=timeout_ms)
    except pyvisa.errors.VisaIOError as exc:
        raise InstrumentConnectionError(
            f"cannot open the {where}: {exc.abbreviation}. Check the address of {key} "
            f"(list what the VISA library sees with pyvisa.ResourceManager().list_resources()), "
            f"the cable and that the instrument is powered."
        ) from exc
    except (OSError, ValueError) as exc:
        raise InstrumentConnectionError(
            f"cannot open the {where}: {' '.join(str(exc).split())}. Check the address of "
            f"{key}, the cable / network and that the instrument (or `hil serve`) is running."
        ) from exc
    _no_delay(adapter.connection)
    idn, last = None, None
    for _ in range(IDN_ATTEMPTS):          # a lone timeout or garbled reply is not a dead box
        try:
            adapter.write("*IDN?")
            idn = adapter.read().strip()
            if "," in idn and idn.isprintable():
                break
        except (pyvisa.errors.VisaIOError, OSError) as exc:
            last, idn = exc, None
            if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                _close_quietly(adapter)            # refused / reset: no retry will help
                raise InstrumentConnectionError(
                    f"cannot reach the {where}: {exc.strerror or exc}. Check that the "
                    f"instrument (or `hil serve`) is running and listening at {address}, the "
                    f"network / cable, and the address of {key}.") from exc
            try:
                adapter.reopen() if getattr(exc, "error_code", None) in _LOST else \
                    adapter.clear_device()
            except Exception:  # noqa: BLE001 - the next attempt reports it
                pass
    if idn is None:
        _close_quietly(adapter)
        raise InstrumentConnectionError(
            f"the {where} opened but did not answer *IDN? within {timeout_ms / 1000:g} s "
            f"({IDN_ATTEMPTS} tries; {getattr(last, 'abbreviation', last)}). Check that it is "
            f"powered on, the cable, and that the address of {key} is this instrument's "
            f"address."
        ) from last
    fragment = IDN_FRAGMENTS.get(model, model)
    if fragment.lower() not in idn.lower():
        _close_quietly(adapter)
        raise InstrumentConnectionError(
            f"the {where} answered *IDN? with {idn!r}, which is not a {model}. Check the "
            f"address and the model of {key}: another instrument is at that address."
        )
    return adapter, idn


def _on_lan(connection) -> bool:
    return str(getattr(connection, "resource_name", "")).upper().startswith("TCPIP")


def over_lan(instrument) -> bool:
    """Whether a pymeasure instrument is reached over a LAN socket: writes to two such
    instruments are not ordered (each has its own socket), unlike on one GPIB bus."""
    return _on_lan(getattr(getattr(instrument, "adapter", None), "connection", None))


def _no_delay(connection) -> None:
    """Send small LAN messages at once (TCP_NODELAY). Without it a command followed by a
    query waits ~40 ms for the delayed ACK (Nagle), per round trip. pyvisa-py's SOCKET
    resources refuse VI_ATTR_TCPIP_NODELAY, so its socket is set directly when reachable."""
    if not _on_lan(connection):
        return
    try:
        connection.set_visa_attribute(pyvisa.constants.VI_ATTR_TCPIP_NODELAY, True)
        return
    except Exception:  # noqa: BLE001 - not supported by this resource class / library
        pass
    try:
        import socket
        session = connection.visalib.sessions[connection.session]
        session.interface.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def _socket_gone(connection) -> bool:
    """True when ``connection`` is a pyvisa-py socket whose peer closed or refused it."""
    try:
        import socket
        session = connection.visalib.sessions[connection.session]
        sock = session.interface
        if not isinstance(sock, socket.socket):
            return False
    except Exception:  # noqa: BLE001 - not a pyvisa-py socket resource
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False                           # open, nothing to read
    except OSError:
        return True                            # refused / reset / not connected


def _close_connection_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - a dropped resource may fail to close in many ways
        pass


def _close_quietly(adapter) -> None:
    try:
        adapter.close()
    except Exception:  # noqa: BLE001 - closing a broken resource may fail in many ways
        pass
