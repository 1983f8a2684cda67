"""Issue 12 B2/B3/B6/B7/B8: every bench-file key, type and relation checked, naming the key
and line; an inf or NaN limit never switches a safety check off."""

from __future__ import annotations

import dataclasses
import math
import re
import types

import pytest

from devices import kinds
from devices.benchfile import BenchFileError, default_bench_text, load_bench_file
from drivers.bench import Bench
from drivers.limits import LimitViolation, check_field, check_pulse, check_read_current
from procedures.cli import main as cli_main
from simulated_bench.kinds import truth
from tests.simwatch import assert_within_limits, opened_sims  # noqa: F401 - a fixture

TEXT = default_bench_text()
S_LIMITS = "[limits.S]\n"


def write(tmp_path, text, name="bench.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path, text, pattern):
    """The edited default bench is refused with one line matching ``pattern``; the line
    number it names holds the key the pattern starts with."""
    with pytest.raises(BenchFileError) as caught:
        load_bench_file(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(pattern, message), message
    return message


def line_of(text, fragment, after=0):
    return next(i for i, row in enumerate(text.splitlines(), 1) if i > after and fragment in row)


# ------------------------------------------------------------------ B2: inf / NaN limits
INF_S = TEXT.replace("max_pulse_voltage_V = 0.5", "max_pulse_voltage_V = inf").replace(
    "max_current_density_A_m2 = 2.0e11", "max_current_density_A_m2 = inf", 1)


def test_b2_ri_loop_with_inf_limits_is_refused_and_sends_nothing(tmp_path, capsys, opened_sims):
    code = cli_main(["ri-loop", "--device", "S0", "--amplitude", "9", "--no-progress",
                     "--bench", str(write(tmp_path, INF_S)), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "Traceback" not in err
    line = line_of(INF_S, "max_pulse_voltage_V = inf")
    assert f"line {line}: limits.S.max_pulse_voltage_V must be a finite number in (0, 20] V, " \
           f"got inf" in err
    assert opened_sims == []                       # no instrument was even opened


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1e-3", "1e300"])
def test_b2_every_limit_must_be_finite_positive_and_bounded(tmp_path, value):
    for key in ("max_pulse_voltage_V", "max_current_density_A_m2", "max_pulse_width_s",
                "max_compliance_V", "max_read_current_A", "max_field_T", "line_cross_section_m2",
                "min_line_resistance_ohm"):
        start = TEXT.index(S_LIMITS)
        head, tail = TEXT[:start], TEXT[start:]
        old = next(r for r in tail.splitlines() if r.startswith(key))
        text = head + tail.replace(old, f"{key} = {value}", 1)
        refused(tmp_path, text, rf"line {line_of(text, f'{key} = {value}')}: limits\.S\.{key} "
                                rf"must be a finite number in \(0, ")


def test_b2_checks_refuse_nan_or_inf_on_either_side():
    limits = load_bench_file().limits["S"]
    for name in ("max_pulse_voltage_V", "max_current_density_A_m2", "max_pulse_width_s",
                 "min_pulse_width_s", "line_cross_section_m2", "min_line_resistance_ohm"):
        for bad in (math.inf, math.nan):
            # a profile that skipped the bench file's checks (duck-typed, as a user could)
            forged = types.SimpleNamespace(**{**dataclasses.asdict(limits), name: bad})
            with pytest.raises(LimitViolation) as caught:
                check_pulse(0.01, 10e-9, forged, 50.0, device="chip1/S0")
            message = str(caught.value)
            assert f"safety limit {name} (for chip1/S0) is {bad:g}" in message
            assert "over the limit" not in message
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(LimitViolation, match=r"pulse level on chip1/S0 must be a finite "
                                                 r"number of V, got (nan|-?inf) V; nothing"):
            check_pulse(value, 10e-9, limits, 50.0, device="chip1/S0")
        with pytest.raises(LimitViolation, match="read current"):
            check_read_current(value, limits)
        with pytest.raises(LimitViolation, match="max_field_T"):
            check_field(0.01, value)
    with pytest.raises(BenchFileError, match="max_field_T must be a finite positive number"):
        dataclasses.replace(limits, max_field_T=math.inf)


# ------------------------------------------------------------------ B3 / B7: duplicates
def test_b3_two_groups_of_one_size_on_a_chip_are_refused(tmp_path):
    text = TEXT.replace('size = "M"', 'size = "S"')
    second = line_of(text, 'size = "S"', line_of(text, 'size = "S"'))
    refused(tmp_path, text, rf"line {second}: chip\[0\]\.group\[1\]\.size 'S' is already a "
                            r"size of chip1")


def test_b3_two_chips_of_one_name_are_refused(tmp_path):
    chip2 = ('\n[[chip]]\nname = "chip1"\n[[chip.group]]\nsize = "S"\nkind = "sot_hall_bar"\n'
             'count = 2\nslot = 4\nwidth_m = 60e-9\n')
    text = TEXT + chip2
    refused(tmp_path, text, rf"line {len(TEXT.splitlines()) + 3}: chip\[1\]\.name 'chip1' is "
                            r"already the name of chip\[0\]")


def test_b7_a_role_twice_is_refused_naming_both(tmp_path):
    text = TEXT.replace('model = "Keithley2400"\nrole = "aux_smu"',
                        'model = "Keithley2450"\nrole = "read_smu"')
    refused(tmp_path, text, r"instrument\[2\]\.role 'read_smu' is already played by "
                            r"instrument\[1\] \(Keithley2450 at GPIB0::18::INSTR\)")


def test_b7_a_hand_built_bench_file_with_a_role_twice_opens_nothing():
    config = load_bench_file()
    read = next(i for i in config.instruments if i.role == "read_smu")
    twice = dataclasses.replace(config, instruments=config.instruments + (
        dataclasses.replace(read, address="GPIB0::19::INSTR"),))
    with pytest.raises(BenchFileError, match="role 'read_smu' is played by both "
                                             "GPIB0::18::INSTR and GPIB0::19::INSTR"):
        Bench(twice)
    kepco_pulse = dataclasses.replace(config, instruments=tuple(
        dataclasses.replace(i, model="KepcoBOP") if i.role == "pulse" else i
        for i in config.instruments))
    with pytest.raises(BenchFileError, match="KepcoBOP at GPIB0::10::INSTR cannot play 'pulse'"):
        Bench(kepco_pulse)


# ------------------------------------------------------------------ B8: keys and relations
@pytest.mark.parametrize("old, new, pattern", [
    ("series_resistance_ohm = 4000.0", "serie_resistance_ohm = 4000.0",
     r"chip\[0\]\.group\[0\]\.serie_resistance_ohm is not a sot_hall_bar group key .*accepted: "
     r".*series_resistance_ohm"),
    ("delta_rel = 0.08", "delta_rell = 0.08",
     r"variability\.delta_rell is not a spread .*accepted: .*delta_rel"),
    ('name = "chip1"', 'name = "chip1"\nlabel = "x"',
     r"chip\[0\]\.label is not a chip key \(accepted: group, name\)"),
    ("pulse_channel = 1", "pulse_chanel = 1",
     r"wiring\.pulse_chanel is not a wiring key \(accepted: aux_row, .*pulse_channel"),
    ('role = "pulse"', 'role = "pulse"\nchannel = 1',
     r"instrument\[0\]\.channel is not an? instrument key \(accepted: address, model, role\)"),
    ("max_field_T = 0.06", "max_feld_T = 0.06",
     r"limits\.S\.max_feld_T is not a safety limit \(accepted: line_cross_section_m2"),
    ("series_resistance_ohm = 4000.0", "series_resistance_ohm = -4000.0",
     r"chip\[0\]\.group\[0\]\.series_resistance_ohm must be a finite number in \[0, 1e\+08\] "
     r"ohm, got -4000\.0"),
    ("series_resistance_ohm = 4000.0", "series_resistance_ohm = nan",
     r"chip\[0\]\.group\[0\]\.series_resistance_ohm must be a finite number .*got nan"),
    ("read_row = 2 ", "read_row = 2.5 ", r"wiring\.read_row must be an integer 1\.\.6"),
    ("read_row = 2 ", "read_row = 1 ",
     r"wiring\.read_row is row 1, the same 7709 row as wiring\.pulse_row"),
    ("aux_row = 3 ", "aux_row = 2 ", r"wiring\.aux_row is row 2, the same 7709 row as "
                                     r"wiring\.read_row"),
    ("max_pulse_width_s = 1e-6", "max_pulse_width_s = 1e-6\nmin_pulse_width_s = 2e-6",
     r"limits\.S\.min_pulse_width_s 2e-06 s is over max_pulse_width_s 1e-06 s"),
    ('size = "S"', 'size = ""', r"chip\[0\]\.group\[0\]\.size must be a size label"),
    ('address = "GPIB0::18::INSTR"', 'address = "GPIB0:18::INSTR"',
     r"instrument\[1\]\.address is not a VISA resource name: Could not parse 'GPIB0:18::INSTR'"),
    ('address = "GPIB0::18::INSTR"', 'address = "GPIB0::31::INSTR"',
     r"instrument\[1\]\.address 'GPIB0::31::INSTR' has GPIB primary address 31; GPIB "
     r"addresses are 0\.\.30"),
    ('model = "Keysight81160A"', 'model = "KepcoBOP"',
     r"instrument\[0\]\.model KepcoBOP cannot play 'pulse': the drivers drive that role with "
     r"Keysight81160A"),
    ("width_m = 60e-9", "width_m = inf", r"chip\[0\]\.group\[0\]\.width_m must be a finite "
                                         r"number in \(0, 0\.001\] m, got inf"),
    ("pulse_channel = 1", "pulse_channel = 3",
     r"wiring\.pulse_channel must be an integer 1\.\.2 \(the 81160A has output channels 1 "
     r"and 2\), got 3"),
    ("[limits.L]", "[limits.X]\nmax_field_T = 0.06\n[limits.L]",
     r"limits\.X is not a device size of the chips \(sizes: L, M, S\)"),
    ("seed = 20240503", "seed = -1", r"seed must be an integer 0\.\."),
    ("trigger_link = true", "trigger_link = 1", r"wiring\.trigger_link must be true or false"),
])
def test_b8_b6_each_bad_key_or_value_is_one_line_naming_key_and_line(tmp_path, old, new, pattern):
    assert TEXT.count(old) >= 1
    text = TEXT.replace(old, new, 1)
    first_new_line = new.splitlines()[-1] if "\n" in new and "limits.X" not in new else \
        new.splitlines()[0]
    line = line_of(text, first_new_line.strip())
    refused(tmp_path, text, rf"bench\.toml line {line}: " + pattern)


def test_b6_a_binary_file_or_a_directory_is_one_line(tmp_path):
    binary = tmp_path / "b.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(BenchFileError, match=r"is not UTF-8 text \(byte 128\)"):
        load_bench_file(binary)
    with pytest.raises(BenchFileError, match="is a directory; give the path of a bench TOML"):
        load_bench_file(tmp_path)


def test_b6_cli_with_a_directory_as_bench_file_exits_2(tmp_path, capsys):
    code = cli_main(["switching", "--bench", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "is a directory" in err


def test_every_kind_declares_exactly_the_overrides_its_truth_reads():
    for name in kinds.names():
        declared = set(kinds.kind(name).parameters)
        fixed = set(getattr(truth(name), "FIXED", ()))    # placeholders no file may set
        assert declared == set(truth(name).DEFAULTS) - fixed, name
        for key, spec in kinds.kind(name).parameters.items():
            default = truth(name).DEFAULTS[key]
            if math.isfinite(default):   # an inf default ("no leak") is not writable in a file
                assert spec.check(default)[1] is None, (name, key, default)


def test_the_example_benches_still_load():
    from pathlib import Path
    for path in sorted(Path("examples/benches").glob("*.toml")):
        assert load_bench_file(path).groups, path
