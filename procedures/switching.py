"""Switching probability of a device vs pulse amplitude and vs pulse width.

P_sw vs amplitude (the sigmoid that makes a device a stochastic neuron)
    Each trial is reset -> write -> read (the drivers' batched ``Bench.trials``: N trials
    cost O(1) bus round trips). Where the transition lies is not known in advance, so a
    sweep has phases per device: the two-terminal *line* resistance (write current =
    EMF / (50 ohm + R_line); a tunnel junction's path also gets its *junction* phase, see
    below); a *coarse* scan from 0 to the device's safe maximum level
    (few trials per level, switched / not) and a *zoom* scan across the coarse step where
    P first reaches 1/2, which together locate the transition; the two state
    *levels* (R_reset, R_set, from many trials); and a *fine* scan of ``points`` levels x
    ``trials`` trials across the transition. The fine window is a pure function of the
    recorded coarse points, so a resumed run rebuilds exactly the same grid.

P_sw vs width
    At a few currents across the transition, P(t) over log-spaced widths gives the
    relaxation time tau(I) (``fits.fit_tau``), and tau(I) gives (Delta, Ic0).

Tunnel junctions (a kind with a ``write_path`` law, :class:`devices.kinds.mtj.JunctionKind`)
    Their write current is not EMF / (50 ohm + R_line at the read's low bias): the barrier is
    in series with the leads, a write starts in the reset state (R_AP for an MTJ) and R_AP
    falls with the barrier's own bias, TMR(V) = TMR0 / (1 + (V / V_half)^2): at I50 an M
    junction carries 25 % more current than its low-bias resistance says. The *junction*
    phase measures the law's parameters with the read SMU (four-wire, so the reading is the
    barrier's own voltage): the reset state at two read currents (1/4 and all of
    ``max_read_current_A``, of the sign that holds the reset state, so a read never
    disturbs it) and the set state (after one full-level set pulse) at the largest; then
    1 / TMR(V) = (1 + V^2 / V_half^2) / TMR0 is a straight line in V^2 through the two reset
    points (:func:`junction_write_path`), and the leads are the two-terminal line
    resistance less the junction. The law is extrapolated from the ~45 mV the read limits
    allow to the ~0.4 V of a write: the kind's law, fitted, not measured at the write's bias
    (the instruments cannot: the SMU's limits keep it far below, and it cannot read during a
    20 ns pulse). Every level <-> current conversion then goes through that law
    (:func:`drivers.limits.write_current_A`). Their Neel-Brown exponent n is fitted where
    pulse widths over two decades allow (:func:`fit_exponent_rows`).

Readout (:func:`batch_fractions`): a macrospin device's trials count as switched or not; a
multi-domain Hall bar's trials count their switched fraction, and a point's "Switched" is
the sum of fractions, fitted with its empirical standard error (see ``procedures.fits``).
Every row carries the write current (A) and current density (A/m^2), not only volts.
"""

from __future__ import annotations

import math

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from devices import kinds
from procedures import fits
from procedures.base import BenchProcedure
from procedures.session import DeviceFacts, ParameterError

PHASE_LINE, PHASE_COARSE, PHASE_ZOOM, PHASE_LEVELS, PHASE_FINE, PHASE_JUNCTION = (
    "line", "coarse", "zoom", "levels", "fine", "junction")

SWEEP_COLUMNS = [
    "Device", "Size", "Phase", "Point", "Pulse amplitude (V)", "Pulse width (s)",
    "Write current (A)", "Current density (A/m**2)", "Trials", "Switched",
    "Switching probability", "Switched sd", "Readout", "Mean resistance (ohm)",
    "Line resistance (ohm)", "Round trips", "Projected bench time (s)",
    # the batch's floor (trials x read integration) and the read SMU's (x its reading time)
    "Floor (s)", "Reading floor (s)",
    "Read current (A)",      # the junction phase's four-wire reads
]
SWEEP_KEY = ("Device", "Phase", "Point")


# ----------------------------------------------------------------------------- trial batches
BINARY_MIDDLE_MAX = 0.03   # a binary readout has < 3 % of its trials reading mid-way


def batch_fractions(batch, levels: int, repeats: int, refs: tuple[float, float] | None = None,
                    readout: str = "auto"):
    """(switched amount, resistance, readout) of a TrialBatch; arrays are (levels, repeats).

    Each trial's reading is placed between the batch's two calibration states,
    ``f = (R - R_reset) / (R_set - R_reset)`` (not clipped). The data then say what the
    device is: a macrospin device reads one state or the other (f near 0 or 1, read noise
    aside), a multi-domain bar also reads partial reversals. ``readout`` is

    - ``"binary"`` when fewer than 3 % of the trials read between 0.3 and 0.7: each trial
      counts as switched or not (the drivers' threshold at mid-contrast), which removes
      the read noise entirely;
    - ``"fraction"`` otherwise: each trial counts its switched fraction f, unclipped, so
      the mean over a point's trials is an unbiased estimate (clipping each trial to
      [0, 1] would turn zero-mean read noise into a floor and a ceiling).

    ``refs`` = (R_reset, R_set) replaces the batch's own calibration states (a batch of few
    trials has noisy ones: their error would be a floor / ceiling shared by every point).
    ``readout="binary"`` forces switched / not (the coarse locate scan).
    """
    res = np.asarray(getattr(batch, "resistance_ohm", None), dtype=float)
    reset = getattr(batch, "reset_state_ohm", None)
    setv = getattr(batch, "set_state_ohm", None)
    if refs is not None:
        reset, setv = refs
    if reset is not None and setv is not None and setv != reset and res.ndim:
        frac = (res - reset) / (setv - reset)
    elif getattr(batch, "switched_fraction", None) is not None:
        frac = np.asarray(batch.switched_fraction, dtype=float)
    else:
        frac = np.asarray(batch.switched, dtype=float)
    middle = float(np.mean((frac > 0.3) & (frac < 0.7))) if frac.size else 0.0
    if readout == "binary" or (readout == "auto" and middle < BINARY_MIDDLE_MAX):
        amount, readout = np.asarray(batch.switched, dtype=float), "binary"
    else:
        amount, readout = frac, "fraction"
    if res.ndim == 0:
        res = np.full(amount.shape, np.nan)
    return amount.reshape(levels, repeats), res.reshape(levels, repeats), readout


