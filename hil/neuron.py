"""Device neurons: a layer whose forward pass is what physical devices did.

Forward: each neuron's input x becomes a write current I(x) on its device (see
:class:`CurrentMapping`); the backend answers with the switch event (0/1, or the switched
fraction of a multi-domain device), averaged over ``repeats`` trials. Backward: the surrogate
derivative of the neuron's *calibrated* curve, dP/dI(I(x)) * dI/dx (see :mod:`hil.surrogate`):
real forward, model backward, in one ``autograd.Function`` (:class:`DeviceSwitch`).

The input -> current mapping (per neuron)::

    I(x) = centre_A + span_A * tanh(x * gain_A / span_A)

* ``centre_A``: the current at x = 0; device-aware mappings put it at the device's calibrated
  I50, so x = 0 <-> P = 0.5 whatever the device-to-device spread;
* ``gain_A``: dI/dx at x = 0 (amperes per unit of input); ``1 / k`` with k the logistic slope
  of a curve makes P(x) ~ sigmoid(x) near x = 0;
* ``span_A``: the current never leaves ``centre_A +- span_A``. The mapping is built so that
  ``centre_A + span_A`` stays under the device's safe maximum current
  (:func:`hil.safety.max_write_current_A`) and ``centre_A - span_A >= 0``: the limit holds by
  construction for every input, and a configuration that cannot hold it raises
  :class:`~hil.safety.CurrentLimitError`. Nothing is clipped.

With ``current_levels=K`` every write current snaps to a fixed grid of K levels per device
(:class:`hil.levels.CurrentGrid`: evenly in the calibrated curve's switching probability),
whatever the backend; backward stays the surrogate at the unquantized current.

Neurons map to devices explicitly (``neuron_devices``): with fewer devices than neurons, one
device serves several neurons in time (round-robin by default); :meth:`DeviceNeuron.device_map`
and :meth:`DeviceNeuron.report` say which. A layer built from a calibration can be rebuilt on
other devices or fresher curves (:meth:`DeviceNeuron.rebuild`: remapping off a dead device,
an online estimate of the curves), and ``observers`` see every batch's answers with the
currents written (:mod:`hil.online`, :mod:`hil.remap`): no extra trial.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hil import _fused
from hil.backends import CurrentSampler, mapped_sampler
from hil.levels import CurrentGrid
from procedures.calibration import ChipCalibration, DeviceCalibration
from hil.safety import CurrentLimitError
from hil.surrogate import SigmoidSurrogate, mapped_slope, surrogate_for

#: relative margin kept below a ceiling so float32 arithmetic can never cross it
FLOAT32_MARGIN = 1e-5

#: the attributes a device layer's fast path is bound to (see DeviceNeuron.__setattr__)
_BINDING_PARTS = frozenset({"backend", "device_index", "mapping", "surrogate", "width_s",
                            "current_levels", "neuron_devices"})


def round_robin(n_neurons: int, device_names: Sequence[str]) -> list[str]:
    """Neuron j -> device j mod len(devices): devices shared in time as evenly as possible."""
    if not device_names:
        raise ValueError("no devices to map neurons onto")
    return [device_names[j % len(device_names)] for j in range(n_neurons)]


class CurrentMapping(nn.Module):
    """Per-neuron saturating affine map x -> write current, bounded by construction."""

    def __init__(self, centre_A, span_A, gain_A, max_current_A, device_names: Sequence[str]):
        super().__init__()
        centre, span, gain, ceiling = (np.asarray(v, dtype=float).reshape(-1)
                                       for v in (centre_A, span_A, gain_A, max_current_A))
        n = len(device_names)
        for label, arr in (("centre_A", centre), ("span_A", span), ("gain_A", gain),
                           ("max_current_A", ceiling)):
            if arr.shape != (n,):
                raise ValueError(f"{label} must have one value per neuron ({n}), got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{label} must be finite, got {arr[~np.isfinite(arr)][:3]}")
        for label, arr in (("span_A", span), ("gain_A", gain)):
            if np.any(arr <= 0):
                j = int(np.argmax(arr <= 0))
                raise ValueError(f"{label} of neuron {j} ({device_names[j]!r}) must be > 0, got {arr[j]!r}")
        top = (centre + span) * (1 + FLOAT32_MARGIN)
        if np.any(top > ceiling):
            j = int(np.argmax(top - ceiling))
            raise CurrentLimitError(
                f"neuron {j} on device {device_names[j]!r}: the mapping reaches "
                f"{centre[j] + span[j]:.4g} A (centre {centre[j]:.4g} A + span {span[j]:.4g} A), over "
                f"the device's safe maximum {ceiling[j]:.4g} A; lower the span or the centre "
                f"(or use CurrentMapping.from_curves, which sizes them from the limits)")
        if np.any(centre - span < 0):
            j = int(np.argmax(span - centre))
            raise CurrentLimitError(
                f"neuron {j} on device {device_names[j]!r}: the mapping reaches "
                f"{centre[j] - span[j]:.4g} A (centre {centre[j]:.4g} A - span {span[j]:.4g} A); "
                f"write currents must stay >= 0 A (a reversed pulse targets the reset state); "
                f"make the span at most the centre")
        self.device_names = list(device_names)
        f32 = torch.float32
        self.register_buffer("centre_A", torch.tensor(centre, dtype=f32), persistent=False)
        self.register_buffer("span_A", torch.tensor(span, dtype=f32), persistent=False)
        self.register_buffer("gain_A", torch.tensor(gain, dtype=f32), persistent=False)
        self.register_buffer("inv_scale", torch.tensor(gain / span, dtype=f32), persistent=False)
        # float32 numpy copies for the layer's fast path (see DeviceSwitch)
        self.np_centre_A = centre.astype(np.float32)
        self.np_span_A = span.astype(np.float32)
        self.np_gain_A = gain.astype(np.float32)
        self.np_inv_scale = (gain / span).astype(np.float32)
        self.max_current_A = ceiling
        self.narrowed: list[str] = []

    @classmethod
    def from_curves(cls, curves: Sequence[DeviceCalibration], max_current_A: Sequence[float],
                    device_names: Sequence[str], gain_curves: Sequence[DeviceCalibration] | None = None,
                    saturation: float = 8.0, headroom: float = 0.9) -> "CurrentMapping":
        """Centre each neuron on its device's I50; gain 1/k of ``gain_curves`` (default: the same
        curves); span = ``saturation`` x gain, narrowed where the safe window is smaller.

        ``headroom`` < 1 keeps the top of the span that fraction below the safe maximum.
        Raises :class:`CurrentLimitError` when a device's I50 is not inside the safe window or
        the window is narrower than +-2 curve widths (the neuron could not span P = 0.12..0.88).
        """
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom!r}")
        if not saturation > 0:
            raise ValueError(f"saturation must be > 0, got {saturation!r}")
        gain_curves = curves if gain_curves is None else gain_curves
        centre = np.array([c.i50_A for c in curves])
        gain = np.array([1.0 / c.logistic_slope_per_A for c in gain_curves])
        ceiling = np.asarray(max_current_A, dtype=float)
        room = np.minimum(headroom * ceiling - centre, centre)
        for j, name in enumerate(device_names):
            if room[j] <= 0:
                raise CurrentLimitError(
                    f"device {name!r}: its I50 {centre[j]:.4g} A is not below {headroom:g} x its "
                    f"safe maximum current {ceiling[j]:.4g} A; it cannot be driven through "
                    f"P = 0.5 safely. Use a longer pulse width (lower I50) or another device")
            if room[j] < 2.0 * gain[j]:
                raise CurrentLimitError(
                    f"device {name!r}: only +-{room[j]:.4g} A fit around I50 {centre[j]:.4g} A "
                    f"under {headroom:g} x the safe maximum {ceiling[j]:.4g} A, less than two curve "
                    f"widths ({2 * gain[j]:.4g} A); use a longer pulse width or another device")
        span = np.minimum(saturation * gain, room)
        mapping = cls(centre, span, gain, ceiling, device_names)
        mapping.narrowed = [n for n, s, g in zip(device_names, span, gain) if s < saturation * g]
        return mapping

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.centre_A + self.span_A * torch.tanh(x * self.inv_scale)

    def bounds_A(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.centre_A.double().numpy()
        s = self.span_A.double().numpy()
        return c - s, c + s


class DeviceSwitch(torch.autograd.Function):
    """Forward: the backend's switch events for I(x). Backward: surrogate dP/dI x dI/dx.

    Both run in float32 numpy: on small CPU batches torch's tanh / exp cost far more than
    numpy's, and the backend answers in numpy anyway. At a layer's sizes each numpy pass
    costs ~2 us whatever it does, so both work from t = tanh(x gain / span) with the mapping
    folded into their constants (:meth:`DeviceNeuron.fast_path`): the backend samples
    I = centre + span t without forming it, the surrogate gives dP/dx directly. The slope is
    computed in the forward pass, while t is at hand, so backward is one multiply;
    ``need_grad=False`` (no_grad / eval) skips it. The result equals autograd through
    ``surrogate.probability(mapping(x))`` (tests/test_hil_surrogate.py).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, layer: "DeviceNeuron", need_grad: bool = True):
        sample, slope, inv_scale = layer._fast_bound()
        t = np.multiply(x.detach().numpy(), inv_scale)
        np.tanh(t, out=t)
        answer = sample(t)
        for observe in layer.observers:     # what the devices answered, for online estimates
            observe(layer, t, answer)
        if need_grad:
            ctx.slope = torch.from_numpy(slope(t))
        return torch.from_numpy(np.asarray(answer, dtype=np.float32))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        # ctx.slope is never written again: a second backward (retain_graph) sees the same
        return grad_out * ctx.slope, None, None


