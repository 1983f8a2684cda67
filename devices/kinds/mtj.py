"""STT magnetic tunnel junction: a circular junction switched by spin-transfer torque (the
current sign picks the state), read by its tunnel magnetoresistance; always a macrospin."""

from devices.kinds import DeviceKind
from devices.laws import neel_brown

KIND = DeviceKind("mtj", "STT-MTJ (TMR read, current-sign selects the state)", neel_brown,
                  "switching_neuron", spreads=("delta_rel", "ic0_rel", "resistance_rel"))
