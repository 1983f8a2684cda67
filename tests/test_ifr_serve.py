"""The IFR procedures over `hil serve` (raw SCPI sockets, pyvisa-py: the real-network path)
give the same numbers as in process with the same bench seed: every row of the Results file
(pulses to fire, resets, readings, round trips, floor) and the transfer fit. The bench time
is the one column apart: in process it is the simulated bench's virtual clock, over sockets
the time the exchanges really took (as on a real bench)."""

import json
from pathlib import Path

from procedures.cli import main as characterize
from procedures.runner import read_points
from simulated_bench.bench import SimulatedBench
from simulated_bench.server import serve

BENCH = str(Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml")
RUN = ["ifr-transfer", "--bench", BENCH, "--device", "N1", "--points", "3", "--cycles", "4",
       "--no-progress"]


def test_ifr_transfer_reads_the_same_over_hil_serve_as_in_process(tmp_path, capsys):
    assert characterize(RUN + ["--out", str(tmp_path / "local")]) == 0
    with serve(SimulatedBench.from_config(BENCH)) as server:
        args = RUN + ["--out", str(tmp_path / "net"), "--backend", "visa", "--visa-library", "@py"]
        for configured, resource in server.addresses.items():
            assert "TCPIP" in resource and "SOCKET" in resource
            args += ["--address", f"{configured}={resource}"]
        assert characterize(args) == 0
    capsys.readouterr()
    _, local = read_points(tmp_path / "local" / "ifr_transfer.csv")
    _, net = read_points(tmp_path / "net" / "ifr_transfer.csv")
    def measured(rows):
        return [{k: v for k, v in r.items() if k != "Projected bench time (s)"} for r in rows]
    assert len(local) == 12 and measured(net) == measured(local)
    assert all(r["Projected bench time (s)"] > 0 for r in net)
    fits = [json.loads((tmp_path / d / "ifr_transfer_summary.json").read_text())["fit"]
            for d in ("local", "net")]
    assert "jdep_A_m2" in fits[0] and fits[1] == fits[0]
