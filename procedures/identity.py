"""What identifies a run and a chip: digests of content, never of paths.

A bench file moved to another path is the same bench; one edited in place (its seed, its
spreads, a device group) is another. So a run is identified by a SHA-256 of the bench file's
parsed content and the procedure's parameters, and a chip by a SHA-256 of what draws it
(the seed, the variability and the chips' device groups: on a simulated bench these define
every device's true parameters; on a real one they name what was wired). Digests are of
canonical JSON (sorted keys), so comments and formatting of the TOML do not count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from devices.benchfile import BenchFile

#: procedure parameters a resume may change: the bench file's path (its content is compared)
PATH_PARAMETERS = ("bench_file",)


def _digest(data) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bench_digest(bench: BenchFile) -> str:
    """SHA-256 of the bench file's content (instruments, wiring, chips, limits, seed)."""
    return _digest(bench.raw or {"name": bench.name, "seed": bench.seed,
                                 "groups": [repr(g) for g in bench.groups]})


def chip_digest(bench: BenchFile) -> str:
    """SHA-256 of what defines the chips: seed, variability and every chip's device groups."""
    raw = bench.raw or {}
    return _digest({"seed": bench.seed, "variability": dict(bench.variability),
                    "chip": raw.get("chip", [repr(g) for g in bench.groups])})


def chip_identity(bench: BenchFile, chip: str, devices: Iterable[str], backend: str) -> dict:
    """The chip a calibration measured, as its file records it (``meta.chip_identity``)."""
    return {"bench": bench.name, "bench_sha256": bench_digest(bench),
            "chip_sha256": chip_digest(bench), "seed": int(bench.seed), "chip": str(chip),
            "devices": sorted(str(d) for d in devices), "backend": str(backend)}


def other_chip(identity, bench: BenchFile) -> str:
    """Why a recorded chip identity is not ``bench``'s chip ("" when it is, or none is recorded)."""
    if not isinstance(identity, dict) or "chip_sha256" not in identity:
        return ""
    if identity["chip_sha256"] == chip_digest(bench):
        return ""
    seeds = (f"seed {identity.get('seed')!s}, this bench's seed {bench.seed}"
             if identity.get("seed") != bench.seed else "same seed, other spreads or device groups")
    return (f"measured bench {identity.get('bench')!s} chip {identity.get('chip')!s} "
            f"({seeds}; chip sha256 {str(identity['chip_sha256'])[:12]}, this bench's "
            f"{chip_digest(bench)[:12]})")


def run_identity(procedure_name: str, bench: BenchFile, parameters: dict) -> dict:
    """What defines a procedure run: its class, the bench content and the other parameters."""
    kept = {k: str(v) for k, v in parameters.items() if k not in PATH_PARAMETERS}
    return {"procedure": procedure_name, "bench_sha256": bench_digest(bench), "parameters": kept}


def run_digest(identity: dict) -> str:
    return _digest(identity)


__all__ = ["PATH_PARAMETERS", "bench_digest", "chip_digest", "chip_identity", "other_chip",
           "run_digest", "run_identity"]
