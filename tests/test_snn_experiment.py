"""hil train --network snn: a tiny run learns, writes results.json, refuses to overwrite it;
bad settings are one line and exit 2."""

import json

import pytest

from hil.cli import main
from hil.snn.experiment import RESULTS, run_snn_experiment
from hil.train import CheckpointError
from simhelpers import one_line_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"epochs": 2, "seeds": (0,), "sizes": ("N",), "hidden": 16, "steps": 8,
        "modes": ("insitu", "exsitu"), "bench_projection": False, "progress": False, "lr": 1e-2}


def test_a_tiny_in_situ_run_learns_well_above_chance_and_writes_results(tmp_path):
    results = run_snn_experiment({**TINY, "out_dir": str(tmp_path)})
    written = json.loads((tmp_path / RESULTS).read_text())
    assert written["summary"] == results["summary"]
    acc = {row["mode"]: row["test_acc_mean_pct"] for row in written["summary"]}
    assert set(acc) == {"insitu", "exsitu"}
    assert acc["insitu"] > 50 and acc["exsitu"] > 35          # chance: 10 %
    assert written["geometry"]["N"]["pulses_to_fire_at_top"] >= 1
    with pytest.raises(CheckpointError, match="earlier run"):
        run_snn_experiment({**TINY, "out_dir": str(tmp_path)})


@pytest.mark.parametrize("option, shown", [
    (["--steps", "1"], "'steps' (--steps): 1"),
    (["--sizes", "XL"], "['XL'] are not DW-MTJ geometries"),
    (["--modes", "insitu", "bogus"], "'modes'"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, capsys, option, shown):
    code = main(["train", "--network", "snn", "--out", str(tmp_path / "run"), "--no-progress",
                 "--epochs", "0", "--no-bench-projection", *option])
    assert code == 2
    assert shown in one_line_error(capsys)
    assert not (tmp_path / "run" / RESULTS).exists()


def test_a_calibration_file_serves_the_devices_it_holds(tmp_path):
    from devices.benchfile import load_bench_file
    from hil.snn.config import EXAMPLE_BENCH
    from hil.snn.simulated import truth_calibration, wall_chip
    from procedures.calibration import save_calibration

    truth = truth_calibration(wall_chip(load_bench_file(EXAMPLE_BENCH)), 20e-9)
    path = save_calibration(truth.subset([n for n in truth.names() if n != "chip1/N3"]),
                            tmp_path / "calibration.json")
    results = run_snn_experiment({**TINY, "epochs": 0, "modes": ("insitu",), "calibration": str(path),
                                  "out_dir": str(tmp_path / "run")})
    assert results["uncalibrated_devices_left_out"] == {"N": ["chip1/N3"]}
    assert "N3" not in results["runs"][0]["mapping"] and "N4 x" in results["runs"][0]["mapping"]
