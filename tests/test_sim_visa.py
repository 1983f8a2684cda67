"""SimulatedVisaLibrary as pyvisa sees it: resources, I/O semantics, timing, faults."""

from __future__ import annotations

import numpy as np
import pytest
import pyvisa
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError
from pymeasure.instruments.keithley import Keithley2450

from simulated_bench.bench import SimulatedBench
from simulated_bench.clock import BUS_BYTE_S, BUS_QUERY_S
from simulated_bench.faults import FaultKind
from simulated_bench.visa import SimulatedVisaLibrary

GEN = "GPIB0::10::INSTR"
SMU = "GPIB0::18::INSTR"
DEFAULT_ADDRESSES = {"GPIB0::10::INSTR", "GPIB0::18::INSTR", "GPIB0::24::INSTR",
                     "GPIB0::16::INSTR", "GPIB0::6::INSTR"}


def open_raw(lib, address, **kwargs):
    kwargs.setdefault("read_termination", "\n")
    kwargs.setdefault("write_termination", "\n")
    return pyvisa.ResourceManager(lib).open_resource(address, **kwargs)


def test_resource_manager_lists_the_bench():
    lib = SimulatedVisaLibrary()
    rm = pyvisa.ResourceManager(lib)
    assert set(rm.list_resources()) == DEFAULT_ADDRESSES
    assert rm.list_resources("GPIB0::1?::INSTR") == ("GPIB0::10::INSTR", "GPIB0::18::INSTR",
                                                      "GPIB0::16::INSTR")
    assert "2450" in open_raw(lib, "GPIB::18::INSTR").query("*IDN?")


def test_unknown_address_raises_pyvisas_error_naming_the_bench():
    lib = SimulatedVisaLibrary()
    with pytest.raises(VisaIOError) as info:
        open_raw(lib, "GPIB0::22::INSTR")
    assert info.value.error_code == StatusCode.error_resource_not_found
    assert "GPIB0::18::INSTR" in str(info.value) and "GPIB0::22::INSTR" in str(info.value)
    with pytest.raises(VisaIOError):
        Keithley2450("GPIB0::22::INSTR", visa_library=lib)


def test_each_library_is_its_own_bench():
    a, b = SimulatedVisaLibrary(), SimulatedVisaLibrary()
    assert a.bench is not b.bench
    open_raw(a, SMU).write("OUTP ON")
    assert open_raw(b, SMU).query("OUTP?").strip() == "0"
    bench = SimulatedBench.from_config(None)
    assert SimulatedVisaLibrary(bench).bench is bench


def test_read_without_a_query_times_out_on_the_virtual_clock():
    lib = SimulatedVisaLibrary()
    smu = open_raw(lib, SMU, timeout=500)
    t0 = lib.virtual_time_s
    with pytest.raises(VisaIOError) as info:
        smu.read()
    assert info.value.error_code == StatusCode.error_timeout
    assert lib.virtual_time_s - t0 == pytest.approx(0.5)


def test_unread_reply_is_lost_with_query_interrupted():
    lib = SimulatedVisaLibrary()
    smu = open_raw(lib, SMU)
    smu.write("*IDN?")
    smu.write("*IDN?")
    assert "2450" in smu.read()
    assert smu.query("SYST:ERR?").startswith("-410")


def test_query_costs_bus_time_and_counts_transactions():
    lib = SimulatedVisaLibrary()
    smu = open_raw(lib, SMU)
    t0, n0 = lib.virtual_time_s, lib.transactions
    reply = smu.query("*OPC?")
    sent = len("*OPC?\n") + len(reply) + 1           # + the reply's termination
    assert lib.virtual_time_s - t0 == pytest.approx(BUS_QUERY_S + sent * BUS_BYTE_S + 50e-6)
    assert lib.transactions - n0 == 2
    assert lib.transactions_by_address[SMU] == lib.transactions


def test_binary_blocks_survive_any_byte():
    lib = SimulatedVisaLibrary()
    gen = open_raw(lib, GEN)
    values = [10, 59, 44, 2560, -8191, 8191, 32, 13]     # bytes \n ; , and blanks inside
    gen.write_binary_values(":DATA1:DAC VOLATILE,", values, datatype="h", is_big_endian=True)
    assert gen.query("SYST:ERR?").startswith("0")
    np.testing.assert_array_equal(lib.bench.instruments[GEN].channels[1].volatile, values)


def test_bus_trigger_and_serial_poll():
    lib = SimulatedVisaLibrary()
    gen = open_raw(lib, GEN)
    gen.write("FUNC1 PULS;:OUTP1 ON;:ARM:SOUR1 MAN;:VOLT1:HIGH 0.5;:VOLT1:LOW 0")
    gen.assert_trigger()
    assert gen.query("*OPC?").strip() == "1"
    assert len(lib.bench.instruments[GEN].fired) == 1
    gen.write("NOT:A:COMMAND")
    assert gen.read_stb() & 0x04                      # error available
    assert gen.query("SYST:ERR?").startswith("-113")
    assert gen.read_stb() == 0


