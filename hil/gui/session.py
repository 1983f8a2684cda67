"""The window's bench: bench file, backend, the one VISA library, the status bench.

``BenchSession`` holds the bench file, the backend (``sim`` = the simulated bench, ``visa`` =
real instruments) and the *one* VISA library that every run of the window and the status
panel go through (:func:`procedures.session.visa_library_for`, the same switch the
procedures use). The status panel reads the instruments through a
:class:`drivers.bench.Bench` opened on that library (:meth:`BenchSession.status_bench`), by
the roles' own status methods: every query is counted and retried like a run's, and on a
real bench it shows the real instruments the same way.
"""

from __future__ import annotations

from pathlib import Path

BACKEND_TITLES = {"sim": "simulated bench (in-process VISA library)",
                  "visa": "real instruments (system VISA library)"}


class BenchSession:
    """One bench per window: bench file, backend and the VISA library the runs share."""

    def __init__(self, bench=None, backend: str = "sim", visa_library=None):
        from procedures.session import load_bench, visa_library_for

        # absolute: the path is stored in every results file's header (resume from anywhere)
        self.bench_path = (None if bench in (None, "", "default")
                           else str(Path(bench).expanduser().resolve()))
        self.bench_file = load_bench(self.bench_path)
        self.backend = backend
        self.visa_library = visa_library_for(self.bench_file, backend, visa_library)
        self._status_bench = None

    @property
    def bench_file_parameter(self) -> str:
        """The value of the procedures' "Bench file" parameter for this bench."""
        return self.bench_path or "default"

    @property
    def simulated(self) -> bool:
        return self.backend == "sim"

    def title(self) -> str:
        where = self.bench_path or "built-in default bench"
        return f"{self.bench_file.name} ({where}) - {BACKEND_TITLES.get(self.backend, self.backend)}"

    def virtual_time_s(self) -> float | None:
        """The simulated bench's virtual clock (what a real bench would have taken)."""
        clock = getattr(self.visa_library, "virtual_time_s", None)
        if clock is None:
            return None
        try:
            return float(clock() if callable(clock) else clock)
        except Exception:                     # noqa: BLE001 - a status display never raises
            return None

    def devices(self):
        return self.bench_file.devices()

    def device_facts(self, name: str):
        from procedures.session import device_facts

        return device_facts(self.bench_file, name)

    # ---------------------------------------------------------------- the status bench
    def status_bench(self):
        """The :class:`drivers.bench.Bench` the status panel reads through: opened on first
        use (which puts every output in its safe state, as any bench open does) and kept
        open, so its ``round_trips`` count every status query. Raises what ``Bench.open``
        raises (an instrument that does not answer, no VISA library)."""
        if self._status_bench is None:
            from drivers.bench import Bench

            self._status_bench = Bench.open(self.bench_file, visa_library=self.visa_library)
        return self._status_bench

    def status_round_trips(self) -> int | None:
        """Bus round trips of the status queries so far (None: the status bench is not open)."""
        return None if self._status_bench is None else self._status_bench.round_trips

    def close(self) -> None:
        """Close the status bench's resources (outputs untouched: the runs turn theirs off)."""
        bench, self._status_bench = self._status_bench, None
        if bench is not None:
            bench.close()


__all__ = ["BACKEND_TITLES", "BenchSession"]
