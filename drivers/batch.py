"""Batched write-read trials: N trials in O(1) bus round trips, and their result.

A trial is: a reset pulse (puts the device in its reference state), a write pulse of the
trial's amplitude, a read. The batch is planned here, checked against the device's limits as
a whole before anything is written, run through the instruments' own sequencing (see
:func:`run_trials`), retried as a whole on a bus fault, and returned as one
:class:`TrialBatch` in which every trial appears exactly once.

Two calibration trials open every batch: amplitude 0 (reset only: the reset state) and
amplitude ``-reset_V`` (the opposite state). Their readings give the threshold midway
between the two states against which each trial is called switched, and the switched
fraction (0 = reset state, 1 = opposite state), which is what a multi-domain Hall bar
reports after a partial reversal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrialBatch:
    """The trials of one batch, in order: each amplitude ``repeats`` times, level-major."""

    device: str
    width_s: float
    reset_V: float
    read_current_A: float
    amplitude_V: np.ndarray          # per trial
    resistance_ohm: np.ndarray       # per trial
    trial_id: np.ndarray             # per trial, unique over the bench's lifetime
    reset_state_ohm: float
    set_state_ohm: float
    round_trips: int = 0
    projected_time_s: float = 0.0
    attempts: int = 1
    meta: dict = field(default_factory=dict)

    @property
    def threshold_ohm(self) -> float:
        return 0.5 * (self.reset_state_ohm + self.set_state_ohm)

    @property
    def contrast_ohm(self) -> float:
        return self.set_state_ohm - self.reset_state_ohm

    @property
    def switched(self) -> np.ndarray:
        """True where the reading is on the far side of the threshold from the reset state."""
        if self.contrast_ohm == 0:
            return np.zeros(len(self.resistance_ohm), dtype=bool)
        return (self.resistance_ohm - self.threshold_ohm) * np.sign(self.contrast_ohm) > 0

    @property
    def switched_fraction(self) -> np.ndarray:
        """(R - R_reset) / (R_set - R_reset), clipped to [0, 1] (partial reversal)."""
        if self.contrast_ohm == 0:
            return np.zeros(len(self.resistance_ohm))
        return np.clip((self.resistance_ohm - self.reset_state_ohm) / self.contrast_ohm, 0.0, 1.0)

    def __len__(self) -> int:
        return len(self.amplitude_V)

    def switching_probability(self) -> dict[float, float]:
        """Fraction of switched trials per distinct amplitude."""
        out = {}
        for amplitude in dict.fromkeys(self.amplitude_V.tolist()):
            mask = self.amplitude_V == amplitude
            out[float(amplitude)] = float(self.switched[mask].mean())
        return out

    @property
    def round_trips_per_trial(self) -> float:
        return self.round_trips / max(len(self), 1)
