"""Loopback SCPI server: each simulated instrument of a bench on its own raw TCP socket.

``hil serve [BENCH.toml] [--port N]`` (or ``python -m simulated_bench.server``) makes a
simulated bench reachable the way a LAN bench is: pyvisa-py opens
``TCPIP0::127.0.0.1::<port>::SOCKET`` with ``\\n`` as read and write termination, and an
unmodified driver cannot tell the difference.

Rules it keeps:

- **Loopback only.** Sockets bind to 127.0.0.1 and nothing else; any other host is refused
  with :class:`ValueError` before a socket exists. The simulator has no authentication and
  must never be reachable from another machine.
- **One bench, one thread, arrival order.** All instruments share one
  :class:`SimulatedBench` (one virtual clock, one chip); one event loop serves every socket,
  and each message runs under :attr:`ServerHandle.lock` (code in the test's own thread can
  take it to look at the bench safely). Sockets are read in the order their input arrived
  (edge-triggered epoll, see :class:`_Poller`; a connection's first data counts from when the
  server accepts it, never from when the client connected) and their messages run in that
  order, whichever instrument they are for; the server sets TCP_NODELAY and ACKs at once
  (TCP_QUICKACK).
- **Order across instruments: the query barrier.** A client's TCP stack may hold a small
  write (Nagle, behind an unACKed one on that socket), and input that piles up on several
  sockets while the loop is busy loses its interleaving, so arrival order is not always the
  order the client sent. What the server can use: a synchronous client blocked on a query's
  reply sent nothing after that query. So before a message holding a query (a ``?`` header)
  runs, the other sockets' messages already read run first, and their input keeps being read
  and run, in arrival order, until no other socket has delivered anything for
  :data:`QUERY_GRACE_S` (2 ms; at most :data:`QUERY_BARRIER_MAX_S`, 50 ms, in all). The
  guarantee, for single-threaded clients with any TCP options (Nagle on or off): every query,
  readings and ``SYST:ERR?`` included, on any instrument and any session, reflects every
  write the client sent before it, on every socket. Not guaranteed: writes racing writes on
  different sockets with no query between them run as they arrive; a client that writes a
  query and, before reading its reply, writes to another instrument within the grace may
  see that later write run first; several clients at once are ordered only by arrival.
  Cost: wall-clock latency only, never virtual time (the messages meet the virtual clock in
  the client's order): a query within 2 ms of another socket's input waits until that
  socket is 2 ms quiet, a query next to a client that never pauses waits 50 ms; queries of
  a client with one connection never wait. ``ServerHandle.barrier_waits`` / ``barrier_wait_s``
  count them. See docs/serve.md.
- **Bounds.** A client's input is read once its earlier messages ran, at most
  :data:`ROUND_READ_BYTES` and :data:`ROUND_MESSAGES` per round, so a flooding client costs
  the others one round's share. Past :data:`MAX_UNREAD_REPLY_BYTES` of unread replies a
  client is paused (its input waits in the kernel); paused for ``stall_timeout_s`` without
  reading, it is closed.
- **Framing** is :mod:`simulated_bench.framing`'s, the same as the in-process VISA
  library's: messages end at ``\\n``, an IEEE 488.2 block (``#<n><length><bytes>``, e.g. the
  81160A's ``DATA:DAC``) is read by length and also ends its message when nothing of the
  message follows it (pymeasure's ``write_binary_values`` sends no ``\\n``); a message over
  :data:`MAX_LINE_BYTES` (or a block over :data:`MAX_BLOCK_BYTES`) queues ``-363 Input
  buffer overrun`` and the connection goes on (an over-size block is refused from its
  header, then the stream resyncs at the next newline); garbage (text outside blocks that is not
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
import select
import selectors
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from simulated_bench.clock import bus_read_s, bus_write_s
from simulated_bench.framing import (  # noqa: F401 - the limits are part of the server's interface
    MAX_BLOCK_BYTES,
    MAX_LINE_BYTES,
    FramingError,
    MessageFramer,
    split_units,
    terminate_reply,
)
from simulated_bench.scpi_errors import EXECUTION_ERROR

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_CLI_PORT = 5025
#: reply bytes a client may leave unread; past this its input is not read until it reads
MAX_UNREAD_REPLY_BYTES = 64 * 1024
#: a client that leaves replies unread (paused) this long without taking a byte is closed
STALL_TIMEOUT_S = 5.0
#: input read from one socket per loop round, and messages run per socket per round, so one
#: busy client cannot hold the loop
ROUND_READ_BYTES = 64 * 1024
ROUND_MESSAGES = 64
_RECV_BYTES = 65536
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
#: query barrier: before a query runs, other sockets' input is read and run until they have
#: been quiet this long (a Nagle-held write follows our ACK within microseconds on loopback;
#: without TCP_QUICKACK the client waits for the peer's delayed ACK, up to ~40 ms) ...
QUERY_GRACE_S = 0.002 if _QUICKACK is not None else 0.045
#: ... and never longer than this in all, however busy the other sockets are
QUERY_BARRIER_MAX_S = 0.050


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


# ---------------------------------------------------------------- readiness, in arrival order
class _Poller:
    """Which sockets have input, in the order it arrived.

    Linux: epoll, edge-triggered. Its ready list is kept in the order sockets became ready
    since they were last reported, so reading every reported socket to its end (EAGAIN) and
    serving in the reported order serves messages in the order they reached the server.
    (Level-triggered epoll puts a socket just served back at the head of the list, ahead of
    sockets that received data before it.) Elsewhere a level-triggered selector: the same
    loop, with the order across sockets the selector's.
    """

    def __init__(self):
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = None if self._epoll else selectors.DefaultSelector()
        self._data: dict[int, tuple[socket.socket, object]] = {}

    def _epoll_mask(self, write: bool) -> int:
        mask = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
        return mask | select.EPOLLOUT if write else mask

    def register(self, sock: socket.socket, data) -> None:
        self._data[sock.fileno()] = (sock, data)
        if self._epoll:
            self._epoll.register(sock.fileno(), self._epoll_mask(False))
        else:
            self._selector.register(sock, selectors.EVENT_READ, data)

    def want_write(self, sock: socket.socket, write: bool) -> None:
        if self._epoll:
            self._epoll.modify(sock.fileno(), self._epoll_mask(write))
        else:
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0)
            self._selector.modify(sock, mask, self._data[sock.fileno()][1])

    def unregister(self, sock: socket.socket) -> None:
        entry = self._data.pop(sock.fileno(), None)
        if entry is None:
            return
        try:
            if self._epoll:
                self._epoll.unregister(sock.fileno())
            else:
                self._selector.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass

    def poll(self, timeout_s: float) -> list[tuple[object, bool, bool]]:
        """``(data, readable, writable)`` per ready socket, in the order they became ready."""
        if self._epoll:
            readable = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
            return [(self._data[fd][1], bool(events & readable), bool(events & select.EPOLLOUT))
                    for fd, events in self._epoll.poll(timeout_s) if fd in self._data]
        return [(key.data, bool(events & selectors.EVENT_READ), bool(events & selectors.EVENT_WRITE))
                for key, events in self._selector.select(timeout_s)]

    def close(self) -> None:
        (self._epoll or self._selector).close()


def _holds_query(item) -> bool:
    """A message the client waits on: one of its units has a query header."""
    return isinstance(item, str) and any(
        unit.split(None, 1)[0].endswith("?") for unit in split_units(item) if unit.strip())


def _quick_ack(sock: socket.socket) -> None:
    """ACK what arrived now, not after the 40 ms delayed-ACK timer: a client without
    TCP_NODELAY holds its next small write (Nagle) until the previous one is ACKed, and a
    held ``*TRG`` would reach the server after a ``:READ?`` sent later on another socket.
    Linux clears the flag as it goes, so it is set again after every read and write."""
    if _QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


# ---------------------------------------------------------------- the server
@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    address: str                    # the instrument's GPIB address
    framer: MessageFramer = field(default_factory=MessageFramer)
    outgoing: bytearray = field(default_factory=bytearray)
    queue: deque = field(default_factory=deque)      # messages read, not run yet
    stalled_since: float | None = None               # paused and not reading since (monotonic)
    last_read_s: float = float("-inf")               # last input taken (monotonic)
    wants_write: bool = False
    closed: bool = False

    @property
    def paused(self) -> bool:
        """Replies left unread: its input waits in the kernel until it reads them."""
        return len(self.outgoing) > MAX_UNREAD_REPLY_BYTES


class ServerHandle:
    """A running server: ``.addresses`` maps GPIB address -> TCPIP resource name."""

    def __init__(self, bench, listeners: dict[str, socket.socket],
                 stall_timeout_s: float = STALL_TIMEOUT_S):
        self.bench = bench
        self.lock = threading.Lock()
        self.stall_timeout_s = float(stall_timeout_s)
        self._listeners = listeners
        self.ports = {address: sock.getsockname()[1] for address, sock in listeners.items()}
        self.addresses = {address: resource_name(port) for address, port in self.ports.items()}
        self.messages_served = 0
        self.clients_dropped = 0
        self.barrier_waits = 0           # queries that waited for other sockets to go quiet
        self.barrier_wait_s = 0.0        # wall-clock time they waited, in all
        self._poller = _Poller()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._connections: dict[socket.socket, _Connection] = {}
        self._to_read: dict[_Connection, None] = {}      # input not read to its end, in order
        self._active: dict[_Connection, None] = {}       # messages queued, in arrival order
        for address, sock in listeners.items():
            sock.setblocking(False)
            self._poller.register(sock, ("listen", (sock, address)))
        self._wake_r.setblocking(False)
        self._poller.register(self._wake_r, ("wake", None))
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
        self._poller.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def buffered_bytes(self) -> int:
        """Bytes the server holds for its clients (unsent replies, unrun input): bounded."""
        return sum(len(c.outgoing) + len(c.framer.buffer) + sum(map(len, c.queue))
                   for c in list(self._connections.values()))

    # ------------------------------------------------------------ loop
    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._dispatch(self._poller.poll(self._poll_timeout_s())):
                return
            try:
                self._read_round()
                self._run_queued()
                self._drop_stalled()
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop the server
                print(f"simulated bench server: loop error {exc!r}", file=sys.stderr)

    def _dispatch(self, events) -> bool:
        """Accept, flush and note readable sockets; False once the server is stopping."""
        for data, readable, writable in events:
            kind, payload = data if isinstance(data, tuple) else ("conn", data)
            if kind == "wake":
                self._stopping.set()
                return False
            try:
                if kind == "listen":
                    self._accept(*payload)
                    continue
                if writable:
                    self._flush(payload)
                if readable and not payload.closed:
                    self._to_read.setdefault(payload)
            except Exception as exc:  # a broken client must never stop the server
                self._fail(payload if kind == "conn" else None, exc)
        return True

    def _fail(self, conn: _Connection | None, exc: Exception) -> None:
        print(f"simulated bench server: dropped a connection after {exc!r}", file=sys.stderr)
        if conn is not None:
            self._drop(conn)

    def _poll_timeout_s(self) -> float:
        if any(not c.paused for c in self._active) or \
                any(not (c.paused or c.queue) for c in self._to_read):
            return 0.0
        deadlines = [c.stalled_since + self.stall_timeout_s
                     for c in self._connections.values() if c.stalled_since is not None]
        if not deadlines:
            return 0.5
        return min(0.5, max(0.0, min(deadlines) - time.monotonic()))

    def _accept(self, listener: socket.socket, address: str) -> None:
        while True:
            try:
                sock, _peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # replies wait here, visible to the cap, not in megabytes of kernel buffer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_UNREAD_REPLY_BYTES)
            _quick_ack(sock)
            conn = _Connection(sock, address)
            self._connections[sock] = conn
            # data that came with the connection is reported by the next poll, after the
            # sockets already ready: the listener was ready when the client connected, which
            # says nothing of when its data came (a client opens every instrument, then writes)
            self._poller.register(sock, conn)

    def _drop(self, conn: _Connection) -> None:
        conn.closed = True
        self._connections.pop(conn.sock, None)
        self._to_read.pop(conn, None)
        self._active.pop(conn, None)
        self._poller.unregister(conn.sock)
        try:
            conn.sock.close()
        except OSError:
            pass

    def _read_round(self) -> None:
        """Read each socket with input, in arrival order, once its earlier messages ran."""
        for conn in list(self._to_read):
            if conn.closed or conn.paused or conn.queue:
                continue
            try:
                self._drain(conn)
            except Exception as exc:  # noqa: BLE001 - see _run
                self._fail(conn, exc)

    def _drain(self, conn: _Connection) -> None:
        taken = 0
        while taken < ROUND_READ_BYTES:       # one busy client cannot hold the loop
            try:
                data = conn.sock.recv(_RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                self._to_read.pop(conn, None)
                break
            except OSError:
                data = b""
            if not data:
                self._drop(conn)
                return
            taken += len(data)
            conn.last_read_s = time.monotonic()
            conn.queue.extend(conn.framer.messages(data))
        if conn.queue:
            self._active.setdefault(conn)
        _quick_ack(conn.sock)

    def _run_queued(self) -> None:
        """Run the messages read, socket by socket in the order their input arrived, at most
        :data:`ROUND_MESSAGES` per socket per round: a client with thousands queued delays
        the others by one round's share, not by its whole backlog."""
        self._run_round(skip=None, barrier=True)

    def _run_round(self, skip: _Connection | None, barrier: bool) -> None:
        for conn in list(self._active):
            if conn is skip:
                continue
            budget = ROUND_MESSAGES
            while conn.queue and budget and not conn.paused and not conn.closed:
                item = conn.queue.popleft()
                if barrier and _holds_query(item):
                    self._query_barrier(conn)
                self._serve(conn, item)
                budget -= 1
            if not conn.queue:
                self._active.pop(conn, None)

    def _query_barrier(self, conn: _Connection) -> None:
        """Before ``conn``'s query runs, run what the other sockets sent before it.

        A synchronous client blocked on this query's reply sent everything else before it,
        but a write of its held back by Nagle (behind an unACKed write on the same socket)
        may still be on its way. Nagle holds data only until our ACK, which goes out as we
        read (TCP_QUICKACK), so the held write arrives just after the previous one was read:
        other sockets' input is read and run, in arrival order, until no other socket has
        delivered anything for :data:`QUERY_GRACE_S`, at most :data:`QUERY_BARRIER_MAX_S`.
        Costs wall-clock time only; the virtual clock sees the messages in the client's order.
        """
        start = time.monotonic()
        waited = False
        while not self._stopping.is_set():
            self._run_round(skip=conn, barrier=False)
            now = time.monotonic()
            quiet_at = max((c.last_read_s for c in self._connections.values() if c is not conn),
                           default=float("-inf")) + QUERY_GRACE_S
            timeout_s = max(0.0, min(quiet_at, start + QUERY_BARRIER_MAX_S) - now)
            waited = waited or timeout_s > 0
            # always look once: input may sit in the kernel while this thread was descheduled
            if not self._dispatch(self._poller.poll(timeout_s)):
                break
            self._read_round()
            news = any(c is not conn and c.queue for c in self._active)
            if not news and (time.monotonic() >= quiet_at
                             or time.monotonic() >= start + QUERY_BARRIER_MAX_S):
                break
            if time.monotonic() >= start + QUERY_BARRIER_MAX_S:
                self._run_round(skip=conn, barrier=False)
                break
        if waited:
            self.barrier_waits += 1
            self.barrier_wait_s += time.monotonic() - start

    def _serve(self, conn: _Connection, item: str | FramingError) -> None:
        reply = self._execute(conn.address, item)
        if reply is None:
            return
        conn.outgoing += reply
        self._flush(conn)
        if conn.paused and conn.stalled_since is None:
            conn.stalled_since = time.monotonic()

    def _flush(self, conn: _Connection) -> None:
        if conn.closed:
            return
        sent_any = False
        while conn.outgoing:
            try:
                sent = conn.sock.send(conn.outgoing)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn)
                return
            del conn.outgoing[:sent]
            sent_any = True
        if sent_any:
            _quick_ack(conn.sock)
            conn.stalled_since = time.monotonic() if conn.paused else None
        if conn.wants_write != bool(conn.outgoing):
            conn.wants_write = bool(conn.outgoing)
            self._poller.want_write(conn.sock, conn.wants_write)

    def _drop_stalled(self) -> None:
        now = time.monotonic()
        for conn in list(self._connections.values()):
            if conn.stalled_since is not None and now - conn.stalled_since > self.stall_timeout_s:
                print(f"simulated bench server: a client of {conn.address} left "
                      f"{len(conn.outgoing)} reply bytes unread for over "
                      f"{self.stall_timeout_s:g} s; closing its connection", file=sys.stderr)
                self.clients_dropped += 1
                self._drop(conn)

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


def serve(bench, host: str = LOOPBACK_HOST, base_port: int = 0,
          stall_timeout_s: float = STALL_TIMEOUT_S) -> ServerHandle:
    """Serve every instrument of ``bench`` on 127.0.0.1; returns a running handle.

    ``base_port`` 0 picks free (ephemeral) ports; otherwise instrument i of the bench file
    gets ``base_port + i``. A client that leaves over :data:`MAX_UNREAD_REPLY_BYTES` of
    replies unread for ``stall_timeout_s`` is closed. Use as a context manager, or call
    ``close()``.
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
    return ServerHandle(bench, listeners, stall_timeout_s)


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
