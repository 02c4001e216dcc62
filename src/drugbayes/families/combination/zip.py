"""Classic ZIP delta (Yadav et al. 2015) batched over checkerboards, in pure ``jax.numpy``.

The Zero Interaction Potency score, as SynergyFinder computes it:

1. fit a four-parameter Hill curve to each drug's monotherapy wells (the row / column with
   the other drug at dose 0, the untreated corner included);
2. the ZIP reference at dose pair (i, j) is Bliss independence of the two fitted monotherapy
   curves, ``ref = f_a(d_i) * f_b(d_j)`` on viability (``y1 + y2 - y1 y2`` on inhibition);
3. refit the combination: for each fixed dose of drug b, a Hill curve of drug a whose top
   (the "baseline", viability at ``d_a = 0``) is fixed and whose bottom, slope and potency are
   free, and the same with the roles swapped;
4. ``delta = ref - (fit_row + fit_col) / 2`` on viability, which is ``fit - ref`` on
   inhibition: **positive = synergy**, in viability (= inhibition) fraction units; multiply
   by 100 for SynergyFinder's % inhibition. ``delta = 0`` where a dose is 0, and the matrix
   score is the mean over the tested wells with both doses > 0 (SynergyFinder's summary).

Baseline (``baseline = "original"``, the default): before step 1, the original ZIP code's
correction (``BaselineCorrectionSD`` of Yadav et al.'s code as released in SynergyFinder 1.x,
run with its default ``correction = TRUE``). It fits a free 4PL to each drug's single-drug
wells at the drug's *positive* doses (the untreated well belongs to neither line), takes ``b`` =
the mean over the two drugs of the smallest *fitted* inhibition at those doses (negative when
the wells read above 100% of control), and replaces every inhibition ``I`` (%) by ``I - (100 -
I) / 100 * b``: on viability fractions, every well times ``1 + b = 2 - (max fitted v_a + max
fitted v_b) / 2``. A screen whose weakest single-drug wells read 116% is thus scaled by about
0.84 (to first order the same as dividing by 1.16, not exactly), and a rescaled screen gives
(to that order) the same delta. SynergyFinder Plus 3.x (``correct_baseline = "all"``; its
default is ``"non"``, no correction) fits the lines *with* the untreated well and takes the
smallest fitted value over both drugs instead of their mean. ``baseline = "none"`` scores the
responses as given, as SynergyFinder Plus does by default.

The original code then fits its single-drug curves with the lower and upper limits fixed at 0
and 100% inhibition, and its refits from the *fitted* single-drug value with the upper limit
fixed at 100%; the conventions below (SynergyFinder Plus's and the ``synergy`` package's) fit
those limits. After the correction the untreated level is ``T = top (2 - top)``, not 1, and
the reference, a product of two curves that each carry ``T``, counts it twice while the
refits count it once: to first order ``delta = T (delta on the untreated-normalised scale -
(1 - T) f_a f_b)``. The model-based ZIP (``zip_delta``) is on the normalised scale.

Every least-squares fit is a fixed-length Levenberg-Marquardt run (``lax.scan``), ``vmap``-ped
over matrices, slices and a few starting points (the best sum of squares wins), so one compiled
program scores any number of matrices of one grid shape. Curves go through ``jax.nn.sigmoid``
of centred log10 doses (finite in float32 at any dose); slopes are fitted on the log scale.

Three conventions (each documented and tested):

- ``"synergyfinder"`` (default; SynergyFinder Plus 3.x): the refit's baseline is the
  *observed* monotherapy response of the other drug at that dose (the line's untreated well),
  the other asymptote is free, and, as with ``drc``'s LL.4, either sign of the slope: in the
  other orientation the fixed baseline is the *high-dose* asymptote and the free level holds
  at dose 0 and low doses (non-monotone lines take it). The reference uses each monotherapy
  fit with its own top;
- ``"synergy"`` (the ``synergy`` Python package, ``synergy.combination.ZIP``): the baseline is
  the *fitted* monotherapy value of the other drug, the refit bottom is bounded to
  ``[0, 1.5]``, the slope is positive (the baseline is always the dose-0 value), the
  reference uses both monotherapy curves with the *average* of their two fitted tops, and
  each refit is evaluated with that averaged top as its baseline;
- ``"original"`` (the original ZIP code, SynergyFinder 1.x ``ZIP(correction, Emin = 0, Emax =
  100)``, what the summary's ``zip_delta_classic`` uses): only wells with positive doses enter
  the fits; each single-drug curve runs from 1 to 0 (slope and potency free), so the reference
  ``f_a f_b`` starts at exactly 1; each refit starts from the other drug's *fitted*
  single-drug value and falls to 0 (slope and potency free; see :func:`_zip_original`).

Difference from SynergyFinder: it keeps whatever point ``drc``'s optimiser (BFGS from its
self-starter) stops at; here every fit is the least-squares optimum over a grid of starts.
On real, irregular lines the two differ: its published mean ZIP of the Mathews Griner blocks 19
and 45 (19.57 and -2.98), reproduced exactly with ``drc`` 3.0-1, rests on fits whose residual
sums of squares are up to 250 times the optimum; with optimal fits its algorithm gives 11.50
and -15.69, as here (``benchmarks/results/validation/synergyfinder_drc_reproduction.md``).
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from ...curves import hill_sigmoid

LOG_HILL_BOUNDS = (-7.0, 5.0)  # slopes in [0.001, 148]: beyond, fitted values do not change
C_BOUND = 10.0  # potency within +-10 decades of the centre of the tested doses

Convention = Literal["synergyfinder", "synergy", "original"]
Baseline = Literal["original", "none"]


def hill(x: jnp.ndarray, zero: jnp.ndarray, top: jnp.ndarray, bottom: jnp.ndarray,
         log_hill: jnp.ndarray, c: jnp.ndarray) -> jnp.ndarray:
    """Hill curve on viability: ``bottom + (top - bottom) * sigmoid(-h ln10 (x - c))``.

    ``x`` are log10 doses (any origin shared with ``c``); where ``zero`` the value is ``top``.
    """
    s = hill_sigmoid(x, c, jnp.exp(log_hill))
    return jnp.where(zero, top, bottom + (top - bottom) * s)


def _lm(resid, p0: jnp.ndarray, lo: jnp.ndarray, hi: jnp.ndarray, n_iter: int
        ) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Levenberg-Marquardt (Marquardt scaling, box by projection) on one problem.

    ``resid(p)`` returns the weighted residual vector. Returns ``(p, sum of squares)``.
    """
    def sse(p):
        r = resid(p)
        return jnp.sum(r * r)

    jac = jax.jacfwd(resid)
    n_p = p0.shape[0]

    def step(carry, _):
        p, lam, s = carry
        r = resid(p)
        j = jac(p)
        a = j.T @ j
        g = j.T @ r
        d = jnp.diag(a) + 1e-6
        dp = jnp.linalg.solve(a + lam * jnp.diag(d) + 1e-9 * jnp.eye(n_p), -g)
        pn = jnp.clip(p + jnp.where(jnp.isfinite(dp), dp, 0.0), lo, hi)
        sn = sse(pn)
        ok = jnp.isfinite(sn) & (sn < s)
        p = jnp.where(ok, pn, p)
        s = jnp.where(ok, sn, s)
        lam = jnp.clip(jnp.where(ok, lam * 0.3, lam * 5.0), 1e-7, 1e7)
        return (p, lam, s), None

    p0 = jnp.clip(p0, lo, hi)
    s0 = sse(p0)
    s0 = jnp.where(jnp.isfinite(s0), s0, jnp.inf)
    (p, _, s), _ = jax.lax.scan(step, (p0, jnp.asarray(1e-2, p0.dtype), s0), None,
                                length=n_iter)
    return p, s


