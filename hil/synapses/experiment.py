"""``hil train --network cnn`` / ``synapse-mlp``: device synapses and CeLU device neurons.

For every seed, the network (:class:`~hil.synapses.networks.AllSpinCNN`, or the
:class:`~hil.synapses.networks.SynapseMLP`) is trained in these modes:

``software``  float weights, ideal CeLU (the same network and initial weights);
``exsitu``    per synapse group of the benches: trained on the group's *typical device model*
              (its levels and write statistics, ideal neurons), then programmed once from
              reset onto a simulated chip of that group (its D2D spread) and run with the
              CeLU device neurons;
``insitu``    per group: the same chip programmed from the initial weights, then trained with
              the devices in the forward pass: shadow weights, pulses where a level is crossed
              past the noise margin, every pulse counted (:mod:`hil.synapses.layers`).

Synapse chips are drawn by the simulator's truth of each group (:func:`hil.synapses.simulated.
true_synapses`: a chip as large as the network needs, one per seed); the neurons are a neuron
bench's own devices (``--neuron-bench``, or one of ``--bench`` holding a CeLU group),
channels round-robin over them, backward through each one's true CeLU; without a neuron
bench, devices drawn from the kind's typical device and D2D spread, backward through the
typical CeLU. With ``--calibration FILE`` (``hil characterize ltp-ltd`` / ``neuron-transfer``)
a group's model (what ex-situ training learns on, how weights map to levels) is its calibrated
median device, and the neurons' backward each one's calibrated CeLU; the devices under test
stay the truth's.

The simulated array has no bus. To report what a run would cost on the bench, the bench's own
devices of each group are programmed and read through the instruments once
(:class:`~hil.synapses.bench.BenchSynapseBackend`, drivers + the simulated bench's VISA
library), pricing a read, a burst and a pulse (:func:`~hil.synapses.bench.measure_costs`), and
the neuron bench's inputs likewise (``NeuronArray.transfer``); each run's counts (device reads,
bursts, pulses, neuron evaluations) times those prices give its projected bench time, round
trips and physical floor.

Writes ``results.json`` (settings, every run, the summary, the prices) into ``--out``, locked
while the run writes (:mod:`procedures.outlock`); an ``--out`` that holds an earlier run's
results is refused.
"""

from __future__ import annotations

import argparse
import time
import zlib
from pathlib import Path

import numpy as np

from devices.benchfile import as_bench_file
from hil.report import write_results_json
from hil.synapses.calibrated import (SYNAPSE_MODELS, neurons_from_calibration,
                                     synapse_from_calibration)
from hil.synapses.configs import SynapseConfigError, WeightConfig, celu_neuron
from hil.synapses.images import load_images
from hil.synapses.layers import bind_devices, devices_needed, program_from_shadow, seed_models
from hil.synapses.networks import AllSpinCNN, SynapseMLP, activations, set_network_mode
from hil.synapses.neurons import CeLUDeviceActivation
from hil.synapses.settings import (NETWORKS, SynapseExperimentConfig, add_train_arguments,  # noqa: F401
                                   config_from_args)
from hil.train import TrainConfig, evaluate, torch_threads, train
from procedures.calibration import load_calibration
from procedures.outlock import lock_folder, require_run_folder

RESULTS = "results.json"


class SynapseRunError(SynapseConfigError):
    """An output folder that already holds a run."""


