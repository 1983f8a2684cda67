"""Spiking networks whose neurons are domain-wall MTJ integrate-fire-reset devices.

``hil train --network snn``: the 8x8 digits rate- (or latency-) coded over a few tens of time
steps, a hidden layer of spiking neurons and a linear readout of their spike counts, trained
as an ideal LIF network in software (snnTorch's ``Leaky``), ex situ on the typical device
and deployed on the variable ones, and in situ with the devices in the forward pass.

Modules, one job each:

- :mod:`hil.snn.devices`: per-device IFR parameters (from a calibration) and the vectorized
  array backend that plays pulse sequences through the domain-wall law (the calibrated model,
  or the simulated truth when fed the chip's true parameters);
- :mod:`hil.snn.simulated`: that backend on a simulated chip's truth (the only module of the
  package that reaches the simulator, through :mod:`hil.simulated`);
- :mod:`hil.snn.bench`: the same sequences through the drivers (pulse generator + read SMU);
- :mod:`hil.snn.layer`: the input -> current-density mapping, the spiking layer (device
  forward, calibrated-model backward with a surrogate spike gradient), the ideal LIF layer;
- :mod:`hil.snn.network`: spike coding and the network;
- :mod:`hil.snn.config`, :mod:`hil.snn.experiment`: the run's settings and the experiment.
"""
