"""The training loop: seeded, with a progress bar, a checkpoint every epoch, and resume.

A checkpoint is one file written atomically (temporary file, then rename) at the end of every
epoch. It holds plain data only, so it loads with ``torch.load(weights_only=True)``: the model
and optimizer states, the epoch, the history, and every random-generator state the run uses
(batch shuffling, the neurons' trial sampler). Resuming from it continues the run exactly as
if it had not stopped: same batches, same device trials, same numbers. The checkpoint also
holds the settings it was written with (``TrainConfig`` and its ``run`` dict): a resume with
other settings, or one asking for fewer epochs than the checkpoint has done, is refused
(:class:`CheckpointError` naming what differs); only the epoch count may grow. It carries the
run's id (``TrainConfig.run_id``): another run's checkpoint copied in its place is refused. An
existing checkpoint is never overwritten by a run that does not resume it.

Run state: an ``after_batch`` hook that keeps state between batches (an online curve estimate,
a device watch and the neuron map it remapped: the in-situ runs of :mod:`hil.experiment`) offers
``state()`` (plain data, None: nothing kept) and ``set_state(saved)``; its state is saved as the
checkpoint's ``run_state`` and restored on resume, so such a run continues exactly too. Format
versions: 1 holds no run state; 2 (:data:`CHECKPOINT_VERSION`) adds ``run_state``. A run with
no run state still writes version 1 (readable by a spin-hil of before run state), and a
version-1 checkpoint resumes as before. A run that keeps run state refuses a checkpoint
without it (a version 1 written before run state was saved): continuing it would start the
estimate and the device watch over, and find the same dead devices again; it cannot repeat the
interrupted run, so it is refused in one line (delete it to start over), unless the hook says
it ``resumes_without_state()`` (an in-situ run on devices that do not drift, with no online
estimate: none of them dies or sticks, so its watch starting over changes nothing). A damaged
``run_state`` is refused like any other damage.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
import numpy as np
from tqdm import tqdm

from hil.data import Split

#: the newest checkpoint format (see the module docstring); PLAIN_VERSION: one without run state
CHECKPOINT_VERSION = 2
PLAIN_VERSION = 1



@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block on ``threads`` torch threads (None / 0: torch's own choice), restored after:
    small batches run fastest on one thread, and a caller's setting is not left changed."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (corrupt, truncated, or from another run)."""


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint: str | None = None      # path of the checkpoint file, None = no checkpoints
    resume: bool = False               # continue from ``checkpoint`` when it exists
    progress: bool = True              # tqdm bar with loss / accuracy
    desc: str = "train"
    run: dict | None = None            # what else defines the run (e.g. the experiment's
                                       # settings): a resume must find the same in the checkpoint
    run_id: str | None = None          # which run of an experiment (e.g. "insitu/S/low/seed0"):
                                       # a checkpoint copied from another run is refused

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.resume and not self.checkpoint:
            raise ValueError("resume needs a checkpoint path (--checkpoint PATH)")


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Accuracy in [0, 1] in eval mode (stochastic neurons still sample: eval_repeats trials)."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size])
            correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


def save_checkpoint(path: str | Path, state: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


#: what every checkpoint holds (``neuron_rng`` may be None: a model without device trials)
REQUIRED_KEYS = frozenset({"version", "epoch", "model", "optimizer", "history", "shuffle_rng",
                           "config"})


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint with ``weights_only=True``; any damage is a CheckpointError naming it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            OSError, KeyError, IndexError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); delete it to start over, "
            f"or point --checkpoint at another file") from None
    if not isinstance(state, dict) or not REQUIRED_KEYS <= set(state):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        missing = sorted(REQUIRED_KEYS - set(state)) if isinstance(state, dict) else []
        raise CheckpointError(f"checkpoint {str(path)!r} is not a complete spin-hil training "
                              f"checkpoint (missing {', '.join(missing) or 'every key'}; needs "
                              f"{sorted(REQUIRED_KEYS)}, found {found}); delete it to start over")
    history = state["history"]
    if not (isinstance(history, dict) and set(history) == set(History().as_dict())
            and isinstance(state["config"], dict)):
        raise CheckpointError(f"checkpoint {str(path)!r} has a damaged history or config (history "
                              f"keys {sorted(history) if isinstance(history, dict) else history!r:.60}"
                              f"); delete it to start over")
    if state["version"] not in (PLAIN_VERSION, CHECKPOINT_VERSION):
        raise CheckpointError(f"checkpoint {str(path)!r} has version {state['version']!r}; this "
                              f"spin-hil reads versions {PLAIN_VERSION} and {CHECKPOINT_VERSION}")
    if state["version"] == CHECKPOINT_VERSION and not isinstance(state.get("run_state"), dict):
        raise CheckpointError(f"checkpoint {str(path)!r} (version {CHECKPOINT_VERSION}) has a "
                              f"damaged run_state ({type(state.get('run_state')).__name__}, not a "
                              f"mapping); delete it to start over")
    return state


