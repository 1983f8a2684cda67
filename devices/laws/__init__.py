"""Each device kind's physical law, written once: numpy for the simulator and the fits, torch
for the surrogate gradients. A kind's module in :mod:`devices.kinds` names its law."""
