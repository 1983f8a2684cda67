"""The synapse crossbar's bus plan, before and after, side by side.

    .venv/bin/python benchmarks/bench_crossbar.py [--before COMMIT] [--no-runs]

On ``examples/benches/stt_synapse_crossbar.toml`` (8 x 8 junctions behind the 7709), through
``drivers.crossbar.Crossbar`` on the simulated bench: round trips, projected bench time and
its physical floor (readings x the 0.2 ms integration, pulses x their width) of one VMM read
(8 columns), one write (a junction after another one), one STDP column update (8 pulses of
two levels, ``write_many``), ``read_states`` (64 readings), the in-situ STDP pattern run
(``hil train --network stdp --modes bench --dataset patterns``, seed 0) and a
synapse-switching run on one junction (``hil characterize synapse-switching --devices W9``,
default options). Both sides run this same script: "before" in a ``git archive`` export of
``--before`` (default: the commit before the bus plan), in a child process. Not a timed test.

The relay figure: every line change is one :ROUTe:MULTiple:OPEN and one :CLOSe, 3 ms of relay
settling each (``simulated_bench.clock.RELAY_SETTLE_S``), which no bus plan removes while
one SMU measures one column at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
XBAR = "examples/benches/stt_synapse_crossbar.toml"
BASELINE = "953049942b359e10c44de87c8eed48bf42abf50a"   # the crossbar before the bus plan
RELAY_SETTLE_S = 3e-3       # simulated_bench.clock.RELAY_SETTLE_S: one open / close command
STDP = "STDP pattern run (per seed)"
SWITCHING = "synapse-switching W9"


RELAYS = [0]     # relay commands (open / close) the simulated 2750 has executed


def _count_relays() -> None:
    """Count every relay command of the simulated 2750 (each settles its relays 3 ms)."""
    from simulated_bench.instruments import keithley2750

    cls = keithley2750.Keithley2750
    for name in ("_close_multiple", "_open_multiple", "_close_exclusive", "_open_all"):
        def counted(self, *args, _f=getattr(cls, name)):
            RELAYS[0] += 1
            return _f(self, *args)
        setattr(cls, name, counted)


def measure(runs: bool, seeds: tuple[int, ...]) -> dict:
    """Every figure of the table on the tree this script runs in (cwd = its root)."""
    sys.path.insert(0, os.getcwd())
    _count_relays()
    from devices.benchfile import load_bench_file
    from drivers.bench import Bench
    from drivers.crossbar import Crossbar
    from simulated_bench.bench import SimulatedBench
    from simulated_bench.visa import SimulatedVisaLibrary

    config = load_bench_file(XBAR)
    out: dict = {}
    with Bench.open(config, visa_library=SimulatedVisaLibrary(SimulatedBench(config))) as bench:
        xbar = Crossbar(bench)
        x = np.array([1, 0, 1, 1, 0, 1, 0, 0], dtype=bool)

        def cost(name, action, repeats=1):
            t0, s0, f0, r0 = xbar.round_trips, xbar.projected_bench_time_s, xbar.floor_s, RELAYS[0]
            for k in range(repeats):
                result = action(k)
            out[name] = {"trips": (xbar.round_trips - t0) / repeats,
                         "time_s": (xbar.projected_bench_time_s - s0) / repeats,
                         "floor_s": (xbar.floor_s - f0) / repeats,
                         "relay_s": (RELAYS[0] - r0) * RELAY_SETTLE_S / repeats}
            return result

        xbar.read_columns(x)                              # the read SMU's settings, once
        currents = cost("vmm read (8 columns)", lambda k: xbar.read_columns(x), 4)
        out["vmm currents uA"] = [round(float(i) * 1e6, 3) for i in currents]
        xbar.write(0, 0, "P", 0.5, 1e-7)                  # the generator's settings, once
        cost("write (one junction)", lambda k: xbar.write(1 + k, 1 + k, "P", 0.5, 1e-7), 6)
        # potentiated rows first: the order write_many sends them in, so that both sides
        # draw the same random numbers and the states read after must agree
        rows = [0, 1, 3, 6, 2, 4, 5, 7]
        cost("STDP column update (8 pulses)", lambda k: xbar.write_many(
            [(r, 2 + k, "P", 0.41, 1e-7) for r in rows[:4]]
            + [(r, 2 + k, "AP", 0.56, 1e-7) for r in rows[4:]]), 4)
        states = cost("read_states (64 junctions)", lambda k: xbar.read_states())
        out["states"] = states.tolist()
    if runs:
        out.update(_runs(seeds))
    return out


def _runs(seeds: tuple[int, ...]) -> dict:
    import time

    from hil.stdp.config import StdpConfig
    from hil.stdp.experiment import run_stdp
    from procedures.cli import run_characterization

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        started, r0 = time.perf_counter(), RELAYS[0]
        result = run_stdp(StdpConfig(dataset="patterns", modes=("bench",), seeds=seeds, bench=XBAR,
                                     out_dir=str(Path(tmp) / "stdp"), progress=False))
        rows = result.runs
        mean = {k: float(np.mean([r[k] for r in rows]))
                for k in ("round_trips", "projected_bench_time_s", "floor_s")}
        out[STDP] = {"trips": mean["round_trips"], "time_s": mean["projected_bench_time_s"],
                     "floor_s": mean["floor_s"],
                     "relay_s": (RELAYS[0] - r0) * RELAY_SETTLE_S / len(rows),
                     "wall_s": (time.perf_counter() - started) / len(rows)}
        out["STDP accuracy % per seed"] = [round(100 * r["test_acc"], 1) for r in rows]
        out["STDP pulses per seed"] = [r.get("pulses") for r in rows]
        started, r0 = time.perf_counter(), RELAYS[0]
        result = run_characterization("synapse-switching", {"bench_file": XBAR, "devices": "W9"},
                                      Path(tmp) / "ss", progress=False)
        summary = result["summary"]
        cost = summary["bench_cost"]
        out[SWITCHING] = {"trips": cost["round_trips"], "time_s": cost["projected_time_s"],
                          "floor_s": cost["floor_s"], "relay_s": (RELAYS[0] - r0) * RELAY_SETTLE_S,
                          "wall_s": time.perf_counter() - started}
        fit = summary["junctions"]["xbar/W9"]
        out["W9 fit"] = {k: fit.get(k) for k in ("vc_p_to_ap_V", "vc_ap_to_p_V", "delta", "exponent",
                                                 "g_p_S", "g_ap_S", "trials")}
    return out


def measure_before(commit: str, runs: bool, seeds: tuple[int, ...]) -> dict:
    """:func:`measure` on ``commit``'s tree (exported with ``git archive``, this script copied in)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "tree.tar"
        subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), commit], cwd=ROOT,
                       check=True)
        tree = Path(tmp) / "tree"
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        (tree / "benchmarks").mkdir(exist_ok=True)
        script = tree / "benchmarks" / "bench_crossbar.py"
        script.write_text(Path(__file__).read_text())
        args = [sys.executable, str(script), "--measure", "--seeds", *map(str, seeds)] + \
            ([] if runs else ["--no-runs"])
        done = subprocess.run(args, cwd=tree, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])


