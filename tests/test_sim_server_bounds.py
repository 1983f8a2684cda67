"""``hil serve`` bounds (issue 12): a bad block header cannot swallow the stream, and a client
that floods queries without reading neither slows the others nor grows the server's memory."""

from __future__ import annotations

import socket
import statistics
import time

import pytest

from simulated_bench.bench import SimulatedBench
from simulated_bench.server import MAX_UNREAD_REPLY_BYTES, serve
from simhelpers import read_reply_line

SWITCH, MAGNET = "GPIB0::16::INSTR", "GPIB0::6::INSTR"


def _connect(server, address: str, timeout_s: float = 2.0, rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:      # a small client buffer: a client that never reads stalls in ms, not MB
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout_s)
    sock.connect(("127.0.0.1", server.ports[address]))
    return sock


def _query(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\n")
    return read_reply_line(sock)


@pytest.fixture
def server():
    with serve(SimulatedBench.from_config(None), stall_timeout_s=0.5) as handle:
        yield handle


def test_an_oversized_block_header_is_refused_at_once_and_the_stream_resyncs(server):
    sock = _connect(server, SWITCH)
    try:
        # declares 999 999 999 bytes: was skipped byte by byte, so *IDN? was never answered
        sock.sendall(b":ROUT:MULT:CLOS #9999999999\n")
        assert b"2750" in _query(sock, b"*IDN?")
        assert _query(sock, b"SYST:ERR?").startswith(b"-363,")
        assert _query(sock, b"SYST:ERR?").startswith(b"0,")
    finally:
        sock.close()


def _latency_s(sock: socket.socket, n: int = 30) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert b"BOP" in _query(sock, b"*IDN?")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_a_client_that_never_reads_is_paused_bounded_and_dropped(server):
    other = _connect(server, MAGNET)
    flooder = _connect(server, SWITCH, rcvbuf=4096)
    flooder.setblocking(False)
    try:
        quiet_s = _latency_s(other)
        chunk, sent = b"*IDN?\n" * 2000, 0
        deadline = time.monotonic() + 0.3      # under stall_timeout_s
        while time.monotonic() < deadline:
            try:
                sent += flooder.send(chunk)   # until the kernel buffers are full
            except BlockingIOError:
                time.sleep(0.001)
        assert sent > 100_000                  # it did flood
        busy_s = _latency_s(other)
        held = server.buffered_bytes()
        # the flooder's replies wait in the kernel, not in the server: one reply past the cap
        assert held < MAX_UNREAD_REPLY_BYTES + 300 * 1024, held
        assert busy_s < max(5 * quiet_s, 0.005), (quiet_s, busy_s)
        deadline = time.monotonic() + 5.0
        while server.clients_dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.clients_dropped == 1       # paused past stall_timeout_s: closed
        assert b"BOP" in _query(other, b"*IDN?")  # the others go on
    finally:
        flooder.close()
        other.close()
