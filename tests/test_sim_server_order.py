"""Message order across instruments over ``hil serve`` (issue 11, part 1).

A user's script as they would write it: pyvisa-py with its default TCP options (Nagle on),
no ``*OPC?`` and no ``*WAI`` between ``*TRG`` on the 81160A and ``:READ?`` on the 2450. Over
the server it must give the readings it gives in process, run after run: the server's query
barrier (simulated_bench/server.py, docs/serve.md) runs every write a client sent before a
query, on any socket, before that query.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
import pyvisa

from simulated_bench.bench import SimulatedBench
from simulated_bench.server import QUERY_BARRIER_MAX_S, serve
from simulated_bench.visa import SimulatedVisaLibrary
from simhelpers import read_reply_line

pytest.importorskip("pyvisa_py")

GEN, SMU, SWITCH, MAGNET = "GPIB0::10::INSTR", "GPIB0::18::INSTR", "GPIB0::16::INSTR", "GPIB0::6::INSTR"
READ_CURRENT_A = 1e-5
#: chip1/M0 (card 2, column 01): a 20 ns pulse at this level switches part of its domains,
#: at random (the bench seed's stream), so every reading depends on what ran before it
LEVEL_V = 0.13
PULSES = 6
RUNS = 20
OPTIONS = dict(read_termination="\n", write_termination="\n", timeout=5000)


def pulse_and_read(open_resource) -> list:
    """Set up, then alternate +/- pulses and readings; readings and error queues."""
    switch, magnet, smu, gen = (open_resource(a) for a in (SWITCH, MAGNET, SMU, GEN))
    switch.write(":ROUT:MULT:CLOS (@2101,2201)")
    for command in ("FUNC:MODE CURR", "VOLT 36", "CURR 2", "OUTP 1"):
        magnet.write(command)
    magnet.query("*OPC?")                         # the field has settled (Kepco ramp)
    for command in (":SOUR:FUNC CURR", f":SOUR:CURR {READ_CURRENT_A}", ":SOUR:CURR:VLIM 2",
                    ':SENS:FUNC "VOLT"', ":SENS:VOLT:NPLC 0.01", ":OUTP ON"):
        smu.write(command)
    for command in (":FUNC1 PULS", ":OUTP1:LOAD 50", ":VOLT1:LOW 0", f":VOLT1:HIGH {LEVEL_V}",
                    ":PULS:PER1 1e-6", ":PULS:WIDT1 20e-9", ":BURS1:STAT ON", ":BURS1:NCYC 1",
                    ":ARM:SOUR1 MAN", ":OUTP1 ON"):
        gen.write(command)
    readings = []
    for k in range(PULSES):
        if k % 2:
            gen.write(f":OUTP1 OFF;:OUTP1:POL INV;:VOLT1:LOW -{LEVEL_V};:VOLT1:HIGH 0;:OUTP1 ON")
        else:
            gen.write(f":OUTP1 OFF;:OUTP1:POL NORM;:VOLT1:HIGH {LEVEL_V};:VOLT1:LOW 0;:OUTP1 ON")
        gen.write("*TRG")
        readings.append(smu.query(":READ?"))
    return readings + [smu.query("SYST:ERR?"), gen.query("SYST:ERR?")]


def outcome(bench: SimulatedBench, replies: list):
    pulses = [(p.time_s, p.device, float(p.current_A)) for p in bench.pulse_log]
    return replies, pulses, bench.clock.now_s


def in_process():
    bench = SimulatedBench.from_config(None)
    rm = pyvisa.ResourceManager(SimulatedVisaLibrary(bench))
    return outcome(bench, pulse_and_read(lambda a: rm.open_resource(a, **OPTIONS)))


def over_server():
    bench = SimulatedBench.from_config(None)
    with serve(bench) as server:
        rm = pyvisa.ResourceManager("@py")
        try:
            replies = pulse_and_read(lambda a: rm.open_resource(server.addresses[a], **OPTIONS))
        finally:
            rm.close()
        with server.lock:
            return outcome(bench, replies)


def test_the_same_script_reads_the_same_over_the_server_as_in_process():
    reference = in_process()
    replies, pulses, _ = reference
    # the script does what it says: +pulses raise the Hall reading, -pulses lower it, part way
    ohm = np.array([float(r) for r in replies[:PULSES]]) / READ_CURRENT_A
    assert np.all(ohm[0::2] > ohm[1::2] + 0.5)
    assert replies[PULSES:] == ['0,"No error"', '0,"No error"']
    assert len(pulses) == PULSES
    mismatched = [run for run in range(RUNS) if over_server() != reference]
    assert mismatched == []


def raw(port: int) -> socket.socket:
    """A plain socket with the default options (Nagle on), as a careless client opens it."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def readline(sock: socket.socket) -> str:
    return read_reply_line(sock).decode().strip()


