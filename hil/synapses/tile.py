"""A layer's weights as complementary conductance pairs on a synapse backend.

Weight level k (0 ... N-1) puts G+ at state k and G- at state N-1-k, so the N levels are
w_k = w_max (f(k) - f(N-1-k)) of the typical device's curve f (symmetric about 0 whatever its
nonlinearity). What each weight *is* comes from reading its two devices; what the tile
*believes* it programmed is ``level`` (an integer per weight). Three ways to set them:

- :meth:`PairTile.program_levels` from the reset state (both devices at state 0): k pulses to
  G+, N-1-k to G-; the ex-situ deployment and the in-situ start;
- :meth:`PairTile.follow` (in situ): a weight is moved to the level its high-precision shadow
  weight has crossed into, only once the shadow is past the midpoint by ``margin`` of the
  spacing (hysteresis: noise and small updates cost no pulses); one pulse per level to each
  device of the pair, every pulse counted;
- :meth:`PairTile.model_weights` (ex-situ training): what programming from reset would give on
  the typical device (its step statistics), without touching the devices.
"""

from __future__ import annotations

import math

import torch

from hil.synapses.array import (DTYPE, DeviceParams, SynapseBackend, advance, conductance_S,
                                level_fraction, reset_state)
from hil.synapses.configs import WeightConfig


class PairTile:
    """``shape`` weights on 2 x prod(shape) devices of a backend, from device ``offset``."""

    def __init__(self, shape: tuple[int, ...], fan_in: int, config: WeightConfig):
        self.shape = tuple(shape)
        self.size = math.prod(self.shape)
        self.config = config
        device = config.device
        self.n_states = device.n_states
        self.w_max = config.weight_range / math.sqrt(fan_in)
        f = level_fraction(device, torch.arange(self.n_states, dtype=DTYPE))
        self._typical = DeviceParams.typical(device)
        self.levels = self.w_max * (f - f.flip(0))                  # ascending, w_0 = -w_max
        self.midpoints = 0.5 * (self.levels[1:] + self.levels[:-1])
        gaps = self.levels[1:] - self.levels[:-1]
        self.up_thresholds = self.midpoints + config.margin * gaps
        self.down_thresholds = self.midpoints - config.margin * gaps
        self.level = torch.zeros(self.shape, dtype=torch.int64)
        self.backend: SynapseBackend | None = None
        self.plus = self.minus = None
        self.pulses = 0
        self._model_generator = torch.Generator().manual_seed(0)

    # ------------------------------------------------------------------ binding
    def bind(self, backend: SynapseBackend, offset: int) -> int:
        """Use devices offset ... offset + 2 size - 1 of ``backend``; returns the next offset."""
        if offset + 2 * self.size > backend.n_devices:
            raise ValueError(f"{backend.describe()} has {backend.n_devices} devices; this layer "
                             f"needs {2 * self.size} from device {offset}")
        self.backend = backend
        self.plus = torch.arange(offset, offset + self.size)
        self.minus = torch.arange(offset + self.size, offset + 2 * self.size)
        return offset + 2 * self.size

    def seed_model(self, seed: int) -> None:
        self._model_generator.manual_seed(int(seed))

    # ------------------------------------------------------------------ levels
    def nearest_level(self, w: torch.Tensor) -> torch.Tensor:
        return torch.bucketize(w.detach().to(DTYPE), self.midpoints)

    def quantized(self, w: torch.Tensor) -> torch.Tensor:
        return self.levels[self.nearest_level(w)].to(w.dtype)

    def crossed_level(self, shadow: torch.Tensor) -> torch.Tensor:
        """The level each shadow weight has crossed into from the current one (with margin)."""
        s = shadow.detach().to(DTYPE).reshape(-1, 1)
        up = (s > self.up_thresholds).sum(1).reshape(self.shape)
        down = (s >= self.down_thresholds).sum(1).reshape(self.shape)
        return torch.where(up > self.level, up, torch.where(down < self.level, down, self.level))

    # ------------------------------------------------------------------ devices
    def _require_backend(self) -> SynapseBackend:
        if self.backend is None:
            raise RuntimeError("this layer's weights are not on devices yet: bind it to a synapse "
                               "backend (hil.synapses.layers.bind_devices)")
        return self.backend

    def _send(self, delta: torch.Tensor) -> None:
        backend = self._require_backend()
        delta = delta.reshape(-1)
        moving = delta != 0
        if not bool(moving.any()):
            return
        index = torch.cat([self.plus[moving], self.minus[moving]])
        backend.program(index, torch.cat([delta[moving], -delta[moving]]))
        self.pulses += 2 * int(delta.abs().sum())

    def program_levels(self, level: torch.Tensor) -> None:
        """From the reset state (all devices at 0): G+ gets k pulses up, G- N-1-k."""
        backend = self._require_backend()
        level = level.to(torch.int64).reshape(-1)
        up = torch.cat([level, self.n_states - 1 - level])
        index = torch.cat([self.plus, self.minus])
        backend.program(index, up)
        self.pulses += int(up.sum())
        self.level = level.reshape(self.shape).clone()

    def follow(self, shadow: torch.Tensor) -> int:
        """In situ: move each pair whose shadow weight crossed a level; returns pulses sent."""
        target = self.crossed_level(shadow)
        before = self.pulses
        self._send(target - self.level)
        self.level = target
        return self.pulses - before

    def read_weights(self) -> torch.Tensor:
        backend = self._require_backend()
        g = backend.read(torch.cat([self.plus, self.minus]))
        span = self.config.device.g_max_S - self.config.device.g_min_S
        w = self.w_max * (g[:self.size] - g[self.size:]) / span
        return w.reshape(self.shape)

    def model_weights(self, level: torch.Tensor) -> torch.Tensor:
        """What the typical device would read after programming ``level`` from reset."""
        device, typical = self.config.device, self._typical
        level = level.reshape(-1).to(torch.int64)
        start = reset_state(device, typical).expand(level.numel()).clone()
        g = [conductance_S(device, advance(device, start, pulses, typical, self._model_generator),
                           typical) for pulses in (level, self.n_states - 1 - level)]
        return (self.w_max * (g[0] - g[1]) / (device.g_max_S - device.g_min_S)).reshape(self.shape)

    def clamp_(self, shadow: torch.Tensor) -> None:
        """Keep the shadow weights within the reachable range (no runaway past w_max)."""
        with torch.no_grad():
            shadow.clamp_(-self.w_max, self.w_max)