def _seed(*parts) -> int:
    """A seed from a run's identity: independent of run order."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


class _Runner:
    def __init__(self, config: SynapseExperimentConfig):
        from hil.synapses import simulated

        self.config = config
        self.sim = simulated
        self.data, self.image = load_images(config.dataset, config.data_path, config.limit_train)
        self.groups: list[tuple[str, str]] = []          # (bench file, synapse size)
        for path in config.benches:
            bench = as_bench_file(path)
            for size in simulated.synapse_sizes(bench):
                if config.sizes is None or size in config.sizes:
                    self.groups.append((path, size))
        known = {s for p in config.benches for s in simulated.synapse_sizes(p)}
        if not known:
            raise SynapseConfigError(
                f"--bench {list(config.benches)}: no synapse group (kind ferrimagnet_synapse or "
                f"dw_quantized_synapse) in the bench file(s); give one such as "
                f"examples/benches/ferrimagnet_synapses.toml")
        missing = sorted(set(config.sizes or ()) - known)
        if missing or not self.groups:
            raise SynapseConfigError(
                f"--sizes {missing or list(config.sizes or [])}: not synapse groups of "
                f"{list(config.benches)} (their synapse groups: {sorted(known) or 'none'}); give "
                f"a bench with ferrimagnet_synapse or dw_quantized_synapse devices")
        self.neuron_bench = config.neuron_bench or next(
            (p for p in config.benches if simulated.neuron_sizes(p)), None)
        self.calibrations = [load_calibration(path) for path in config.calibration]
        self.models = {group: self._model(group) for group in self.groups}
        if self.neuron_bench is not None:
            self.neuron, self.alpha, self.gain = simulated.true_neurons(self.neuron_bench)
            self.cal_alpha, self.cal_gain = self._neuron_calibration()
        else:
            self.neuron = celu_neuron()
        self._refuse_unused_calibrations(config.calibration)
        self.runs: list[dict] = []
        self.curves: dict[str, list[float]] = {}
        self.prices: dict[str, dict] = {}
        self.n_batches = int(np.ceil(len(self.data.x_train) / config.batch_size))

    # ------------------------------------------------------------------ the models
    def _holding(self, models: tuple[str, ...], size: str | None):
        """The first calibration file with an entry of ``models`` (of ``size``), or None."""
        for cal in self.calibrations:
            for name in cal.names():
                entry = cal[name]
                if getattr(entry, "model", None) in models and (size is None or entry.size == size):
                    return cal
        return None

    def _refuse_unused_calibrations(self, paths) -> None:
        """A --calibration file that serves no synapse group and no neuron of this run (another
        kind's, another size's) is a mistake: refused in one line, not silently left out."""
        sizes = {group[1] for group in self.groups}
        for path, cal in zip(paths, self.calibrations):
            held = sorted({(cal[n].size, getattr(cal[n], "model", "?")) for n in cal.names()})
            serves = any((model in SYNAPSE_MODELS and size in sizes)
                         or (model == "celu_neuron" and self.neuron_bench is not None)
                         for size, model in held)
            if not serves:
                raise SynapseConfigError(
                    f"calibration {str(path)!r} holds {', '.join(f'{m} size {s!r}' for s, m in held)}"
                    f", none of this run's synapse groups {sorted(sizes)} or CeLU neurons: give "
                    f"the file hil characterize ltp-ltd / neuron-transfer wrote for this bench")

    def _model(self, group):
        """A group's device model: its calibration when a file holds the size, else the truth."""
        truth = self.sim.typical_synapse(*group)
        cal = self._holding(SYNAPSE_MODELS, group[1])
        if cal is None:
            return truth, "truth"
        return synapse_from_calibration(cal, group[1], truth.read_noise_ohm), cal.source

    def _neuron_calibration(self):
        cal = self._holding(("celu_neuron",), None)
        if cal is None:
            return self.alpha, self.gain      # backward through each device's true CeLU
        bench = as_bench_file(self.neuron_bench)
        size = self.sim.neuron_sizes(bench)[0]
        names = [d.name for d in bench.devices() if d.size == size]
        return neurons_from_calibration(cal, names, self.neuron)

    # ------------------------------------------------------------------ pieces
    def _neurons(self, seed: int):
        if self.neuron_bench is not None:
            return lambda c: CeLUDeviceActivation(c, self.neuron, self.alpha, self.gain,
                                                  self.cal_alpha, self.cal_gain,
                                                  seed=_seed("neuron-read", seed, c))
        return lambda c: CeLUDeviceActivation.drawn(c, self.neuron, seed=_seed("neurons", seed, c))

    def _net(self, weights: WeightConfig, seed: int):
        cfg = self.config
        init = _seed("init", seed)
        if cfg.network == "cnn":
            return AllSpinCNN(self.image, self.data.n_classes, weights, self._neurons(seed),
                              channels=cfg.channels, seed=init)
        return SynapseMLP(self.data.n_features, self.data.n_classes, weights, self._neurons(seed),
                          hidden=cfg.hidden, seed=init)

    def _train(self, run_id: str, net, seed: int) -> float:
        cfg = self.config
        started = time.perf_counter()
        history = train(net, self.data, TrainConfig(
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=_seed("shuffle", seed),
            progress=cfg.progress, desc=run_id))
        self.curves[run_id] = list(history.test_acc)
        return (time.perf_counter() - started) / cfg.epochs

    def _record(self, run_id, mode, group, seed, acc, epoch_time_s, net=None, array=None):
        bench, size = group if group else ("-", "-")
        row = {"run": run_id, "mode": mode, "bench": Path(bench).name if group else "-",
               "size": size, "seed": seed, "test_acc": float(acc),
               "epoch_time_s": float(epoch_time_s)}
        if array is not None:
            row.update(kind=array.device.kind, levels=array.device.n_states,
                       model=self.models[group][1],
                       pulses=int(array.pulses_sent), bursts=int(array.bursts),
                       device_reads=int(array.device_reads),
                       neuron_evaluations=int(sum(a.reads for a in activations(net))))
            row.update(self._project(f"{row['bench']}:{size}", row))
        self.runs.append(row)

    def _project(self, key: str, row: dict) -> dict:
        prices = self.prices.get(key)
        if prices is None:
            return {}
        synapses = prices["synapse"]
        out = {f"synapse_{k}": v for k, v in _project(synapses, row["device_reads"], row["bursts"],
                                                      row["pulses"]).items()}
        neuron = self.prices.get("neuron")
        if neuron is not None:
            n = row["neuron_evaluations"]
            out.update(neuron_bench_time_s=n * neuron["point_s"],
                       neuron_round_trips=int(round(n * neuron["point_round_trips"])),
                       neuron_floor_s=n * neuron["point_floor_s"])
        return out

    # ------------------------------------------------------------------ bench prices
    def _price(self) -> None:
        """Program and read each group's own devices through the instruments (the simulated
        bench in process): what a read, a burst and a pulse cost; the neuron inputs too."""
        from hil.synapses.bench import BenchSynapseBackend, measure_costs

        for bench_path, size in self.groups:
            bench = as_bench_file(bench_path)
            device = self.sim.typical_synapse(bench, size)
            names = [d.name for d in bench.devices() if d.size == size]
            with BenchSynapseBackend.open(bench, device, names) as devices:
                costs = measure_costs(devices)
                self.prices[f"{Path(bench_path).name}:{size}"] = {
                    "synapse": costs.as_dict(), "devices": len(names),
                    "measured_round_trips": devices.round_trips,
                    "measured_bench_time_s": devices.bench_time_s}
        if self.neuron_bench is not None:
            self.prices["neuron"] = _price_neurons(self.neuron_bench, self.neuron)

    # ------------------------------------------------------------------ the runs
    def run(self) -> None:
        cfg = self.config
        if cfg.bench_projection:
            self._price()
        for seed in cfg.seeds:
            if "software" in cfg.modes:
                first = self.models[self.groups[0]][0]
                net = self._net(WeightConfig(first, cfg.margin, cfg.weight_range), seed)
                set_network_mode(net, "software", "software")
                run_id = f"software/seed{seed}"
                t = self._train(run_id, net, seed)
                self._record(run_id, "software", None, seed,
                             evaluate(net, self.data.x_test, self.data.y_test), t)
            for group in self.groups:
                self._run_group(group, seed)

    def _chip(self, group, seed, net):
        bench, size = group
        return self.sim.true_synapses(bench, size, devices_needed(net),
                                      seed=_seed("chip", Path(bench).name, size, seed))

    def _run_group(self, group, seed: int) -> None:
        cfg = self.config
        bench, size = group
        device, _ = self.models[group]
        weights = WeightConfig(device, cfg.margin, cfg.weight_range)
        tag = f"{Path(bench).stem}:{size}"
        if "exsitu" in cfg.modes:
            run_id = f"exsitu/{tag}/seed{seed}"
            net = self._net(weights, seed)
            seed_models(net, _seed("model", tag, seed))
            set_network_mode(net, "model", "software")
            t = self._train(run_id, net, seed)
            chip = self._chip(group, seed, net)
            bind_devices(net, chip)
            program_from_shadow(net)
            set_network_mode(net, "devices", "devices", in_situ=False)
            for act in activations(net):
                act.reads = 0            # the deployed network's evaluations only
            self._record(run_id, "exsitu", group, seed,
                         evaluate(net, self.data.x_test, self.data.y_test), t, net, chip)
        if "insitu" in cfg.modes:
            run_id = f"insitu/{tag}/seed{seed}"
            net = self._net(weights, seed)
            chip = self._chip(group, seed, net)
            bind_devices(net, chip)
            program_from_shadow(net)
            set_network_mode(net, "devices", "devices", in_situ=True)
            t = self._train(run_id, net, seed)
            self._record(run_id, "insitu", group, seed, self.curves[run_id][-1], t, net, chip)

    # ------------------------------------------------------------------ results
    def summary(self) -> list[dict]:
        groups: dict[tuple, list[dict]] = {}
        for row in self.runs:
            groups.setdefault((row["mode"], row["bench"], row["size"]), []).append(row)
        out = []
        for (mode, bench, size), rows in groups.items():
            acc = np.array([r["test_acc"] for r in rows]) * 100
            entry = {"mode": mode, "bench": bench, "size": size, "n_seeds": len(rows),
                     "test_acc_mean_pct": float(acc.mean()),
                     "test_acc_std_pct": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0}
            for key in ("kind", "levels"):
                if key in rows[0]:
                    entry[key] = rows[0][key]
            for key in ("pulses", "device_reads", "synapse_bench_time_s", "synapse_round_trips",
                        "synapse_floor_s", "neuron_bench_time_s", "neuron_floor_s"):
                if key in rows[0]:
                    entry[key] = float(np.mean([r[key] for r in rows]))
            out.append(entry)
        return out

    def results(self) -> dict:
        cfg = self.config
        return {"experiment": f"hil train --network {cfg.network}", "config": cfg.to_dict(),
                "dataset": self.data.name, "image": list(self.image),
                "train_batches": self.n_batches * cfg.epochs,
                "neurons": self.neuron_bench or f"typical {self.neuron.kind} (drawn)",
                "models": {f"{Path(b).name}:{size}": {"source": src, "device": dev.describe()}
                           for (b, size), (dev, src) in self.models.items()},
                "runs": self.runs, "summary": self.summary(), "bench_prices": self.prices,
                "curves": self.curves}


