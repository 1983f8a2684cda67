"""The simulated Keysight 81160A through the unmodified pymeasure driver and pyvisa.

Everything goes over the VISA library (``SimulatedVisaLibrary``): SCPI in, SCPI out. The
bench's own records (pulse log, damage log, device truth) are only *read* to check what
happened to the devices.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.instruments.keithley import Keithley2450
from pymeasure.instruments.keysight import Keysight81160A

from simulated_bench.visa import SimulatedVisaLibrary

from simhelpers import GEN, SMU, connect_device

READ_CURRENT_A = 10e-6


@pytest.fixture
def lib():
    return SimulatedVisaLibrary()


@pytest.fixture
def gen(lib):
    generator = Keysight81160A(GEN, visa_library=lib)
    generator.reset()
    return generator


def hall_ohm(smu) -> float:
    return smu.voltage / READ_CURRENT_A


def read_smu(lib):
    smu = Keithley2450(SMU, visa_library=lib)
    smu.reset()
    smu.apply_current(compliance_voltage=1.0)
    smu.measure_voltage(nplc=1)
    smu.source_current = READ_CURRENT_A
    smu.enable_source()
    return smu


def pulse_setup(gen, high_V: float, width_s: float = 100e-9, cycles: int = 1):
    ch = gen.ch_1
    ch.shape = "PULS"
    ch.output_load = 50
    ch.pulse_period = 1e-6
    ch.pulse_width = width_s
    if high_V >= 0:
        ch.voltage_high = high_V                 # high first: the amplitude never hits 0
        ch.voltage_low = 0.0
        gen.write(":OUTP1:POL NORM")
    else:
        ch.voltage_low = high_V                  # low first: the amplitude never hits 0
        ch.voltage_high = 0.0
        gen.write(":OUTP1:POL INV")
    ch.trigger_mode = "MAN"
    ch.trigger_count = cycles
    ch.output = True
    assert gen.check_errors() == []


def test_idn_reset_and_power_on_state(gen):
    assert "81160A" in gen.id
    assert gen.ch_1.shape == "SIN"
    assert gen.ch_1.output is False
    assert gen.ch_1.output_load == pytest.approx(50.0)
    assert gen.check_errors() == []


def test_garbage_gives_undefined_header(gen):
    gen.write("GARBAGE:HEADER 12")
    code, message = gen.next_error
    assert code == -113 and "Undefined header" in message
    assert gen.next_error[0] == 0


def test_out_of_range_levels_are_refused_and_unchanged(gen):
    ch = gen.ch_1
    ch.amplitude = 1.0
    gen.write(":VOLT1 7.5")                    # over 5 Vpp into 50 ohm (pymeasure would refuse)
    code, message = gen.next_error
    assert code == -222 and "5 Vpp" in message
    assert ch.amplitude == pytest.approx(1.0)
    # into a high-impedance load setting the same generator reaches ~10 Vpp
    ch.output_load = 1e6
    gen.write(":VOLT1 7.5")
    assert gen.check_errors() == []
    assert ch.amplitude == pytest.approx(7.5)
    gen.write(":VOLT1:LIM:HIGH 2;:VOLT1:LIM:LOW -2;:VOLT1:LIM:STAT ON")
    assert gen.next_error[0] == -221          # present levels +-3.75 V are outside the limits
    ch.amplitude = 1.0
    ch.limit_state_enabled = True
    gen.write(":VOLT1:HIGH 3")
    assert gen.next_error[0] == -221
    assert ch.voltage_high == pytest.approx(0.5)


def test_pulse_timing_settings_round_trip(gen):
    ch = gen.ch_1
    ch.shape = "PULS"
    ch.pulse_period = 2e-6
    ch.pulse_width = 50e-9
    ch.pulse_transition = 2e-9
    ch.burst_ncycles = 5
    ch.burst_mode = "TRIG"
    ch.trigger_mode = "EXT"
    assert ch.shape == "PULS"
    assert ch.pulse_period == pytest.approx(2e-6)
    assert ch.frequency == pytest.approx(5e5)
    assert ch.pulse_width == pytest.approx(50e-9)
    assert ch.pulse_transition == pytest.approx(2e-9)
    assert ch.burst_ncycles == 5
    assert ch.trigger_mode == "EXT"
    gen.write(":PULS:WIDT1 3e-6")              # wider than the period
    assert gen.next_error[0] == -221
    gen.write(":PULS:WIDT1 1e-10")             # under the 1.5 ns minimum
    assert gen.next_error[0] == -222
    assert ch.pulse_width == pytest.approx(50e-9)


def test_burst_on_trigger_switches_device_both_ways(lib, gen):
    connect_device(lib, slot=3, column=1)       # chip1/L0
    smu = read_smu(lib)
    chip, idx = lib.bench.device("L0")
    offset = chip.r_offset_ohm[idx]
    pulse_setup(gen, high_V=1.5, cycles=3)
    gen.trigger()
    assert hall_ohm(smu) - offset > 0.5
    fired = lib.bench.instruments[GEN].fired
    assert len(fired) == 3
    assert fired[0][1] == pytest.approx(3.0)    # 1.5 V into the 50 ohm setting = 3 V EMF
    assert fired[1][0] - fired[0][0] == pytest.approx(1e-6)
    pulse_setup(gen, high_V=-1.5, cycles=3)
    gen.trigger()
    assert hall_ohm(smu) - offset < -0.5
    assert lib.bench.damaged_devices() == []


def test_output_off_or_untriggered_sends_nothing(lib, gen):
    connect_device(lib, slot=3, column=1)
    pulse_setup(gen, high_V=1.5, cycles=2)
    gen.ch_1.output = False
    gen.trigger()
    gen.ch_1.output = True
    gen.ch_1.trigger_mode = "EXT"               # waits for the external input, not *TRG
    gen.trigger()
    assert lib.bench.pulse_log == []


def test_large_amplitude_destroys_the_device_visibly(lib, gen):
    connect_device(lib, slot=3, column=1)
    smu = read_smu(lib)
    pulse_setup(gen, high_V=4.5)
    gen.trigger()
    assert lib.bench.damaged_devices() == ["chip1/L0"]
    assert "electromigration" in lib.bench.chip.damage_log[0].cause
    assert smu.voltage == pytest.approx(1.0)    # an open line: the SMU sits at compliance


def test_load_setting_sets_the_emf(lib, gen):
    connect_device(lib, slot=3, column=1)
    pulse_setup(gen, high_V=1.0)
    gen.ch_1.output_load = 1e6                   # levels are into the load: ~1 V EMF for high Z
    gen.trigger()
    fired = lib.bench.instruments[GEN].fired
    assert fired[-1][1] == pytest.approx(1.0 * (1e6 + 50) / 1e6)


def test_arbitrary_waveform_plays_runs_as_pulses(lib, gen):
    connect_device(lib, slot=3, column=1)
    ch = gen.ch_1
    waveform = np.zeros(100)
    waveform[10:15] = -1.0                       # 5 samples negative
    waveform[40:42] = 1.0                        # 2 samples positive
    ch.waveform_volatile = waveform
    ch.shape = "USER"
    gen.write(":FUNC1:USER VOLATILE")
    ch.output_load = 50
    ch.frequency = 1e5                           # 10 us per waveform, 100 ns per sample
    ch.amplitude = 2.0                           # +-1 V at full scale
    ch.offset = 0
    ch.trigger_mode = "MAN"
    ch.trigger_count = 2
    ch.output = True
    assert gen.check_errors() == []
    t0 = lib.virtual_time_s
    gen.write("*TRG")
    assert gen.complete == "1"                    # *OPC? waits for the playback
    assert lib.virtual_time_s >= t0 + 2 * 10e-6
    fired = lib.bench.instruments[GEN].fired
    assert [round(f[1], 6) for f in fired] == [-2.0, 2.0, -2.0, 2.0]
    assert [f[2] for f in fired] == pytest.approx([500e-9, 200e-9] * 2)
    starts = np.array([f[0] for f in fired]) - fired[0][0]
    assert starts == pytest.approx([0, 3e-6, 10e-6, 13e-6])


def test_arbitrary_waveform_out_of_dac_range_is_refused(gen):
    ch = gen.ch_1
    ch.waveform_volatile = [0.0, 1.0, 0.5]
    assert gen.check_errors() == []
    # pymeasure scales by the maximum, so a larger negative swing leaves the DAC range
    ch.waveform_volatile = [0.0, -2.0, 1.0]
    code, message = gen.next_error
    assert code == -222 and "8191" in message


def test_long_burst_advances_the_clock_to_its_end(lib, gen):
    pulse_setup(gen, high_V=0.5, cycles=1000)
    gen.ch_1.pulse_period = 1e-3
    t0 = lib.virtual_time_s
    gen.trigger()                                 # *TRG;*WAI: the bus is held for the burst
    assert lib.virtual_time_s >= t0 + 1.0


def test_apply_pulse_turns_the_output_on(gen):
    gen.ch_1.apply_pulse(1e5, 1.0, 0.5)
    assert gen.ch_1.shape == "PULS"
    assert gen.ch_1.output is True
    assert gen.ch_1.voltage_high == pytest.approx(1.0)
    assert gen.check_errors() == []


def test_burst_state_follows_the_instrument_not_pymeasures_mapping(gen):
    """pymeasure 0.16 maps ``burst_state`` through a list ([True, False]), so ``True`` is sent
    as ``:BURS1:STAT 0`` (burst OFF on a real 81160A). The simulator does what the
    instrument does; ``trigger_count`` (``:TRIG1:COUN n``) is the reliable way to arm a burst."""
    ch = gen.ch_1
    ch.burst_state = True
    assert gen.ask(":BURS1:STAT?").strip() == "0"
    ch.trigger_count = 4
    assert gen.ask(":BURS1:STAT?").strip() == "1"
    assert ch.burst_ncycles == 4
    ch.trigger_count = 1
    assert gen.ask(":BURS1:STAT?").strip() == "0"
    gen.write(":BURS1:STAT ON;:BURS1:NCYC 7")
    assert gen.ask(":BURS1:STAT?;:BURS1:NCYC?").strip() == "1;7"


def test_a_destructive_idle_level_destroys_the_device(lib, gen):
    """Switching to INV polarity with the output on and a large HIGH level leaves that level
    on the line between pulses: the small bar burns without any trigger."""
    connect_device(lib, slot=1, column=1)        # chip1/S0 (0.5 V pulse limit)
    ch = gen.ch_1
    ch.shape = "PULS"
    ch.voltage_high = 1.0
    ch.voltage_low = 0.0
    ch.trigger_mode = "MAN"
    ch.output = True                              # idle = low = 0 V: harmless
    assert lib.bench.damaged_devices() == []
    gen.write(":OUTP1:POL INV")                   # idle = high = 1 V (2 V EMF)
    assert lib.bench.damaged_devices() == ["chip1/S0"]
    assert lib.bench.pulse_log[-1].width_s == 0.0


def test_apply_dc_outputs_the_offset(lib, gen):
    connect_device(lib, slot=3, column=1)
    gen.ch_1.apply_dc(0.2)
    assert gen.ch_1.shape == "DC" and gen.ch_1.offset == pytest.approx(0.2)
    assert gen.check_errors() == []
    assert lib.bench.damaged_devices() == []
