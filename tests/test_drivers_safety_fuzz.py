"""Safety fuzz (hypothesis): >= 1000 random parameter sets, in and out of the limits, through
every role and Bench operation that can drive a device. Not one out-of-limit command may
reach a simulated instrument (checked in each instrument's ``received`` list), not one pulse
over a limit may reach a device (``bench.pulse_log``), no device may be damaged, and a
refused operation sends nothing at all."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.bench import Bench
from devices.benchfile import load_bench_file
from drivers.limits import LimitViolation, max_pulse_level_V, tightest
from simulated_bench.visa import SimulatedVisaLibrary

CONFIG = load_bench_file()
R_SOURCE = CONFIG.wiring.source_impedance_ohm
SIZES = sorted(CONFIG.limits)
TIGHTEST = tightest(CONFIG.limits.values())
DEVICES = [d.name for d in CONFIG.devices()]
PULSE, READ, AUX, MAGNET = (CONFIG.address_of(r) for r in ("pulse", "read_smu", "aux_smu", "magnet"))
TOL = 1 + 1e-6

_state: dict = {}


def bench_and_sim():
    """One bench for the whole module (opening one per example would dominate the run)."""
    if "bench" not in _state:
        lib = SimulatedVisaLibrary()
        bench = Bench.open(visa_library=lib)
        bench.__enter__()
        _state.update(bench=bench, sim=lib.bench)
    return _state["bench"], _state["sim"]


@pytest.fixture(scope="module", autouse=True)
def _close_bench():
    yield
    if "bench" in _state:
        _state["bench"].__exit__(None, None, None)
        assert _state["sim"].damaged_devices() == []


def level_factor():
    # mostly around the edge of the limit, some far outside, some special values
    return st.one_of(st.floats(-1.6, 1.6), st.sampled_from([0.0, 1.0, -1.0, 1.0000001, 3.0]),
                     st.floats(allow_nan=True, allow_infinity=True, width=32))


widths = st.one_of(st.floats(1e-9, 3e-6), st.sampled_from([1.5e-9, 1e-6, 1.000001e-6, 1.4e-9]))

operations = st.one_of(
    st.tuples(st.just("trial"), st.sampled_from(DEVICES), level_factor(), widths,
              st.floats(-1.6, 1.6)),
    st.tuples(st.just("trials"), st.sampled_from(DEVICES),
              st.lists(level_factor(), min_size=1, max_size=3),
              st.one_of(st.floats(20e-9, 3e-6), st.sampled_from([1e-9, 2e-6])),
              st.integers(1, 2), st.floats(-1.6, 1.6), st.floats(-3.0, 3.0)),
    st.tuples(st.just("read"), st.sampled_from(DEVICES), st.floats(-3.0, 3.0)),
    st.tuples(st.just("smu"), st.sampled_from(DEVICES), st.floats(-3.0, 3.0),
              st.floats(-1.0, 5.0)),
    st.tuples(st.just("aux"), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
    st.tuples(st.just("field"), level_factor()),
)


def run(bench, op) -> None:
    kind = op[0]
    if kind == "trial":
        _, device, factor, width, reset = op
        top = max_pulse_level_V(CONFIG.limits_for(device), R_SOURCE)
        bench.trial(device, factor * top, width, reset_V=-abs(reset) * top)
    elif kind == "trials":
        _, device, factors, width, repeats, reset, current = op
        limits = CONFIG.limits_for(device)
        top = max_pulse_level_V(limits, R_SOURCE)
        bench.trials(device, [f * top for f in factors], width, repeats=repeats,
                     reset_V=-abs(reset) * top or -top / 2,
                     read_current_A=current * limits.max_read_current_A)
    elif kind == "read":
        _, device, current = op
        bench.read_resistance(device, current * CONFIG.limits_for(device).max_read_current_A)
    elif kind == "smu":
        _, device, current, compliance = op
        bench.select(device)
        bench.read.source_current(current * CONFIG.limits_for(device).max_read_current_A,
                                  compliance)
        bench.read.enable()
        bench.read.measure()
    elif kind == "aux":
        _, voltage, compliance = op
        bench.aux.source_voltage(voltage, compliance * TIGHTEST.max_read_current_A)
    elif kind == "field":
        bench.field.set_field(op[1] * TIGHTEST.max_field_T)


def _numbers(messages, pattern):
    out = []
    for message in messages:
        for unit in message.split(";"):
            m = re.fullmatch(pattern, unit.strip(), flags=re.IGNORECASE)
            if m:
                out.append(float(next(g for g in m.groups() if g is not None)))
    return out


def check_commands(sim, before, limits):
    """Every value-carrying command that arrived since ``before`` is within ``limits``."""
    new = {a: [m if isinstance(m, str) else "" for m in i.received[before[a]:]]
           for a, i in sim.instruments.items()}
    top = max_pulse_level_V(limits, R_SOURCE) * TOL
    for v in _numbers(new[PULSE], r":VOLT1:(?:HIGH|LOW) (\S+)"):
        assert abs(v) <= top, v
    for vpp in _numbers(new[PULSE], r":VOLT1 (\S+)"):
        assert vpp / 2 <= max(top, 0.05 * TOL), vpp
    for w in _numbers(new[PULSE], r":PULS:WIDT1 (\S+)"):
        assert limits.min_pulse_width_s <= w <= limits.max_pulse_width_s * TOL, w
    for smu in (READ, AUX):
        for i in _numbers(new[smu], r":SOUR(?:CE)?:CURR(?:ENT)?(?::LEV)? (\S+)"):
            assert abs(i) <= limits.max_read_current_A * TOL, i
        for v in _numbers(new[smu], r":SOUR:CURR:VLIM (\S+)|:SENSE:VOLTAGE:PROTECTION (\S+)"):
            assert 0 < v <= limits.max_compliance_V * TOL, v
        for i in _numbers(new[smu], r":SOUR:VOLT:ILIM (\S+)|:SENSE:CURRENT:PROTECTION (\S+)"):
            assert 0 < i <= limits.max_read_current_A * TOL, i
        for v in _numbers(new[smu], r":SOUR(?:CE)?:VOLT(?:AGE)?(?::LEV)? (\S+)"):
            assert abs(v) <= limits.max_compliance_V * TOL, v
    for i in _numbers(new[MAGNET], r"CURRent (\S+)"):
        assert abs(i) * CONFIG.wiring.magnet_T_per_A <= TIGHTEST.max_field_T * TOL, i
    return new


def check_pulses_at_devices(sim, start):
    for record in sim.pulse_log[start:]:
        limits = CONFIG.limits_for(record.device)
        density = abs(record.current_A) / limits.line_cross_section_m2
        assert density <= limits.max_current_density_A_m2 * TOL, record
        assert abs(record.voltage_V) <= limits.max_pulse_voltage_V * TOL, record
        assert limits.min_pulse_width_s / TOL <= record.width_s <= limits.max_pulse_width_s * TOL, record


def _re_compile_patterns():  # keep the regexes honest about the 2450's short forms
    assert _numbers([":SOUR:CURR:LEV 5e-06"], r":SOUR(?:CE)?:CURR(?:ENT)?(?::LEV)? (\S+)") == [5e-6]


counts = {"refused": 0, "ran": 0}


@settings(max_examples=1000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(op=operations)
def test_no_out_of_limit_command_reaches_an_instrument(op):
    bench, sim = bench_and_sim()
    before = {a: len(i.received) for a, i in sim.instruments.items()}
    pulses_before = len(sim.pulse_log)
    device = op[1] if op[0] in ("trial", "trials", "read", "smu") else None
    limits = CONFIG.limits_for(device) if device else TIGHTEST
    try:
        run(bench, op)
    except (LimitViolation, ValueError) as exc:
        counts["refused"] += 1
        new = {a: i.received[before[a]:] for a, i in sim.instruments.items()}
        refused_before_sending = isinstance(exc, LimitViolation) or "nothing was sent" in str(exc).lower()
        if refused_before_sending and op[0] != "smu":
            assert not any(new.values()), (op, exc, new)
    else:
        counts["ran"] += 1
    check_commands(sim, before, limits if op[0] != "aux" else TIGHTEST)
    check_pulses_at_devices(sim, pulses_before)
    assert sim.damaged_devices() == []


def test_the_fuzz_exercised_both_sides_of_the_limits():
    _re_compile_patterns()
    assert counts["refused"] >= 100 and counts["ran"] >= 100, counts
