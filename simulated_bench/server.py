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
- **Messages** end at ``\\n`` (a ``\\r`` before it is dropped). A message may carry an IEEE
  488.2 definite-length block (``#<n><length><bytes>``, e.g. the 81160A's ``DATA:DAC``): its
  bytes are read by length, never split at a newline inside them. A block also ends its
  message when nothing but another message follows it (the end of the received bytes, or
  a byte other than ``; , CR LF`` blank): on GPIB, EOI on the last data byte terminates the
  message, and pymeasure's ``write_binary_values`` relies on that and sends no ``\\n``.
- **Bounded input.** A text message longer than :data:`MAX_LINE_BYTES` is dropped and
  answered with ``-363 Input buffer overrun`` in the instrument's error queue; bytes up to the
  next newline are discarded and the connection goes on. A binary block over
  :data:`MAX_BLOCK_BYTES` is handled the same way.
- **Garbage** (bytes that are not UTF-8 text outside a block) queues ``-101 Invalid
  character``; nothing reaches the instrument's parser and nothing crashes. As on a real
  instrument, errors are read with ``SYST:ERR?``; a message produces a reply only if it holds
  a query.
- **Bus time.** Every message advances the virtual clock by the bus write time of its bytes,
  and a reply by the read time of its bytes (:mod:`simulated_bench.clock`), as the in-process
  VISA library does, so a run over the server reports the same bench time.
- **Shutdown.** :meth:`ServerHandle.close` (or leaving the ``with`` block) stops the thread
  and closes every socket; ``main`` returns on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import re
import selectors
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field

from simulated_bench.clock import bus_read_s, bus_write_s

LOOPBACK_HOST = "127.0.0.1"
MAX_LINE_BYTES = 64 * 1024
MAX_BLOCK_BYTES = 16 * 1024 * 1024
DEFAULT_CLI_PORT = 5025
INVALID_CHARACTER = (-101, "Invalid character")
INPUT_BUFFER_OVERRUN = (-363, "Input buffer overrun")
EXECUTION_ERROR = (-200, "Execution error")
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


# ---------------------------------------------------------------- message framing
@dataclass
class FramingError:
    """A framing problem to queue in the instrument's error queue (no reply)."""

    error: tuple[int, str]
    detail: str


@dataclass
class _Framer:
    """Cuts a byte stream into messages: newline-terminated, blocks read by length.

    A ``#`` starts a definite-length block only outside quotes; a newline always ends a
    message outside a block (so a stray quote in garbage cannot swallow the next command).
    """

    buffer: bytearray = field(default_factory=bytearray)
    scan: int = 0               # bytes of ``buffer`` already scanned for this message
    text_bytes: int = 0         # of those, bytes outside blocks (what the line limit counts)
    in_quote: int = 0           # the quote byte we are inside, or 0
    discarding: bool = False    # dropping an over-long message until its newline
    skip_bytes: int = 0         # bytes of an over-size block still to drop
    block_end: int = 0          # where the last block of this message ended

    def feed(self, data: bytes) -> list:
        """Append bytes; return complete messages (bytes) and FramingErrors, in order."""
        self.buffer += data
        out = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _restart(self, consumed: int) -> None:
        del self.buffer[:consumed]
        self.scan = self.text_bytes = self.in_quote = self.block_end = 0

    def _next(self):
        buf = self.buffer
        if self.skip_bytes:
            dropped = min(self.skip_bytes, len(buf))
            del buf[:dropped]
            self.skip_bytes -= dropped
            if self.skip_bytes:
                return None
        if self.discarding:
            newline = buf.find(b"\n")
            if newline < 0:
                buf.clear()
                return None
            self._restart(newline + 1)
            self.discarding = False
        i = self.scan
        while i < len(buf):
            byte = buf[i]
            if byte == 0x0A:
                end = i - 1 if i > self.block_end and i > 0 and buf[i - 1] == 0x0D else i
                message = bytes(buf[:end])                  # a CR before the LF is not data
                self._restart(i + 1)
                return message
            if self.in_quote:
                if byte == self.in_quote:
                    self.in_quote = 0
            elif byte in (0x22, 0x27):
                self.in_quote = byte
            elif byte == 0x23 and i + 1 == len(buf):
                break                                       # a block may start: wait for more
            elif byte == 0x23 and 0x31 <= buf[i + 1] <= 0x39:
                digits = buf[i + 1] - 0x30
                if i + 2 + digits > len(buf):
                    break                                   # wait for the length digits
                length_text = bytes(buf[i + 2:i + 2 + digits])
                if length_text.isdigit():
                    length = int(length_text)
                    if length > MAX_BLOCK_BYTES:
                        self._restart(i + 2 + digits)
                        self.skip_bytes, self.discarding = length, True
                        return FramingError(INPUT_BUFFER_OVERRUN,
                                            f"binary block of {length} bytes over the "
                                            f"{MAX_BLOCK_BYTES}-byte limit; it was dropped")
                    end = i + 2 + digits + length
                    if end > len(buf):
                        break                               # wait for the whole block
                    self.text_bytes += 2 + digits
                    i = self.block_end = end
                    if i == len(buf) or buf[i] not in _CONTINUES_AFTER_BLOCK:
                        # the block ends the message, as EOI would on GPIB (pymeasure's
                        # write_binary_values sends no terminator after the block)
                        message = bytes(buf[:i])
                        self._restart(i)
                        return message
                    continue
            i += 1
            self.text_bytes += 1
            if self.text_bytes > MAX_LINE_BYTES:
                self._restart(i)                            # drop what was scanned ...
                self.discarding = True                      # ... and the rest of the line
                return FramingError(INPUT_BUFFER_OVERRUN,
                                    f"message over {MAX_LINE_BYTES} bytes without a newline; "
                                    f"it was dropped up to the next newline")
        self.scan = i
        return None


_BLOCK = re.compile(rb"#([1-9])")
#: bytes that may follow a block inside its message (more units, arguments, a terminator)
_CONTINUES_AFTER_BLOCK = b";,\r\n \t"


def _has_block(message: bytes) -> bool:
    match = _BLOCK.search(message)
    if not match:
        return False
    digits = int(match.group(1))
    return message[match.end():match.end() + digits].isdigit()


def _reply_bytes(reply: str) -> bytes:
    """A reply as one line. A text reply that carries a CR / LF (an error message echoing
    the bytes of a bad command) gets them escaped, so the newline still ends the reply;
    a block reply (``#<n><length><bytes>``) goes out byte for byte (latin-1)."""
    if reply.startswith("#") and _has_block(reply.encode("latin-1", "replace")):
        return reply.encode("latin-1", "replace")
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in reply):
        reply = "".join(ch if 0x20 <= ord(ch) <= 0x7E else ascii(ch)[1:-1] for ch in reply)
    return reply.encode("ascii")


