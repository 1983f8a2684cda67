"""Each device kind's truth in the simulator, one module per kind named as in the bench file.

A module gives the kind's material defaults (``DEFAULTS``), its per-size physics before
device-to-device spread (``nominal_parameters``), and how one device answers a pulse and a
read (``switch_target``, ``damage``, ``write_path_resistance``, ``read_resistance``).
:class:`~simulated_bench.chip.Chip` keeps every device's parameters in flat arrays and asks
the device's kind module for the rest: a new kind is a new module here, no switch elsewhere.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from devices import kinds

SHORT_OHM = 2.0          # a broken-down barrier
OPEN_OHM = 1e12          # an electromigrated line

#: the pulse width at which ``hil bench show`` quotes a switch's I50
REFERENCE_WIDTH_S = 10e-9


def neel_brown_describe(chip, idx) -> list[tuple[str, int, str]]:
    """``hil bench show`` columns (title, width, text) of a Neel-Brown switch's truth (a
    kind module's ``describe``; the domain wall has its own)."""
    from devices.laws import neel_brown
    i50 = neel_brown.current_for_probability(0.5, REFERENCE_WIDTH_S, chip.ic0_A[idx],
                                             chip.delta[idx], chip.tau0_s[idx], chip.exponent[idx])
    return [("width", 8, f"{chip.width_m[idx] * 1e9:>6.0f}nm"), ("Delta", 6, f"{chip.delta[idx]:.1f}"),
            ("Ic0 uA", 8, f"{chip.ic0_A[idx] * 1e6:.2f}"), ("I50 uA", 8, f"{float(i50) * 1e6:.2f}"),
            ("domains", 7, f"{int(chip.n_domains[idx])}"),
            ("R_line", 8, f"{chip.line_resistance_ohm[idx]:.0f}"),
            ("R_off|R_P", 9, f"{chip.r_offset_ohm[idx]:.6g}"),
            ("R_AHE|TMR", 9, f"{chip.r_ahe_ohm[idx]:.3f}"), ("Hk mT", 6, f"{chip.hk_T[idx] * 1e3:.1f}")]


NEEL_BROWN_NOTE = (
    f"  (I50 at {REFERENCE_WIDTH_S * 1e9:g} ns; R_line: write line, for an MTJ the leads in series "
    "with the junction; R_off|R_P: Hall offset of a bar, R_P of a junction;",
    "   R_AHE|TMR: AHE step in ohm of a bar, zero-bias TMR of a junction; Hk = 2 Ku / Ms)")


def electromigration(chip, idx, current_A, line: str = "line") -> tuple[str, str] | None:
    """("open", cause) when a pulse's current density through a metal ``line`` is over the
    device's electromigration limit, else None: the damage law of every kind written on a
    heavy-metal line (an SOT bar, a domain-wall track)."""
    density = abs(current_A) / chip.cross_section_m2[idx]
    if not density > chip.damage_limit[idx]:
        return None
    return "open", (f"electromigration of the {line}: {density:.3g} A/m^2 over the "
                    f"{chip.damage_limit[idx]:.3g} A/m^2 limit ({current_A:.3g} A)")


@cache
def truth(kind: str) -> ModuleType:
    """The simulator's module for device kind ``kind`` (checked against :mod:`devices.kinds`)."""
    kinds.kind(kind)
    return importlib.import_module(f"{__name__}.{kind}")
