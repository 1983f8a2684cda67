"""A sweep's folder: one JSON per finished point, written atomically; what is done, what is not.

``OUT/points/<id>.json`` where ``id`` is the hash of the point's resolved config
(:func:`hil.sweep.spec.config_id`): a file is written whole or not at all (a temporary file in
the same folder, flushed and fsynced, then ``os.replace``), so a sweep killed at any moment
(kill -9 included) leaves only complete results, and running it again skips them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path


def points_dir(out: str | Path) -> Path:
    return Path(out) / "points"


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True, allow_nan=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record(out: str | Path, point, outcome: dict) -> dict:
    """Write one point's result file (its coords, config and outcome); returns the record."""
    data = {"id": point.id, "coords": point.coords, "config": point.config, **outcome,
            "pid": os.getpid(), "finished_at": time.time()}
    write_json_atomic(points_dir(out) / f"{point.id}.json", data)
    return data


def load(out: str | Path, point_id: str) -> dict | None:
    """A finished point's record, or None (absent or unreadable: it runs again)."""
    path = points_dir(out) / f"{point_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("id") == point_id else None


__all__ = ["load", "points_dir", "record", "write_json_atomic"]
