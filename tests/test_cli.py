"""The ``hil`` command line: bench inspection, serving, and the README's demo path."""

from __future__ import annotations

import re

from hil.cli import build_parser, main


def test_bench_show_prints_wiring_and_true_parameters(capsys):
    assert main(["bench", "show"]) == 0
    out = capsys.readouterr().out
    for address in ("GPIB0::10::INSTR", "GPIB0::18::INSTR", "GPIB0::24::INSTR",
                    "GPIB0::16::INSTR", "GPIB0::6::INSTR"):
        assert address in out
    rows = re.findall(r"^\s+chip1/([SML])(\d)\s+sot_hall_bar\s+(\d{4})\s+(\d{4})", out, re.M)
    assert len(rows) == 24
    for size, index, pulse_channel, read_channel in rows:
        slot = "SML".index(size) + 1
        assert pulse_channel == f"{slot}1{int(index) + 1:02d}"
        assert read_channel == f"{slot}2{int(index) + 1:02d}"
    # the size effect is in the truth: S bars are macrospins, L bars hold hundreds of domains
    # columns: device kind pulse-ch read-ch width Delta Ic0 I50 domains ...
    domains = {m[0]: int(m[1]) for m in re.findall(
        r"^\s+chip1/([SML])0(?:\s+\S+){7}\s+(\d+)\s", out, re.M)}
    assert domains["S"] == 1 and domains["L"] > 100


def test_bench_show_reports_a_bad_bench_file(tmp_path, capsys):
    bad = tmp_path / "bench.toml"
    bad.write_text("name = 'x'\n[[instrument]]\naddress = 'GPIB0::1::INSTR'\nmodel = 'Nope'\nrole = 'pulse'\n")
    assert main(["bench", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"hil bench: error: .*bench.toml line 4: instrument\[0\].model must be "
                     r"one of 'Keysight81160A', .*got 'Nope'", err), err


def test_every_documented_command_is_there():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"bench", "serve", "characterize", "train", "sweep", "gui", "demo"}


def test_train_takes_the_options_of_the_network_it_names(capsys):
    parser = build_parser(["train", "--network", "mlp"])
    args = parser.parse_args(["train", "--network", "mlp", "--epochs", "3"])
    assert args.network == "mlp" and args.epochs == 3
    assert build_parser([]).parse_args(["train"]).network == "mlp"   # the default network


def test_an_unknown_network_is_one_line_and_exit_2(capsys):
    import pytest

    with pytest.raises(SystemExit) as stop:
        main(["train", "--network", "nope"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--network: invalid choice: 'nope'" in err and "'mlp'" in err, err
