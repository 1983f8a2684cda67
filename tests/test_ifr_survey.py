"""The IFR survey over a chip of DW-MTJ neurons (simulated bench, fixed seed, 2 geometries x 3
neurons, 4 amplitudes x 8 cycles): per-geometry mean J_dep and mobility recovered against
the simulated truth of the same neurons, their D2D spread within a looser bound, the bench
cost recorded, and the calibration file (model domain_wall) read back with the same numbers;
a corrupt entry is one clear error."""

import json
from pathlib import Path

import numpy as np
import pytest

from procedures.calibration import CalibrationFileError, load_calibration, save_calibration
from procedures.cli import run_characterization
from simulated_bench.visa import SimulatedVisaLibrary

BENCH = str(Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml")
DEVICES = "N0,N1,N2,M0,M1,M2"


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    out = tmp_path_factory.mktemp("ifr_survey")
    result = run_characterization("ifr-survey", {"bench_file": BENCH, "devices": DEVICES,
                                                 "cycles": 8, "points": 4}, out, progress=False)
    return result, out


@pytest.fixture(scope="module")
def truth():
    lab = SimulatedVisaLibrary(BENCH).bench
    return lab.chip.kind_state["dw_mtj_ifr_neuron"], lab.chip.index


def test_the_survey_recovers_each_geometrys_mean_and_spread(survey, truth):
    result, out = survey
    state, index = truth
    s = result["survey"]
    assert [g.size for g in s.geometries] == ["N", "M"] and all(g.count == 3 for g in s.geometries)
    for g in s.geometries:
        idx = [index(n) for n, x in s.neurons.items() if x.size == g.size]
        jdep = state.jdep_A_m2[idx]
        mu_eff = state.mobility_m3_per_A_s[idx] * g.distance_m / state.mtj_distance_m[idx]
        j, mu = g.spreads["jdep_A_m2"], g.spreads["mobility_m3_per_A_s"]
        # stated tolerance: means within 8 %; spreads (3 neurons, fits of ~5 % each) within
        # 6 points of the truth's own spread over the same neurons
        assert j.mean == pytest.approx(jdep.mean(), rel=0.08), g.size
        assert mu.mean == pytest.approx(mu_eff.mean(), rel=0.08), g.size
        assert abs(j.d2d_rel - jdep.std(ddof=1) / jdep.mean()) < 0.06, g.size
        assert abs(mu.d2d_rel - mu_eff.std(ddof=1) / mu_eff.mean()) < 0.06, g.size
        assert j.configured_rel == 0.08            # the bench file's jdep_rel, set beside it
        assert 0.0 <= g.spreads["reset_fail_probability"].mean < 0.1
    cost = s.cost
    assert cost["round_trips"] > 0 and cost["projected_time_s"] > cost["floor_s"] > 0
    assert set(cost["by_size"]) == {"N", "M"}
    report = (out / "ifr_survey_report.md").read_text()
    assert "projected real-bench time" in report and "physical floor" in report
    assert (out / "ifr_survey_transfer.png").stat().st_size > 0
    assert (out / "ifr_survey_spread.png").stat().st_size > 0


def test_the_calibration_file_reads_back_the_survey_numbers(survey, tmp_path):
    result, out = survey
    s = result["survey"]
    cal = load_calibration(result["calibration"])
    assert sorted(cal.names()) == sorted(f"chip1/{d}" for d in DEVICES.split(","))
    assert cal.meta["bench_cost"]["round_trips"] == s.cost["round_trips"]
    for name, neuron in s.neurons.items():
        dev = cal[name]
        assert dev.model == "domain_wall" and dev.size == neuron.size
        assert dev.jdep_A_m2 == neuron.fit.jdep_A_m2
        assert dev.mobility_m3_per_A_s == neuron.fit.mobility_m3_per_A_s
        assert dev.pinning_rel == neuron.fit.pinning_rel and dev.distance_m == neuron.fit.distance_m
        assert dev.reset_fail_probability == neuron.reset_fail_probability
        assert float(dev.pulses_to_fire(s.reference_density_A_m2)) == pytest.approx(neuron.pulses_ref)
    again = load_calibration(save_calibration(cal, tmp_path / "again.json"))
    assert again.to_dict() == cal.to_dict()


@pytest.mark.parametrize("key, value, says", [("jdep_A_m2", None, "needs 'jdep_A_m2'"),
                                              ("pinning_rel", "x", "finite number"),
                                              ("reset_fail_probability", 1.5, "below 1")])
def test_a_corrupt_entry_is_one_clear_error(survey, tmp_path, key, value, says):
    result, _ = survey
    data = json.loads(Path(result["calibration"]).read_text())
    entry = data["devices"]["chip1/M1"]
    if value is None:
        del entry[key]
    else:
        entry[key] = value
    path = tmp_path / "corrupt.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationFileError) as err:
        load_calibration(path)
    message = str(err.value)
    assert "\n" not in message and "chip1/M1" in message and key in message and says in message
    assert np.isfinite(load_calibration(result["calibration"])["chip1/M1"].jdep_A_m2)


def test_a_domain_wall_calibration_is_refused_where_switching_curves_are_needed(survey):
    result, _ = survey
    cal = load_calibration(result["calibration"])
    assert cal.require_models(("domain_wall",), "the spiking layer") is cal
    with pytest.raises(CalibrationFileError) as err:
        cal.require_models(("neel_brown", "logistic"), "a switching-neuron network")
    assert "domain_wall model" in str(err.value) and "\n" not in str(err.value)
