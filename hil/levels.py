"""A fixed grid of K write-current levels per device, which a device layer quantizes to.

A bench plays a batch far faster when each device sees a few distinct currents repeated
many times (one waveform, trigger counts, a histogram of counts per level) than one current
per trial. So a :class:`~hil.neuron.DeviceNeuron` with ``current_levels=K`` snaps every
write current to its device's grid, whatever the backend: the simulated array measures what
the quantization costs in accuracy, and a bench sees only K distinct currents per device.

Where the levels sit: evenly in *switching probability* along the device's calibrated curve
over the mapping's current range [lo, hi], both ends included::

    P_k = P(lo) + k / (K - 1) (P(hi) - P(lo)),   I_k = P^-1(P_k),   k = 0 .. K-1

and a current goes to the level nearest in P (bin edges halfway between levels in P). The
mapping spans +-8 curve widths, so levels evenly spaced in current would leave most of them
where P is ~0 or ~1; evenly in P they sit where the curve is steep, and the expected answer
P(I_k) is within 1/(2(K - 1)) of the unquantized P(I) for every input. The ends are levels so
that a saturated neuron answers as it does unquantized (P ~0 or ~1: no trial noise), which
levels at the middles of K bins (error 1/(2K)) would lose.

Backward stays the surrogate at the *unquantized* current (straight-through): the staircase
P(I_k(x)) follows the smooth P(I(x)) to within 1/(2K), so on any scale above one step its
slope is the smooth curve's; the slope at the level instead would be piecewise constant and
off by up to half a step's change of slope, with no gain.

The grid is computed once per mapping and surrogate, in float64, from the surrogate's own
``probability`` (any curve model). Quantizing is a comparison of t = tanh(x gain / span)
with per-neuron bin edges in t, which are the edges in P through the monotone mapping: no
transcendental per element; the numba kernel (:mod:`hil._fused`) does it in one loop, the
numpy form in K - 1 compare-and-add passes, with the same answers (pure comparisons).
With the kernels, a fused sampler goes further: each level's draw threshold is computed once
per grid and a batch needs only each element's level index (:meth:`CurrentGrid.level_index`,
:meth:`hil.backends.LinearMappedSampler.level_sampler`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from hil import _fused

#: points per device at which the calibrated curve is evaluated to invert it
_CURVE_POINTS = 4097


class CurrentGrid:
    """K levels per device of one layer: currents, their t = (I - centre) / span per neuron,
    and the bin edges in t that :meth:`quantize_t` compares with."""

    def __init__(self, levels: int, mapping, surrogate, neuron_devices: Sequence[str]):
        if isinstance(levels, (bool, np.bool_)) or not isinstance(levels, (int, np.integer)) \
                or levels < 2:
            raise ValueError(f"current_levels must be an integer >= 2 (or None: continuous "
                             f"currents), got {levels!r}")
        self.levels = int(levels)
        self.neuron_devices = list(neuron_devices)
        centre = mapping.np_centre_A.astype(float)
        span = mapping.np_span_A.astype(float)
        low, high = centre - span, centre + span
        # one grid per device, over the union of its neurons' ranges, on its first neuron's curve
        first = {name: self.neuron_devices.index(name) for name in dict.fromkeys(self.neuron_devices)}
        lo = np.array([min(low[j] for j, n in enumerate(self.neuron_devices) if n == name)
                       for name in first])
        hi = np.array([max(high[j] for j, n in enumerate(self.neuron_devices) if n == name)
                       for name in first])
        column = np.array([list(first).index(n) for n in self.neuron_devices])
        level_A, edge_A = _even_in_probability(surrogate, list(first.values()), lo[column],
                                               hi[column], self.levels)
        #: device name -> its K level currents (float32 A, increasing)
        self.device_levels_A = {name: level_A[d].astype(np.float32) for d, name in enumerate(first)}
        # per neuron, (K, neurons) and (K - 1, neurons): levels as currents and as t; edges in t
        self.levels_A = np.ascontiguousarray(level_A[column].T.astype(np.float32))
        self.levels_t = np.ascontiguousarray(((level_A[column] - centre[:, None])
                                              / span[:, None]).T.astype(np.float32))
        self.edges_t = np.ascontiguousarray(((edge_A[column] - centre[:, None])
                                             / span[:, None]).T.astype(np.float32))
        self._columns = np.arange(len(self.neuron_devices), dtype=np.intp)

    def index(self, t: np.ndarray) -> np.ndarray:
        """The level of each element of t (float32 (batch, neurons)): how many of its neuron's
        bin edges lie below it. NaN has no level: it gets 0 here (see :meth:`quantize_t`)."""
        idx = np.zeros(t.shape, dtype=np.intp)
        for edge in self.edges_t:
            idx += t > edge
        return idx

    def quantize_t(self, t: np.ndarray) -> np.ndarray:
        """t of each element's level (float32, same shape); NaN stays NaN, so the sampler's
        limit check refuses it as it refuses an unquantized NaN."""
        return self.quantize_t_finite(t)[0]

    def quantize_t_finite(self, t: np.ndarray) -> tuple[np.ndarray, bool]:
        """(:meth:`quantize_t`, whether t held no NaN): every other quantized value is one of
        :attr:`levels_t`, so with the flag a sampler whose limits the levels satisfy needs no
        pass of its own over the batch. The quantizer finds NaN in the same pass (kernel) or
        in the NaN pass it makes anyway (numpy)."""
        if _fused.ENABLED and t.ndim == 2 and t.dtype == np.float32:
            out, nans = _fused.quantize(t, self.edges_t, self.levels_t)
            return out, nans == 0
        out = self._gather(self.levels_t, self.index(t))
        return self._keep_nan(t, out), not (len(t) and np.isnan(t.max()))

    def level_index(self, t: np.ndarray) -> np.ndarray | None:
        """Each element's level as a flat index into a (K, neurons) table (kernels only), or
        None when they are off, t is not float32 (batch, neurons) or holds a NaN (which has
        no level: the caller takes :meth:`quantize_t`, whose NaN the sampler refuses)."""
        if not (_fused.ENABLED and t.ndim == 2 and t.dtype == np.float32 and len(t)
                and t.shape[1] == self.edges_t.shape[1]):
            return None
        flat, nans = _fused.level_index(t, self.edges_t)
        return flat if nans == 0 else None

    def currents_A(self, t: np.ndarray) -> np.ndarray:
        """The grid current of each element's level (float32 A, exactly the device's levels);
        NaN stays NaN."""
        return self._keep_nan(t, self._gather(self.levels_A, self.index(t)))

    def _gather(self, table: np.ndarray, idx: np.ndarray) -> np.ndarray:
        flat = idx * table.shape[1]
        flat += self._columns
        return np.take(table.reshape(-1), flat)

    @staticmethod
    def _keep_nan(t: np.ndarray, out: np.ndarray) -> np.ndarray:
        if len(t) and np.isnan(t.max()):   # max propagates NaN: one pass in the common case
            out[np.isnan(t)] = np.nan
        return out

    def describe(self) -> str:
        return f"{self.levels} current levels per device, evenly in P of the calibrated curve"


def _even_in_probability(surrogate, columns: Sequence[int], lo: np.ndarray, hi: np.ndarray,
                         levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(levels (devices, K), edges (devices, K - 1)) in A: where the curve of neuron
    ``columns[d]`` (device d's first) reaches K evenly spaced P in [P(lo), P(hi)] and the
    halfway points between them;
    ``lo``, ``hi`` per neuron (its device's range)."""
    frac = np.linspace(0.0, 1.0, _CURVE_POINTS)[:, None]
    grid = lo[None, :] + (hi - lo)[None, :] * frac                      # (points, neurons)
    with torch.no_grad():
        p = surrogate.probability(torch.from_numpy(grid)).double().numpy()[:, columns].T
    currents = grid[:, columns].T                                       # (devices, points)
    lo, hi = lo[columns], hi[columns]
    p = np.maximum.accumulate(p, axis=1)                                # monotone for the inverse
    mids = np.arange(levels) / (levels - 1)
    cuts = (np.arange(levels - 1) + 0.5) / (levels - 1)
    level_A, edge_A = [], []
    for d in range(len(columns)):
        p_lo, p_hi = p[d, 0], p[d, -1]
        if not p_hi > p_lo:
            raise ValueError(f"the calibrated curve of neuron {columns[d]} is flat over its "
                             f"current range [{lo[d]:.4g}, {hi[d]:.4g}] A: no levels to place; "
                             f"check the calibration or use current_levels=None")
        # np.interp wants increasing x: a flat run (P at its ceiling) keeps its first current
        strict = p[d] + np.arange(_CURVE_POINTS) * 1e-15
        level_A.append(np.interp(p_lo + mids * (p_hi - p_lo), strict, currents[d]))
        edge_A.append(np.interp(p_lo + cuts * (p_hi - p_lo), strict, currents[d]))
    return np.array(level_A), np.array(edge_A).reshape(len(columns), levels - 1)
