"""Settings of ``hil train --network cnn`` / ``synapse-mlp``: one checked dataclass and its options.

Every setting is checked when the config is built; a bad one is a
:class:`~hil.synapses.configs.SynapseConfigError` naming the option, the value and the rule
(``hil train`` prints it in one line and exits 2).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from hil.synapses.configs import SynapseConfigError

NETWORKS = ("cnn", "synapse-mlp")
MODES = ("software", "exsitu", "insitu")
DATASETS = ("digits", "mnist", "cifar10")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "benches"
DEFAULT_BENCHES = (str(EXAMPLES / "ferrimagnet_synapses.toml"),)


@dataclass
class SynapseExperimentConfig:
    network: str = "cnn"
    benches: tuple[str, ...] = DEFAULT_BENCHES
    sizes: tuple[str, ...] | None = None         # synapse groups (default: every one)
    neuron_bench: str | None = None              # CeLU neurons (default: a bench that has them)
    calibration: tuple[str, ...] = ()            # calibration files (default: the truth)
    dataset: str = "digits"
    data_path: str | None = None
    limit_train: int | None = None
    epochs: int = 15
    seeds: tuple[int, ...] = (0, 1, 2)
    lr: float = 3e-3
    batch_size: int = 32
    hidden: int = 32
    channels: tuple[int, int] = (8, 16)
    margin: float = 0.2
    weight_range: float | None = None           # None: by the device's levels
    modes: tuple[str, ...] = MODES
    bench_projection: bool = True
    out_dir: str = "runs/synapses"
    torch_threads: int = 1
    progress: bool = False

    def __post_init__(self):
        def fail(option, value, rule):
            raise SynapseConfigError(f"{option} {value!r}: {rule}")

        if self.network not in NETWORKS:
            fail("--network", self.network, f"must be one of {NETWORKS}")
        if self.dataset not in DATASETS:
            fail("--dataset", self.dataset, f"must be one of {DATASETS}")
        self.benches = tuple(str(b) for b in self.benches)
        self.calibration = tuple(str(c) for c in self.calibration)
        if not self.benches:
            fail("--bench", [], "give at least one bench file with synapse devices")
        for name, value, low, high in (("--epochs", self.epochs, 1, 10_000),
                                       ("--batch-size", self.batch_size, 1, 65_536),
                                       ("--hidden", self.hidden, 1, 65_536),
                                       ("--threads", self.torch_threads, 1, 256)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                fail(name, value, f"must be an integer in [{low}, {high}]")
        if self.limit_train is not None and (not isinstance(self.limit_train, int)
                                             or self.limit_train < 10):
            fail("--limit-train", self.limit_train, "must be an integer >= 10 (training samples)")
        self.channels = tuple(self.channels)
        if len(self.channels) != 2 or not all(isinstance(c, int) and 1 <= c <= 1024
                                              for c in self.channels):
            fail("--channels", list(self.channels), "must be two integers in [1, 1024]")
        self.seeds = tuple(self.seeds)
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds) \
                or len(set(self.seeds)) != len(self.seeds):
            fail("--seeds", list(self.seeds), "must be distinct integers >= 0")
        for name, value, low, high in (("--lr", self.lr, 1e-6, 10.0),
                                       ("--margin", self.margin, 0.0, 0.49),
                                       ("--weight-range", 1.0 if self.weight_range is None
                                        else self.weight_range, 1e-3, 100.0)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                fail(name, value, f"must be a number in [{low:g}, {high:g}]")
        self.modes = tuple(dict.fromkeys(self.modes))
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            fail("--modes", list(self.modes), f"must be some of {MODES}")
        if self.sizes is not None:
            self.sizes = tuple(self.sizes)
            twice = sorted({s for s in self.sizes if self.sizes.count(s) > 1})
            if twice:
                fail("--sizes", list(self.sizes), f"names {twice} twice: give each group once")
        if self.dataset != "digits" and not self.data_path:
            fail("--dataset", self.dataset, "needs --data FOLDER with its local files (nothing is "
                                            "downloaded)")

    def to_dict(self) -> dict:
        return asdict(self)


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = SynapseExperimentConfig()
    add = parser.add_argument
    add("--bench", dest="benches", nargs="+", default=None, metavar="BENCH.toml",
        help="bench file(s) with synapse devices (default: examples/benches/"
             "ferrimagnet_synapses.toml); every synapse group is a row of the table")
    add("--sizes", nargs="+", default=None, help="synapse groups to run (default: all)")
    add("--neuron-bench", default=None, metavar="BENCH.toml",
        help="bench with ferrimagnet CeLU neurons (default: one of --bench that has them, "
             "else the kind's typical device with its D2D spread)")
    add("--calibration", nargs="+", default=[], metavar="FILE.json",
        help="calibration file(s) of hil characterize ltp-ltd / neuron-transfer: each synapse "
             "group's model (ex-situ training, the weight levels) and the neurons' backward "
             "(default: the simulated truth)")
    add("--dataset", choices=DATASETS, default=d.dataset)
    add("--data", dest="data_path", default=None, metavar="FOLDER",
        help="folder with the local MNIST IDX or CIFAR-10 python batches (no download)")
    add("--mnist", dest="mnist_path", default=None, help="MNIST folder (implies --dataset mnist)")
    add("--limit-train", type=int, default=None, help="use the first N training samples")
    add("--epochs", type=int, default=d.epochs)
    add("--seeds", type=int, nargs="+", default=list(d.seeds))
    add("--lr", type=float, default=d.lr)
    add("--batch-size", type=int, default=d.batch_size)
    add("--hidden", type=int, default=d.hidden, help="hidden neurons (synapse-mlp)")
    add("--channels", type=int, nargs=2, default=list(d.channels), help="conv channels (cnn)")
    add("--margin", type=float, default=d.margin,
        help="in-situ noise margin, a fraction of the level spacing (default %(default)s)")
    add("--weight-range", type=float, default=None,
        help="w_max = RANGE / sqrt(fan_in) (default: 2 for devices of <= 8 levels, else 4)")
    add("--modes", nargs="+", default=list(d.modes), help=f"some of {MODES}")
    add("--no-bench-projection", dest="bench_projection", action="store_false",
        help="skip pricing the operations through the instruments")
    add("--out", dest="out_dir", default=d.out_dir)
    add("--threads", dest="torch_threads", type=int, default=d.torch_threads)
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", action="store_true", help="progress bars")
    progress.add_argument("--no-progress", dest="progress", action="store_false",
                          help="no progress bars (the default; as the other networks take it)")
    return parser


def config_from_args(args: argparse.Namespace) -> SynapseExperimentConfig:
    given = vars(args)
    dataset, data_path = given["dataset"], given["data_path"]
    if given.get("mnist_path"):
        dataset, data_path = "mnist", given["mnist_path"]
    return SynapseExperimentConfig(
        network=given["network"], benches=tuple(given["benches"] or DEFAULT_BENCHES),
        sizes=given["sizes"], neuron_bench=given["neuron_bench"],
        calibration=tuple(given["calibration"]), dataset=dataset,
        data_path=data_path, limit_train=given["limit_train"], epochs=given["epochs"],
        seeds=tuple(given["seeds"]), lr=given["lr"], batch_size=given["batch_size"],
        hidden=given["hidden"], channels=tuple(given["channels"]), margin=given["margin"],
        weight_range=given["weight_range"], modes=tuple(given["modes"]),
        bench_projection=given["bench_projection"], out_dir=given["out_dir"],
        torch_threads=given["torch_threads"], progress=given["progress"])