def test_an_error_query_on_a_second_session_sees_the_bad_write_just_before():
    bench = SimulatedBench.from_config(None)
    with serve(bench) as server:
        rm = pyvisa.ResourceManager("@py")
        try:
            writer = rm.open_resource(server.addresses[SMU], **OPTIONS)
            checker = rm.open_resource(server.addresses[SMU], **OPTIONS)
            seen = []
            for k in range(RUNS):
                checker.write(f":SOUR:CURR {k + 1}e-6")       # the checker's socket is ready
                writer.write(f":SOUR:BOGUS{k} 1")             # first; then the bad write
                seen.append((checker.query("SYST:ERR?"), checker.query("SYST:ERR?")))
        finally:
            rm.close()
    for k, (error, after) in enumerate(seen):
        assert error.startswith("-113,") and f":SOUR:BOGUS{k} 1" in error, (k, error)
        assert after == '0,"No error"', (k, after)


def test_data_that_came_with_a_late_accepted_connection_runs_after_earlier_data():
    """The server was busy while a client connected, wrote on an open socket, then wrote on
    the new one: the new socket's data runs last (the listener was ready first, its data
    was not)."""
    bench = SimulatedBench.from_config(None)
    with serve(bench) as server:
        port = server.ports[SMU]
        busy, first = raw(port), raw(port)
        time.sleep(0.05)                              # both accepted
        with server.lock:                             # the loop blocks on busy's message
            busy.sendall(b":SOUR:CURR 0\n")
            time.sleep(0.05)
            late = raw(port)                          # not accepted while the loop waits
            first.sendall(b":SOUR:CURR 1e-6\n")
            time.sleep(0.01)
            late.sendall(b":SOUR:CURR 2e-6\n")        # sent last
            time.sleep(0.05)
        first.sendall(b":SOUR:CURR?\n")
        assert float(readline(first)) == pytest.approx(2e-6)
        for sock in (busy, first, late):
            sock.close()


def test_a_busy_neighbour_delays_a_query_by_the_barrier_bound_at_most():
    """Another client writing without pause cannot hold a query longer than the bound."""
    bench = SimulatedBench.from_config(None)
    with serve(bench) as server:
        flooder, client = raw(server.ports[SWITCH]), raw(server.ports[SMU])
        stop = threading.Event()

        def flood():
            while not stop.is_set():
                flooder.sendall(b"*CLS\n")
                time.sleep(0.0005)

        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        try:
            time.sleep(0.02)
            t0 = time.perf_counter()
            for _ in range(10):
                client.sendall(b"*IDN?\n")
                assert readline(client).startswith("KEITHLEY")
            elapsed_s = time.perf_counter() - t0
        finally:
            stop.set()
            thread.join()
        assert server.barrier_waits >= 1               # it did wait for the neighbour ...
        assert server.barrier_wait_s < server.barrier_waits * 2 * QUERY_BARRIER_MAX_S
        assert elapsed_s < 10 * QUERY_BARRIER_MAX_S + 1.5   # ... within the bound (CI slack)
        for sock in (flooder, client):
            sock.close()
