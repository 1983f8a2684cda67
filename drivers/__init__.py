"""Instrument roles over pymeasure drivers, with safety limits checked before any write.

=================  ===========================================================
``roles``          ``PulseSource``, ``SourceMeter``, ``SwitchMatrix``,
                   ``FieldSource`` protocols
``limits``         ``LimitViolation``: refuse, never clip
``pulse``          81160A as a pulse source (pulse and arbitrary waveforms)
``sourcemeter``    2450 / 2400 as source meters (buffered trigger model)
``switch``         2750 + 7709 matrix as a switch matrix
``field``          Kepco BOP as a calibrated field source
``batch``          N write-read trials in O(1) bus round trips
``faults``         bounded, idempotent retries and reconnects
``transport``      opening resources, counting round trips, clear errors
``bench``          ``Bench``: roles from a bench file, outputs off on every exit
=================  ===========================================================

This package never imports ``simulated_bench``: a simulated bench is only a VISA library
handed to :meth:`drivers.bench.Bench.open`, so the code path is the real one.
"""
