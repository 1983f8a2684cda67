"""Keithley 2400 (aux SMU) simulator: the unmodified pymeasure driver over the loopback
server, the wiring rule (matrix row ``wiring.aux_row``), compliance, buffer, errors, timing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from pymeasure.instruments.keithley import Keithley2400

from simulated_bench.server import serve

from simhelpers import AUX_SMU as SMU
from simhelpers import SWITCH, bench_with


@pytest.fixture
def bench():
    return bench_with()


@pytest.fixture
def smu(bench):
    return bench.instruments[SMU]


@pytest.fixture
def served(bench):
    """(bench, server, pymeasure Keithley2400) over pyvisa-py."""
    with serve(bench) as server:
        driver = Keithley2400(server.addresses[SMU], visa_library="@py",
                              read_termination="\n", write_termination="\n", timeout=5000)
        try:
            yield bench, server, driver
        finally:
            driver.adapter.close()


def route_aux_to(bench, device: str) -> None:
    address = bench.config.device(device)
    bench.instruments[SWITCH].handle(
        f":ROUT:MULT:CLOS (@{address.channel(bench.config.wiring.aux_row)})")


def test_default_bench_wires_the_2400_on_row_3(bench):
    assert bench.config.wiring.aux_row == 3


def test_pymeasure_sources_current_and_reads_the_hall_voltage(served):
    bench, server, smu = served
    assert "MODEL 2400" in smu.id
    with server.lock:
        route_aux_to(bench, "M2")
        chip, idx = bench.device("M2")
        expected_ohm = chip.r_offset_ohm[idx] + chip.r_ahe_ohm[idx] * chip.magnetization(idx)
    smu.source_mode = "current"
    smu.source_current = 10e-6
    smu.compliance_voltage = 1.0
    smu.current_nplc = 10
    smu.enable_source()
    assert smu.source_enabled is True
    volts = smu.voltage
    assert volts == pytest.approx(10e-6 * expected_ohm, rel=0.02)
    assert smu.current == pytest.approx(10e-6)
    assert smu.resistance == pytest.approx(expected_ohm, rel=0.02)
    everything = smu.measure_all()
    assert everything["status"] & 8 == 0                # not in compliance
    assert everything["resistance"] == pytest.approx(expected_ohm, rel=0.02)
    assert smu.check_errors() == []


def test_nothing_routed_means_open_terminals(served):
    bench, server, smu = served
    with server.lock:                                   # the read row does not reach the 2400
        bench.instruments[SWITCH].handle(":ROUT:MULT:CLOS (@1201)")
    smu.source_mode = "current"
    smu.source_current = 1e-6
    smu.compliance_voltage = 2.0
    smu.enable_source()
    reading = smu.measure_all()
    assert reading["voltage"] == pytest.approx(2.0)     # ran into compliance
    assert reading["current"] == pytest.approx(0.0, abs=1e-9)   # what really flows
    assert reading["status"] & 8                        # compliance bit
    smu.source_mode = "voltage"
    smu.source_voltage = 0.5
    smu.compliance_current = 1e-3
    open_A = [smu.current for _ in range(20)]           # a voltage source into nothing:
    assert all(c != 0.0 for c in open_A)                # the input's pA noise, never 0
    assert 0.5e-12 < np.std(open_A) < 5e-12             # 2 pA rms at NPLC 1


def test_voltage_source_into_a_device(served):
    bench, server, smu = served
    with server.lock:
        route_aux_to(bench, "L1")
        chip, idx = bench.device("L1")
        line_ohm = chip.write_path_resistance(idx)
    smu.source_mode = "voltage"
    smu.source_voltage = 0.05
    smu.compliance_current = 1e-3
    smu.enable_source()
    assert smu.current == pytest.approx(0.05 / line_ohm, rel=1e-3)
    smu.compliance_current = 1e-6                       # now the current limit holds
    reading = smu.measure_all()
    assert reading["current"] == pytest.approx(1e-6)
    assert reading["status"] & 8


def test_buffer_statistics_and_trigger_model(served):
    bench, server, smu = served
    with server.lock:
        route_aux_to(bench, "M0")
    smu.source_mode = "current"
    smu.source_current = 20e-6
    smu.compliance_voltage = 1.0
    smu.enable_source()
    smu.write(":SENS:FUNC 'VOLT','CURR','RES'")
    smu.config_buffer(points=20)
    assert smu.buffer_points == 20
    assert smu.trigger_count == 20
    t0 = bench.clock.now_s
    smu.start_buffer()
    smu.wait_for_buffer(timeout=10, interval=0.01)
    assert smu.is_buffer_full()
    data = smu.buffer_data.reshape(-1, 5)
    assert data.shape == (20, 5)
    assert np.all(np.diff(data[:, 3]) > 0)              # timestamps advance
    volts = data[:, 0]
    assert smu.mean_voltage == pytest.approx(volts.mean())
    assert smu.max_voltage == pytest.approx(volts.max())
    assert smu.min_voltage == pytest.approx(volts.min())
    assert smu.std_voltage == pytest.approx(volts.std(ddof=1))
    assert smu.mean_current == pytest.approx(20e-6)
    # 20 readings at 1 NPLC (20 ms at 50 Hz, doubled by auto-zero) took virtual time
    assert bench.clock.now_s - t0 > 20 * 2 * 0.02
    assert smu.check_errors() == []


def test_nplc_sets_the_reading_time(smu, bench):
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 1e-6;:OUTP ON;:SYST:AZER:STAT OFF")
    for nplc in (0.1, 1.0, 10.0):
        smu.handle(f":SENS:VOLT:NPLC {nplc}")
        t0 = bench.clock.now_s
        smu.handle(":READ?")
        assert bench.clock.now_s - t0 == pytest.approx(smu.reading_time_s())
        assert smu.reading_time_s() == pytest.approx(1e-3 + nplc / 50 + 0.4e-3)
    assert smu.handle(":SENS:CURR:NPLC?") == "+1.000000000E+01"   # one global NPLC


def test_read_with_output_off_is_an_error_and_no_reply(smu):
    assert smu.handle(":READ?") is None
    assert smu.handle("SYST:ERR?").startswith("803,")
    smu.handle(":SOUR:CLE:AUTO ON")                     # auto output-off: on for the reading
    assert smu.handle(":READ?") is not None
    assert smu.handle("OUTP?") == "0"


def test_out_of_range_settings(smu):
    for command in (":SOUR:CURR 2", ":SOUR:VOLT 300", ":SENS:CURR:NPLC 20",
                    ":SENS:VOLT:PROT 250", ":SOUR:FUNC OHMS", ":SENS:FUNC 'TEMP'",
                    ":SYST:BEEP 10, 0.1", ":FORM:ELEM VOLT, BANANA", ":BOGUS 1"):
        smu.handle(command)
    codes = []
    while not (reply := smu.handle("SYST:ERR?")).startswith("0,"):
        codes.append(int(reply.split(",")[0]))
    assert codes == [-222, -222, -222, -222, -224, -224, -222, -224, -113]
    assert smu.handle(":SOUR:CURR?") == "+0.000000000E+00"


def test_format_elements_and_unmeasured_values(smu, bench):
    route_aux_to(bench, "S3")
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 1e-6;:SENS:VOLT:PROT 1;:OUTP ON")
    smu.handle(":SENS:FUNC:OFF:ALL")
    values = [float(v) for v in smu.handle(":READ?").split(",")]
    assert len(values) == 5 and values[0] == 9.91e37 and values[2] == 9.91e37
    assert values[1] == pytest.approx(1e-6)             # the sourced value is always there
    smu.handle(":FORM:ELEM CURR, VOLT")                 # fixed order: V before I
    smu.handle(":SENS:FUNC 'VOLT'")
    values = [float(v) for v in smu.handle(":READ?").split(",")]
    assert len(values) == 2 and values[1] == pytest.approx(1e-6) and values[0] < 1e-3


def test_reset_turns_the_output_off(smu):
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 1e-3;:OUTP ON")
    smu.handle("*RST")
    assert smu.handle("OUTP?") == "0"
    assert smu.handle(":SOUR:FUNC?") == "VOLT"
    assert smu.handle(":SOUR:CURR?") == "+0.000000000E+00"


def test_a_strong_aux_current_breaks_a_small_bar(smu, bench):
    """The 2400 is a real source: 1 mA through a 60 nm bar electromigrates it."""
    route_aux_to(bench, "S0")
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 1e-3;:SENS:VOLT:PROT 20;:OUTP ON")
    smu.handle(":READ?")
    assert "chip1/S0" in bench.damaged_devices()
    smu.handle(":SOUR:CURR 1e-6")
    status = float(smu.handle(":READ?").split(",")[4])
    assert int(status) & 8                               # open line: compliance


def test_beep_display_and_misc_properties(served):
    bench, server, smu = served
    smu.beep(1000, 0.1)
    smu.display_enabled = False
    assert smu.display_enabled is False
    smu.wires = 4
    assert smu.wires == 4
    smu.auto_zero_enabled = False
    assert smu.auto_zero_enabled is False
    smu.line_frequency = 60
    assert smu.line_frequency == 60
    smu.front_terminals_enabled = False
    assert smu.front_terminals_enabled is False
    smu.trigger_on_bus()
    assert smu.arm_source == "bus"
    smu.sample_continuously()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        smu.measure_current(nplc=2)
    assert smu.current_nplc == 2
    assert smu.check_errors() == []
    smu.reset()
    assert not math.isnan(float(smu.ask("*OPC?")))


def test_pymeasure_driver_in_process():
    from simulated_bench.visa import SimulatedVisaLibrary

    lib = SimulatedVisaLibrary(bench_with())
    route_aux_to(lib.bench, "L5")
    chip, idx = lib.bench.device("L5")
    smu = Keithley2400(SMU, visa_library=lib)
    smu.source_mode = "current"
    smu.source_current = 50e-6
    smu.compliance_voltage = 2
    smu.enable_source()
    expected = chip.r_offset_ohm[idx] + chip.r_ahe_ohm[idx] * chip.magnetization(idx)
    assert smu.resistance == pytest.approx(expected, rel=0.02)
    smu.config_buffer(points=5)
    smu.start_buffer()
    smu.wait_for_buffer(timeout=10, interval=0.01)
    assert smu.buffer_data.size == 5 * 5
    assert smu.mean_current == pytest.approx(50e-6)
    assert smu.check_errors() == []
    smu.shutdown()
    assert smu.source_enabled is False


def test_bus_armed_acquisition_waits_for_trg(served):
    bench, server, smu = served
    with server.lock:
        route_aux_to(bench, "M1")
    smu.source_mode = "current"
    smu.source_current = 5e-6
    smu.enable_source()
    smu.config_buffer(points=3)
    smu.trigger_on_bus()
    smu.start_buffer()
    assert smu.ask("*OPC?") == "1"
    assert not smu.is_buffer_full()                      # armed, waiting for the bus trigger
    smu.trigger()
    smu.wait_for_buffer(timeout=10, interval=0.01)
    assert smu.buffer_data.size == 15
    smu.reset_trigger()                                  # :ABORt
    assert smu.check_errors() == []


def test_measure_range_of_the_sourced_quantity_follows_the_source_range(smu):
    """2400 manual (Range and compliance): the sourced function is measured on the source
    range, auto-ranged to the level or fixed by :SOUR:<f>:RANG."""
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 5e-6")
    assert float(smu.handle(":SENS:CURR:RANG?")) == pytest.approx(1.05e-5)
    smu.handle(":SOUR:CURR:RANG 1e-3")
    assert float(smu.handle(":SENS:CURR:RANG?")) == pytest.approx(1.05e-3)
    smu.handle(":SOUR:FUNC VOLT;:SOUR:VOLT 1.5")
    assert float(smu.handle(":SENS:VOLT:RANG?")) == pytest.approx(2.1)
    assert float(smu.handle(":SENS:CURR:RANG?")) == pytest.approx(1.05e-4)   # its own setting