def _best(ps: jnp.ndarray, ss: jnp.ndarray) -> jnp.ndarray:
    """The start with the smallest sum of squares: ``ps [start, ..., P]``, ``ss [start, ...]``."""
    k = jnp.argmin(jnp.where(jnp.isfinite(ss), ss, jnp.inf), axis=0)
    return jnp.take_along_axis(ps, k[None, ..., None], axis=0)[0]


def _start_grid(x, y, w, zero) -> jnp.ndarray:
    """Starts ``[bottom, log_hill, c]`` for one curve: bottoms at the last and the lowest
    response, slopes 1, e and 20 (steep steps have flat gradients, so they need their own
    starts), potencies at the ends of the tested range and between adjacent doses."""
    ok = ~zero & (w > 0)
    ylast = y[jnp.argmax(jnp.where(ok, x, -jnp.inf))]
    ymin = jnp.min(jnp.where(ok, y, jnp.inf))
    xs = jnp.sort(jnp.where(ok, x, jnp.nan))  # NaNs last
    xmin, xmax = xs[0], jnp.nanmax(xs)
    mids = 0.5 * (xs[:-1] + xs[1:])
    cs = jnp.concatenate([xmin[None], jnp.where(jnp.isfinite(mids), mids, xmax), xmax[None]])
    b, lh, c = jnp.meshgrid(jnp.stack([ylast, ymin]), jnp.asarray([0.0, 1.0, 3.0]), cs,
                            indexing="ij")
    return jnp.stack([b.ravel(), lh.ravel(), c.ravel()], axis=1)


