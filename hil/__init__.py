"""Learning with devices in the loop, and the ``hil`` command.

=================  ===========================================================
``neuron``         ``DeviceNeuron``: device switch events forward, calibrated
                   surrogate gradient backward (an ``autograd.Function``)
``surrogate``      dP/dI of a calibrated switching curve
``backends``       simulated array (default), bench (drivers + VISA), model
``calibration``    calibrated curves as the learning code uses them
``safety``         the largest write current a neuron may ask for
``network``        inputs -> linear -> device neurons -> linear readout
``data``           8x8 digits (shipped) or MNIST from local IDX files
``train``          seeded loop, checkpoints, resume
``config``         ``ExperimentConfig``: the experiment's settings, typed and checked
``experiment``     software vs ex-situ vs in-situ, per size and variability
``report``         results table, CSV, JSON, PNG
``cli`` ``demo``   ``hil ...`` commands; ``benchinfo`` for ``hil bench show``
``gui*``           the lab window (pymeasure ManagedWindow)
=================  ===========================================================
"""
