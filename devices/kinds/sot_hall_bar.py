"""SOT Hall bar: heavy metal (Ta) / perpendicular ferromagnet (CoFeB) cross, switched by a
spin-orbit-torque current pulse under an in-plane bias field, read by the anomalous Hall
effect. Small bars reverse as one macrospin (binary reading), big ones by many independent
nucleation regions (the reading is the switched fraction)."""

from devices.benchschema import Number
from devices.kinds import NEEL_BROWN_PARAMETERS, DeviceKind
from devices.laws import neel_brown

KIND = DeviceKind("sot_hall_bar", "SOT Hall bar (AHE read, bias-field assisted)", neel_brown,
                  "switching_neuron", spreads=("delta_rel", "ic0_rel", "resistance_rel"),
                  parameters={
                      **NEEL_BROWN_PARAMETERS,
                      "hm_thickness_m": Number(0.0, 1e-6, "m", open_low=True),
                      "nucleation_diameter_m": Number(0.0, 1e-4, "m", open_low=True),
                      "resistivity_ohm_m": Number(0.0, 1e-3, "ohm m", open_low=True),
                      "squares": Number(0.0, 1e4, "", open_low=True),
                      "r_offset_ohm": Number(-1e6, 1e6, "ohm"),   # a Hall offset has either sign
                      "r_ahe_ohm": Number(0.0, 1e6, "ohm", open_low=True),
                      "min_bias_field_T": Number(0.0, 10.0, "T"),
                      "electromigration_A_m2": Number(0.0, 1e14, "A/m^2", open_low=True),
                  })
