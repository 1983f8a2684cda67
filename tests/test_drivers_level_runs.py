"""Batches as level runs: a histogram of distinct levels, one loaded waveform pair scaled
with :VOLT2, readings mapped back to the trials; near the physical floor."""

import numpy as np
import pytest

from drivers.batch import level_histogram
from procedures.session import open_bench


def test_histogram_maps_each_trial_to_its_levels_readings_in_order():
    levels, counts, reading = level_histogram([0.2, 0.1, 0.2], 2, -0.3)
    assert levels.tolist() == [0.0, 0.1, 0.2, 0.3] and counts.tolist() == [2, 2, 4, 2]
    # rows: calib 0 (x2), calib 0.3 (x2), 0.2 (x2), 0.1 (x2), 0.2 (x2); readings level by level
    assert reading.tolist() == [0, 1, 8, 9, 4, 5, 2, 3, 6, 7]


@pytest.fixture(scope="module")
def bench():
    with open_bench() as b:
        b.field.set_field(0.01)
        yield b


def test_sixteen_level_batch_costs_a_dozen_trips_within_twice_its_floor(bench):
    levels = np.linspace(0.08, 0.28, 16)
    rng = np.random.default_rng(3)
    amps = rng.choice(levels, 512)                  # 32 samples x 16 neurons on one device
    bench.trials("chip1/S0", levels[:2], 10e-9)     # loads the waveform pair once
    batch = bench.trials("chip1/S0", amps, 10e-9, repeats=4)
    # the generator as master: SMU LogicTrigger start 1, one generator message for the 18
    # levels 1, fetch 1, select 5, SMU output on 1, error queues 3, buffer size 1 (was
    # 2 x 18 + 10 = 46 as level runs)
    assert batch.meta["plan"] == "sequenced" and batch.meta["runs"] == 1
    assert batch.round_trips == 13
    floor = batch.meta["floor_s"]
    assert floor == pytest.approx(2048 * (2e-4 + 10e-9 + 20e-9))
    # the 2450's own reading rate (0.367 ms a reading at NPLC 0.01, 50 Hz) is 1.83x the
    # integration floor: the instrument cannot do better
    assert 1.83 < batch.projected_time_s / floor < 2.0
    # exchangeable trials: each amplitude's trials got readings of its own level
    p = batch.switching_probability()
    assert p[levels[0]] == 0.0 and p[levels[-1]] == 1.0
    assert np.all(np.diff([p[x] for x in sorted(p)]) >= -0.15)


def test_a_slot_batch_between_level_batches_reloads_the_reset(bench):
    """Regression: a slot-plan batch (a level under the generator's minimum) replaced
    channel 1's reset waveform; the next level batch must load it again (it reused the stale
    one: no reset, P ~ 0.5 at every level)."""
    again = bench.trials("chip1/S4", [0.07, 0.3], 10e-9, repeats=32)   # pair already loaded
    bench.trials("chip1/S3", [0.02, 0.1], 10e-9, repeats=4)          # slot plan
    batch = bench.trials("chip1/S4", [0.07, 0.3], 10e-9, repeats=32)
    assert batch.meta["plan"] == again.meta["plan"] == "sequenced"
    assert batch.round_trips >= again.round_trips + 10                  # the pair again
    p = batch.switching_probability()
    assert p[0.07] < 0.1 and p[0.3] > 0.9
