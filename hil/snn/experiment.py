"""``hil train --network snn``: an SNN of DW-MTJ IFR neurons on the 8x8 digits.

For every seed: ``ideal_lif`` (software: snnTorch's ``Leaky``, :class:`~hil.snn.layer.LIFLayer`)
and, per track geometry (size) of the bench's first chip:

``exsitu`` / ``exsitu_uncalibrated``
    trained on the *typical device* of the size (the calibrated model with the median
    parameters, :class:`~hil.snn.devices.IFRArrayBackend`: its pinning noise and reset
    failures), then deployed on the variable devices: each neuron's density mapping centred on
    its own device's calibrated J_dep and scaled to its own mobility and distance (``exsitu``),
    or the typical device's mapping for all (``exsitu_uncalibrated``);
``insitu``
    trained with the variable devices in the forward pass (device-aware mapping, backward
    through each device's calibrated model, :class:`~hil.snn.layer.IFRSpikingLayer`).

The devices are the simulated chip's true ones (:mod:`hil.snn.simulated`): with
``calibration: truth`` every seed draws its own chip and its truth is the calibration; with
a calibration file (``hil characterize ifr-survey``) the bench's own chip, the one the survey
measured, for every seed. The accuracy is the test accuracy after the last epoch.

The simulated array has no bus: for the in-situ runs one measured batch per size goes through
:class:`~hil.snn.bench.IFRBenchBackend` (drivers + the simulated bench's VISA library, in
process), after the one-time setup (line resistances, firing thresholds) measured apart; its
round trips, projected bench time and physical floor per sample are scaled to the run's
training samples (``bench_projection``; the test passes are not included).

Writes ``results.json`` (settings, every run, the summary, the projection) into ``--out``,
locked while the run writes (:mod:`procedures.outlock`); an ``--out`` holding an earlier run's
results or checkpoints is refused unless ``--resume``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from devices.benchfile import as_bench_file
from hil.data import load_dataset
from hil.neuron import round_robin
from hil.report import write_results_json
from hil.snn.config import SNNConfig, SNNConfigError, add_train_arguments, config_from_args  # noqa: F401
from hil.snn.devices import IFRArrayBackend, IFRParameters
from hil.snn.layer import DensityMapping, IFRSpikingLayer, LIFLayer
from hil.snn.network import SpikingNet
from hil.train import CheckpointError, TrainConfig, evaluate, torch_threads, train
from procedures.calibration import CalibrationFileError, ChipCalibration, load_calibration
from procedures.identity import bench_digest, other_chip
from procedures.outlock import lock_folder, require_run_folder

RESULTS = "results.json"


def _seed(*parts) -> int:
    """A seed from a run's identity (independent of run order, so a resume reproduces it)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def typical_parameters(params: IFRParameters) -> IFRParameters:
    """Every device of ``params`` replaced by the median device (its own safe ceiling kept)."""
    def med(a):
        return np.full(len(params.names), float(np.median(a)))

    return IFRParameters(params.names, med(params.jdep_A_m2), med(params.mobility_m3_per_A_s),
                         med(params.distance_m), med(params.pinning_rel), med(params.leak_time_s),
                         med(params.reset_fail_probability), med(params.cross_section_m2),
                         params.max_density_A_m2)