def _project(costs: dict, reads: int, bursts: int, pulses: int) -> dict:
    from hil.synapses.bench import BenchCosts

    return BenchCosts(**costs).project(reads, bursts, pulses)


def _price_neurons(bench_path, neuron, points: int = 16) -> dict:
    """One neuron's transfer over ``points`` inputs through the instruments: per input pulse +
    read, its bench time, round trips and floor (the first call, which measures the line,
    set apart)."""
    from drivers.synapse import NeuronArray
    from procedures.session import open_bench

    currents = np.linspace(-2, 2, points) * neuron.current_scale_A
    with open_bench(bench_path) as bench:
        array = NeuronArray(bench)
        name = array.names[0]
        array.transfer(name, currents[:2])
        t, trips, floor = array.projected_bench_time_s, array.round_trips, array.floor_s
        array.transfer(name, currents)
        return {"device": name, "points": points,
                "point_s": (array.projected_bench_time_s - t) / points,
                "point_round_trips": (array.round_trips - trips) / points,
                "point_floor_s": (array.floor_s - floor) / points}


def format_table(results: dict) -> str:
    """The accuracy per mode and group, in-situ pulses and projected bench time."""
    summary = results["summary"]
    cfg = results["config"]
    lines = [f"{results['experiment']} on {results['dataset']} ({len(cfg['seeds'])} seeds, "
             f"{cfg['epochs']} epochs; neurons: {Path(str(results['neurons'])).name})"]
    sources = sorted({m["source"] for m in results.get("models", {}).values()})
    if sources:
        lines.append(f"device models (ex-situ training, weight levels): {', '.join(sources)}")
    soft = [s for s in summary if s["mode"] == "software"]
    if soft:
        s = soft[0]
        lines.append(f"software (float weights, ideal CeLU): {s['test_acc_mean_pct']:.2f} +- "
                     f"{s['test_acc_std_pct']:.2f} %")
    header = (f"{'group':<26} {'kind':<12} {'levels':>6} {'ex situ %':>14} {'in situ %':>14} "
              f"{'in-situ pulses':>14} {'synapse bench':>13} {'(floor)':>9} {'neuron bench':>12}")
    lines += [header, "-" * len(header)]
    keys = list(dict.fromkeys((s["bench"], s["size"]) for s in summary if s["mode"] != "software"))
    for bench, size in keys:
        cell = {s["mode"]: s for s in summary if (s["bench"], s["size"]) == (bench, size)}
        ref = cell.get("insitu") or cell.get("exsitu")

        def acc(mode):
            s = cell.get(mode)
            return f"{s['test_acc_mean_pct']:.2f} +- {s['test_acc_std_pct']:.2f}" if s else "-"

        ins = cell.get("insitu", {})
        lines.append(
            f"{Path(bench).stem + ':' + size:<26} {ref.get('kind', '').split('_')[0]:<12} "
            f"{ref.get('levels', '-'):>6} "
            f"{acc('exsitu'):>14} {acc('insitu'):>14} "
            f"{int(ins['pulses']) if 'pulses' in ins else '-':>14} "
            f"{_hours(ins.get('synapse_bench_time_s')):>13} {_hours(ins.get('synapse_floor_s')):>9} "
            f"{_hours(ins.get('neuron_bench_time_s')):>12}")
    if soft:
        best = [s for s in summary if s["mode"] == "insitu"]
        for s in best:
            lines.append(f"in situ {Path(s['bench']).stem}:{s['size']} vs software: "
                         f"{s['test_acc_mean_pct'] - soft[0]['test_acc_mean_pct']:+.2f} pp")
    lines.append("bench times: projected from each run's device reads, bursts and pulses at the "
                 "prices measured through the instruments (results.json bench_prices); neuron "
                 "bench: every CeLU evaluation as one input pulse + Hall read")
    return "\n".join(lines)


def _hours(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds:.1f} s"


def run_synapse_experiment(config: SynapseExperimentConfig | dict) -> dict:
    """Run the experiment, write ``results.json`` into ``out_dir``; returns the results."""
    if not isinstance(config, SynapseExperimentConfig):
        config = SynapseExperimentConfig(**config)
    out = Path(config.out_dir)
    require_run_folder(out, False)
    with lock_folder(out):
        if (out / RESULTS).exists():
            raise SynapseRunError(f"--out {str(out)!r} holds the {RESULTS} of an earlier run; "
                                  f"give another --out (it is not overwritten)")
        with torch_threads(config.torch_threads):
            runner = _Runner(config)
            runner.run()
        results = runner.results()
        write_results_json(results, out / RESULTS, indent=2)
        return results


def train_main(args: argparse.Namespace) -> int:
    """``hil train --network cnn | synapse-mlp``: run, print the table; 0 on success."""
    config = config_from_args(args)
    results = run_synapse_experiment(config)
    print(format_table(results))
    print(f"results in {(Path(config.out_dir) / RESULTS).resolve()}")
    return 0


__all__ = ["RESULTS", "SynapseRunError", "format_table", "run_synapse_experiment", "train_main"]
