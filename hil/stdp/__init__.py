"""Unsupervised stochastic binary STDP with STT-MTJ synapses (issue 16, learning side).

    synapse.py     the binary synapse: P_sw(V, t) per write direction (devices.laws.stt_switching),
                   the pulse amplitude that gives a chosen probability, typical parameters
    calibrated.py  the synapse model from a calibration file's stt_synapse junctions
    synapses.py    simulated binary junctions (D2D, stochastic) and ideal analog weights
    crossbar.py    the bench crossbar as the synapse array (real pulses, real column currents)
                   and the in-situ pattern task
    network.py     winner-take-all spiking layer with adaptive thresholds, the STDP rule, the
                   input encoders, labels after training
    learning.py    presentations, labelling, accuracy on held-out data
    inputs.py      intensities in [0, 1] from hil.data; the binary pattern task
    config.py      the settings (per-task defaults) and their options
    experiment.py  ``hil train --network stdp``: results.json and the table
"""