def applied_levels(batch, requested, repeats: int) -> np.ndarray:
    """The write level each requested level was played at (the generator's DAC steps), V.

    The rows keep the requested level (it defines the grid, also on resume); the write
    current is computed from the level actually applied, when the batch reports it.
    """
    requested = np.asarray(requested, dtype=float)
    meta = getattr(batch, "meta", None) or {}
    applied = meta.get("applied_amplitude_V")
    if applied is None or np.size(applied) != requested.size * repeats:
        return requested
    return np.asarray(applied, dtype=float).reshape(requested.size, repeats).mean(axis=1)


def _sd(amount: np.ndarray) -> float:
    return float(np.std(amount, ddof=1)) if amount.size > 1 else 0.0


def _count(amount: np.ndarray, trials: int) -> float:
    """Switch count of one point: the summed amounts, kept inside [0, trials]."""
    return float(min(max(float(np.sum(amount)), 0.0), float(trials)))


def coarse_levels(facts: DeviceFacts, coarse_points: int, max_fraction: float,
                  min_level_V: float = 0.0) -> np.ndarray:
    """``coarse_points`` levels up to ``max_fraction`` of the device's safe maximum, from
    one step above 0 or from ``min_level_V`` (the generator's smallest level-run level),
    whichever is higher, where that leaves room for the scan. A level under the minimum
    cannot be a level run: the 81160A's channel 2 has a smallest amplitude (50 mVpp), so
    such a level would push the whole batch onto the slot plan (one waveform slot per trial,
    uploads of mostly zeros: 10x the time of the batch as a level run)."""
    top = facts.max_level_V * max_fraction
    first = top / coarse_points
    if coarse_points > 1 and first < min_level_V < top:
        return np.linspace(min_level_V, top, coarse_points)
    return top * np.arange(1, coarse_points + 1) / coarse_points


def zoom_bracket(coarse_rows: list[dict]):
    """(low, high) level around the coarse step where P first reaches 0.5; None if never."""
    rows = sorted(coarse_rows, key=lambda r: r["Pulse amplitude (V)"])
    levels = np.array([r["Pulse amplitude (V)"] for r in rows], dtype=float)
    prob = np.array([r["Switching probability"] for r in rows], dtype=float)
    if prob.size == 0 or prob.max() < 0.5:
        return None
    step = levels[1] - levels[0] if levels.size > 1 else levels[0]
    first = int(np.argmax(prob >= 0.5))
    below = levels[first - 1] if first > 0 else 0.0
    return float(max(below - 0.5 * step, 0.25 * step)), float(levels[first] + 0.5 * step)


def fine_window(coarse_rows: list[dict], facts: DeviceFacts, max_fraction: float,
                span: float = 0.8):
    """(low, high) level of the fine scan from the locate rows; None if P never reaches 0.5.

    A logistic fitted to the coarse and zoom points (robust to a single noisy point) gives the
    centre I50 and the 10-90 % width; the window is I50 +- ``span`` x that width (the slope
    is learnt between P ~ 0.05 and 0.95; points further out read 0 or 1 and teach little), at least
    +- 1.5 coarse steps, inside (0, the safe maximum].
    """
    rows = sorted(coarse_rows, key=lambda r: r["Pulse amplitude (V)"])
    levels = np.array([r["Pulse amplitude (V)"] for r in rows], dtype=float)
    prob = np.array([r["Switching probability"] for r in rows], dtype=float)
    if prob.size == 0 or prob.max() < 0.5:
        return None
    step = float(np.min(np.diff(levels))) if levels.size > 1 else float(levels[0])
    step = step if step > 0 else float(levels[0])
    top = facts.max_level_V * max_fraction
    try:
        switched = np.array([r["Switched"] for r in rows], dtype=float)
        trials = np.array([r["Trials"] for r in rows], dtype=float)
        fit = fits.fit_logistic(levels, np.clip(switched, 0, trials), trials)
        centre, half = fit.i50_A, max(span * fit.width_10_90_A, 1.5 * step)
        if not (np.isfinite(centre) and levels[0] - step <= centre <= levels[-1] + step):
            raise fits.FitError("the coarse logistic centre lies outside the scan")
    except fits.FitError:
        first_high = int(np.argmax(prob >= 0.5))
        centre, half = levels[first_high] - 0.5 * step, 2.0 * step
    low = max(centre - half, 0.25 * step)
    high = min(centre + half, top)
    if high <= low:
        return None
    return float(low), float(high)


def floor_columns(batch, share: int) -> dict:
    """A row's share of its batch's floors (0 where the batch records none)."""
    meta = getattr(batch, "meta", None) or {}
    return {"Floor (s)": float(meta.get("floor_s", 0.0)) / share,
            "Reading floor (s)": float(meta.get("reading_floor_s", 0.0)) / share}


#: the line-resistance read's integration: 0.2 PLC (4 ms; 12 ms with the 2450's autozero)
#: instead of 1 PLC (60 ms), the survey's largest fixed cost per device after the waveform
#: uploads. The read sources ~12 mV and measures a few uA to a few hundred uA, where the
#: SMU's current noise (~1 nA / sqrt(NPLC)) is 0.1 % of the smallest (S) device's current;
#: the line resistance only converts levels to currents, so I50 moves by as much
LINE_NPLC = 0.2

#: the junction phase's read currents in the reset state, as fractions of max_read_current_A
#: (two biases: 1 / TMR is a line in V^2), and the readings per point (2 ohm of read noise
#: each on the simulated bench: 8 put V_half within ~2 % for the L junctions' 24 ohm fall)
JUNCTION_READ_FRACTIONS = (0.25, 1.0)
JUNCTION_READS = 8


