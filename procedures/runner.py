"""Run a procedure into a pymeasure Results CSV, append + flush per point, resumable.

pymeasure's own ``Worker`` records through a logging queue and a "resume" that restarts a
queue; a run killed with ``kill -9`` would lose whatever sat in that queue. Here every
emitted point is formatted by pymeasure's ``Results`` and appended to the CSV with a flush
before the procedure moves on, so the file on disk is always a valid Results file holding
every finished point (a line cut by a kill mid-write is dropped on resume).

Resume: each procedure names the columns that identify a point (``KEY_COLUMNS``). With
``resume=True`` the runner checks that the file was written by the same procedure with the
same parameters, reads its points, and hands them to the procedure as ``procedure.done``;
the procedure re-uses them instead of measuring again and measures only what is missing.
So a finished run contains every planned point exactly once.

Stop: setting ``stop`` (a ``threading.Event``) ends the run before the procedure's next bench
operation (:mod:`procedures.stopping`); the outcome's status is then "aborted" and every
point measured so far is on disk, ready for ``resume=True``.

The same procedures also run under a pymeasure ``Worker`` / ``ManagedWindow`` (GUI): there
``procedure.done`` is empty and ``emit`` / ``should_stop`` are the Worker's.
"""

from __future__ import annotations

import csv
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pymeasure.experiment import Procedure, Results

from procedures.session import ParameterError
from procedures.stopping import RunAborted


@dataclass
class RunOutcome:
    path: Path
    rows: list[dict]
    measured: int           # points measured in this run
    reused: int             # points found on disk (resume)
    status: str
    extra: dict = field(default_factory=dict)


def normalize(value):
    """A key value as it round-trips through the CSV: ints as ints, other numbers as floats."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value) and float(value).is_integer():
            return int(value)
        return float(value)
    return value


def point_key(row: dict, columns) -> tuple:
    return tuple(normalize(row[c]) for c in columns)


def _repair_tail(path: Path) -> int:
    """Drop a last line cut by a kill mid-write (no trailing newline). Returns bytes dropped."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        block = min(size, 1 << 16)
        fh.seek(size - block)
        tail = fh.read(block)
        cut = tail.rfind(b"\n")
        keep = size - block + cut + 1 if cut >= 0 else 0
        fh.truncate(keep)
        return size - keep


def read_points(path: Path) -> tuple[list[str], list[dict]]:
    """Column names and data rows (numbers as floats, text as str) of a Results CSV."""
    with open(path, newline="", encoding=Results.ENCODING) as fh:
        lines = (line for line in fh if not line.startswith(Results.COMMENT))
        reader = csv.reader(lines)
        try:
            columns = next(reader)
        except StopIteration:
            return [], []
        rows = []
        for values in reader:
            if len(values) != len(columns):
                continue          # a torn line (only possible as the last one)
            rows.append({c: normalize(v) for c, v in zip(columns, values)})
    return columns, rows


def _stored_parameters(path: Path, procedure_class) -> dict:
    header = []
    with open(path, encoding=Results.ENCODING) as fh:
        for line in fh:
            if not line.startswith(Results.COMMENT):
                break
            header.append(line.strip("\t\v\n\r\f"))
    stored = Results.parse_header("\n".join(header), procedure_class)
    return stored.parameter_values()


def run_procedure(procedure: Procedure, data_path: str | Path, resume: bool = False,
                  progress: Callable[[float], None] | None = None,
                  stop: threading.Event | None = None) -> RunOutcome:
    """Validate, then run ``procedure`` writing ``data_path``; see the module doc for resume."""
    if hasattr(procedure, "validate"):
        procedure.validate()                       # ParameterError before any file or bus I/O
    path = Path(data_path)
    columns = list(procedure.DATA_COLUMNS)
    key_columns = tuple(getattr(procedure, "KEY_COLUMNS", ()))
    done: dict[tuple, dict] = {}
    if path.exists() and not resume and not read_points(path)[1]:
        path.unlink()                      # a run that recorded no point: start it afresh
    if path.exists() and path.stat().st_size > 0:
        if not resume:
            raise ParameterError(
                f"{path} already exists: pass --resume (resume=True) to finish that run, or "
                f"choose another output directory")
        _repair_tail(path)
        stored = _stored_parameters(path, type(procedure))
        wanted = procedure.parameter_values()
        changed = {k: (stored.get(k), v) for k, v in wanted.items()
                   if str(stored.get(k)) != str(v)}
        if changed:
            detail = ", ".join(f"{k}: file has {a!r}, asked {b!r}" for k, (a, b) in changed.items())
            raise ParameterError(f"cannot resume {path}: it was written with other parameters "
                                 f"({detail}); rerun with the file's parameters or choose "
                                 f"another output directory")
        file_columns, rows = read_points(path)
        if file_columns != columns:
            raise ParameterError(f"cannot resume {path}: its columns {file_columns} are not "
                                 f"those of {type(procedure).__name__} {columns}")
        for row in rows:
            done[point_key(row, key_columns)] = row
        results = Results(procedure, str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        results = Results(procedure, str(path))
    reused = len(done)
    written: list[dict] = []
    stop = stop or threading.Event()
    fh = open(path, "a", encoding=Results.ENCODING)  # noqa: SIM115 - closed in the finally below

    def emit(topic, record):
        if topic == "results":
            fh.write(results.format(record) + Results.LINE_BREAK)
            fh.flush()
            written.append(record)
        elif topic == "progress" and progress is not None:
            progress(float(record))

    procedure.emit = emit
    procedure.should_stop = stop.is_set
    procedure.is_last = lambda: True
    procedure.done = done
    procedure.status = Procedure.RUNNING
    status = "failed"
    try:
        procedure.startup()
        procedure.execute()
        status = "aborted" if stop.is_set() else "finished"
        procedure.status = Procedure.ABORTED if stop.is_set() else Procedure.FINISHED
    except RunAborted:
        status = "aborted"              # the stop asked for: an outcome, not an error
        procedure.status = Procedure.ABORTED
    except KeyboardInterrupt:
        status = "aborted"
        procedure.status = Procedure.ABORTED
        raise
    except BaseException:
        procedure.status = Procedure.FAILED
        raise
    finally:
        try:
            procedure.shutdown()
        finally:
            fh.close()
    _, rows = read_points(path)
    return RunOutcome(path, rows, len(written), reused, status,
                      dict(getattr(procedure, "summary", {}) or {}))


__all__ = ["RunOutcome", "normalize", "point_key", "read_points", "run_procedure"]
