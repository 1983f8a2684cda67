"""Protocol tests: the exact command / reply exchange of every driver role (no instrument).

pymeasure's ``expected_protocol`` replays the listed (command, reply) pairs and fails on any
command that is not listed, out of order, or left over.
"""

from __future__ import annotations

import pytest
from pymeasure.instruments.keithley import Keithley2750
from pymeasure.instruments.kepco import KepcoBOP3612
from pymeasure.test import expected_protocol

from drivers.field import KepcoBOPField
from drivers.limits import LimitViolation
from drivers.roles import FieldSource, SwitchMatrix
from drivers.switch import Keithley2750Matrix, SwitchError


# ---------------------------------------------------------------- switch matrix
def test_switch_connect_opens_all_then_closes_both_crosspoints_in_one_command():
    seen = []
    with expected_protocol(Keithley2750, [
        (":ROUTe:OPEN:ALL", None),
        (":ROUTe:MULTiple:CLOSe (@1101,1201)", None),
        (":ROUTe:CLOSe?", "(@1101,1201)"),
    ]) as inst:
        matrix = Keithley2750Matrix(inst, on_change=seen.append)
        assert isinstance(matrix, SwitchMatrix)
        matrix.connect([1201, 1101])
    assert matrix.connected == frozenset({1101, 1201})
    assert seen == [None, frozenset({1101, 1201})]


def test_switch_disconnect_all_and_empty_list():
    with expected_protocol(Keithley2750, [
        (":ROUTe:OPEN:ALL", None),
        (":ROUTe:CLOSe?", "(@)"),          # output_off confirms
        (":ROUTe:CLOSe?", "(@)"),
    ]) as inst:
        matrix = Keithley2750Matrix(inst)
        matrix.output_off()
        assert matrix.closed_channels() == []
    assert matrix.connected == frozenset()


def test_switch_reports_a_crosspoint_that_did_not_close():
    with expected_protocol(Keithley2750, [
        (":ROUTe:OPEN:ALL", None),
        (":ROUTe:MULTiple:CLOSe (@4101,4201)", None),
        (":ROUTe:CLOSe?", "(@)"),
    ]) as inst:
        matrix = Keithley2750Matrix(inst)
        with pytest.raises(SwitchError, match="slot"):
            matrix.connect([4101, 4201])
    assert matrix.connected is None


def test_switch_refuses_a_non_srcc_channel_before_sending():
    with expected_protocol(Keithley2750, []) as inst:
        with pytest.raises(ValueError, match="SRCC"):
            Keithley2750Matrix(inst).connect([11])


# ---------------------------------------------------------------- field source
def test_field_sets_current_mode_current_output_and_waits_for_the_ramp():
    with expected_protocol(KepcoBOP3612, [
        ("FUNCtion:MODE CURR", None),
        ("VOLTage 20", None),
        ("CURRent 4", None),
        ("OUTPut 1", None),
        ("*OPC?", "1"),
        ("CURRent -2", None),
        ("*OPC?", "1"),
        ("CURRent 0", None),
        ("*OPC?", "1"),
        ("OUTPut 0", None),
        ("OUTPut?", "0"),
    ]) as inst:
        field = KepcoBOPField(inst, T_per_A=0.005, max_field_T=0.06)
        assert isinstance(field, FieldSource)
        field.set_field(0.02)
        assert field.field_T() == pytest.approx(0.02)
        field.set_field(-0.01)
        field.output_off()
    assert field.field_T() == 0.0


@pytest.mark.parametrize("field_T", [0.0601, -0.1, float("nan"), float("inf")])
def test_field_over_limit_sends_nothing(field_T):
    with expected_protocol(KepcoBOP3612, []) as inst:
        with pytest.raises(LimitViolation, match="max_field_T|bias field"):
            KepcoBOPField(inst, T_per_A=0.005, max_field_T=0.06).set_field(field_T)


def test_field_beyond_the_supply_range_is_refused_not_clipped():
    with expected_protocol(KepcoBOP3612, []) as inst:
        with pytest.raises(LimitViolation, match="supply current range.*magnet_T_per_A"):
            KepcoBOPField(inst, T_per_A=0.001, max_field_T=0.06).set_field(0.05)


# ---------------------------------------------------------------- source meters
from pymeasure.instruments.keithley import Keithley2400  # noqa: E402

from devices.benchfile import load_bench_file  # noqa: E402
from drivers.roles import BufferedSourceMeter, PulseSource, SourceMeter  # noqa: E402
from drivers.sourcemeter import (  # noqa: E402
    Keithley2400SourceMeter,
    Keithley2450Buffered,
    Keithley2450SourceMeter,
)

