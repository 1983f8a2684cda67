"""Device backends: who answers "did the device switch?" for a batch of write currents.

One interface (:class:`DeviceBackend`), three answers:

* :class:`SimulatedArrayBackend` (default): the simulated chip's true physics, vectorized over
  a whole batch; one 16-bit uniform draw per macrospin trial (a quarter of a 64-bit generator
  word), one normal draw per multi-domain answer.
* :class:`CalibratedModelBackend`: software neurons that follow calibrated curves (from a
  characterization calibration file, see :mod:`hil.calibration`), e.g. the ideal,
  variability-free model that ex-situ training uses.
* :class:`BenchBackend`: the real path, through the drivers and VISA (a simulated bench in
  process, ``hil serve``, or a real bench). Not finished: see its docstring.

The call every backend answers::

    fraction = backend.sample(device_index, current_A, width_s, repeats)

``device_index`` (neurons,) says which device serves each column of ``current_A``
(batch, neurons), in amperes; the answer has the shape of ``current_A``: the switched fraction
of each reset-then-write trial, averaged over ``repeats`` trials (0/1 per trial for a
macrospin device, k/N for a multi-domain one). Many columns may name the same device: on a
bench that device serves them one after another ("shared in time"), in a simulation the trials
are simply independent. A backend refuses (``CurrentLimitError``) a current over a device's
safe maximum; it never clips.

``round_trips`` and ``bench_time_s`` count what the backend cost on a bench: bus
transactions so far and the virtual-clock time a real bench would have taken; a simulation
that never touches a bus reports 0 and ``None`` (not applicable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from devices.benchfile import BenchFile, as_bench_file
from devices.laws import neel_brown
from drivers.limits import level_for_current_V, max_pulse_level_V, write_current_A
from hil import _fused
from procedures.calibration import (READOUTS, ChipCalibration, DeviceCalibration, load_calibration,
                                    parse_calibration)
from hil.calibration import calibrated_write_paths
from hil.safety import CurrentLimitError, device_current_limits, max_write_current_A

#: multi-domain trials with at least this many independent regions (x repeats) are drawn
#: from the normal approximation of the binomial (one normal draw per output); below it,
#: exactly (one uniform draw per region and trial).
NORMAL_APPROXIMATION_MIN_REGIONS = 16

LN_2_POW_16 = np.float32(16 * np.log(2.0))
_BOX_MULLER_SCALE = np.array([[-1.0], [2.0 * np.pi]], dtype=np.float32)


@runtime_checkable
class DeviceBackend(Protocol):
    """What a device-neuron layer needs from whatever answers with switch events."""

    device_names: list[str]
    round_trips: int
    bench_time_s: float | None

    def sample(self, device_index: np.ndarray, current_A: np.ndarray, width_s: float,
               repeats: int = 1) -> np.ndarray:
        """Switched fraction per (batch, neuron), averaged over ``repeats`` trials."""

    def describe(self) -> str:
        """One line: what answers, for reports."""


# ---------------------------------------------------------------------------- chips
def check_repeats(repeats) -> None:
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")


def check_sample_inputs(current_A: np.ndarray, n_devices: int, repeats) -> None:
    """What every backend's ``sample`` takes: (batch, devices) currents, repeats >= 1."""
    if current_A.ndim != 2 or current_A.shape[1] != n_devices:
        raise ValueError(f"current_A must be (batch, {n_devices}) for {n_devices} device "
                         f"indices, got shape {current_A.shape}")
    check_repeats(repeats)


