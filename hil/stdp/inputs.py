"""What the STDP network sees: pixel intensities in [0, 1], and the bench's binary pattern task.

Spike rates need non-negative intensities; :mod:`hil.data` gives standardized features, an
affine map per pixel, so the training split's own range per pixel maps them back onto [0, 1]
(a pixel that never varies is 0; the test split is clipped into the training range).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.data import Split
from hil.stdp.config import StdpConfigError


@dataclass
class Task:
    x_train: np.ndarray      # (N, n_in) intensities in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str

    @property
    def n_in(self) -> int:
        return self.x_train.shape[1]


def intensities(split: Split, limit_train: int | None = None) -> Task:
    x_train = split.x_train.numpy().astype(float)
    x_test = split.x_test.numpy().astype(float)
    low, high = x_train.min(axis=0), x_train.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    x_train = (x_train - low) / span
    x_test = np.clip((x_test - low) / span, 0.0, 1.0)
    y_train, y_test = split.y_train.numpy(), split.y_test.numpy()
    if limit_train:
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    return Task(x_train, y_train, x_test, y_test, split.n_classes, split.name)


def patterns(n_in: int, n_patterns: int) -> np.ndarray:
    """``n_patterns`` binary patterns over ``n_in`` inputs: contiguous blocks of about
    n_in / n_patterns pixels, each overlapping its neighbours by one pixel (so they are not
    trivially disjoint), one pattern per row."""
    if n_in < 4:     # two patterns of two pixels each: the smallest task there is
        raise StdpConfigError(f"the pattern task needs a crossbar of 4 rows or more (2 patterns "
                              f"of 2 inputs each), this one has {n_in}: give a bench whose "
                              f"crossbar group has count >= 4")
    if not 2 <= n_patterns <= n_in // 2:
        raise StdpConfigError(f"stdp setting 'patterns' (--patterns): {n_patterns} patterns on "
                              f"{n_in} inputs (the crossbar's rows) do not fit; give 2 to "
                              f"{n_in // 2}")
    edges = np.linspace(0, n_in, n_patterns + 1).round().astype(int)
    out = np.zeros((n_patterns, n_in), dtype=bool)
    for k in range(n_patterns):
        out[k, max(edges[k] - 1, 0):min(edges[k + 1] + 1, n_in)] = True
    return out


def pattern_task(n_in: int, n_patterns: int, per_pattern_train: int, per_pattern_test: int,
                 flip_probability: float, rng: np.random.Generator) -> Task:
    """Noisy copies of :func:`patterns` (each pixel flipped with ``flip_probability``), in a
    shuffled order; the test copies are drawn apart from the training ones."""
    base = patterns(n_in, n_patterns)

    def draw(per):
        y = np.repeat(np.arange(n_patterns), per)
        rng.shuffle(y)
        x = base[y] ^ (rng.random((len(y), n_in)) < flip_probability)
        return x.astype(float), y

    x_train, y_train = draw(per_pattern_train)
    x_test, y_test = draw(per_pattern_test)
    return Task(x_train, y_train, x_test, y_test, n_patterns, f"patterns{n_patterns}x{n_in}")
