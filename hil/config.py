"""The experiment's settings as one typed, validated, frozen :class:`ExperimentConfig`.

Built from keyword arguments, a plain dict (:meth:`ExperimentConfig.from_dict`), a TOML file
(:meth:`ExperimentConfig.from_toml`, ``hil train --config FILE``) or the ``hil train`` options
(:func:`config_from_args`). Every value is checked when the config is built: a bad one raises
:class:`ExperimentConfigError`, one line naming the setting, the value and what is allowed
(``hil train`` prints it and exits 2); an unknown key is refused with the accepted ones.

Each setting has one name everywhere: the field, the dict / TOML key, the checkpoint's
identity key (:meth:`ExperimentConfig.to_dict`, so checkpoints written before this module
existed still compare) and, where there is one, the option (``width_s`` -> ``--width-s``).
TOML has no null: a variability level that keeps the bench file's own spreads is written
``low = "bench"``; ``torch_threads = 0`` leaves torch's thread count alone;
``current_levels = "continuous"`` keeps write currents unquantized.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from devices import kinds
from devices.benchfile import BenchFile

#: the modes a run may ask for; ``exsitu_recal`` and ``insitu_online`` are the drift study's
#: (hil.experiment), run when asked for
MODES = ("software", "ideal_stochastic", "exsitu_uncalibrated", "exsitu", "exsitu_recal", "insitu",
         "insitu_online")
#: the modes a run does by default
DEFAULT_MODES = ("software", "ideal_stochastic", "exsitu_uncalibrated", "exsitu", "insitu")
#: the non-ideality levels a run may ask for: the bench file's own ``[nonideal]`` table, or
#: one of devices.nonideal's named sets in its place
BENCH_NONIDEAL = "bench"

#: how a variability level that keeps the bench file's spreads (None) is spelled in TOML
BENCH_SPREADS = "bench"
#: how continuous write currents (``current_levels`` None) are spelled in TOML and on the CLI
CONTINUOUS = "continuous"


class ExperimentConfigError(ValueError):
    """An experiment setting out of its range: the message names the setting, the value given
    and what is allowed (``hil train`` prints it as one line and exits 2)."""


def _default_variability() -> Mapping:
    return {"low": None, "high": {"delta_rel": 0.25, "ic0_rel": 0.20, "resistance_rel": 0.05}}


@dataclass(frozen=True)
class ExperimentConfig:
    """Every setting of :func:`hil.experiment.run_experiment` (see that module for the design)."""

    bench: Any = None                 # bench file path / dict / BenchFile / None = the built-in bench
    dataset: str = "digits"           # "digits" (embedded) or "mnist" (needs mnist_path)
    mnist_path: str | None = None     # folder with the MNIST IDX files
    split_seed: int = 0               # the train/test split is the same for every seed
    sizes: tuple[str, ...] | None = None  # device sizes to use; None = every size of the first chip
    #: level name -> D2D relative spreads (None = the bench file's own); read-only mappings
    variability: Mapping[str, Mapping[str, float] | None] = field(default_factory=_default_variability)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3                  # Adam learning rate
    hidden: int | tuple[int, ...] = 128  # hidden neurons; a list: one device layer per entry
    repeats: int = 4                  # device trials averaged per answer while training
    eval_repeats: int | None = 16     # ... while evaluating (None = repeats)
    width_s: float = 10e-9            # write pulse width
    calibration: str = "fit"          # "fit" | "truth" | path of a calibration JSON
    calibration_trials: int = 64      # trials per current point of an on-the-fly fit
    saturation: float = 8.0           # mapping span in curve widths (hil.neuron.CurrentMapping)
    headroom: float = 0.9             # top of the span at most this fraction of the safe maximum
    #: write currents snapped to this many levels per device (hil.levels; None = continuous);
    #: 8 costs in-situ accuracy within 0.3 pp of continuous currents (20 epochs, 3 seeds)
    current_levels: int | None = 8
    modes: tuple[str, ...] = DEFAULT_MODES
    out_dir: str = "runs/hil"
    resume: bool = False              # continue from the checkpoints in out_dir
    checkpoints: bool = True          # write one per run and epoch
    progress: bool = True             # progress bars
    torch_threads: int | None = 1     # small batches run fastest on one thread; None/0 = torch's choice
    bench_projection: bool = True     # measure one in-situ batch per size through the BenchBackend
    #: level name -> a [nonideal] table (devices.nonideal: a preset and overrides), or None for
    #: the bench file's own; a list of names is read as those presets ("bench": the file's)
    nonideal: Mapping[str, Mapping | None] = field(default_factory=lambda: {BENCH_NONIDEAL: None})
    trial_time_s: float = 0.4e-3      # a trial's bench duration on the drifting devices' clock
    recalibrate_every: int = 45       # exsitu_recal: batches of bench time between calibrations
    online_memory: float = 8.0        # insitu_online: the estimator's memory, in batches
    online_every: int = 4             # insitu_online: refresh the curves every N batches
    remap: bool = True                # in-situ modes: move neurons off dead / stuck devices

    def __post_init__(self):
        for name, check in _CHECKS.items():
            object.__setattr__(self, name, check(getattr(self, name)))
        _check_dataset(self)
        _check_samples(self)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, settings: Mapping[str, Any] | None) -> "ExperimentConfig":
        """A config from a plain mapping of settings (missing ones keep their defaults)."""
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(FIELDS))
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ExperimentConfigError(f"unknown experiment setting {key!r}{hint}; accepted: "
                                        f"{', '.join(FIELDS)}")
        return cls(**settings)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "ExperimentConfig":
        """A config from a TOML file of top-level settings (``[variability.high]`` a table)."""
        return cls.from_dict(read_toml(path))

    def replace(self, **changes) -> "ExperimentConfig":
        """A copy with ``changes`` applied (checked like any other config)."""
        return self.from_dict({**self.to_dict(), **changes})

    # ------------------------------------------------------------------ plain data
    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data (lists, dicts), keyed by the field names: what results.json
        and a checkpoint's run identity hold; ``from_dict(to_dict())`` gives the config back."""
        out = {}
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            elif name in ("variability", "nonideal"):
                value = {k: None if v is None else dict(v) for k, v in value.items()}
            out[name] = value
        return out