# ---------------------------------------------------------------------------- sampling
@dataclass(frozen=True)
class BoundNeurons:
    """The constants of one binding of neurons to devices at one width and repeat count, in the
    float32 form the sampling loops read (each array has one entry per bound neuron)."""

    idx: np.ndarray               # device index of each neuron
    is_logistic: np.ndarray       # bool: the neuron's curve is logistic
    logistic: bool                # any neuron logistic
    linear: bool                  # every neuron under the linear law (n = 1)
    macrospin: bool               # every neuron a single-domain (0/1) device
    inv_ic0: np.ndarray
    delta: np.ndarray
    exponent: np.ndarray
    log_t: np.ndarray             # ln(t / tau0): the law's ceiling
    log_rate_at_0: np.ndarray     # the linear form: ln(t/tau) = log_rate_at_0 + log_rate_slope |I|
    log_rate_slope: np.ndarray
    form: neel_brown.LinearForm   # that form in float64 (for folding with a current mapping)
    i50: np.ndarray
    slope: np.ndarray
    max_current: np.ndarray       # float64 A
    regions: np.ndarray           # N x repeats per neuron
    normal: np.ndarray            # bool: drawn from the normal approximation

    @classmethod
    def of(cls, curves: CurveArray, idx: np.ndarray, width_s: float, repeats: int) -> BoundNeurons:
        f32 = np.float32
        regions = curves.n_domains[idx] * repeats
        form = neel_brown.LinearForm.of(width_s, curves.ic0_A[idx], curves.delta[idx],
                                        curves.tau0_s[idx])
        return cls(
            idx=idx, is_logistic=curves.is_logistic[idx], logistic=bool(curves.is_logistic[idx].any()),
            linear=bool(np.all(curves.exponent[idx] == 1.0)),
            macrospin=bool(np.all(curves.n_domains[idx] == 1)),
            inv_ic0=(1.0 / np.where(curves.is_logistic[idx], 1.0, curves.ic0_A[idx])).astype(f32),
            delta=curves.delta[idx].astype(f32), exponent=curves.exponent[idx].astype(f32),
            log_t=form.ceiling.astype(f32),
            log_rate_at_0=form.at_zero.astype(f32), log_rate_slope=form.per_A.astype(f32), form=form,
            i50=curves.i50_A[idx].astype(f32), slope=curves.slope_per_A[idx].astype(f32),
            max_current=curves.max_current_A[idx], regions=regions.astype(f32),
            normal=regions >= NORMAL_APPROXIMATION_MIN_REGIONS)


