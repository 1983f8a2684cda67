"""The array namespace of a law's arguments: numpy, or torch when any argument is a tensor.

The laws of the synapse and neuron kinds answer in the kind they were given (numpy arrays
for the simulator and the fits, torch tensors for the learning side, gradients kept).
"""

from __future__ import annotations

import numpy as np


def namespace(*values):
    """(xp, values as arrays of xp): numpy float64, or torch tensors of the first floating
    tensor's dtype (float64 when none is floating) when any argument is a tensor."""
    tensors = [v for v in values if type(v).__module__.startswith("torch")]
    if not tensors:
        return np, [np.asarray(v, dtype=float) for v in values]
    import torch
    floating = [t for t in tensors if t.is_floating_point()]
    dtype = floating[0].dtype if floating else torch.float64
    return torch, [torch.as_tensor(v, dtype=dtype) for v in values]


__all__ = ["namespace"]
