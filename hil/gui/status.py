"""What the bench status panel shows of each instrument, read through the bench's roles.

Every query is a role method of :mod:`drivers.roles` (``identity()``, ``output_is_on()``, the
matrix's ``closed_channels()``, the magnet's ``measured_field_T()``) called on the session's
status :class:`~drivers.bench.Bench`: it is counted in that bench's ``round_trips`` and
retried as the drivers retry any idempotent query. Nothing here speaks SCPI.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class InstrumentState:
    address: str
    model: str
    role: str
    idn: str = ""
    outputs: dict[str, bool | str] = field(default_factory=dict)
    error: str = ""

    @property
    def any_on(self) -> bool:
        return any(v is True for v in self.outputs.values())

    def output_text(self) -> str:
        if self.error:
            return "?"
        if not self.outputs:
            return "-"
        return ", ".join(f"{k} {'ON' if v is True else 'OFF' if v is False else v}"
                         for k, v in self.outputs.items())


def short_idn(idn: str) -> str:
    """``*IDN?`` as a table cell: maker, model and serial number (the full reply in a tooltip)."""
    fields = [f.strip() for f in idn.split(",")]
    if len(fields) < 3:
        return idn
    maker = fields[0].split()[0].title() if fields[0] else ""
    return f"{maker} {fields[1]}, s/n {fields[2]}"


def _outputs(role_name: str, role, pulse_channel: int) -> dict[str, bool | str]:
    """The output state of one role (one query; the magnet two: output and field)."""
    if role_name == "switch":
        closed = role.closed_channels()
        return {"closed": ",".join(str(c) for c in closed) if closed else "none"}
    label = f"OUT{pulse_channel}" if role_name == "pulse" else "output"
    outputs: dict[str, bool | str] = {label: role.output_is_on()}
    if role_name == "magnet":
        outputs["field"] = f"{role.measured_field_T() * 1e3:.3g} mT"
    return outputs


def read_status(session) -> list[InstrumentState]:
    """Identify every instrument of the session's bench file and read its output state.

    Call it only while no run is using the bench (the window checks): the queries share the
    bus with the runs. A failure is reported per instrument (or, when the bench cannot be
    opened, on every row), never raised.
    """
    from drivers.bench import ROLE_ATTRIBUTES

    states = [InstrumentState(e.address, e.model, e.role) for e in session.bench_file.instruments]
    try:
        bench = session.status_bench()
    except Exception as exc:                  # noqa: BLE001 - shown in the panel
        for state in states:
            state.error = f"the bench did not open: {exc}"
        return states
    channel = bench.config.wiring.pulse_channel
    for state in states:
        try:
            role = getattr(bench, ROLE_ATTRIBUTES[state.role])
            state.idn = role.identity()
            state.outputs = _outputs(state.role, role, channel)
        except Exception as exc:              # noqa: BLE001 - one instrument, shown in its row
            state.error = f"{state.model} at {state.address} did not answer: {exc}"
    return states


__all__ = ["InstrumentState", "read_status", "short_idn"]
