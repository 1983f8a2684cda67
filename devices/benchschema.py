"""Table-driven checks of a parsed TOML table: which keys it may hold, their types and ranges.

A table's schema is a mapping ``key -> Spec``; :func:`check_table` refuses an unknown key
(naming the accepted ones), a missing required key, and a value of the wrong type or out of
its range, and returns the checked values with the defaults of the keys left out. Each
refusal is a ``(path, message)`` pair handed to the caller's ``err``, which adds the file and
the line. Numbers are always finite: ``nan`` and ``inf`` are valid TOML, and an ``inf`` limit
would switch a safety check off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

_MISSING = object()


@dataclass(frozen=True)
class Number:
    """A finite real in ``[low, high]`` (``low`` itself excluded when ``open_low``)."""

    low: float
    high: float
    unit: str = ""
    open_low: bool = False
    default: Any = _MISSING

    def check(self, value) -> tuple[Any, str | None]:
        unit = f" {self.unit}" if self.unit else ""
        bracket = "(" if self.open_low else "["
        rule = f"a finite number in {bracket}{self.low:g}, {self.high:g}]{unit}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be {rule}, got {value!r}"
        low_ok = value > self.low if self.open_low else value >= self.low
        if not (low_ok and value <= self.high):   # NaN fails both
            return None, f"must be {rule}, got {value!r}"
        return float(value), None


@dataclass(frozen=True)
class Integer:
    low: int
    high: int
    what: str = ""        # why the range (e.g. "a 7709 card has 8 columns")
    default: Any = _MISSING

    def check(self, value) -> tuple[Any, str | None]:
        if isinstance(value, bool) or not isinstance(value, int) \
                or not self.low <= value <= self.high:
            why = f" ({self.what})" if self.what else ""
            return None, f"must be an integer {self.low}..{self.high}{why}, got {value!r}"
        return value, None


@dataclass(frozen=True)
class Text:
    """A string; ``choices`` or a ``pattern`` (with ``what`` saying it in words) restrict it."""

    choices: tuple[str, ...] = ()
    pattern: str = ""
    what: str = "a non-empty string"
    default: Any = _MISSING

    def check(self, value) -> tuple[Any, str | None]:
        if self.choices:
            if value not in self.choices:
                return None, f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
            return value, None
        if not isinstance(value, str) or not value \
                or (self.pattern and not re.fullmatch(self.pattern, value)):
            return None, f"must be {self.what}, got {value!r}"
        return value, None


@dataclass(frozen=True)
class Flag:
    default: Any = _MISSING

    def check(self, value) -> tuple[Any, str | None]:
        if not isinstance(value, bool):
            return None, f"must be true or false, got {value!r}"
        return value, None


@dataclass(frozen=True)
class Tables:
    """An array of tables (``[[instrument]]``): a non-empty list of tables."""

    what: str
    required: bool = True

    @property
    def default(self):
        return _MISSING if self.required else []

    def check(self, value) -> tuple[Any, str | None]:
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            return None, f"must be {self.what}"
        return value, None


@dataclass(frozen=True)
class Table:
    """A table (``[wiring]``); its keys are checked by its own schema."""

    what: str

    @property
    def default(self):
        return {}

    def check(self, value) -> tuple[Any, str | None]:
        if not isinstance(value, dict):
            return None, f"must be {self.what}, got {value!r}"
        return value, None


Spec = Number | Integer | Text | Flag | Tables | Table
Err = Callable[[str, str], Exception]


def check_table(data, schema: Mapping[str, Spec], path: str, err: Err,
                what: str = "key", extra: Mapping[str, Spec] | None = None) -> dict[str, Any]:
    """The checked values of table ``data`` at ``path`` (``""`` for the top level): every key
    known to ``schema`` (or ``extra``), every required key present, every value valid."""
    def at(key: str) -> str:
        return f"{path}.{key}" if path else key

    if not isinstance(data, dict):
        raise err(path, f"must be a table, got {data!r}")
    allowed = {**schema, **(extra or {})}
    for key in data:
        if key not in allowed:
            raise err(at(key), f"is not a {what} (accepted: {', '.join(sorted(allowed))})")
    out = {}
    for key, value in data.items():   # in the file's order: the simulator draws in it
        value, problem = allowed[key].check(value)
        if problem:
            raise err(at(key), problem)
        out[key] = value
    for key, spec in schema.items():
        if key not in data and spec.default is _MISSING:
            what = getattr(spec, "what", "")
            hint = f" (it must be {what})" if isinstance(spec, Tables) else ""
            raise err(path or key, f"is missing {key!r}{hint}" if path else f"is missing{hint}")
    for key, spec in schema.items():
        out.setdefault(key, spec.default)
    return out

