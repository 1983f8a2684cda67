"""The reference paper's experiment: software vs ex-situ vs in-situ (hardware-in-the-loop).

For every seed, a ``HiddenLayerNet`` (inputs -> ``hidden`` neurons -> software readout) is
trained on the dataset in these modes:

``software``
    deterministic sigmoid hidden neurons (the baseline);
``ideal_stochastic``
    ideal stochastic binary neurons, Bernoulli(sigmoid(x)), mean of ``repeats`` trials;
``exsitu`` / ``exsitu_uncalibrated``
    trained on the *typical device* model of one size (a calibrated-model backend in which
    every device follows the median fitted curve of that size), then deployed on the
    simulated, variable devices: with each device's input->current mapping centred on its
    own calibrated I50 (``exsitu``), or with the typical device's mapping for all
    (``exsitu_uncalibrated``, what D2D variability does to an uncalibrated deployment);
``insitu``
    trained with the variable devices in the forward pass (per-device I50 centring, surrogate
    gradient from each device's calibrated curve);
``exsitu_recal`` (asked for by name)
    ``exsitu``'s network, its devices recalibrated every ``recalibrate_every`` batches of bench
    time (each recalibration's trials counted as bench time);
``insitu_online`` (asked for by name)
    ``insitu`` with each device's curve re-estimated from its own forward-pass answers every
    ``online_every`` batches (:mod:`hil.online`; no extra trial): surrogate and centring
    follow the drifting device.

Devices that drift (``nonideal``: the bench file's ``[nonideal]`` table, or a named set of
:mod:`devices.nonideal` per level): every trial moves the devices' virtual clock on
(``trial_time_s``, :mod:`hil.simulated`), and every device mode is tested at the end of the
same bench session, the in-situ run's training time: ex-situ calibrated once at its start
sees devices that drifted all that time. The in-situ modes watch every device's answers and
move the neurons of one found dead or stuck to healthy devices (:mod:`hil.remap`, ``remap``);
a device whose on-the-fly calibration fails is left out from the start. Both are reported
(``device_events`` in results.json, and the printed output).

``hidden`` a list stacks several hidden layers of device neurons, all on the same devices of
a size (served one after another), each layer with its own round-robin map.

The device modes run for every device size of the bench's first chip and for each named
variability level (default: the bench's own D2D spread as "low" and a wider "high" one);
every seed draws its own chip. The calibration is fitted on the fly through the simulated
array (``calibration: "fit"``), taken from the simulated truth (``"truth"``), or read from a
calibration JSON file (a path; see :mod:`procedures.calibration`). A file describes the bench's own
chip (the simulated bench's own draw, :func:`hil.simulated.build_chips`, what a characterization survey of the
simulated bench measured): it serves the variability level whose spreads are ``None`` (the
bench file's), on that one chip for every seed; the other levels are fitted on the fly.

The simulated array has no bus; to report what the in-situ run would cost on a bench, one
training batch per size also goes through the :class:`~hil.backends.BenchBackend` (drivers +
the simulated bench's VISA library, in process): its bus round trips and virtual-clock time,
scaled to the run's training batches, plus the one-time setup measured apart
(``bench_projection``, with each batch's physical floor; the evaluation passes are not
included).

``run_experiment(config)`` takes an :class:`~hil.config.ExperimentConfig` (or a plain dict of
its settings), returns an :class:`ExperimentResult` and writes ``runs.csv``, ``summary.csv``,
``results.json``, ``learning_curves.png`` and ``accuracy_vs_size.png`` into ``out_dir``. Every
run checkpoints each epoch under ``out_dir/checkpoints``; ``resume: True`` continues from
there, with the same settings only (:func:`run_identity`; ``epochs`` may grow). Settings are
checked when the config is built (:class:`~hil.config.ExperimentConfigError`). A calibration file's curves are
moved to the pulse width played (``width_s``): a ``neel_brown`` curve is rebuilt there, a
``logistic`` one fitted at another width is refused.
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from devices import nonideal as nonideal_table
from devices.benchfile import as_bench_file
from hil.backends import CalibratedModelBackend
from hil.calibration import calibrate_backend, calibration_from_chip
from procedures.calibration import (CalibrationError, CalibrationFileError, ChipCalibration,
                                   load_calibration, neel_brown_curve)
from procedures.identity import bench_digest, other_chip
from procedures.outlock import lock_folder, require_run_folder
from hil.config import (BENCH_NONIDEAL, MODES, ExperimentConfig,  # noqa: F401 (re-exported)
                        ExperimentConfigError, add_train_arguments, config_from_args, hidden_widths)
from hil.data import load_dataset
from hil.network import HiddenLayerNet
from hil.neuron import DeviceNeuron, StochasticSigmoidNeuron, round_robin
from hil.online import OnlineCurves
from hil.remap import DeviceWatch, Remapper, layer_maps, restore_layer_maps
from hil.safety import CurrentLimitError, device_current_limits
from hil.train import CheckpointError, TrainConfig, evaluate, torch_threads, train

if TYPE_CHECKING:   # the simulator loads only when an experiment draws its chips
    from hil.simulated import SimulatedArrayBackend


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    runs: list[dict] = field(default_factory=list)        # one row per (mode, size, var, seed)
    curves: dict[str, list[float]] = field(default_factory=dict)  # run id -> test acc per epoch
    mappings: dict[str, str] = field(default_factory=dict)        # run id -> neuron map report
    bench_projection: dict[str, dict] = field(default_factory=dict)  # size -> one measured batch
    #: run id -> devices left out at calibration, found dead / stuck and remapped (when, where)
    device_events: dict[str, list[dict]] = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """Mean and sample std of the test accuracy over seeds, per (mode, size, variability)."""
        groups: dict[tuple, list[dict]] = {}
        for row in self.runs:
            key = (row["mode"], row["size"], row["variability"], row.get("nonideal", BENCH_NONIDEAL))
            groups.setdefault(key, []).append(row)
        out = []
        for (mode, size, var, level), rows in groups.items():
            acc = np.array([r["test_acc"] for r in rows]) * 100
            rt = [r["round_trips_per_batch"] for r in rows]
            bt = [r["bench_time_s"] for r in rows if r["bench_time_s"] is not None]
            out.append({"mode": mode, "size": size, "variability": var, "n_seeds": len(rows),
                        "test_acc_mean_pct": float(acc.mean()),
                        "test_acc_std_pct": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                        "epoch_time_s": float(np.mean([r["epoch_time_s"] for r in rows])),
                        "round_trips_per_batch": float(np.mean(rt)),
                        "bench_time_s": float(np.mean(bt)) if bt else None,
                        "nonideal": level,
                        "recalibration_bench_time_s": _mean_of(rows, "recalibration_bench_time_s"),
                        "recalibrations": _mean_of(rows, "recalibrations"),
                        "session_s": _mean_of(rows, "session_s")})
        return out


def _mean_of(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


#: settings that do not change what a run computes: a resume may change them freely
#: (``epochs`` is checked by the training loop itself; the run id carries mode, size, level, seed)
_NOT_IDENTITY = ("epochs", "out_dir", "resume", "checkpoints", "progress", "torch_threads",
                 "bench_projection", "modes", "seeds", "sizes")


#: settings of the drift study: at their defaults they are left out of a run's identity
_DRIFT_SETTINGS = ("nonideal", "trial_time_s", "recalibrate_every", "online_memory",
                   "online_every", "remap")


def _file_digest(path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def run_identity(config: ExperimentConfig) -> dict:
    """The settings a run's checkpoint must match to be resumed (plain data: JSON-normalised,
    keyed as :meth:`ExperimentConfig.to_dict`). A calibration file is identified by its content too.
    Continuous currents (``current_levels`` None) leave the key out: checkpoints written before
    the setting existed were continuous and still resume; any K is part of the identity."""
    import json

    identity = {k: v for k, v in config.to_dict().items() if k not in _NOT_IDENTITY}
    if identity.get("current_levels", 0) is None:
        del identity["current_levels"]
    defaults = ExperimentConfig().to_dict()
    for key in _DRIFT_SETTINGS:   # checkpoints written before these existed still resume
        if identity.get(key) == defaults[key]:
            del identity[key]
    if identity.get("calibration") not in ("fit", "truth"):
        identity["calibration_sha256"] = _file_digest(identity["calibration"])
    return json.loads(json.dumps(identity, default=str))


def _stable_seed(*parts) -> int:
    """A seed from a run's identity: independent of run order, so resume reproduces it."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


