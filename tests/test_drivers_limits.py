"""Safety limits: every check refuses (never clips) and says what, how much, and what to do."""

from __future__ import annotations

import math

import pytest

from devices.benchfile import load_bench_file
from drivers.limits import (
    LimitViolation,
    check_compliance_V,
    check_field,
    check_pulse,
    check_read_current,
    check_source_voltage,
    emf_V,
    max_pulse_level_V,
    tightest,
    worst_case_current_A,
)
from drivers.roles import FieldSource, PulseSource, SourceMeter, SwitchMatrix

BENCH = load_bench_file()
S, M, L = (BENCH.limits[k] for k in "SML")
R_SRC = BENCH.wiring.source_impedance_ohm


def test_emf_of_a_high_z_load_is_the_level_and_of_a_matched_load_twice():
    assert emf_V(1.0, 50.0, 1e6) == pytest.approx(1.0, rel=1e-4)
    assert emf_V(1.0, 50.0, 50.0) == pytest.approx(2.0)


@pytest.mark.parametrize("limits", [S, M, L])
def test_max_pulse_level_is_the_edge_of_both_limits(limits):
    top = max_pulse_level_V(limits, R_SRC)
    check_pulse(top, 10e-9, limits, R_SRC)
    check_pulse(-top, 10e-9, limits, R_SRC)
    with pytest.raises(LimitViolation):
        check_pulse(top * 1.001, 10e-9, limits, R_SRC)
    density = worst_case_current_A(top, limits, R_SRC) / limits.line_cross_section_m2
    assert density <= limits.max_current_density_A_m2 * (1 + 1e-12)
    assert top <= limits.max_pulse_voltage_V


def test_a_50_ohm_load_setting_doubles_the_emf_and_is_accounted_for():
    top_high_z = max_pulse_level_V(M, R_SRC, 1e6)
    top_matched = max_pulse_level_V(M, R_SRC, 50.0)
    assert top_matched == pytest.approx(top_high_z / 2, rel=1e-3)
    with pytest.raises(LimitViolation):
        check_pulse(top_high_z, 10e-9, M, R_SRC, load_ohm=50.0)


def test_violation_message_names_limit_value_ceiling_and_advice():
    with pytest.raises(LimitViolation) as info:
        check_pulse(2.0, 10e-9, M, R_SRC, device="chip1/M3")
    message = str(info.value)
    assert "chip1/M3" in message and "nothing was sent" in message
    assert info.value.limit in ("max_pulse_voltage_V", "max_current_density_A_m2")
    assert info.value.value > info.value.ceiling
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("width_s, limit", [(2e-6, "max_pulse_width_s"),
                                            (1e-9, "min_pulse_width_s"),
                                            (math.inf, "pulse width"),
                                            (math.nan, "pulse width")])
def test_width_out_of_range(width_s, limit):
    with pytest.raises(LimitViolation, match=limit):
        check_pulse(0.1, width_s, M, R_SRC)


def test_smu_and_field_checks():
    check_read_current(-S.max_read_current_A, S)
    with pytest.raises(LimitViolation, match="max_read_current_A"):
        check_read_current(S.max_read_current_A * 1.01, S)
    check_compliance_V(S.max_compliance_V, S)
    for bad in (0.0, -1.0, S.max_compliance_V + 0.1):
        with pytest.raises(LimitViolation, match="max_compliance_V"):
            check_compliance_V(bad, S)
    with pytest.raises(LimitViolation, match="max_compliance_V"):
        check_source_voltage(3.0, 1e-6, S)
    with pytest.raises(LimitViolation, match="max_read_current_A"):
        check_source_voltage(0.01, 1.0, S)
    check_field(-0.06, 0.06)
    with pytest.raises(LimitViolation, match="max_field_T"):
        check_field(0.07, 0.06)
    with pytest.raises(LimitViolation):
        check_pulse("big", 1e-8, S, R_SRC)


def test_tightest_is_safe_for_every_size():
    t = tightest([S, M, L])
    for limits in (S, M, L):
        assert max_pulse_level_V(t, R_SRC) <= max_pulse_level_V(limits, R_SRC) + 1e-12
        assert t.max_read_current_A <= limits.max_read_current_A


def test_role_protocols_are_runtime_checkable():
    class Nothing:
        pass
    for proto in (PulseSource, SourceMeter, SwitchMatrix, FieldSource):
        assert not isinstance(Nothing(), proto)
