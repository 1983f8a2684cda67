"""Datasets: the embedded digits split and MNIST from local IDX files."""

import gzip

import numpy as np
import pytest
import torch

from hil.data import DatasetError, load_dataset, load_digits_split, load_mnist_split


def test_digits_split_is_stratified_standardized_and_seeded():
    split = load_digits_split(test_fraction=0.2, seed=0)
    assert split.x_train.shape == (1437, 64) and split.x_test.shape == (360, 64)
    assert split.n_classes == 10 and split.x_train.dtype == torch.float32
    assert torch.bincount(split.y_test).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    informative = split.x_train.std(0) > 0
    assert torch.allclose(split.x_train.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(split.x_train.std(0, unbiased=False)[informative],
                          torch.ones(int(informative.sum())), atol=1e-4)
    again = load_digits_split(seed=0)
    assert torch.equal(again.x_test, split.x_test)
    assert not torch.equal(load_digits_split(seed=1).y_test, split.y_test)


def _write_idx(path, array, gz=False):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_mnist_from_local_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)), gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(20) % 10, gz=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10))
    split = load_mnist_split(tmp_path)
    assert split.x_train.shape == (20, 784) and split.x_test.shape == (10, 784)
    assert split.y_train.tolist() == list(np.arange(20) % 10) and split.n_classes == 10
    assert load_dataset("mnist", tmp_path).name == "mnist"


def test_truncated_idx_file_and_missing_folder_are_clear_errors(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)))
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.*truncated or corrupt"):
        load_mnist_split(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_mnist_split(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="nothing is downloaded"):
        load_dataset("mnist")
