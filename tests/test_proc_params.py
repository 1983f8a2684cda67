"""Bad parameters are rejected before anything runs: no bench opened, no file written."""

import pytest

from devices.benchfile import load_bench_file
from procedures.cli import main as cli_main
from procedures.cli import run_characterization
from procedures.session import ParameterError


class UntouchableBench:
    """Fails the test if a procedure touches the bench before validating its parameters.

    Only its (plain data) bench file may be read."""

    config = load_bench_file(None)

    def __getattr__(self, name):
        raise AssertionError(f"bench.{name} used before the parameters were validated")


CASES = [
    ("switching", {"device": "chip1/S0", "pulse_width": -1e-8}, r"pulse width must be > 0 s, got -1e-08"),
    ("switching", {"device": "chip1/S0", "pulse_width": 5e-6}, r"max_pulse_width_s = 1e-06 s"),
    ("switching", {"device": "chip1/S0", "amplitude_min": 0.1, "amplitude_max": 2.0},
     r"amplitude_max 2 V on chip1/S0 is over the device limit 0\.30\d* V"),
    ("switching", {"device": "chip1/Q9"}, r"unknown device 'chip1/Q9'"),
    ("survey", {"devices": "S,X7"}, r"unknown device 'X7'"),
    ("survey", {"pulse_width": 0.0}, r"pulse width must be > 0 s"),
    ("survey", {"bias_field": 0.5}, r"bias_field 0.5 T is over the limit max_field_T"),
    ("width", {"device": "S0", "width_min": -2e-9}, r"width_min must be > 0 s"),
    ("ri-loop", {"device": "L0", "max_amplitude": 9.0}, r"over the device limit"),
    ("endurance", {"device": "M0", "amplitude": 3.0}, r"amplitude 3 V on chip1/M0 is over the device limit"),
    ("endurance", {"device": "nope"}, r"unknown device 'nope'"),
    ("rh-loop", {"device": "L0", "max_field": 1.0}, r"max_field 1 T is over the limit max_field_T"),
]


@pytest.mark.parametrize("name, params, message", CASES)
def test_rejected_before_anything_runs(tmp_path, name, params, message):
    with pytest.raises(ParameterError, match=message):
        run_characterization(name, params, tmp_path / "out", progress=False,
                             bench=UntouchableBench())
    assert not (tmp_path / "out").exists()


def test_cli_exits_2_with_the_message(tmp_path, capsys):
    code = cli_main(["switching", "--device", "chip1/S0", "--width=-1e-8",
                     "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "pulse width must be > 0 s, got -1e-08 s" in err
    assert not (tmp_path / "o").exists()


def test_existing_output_with_points_needs_resume(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "switching.csv").write_text("#Procedure: <x>\n#Data:\nDevice,Phase,Point\n"
                                       "chip1/S0,line,0\n")
    with pytest.raises(ParameterError, match="--resume"):
        run_characterization("switching", {"device": "S0"}, out, progress=False,
                             bench=UntouchableBench())
