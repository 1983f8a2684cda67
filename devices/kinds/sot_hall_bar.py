"""SOT Hall bar: heavy metal (Ta) / perpendicular ferromagnet (CoFeB) cross, switched by a
spin-orbit-torque current pulse under an in-plane bias field, read by the anomalous Hall
effect. Small bars reverse as one macrospin (binary reading), big ones by many independent
nucleation regions (the reading is the switched fraction)."""

from devices.kinds import DeviceKind
from devices.laws import neel_brown

KIND = DeviceKind("sot_hall_bar", "SOT Hall bar (AHE read, bias-field assisted)", neel_brown,
                  "switching_neuron", spreads=("delta_rel", "ic0_rel", "resistance_rel"))
