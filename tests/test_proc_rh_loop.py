"""R-H loops on the simulated bench: easy-axis (z magnet) square loops with a coercive field,
hard-axis (x magnet) domes with a fitted Hk, MTJ TMR levels, and the example bench files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from devices.benchfile import load_bench_file
from hil.benchinfo import describe_bench
from procedures.loops import RHLoopProcedure, RILoopProcedure, analyze_rh, hard_axis_model
from procedures.runner import run_procedure
from procedures.session import ParameterError, open_bench
from simulated_bench import physics
from simulated_bench.bench import SimulatedBench

BENCHES = Path(__file__).resolve().parents[1] / "examples" / "benches"
SOT_Z = BENCHES / "sot_z_magnet.toml"
MTJ = BENCHES / "mtj_chip.toml"


def rh_loop(bench_file, device, tmp_path, **params):
    with open_bench(bench_file) as bench:
        proc = RHLoopProcedure(bench=bench, device=device, **params)
        name = f"rh_{device.replace('/', '_')}_{len(list(tmp_path.iterdir()))}.csv"
        return run_procedure(proc, tmp_path / name).extra


def truth(bench_file, device):
    chip = SimulatedBench.from_config(load_bench_file(bench_file)).chip
    return chip, chip.index(device)


def test_easy_axis_loop_square_with_hc_a_fraction_of_hk_smaller_for_small_bars(tmp_path):
    hc = {}
    for size in ("S", "L"):
        values = []
        for i in range(3):
            s = rh_loop(SOT_Z, f"chip1/{size}{i}", tmp_path, points=41, max_field=0.05)
            assert s["loop_kind"] == "easy_axis", s["description"]
            # the two AHE levels: R_off +- R_AHE
            chip, idx = truth(SOT_Z, f"chip1/{size}{i}")
            assert s["r_high_ohm"] == pytest.approx(chip.r_offset_ohm[idx] + chip.r_ahe_ohm[idx],
                                                    abs=0.05)
            assert s["r_low_ohm"] == pytest.approx(chip.r_offset_ohm[idx] - chip.r_ahe_ohm[idx],
                                                   abs=0.05)
            assert abs(s["loop_shift_T"]) < 2e-3
            values.append(s["coercive_field_T"])
        hc[size] = np.array(values)
    hk_T = 0.06
    # thermally activated reversal in a ~0.02 T/s stepped sweep: 0.15-0.4 Hk (9-24 mT)
    for size, values in hc.items():
        assert np.all((0.15 * hk_T < values) & (values < 0.4 * hk_T)), (size, values)
    # smaller bars (Delta ~ 30 vs 40): smaller coercive field
    assert hc["S"].mean() < hc["L"].mean() - 2e-3
    # and close to the sweep estimate for the L bars (multi-domain: the median region)
    chip, idx = truth(SOT_Z, "chip1/L0")
    estimate = physics.coercive_field_T(0.025, hk_T, chip.delta[idx])
    assert hc["L"][0] == pytest.approx(float(estimate), rel=0.15)


def test_slower_sweep_gives_smaller_coercive_field(tmp_path):
    fast = rh_loop(SOT_Z, "chip1/L0", tmp_path, points=41, max_field=0.04)
    slow = rh_loop(SOT_Z, "chip1/L0", tmp_path, points=41, max_field=0.04, reads_per_point=30)
    assert fast["loop_kind"] == slow["loop_kind"] == "easy_axis"
    assert slow["coercive_field_T"] < fast["coercive_field_T"] - 1e-3
    assert slow["noise_ohm"] < fast["noise_ohm"]          # averaged readings


def test_easy_axis_loop_below_hc_shows_no_response(tmp_path):
    s = rh_loop(SOT_Z, "chip1/L1", tmp_path, points=11, max_field=0.004)
    assert s["loop_kind"] == "none" and math.isnan(s["coercive_field_T"])


def test_hard_axis_loop_fits_hk_within_10_percent(tmp_path):
    s = rh_loop(None, "chip1/M2", tmp_path, points=21, max_field=0.05)
    chip, idx = truth(None, "chip1/M2")
    assert s["loop_kind"] == "hard_axis", s["description"]
    assert math.isnan(s["coercive_field_T"])
    assert s["anisotropy_field_T"] == pytest.approx(chip.hk_T[idx], rel=0.10)
    assert 0 < s["anisotropy_field_err_T"] < 0.1 * chip.hk_T[idx]
    # the dome: R_off - R_AHE sqrt(1 - h^2) for a bar that starts down (R0 and Hk are
    # correlated when the sweep stops short of Hk: R0 within a few % of the step)
    assert s["dome_base_ohm"] == pytest.approx(chip.r_offset_ohm[idx], abs=0.25)
    assert s["dome_amplitude_ohm"]["up"] == pytest.approx(-chip.r_ahe_ohm[idx], rel=0.25)
    assert "hard-axis" in s["description"]


def test_hard_axis_fit_past_hk_with_a_random_fall_per_branch():
    """Saturated in plane at the ends; each branch comes back with its own m (50/50 fall)."""
    rng = np.random.default_rng(3)
    hk_T, rows = 0.05, []
    amplitude = {"init": -1.0, "up": 0.4, "down": -0.7}
    for branch, fields in (("init", np.linspace(0, -0.08, 21)), ("up", np.linspace(-0.08, 0.08, 41)),
                           ("down", np.linspace(0.08, -0.08, 41))):
        for i, h in enumerate(fields):
            r = hard_axis_model(h, 5.0, hk_T, amplitude[branch]) + 0.01 * rng.standard_normal()
            rows.append({"Branch": branch, "Point": i, "Field (T)": h, "Resistance (ohm)": r})
    s = analyze_rh(rows)
    assert s["loop_kind"] == "hard_axis"
    assert s["anisotropy_field_T"] == pytest.approx(hk_T, rel=0.03)
    assert not s["hk_beyond_sweep"]
    for branch, value in amplitude.items():
        assert s["dome_amplitude_ohm"][branch] == pytest.approx(value, abs=0.05)


def test_mtj_loop_shows_tmr_levels_and_coercive_field(tmp_path):
    s = rh_loop(MTJ, "chip1/M0", tmp_path, points=41, max_field=0.18)
    chip, idx = truth(MTJ, "chip1/M0")
    assert s["loop_kind"] == "easy_axis", s["description"]
    # positive field -> parallel (low R) for this free layer; AP at negative field
    assert s["r_at_plus_max_ohm"] < s["r_at_minus_max_ohm"]
    assert s["r_low_ohm"] == pytest.approx(chip.r_offset_ohm[idx], rel=0.01)
    # low-bias read (~25 mV): R_AP / R_P - 1 is the zero-bias TMR (configured 1.2, 3 % D2D)
    assert s["high_over_low_minus_one"] == pytest.approx(chip.r_ahe_ohm[idx], rel=0.02)
    assert s["high_over_low_minus_one"] == pytest.approx(1.2, rel=0.1)
    hk_T = chip.hk_T[idx]
    assert hk_T == pytest.approx(0.2)
    assert 0.3 * hk_T < s["coercive_field_T"] < 0.6 * hk_T


def test_example_benches_load_and_show():
    for path, kind, axis in ((SOT_Z, "sot_hall_bar", "z"), (MTJ, "mtj", "z")):
        bench_file = load_bench_file(path)
        assert bench_file.wiring.magnet_axis == axis
        assert {g.kind for g in bench_file.groups} == {kind}
        assert [g.size for g in bench_file.groups] == ["S", "M", "L"]
        assert len(bench_file.devices()) == 24
        text = describe_bench(path)
        assert "axis z" in text and f"chip1/L7     {kind}" in text
    # the magnet reaches past every junction's coercive field, within the supply's 12 A
    mtj = load_bench_file(MTJ)
    assert max(l.max_field_T for l in mtj.limits.values()) <= 12 * mtj.wiring.magnet_T_per_A


def test_mtj_pulse_limit_is_breakdown_safe():
    """Every allowed pulse keeps the barrier well under the ~1.3 V MgO breakdown."""
    mtj = load_bench_file(MTJ)
    chip = SimulatedBench.from_config(mtj).chip
    assert all(l.max_pulse_voltage_V <= 0.7 * chip.damage_limit.min() for l in mtj.limits.values())
    with pytest.raises(ParameterError, match="over the device limit"):
        RILoopProcedure(bench_file=str(MTJ), device="chip1/S0", max_amplitude=1.0).validate()


def test_rh_parameters_are_checked():
    with pytest.raises(ParameterError, match="reads_per_point"):
        RHLoopProcedure(device="chip1/L0", reads_per_point=0).validate()
    with pytest.raises(ParameterError, match="max_field_T"):
        RHLoopProcedure(bench_file=str(MTJ), device="chip1/L0", max_field=0.3).validate()
