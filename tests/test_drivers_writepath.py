"""Current <-> programmed level through the write path (``drivers.limits``): generator EMF
over the 50 ohm source impedance plus the device's line resistance. One formula, used by the
procedures (``DeviceFacts``), the learning side (``BenchBackend``) and the safety checks."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.limits import (
    level_for_current_V,
    max_pulse_level_V,
    worst_case_current_A,
    write_current_A,
)
from hil.backends import BenchBackend
from procedures.session import device_facts, load_bench, open_bench


def test_level_for_current_by_hand():
    # 100 uA through 50 + 950 ohm: EMF 0.1 V; into the 1 MOhm load setting the level is
    # EMF x 1e6 / (1e6 + 50)
    assert level_for_current_V(1e-4, 50.0, 950.0) == pytest.approx(0.1 / 1.00005, rel=1e-12)
    assert write_current_A(0.1 / 1.00005, 50.0, 950.0) == pytest.approx(1e-4, rel=1e-12)
    # into a 50 ohm load setting the EMF is twice the level
    assert write_current_A(1.0, 50.0, 950.0, load_ohm=50.0) == pytest.approx(2e-3, rel=1e-12)
    assert level_for_current_V(2e-3, 50.0, 950.0, load_ohm=50.0) == pytest.approx(1.0, rel=1e-12)


def test_the_two_directions_invert_each_other_on_arrays_and_keep_the_sign():
    current = np.array([-3e-4, -1e-6, 0.0, 2e-5, 7e-4])
    level = level_for_current_V(current, 50.0, np.array([400.0, 800.0, 1200.0, 1600.0, 2000.0]))
    assert np.all(np.sign(level) == np.sign(current))
    back = write_current_A(level, 50.0, np.array([400.0, 800.0, 1200.0, 1600.0, 2000.0]))
    np.testing.assert_allclose(back, current, rtol=1e-12, atol=0)


def test_worst_case_current_is_the_write_current_over_the_lowest_line_resistance():
    limits = load_bench(None).limits["S"]
    for level in (-0.3, 0.05, 0.2):
        assert worst_case_current_A(level, limits, 50.0) == abs(
            write_current_A(level, 50.0, limits.min_line_resistance_ohm))


def test_device_facts_use_the_drivers_write_path():
    bench_file = load_bench(None)
    facts = device_facts(bench_file, "M2")
    source = bench_file.wiring.source_impedance_ohm
    assert facts.level_for_current_V(1.5e-4, 1234.5) == level_for_current_V(1.5e-4, source, 1234.5)
    assert facts.current_A(0.3, 1234.5) == write_current_A(0.3, source, 1234.5)
    # the largest safe level drives at most the electromigration current at the lowest line R
    top = facts.current_A(max_pulse_level_V(facts.limits, source), facts.limits.min_line_resistance_ohm)
    assert top == pytest.approx(facts.limits.max_current_density_A_m2
                                * facts.limits.line_cross_section_m2, rel=1e-6)


class _RecordingBench:
    """A bench that records the levels each batch is asked for (everything else passes)."""

    def __init__(self, bench):
        self._bench = bench
        self.levels = {}

    def __getattr__(self, name):
        return getattr(self._bench, name)

    def trials(self, name, levels, *args, **kwargs):
        self.levels[name] = np.array(levels, dtype=float)
        return self._bench.trials(name, levels, *args, **kwargs)


def test_bench_backend_programs_the_same_levels_as_the_procedures():
    with open_bench() as bench:
        recorder = _RecordingBench(bench)
        devices = BenchBackend(recorder)
        index = devices.index_of(["chip1/S1", "chip1/M0"])
        current = np.array([[15e-6, 120e-6], [25e-6, 170e-6]])
        devices.sample(index, current, 10e-9, repeats=2)
        for j, name in enumerate(["chip1/S1", "chip1/M0"]):
            facts = device_facts(bench.config, name)
            line = devices.line_resistance_ohm(name)
            np.testing.assert_array_equal(recorder.levels[name],
                                          facts.level_for_current_V(current[:, j], line))
            assert 100.0 < line < 1e5                 # a measured write path, not a default
