"""Fault injection: 1 % of the simulated bench's query replies fault (timeout, garbled reply,
instrument error, dropped connection); over 10 000 batched trials every trial is accounted
for exactly once and every output is off at the end."""

from __future__ import annotations

import numpy as np
import pyvisa
import pytest

from drivers.bench import Bench
from drivers.faults import (
    FaultError,
    GarbledReply,
    InstrumentError,
    RetryPolicy,
    classify,
    parse_error_reply,
    parse_floats,
)
from drivers.limits import LimitViolation
from simulated_bench.faults import FaultKind
from simulated_bench.visa import SimulatedVisaLibrary
from tests.test_drivers_bench import assert_all_off

TRIALS = 10_000
PER_BATCH = 20                  # small batches: more bus traffic, so more faults to survive


def test_one_percent_faults_over_10000_trials_every_trial_exactly_once():
    lib = SimulatedVisaLibrary(fault_rate=0.01, fault_seed=2024)
    ids, amplitudes, resistances = [], [], []
    with Bench.open(visa_library=lib, retry=RetryPolicy(max_attempts=6)) as bench:
        bench.field.set_field(0.02)                       # retried by the role proxy
        devices = ["S0", "M1", "L2", "S5"]
        for batch_index in range(TRIALS // PER_BATCH):
            device = devices[batch_index % len(devices)]
            top = -bench.default_reset_V(device)
            levels = np.array([0.2, 0.6, 1.0]) * top
            amps = levels[np.arange(PER_BATCH) % 3]
            batch = bench.trials(device, amps, 100e-9, repeats=1)
            assert len(batch) == PER_BATCH
            ids.append(batch.trial_id)
            amplitudes.append(batch.amplitude_V)
            resistances.append(batch.resistance_ohm)
        faults = bench.faults.as_dict()
    ids = np.concatenate(ids)
    assert len(ids) == TRIALS and len(np.unique(ids)) == TRIALS
    assert np.array_equal(np.sort(ids), np.arange(TRIALS))
    assert np.all(np.isfinite(np.concatenate(resistances)))
    injected = sum(lib.faults.counts.values())
    assert injected >= 20, lib.faults.counts              # the test did see faults
    assert set(lib.faults.counts) == set(FaultKind)       # of every kind
    assert faults["retries"] >= injected * 0.5
    assert faults["failed_steps"] == 0
    assert faults["dropped"] > 0 and faults["garbled"] > 0 and faults["timeout"] > 0
    assert_all_off(lib.bench)
    assert lib.bench.damaged_devices() == []


def test_switching_results_unaffected_by_faults():
    """Same seed, with and without faults: the switched fraction per level agrees."""
    results = []
    for rate in (0.0, 0.02):
        lib = SimulatedVisaLibrary(fault_rate=rate, fault_seed=5)
        with Bench.open(visa_library=lib) as bench:
            bench.field.set_field(0.02)
            top = -bench.default_reset_V("M2")
            batch = bench.trials("M2", np.array([0.1, 1.0]) * top, 20e-9, repeats=200)
            results.append(batch.switched.reshape(2, 200).mean(axis=1))
    assert results[0][0] == results[1][0] == 0.0
    assert results[0][1] == results[1][1] == 1.0


def test_retry_policy_is_bounded_and_does_not_retry_limits_or_bugs():
    policy = RetryPolicy(max_attempts=3)
    calls = []

    def timeout():
        calls.append(1)
        raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
    with pytest.raises(FaultError, match="3 times.*timeout"):
        policy.run(timeout, lambda kind, exc: None)
    assert len(calls) == 3 and policy.counters.timeout == 3 and policy.counters.retries == 2
    for error in (LimitViolation("max_x", 2, 1, "V", "lower it"), ZeroDivisionError()):
        def bad(error=error):
            raise error
        with pytest.raises(type(error)):
            policy.run(bad, lambda kind, exc: None)
    assert policy.counters.failed_steps == 1


def test_fault_classification_and_parsers():
    lost = pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_connection_lost)
    assert classify(lost) == "dropped"
    assert classify(GarbledReply("x")) == "garbled"
    assert classify(InstrumentError("smu", [(-113, "Undefined header")])) == "instrument_error"
    assert classify(ConnectionResetError()) == "dropped"
    assert classify(ValueError()) is None
    assert parse_error_reply('-113,"Undefined header"') == (-113, "Undefined header")
    assert parse_error_reply('+0,"No error"') == (0, "No error")
    with pytest.raises(GarbledReply):
        parse_error_reply('@#,"No error"')
    with pytest.raises(GarbledReply):
        parse_floats("1.0,2.0", 3)
    with pytest.raises(GarbledReply):
        parse_floats("1.0,2.@#", 2)