#: the modes that run on devices (per size, variability and non-ideality level)
DEVICE_MODES = ("exsitu_uncalibrated", "exsitu", "exsitu_recal", "insitu", "insitu_online")


def calibrate_healthy(meter, limits, width_s: float, trials: int,
                      names: list[str] | None = None) -> tuple[ChipCalibration, dict[str, str]]:
    """The on-the-fly calibration of ``names`` (default: every device of ``meter``), leaving
    out a device that cannot be fitted (dead, stuck: it never crosses P = 0.5, or its curve is
    no curve). Returns the calibration and {device: why} of those left out."""
    names = list(meter.device_names if names is None else names)
    try:
        return calibrate_backend(meter, limits, width_s, trials=trials, names=names), {}
    except CalibrationError:
        pass
    curves, failed, source = {}, {}, ""
    for name in names:
        try:
            one = calibrate_backend(meter, limits, width_s, trials=trials, names=[name])
        except CalibrationError as exc:
            failed[name] = str(exc).split(";")[0]
            continue
        curves[name], source = one[name], one.source
    return ChipCalibration("", "", float(width_s), curves, source), failed


def _layers_report(layers) -> str:
    return "\n".join(layer.report() for layer in (layers if isinstance(layers, list) else [layers]))


class _HiddenStack(nn.Module):
    """A network's device layers after its first linear layer, as one layer (for measuring a
    batch's bench cost through all of them)."""

    def __init__(self, net: HiddenLayerNet):
        super().__init__()
        self.net = net
        self.repeats = net.neurons.repeats
        self.neuron_devices = [d for layer in net.neuron_layers() for d in layer.neuron_devices]

    @property
    def eval_repeats(self) -> int:
        return self.net.neurons.eval_repeats

    @eval_repeats.setter
    def eval_repeats(self, value: int) -> None:
        for layer in self.net.neuron_layers():
            layer.eval_repeats = value

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        h = self.net.neurons(pre)
        for linear, neurons in zip(self.net.deeper, self.net.deeper_neurons):
            h = neurons(linear(h))
        return h


