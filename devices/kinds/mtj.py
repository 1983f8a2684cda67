"""STT magnetic tunnel junction: a circular junction switched by spin-transfer torque (the
current sign picks the state), read by its tunnel magnetoresistance; always a macrospin."""

from devices.benchschema import Number
from devices.kinds import NEEL_BROWN_PARAMETERS, DeviceKind
from devices.laws import neel_brown

KIND = DeviceKind("mtj", "STT-MTJ (TMR read, current-sign selects the state)", neel_brown,
                  "switching_neuron", spreads=("delta_rel", "ic0_rel", "resistance_rel"),
                  parameters={
                      **NEEL_BROWN_PARAMETERS,
                      "ra_ohm_m2": Number(0.0, 1e-6, "ohm m^2", open_low=True),
                      "tmr": Number(0.0, 100.0, "", open_low=True),
                      "tmr_half_bias_V": Number(0.0, 100.0, "V", open_low=True),
                      "breakdown_V": Number(0.0, 100.0, "V", open_low=True),
                  })
