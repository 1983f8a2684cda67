"""Data-parallel in-situ training over several benches: one optimizer, N device layers.

Each training batch is split into N shards (as even as they go, in bench order); bench k runs
its shard forward on its own devices and backward through their calibrated surrogates, with
the driver's current weights, and returns the gradient of its shard's mean loss. The driver
averages the N gradients weighted by shard size (the gradient of the batch's mean loss, as one
bench would compute it), and one Adam optimizer steps. The benches hold different chips: each
maps its neurons onto its own devices, centred on its own calibrated I50 (the in-situ layer
of :mod:`hil.experiment`), so the shared weights learn to work on every chip.

Evaluation splits the test set over the benches the same way (every test sample once, on one
bench); at the end every bench also evaluates the whole test set (the accuracy on each chip).

Bench time: the benches work in parallel, so a batch takes as long as its slowest shard; the
run's projected bench time is the largest one-time setup plus, per batch, the largest shard
time (round trips and the physical floor summed or maxed alike, see :class:`MultiBenchRun`).
With N benches that is about 1/N of one bench's time for the same batches (a shard's cost is
close to proportional to its trials; each bench still pays its per-device overhead).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hil.config import ExperimentConfig
from hil.data import load_dataset
from hil.multibench.pool import BenchLost
from hil.multibench.worker import RunSpec


@dataclass
class MultiBenchRun:
    """One (size, seed) training run on every bench."""

    size: str
    seed: int
    benches: int
    test_acc: float                       # the test set split over the benches
    per_bench_acc: list[float]            # the whole test set on each bench
    curve: list[float]                    # test accuracy per epoch
    batches: int
    projected_bench_time_s: float         # setup + per batch the slowest shard
    setup_bench_time_s: float
    bench_time_s_per_batch: float         # mean over batches of the slowest shard
    round_trips_per_batch: float          # every bench's bus transactions, summed
    floor_s_per_batch: float              # the physical floor of the slowest shard
    wall_s: float
    measured: bool = True                 # bench cost measured (bench_projection)
    per_bench_time_s: list[float] = field(default_factory=list)   # each bench's own total


@dataclass
class MultiBenchResult:
    config: ExperimentConfig
    labels: list[str]
    parallel: bool
    runs: list[MultiBenchRun] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"benches": self.labels, "parallel": self.parallel,
                "config": self.config.to_dict() | {"bench": None},
                "runs": [asdict(r) for r in self.runs]}


def _weights(net: nn.Module) -> dict:
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _shards(rows: np.ndarray, n: int) -> list[np.ndarray]:
    return np.array_split(rows, n)


def train_on_benches(config: ExperimentConfig, pool, labels: list[str], on_batch=None) -> MultiBenchResult:
    """Every (seed, size) of ``config`` trained in situ on the benches of ``pool`` (see the
    module docstring). ``on_batch(epoch, batch, pool)`` is called after each optimizer step."""
    from hil.experiment import _stable_seed
    from hil.network import HiddenLayerNet

    data = load_dataset(config.dataset, config.mnist_path, config.split_seed)
    x_train, y_train = data.x_train.numpy(), data.y_train.numpy()
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()
    n_bench = len(labels)
    result = MultiBenchResult(config, list(labels), pool.parallel)
    for seed in config.seeds:
        for size in config.sizes:
            started = time.perf_counter()
            master = HiddenLayerNet(data.n_features, config.hidden, data.n_classes, nn.Identity(),
                                    torch.Generator().manual_seed(_stable_seed("init", seed)))
            optimizer = torch.optim.Adam(master.parameters(), lr=config.lr)
            shuffle = torch.Generator().manual_seed(_stable_seed("shuffle", seed))
            probe = _shards(np.arange(min(config.batch_size, len(x_train))), n_bench)
            setups = pool.call("prepare", [
                (RunSpec(config.to_dict() | {"bench": None}, size, seed, k, data.n_features,
                         data.n_classes), _weights(master), x_train[s])
                for k, s in enumerate(probe)])
            setup_s = max(s["setup_bench_time_s"] for s in setups)
            per_bench = [s["setup_bench_time_s"] for s in setups]
            batch_times, trips, floors, curve = [], [], [], []
            measured = True
            n = len(x_train)
            n_batches = int(np.ceil(n / config.batch_size))
            params = dict(master.named_parameters())
            for epoch in range(config.epochs):
                order = torch.randperm(n, generator=shuffle).numpy()
                bar = tqdm(range(n_batches), desc=f"{n_bench} benches {size}/seed{seed} "
                           f"{epoch + 1}/{config.epochs}", disable=not config.progress,
                           leave=False, dynamic_ncols=True)
                for b in bar:
                    rows = order[b * config.batch_size:(b + 1) * config.batch_size]
                    shards = _shards(rows, n_bench)
                    try:
                        answers = pool.call("step", [(x_train[s], y_train[s]) if len(s) else None
                                                     for s in shards], shared=_weights(master))
                    except BenchLost as exc:
                        exc.where = f"epoch {epoch + 1}, batch {b + 1} of {n_batches}"
                        raise
                    done = [a for a in answers if a is not None]
                    optimizer.zero_grad(set_to_none=True)
                    total = sum(a["rows"] for a in done)
                    for name, p in params.items():
                        grad = sum(a["rows"] * a["grads"][name] for a in done) / total
                        p.grad = torch.from_numpy(np.asarray(grad, dtype=np.float32))
                    optimizer.step()
                    batch_times.append(max(a["bench_time_s"] for a in done))
                    trips.append(sum(a["round_trips"] for a in done))
                    floors.append(max(a["floor_s"] for a in done))
                    measured = measured and all(a["measured"] for a in done)
                    for k, a in enumerate(answers):
                        if a is not None:
                            per_bench[k] += a["bench_time_s"]
                    if on_batch is not None:
                        on_batch(epoch, b, pool)
                bar.close()
                curve.append(_split_accuracy(pool, master, x_test, y_test, n_bench))
                if config.progress:
                    tqdm.write(f"{n_bench} benches {size}/seed{seed} epoch {epoch + 1}/"
                               f"{config.epochs}: test acc {curve[-1]:.4f}")
            whole = pool.call("evaluate", [(x_test, y_test)] * n_bench, shared=_weights(master))
            result.runs.append(MultiBenchRun(
                size=size, seed=seed, benches=n_bench, test_acc=curve[-1] if curve else float("nan"),
                per_bench_acc=[c / len(x_test) for c in whole], curve=curve,
                batches=len(batch_times),
                projected_bench_time_s=setup_s + float(np.sum(batch_times)),
                setup_bench_time_s=setup_s,
                bench_time_s_per_batch=float(np.mean(batch_times)) if batch_times else 0.0,
                round_trips_per_batch=float(np.mean(trips)) if trips else 0.0,
                floor_s_per_batch=float(np.mean(floors)) if floors else 0.0,
                wall_s=time.perf_counter() - started, measured=measured,
                per_bench_time_s=per_bench))
    return result


def _split_accuracy(pool, master, x_test, y_test, n_bench) -> float:
    shards = _shards(np.arange(len(x_test)), n_bench)
    hits = pool.call("evaluate", [(x_test[s], y_test[s]) if len(s) else None for s in shards],
                     shared=_weights(master))
    return sum(h for h in hits if h is not None) / len(x_test)


__all__ = ["BenchLost", "MultiBenchResult", "MultiBenchRun", "train_on_benches"]