LIMITS = load_bench_file().limits          # S: 5 uA read, 2 V compliance; M: 30 uA


def test_2450_current_source_read_and_off():
    with expected_protocol(Keithley2450Buffered, [
        (":SOUR:FUNC CURR", None),
        (":SOUR:CURR:VLIM 2", None),
        (":SOUR:CURR:LEV 5e-06", None),
        # autozero off with the sense function: a reading is one integration (2450 manual:
        # autozero on adds a reference and a zero measurement per reading)
        (':SENS:FUNC "VOLT";:SENS:VOLT:AZER OFF', None),
        (":SENS:VOLT:NPLC 1", None),
        ("OUTPUT ON", None),
        (":READ?", "3.0e-05"),
        (":SOUR:CURR:LEV 0", None),
        ("OUTPUT OFF", None),
        ("OUTPUT?", "0"),
    ]) as inst:
        smu = Keithley2450SourceMeter(inst, LIMITS["S"], "chip1/S0")
        assert isinstance(smu, SourceMeter) and isinstance(smu, BufferedSourceMeter)
        smu.source_current(5e-6, 2.0)
        smu.enable()
        assert smu.resistance_ohm() == pytest.approx(6.0)
        smu.output_off()


def test_2450_buffered_simple_loop():
    with expected_protocol(Keithley2450Buffered, [
        (":TRAC:CLE", None),
        (":TRAC:POIN 100", None),
        (':TRIG:LOAD "SimpleLoop", 100, 0.001', None),
        (":INIT", None),
        ("*OPC?", "1"),
        (':TRAC:DATA? 1, 3, "defbuffer1", READ', "1e-05,2.5e-05,-1E-6"),
        (":TRAC:ACT?", "3"),
    ]) as inst:
        smu = Keithley2450SourceMeter(inst, LIMITS["S"])
        smu.start_buffered(100, 1e-3)
        smu.wait_buffered()
        assert smu.fetch_buffered(3) == [1e-5, 2.5e-5, -1e-6]
        assert inst.buffer_count == 3


def test_2450_garbled_buffer_is_detected():
    from drivers.faults import GarbledReply
    with expected_protocol(Keithley2450Buffered, [
        (':TRAC:DATA? 1, 3, "defbuffer1", READ', "1e-05,2@#-05,1E-6"),
    ]) as inst:
        with pytest.raises(GarbledReply):
            Keithley2450SourceMeter(inst, LIMITS["S"]).fetch_buffered(3)


@pytest.mark.parametrize("current_A, compliance_V, limit", [
    (5.1e-6, 1.0, "max_read_current_A"),
    (-6e-6, 1.0, "max_read_current_A"),
    (1e-6, 2.5, "max_compliance_V"),
    (1e-6, 0.0, "max_compliance_V"),
    (float("nan"), 1.0, "read current"),
])
def test_2450_out_of_limit_source_sends_nothing(current_A, compliance_V, limit):
    with expected_protocol(Keithley2450Buffered, []) as inst:
        with pytest.raises(LimitViolation, match=limit):
            Keithley2450SourceMeter(inst, LIMITS["S"], "chip1/S0").source_current(
                current_A, compliance_V)


def test_2450_voltage_source_for_line_resistance():
    with expected_protocol(Keithley2450Buffered, [
        (":SOUR:FUNC VOLT", None),
        (":SOUR:VOLT:ILIM 3e-05", None),
        (":SOUR:VOLT:LEV 0.01", None),
        (':SENS:FUNC "CURR"', None),
        (":SENS:CURR:NPLC 1", None),
        ("OUTPUT ON", None),
        (":READ?", "5e-6"),
        (":SOUR:VOLT:LEV 0", None),
        ("OUTPUT OFF", None),
        ("OUTPUT?", "0"),
    ]) as inst:
        smu = Keithley2450SourceMeter(inst, LIMITS["M"])
        smu.source_voltage(0.01, 30e-6)
        smu.enable()
        assert smu.resistance_ohm() == pytest.approx(2000.0)
        smu.output_off()


def test_2400_current_source_read_and_off():
    with expected_protocol(Keithley2400, [
        (":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS", None),
        (":SOURCE:FUNCTION CURR", None),
        (":SENSE:VOLTAGE:PROTECTION 1.5", None),
        (":SOURCE:CURRENT 1e-05", None),
        (":SENSE:FUNCTION 'VOLT'", None),
        (":SENSE:VOLTAGE:NPLCYCLES 1", None),
        ("OUTPUT 1", None),
        (":READ?", "0.05,1e-05,9.91e37,1.0,0"),
        (":SOURCE:CURRENT 0", None),
        ("OUTPUT 0", None),
        ("OUTPUT?", "0"),
    ]) as inst:
        smu = Keithley2400SourceMeter(inst, LIMITS["M"])
        smu.source_current(10e-6, 1.5)
        smu.enable()
        assert smu.measure() == (0.05, 1e-5)
        smu.output_off()


