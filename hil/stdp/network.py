"""A winner-take-all spiking layer that learns by STDP, after the Diehl & Cook (2015) network.

Inputs are spike trains (Poisson, rate proportional to the pixel's intensity; or a held binary
pattern); each output neuron integrates its column's current (:mod:`hil.stdp.synapses`: the
drive in weight units) with a leak. Its threshold is ``threshold + theta``; ``theta`` rises by
``theta_plus`` every time the neuron fires and decays slowly (homeostasis: a neuron that wins
too often becomes harder to excite, so every neuron ends up owning some inputs). At most one
neuron fires per step, the one furthest above its threshold, and it inhibits the others (their
potentials lose the fraction ``inhibition``): lateral inhibition as a hard WTA.

Learning (Querlioz-style stochastic binary STDP): when a neuron fires, each of its synapses
gets one pulse, potentiation if its input spiked within the last ``ltp_window_steps`` steps,
depression otherwise; the synapse array turns that pulse into a switching event with the
calibrated probability (or, for analog weights, into the rule's expectation).

After training (thresholds frozen, no learning) each neuron is labelled with the class it
answers most (mean spike count per class on the training set), and a sample is classified
by the class whose neurons spike most on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WTAParams:
    """The layer's settings, in time steps (1 step ~ 1 ms of the reference network)."""

    n_out: int = 100
    steps: int = 60                 # steps per presentation
    rate_max: float = 0.25          # input spike probability per step at intensity 1
    tau_m_steps: float = 20.0       # membrane leak
    threshold: float = 12.0         # weight units: P synapses of spiking inputs
    theta_plus: float = 0.4         # threshold rise per output spike
    theta_decay: float = 0.999      # factor per presentation (slow homeostasis)
    ltp_window_steps: int = 8       # "input active recently"
    inhibition: float = 1.0         # fraction of the others' potential a spike removes
    retries: int = 3                # a silent presentation is repeated at twice the rate


def poisson_spikes(x: np.ndarray, steps: int, rate_max: float, rng: np.random.Generator) -> np.ndarray:
    """Spike trains (..., steps, n_in) of intensities ``x`` (..., n_in) in [0, 1]."""
    x = np.asarray(x, dtype=float)
    shape = x.shape[:-1] + (steps, x.shape[-1])
    return rng.random(shape) < (np.clip(x, 0.0, 1.0) * rate_max)[..., None, :]


def held_pattern(x: np.ndarray, steps: int) -> np.ndarray:
    """A binary pattern held on the inputs for every step (the bench drives rows at V_read)."""
    on = np.asarray(x) > 0.5
    return np.broadcast_to(on[..., None, :], on.shape[:-1] + (steps, on.shape[-1]))


class WTALayer:
    """Output neurons over a synapse array (see the module doc)."""

    def __init__(self, params: WTAParams, synapses):
        if synapses.n_out != params.n_out:
            raise ValueError(f"synapse array has {synapses.n_out} columns, the layer {params.n_out} neurons")
        self.params = params
        self.synapses = synapses
        self.theta = np.zeros(params.n_out)
        self.post_spikes = 0

    def present(self, spikes: np.ndarray, learn: bool) -> np.ndarray:
        """One presentation (steps x n_in spikes); the spike count of each neuron."""
        p = self.params
        decay = np.exp(-1.0 / p.tau_m_steps)
        v = np.zeros(p.n_out)
        counts = np.zeros(p.n_out, dtype=np.int64)
        last = np.full(spikes.shape[1], -(10 ** 9))
        threshold = p.threshold + self.theta
        frame, drive = None, None
        for t in range(spikes.shape[0]):
            s = spikes[t]
            last[s] = t
            if frame is None or not np.array_equal(s, frame):   # a held input is read once
                frame, drive = s, self.synapses.drive(s.astype(float))
            v = v * decay + drive
            over = v - threshold
            k = int(np.argmax(over))
            if over[k] < 0:
                continue
            counts[k] += 1
            v *= 1.0 - p.inhibition
            v[k] = 0.0
            if learn:
                self.theta[k] += p.theta_plus
                threshold[k] += p.theta_plus
                self.synapses.update(k, (t - last) < p.ltp_window_steps)
                frame = None                  # the weights moved: read again
        if learn:
            self.theta *= p.theta_decay
            self.post_spikes += int(counts.sum())
        return counts

    def respond(self, spikes: np.ndarray) -> np.ndarray:
        """Spike counts (B, n_out) of a batch (B, steps, n_in), no learning. Arrays that hold
        their weights in memory run the whole batch at once; a bench reads per sample."""
        if not getattr(self.synapses, "in_memory", False):
            return np.stack([self.present(s, learn=False) for s in spikes])
        p = self.params
        w = self.synapses.weights()
        decay = np.exp(-1.0 / p.tau_m_steps)
        threshold = p.threshold + self.theta
        batch = spikes.shape[0]
        rows = np.arange(batch)
        v = np.zeros((batch, p.n_out))
        counts = np.zeros((batch, p.n_out), dtype=np.int64)
        for t in range(spikes.shape[1]):
            v = v * decay + spikes[:, t].astype(float) @ w
            over = v - threshold
            k = np.argmax(over, axis=1)
            fire = over[rows, k] >= 0
            counts[rows[fire], k[fire]] += 1
            v[fire] *= 1.0 - p.inhibition
            v[rows[fire], k[fire]] = 0.0
        return counts


def assign_labels(counts: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Each neuron's class: the one it answers with the highest mean spike count (-1: silent)."""
    rates = np.stack([counts[y == c].mean(axis=0) if np.any(y == c) else np.zeros(counts.shape[1])
                      for c in range(n_classes)])
    labels = rates.argmax(axis=0)
    labels[rates.max(axis=0) <= 0] = -1
    return labels


def predict(counts: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The class whose labelled neurons spike most on average (a class with none scores -1)."""
    scores = np.full((counts.shape[0], n_classes), -1.0)
    for c in range(n_classes):
        mine = labels == c
        if mine.any():
            scores[:, c] = counts[:, mine].mean(axis=1)
    return scores.argmax(axis=1)