FIELDS = tuple(f.name for f in dataclasses.fields(ExperimentConfig))

#: the ``hil train`` option of a setting, where it has one (the error names it)
_OPTIONS = {"bench": "--bench", "dataset": "--dataset", "mnist_path": "--mnist",
            "epochs": "--epochs", "seeds": "--seeds", "sizes": "--sizes", "hidden": "--hidden",
            "repeats": "--repeats", "eval_repeats": "--eval-repeats", "batch_size": "--batch-size",
            "lr": "--lr", "width_s": "--width-s", "calibration": "--calibration",
            "modes": "--modes", "out_dir": "--out", "resume": "--resume",
            "progress": "--no-progress", "variability": "--high-variability",
            "current_levels": "--current-levels", "nonideal": "--nonideal",
            "trial_time_s": "--trial-time-s", "recalibrate_every": "--recalibrate-every",
            "online_memory": "--online-memory", "online_every": "--online-every",
            "remap": "--no-remap"}


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of an experiment TOML file, ``"bench"`` variability levels as None."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ExperimentConfigError(f"experiment config file {str(path)!r} cannot be read "
                                    f"({exc.strerror}); give the path of a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentConfigError(f"experiment config file {str(path)!r} is not valid TOML "
                                    f"({exc}); fix the file") from None
    for key, bench in (("variability", BENCH_SPREADS), ("nonideal", BENCH_NONIDEAL)):
        levels = data.get(key)
        if isinstance(levels, dict):
            data[key] = {k: None if v == bench else v for k, v in levels.items()}
    return data


