"""Fused kernels (numba) for the device layer's fast path under the linear law.

They evaluate the law's affine form (:class:`devices.laws.neel_brown.LinearForm`, folded with
the layer's current mapping: ln(t/tau) = min(at_t0 + per_t t, ceiling)) from constants the
callers take from it; no law is derived here.

Each numpy pass over a layer's (batch, neurons) array costs ~2.5 us whatever it does, and the
fast path takes ~25 of them per batch; these kernels do the same arithmetic in a few loops.
They are optional: without numba (or with ``SPIN_HIL_NUMBA=0`` in the environment) the
numpy forms in :mod:`hil.backends` and :mod:`hil.surrogate` run instead, with the same draws
and the same statistics (tests/test_hil_fused.py holds the two against each other).

No random state lives here: the callers draw from the backend's own ``numpy.random.Generator``
exactly as the numpy forms do (the same words, in the same order) and pass the draws in.

exp(), and Box-Muller's ln(1 - u), cos and sin, are branch-free float32 polynomial forms
(exp: Cody-Waite reduction, degree 6, exponent built in the integer view, within 4 ulp; ln:
atanh series on the mantissa; cos/sin: quadrant reduction, Taylor on [-pi/4, pi/4]; all
within ~2e-7) so that the compiler vectorizes the loops (AVX2/AVX-512): the libm calls
would not, and run slower than numpy's SIMD passes. Trial thresholds resolve P to 2^-16 and
the surrogate's slope is held to 2e-4 of the general form, far coarser than these errors;
from the same draws the kernels' answers equal the numpy form's but for the rare draw that
sits on a threshold (tests: <= 1e-3 of them, by one trial or one region).

Loop shapes matter here: one array in and another out (the vectorizer gives up on aliasing),
ternaries rather than min()/max(), int32 bit tests rather than chains of comparisons, and
``error_model="numpy"`` (no zero-division branch); each of these cost 2-20x when missed.
"""

from __future__ import annotations

import os

import numpy as np

try:
    if os.environ.get("SPIN_HIL_NUMBA", "1") == "0":
        raise ImportError("disabled by SPIN_HIL_NUMBA=0")
    from numba import njit
except ImportError:
    njit = None

#: whether the fast path uses these kernels (False: numba missing or disabled; tests toggle it)
ENABLED = njit is not None

_F = np.float32
_LN_2_POW_16 = _F(16 * np.log(2.0))
_LOG2E = _F(1.0 / np.log(2.0))
_LN2_HI = _F(0.693145751953125)          # ln 2 split for an exact n ln 2 (Cody-Waite)
_LN2_LO = _F(1.428606765330187e-06)
_EXP_LO = _F(-87.0)                      # below: exp() is 0 (no subnormals), above: clamped
_EXP_HI = _F(88.0)
_HALF, _ONE, _ZERO = _F(0.5), _F(1.0), _F(0.0)
_C2, _C3, _C4, _C5, _C6 = (_F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720))
# ln m = 2 atanh s, s = (m - 1)/(m + 1), |s| <= 0.172 for m in [sqrt(1/2), sqrt(2)): 2 (s + s^3/3 + ... + s^9/9)
_L3, _L5, _L7, _L9 = (_F(1 / 3), _F(1 / 5), _F(1 / 7), _F(1 / 9))
_LN2 = _F(np.log(2.0))
_SQRT2 = _F(np.sqrt(2.0))
# sin, cos on [-pi/4, pi/4]: Taylor to theta^9 / theta^8 (remainders < 3e-8)
_S3, _S5, _S7, _S9 = (_F(-1 / 6), _F(1 / 120), _F(-1 / 5040), _F(1 / 362880))
_K2, _K4, _K6, _K8 = (_F(-1 / 2), _F(1 / 24), _F(-1 / 720), _F(1 / 40320))
_TWO_PI = _F(2 * np.pi)
_QUARTER, _FOUR = _F(0.25), _F(4.0)