# ---------------------------------------------------------------- the server
@dataclass
class _Connection:
    sock: socket.socket
    address: str                    # the instrument's GPIB address
    framer: _Framer = field(default_factory=_Framer)
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
        for item in conn.framer.feed(data):
            reply = self._execute(conn.address, item)
            if reply is not None:
                conn.outgoing += _reply_bytes(reply) + b"\n"
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

    def _execute(self, address: str, item) -> str | None:
        """Run one framed message on its instrument under the bench lock."""
        instrument = self.bench.instruments[address]
        with self.lock:
            self.messages_served += 1
            if isinstance(item, FramingError):
                instrument.push_error(item.error, item.detail)
                return None
            message = item
            if not message.strip():
                return None
            self.bench.clock.advance(bus_write_s(len(item) + 1)
                                     + getattr(instrument, "PROCESSING_S", 0.0))
            try:
                if _has_block(message) and hasattr(instrument, "handle_bytes"):
                    reply = instrument.handle_bytes(message)
                else:
                    text = self._decode(instrument, message)
                    reply = None if text is None else instrument.handle(text)
            except Exception as exc:   # a simulator bug: report it as the instrument would
                print(f"simulated bench server: {address} failed on {message[:80]!r}: {exc!r}",
                      file=sys.stderr)
                instrument.push_error(EXECUTION_ERROR, f"simulator fault {type(exc).__name__}: "
                                                       f"{exc}; please report it")
                return None
            if reply is not None:
                self.bench.clock.advance(bus_read_s(len(reply) + 1))
            return reply

    @staticmethod
    def _decode(instrument, message: bytes) -> str | None:
        """Text for the instrument's parser, or None after queueing -101.

        A message with a binary block goes through byte for byte (latin-1), for the
        instruments that parse blocks from text.
        """
        if _has_block(message):
            return message.decode("latin-1")
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError as exc:
            instrument.push_error(INVALID_CHARACTER,
                                  f"byte 0x{message[exc.start]:02x} at position {exc.start} "
                                  f"is not UTF-8 text; send SCPI as text lines ending in \\n")
            return None
        bad = next((i for i, ch in enumerate(text)
                    if (ord(ch) < 0x20 and ch != "\t") or ord(ch) > 0x7E), None)
        if bad is not None:
            instrument.push_error(INVALID_CHARACTER,
                                  f"character {text[bad]!r} at position {bad} is not printable "
                                  f"ASCII; SCPI messages are 7-bit text")
            return None
        return text


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