# ---------------------------------------------------------------------------- checks
def _fail(name: str, rule: str, value) -> None:
    option = f" ({_OPTIONS[name]})" if name in _OPTIONS else ""
    raise ExperimentConfigError(f"experiment setting {name!r}{option} must be {rule}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value)))


def _int(name, value, low=1, optional=False, high=None):
    if optional and value is None:
        return None
    if not _is_int(value) or value < low:
        _fail(name, ("None or " if optional else "") + f"an integer >= {low}", value)
    if high is not None and value > high:
        _fail(name, f"at most {high} (the maximum)", value)
    return int(value)


def _positive(name, value, high=None, cap=None):
    """``high``: part of the rule (a fraction in (0, 1]); ``cap``: the maximum a setting may
    reach (refused as over the maximum)."""
    if not _is_real(value) or not value > 0 or (high is not None and value > high):
        _fail(name, f"a finite number {'> 0' if high is None else f'in (0, {high:g}]'}", value)
    if cap is not None and not value <= cap:
        _fail(name, f"at most {cap:g} (the maximum)", value)
    return float(value)


def _bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, "true or false", value)
    return bool(value)


def _path(name, value, optional=False, what="a path"):
    if optional and value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        _fail(name, what, value)
    return str(value)


#: lists whose entries name runs: a repeat would train a run twice (and its second copy stop
#: at the first's checkpoint as "an earlier run")
_DISTINCT = ("modes", "nonideal", "seeds", "sizes")


def _list(name, value, rule, optional=False):
    if optional and value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        _fail(name, rule, value)
    if name in _DISTINCT:
        repeated = [v for k, v in enumerate(value) if v in value[:k]]
        if repeated:
            _fail(name, f"{rule} without repeats ({repeated[0]!r} is given twice)", list(value))
    return tuple(value)


def _modes(value):
    modes = _list("modes", value, f"a list of at least one of {MODES}")
    unknown = sorted(set(modes) - set(MODES), key=str)
    if unknown:
        raise ExperimentConfigError(f"unknown modes {unknown}; choose from {MODES}")
    return modes


def _hidden(value):
    """One width (an int) or a list of widths, one device layer each; one width is kept an int."""
    rule = "an integer >= 1 or a list of them (one hidden layer each, e.g. [128, 64])"
    widths = [value] if _is_int(value) else _list("hidden", value, rule)
    for width in widths:
        _int("hidden", width, high=65_536)
    return int(widths[0]) if len(widths) == 1 else tuple(int(w) for w in widths)


def hidden_widths(config) -> tuple[int, ...]:
    """The hidden layers' widths of a config (``hidden`` an int: one layer)."""
    return (config.hidden,) if isinstance(config.hidden, int) else tuple(config.hidden)


def _nonideal(value):
    """Level name -> a checked [nonideal] table (None: the bench file's own). A list of names
    is read as those presets of devices.nonideal, "bench" as the bench file's table."""
    from devices import nonideal

    choices = (BENCH_NONIDEAL,) + tuple(nonideal.PRESETS)
    if isinstance(value, (list, tuple)):
        names = _list("nonideal", value, f"a list of at least one of {choices} or a mapping of "
                                         f"level names to [nonideal] tables")
        unknown = [v for v in names if v not in choices]
        if unknown:
            _fail("nonideal", f"one of {choices} (the bench file's own [nonideal] table or a "
                              f"named set of devices/nonideal.py)", unknown[0])
        if len(set(names)) != len(names):
            _fail("nonideal", "a list without repeats", list(names))
        value = {v: None if v == BENCH_NONIDEAL else {"preset": v} for v in names}
    if not isinstance(value, Mapping) or not value:
        _fail("nonideal", "a mapping of at least one level name to a [nonideal] table (or None)",
              value)
    levels = {}
    for name, table in value.items():
        if not isinstance(name, str) or not name or "/" in name:
            _fail("nonideal", "keyed by non-empty level names without '/'", name)
        if table is not None:
            def err(path, message, level=name):
                return ExperimentConfigError(f"non-ideality level {level!r}: [{path}] {message} "
                                             f"(see devices/nonideal.py)")
            if not isinstance(table, Mapping):
                raise err("nonideal", f"must be a table or None (the bench file's), got {table!r}")
            nonideal.parse(_plain(table), err)          # refused here, not at the first run
            table = MappingProxyType(_plain(table))
        levels[name] = table
    return MappingProxyType(levels)


def _plain(table: Mapping) -> dict:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in table.items()}