def device_kind(bench_file, device):
    """The :class:`devices.kinds.DeviceKind` of a device (a name or its facts)."""
    address = device.address if isinstance(device, DeviceFacts) else bench_file.device(device)
    return kinds.kind(bench_file.group_of(address).kind)


def law_exponent(kind, given: float) -> float | None:
    """The Neel-Brown exponent of a kind's fits: ``given`` (the procedures' ``exponent``) for a
    kind whose n is not fitted; None for one whose n is fitted (a junction kind)."""
    return None if getattr(kind, "write_path", None) is not None else float(given)


def junction_write_path(law, line_ohm: float, rows: list[dict]):
    """The write path ``law(leads_ohm, r_p_ohm, tmr0, half_bias_V, parallel)`` of a junction
    from its line resistance and its junction rows (Points 0, 1: the reset state at a low and
    a high read current; Point 2: the set state).

    The reading is four-wire, so |I| R is the barrier's own voltage. With the reset state
    antiparallel, 1 / TMR(V) = (1 + V^2 / V_half^2) / TMR0 is a straight line in V^2 through
    the two reset points, TMR = R_reset / R_set - 1; a line that does not rise (no fall of
    TMR within the read's bias) gives V_half = inf. The leads are the two-terminal line
    resistance (read at a bias near the low point's) less the junction there, kept >= 0.
    """
    by_point = {int(r["Point"]): r for r in rows}
    if set(by_point) != {0, 1, 2}:
        raise fits.FitError(f"the junction phase needs its 3 points, got {sorted(by_point)}")
    r_set = float(by_point[2]["Mean resistance (ohm)"])
    low, high = (by_point[i] for i in (0, 1))
    r = np.array([float(low["Mean resistance (ohm)"]), float(high["Mean resistance (ohm)"])])
    bias = np.abs([float(low["Read current (A)"]), float(high["Read current (A)"])]) * r
    if not (np.all(np.isfinite(r)) and np.isfinite(r_set) and r_set > 0):
        raise fits.FitError(f"the junction reads no resistance (reset {r.tolist()}, set {r_set:.4g} "
                            f"ohm): an open or shorted junction")
    if r[0] < r_set:        # the reset state is parallel: its resistance does not move with V
        path = law(0.0, float(r[0]), float(r_set / r[0] - 1.0), math.inf, True)
    else:
        tmr = r / r_set - 1.0
        if not np.all(tmr > 0):
            raise fits.FitError(f"the junction shows no TMR (R_reset {r.tolist()} vs R_set "
                                f"{r_set:.4g} ohm): its states cannot be told apart")
        slope = (1.0 / tmr[1] - 1.0 / tmr[0]) / (bias[1] ** 2 - bias[0] ** 2)
        intercept = 1.0 / tmr[0] - slope * bias[0] ** 2
        half = math.sqrt(intercept / slope) if slope > 0 and intercept > 0 else math.inf
        tmr0 = 1.0 / intercept if intercept > 0 else float(tmr.max())
        path = law(0.0, r_set, float(tmr0), float(half), False)
    leads = max(float(line_ohm) - float(path.junction_ohm(bias[0])), 0.0)
    return law(leads, path.r_p_ohm, path.tmr0, path.half_bias_V, path.parallel)


#: a free-n fit identifies n when n's standard error is at most ``EXPONENT_MAX_ERR`` (n = 1
#: and n = 2 then lie > 3 errors apart) and Delta's at most ``DELTA_MAX_REL_ERR`` of Delta
#: (Delta and n are correlated: the data pin the barrier Delta u^n where u = 1 - I / Ic0 ~
#: 0.2-0.35, so an error dn moves Delta by ~1.3 dn). Thermally activated data over the two
#: decades of width a bench allows (10 ns .. 1 us: barriers of 2.3 .. 6.9 kT) pin ln tau(I)
#: and its slope, its curvature (n) barely: an M junction needs ~512 trials per point (the
#: default 64 give an error of ~0.5 on n and ~30 % on Delta); below that n = the kind's.
EXPONENT_MAX_ERR = 0.3
DELTA_MAX_REL_ERR = 0.1


def identified_exponent(fit, fallback: float) -> float:
    """The fitted n where the data identify it (see ``EXPONENT_MAX_ERR``; not at the fit's
    bound), else ``fallback`` (the kind's theoretical n)."""
    ok = (fit.exponent_err <= EXPONENT_MAX_ERR and fit.delta_err <= DELTA_MAX_REL_ERR * fit.delta
          and fit.exponent < 0.999 * fits.MAX_EXPONENT)
    return float(fit.exponent) if ok else float(fallback)


def fit_joint_rows(rows: list[dict], tau0_s: float, fallback: float) -> dict:
    """A junction's width-procedure answer: ``neel_brown_n``, the free-n fit of its fine and
    width rows (with ``identified``), and ``joint``, the fit of (Ic0, Delta) to the same rows
    at the n used (the fitted n where identified, else ``fallback``): all the data at once,
    not the 10 ns sweep alone, so Delta comes from the two decades of width."""
    try:
        free = fit_exponent_rows(rows, tau0_s)
        exponent = identified_exponent(free, fallback)
        entry = {**free.to_dict(), "identified": exponent == free.exponent}
    except fits.FitError as exc:
        exponent, entry = float(fallback), {"error": str(exc), "identified": False}
    use = [r for r in rows if r["Phase"] == PHASE_FINE or str(r["Phase"]).startswith("width")]
    current, switched, trials, width, se = _fit_arrays(use)
    fixed = fits.fit_neel_brown(current, switched, trials, width, tau0_s, exponent, std_err=se)
    return {"neel_brown_n": entry, "joint": fixed.to_dict()}


