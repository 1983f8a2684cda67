"""Loopback SCPI server: each simulated instrument of a bench on its own raw TCP socket.

``hil serve [BENCH.toml] [--port N]`` (or ``python -m simulated_bench.server``) makes a
simulated bench reachable the way a LAN bench is: pyvisa-py opens
``TCPIP0::127.0.0.1::<port>::SOCKET`` with ``\\n`` as read and write termination, and an
unmodified driver cannot tell the difference.

Rules it keeps:

- **Loopback only.** Sockets bind to 127.0.0.1 and nothing else; any other host is refused
  with :class:`ValueError` before a socket exists. The simulator has no authentication and
  must never be reachable from another machine.
- **One bench, one thread.** All instruments share one :class:`SimulatedBench` (one virtual
  clock, one chip); a single selector thread serves every socket, and each message runs
  under :attr:`ServerHandle.lock`, so clients are served in turn and code in the test's own
  thread can take the same lock to look at the bench safely.
- **Framing** is :mod:`simulated_bench.framing`'s, the same as the in-process VISA
  library's: messages end at ``\\n``, an IEEE 488.2 block (``#<n><length><bytes>``, e.g. the
  81160A's ``DATA:DAC``) is read by length and also ends its message when nothing of the
  message follows it (pymeasure's ``write_binary_values`` sends no ``\\n``); a message over
  :data:`MAX_LINE_BYTES` (or a block over :data:`MAX_BLOCK_BYTES`) queues ``-363 Input
  buffer overrun`` and the connection goes on; garbage (text outside blocks that is not
  printable ASCII) queues ``-101 Invalid character``. Nothing of it reaches the parser and
  nothing crashes. As on a real instrument, errors are read with ``SYST:ERR?``; a message
  produces a reply only if it holds a query.
- **Bus time.** Every message advances the virtual clock by the bus write time of its bytes,
  and a reply by the read time of its bytes (:mod:`simulated_bench.clock`), as the in-process
  VISA library does, so a run over the server reports the same bench time.
- **Shutdown.** :meth:`ServerHandle.close` (or leaving the ``with`` block) stops the thread
  and closes every socket; ``main`` returns on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import selectors
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field

from simulated_bench.clock import bus_read_s, bus_write_s
from simulated_bench.framing import (  # noqa: F401 - the limits are part of the server's interface
    MAX_BLOCK_BYTES,
    MAX_LINE_BYTES,
    FramingError,
    MessageFramer,
    terminate_reply,
)
from simulated_bench.scpi_errors import EXECUTION_ERROR

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_CLI_PORT = 5025
#: replies a client has not read yet; past this the client is not reading, and is dropped
MAX_UNREAD_REPLY_BYTES = 64 * 1024 * 1024
_RECV_BYTES = 65536


class ServerError(RuntimeError):
    """The server could not start (a port in use, a bad host)."""


def resource_name(port: int) -> str:
    return f"TCPIP0::{LOOPBACK_HOST}::{port}::SOCKET"


def _check_host(host: str) -> str:
    if host in (LOOPBACK_HOST, "localhost"):
        return LOOPBACK_HOST
    raise ValueError(
        f"the simulated bench serves on {LOOPBACK_HOST} only, got host={host!r}: it has no "
        f"authentication and must not be reachable from another machine; use "
        f"host='{LOOPBACK_HOST}' (and an SSH tunnel if you need it elsewhere)")


# ---------------------------------------------------------------- the server
@dataclass
class _Connection:
    sock: socket.socket
    address: str                    # the instrument's GPIB address
    framer: MessageFramer = field(default_factory=MessageFramer)
    outgoing: bytearray = field(default_factory=bytearray)


class ServerHandle:
    """A running server: ``.addresses`` maps GPIB address -> TCPIP resource name."""

    def __init__(self, bench, listeners: dict[str, socket.socket]):
        self.bench = bench
        self.lock = threading.Lock()
        self._listeners = listeners
        self.ports = {address: sock.getsockname()[1] for address, sock in listeners.items()}
        self.addresses = {address: resource_name(port) for address, port in self.ports.items()}
        self.messages_served = 0
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._connections: dict[socket.socket, _Connection] = {}
        for address, sock in listeners.items():
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, ("listen", address))
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread = threading.Thread(target=self._run, name="simulated-bench-server",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ lifetime
    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close every socket (idempotent)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        for sock in [*self._connections, *self._listeners.values(), self._wake_r, self._wake_w]:
            try:
                sock.close()
            except OSError:
                pass
        self._connections.clear()
        self._selector.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ loop
    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, events in self._selector.select(timeout=0.5):
                kind, address = key.data if isinstance(key.data, tuple) else ("conn", None)
                try:
                    if kind == "wake":
                        return
                    if kind == "listen":
                        self._accept(key.fileobj, address)
                    elif events & selectors.EVENT_READ:
                        self._receive(key.fileobj)
                    if kind == "conn" and events & selectors.EVENT_WRITE:
                        self._flush(key.fileobj)
                except Exception as exc:  # a broken client must never stop the server
                    print(f"simulated bench server: dropped a connection after {exc!r}",
                          file=sys.stderr)
                    if kind == "conn":
                        self._drop(key.fileobj)

    def _accept(self, listener: socket.socket, address: str) -> None:
        try:
            sock, _peer = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, address)
        self._connections[sock] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _drop(self, sock: socket.socket) -> None:
        self._connections.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _receive(self, sock: socket.socket) -> None:
        conn = self._connections.get(sock)
        if conn is None:
            return
        try:
            data = sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        for item in conn.framer.messages(data):
            reply = self._execute(conn.address, item)
            if reply is not None:
                conn.outgoing += reply
                if len(conn.outgoing) > MAX_UNREAD_REPLY_BYTES:
                    print(f"simulated bench server: a client of {conn.address} left "
                          f"{len(conn.outgoing)} reply bytes unread; closing its connection",
                          file=sys.stderr)
                    self._drop(sock)
                    return
        if conn.outgoing:
            self._flush(sock)

    def _flush(self, sock: socket.socket) -> None:
        conn = self._connections.get(sock)
        if conn is None:
            return
        try:
            sent = sock.send(conn.outgoing)
            del conn.outgoing[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(sock)
            return
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outgoing else 0)
        self._selector.modify(sock, mask, conn)

    def _execute(self, address: str, item: str | FramingError) -> bytes | None:
        """Run one framed message on its instrument under the bench lock; the reply's bytes."""
        instrument = self.bench.instruments[address]
        with self.lock:
            self.messages_served += 1
            if isinstance(item, FramingError):
                instrument.push_error(item.error, item.detail)
                return None
            self.bench.clock.advance(bus_write_s(len(item) + 1)
                                     + getattr(instrument, "PROCESSING_S", 0.0))
            try:
                reply = instrument.handle(item)
            except Exception as exc:   # a simulator bug: report it as the instrument would
                print(f"simulated bench server: {address} failed on {item[:80]!r}: {exc!r}",
                      file=sys.stderr)
                instrument.push_error(EXECUTION_ERROR, f"simulator fault {type(exc).__name__}: "
                                                       f"{exc}; please report it")
                return None
            if reply is None:
                return None
            data = terminate_reply(reply)
            self.bench.clock.advance(bus_read_s(len(data)))
            return data


