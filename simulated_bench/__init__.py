"""The simulated bench: a stand-in lab that instrument code cannot tell from a real one.

=================  ===========================================================
``physics``        Neel-Brown switching law and the vectorized sampler
``chip``           devices from geometry, D2D variability, state, damage
``clock``          the virtual clock and its ordered event queue
``scpi``           SCPI parser, error queue, IEEE 488.2 common commands
``instruments``    81160A, 2450, 2400, 2750/7709 and Kepco BOP simulators
``bench``          ``SimulatedBench``: what is connected to what (the wiring)
``visa``           ``SimulatedVisaLibrary``: a pyvisa VISA library (in process)
``faults``         seeded bus faults for the drivers' retry tests
``server``         ``hil serve``: loopback SCPI sockets for pyvisa-py
=================  ===========================================================

Quick use::

    import pyvisa
    from simulated_bench.visa import SimulatedVisaLibrary

    rm = pyvisa.ResourceManager(SimulatedVisaLibrary())   # the default bench file
    print(rm.open_resource("GPIB0::18::INSTR").query("*IDN?"))
"""