def fit_exponent_rows(rows: list[dict], tau0_s: float = 1e-9):
    """(Ic0, Delta, n) fitted together (:func:`procedures.fits.fit_neel_brown_exponent`) to a
    device's fine rows and P vs width rows: the widths (two decades) show the curvature of
    the barrier Delta (1 - I / Ic0)^n that fixes n; one width alone cannot."""
    use = [r for r in rows if r["Phase"] == PHASE_FINE or str(r["Phase"]).startswith("width")]
    current, switched, trials, width, _ = _fit_arrays(use)
    return fits.fit_neel_brown_exponent(current, switched, trials, width, tau0_s)


class SwitchingSweep:
    """The per-device sweep (line resistance, coarse, fine) on a BenchProcedure."""

    def __init__(self, proc: BenchProcedure, width_s: float, trials: int, points: int,
                 coarse_points: int, coarse_trials: int, reset_fraction: float,
                 max_fraction: float = 0.95, level_range_V: tuple[float, float] | None = None,
                 reference_trials: int = 128):
        self.proc = proc
        self.width_s = width_s
        self.trials = trials
        self.points = points
        self.coarse_points = coarse_points
        self.coarse_trials = coarse_trials
        self.reset_fraction = reset_fraction
        self.max_fraction = max_fraction
        self.level_range_V = level_range_V
        self.reference_trials = int(reference_trials)

    def min_level_V(self) -> float:
        """The pulse source's smallest level-run level (0 where it has none)."""
        pulse = getattr(self.proc.bench, "pulse", None)
        level = getattr(pulse, "min_write_level_V", 0.0) if getattr(
            pulse, "supports_level_runs", False) else 0.0
        return float(level) if np.isfinite(level) and level > 0 else 0.0

    def reset_level_V(self, facts: DeviceFacts) -> float:
        return -self.reset_fraction * facts.max_level_V

    def _costed(self, measure):
        bench = self.proc.bench
        rt0 = getattr(bench, "round_trips", 0)
        t0 = getattr(bench, "projected_time_s", 0.0)
        out = measure()
        return out, getattr(bench, "round_trips", 0) - rt0, getattr(bench, "projected_time_s", 0.0) - t0

    def kind(self, facts: DeviceFacts):
        return device_kind(self.proc.bench_config(), facts)

    def write_path(self, facts: DeviceFacts):
        """What a level's write current is computed through: the line resistance (a number)
        or, for a kind with a ``write_path`` law, that law with its measured parameters
        (the line and junction phases, measured once; rebuilt from the rows on resume)."""
        line = self.line_resistance(facts)
        law = getattr(self.kind(facts), "write_path", None)
        if law is None:
            return line
        return junction_write_path(law, line, self.junction_rows(facts))

    def recorded_line_ohm(self, facts: DeviceFacts) -> float:
        return float(self.proc.done[self.proc.key(facts.name, PHASE_LINE, 0)]["Line resistance (ohm)"])

    def junction_rows(self, facts: DeviceFacts) -> list[dict]:
        """The junction phase (see the module doc): four-wire reads of the reset state at
        ``JUNCTION_READ_FRACTIONS`` of the largest read current, of the reset's sign (it holds
        the reset state), then of the set state at the largest, of the set's sign; the
        junction is left in its reset state."""
        keys = [self.proc.key(facts.name, PHASE_JUNCTION, i) for i in range(3)]
        if not all(k in self.proc.done for k in keys):
            hold = math.copysign(facts.limits.max_read_current_A, self.reset_level_V(facts))
            plan = [(0, JUNCTION_READ_FRACTIONS[0]), (1, JUNCTION_READ_FRACTIONS[1]), (2, -1.0)]

            def measure():
                bench = self.proc.bench
                bench.select(facts.name)
                reads = {}
                for point, fraction in plan:
                    if point == 2:      # the set state: one full-level set pulse
                        bench.pulse.pulse(-self.reset_level_V(facts), self.width_s)
                    elif point == 0:
                        bench.pulse.pulse(self.reset_level_V(facts), self.width_s)
                    reads[point] = [float(bench.read_resistance(facts.name, fraction * hold))
                                    for _ in range(JUNCTION_READS)]
                bench.pulse.pulse(self.reset_level_V(facts), self.width_s)
                return reads
            reads, rt, dt = self._costed(measure)
            for point, fraction in plan:
                row = {"Device": facts.name, "Size": facts.size, "Phase": PHASE_JUNCTION,
                       "Point": point, "Pulse width (s)": self.width_s, "Trials": JUNCTION_READS,
                       "Read current (A)": fraction * hold,
                       "Mean resistance (ohm)": float(np.mean(reads[point])),
                       "Round trips": rt / 3, "Projected bench time (s)": dt / 3}
                self.proc.point(keys[point], lambda row=row: row)
        return [self.proc.done[k] for k in keys]

    def line_resistance(self, facts: DeviceFacts) -> float:
        """Two-terminal write-path resistance, read in the reset state (after one reset
        pulse): the state every write starts from. An MTJ's junction is in series with its
        write path, so its line resistance depends on the state (R_P vs R_AP)."""
        def reset_then_read() -> float:
            bench = self.proc.bench
            bench.select(facts.name)
            bench.pulse.pulse(self.reset_level_V(facts), self.width_s)
            return float(bench.line_resistance(facts.name, nplc=LINE_NPLC))

        def measure():
            value, rt, dt = self._costed(reset_then_read)
            return {"Device": facts.name, "Size": facts.size, "Phase": PHASE_LINE, "Point": 0,
                    "Line resistance (ohm)": value, "Round trips": rt, "Projected bench time (s)": dt}
        row = self.proc.point((facts.name, PHASE_LINE, 0), measure)
        return float(row["Line resistance (ohm)"])

    def measure_levels(self, facts: DeviceFacts, phase: str, levels, trials: int,
                       path, width_s: float | None = None, first_point: int = 0,
                       refs: tuple[float, float] | None = None,
                       readout: str = "auto") -> list[dict]:
        """Rows of ``levels`` (one bench batch for all the missing ones); ``path``: the
        device's :meth:`write_path`."""
        width_s = self.width_s if width_s is None else width_s
        keys = [self.proc.key(facts.name, phase, first_point + i) for i in range(len(levels))]
        missing = [i for i, k in enumerate(keys) if k not in self.proc.done]
        if missing:
            todo = np.asarray([levels[i] for i in missing], dtype=float)
            batch, rt, dt = self._costed(lambda: self.proc.bench.trials(
                facts.name, todo, width_s, repeats=trials, reset_V=self.reset_level_V(facts)))
            self._level_rows(facts, phase, [keys[i] for i in missing],
                             [first_point + i for i in missing], todo, batch, trials, path,
                             refs, readout, (rt, dt, len(todo)))
        return [self.proc.done[k] for k in keys]

    def _level_rows(self, facts, phase, keys, points, todo, batch, trials, path, refs,
                    readout, cost) -> None:
        """Record the rows of ``todo`` (the batch's first ``len(todo) * trials`` trials);
        ``cost`` = (round trips, bench time, rows sharing them)."""
        rt, dt, share = cost
        frac, res, readout = batch_fractions(batch, len(todo), trials, refs, readout)
        applied = applied_levels(batch, todo, trials)
        line_ohm = self.recorded_line_ohm(facts)
        for j, (key, point) in enumerate(zip(keys, points)):
            current = float(facts.current_A(applied[j], path))
            row = {"Device": facts.name, "Size": facts.size, "Phase": phase,
                   "Point": point, "Pulse amplitude (V)": float(todo[j]),
                   "Pulse width (s)": float(batch.width_s), "Write current (A)": current,
                   "Current density (A/m**2)": float(facts.current_density_A_m2(current)),
                   "Trials": trials, "Switched": _count(frac[j], trials),
                   "Switching probability": _count(frac[j], trials) / trials,
                   "Switched sd": _sd(frac[j]), "Readout": readout,
                   "Mean resistance (ohm)": float(np.nanmean(res[j])) if np.isfinite(res[j]).any() else float("nan"),
                   "Line resistance (ohm)": line_ohm,
                   "Round trips": rt / share, "Projected bench time (s)": dt / share,
                   **floor_columns(batch, share)}
            self.proc.point(key, lambda row=row: row)

    def _reference_rows(self, facts, reset_reads, set_reads, batch, cost) -> None:
        """Record the reference states (Phase "levels", Point 0 / 1) from their readings."""
        rt, dt, share = cost
        keys = [self.proc.key(facts.name, PHASE_LEVELS, i) for i in (0, 1)]
        for point, reads in ((0, reset_reads), (1, set_reads)):
            row = {"Device": facts.name, "Size": facts.size, "Phase": PHASE_LEVELS,
                   "Point": point, "Pulse amplitude (V)": 0.0 if point == 0 else
                   -self.reset_level_V(facts), "Pulse width (s)": self.width_s,
                   "Trials": int(reads.size), "Mean resistance (ohm)": float(np.mean(reads)),
                   "Round trips": rt / share, "Projected bench time (s)": dt / share,
                   **floor_columns(batch, share)}
            self.proc.point(keys[point], lambda row=row: row)

    def fine_with_references(self, facts: DeviceFacts, levels, path) -> list[dict]:
        """The fine sweep and the reference states in one batch: the sweep's levels, then
        level 0 (a reset only) and the full reverse level (the set state), each read as many
        times as the batch's calibration trials read them, so each state gets about
        ``reference_trials`` readings. One batch instead of two saves its setup and the
        reference batch's own calibration trials (the survey's largest overhead per device
        after the waveform uploads); the fractions use the references of the same batch."""
        trials = self.trials
        copies = max(1, int(round(self.reference_trials / trials)) - 1)
        reset_V = self.reset_level_V(facts)
        extra = np.tile([0.0, -reset_V], copies)
        amplitudes = np.concatenate([np.asarray(levels, dtype=float), extra])
        batch, rt, dt = self._costed(lambda: self.proc.bench.trials(
            facts.name, amplitudes, self.width_s, repeats=trials, reset_V=reset_V))
        n = len(levels) * trials
        reads = np.asarray(batch.resistance_ohm[n:], dtype=float).reshape(copies, 2, trials)
        cal = (batch.meta or {}).get("calibration_resistance_ohm")
        cal = np.full((2, 0), np.nan) if cal is None else np.asarray(cal, dtype=float)
        reset_reads = np.concatenate([cal[0], reads[:, 0].ravel()])
        set_reads = np.concatenate([cal[1], reads[:, 1].ravel()])
        share = len(levels) + 2
        self._reference_rows(facts, reset_reads, set_reads, batch, (rt, dt, share))
        refs = (float(np.mean(reset_reads)), float(np.mean(set_reads)))
        keys = [self.proc.key(facts.name, PHASE_FINE, i) for i in range(len(levels))]
        self._level_rows(facts, PHASE_FINE, keys, list(range(len(levels))),
                         np.asarray(levels, dtype=float), batch.part(0, n), trials, path,
                         refs, "auto", (rt, dt, share))
        return [self.proc.done[k] for k in keys]

    def reference_levels(self, facts: DeviceFacts) -> tuple[float, float]:
        """(R_reset, R_set) of the device from one batch of ``reference_trials`` trials.

        The batch's write level is 0 (no write: its trials read the reset state too), so
        the reset state gets 2 x reference_trials readings and the set state (the batch's
        calibration slot, a full-level write) reference_trials readings. Recorded as the
        rows (Phase "levels", Point 0 / 1).
        """
        keys = [self.proc.key(facts.name, PHASE_LEVELS, i) for i in (0, 1)]
        if not all(k in self.proc.done for k in keys):
            n = self.reference_trials
            batch, rt, dt = self._costed(lambda: self.proc.bench.trials(
                facts.name, np.array([0.0]), self.width_s, repeats=n,
                reset_V=self.reset_level_V(facts)))
            cal = (batch.meta or {}).get("calibration_resistance_ohm") if hasattr(batch, "meta") else None
            if cal is not None:
                reset_reads = np.concatenate([np.ravel(cal[0]), np.ravel(batch.resistance_ohm)])
                set_reads = np.ravel(cal[1])
            else:
                reset_reads = np.ravel(batch.resistance_ohm)
                set_reads = np.array([batch.set_state_ohm])
            self._reference_rows(facts, reset_reads, set_reads, batch, (rt, dt, 2))
        return tuple(float(self.proc.done[k]["Mean resistance (ohm)"]) for k in keys)

    def width_levels(self, facts: DeviceFacts, fine_rows: list[dict], probabilities,
                     tau0_s: float = 1e-9, exponent: float = 1.0) -> list[float]:
        """The write levels of P = ``probabilities`` on the fine curve (checked)."""
        ref = fit_sweep(fine_rows, tau0_s, exponent)[0]
        path = self.write_path(facts)
        levels = []
        for prob in probabilities:
            level = float(facts.level_for_current_V(ref.current_for(prob), path))
            BenchProcedure.check_level(facts, level, f"level for P = {prob}")
            levels.append(level)
        return levels

    def width_point(self, facts: DeviceFacts, levels: list[float], wi: int, width: float,
                    path) -> None:
        """One width of a width scan: one batch holds every current (Phase "width<k>" for the
        k-th current, Point = width index ``wi``); points on disk are not measured again."""
        keys = [self.proc.key(facts.name, f"width{ci}", wi) for ci in range(1, len(levels) + 1)]
        missing = [i for i, k in enumerate(keys) if k not in self.proc.done]
        if not missing:
            return
        refs = self.reference_levels(facts) if self.reference_trials else None
        todo = np.array([levels[i] for i in missing])
        batch, rt, dt = self._costed(lambda: self.proc.bench.trials(
            facts.name, todo, float(width), repeats=self.trials,
            reset_V=self.reset_level_V(facts)))
        frac, res, readout = batch_fractions(batch, len(todo), self.trials, refs)
        applied = applied_levels(batch, todo, self.trials)
        line_ohm = self.recorded_line_ohm(facts)
        for j, i in enumerate(missing):
            cur = float(facts.current_A(applied[j], path))
            row = {"Device": facts.name, "Size": facts.size, "Phase": f"width{i + 1}",
                   "Point": wi, "Pulse amplitude (V)": float(todo[j]),
                   "Pulse width (s)": float(width), "Write current (A)": cur,
                   "Current density (A/m**2)": float(facts.current_density_A_m2(cur)),
                   "Trials": self.trials, "Switched": _count(frac[j], self.trials),
                   "Switching probability": _count(frac[j], self.trials) / self.trials,
                   "Switched sd": _sd(frac[j]), "Readout": readout,
                   "Mean resistance (ohm)": float(np.nanmean(res[j])),
                   "Line resistance (ohm)": line_ohm,
                   "Round trips": rt / len(todo),
                   "Projected bench time (s)": dt / len(todo),
                   **floor_columns(batch, len(todo))}
            self.proc.point(keys[i], lambda row=row: row)

    def width_rows(self, facts: DeviceFacts) -> list[dict]:
        return [r for k, r in self.proc.done.items()
                if k[0] == facts.name and str(k[1]).startswith("width")]

    def width_scan(self, facts: DeviceFacts, fine_rows: list[dict], widths, probabilities,
                   tau0_s: float = 1e-9, exponent: float = 1.0, progress=None) -> list[dict]:
        """P vs width at the currents of P = ``probabilities`` on the fine curve (one batch
        per width, :meth:`width_point`). Returns the rows of all currents."""
        levels = self.width_levels(facts, fine_rows, probabilities, tau0_s, exponent)
        path = self.write_path(facts)
        for wi, width in enumerate(widths):
            if self.proc.stopped():
                break
            self.width_point(facts, levels, wi, width, path)
            if progress is not None:
                progress((wi + 1) / len(widths))
        return self.width_rows(facts)

    def run_device(self, facts: DeviceFacts) -> list[dict]:
        """Line resistance (and a junction's junction phase), coarse scan, state levels, fine
        scan of one device (fine rows)."""
        path = self.write_path(facts)
        if self.level_range_V is not None:
            low, high = self.level_range_V
        else:
            coarse = self.measure_levels(facts, PHASE_COARSE,
                                         coarse_levels(facts, self.coarse_points, self.max_fraction,
                                                       self.min_level_V()),
                                         self.coarse_trials, path, readout="binary")
            bracket = zoom_bracket(coarse)
            zoom = [] if bracket is None else self.measure_levels(
                facts, PHASE_ZOOM, np.linspace(*bracket, self.coarse_points), self.coarse_trials,
                path, readout="binary")
            window = fine_window(coarse + zoom, facts, self.max_fraction)
            if window is None:
                top = float(facts.current_A(facts.max_level_V * self.max_fraction, path))
                raise fits.FitError(
                    f"{facts.name} does not reach P = 0.5 up to {top:.4g} A "
                    f"({facts.max_level_V * self.max_fraction:.4g} V, near its safety limit) at "
                    f"{self.width_s:g} s: use a longer pulse width")
            low, high = window
        fine = np.linspace(low, high, self.points)
        nothing_yet = not any(k[0] == facts.name and k[1] in (PHASE_LEVELS, PHASE_FINE)
                              for k in self.proc.done)
        if self.reference_trials and nothing_yet:
            return self.fine_with_references(facts, fine, path)
        refs = self.reference_levels(facts) if self.reference_trials else None
        return self.measure_levels(facts, PHASE_FINE, fine, self.trials, path, refs=refs)


