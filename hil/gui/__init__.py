"""The lab window (``hil gui [BENCH.toml]``): characterization runs with live plots.

Modules, one job each:

- ``window``: :class:`LabWindow` (pymeasure's ManagedWindow with the panels below) and
  ``main``, the entry of ``hil gui``;
- ``catalog``: the procedures of ``procedures/`` the window offers and how each is plotted;
- ``session``: the window's bench (bench file, backend, its one VISA library, the status
  bench the panel reads through);
- ``status``: instrument identity and output states, read through the bench's roles;
- ``panels``: the device chooser and the bench status panel;
- ``liveplot``: the live plot, drawing the procedures' own fits;
- ``units``: numbers with SI prefixes; ``cli``: the command's options (no Qt);
- ``screenshot``: a PNG of the window after a run, for the docs.

Importing this package does not import Qt: ``hil/cli.py`` builds its parser from
``hil.gui.cli``. ``LabWindow``, ``BenchSession`` and ``main`` load the window on first use.
"""

from __future__ import annotations

_LAZY = {"LabWindow": "hil.gui.window", "main": "hil.gui.window",
         "guard_pyside_singletons": "hil.gui.window", "BenchSession": "hil.gui.session"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hil.gui' has no attribute {name!r}")


__all__ = sorted(_LAZY)
