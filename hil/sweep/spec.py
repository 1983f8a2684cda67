"""The sweep spec: a TOML file of axes, expanded into points with explicit seeds.

    name = "spread-vs-size"
    mode = "grid"                     # or "random": `samples` points drawn with `seed`
    bench = "my_bench.toml"           # optional (relative to the spec); default: built-in bench
    [axes]
    "variability.delta_rel" = [0.05, 0.15, 0.25]   # the bench file's [variability] spreads
    "size.S.width_m" = [60e-9, 90e-9]              # a field of every device group of size S
    "limits.S.line_cross_section_m2" = [3e-16]      # a size's safety limit
    "train.hidden" = [16, 32]                       # an ExperimentConfig setting
    "survey.trials" = [16]                          # a survey parameter
    seed = [0, 1, 2]                                # replicates: each point's bench and run seed
    [survey]                                        # characterize each point (small survey)
    [train]                                         # train each point (ExperimentConfig fields)

In random mode an axis is a list (one value drawn per sample) or a range table
``{ min = .., max = .., log = true }``; a sample without a ``seed`` axis draws its seed. The
draw uses the spec's ``seed`` only, so the points (their configs and seeds) are the same
wherever and in whatever order they run. Every point's bench dict and experiment config are
built and checked when the spec loads: a bad key or value is refused before anything runs,
as one line naming the key, its line in the file and what is accepted.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TOP_KEYS = ("name", "mode", "samples", "seed", "bench", "out_dir", "axes", "survey", "train")
MODES = ("grid", "random")
MAX_POINTS = 100_000

#: survey parameters a spec may set, with their defaults (small: a sweep surveys many chips)
SURVEY_DEFAULTS = {"trials": 16, "points": 6, "coarse_points": 8, "coarse_trials": 2,
                   "reference_trials": 16, "devices": "all", "width_s": 10e-9,
                   "bias_field": 0.01, "width_scan": False}
_SURVEY_INTS = ("trials", "points", "coarse_points", "coarse_trials", "reference_trials")
#: experiment settings the sweep owns for every point (where it writes, its bench and seed)
TRAIN_MANAGED = ("bench", "seeds", "out_dir", "resume", "progress", "checkpoints")
#: the point's own bench spreads are its one variability level unless the spec names levels
TRAIN_DEFAULTS = {"variability": {"point": None}, "bench_projection": False, "torch_threads": 1}


class SweepError(ValueError):
    """A sweep that cannot run as asked (``hil sweep`` prints one line and exits 2)."""


class SweepSpecError(SweepError):
    """A sweep spec that cannot run: one line naming the key, the value and what is accepted."""


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its axis values and its resolved, plain-data config."""

    coords: dict[str, Any]            # axis name -> value (JSON-able)
    config: dict[str, Any]            # {"bench": dict, "seed": int, "survey": dict|None, "train": dict|None}

    @property
    def id(self) -> str:
        """The point's identity: the hash of its resolved config (its result file's name)."""
        return config_id(self.config)


def config_id(config: dict) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class SweepSpec:
    name: str
    mode: str
    axes: dict[str, Any]
    points: list[Point]
    source: str = "<dict>"
    out_dir: str | None = None
    does_survey: bool = False
    does_train: bool = False
    base_bench: dict = field(default_factory=dict)

    @property
    def cell_axes(self) -> list[str]:
        """The axes that define a grid cell (all but the replicate seed)."""
        return [a for a in self.axes if a != "seed"]


# ---------------------------------------------------------------------------- errors
class _Where:
    """Names the line of a key in the spec text (error messages point at it)."""

    def __init__(self, text: str, source: str):
        self.lines = text.splitlines()
        self.source = source

    def __call__(self, key: str) -> str:
        last = key.split(".")[-1] if not key.startswith(("variability.", "size.", "limits.",
                                                          "train.", "survey.")) else key
        pattern = re.compile(r'^\s*(\[\s*)?"?' + re.escape(last) + r'"?\s*(=|\])')
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return f"{self.source}:{number}"
        return self.source