class _InSituHooks:
    """What an in-situ run does after each training batch (:func:`hil.train.train`'s
    ``after_batch``): the device watch and remapping (:mod:`hil.remap`, ``remap``) and, for
    ``insitu_online``, the online curves (:mod:`hil.online`): the layers rebuilt with the
    estimate every ``online_every`` batches. Its state (:meth:`state`) goes into the run's
    checkpoints: a resumed run continues the same estimate, watch, neuron map and events."""

    def __init__(self, config: ExperimentConfig, layers: list[DeviceNeuron], backend,
                 calibration: ChipCalibration, names: list[str], online: bool):
        self.config, self.layers, self.backend = config, layers, backend
        self.remapper = (Remapper(layers, names, DeviceWatch(backend.device_names))
                         if config.remap else None)
        self.online = None
        self.skipped = 0
        if online:
            low, high = {}, {}
            for layer in layers:
                lo, hi = layer.mapping.bounds_A()
                for name, a, b in zip(layer.neuron_devices, lo, hi):
                    low[name], high[name] = min(low.get(name, a), a), max(high.get(name, b), b)
            self.online = OnlineCurves(calibration, names, [(low[n], high[n]) for n in names],
                                       backend.device_names, config.online_memory)
            for layer in layers:
                layer.observers.append(self.online.observe)

    def __call__(self, batch: int) -> None:
        if self.online is not None:
            self.online.step()
            if batch % self.config.online_every == 0:
                self.online.refresh()
                estimate = self.online.calibration()
                for layer in self.layers:
                    try:
                        layer.rebuild(calibration=estimate)
                    except CurrentLimitError:
                        self.skipped += 1   # an estimate the limits cannot centre: keep the last
        if self.remapper is not None:
            drifting = getattr(self.backend, "drift", None) is not None
            self.remapper.after_batch(batch, self.backend.clock_s if drifting else None)

    def events(self) -> list[dict]:
        return [] if self.remapper is None else list(self.remapper.events)

    def state(self) -> dict | None:
        """The run state a checkpoint keeps (:mod:`hil.train`); None when nothing changes."""
        if self.online is None and self.remapper is None:
            return None
        state = {"neuron_maps": layer_maps(self.layers)}
        if self.online is not None:
            state["online_estimate"] = {"curves": self.online.state(),
                                        "skipped_rebuilds": int(self.skipped)}
        if self.remapper is not None:
            state["device_watch"] = self.remapper.state()
        return state

    def resumes_without_state(self) -> bool:
        """A checkpoint without run state (written before it was kept) still resumes this run
        as before: no online estimate, devices that do not drift (none dies or sticks)."""
        return self.online is None and getattr(self.backend, "drift", None) is None

    def set_state(self, saved: dict) -> None:
        keys = set(self.state())
        if set(saved) != keys:
            raise ValueError(f"it holds {sorted(saved)}, this run keeps {sorted(keys)}")
        if self.online is not None:
            skipped = saved["online_estimate"]["skipped_rebuilds"]
            if not (isinstance(skipped, int) and skipped >= 0):
                raise ValueError(f"skipped_rebuilds is {skipped!r}, not a count")
            self.online.set_state(saved["online_estimate"]["curves"])
            self.skipped = skipped
        if self.remapper is not None:
            self.remapper.set_state(saved["device_watch"])
        restore_layer_maps(self.layers, saved["neuron_maps"])

    def summary(self) -> dict:
        return {"online_refreshes": None if self.online is None else self.online.refreshes,
                "remapped_devices": len(self.events())}


