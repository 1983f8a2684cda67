"""Settings of ``hil train --network stdp``: one dataclass, checked when built, and its options.

A bad setting is one :class:`StdpConfigError` line (the setting, the value, the limit, what to
do), shown by ``hil`` without a traceback and exit 2.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, fields

DATASETS = ("digits", "mnist", "patterns")
MODES = ("binary", "analog", "bench")
DEFAULT_BENCH = "examples/benches/stt_synapse_crossbar.toml"


class StdpConfigError(ValueError):
    """A setting of the STDP experiment out of its range."""


#: settings whose default depends on the task (None in the config: the task's value here)
TASK_DEFAULTS = {
    # the digits / MNIST network: 100 neurons, Poisson inputs (rate per step at intensity 1)
    "images": {"neurons": 100, "epochs": 3, "steps": 100, "rate_max": 0.6, "threshold": 12.0,
               "theta_plus": 0.4, "ltp_probability": 0.05, "ltd_probability": 0.05},
    # the crossbar's pattern task: as many neurons as columns, patterns held on the rows
    "patterns": {"neurons": 8, "epochs": 1, "steps": 10, "rate_max": 1.0, "threshold": 4.0,
                 "theta_plus": 1.0, "ltp_probability": 0.2, "ltd_probability": 0.2},
}
TASK_SETTINGS = tuple(TASK_DEFAULTS["images"])


@dataclass(frozen=True)
class StdpConfig:
    """``dataset`` is what the simulated modes learn; ``bench`` mode always learns the pattern
    task on the crossbar. Settings left None take their task's default (:data:`TASK_DEFAULTS`,
    :meth:`setting`)."""

    dataset: str = "digits"
    mnist_path: str | None = None
    train_limit: int | None = None          # first N training images (MNIST is large)
    modes: tuple[str, ...] = ("binary", "analog")
    seeds: tuple[int, ...] = (0, 1, 2)
    neurons: int | None = None
    epochs: int | None = None
    steps: int | None = None                # time steps per presentation
    rate_max: float | None = None
    threshold: float | None = None
    theta_plus: float | None = None
    ltp_probability: float | None = None
    ltd_probability: float | None = None
    ltp_window_steps: int = 12
    width_s: float = 100e-9
    calibration: str | None = None          # a calibration JSON with an stt_synapse model
    bench: str | None = None                # the bench file with the crossbar (bench mode)
    patterns: int = 3                       # the pattern task: how many patterns
    pattern_presentations: int = 12         # training presentations per pattern
    pattern_flip: float = 0.05              # pixel-flip noise of the pattern copies
    out_dir: str = "runs/stdp"
    progress: bool = True

    def __post_init__(self):
        _check(self)

    def setting(self, name: str, task: str):
        """``name``'s value for ``task`` ("images" or "patterns"): the one given, or the task's."""
        value = getattr(self, name)
        return TASK_DEFAULTS[task][name] if value is None else value

    def task_of(self, mode: str) -> str:
        return "patterns" if mode == "bench" or self.dataset == "patterns" else "images"

    def to_dict(self) -> dict:
        return asdict(self)


#: settings whose option is not their name with dashes
_OPTION_OF = {"mnist_path": "--mnist", "out_dir": "--out"}


def _fail(name: str, value, rule: str) -> None:
    option = _OPTION_OF.get(name, "--" + name.replace("_", "-"))
    raise StdpConfigError(f"stdp setting {name!r} ({option}): {value!r} {rule}")


def _check(c: StdpConfig) -> None:
    if c.dataset not in DATASETS:
        _fail("dataset", c.dataset, f"is not one of {DATASETS}")
    if c.dataset == "mnist" and not c.mnist_path:
        raise StdpConfigError("stdp setting 'mnist_path' (--mnist): not given; the mnist dataset "
                              "needs --mnist FOLDER holding the IDX files (nothing is downloaded)")
    if not c.modes or any(m not in MODES for m in c.modes):
        _fail("modes", list(c.modes), f"must be taken from {MODES}")
    if (not c.seeds or any(not isinstance(s, int) or s < 0 for s in c.seeds)
            or len(set(c.seeds)) != len(c.seeds)):    # a repeated seed is a mean over copies
        _fail("seeds", list(c.seeds), "must be distinct integers >= 0")
    for name, low, high in (("neurons", 1, 10_000), ("epochs", 1, 1000), ("steps", 1, 10_000),
                            ("ltp_window_steps", 1, 10_000), ("patterns", 2, 64),
                            ("pattern_presentations", 1, 10_000)):
        value = getattr(c, name)
        if value is None and name in TASK_SETTINGS:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            _fail(name, value, f"must be an integer in [{low}, {high}]")
    if c.train_limit is not None and (not isinstance(c.train_limit, int) or c.train_limit < 1):
        _fail("train_limit", c.train_limit, "must be an integer >= 1")
    for name, low, high in (("ltp_probability", 0.0, 1.0), ("ltd_probability", 0.0, 1.0)):
        value = getattr(c, name)
        if value is None:
            continue
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low < value < high):
            _fail(name, value, f"must lie in ({low:g}, {high:g})")
    if c.rate_max is not None and not (isinstance(c.rate_max, (int, float))
                                       and math.isfinite(c.rate_max) and 0 < c.rate_max <= 1):
        _fail("rate_max", c.rate_max, "must lie in (0, 1] (a spike probability per step)")
    for name in ("threshold", "theta_plus", "width_s"):
        value = getattr(c, name)
        if value is None and name in TASK_SETTINGS:
            continue
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            _fail(name, value, "must be a finite number > 0")
    if not (math.isfinite(c.pattern_flip) and 0.0 <= c.pattern_flip < 0.5):
        _fail("pattern_flip", c.pattern_flip, "must lie in [0, 0.5)")
    if "bench" in c.modes:
        _require_crossbar(c.bench or DEFAULT_BENCH, c.patterns)


def _require_crossbar(path: str, n_patterns: int) -> None:
    """Bench mode's bench file has a crossbar whose rows hold the patterns: said before the
    simulated modes train and before the bench opens."""
    from devices.benchfile import load_bench_file
    from hil.stdp.inputs import patterns    # (inputs imports this module)

    bench = load_bench_file(path)
    crossbars = [g for g in bench.groups if g.columns]
    if len(crossbars) > 1:
        _fail("bench", path, f"has {len(crossbars)} crossbar groups "
                             f"({', '.join(g.size for g in crossbars)}); bench mode learns on one: "
                             f"give a bench file with one")
    if crossbars:
        patterns(crossbars[0].count, n_patterns)      # its rows are the inputs
    else:
        kinds = sorted({g.kind for g in bench.groups})
        _fail("bench", path, f"has no crossbar of synapses (its groups: {', '.join(kinds)}); "
                             f"bench mode needs one (a [[chip.group]] of kind stt_mtj_synapse), "
                             f"e.g. --bench {DEFAULT_BENCH}")


def _refuse_unused(given: dict, modes: tuple[str, ...]) -> None:
    """An option given on the command line that no mode of the run reads is refused: the run
    would otherwise ignore it and report another setting than the one asked for."""
    if "bench" in given and "bench" not in modes:
        _fail("bench", given["bench"], f"is read by --modes bench only (modes of this run: "
                                       f"{' '.join(modes)}): add bench to --modes or drop --bench")
    if set(modes) != {"bench"}:
        return
    if given.get("dataset", "patterns") != "patterns":
        _fail("dataset", given["dataset"], "is what the simulated modes learn; --modes bench "
                                           "learns the pattern task only: add binary or analog "
                                           "to --modes, or drop --dataset")
    if "neurons" in given:
        _fail("neurons", given["neurons"], "is not read by --modes bench (its neurons are the "
                                           "crossbar's columns): drop --neurons, or add binary "
                                           "or analog to --modes")


def _task_default(name: str) -> str:
    images, patterns = (TASK_DEFAULTS[t][name] for t in ("images", "patterns"))
    return f"default {images:g}; pattern task {patterns:g}"


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``hil train --network stdp`` (absent ones keep the defaults)."""
    d = StdpConfig()
    off = argparse.SUPPRESS
    add = parser.add_argument
    add("--bench", default=off, help=f"bench file with the synapse crossbar, for --modes bench "
                                     f"(default {DEFAULT_BENCH})")
    add("--dataset", choices=DATASETS, default=off,
        help=f"what the simulated modes learn (default {d.dataset}); bench mode: the pattern task")
    add("--mnist", dest="mnist_path", default=off,
        help="folder with MNIST IDX files (implies --dataset mnist)")
    add("--train-limit", type=int, default=off, help="train on the first N images only")
    add("--modes", nargs="+", choices=MODES, default=off,
        help=f"binary: stochastic STT synapses (calibrated model, D2D); analog: ideal analog STDP "
             f"weights; bench: the pattern task in situ on the crossbar (default {' '.join(d.modes)})")
    add("--seeds", type=int, nargs="+", default=off, help=f"default {' '.join(map(str, d.seeds))}")
    for name, kind, what in (("neurons", int, "output neurons (bench: its columns)"),
                             ("epochs", int, "training passes"),
                             ("steps", int, "time steps per presentation"),
                             ("rate_max", float, "input spike probability per step at intensity 1"),
                             ("threshold", float, "firing threshold (weight units)"),
                             ("theta_plus", float, "threshold rise per output spike"),
                             ("ltp_probability", float, "P_sw of a potentiation pulse"),
                             ("ltd_probability", float, "P_sw of a depression pulse")):
        add("--" + name.replace("_", "-"), type=kind, default=off, help=f"{what} ({_task_default(name)})")
    add("--width-s", type=float, default=off, help=f"write pulse width (default {d.width_s:g} s)")
    add("--calibration", default=off, help="calibration JSON with the stt_synapse model "
                                           "(default: typical parameters)")
    add("--patterns", type=int, default=off, help=f"pattern task: patterns (default {d.patterns})")
    add("--out", dest="out_dir", default=off, help=f"output folder (default {d.out_dir})")
    add("--no-progress", action="store_true", default=off)
    return parser


_OPTIONS = {f.name for f in fields(StdpConfig)}


def config_from_args(args: argparse.Namespace) -> StdpConfig:
    given = {k: v for k, v in vars(args).items() if k in _OPTIONS}
    if "mnist_path" in given:
        given["dataset"] = "mnist"
    if getattr(args, "no_progress", False):
        given["progress"] = False
    for name in ("modes", "seeds"):
        if name in given:
            given[name] = tuple(given[name])
    _refuse_unused(given, given.get("modes", StdpConfig.modes))
    return StdpConfig(**given)
