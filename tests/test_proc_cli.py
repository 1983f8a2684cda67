"""`hil characterize` end to end on the simulated bench: CSV, JSON, PNG, Markdown."""

import json

import pytest

from procedures.calibration import load_calibration
from procedures.cli import main as cli_main


def test_survey_cli_writes_every_output(tmp_path, capsys):
    out = tmp_path / "chip"
    code = cli_main(["survey", "--devices", "S0,S1,M0,L0", "--trials", "16", "--points", "8",
                     "--coarse-points", "12", "--no-width-scan", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "width/I50" in printed and "calibration:" in printed
    for name in ("survey.csv", "calibration_chip1.json", "switching_curves.png", "i50_hist.png",
                 "width_hist.png", "report.md"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "switching_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cal = load_calibration(out / "calibration_chip1.json")
    assert set(cal.devices) == {"chip1/S0", "chip1/S1", "chip1/M0", "chip1/L0"}
    report = (out / "report.md").read_text()
    assert "| S | 2 |" in report and "projected real-bench time" in report


@pytest.mark.parametrize("procedure, extra, plot, key", [
    ("switching", ["--device", "S2", "--trials", "24", "--points", "10"], "switching_curve.png",
     "neel_brown"),
    ("width", ["--device", "M1", "--trials", "24", "--points", "8"], "p_vs_width.png", "tau_curve"),
    ("ri-loop", ["--device", "S0"], "ri_loop.png", "critical_current_plus_A"),
    ("rh-loop", ["--device", "L0"], "rh_loop.png", "r_at_plus_max_ohm"),
    ("endurance", ["--device", "M0", "--cycles", "400", "--block", "100"], "endurance.png",
     "mean_error_rate"),
])
def test_single_procedures(tmp_path, procedure, extra, plot, key):
    out = tmp_path / procedure
    assert cli_main([procedure, *extra, "--out", str(out), "--no-progress"]) == 0
    assert (out / plot).stat().st_size > 0
    stem = procedure.replace("-", "_")      # each procedure's own report and summary
    assert (out / f"{stem}_report.md").stat().st_size > 0
    summary = json.loads((out / f"{stem}_summary.json").read_text())
    assert key in summary


def test_over_hil_serve_with_pyvisa_py(tmp_path):
    """The same procedure through TCPIP sockets (`hil serve`) and pyvisa-py."""
    from simulated_bench.bench import SimulatedBench
    from simulated_bench.server import serve

    handle = serve(SimulatedBench.from_config(None))
    try:
        args = ["switching", "--device", "S1", "--trials", "16", "--points", "8",
                "--coarse-points", "12", "--backend", "visa", "--visa-library", "@py",
                "--no-progress", "--out", str(tmp_path / "net")]
        for configured, resource in handle.addresses.items():
            args += ["--address", f"{configured}={resource}"]
        assert cli_main(args) == 0
    finally:
        handle.close()
    summary = json.loads((tmp_path / "net" / "switching_summary.json").read_text())
    assert 15e-6 < summary["neel_brown"]["i50_A"] < 30e-6
