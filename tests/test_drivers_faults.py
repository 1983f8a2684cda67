"""Fault injection: 1 % of the simulated bench's query replies fault (timeout, garbled reply,
instrument error, dropped connection); over 10 000 batched trials every trial is accounted
for exactly once, every output is off at the end, and the switching results are those of a
bench without faults.

The write levels sit in each device's transition (P or switched fraction 0.2-0.8 at 100 ns,
found by a scan of the default bench), so a trial lost, counted twice or read into another
level's slot by a retry changes the result; at P = 0 or 1 it could not."""

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
from simhelpers import assert_all_off

TRIALS = 10_000
PER_BATCH = 20                  # small batches: more bus traffic, so more faults to survive
WIDTH_S = 100e-9
# per device, three write levels (x its reset voltage, reversed) at switched fraction ~0.25,
# ~0.5, ~0.75 for 100 ns pulses on the default bench (seed 42)
TRANSITION = {"S0": (0.47, 0.49, 0.50), "M1": (0.45, 0.46, 0.47), "L2": (0.50, 0.51, 0.52),
              "S5": (0.44, 0.46, 0.47)}


def fraction_per_level(amplitude_V, fraction, levels) -> np.ndarray:
    """Mean switched fraction of the trials at each of ``levels``."""
    return np.array([fraction[amplitude_V == v].mean() for v in levels])


def reference_fractions(repeats: int) -> dict[str, np.ndarray]:
    """The same levels on a bench without faults (one batch per device)."""
    out = {}
    with Bench.open(visa_library=SimulatedVisaLibrary()) as bench:
        bench.field.set_field(0.02)
        for device, scale in TRANSITION.items():
            levels = np.array(scale) * -bench.default_reset_V(device)
            batch = bench.trials(device, levels, WIDTH_S, repeats)
            out[device] = fraction_per_level(batch.amplitude_V, batch.switched_fraction, levels)
    return out


def test_one_percent_faults_over_10000_trials_every_trial_exactly_once():
    lib = SimulatedVisaLibrary(fault_rate=0.01, fault_seed=2024)
    ids, amplitudes, resistances = [], [], []
    with Bench.open(visa_library=lib, retry=RetryPolicy(max_attempts=6)) as bench:
        bench.field.set_field(0.02)                       # retried by the role proxy
        devices = list(TRANSITION)
        played = {d: ([], []) for d in devices}         # amplitudes, switched fractions
        for batch_index in range(TRIALS // PER_BATCH):
            device = devices[batch_index % len(devices)]
            levels = np.array(TRANSITION[device]) * -bench.default_reset_V(device)
            amps = levels[np.arange(PER_BATCH) % 3]
            batch = bench.trials(device, amps, WIDTH_S, repeats=1)
            assert len(batch) == PER_BATCH
            assert np.array_equal(batch.amplitude_V, amps)
            ids.append(batch.trial_id)
            amplitudes.append(batch.amplitude_V)
            resistances.append(batch.resistance_ohm)
            played[device][0].append(batch.amplitude_V)
            played[device][1].append(batch.switched_fraction)
        faults = bench.faults.as_dict()
    # 125 batches per device: 7 + 7 + 6 trials per level each, 875 / 875 / 750 in all
    reference = reference_fractions(repeats=400)
    for device, (amps, fraction) in played.items():
        levels = sorted(np.unique(np.concatenate(amps)), key=abs)   # the order of TRANSITION
        assert len(levels) == 3
        measured = fraction_per_level(np.concatenate(amps), np.concatenate(fraction), levels)
        # in the transition, and the same curve as without faults: estimates of ~800 and 400
        # trials differ by sd <= 0.5 sqrt(1/800 + 1/400) = 0.031, so 0.12 is 4 sd; a level's
        # trials read into the neighbouring level's slot would move it by ~0.25
        assert np.all((reference[device] > 0.15) & (reference[device] < 0.85)), (device, levels)
        np.testing.assert_allclose(measured, reference[device], atol=0.12, err_msg=device)
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
    """One batch retried whole after faults (20 % of the replies, injected only during the
    batch) gives the switching curve of the same bench without faults: in the transition,
    where a retry that lost, duplicated or mixed up trials would change it."""
    repeats = 600
    scale = np.array(TRANSITION["S0"])

    def switching(rate: float, seed: int):
        lib = SimulatedVisaLibrary(fault_seed=seed)
        with Bench.open(visa_library=lib, retry=RetryPolicy(max_attempts=12)) as bench:
            bench.field.set_field(0.02)
            levels = scale * -bench.default_reset_V("S0")
            lib.faults.rate = rate
            batch = bench.trials("S0", levels, WIDTH_S, repeats=repeats)
            lib.faults.rate = 0.0
            retries = bench.faults.retries
        assert len(batch) == 3 * repeats and np.array_equal(batch.amplitude_V,
                                                            np.repeat(levels, repeats))
        return batch.switched.reshape(3, repeats).mean(axis=1), batch.attempts, retries

    clean, attempts, _ = switching(0.0, 5)
    assert attempts == 1
    # S0 is a macrospin: P ~ 0.2, 0.5, 0.75 at these levels
    assert np.all((clean > 0.15) & (clean < 0.85)) and np.all(np.diff(clean) > 0.15), clean
    retried = 0
    for seed in (1, 2, 4):
        faulty, attempts, retries = switching(0.2, seed)
        retried += attempts - 1
        assert retries >= attempts - 1
        # two binomial estimates of 600 trials: sd of the difference <= sqrt(0.5 / 600) = 0.029
        np.testing.assert_allclose(faulty, clean, atol=0.12, err_msg=f"fault seed {seed}")
    assert retried >= 3, "the faults never made a batch retry: raise the rate or change seeds"


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
