"""Layer rules that `lint-imports` (pyproject.toml [tool.importlinter]) cannot check.

1. No private reach-ins: a package module does not touch another module's ``_private``
   names (``bench._raw(...)``); it uses that module's public interface.
2. A real-bench learning run never loads the simulator: the modules it uses, driven over a
   real bus (pyvisa-py over TCP), leave ``simulated_bench`` out of ``sys.modules``.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("devices", "drivers", "simulated_bench", "procedures", "hil")

# Library privates with no public equivalent: (module file, attribute) -> why.
LIBRARY_PRIVATES = {
    ("drivers/field.py", "_Imax"):
        "pymeasure's KepcoBOP36_12 keeps its output current range only as the class attribute _Imax",
    ("hil/gui/window.py", "_procedure_class"):
        "pymeasure's InputsWidget keeps the Procedure class it shows only as _procedure_class",
    ("hil/multibench/worker.py", "_exit"):
        "os._exit is the documented way to end a process from a thread (the bench watchdog, once "
        "the outputs are off): sys.exit there would only end the thread",
}

SETTERS = ("setattr", "getattr", "hasattr", "delattr")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_own(node: ast.expr) -> bool:
    """``self``, ``cls`` or ``super()``: the object's own class speaking."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "super")


def _string_attribute(call: ast.Call) -> str | None:
    """The constant name of ``getattr(obj, "_x")`` and friends (``object.__setattr__`` too)."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id in SETTERS) or \
        (isinstance(func, ast.Attribute) and func.attr in ("__setattr__", "__getattribute__"))
    if named and len(call.args) >= 2 and isinstance(call.args[1], ast.Constant) \
            and isinstance(call.args[1].value, str):
        return call.args[1].value
    return None


def _names_defined(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names this module defines or assigns, names bound by its imports)."""
    defined, imported = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            defined.add(node.attr)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.alias):
            imported.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "setattr")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "__setattr__")):
            name = _string_attribute(node)
            if name:
                defined.add(name)
    return defined, imported


def private_reach_ins(path: Path) -> list[str]:
    """``file:line expression`` for each ``obj._name`` whose ``_name`` is not this module's own.

    A name counts as this module's own when the module defines or assigns it (a class's
    attributes live in the class's module); an imported module's ``_name`` never does. Without
    types this is a heuristic: a name that the module also defines for itself is not flagged.
    """
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), rel)
    defined, imported = _names_defined(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner, name = node.value, node.attr
        elif isinstance(node, ast.Call) and _string_attribute(node) is not None:
            owner, name = node.args[0], _string_attribute(node)
        else:
            continue
        if not _is_private(name) or _is_own(owner) or (rel, name) in LIBRARY_PRIVATES:
            continue
        through_import = isinstance(owner, ast.Name) and owner.id in imported
        if through_import or name not in defined:
            found.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    return found


def package_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_no_private_reach_ins_across_modules():
    found = [hit for path in package_modules() for hit in private_reach_ins(path)]
    assert not found, ("private names used from another module (use or add a public interface, "
                       "or allow-list a library private in LIBRARY_PRIVATES with why):\n"
                       + "\n".join(found))


def test_the_private_check_catches_reach_ins(tmp_path, monkeypatch):
    """The checker itself: a reach-in through an import or an object is caught, own use is not."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    source = tmp_path / "mod.py"
    source.write_text(
        "from drivers import bench\n"
        "class A:\n"
        "    def __init__(self):\n"
        "        self._own = 1\n"
        "        object.__setattr__(self, '_set', 2)\n"
        "    def use(self, other, b):\n"
        "        return (self._own, other._own, other._set, super()._x, self.__dict__,\n"
        "                b._raw(1), getattr(b, '_hidden'), bench._private, bench.public)\n")
    assert sorted(private_reach_ins(source)) == [
        "mod.py:8 b._raw", "mod.py:8 bench._private", "mod.py:8 getattr(b, '_hidden')"]


# -------------------------------------------------------- a real-bench run without the simulator
CLIENT = r"""
import importlib.abc, json, sys, traceback

first_import = []

class WatchSimulator(importlib.abc.MetaPathFinder):
    # records who first imports the simulator, then lets the import go on
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "simulated_bench" and not first_import:
            first_import.extend(f"{f.filename}:{f.lineno}" for f in traceback.extract_stack()
                                if "/importlib/" not in f.filename and "<" not in f.filename)
        return None

sys.meta_path.insert(0, WatchSimulator())
args = json.loads(sys.argv[1])

import numpy as np
import hil.backends, hil.cli, hil.neuron, hil.train
from procedures.session import open_bench

hil.cli.build_parser()   # every `hil` command builds the whole parser
name = "chip1/S0"
with open_bench(None, backend="visa", visa_library="@py", addresses=args["addresses"]) as bench:
    devices = hil.backends.BenchBackend(bench, n_domains={name: 1})
    answer = devices.sample(devices.index_of([name]), np.array([[c] for c in args["currents_A"]]),
                            args["width_s"], repeats=4)
print(json.dumps({
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] == "simulated_bench"),
    "first_import": first_import, "answer": answer.ravel().tolist()}))
"""


@pytest.mark.slow
def test_a_real_bench_learning_run_never_loads_the_simulator():
    """The bench backend drives a bench over pyvisa-py sockets (here `hil serve`'s, in this
    process) from a client process that imports what a real-bench run imports."""
    from hil.calibration import calibration_from_chip
    from simulated_bench.bench import SimulatedBench
    from simulated_bench.server import serve

    width_s = 10e-9
    simulated = SimulatedBench.from_config(None)
    curve = calibration_from_chip(simulated.chip, width_s)["chip1/S0"]
    currents = [0.5 * curve.i50_A, 1.5 * curve.i50_A]   # never / always switches
    assert curve.probability(currents[0]) < 1e-3 and curve.probability(currents[1]) > 1 - 1e-3
    with serve(simulated) as handle:
        args = {"addresses": handle.addresses, "currents_A": currents, "width_s": width_s}
        run = subprocess.run([sys.executable, "-c", CLIENT, json.dumps(args)], cwd=ROOT,
                             capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], (
        "a real-bench run loaded the simulator " + ", ".join(report["loaded"][:4])
        + "; first imported from:\n" + "\n".join(report["first_import"]))
    np.testing.assert_array_equal(report["answer"], [0.0, 1.0])
