"""The bench path's current ceiling is the one the drivers honour, per device."""

import numpy as np
import pytest

from drivers.limits import HIGH_Z_LOAD_OHM, check_pulse, emf_V
from hil.backends import BenchBackend
from hil.safety import CurrentLimitError, max_write_current_A


@pytest.mark.parametrize("name", ["chip1/S0", "chip1/M3", "chip1/L7"])
def test_bench_ceiling_is_what_the_drivers_allow(name):
    with BenchBackend.open() as devices:
        limits = devices.config.limits_for(name)
        source = devices.config.wiring.source_impedance_ohm
        ceiling = devices.max_current_of(name)
        path = devices.line_resistance_ohm(name)
        # never above the size's bound, lower for a line above the size's minimum resistance
        assert ceiling <= max_write_current_A(limits, source) * (1 + 1e-12)
        assert path > limits.min_line_resistance_ohm
        assert ceiling < max_write_current_A(limits, source)
        # just under the ceiling the drivers accept the pulse; just over, they refuse it
        level = lambda current: current * (source + path) / emf_V(1.0, source)  # noqa: E731
        check_pulse(level(0.999 * ceiling), 10e-9, limits, source, HIGH_Z_LOAD_OHM, name)
        with pytest.raises(ValueError):
            check_pulse(level(1.01 * ceiling), 10e-9, limits, source, HIGH_Z_LOAD_OHM, name)
        # and hil refuses it first, before anything reaches the bus
        trips = devices.round_trips
        index = devices.index_of([name])
        with pytest.raises(CurrentLimitError, match="over its write path"):
            devices.sample(index, np.array([[1.01 * ceiling]]), 10e-9, 1)
        assert devices.round_trips == trips