def _fit_4pl(x, zero, y, w, n_iter, top0=None):
    """4PL fit ``[top, bottom, log_hill, c]`` of one curve (points ``[n]``), several starts;
    the top starts at the mean of the dose-0 points (``top0`` where given)."""
    big = jnp.float32(1e6)
    lo = jnp.asarray([-big, -big, LOG_HILL_BOUNDS[0], -C_BOUND])
    hi = jnp.asarray([big, big, LOG_HILL_BOUNDS[1], C_BOUND])
    if top0 is None:
        top0 = jnp.sum(jnp.where(zero, y * w, 0.0)) / jnp.maximum(
            jnp.sum(jnp.where(zero, w, 0)), 1)

    def resid(p):
        return (hill(x, zero, p[0], p[1], p[2], p[3]) - y) * w

    g = _start_grid(x, y, w, zero)
    starts = jnp.concatenate([jnp.full((g.shape[0], 1), top0), g], axis=1)
    ps, ss = jax.vmap(lambda p0: _lm(resid, p0, lo, hi, n_iter))(starts)
    return _best(ps, ss)


def refit_curve(x: jnp.ndarray, zero: jnp.ndarray, fixed: jnp.ndarray, p: jnp.ndarray,
                flipped: jnp.ndarray) -> jnp.ndarray:
    """A refit curve with one asymptote ``fixed`` and ``p = [free level, log_hill, c]``.

    Not ``flipped``: the usual orientation, ``fixed`` at dose 0 and the free level at high
    doses. ``flipped`` (drc's LL.4 with the other sign of its slope): the free level at dose 0
    and at low doses, ``fixed`` the high-dose asymptote.
    """
    return jnp.where(flipped, hill(x, zero, p[0], fixed, p[1], p[2]),
                     hill(x, zero, fixed, p[0], p[1], p[2]))


def _fit_3p(x, zero, y, w, top, starts, lo_bottom, hi_bottom, n_iter, flipped=False):
    """Hill fit with one asymptote fixed: ``[free level, log_hill, c]``, best of ``starts
    [S, 3]``; returns ``(params, sum of squares)``. See :func:`refit_curve`."""
    lo = jnp.asarray([lo_bottom, LOG_HILL_BOUNDS[0], -C_BOUND], jnp.float32)
    hi = jnp.asarray([hi_bottom, LOG_HILL_BOUNDS[1], C_BOUND], jnp.float32)

    def resid(p):
        return (refit_curve(x, zero, top, p, flipped) - y) * w

    ps, ss = jax.vmap(lambda p0: _lm(resid, p0, lo, hi, n_iter))(starts)
    return _best(ps, ss), jnp.min(jnp.where(jnp.isfinite(ss), ss, jnp.inf))


