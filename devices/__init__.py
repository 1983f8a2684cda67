"""What a bench holds, below every other package: the bench file format and the device kinds.

=================  ===========================================================
``benchfile``      the bench file format (instruments, wiring, devices, limits)
``laws``           each kind's physical law, written once for numpy and torch
``kinds``          the device kinds: parameters from geometry, read-out, damage
=================  ===========================================================

``drivers``, ``simulated_bench``, ``procedures`` and ``hil`` all import from here; this
package imports none of them.
"""
