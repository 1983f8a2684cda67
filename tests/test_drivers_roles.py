"""The batching capabilities of the roles (``WaveformPulseSource``, ``BufferedSourceMeter``)
and the public ``Bench`` methods batching goes through: conformance (``isinstance`` with the
``@runtime_checkable`` protocols) and behaviour (the figures are the instrument's own, and
batching obeys them)."""

from __future__ import annotations

import numpy as np
import pytest

from devices.benchfile import load_bench_file
from drivers.batch import plan_timing
from drivers.bench import Bench, MissingCapabilityError, RetryingRole
from drivers.limits import LimitViolation
from drivers.roles import (
    BufferedSourceMeter,
    PlayedWaveform,
    PulseSource,
    SourceMeter,
    WaveformPulseSource,
)
from simulated_bench.visa import SimulatedVisaLibrary

DEFAULT = load_bench_file()
SWITCH = DEFAULT.address_of("switch")


@pytest.fixture()
def bench_and_sim():
    lib = SimulatedVisaLibrary(None)
    with Bench.open(None, visa_library=lib) as bench:
        yield bench, lib.bench


# ---------------------------------------------------------------- conformance
def test_default_bench_roles_have_the_batching_capabilities(bench_and_sim):
    bench, _ = bench_and_sim
    pulse = bench.role_for_step("pulse", WaveformPulseSource)
    read = bench.role_for_step("read_smu", BufferedSourceMeter)
    aux = bench.role_for_step("aux_smu", SourceMeter)
    assert isinstance(pulse, PulseSource) and isinstance(pulse, WaveformPulseSource)
    assert isinstance(read, SourceMeter) and isinstance(read, BufferedSourceMeter)
    assert not isinstance(aux, BufferedSourceMeter)         # a 2400 has no trigger model here
    # the step's role is the object itself: a step is retried whole, never call by call
    assert not isinstance(pulse, RetryingRole) and isinstance(bench.pulse, RetryingRole)
    assert isinstance(pulse.build_waveform(np.array([0.0, 0.1, 0.0]), 10e-9), PlayedWaveform)


def test_a_missing_capability_is_refused_before_anything_is_sent(bench_and_sim):
    bench, _ = bench_and_sim
    before = bench.round_trips
    with pytest.raises(MissingCapabilityError, match=r"aux_smu instrument \(Keithley2400\) has "
                                                      r"no BufferedSourceMeter capability"):
        bench.role_for_step("aux_smu", BufferedSourceMeter)
    assert bench.round_trips == before


# ---------------------------------------------------------------- the figures are the instrument's
def test_waveform_source_figures_bound_what_it_builds(bench_and_sim):
    bench, _ = bench_and_sim
    pulse = bench.role_for_step("pulse", WaveformPulseSource)
    assert pulse.max_waveform_points == 262_144          # Keysight 81160A data sheet
    assert pulse.max_sample_rate_Hz == pytest.approx(2.5e9)
    levels = np.zeros(pulse.max_waveform_points)
    levels[1] = 0.1
    full = pulse.build_waveform(levels, 10e-9)
    assert len(full.levels_V) == pulse.max_waveform_points
    assert full.sample_interval_s == pytest.approx(10e-9, rel=1e-5)
    with pytest.raises(ValueError, match="2 .. 262144 points"):
        pulse.build_waveform(np.zeros(pulse.max_waveform_points + 1), 10e-9)
    with pytest.raises(ValueError, match="Sa/s"):
        pulse.build_waveform(levels[:100], 0.5 / pulse.max_sample_rate_Hz)


def test_buffered_source_meter_capacity_is_the_instruments(bench_and_sim):
    bench, _ = bench_and_sim
    read = bench.role_for_step("read_smu", BufferedSourceMeter)
    assert read.max_buffer_points == 6_875_000           # Keithley 2450 defbuffer1
    read.set_buffer_capacity(read.max_buffer_points)      # the largest buffer is accepted
    before = bench.round_trips
    with pytest.raises(ValueError):
        read.set_buffer_capacity(read.max_buffer_points + 1)
    assert bench.round_trips == before                    # refused, not clipped, nothing sent