def _seeds(value):
    seeds = _list("seeds", value, "a list of at least one seed")
    bad = [s for s in seeds if not _is_int(s) or s < 0]
    if bad:
        _fail("seeds", "integers >= 0", bad[0])
    big = [s for s in seeds if s > MAX_SEED]
    if big:
        _fail("seeds", f"at most {MAX_SEED} (the maximum)", big[0])
    return tuple(int(s) for s in seeds)


def _sizes(value):
    rule = "a list of at least one device size (or None: every size)"
    sizes = _list("sizes", value, rule, optional=True)
    if sizes is not None and not all(isinstance(s, str) and s for s in sizes):
        _fail("sizes", rule, value)
    return sizes


def _variability(value):
    if not isinstance(value, Mapping) or not value:
        _fail("variability", "a mapping of at least one level name to D2D spreads (or None)", value)
    levels = {}
    for name, spreads in value.items():
        if not isinstance(name, str) or not name:
            _fail("variability", "keyed by non-empty level names", name)
        if spreads is not None and not isinstance(spreads, Mapping):
            raise ExperimentConfigError(
                f"variability level {name!r} must be None (the bench file's spreads; "
                f"{BENCH_SPREADS!r} in TOML) or a dict of D2D spreads, got {spreads!r}")
        for key, sigma in (spreads or {}).items():
            if key not in kinds.spread_names():
                raise ExperimentConfigError(
                    f"variability level {name!r}: {key!r} is not a spread any device kind draws; "
                    f"known: {', '.join(kinds.spread_names())}")
            if not _is_real(sigma) or sigma < 0:
                raise ExperimentConfigError(f"variability level {name!r}: spread {key!r} must be "
                                            f"a finite number >= 0, got {sigma!r}")
            if not sigma < 1:       # as the bench file's [variability]
                raise ExperimentConfigError(f"variability level {name!r}: spread {key!r} must be "
                                            f"a relative sigma below 1, got {sigma!r}")
        levels[name] = None if spreads is None else MappingProxyType(
            {str(k): float(v) for k, v in spreads.items()})
    return MappingProxyType(levels)


def _current_levels(value):
    if value is None or value == CONTINUOUS:
        return None
    if not _is_int(value) or value < 2:
        _fail("current_levels", f"{CONTINUOUS!r} (None) or an integer >= 2", value)
    return int(value)


def _calibration(value):
    source = _path("calibration", value, what="'fit', 'truth' or a calibration JSON path")
    if source not in ("fit", "truth") and not Path(source).is_file():
        raise ExperimentConfigError(f"experiment setting 'calibration' (--calibration): no file "
                                    f"{source!r}; give 'fit', 'truth' or the path of a "
                                    f"calibration JSON (hil characterize writes one)")
    return source


def _bench(value):
    if value is not None and not isinstance(value, (str, os.PathLike, dict, BenchFile)):
        _fail("bench", "a bench file path, a dict, a BenchFile or None (the built-in bench)", value)
    return str(value) if isinstance(value, os.PathLike) else value


#: seeds feed numpy and torch; 2**32 - 1 is the range every generator here accepts
MAX_SEED = 2**32 - 1
#: device samples one training step (or one 512-sample evaluation chunk) draws: batch x hidden
#: x repeats; 2**26 float64 samples are 0.5 GB (the default run draws 2**20)
MAX_SAMPLES_PER_STEP = 2**26


def _check_samples(config: ExperimentConfig) -> None:
    repeats = max(config.repeats, config.eval_repeats or config.repeats)
    samples = max(config.batch_size, 512) * max(hidden_widths(config)) * repeats
    if samples > MAX_SAMPLES_PER_STEP:
        raise ExperimentConfigError(
            f"experiment settings batch_size {config.batch_size} (at least 512 while "
            f"evaluating) x hidden {config.hidden} x repeats {repeats} = {samples} device samples "
            f"per step is over the maximum {MAX_SAMPLES_PER_STEP}; lower --hidden, --repeats / "
            f"--eval-repeats or --batch-size")


def _check_dataset(config: ExperimentConfig) -> None:
    if config.dataset not in ("digits", "mnist"):
        _fail("dataset", "'digits' or 'mnist'", config.dataset)
    if config.dataset == "mnist" and config.mnist_path is None:
        raise ExperimentConfigError("experiment setting 'dataset' is 'mnist' but 'mnist_path' "
                                    "is not set; give the folder of the IDX files (--mnist PATH)")