def _baseline_factor(y0, w, x_a, x_b, za, zb, n_iter):
    """The original ZIP code's baseline correction as a factor on viability.

    ``BaselineCorrectionSD`` (the original ZIP code, SynergyFinder 1.x ``correction = TRUE``)
    fits a free 4PL to each drug's single-drug wells at its *positive* doses (the untreated
    well is not part of either line), takes the baseline ``b`` = the mean over the two drugs of
    the smallest fitted inhibition at those doses, and corrects every inhibition ``I`` (%) to
    ``I - (100 - I) / 100 * b``. On viability fractions that is ``v * (1 + b)`` with ``b = 1 -
    (max fitted v_a + max fitted v_b) / 2``, the maxima over the positive tested doses.
    """
    def line_max(x, zero, yy, ww):
        wp = jnp.where(zero, 0.0, ww)  # positive doses only
        p = _fit_4pl(x, zero, yy, wp, n_iter, top0=jnp.max(jnp.where(wp > 0, yy, -jnp.inf)))
        m = jnp.max(jnp.where(wp > 0, hill(x, zero, *p), -jnp.inf))
        return jnp.where(jnp.isfinite(m), m, 1.0)  # no single-drug wells: no baseline

    ma = line_max(x_a, za, y0[:, 0], w[:, 0])
    mb = line_max(x_b, zb, y0[0, :], w[0, :])
    return 2.0 - 0.5 * (ma + mb)


def _zip_original(y0, w, x_a, x_b, za, zb, n_iter) -> dict:
    """The original ZIP code's algorithm on corrected viability ``y0 [I, J]`` (SynergyFinder 1.x
    ``ZIP(correction, Emin = 0, Emax = 100)``, Yadav et al. 2015's equations).

    Only wells with positive doses enter any fit (the dose-0 row and column are the single-drug
    lines, the untreated well is in none). Each single-drug curve is a Hill curve from 1 (0%
    inhibition) to 0 (100%): slope and potency free. Each refit (drug a at a fixed dose of b,
    and the other way) starts from the other drug's *fitted* single-drug value and falls to 0:
    slope and potency free. ``delta = f_a f_b - (refit_col + refit_row) / 2`` (viability), the
    refits floored at 0 as the code caps inhibition at 100%, and, as in the code, a refit
    whose value at the highest dose rises above its start is set to its start there.
    Departure: the code's refits are ``drc::L.4`` curves in linear dose; here, as in the
    paper's equations, in log dose like every other curve.
    """
    wa = jnp.where(za, 0.0, w[:, 0])  # positive doses only
    wb = jnp.where(zb, 0.0, w[0, :])
    one = jnp.asarray(1.0, y0.dtype)
    keep = jnp.asarray(False)  # the usual orientation only: from the start down to 0

    def fit_mono(x, zero, yy, ww):
        g = _start_grid(x, yy, ww, zero).at[:, 0].set(0.0)
        p, _ = _fit_3p(x, zero, yy, ww, one, g, 0.0, 0.0, n_iter)
        return p

    pa = fit_mono(x_a, za, y0[:, 0], wa)
    pb = fit_mono(x_b, zb, y0[0, :], wb)
    fa = refit_curve(x_a, za, one, pa, keep)  # [I], 1 at dose 0
    fb = refit_curve(x_b, zb, one, pb, keep)  # [J]
    ref = fa[:, None] * fb[None, :]
    last_a = jnp.argmax(jnp.where(wa > 0, x_a, -jnp.inf))
    last_b = jnp.argmax(jnp.where(wb > 0, x_b, -jnp.inf))

    def refit(x, zero, yy, ww, start, p_mono, last):
        ww = jnp.where(zero, 0.0, ww)
        g = jnp.concatenate([p_mono[None], _start_grid(x, yy, ww, zero)]).at[:, 0].set(0.0)
        p, s = _fit_3p(x, zero, yy, ww, start, g, 0.0, 0.0, n_iter)
        v = jnp.maximum(refit_curve(x, zero, start, p, keep), 0.0)
        return p, s, v.at[last].set(jnp.where(v[last] > 1.0, start, v[last]))

    # column j: drug a varies at drug b's dose j, from drug b's fitted value fb[j]
    pc, sse_col, fit_col = jax.vmap(lambda yc, wc, t: refit(x_a, za, yc, wc, t, pa, last_a),
                                    in_axes=(1, 1, 0), out_axes=(0, 0, 1))(y0, w, fb)
    pr, sse_row, fit_row = jax.vmap(lambda yr, wr, t: refit(x_b, zb, yr, wr, t, pb, last_b))(
        y0, w, fa)
    fit = 0.5 * (fit_col + fit_row)
    no = jnp.zeros(pc.shape[0], bool), jnp.zeros(pr.shape[0], bool)
    top = jnp.ones(1, y0.dtype)
    return {"ref": ref, "fit": fit, "mono_a": jnp.concatenate([top, pa]),
            "mono_b": jnp.concatenate([top, pb]), "refit_col": pc, "refit_row": pr,
            "flipped_col": no[0], "flipped_row": no[1], "sse_col": sse_col,
            "sse_row": sse_row}


