"""Bad input to the commands of the new device kinds (issues 14-17): one line on stderr, exit 2.

Each case is a command line that once ended in a traceback, ran on silently with a value it
ignored, or said something unclear; the bench files are the examples with one key changed.
Everything is refused before any training or bench time is spent, so the file stays fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.cli import main
from simhelpers import one_line_error

BENCHES = Path(__file__).resolve().parents[1] / "examples" / "benches"
DW = BENCHES / "dw_ifr_neurons.toml"
FERRI = BENCHES / "ferrimagnet_synapses.toml"
DWQ = BENCHES / "dw_quantized_synapses.toml"
CELU = BENCHES / "celu_neurons.toml"
XBAR = BENCHES / "stt_synapse_crossbar.toml"


def edited_bench(tmp_path: Path, source: Path, old: str, new: str) -> str:
    text = source.read_text()
    assert old in text, old
    path = tmp_path / f"edited_{source.name}"
    path.write_text(text.replace(old, new, 1))
    return str(path)


# (bench, text replaced, replacement, what the one line must say)
BENCH_EDITS = {
    "mtj offset past the track": (DW, "mtj_offset_m = 0.2e-6", "mtj_offset_m = 2e-6",
                                  "mtj_offset_m 2e-06 m must lie inside the track"),
    "ferrimagnet gmax under gmin": (FERRI, "n_pulses = 32", "n_pulses = 32\ngmin_S = 1e-3\ngmax_S = 1e-4",
                                    "gmax_S 0.0001 S must be over gmin_S 0.001 S"),
    "quantized gmax under gmin": (DWQ, "levels = 3", "levels = 3\ngmin_S = 1e-3\ngmax_S = 1e-4",
                                  "gmax_S 0.0001 S must be over gmin_S 0.001 S"),
    "a spread no kind of the bench draws": (
        FERRI, "gmin_rel = 0.05", "jdep_rel = 0.05",
        "variability.jdep_rel is drawn by dw_mtj_ifr_neuron, dw_quantized_synapse devices only"),
    "drift on a bench of kinds without it": (
        XBAR, "[wiring]", '[nonideal]\npreset = "realistic"\n\n[wiring]',
        "nonideal.preset acts on sot_hall_bar and mtj devices only"),
}


@pytest.mark.parametrize("case", sorted(BENCH_EDITS))
def test_a_bench_file_whose_keys_disagree_is_one_line(case, tmp_path, capsys):
    source, old, new, said = BENCH_EDITS[case]
    assert main(["bench", "show", edited_bench(tmp_path, source, old, new)]) == 2
    assert said in one_line_error(capsys)


# hil train on a bench of another kind: (argv after "train", what the one line must say)
WRONG_KIND = {
    "mlp on DW-MTJ neurons": (["--bench", str(DW)], "train it with --network snn"),
    "mlp on ferrimagnet synapses": (["--bench", str(FERRI)], "--network cnn or synapse-mlp"),
    "mlp on the crossbar": (["--bench", str(XBAR)], "--network stdp"),
}


@pytest.mark.parametrize("case", sorted(WRONG_KIND))
def test_train_on_a_bench_of_another_kind_is_one_line(case, tmp_path, capsys):
    extra, said = WRONG_KIND[case]
    argv = ["train", *extra, "--epochs", "1", "--seeds", "0", "--no-progress",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert said in one_line_error(capsys)
    assert not (tmp_path / "run" / "results.json").exists()


# hil train --network stdp: (argv after "--network stdp", what the one line must say)
STDP = {
    "bench mode on a bench without a crossbar": (
        ["--modes", "binary", "bench", "--dataset", "patterns", "--bench", str(FERRI)],
        "has no crossbar of synapses (its groups: ferrimagnet_synapse)"),
    "--bench that no mode reads": (["--dataset", "patterns", "--bench", str(XBAR)],
                                   "is read by --modes bench only"),
    "--dataset digits with bench mode only": (["--modes", "bench", "--dataset", "digits"],
                                              "--modes bench learns the pattern task only"),
    "--neurons with bench mode only": (["--modes", "bench", "--neurons", "20"],
                                       "its neurons are the crossbar's columns"),
    "mnist without its folder": (["--dataset", "mnist"], "(--mnist): not given"),
    "a seed twice": (["--dataset", "patterns", "--seeds", "0", "0"], "must be distinct integers"),
    "more patterns than the crossbar's rows hold": (
        ["--modes", "binary", "bench", "--dataset", "patterns", "--patterns", "5"],
        "5 patterns on 8 inputs (the crossbar's rows) do not fit; give 2 to 4"),
}


@pytest.mark.parametrize("case", sorted(STDP))
def test_stdp_options_no_mode_reads_are_one_line(case, tmp_path, capsys):
    extra, said = STDP[case]
    out = tmp_path / "run"
    assert main(["train", "--network", "stdp", "--seeds", "0", *extra, "--no-progress",
                 "--out", str(out)]) == 2
    assert said in one_line_error(capsys)
    assert not (out / "results.json").exists()


# hil characterize: (argv after "characterize", what the one line must say)
CHARACTERIZE = {
    "--devices that names no device": (["ltp-ltd", "--bench", str(FERRI), "--devices", " , "],
                                       "--devices ' , ' names no device"),
    "--device ''": (["neuron-transfer", "--bench", str(CELU), "--device", ""],
                    "--device '' names no device"),
    "an option the procedure does not take": (
        ["ifr-survey", "--bench", str(DW), "--amplitude", "0.3"],
        "does not take --amplitude (the options it takes: --cycles, --devices, --points, --width)"),
    "neuron-transfer on a bench without CeLU neurons": (
        ["neuron-transfer", "--bench", str(FERRI)],
        "bench 'ferrimagnet_synapses' has none (a bench such as examples/benches/celu_neurons.toml)"),
    "a NaN pulse width": (["synapse-switching", "--bench", str(XBAR), "--widths", "nan,2e-7"],
                          "nan is not a pulse width"),
    "one width twice": (["synapse-switching", "--bench", str(XBAR), "--widths", "2e-9,2e-9"],
                        "needs two or more different pulse widths"),
    # a switching procedure on another kind ran to a meaningless table or a ZeroDivisionError
    "drift on a DW-MTJ neuron": (["drift", "--bench", str(DW), "--devices", "N0", "--checks", "2"],
                                 "drift measures stochastic switches (sot_hall_bar, mtj): "
                                 "characterize it with hil characterize ifr, ifr-transfer or ifr-survey"),
    "the survey of a CeLU chip": (["survey", "--bench", str(CELU)],
                                  "characterize it with hil characterize neuron-transfer"),
    "endurance of a synapse": (["endurance", "--bench", str(FERRI), "--device", "F0"],
                               "characterize it with hil characterize ltp-ltd"),
}


@pytest.mark.parametrize("case", sorted(CHARACTERIZE))
def test_characterize_bad_input_is_one_line_before_the_bench(case, tmp_path, capsys):
    extra, said = CHARACTERIZE[case]
    out = tmp_path / "run"
    assert main(["characterize", *extra, "--no-progress", "--out", str(out)]) == 2
    assert said in one_line_error(capsys)
    assert not out.exists()


def test_an_stt_calibration_past_the_fits_exponent_bound_is_one_line(tmp_path, capsys):
    """An exponent of 1e300 passed the reader and made every STDP pulse 0 V at P_sw 0.2."""
    import json

    junction = {"model": "stt_synapse", "size": "W", "vc_p_to_ap_V": 0.95, "vc_ap_to_p_V": 0.65,
                "delta": 45.0, "exponent": 1e300, "tau0_s": 1e-9, "g_p_S": 2.5e-4,
                "g_ap_S": 1.1e-4}
    path = tmp_path / "calibration_xbar.json"
    path.write_text(json.dumps({"format": "spin-hil-calibration", "version": 1, "chip": "xbar",
                                "width_s": 1e-7, "devices": {"xbar/W0": junction}}))
    argv = ["train", "--network", "stdp", "--dataset", "patterns", "--seeds", "0",
            "--no-progress", "--calibration", str(path), "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "exponent 1e+300 is over 4, the largest a bench file allows" in one_line_error(capsys)


def test_sigterm_while_a_bench_is_open_exits_130_in_one_line(monkeypatch, capsys):
    """The bench's SIGTERM handler raises BenchTerminated once its outputs are off; hil train
    (stdp bench mode, mlp) let it out as a 100-line traceback with status 1."""
    import hil.benchinfo
    from drivers.bench import BenchTerminated

    def terminated(_path):
        raise BenchTerminated("signal 15: outputs are being turned off")

    monkeypatch.setattr(hil.benchinfo, "describe_bench", terminated)
    assert main(["bench", "show"]) == 130
    assert "interrupted; instrument outputs were turned off" in one_line_error(capsys)


def test_a_visa_library_message_of_several_lines_is_one_line(monkeypatch, tmp_path, capsys):
    """pyvisa-py's 'install linux-gpib' error spans two lines; the user gets one."""
    import drivers.transport

    def no_gpib(*_args, **_kwargs):
        raise ValueError("Please install linux-gpib to use this resource type.\nNo module named 'gpib'")

    monkeypatch.setattr(drivers.transport, "CountingAdapter", no_gpib)
    argv = ["characterize", "neuron-transfer", "--bench", str(CELU), "--device", "N0",
            "--backend", "visa", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "resource type. No module named 'gpib'. Check the address" in one_line_error(capsys)


@pytest.mark.parametrize("argv, said", [
    (["characterize", "ltp-ltd", "--pulses", "nan"],
     "hil characterize: error: argument --pulses: invalid int value: 'nan' (see hil characterize --help)"),
    (["train", "--network", "snnn"], "argument --network: invalid choice: 'snnn'"),
    (["train", "--hidden", "8", "nan"], "argument --hidden: invalid int value: 'nan'"),
])
def test_an_option_argparse_refuses_is_one_line(argv, said, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert said in one_line_error(capsys)


def test_a_crossbar_of_one_row_is_refused_before_any_mode_trains(tmp_path, capsys):
    """It said 'give 2 to 0' patterns, after the simulated modes had trained."""
    bench = edited_bench(tmp_path, XBAR, "count = 8", "count = 1")
    argv = ["train", "--network", "stdp", "--modes", "binary", "bench", "--dataset", "patterns",
            "--bench", bench, "--seeds", "0", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "needs a crossbar of 4 rows or more" in one_line_error(capsys)


def test_a_domain_wall_calibration_past_the_bench_files_bounds_is_one_line(tmp_path, capsys):
    """A distance of 5e299 m passed the reader: E[N] = inf, the spiking layer at chance."""
    import json

    neuron = {"model": "domain_wall", "size": "N", "jdep_A_m2": 3.1e10,
              "mobility_m3_per_A_s": 4.9e-10, "distance_m": 5e299, "pinning_rel": 0.15,
              "cross_section_m2": 1e-15}
    path = tmp_path / "calibration_chip1.json"
    path.write_text(json.dumps({"format": "spin-hil-calibration", "version": 1, "chip": "chip1",
                                "width_s": 1e-8, "devices": {"chip1/N0": neuron}}))
    argv = ["train", "--network", "snn", "--sizes", "N", "--calibration", str(path),
            "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "distance_m 5e+299 is over 0.0001, the largest a bench file allows" in one_line_error(capsys)


@pytest.mark.parametrize("argv, said", [
    (["--seeds", "0", "0"], "'seeds' (--seeds) must be a list of at least one seed without repeats"),
    (["--sizes", "S", "S"], "without repeats ('S' is given twice)"),
    (["--network", "snn", "--sizes", "N", "N"], "snn setting 'sizes' (--sizes): ['N', 'N'] is not "
                                                "allowed; give each once"),
])
def test_a_run_named_twice_is_refused_before_it_trains(argv, said, tmp_path, capsys):
    """A repeated seed or size trained its run twice; the copy stopped at its twin's checkpoint
    with 'an earlier run' exists."""
    out = tmp_path / "run"
    assert main(["train", *argv, "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
    assert said in one_line_error(capsys)
    assert not (out / "checkpoints").exists()
