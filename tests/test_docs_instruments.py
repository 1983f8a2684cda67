"""docs/instruments.md lists every header the pulse generator, matrix and magnet simulators
answer (a command added or removed without the docs fails here)."""

from pathlib import Path

import pytest

from simulated_bench.visa import SimulatedVisaLibrary

DOCS = (Path(__file__).resolve().parents[1] / "docs" / "instruments.md").read_text()


@pytest.mark.parametrize("model", ["Keysight81160A", "Keithley2750", "KepcoBOP"])
def test_every_simulated_header_is_documented(model):
    lib = SimulatedVisaLibrary()
    instrument = next(i for i in lib.bench.instruments.values() if type(i).__name__ == model)
    missing = [c.path for c in instrument.commands if f"`{c.path}`" not in DOCS]
    assert not missing, f"docs/instruments.md does not list {model}'s {missing}"