def test_smu_enable_before_configuration_is_refused():
    with expected_protocol(Keithley2450Buffered, []) as inst:
        with pytest.raises(RuntimeError, match="configure the source"):
            Keithley2450SourceMeter(inst, LIMITS["S"]).enable()


# ---------------------------------------------------------------- pulse source
import numpy as np  # noqa: E402

from drivers.pulse import Keysight81160APulser, Keysight81160APulseSource  # noqa: E402

SETUP_PULSE_MODE = [
    ("OUTP1 0", None),                       # output state unknown: off before the polarity
    (":OUTP1:LOAD 1.000000e+06", None),
    (":FUNC1 PULS", None),
    (":ARM:SOUR1 MAN", None),
    (":PULS:PER1 1.000000e-05", None),
    (":PULS:WIDT1 1.000000e-08", None),
]


def test_81160a_positive_then_negative_pulse_keeps_the_idle_level_at_zero():
    with expected_protocol(Keysight81160APulser, SETUP_PULSE_MODE + [
        (":OUTP1:POL NORM", None),
        (":VOLT1:HIGH 0.300000", None),
        (":VOLT1:LOW 0.000000", None),
        (":TRIG1:COUN 1", None),
        ("OUTP1 1", None),
        ("*TRG;*OPC?", "1"),
        ("OUTP1 0", None),                   # polarity change: output off first
        (":OUTP1:POL INV", None),
        (":VOLT1:LOW -0.250000", None),      # INV: the pulse level is the low level
        (":VOLT1:HIGH 0.000000", None),
        ("OUTP1 1", None),
        ("*TRG;*OPC?", "1"),
        (":VOLT1:LOW -0.200000", None),      # same polarity: only the levels
        (":VOLT1:HIGH 0.000000", None),
        ("*TRG;*OPC?", "1"),
        ("OUTP1 0", None),
        ("OUTP1?", "0"),                     # confirmed
        (":CHAN:MATH OFF", None),            # channel addition unknown on a fresh role
    ]) as inst:
        pulse = Keysight81160APulseSource(inst, LIMITS["M"], 50.0, device="chip1/M0")
        assert isinstance(pulse, PulseSource)
        pulse.pulse(0.3, 10e-9)
        pulse.pulse(-0.25, 10e-9)
        pulse.pulse(-0.2, 10e-9)
        pulse.output_off()


def test_81160a_level_below_pulse_mode_minimum_uses_a_one_pulse_waveform():
    dac = np.zeros(10, dtype=">i2")
    dac[0] = round(0.01 / (0.099996 / 2) * 8191)   # full scale: the minimum Vpp, rounded up
    block = b"#220" + dac.tobytes()
    with expected_protocol(Keysight81160APulser, [
        ("OUTP1 0", None),
        (":OUTP1:LOAD 1.000000e+06", None),
        (":OUTP1:POL NORM", None),
        (":ARM:SOUR1 MAN", None),
        (":FUNC1 USER", None),
        (":FUNC1:USER VOLATILE", None),
        (":VOLT1:OFFS 0.000000", None),      # levels before the data
        (":VOLT1 0.099996", None),
        (b":DATA1:DAC VOLATILE," + block + b"\n", None),  # block + terminator
        (":FREQ1 10000000.000000", None),
        (":TRIG1:COUN 1", None),
        ("OUTP1 1", None),
        ("*TRG;*OPC?", "1"),
    ]) as inst:
        Keysight81160APulseSource(inst, LIMITS["S"]).pulse(0.01, 10e-9)


def test_81160a_arbitrary_waveform_for_a_batch():
    with expected_protocol(Keysight81160APulser, [
        ("OUTP1 0", None),
        (":OUTP1:LOAD 1.000000e+06", None),
        (":OUTP1:POL NORM", None),
        (":ARM:SOUR1 EXT", None),            # played from the SMU's trigger link
        (":FUNC1 USER", None),
        (":FUNC1:USER VOLATILE", None),
        (":VOLT1:OFFS 0.000000", None),      # levels before the data
        (":VOLT1 0.400000", None),
        (b":DATA1:DAC VOLATILE,#212\x00\x00\xe0\x01\x00\x00\x10\x00\x00\x00\x00\x00\n", None),
        (":FREQ1 16666666.666667", None),
        (":TRIG1:COUN 3", None),
        ("OUTP1 1", None),
        ("*OPC?", "1"),
    ]) as inst:
        pulse = Keysight81160APulseSource(inst, LIMITS["M"])
        wave = pulse.build_waveform([0, -0.2, 0, 0.1, 0, 0], 10e-9)
        assert [round(level, 4) for _, level, _ in wave.pulses()] == [-0.2, 0.1]
        assert all(width <= 10e-9 for _, _, width in wave.pulses())
        pulse.load_waveform(wave, cycles=3)
        pulse.sync()


