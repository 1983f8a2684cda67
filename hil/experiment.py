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
    gradient from each device's calibrated curve).

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

from devices.benchfile import as_bench_file
from hil.backends import CalibratedModelBackend
from hil.calibration import calibrate_backend, calibration_from_chip
from procedures.calibration import (CalibrationFileError, ChipCalibration, load_calibration,
                                   neel_brown_curve)
from procedures.identity import bench_digest, other_chip
from procedures.outlock import lock_folder, require_run_folder
from hil.config import (MODES, ExperimentConfig, ExperimentConfigError,  # noqa: F401 (re-exported)
                        add_train_arguments, config_from_args)
from hil.data import load_dataset
from hil.network import HiddenLayerNet
from hil.neuron import DeviceNeuron, StochasticSigmoidNeuron, round_robin
from hil.safety import device_current_limits
from hil.train import CheckpointError, TrainConfig, evaluate, train

if TYPE_CHECKING:   # the simulator loads only when an experiment draws its chips
    from hil.simulated import SimulatedArrayBackend


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    runs: list[dict] = field(default_factory=list)        # one row per (mode, size, var, seed)
    curves: dict[str, list[float]] = field(default_factory=dict)  # run id -> test acc per epoch
    mappings: dict[str, str] = field(default_factory=dict)        # run id -> neuron map report
    bench_projection: dict[str, dict] = field(default_factory=dict)  # size -> one measured batch

    def summary(self) -> list[dict]:
        """Mean and sample std of the test accuracy over seeds, per (mode, size, variability)."""
        groups: dict[tuple, list[dict]] = {}
        for row in self.runs:
            groups.setdefault((row["mode"], row["size"], row["variability"]), []).append(row)
        out = []
        for (mode, size, var), rows in groups.items():
            acc = np.array([r["test_acc"] for r in rows]) * 100
            rt = [r["round_trips_per_batch"] for r in rows]
            bt = [r["bench_time_s"] for r in rows if r["bench_time_s"] is not None]
            out.append({"mode": mode, "size": size, "variability": var, "n_seeds": len(rows),
                        "test_acc_mean_pct": float(acc.mean()),
                        "test_acc_std_pct": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                        "epoch_time_s": float(np.mean([r["epoch_time_s"] for r in rows])),
                        "round_trips_per_batch": float(np.mean(rt)),
                        "bench_time_s": float(np.mean(bt)) if bt else None})
        return out


#: settings that do not change what a run computes: a resume may change them freely
#: (``epochs`` is checked by the training loop itself; the run id carries mode, size, level, seed)
_NOT_IDENTITY = ("epochs", "out_dir", "resume", "checkpoints", "progress", "torch_threads",
                 "bench_projection", "modes", "seeds", "sizes")


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
    if identity.get("calibration") not in ("fit", "truth"):
        identity["calibration_sha256"] = _file_digest(identity["calibration"])
    return json.loads(json.dumps(identity, default=str))


