"""Watching the simulated bench that a CLI run opens: every SimulatedVisaLibrary built while
the fixture is active is recorded, so a test can check after the run that no pulse over the
bench file's limits reached a device and none was damaged."""

from __future__ import annotations

import pytest

import simulated_bench.visa as sim_visa

TOL = 1 + 1e-6


@pytest.fixture
def opened_sims(monkeypatch):
    """The simulated benches (``lib.bench``) opened while the test runs."""
    benches: list = []

    class Recording(sim_visa.SimulatedVisaLibrary):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            benches.append(self.bench)

    monkeypatch.setattr(sim_visa, "SimulatedVisaLibrary", Recording)
    return benches


def assert_within_limits(sim, config) -> None:
    """No device damaged; every pulse that reached a device within its size's limits."""
    assert sim.damaged_devices() == []
    for record in sim.pulse_log:
        limits = config.limits_for(record.device)
        assert abs(record.voltage_V) <= limits.max_pulse_voltage_V * TOL, record
        assert abs(record.current_A) / limits.line_cross_section_m2 \
            <= limits.max_current_density_A_m2 * TOL, record
        assert record.width_s <= limits.max_pulse_width_s * TOL, record
