"""Dead and stuck devices found from their answers, and their neurons moved to healthy ones.

A device that reads open, or is stuck in one state (from the start, or worn past its life),
answers the same whatever current it is written with. :class:`DeviceWatch` (a device
layer's observer: no extra trial) counts, per device, the trials it answered, the switches,
and the trials written above and below its calibrated I50 (t > 0 and t < 0 of each neuron's
mapping, which centres x = 0 on the device's I50). Once a device holds ``min_trials`` trials,
at least ``min_side`` of them on each side of its I50, a device that switched in fewer than
``stuck_fraction`` of them is flagged "stuck at 0" (dead, or stuck in the reset state), one
that switched in more than 1 - ``stuck_fraction`` "stuck at 1"; the counts then start again.
A healthy device, even drifted by a few curve widths, switches in a good part of the trials
above its I50 and in few below; one whose I50 has jumped out of its whole mapping (a large
telegraph jump) answers like a stuck one and is moved too. Comparisons and sums only: the
watch costs a few per cent of a layer's batch.

:class:`Remapper` then moves the neurons of a flagged device, in every layer that uses it, to
the healthy devices of the same set that serve the fewest neurons, and rebuilds those layers
(:meth:`hil.neuron.DeviceNeuron.rebuild`, the weights untouched); each event (which device,
what it answered, when: batch, virtual time) is kept for the run's report.

A checkpoint keeps the watch's counts, the devices flagged and the events
(:meth:`Remapper.state`), and every layer's neuron map and curves (:func:`layer_maps`): a
resumed run neither finds a dead device again nor forgets one it found, and reports each
event once.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from hil.train import array_from_state, array_state
from procedures.calibration import parse_calibration


class DeviceWatch:
    """Per-device answers on both sides of the calibrated I50 (see the module docstring)."""

    def __init__(self, backend_names: Sequence[str], min_trials: int = 1000, min_side: float = 0.1,
                 stuck_fraction: float = 0.01):
        self.names = list(backend_names)
        self.min_trials, self.min_side = int(min_trials), float(min_side)
        self.stuck_fraction = float(stuck_fraction)
        self.counts = np.zeros((3, len(self.names)))     # trials, switches, trials above I50

    def observe(self, layer, t: np.ndarray, answer: np.ndarray) -> None:
        repeats = layer.repeats if layer.training else layer.eval_repeats
        n, idx = len(self.names), layer.device_index
        self.counts[0] += repeats * len(t) * np.bincount(idx, minlength=n)
        self.counts[1] += repeats * np.bincount(idx, weights=answer.sum(axis=0), minlength=n)
        self.counts[2] += repeats * np.bincount(idx, weights=np.count_nonzero(t > 0, axis=0),
                                                minlength=n)

    def check(self) -> dict[str, str]:
        """Devices flagged since the last check: name -> what it answered."""
        trials, switched, above = self.counts
        ready = trials >= self.min_trials
        fraction = switched / np.maximum(trials, 1.0)
        side = above / np.maximum(trials, 1.0)
        both = (side >= self.min_side) & (side <= 1.0 - self.min_side)
        low, high = fraction < self.stuck_fraction, fraction > 1.0 - self.stuck_fraction
        out = {}
        for i in np.flatnonzero(ready & both & (low | high)):
            verdict = "stuck at 0 (dead, or stuck in reset)" if low[i] else "stuck at 1"
            out[self.names[i]] = (f"{verdict}: switched in {fraction[i]:.3f} of {int(trials[i])} "
                                  f"trials, {side[i]:.2f} of them above its I50")
        self.counts[:, ready] = 0.0
        return out

    def state(self) -> dict:
        return {"names": list(self.names), "counts": array_state(self.counts)}

    def set_state(self, saved: dict) -> None:
        if saved["names"] != self.names:
            raise ValueError(f"the device watch counted devices {saved['names']!r:.80}, this "
                             f"run's backend has {self.names!r:.80}")
        counts = array_from_state(saved["counts"], self.counts.shape, "device watch counts")
        if (counts < 0).any():
            raise ValueError("device watch counts hold a negative count")
        self.counts = counts


class Remapper:
    """Moves neurons off flagged devices, in every device layer of a network."""

    def __init__(self, layers: Sequence, devices: Sequence[str], watch: DeviceWatch):
        self.layers = list(layers)
        self.devices = list(devices)          # the devices neurons may be moved to
        self.watch = watch
        self.bad: dict[str, str] = {}
        self.events: list[dict] = []
        for layer in self.layers:
            layer.observers.append(watch.observe)

    def healthy(self) -> list[str]:
        return [d for d in self.devices if d not in self.bad]

    def after_batch(self, batch: int, clock_s: float | None = None) -> list[dict]:
        """Check the watch; remap what it flagged. Returns this batch's events."""
        flagged = {n: why for n, why in self.watch.check().items() if n not in self.bad}
        if not flagged:
            return []
        self.bad.update(flagged)
        healthy = self.healthy()
        load = Counter({d: 0 for d in healthy})
        for layer in self.layers:
            load.update(n for n in layer.neuron_devices if n in load)
        events = []
        for name, why in flagged.items():
            moved = 0
            for layer in self.layers:
                names = list(layer.neuron_devices)
                for j, n in enumerate(names):
                    if n == name and healthy:
                        target = min(healthy, key=lambda d: (load[d], healthy.index(d)))
                        names[j] = target
                        load[target] += 1
                        moved += 1
                if names != layer.neuron_devices:
                    layer.rebuild(neuron_devices=names)
            events.append({"device": name, "answer": why, "batch": int(batch),
                           "virtual_time_s": None if clock_s is None else float(clock_s),
                           "neurons_moved": moved,
                           "to": sorted(healthy) if moved else [],
                           "note": "" if healthy else "no healthy device left: neurons kept"})
        self.events.extend(events)
        return events

    def state(self) -> dict:
        """Plain data: the watch, the devices flagged and the events so far."""
        return {"watch": self.watch.state(), "bad": dict(self.bad),
                "events": [dict(e) for e in self.events]}

    def set_state(self, saved: dict) -> None:
        """Continue from :meth:`state` (the layers' maps come back with :func:`restore_layer_maps`)."""
        bad, events = saved["bad"], saved["events"]
        if not (isinstance(bad, dict) and set(bad) <= set(self.watch.names)
                and all(isinstance(v, str) for v in bad.values())):
            raise ValueError(f"the flagged devices {bad!r:.80} are not devices of this run")
        if not (isinstance(events, list) and all(isinstance(e, dict) and e.get("device") in bad
                                                 for e in events)):
            raise ValueError("the device events do not match the devices flagged")
        self.watch.set_state(saved["watch"])
        self.bad, self.events = dict(bad), [dict(e) for e in events]