#: one check per field: takes the value given, raises ExperimentConfigError or returns the
#: stored (immutable, plain-typed) form; run in field order
_CHECKS = {
    "bench": _bench,
    "dataset": lambda v: v,                      # with mnist_path, in _check_dataset
    "mnist_path": lambda v: _path("mnist_path", v, optional=True),
    "split_seed": lambda v: _int("split_seed", v, 0, high=MAX_SEED),
    "sizes": _sizes,
    "variability": _variability,
    "seeds": _seeds,
    "epochs": lambda v: _int("epochs", v, high=100_000),
    "batch_size": lambda v: _int("batch_size", v, high=65_536),
    "lr": lambda v: _positive("lr", v, cap=10.0),
    "hidden": _hidden,
    "repeats": lambda v: _int("repeats", v, high=65_536),
    "eval_repeats": lambda v: _int("eval_repeats", v, optional=True, high=65_536),
    "width_s": lambda v: _positive("width_s", v, cap=1.0),
    "calibration": _calibration,
    "calibration_trials": lambda v: _int("calibration_trials", v, high=1_000_000),
    "saturation": lambda v: _positive("saturation", v, cap=1000.0),
    "headroom": lambda v: _positive("headroom", v, 1.0),
    "current_levels": _current_levels,
    "modes": _modes,
    "out_dir": lambda v: _path("out_dir", v, what="a folder path"),
    "resume": lambda v: _bool("resume", v),
    "checkpoints": lambda v: _bool("checkpoints", v),
    "progress": lambda v: _bool("progress", v),
    "torch_threads": lambda v: _int("torch_threads", v, 0, optional=True, high=1024),
    "bench_projection": lambda v: _bool("bench_projection", v),
    "nonideal": _nonideal,
    "trial_time_s": lambda v: _positive("trial_time_s", v, cap=10.0),
    "recalibrate_every": lambda v: _int("recalibrate_every", v, high=10_000_000),
    "online_memory": lambda v: _positive("online_memory", v, cap=1e6),
    "online_every": lambda v: _int("online_every", v, high=1_000_000),
    "remap": lambda v: _bool("remap", v),
}
assert tuple(_CHECKS) == FIELDS, "every ExperimentConfig field needs its check, in field order"


