"""Unsupervised stochastic binary STDP with STT-MTJ synapses (issue 16, learning side).

    synapse.py     the calibrated binary synapse: P_sw(V, t) per write direction, the pulse
                   amplitude that gives a chosen probability, typical parameters
    synapses.py    the synapse arrays a network learns on: simulated binary junctions (D2D,
                   stochastic), ideal analog weights (the rule's expectation), and a crossbar
                   on a bench (real pulses, real column currents)
    network.py     winner-take-all spiking layer with adaptive thresholds, the STDP rule, the
                   input encoders, label assignment after training
    experiment.py  ``hil train --network stdp``: digits / MNIST in simulation, the pattern task
                   in situ on the bench crossbar; results.json and the table
"""