@pytest.mark.parametrize("amplitude_V, width_s, limit", [
    (0.6, 10e-9, "max_current_density_A_m2"),     # M: 2e11 A/m^2 x 2e-15 m^2 x 1450 ohm
    (-0.6, 10e-9, "max_current_density_A_m2"),
    (0.3, 2e-6, "max_pulse_width_s"),
    (0.3, 1e-9, "min_pulse_width_s"),
    (float("nan"), 10e-9, "pulse level"),
])
def test_81160a_out_of_limit_pulse_sends_nothing(amplitude_V, width_s, limit):
    with expected_protocol(Keysight81160APulser, []) as inst:
        pulse = Keysight81160APulseSource(inst, LIMITS["M"], device="chip1/M0")
        with pytest.raises(LimitViolation, match=limit):
            pulse.pulse(amplitude_V, width_s)
        with pytest.raises(LimitViolation):
            pulse.load_waveform(pulse.build_waveform([0, amplitude_V if amplitude_V == amplitude_V else 9.0, 0], width_s), 1)


def test_81160a_waveform_over_limit_sends_nothing_even_after_quantization():
    from drivers.limits import max_pulse_level_V
    top = max_pulse_level_V(LIMITS["S"], 50.0)
    with expected_protocol(Keysight81160APulser, []) as inst:
        pulse = Keysight81160APulseSource(inst, LIMITS["S"])
        wave = pulse.build_waveform([0, top * 1.0002, 0], 10e-9)
        with pytest.raises(LimitViolation):
            pulse.load_waveform(wave, 1)


def test_output_off_that_the_instrument_does_not_confirm_raises():
    with expected_protocol(Keithley2450Buffered, [
        ("OUTPUT OFF", None),
        ("OUTPUT?", "1"),
    ]) as inst:
        with pytest.raises(RuntimeError, match="still reports its output on"):
            Keithley2450SourceMeter(inst, LIMITS["S"]).output_off()


# ---------------------------------------------------------------- status queries (one each)
def test_every_role_reports_identity_and_output_state_in_one_query_each():
    idn = "MAKER,MODEL,123,1.0"
    with expected_protocol(Keysight81160APulser, [("*IDN?", idn), ("OUTP1?", "1")]) as inst:
        pulse = Keysight81160APulseSource(inst, LIMITS["S"])
        assert isinstance(pulse, PulseSource)
        assert pulse.identity() == idn and pulse.output_is_on() is True
    format_2400 = (":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS", None)
    for cls, role, setup in ((Keithley2450Buffered, Keithley2450SourceMeter, []),
                             (Keithley2400, Keithley2400SourceMeter, [format_2400])):
        with expected_protocol(cls, setup + [("*IDN?", idn), ("OUTPUT?", "0")]) as inst:
            smu = role(inst, LIMITS["S"])
            assert isinstance(smu, SourceMeter)
            assert smu.identity() == idn and smu.output_is_on() is False
    with expected_protocol(Keithley2750, [("*IDN?", idn), (":ROUTe:CLOSe?", "(@1101)")]) as inst:
        matrix = Keithley2750Matrix(inst)
        assert matrix.identity() == idn and matrix.closed_channels() == [1101]
    with expected_protocol(KepcoBOP3612, [("*IDN?", idn), ("OUTPut?", "1"),
                                          ("MEASure:CURRent?", "2.0")]) as inst:
        field = KepcoBOPField(inst, T_per_A=0.005, max_field_T=0.06)
        assert isinstance(field, FieldSource)
        assert field.identity() == idn and field.output_is_on() is True
        assert field.measured_field_T() == pytest.approx(0.010)


def test_an_output_state_that_is_not_a_number_is_a_garbled_reply():
    from drivers.faults import GarbledReply

    with expected_protocol(Keithley2450Buffered, [("OUTPUT?", "maybe")]) as inst:
        with pytest.raises(GarbledReply, match="OUTPUT\\? answered 'maybe'"):
            Keithley2450SourceMeter(inst, LIMITS["S"]).output_is_on()
