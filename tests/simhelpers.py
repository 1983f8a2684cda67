"""Shared helpers of the simulator tests: default-bench addresses, partial benches, wiring."""

from __future__ import annotations

import pyvisa
import tomllib

from devices.benchfile import default_bench_text
from simulated_bench.bench import SimulatedBench

GEN = "GPIB0::10::INSTR"
SMU = "GPIB0::18::INSTR"
AUX_SMU = "GPIB0::24::INSTR"
SWITCH = "GPIB0::16::INSTR"
MAGNET = "GPIB0::6::INSTR"


def bench_with(models=("Keithley2400", "Keithley2750", "KepcoBOP"), **overrides) -> SimulatedBench:
    """The default bench with only the instruments ``models``, plus top-level overrides."""
    data = tomllib.loads(default_bench_text())
    data["instrument"] = [i for i in data["instrument"] if i["model"] in models]
    data.update(overrides)
    return SimulatedBench.from_config(data)


def raw(lib, address):
    """A plain pyvisa resource on the simulated library (no driver in between)."""
    return pyvisa.ResourceManager(lib).open_resource(
        address, read_termination="\n", write_termination="\n")


def connect_device(lib, slot: int, column: int, field_A: float = 2.0) -> None:
    """Close the device's pulse and read crosspoints and set the in-plane bias field."""
    switch = raw(lib, SWITCH)
    switch.write(f":ROUT:MULT:CLOS (@{slot}1{column:02d},{slot}2{column:02d})")
    magnet = raw(lib, MAGNET)
    for command in ("FUNC:MODE CURR", "VOLT 36", f"CURR {field_A}", "OUTP 1"):
        magnet.write(command)
    assert magnet.query("*OPC?").strip() == "1"


def assert_all_off(sim: SimulatedBench) -> None:
    """Every output of the default bench off, the magnet at 0 A, no crosspoint closed."""
    assert not sim.instruments[GEN].channels[1].output
    assert not sim.instruments[SMU].output_on
    assert not sim.instruments[AUX_SMU].output_on
    assert not sim.instruments[MAGNET].output_on
    assert sim.instruments[MAGNET].output_current_A() == 0.0
    assert sim.instruments[SWITCH].closed_channels() == set()


def one_line_error(capsys) -> str:
    """The CLI's stderr, asserted to be one line and no traceback (bad input's contract)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def read_reply_line(sock) -> bytes:
    """One reply from a raw socket of ``hil serve``: bytes up to and with its newline."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data