def layer_maps(layers: Sequence) -> list[dict]:
    """Each device layer's neuron map and the curves it was last built with (what remapping and
    online refreshes change), as plain data."""
    return [{"neuron_devices": list(layer.neuron_devices),
             "calibration": layer.recipe["calibration"].to_dict()} for layer in layers]


def restore_layer_maps(layers: Sequence, saved: list) -> None:
    """Rebuild ``layers`` as :func:`layer_maps` saw them; a ValueError (no layer changed) when
    the maps do not fit these layers."""
    if not (isinstance(saved, list) and len(saved) == len(layers)):
        raise ValueError(f"{len(saved) if isinstance(saved, list) else saved!r:.40} layer maps "
                         f"saved, this network has {len(layers)} device layers")
    maps = []
    for i, (layer, entry) in enumerate(zip(layers, saved)):
        names = entry["neuron_devices"]
        if not (isinstance(names, list) and len(names) == len(layer.neuron_devices)
                and set(names) <= set(layer.backend.device_names)):
            raise ValueError(f"layer {i}'s saved neuron map does not fit its "
                             f"{len(layer.neuron_devices)} neurons on this run's devices")
        calibration = parse_calibration(entry["calibration"], f"layer {i}'s calibration")
        missing = sorted(set(names) - set(calibration.names()))
        if missing:
            raise ValueError(f"layer {i}'s saved calibration lacks devices {missing[:4]}")
        maps.append((names, calibration))
    for layer, (names, calibration) in zip(layers, maps):
        layer.rebuild(neuron_devices=names, calibration=calibration)
