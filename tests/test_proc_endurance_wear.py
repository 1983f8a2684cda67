"""The endurance procedure finds a device that wears out ([nonideal] wear_life_cycles)."""

from __future__ import annotations

import tomllib

from devices.benchfile import default_bench_text
from procedures.endurance import EnduranceProcedure
from procedures.runner import run_procedure
from procedures.session import open_bench


def test_endurance_finds_a_worn_out_device(tmp_path):
    # a life of 500 write pulses: each cycle is a reset and a write, so ~250 cycles at most
    data = tomllib.loads(default_bench_text())
    data["nonideal"] = {"sot_hall_bar": {"wear_life_cycles": 500.0, "wear_i50_shift_rel": 0.3}}
    with open_bench(data) as bench:
        out = run_procedure(EnduranceProcedure(bench=bench, device="chip1/M1", cycles=500, block=50),
                            tmp_path / "worn.csv")
    states = [r["State"] for r in out.rows]
    state, cycles = out.extra["first_failure"]
    assert state == "stuck" and 100 <= cycles <= 250
    assert states[:2] == ["ok", "ok"]
    assert set(states[states.index("stuck"):]) == {"stuck"}
