"""Chip survey on the simulated bench: fits recover the true parameters; S broader than L."""

import pytest

from procedures.calibration import load_calibration
from procedures.session import open_bench
from procedures.variability import survey_chip
from devices.laws import neel_brown
from simulated_bench.bench import SimulatedBench

WIDTH_S = 10e-9


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    out = tmp_path_factory.mktemp("survey")
    with open_bench() as bench:
        result = survey_chip(bench, out, trials=32, points=12, width_s=WIDTH_S,
                             coarse_points=16, coarse_trials=6, reference_trials=96,
                             print_summary=False)
    return result


def test_every_device_fitted_and_files_written(survey):
    assert len(survey.devices) == 24
    assert all(d.ok for d in survey.devices.values()), [d.error for d in survey.devices.values()]
    for key in ("csv", "calibration", "switching_curves", "p_vs_width", "i50_hist", "width_hist",
                "report"):
        assert survey.paths[key].stat().st_size > 0, key
    cal = load_calibration(survey.paths["calibration"])
    assert cal.chip == "chip1" and len(cal.devices) == 24
    # the readout the survey measured: S (1 domain) answers 0/1, M (32) and L (796) bars
    # a switched fraction; their domain count is not identifiable, so it stays unknown (a
    # binary device is one domain by the format's rule)
    for name, dev in cal.devices.items():
        assert dev.readout == {"S": "binary", "M": "fraction", "L": "fraction"}[dev.size], name
        assert dev.n_domains == {"S": 1, "M": None, "L": None}[dev.size], name
    # per device: its line resistance 23, then batches for the coarse scan (16 levels x 6
    # trials) 35, the zoom (16) 26, the reference levels (2 x 96) 19 and the fine scan
    # (12 x 32) 28; one device per size scans 3 more widths at 47 each; +3 for the bench's
    # first read, batch and width scan (setup). The virtual clock is as deterministic.
    # level runs (two round trips per distinct level, no waveform uploads): the survey
    # pays more round trips for its many levels of few trials, and far less time (before
    # level runs: 3570 round trips, 62.86 s)
    # generator as master (one message per batch for all levels) and the 2450's datasheet
    # reading time: 3392 trips, 41.07 s (level runs: 5064 / 27.09 s). 22.6 s of it are the
    # 16 coarse scans of 8 S devices, whose first level (0.018 V) is under the level runs'
    # minimum (0.025 V) and fell back to the slot plan. The coarse scan now starts at the
    # generator's minimum level (every batch is one generator-as-master run) and the fine
    # window is I50 +- 0.8 widths (was 1.3): 2944 trips, 19.52 s. Issue 13: the generator's
    # volatile waveforms stay loaded from device to device (only :VOLT moves), the width
    # scans run width-major over the devices, the line resistance integrates 0.2 PLC, and
    # the reference states are read in the fine batch: 2657 trips, 12.30 s
    assert survey.round_trips == 2657
    assert survey.projected_time_s == pytest.approx(12.30, rel=1e-3)


def test_fits_recover_the_simulated_truth(survey):
    chip = SimulatedBench.from_config(None).chip
    for name, dev in survey.devices.items():
        i = chip.index(name)
        true_i50 = neel_brown.current_for_probability(0.5, WIDTH_S, chip.ic0_A[i], chip.delta[i],
                                                   chip.tau0_s[i], chip.exponent[i])
        # stated tolerances on the bench: I50 within 3 %, Ic0 within 5 %, Delta within 30 %
        assert abs(dev.neel_brown.i50_A / true_i50 - 1) < 0.03, name
        assert abs(dev.neel_brown.ic0_A / chip.ic0_A[i] - 1) < 0.05, name
        assert abs(dev.neel_brown.delta / chip.delta[i] - 1) < 0.30, name
        # the two-terminal line resistance the bench measured
        assert abs(dev.line_resistance_ohm / chip.line_resistance_ohm[i] - 1) < 0.02, name


def test_p_vs_width_gives_tau_and_the_barrier(survey):
    chip = SimulatedBench.from_config(None).chip
    assert set(survey.width_scans) == {"chip1/S0", "chip1/M0", "chip1/L0"}
    for name, (taus, curve) in survey.width_scans.items():
        i = chip.index(name)
        for tau in taus:
            truth = neel_brown.relaxation_time(tau.current_A, chip.ic0_A[i], chip.delta[i])
            assert abs(tau.tau_s / truth - 1) < 0.5, (name, tau)
        assert abs(curve.ic0_A / chip.ic0_A[i] - 1) < 0.05, name
        assert abs(curve.delta / chip.delta[i] - 1) < 0.30, name
    assert "Relaxation time from P vs pulse width" in survey.paths["report"].read_text()


def test_size_effect_smaller_devices_switch_broader(survey):
    by_size = {s.size: s for s in survey.sizes}
    assert set(by_size) == {"S", "M", "L"}
    assert by_size["S"].relative_width_mean > by_size["L"].relative_width_mean * 1.15
    assert by_size["S"].delta_mean < by_size["L"].delta_mean
    assert by_size["S"].i50_mean_A < by_size["M"].i50_mean_A < by_size["L"].i50_mean_A
    table = survey.table()
    assert "width/I50" in table and "projected real-bench time" in table
    report = survey.paths["report"].read_text()
    assert "Size effect: size **S**" in report


def test_survey_records_its_floors_beside_time_and_trips(survey):
    import json
    # floor: 19200 trials x (0.2 ms integration + two pulses); reading floor: x the 2450's
    # 0.3667 ms per reading (autozero off, NPLC 0.01): projected 3.2x / 1.7x of them (the
    # reference states are now sweep levels of the fine batch: 768 trials more in the
    # floor, 3840 fewer played in all)
    assert survey.floor_s == pytest.approx(3.842, rel=1e-3)
    assert survey.reading_floor_s == pytest.approx(7.040, rel=1e-3)
    assert survey.projected_time_s < 3 * survey.reading_floor_s
    assert set(survey.cost_by_size) == {"S", "M", "L"}
    assert sum(c["floor_s"] for c in survey.cost_by_size.values()) == pytest.approx(survey.floor_s)
    assert f"(floor {survey.floor_s:.1f} s)" in survey.table()
    cost = json.loads(survey.paths["calibration"].read_text())["meta"]["bench_cost"]
    assert cost["round_trips"] == survey.round_trips
    assert cost["projected_over_floor"] == pytest.approx(survey.projected_time_s / survey.floor_s)
    header = survey.paths["csv"].read_text().splitlines()
    assert any("Floor (s)" in line and "Reading floor (s)" in line for line in header[:40])
