"""DW-MTJ IFR runs pulse by pulse vs as pulse trains: round trips, projected bench time, floor.

    .venv/bin/python benchmarks/bench_ifr_plan.py [--quick]

The same runs on ``examples/benches/dw_ifr_neurons.toml`` (same seed, simulated bench) under
the two plans the procedures choose between:

- ``pulses``: every write pulse and every read its own bus exchange (the file with the
  generator's Trigger Out not wired, ``generator_trigger_line = 0``);
- ``trains``: :mod:`drivers.pulsetrain` (the file with ``generator_trigger_line = 2``:
  Trigger Out on the 2450's digital line 2, as the default bench wires it).

Runs: ``hil characterize ifr`` (M5, 100 cycles), ``ifr-transfer`` (M3, 6 x 40 cycles), the
survey on three devices (N0, M0, W0; 5 x 30 cycles each) and one in-situ SNN batch through
:class:`hil.snn.bench.IFRBenchBackend` (64 hidden neurons on the 8 M devices, 25 steps, rate
coding, untrained weights, 2 digits; device setup apart). The floor is the physics of the
same answers (each read's integration at NPLC 0.01 and the pulses); the pulses-to-fire /
spike figures show that both plans answer alike (same seed, statistically: the two plans
draw the pinning noise in another order). Not a timed test.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hil.neuron import round_robin  # noqa: E402
from hil.snn.bench import IFRBenchBackend  # noqa: E402
from hil.snn.devices import IFRParameters  # noqa: E402
from hil.snn.layer import DensityMapping, IFRSpikingLayer  # noqa: E402
from hil.snn.network import SpikingNet  # noqa: E402
from hil.snn.simulated import sizes_of, truth_calibration, wall_chip  # noqa: E402
from procedures.ifr import (  # noqa: E402
    IFRCyclingProcedure,
    IFRTransferProcedure,
    bench_cost,
    cycle_summary,
)
from procedures.ifr_survey import IFRSurveyProcedure  # noqa: E402
from procedures.runner import read_points, run_procedure  # noqa: E402
from procedures.session import load_bench, open_bench  # noqa: E402

BENCH = Path(__file__).resolve().parents[1] / "examples" / "benches" / "dw_ifr_neurons.toml"
WIDTH_S = 20e-9                  # the SNN's write pulse (hil train --network snn default)


def bench_files(tmp: Path) -> dict[str, str]:
    """The example bench file with Trigger Out not wired (pulse by pulse) and wired (trains)."""
    text, out = BENCH.read_text(), {}
    for plan, line in (("pulses", 0), ("trains", 2)):
        setting = f"generator_trigger_line = {line}"
        if re.search(r"^generator_trigger_line\s*=", text, re.M):
            wired = re.sub(r"^generator_trigger_line\s*=.*$", setting, text, count=1, flags=re.M)
        else:
            wired = text.replace("trigger_link = true", f"trigger_link = true\n{setting}", 1)
        (tmp / f"dw_ifr_{plan}.toml").write_text(wired)
        out[plan] = str(tmp / f"dw_ifr_{plan}.toml")
    return out


def procedure_run(path: str, make, tmp: Path) -> dict:
    with open_bench(path) as bench:
        procedure = make(bench, path)
        out = tmp / f"{type(procedure).__name__}_{Path(path).stem}.csv"
        run_procedure(procedure, out)
    _, rows = read_points(out)
    summary = cycle_summary(rows)
    return {**bench_cost(rows), "answer": f"mean N {summary['mean_pulses_to_fire']:.2f} "
            f"sd {summary['sd_pulses_to_fire']:.2f}, reset ok "
            f"{summary['reset_success_rate']:.3f}, {summary['cycles']} cycles"}


def snn_run(path: str, samples: int, hidden: int) -> dict:
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    config = load_bench(path)
    chip = wall_chip(config)
    truth = truth_calibration(chip, WIDTH_S)
    names = round_robin(hidden, sizes_of(chip)["M"])
    own = IFRParameters.from_calibration(truth, names, config)
    x = torch.tensor(load_digits().data[:samples] / 16.0, dtype=torch.float32)
    with open_bench(path) as bench:
        backend = IFRBenchBackend(bench, IFRParameters.from_calibration(
            truth, list(dict.fromkeys(names)), config))
        layer = IFRSpikingLayer(backend, names, DensityMapping.from_parameters(own, WIDTH_S),
                                own, WIDTH_S)
        net = SpikingNet(x.shape[1], hidden, 10, layer, steps=25, coding="rate")
        for name in dict.fromkeys(names):
            backend.prepare(name)
        trips, time_s, floor = backend.round_trips, backend.bench_time_s, backend.floor_s
        with torch.no_grad():
            spikes = net.spikes(x).numpy()
        trips, time_s = backend.round_trips - trips, backend.bench_time_s - time_s
        floor = backend.floor_s - floor
    lanes = spikes.shape[1] * spikes.shape[2]
    return {"round_trips": trips, "projected_time_s": time_s, "floor_s": floor,
            "projected_over_floor": time_s / floor,
            "answer": f"{spikes.sum() / lanes:.2f} spikes per lane ({lanes} lanes x "
                      f"{spikes.shape[0]} steps), {trips / lanes:.1f} round trips per lane"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer cycles and one sample (a smoke run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    quick = args.quick
    cases = {
        "ifr (M5, 100 cycles)": lambda b, p: IFRCyclingProcedure(
            bench=b, bench_file=p, device="chip1/M5", cycles=20 if quick else 100),
        "ifr-transfer (M3, 6 x 40)": lambda b, p: IFRTransferProcedure(
            bench=b, bench_file=p, device="chip1/M3", cycles=8 if quick else 40),
        "ifr-survey (N0, M0, W0; 5 x 30)": lambda b, p: IFRSurveyProcedure(
            bench=b, bench_file=p, devices="chip1/N0,chip1/M0,chip1/W0",
            cycles=6 if quick else 30),
    }
    with tempfile.TemporaryDirectory() as tmp:
        files = bench_files(Path(tmp))
        results: dict[str, dict[str, dict]] = {}
        for case, make in cases.items():
            results[case] = {plan: procedure_run(path, make, Path(tmp))
                             for plan, path in files.items()}
        snn = f"snn batch (64 hidden on 8 M, 25 steps, {1 if quick else 2} digits)"
        results[snn] = {plan: snn_run(path, 1 if quick else 2, 64) for plan, path in files.items()}
    print(f"{'run':<52}{'plan':<8}{'round trips':>12}{'projected s':>13}{'floor s':>10}"
          f"{'x floor':>9}   answer")
    for case, plans in results.items():
        for plan, r in plans.items():
            print(f"{case:<52}{plan:<8}{r['round_trips']:>12.0f}{r['projected_time_s']:>13.3f}"
                  f"{r['floor_s']:>10.4f}{r['projected_over_floor']:>9.1f}   {r['answer']}")
        before, after = plans["pulses"], plans["trains"]
        print(f"{'':<52}{'gain':<8}{before['round_trips'] / after['round_trips']:>11.1f}x"
              f"{before['projected_time_s'] / after['projected_time_s']:>12.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
