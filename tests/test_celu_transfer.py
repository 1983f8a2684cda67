"""`hil characterize neuron-transfer` through the instruments (fixed seed): the CeLU fit
recovers each neuron's simulated alpha, gain and offset (alpha and gain within 5 %, about 3
standard errors of the run; the offset within 0.02 ohm), its calibration reads back and
answers the law; a switch device or an input over the limit is one line, exit 2; the fit
alone refuses data with no negative branch."""

from pathlib import Path

import numpy as np
import pytest

from procedures.calibration import load_calibration
from procedures.celu_fit import fit_celu
from procedures.cli import main as characterize
from procedures.cli import run_characterization
from procedures.fits import FitError
from simulated_bench.bench import SimulatedBench

BENCH = Path(__file__).resolve().parents[1] / "examples" / "benches" / "celu_neurons.toml"


@pytest.mark.parametrize("device", ["chip1/N0", "chip1/N3"])
def test_celu_fit_recovers_alpha_gain_and_offset(tmp_path, device):
    result = run_characterization("neuron-transfer", {"bench_file": str(BENCH), "device": device,
                                                      "points": 24, "cycles": 2},
                                  tmp_path / "out", progress=False)
    chip = SimulatedBench.from_config(str(BENCH)).chip
    i, truth = chip.index(device), chip.kind_state["ferrimagnet_celu_neuron"]
    fit = result["summary"]["fit"]
    assert fit["alpha_A"] == pytest.approx(truth.alpha_A[i], rel=0.05)
    assert fit["gain_ohm_per_A"] == pytest.approx(truth.gain_ohm_per_A[i], rel=0.05)
    assert fit["offset_ohm"] == pytest.approx(chip.r_offset_ohm[i], abs=0.02)
    assert fit["read_noise_ohm"] == pytest.approx(0.01, rel=0.4)        # 0.01 ohm at 1 NPLC
    cost = result["summary"]["bench"]
    assert cost["projected_bench_time_s"] >= cost["floor_s"] > 0 and cost["round_trips"] > 0
    entry = load_calibration(result["calibration"])[device]
    assert entry.model == "celu_neuron"
    assert float(entry.output_ohm(-1.0)) == pytest.approx(fit["offset_ohm"] - fit["gain_ohm_per_A"] * fit["alpha_A"])


def test_neuron_transfer_refuses_bad_input(capsys, tmp_path):
    from tests.simhelpers import one_line_error

    args = ["--bench", str(BENCH), "--no-progress"]
    assert characterize(["neuron-transfer", "--device", "N0", "--amplitude", "3", "--out",
                         str(tmp_path / "a"), *args]) == 2
    assert "over the device limit" in one_line_error(capsys)
    other = str(BENCH.with_name("ferrimagnet_synapses.toml"))
    assert characterize(["neuron-transfer", "--device", "F0", "--bench", other, "--out",
                         str(tmp_path / "b"), "--no-progress"]) == 2
    assert "needs a CeLU neuron" in one_line_error(capsys)
    with pytest.raises(FitError, match="negative"):
        fit_celu(np.linspace(1e-4, 1e-3, 10), np.linspace(5.0, 6.0, 10))