def serve(bench, host: str = LOOPBACK_HOST, base_port: int = 0) -> ServerHandle:
    """Serve every instrument of ``bench`` on 127.0.0.1; returns a running handle.

    ``base_port`` 0 picks free (ephemeral) ports; otherwise instrument i of the bench file
    gets ``base_port + i``. Use as a context manager, or call ``close()``.
    """
    host = _check_host(host)
    if not isinstance(base_port, int) or not 0 <= base_port <= 65535 - len(bench.instruments):
        raise ValueError(f"base_port must be 0 (free ports) or 1..{65535 - len(bench.instruments)}, "
                         f"got {base_port!r}")
    listeners: dict[str, socket.socket] = {}
    try:
        for i, address in enumerate(bench.instruments):
            port = base_port + i if base_port else 0
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                raise ServerError(
                    f"cannot listen for {address} on {host}:{port}: {exc.strerror}; another "
                    f"server may hold it: choose another --port, or 0 for free ports") from None
            sock.listen(8)
            listeners[address] = sock
    except BaseException:
        for sock in listeners.values():
            sock.close()
        raise
    return ServerHandle(bench, listeners)


def address_table(bench, handle: ServerHandle) -> str:
    models = {entry.address: (entry.model, entry.role) for entry in bench.config.instruments}
    rows = [("bench address", "model", "role", "VISA resource (pyvisa-py, \\n terminated)")]
    for address, resource in handle.addresses.items():
        model, role = models.get(address, ("?", "?"))
        rows.append((address, model, role, resource))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}"
                     for r in rows)


def main(argv: list[str] | None = None) -> int:
    """``hil serve [BENCH.toml] [--port N]``: serve until SIGINT / SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="hil serve",
        description="Serve a simulated bench's instruments as raw SCPI sockets on 127.0.0.1.")
    parser.add_argument("bench", nargs="?", default=None,
                        help="bench file (TOML); the built-in default bench if omitted")
    parser.add_argument("--port", type=int, default=DEFAULT_CLI_PORT,
                        help=f"first port; instrument i gets PORT+i (default {DEFAULT_CLI_PORT}; "
                             f"0 = free ports)")
    parser.add_argument("--host", default=LOOPBACK_HOST,
                        help="must be 127.0.0.1 (or localhost): the server is loopback-only")
    args = parser.parse_args(argv)

    from devices.benchfile import BenchFileError
    from simulated_bench.bench import SimulatedBench

    try:
        host = _check_host(args.host)
        bench = SimulatedBench.from_config(args.bench)
        handle = serve(bench, host=host, base_port=args.port)
    except (ValueError, ServerError, BenchFileError) as exc:
        print(f"hil serve: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _on_signal(signum, _frame):
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"simulated bench {bench.config.name!r} serving on {LOOPBACK_HOST} "
              f"(Ctrl-C or SIGTERM to stop)")
        print(address_table(bench, handle), flush=True)
        while not stop.wait(0.2):
            if not handle.running:
                print("hil serve: the server thread stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        handle.close()
        for sig, old in previous.items():
            signal.signal(sig, old)
    print(f"stopped; virtual bench time {bench.clock.now_s:.3f} s, "
          f"{handle.messages_served} messages served", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
