"""Datasets for the experiments: scikit-learn's 8x8 digits (shipped, no download) or MNIST.

Both come back as float32 tensors, features standardized with the *training* split's mean
and standard deviation (so the test split never leaks into the scaling), labels int64.
MNIST is read from the user's local IDX files (``train-images-idx3-ubyte`` etc., optionally
``.gz``); nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


class DatasetError(ValueError):
    """A dataset that cannot be loaded as asked."""


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


def _standardize(x_train: np.ndarray, x_test: np.ndarray):
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std < 1e-6] = 1.0  # constant pixels (digit borders) stay at zero
    return (x_train - mean) / std, (x_test - mean) / std


def _as_split(x_train, y_train, x_test, y_test, name) -> Split:
    x_train, x_test = _standardize(x_train.astype(np.float64), x_test.astype(np.float64))
    n_classes = int(max(y_train.max(), y_test.max()) + 1)
    return Split(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train, dtype=torch.int64),
                 torch.tensor(x_test, dtype=torch.float32), torch.tensor(y_test, dtype=torch.int64),
                 n_classes, name)


def load_digits_split(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """sklearn's 1797 8x8 digits, stratified train/test split (seeded)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=test_fraction, random_state=seed,
        stratify=digits.target)
    return _as_split(x_train, y_train, x_test, y_test, "digits8x8")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise DatasetError(f"cannot read IDX file {str(path)!r}: {exc}") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{str(path)!r} is not an unsigned-byte IDX file (bad magic {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DatasetError(f"{str(path)!r} holds {len(raw) - header} data bytes, its header "
                           f"announces {shape} = {expected}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).exists():
            return root / name
    raise DatasetError(f"MNIST file {stem!r} (or .gz) not found in {str(root)!r}; pass the folder "
                       f"holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                       f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte")


def load_mnist_split(path: str | Path, limit_train: int | None = None) -> Split:
    """MNIST from local IDX files in ``path``; images flattened to 784 features."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"MNIST folder {str(root)!r} does not exist")
    x_train = _read_idx(_find(root, "train-images-idx3-ubyte")).reshape(-1, 784)
    y_train = _read_idx(_find(root, "train-labels-idx1-ubyte")).astype(np.int64)
    x_test = _read_idx(_find(root, "t10k-images-idx3-ubyte")).reshape(-1, 784)
    y_test = _read_idx(_find(root, "t10k-labels-idx1-ubyte")).astype(np.int64)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetError(f"MNIST in {str(root)!r}: image and label counts differ")
    if limit_train:
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    return _as_split(x_train, y_train, x_test, y_test, "mnist")


def load_dataset(name: str = "digits", path: str | Path | None = None, seed: int = 0) -> Split:
    if name == "digits":
        return load_digits_split(seed=seed)
    if name == "mnist":
        if path is None:
            raise DatasetError("dataset 'mnist' needs the path of a folder with the IDX files "
                               "(--mnist PATH); nothing is downloaded")
        return load_mnist_split(path)
    raise DatasetError(f"unknown dataset {name!r}; choose 'digits' or 'mnist'")