def std_errors(rows: list[dict]):
    """Per-row standard errors of P for fractional readouts; None for binary ones."""
    if all(str(r.get("Readout", "binary")) == "binary" for r in rows):
        return None
    return np.array([float(r["Switched sd"]) / math.sqrt(float(r["Trials"])) for r in rows])


def _fit_arrays(rows: list[dict]):
    """(current, switched, trials, width, standard errors or None) of sweep rows."""
    current, switched, trials, width = (
        np.array([r[column] for r in rows], dtype=float)
        for column in ("Write current (A)", "Switched", "Trials", "Pulse width (s)"))
    return current, switched, trials, width, std_errors(rows)


def fit_sweep(rows: list[dict], tau0_s: float = 1e-9, exponent: float = 1.0):
    """(Neel-Brown fit, logistic fit) of the fine rows of one device.

    Binary readouts: binomial maximum likelihood. Fractional readouts (multi-domain bars):
    weighted least squares with each point's empirical standard error.
    """
    current, switched, trials, width, se = _fit_arrays(
        [r for r in rows if r["Phase"] == PHASE_FINE])
    nb = fits.fit_neel_brown(current, switched, trials, width, tau0_s, exponent, std_err=se)
    lg = fits.fit_logistic(current, switched, trials, std_err=se)
    return nb, lg


