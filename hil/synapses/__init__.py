"""Device-backed weights: multi-level spintronic synapses and CeLU device neurons.

The device's behaviour is a small config object (:mod:`hil.synapses.configs`), apart from the
layers that use it (:mod:`hil.synapses.layers`): a layer is handed a config and an array of
devices that follow it; it never knows which kind it is. Modules:

``configs``     per-kind synapse and neuron configs (states, nonlinearity, write noise, D2D)
``array``       the vectorized device array (torch): states, pulses, conductance reads
``tile``        a layer's weights as conductance pairs on an array: mapping, quantization,
                programming by pulses (in situ, with a noise margin; ex situ, once)
``layers``      DeviceLinear, DeviceConv2d
``neurons``     CeLUDeviceActivation (the ferrimagnet CeLU neuron devices)
``networks``    the all-spin CNN and the synapse MLP, in device and software forms
``calibrated``  configs from a calibration file (hil characterize ltp-ltd / neuron-transfer)
``simulated``   arrays drawn from the simulated bench's truth (the one module here that
                imports the simulator)
``bench``       a bench backend: the same array interface through drivers.synapse over VISA,
                and the measured price of a read, a burst and a pulse
``images``      digits / MNIST (hil.data) and CIFAR-10 from local files, with their shapes
``settings``    the experiment's checked settings and options
``experiment``  ``hil train --network cnn`` / ``synapse-mlp``: results.json and the table
"""
