"""Bus plans side by side: projected bench time / floor and round trips per device per batch.

    .venv/bin/python benchmarks/bench_bus_plan.py [--survey]

For one in-situ training batch (32 and 128 samples x 128 neurons x 4 trials on the 8 M
devices, K = 8 and 16 current levels per device, through ``hil.backends.BenchBackend`` and
``hil.neuron.DeviceNeuron``) and, with ``--survey``, the default-chip survey, under the three
plans of ``drivers.batch``:

- ``slots``: one waveform slot per trial (forced here: the level-run test is switched off),
- ``levels``: a run per distinct level (the bench file's ``generator_trigger_line = 0``),
- ``sequenced``: the generator as master (the default bench: Trigger Out on 2450 line 2).

Floors: trials x the read integration (physical), and trials x the 2450's reading time
(integration + its per-reading overhead: the instrument's own figure). Not a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import drivers.batch as batching  # noqa: E402
from hil.backends import BenchBackend  # noqa: E402
from hil.calibration import calibration_from_chip  # noqa: E402
from hil.neuron import DeviceNeuron, round_robin  # noqa: E402
from hil.safety import device_current_limits  # noqa: E402
from hil.simulated import SimulatedArrayBackend  # noqa: E402
from devices.benchfile import load_bench_file  # noqa: E402

WIDTH_S = 10e-9
DEFAULT_TOML = Path(__file__).resolve().parents[1] / "devices" / "default_bench.toml"


@contextlib.contextmanager
def plan(name: str):
    """The bench file (path) and driver setting that select ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        text = DEFAULT_TOML.read_text()
        if name == "levels":
            assert "generator_trigger_line = 2" in text
            text = text.replace("generator_trigger_line = 2", "generator_trigger_line = 0")
        path.write_text(text)
        fits = batching._level_runs_fit
        if name == "slots":
            batching._level_runs_fit = lambda *a, **k: False
        try:
            yield str(path)
        finally:
            batching._level_runs_fit = fits


def reading_s(bench) -> float:
    return bench.role_for_step("read_smu").reading_time_s(0.01, bench.line_frequency_Hz)


def in_situ(bench_path: str, samples: int, levels: int, neurons: int = 128, repeats: int = 4):
    config = load_bench_file(bench_path)
    truth = calibration_from_chip(SimulatedArrayBackend.from_bench(config, seed=3).chips[0],
                                  WIDTH_S)
    with BenchBackend.open(bench_path) as backend:
        names = [d.name for d in config.devices() if d.name.split("/")[1].startswith("M")]
        layer = DeviceNeuron.from_calibration(
            backend, truth, round_robin(neurons, names), device_current_limits(config),
            repeats=repeats, current_levels=levels)
        x = torch.tanh(torch.from_numpy(
            np.random.default_rng(0).normal(0, 2.5, (samples, neurons)).astype(np.float32)))
        layer(x)                                   # the first batch carries the setup
        t0, r0, f0 = backend.bench_time_s, backend.round_trips, backend.floor_s
        layer(x)
        trials = samples * neurons * repeats
        time_s = backend.bench_time_s - t0
        floor = backend.floor_s - f0
        return (time_s, floor, trials * reading_s(backend.bench),
                (backend.round_trips - r0) / len(names))


def survey(bench_path: str):
    from procedures.session import open_bench
    from procedures.variability import survey_chip
    out = Path(tempfile.mkdtemp())
    try:
        with open_bench(bench_path) as bench:
            r = survey_chip(bench, out / "s", trials=32, points=12, width_s=WIDTH_S,
                            coarse_points=16, coarse_trials=6, reference_trials=96,
                            print_summary=False, report=False)
        batches = sum(1 for row in r.devices)      # per device
        return r.projected_time_s, r.floor_s, r.reading_floor_s, r.round_trips / batches
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey", action="store_true", help="also the default-chip survey")
    args = parser.parse_args(argv)
    print(f"{'case':<34}{'plan':<11}{'projected s':>12}{'floor s':>9}{'/floor':>8}"
          f"{'/2450 floor':>12}{'trips/dev':>10}")
    cases = [(f"in-situ batch {n} x 128 x 4, K={k}", lambda p, n=n, k=k: in_situ(p, n, k))
             for n in (32, 128) for k in (8, 16)]
    if args.survey:
        # the test suite's survey size (32 trials x 12 points): its fixed cost per device
        # weighs more than in `hil characterize survey` (64 x 16: 23.4 s, 2.6x its 8.9 s floor)
        cases.append(("chip survey 32x12 (trips/device)", survey))
    for label, run in cases:
        for name in ("slots", "levels", "sequenced"):
            with plan(name) as path:
                t, floor, reading_floor, trips = run(path)
            print(f"{label:<34}{name:<11}{t:>12.3f}{floor:>9.3f}{t / floor:>8.2f}"
                  f"{t / reading_floor:>12.2f}{trips:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