def array_state(values) -> torch.Tensor:
    """An array as checkpoint data (a tensor: loads with ``weights_only``, bit-exact)."""
    return torch.from_numpy(np.array(values, copy=True))


def array_from_state(saved, shape: tuple, what: str, dtype=np.float64) -> np.ndarray:
    """An array saved by :func:`array_state`, checked: a ValueError naming ``what`` when it is
    no tensor, has another shape than ``shape`` or dtype than ``dtype``, or holds a value that
    is not finite."""
    if not isinstance(saved, torch.Tensor):
        raise ValueError(f"{what} is {type(saved).__name__}, not an array")
    values = saved.numpy().copy()
    if values.shape != tuple(shape) or values.dtype != dtype:
        raise ValueError(f"{what} is {values.dtype} of shape {values.shape}, this run needs "
                         f"{np.dtype(dtype)} of shape {tuple(shape)}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{what}: {int((~np.isfinite(values)).sum())} of {values.size} values "
                         f"not finite")
    return values


def restore_run_state(after_batch, state: dict, path) -> None:
    """Give ``after_batch`` the run state of checkpoint ``state`` (see the module docstring):
    refused in one line when the checkpoint lacks the state this run keeps, holds state this run
    does not keep, or holds a damaged one."""
    fresh = after_batch.state() if hasattr(after_batch, "state") else None
    saved = state.get("run_state")
    if fresh is None and saved is None:
        return
    if saved is None and getattr(after_batch, "resumes_without_state", lambda: False)():
        return
    if saved is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} (version {state['version']}) holds no run state, but this run "
            f"keeps state between batches ({', '.join(sorted(fresh))}): resuming would start it over "
            f"and not repeat the interrupted run; delete the checkpoint to start the run over")
    if fresh is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds run state ({', '.join(sorted(saved))}) this run does "
            f"not keep: it belongs to another run configuration; resume with the settings it was "
            f"written with, or write this run somewhere else (another --out / --checkpoint)")
    try:
        after_batch.set_state(saved)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} has a damaged run_state ({detail}); "
                              f"delete it to start over") from None


#: TrainConfig fields a resume may change: the target epoch count (checked on its own) and the
#: cosmetic ones
RESUMABLE_CHANGES = frozenset({"epochs", "progress", "desc", "checkpoint", "resume"})


def check_resume(state: dict, config: TrainConfig, path) -> None:
    """Refuse to resume from a checkpoint written with other settings than ``config``'s (any
    field but ``epochs`` and the cosmetic ones, and ``config.run``), or one already past
    ``config.epochs``; the :class:`CheckpointError` names the settings that differ."""
    stored = state.get("config") or {}
    requested = {k: v for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES}
    differ = []
    for key, value in requested.items():
        if key == "run":
            continue
        if key in stored and stored[key] != value:
            differ.append(f"{key}: checkpoint {stored[key]!r}, now {value!r}")
    if config.run is not None or stored.get("run") is not None:
        old, new = stored.get("run") or {}, config.run or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key, "<unset>") != new.get(key, "<unset>"):
                differ.append(f"{key}: checkpoint {old.get(key, '<unset>')!r}, "
                              f"now {new.get(key, '<unset>')!r}")
    if differ:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written with other settings than this run's "
            f"({'; '.join(differ)}); a resume may change only the number of epochs. Resume with "
            f"the same settings, or write this run somewhere else (another --out / --checkpoint)")
    done = int(state["epoch"]) + 1
    if done > config.epochs:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has already trained {done} epochs, more than the "
            f"{config.epochs} asked for; resume with --epochs {done} or more, or write this run "
            f"somewhere else (another --out / --checkpoint)")


