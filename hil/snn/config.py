"""Settings of ``hil train --network snn``, checked when built (one line per bad setting)."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from hil.config import ExperimentConfigError
from hil.snn.network import CODINGS

MODES = ("ideal_lif", "exsitu", "exsitu_uncalibrated", "insitu")
#: the chip of DW-MTJ neurons the experiment is written for (a bench file must hold that kind)
EXAMPLE_BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "dw_ifr_neurons.toml"


class SNNConfigError(ExperimentConfigError):
    """A spiking-network setting out of its range (``hil train`` prints it as one line, exit 2)."""


@dataclass(frozen=True)
class SNNConfig:
    bench: str | None = None           # None: examples/benches/dw_ifr_neurons.toml
    epochs: int = 25
    seeds: tuple[int, ...] = (0, 1, 2)
    sizes: tuple[str, ...] | None = None   # None: every DW-MTJ geometry of the first chip
    hidden: int = 64
    steps: int = 25
    coding: str = "rate"
    batch_size: int = 32
    lr: float = 3e-3
    width_s: float = 20e-9             # write pulse width
    period_s: float = 1e-6             # time between a neuron's pulses (its leak, if any)
    full_drive: float = 1.0            # one pulse moves the wall this x its distance at x -> inf
    headroom: float = 0.9              # the mapping's top stays this x under the safe maximum
    slope: float = 5.0                 # the fast-sigmoid surrogate's k
    beta: float = 0.95                 # the ideal LIF's membrane decay per step
    calibration: str = "truth"         # 'truth' (simulated) or a domain_wall calibration JSON
    modes: tuple[str, ...] = MODES
    out_dir: str = "runs/snn"
    resume: bool = False
    progress: bool = True
    bench_projection: bool = True      # one measured batch per geometry through the drivers
    bench_samples: int = 1             # ... of this many samples
    split_seed: int = 0
    torch_threads: int = 1

    def __post_init__(self):
        def bad(name, value, allowed):
            raise SNNConfigError(f"snn setting {name!r} (--{name.replace('_', '-')}): {value!r} is "
                                 f"not allowed; {allowed}")

        for name, low in (("epochs", 0), ("hidden", 1), ("steps", 2), ("batch_size", 1),
                          ("bench_samples", 1), ("torch_threads", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                bad(name, value, f"give an integer >= {low}")
        for name in ("lr", "width_s", "period_s", "full_drive", "slope"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                bad(name, value, "give a finite number > 0")
        if not (isinstance(self.headroom, (int, float)) and 0 < self.headroom <= 1):
            bad("headroom", self.headroom, "give a number in (0, 1]")
        if not (isinstance(self.beta, (int, float)) and 0 < self.beta <= 1):
            bad("beta", self.beta, "give a number in (0, 1] (1: no leak)")
        if self.width_s > 1e-6:
            bad("width_s", self.width_s, "a DW write pulse is at most 1 us (the bench limits say "
                "the rest); e.g. 20e-9")
        if self.coding not in CODINGS:
            bad("coding", self.coding, f"choose one of {CODINGS}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            bad("seeds", list(self.seeds), "give distinct integers, e.g. 0 1 2")
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            bad("modes", list(self.modes), f"choose from {MODES}")
        for name in ("modes", "sizes"):   # a repeat trains a run twice, the copy stops at its
            values = list(getattr(self, name) or ())          # twin's checkpoint
            if len(set(values)) != len(values):
                bad(name, values, "give each once")
        bench = self.bench_path()
        if not Path(bench).is_file():
            bad("bench", str(bench), "give a bench TOML file with DW-MTJ neurons, e.g. "
                "examples/benches/dw_ifr_neurons.toml")
        if self.calibration != "truth" and not Path(self.calibration).is_file():
            bad("calibration", self.calibration, "give 'truth' (the simulated chip's) or the JSON "
                "file of hil characterize ifr-survey")

    def bench_path(self) -> str:
        return str(EXAMPLE_BENCH if self.bench is None else self.bench)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``hil train --network snn`` (an option left out keeps its default)."""
    d, off, add = SNNConfig(), argparse.SUPPRESS, parser.add_argument
    add("--bench", default=off, help="bench TOML with DW-MTJ neurons (default "
        "examples/benches/dw_ifr_neurons.toml)")
    add("--epochs", type=int, default=off, help=f"default {d.epochs}")
    add("--seeds", type=int, nargs="+", default=off, help=f"default {list(d.seeds)}")
    add("--sizes", nargs="+", default=off, help="track geometries (default: all)")
    add("--hidden", type=int, default=off, help=f"spiking neurons (default {d.hidden})")
    add("--steps", type=int, default=off, help=f"time steps per sample (default {d.steps})")
    add("--coding", default=off, help=f"input spike coding, one of {CODINGS} (default {d.coding})")
    add("--batch-size", type=int, default=off, help=f"default {d.batch_size}")
    add("--lr", type=float, default=off, help=f"default {d.lr:g}")
    add("--width-s", type=float, default=off, help=f"write pulse width (default {d.width_s:g} s)")
    add("--period-s", type=float, default=off,
        help=f"time between a neuron's pulses, for the leak (default {d.period_s:g} s)")
    add("--full-drive", type=float, default=off,
        help=f"wall travel of one full-drive pulse / distance to fire (default {d.full_drive:g})")
    add("--headroom", type=float, default=off, help=f"default {d.headroom:g}")
    add("--slope", type=float, default=off, help=f"surrogate slope k (default {d.slope:g})")
    add("--beta", type=float, default=off, help=f"ideal LIF decay per step (default {d.beta:g})")
    add("--calibration", default=off,
        help="'truth' (the simulated chip's, default) or a domain_wall calibration JSON")
    add("--modes", nargs="+", default=off, help=f"of {MODES} (default: all)")
    add("--out", dest="out_dir", default=off, help=f"output folder (default {d.out_dir})")
    add("--resume", action="store_true", default=off, help="continue from the checkpoints in --out")
    add("--no-progress", dest="progress", action="store_false", default=off)
    add("--no-bench-projection", dest="bench_projection", action="store_false", default=off,
        help="skip the measured batch through the drivers")
    add("--bench-samples", type=int, default=off,
        help=f"samples in the measured bench batch (default {d.bench_samples})")
    add("--torch-threads", type=int, default=off, help=f"default {d.torch_threads}")
    return parser


def config_from_args(args: argparse.Namespace) -> SNNConfig:
    given = {f.name: getattr(args, f.name) for f in fields(SNNConfig) if hasattr(args, f.name)}
    for name in ("seeds", "sizes", "modes"):
        if name in given:
            given[name] = tuple(given[name])
    return SNNConfig(**given)


__all__ = ["EXAMPLE_BENCH", "MODES", "SNNConfig", "SNNConfigError", "add_train_arguments",
           "config_from_args"]
