"""The coarse scan starts where a batch can be one level run (the generator's minimum)."""

import numpy as np

from procedures.session import open_bench
from procedures.session import device_facts
from procedures.switching import coarse_levels


def _facts():
    with open_bench() as bench:
        return device_facts(bench.config, "chip1/S0"), bench.pulse.min_write_level_V


def test_coarse_scan_of_a_small_device_starts_at_the_generator_minimum():
    facts, minimum = _facts()
    top = facts.max_level_V * 0.95
    assert top / 16 < minimum < top            # the S devices' first step is under it
    levels = coarse_levels(facts, 16, 0.95, minimum)
    assert levels[0] == minimum and levels[-1] == top and len(levels) == 16
    assert np.all(np.diff(levels) > 0)
    # without a minimum (or one at or above the top) the scan is the plain grid
    plain = coarse_levels(facts, 16, 0.95)
    assert plain[0] == top / 16 and np.allclose(coarse_levels(facts, 16, 0.95, 2 * top), plain)


def test_every_coarse_batch_of_the_default_chip_is_one_generator_run():
    with open_bench() as bench:
        minimum = bench.pulse.min_write_level_V
        for name in ("chip1/S0", "chip1/M0", "chip1/L0"):
            facts = device_facts(bench.config, name)
            batch = bench.trials(name, coarse_levels(facts, 16, 0.95, minimum), 10e-9, repeats=6,
                                 reset_V=-0.6 * facts.max_level_V)
            # before: the S and M scans began under the minimum and ran as slots (45 trips,
            # 1.41 s); now one run: 32 trips (+3 for the bench's first batch), ~0.22 s
            assert batch.meta["plan"] == "sequenced", name
            assert batch.round_trips <= 35, (name, batch.round_trips)
            assert batch.projected_time_s < 0.3, (name, batch.projected_time_s)
