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

A run is identified by content, not by paths: a new file's header records the run's
identity (``#Run identity: {...}``: the procedure, a SHA-256 of the bench file's content and
the parameters; :mod:`procedures.identity`), and a resume with an edited bench file (seed,
spreads, devices) or other parameters is refused, as is a file with no identity, a damaged
line or a point recorded twice (:class:`DataFileError`). The bench file's path may change.
While a run writes its folder it holds the folder's lock (:mod:`procedures.outlock`): a second
run on it is refused; a lock left by a killed run is stale and taken again.

What a resume reproduces: every point on disk is kept as recorded, and the chip is the same
(on the simulated bench each device's true parameters come from the bench seed alone). The
points measured after the resume are new draws of the trial and read noise: the simulated
bench restarts its noise streams at the seed when it is opened again, so from the first
re-measured point on the numbers are a valid measurement of the same chip, not the digits an
uninterrupted run would have printed. An uninterrupted run with one seed reproduces exactly.

Stop: setting ``stop`` (a ``threading.Event``) ends the run before the procedure's next bench
operation (:mod:`procedures.stopping`); the outcome's status is then "aborted" and every
point measured so far is on disk, ready for ``resume=True``.

The same procedures also run under a pymeasure ``Worker`` / ``ManagedWindow`` (GUI): there
``procedure.done`` is empty and ``emit`` / ``should_stop`` are the Worker's.
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pymeasure.experiment import Procedure, Results

from procedures.identity import PATH_PARAMETERS, run_digest, run_identity
from procedures.outlock import lock_folder, require_run_folder
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


class DataFileError(ParameterError):
    """A results file that cannot be read back as the run wrote it (damaged or edited)."""


def read_points(path: Path) -> tuple[list[str], list[dict]]:
    """Column names and data rows (numbers as floats, text as str) of a Results CSV.

    A line cut by a kill (only possible as the last one) is left out; any other damage - a
    line that is not UTF-8, a line with the wrong number of fields before the last, a text
    where the column holds numbers - is a :class:`DataFileError` naming the file and line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        text = raw.decode(Results.ENCODING)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataFileError(f"{path} line {line} is not UTF-8 text (byte {raw[exc.start]:#04x}): "
                            f"the file is damaged; restore it or start the run in another "
                            f"output directory") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if not line.startswith(Results.COMMENT)]
    parsed = list(zip([n for n, _ in numbered], csv.reader([line for _, line in numbered])))
    if not parsed:
        return [], []
    columns = parsed[0][1]
    rows, numeric, where = [], {}, {}
    for index, (number, values) in enumerate(parsed[1:], 2):
        if len(values) != len(columns):
            if index == len(parsed) and not text.endswith("\n"):
                continue          # a last line torn by a kill mid-write
            raise DataFileError(f"{path} line {number} is torn: {len(values)} fields where the "
                                f"header has {len(columns)}; the file is damaged; restore it or "
                                f"start the run in another output directory")
        row = {c: normalize(v) for c, v in zip(columns, values)}
        for c, v in row.items():
            if isinstance(v, str):
                where.setdefault(c, (number, v))
            elif v == v:
                numeric[c] = number
        rows.append(row)
    for c, (number, value) in where.items():
        if c in numeric:
            raise DataFileError(f"{path} line {number}: column {c!r} holds {value!r}, not a "
                                f"number (line {numeric[c]} has one); the file is damaged; "
                                f"restore it or start the run in another output directory")
    return columns, rows


IDENTITY_LINE = f"{Results.COMMENT}Run identity: "


def _header(path: Path) -> list[str]:
    header = []
    with open(path, encoding=Results.ENCODING, errors="replace") as fh:
        for line in fh:
            if not line.startswith(Results.COMMENT):
                break
            header.append(line.strip("\t\v\n\r\f"))
    return header


def _stored_parameters(path: Path, procedure_class) -> dict:
    header = [line for line in _header(path) if not line.startswith(IDENTITY_LINE)]
    try:
        stored = Results.parse_header("\n".join(header), procedure_class)
        return stored.parameter_values()
    except Exception as exc:     # pymeasure raises bare Exception / ValueError for a bad header
        raise DataFileError(f"{path}: its header is damaged or edited ({exc}); restore it or "
                            f"start the run in another output directory") from None


def _stored_identity(path: Path) -> dict | None:
    for line in _header(path):
        if line.startswith(IDENTITY_LINE):
            try:
                return json.loads(line[len(IDENTITY_LINE):])
            except json.JSONDecodeError:
                raise DataFileError(f"{path}: its run identity line is damaged; restore it or "
                                    f"start the run in another output directory") from None
    return None


def _identity(procedure) -> dict:
    config = procedure.bench_config() if hasattr(procedure, "bench_config") else None
    values = procedure.parameter_values()
    if config is None:
        return {"procedure": type(procedure).__name__, "parameters":
                {k: str(v) for k, v in values.items()}}
    identity = run_identity(type(procedure).__name__, config, values)
    return {**identity, "sha256": run_digest(identity)}


def _check_identity(path: Path, procedure) -> None:
    """Refuse to resume a file written for another run: another bench content or parameters."""
    stored, wanted = _stored_identity(path), _identity(procedure)
    if stored is None:
        raise DataFileError(f"cannot resume {path}: it records no run identity (written by an "
                            f"older spin-hil or edited), so its bench cannot be told from this "
                            f"one; start the run in another output directory")
    if stored.get("bench_sha256") != wanted.get("bench_sha256"):
        raise ParameterError(
            f"cannot resume {path}: it was measured on a bench file of other content (bench "
            f"content sha256 {str(stored.get('bench_sha256'))[:12]}, now "
            f"{str(wanted.get('bench_sha256'))[:12]}: seed, spreads, devices or wiring edited); "
            f"resume with the bench file it was measured with, or choose another output "
            f"directory")
    params = _stored_parameters(path, type(procedure))
    changed = {k: (params.get(k), v) for k, v in procedure.parameter_values().items()
               if k not in PATH_PARAMETERS and str(params.get(k)) != str(v)}
    if changed:
        detail = ", ".join(f"{k}: file has {a!r}, asked {b!r}" for k, (a, b) in changed.items())
        raise ParameterError(f"cannot resume {path}: it was written with other parameters "
                             f"({detail}); rerun with the file's parameters or choose "
                             f"another output directory")
    if stored != wanted:
        raise ParameterError(f"cannot resume {path}: it was written by another run "
                             f"({stored.get('procedure')}, run sha256 "
                             f"{str(stored.get('sha256'))[:12]}; this run "
                             f"{str(wanted.get('sha256'))[:12]}); choose another output directory")


class IdentifiedResults(Results):
    """A pymeasure ``Results`` whose header also records the run's identity (``#Run identity:``
    before ``#Data:``), counted in its header length so that pymeasure reads the data right."""

    def __init__(self, procedure, data_filename, identity: dict):
        self.identity = identity
        super().__init__(procedure, data_filename)

    def header(self):
        text = super().header()
        self._header_count += 1
        marker = f"{Results.COMMENT}Data:"
        line = IDENTITY_LINE + json.dumps(self.identity, sort_keys=True) + Results.LINE_BREAK
        return text.replace(marker, line + marker, 1)


def new_results(procedure, path) -> Results:
    """A fresh Results file whose header records the run's identity (read back on resume): what
    a writer of procedures files (the runner, the lab window) creates instead of ``Results``."""
    return IdentifiedResults(procedure, str(path), _identity(procedure))


def run_procedure(procedure: Procedure, data_path: str | Path, resume: bool = False,
                  progress: Callable[[float], None] | None = None,
                  stop: threading.Event | None = None) -> RunOutcome:
    """Validate, then run ``procedure`` writing ``data_path``; see the module doc for resume."""
    if hasattr(procedure, "validate"):
        procedure.validate()                       # ParameterError before any file or bus I/O
    path = Path(data_path)
    require_run_folder(path.parent, resume)
    with lock_folder(path.parent):
        return _run_locked(procedure, path, resume, progress, stop)


def _run_locked(procedure, path: Path, resume, progress, stop) -> RunOutcome:
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
        _check_identity(path, procedure)
        file_columns, rows = read_points(path)
        if file_columns != columns:
            raise ParameterError(f"cannot resume {path}: its columns {file_columns} are not "
                                 f"those of {type(procedure).__name__} {columns}")
        for row in rows:
            key = point_key(row, key_columns)
            if key_columns and key in done:
                raise DataFileError(f"cannot resume {path}: it holds the point {key} twice (two "
                                    f"runs wrote it at once, or it was edited); keep one copy "
                                    f"or start the run in another output directory")
            done[key] = row
        results = Results(procedure, str(path))
    else:
        if path.exists():
            path.unlink()
        results = new_results(procedure, path)
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


__all__ = ["DataFileError", "IdentifiedResults", "RunOutcome", "new_results", "normalize", "point_key", "read_points", "require_run_folder",
           "run_procedure"]