def _zip_one(y, x_a, x_b, tested, convention: str, n_iter: int, baseline: str = "none"
             ) -> dict:
    """ZIP of one matrix ``y [I, J]`` (index 0 = dose 0 on both axes), centred log10 doses."""
    ni, nj = y.shape
    w = tested.astype(y.dtype)
    y0 = jnp.where(tested, y, 0.0)
    za = jnp.arange(ni) == 0
    zb = jnp.arange(nj) == 0
    x_a = jnp.where(za, 0.0, x_a)
    x_b = jnp.where(zb, 0.0, x_b)
    factor = (_baseline_factor(y0, w, x_a, x_b, za, zb, n_iter) if baseline == "original"
              else jnp.asarray(1.0, y0.dtype))
    y0 = y0 * factor
    combo = za[:, None] | zb[None, :]
    cw = tested & ~combo
    if convention == "original":
        o = _zip_original(y0, w, x_a, x_b, za, zb, n_iter)
        delta = jnp.where(tested, jnp.where(combo, 0.0, o["ref"] - o["fit"]), jnp.nan)
        mean = jnp.sum(jnp.where(cw, delta, 0.0)) / jnp.maximum(jnp.sum(cw), 1)
        return {"delta": delta, "mean": mean, "reference": o["ref"], "fit": o["fit"],
                "mono_a": o["mono_a"], "mono_b": o["mono_b"], "refit_col": o["refit_col"],
                "refit_row": o["refit_row"], "flipped_col": o["flipped_col"],
                "flipped_row": o["flipped_row"], "sse_col": o["sse_col"],
                "sse_row": o["sse_row"], "baseline_factor": factor}
    pa = _fit_4pl(x_a, za, y0[:, 0], w[:, 0], n_iter)  # drug a alone (d_b = 0)
    pb = _fit_4pl(x_b, zb, y0[0, :], w[0, :], n_iter)  # drug b alone (d_a = 0)
    fa = hill(x_a, za, *pa)  # [I] own top
    fb = hill(x_b, zb, *pb)  # [J]
    signed = convention == "synergyfinder"
    if convention == "synergy":
        e0 = 0.5 * (pa[0] + pb[0])
        fa_ref = hill(x_a, za, e0, pa[1], pa[2], pa[3])
        fb_ref = hill(x_b, zb, e0, pb[1], pb[2], pb[3])
        base_col, base_row = fb, fa  # fitted monotherapy values
        lo_b, hi_b = 0.0, 1.5
    else:
        fa_ref, fb_ref = fa, fb
        base_col, base_row = y0[0, :], y0[:, 0]  # observed monotherapy values
        lo_b, hi_b = -1e6, 1e6
    ref = fa_ref[:, None] * fb_ref[None, :]

    # column slices: d_b fixed at j, drug a varies over i (top = baseline of drug b at j)
    def starts(p, x, yy, ww, zero):
        """Starting points: the monotherapy curve's own values (the ``synergy`` package's
        start) and the grid of :func:`_start_grid`."""
        g = jnp.concatenate([jnp.stack([p[1], p[2], p[3]])[None], _start_grid(x, yy, ww, zero)])
        return g.at[:, 0].set(jnp.clip(g[:, 0], lo_b, hi_b))

    def flipped_starts(x, yy, ww, zero):
        """Starts of the flipped orientation: the free (low-dose) level at the response of
        the untreated well, of the lowest tested dose and the largest response."""
        g = _start_grid(x, yy, ww, zero)
        ok = ~zero & (ww > 0)
        ylow = yy[jnp.argmin(jnp.where(ok, x, jnp.inf))]
        y00 = jnp.sum(jnp.where(zero, yy * ww, 0.0)) / jnp.maximum(
            jnp.sum(jnp.where(zero, ww, 0.0)), 1)
        levels = jnp.stack([ylow, y00, jnp.max(jnp.where(ok, yy, -jnp.inf))])
        g = jnp.repeat(g, 3, axis=0)
        return g.at[:, 0].set(jnp.tile(levels, g.shape[0] // 3))

    def fit_line(x, zero, yy, ww, top, p_mono):
        p, s = _fit_3p(x, zero, yy, ww, top, starts(p_mono, x, yy, ww, zero), lo_b, hi_b,
                       n_iter)
        if not signed:
            return p, jnp.asarray(False), s
        pf, sf = _fit_3p(x, zero, yy, ww, top, flipped_starts(x, yy, ww, zero), lo_b, hi_b,
                         n_iter, flipped=True)
        flip = sf < s
        return jnp.where(flip, pf, p), flip, jnp.minimum(s, sf)

    # parameters, orientation and residual sum of squares (with the baseline each refit was
    # fitted with) of every refit
    pc, flip_c, sse_col = jax.vmap(lambda yc, wc, t: fit_line(x_a, za, yc, wc, t, pa),
                                   in_axes=(1, 1, 0))(y0, w, base_col)  # [J, 3], [J], [J]
    pr, flip_r, sse_row = jax.vmap(lambda yr, wr, t: fit_line(x_b, zb, yr, wr, t, pb),
                                   in_axes=(0, 0, 0))(y0, w, base_row)  # [I, 3], [I], [I]
    if convention == "synergy":
        top_col, top_row = fb_ref, fa_ref
    else:
        top_col, top_row = base_col, base_row
    # fit_col[i, j]: curve of drug a at d_b = j; fit_row[i, j]: curve of drug b at d_a = i
    fit_col = jax.vmap(lambda t, p, f: refit_curve(x_a, za, t, p, f), out_axes=1)(
        top_col, pc, flip_c)
    fit_row = jax.vmap(lambda t, p, f: refit_curve(x_b, zb, t, p, f))(top_row, pr, flip_r)
    fit = 0.5 * (fit_col + fit_row)
    delta = jnp.where(combo, 0.0, ref - fit)
    delta = jnp.where(tested, delta, jnp.nan)
    mean = jnp.sum(jnp.where(cw, delta, 0.0)) / jnp.maximum(jnp.sum(cw), 1)
    return {"delta": delta, "mean": mean, "reference": ref, "fit": fit,
            "mono_a": pa, "mono_b": pb, "refit_col": pc, "refit_row": pr,
            "flipped_col": flip_c, "flipped_row": flip_r,
            "sse_col": sse_col, "sse_row": sse_row, "baseline_factor": factor}


def zip_delta_classic(y: ArrayLike, log10_dose_a: ArrayLike, log10_dose_b: ArrayLike,
                      tested: ArrayLike | None = None, *,
                      convention: Convention = "synergyfinder",
                      baseline: Baseline = "original", n_iter: int = 60
                      ) -> dict[str, np.ndarray]:
    """Classic ZIP delta of a batch of checkerboards, one compiled program for the batch.

    Parameters
    ----------
    y : array ``[matrix, I, J]``
        Viability as a fraction of untreated (mean over replicates), drug a along ``I``, drug
        b along ``J``; index 0 of each axis is dose 0, then the positive doses (any order).
    log10_dose_a, log10_dose_b : array ``[matrix, I]``, ``[matrix, J]``
        Log10 doses in any unit (index 0, dose 0, is ignored). Each matrix may have its own
        doses; the grid shape is shared (pad with untested wells).
    tested : bool array ``[matrix, I, J]``, optional
        Wells that were measured (default: where ``y`` is finite). Untested wells get no
        weight in any fit and a NaN delta.
    convention : {"synergyfinder", "synergy", "original"}
        See the module docstring.
    baseline : {"original", "none"}
        ``"original"`` (default): the original ZIP code's baseline correction first (see the
        module docstring: every viability times ``1 + b``, ``b`` from the two single-drug
        4PL fits); ``"none"``: the responses as given (SynergyFinder Plus's default,
        ``correct_baseline = "non"``).
    n_iter : int
        Levenberg-Marquardt iterations per fit and start.

    Returns
    -------
    dict of numpy arrays
        ``delta [matrix, I, J]`` (reference - fitted viability = fitted - reference
        inhibition, fraction units, positive = synergy, 0 on the dose-0 row and column, NaN
        untested), ``mean [matrix]`` (over tested wells with both doses > 0; x 100 is
        SynergyFinder's summary ZIP score), ``reference``, ``fit`` ``[matrix, I, J]``, and the
        monotherapy fits ``mono_a``, ``mono_b`` ``[matrix, 4]`` (top, bottom, ln slope, log10
        potency relative to the matrix's centre dose, on the corrected responses), and
        ``baseline_factor [matrix]`` (the factor applied, 1 with ``baseline = "none"``).
    """
    if convention not in ("synergyfinder", "synergy", "original"):
        raise ValueError("convention must be 'synergyfinder', 'synergy' or 'original', not "
                         f"{convention!r}")
    if baseline not in ("original", "none"):
        raise ValueError(f"baseline must be 'original' or 'none', not {baseline!r}")
    y = np.asarray(y, np.float64)
    if y.ndim == 2:
        return {k: v[0] for k, v in zip_delta_classic(
            y[None], np.asarray(log10_dose_a)[None], np.asarray(log10_dose_b)[None],
            None if tested is None else np.asarray(tested)[None], convention=convention,
            baseline=baseline, n_iter=n_iter).items()}
    t = np.isfinite(y) if tested is None else np.asarray(tested, bool) & np.isfinite(y)
    xa = np.asarray(log10_dose_a, np.float64).copy()
    xb = np.asarray(log10_dose_b, np.float64).copy()
    xa[:, 0] = np.nan
    xb[:, 0] = np.nan
    # centre each matrix's doses (dose-unit invariance, float32 conditioning)
    ca = 0.5 * (np.nanmin(xa, axis=1) + np.nanmax(xa, axis=1))
    cb = 0.5 * (np.nanmin(xb, axis=1) + np.nanmax(xb, axis=1))
    xa = np.nan_to_num(xa - ca[:, None], nan=0.0)
    xb = np.nan_to_num(xb - cb[:, None], nan=0.0)
    out = _zip_batch(jnp.asarray(np.where(t, y, 0.0), jnp.float32), jnp.asarray(xa, jnp.float32),
                     jnp.asarray(xb, jnp.float32), jnp.asarray(t), convention, n_iter, baseline)
    return {k: np.asarray(v) for k, v in out.items()}


@partial(jax.jit, static_argnames=("convention", "n_iter", "baseline"))
def _zip_batch(y, xa, xb, t, convention: str, n_iter: int, baseline: str) -> dict:
    return jax.vmap(lambda a, b, c, d: _zip_one(a, b, c, d, convention, n_iter, baseline))(
        y, xa, xb, t)


def zip_delta_classic_data(data, convention: Convention = "synergyfinder",
                           baseline: Baseline = "original", n_iter: int = 60
                           ) -> dict[str, np.ndarray]:
    """:func:`zip_delta_classic` of every combination of a ``CombinationData``.

    Uses the per-combination grids (``grid_y``: the mean over replicates and experiments of
    each tested dose pair), so replicate experiments of a combination are pooled.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        xa = np.log10(np.where(data.grid_dose_a > 0, data.grid_dose_a, np.nan))
        xb = np.log10(np.where(data.grid_dose_b > 0, data.grid_dose_b, np.nan))
    return zip_delta_classic(data.grid_y, xa, xb, data.grid_tested, convention=convention,
                             baseline=baseline, n_iter=n_iter)


def zip_delta_classic_matrices(data, convention: Convention = "synergyfinder",
                               baseline: Baseline = "original", n_iter: int = 60
                               ) -> dict[str, np.ndarray]:
    """:func:`zip_delta_classic` of every matrix (block) of a ``CombinationData``, each on its
    own observed wells (``matrix_grid_y``: replicates within the block averaged), as the
    original ZIP code scores each block; axis 0 is the matrix."""
    k = np.asarray(data.matrix_combo)
    with np.errstate(divide="ignore", invalid="ignore"):
        xa = np.log10(np.where(data.grid_dose_a > 0, data.grid_dose_a, np.nan))[k]
        xb = np.log10(np.where(data.grid_dose_b > 0, data.grid_dose_b, np.nan))[k]
    return zip_delta_classic(data.matrix_grid_y, xa, xb, data.matrix_grid_tested,
                             convention=convention, baseline=baseline, n_iter=n_iter)
