"""Characterization procedures: what a lab physicist runs on a new chip.

pymeasure ``Procedure`` classes (``Parameter``s, ``DATA_COLUMNS`` with units, ``startup /
execute / shutdown``) writing pymeasure ``Results`` CSV files, one module per job:

=================  ===========================================================
``switching``      P_sw vs pulse amplitude (coarse + zoom locate, state levels,
                   fine sweep) and P_sw vs pulse width -> tau(I)
``loops``          R-H loop (magnet sweep), R-I loop (both polarities) -> Ic+-
``variability``    D2D survey of every device of a chip; ``survey_chip()``
``endurance``      repeated cycles, error rate vs cycle, stuck / broken devices
``fits``           Neel-Brown / logistic / tau fits with uncertainties (scipy)
``calibration``    the per-chip calibration JSON the learning side reads
``report``         PNG plots and the Markdown report
``runner``         append + flush per point; resume after any kill
``session``        ``open_bench()``: the simulated or the real VISA bench
``cli``            ``hil characterize``
=================  ===========================================================

Quick use::

    from procedures.session import open_bench
    from procedures.variability import survey_chip

    with open_bench() as bench:                     # the default simulated bench
        result = survey_chip(bench, "characterization", trials=64, points=16)
    # -> survey.csv, calibration_chip1.json, switching_curves.png, p_vs_width.png,
    #    i50_hist.png, width_hist.png, report.md; prints the per-size table

Dependency rule: ``procedures`` imports ``drivers`` (and pymeasure, scipy, matplotlib);
never ``hil``; ``simulated_bench`` only in ``session`` (the default simulated VISA library).
"""
