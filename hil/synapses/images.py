"""Image datasets for the CNN: the 8x8 digits and MNIST from :mod:`hil.data`, CIFAR-10 from
its local python batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``, as in
``cifar-10-python.tar.gz`` unpacked). Nothing is downloaded: a missing folder or file is a
:class:`~hil.data.DatasetError` naming it. Rows come flat (the networks reshape them) with the
image shape beside them; CIFAR-10 is standardized per channel with the training split's
statistics.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from hil.data import DatasetError, Split, load_dataset

SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"CIFAR-10 file {str(path)!r} not found; pass --data FOLDER holding "
                           f"{', '.join(CIFAR_TRAIN)} and {CIFAR_TEST} (the python version, "
                           f"unpacked); nothing is downloaded")
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, EOFError, TypeError, ValueError) as exc:
        raise DatasetError(f"{str(path)!r} is not a CIFAR-10 python batch ({exc}); give the "
                           f"unpacked cifar-10-batches-py folder") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DatasetError(f"{str(path)!r}: expected N x 3072 images with N labels, got "
                           f"{data.shape} and {labels.shape}")
    return data, labels


def load_cifar10(folder, limit_train: int | None = None) -> Split:
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"CIFAR-10 folder {str(root)!r} does not exist; nothing is downloaded")
    parts = [_cifar_batch(root / name) for name in CIFAR_TRAIN]
    x_train = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 1024).astype(np.float64)
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _cifar_batch(root / CIFAR_TEST)
    x_test = x_test.reshape(-1, 3, 1024).astype(np.float64)
    if limit_train:
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    mean = x_train.mean(axis=(0, 2), keepdims=True)
    std = x_train.std(axis=(0, 2), keepdims=True)
    as_rows = lambda x: torch.tensor(((x - mean) / std).reshape(len(x), -1), dtype=torch.float32)  # noqa: E731
    return Split(as_rows(x_train), torch.tensor(y_train), as_rows(x_test), torch.tensor(y_test), 10,
                 "cifar10")


def load_images(name: str, path=None, limit_train: int | None = None,
                seed: int = 0) -> tuple[Split, tuple[int, int, int]]:
    """(split, image shape) of ``digits``, ``mnist`` (IDX files in ``path``) or ``cifar10``."""
    if name == "cifar10":
        return load_cifar10(path, limit_train), SHAPES[name]
    split = load_dataset(name, path, seed)
    if limit_train and name != "digits":
        split = Split(split.x_train[:limit_train], split.y_train[:limit_train], split.x_test,
                      split.y_test, split.n_classes, split.name)
    return split, SHAPES[name]