FIT_MIN_POINTS = 3     # fewer levels than this do not pin a two-parameter curve


def fit_live_sweep(rows: list[dict], tau0_s: float = 1e-9, exponent: float = 1.0):
    """(phase fitted, Neel-Brown fit) of a sweep that may still be running (the lab window's
    overlay): its fine rows once there are ``FIT_MIN_POINTS`` of them, before that the
    coarse and fine rows measured so far; fitted as :func:`fit_sweep` fits. Raises
    :class:`~procedures.fits.FitError` while there are too few points."""
    fine = [r for r in rows if r["Phase"] == PHASE_FINE]
    phase, use = ((PHASE_FINE, fine) if len(fine) >= FIT_MIN_POINTS else
                  (PHASE_COARSE, [r for r in rows if r["Phase"] in (PHASE_COARSE, PHASE_FINE)]))
    use = [r for r in use if math.isfinite(float(r["Write current (A)"]))]
    if len(use) < FIT_MIN_POINTS:
        raise fits.FitError(f"fewer than {FIT_MIN_POINTS} points with a write current")
    current, switched, trials, width, se = _fit_arrays(use)
    return phase, fits.fit_neel_brown(current, switched, trials, width, tau0_s, exponent,
                                      std_err=se)


# ----------------------------------------------------------------------------- procedures
class SweepParameters:
    """Parameters shared by the amplitude sweep and the chip survey (mixed in)."""

    pulse_width = FloatParameter("Pulse width", units="s", default=10e-9, minimum=-1.0, maximum=1.0)
    trials = IntegerParameter("Trials per point", default=64, minimum=1, maximum=100000)
    points = IntegerParameter("Fine points", default=16, minimum=3, maximum=1000)
    coarse_points = IntegerParameter("Coarse points", default=32, minimum=4, maximum=1000)
    coarse_trials = IntegerParameter("Coarse trials", default=8, minimum=1, maximum=10000)
    reference_trials = IntegerParameter("State reference trials", default=128, minimum=0,
                                        maximum=100000)
    reset_fraction = FloatParameter("Reset level fraction", default=0.9, minimum=0.0, maximum=1.0)
    bias_field = FloatParameter("Bias field", units="T", default=0.01, minimum=-1.0, maximum=1.0)
    tau0 = FloatParameter("Attempt time tau0", units="s", default=1e-9, minimum=0.0, maximum=1.0)
    # n of the kinds whose n is given (SOT: 1); a junction kind's n is fitted (exponent_for)
    exponent = FloatParameter("Neel-Brown exponent", default=1.0, minimum=0.1, maximum=5.0)

    def validate_sweep(self, devices: list[DeviceFacts]) -> None:
        BenchProcedure.require_int("reference_trials", self.reference_trials, 0)
        for name in ("trials", "points", "coarse_points", "coarse_trials"):
            BenchProcedure.require_int(name, getattr(self, name), 3 if name == "points" else 1)
        if not 0 < self.reset_fraction <= 1:
            raise ParameterError(f"reset_fraction must lie in (0, 1] of the device's maximum "
                                 f"level, got {self.reset_fraction!r}")
        BenchProcedure.require_positive("tau0", self.tau0, "s")
        BenchProcedure.require_positive("exponent", self.exponent)
        for facts in devices:
            BenchProcedure.check_width(facts, float(self.pulse_width))
            if abs(self.bias_field) > facts.limits.max_field_T:
                raise ParameterError(
                    f"bias_field {self.bias_field:.4g} T is over the limit max_field_T = "
                    f"{facts.limits.max_field_T:.4g} T of size {facts.size!r}: use a smaller field")
            if abs(self.bias_field) == 0:
                raise ParameterError("bias_field is 0 T: SOT switching needs an in-plane bias "
                                     "field (e.g. 0.01 T) to choose the target state")

    def exponent_for(self, facts: DeviceFacts) -> float:
        """The n of a device's fixed-n fits: the ``exponent`` parameter, or for a kind whose n
        is fitted its ``exponent`` (2 for an STT macrospin) until the data fit it."""
        kind = device_kind(self.bench_config(), facts)
        given = law_exponent(kind, float(self.exponent))
        return kind.exponent if given is None else given

    def sweep(self, levels=None) -> SwitchingSweep:
        return SwitchingSweep(self, float(self.pulse_width), int(self.trials), int(self.points),
                              int(self.coarse_points), int(self.coarse_trials),
                              float(self.reset_fraction), level_range_V=levels,
                              reference_trials=int(self.reference_trials))

    def set_bias_field(self):
        field = getattr(self.bench, "field", None)
        if field is not None:
            setter = getattr(field, "set_field_T", None) or field.set_field
            setter(float(self.bias_field))