def typical_calibration(calibration: ChipCalibration, names: list[str],
                        n_domains: int) -> ChipCalibration:
    """Every device of ``names`` replaced by the size's typical device: median fitted Ic0, Delta."""
    curves = [calibration[n] for n in names]
    typical = neel_brown_curve(float(np.median([c.ic0_A for c in curves])),
                               float(np.median([c.delta for c in curves])), calibration.width_s,
                               curves[0].tau0_s, curves[0].exponent, n_domains)
    return ChipCalibration(calibration.bench, calibration.chip, calibration.width_s,
                           {n: typical for n in names},
                           f"typical device of {len(names)} (median of {calibration.source})")


def device_layer(config: ExperimentConfig, backend, calibration: ChipCalibration,
                 names: list[str], limits, gain_cal: ChipCalibration | None = None,
                 width: int | None = None) -> DeviceNeuron:
    """The in-situ device layer of ``config``: ``width`` neurons (default: the first hidden
    layer's) round-robin on ``names``."""
    width = hidden_widths(config)[0] if width is None else width
    return DeviceNeuron.from_calibration(
        backend, calibration, round_robin(width, names), limits,
        width_s=config.width_s, repeats=config.repeats, eval_repeats=config.eval_repeats,
        gain_calibration=gain_cal, saturation=config.saturation, headroom=config.headroom,
        current_levels=config.current_levels)


def measure_batch_cost(devices, layer: DeviceNeuron, pre: torch.Tensor) -> dict:
    """One training batch ``pre`` (the hidden layer's input) through ``layer`` on the bench
    backend ``devices``, twice: the first time also pays the bench's one-time setup (bias
    field, each device's line resistance, the waveforms), recorded apart as ``setup_*``; the
    second is the batch every later one repeats (its round trips, bench time, physical floor)."""
    layer.eval_repeats = layer.repeats
    trips0, time0 = devices.round_trips, devices.bench_time_s
    layer(pre)
    setup_trips = devices.round_trips - trips0
    setup_time_s = devices.bench_time_s - time0
    trips0, time0, started = devices.round_trips, devices.bench_time_s, time.perf_counter()
    floor0 = devices.floor_s
    layer(pre)
    batch_trips, batch_time_s = devices.round_trips - trips0, devices.bench_time_s - time0
    return {"batch": [int(pre.shape[0]), int(pre.shape[1])],
            # the first batch less a steady one: what the bench pays once per run
            "setup_round_trips": setup_trips - batch_trips,
            "setup_bench_time_s": setup_time_s - batch_time_s,
            "round_trips_per_batch": batch_trips,
            "bench_time_s_per_batch": batch_time_s,
            "floor_s_per_batch": devices.floor_s - floor0,
            "wall_s_per_batch": time.perf_counter() - started,
            "devices": len(set(layer.neuron_devices))}


def require_switching_neurons(bench, sizes) -> None:
    """Before anything is read or fitted: every size run (of the bench's first chip) is a group
    of stochastic switching neurons; a synapse or a DW-MTJ neuron fitted as one trains a
    network of noise. One ExperimentConfigError line naming the --network that trains it."""
    from devices import kinds
    from hil.trainers import NETWORK_OF_ELEMENT

    chip = bench.groups[0].chip
    for group in bench.groups:
        element = kinds.kind(group.kind).element
        if group.chip == chip and group.size in sizes and element != "switching_neuron":
            network = NETWORK_OF_ELEMENT.get(element)
            raise ExperimentConfigError(
                f"bench {bench.name!r}: size {group.size!r} is a {group.kind} group "
                f"({element}); hil train --network mlp needs stochastic switching neurons "
                f"(sot_hall_bar or mtj): train it with "
                f"{'--network ' + network if network else 'its own network'}, or give a "
                f"bench of switching neurons (the default bench)")