def test_late_reply_times_out_and_arrives_on_the_next_read():
    lib = SimulatedVisaLibrary()
    smu = open_raw(lib, SMU, timeout=1000)
    # autozero off: a reading is one 20 ms integration (1 PLC at 50 Hz) plus the 2450's
    # per-reading overhead (with autozero on, three integrations: 100 readings ~6 s)
    smu.write('OUTP ON;:SENS:FUNC "VOLT";:SENS:VOLT:NPLC 1;:SENS:VOLT:AZER OFF;'
              ':TRIG:LOAD "SimpleLoop", 100, 0')
    smu.write(":INIT;*WAI;:TRAC:ACT?")                # 100 x ~20 ms = ~2 s > 1 s timeout
    with pytest.raises(VisaIOError) as info:
        smu.read()
    assert info.value.error_code == StatusCode.error_timeout
    assert "late" in str(info.value)
    assert smu.read().strip() == "100"
    smu.timeout = 5000
    assert smu.query(":TRAC:CLE;:INIT;*WAI;:TRAC:ACT?").strip() == "100"


def test_device_clear_drops_a_pending_reply():
    lib = SimulatedVisaLibrary()
    smu = open_raw(lib, SMU, timeout=100)
    smu.write("*IDN?")
    smu.clear()
    with pytest.raises(VisaIOError):
        smu.read()


def test_fault_rates_and_retry_safety():
    """20 % faults, four kinds equally likely: counts within 4 sigma of the binomial mean;
    a query that faulted (other than garbled) never ran, so ``:READ?`` stored exactly the
    readings of the clean and garbled replies."""
    rate, trials = 0.2, 2000
    lib = SimulatedVisaLibrary(fault_rate=rate, fault_seed=7)
    rm = pyvisa.ResourceManager(lib)
    smu = rm.open_resource(SMU, read_termination="\n", write_termination="\n", timeout=100)
    smu.write('OUTP ON;:SENS:VOLT:NPLC 0.01;:TRAC:POIN 100000')
    timeouts = lost = garbled = clean = 0
    for _ in range(trials):
        try:
            reply = smu.query(":READ?")
        except VisaIOError as exc:
            if exc.error_code == StatusCode.error_connection_lost:
                lost += 1
                with pytest.raises(VisaIOError):
                    smu.write("*CLS")               # the session stays dead ...
                smu.close()
                smu = rm.open_resource(SMU, read_termination="\n", write_termination="\n",
                                       timeout=100)  # ... until it is opened again
            else:
                assert exc.error_code == StatusCode.error_timeout
                timeouts += 1                        # plain timeouts and refused commands
            continue
        try:
            float(reply)
            clean += 1
        except ValueError:
            garbled += 1
    counts = lib.faults.counts
    assert lost == counts[FaultKind.CONNECTION_LOST]
    assert garbled == counts[FaultKind.GARBLED]
    assert timeouts == counts[FaultKind.TIMEOUT] + counts[FaultKind.INSTRUMENT_ERROR]
    expected, sigma = trials * rate, np.sqrt(trials * rate * (1 - rate))
    assert abs(sum(counts.values()) - expected) < 4 * sigma
    per_kind = trials * rate / 4
    for kind in FaultKind:
        assert abs(counts[kind] - per_kind) < 4 * np.sqrt(per_kind), kind
    lib.faults.rate = 0.0
    # refused commands left their errors (a full queue keeps 9 and ends in -350) ...
    errors = [smu.query("SYST:ERR?") for _ in range(11)]
    refused = sum(e.startswith(("-200", "-363")) for e in errors)
    assert refused >= min(9, counts[FaultKind.INSTRUMENT_ERROR])
    # ... and only the clean and garbled :READ? ran: no reading lost, none taken twice
    assert int(smu.query(":TRAC:ACT?")) == clean + garbled


def test_fault_weights_pick_the_kind():
    lib = SimulatedVisaLibrary(fault_rate=1.0, fault_seed=1,
                               fault_weights={FaultKind.GARBLED: 1.0})
    smu = open_raw(lib, SMU)
    replies = [smu.query("*IDN?") for _ in range(20)]
    assert all(any(c in r for c in "@#$%&!~^") for r in replies)
    assert lib.faults.counts[FaultKind.GARBLED] == 20


def test_any_dac_block_arrives_intact():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    lib = SimulatedVisaLibrary()
    gen = open_raw(lib, GEN)
    channel = lib.bench.instruments[GEN].channels[1]

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(-8191, 8191), min_size=2, max_size=300))
    def check(values):
        gen.write_binary_values(":DATA1:DAC VOLATILE,", values, datatype="h",
                                is_big_endian=True)
        gen.write("*OPC")
        np.testing.assert_array_equal(channel.volatile, values)

    check()
    assert gen.query("SYST:ERR?").startswith("0")


def test_large_blocks_are_logged_abbreviated():
    lib = SimulatedVisaLibrary()
    gen = open_raw(lib, GEN)
    values = np.arange(-5000, 5000)
    gen.write_binary_values(":DATA1:DAC VOLATILE,", values, datatype="h", is_big_endian=True)
    assert gen.query("SYST:ERR?").startswith("0")
    received = lib.bench.instruments[GEN].received
    logged = next(m for m in received if m.startswith(":DATA1:DAC"))
    assert len(logged) < 200 and logged.endswith("bytes of block>")
    np.testing.assert_array_equal(lib.bench.instruments[GEN].channels[1].volatile, values)
