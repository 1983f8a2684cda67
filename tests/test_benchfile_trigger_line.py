"""[wiring] generator_trigger_line: the 2450 digital line that receives the 81160A's Trigger Out."""

import pytest

from devices.benchfile import BenchFileError, default_bench_text, load_bench_file

TEXT = default_bench_text()


def _with_line(tmp_path, value):
    assert "generator_trigger_line = 2" in TEXT
    path = tmp_path / "bench.toml"
    path.write_text(TEXT.replace("generator_trigger_line = 2", f"generator_trigger_line = {value}"))
    return path


@pytest.mark.parametrize("line", [0, 1, 6])
def test_lines_0_to_6_are_accepted(tmp_path, line):
    assert load_bench_file(_with_line(tmp_path, line)).wiring.generator_trigger_line == line


@pytest.mark.parametrize("value", ["7", "-1", "2.5", '"2"'])
def test_a_line_outside_the_2450s_six_is_refused_naming_the_key(tmp_path, value):
    with pytest.raises(BenchFileError, match="generator_trigger_line"):
        load_bench_file(_with_line(tmp_path, value))
