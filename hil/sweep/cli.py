"""``hil sweep SPEC.toml``: run a sweep (in process, or on Ray), print its table."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("spec", help="sweep spec TOML (see docs/sweeps.md)")
    parser.add_argument("--out", default=None,
                        help="results folder (default: the spec's out_dir, else runs/sweeps/NAME)")
    add_ray_arguments(parser, "the points")
    parser.add_argument("--retry-failed", action="store_true",
                        help="run again the points recorded as failed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plot", action="store_true", help="no sweep.png")
    return parser


def add_ray_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--ray``, ``--ray-address``, ``--workers``: where ``what`` runs (in process without them)."""
    parser.add_argument("--ray", action="store_true",
                        help=f"run {what} on a local Ray with this machine's cores")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help=f"run {what} on the Ray cluster at ADDR (e.g. ray://host:10001)")
    parser.add_argument("--workers", type=int, default=None,
                        help="CPUs of the local Ray (--ray; default: every core)")


def check_ray_arguments(args: argparse.Namespace) -> None:
    from hil.sweep.spec import SweepError

    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise SweepError(f"--workers must be in 1..4096, got {args.workers}")
    if args.workers is not None and not args.ray:
        raise SweepError("--workers sets the CPUs of a local Ray: add --ray (a cluster at "
                         "--ray-address has its own)")


def sweep_main(args: argparse.Namespace) -> int:
    from hil.sweep.aggregate import format_table
    from hil.sweep.run import run_sweep
    from hil.sweep.spec import load_spec

    spec = load_spec(args.spec)
    check_ray_arguments(args)
    out = args.out or spec.out_dir or str(Path("runs/sweeps") / spec.name)
    result = run_sweep(spec, out, ray=args.ray, ray_address=args.ray_address,
                       num_cpus=args.workers, progress=not args.no_progress,
                       retry_failed=args.retry_failed, plot=not args.no_plot)
    print(format_table(result.table, spec.cell_axes))
    print(f"{len(result.records)} points ({len(result.ran)} run now, {len(result.failed)} "
          f"failed); results in {Path(out).resolve()}")
    return 0


__all__ = ["add_ray_arguments", "add_sweep_arguments", "check_ray_arguments", "sweep_main"]
