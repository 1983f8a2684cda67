"""Numbers with units as the lab window shows them (SI prefixes, value ± error)."""

from __future__ import annotations

import math

import pyqtgraph as pg


def fmt_si(value: float, unit: str, precision: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return pg.siFormat(value, suffix=unit, precision=precision)


def fmt_err(value: float, err: float, unit: str) -> str:
    """``(value ± err) unit`` on the value's SI prefix, the error to 2 significant digits."""
    if not (math.isfinite(value) and math.isfinite(err) and err > 0):
        return fmt_si(value, unit)
    scale, prefix = pg.siScale(value)
    v, e = value * scale, err * scale
    decimals = min(max(1 - math.floor(math.log10(e)), 0), 9)
    return f"({v:.{decimals}f} ± {e:.{decimals}f}) {prefix}{unit}"


_UNIT_SUFFIXES = (("_A_m2", "A/m²"), ("_ohm", "Ω"), ("_T", "T"), ("_A", "A"), ("_s", "s"),
                  ("_V", "V"))


def format_summary(summary: dict) -> str:
    """A procedure's result summary as one readable line, with units."""
    parts = []
    for key, value in summary.items():
        label, unit = key, ""
        for suffix, u in _UNIT_SUFFIXES:
            if key.endswith(suffix):
                label, unit = key[: -len(suffix)], u
                break
        label = label.replace("_", " ")
        if isinstance(value, float):
            text = (fmt_si(value, unit) if unit and unit != "A/m²"
                    else f"{value:.4g}{' ' + unit if unit else ''}")
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v}" for k, v in value.items())
        else:
            text = str(value)
        parts.append(f"{label} = {text}")
    return "Result: " + "; ".join(parts)


def split_units(column: str) -> tuple[str, str | None]:
    if column.endswith(")") and "(" in column:
        label, units = column[:-1].rsplit("(", 1)
        units = units.replace("**2", "²")
        return label.strip(), units
    return column, None


__all__ = ["fmt_err", "fmt_si", "format_summary", "split_units"]