# ---------------------------------------------------------------------------- hil train options
#: the short version for ``hil demo`` / ``hil train --demo`` (about a minute on 2 cores)
DEMO_CONFIG: Mapping[str, Any] = MappingProxyType(
    {"epochs": 6, "seeds": (0, 1, 2), "out_dir": "runs/hil-demo"})


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``hil train``. An option left out is absent from the parsed namespace (not
    set to its default), so :func:`config_from_args` knows what was asked for explicitly."""
    d = ExperimentConfig()
    off = argparse.SUPPRESS
    add = parser.add_argument
    add("--config", dest="config_file", default=off, metavar="FILE.toml",
        help="experiment settings (TOML, keys as in hil.config.ExperimentConfig); options win")
    add("--bench", default=off, help="bench file (TOML); default: built-in bench")
    add("--dataset", choices=["digits", "mnist"], default=off, help=f"default {d.dataset}")
    add("--mnist", dest="mnist_path", default=off,
        help="folder with MNIST IDX files (implies --dataset mnist)")
    add("--epochs", type=int, default=off, help=f"default {d.epochs}")
    add("--seeds", type=int, nargs="+", default=off, help=f"e.g. 0 1 2 (default {list(d.seeds)})")
    add("--sizes", nargs="+", default=off, help="device sizes (default: all)")
    add("--hidden", type=int, nargs="+", default=off, metavar="N",
        help=f"hidden neurons; several numbers: one device layer each, e.g. 128 64 (default "
             f"{d.hidden})")
    add("--repeats", type=int, default=off,
        help=f"device trials averaged per answer while training (default {d.repeats})")
    add("--eval-repeats", type=int, default=off, help=f"... while testing (default {d.eval_repeats})")
    add("--batch-size", type=int, default=off, help=f"default {d.batch_size}")
    add("--lr", type=float, default=off, help=f"default {d.lr:g}")
    add("--width-s", type=float, default=off, help=f"write pulse width (default {d.width_s:g} s)")
    add("--calibration", default=off,
        help="'fit' (on the fly, default), 'truth' (simulated), or a calibration JSON path")
    add("--current-levels", type=_levels_option, default=off, metavar="K",
        help=f"write-current levels per device (>= 2), or {CONTINUOUS!r} (default "
             f"{d.current_levels or CONTINUOUS})")
    add("--high-variability", type=float, nargs=2, default=off, metavar=("DELTA_REL", "IC0_REL"),
        help="D2D spreads of the 'high' level (default 0.25 0.20)")
    add("--modes", nargs="+", choices=MODES, default=off,
        help=f"default: {' '.join(DEFAULT_MODES)}")
    add("--nonideal", nargs="+", default=off, metavar="LEVEL",
        help="non-ideality levels of the devices: 'bench' (the bench file's [nonideal], default) "
             "or a named set (off, realistic, strong), e.g. --nonideal off realistic strong")
    add("--trial-time-s", type=float, default=off,
        help=f"a trial's bench duration on the drifting devices' clock (default {d.trial_time_s:g} s)")
    add("--recalibrate-every", type=int, default=off, metavar="N",
        help=f"exsitu_recal: recalibrate every N batches of bench time (default {d.recalibrate_every})")
    add("--online-memory", type=float, default=off, metavar="BATCHES",
        help=f"insitu_online: the estimator's memory (default {d.online_memory:g} batches)")
    add("--online-every", type=int, default=off, metavar="N",
        help=f"insitu_online: refresh the surrogate every N batches (default {d.online_every})")
    add("--no-remap", dest="remap", action="store_false", default=off,
        help="in-situ modes: keep neurons on devices found dead or stuck")
    add("--out", dest="out_dir", default=off, help=f"output folder (default {d.out_dir})")
    add("--resume", action="store_true", default=off,
        help="continue from the checkpoints in --out")
    add("--no-progress", action="store_true", default=off)
    add("--demo", action="store_true", default=off,
        help=f"the short demo run ({DEMO_CONFIG['epochs']} epochs, {len(DEMO_CONFIG['seeds'])} "
             f"seeds) unless --epochs/--seeds say otherwise")
    from hil.multibench.cli import add_benches_arguments  # --benches: several benches at once

    add_benches_arguments(parser)
    return parser


def _levels_option(text: str):
    """``--current-levels`` K or 'continuous' (checked with the config, one line on error)."""
    if text == CONTINUOUS:
        return None
    try:
        return int(text)
    except ValueError:
        return text


#: options whose namespace name is the setting's name
_SAME_NAME = ("bench", "dataset", "mnist_path", "epochs", "seeds", "sizes", "hidden", "repeats",
              "eval_repeats", "batch_size", "lr", "width_s", "calibration", "modes", "out_dir",
              "resume", "current_levels", "nonideal", "trial_time_s", "recalibrate_every",
              "online_memory", "online_every", "remap")


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The config ``hil train`` asked for: defaults, then ``--config FILE``, then ``--demo``'s
    settings, then each option given explicitly."""
    given = vars(args)
    settings = read_toml(given["config_file"]) if "config_file" in given else {}
    if given.get("demo"):
        settings.update(DEMO_CONFIG)
    settings.update({k: given[k] for k in _SAME_NAME if k in given})
    if isinstance(settings.get("hidden"), list) and len(settings["hidden"]) == 1:
        settings["hidden"] = settings["hidden"][0]
    if "mnist_path" in given:
        settings["dataset"] = "mnist"
    if given.get("no_progress"):
        settings["progress"] = False
    if "high_variability" in given:
        levels = dict(settings.get("variability", ExperimentConfig().variability))
        delta_rel, ic0_rel = given["high_variability"]
        levels["high"] = {**(levels.get("high") or {}), "delta_rel": delta_rel, "ic0_rel": ic0_rel}
        settings["variability"] = levels
    return ExperimentConfig.from_dict(settings)
