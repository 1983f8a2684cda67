"""The simulated Keithley 2450 through the unmodified pymeasure driver and pyvisa, including
the buffered trigger model (SimpleLoop) with the trigger link to the 81160A."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import pyvisa
from pymeasure.instruments.keithley import Keithley2450
from pymeasure.instruments.keysight import Keysight81160A

from devices.benchfile import default_bench_text
from simulated_bench.clock import BUS_QUERY_S
from simulated_bench.visa import SimulatedVisaLibrary

from simhelpers import GEN, MAGNET, SMU, connect_device, raw

READ_CURRENT_A = 10e-6


@pytest.fixture
def lib():
    return SimulatedVisaLibrary()


@pytest.fixture
def smu(lib):
    instrument = Keithley2450(SMU, visa_library=lib, timeout=60_000)
    instrument.reset()
    return instrument


def source_read_current(smu, nplc: float = 1.0) -> None:
    smu.apply_current(compliance_voltage=1.0)
    smu.measure_voltage(nplc=nplc)
    smu.source_current = READ_CURRENT_A
    smu.enable_source()


def test_idn_reset_and_error_queue(smu):
    assert "2450" in smu.id
    assert smu.source_mode == "voltage"
    assert smu.source_enabled is False
    smu.write(":SOUR:BOGUS 1")
    code, message = smu.next_error
    assert code == -113 and "Undefined header" in message
    assert smu.check_errors() == []


def test_out_of_range_compliance_is_refused(smu):
    smu.apply_current(compliance_voltage=2.0)
    smu.write(":SOUR:CURR:VLIM 500")            # pymeasure clips; a raw write does not
    assert smu.next_error[0] == -222
    assert smu.compliance_voltage == pytest.approx(2.0)
    smu.write(":SENS:VOLT:NPLC 20")
    assert smu.next_error[0] == -222


def test_source_setup_round_trips(smu):
    smu.apply_current(current_range=1e-3, compliance_voltage=0.5)
    smu.source_current = 20e-6
    assert smu.source_mode == "current"
    assert smu.source_current == pytest.approx(20e-6)
    assert smu.source_current_range == pytest.approx(1e-3)
    assert smu.compliance_voltage == pytest.approx(0.5)
    smu.measure_voltage(nplc=0.1, voltage=2.0, auto_range=False)
    assert smu.voltage_nplc == pytest.approx(0.1)
    assert smu.voltage_range == pytest.approx(2.0)
    assert smu.check_errors() == []


def test_measures_the_hall_voltage_of_the_connected_device(lib, smu):
    connect_device(lib, slot=2, column=3)       # chip1/M2
    source_read_current(smu)
    chip, idx = lib.bench.device("M2")
    expected = READ_CURRENT_A * (chip.r_offset_ohm[idx] - chip.r_ahe_ohm[idx])   # starts down
    assert smu.voltage == pytest.approx(expected, rel=0.02)
    smu.measure_resistance(nplc=1)
    assert smu.resistance == pytest.approx(expected / READ_CURRENT_A, rel=0.02)


def test_output_off_means_no_current(lib, smu):
    connect_device(lib, slot=2, column=3)
    source_read_current(smu)
    smu.disable_source()
    assert smu.source_enabled is False
    assert smu.voltage == 0.0
    smu.measure_current()
    assert smu.current == 0.0


def test_open_terminals_hit_compliance(lib, smu):
    source_read_current(smu)                     # nothing closed on the read row
    assert smu.voltage == pytest.approx(1.0)
    assert smu.ask(":SOUR:CURR:VLIM:TRIP?").strip() == "1"


def test_reading_takes_nplc_on_the_virtual_clock(lib, smu, monkeypatch):
    # this test's arithmetic is the integration alone (test_datasheet_reading_time
    # covers the datasheet overhead and autozero)
    monkeypatch.setattr(type(lib.bench.instruments[SMU]), "DATASHEET_TIMING", False)
    source_read_current(smu, nplc=1.0)
    t0 = lib.virtual_time_s
    smu.voltage
    elapsed = lib.virtual_time_s - t0
    assert elapsed == pytest.approx(1.0 / 50 + BUS_QUERY_S, rel=0.05)
    smu.measure_voltage(nplc=10)
    t0 = lib.virtual_time_s
    smu.voltage
    assert lib.virtual_time_s - t0 == pytest.approx(0.2 + BUS_QUERY_S, rel=0.05)


def test_datasheet_reading_time(lib, smu, monkeypatch):
    """2450 datasheet: ~3000 readings/s at NPLC 0.01 with autozero off, i.e. ~0.167 ms of
    overhead per reading beyond the aperture; autozero (on after *RST) adds a reference and
    a zero integration to each reading."""
    overhead_s = 1 / 3000 - 0.01 / 60
    source_read_current(smu, nplc=1.0)
    t0 = lib.virtual_time_s
    smu.voltage
    elapsed = lib.virtual_time_s - t0
    assert elapsed == pytest.approx(3 * 1.0 / 50 + overhead_s + BUS_QUERY_S, rel=0.02)
    smu.write(":SENS:VOLT:AZER OFF")
    smu.measure_voltage(nplc=10)
    t0 = lib.virtual_time_s
    smu.voltage
    assert lib.virtual_time_s - t0 == pytest.approx(0.2 + overhead_s + BUS_QUERY_S, rel=0.02)
    smu.write(":SENS:VOLT:NPLC 0.01")
    smu.write(':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 3000, 0')
    t0 = lib.virtual_time_s
    smu.ask(":INIT;*OPC?")                         # 3000 readings at NPLC 0.01, autozero off
    assert lib.virtual_time_s - t0 == pytest.approx(3000 * (0.01 / 50 + overhead_s), rel=0.02)


def test_simple_loop_gives_n_readings_in_two_transactions(lib, smu, monkeypatch):
    # this test's arithmetic is the integration alone (test_datasheet_reading_time
    # covers the datasheet overhead and autozero)
    monkeypatch.setattr(type(lib.bench.instruments[SMU]), "DATASHEET_TIMING", False)
    connect_device(lib, slot=2, column=3)
    nplc, delay_s, n = 0.1, 1e-3, 50
    source_read_current(smu, nplc=nplc)
    smu.write(":TRAC:CLE;:TRAC:POIN %d" % n)
    smu.write(':TRIG:LOAD "SimpleLoop", %d, %g' % (n, delay_s))
    before, t0 = lib.transactions, lib.virtual_time_s
    values = smu.values(':INIT;*WAI;:TRAC:DATA? 1, %d, "defbuffer1", READ, REL' % n)
    assert lib.transactions - before == 2
    readings, rel_s = np.array(values[0::2]), np.array(values[1::2])
    t_meas = nplc / 50
    assert len(readings) == n
    assert rel_s == pytest.approx(np.arange(n) * (delay_s + t_meas))
    elapsed = lib.virtual_time_s - t0                # the model plus a few ms of bus time
    assert n * (delay_s + t_meas) < elapsed < n * (delay_s + t_meas) + 10e-3
    assert np.all(np.abs(readings) > 1e-6)
    assert int(smu.ask(":TRAC:ACT?")) == n
    # the 2450 answers one statistic of the readings (pymeasure's mean_voltage indexes [0] of
    # a list, which fails on a real 2450 and here alike)
    assert smu.means == pytest.approx(readings.mean())
    assert smu.check_errors() == []


def test_actual_counts_finished_readings_and_abort_stops(lib, smu):
    source_read_current(smu, nplc=1.0)
    smu.write(':TRAC:CLE;:TRIG:LOAD "SimpleLoop", 100, 0')
    smu.write(":INIT")
    early = int(smu.ask(":TRAC:ACT?"))
    assert early < 5                               # 20 ms per reading, ~ms of bus so far
    assert smu.ask(":TRIG:STAT?").startswith("RUNNING")
    smu.write(":ABOR")
    assert smu.ask(":TRIG:STAT?").startswith("IDLE")
    assert smu.complete == "1"
    stopped = int(smu.ask(":TRAC:ACT?"))
    assert stopped <= early + 1
    smu.write(":TRAC:DATA? 1, 100")
    with pytest.raises(pyvisa.errors.VisaIOError):
        smu.read()                                 # refused: no reply, -222 queued
    assert smu.next_error[0] == -222


def _alternating_trial_setup(lib, n_trials: int, delay_s: float, nplc: float):
    """Waveform of two trials: write up, read; write down, read. One cycle = 2 trials."""
    gen = Keysight81160A(GEN, visa_library=lib)
    gen.reset()
    t_trial = delay_s + nplc / 50
    points = 2000
    waveform = np.zeros(points)
    dt = 2 * t_trial / points
    width = int(round(1e-6 / dt)) or 1
    waveform[0:width] = 1.0                        # trial 0: + pulse at its start
    half = points // 2
    waveform[half:half + width] = -1.0             # trial 1: - pulse at its start
    ch = gen.ch_1
    ch.waveform_volatile = waveform
    ch.shape = "USER"
    gen.write(":FUNC1:USER VOLATILE")
    ch.output_load = 50
    ch.frequency = 1 / (2 * t_trial)
    ch.amplitude = 3.0                             # +-1.5 V into 50 ohm: +-3 V EMF
    ch.offset = 0
    ch.trigger_mode = "EXT"
    ch.trigger_count = n_trials // 2
    ch.output = True
    assert gen.check_errors() == []
    return gen


def test_trigger_link_runs_a_batched_trial_in_o1_transactions(lib, smu, monkeypatch):
    # this test's arithmetic is the integration alone (test_datasheet_reading_time
    # covers the datasheet overhead and autozero)
    monkeypatch.setattr(type(lib.bench.instruments[SMU]), "DATASHEET_TIMING", False)
    connect_device(lib, slot=3, column=2)         # chip1/L1: switches fully at 1.8 mA
    n, delay_s, nplc = 40, 0.5e-3, 0.01
    _alternating_trial_setup(lib, n, delay_s, nplc)
    source_read_current(smu, nplc=nplc)
    smu.write(':TRAC:CLE;:TRAC:POIN %d;:TRIG:LOAD "SimpleLoop", %d, %g' % (n, n, delay_s))
    before = lib.transactions
    values = np.array(smu.values(':INIT;*WAI;:TRAC:DATA? 1, %d, "defbuffer1", READ' % n))
    assert lib.transactions - before == 2
    chip, idx = lib.bench.device("L1")
    hall = values / READ_CURRENT_A - chip.r_offset_ohm[idx]
    assert np.all(hall[0::2] > 0.5) and np.all(hall[1::2] < -0.5)
    times = [p.time_s for p in lib.bench.pulse_log]
    assert len(times) == n
    assert lib.bench.damaged_devices() == []


def test_without_the_trigger_link_the_generator_waits(lib):
    data = tomllib.loads(default_bench_text())
    data["wiring"]["trigger_link"] = False
    unlinked = SimulatedVisaLibrary(data)
    connect_device(unlinked, slot=3, column=2)
    _alternating_trial_setup(unlinked, 4, 0.5e-3, 0.01)
    smu = Keithley2450(SMU, visa_library=unlinked, timeout=60_000)
    smu.reset()
    source_read_current(smu, nplc=0.01)
    smu.write(':TRIG:LOAD "SimpleLoop", 4, 0.5e-3')
    smu.values(':INIT;*WAI;:TRAC:DATA? 1, 4, "defbuffer1", READ')
    assert unlinked.bench.pulse_log == []


def test_pymeasure_buffer_helpers(lib, smu):
    source_read_current(smu, nplc=0.01)
    smu.write(':TRAC:POIN 10;:TRIG:LOAD "SimpleLoop", 10, 0')
    smu.start_buffer()
    smu.wait_for_buffer(timeout=5)                 # *STB? waits for the model, as an SRQ would
    data = smu.buffer_data
    assert len(data) == 10
    assert smu.check_errors() == []


def test_settings_after_reset_and_pymeasure_helpers(smu):
    smu.reset()
    smu.current_filter_state = "ON"
    smu.current_filter_count = 5
    smu.wires = 4
    smu.current_output_off_state = "HIMP"
    smu.use_rear_terminals()
    assert smu.current_filter_state == "ON"
    assert smu.current_filter_count == 5
    assert smu.wires == 4
    assert smu.current_output_off_state == "HIMP"
    smu.config_buffer(points=20)                   # KeithleyBuffer's 2400-era commands
    assert smu.buffer_points == 20
    assert smu.check_errors() == []


def test_wai_then_fetch_all_at_late_virtual_times(lib, smu):
    """*WAI ends exactly at the model's end: every reading counts, whatever the float
    rounding of t0 + k * T at large t0."""
    source_read_current(smu, nplc=0.01)
    raw(lib, MAGNET).write("*OPC")
    lib.bench.clock.advance(12345.678901)
    for n, delay_s in ((7, 1.1e-4), (13, 3.3e-5), (101, 0.0)):
        smu.write(':TRIG:LOAD "SimpleLoop", %d, %g' % (n, delay_s))
        values = smu.values(':TRAC:CLE;:INIT;*WAI;:TRAC:DATA? 1, %d, "defbuffer1", READ' % n)
        assert len(values) == n
