"""One sweep point: build its bench from its plain config, survey and/or train, return metrics.

:func:`run_point` is a pure function of the point's config (the bench dict carries the seed,
the experiment runs with ``seeds = [seed]``): the same numbers in process and in a Ray worker.
It works in a private temporary folder (a Ray worker on another machine has its own disk) and
returns plain data; the caller writes the result file. An exception is returned as the
point's ``error`` (one line), so one failing point does not stop a sweep.
"""

from __future__ import annotations

import copy
import tempfile
import time
import traceback
from pathlib import Path


def survey_metrics(config: dict, bench: dict, workdir: Path) -> dict:
    """A small variability survey of the point's chip: per size I50, its D2D spread, the
    relative 10-90 % switching width and Delta."""
    from procedures.session import open_bench
    from procedures.variability import survey_chip

    params = dict(config)
    width_s = params.pop("width_s")
    trials, points = params.pop("trials"), params.pop("points")
    devices = params.pop("devices")
    with open_bench(copy.deepcopy(bench)) as opened:
        result = survey_chip(opened, workdir / "survey", trials=trials, points=points,
                             width_s=width_s, devices=devices, report=False,
                             print_summary=False, **params)
    metrics = {}
    for s in result.sizes:
        metrics.update({f"survey.{s.size}.relative_width": s.relative_width_mean,
                        f"survey.{s.size}.i50_uA": s.i50_mean_A * 1e6,
                        f"survey.{s.size}.i50_spread_rel": s.i50_spread_rel,
                        f"survey.{s.size}.delta": s.delta_mean,
                        f"survey.{s.size}.fitted": s.count})
    metrics["survey.projected_bench_time_s"] = result.projected_time_s
    return metrics


def train_metrics(config: dict, bench: dict, seed: int, workdir: Path) -> dict:
    """The experiment on the point's bench, one seed: test accuracy (%) per size and mode."""
    from hil.experiment import run_experiment

    result = run_experiment({**config, "bench": copy.deepcopy(bench), "seeds": [seed],
                             "out_dir": str(workdir / "train"), "progress": False,
                             "checkpoints": False})
    levels = {row["variability"] for row in result.runs}
    metrics = {}
    for row in result.runs:
        level = "" if len(levels) == 1 else f".{row['variability']}"
        size = row["size"] or "all"
        metrics[f"train.{size}.{row['mode']}{level}.acc_pct"] = 100.0 * row["test_acc"]
    return metrics


def run_point(config: dict) -> dict:
    """``{"status": "ok", "metrics": {...}}`` or ``{"status": "error", "error": "..."}``,
    with ``wall_s``; never raises for a failure of the point itself."""
    started = time.perf_counter()
    tmp = ""
    try:
        with tempfile.TemporaryDirectory(prefix="hil-sweep-") as tmp:
            workdir = Path(tmp)
            metrics = {}
            if config.get("survey") is not None:
                metrics.update(survey_metrics(config["survey"], config["bench"], workdir))
            if config.get("train") is not None:
                metrics.update(train_metrics(config["train"], config["bench"], config["seed"],
                                             workdir))
        return {"status": "ok", "metrics": metrics, "wall_s": time.perf_counter() - started}
    except Exception as exc:    # a point's failure is its result; the sweep goes on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        # the temporary folder's name differs per run: the error must not
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if tmp:
            message = message.replace(tmp, "<point folder>")
        return {"status": "error", "error": message,
                "where": f"{Path(last.filename).name}:{last.lineno}",
                "wall_s": time.perf_counter() - started}


__all__ = ["run_point", "survey_metrics", "train_metrics"]
