"""Both ways to reach the simulated bench frame every message alike: one message sequence
(an arbitrary-waveform upload with and without a terminator, blocks holding newlines and
';', quoted strings, compound commands, garbage, malformed blocks) gives identical replies
and instrument state in process (pyvisa + SimulatedVisaLibrary) and over ``hil serve``'s
server (pyvisa-py, TCPIP SOCKET on 127.0.0.1). No simulated instrument sends a binary
reply; test_sim_framing checks that one would go out byte for byte."""

from __future__ import annotations

import numpy as np
import pyvisa
import pytest

from simulated_bench.bench import SimulatedBench
from simulated_bench.framing import encode_block
from simulated_bench.server import serve
from simulated_bench.visa import SimulatedVisaLibrary

PULSE, SWITCH = "GPIB0::10::INSTR", "GPIB0::16::INSTR"
#: int16 values whose big-endian bytes hold \n, ';', ',', '#', '"' and \r
WAVEFORM = np.array([10, 59, 44, 291, 34, -8191, 8191, 13, 3362, 2571], dtype=">i2")


def errors(resource) -> list[str]:
    found = []
    while not (reply := resource.query("SYST:ERR?")).startswith("0,"):
        found.append(reply)
    return found


def exchange(generator, matrix) -> list:
    """The message sequence; returns every reply and error queue, in order."""
    log = [generator.query("*IDN?"), matrix.query("*IDN?")]
    generator.write_binary_values(":DATA1:DAC VOLATILE,", WAVEFORM, datatype="h",
                                  is_big_endian=True, termination="")   # EOI ends it
    log.append(errors(generator))
    generator.write_binary_values(":DATA2:DAC VOLATILE,", WAVEFORM[::-1], datatype="h",
                                  is_big_endian=True)                   # \n ends it
    log.append(errors(generator))
    block = encode_block(WAVEFORM.tobytes())
    generator.write_raw(b":DATA1:DAC VOLATILE," + block + b";:DATA:COPY ARB1,VOLATILE\n")
    log.append(errors(generator))
    log.append(generator.query(":VOLT1:HIGH 0.5;:VOLT1:HIGH?;:VOLT1:LOW?"))
    log.append(matrix.query('DIAG:TEXT "a;#13b;c";*IDN?'))              # quotes hide ; and #
    log.append(errors(matrix))
    matrix.write_raw(b"ROUT:CLOS (@1101)\tX\n")                          # a tab in an error
    matrix.write_raw(b"\xff\xfe not text\n")                             # garbage
    generator.write_raw(b":DATA1:DAC VOLATILE,#2ab\n")                   # malformed header
    generator.write_raw(b":DATA1:DAC VOLATILE,#13abc\n")                 # odd-length block
    log.append(errors(matrix))
    log.append(errors(generator))
    matrix.write("ROUT:MULT:CLOS (@1101,2101)")
    log.append(matrix.query("ROUT:CLOS?"))
    log.append(errors(matrix))
    return log


def run_in_process(bench):
    rm = pyvisa.ResourceManager(SimulatedVisaLibrary(bench))
    return _run(rm, PULSE, SWITCH)


def run_over_server(bench):
    with serve(bench) as server:
        rm = pyvisa.ResourceManager("@py")
        try:
            return _run(rm, server.addresses[PULSE], server.addresses[SWITCH])
        finally:
            rm.close()


def _run(rm, pulse, switch):
    opened = [rm.open_resource(name, read_termination="\n", write_termination="\n",
                               timeout=5000) for name in (pulse, switch)]
    try:
        return exchange(*opened)
    finally:
        for resource in opened:
            resource.close()


def state(bench):
    generator = bench.instruments[PULSE]
    return ([None if ch.volatile is None else list(ch.volatile)
             for ch in (generator.channels[1], generator.channels[2])],
            sorted(bench.instruments[SWITCH].closed_channels()),
            generator.received[-3:], bench.instruments[SWITCH].received[-3:])


def test_both_transports_give_identical_replies_and_state():
    pytest.importorskip("pyvisa_py")
    local, remote = SimulatedBench.from_config(None), SimulatedBench.from_config(None)
    in_process, over_tcp = run_in_process(local), run_over_server(remote)
    assert in_process == over_tcp
    assert state(local) == state(remote)
    # and the sequence did what it says
    generator = local.instruments[PULSE]
    assert list(generator.channels[1].volatile) == list(WAVEFORM)
    assert list(generator.channels[2].volatile) == list(WAVEFORM[::-1])
    assert in_process[2:5] == [[], [], []]                      # three uploads, no error
    assert in_process[5] == "+5.000000000E-01;-5.000000000E-02"
    assert in_process[6].startswith("KEITHLEY") and in_process[7] == [
        '-113,"Undefined header; DIAG:TEXT "a;#13b;c""']
    codes = [int(e.split(",")[0]) for e in in_process[8]]
    assert codes == [-224, -101] and "\\t" in in_process[8][0]   # the tab, escaped
    malformed, odd = in_process[9]
    assert malformed.startswith("-161,") and "'#2ab' is malformed" in malformed
    assert odd.startswith("-161,") and "3 bytes is odd" in odd
    assert in_process[10:] == ["(@1101,2101)", []]