def test_check_waveform_against_given_limits_leaves_the_role_limits(bench_and_sim):
    bench, _ = bench_and_sim
    pulse = bench.role_for_step("pulse", WaveformPulseSource)
    small, large = bench.limits_for("S0"), bench.limits_for("L0")
    level = 0.9 * bench.default_reset_V("L0")            # safe on L0, far over S0's limit
    wave = pulse.build_waveform(np.array([0.0, level, 0.0, 0.0]), 20e-9)
    own = pulse.limits
    pulse.check_waveform(wave, large, "chip1/L0")
    with pytest.raises(LimitViolation, match="chip1/S0"):
        pulse.check_waveform(wave, small, "chip1/S0")
    assert pulse.limits is own                            # nothing swapped on the role


# ---------------------------------------------------------------- batching reads the figures
def test_plan_timing_uses_the_memory_and_sample_rate_it_is_given():
    full = plan_timing(10e-9, 20e-9, 0.01, 50.0, max_points=262_144, max_sample_rate_Hz=2.5e9)
    half = plan_timing(10e-9, 20e-9, 0.01, 50.0, max_points=131_072, max_sample_rate_Hz=2.5e9)
    # 10 ns samples: lead 1 + reset 2 + gap 2 + write 1 + 2 us margin 200 + 0.2 ms read 20 000
    assert full.samples_per_trial == half.samples_per_trial == 20_206
    assert (full.max_slots_per_cycle, half.max_slots_per_cycle) == (12, 6)
    with pytest.raises(ValueError, match="pulse generator's 10000-point memory: lower nplc"):
        plan_timing(10e-9, 20e-9, 0.01, 50.0, max_points=10_000, max_sample_rate_Hz=2.5e9)
    with pytest.raises(ValueError, match="at most 1e\\+08 Sa/s: use pulses of at least 1e-08 s"):
        plan_timing(5e-9, 20e-9, 0.01, 50.0, max_points=262_144, max_sample_rate_Hz=1e8)


def test_batches_cost_what_they_did_before_the_capabilities(bench_and_sim):
    """Regression pin: the round trips and projected bench time of two fixed batches, run as
    level runs (one run per distinct level, the two calibration levels included; the first
    batch also loads the waveform pair). Before level runs (one waveform slot per trial):
    27 trips / 0.198 s and 78 trips / 3.50 s (seven 262,144-point uploads)."""
    bench, _ = bench_and_sim
    one = bench.trials("M1", np.linspace(0.05, 0.4, 6), 20e-9, repeats=5)
    many = bench.trials("L0", np.linspace(0.2, 1.0, 40), 10e-9, repeats=3, nplc=0.02)
    # generator as master (default bench: Trigger Out -> 2450 digital line 2): one
    # LogicTrigger model, one generator message for all levels, one fetch; each first batch
    # on a device width loads the waveform pair. Level runs (two trips per level, integration-
    # only reading time) gave 48 / 0.103 s and 113 / 0.377 s; the times now budget the 2450's
    # datasheet reading time (0.2 ms + 0.167 ms overhead, autozero off)
    assert (one.round_trips, one.meta["runs"], one.meta["plan"]) == (35, 1, "sequenced")
    assert one.projected_time_s == pytest.approx(0.120621, rel=1e-3)
    assert (many.round_trips, many.meta["runs"]) == (33, 1)
    assert many.projected_time_s == pytest.approx(0.333419, rel=1e-3)
    again = bench.trials("L0", np.linspace(0.2, 1.0, 40), 10e-9, repeats=3, nplc=0.02)
    assert again.round_trips == 12                  # pair loaded: 42 levels in 12 trips


# ---------------------------------------------------------------- public Bench methods for steps
def test_select_for_step_closes_exactly_the_device_crosspoints(bench_and_sim):
    bench, sim = bench_and_sim
    dev = bench.select_for_step("M3")
    wiring = bench.config.wiring
    assert dev.name == "chip1/M3"
    assert sim.instruments[SWITCH].closed_channels() == {dev.channel(wiring.pulse_row),
                                                         dev.channel(wiring.read_row)}


def test_trial_ids_are_reserved_once_and_never_reused(bench_and_sim):
    bench, _ = bench_and_sim
    assert bench.reserve_trial_ids(3).tolist() == [0, 1, 2]
    assert bench.reserve_trial_ids(0).tolist() == []
    batch = bench.trials("S0", [0.05, 0.1], 20e-9, repeats=2)
    assert batch.trial_id.tolist() == [3, 4, 5, 6]
    assert bench.reserve_trial_ids(1).tolist() == [7]
    with pytest.raises(ValueError, match="trial-id count must be >= 0, got -1"):
        bench.reserve_trial_ids(-1)