class _Runner:
    def __init__(self, config: ExperimentConfig):
        self.config = config
        self.bench = as_bench_file(config.bench)
        self.limits = device_current_limits(self.bench)
        self.data = load_dataset(config.dataset, config.mnist_path, config.split_seed)
        self.out_dir = Path(config.out_dir)
        first_chip = self.bench.groups[0].chip
        all_sizes = [g.size for g in self.bench.groups if g.chip == first_chip]
        self.sizes = list(config.sizes or all_sizes)
        missing = set(self.sizes) - set(all_sizes)
        if missing:
            raise ExperimentConfigError(
                f"experiment setting 'sizes' (--sizes): {sorted(missing)} not on chip {first_chip!r} "
                f"(allowed: {all_sizes})")
        require_switching_neurons(self.bench, self.sizes)
        self.result = ExperimentResult(config)
        # the bench by its content: an edited bench file (seed, spreads) is another run
        self.identity = {**run_identity(config), "bench_sha256": bench_digest(self.bench)}
        self._file_calibration = None       # a calibration file, read and checked once
        self._left_out: dict[tuple, dict[str, str]] = {}   # devices a calibration could not fit
        if config.calibration not in ("fit", "truth"):
            self._file_calibration = self._check_calibration_file(config.calibration)

    def _check_calibration_file(self, path) -> ChipCalibration:
        """Before anything trains: a calibration file that names the chip it measured must name
        this bench's chip, and it must hold every device of the sizes run, at the width the
        layers play (a logistic curve fitted at another width is refused)."""
        calibration = load_calibration(path).require_models(
            ("neel_brown", "logistic"), f"hil train of switching neurons (file {str(path)!r})")
        reason = other_chip(calibration.meta.get("chip_identity"), self.bench)
        if reason:
            raise CalibrationFileError(
                f"calibration {str(path)!r} is of another chip: it {reason}; calibrate this "
                f"bench's chip (hil characterize survey --bench ...), or train with the bench "
                f"file it was measured on")
        first_chip = self.bench.groups[0].chip
        for device in self.bench.devices():
            if device.size in self.sizes and device.name.startswith(f"{first_chip}/"):
                calibration[device.name].at_width(self.config.width_s, device.name,
                                                  calibration.source)
        return calibration

    # ------------------------------------------------------------------ pieces
    def _net(self, neurons, seed: int) -> HiddenLayerNet:
        """The network with ``neurons``: one module per hidden layer (a list), or one module
        for a network of one hidden layer."""
        return HiddenLayerNet(self.data.n_features, self.config.hidden, self.data.n_classes,
                              neurons, torch.Generator().manual_seed(_stable_seed("init", seed)))

    def _train(self, run_id: str, net: HiddenLayerNet, seed: int, after_batch=None):
        cfg = self.config
        checkpoint = str(self.out_dir / "checkpoints" / f"{run_id.replace('/', '_')}.pt") \
            if cfg.checkpoints else None
        started = time.perf_counter()
        history = train(net, self.data, TrainConfig(
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            seed=_stable_seed("shuffle", seed), checkpoint=checkpoint,
            resume=bool(cfg.resume and checkpoint), progress=cfg.progress, desc=run_id,
            run=self.identity, run_id=run_id), after_batch)
        elapsed = time.perf_counter() - started
        self.result.curves[run_id] = list(history.test_acc)
        return history, elapsed / max(cfg.epochs, 1)

    def _record(self, run_id, mode, size, var, seed, acc, epoch_time_s, backend=None, batches=1,
                level=BENCH_NONIDEAL, **extra):
        trips = getattr(backend, "round_trips", 0) if backend is not None else 0
        bench_time_s = getattr(backend, "bench_time_s", None) if backend is not None else None
        in_situ = mode in ("insitu", "insitu_online")
        projection = self.result.bench_projection.get(size) if in_situ else None
        if projection is not None and not trips:
            # the simulated array has no bus: take the cost of one batch measured through the
            # BenchBackend, scale it to this run's training batches, add the one-time setup
            trips = projection["setup_round_trips"] + projection["round_trips_per_batch"] * batches
            bench_time_s = (projection["setup_bench_time_s"]
                            + projection["bench_time_s_per_batch"] * batches)
        self.result.runs.append({
            "run": run_id, "mode": mode, "size": size, "variability": var, "seed": seed,
            "test_acc": float(acc), "epoch_time_s": float(epoch_time_s),
            "round_trips_per_batch": trips / max(batches, 1),
            "bench_time_s": bench_time_s, "nonideal": level,
            "recalibrations": None, "recalibration_bench_time_s": None,
            "online_refreshes": None, "remapped_devices": None,
            "session_s": getattr(backend, "clock_s", None) if backend is not None
            and getattr(backend, "drift", None) is not None else None, **extra})

    def _project_bench(self) -> None:
        """One training batch per size through the BenchBackend (drivers + simulated VISA, in
        process): its bus round trips, the bench's projected (virtual-clock) time and the
        physical floor. The batch is the first training batch through a freshly initialised
        hidden layer, the devices the simulated bench's own chip with its true curves for the
        mapping. It runs twice: the first time also pays the bench's one-time setup (bias
        field, each device's line resistance, the waveforms), recorded apart as ``setup_*``;
        the second is the batch every later one repeats."""
        from hil.backends import BenchBackend
        from hil.simulated import build_chips

        cfg = self.config
        chip = build_chips(self.bench)[0]       # the simulated bench's own draw
        truth = calibration_from_chip(chip, cfg.width_s)
        x = self.data.x_train[:cfg.batch_size]
        widths = hidden_widths(cfg)
        with torch.no_grad():
            pre = self._net(nn.Identity() if len(widths) == 1 else [nn.Identity()] * len(widths),
                            0).hidden(x)
        domains = {n: truth[n].n_domains for n in truth.names()}
        with BenchBackend.open(self.bench, n_domains=domains,
                               calibration=self._file_calibration) as devices:
            for size in self.sizes:
                names = [n for n in chip.names if chip.size[chip.index(n)] == size]
                layer = self._device_layers(devices, truth, names)
                if len(widths) > 1:     # every hidden layer's trials: the batch a bench runs
                    layer = _HiddenStack(self._net(layer, 0))
                self.result.bench_projection[size] = {
                    "repeats": cfg.repeats, **measure_batch_cost(devices, layer, pre),
                    "neurons_per_sample": sum(widths)}

    def _calibration(self, backend: SimulatedArrayBackend, seed: int, var: str,
                     level: str = BENCH_NONIDEAL) -> ChipCalibration:
        source = self.config.calibration
        width = self.config.width_s
        if self._uses_file(var):
            # the file's curves at the width the layers play (a logistic one must match it)
            return self._file_calibration.at_width(width)
        if source == "truth":
            return calibration_from_chip(backend.chips[0], width)
        # "fit", and a file's fallback for the variability levels it did not measure; the
        # meter meets the same non-idealities from t = 0 (calibrated at the start)
        meter = backend.twin(_stable_seed("calibrate", seed, var, *self._level_tag(level)))
        calibration, failed = calibrate_healthy(meter, self.limits, width,
                                                self.config.calibration_trials)
        self._left_out[(seed, var, level)] = failed
        return calibration

    def _uses_file(self, var: str) -> bool:
        """A calibration file describes the bench's own chip: it serves the variability level
        that keeps the bench file's spreads (None); other levels are fitted on the fly."""
        return (self.config.calibration not in ("fit", "truth")
                and self.config.variability[var] is None)

    def _nonideal(self, level: str) -> dict:
        """The resolved [nonideal] table of a level: the bench file's, or a named set."""
        table = self.config.nonideal[level]
        if table is None:
            return self.bench.nonideal
        return nonideal_table.parse({k: dict(v) if isinstance(v, Mapping) else v
                                     for k, v in table.items()}, None)

    @staticmethod
    def _level_tag(level: str) -> tuple:
        """What a non-ideality level adds to a run's id and seeds (nothing for the default)."""
        return () if level == BENCH_NONIDEAL else (level,)

    def _devices_under_test(self, seed: int, var: str, spreads,
                            level: str = BENCH_NONIDEAL) -> SimulatedArrayBackend:
        from hil.simulated import SimulatedArrayBackend, build_chips

        nonideal, trial_s = self._nonideal(level), self.config.trial_time_s
        if self._uses_file(var):
            # the chip the characterization measured: the simulated bench's own draw
            return SimulatedArrayBackend(build_chips(self.bench), self.limits,
                                         name="simulated array of the bench's chip",
                                         nonideal=nonideal, nonideal_seed=self.bench.seed,
                                         trial_time_s=trial_s)
        chip_seed = _stable_seed("chip", self.bench.seed, seed)
        return SimulatedArrayBackend.from_bench(self.bench, chip_seed=chip_seed, variability=spreads,
                                                nonideal=nonideal, nonideal_seed=chip_seed,
                                                trial_time_s=trial_s)

    def _device_layer(self, backend, calibration, names, gain_cal=None, seed=0) -> DeviceNeuron:
        return device_layer(self.config, backend, calibration, names, self.limits, gain_cal)

    def _device_layers(self, backend, calibration, names, gain_cal=None):
        """One device layer per hidden layer (all on ``names``): the module itself for one."""
        layers = [device_layer(self.config, backend, calibration, names, self.limits, gain_cal, w)
                  for w in hidden_widths(self.config)]
        return layers[0] if len(layers) == 1 else layers

    def _session_s(self) -> float:
        """The virtual time an in-situ run's devices have lived when its last test starts:
        every training trial and every earlier test's (``trial_time_s`` each)."""
        cfg, widths = self.config, sum(hidden_widths(self.config))
        train_trials = len(self.data.x_train) * widths * cfg.repeats
        test_trials = len(self.data.x_test) * widths * (cfg.eval_repeats or cfg.repeats)
        return (cfg.epochs * train_trials + (cfg.epochs - 1) * test_trials) * cfg.trial_time_s

    def _trial_bench_s(self, size: str) -> float:
        """A trial's projected bench time: the measured in-situ batch's, else trial_time_s."""
        projection = self.result.bench_projection.get(size)
        if not projection:
            return self.config.trial_time_s
        batch, neurons = projection["batch"][0], projection.get("neurons_per_sample",
                                                                  projection["batch"][1])
        return projection["bench_time_s_per_batch"] / (batch * neurons * projection["repeats"])

    # ------------------------------------------------------------------ the runs
    def run(self) -> ExperimentResult:
        cfg = self.config
        modes = set(cfg.modes)
        n_batches = int(np.ceil(len(self.data.x_train) / cfg.batch_size))
        widths = hidden_widths(cfg)
        one = len(widths) == 1
        for seed in cfg.seeds:
            if "software" in modes:
                run_id = f"software/seed{seed}"
                net = self._net(nn.Sigmoid() if one else [nn.Sigmoid() for _ in widths], seed)
                history, t_epoch = self._train(run_id, net, seed)
                self._record(run_id, "software", "-", "-", seed, history.test_acc[-1], t_epoch)
            if "ideal_stochastic" in modes:
                run_id = f"ideal_stochastic/seed{seed}"
                neurons = [StochasticSigmoidNeuron(cfg.repeats, cfg.eval_repeats,
                                                   seed=_stable_seed("ideal", seed, *([i] if i else [])))
                           for i in range(len(widths))]
                history, t_epoch = self._train(run_id, self._net(neurons[0] if one else neurons,
                                                                 seed), seed)
                self._record(run_id, "ideal_stochastic", "-", "-", seed, history.test_acc[-1], t_epoch)
            device_modes = modes & set(DEVICE_MODES)
            if modes & {"insitu", "insitu_online"} and cfg.bench_projection \
                    and not self.result.bench_projection:
                self._project_bench()
            if not device_modes:
                continue
            for level in cfg.nonideal:
                for var, spreads in cfg.variability.items():
                    truth = self._devices_under_test(seed, var, spreads, level)
                    calibration = self._calibration(truth, seed, var, level)
                    for size in self.sizes:
                        self._run_size(seed, var, size, truth, calibration, device_modes,
                                       n_batches, level)
        return self.result

    def _run_size(self, seed, var, size, truth, calibration, device_modes, n_batches,
                  level=BENCH_NONIDEAL):
        cfg = self.config
        tag = self._level_tag(level)
        left_out = self._left_out.get((seed, var, level), {})
        names = [n for n in truth.devices_of_size(size) if n not in left_out]
        if not names:
            raise CalibrationError(f"no device of size {size!r} could be calibrated "
                                   f"({'; '.join(left_out.values())})")
        typical = typical_calibration(calibration, names, truth.n_domains_of(names[0]))
        session_s = self._session_s()
        events = [{"device": n, "answer": why, "batch": 0, "virtual_time_s": 0.0,
                   "neurons_moved": 0, "to": [], "note": "left out at calibration"}
                  for n, why in left_out.items() if n in truth.devices_of_size(size)]

        def devices(mode_tag):  # a fresh trial generator per run: order-independent, resumable
            return truth.twin(_stable_seed(mode_tag, seed, var, size, *tag))

        def rid(mode):
            return "/".join([mode, size, var, *tag, f"seed{seed}"])

        def record(mode, acc, t_epoch, backend, batches=1, **extra):
            self._record(rid(mode), mode, size, var, seed, acc, t_epoch, backend, batches, level,
                         **extra)

        if device_modes & {"exsitu", "exsitu_uncalibrated", "exsitu_recal"}:
            run_id = rid("exsitu")
            model = CalibratedModelBackend(typical, seed=_stable_seed("model", seed, var, size, *tag),
                                           max_current_A=self.limits)
            net = self._net(self._device_layers(model, typical, names), seed)
            history, t_epoch = self._train(run_id, net, seed)
            self.result.curves[run_id + "/model"] = self.result.curves.pop(run_id)
            # deployed at the start of the bench session, tested at its end (as in situ)
            if "exsitu_uncalibrated" in device_modes:
                deployed = devices("deploy-raw")
                net.swap_neurons(self._device_layers(deployed, typical, names))
                deployed.advance(session_s if deployed.drift is not None else 0.0)
                acc = evaluate(net, self.data.x_test, self.data.y_test)
                record("exsitu_uncalibrated", acc, t_epoch, deployed)
            if "exsitu" in device_modes:
                deployed = devices("deploy")
                layers = self._device_layers(deployed, calibration, names, gain_cal=typical)
                net.swap_neurons(layers)
                deployed.advance(session_s if deployed.drift is not None else 0.0)
                acc = evaluate(net, self.data.x_test, self.data.y_test)
                record("exsitu", acc, t_epoch, deployed)
                self.result.mappings[run_id] = _layers_report(layers)
            if "exsitu_recal" in device_modes:
                deployed = devices("deploy-recal")
                fresh, count, trials = self._recalibrate(deployed, calibration, names, size,
                                                         session_s)
                layers = self._device_layers(deployed, fresh, names, gain_cal=typical)
                net.swap_neurons(layers)
                acc = evaluate(net, self.data.x_test, self.data.y_test)
                record("exsitu_recal", acc, t_epoch, deployed, recalibrations=count,
                       recalibration_bench_time_s=trials * self._trial_bench_s(size))
                self.result.mappings[rid("exsitu_recal")] = _layers_report(layers)
        for mode in ("insitu", "insitu_online"):
            if mode not in device_modes:
                continue
            run_id = rid(mode)
            backend = devices(mode)
            layers = self._device_layers(backend, calibration, names, gain_cal=typical)
            net = self._net(layers, seed)
            hook = _InSituHooks(cfg, net.neuron_layers(), backend, calibration, names,
                                online=mode == "insitu_online")
            history, t_epoch = self._train(run_id, net, seed, hook)
            record(mode, history.test_acc[-1], t_epoch, backend, n_batches * cfg.epochs,
                   **hook.summary())
            self.result.mappings[run_id] = _layers_report(layers)
            run_events = events + hook.events()
            if run_events:
                self.result.device_events[run_id] = run_events

    def _recalibrate(self, deployed, calibration, names, size, session_s):
        """The devices recalibrated every ``recalibrate_every`` batches of bench time over the
        session (each calibration's trials on the devices' clock too); a device whose
        recalibration fails keeps its last curve. Returns (the last calibration, the number of
        recalibrations, their trials)."""
        cfg = self.config
        batch_s = cfg.batch_size * sum(hidden_widths(cfg)) * cfg.repeats * cfg.trial_time_s
        interval = cfg.recalibrate_every * batch_s
        current, count, trials0 = calibration, 0, deployed.trials
        while deployed.clock_s + interval <= session_s:
            deployed.advance(interval)
            fresh, _ = calibrate_healthy(deployed, self.limits, cfg.width_s, cfg.calibration_trials,
                                         names)
            current = ChipCalibration(current.bench, current.chip, current.width_s,
                                      {**{n: current[n] for n in current.names()},
                                       **{n: fresh[n] for n in fresh.names()}}, fresh.source)
            count += 1
        if deployed.drift is not None:
            deployed.advance(max(session_s - deployed.clock_s, 0.0))
        return current, count, deployed.trials - trials0