class SwitchingAmplitudeProcedure(SweepParameters, BenchProcedure):
    """P_sw vs pulse amplitude of one device (coarse locate + fine sweep), fitted."""

    device = Parameter("Device", default="chip1/S0")
    amplitude_min = FloatParameter("Amplitude min", units="V", default=0.0, minimum=-100.0, maximum=100.0)
    amplitude_max = FloatParameter("Amplitude max", units="V", default=0.0, minimum=-100.0, maximum=100.0)

    DATA_COLUMNS = SWEEP_COLUMNS
    KEY_COLUMNS = SWEEP_KEY

    def validate(self):
        super().validate()
        facts = self.facts(self.device)
        self.validate_sweep([facts])
        lo, hi = float(self.amplitude_min), float(self.amplitude_max)
        if (lo, hi) != (0.0, 0.0):
            for name, value in (("amplitude_min", lo), ("amplitude_max", hi)):
                self.check_level(facts, value, name)
            if not 0 < lo < hi:
                raise ParameterError(f"amplitude range {lo!r}..{hi!r} V must satisfy 0 < min < "
                                     f"max (or leave both 0 to locate the transition)")

    def execute(self):
        facts = self.facts(self.device)
        self.set_bias_field()
        lo, hi = float(self.amplitude_min), float(self.amplitude_max)
        self.emit("progress", 5.0)
        rows = self.sweep(None if (lo, hi) == (0.0, 0.0) else (lo, hi)).run_device(facts)
        self.emit("progress", 90.0)
        nb, lg = fit_sweep(rows, float(self.tau0), self.exponent_for(facts))
        self.summary = {"device": facts.name, "neel_brown": nb.to_dict(), "logistic": lg.to_dict()}
        self.emit("progress", 100.0)