class CurveArray:
    """Per-device switching curves as flat arrays, and the vectorized trial sampler."""

    def __init__(self, names: Sequence[str], model: Sequence[str], ic0_A, delta, tau0_s, exponent,
                 i50_A, slope_per_A, n_domains, max_current_A, rng: np.random.Generator):
        self.names = list(names)
        self.is_logistic = np.array([m == "logistic" for m in model])
        self.ic0_A = np.asarray(ic0_A, dtype=float)
        self.delta = np.asarray(delta, dtype=float)
        self.tau0_s = np.asarray(tau0_s, dtype=float)
        self.exponent = np.asarray(exponent, dtype=float)
        self.i50_A = np.asarray(i50_A, dtype=float)
        self.slope_per_A = np.asarray(slope_per_A, dtype=float)
        self.n_domains = np.asarray(n_domains, dtype=np.int64)
        self.max_current_A = np.asarray(max_current_A, dtype=float)
        self.rng = rng
        self._bound: dict = {}

    def _bind(self, device_index: np.ndarray, width_s: float, repeats: int) -> BoundNeurons:
        key = (device_index.tobytes(), float(width_s), int(repeats))
        bound = self._bound.get(key)
        if bound is None:
            idx = np.asarray(device_index, dtype=np.int64)
            if idx.min(initial=0) < 0 or idx.max(initial=0) >= len(self.names):
                raise IndexError(f"device index out of range 0..{len(self.names) - 1}: {idx}")
            bound = BoundNeurons.of(self, idx, width_s, repeats)
            if len(self._bound) > 64:
                self._bound.clear()
            self._bound[key] = bound
        return bound

    def stay_probability(self, b: BoundNeurons, current: np.ndarray) -> np.ndarray:
        """1 - P_sw for current magnitudes ``current`` (float32, >= 0), per bound neuron."""
        if b.linear:
            log_rate = current * b.log_rate_slope
            log_rate += b.log_rate_at_0
            np.minimum(log_rate, b.log_t, out=log_rate)
        else:
            reduced = 1.0 - current * b.inv_ic0
            np.maximum(reduced, 0.0, out=reduced)
            np.power(reduced, b.exponent, out=reduced)
            reduced *= b.delta
            log_rate = np.subtract(b.log_t, reduced, out=reduced)
        q = np.exp(log_rate, out=log_rate)
        np.negative(q, out=q)
        np.exp(q, out=q)
        if b.logistic:
            logistic = 1.0 / (1.0 + np.exp(b.slope * (current - b.i50)))
            q = np.where(b.is_logistic, logistic, q).astype(np.float32)
        return q

    def probability(self, b: BoundNeurons, current_A: np.ndarray) -> np.ndarray:
        """P_sw per (batch, bound neuron)."""
        return 1.0 - self.stay_probability(b, np.abs(current_A, dtype=np.float32))

    def _refuse_over_limit(self, b: BoundNeurons, peak: np.ndarray) -> None:
        over = ~(peak <= b.max_current)  # NaN counts as over: refuse what we cannot check
        if over.any():
            j = int(np.flatnonzero(over)[0])
            raise CurrentLimitError(
                f"write current {peak[j]:.4g} A for device {self.names[b.idx[j]]!r} (neuron "
                f"{j}) exceeds its safe maximum {b.max_current[j]:.4g} A; nothing was applied. "
                f"Build the input->current mapping from the bench limits (hil.neuron.CurrentMapping)")

    def sample(self, device_index, current_A, width_s, repeats):
        current_A = np.asarray(current_A, dtype=np.float32)
        check_sample_inputs(current_A, len(device_index), repeats)
        b = self._bind(np.asarray(device_index, dtype=np.int64), width_s, int(repeats))
        current = np.abs(current_A, dtype=np.float32)
        if len(current):
            self._refuse_over_limit(b, current.max(axis=0))
        if b.linear and not b.logistic:
            log_rate = np.multiply(current, b.log_rate_slope, out=current)  # our own copy
            log_rate += b.log_rate_at_0
            return self._trials_from_log_rate(b, log_rate, repeats)
        q = self.stay_probability(b, current)
        if b.macrospin:
            return self._bernoulli_mean(np.multiply(q, np.float32(65536.0), out=q), repeats)
        return self._fraction(b, np.subtract(1.0, q), q)

    def mapped_sampler(self, device_index, centre_A, span_A, width_s, repeats):
        """A :class:`LinearMappedSampler` for the currents ``centre_A + span_A * t`` when every
        bound device follows the linear law and the mapping stays >= 0; else None."""
        check_repeats(repeats)
        b = self._bind(np.asarray(device_index, dtype=np.int64), width_s, int(repeats))
        centre, span = np.asarray(centre_A, dtype=float), np.asarray(span_A, dtype=float)
        if (b.linear and not b.logistic and centre.shape == span.shape == b.idx.shape
                and np.all(span > 0) and np.all(centre >= span)):
            return LinearMappedSampler(self, b, centre, span, int(repeats))
        return None

    def _trials_from_log_rate(self, b: BoundNeurons, log_rate: np.ndarray, repeats: int) -> np.ndarray:
        """Trials for ln(t/tau) below the cap (float32, consumed): P_sw = 1 - exp(-exp(.))."""
        np.minimum(log_rate, b.log_t, out=log_rate)       # tau >= tau0 above Ic0
        rate = np.exp(log_rate, out=log_rate)
        if b.macrospin:
            # 2^16 (1 - P) = exp(ln 2^16 - t/tau): the trial threshold in one pass less
            threshold = np.subtract(LN_2_POW_16, rate, out=rate)
            return self._bernoulli_mean(np.exp(threshold, out=threshold), repeats)
        q = np.exp(np.negative(rate, out=rate), out=rate)
        return self._fraction(b, np.subtract(1.0, q), q)

    def _fraction(self, b: BoundNeurons, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Multi-domain answers k/N from P_sw = p and 1 - P_sw = q (both float32, consumed)."""
        normal = b.normal
        if normal.all():
            return self._normal_fraction(p, q, b.regions)
        out = np.empty_like(p)
        exact = ~normal
        if normal.any():
            out[:, normal] = self._normal_fraction(p[:, normal], q[:, normal], b.regions[normal])
        if exact.any():
            out[:, exact] = self._exact_fraction(p[:, exact], b.regions[exact].astype(np.int64))
        return out

    def _bernoulli_mean(self, threshold, repeats):
        """Mean of ``repeats`` macrospin trials for ``threshold`` = 2^16 (1 - P). Each trial
        draws one 16-bit uniform integer u (four per 64-bit word of the bit generator) and
        switches when u >= threshold, i.e. u >= ceil(2^16 (1 - P)): P is resolved to 2^-16
        (rounded down; P = 0 never and P = 1 always switches), far below what any number of
        trials in a training run can resolve. (u is an integer, so no ceil pass is needed.)"""
        count = repeats * threshold.size
        draws = self.rng.bit_generator.random_raw((count + 3) // 4).view(np.uint16)
        if len(draws) != count:
            draws = draws[:count]
        draws = draws.reshape((repeats,) + threshold.shape)
        if repeats == 1:
            return (draws[0] >= threshold).astype(np.float32)
        hits = (draws >= threshold).sum(axis=0, dtype=np.float32)
        hits *= np.float32(1.0 / repeats)
        return hits

    def _normal_fraction(self, p, q, regions):
        """k/N from the normal approximation of Binomial(N, p): round(N p + sqrt(N p q) z),
        kept in [0, N].

        z by Box-Muller, fused with the spread (numpy's float32 ziggurat costs ~3x more at
        these sizes): a pair of float32 uniforms (u, v) serves the two outputs i and i + n/2
        with the normal pair sqrt(-2 ln u) (cos 2 pi v, sin 2 pi v), u in (0, 1]. Tails are
        cut at sqrt(2 ln 2^24) = 5.8 sigma (probability 7e-9), far beyond what the
        approximation itself resolves.
        """
        n = p.size
        half = (n + 1) // 2
        pairs = np.empty((2, half), dtype=np.float32)   # outputs i and i + half share u, v
        spread = pairs.reshape(-1)[:n].reshape(p.shape)
        np.multiply(p, q, out=spread)
        spread *= np.float32(-2.0) * regions            # -2 N p q
        if n % 2:
            pairs[1, -1] = 0.0
        uniform = self.rng.random((2, half), dtype=np.float32)      # [0, 1)
        uniform *= _BOX_MULLER_SCALE                    # rows: -u, 2 pi v
        u, angle = uniform
        np.log1p(u, out=u)                              # ln(1 - u), 1 - u in (0, 1]: finite
        pairs *= u                                      # -2 N p q ln(1 - u) >= 0
        np.sqrt(pairs, out=pairs)
        np.cos(angle, out=u)
        np.sin(angle, out=angle)
        pairs *= uniform                                # (cos, sin) rows: the pair
        count = np.multiply(p, regions, out=p)
        count += spread
        np.rint(count, out=count)
        count /= regions
        # k/N in [0, 1] is k in [0, N]; np.clip with scalar bounds is the fast one
        return np.clip(count, 0.0, 1.0, out=count)

    def _exact_fraction(self, p, regions):
        # one uniform per region and trial: exact, for the few-region case
        top = int(regions.max())
        u = self.rng.random((top,) + p.shape, dtype=np.float32)
        active = np.arange(top)[:, None, None] < regions[None, None, :]
        hits = ((u < p) & active).sum(axis=0, dtype=np.float32)
        return hits / regions.astype(np.float32)


class LinearMappedSampler:
    """Trials for the currents I = centre + span t of a device layer, t in [-1, 1] (a tanh).

    The same trials as ``sample(device_index, centre + span * t, ...)`` in fewer passes (each
    numpy pass costs ~2 us at a layer's sizes whatever it does): under the linear law
    ln(t/tau) = a + b I is affine in t too, with the constants folded once here in float64,
    so no current array is formed. The limit check takes one pass over the batch: a mapping
    sized from the limits keeps every t <= 1 within them, and only a larger t or a NaN (which
    fails ``<=``) needs the per-neuron check, which refuses exactly as :meth:`sample` does.
    """

    def __init__(self, curves: CurveArray, bound: BoundNeurons, centre_A: np.ndarray,
                 span_A: np.ndarray, repeats: int):
        self._curves, self._bound, self.repeats = curves, bound, repeats
        self._centre, self._span = centre_A, span_A
        per_t, at_t0 = bound.form.folded(centre_A, span_A)
        self._log_rate_per_t = per_t.astype(np.float32)
        self._log_rate_at_t0 = at_t0.astype(np.float32)
        self._t_limit = (bound.max_current - centre_A) / span_A
        self._t_limit_min = float(self._t_limit.min())

    def within_limits(self, t_per_neuron: np.ndarray) -> bool:
        """Whether every value of ``t_per_neuron`` (rows of one t per neuron, e.g. a current
        grid's levels) keeps its neuron within the limits (NaN does not)."""
        return bool((np.asarray(t_per_neuron) <= self._t_limit).all())

    def __call__(self, t: np.ndarray, within_limits: bool = False) -> np.ndarray:
        """The trials for t; ``within_limits=True`` is the caller's word that every t is finite
        and passes :meth:`within_limits` (a quantizer whose levels did and that saw no NaN),
        which skips the limit pass."""
        if t.dtype != np.float32 or t.ndim != 2 or t.shape[1] != len(self._t_limit):
            raise ValueError(f"t must be float32 (batch, {len(self._t_limit)}), got "
                             f"{t.dtype} {t.shape}")
        if not within_limits and len(t) and not t.max() <= self._t_limit_min:
            peak_t = t.max(axis=0)
            if not (peak_t <= self._t_limit).all():
                self._curves._refuse_over_limit(self._bound, self._centre + self._span * peak_t)
        if _fused.ENABLED:
            answer = self._fused_trials(t)
            if answer is not None:
                return answer
        log_rate = np.multiply(t, self._log_rate_per_t)
        log_rate += self._log_rate_at_t0
        return self._curves._trials_from_log_rate(self._bound, log_rate, self.repeats)

    def level_sampler(self, levels_t: np.ndarray):
        """For t quantized to fixed levels (``levels_t``: (K, neurons), e.g. a current grid's):
        a callable (flat level index per element (:func:`hil._fused.level_index`), rows) ->
        the same trials as this sampler on the levels' t, with each level's threshold (or
        binomial moments) computed once here by the same kernel; None without the kernels,
        for a mix of exact and approximated multi-domain neurons, or when a level is over the
        limits (then every batch takes the checked path)."""
        b, repeats = self._bound, self.repeats
        if not (_fused.ENABLED and self.within_limits(levels_t)):
            return None
        levels_t = np.ascontiguousarray(levels_t, dtype=np.float32)
        rng = self._curves.rng
        if b.macrospin:
            table = _fused.macrospin_threshold(levels_t, self._log_rate_per_t,
                                               self._log_rate_at_t0, b.log_t)

            def macrospin(flat: np.ndarray, rows: int) -> np.ndarray:
                draws = rng.bit_generator.random_raw((repeats * flat.size + 3) // 4).view(np.uint16)
                return _fused.macrospin_level_trials(flat, rows, table, draws, repeats)
            return macrospin
        if b.normal.all():
            tables = np.stack(_fused.normal_moments(levels_t, self._log_rate_per_t,
                                                    self._log_rate_at_t0, b.log_t, b.regions))

            def normal(flat: np.ndarray, rows: int) -> np.ndarray:
                uniform = rng.random((2, (flat.size + 1) // 2), dtype=np.float32)
                return _fused.normal_level_fraction(flat, rows, tables, uniform)
            return normal
        return None

    def _fused_trials(self, t: np.ndarray) -> np.ndarray | None:
        """The same trials from the compiled kernels (:mod:`hil._fused`), drawing the same
        words from the backend's generator as the numpy form; None where they do not apply
        (a mix of exact and normal-approximated multi-domain neurons)."""
        b, rng, repeats = self._bound, self._curves.rng, self.repeats
        if b.macrospin:
            count = repeats * t.size
            draws = rng.bit_generator.random_raw((count + 3) // 4).view(np.uint16)
            return _fused.macrospin_trials(t, draws, self._log_rate_per_t, self._log_rate_at_t0,
                                           b.log_t, repeats)
        if b.normal.all():
            uniform = rng.random((2, (t.size + 1) // 2), dtype=np.float32)   # as _normal_fraction
            return _fused.normal_fraction(t, self._log_rate_per_t, self._log_rate_at_t0, b.log_t,
                                          b.regions, uniform)
        return None


class CurrentSampler:
    """The general form of a mapped sampler: form I = centre + span t, then ``sample()``."""

    def __init__(self, backend, device_index, centre_A, span_A, width_s: float, repeats: int):
        self.backend, self.device_index = backend, device_index
        self.centre_A, self.span_A = centre_A, span_A
        self.width_s, self.repeats = float(width_s), int(repeats)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        current = np.multiply(t, self.span_A)
        current += self.centre_A
        return self.backend.sample(self.device_index, current, self.width_s, self.repeats)


def mapped_sampler(backend, device_index, centre_A, span_A, width_s: float, repeats: int):
    """A callable t -> ``backend.sample(device_index, centre_A + span_A * t, width_s, repeats)``
    for a device layer (t = tanh of its input): the backend's fused form when it has one
    (``mapped_sampler``, e.g. the array backends under the linear law), else
    :class:`CurrentSampler`."""
    fused = getattr(backend, "mapped_sampler", None)
    sampler = fused(device_index, centre_A, span_A, width_s, repeats) if fused else None
    return sampler or CurrentSampler(backend, device_index, centre_A, span_A, width_s, repeats)


class ArrayBackend:
    round_trips = 0
    bench_time_s = None

    def __init__(self, curves: CurveArray):
        self._curves = curves
        self.device_names = curves.names

    def sample(self, device_index, current_A, width_s, repeats=1):
        return self._curves.sample(device_index, current_A, width_s, repeats)

    def mapped_sampler(self, device_index, centre_A, span_A, width_s, repeats=1):
        """The fused sampler of a device layer's mapping, or None (see :func:`mapped_sampler`)."""
        return self._curves.mapped_sampler(device_index, centre_A, span_A, width_s, repeats)

    def index_of(self, names: Iterable[str]) -> np.ndarray:
        lookup = {n: i for i, n in enumerate(self.device_names)}
        out = []
        for name in names:
            if name not in lookup:
                raise KeyError(f"backend {self.describe()} has no device {name!r}; it has "
                               f"{self.device_names[:4]}... ({len(self.device_names)} devices)")
            out.append(lookup[name])
        return np.asarray(out, dtype=np.int64)

    def n_domains_of(self, name: str) -> int:
        return int(self._curves.n_domains[self.index_of([name])[0]])

    def max_current_of(self, name: str) -> float:
        return float(self._curves.max_current_A[self.index_of([name])[0]])

    def rng_state(self) -> dict:
        return self._curves.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self._curves.rng.bit_generator.state = state


class CalibratedModelBackend(ArrayBackend):
    """Software neurons following calibrated curves (a :class:`~procedures.calibration.ChipCalibration`, dict or path).

    ``model`` None samples each curve by its own model; ``"logistic"`` forces the logistic
    form. ``max_current_A`` (device name -> A) adds the same refusal as a real device;
    without it the ceiling is infinite (a model cannot be damaged).
    """

    def __init__(self, calibration: ChipCalibration | Mapping | str, seed: int = 0,
                 model: str | None = None, max_current_A: Mapping[str, float] | None = None):
        if isinstance(calibration, Mapping):
            calibration = parse_calibration(calibration)
        elif not isinstance(calibration, ChipCalibration):
            calibration = load_calibration(calibration)
        self.calibration = calibration
        names = calibration.names()
        curves: list[DeviceCalibration] = [calibration[n] for n in names]
        models = [model or c.model for c in curves]
        for name, c, m in zip(names, curves, models):
            if m == "neel_brown" and c.ic0_A is None:
                raise ValueError(f"device {name!r} has a logistic calibration; it cannot be "
                                 f"sampled as neel_brown (use model='logistic')")
            if c.n_domains is None:
                raise ValueError(f"device {name!r} answers a switched fraction but its calibration "
                                 f"has no n_domains to sample it with; add n_domains to the file")
        limits = [np.inf if max_current_A is None else max_current_A[n] for n in names]
        super().__init__(CurveArray(
            names, models, [c.ic0_A or np.nan for c in curves], [c.delta or np.nan for c in curves],
            [c.tau0_s for c in curves], [c.exponent for c in curves], [c.i50_A for c in curves],
            [c.logistic_slope_per_A for c in curves], [c.n_domains for c in curves], limits,
            np.random.default_rng(seed)))

    def describe(self) -> str:
        return (f"calibrated model ({len(self.device_names)} devices; "
                f"{self.calibration.source or 'unnamed calibration'})")


class BenchBackend:
    """The bench path: write pulses and reads through ``drivers`` over VISA.

    Works the same against the simulated bench in process (the default: ``open()`` builds the
    simulated VISA library), ``hil serve`` or a real bench (``backend="visa"``). Per call, for
    each device in use, the trials of all the neurons it serves (batch x neurons x
    ``repeats``) go to :meth:`drivers.bench.Bench.trials` as one batch: the pulse generator
    plays them from its waveform memory, the read SMU's trigger model reads each one, one
    query fetches the buffer. The bus cost is O(1) per device per call, not per sample (the
    generator's memory may split a very long batch into a few runs; the drivers decide).

    Currents become programmed levels through the device's write path
    (:func:`drivers.limits.level_for_current_V`, the one conversion): a line's measured
    resistance, ``level = I (R_source + R_line) / emf(1 V)``, or, for a device whose
    ``calibration`` (a survey's file) carries a ``junction_write_path``, that measured
    bias- and state-dependent law of its kind (a tunnel junction,
    :class:`devices.kinds.mtj.JunctionWritePath`). The drivers
    check every level against the bench file's limits before anything is sent and refuse
    (never clip) one that fails; this backend refuses currents over
    :func:`hil.safety.max_write_current_A` first.

    ``round_trips`` and ``bench_time_s`` count from this backend's creation: bus transactions
    and the bench's projected time (the virtual clock on a simulated bench).

    How a device answers: ``readout`` (a :class:`~procedures.calibration.ChipCalibration`, e.g. a
    survey's file, or a mapping name -> ``"binary"`` | ``"fraction"``) says it; else
    ``n_domains`` (1 = binary); a device named by neither answers its switched fraction.
    Binary devices answer thresholded 0/1 per trial (the read noise removed).
    """

    def __init__(self, bench, nplc: float = 0.01, reset_V: float | None = None,
                 bias_field_T: float = 0.01, n_domains: Mapping[str, int] | None = None,
                 readout: ChipCalibration | Mapping[str, str] | None = None,
                 calibration: ChipCalibration | None = None):
        self.bench = bench
        self.nplc = float(nplc)
        self.reset_V = reset_V
        self.bias_field_T = float(bias_field_T)
        self.n_domains = dict(n_domains or {})
        if isinstance(readout, ChipCalibration):
            readout = {name: readout[name].readout for name in readout.names()}
        self.readout = {name: "binary" if n == 1 else "fraction" for name, n in self.n_domains.items()}
        self.readout.update(readout or {})
        unknown = {n: r for n, r in self.readout.items() if r not in READOUTS}
        if unknown:
            raise ValueError(f"readout must be one of {READOUTS} per device, got {unknown}")
        self._field_set = False
        self.config = bench.config
        self.device_names = [d.name for d in self.config.devices()]
        self._max_current = device_current_limits(self.config)
        self._line_ohm: dict[str, float] = {}
        self._laws = calibrated_write_paths(calibration, self.config) if calibration else {}
        self._trips0 = bench.round_trips
        self._time0 = bench.projected_time_s
        self._floor0 = getattr(bench, "floor_s", 0.0)
        self.calls = 0

    @classmethod
    def open(cls, bench_file: BenchFile | str | dict | None = None, backend: str = "sim",
             visa_library=None, **kwargs):
        """``with BenchBackend.open() as devices:`` a backend on an opened bench (outputs off
        and instruments closed on exit). ``backend="sim"``: the simulated bench in process."""
        import contextlib

        from procedures.session import open_bench

        @contextlib.contextmanager
        def _opened():
            with open_bench(bench_file, backend, visa_library) as bench:
                yield cls(bench, **kwargs)

        return _opened()

    @property
    def round_trips(self) -> int:
        return self.bench.round_trips - self._trips0

    @property
    def bench_time_s(self) -> float:
        return self.bench.projected_time_s - self._time0

    @property
    def floor_s(self) -> float:
        """The physical floor of the batches run since creation (trials x (read
        integration + pulses)), to set against :attr:`bench_time_s`."""
        return getattr(self.bench, "floor_s", 0.0) - self._floor0

    def index_of(self, names: Iterable[str]) -> np.ndarray:
        lookup = {n: i for i, n in enumerate(self.device_names)}
        missing = [n for n in names if n not in lookup]
        if missing:
            raise KeyError(f"bench {self.config.name!r} has no device(s) {missing[:3]}; it has "
                           f"{self.device_names[:4]}... ({len(self.device_names)} devices)")
        return np.asarray([lookup[n] for n in names], dtype=np.int64)

    def max_current_of(self, name: str) -> float:
        """The ceiling over this device's measured write path (what the drivers honour)."""
        if name not in self._max_current:
            raise KeyError(f"bench {self.config.name!r} has no device {name!r}")
        limits = self.config.limits_for(name)
        source_ohm = self.config.wiring.source_impedance_ohm
        law = self._laws.get(name)
        if law is not None:     # the drivers cap the level: the ceiling is its current here
            return float(abs(write_current_A(max_pulse_level_V(limits, source_ohm), source_ohm, law)))
        return max_write_current_A(limits, source_ohm, self.line_resistance_ohm(name))

    def n_domains_of(self, name: str) -> int:
        return int(self.n_domains.get(name, 1))

    def line_resistance_ohm(self, name: str) -> float:
        """Measured once per device (a two-terminal read), then cached."""
        if name not in self._line_ohm:
            self._line_ohm[name] = float(self.bench.line_resistance(name))
        return self._line_ohm[name]

    def write_path(self, name: str):
        """What this device's currents are converted through: its calibrated junction law,
        else its measured line resistance (ohm)."""
        law = self._laws.get(name)
        return law if law is not None else self.line_resistance_ohm(name)

    def sample(self, device_index, current_A, width_s, repeats=1):
        current = np.abs(np.asarray(current_A, dtype=float))
        index = np.asarray(device_index, dtype=np.int64)
        check_sample_inputs(current, len(index), repeats)
        names = [self.device_names[i] for i in index]
        peak = current.max(axis=0) if len(current) else np.zeros(len(index))
        for j, name in enumerate(names):
            # the size's bound needs no bus; the device's own needs its measured write path
            ceiling = self._max_current[name]
            if peak[j] <= ceiling:
                ceiling = self.max_current_of(name)
            if not peak[j] <= ceiling:
                raise CurrentLimitError(
                    f"write current {peak[j]:.4g} A for device {name!r} (neuron {j}) exceeds "
                    f"its safe maximum {ceiling:.4g} A (over its write path); no pulse was "
                    f"sent")
        source_ohm = self.config.wiring.source_impedance_ohm
        out = np.zeros(current.shape, dtype=np.float32)
        if current.size == 0:
            return out
        if not self._field_set:  # SOT switching needs the in-plane bias field
            field = getattr(self.bench, "field", None)
            if field is not None and self.bias_field_T:
                field.set_field(self.bias_field_T)
            self._field_set = True
        for device in dict.fromkeys(index.tolist()):
            name = self.device_names[device]
            cols = np.flatnonzero(index == device)
            wanted = current[:, cols].ravel()
            levels = level_for_current_V(wanted, source_ohm, self.write_path(name))
            batch = self.bench.trials(name, levels, width_s, int(repeats), reset_V=self.reset_V,
                                      nplc=self.nplc)
            answer = batch.switched if self.readout.get(name) == "binary" else batch.switched_fraction
            fraction = np.asarray(answer, dtype=float).reshape(len(wanted), int(repeats)).mean(axis=1)
            out[:, cols] = fraction.reshape(len(current), len(cols))
        self.calls += 1
        return out

    def describe(self) -> str:
        return f"bench {self.config.name!r} through drivers/VISA"