def table(before: dict, after: dict) -> str:
    head = (f"{'':31} {'trips':>6} {'bench':>9} {'floor':>8} {'x floor':>7}   "
            f"{'trips':>6} {'bench':>9} {'floor':>8} {'x floor':>7} {'relays':>9}   {'gain':>5}")
    lines = [f"{'':31} {'before':^33}   {'after':^44}", head, "-" * len(head)]
    for name, a in after.items():
        b = before.get(name)
        if not isinstance(a, dict) or "trips" not in a or not isinstance(b, dict):
            continue
        lines.append(f"{name:31} {b['trips']:6.0f} {_t(b['time_s']):>9} {_t(b['floor_s']):>8} "
                     f"{b['time_s'] / b['floor_s']:6.0f}x   {a['trips']:6.0f} {_t(a['time_s']):>9} "
                     f"{_t(a['floor_s']):>8} {a['time_s'] / a['floor_s']:6.0f}x {_t(a['relay_s']):>9}   "
                     f"{b['time_s'] / a['time_s']:4.2f}x")
    return "\n".join(lines)


def _t(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--no-runs", action="store_true",
                        help="only the primitives (skip the STDP and synapse-switching runs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds of the STDP pattern run (default 0)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    seeds = tuple(args.seeds)
    if args.measure:
        print(json.dumps(measure(not args.no_runs, seeds), default=float))
        return
    os.chdir(ROOT)
    before = measure_before(args.before, not args.no_runs, seeds)
    after = measure(not args.no_runs, seeds)
    print(f"bench {XBAR}; before = {args.before[:10]}, after = this tree\n")
    print(table(before, after))
    print("\nrelays: the 2750's open / close commands x 3 ms settling (after), what no bus plan "
          "removes while one SMU measures one column at a time")
    for key in ("vmm currents uA", "STDP accuracy % per seed", "STDP pulses per seed", "W9 fit"):
        if key in after:
            print(f"\n{key}:\n  before {before.get(key)}\n  after  {after.get(key)}")
    print(f"\nread_states identical: {before.get('states') == after.get('states')}")
    for key in (STDP, SWITCHING):
        if key in after:
            print(f"{key} wall: before {before[key]['wall_s']:.1f} s, after {after[key]['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