class BackendTrialState:
    """A device layer's trial-generator state, kept in its ``backend`` (checkpoints save it for
    an exact resume; a backend without one, a real bench, gives None)."""

    def rng_state(self):
        getter = getattr(self.backend, "rng_state", None)
        return getter() if getter else None

    def set_rng_state(self, state) -> None:
        setter = getattr(self.backend, "set_rng_state", None)
        if setter and state is not None:
            setter(state)


class DeviceNeuron(BackendTrialState, nn.Module):
    """A layer of stochastic neurons, each one a physical (or simulated) device."""

    def __init__(self, backend, neuron_devices: Sequence[str], mapping: CurrentMapping,
                 surrogate: nn.Module, width_s: float, repeats: int = 1,
                 eval_repeats: int | None = None, current_levels: int | None = None):
        super().__init__()
        if list(mapping.device_names) != list(neuron_devices):
            raise ValueError("the mapping was built for other devices than neuron_devices")
        for label, k in (("repeats", repeats), ("eval_repeats", eval_repeats or repeats)):
            if not isinstance(k, int) or k < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {k!r}")
        self.backend = backend
        self.neuron_devices = list(neuron_devices)
        self.device_index = backend.index_of(self.neuron_devices) if hasattr(backend, "index_of") \
            else np.asarray([backend.device_names.index(n) for n in self.neuron_devices])
        self.mapping = mapping
        self.surrogate = surrogate
        self.surrogate_dtype = next(iter(surrogate.buffers()), torch.empty(0)).dtype
        self.width_s = float(width_s)
        self.repeats = int(repeats)
        self.eval_repeats = int(eval_repeats or repeats)
        self.current_levels = current_levels
        self._grid: CurrentGrid | None = None
        self.current_grid()               # refuses a bad level count now, not at the first batch
        self._bound: dict = {}   # repeats -> the fast path's bound callables (see fast_path)
        #: callables (layer, t, answer) told every batch's answers (see written_currents_A)
        self.observers: list = []
        self.recipe: dict | None = None   # how from_calibration built it (for rebuild)

    @classmethod
    def from_calibration(cls, backend, calibration: ChipCalibration, neuron_devices: Sequence[str],
                         max_current_A: Mapping[str, float], width_s: float | None = None,
                         repeats: int = 1, eval_repeats: int | None = None,
                         gain_calibration: ChipCalibration | None = None,
                         surrogate_model: str | None = None, saturation: float = 8.0,
                         headroom: float = 0.9, current_levels: int | None = None) -> "DeviceNeuron":
        """A layer whose mapping and surrogate come from ``calibration`` (per neuron's device).

        ``gain_calibration`` (e.g. the nominal, variability-free curves) sets the gain instead
        of each device's own slope: then only I50 is compensated per device. ``current_levels``
        K quantizes the write currents to K levels per device (None: continuous).
        """
        width_s = float(calibration.width_s if width_s is None else width_s)
        recipe = {"calibration": calibration, "max_current_A": max_current_A,
                  "gain_calibration": gain_calibration, "surrogate_model": surrogate_model,
                  "saturation": saturation, "headroom": headroom}
        mapping, surrogate = _mapping_and_surrogate(recipe, list(neuron_devices), width_s)
        layer = cls(backend, neuron_devices, mapping, surrogate, width_s, repeats, eval_repeats,
                    current_levels)
        layer.recipe = recipe
        return layer

    def rebuild(self, neuron_devices: Sequence[str] | None = None,
                calibration: ChipCalibration | None = None) -> None:
        """The same layer on other devices (``neuron_devices``, e.g. a dead device's neurons
        moved to healthy ones) or with other curves (``calibration``, e.g. an online estimate):
        mapping and surrogate rebuilt as :meth:`from_calibration` built them, the weights
        untouched. Only a layer built by :meth:`from_calibration` can be rebuilt."""
        if self.recipe is None:
            raise ValueError("only a layer built with DeviceNeuron.from_calibration can be rebuilt")
        names = list(self.neuron_devices if neuron_devices is None else neuron_devices)
        recipe = {**self.recipe, "calibration": calibration or self.recipe["calibration"]}
        mapping, surrogate = _mapping_and_surrogate(recipe, names, self.width_s)
        self.recipe = recipe
        self.neuron_devices = names
        self.device_index = self.backend.index_of(names)
        self.mapping = mapping
        self.surrogate = surrogate

    def written_currents_A(self, t: np.ndarray) -> np.ndarray:
        """The currents the devices were written with for t = tanh(x gain / span): the grid
        levels of a quantized layer, else centre + span t."""
        grid = self.current_grid()
        if grid is not None:
            return grid.currents_A(t)
        current = np.multiply(t, self.mapping.np_span_A)
        current += self.mapping.np_centre_A
        return current

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != len(self.neuron_devices):
            raise ValueError(f"DeviceNeuron expects (batch, {len(self.neuron_devices)}) inputs, "
                             f"got {tuple(x.shape)}")
        need_grad = torch.is_grad_enabled() and x.requires_grad
        return DeviceSwitch.apply(x.float().contiguous(), self, need_grad)

    def fast_path(self):
        """(sample, slope): callables of t = tanh(x gain / span) for the current mode, bound to
        this layer's backend, devices, mapping, surrogate and width, and rebound when any of
        them is replaced. ``sample(t)`` is the backend's answer for I = centre + span t
        (:func:`hil.backends.mapped_sampler`), ``slope(t)`` the surrogate's dP(I(x))/dx
        (:func:`hil.surrogate.mapped_slope`)."""
        return self._fast_bound()[:2]

    def _fast_bound(self) -> tuple:
        """(sample, slope, inv_scale) of the current mode. Assigning any part the binding
        depends on drops every binding (:meth:`__setattr__`), so a batch pays a dict lookup
        here rather than a check per part (~7 us a call, 5 % of the layer's forward)."""
        bound = self._bound.get(self.repeats if self.training else self.eval_repeats)
        return bound if bound is not None else self._bind()

    def _bind(self) -> tuple:
        repeats = self.repeats if self.training else self.eval_repeats
        m = self.mapping
        sample = mapped_sampler(self.backend, self.device_index, m.np_centre_A, m.np_span_A,
                                self.width_s, repeats)
        grid = self.current_grid()
        if grid is not None:
            sample = QuantizedSampler(grid, sample)
        bound = self._bound[repeats] = (
            sample, mapped_slope(self.surrogate, m.np_centre_A, m.np_span_A, m.np_gain_A),
            m.np_inv_scale)
        return bound

    def __setattr__(self, name: str, value) -> None:
        # replacing a part of the fast path's binding (not re-assigning the same object, as
        # ``layer.surrogate = layer.surrogate.double()`` does) drops the bindings and the grid
        if name in _BINDING_PARTS and "_bound" in self.__dict__ \
                and getattr(self, name, None) is not value:
            self.__dict__["_bound"] = {}
            self.__dict__["_grid"] = None
        super().__setattr__(name, value)

    def current_grid(self) -> CurrentGrid | None:
        """The K current levels per device this layer's writes snap to (None: continuous),
        built from the mapping and the surrogate's calibrated curve, rebuilt when either
        (or ``current_levels``) is replaced."""
        if self.current_levels is None:
            return None
        if self._grid is None:   # dropped when a part is replaced (__setattr__)
            self._grid = CurrentGrid(self.current_levels, self.mapping, self.surrogate,
                                     self.neuron_devices)
        return self._grid

    def expected(self, x: torch.Tensor) -> torch.Tensor:
        """The calibrated curve P(I(x)): what the layer would answer on average (differentiable)."""
        return self.surrogate.probability(self.mapping(x).to(self.surrogate_dtype)).to(x.dtype)

    def device_map(self) -> list[tuple[int, str]]:
        return list(enumerate(self.neuron_devices))

    def report(self) -> str:
        counts = Counter(self.neuron_devices)
        low, high = self.mapping.bounds_A()
        lines = [f"{len(self.neuron_devices)} neurons on {len(counts)} devices "
                 f"({self.backend.describe()}), width {self.width_s:g} s, "
                 f"{self.repeats} trial(s) per answer ({self.eval_repeats} in eval), "
                 f"{'continuous currents' if self.current_levels is None else self.current_grid().describe()}"]
        for name, count in counts.items():
            j = self.neuron_devices.index(name)
            lines.append(f"  {name}: {count} neurons, I in [{low[j]:.4g}, {high[j]:.4g}] A, "
                         f"ceiling {self.mapping.max_current_A[j]:.4g} A"
                         f"{' (span narrowed by the limit)' if name in self.mapping.narrowed else ''}")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return (f"neurons={len(self.neuron_devices)}, devices={len(set(self.neuron_devices))}, "
                f"repeats={self.repeats}, width_s={self.width_s:g}, "
                f"current_levels={self.current_levels}")


