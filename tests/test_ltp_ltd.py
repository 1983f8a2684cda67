"""`hil characterize ltp-ltd` through the instruments (fixed seeds): the fitted LTP/LTD law
recovers the simulated truth of ferrimagnetic synapses (Gmin, Gmax, N, nu of each direction,
the write noise) and of quantized domain-wall synapses (levels, p(J), overshoot) within the
stated tolerances; the calibration file it writes reads back; bad input is one line, exit 2.

Tolerances (each about 3 standard errors of the run, and tight enough that a 20 % error in
the fitted quantity fails): Gmin, Gmax 1 %, N 6 %, nu 0.25 absolute, write noise 20 %,
p(J) 0.12 absolute, overshoot 0.08 absolute.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from procedures.calibration import load_calibration
from procedures.cli import main as characterize
from procedures.cli import run_characterization
from simulated_bench.bench import SimulatedBench

BENCHES = Path(__file__).resolve().parents[1] / "examples" / "benches"


def small_bench(tmp_path, name: str, keep: str, count: int, **group) -> Path:
    """The example bench with one group kept (``count`` devices, ``group`` overrides)."""
    text = (BENCHES / name).read_text()
    data = tomllib.loads(text)
    original = next(g for g in data["chip"][0]["group"] if g["size"] == keep)
    lines = [text[:text.index("[[chip]]")], '[[chip]]', 'name = "chip1"', '', '[[chip.group]]']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in {**original, "count": count, **group}.items()]
    lines += ["", f"[limits.{keep}]"] + [f"{k} = {v!r}" for k, v in data["limits"][keep].items()]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def truth_of(path, kind):
    bench = SimulatedBench.from_config(str(path))
    return bench.chip, bench.chip.kind_state[kind]


def test_ltp_ltd_fit_recovers_the_ferrimagnet_truth(tmp_path):
    path = small_bench(tmp_path, "ferrimagnet_synapses.toml", "G", 1, n_pulses=20, nu_ltp=2.0,
                       nu_ltd=3.0, write_noise=0.1)
    result = run_characterization("ltp-ltd", {"bench_file": str(path), "pulses": 28, "cycles": 4,
                                              "noise_reads": 8}, tmp_path / "out", progress=False)
    chip, truth = truth_of(path, "ferrimagnet_synapse")
    summary = result["summary"]
    for name, entry in summary["devices"].items():
        fit, i = entry["fit"], chip.index(name)
        assert fit["gmin_S"] == pytest.approx(truth.gmin_S[i], rel=0.01)
        assert fit["gmax_S"] == pytest.approx(truth.gmax_S[i], rel=0.01)
        assert fit["n_pulses"] == pytest.approx(20, rel=0.06)
        assert fit["nu_ltp"] == pytest.approx(truth.nu_ltp[i], abs=0.25)
        assert fit["nu_ltd"] == pytest.approx(truth.nu_ltd[i], abs=0.25)
        assert fit["asymmetry"] == pytest.approx(truth.nu_ltd[i] - truth.nu_ltp[i], abs=0.3)
        assert fit["write_noise"] == pytest.approx(0.1, rel=0.2)
        assert 0 < fit["nu_ltp_err"] < 0.25 and 0 < fit["n_pulses_err"] < 1.5
        assert 2 <= fit["n_states"] <= 21
    assert summary["d2d"]["G"]["devices"] == 1 and summary["d2d"]["G"]["nu_ltp_rel"] is None   # one device: no spread
    cost = summary["bench"]
    assert cost["round_trips"] > 0 and cost["projected_bench_time_s"] >= cost["floor_s"] > 0
    calibration = load_calibration(result["calibration"])
    entry = calibration[next(iter(summary["devices"]))]
    assert entry.model == "ferrimagnet_synapse" and entry["n_states"] >= 2
    g = entry.ltp_conductance(np.arange(21))
    assert g[0] == pytest.approx(entry["gmin_S"]) and g[-1] == pytest.approx(entry["gmax_S"], rel=0.01)
    assert result["plot"].exists()


def test_quantized_fit_finds_the_levels_p_and_overshoot(tmp_path):
    from devices.laws import notched_wall

    path = small_bench(tmp_path, "dw_quantized_synapses.toml", "P", 1, overshoot_probability=0.15)
    result = run_characterization("ltp-ltd", {"bench_file": str(path), "pulses": 8, "cycles": 12,
                                              "noise_reads": 6}, tmp_path / "out", progress=False)
    chip, truth = truth_of(path, "dw_quantized_synapse")
    fit = result["summary"]["devices"]["chip1/P0"]["fit"]
    p_true = float(notched_wall.depinning_probability(9.3e10, 20e-9, truth.jdep_A_m2[0], 40.0))
    assert fit["levels"] == 5
    np.testing.assert_allclose(fit["level_conductances_S"], np.linspace(truth.gmin_S[0], truth.gmax_S[0], 5), rtol=0.01)
    assert fit["step_probability"] == pytest.approx(p_true, abs=0.12)
    assert fit["overshoot_probability"] == pytest.approx(0.15, abs=0.08)
    entry = load_calibration(result["calibration"])["chip1/P0"]
    assert entry.model == "dw_quantized_synapse" and entry["levels"] == 5


def test_ltp_ltd_refuses_a_neuron_and_an_amplitude_over_the_limit(capsys, tmp_path):
    from tests.simhelpers import one_line_error

    bench = str(BENCHES / "celu_neurons.toml")
    assert characterize(["ltp-ltd", "--devices", "N0", "--bench", bench, "--out", str(tmp_path / "a"),
                         "--no-progress"]) == 2
    assert "not synapse devices" in one_line_error(capsys)
    bench = str(BENCHES / "ferrimagnet_synapses.toml")
    assert characterize(["ltp-ltd", "--devices", "F0", "--amplitude", "5", "--bench", bench,
                         "--out", str(tmp_path / "b"), "--no-progress"]) == 2
    assert "over the device limit" in one_line_error(capsys)
    assert not (tmp_path / "b" / "ltp_ltd.csv").exists()
