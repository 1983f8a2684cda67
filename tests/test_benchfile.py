"""The bench file: the default bench's contract, and errors that name the key and line."""

import tomllib

import pytest

from devices.benchfile import BenchFileError, default_bench_text, load_bench_file, parse_bench


def write(tmp_path, text):
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_default_bench_contract():
    bench = load_bench_file()
    by_role = {i.role: (i.address, i.model) for i in bench.instruments}
    assert by_role == {
        "pulse": ("GPIB0::10::INSTR", "Keysight81160A"),
        "read_smu": ("GPIB0::18::INSTR", "Keithley2450"),
        "aux_smu": ("GPIB0::24::INSTR", "Keithley2400"),
        "switch": ("GPIB0::16::INSTR", "Keithley2750"),
        "magnet": ("GPIB0::6::INSTR", "KepcoBOP"),
    }
    devices = bench.devices()
    assert len(devices) == 24
    assert sorted({d.size for d in devices}) == ["L", "M", "S"]
    # 7709 channels: slot, row, two-digit column; one card per size
    m3 = bench.device("M3")
    assert (m3.channel(1), m3.channel(2)) == (2104, 2204)
    assert bench.device("chip1/S0").channel(1) == 1101
    assert bench.limits_for(m3).max_pulse_width_s == pytest.approx(1e-6)


def test_unknown_device_names_what_exists():
    with pytest.raises(KeyError, match="unknown device 'X9'.*sizes: \\['L', 'M', 'S'\\]"):
        load_bench_file().device("X9")


def test_syntax_error_gives_file_and_line(tmp_path):
    text = default_bench_text().replace('model = "KepcoBOP"', 'model = KepcoBOP')
    line = text.splitlines().index("model = KepcoBOP") + 1
    with pytest.raises(BenchFileError, match=rf"bench.toml: not valid TOML: .*line {line}\b"):
        load_bench_file(write(tmp_path, text))


def test_bad_value_names_key_and_line(tmp_path):
    text = default_bench_text()
    bad = text.replace("max_pulse_voltage_V = 1.5", "max_pulse_voltage_V = -1.5")
    line = bad.splitlines().index("max_pulse_voltage_V = -1.5") + 1
    with pytest.raises(BenchFileError) as excinfo:
        load_bench_file(write(tmp_path, bad))
    message = str(excinfo.value)
    assert f"line {line}:" in message
    assert "limits.M.max_pulse_voltage_V must be a finite number in (0, 20] V, got -1.5" in message


def test_unknown_model_and_missing_limits(tmp_path):
    text = default_bench_text()
    with pytest.raises(BenchFileError, match=r"instrument\[2\].model must be one of 'Keysight81160A', .*got 'Keithley9999'"):
        load_bench_file(write(tmp_path, text.replace('"Keithley2400"', '"Keithley9999"')))
    no_limits = text.split("[limits.L]")[0]
    with pytest.raises(BenchFileError, match=r"no \[limits.L\] table for device size 'L'"):
        load_bench_file(write(tmp_path, no_limits))


def test_nested_group_key_located(tmp_path):
    text = default_bench_text()
    bad = text.replace("count = 8\nslot = 2", "count = 800\nslot = 2")
    line = bad.splitlines().index("count = 800") + 1
    with pytest.raises(BenchFileError, match=rf"line {line}: chip\[0\].group\[1\].count must be an integer 1..8 \(a 7709 card has 8 columns\)"):
        load_bench_file(write(tmp_path, bad))


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(BenchFileError, match="does not exist"):
        load_bench_file(tmp_path / "nope.toml")


def test_dict_config_round_trip():
    """A bench given as a dict (what a script or a Ray task passes) is the bench the same
    text gives as a file, in every field, and its raw dict gives it again."""
    import dataclasses
    import tomllib

    from devices.benchfile import as_bench_file

    data = tomllib.loads(default_bench_text())
    data["seed"] = 7
    from_dict, from_file = as_bench_file(data), load_bench_file()
    assert (from_dict.seed, from_dict.source) == (7, "<dict>")
    for f in dataclasses.fields(from_file):
        if f.name not in ("seed", "source", "raw"):
            assert getattr(from_dict, f.name) == getattr(from_file, f.name), f.name
    assert from_dict.raw == data
    assert as_bench_file(from_dict.raw) == from_dict
    assert as_bench_file(from_file.raw) == dataclasses.replace(from_file, source="<dict>")
    assert from_dict.devices() == from_file.devices() and len(from_dict.devices()) == 24


def test_an_unknown_variability_spread_is_refused_not_ignored():
    text = default_bench_text().replace("delta_rel", "delta", 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("delta "))
    with pytest.raises(BenchFileError, match=rf"x.toml line {line}: variability.delta is not a "
                                             r"spread any device kind draws \(accepted: "
                                             r"[a-z_, ]*delta_rel, [a-z_, ]*ic0_rel, .*resistance_rel.*\)"):
        parse_bench(tomllib.loads(text), text, "x.toml")
