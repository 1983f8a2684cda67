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


def measure(runs: bool) -> dict:
    """Every figure of the table on the tree this script runs in (cwd = its root)."""
    sys.path.insert(0, os.getcwd())
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
            t0, s0, f0 = xbar.round_trips, xbar.projected_bench_time_s, xbar.floor_s
            for k in range(repeats):
                result = action(k)
            out[name] = {"trips": (xbar.round_trips - t0) / repeats,
                         "time_s": (xbar.projected_bench_time_s - s0) / repeats,
                         "floor_s": (xbar.floor_s - f0) / repeats}
            return result

        xbar.read_columns(x)                              # the read SMU's settings, once
        currents = cost("vmm read (8 columns)", lambda k: xbar.read_columns(x), 4)
        out["vmm currents uA"] = [round(float(i) * 1e6, 3) for i in currents]
        xbar.write(0, 0, "P", 0.5, 1e-7)                  # the generator's settings, once
        cost("write (one junction)", lambda k: xbar.write(1 + k, 1 + k, "P", 0.5, 1e-7), 6)
        ltp = np.array([1, 1, 0, 1, 0, 0, 1, 0], dtype=bool)
        cost("STDP column update (8 pulses)", lambda k: xbar.write_many(
            [(r, 2 + k, "P" if ltp[r] else "AP", 0.41 if ltp[r] else 0.56, 1e-7) for r in range(8)]), 4)
        states = cost("read_states (64 junctions)", lambda k: xbar.read_states())
        out["states"] = states.tolist()
    if runs:
        out.update(_runs())
    return out


def _runs() -> dict:
    import time

    from hil.stdp.config import StdpConfig
    from hil.stdp.experiment import run_stdp
    from procedures.cli import run_characterization

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run_stdp(StdpConfig(dataset="patterns", modes=("bench",), seeds=(0,), bench=XBAR,
                                     out_dir=str(Path(tmp) / "stdp"), progress=False))
        row = result.runs[0]
        out["STDP pattern run (seed 0)"] = {"trips": row["round_trips"],
                                            "time_s": row["projected_bench_time_s"],
                                            "floor_s": row["floor_s"],
                                            "wall_s": time.perf_counter() - started}
        out["STDP accuracy %"] = row.get("accuracy")
        started = time.perf_counter()
        result = run_characterization("synapse-switching", {"bench_file": XBAR, "devices": "W9"},
                                      Path(tmp) / "ss", progress=False)
        summary = result["summary"]
        cost = summary["bench_cost"]
        out["synapse-switching W9"] = {"trips": cost["round_trips"], "time_s": cost["projected_time_s"],
                                       "floor_s": cost["floor_s"],
                                       "wall_s": time.perf_counter() - started}
        fit = summary["junctions"]["xbar/W9"]
        out["W9 fit"] = {k: fit.get(k) for k in ("vc_p_to_ap_V", "vc_ap_to_p_V", "delta", "exponent",
                                                 "g_p_S", "g_ap_S", "trials")}
    return out


def measure_before(commit: str, runs: bool) -> dict:
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
        args = [sys.executable, str(script), "--measure"] + ([] if runs else ["--no-runs"])
        done = subprocess.run(args, cwd=tree, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])


def table(before: dict, after: dict) -> str:
    head = (f"{'':34} {'trips':>7} {'bench':>10} {'floor':>9} {'x floor':>8}   "
            f"{'trips':>7} {'bench':>10} {'x floor':>8}   {'time gain':>9}")
    lines = [f"{'':34} {'before':^37}   {'after':^28}", head, "-" * len(head)]
    for name, a in after.items():
        b = before.get(name)
        if not isinstance(a, dict) or "trips" not in a or not isinstance(b, dict):
            continue
        lines.append(f"{name:34} {b['trips']:7.0f} {_t(b['time_s']):>10} {_t(b['floor_s']):>9} "
                     f"{b['time_s'] / b['floor_s']:7.0f}x   {a['trips']:7.0f} {_t(a['time_s']):>10} "
                     f"{a['time_s'] / a['floor_s']:7.0f}x   {b['time_s'] / a['time_s']:8.2f}x")
    return "\n".join(lines)


def _t(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--no-runs", action="store_true",
                        help="only the primitives (skip the STDP and synapse-switching runs)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.measure:
        print(json.dumps(measure(not args.no_runs), default=float))
        return
    os.chdir(ROOT)
    before = measure_before(args.before, not args.no_runs)
    after = measure(not args.no_runs)
    print(f"bench {XBAR}; before = {args.before[:10]}, after = this tree\n")
    print(table(before, after))
    for key in ("vmm currents uA", "STDP accuracy %", "W9 fit"):
        if key in after:
            print(f"\n{key}:\n  before {before.get(key)}\n  after  {after.get(key)}")
    print(f"\nread_states identical: {before.get('states') == after.get('states')}")
    for key in ("STDP pattern run (seed 0)", "synapse-switching W9"):
        if key in after:
            print(f"{key} wall: before {before[key]['wall_s']:.1f} s, after {after[key]['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
