"""Domain-wall MTJ integrate-fire-reset neuron: one wall on a PMA ferromagnet / heavy-metal
track, moved by current pulses (it integrates), read by an MTJ near the track's end (it fires
when the wall passes under it), reset by ejecting the wall and a reverse pulse.

The track's design geometry is the bench file's to say (``track_length_m``, ``mtj_offset_m``,
``hm_thickness_m`` in a ``[[chip.group]]``, defaults here): the simulator builds its truth
from it and the procedures turn a fitted rate per pulse into a mobility with it, so both
read it from this module, below them.
"""

from dataclasses import dataclass

from devices.benchschema import Number
from devices.kinds import DeviceKind
from devices.laws import domain_wall


def _positive(high: float, unit: str) -> Number:
    return Number(0.0, high, unit, open_low=True)


KIND = DeviceKind(
    "dw_mtj_ifr_neuron",
    "DW-MTJ integrate-fire-reset neuron (wall on a track, MTJ read near its end)",
    domain_wall, "ifr_neuron",
    spreads=("jdep_rel", "mu_rel", "length_rel", "reset_fail_rel", "resistance_rel"),
    parameters={   # the keys of its truth's DEFAULTS, each with its range
        "track_length_m": _positive(1e-4, "m"),
        "mtj_offset_m": _positive(1e-4, "m"),
        "hm_thickness_m": _positive(1e-7, "m"),
        "fm_thickness_m": _positive(1e-7, "m"),
        "anisotropy_J_m3": _positive(1e7, "J/m^3"),
        "saturation_A_m": _positive(1e7, "A/m"),
        "resistivity_ohm_m": _positive(1e-3, "ohm m"),
        "series_resistance_ohm": Number(0.0, 1e8, "ohm"),
        "depinning_density_A_m2": _positive(1e14, "A/m^2"),
        "mobility_m3_per_A_s": _positive(1e-6, "m/s per A/m^2"),
        "pinning_rel": Number(0.0, 0.5, ""),
        "leak_time_s": _positive(1e6, "s"),          # leave it out for no leak
        "pin_site_m": Number(0.0, 1e-4, "m"),        # 0: no strong pinning site
        "pin_depinning_rel": Number(1.0, 100.0, ""),
        "reset_density_A_m2": _positive(1e14, "A/m^2"),
        "reset_fail_probability": Number(0.0, 0.5, ""),
        "mtj_diameter_m": _positive(1e-5, "m"),
        "ra_ohm_m2": _positive(1e-6, "ohm m^2"),
        "tmr": _positive(100.0, ""),
        "tmr_half_bias_V": _positive(100.0, "V"),
        "read_noise_ohm": Number(0.0, 1e6, "ohm"),
        "tau0_s": _positive(1e-3, "s"),
        "exponent": _positive(4.0, ""),
        "temperature_K": _positive(1000.0, "K"),
        "electromigration_A_m2": _positive(1e14, "A/m^2"),
    })

GEOMETRY_DEFAULTS = {
    "track_length_m": 2.0e-6,       # start notch to the track end
    "mtj_offset_m": 0.2e-6,         # the MTJ's centre, measured back from the track end
    "hm_thickness_m": 5e-9,         # the heavy metal that carries the write current
}


@dataclass(frozen=True)
class TrackGeometry:
    width_m: float
    length_m: float
    mtj_offset_m: float
    hm_thickness_m: float

    @property
    def mtj_distance_m(self) -> float:
        """How far the wall travels from the start notch to fire: L - offset."""
        return self.length_m - self.mtj_offset_m

    @property
    def cross_section_m2(self) -> float:
        """The write current's cross-section: width x heavy-metal thickness."""
        return self.width_m * self.hm_thickness_m


def geometry(group) -> TrackGeometry:
    """The design geometry of a bench-file group of this kind (before D2D spread)."""
    p = {**GEOMETRY_DEFAULTS, **{k: v for k, v in group.params.items() if k in GEOMETRY_DEFAULTS}}
    if not 0 < p["mtj_offset_m"] < p["track_length_m"]:
        from devices.benchfile import BenchFileError   # (benchfile imports this package)
        raise BenchFileError(f"group {group.size!r}: mtj_offset_m {p['mtj_offset_m']:g} m must lie "
                             f"inside the track (0 < offset < track_length_m "
                             f"{p['track_length_m']:g} m); fix the group in the bench file")
    return TrackGeometry(float(group.width_m), float(p["track_length_m"]),
                         float(p["mtj_offset_m"]), float(p["hm_thickness_m"]))