def run_experiment(config: ExperimentConfig | Mapping | None = None) -> ExperimentResult:
    """Run the experiment described by ``config`` (an :class:`~hil.config.ExperimentConfig`, or
    a plain dict of its settings), write its CSV / JSON / PNG files into ``out_dir`` and return
    the results. ``out_dir`` is locked while the run writes it; one holding an earlier run's
    checkpoints is refused unless ``resume``, and a resume needs ``out_dir`` to exist."""
    if not isinstance(config, ExperimentConfig):
        config = ExperimentConfig.from_dict(config)
    out = Path(config.out_dir)
    require_run_folder(out, config.resume)
    with lock_folder(out):          # one run at a time writes the folder
        _refuse_overwrite(out, config)
        return _run_and_write(config)


def _refuse_overwrite(out: Path, config: ExperimentConfig) -> None:
    """An --out holding checkpoints is an earlier run: only a resume may write it again."""
    found = sorted((out / "checkpoints").glob("*.pt")) if (out / "checkpoints").is_dir() else []
    if found and not config.resume:
        raise CheckpointError(
            f"{str(out)!r} holds {len(found)} checkpoint(s) of an earlier run (e.g. "
            f"{found[0].name}): pass --resume to continue it, or give another --out; the "
            f"checkpoints are not overwritten")


def _run_and_write(config: ExperimentConfig) -> ExperimentResult:
    from hil import report

    with torch_threads(config.torch_threads):
        result = _Runner(config).run()
    report.write_outputs(result, Path(config.out_dir))
    return result


def train_main(args: argparse.Namespace) -> int:
    """``hil train``: run the experiment, print the results table; 0 on success."""
    from hil import report

    if "benches" in vars(args):     # several benches, data parallel (hil.multibench)
        from hil.multibench.cli import benches_main

        return benches_main(args)
    config = config_from_args(args)
    result = run_experiment(config)
    print(report.format_table(result))
    print(f"results in {Path(config.out_dir).resolve()}")
    return 0


def main(argv=None) -> int:
    parser = add_train_arguments(argparse.ArgumentParser(
        prog="python -m hil.experiment", description=__doc__.split("\n")[0]))
    return train_main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
