"""The synapse arrays the STDP network learns on: n_in input rows x n_out output columns.

Each gives ``drive(active)`` (the column currents for the active inputs, in weight units: a P
junction of the typical conductances adds 1, an AP one 0) and ``update(col, potentiate)``
(one STDP event on the synapses of output ``col``: a potentiation pulse on the rows where
``potentiate`` is True, a depression pulse on the others).

:class:`DeviceSynapses`
    simulated binary junctions of a calibrated :class:`~hil.stdp.synapse.SynapseModel`, each
    drawn with the model's D2D spreads; a pulse switches a junction with its own P_sw at the
    amplitude the rule chose (numpy, vectorized over the rows);
:class:`AnalogSynapses`
    the ideal analog reference: continuous weights in [0, 1] moved by the rule's expectation,
    w += p_ltp (1 - w) or w -= p_ltd w, the typical probabilities, no spread.

The bench crossbar (real pulses, real column currents) is :mod:`hil.stdp.crossbar`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.laws import stt_switching
from hil.stdp.synapse import TO_AP, TO_P, SynapseModel, SynapseModelError


@dataclass(frozen=True)
class PulseRule:
    """The stochastic STDP rule as two write pulses of one width: potentiation (toward P)
    switches the typical junction with ``ltp_probability``, depression with ``ltd_probability``."""

    ltp_probability: float = 0.10
    ltd_probability: float = 0.05
    width_s: float = 100e-9

    def amplitudes(self, model: SynapseModel, max_amplitude_V: float | None = None) -> tuple[float, float]:
        """(V_ltp, V_ltd): the pulse amplitudes from the calibrated typical laws."""
        return (model.pulse(TO_P, self.ltp_probability, self.width_s, max_amplitude_V),
                model.pulse(TO_AP, self.ltd_probability, self.width_s, max_amplitude_V))


def _spread(rng, typical: float, rel: float, shape) -> np.ndarray:
    """Junction-to-junction draw: lognormal around the typical value (stays positive)."""
    if not rel:
        return np.full(shape, float(typical))
    return typical * np.exp(rng.normal(0.0, rel, shape) - rel ** 2 / 2)


class DeviceSynapses:
    """Binary junctions with D2D spread, switched stochastically by the rule's pulses."""

    binary = True
    in_memory = True     # the weights are arrays here: a batch runs at once

    def __init__(self, model: SynapseModel, n_in: int, n_out: int, rule: PulseRule,
                 rng: np.random.Generator, initial_p_fraction: float = 0.5):
        if not 0.0 <= initial_p_fraction <= 1.0:
            raise SynapseModelError(f"initial P fraction {initial_p_fraction!r} must lie in [0, 1]")
        self.model, self.rule, self.rng = model, rule, rng
        self.n_in, self.n_out = n_in, n_out
        shape = (n_in, n_out)
        s = model.spreads
        self.ltp_V, self.ltd_V = rule.amplitudes(model)
        # each junction's own law, evaluated once at the two amplitudes the rule plays
        self.p_ltp = self._junction_probability(model.to_p, self.ltp_V, shape, s)
        self.p_ltd = self._junction_probability(model.to_ap, self.ltd_V, shape, s)
        self._w_p = model.weight_of(_spread(rng, model.g_p_S, s.get("g_rel", 0.0), shape))
        self._w_ap = model.weight_of(_spread(rng, model.g_ap_S, s.get("g_rel", 0.0), shape))
        self.state = rng.random(shape) < initial_p_fraction      # True: P
        self._w = np.where(self.state, self._w_p, self._w_ap)
        self.pulses = 0
        self.switches = 0

    def _junction_probability(self, law, amplitude_V, shape, s) -> np.ndarray:
        vc = _spread(self.rng, law.vc_V, s.get("vc_rel", 0.0), shape)
        delta = _spread(self.rng, law.delta, s.get("delta_rel", 0.0), shape)
        return stt_switching.probability(amplitude_V, self.rule.width_s, vc, delta, law.tau0_s,
                                         law.exponent)

    def weights(self) -> np.ndarray:
        return self._w

    def drive(self, active: np.ndarray) -> np.ndarray:
        return active @ self._w

    def update(self, col: int, potentiate: np.ndarray) -> None:
        state = self.state[:, col]
        u = self.rng.random(self.n_in)
        up = potentiate & ~state & (u < self.p_ltp[:, col])
        down = ~potentiate & state & (u < self.p_ltd[:, col])
        state = (state | up) & ~down
        self.state[:, col] = state
        self._w[:, col] = np.where(state, self._w_p[:, col], self._w_ap[:, col])
        self.pulses += self.n_in
        self.switches += int(up.sum() + down.sum())


class AnalogSynapses:
    """Ideal analog weights moved by the expectation of the binary rule (no spread, no noise)."""

    binary = False
    in_memory = True

    def __init__(self, n_in: int, n_out: int, rule: PulseRule, rng: np.random.Generator,
                 initial_p_fraction: float = 0.5):
        self.n_in, self.n_out = n_in, n_out
        self.rule = rule
        # the same mean as the binary array's start, spread uniformly
        self._w = np.clip(rng.random((n_in, n_out)) * 2 * initial_p_fraction, 0.0, 1.0)
        self.pulses = 0
        self.switches = 0

    def weights(self) -> np.ndarray:
        return self._w

    def drive(self, active: np.ndarray) -> np.ndarray:
        return active @ self._w

    def update(self, col: int, potentiate: np.ndarray) -> None:
        w = self._w[:, col]
        self._w[:, col] = np.where(potentiate, w + self.rule.ltp_probability * (1.0 - w),
                                   w - self.rule.ltd_probability * w)
        self.pulses += self.n_in
