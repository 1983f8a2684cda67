"""``hil train --benches A.toml B.toml ...``: the in-situ network trained on several benches at
once (data parallel), in process or with ``--ray`` / ``--ray-address`` one Ray actor per bench."""

from __future__ import annotations

import argparse
from pathlib import Path

#: hil train options that a multi-bench run does not take (what to use instead)
_NOT_WITH_BENCHES = {
    "bench": "--bench (give every bench in --benches)",
    "resume": "--resume (a multi-bench run has no checkpoints yet)",
    "high_variability": "--high-variability (each bench trains on its own chip's spreads)",
    "config_file": "--config (give the settings as options)",
}


def add_benches_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a multi-bench ``hil train`` (absent from the namespace unless given)."""
    from hil.multibench.worker import FORWARDS
    from hil.sweep.cli import add_ray_arguments

    off = argparse.SUPPRESS
    parser.add_argument("--benches", nargs="+", default=off, metavar="BENCH.toml",
                        help="train in situ on several benches at once, each batch split over "
                             "them (data parallel; 'default' = the built-in bench); see "
                             "docs/sweeps.md")
    parser.add_argument("--bench-backend", choices=("sim", "visa"), default=off,
                        help="--benches: simulated benches (sim, default) or real instruments")
    parser.add_argument("--visa-library", default=off,
                        help="--benches: the VISA library of real benches (e.g. @py)")
    parser.add_argument("--bench-forward", choices=FORWARDS, default=off,
                        help="--benches: the forward pass on the simulated chip (array, the "
                             "default on simulated benches; bench cost measured) or through "
                             "the instruments (bench)")
    add_ray_arguments(parser, "one actor per bench of --benches")


def benches_main(args: argparse.Namespace) -> int:
    """``hil train --benches ...``: train, print the table, write results.json."""
    from hil.config import config_from_args
    from hil.multibench.pool import MultiBenchError
    from hil.multibench.report import format_runs, write_results
    from hil.multibench.run import load_jobs, run_multibench
    from hil.sweep.cli import check_ray_arguments

    given = vars(args)
    for key, why in _NOT_WITH_BENCHES.items():
        if key in given:
            raise MultiBenchError(f"--benches does not take {why}")
    if "modes" in given and list(given["modes"]) != ["insitu"]:
        raise MultiBenchError(f"--benches trains in situ only (--modes insitu), got --modes "
                              f"{' '.join(given['modes'])}; run the other modes on one bench "
                              f"(--bench)")
    check_ray_arguments(args)
    config = config_from_args(args)
    if config.calibration not in ("fit", "truth"):
        raise MultiBenchError(f"--benches takes --calibration fit or truth (each bench "
                              f"calibrates its own chip), got {config.calibration!r}: one "
                              f"calibration file describes one chip")
    jobs = load_jobs(given["benches"], given.get("bench_backend", "sim"),
                     given.get("visa_library"), given.get("bench_forward"))
    result = run_multibench(config, jobs, ray=args.ray, ray_address=args.ray_address,
                            num_cpus=args.workers)
    out = Path(config.out_dir)
    write_results(result, out)
    print(format_runs(result))
    print(f"results in {out.resolve()}")
    return 0


__all__ = ["add_benches_arguments", "benches_main"]