class SwitchingWidthProcedure(SweepParameters, BenchProcedure):
    """P_sw vs pulse width at a few currents across the transition -> tau(I) -> Delta, Ic0.

    The currents are those of P = ``probabilities`` at the reference width, taken from a
    locate sweep (Phase "coarse" / "fine"); the width scans are Phase "width1", "width2"...
    For a kind whose exponent is fitted (a junction), (Ic0, Delta, n) are fitted together to
    the fine and width rows (``neel_brown_n``) and the reference and tau(I) fits use that n.
    The reset pulse has the write pulse's width, so widths start at 10 ns by default: a
    shorter reset at the reset level (above Ic0, tau -> tau0 = 1 ns) would leave some trials
    unreset and count them as switched.
    """

    device = Parameter("Device", default="chip1/S0")
    width_min = FloatParameter("Width min", units="s", default=10e-9, minimum=-1.0, maximum=1.0)
    width_max = FloatParameter("Width max", units="s", default=1e-6, minimum=-1.0, maximum=1.0)
    widths = IntegerParameter("Widths", default=10, minimum=2, maximum=200)
    probabilities = Parameter("Probabilities at reference width", default="0.05,0.2,0.5")

    DATA_COLUMNS = SWEEP_COLUMNS
    KEY_COLUMNS = SWEEP_KEY

    def probability_list(self) -> list[float]:
        try:
            values = [float(v) for v in str(self.probabilities).split(",") if v.strip()]
        except ValueError:
            raise ParameterError(f"probabilities must be comma-separated numbers in (0, 1), "
                                 f"got {self.probabilities!r}") from None
        if not values or any(not 0 < v < 1 for v in values):
            raise ParameterError(f"probabilities must lie strictly in (0, 1), got {values}")
        return values

    def validate(self):
        super().validate()
        facts = self.facts(self.device)
        self.validate_sweep([facts])
        for name in ("width_min", "width_max"):
            self.check_width(facts, float(getattr(self, name)), name)
        if not self.width_min < self.width_max:
            raise ParameterError(f"width_min {self.width_min!r} s must be below width_max "
                                 f"{self.width_max!r} s")
        self.probability_list()

    def execute(self):
        facts = self.facts(self.device)
        self.set_bias_field()
        sweep = self.sweep()
        fine = sweep.run_device(facts)
        self.emit("progress", 30.0)
        widths = np.geomspace(float(self.width_min), float(self.width_max), int(self.widths))
        exponent = self.exponent_for(facts)
        rows = sweep.width_scan(facts, fine, widths, self.probability_list(), float(self.tau0),
                                exponent,
                                progress=lambda f: self.emit("progress", 30.0 + 70.0 * f))
        if self.stopped():
            return
        joint = {}
        if law_exponent(sweep.kind(facts), float(self.exponent)) is None:
            joint = fit_joint_rows(fine + rows, float(self.tau0), exponent)
            exponent = joint["joint"]["exponent"]
        ref = fit_sweep(fine, float(self.tau0), exponent)[0]
        taus, curve = fit_width_scan(rows, float(self.tau0), exponent)
        path = sweep.write_path(facts)
        self.summary = {"device": facts.name, **joint, "reference": ref.to_dict(),
                        "tau": [t.__dict__ for t in taus], "tau_curve": curve.__dict__,
                        **({} if isinstance(path, float) else {"write_path": path.to_dict()})}


def fit_width_scan(rows: list[dict], tau0_s: float = 1e-9, exponent: float = 1.0):
    """tau at each current of a width scan (rows of Phase "width<k>"), and (Delta, Ic0)."""
    phases = sorted({str(r["Phase"]) for r in rows if str(r["Phase"]).startswith("width")},
                    key=lambda p: int(p[5:]))
    taus = []
    for phase in phases:
        part = [r for r in rows if r["Phase"] == phase]
        taus.append(fits.fit_tau([r["Pulse width (s)"] for r in part],
                                 [r["Switched"] for r in part], [r["Trials"] for r in part],
                                 float(part[0]["Write current (A)"])))
    return taus, fits.fit_tau_curve(taus, tau0_s, exponent)


__all__ = ["SWEEP_COLUMNS", "SwitchingAmplitudeProcedure", "SwitchingSweep",
           "SwitchingWidthProcedure", "batch_fractions", "device_kind", "fine_window",
           "fit_exponent_rows", "fit_joint_rows", "fit_live_sweep", "fit_sweep", "fit_width_scan",
           "identified_exponent", "junction_write_path", "law_exponent"]
