"""pyvisa backend ``@spinhil``: the spin-hil simulated bench, in process.

pyvisa imports ``pyvisa_<name>`` for a library spec ``...@<name>`` and uses its
``WRAPPER_CLASS``, so with spin-hil installed::

    pyvisa.ResourceManager("@spinhil")                  # the built-in default bench
    pyvisa.ResourceManager("path/to/bench.toml@spinhil")
    Keithley2450("GPIB0::18::INSTR", visa_library="@spinhil")   # pymeasure

The same name gives the same bench in a process (one lab per bench file);
``pyvisa.highlevel.get_wrapper_class("spinhil").private(bench)`` gives a bench of one's own.
See :class:`simulated_bench.visa.NamedBenchLibrary`.
"""

from simulated_bench.visa import NamedBenchLibrary

WRAPPER_CLASS = NamedBenchLibrary

__all__ = ["WRAPPER_CLASS"]