class QuantizedSampler:
    """A layer's sampler with its currents snapped to a :class:`~hil.levels.CurrentGrid`:
    a backend's fused sampler gets each level's t (the same trials as its currents), any other
    backend the grid currents themselves, so every current it is asked for is a grid level."""

    def __init__(self, grid: CurrentGrid, sampler):
        self.grid, self.sampler = grid, sampler
        self._currents = isinstance(sampler, CurrentSampler)
        # a fused sampler told the levels are within its limits (checked once, here) skips its
        # limit pass on a batch the quantizer saw no NaN in; any other batch gets the full check
        within = getattr(sampler, "within_limits", None)
        self._levels_within = bool(within is not None and within(grid.levels_t))
        # with the kernels: trials straight from each element's level index, every level's
        # threshold computed once (the same values: no per-element log rate or exp)
        by_level = getattr(sampler, "level_sampler", None)
        self._by_level = by_level(grid.levels_t) if by_level and self._levels_within else None

    def __call__(self, t: np.ndarray) -> np.ndarray:
        if self._currents:
            s = self.sampler
            return s.backend.sample(s.device_index, self.grid.currents_A(t), s.width_s, s.repeats)
        if self._by_level is not None and _fused.ENABLED:
            flat = self.grid.level_index(t)
            if flat is not None:
                return self._by_level(flat, len(t))
        levels_t, finite = self.grid.quantize_t_finite(t)
        if finite and self._levels_within:
            return self.sampler(levels_t, within_limits=True)
        return self.sampler(levels_t)