def train(model: nn.Module, data: Split, config: TrainConfig, after_batch=None) -> History:
    """Train ``model`` (logits out) with Adam + cross-entropy; returns the per-epoch history.
    ``after_batch(n)``, if given, is called after each optimizer step with the run's batch
    count so far (online estimates, device watches); its run state, if it keeps one, goes into
    every checkpoint and comes back on resume (:func:`restore_run_state`)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    shuffle = torch.Generator().manual_seed(int(config.seed))
    history = History()
    start_epoch = 0
    if config.checkpoint and not config.resume and Path(config.checkpoint).exists():
        raise CheckpointError(
            f"checkpoint {config.checkpoint!r} exists (an earlier run): resume it (--resume), or "
            f"write this run somewhere else (another --out / --checkpoint); it is not overwritten")
    if config.resume and config.checkpoint and Path(config.checkpoint).exists():
        state = load_checkpoint(config.checkpoint)
        check_resume(state, config, config.checkpoint)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {config.checkpoint!r} does not fit this model "
                                  f"({str(exc).splitlines()[0]}); it belongs to another run "
                                  f"configuration") from None
        history = History(**{k: list(v) for k, v in state["history"].items()})
        try:
            shuffle.set_state(state["shuffle_rng"])
        except (RuntimeError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {config.checkpoint!r} has a damaged shuffle_rng "
                                  f"({str(exc).splitlines()[0]}); delete it to start over") from None
        if hasattr(model, "set_rng_state"):
            model.set_rng_state(state.get("neuron_rng"))
        restore_run_state(after_batch, state, config.checkpoint)
        start_epoch = int(state["epoch"]) + 1
    loss_fn = nn.CrossEntropyLoss()
    n = len(data.x_train)
    n_batches = math.ceil(n / config.batch_size)
    for epoch in range(start_epoch, config.epochs):
        model.train()
        order = torch.randperm(n, generator=shuffle)
        total_loss, correct = 0.0, 0
        bar = tqdm(range(n_batches), desc=f"{config.desc} {epoch + 1}/{config.epochs}",
                   disable=not config.progress, leave=False, dynamic_ncols=True)
        for b in bar:
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            if after_batch is not None:
                after_batch(epoch * n_batches + b + 1)
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            if config.progress and b % 8 == 0:
                bar.set_postfix(loss=f"{total_loss / ((b + 1) * config.batch_size):.3f}",
                                acc=f"{correct / min(n, (b + 1) * config.batch_size):.3f}")
        bar.close()
        history.train_loss.append(total_loss / n)
        history.train_acc.append(correct / n)
        history.test_acc.append(evaluate(model, data.x_test, data.y_test))
        if config.progress:
            tqdm.write(f"{config.desc} epoch {epoch + 1}/{config.epochs}: loss "
                       f"{history.train_loss[-1]:.4f}, train acc {history.train_acc[-1]:.4f}, "
                       f"test acc {history.test_acc[-1]:.4f}")
        if config.checkpoint:
            run_state = after_batch.state() if hasattr(after_batch, "state") else None
            save_checkpoint(config.checkpoint, {
                **({} if run_state is None else {"run_state": run_state}),
                "version": PLAIN_VERSION if run_state is None else CHECKPOINT_VERSION,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": history.as_dict(),
                "shuffle_rng": shuffle.get_state(),
                "neuron_rng": model.rng_state() if hasattr(model, "rng_state") else None,
                "config": {k: v for k, v in asdict(config).items() if k != "resume"},
            })
    return history
