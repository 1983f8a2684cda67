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
}


@pytest.mark.parametrize("case", sorted(STDP))
def test_stdp_options_no_mode_reads_are_one_line(case, tmp_path, capsys):
    extra, said = STDP[case]
    out = tmp_path / "run"
    assert main(["train", "--network", "stdp", *extra, "--seeds", "0", "--no-progress",
                 "--out", str(out)]) == 2
    assert said in one_line_error(capsys)
    assert not (out / "results.json").exists()
