"""Running a sweep: the points not yet on disk, each written as it finishes, then the summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hil.sweep import store
from hil.sweep.spec import SweepError, SweepSpec


@dataclass
class SweepResult:
    spec: SweepSpec
    out: Path
    records: list[dict]                     # one per point, in the spec's order
    ran: list[str] = field(default_factory=list)   # ids of the points run by this call
    table: list[dict] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r.get("status") != "ok"]


def run_sweep(spec: SweepSpec, out: str | Path, ray: bool = False, ray_address: str | None = None,
              num_cpus: int | None = None, progress: bool = True, retry_failed: bool = False,
              plot: bool = True) -> SweepResult:
    """Run every point of ``spec`` that ``out`` has no result for (``retry_failed``: also
    those recorded as failed), in process or on Ray, then write ``table.csv``, ``table.txt``
    and the plot. Returns every point's record."""
    from hil.sweep import aggregate
    from hil.sweep.execute import local_points, ray_points

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {str(out)!r} is a file; give a folder for the sweep's results")
    store.points_dir(out).mkdir(parents=True, exist_ok=True)
    store.write_json_atomic(out / "sweep.json", {
        "name": spec.name, "mode": spec.mode, "source": spec.source, "axes": spec.axes,
        "points": [{"id": p.id, "coords": p.coords} for p in spec.points]})
    records: dict[str, dict] = {}
    todo = []
    for point in spec.points:
        if point.id in records:
            continue                    # the same config twice in a spec runs once
        found = store.load(out, point.id)
        if found is not None and (found.get("status") == "ok" or not retry_failed):
            records[point.id] = found
        elif all(p.id != point.id for p in todo):
            todo.append(point)
    if ray or ray_address:
        stream = ray_points(todo, address=ray_address, num_cpus=num_cpus)
    else:
        stream = local_points(todo)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(records) + len(todo), initial=len(records), desc=spec.name,
                   unit="point")
    ran = []
    try:
        for point, outcome in stream:
            records[point.id] = store.record(out, point, outcome)
            ran.append(point.id)
            if bar is not None:
                bar.update(1)
                if outcome.get("status") != "ok":
                    bar.write(f"point {point.id} failed: {outcome.get('error')}")
    finally:
        if bar is not None:
            bar.close()
    result = SweepResult(spec, out, [records[p.id] for p in spec.points], ran)
    result.table = aggregate.cell_table(spec, result.records)
    result.paths.update(aggregate.write_tables(result.table, spec, out))
    failures = [{"id": r["id"], "coords": r["coords"], "error": r.get("error")}
                for r in result.failed]
    store.write_json_atomic(out / "failures.json", {"failed": failures})
    if plot:
        png = aggregate.plot(spec, result.table, out / "sweep.png")
        if png is not None:
            result.paths["plot"] = png
    return result


def read_records(out: str | Path) -> list[dict]:
    """Every result file of a sweep folder (any order)."""
    return [json.loads(p.read_text()) for p in sorted(store.points_dir(out).glob("*.json"))]


__all__ = ["SweepResult", "read_records", "run_sweep"]
