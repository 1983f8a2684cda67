"""Kepco BOP 36-12 magnet supply: setpoints, modes, errors, and the current ramp of an
inductive load on the virtual clock; the unmodified pymeasure driver over the server."""

from __future__ import annotations

import pytest
from pymeasure.instruments.kepco import KepcoBOP3612

from simulated_bench.server import serve

from simhelpers import MAGNET, bench_with


@pytest.fixture
def bench():
    return bench_with()


@pytest.fixture
def magnet(bench):
    return bench.instruments[MAGNET]


def number(reply: str) -> float:
    return float(reply)


def test_identity_self_tests_and_reset_state(magnet):
    assert magnet.handle("*IDN?").startswith("KEPCO,BOP 36-12")
    assert magnet.handle("*TST?") == "0"
    assert magnet.handle("DIAG:TST?") == "0"
    assert magnet.handle("OUTP?") == "0"
    assert magnet.handle("FUNC:MODE?") == "0"          # 0 = VOLT after power-on / *RST
    assert number(magnet.handle("MEAS:CURR?")) == 0.0


def test_setpoints_outside_the_bop_range_are_refused(magnet):
    magnet.handle("CURR 3")
    magnet.handle("CURR 12.5")
    magnet.handle("VOLT -37")
    magnet.handle("FUNC:MODE AMPS")
    replies = [magnet.handle("SYST:ERR?") for _ in range(4)]
    assert replies[0].startswith("-222,") and "12.5 A" in replies[0] and "12 A" in replies[0]
    assert replies[1].startswith("-222,") and "-37 V" in replies[1]
    assert replies[2].startswith("-224,")
    assert replies[3].startswith("0,")
    assert number(magnet.handle("CURR?")) == 3.0       # the refused value changed nothing


def test_current_ramps_on_the_virtual_clock(magnet, bench):
    slew = magnet.slew_A_per_s
    magnet.handle("FUNC:MODE CURR;VOLT 36;CURR 5")
    magnet.handle("OUTP ON")
    t0 = bench.clock.now_s
    assert number(magnet.handle("MEAS:CURR?")) == 0.0  # no time passed yet
    bench.clock.advance(0.1)
    now = number(magnet.handle("MEAS:CURR?"))
    assert now == pytest.approx(slew * 0.1)            # in between: 1 A of 5 A
    # while ramping the coil needs L dI/dt on top of R I
    volts = number(magnet.handle("MEAS:VOLT?"))
    assert volts == pytest.approx(magnet.coil_resistance_ohm * now
                                  + magnet.coil_inductance_H * slew)
    # the field the devices feel follows the same ramp
    assert bench.field_T() == pytest.approx(now * bench.config.wiring.magnet_T_per_A)
    bench.clock.advance_to(t0 + 5 / slew + 1e-6)
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(5.0)
    assert number(magnet.handle("MEAS:VOLT?")) == pytest.approx(5.0 * magnet.coil_resistance_ohm)
    # reversing the field ramps through zero
    magnet.handle("CURR -5")
    bench.clock.advance(0.5 / slew * 10)               # 0.5 s: 5 A of the 10 A swing
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(0.0, abs=1e-9)
    bench.clock.advance(1.0)
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(-5.0)


def test_opc_waits_for_the_ramp(magnet, bench):
    magnet.handle("FUNC:MODE CURR;VOLT 36;CURR 2;OUTP 1")
    assert magnet.handle("*OPC?") == "1"
    assert bench.clock.now_s == pytest.approx(2 / magnet.slew_A_per_s)
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(2.0)


def test_voltage_compliance_limits_the_current(magnet, bench):
    r = magnet.coil_resistance_ohm
    magnet.handle("FUNC:MODE CURR;VOLT 3;CURR 10;OUTP 1")
    bench.clock.advance(5)
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(3 / r)


def test_voltage_mode_drives_v_over_r_limited_by_the_current_setpoint(magnet, bench):
    r = magnet.coil_resistance_ohm
    magnet.handle("FUNC:MODE VOLT;CURR 12;VOLT 6;OUTP 1")
    bench.clock.advance(5)
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(6 / r)
    magnet.handle("CURR 1")
    bench.clock.advance(5)
    assert number(magnet.handle("MEAS:CURR?")) == pytest.approx(1.0)


def test_output_off_reads_zero_and_removes_the_field(magnet, bench):
    magnet.handle("FUNC:MODE CURR;VOLT 36;CURR 4;OUTP 1")
    bench.clock.advance(1)
    assert bench.field_T() > 0
    magnet.handle("OUTP OFF")
    assert magnet.output_current_A() == 0.0
    assert bench.field_T() == 0.0
    magnet.handle("OUTP ON")                            # ramps again from zero
    assert magnet.output_current_A() == 0.0


def test_slew_is_configurable(magnet, bench):
    magnet.slew_A_per_s = 2.0
    magnet.handle("FUNC:MODE CURR;VOLT 36;CURR 4;OUTP 1")
    bench.clock.advance(1)
    assert magnet.output_current_A() == pytest.approx(2.0)


def test_pymeasure_driver_over_the_server(bench):
    with serve(bench) as server:
        bop = KepcoBOP3612(server.addresses[MAGNET], visa_library="@py", timeout=5000)
        try:
            assert bop.id.startswith("KEPCO")
            assert int(bop.confidence_test) == 0
            bop.operating_mode = "CURR"
            assert bop.operating_mode == "CURR"
            bop.voltage_setpoint = 30
            bop.current_setpoint = 6
            bop.output_enabled = True
            first = bop.current
            second = bop.current
            # each bus transaction lets a little virtual time pass: the current is ramping
            assert 0 < first < second < 6
            bop.wait_to_continue()                      # *WAI: the bus waits for the ramp
            assert bop.current == pytest.approx(6.0)
            assert bop.voltage == pytest.approx(6.0 * bench.instruments[MAGNET].coil_resistance_ohm)
            assert bop.current_setpoint == 6.0
            bop.beep()
            assert bop.check_errors() == []
            bop.output_enabled = False
            assert bop.current == 0.0
        finally:
            bop.adapter.close()


def test_pymeasure_driver_in_process():
    from simulated_bench.visa import SimulatedVisaLibrary

    lib = SimulatedVisaLibrary(bench_with())
    bop = KepcoBOP3612(MAGNET, visa_library=lib)
    bop.operating_mode = "CURR"
    bop.voltage_setpoint = 36
    bop.current_setpoint = -4
    bop.output_enabled = True
    t0 = lib.virtual_time_s
    midway = bop.current
    assert -4 < midway < 0                               # ramping on the virtual clock
    bop.wait_to_continue()
    assert bop.current == pytest.approx(-4.0)
    assert lib.virtual_time_s - t0 == pytest.approx(0.4, abs=0.02)
    assert lib.bench.field_T() == pytest.approx(-4 * lib.bench.config.wiring.magnet_T_per_A)
    assert bop.check_errors() == []