def _mapping_and_surrogate(recipe: dict, names: list[str], width_s: float):
    """A layer's mapping and surrogate for neurons on ``names`` (see from_calibration)."""
    calibration, gain_calibration = recipe["calibration"], recipe["gain_calibration"]
    # the curves at the width actually played: a Neel-Brown curve is rebuilt there, a
    # logistic one fitted at another width is refused (CalibrationError)
    curves = [calibration[n].at_width(width_s, n, calibration.source) for n in names]
    gain_curves = None if gain_calibration is None else [
        gain_calibration[n].at_width(width_s, n, gain_calibration.source) for n in names]
    mapping = CurrentMapping.from_curves(curves, [recipe["max_current_A"][n] for n in names],
                                         names, gain_curves, recipe["saturation"], recipe["headroom"])
    return mapping, surrogate_for(curves, recipe["surrogate_model"], dtype=torch.float32)


# ---------------------------------------------------------------------------- software neurons
class _StochasticSigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, repeats: int, generator):
        p = torch.sigmoid(x)
        if repeats == 1:
            out = (torch.rand(p.shape, generator=generator) < p).float()
        else:
            out = (torch.rand((repeats,) + tuple(p.shape), generator=generator) < p).float().mean(0)
        ctx.save_for_backward(p)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (p,) = ctx.saved_tensors
        return grad_out * p * (1.0 - p), None, None


class StochasticSigmoidNeuron(nn.Module):
    """Ideal stochastic binary neuron: Bernoulli(sigmoid(x)), mean of ``repeats`` trials;
    backward = the sigmoid's derivative (same surrogate idea, ideal curve)."""

    def __init__(self, repeats: int = 1, eval_repeats: int | None = None, seed: int = 0):
        super().__init__()
        for label, k in (("repeats", repeats), ("eval_repeats", repeats if eval_repeats is None
                                                 else eval_repeats)):
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {k!r}")
        self.repeats = int(repeats)
        self.eval_repeats = int(eval_repeats or repeats)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.surrogate = SigmoidSurrogate(1.0)

    def forward(self, x):
        k = self.repeats if self.training else self.eval_repeats
        return _StochasticSigmoid.apply(x, k, self.generator)

    def rng_state(self):
        return self.generator.get_state()

    def set_rng_state(self, state):
        self.generator.set_state(state)