if ENABLED:
    _jit = njit(cache=True, fastmath=False, error_model="numpy")   # no zero-division branch

    @_jit
    def _exp(src, dst):
        """dst = exp(src), 1-D float32; NaN stays NaN. (dst must not be src: the compiler
        vectorizes the loops only for distinct arrays.)"""
        n = src.size
        shift = np.empty(n, dtype=np.int32)
        for k in range(n):
            x = src[k]
            v = min(max(x, _EXP_LO), _EXP_HI)
            nf = np.floor(v * _LOG2E + _HALF)
            r = v - nf * _LN2_HI - nf * _LN2_LO
            value = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
            keep = x >= _EXP_LO                  # False for NaN too
            shift[k] = (np.int32(nf) << 23) if keep else np.int32(0)
            dst[k] = value if keep else (x if np.isnan(x) else _ZERO)
        bits = dst.view(np.int32)
        for k in range(n):
            bits[k] += shift[k]

    @_jit
    def _log_rate(t, per_t, at_t0, log_t, out):
        """out = min(a + b t, ln(t/tau0)) per column, flattened (the capped log rate)."""
        rows, cols = t.shape
        for i in range(rows):
            row, base = t[i], i * cols
            for j in range(cols):
                v = row[j] * per_t[j] + at_t0[j]
                # ternaries, not min()/max(): half the time here (NaN t: refused before)
                out[base + j] = v if v < log_t[j] else log_t[j]  # noqa: FURB136

    @_jit
    def macrospin_trials(t, draws, per_t, at_t0, log_t, repeats):
        """Mean of ``repeats`` trials per element: trial r switches when its 16-bit draw
        ``draws[r * t.size + k]`` >= 2^16 (1 - P) = exp(ln 2^16 - t/tau) (the numpy form's
        threshold and draw order)."""
        rows, cols = t.shape
        threshold = macrospin_threshold(t, per_t, at_t0, log_t)
        return _trials(threshold, draws, repeats).reshape(rows, cols)

    @_jit
    def macrospin_threshold(t, per_t, at_t0, log_t):
        """The 16-bit draw threshold 2^16 (1 - P) of each element of t, flattened."""
        rows, cols = t.shape
        n = rows * cols
        work = np.empty(n, dtype=np.float32)
        threshold = np.empty(n, dtype=np.float32)
        _log_rate(t, per_t, at_t0, log_t, work)
        _exp(work, threshold)                    # t / tau
        for k in range(n):
            work[k] = _LN_2_POW_16 - threshold[k]
        _exp(work, threshold)
        return threshold

    @_jit
    def macrospin_level_trials(flat, rows, table, draws, repeats):
        """:func:`macrospin_trials` for quantized t: element k's threshold is
        ``table[flat[k]]``, its level's (:func:`level_index`), computed once per grid by
        :func:`macrospin_threshold`, so the same values as from the level's t."""
        n = flat.size
        threshold = np.empty(n, dtype=np.float32)
        for k in range(n):
            threshold[k] = table[flat[k]]
        return _trials(threshold, draws, repeats).reshape(rows, n // rows)

    @_jit
    def _trials(threshold, draws, repeats):
        n = threshold.size
        hits = np.zeros(n, dtype=np.float32)
        for r in range(repeats):
            base = r * n
            for k in range(n):
                hits[k] += _ONE if np.float32(draws[base + k]) >= threshold[k] else _ZERO
        if repeats > 1:
            inv = _ONE / np.float32(repeats)
            for k in range(n):
                hits[k] *= inv
        return hits

    @_jit
    def _box_muller(uniform, log_u, cos_v, sin_v):
        """From numpy's float32 uniforms (u, v) in [0, 1): ln(1 - u), cos 2 pi v, sin 2 pi v."""
        half = uniform.shape[1]
        w = np.empty(half, dtype=np.float32)
        for k in range(half):
            w[k] = _ONE - uniform[0, k]              # exact, in [2^-24, 1]
        bits = w.view(np.int32)
        expo = np.empty(half, dtype=np.int32)
        for k in range(half):
            expo[k] = (bits[k] >> 23) - 127
            bits[k] = (bits[k] & 0x7FFFFF) | 0x3F800000  # mantissa m in [1, 2)
        for k in range(half):
            m, e = w[k], np.float32(expo[k])
            high = m > _SQRT2
            m = m * _HALF if high else m
            e = e + _ONE if high else e
            s = (m - _ONE) / (m + _ONE)
            s2 = s * s
            log_u[k] = np.float32(2.0) * s * (_ONE + s2 * (_L3 + s2 * (_L5 + s2 * (_L7 + s2 * _L9)))) \
                + e * _LN2
        for k in range(half):
            v = uniform[1, k]
            quadrant = np.floor(v * _FOUR + _HALF)       # 2 pi v = theta + quadrant pi/2
            theta = (v - quadrant * _QUARTER) * _TWO_PI  # |theta| <= pi/4 (the difference is exact)
            t2 = theta * theta
            sin = theta * (_ONE + t2 * (_S3 + t2 * (_S5 + t2 * (_S7 + t2 * _S9))))
            cos = _ONE + t2 * (_K2 + t2 * (_K4 + t2 * (_K6 + t2 * _K8)))
            # quadrant 0..3: (cos, sin), (-sin, cos), (-cos, -sin), (sin, -cos); in selects
            # and int32 bit tests, which vectorize (a chain of comparisons did not)
            q = np.int32(quadrant)
            swap = (q & np.int32(1)) != 0
            a = sin if swap else cos
            b = cos if swap else sin
            cos_v[k] = -a if ((q + np.int32(1)) & np.int32(2)) != 0 else a
            sin_v[k] = -b if (q & np.int32(2)) != 0 else b

    @_jit
    def normal_fraction(t, per_t, at_t0, log_t, regions, uniform):
        """k/N = clip(rint(N p + sqrt(-2 N p q ln(1 - u)) (cos | sin) 2 pi v) / N, 0, 1) with
        P = 1 - exp(-t/tau), from numpy's float32 uniforms ``uniform`` (2, half) = (u, v) rows
        as the numpy form draws them: output i < half takes the cos of pair i, output
        i + half its sin."""
        rows, cols = t.shape
        mean, spread, count = normal_moments(t, per_t, at_t0, log_t, regions)
        return _normal_out(mean, spread, count, uniform).reshape(rows, cols)

    @_jit
    def normal_level_fraction(flat, rows, tables, uniform):
        """:func:`normal_fraction` for quantized t: element k's (N p, -2 N p q, N) are
        ``tables[:, flat[k]]``, its level's (:func:`normal_moments` once per grid)."""
        n = flat.size
        mean = np.empty(n, dtype=np.float32)
        spread = np.empty(n, dtype=np.float32)
        count = np.empty(n, dtype=np.float32)
        for k in range(n):
            mean[k] = tables[0, flat[k]]
            spread[k] = tables[1, flat[k]]
            count[k] = tables[2, flat[k]]
        return _normal_out(mean, spread, count, uniform).reshape(rows, n // rows)

    @_jit
    def normal_moments(t, per_t, at_t0, log_t, regions):
        """(N p, -2 N p q, N) of each element of t, flattened, P = 1 - exp(-t/tau)."""
        rows, cols = t.shape
        n = rows * cols
        work = np.empty(n, dtype=np.float32)
        q = np.empty(n, dtype=np.float32)
        _log_rate(t, per_t, at_t0, log_t, work)
        _exp(work, q)                            # t / tau
        for k in range(n):
            work[k] = -q[k]
        _exp(work, q)
        spread = np.empty(n, dtype=np.float32)
        mean = np.empty(n, dtype=np.float32)
        count = np.empty(n, dtype=np.float32)
        for i in range(rows):
            base = i * cols
            for j in range(cols):
                k = base + j
                p = _ONE - q[k]
                spread[k] = p * q[k] * (np.float32(-2.0) * regions[j])    # -2 N p q
                mean[k] = p * regions[j]
                count[k] = regions[j]
        return mean, spread, count

    @_jit
    def _normal_out(mean, spread, count, uniform):
        n = mean.size
        half = uniform.shape[1]
        log_u = np.empty(half, dtype=np.float32)
        cos_v = np.empty(half, dtype=np.float32)
        sin_v = np.empty(half, dtype=np.float32)
        _box_muller(uniform, log_u, cos_v, sin_v)
        for k in range(half):
            spread[k] = np.sqrt(spread[k] * log_u[k]) * cos_v[k]
        for k in range(half, n):
            spread[k] = np.sqrt(spread[k] * log_u[k - half]) * sin_v[k - half]
        out = np.empty(n, dtype=np.float32)
        for k in range(n):
            v = np.rint(mean[k] + spread[k]) / count[k]
            v = v if v > _ZERO else _ZERO  # noqa: FURB136 (k/N in [0, 1])
            out[k] = v if v < _ONE else _ONE  # noqa: FURB136
        return out

    @_jit
    def neel_brown_slope(t, per_t, at_t0, log_t, scale):
        """dP(I(x))/dx = b gain (1 - t^2) exp(ln r - r) below Ic0 (ln r = a + b I < ln(t/tau0)),
        0 above; ``scale`` = b gain per column."""
        rows, cols = t.shape
        n = rows * cols
        log_rate = np.empty(n, dtype=np.float32)
        for i in range(rows):
            for j in range(cols):
                log_rate[i * cols + j] = t[i, j] * per_t[j] + at_t0[j]
        work = np.empty(n, dtype=np.float32)
        rate = np.empty(n, dtype=np.float32)
        _exp(log_rate, work)
        for k in range(n):
            work[k] = log_rate[k] - work[k]
        _exp(work, rate)                         # r exp(-r) = exp(ln r - r)
        out = np.empty((rows, cols), dtype=np.float32)
        for i in range(rows):
            for j in range(cols):
                k = i * cols + j
                tv = t[i, j]
                below = log_rate[k] < log_t[j]
                out[i, j] = rate[k] * (scale[j] * (_ONE - tv * tv)) if below else tv - tv   # 0, NaN for NaN
        return out


    @_jit
    def quantize(t, edges, levels):
        """(t of each element's current level (:class:`hil.levels.CurrentGrid`), the count of
        NaN in t): level k is the count of its neuron's bin edges ``edges[:, j]`` below t; NaN
        stays NaN. Counted edge by edge over a row (a loop the compiler vectorizes; a search
        per element does not)."""
        rows, cols = t.shape
        n_edges = edges.shape[0]
        out = np.empty((rows, cols), dtype=np.float32)
        idx = np.empty(cols, dtype=np.int32)
        nans = 0
        for i in range(rows):
            row = t[i]
            for j in range(cols):
                idx[j] = 0
            for k in range(n_edges):
                edge = edges[k]
                for j in range(cols):
                    idx[j] += np.int32(1) if row[j] > edge[j] else np.int32(0)
            for j in range(cols):
                v = row[j]
                out[i, j] = levels[idx[j], j] if v == v else v
                nans += 0 if v == v else 1
        return out, nans

    @_jit
    def level_index(t, edges):
        """(each element's level as a flat index into a (K, neurons) table, level x neurons +
        neuron, flattened; the count of NaN in t, whose index is meaningless): the level is
        the count of its neuron's bin edges below t, as in :func:`quantize`."""
        rows, cols = t.shape
        n_edges = edges.shape[0]
        flat = np.empty(rows * cols, dtype=np.int32)
        idx = np.empty(cols, dtype=np.int32)
        nans = 0
        for i in range(rows):
            row, base = t[i], i * cols
            for j in range(cols):
                idx[j] = 0
            for k in range(n_edges):
                edge = edges[k]
                for j in range(cols):
                    idx[j] += np.int32(1) if row[j] > edge[j] else np.int32(0)
            for j in range(cols):
                v = row[j]
                flat[base + j] = idx[j] * cols + j
                nans += 0 if v == v else 1
        return flat, nans