def _stable_seed(*parts) -> int:
    """A seed from a run's identity: independent of run order, so resume reproduces it."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


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
                 names: list[str], limits, gain_cal: ChipCalibration | None = None) -> DeviceNeuron:
    """The in-situ device layer of ``config``: ``hidden`` neurons round-robin on ``names``."""
    return DeviceNeuron.from_calibration(
        backend, calibration, round_robin(config.hidden, names), limits,
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
        self.result = ExperimentResult(config)
        # the bench by its content: an edited bench file (seed, spreads) is another run
        self.identity = {**run_identity(config), "bench_sha256": bench_digest(self.bench)}
        self._file_calibration = None       # a calibration file, read and checked once
        if config.calibration not in ("fit", "truth"):
            self._file_calibration = self._check_calibration_file(config.calibration)

    def _check_calibration_file(self, path) -> ChipCalibration:
        """Before anything trains: a calibration file that names the chip it measured must name
        this bench's chip, and it must hold every device of the sizes run, at the width the
        layers play (a logistic curve fitted at another width is refused)."""
        calibration = load_calibration(path)
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
    def _net(self, neurons: nn.Module, seed: int) -> HiddenLayerNet:
        return HiddenLayerNet(self.data.n_features, self.config.hidden, self.data.n_classes,
                              neurons, torch.Generator().manual_seed(_stable_seed("init", seed)))

    def _train(self, run_id: str, net: HiddenLayerNet, seed: int):
        cfg = self.config
        checkpoint = str(self.out_dir / "checkpoints" / f"{run_id.replace('/', '_')}.pt") \
            if cfg.checkpoints else None
        started = time.perf_counter()
        history = train(net, self.data, TrainConfig(
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            seed=_stable_seed("shuffle", seed), checkpoint=checkpoint,
            resume=bool(cfg.resume and checkpoint), progress=cfg.progress, desc=run_id,
            run=self.identity, run_id=run_id))
        elapsed = time.perf_counter() - started
        self.result.curves[run_id] = list(history.test_acc)
        return history, elapsed / max(cfg.epochs, 1)

    def _record(self, run_id, mode, size, var, seed, acc, epoch_time_s, backend=None, batches=1):
        trips = getattr(backend, "round_trips", 0) if backend is not None else 0
        bench_time_s = getattr(backend, "bench_time_s", None) if backend is not None else None
        projection = self.result.bench_projection.get(size) if mode == "insitu" else None
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
            "bench_time_s": bench_time_s})

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
        with torch.no_grad():
            pre = self._net(nn.Identity(), 0).hidden(x)
        domains = {n: truth[n].n_domains for n in truth.names()}
        with BenchBackend.open(self.bench, n_domains=domains) as devices:
            for size in self.sizes:
                names = [n for n in chip.names if chip.size[chip.index(n)] == size]
                layer = self._device_layer(devices, truth, names)
                self.result.bench_projection[size] = {
                    "repeats": cfg.repeats, **measure_batch_cost(devices, layer, pre)}

    def _calibration(self, backend: SimulatedArrayBackend, seed: int, var: str) -> ChipCalibration:
        source = self.config.calibration
        width = self.config.width_s
        if self._uses_file(var):
            # the file's curves at the width the layers play (a logistic one must match it)
            return self._file_calibration.at_width(width)
        if source == "truth":
            return calibration_from_chip(backend.chips[0], width)
        # "fit", and a file's fallback for the variability levels it did not measure
        from hil.simulated import SimulatedArrayBackend

        meter = SimulatedArrayBackend(backend.chips, self.limits,
                                      seed=_stable_seed("calibrate", seed, var))
        return calibrate_backend(meter, self.limits, width, trials=self.config.calibration_trials)

    def _uses_file(self, var: str) -> bool:
        """A calibration file describes the bench's own chip: it serves the variability level
        that keeps the bench file's spreads (None); other levels are fitted on the fly."""
        return (self.config.calibration not in ("fit", "truth")
                and self.config.variability[var] is None)

    def _devices_under_test(self, seed: int, var: str, spreads) -> SimulatedArrayBackend:
        from hil.simulated import SimulatedArrayBackend, build_chips

        if self._uses_file(var):
            # the chip the characterization measured: the simulated bench's own draw
            return SimulatedArrayBackend(build_chips(self.bench), self.limits,
                                         name="simulated array of the bench's chip")
        chip_seed = _stable_seed("chip", self.bench.seed, seed)
        return SimulatedArrayBackend.from_bench(self.bench, chip_seed=chip_seed, variability=spreads)

    def _device_layer(self, backend, calibration, names, gain_cal=None, seed=0) -> DeviceNeuron:
        return device_layer(self.config, backend, calibration, names, self.limits, gain_cal)

    # ------------------------------------------------------------------ the runs
    def run(self) -> ExperimentResult:
        cfg = self.config
        modes = set(cfg.modes)
        n_batches = int(np.ceil(len(self.data.x_train) / cfg.batch_size))
        for seed in cfg.seeds:
            if "software" in modes:
                run_id = f"software/seed{seed}"
                net = self._net(nn.Sigmoid(), seed)
                history, t_epoch = self._train(run_id, net, seed)
                self._record(run_id, "software", "-", "-", seed, history.test_acc[-1], t_epoch)
            if "ideal_stochastic" in modes:
                run_id = f"ideal_stochastic/seed{seed}"
                neurons = StochasticSigmoidNeuron(cfg.repeats, cfg.eval_repeats,
                                                  seed=_stable_seed("ideal", seed))
                history, t_epoch = self._train(run_id, self._net(neurons, seed), seed)
                self._record(run_id, "ideal_stochastic", "-", "-", seed, history.test_acc[-1], t_epoch)
            device_modes = modes & {"exsitu", "exsitu_uncalibrated", "insitu"}
            if "insitu" in modes and cfg.bench_projection and not self.result.bench_projection:
                self._project_bench()
            if not device_modes:
                continue
            for var, spreads in cfg.variability.items():
                truth = self._devices_under_test(seed, var, spreads)
                calibration = self._calibration(truth, seed, var)
                for size in self.sizes:
                    self._run_size(seed, var, size, truth, calibration, device_modes, n_batches)
        return self.result

    def _run_size(self, seed, var, size, truth, calibration, device_modes, n_batches):
        from hil.simulated import SimulatedArrayBackend

        names = truth.devices_of_size(size)
        typical = typical_calibration(calibration, names, truth.n_domains_of(names[0]))

        def devices(tag):  # a fresh trial generator per run: order-independent, resumable
            return SimulatedArrayBackend(truth.chips, self.limits, name=truth.name,
                                         seed=_stable_seed(tag, seed, var, size))

        if device_modes & {"exsitu", "exsitu_uncalibrated"}:
            run_id = f"exsitu/{size}/{var}/seed{seed}"
            model = CalibratedModelBackend(typical, seed=_stable_seed("model", seed, var, size),
                                           max_current_A=self.limits)
            net = self._net(self._device_layer(model, typical, names), seed)
            history, t_epoch = self._train(run_id, net, seed)
            self.result.curves[run_id + "/model"] = self.result.curves.pop(run_id)
            if "exsitu_uncalibrated" in device_modes:
                deployed = devices("deploy-raw")
                net.swap_neurons(self._device_layer(deployed, typical, names))
                acc = evaluate(net, self.data.x_test, self.data.y_test)
                self._record(f"exsitu_uncalibrated/{size}/{var}/seed{seed}", "exsitu_uncalibrated",
                             size, var, seed, acc, t_epoch, deployed)
            if "exsitu" in device_modes:
                deployed = devices("deploy")
                layer = self._device_layer(deployed, calibration, names, gain_cal=typical)
                net.swap_neurons(layer)
                acc = evaluate(net, self.data.x_test, self.data.y_test)
                self._record(run_id, "exsitu", size, var, seed, acc, t_epoch, deployed)
                self.result.mappings[run_id] = layer.report()
        if "insitu" in device_modes:
            run_id = f"insitu/{size}/{var}/seed{seed}"
            backend = devices("insitu")
            layer = self._device_layer(backend, calibration, names, gain_cal=typical)
            net = self._net(layer, seed)
            history, t_epoch = self._train(run_id, net, seed)
            self._record(run_id, "insitu", size, var, seed, history.test_acc[-1], t_epoch,
                         backend, n_batches * self.config.epochs)
            self.result.mappings[run_id] = layer.report()


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

    threads = torch.get_num_threads()
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    try:
        result = _Runner(config).run()
    finally:
        torch.set_num_threads(threads)
    report.write_outputs(result, Path(config.out_dir))
    return result


def train_main(args: argparse.Namespace) -> int:
    """``hil train``: run the experiment, print the results table; 0 on success."""
    from hil import report

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