class _Runner:
    def __init__(self, config: SNNConfig):
        from hil.snn.simulated import sizes_of, wall_chip

        self.config = config
        self.bench = as_bench_file(config.bench_path())
        self.data = load_dataset("digits", seed=config.split_seed)
        self.own_chip = wall_chip(self.bench)
        all_sizes = list(sizes_of(self.own_chip))
        self.sizes = list(config.sizes or all_sizes)
        missing = [s for s in self.sizes if s not in all_sizes]
        if missing:
            raise SNNConfigError(f"snn setting 'sizes' (--sizes): {missing} are not DW-MTJ "
                                 f"geometries of chip {self.own_chip.name!r} (allowed: {all_sizes})")
        self.out = Path(config.out_dir)
        self.identity = {**{k: v for k, v in config.to_dict().items()
                            if k not in ("epochs", "out_dir", "resume", "progress", "modes", "seeds",
                                         "sizes", "bench_projection", "bench_samples", "torch_threads")},
                         "bench_sha256": bench_digest(self.bench)}
        self.left_out: dict[str, list[str]] = {}     # size -> devices a calibration file lacks
        self.file_calibration = None if config.calibration == "truth" else self._read_file()
        self.runs: list[dict] = []
        self.projection: dict[str, dict] = {}
        self.physics: dict[str, dict] = {}

    def _read_file(self) -> ChipCalibration:
        path = self.config.calibration
        calibration = load_calibration(path)
        reason = other_chip(calibration.meta.get("chip_identity"), self.bench)
        if reason:
            raise CalibrationFileError(f"calibration {path!r} is of another chip: it {reason}; "
                                       f"survey this bench's chip (hil characterize ifr-survey)")
        from hil.snn.simulated import sizes_of

        for size in self.sizes:
            names = [n for n in sizes_of(self.own_chip)[size] if n in calibration]
            if not names:
                raise CalibrationFileError(f"calibration {path!r} holds no device of size {size!r}; "
                                           f"survey them (hil characterize ifr-survey) or leave the "
                                           f"size out (--sizes)")
            IFRParameters.from_calibration(calibration, names, self.bench)
            self.left_out[size] = [n for n in sizes_of(self.own_chip)[size] if n not in calibration]
        self.identity["calibration_sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        return calibration

    # ------------------------------------------------------------------ pieces
    def _net(self, neurons, seed: int) -> SpikingNet:
        cfg = self.config
        return SpikingNet(self.data.n_features, cfg.hidden, self.data.n_classes, neurons, cfg.steps,
                          cfg.coding, init_seed=_seed("init", seed), coding_seed=_seed("coding", seed))

    def _layer(self, backend, own: IFRParameters, model: IFRParameters | None = None,
               like: IFRParameters | None = None) -> IFRSpikingLayer:
        cfg = self.config
        mapping = DensityMapping.from_parameters(own, cfg.width_s, cfg.full_drive, cfg.headroom, like)
        return IFRSpikingLayer(backend, list(own.names), mapping, own if model is None else model,
                               cfg.width_s, cfg.period_s, cfg.slope)

    def _train(self, run_id: str, net: SpikingNet, seed: int) -> tuple[float, float]:
        cfg = self.config
        started = time.perf_counter()
        history = train(net, self.data, TrainConfig(
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=_seed("shuffle", seed),
            checkpoint=str(self.out / "checkpoints" / f"{run_id.replace('/', '_')}.pt"),
            resume=cfg.resume, progress=cfg.progress, desc=run_id, run=self.identity, run_id=run_id))
        final = history.test_acc[-1] if history.test_acc else evaluate(net, self.data.x_test, self.data.y_test)
        return float(final), (time.perf_counter() - started) / max(cfg.epochs, 1)

    def _record(self, run_id, mode, size, seed, acc, epoch_time_s, layer=None):
        row = {"run": run_id, "mode": mode, "size": size, "seed": seed, "test_acc": acc,
               "epoch_time_s": epoch_time_s}
        if layer is not None:
            row["mapping"] = layer.report()
        self.runs.append(row)

    def _chip(self, seed: int):
        from hil.snn.simulated import wall_chip

        if self.file_calibration is not None:
            return self.own_chip
        return wall_chip(self.bench, chip_seed=_seed("chip", self.bench.seed, seed))

    def _devices(self, chip, size: str) -> list[str]:
        """The size's devices that serve neurons: all of them, or those the file calibrated."""
        from hil.snn.simulated import sizes_of

        return [n for n in sizes_of(chip)[size] if n not in self.left_out.get(size, ())]

    def _calibration(self, chip) -> ChipCalibration:
        from hil.snn.simulated import truth_calibration

        if self.file_calibration is not None:
            return self.file_calibration.at_width(self.config.width_s)
        return truth_calibration(chip, self.config.width_s)

    # ------------------------------------------------------------------ the runs
    def run(self) -> None:
        from hil.snn.simulated import sizes_of, truth_backend

        cfg, modes = self.config, set(self.config.modes)
        if "insitu" in modes and cfg.bench_projection:
            self._project_bench()
        for seed in cfg.seeds:
            if "ideal_lif" in modes:
                run_id = f"ideal_lif/seed{seed}"
                acc, t_epoch = self._train(run_id, self._net(LIFLayer(cfg.beta, cfg.slope), seed), seed)
                self._record(run_id, "ideal_lif", "-", seed, acc, t_epoch)
            if not modes - {"ideal_lif"}:
                continue
            chip = self._chip(seed)
            calibration = self._calibration(chip)
            for size in self.sizes:
                names = round_robin(cfg.hidden, self._devices(chip, size))
                own = IFRParameters.from_calibration(calibration, names, self.bench)
                typical = typical_parameters(own)
                self._physics(size, own, typical)

                def devices(tag):     # a fresh trial stream per run: order-independent
                    return truth_backend(chip, self.bench, _seed(tag, seed, size))

                if modes & {"exsitu", "exsitu_uncalibrated"}:
                    run_id = f"exsitu/{size}/seed{seed}"
                    model = IFRArrayBackend(typical, _seed("model", seed, size), name="typical device model")
                    net = self._net(self._layer(model, typical), seed)
                    _, t_epoch = self._train(run_id, net, seed)
                    if "exsitu_uncalibrated" in modes:
                        layer = self._layer(devices("deploy-raw"), own, typical, like=typical)
                        net.swap_neurons(layer)
                        acc = evaluate(net, self.data.x_test, self.data.y_test)
                        self._record(f"exsitu_uncalibrated/{size}/seed{seed}", "exsitu_uncalibrated",
                                     size, seed, acc, t_epoch, layer)
                    if "exsitu" in modes:
                        layer = self._layer(devices("deploy"), own)
                        net.swap_neurons(layer)
                        acc = evaluate(net, self.data.x_test, self.data.y_test)
                        self._record(run_id, "exsitu", size, seed, acc, t_epoch, layer)
                if "insitu" in modes:
                    run_id = f"insitu/{size}/seed{seed}"
                    layer = self._layer(devices("insitu"), own)
                    acc, t_epoch = self._train(run_id, self._net(layer, seed), seed)
                    self._record(run_id, "insitu", size, seed, acc, t_epoch, layer)

    def _physics(self, size: str, own: IFRParameters, typical: IFRParameters) -> None:
        """What the geometry does: the typical device's pulses to fire at the mapping's top
        (of the first seed's chip)."""
        if size in self.physics:
            return
        cfg = self.config
        top = DensityMapping.from_parameters(typical, cfg.width_s, cfg.full_drive, cfg.headroom)
        density = float(top.centre[0] + top.span[0])
        self.physics[size] = {
            "distance_um": float(typical.distance_m[0] * 1e6),
            "top_density_A_m2": density,
            "pulses_to_fire_at_top": float(typical.mean_pulses_to_fire(density, cfg.width_s)[0]),
            "neurons_span_narrowed": len(top.narrowed)}

    def _project_bench(self) -> None:
        """One measured batch per size through the drivers (the bench's own chip): setup
        (line resistances, thresholds) apart, then ``bench_samples`` samples, scaled per sample
        to the in-situ run's training samples (epochs x training set)."""
        from hil.snn.bench import IFRBenchBackend
        from hil.snn.simulated import sizes_of
        from procedures.session import open_bench

        cfg = self.config
        calibration = self._calibration(self.own_chip)
        x = self.data.x_train[:cfg.bench_samples]
        samples_per_run = cfg.epochs * len(self.data.x_train)
        with open_bench(self.bench) as bench:
            for size in self.sizes:
                names = round_robin(cfg.hidden, self._devices(self.own_chip, size))
                own = IFRParameters.from_calibration(calibration, names, self.bench)
                backend = IFRBenchBackend(bench, IFRParameters.from_calibration(
                    calibration, list(dict.fromkeys(names)), self.bench))
                net = self._net(self._layer(backend, own), 0)
                trips0, time0, floor0 = backend.round_trips, backend.bench_time_s, backend.floor_s
                for name in dict.fromkeys(names):
                    backend.prepare(name)
                setup = (backend.round_trips - trips0, backend.bench_time_s - time0)
                trips0, time0, floor0 = backend.round_trips, backend.bench_time_s, backend.floor_s
                started = time.perf_counter()
                with torch.no_grad():
                    net(x)
                per = {"round_trips": (backend.round_trips - trips0) / len(x),
                       "bench_time_s": (backend.bench_time_s - time0) / len(x),
                       "floor_s": (backend.floor_s - floor0) / len(x)}
                self.projection[size] = {
                    "samples": len(x), "lanes": backend.lanes, "steps": backend.steps,
                    "spikes": backend.fires, "devices": len(set(names)),
                    "setup_round_trips": setup[0], "setup_bench_time_s": setup[1],
                    "round_trips_per_sample": per["round_trips"],
                    "bench_time_s_per_sample": per["bench_time_s"],
                    "floor_s_per_sample": per["floor_s"],
                    "wall_s_per_sample": (time.perf_counter() - started) / len(x),
                    "training_samples": samples_per_run,
                    "run_round_trips": setup[0] + per["round_trips"] * samples_per_run,
                    "run_bench_time_s": setup[1] + per["bench_time_s"] * samples_per_run,
                    "run_floor_s": per["floor_s"] * samples_per_run}

    # ------------------------------------------------------------------ results
    def summary(self) -> list[dict]:
        groups: dict[tuple, list[float]] = {}
        for row in self.runs:
            groups.setdefault((row["mode"], row["size"]), []).append(row["test_acc"] * 100)
        out = []
        for (mode, size), acc in groups.items():
            a = np.asarray(acc)
            out.append({"mode": mode, "size": size, "n_seeds": len(a),
                        "test_acc_mean_pct": float(a.mean()),
                        "test_acc_std_pct": float(a.std(ddof=1)) if len(a) > 1 else 0.0})
        return out

    def results(self) -> dict:
        return {"network": "snn", "config": self.config.to_dict(), "bench": self.bench.name,
                "sizes": self.sizes, "runs": self.runs, "summary": self.summary(),
                "geometry": self.physics, "bench_projection": self.projection,
                "uncalibrated_devices_left_out": self.left_out}


def format_table(results: dict) -> str:
    """The summary as a plain-text table, the bench projection of each in-situ size under it."""
    cfg = results["config"]
    lines = [f"SNN on digits: {cfg['hidden']} DW-MTJ IFR neurons, {cfg['steps']} steps, "
             f"{cfg['coding']} coding, {cfg['epochs']} epochs, pulse {cfg['width_s'] * 1e9:g} ns",
             f"{'mode':<20} {'size':<5} {'seeds':>5} {'test acc %':>14} {'vs LIF':>8}  geometry"]
    lif = [r["test_acc_mean_pct"] for r in results["summary"] if r["mode"] == "ideal_lif"]
    for row in results["summary"]:
        geo = results["geometry"].get(row["size"])
        note = (f"D = {geo['distance_um']:.2f} um, E[N] = {geo['pulses_to_fire_at_top']:.2f} pulses "
                f"at the top density {geo['top_density_A_m2']:.3g} A/m^2") if geo else ""
        versus = f"{row['test_acc_mean_pct'] - lif[0]:+.2f} pp" if lif and row["mode"] != "ideal_lif" else ""
        lines.append(f"{row['mode']:<20} {row['size']:<5} {row['n_seeds']:>5} "
                     f"{row['test_acc_mean_pct']:>7.2f} +- {row['test_acc_std_pct']:<4.2f} {versus:>8}  {note}")
    for size, p in results["bench_projection"].items():
        lines.append(
            f"bench, in situ {size}: {p['round_trips_per_sample']:.0f} round trips and "
            f"{p['bench_time_s_per_sample']:.3f} s per sample (physical floor "
            f"{p['floor_s_per_sample']:.4f} s, {p['bench_time_s_per_sample'] / p['floor_s_per_sample']:.0f}x; "
            f"measured on {p['samples']} sample(s), {p['lanes']} lanes); the run's "
            f"{p['training_samples']} training samples: {p['run_bench_time_s'] / 3600:.1f} h "
            f"(floor {p['run_floor_s'] / 3600:.2f} h), setup {p['setup_round_trips']} trips")
    return "\n".join(lines)


def run_snn_experiment(config: SNNConfig | dict) -> dict:
    """Run the experiment, write ``results.json`` into ``out_dir``; returns the results."""
    if not isinstance(config, SNNConfig):
        config = SNNConfig(**config)
    out = Path(config.out_dir)
    require_run_folder(out, config.resume)
    with lock_folder(out):
        earlier = [p.name for p in [out / RESULTS, *sorted(out.glob("checkpoints/*.pt"))] if p.exists()]
        if earlier and not config.resume:
            raise CheckpointError(f"{str(out)!r} holds an earlier run ({', '.join(earlier[:3])}"
                                  f"{' ...' if len(earlier) > 3 else ''}): pass --resume to continue "
                                  f"it, or give another --out; it is not overwritten")
        with torch_threads(config.torch_threads):
            runner = _Runner(config)
            runner.run()
        results = runner.results()
        write_results_json(results, out / RESULTS, indent=2)
        return results


def train_main(args: argparse.Namespace) -> int:
    """``hil train --network snn``: run, print the table; 0 on success."""
    config = config_from_args(args)
    results = run_snn_experiment(config)
    print(format_table(results))
    print(f"results in {(Path(config.out_dir) / RESULTS).resolve()}")
    return 0


__all__ = ["RESULTS", "format_table", "run_snn_experiment", "train_main", "typical_parameters"]
