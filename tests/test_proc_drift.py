"""The drift monitor (hil characterize drift): I50 vs bench time follows the simulated drift."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from devices.benchfile import default_bench_text
from devices.laws import neel_brown
from procedures.cli import characterize_main, add_characterize_arguments
from procedures.drift import DriftMonitorProcedure, step_crossing
from procedures.drift_report import plot_drift
from procedures.runner import run_procedure
from procedures.session import open_bench
from simulated_bench.bench import SimulatedBench

HOT = {"temperature_drift_K_per_h": 10.0, "ic0_temperature_coeff_per_K": -0.003}


def test_drift_monitor_follows_a_temperature_drift(tmp_path):
    data = tomllib.loads(default_bench_text())
    data["nonideal"] = HOT
    with open_bench(data) as bench:
        out = run_procedure(DriftMonitorProcedure(bench=bench, devices="S0,M0", checks=3,
                                                  interval_s=3600.0, trials=256), tmp_path / "d.csv")
    truth = SimulatedBench.from_config(data).chip
    for name, series in out.extra["devices"].items():
        idx = truth.index(name)
        times = [s["time_s"] for s in series]
        assert times[1] - times[0] == pytest.approx(3600.0, abs=5.0)
        assert [s["temperature_K"] for s in series] == pytest.approx(
            [300.0 + 10.0 * t / 3600.0 for t in times], abs=0.01)
        # the truth's I50 at the first and the last check's times (the law at 10 ns)
        i50 = [float(neel_brown.current_for_probability(0.5, 10e-9, ic0[idx], delta[idx],
                                                        truth.tau0_s[idx], truth.exponent[idx]))
               for ic0, delta in (truth.nonideal.parameters(truth, t) for t in (times[0], times[-1]))]
        predicted = i50[1] / i50[0] - 1.0           # about -6.6 % over 2 h at +10 K/h
        assert predicted < -0.06
        assert out.extra["i50_drift_rel"][name] == pytest.approx(predicted, rel=0.3)
        assert series[-1]["write_pulses"] > series[0]["write_pulses"] > 0
    assert plot_drift(out.extra, tmp_path)["drift_plot"].stat().st_size > 1000


def test_a_step_between_points_gives_its_crossing():
    assert step_crossing(np.array([3.0, 1.0, 2.0]), np.array([1.0, 0.0, 0.25])) == pytest.approx(2 + 1 / 3)
    assert math.isnan(step_crossing(np.array([1.0, 2.0]), np.array([0.0, 0.1])))


@pytest.mark.parametrize("option", [["--interval", "-1"], ["--interval", "nan"], ["--checks", "1"]])
def test_drift_cli_refuses_a_bad_option_in_one_line(option, tmp_path, capsys):
    import argparse
    args = add_characterize_arguments(argparse.ArgumentParser()).parse_args(
        ["drift", "--out", str(tmp_path / "o"), "--no-progress", *option])
    assert characterize_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("interval" in err or "checks" in err)


def test_survey_records_when_each_device_was_measured():
    from procedures.variability import measured_at
    rows = [{"Device": "chip1/S0", "Projected bench time (s)": 0.5},            # line check
            {"Device": "chip1/S0", "Projected bench time (s)": 1.0, "Trials": 64},
            {"Device": "chip1/M0", "Projected bench time (s)": float("nan")},
            {"Device": "chip1/M0", "Projected bench time (s)": 2.0, "Trials": 32}]
    assert measured_at(rows) == {
        "chip1/S0": {"first_bench_time_s": 0.0, "last_bench_time_s": 1.5, "write_pulses": 128},
        "chip1/M0": {"first_bench_time_s": 1.5, "last_bench_time_s": 3.5, "write_pulses": 64}}
