"""``hil train --network stdp``: unsupervised stochastic binary STDP with STT-MTJ synapses.

For every seed, a winner-take-all layer (:mod:`hil.stdp.network`) learns without labels in
these modes:

``binary``
    binary STT-MTJ synapses, simulated from the calibrated model with its D2D spread: every
    STDP event is a potentiation or depression pulse per synapse whose amplitude gives the
    rule's switching probability on the typical junction (:mod:`hil.stdp.synapses`);
``analog``
    the same network with ideal analog weights moved by the rule's expectation (the reference);
``bench``
    the pattern task learned in situ on the bench's crossbar: every STDP pulse a real write
    through the instruments, every drive a real column-current read (:mod:`hil.stdp.crossbar`);
    its bus round trips, projected bench time and physical floor are reported.

Labels are assigned after training (each neuron's most responsive class on the training set)
and the accuracy is measured on held-out data. Datasets: the 8x8 digits, MNIST from local IDX
files (``--mnist``), or ``patterns`` (a few noisy binary patterns over the crossbar's rows).
``results.json`` and ``table.txt`` land in ``--out`` (locked while the run writes it; an
``--out`` holding an earlier run's results is refused).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hil.report import write_results_json
from hil.stdp.config import (DEFAULT_BENCH, MODES, StdpConfig, StdpConfigError,  # noqa: F401
                             add_train_arguments, config_from_args)
from hil.stdp.inputs import Task, intensities, pattern_task
from hil.stdp.learning import learn, poisson_encoder, score
from hil.stdp.network import WTALayer, WTAParams, held_pattern
from hil.stdp.synapse import SynapseModel, typical_model
from hil.stdp.synapses import AnalogSynapses, DeviceSynapses, PulseRule
from procedures.outlock import lock_folder, require_run_folder

#: the pattern task's inputs when no crossbar says otherwise (an 8 x 8 crossbar's rows)
PATTERN_INPUTS = 8


@dataclass
class StdpResult:
    config: StdpConfig
    model: dict
    runs: list[dict] = field(default_factory=list)

    def summary(self) -> list[dict]:
        """Mean and sample std over seeds of the test accuracy (and the run's costs) per mode."""
        out = []
        for mode in dict.fromkeys(r["mode"] for r in self.runs):
            rows = [r for r in self.runs if r["mode"] == mode]
            acc = np.array([r["test_acc"] for r in rows]) * 100
            row = {"mode": mode, "dataset": rows[0]["dataset"], "n_seeds": len(rows),
                   "test_acc_mean_pct": float(acc.mean()),
                   "test_acc_std_pct": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0}
            for key in ("pulses", "switches", "post_spikes", "round_trips",
                        "projected_bench_time_s", "floor_s", "wall_s"):
                values = [r[key] for r in rows if r.get(key) is not None]
                row[key] = float(np.mean(values)) if values else None
            out.append(row)
        return out


def synapse_model(config: StdpConfig) -> SynapseModel:
    """The calibrated synapse of ``--calibration`` (its stt_synapse model), or the typical one."""
    if config.calibration is None:
        return typical_model()
    from hil.stdp.calibrated import model_from_calibration

    return model_from_calibration(config.calibration)


def load_task(config: StdpConfig, rng: np.random.Generator, n_in: int = PATTERN_INPUTS) -> Task:
    if config.dataset == "patterns":
        return pattern_task(n_in, config.patterns, config.pattern_presentations, 20,
                            config.pattern_flip, rng)
    from hil.data import load_digits_split, load_mnist_split

    if config.dataset == "mnist":
        return intensities(load_mnist_split(config.mnist_path), config.train_limit)
    return intensities(load_digits_split(), config.train_limit)


def layer_params(config: StdpConfig, task: str, n_out: int) -> WTAParams:
    return WTAParams(n_out=n_out, ltp_window_steps=config.ltp_window_steps,
                     **{k: config.setting(k, task) for k in ("steps", "rate_max", "threshold",
                                                             "theta_plus")})


def pulse_rule(config: StdpConfig, task: str) -> PulseRule:
    return PulseRule(config.setting("ltp_probability", task),
                     config.setting("ltd_probability", task), config.width_s)


def encoder(task: str, layer: WTALayer):
    """Poisson spike trains of the images; the patterns are held on the rows (binary)."""
    if task == "patterns":
        return lambda x, scale, rng: held_pattern(x, layer.params.steps)
    return poisson_encoder(layer)


def _rng(seed: int, mode: str, purpose: str) -> np.random.Generator:
    """One generator per (seed, mode, purpose): runs are independent of their order."""
    return np.random.default_rng([seed, MODES.index(mode), sum(map(ord, purpose))])


def run_mode(config: StdpConfig, task: Task, mode: str, seed: int, model: SynapseModel,
             synapses=None) -> dict:
    """Train and score one (mode, seed); ``synapses`` given (the bench's crossbar) or built."""
    kind = config.task_of(mode)
    rule = pulse_rule(config, kind)
    rng = _rng(seed, mode, "synapses")
    if synapses is None:
        n_out = config.setting("neurons", kind)
        synapses = (DeviceSynapses(model, task.n_in, n_out, rule, rng) if mode == "binary"
                    else AnalogSynapses(task.n_in, n_out, rule, rng))
    layer = WTALayer(layer_params(config, kind, synapses.n_out), synapses)
    encode = encoder(kind, layer)
    epochs = config.setting("epochs", kind)
    started = time.perf_counter()
    learn(layer, task.x_train, epochs, _rng(seed, mode, "learn"), encode,
          _progress(f"{mode}/seed{seed}") if config.progress else None)
    result = score(layer, task.x_train, task.y_train, task.x_test, task.y_test, task.n_classes,
                   _rng(seed, mode, "score"), encode)
    ltp_V, ltd_V = rule.amplitudes(model)
    row = {"run": f"{mode}/seed{seed}", "mode": mode, "dataset": task.name, "seed": seed,
           "test_acc": result.accuracy, "silent_test_fraction": result.silent_test_fraction,
           "neurons": synapses.n_out, "labelled_neurons": int(np.sum(result.labels >= 0)),
           "epochs": epochs, "train_samples": len(task.x_train), "test_samples": len(task.x_test),
           "ltp_probability": rule.ltp_probability, "ltd_probability": rule.ltd_probability,
           "ltp_amplitude_V": ltp_V, "ltd_amplitude_V": ltd_V,
           "post_spikes": layer.post_spikes, "pulses": synapses.pulses,
           "switches": getattr(synapses, "switches", None),
           "wall_s": time.perf_counter() - started}
    for key in ("round_trips", "projected_bench_time_s", "floor_s"):
        row[key] = getattr(synapses, key, None)
    return row


def _progress(label: str):
    def show(done: int, total: int) -> None:
        if done == total or done % max(total // 20, 1) == 0:
            print(f"\r{label}: {done}/{total} presentations", end="\n" if done == total else "",
                  file=sys.stderr, flush=True)
    return show


def run_stdp(config: StdpConfig) -> StdpResult:
    """Run every (mode, seed) of ``config``; write results.json and table.txt into its out_dir."""
    out = Path(config.out_dir)
    require_run_folder(out, False)
    with lock_folder(out):
        if (out / "results.json").exists():
            raise StdpConfigError(f"--out {str(out)!r} holds the results of an earlier run "
                                  f"(results.json): give another --out; it is not overwritten")
        model = synapse_model(config)
        result = StdpResult(config, {"source": model.source, "g_p_S": model.g_p_S,
                                     "g_ap_S": model.g_ap_S, "spreads": model.spreads,
                                     "to_p": vars(model.to_p), "to_ap": vars(model.to_ap),
                                     "width_s": config.width_s})
        for seed in config.seeds:
            sim_modes = [m for m in config.modes if m != "bench"]
            if sim_modes:
                task = load_task(config, np.random.default_rng([seed, 7]))
                for mode in sim_modes:
                    result.runs.append(run_mode(config, task, mode, seed, model))
            if "bench" in config.modes:
                from hil.stdp.crossbar import run_on_bench

                result.runs.append(run_on_bench(config, seed, model))
        _write(result, out)
        return result


def _write(result: StdpResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_results_json(
        {"config": result.config.to_dict(), "synapse_model": result.model, "runs": result.runs,
         "summary": result.summary()}, out / "results.json")
    (out / "table.txt").write_text(format_table(result) + "\n")


def format_table(result: StdpResult) -> str:
    c = result.config
    m = result.model
    lines = [f"unsupervised STDP: test accuracy (%), mean ± std over {len(c.seeds)} seed(s) "
             f"{list(c.seeds)}; labels assigned after training",
             f"synapse model: {m['source']}; write pulses {m['width_s'] * 1e9:g} ns, amplitudes "
             f"from the model's typical P_sw(V)", ""]
    header = (f"{'mode':<7} {'dataset':<12} {'neurons':>7} {'epochs':>6} {'accuracy':>12} "
              f"{'P_sw ltp/ltd':>12} {'V ltp/ltd':>11} {'pulses':>8} {'switched':>8} "
              f"{'trips':>6} {'bench time':>10} {'floor':>8}")
    lines += [header, "-" * len(header)]
    for row in result.summary():
        first = next(r for r in result.runs if r["mode"] == row["mode"])

        def num(key, fmt="{:.0f}"):
            return "-" if row[key] is None else fmt.format(row[key])

        lines.append(
            f"{row['mode']:<7} {row['dataset']:<12} {first['neurons']:>7} {first['epochs']:>6} "
            f"{row['test_acc_mean_pct']:6.1f} ± {row['test_acc_std_pct']:3.1f} "
            f"{first['ltp_probability']:>5g} / {first['ltd_probability']:<4g} "
            f"{first['ltp_amplitude_V']:.2f}/{first['ltd_amplitude_V']:.2f} V "
            f"{num('pulses'):>8} {num('switches'):>8} {num('round_trips'):>6} "
            f"{num('projected_bench_time_s', '{:.1f} s'):>10} {num('floor_s', '{:.3f} s'):>8}")
    lines.append("binary: stochastic STT-MTJ synapses (the model's P_sw per junction, D2D spread); "
                 "analog: ideal analog weights moved by the rule's expectation; bench: in situ on "
                 "the crossbar, every pulse and column read through the instruments (bench time "
                 "projected on the virtual clock; floor = pulse widths + read integrations). "
                 "Pulses, switches and costs are per run (mean over seeds).")
    return "\n".join(lines)


def train_main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = run_stdp(config)
    print(format_table(result))
    print(f"results in {Path(config.out_dir).resolve()}")
    return 0
