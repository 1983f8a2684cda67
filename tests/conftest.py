"""Fixtures shared by several test modules (helpers that are plain functions live in
simhelpers.py and layerhelpers.py)."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small batches: one thread is faster, and immune to OpenMP spinning on a busy machine.
    Modules that train use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch   # only the modules that ask for it load torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
