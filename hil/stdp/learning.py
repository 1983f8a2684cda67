"""Training and scoring of a :class:`~hil.stdp.network.WTALayer`: unsupervised presentations,
then labels from the training set and accuracy on held-out data (thresholds frozen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hil.stdp.network import WTALayer, assign_labels, poisson_spikes, predict

#: (intensities (..., n_in), rate scale, rng) -> spikes (..., steps, n_in)
Encoder = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def poisson_encoder(layer: WTALayer) -> Encoder:
    p = layer.params
    return lambda x, scale, rng: poisson_spikes(x, p.steps, min(p.rate_max * scale, 1.0), rng)


@dataclass
class Score:
    accuracy: float
    labels: np.ndarray
    silent_test_fraction: float     # test samples no neuron answered, even at the raised rate


def learn(layer: WTALayer, x: np.ndarray, epochs: int, rng: np.random.Generator,
          encode: Encoder, progress: Callable[[int, int], None] | None = None) -> None:
    """Present every sample ``epochs`` times in a fresh order each epoch, learning on; a
    presentation no neuron answered is repeated at twice the input rate (up to ``retries``)."""
    total = epochs * len(x)
    done = 0
    for _ in range(epochs):
        for i in rng.permutation(len(x)):
            scale = 1.0
            for _attempt in range(layer.params.retries + 1):
                if layer.present(encode(x[i], scale, rng), learn=True).sum() > 0:
                    break
                scale *= 2.0
            done += 1
            if progress is not None:
                progress(done, total)


def responses(layer: WTALayer, x: np.ndarray, rng: np.random.Generator, encode: Encoder,
              chunk: int = 512) -> np.ndarray:
    """Spike counts (B, n_out), no learning; silent samples answered again at a raised rate."""
    counts = np.concatenate([layer.respond(encode(x[i:i + chunk], 1.0, rng))
                             for i in range(0, max(len(x), 1), chunk)])
    scale = 1.0
    for _ in range(layer.params.retries):
        silent = np.flatnonzero(counts.sum(axis=1) == 0)
        if not len(silent):
            break
        scale *= 2.0
        counts[silent] = layer.respond(encode(x[silent], scale, rng))
    return counts


def score(layer: WTALayer, x_train, y_train, x_test, y_test, n_classes: int,
          rng: np.random.Generator, encode: Encoder) -> Score:
    labels = assign_labels(responses(layer, x_train, rng, encode), y_train, n_classes)
    test_counts = responses(layer, x_test, rng, encode)
    guess = predict(test_counts, labels, n_classes)
    return Score(float(np.mean(guess == y_test)), labels,
                 float(np.mean(test_counts.sum(axis=1) == 0)))