def _unknown(what: str, key: str, accepted, where: str):
    close = difflib.get_close_matches(str(key), list(accepted), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SweepSpecError(f"{where}: unknown {what} {key!r}{hint}; accepted: {', '.join(accepted)}")


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


# ---------------------------------------------------------------------------- loading
def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec TOML file (bench paths relative to the spec's folder)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepSpecError(f"sweep spec {str(path)!r} does not exist; give a spec TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepSpecError(f"sweep spec {str(path)!r} cannot be read ({exc}); give a spec "
                             f"TOML file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepSpecError(f"{path}: not valid TOML: {exc}") from None
    return parse_spec(data, text=text, source=str(path), base_dir=path.parent)


def parse_spec(data: dict, text: str = "", source: str = "<dict>",
               base_dir: str | Path = ".") -> SweepSpec:
    """A checked spec from a plain dict (what the TOML file holds)."""
    where = _Where(text, source)
    for key in data:
        if key not in TOP_KEYS:
            _unknown("sweep spec key", key, TOP_KEYS, where(key))
    mode = data.get("mode", "grid")
    if mode not in MODES:
        raise SweepSpecError(f"{where('mode')}: mode must be one of {MODES}, got {mode!r}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise SweepSpecError(f"{where('name')}: name must be a non-empty string, got {name!r}")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise SweepSpecError(f"{where('seed')}: seed must be an integer in 0..2**32-1, got {seed!r}")
    out_dir = data.get("out_dir")
    if out_dir is not None and not isinstance(out_dir, str):
        raise SweepSpecError(f"{where('out_dir')}: out_dir must be a path string, got {out_dir!r}")
    base = _base_bench(data.get("bench"), Path(base_dir), where)
    axes = data.get("axes", {})
    if not isinstance(axes, dict):
        raise SweepSpecError(f"{where('axes')}: [axes] must be a table of axis = [values]")
    for axis in axes:
        _check_axis_name(axis, base, where)
    survey = _section(data, "survey", where)
    train = _section(data, "train", where)
    does_survey = survey is not None or any(a.startswith("survey.") for a in axes)
    does_train = train is not None or any(a.startswith("train.") for a in axes)
    if not (does_survey or does_train):
        raise SweepSpecError(f"{source}: the spec neither surveys nor trains: add a [survey] "
                             f"and/or a [train] table")
    if survey:
        for key, value in survey.items():
            _check_survey(key, value, where)
    if train:
        for key in train:
            if key in TRAIN_MANAGED:
                raise SweepSpecError(f"{where(key)}: [train] {key!r} is set by the sweep for "
                                     f"every point (its bench, seed and folder); remove it")
    if mode == "grid":
        if "samples" in data:
            raise SweepSpecError(f"{where('samples')}: samples is for mode = \"random\"; a grid "
                                 f"runs every combination of the axes")
        combos = _grid(axes, where)
    else:
        samples = data.get("samples")
        if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_POINTS:
            raise SweepSpecError(f"{where('samples')}: random mode needs samples, an integer in "
                                 f"1..{MAX_POINTS}, got {samples!r}")
        combos = _random(axes, samples, seed, where)
    points = [_point(coords, base, survey, train, does_survey, does_train, where)
              for coords in combos]
    return SweepSpec(name, mode, dict(axes), points, source, out_dir, does_survey, does_train, base)


def _base_bench(bench, base_dir: Path, where) -> dict:
    from devices.benchfile import BenchFileError, default_bench_text, load_bench_file

    if bench is None or bench == "default":
        return tomllib.loads(default_bench_text())
    if not isinstance(bench, str):
        raise SweepSpecError(f"{where('bench')}: bench must be the path of a bench TOML file, "
                             f"got {bench!r}")
    path = Path(bench) if Path(bench).is_absolute() else base_dir / bench
    try:
        load_bench_file(path)       # checked, with the bench file's own line-numbered errors
    except BenchFileError as exc:
        raise SweepSpecError(f"{where('bench')}: {exc}") from None
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _sizes(bench: dict) -> list[str]:
    return list(dict.fromkeys(g.get("size") for c in bench.get("chip", [])
                              for g in c.get("group", [])))


def _check_axis_name(axis: str, base: dict, where) -> None:
    from hil.config import FIELDS

    head, _, rest = axis.partition(".")
    kinds = ("seed", "variability.KEY", "size.SIZE.KEY", "limits.SIZE.KEY", "survey.KEY",
             "train.KEY")
    if axis == "seed":
        return
    if head == "variability" and rest:
        return                      # the key is checked by the bench file's schema per point
    if head in ("size", "limits") and rest.count(".") == 1:
        size = rest.split(".")[0]
        if size not in _sizes(base):
            raise SweepSpecError(f"{where(axis)}: axis {axis!r} names size {size!r}, which the "
                                 f"bench does not have; its sizes: {', '.join(_sizes(base))}")
        return
    if head == "survey" and rest:
        if rest not in SURVEY_DEFAULTS:
            _unknown("survey parameter", rest, SURVEY_DEFAULTS, where(axis))
        return
    if head == "train" and rest:
        if rest in TRAIN_MANAGED:
            raise SweepSpecError(f"{where(axis)}: axis {axis!r}: {rest!r} is set by the sweep "
                                 f"for every point; use the seed axis for seeds")
        if rest not in FIELDS:
            _unknown("experiment setting", rest, [f for f in FIELDS if f not in TRAIN_MANAGED],
                     where(axis))
        return
    _unknown("axis", axis, kinds, where(axis))


def _section(data: dict, name: str, where) -> dict | None:
    if name not in data:
        return None
    section = data[name]
    if not isinstance(section, dict):
        raise SweepSpecError(f"{where(name)}: [{name}] must be a table, got {section!r}")
    if name == "survey":
        for key in section:
            if key not in SURVEY_DEFAULTS:
                _unknown("survey parameter", key, SURVEY_DEFAULTS, where(key))
    return dict(section)


def _check_survey(key: str, value, where) -> None:
    bad = None
    if key in _SURVEY_INTS:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100_000:
            bad = "an integer in 1..100000"
    elif key == "devices":
        if not isinstance(value, str) or not value.strip():
            bad = "'all', sizes 'S,L' or names 'S0,M3'"
    elif key == "width_scan":
        if not isinstance(value, bool):
            bad = "true or false"
    elif not _finite(value) or (key == "width_s" and not 0 < value <= 1e-3):
        bad = "a finite number" + (" in (0, 1e-3] s" if key == "width_s" else "")
    if bad:
        raise SweepSpecError(f"{where(key)}: survey parameter {key!r} must be {bad}, got {value!r}")


def _values(axis: str, values, where) -> list:
    if not isinstance(values, list) or not values:
        raise SweepSpecError(f"{where(axis)}: axis {axis!r} must be a non-empty list of values, "
                             f"got {values!r}")
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            raise SweepSpecError(f"{where(axis)}: axis {axis!r} value {value!r} is not finite")
        if axis == "seed" and (not isinstance(value, int) or isinstance(value, bool)
                               or not 0 <= value < 2**32):
            raise SweepSpecError(f"{where(axis)}: seed values must be integers in 0..2**32-1, "
                                 f"got {value!r}")
    return values


def _grid(axes: dict, where) -> list[dict]:
    lists = {axis: _values(axis, values, where) for axis, values in axes.items()}
    count = math.prod(len(v) for v in lists.values())
    if count > MAX_POINTS:
        raise SweepSpecError(f"the grid has {count} points, over the maximum {MAX_POINTS}; use "
                             f"fewer values or mode = \"random\"")
    return [dict(zip(lists, combo)) for combo in itertools.product(*lists.values())]


def _random(axes: dict, samples: int, seed: int, where) -> list[dict]:
    rng = np.random.default_rng(seed)
    draws: dict[str, list] = {}
    for axis, spec in axes.items():
        if isinstance(spec, dict):
            extra = set(spec) - {"min", "max", "log"}
            if extra:
                _unknown(f"range key of axis {axis!r}", sorted(extra)[0], ("min", "max", "log"),
                         where(axis))
            low, high, log = spec.get("min"), spec.get("max"), spec.get("log", False)
            if not (_finite(low) and _finite(high) and low < high) or not isinstance(log, bool) \
                    or (log and low <= 0):
                raise SweepSpecError(f"{where(axis)}: range of axis {axis!r} needs finite min < "
                                     f"max (both > 0 with log = true), got {spec!r}")
            if axis == "seed":
                raise SweepSpecError(f"{where(axis)}: the seed axis takes a list of integers")
            u = rng.random(samples)
            values = (np.exp(np.log(low) + u * (np.log(high) - np.log(low))) if log
                      else low + u * (high - low))
            draws[axis] = [float(v) for v in values]
        else:
            values = _values(axis, spec, where)
            draws[axis] = [values[i] for i in rng.integers(0, len(values), samples)]
    if "seed" not in draws:
        draws["seed"] = [int(s) for s in rng.integers(0, 2**32, samples)]
    return [{axis: draws[axis][i] for axis in draws} for i in range(samples)]


def _point(coords: dict, base: dict, survey, train, does_survey, does_train, where) -> Point:
    from devices.benchfile import BenchFileError, parse_bench
    from hil.config import ExperimentConfig, ExperimentConfigError

    seed = int(coords.get("seed", 0))
    bench = copy.deepcopy(base)
    bench["seed"] = seed
    survey_cfg = {**SURVEY_DEFAULTS, **(survey or {})} if does_survey else None
    train_cfg = {**TRAIN_DEFAULTS, **(train or {})} if does_train else None
    for axis, value in coords.items():
        head, _, rest = axis.partition(".")
        if head == "variability":
            bench.setdefault("variability", {})[rest] = value
        elif head == "size":
            size, key = rest.split(".")
            for chip in bench.get("chip", []):
                for group in chip.get("group", []):
                    if group.get("size") == size:
                        group[key] = value
        elif head == "limits":        # a size's safety limits (a wider bar needs its own)
            size, key = rest.split(".")
            bench.setdefault("limits", {}).setdefault(size, {})[key] = value
        elif head == "survey":
            _check_survey(rest, value, where)
            survey_cfg[rest] = value
        elif head == "train":
            train_cfg[rest] = value
    label = ", ".join(f"{a}={v}" for a, v in coords.items())
    try:
        parse_bench(copy.deepcopy(bench), source=f"point ({label})")
    except BenchFileError as exc:
        raise SweepSpecError(f"{where(next(iter(coords), 'bench'))}: {exc}") from None
    if train_cfg is not None:
        try:
            ExperimentConfig.from_dict({**train_cfg, "bench": copy.deepcopy(bench),
                                        "seeds": [seed], "progress": False})
        except ExperimentConfigError as exc:
            raise SweepSpecError(f"{where('train')}: point ({label}): {exc}") from None
    config = {"bench": bench, "seed": seed, "survey": survey_cfg, "train": train_cfg}
    return Point(dict(coords), config)


__all__ = ["MODES", "Point", "SURVEY_DEFAULTS", "SweepError", "SweepSpec", "SweepSpecError",
           "config_id",
           "load_spec", "parse_spec"]
