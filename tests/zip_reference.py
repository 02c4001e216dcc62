"""An independent, slow reference for the classic ZIP in SynergyFinder's convention (tests only).

SynergyFinder Plus fits every line with ``drc``'s LL.4 (dose 0 included): monotherapies with
four free parameters, and each row / column refit with its lower inhibition limit fixed at the
observed response of the line's untreated well, the other three free, **either sign of the
slope**. It takes whatever point ``drc``'s optimiser stops at; this reference takes the
least-squares optimum, found by scipy's ``least_squares`` from a grid of starts per line (both
orientations). Viability fractions instead of % inhibition change no optimum.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares


def _ll4(d: np.ndarray, slope: float, fixed: float, free: float, log_e: float) -> np.ndarray:
    """drc's LL.4 ``c + (d - c) / (1 + exp(b (ln dose - ln e)))`` with ``c = fixed``,
    ``d = free``, ``b = slope``; dose 0 gives ``fixed`` for ``b < 0``, ``free`` for ``b > 0``."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        z = slope * (np.log(d) - log_e)
        return fixed + (free - fixed) / (1.0 + np.exp(z))


def fit_line(dose: np.ndarray, y: np.ndarray, fixed: float | None = None
             ) -> tuple[np.ndarray, float]:
    """Least-squares LL.4 fit of one line (``fixed``: the ``c`` limit, else both limits free).

    Returns the fitted values at ``dose`` and the residual sum of squares.
    """
    ln = np.log(dose[dose > 0])
    best = (np.inf, None)
    for b0 in (-8.0, -2.0, -0.7, 0.7, 2.0, 8.0):
        for le0 in np.linspace(ln.min() - 1.0, ln.max() + 1.0, 7):
            for lev in (y.min(), y.max(), y[dose > 0][np.argmin(dose[dose > 0])]):
                if fixed is None:
                    def f(p):
                        return _ll4(dose, p[0], p[1], p[2], p[3]) - y
                    p0 = [b0, y.max() if b0 > 0 else y.min(), lev, le0]
                else:
                    def f(p):
                        return _ll4(dose, p[0], fixed, p[1], p[2]) - y
                    p0 = [b0, lev, le0]
                try:
                    r = least_squares(f, p0, method="lm", max_nfev=3000)
                except ValueError:
                    continue
                sse = float(np.sum(r.fun ** 2))
                if np.isfinite(sse) and sse < best[0]:
                    best = (sse, r.x)
    p = best[1]
    if fixed is None:
        return _ll4(dose, p[0], p[1], p[2], p[3]), best[0]
    return _ll4(dose, p[0], fixed, p[1], p[2]), best[0]


def zip_synergyfinder(y: np.ndarray, dose_a: np.ndarray, dose_b: np.ndarray) -> dict:
    """Classic ZIP of one matrix ``y [I, J]`` (viability fraction, index 0 = dose 0 on both
    axes; doses in any unit, ``dose_*[0] = 0``).

    Returns ``mean`` (over the combination wells; fitted - reference inhibition = reference -
    fitted viability, positive = synergy), ``delta [I, J]``, and the refits' sums of squares
    ``sse_col [J]`` (drug a varies at each dose of b) and ``sse_row [I]``.
    """
    fa, _ = fit_line(dose_a, y[:, 0])
    fb, _ = fit_line(dose_b, y[0, :])
    ref = fa[:, None] * fb[None, :]
    fit_col = np.zeros_like(y)
    fit_row = np.zeros_like(y)
    sse_col = np.zeros(y.shape[1])
    sse_row = np.zeros(y.shape[0])
    for j in range(y.shape[1]):
        fit_col[:, j], sse_col[j] = fit_line(dose_a, y[:, j], fixed=y[0, j])
    for i in range(y.shape[0]):
        fit_row[i, :], sse_row[i] = fit_line(dose_b, y[i, :], fixed=y[i, 0])
    delta = ref - 0.5 * (fit_col + fit_row)
    delta[0, :] = 0.0
    delta[:, 0] = 0.0
    return {"mean": float(delta[1:, 1:].mean()), "delta": delta, "sse_col": sse_col,
            "sse_row": sse_row}


def _hill_from(dose: np.ndarray, start: float, log_h: float, log_e: float) -> np.ndarray:
    """``start / (1 + (dose / e)^h)``, ``h = exp(log_h) > 0``: from ``start`` at low doses to
    0 (viability; the original code's curves with the upper inhibition limit fixed at 100%)."""
    with np.errstate(over="ignore"):
        return start / (1.0 + np.exp(np.exp(log_h) * (np.log(dose) - log_e)))


def _fit_from(dose: np.ndarray, y: np.ndarray, start: float) -> np.ndarray:
    """Least-squares :func:`_hill_from` fit (slope and potency free) from a grid of starts;
    the fitted values at ``dose``."""
    ln = np.log(dose)
    best = (np.inf, None)
    for lh0 in (-2.0, -0.5, 0.0, 1.0, 2.5):
        for le0 in np.linspace(ln.min() - 2.0, ln.max() + 2.0, 9):
            def f(p):
                return _hill_from(dose, start, p[0], p[1]) - y
            r = least_squares(f, [lh0, le0], method="trf", max_nfev=3000,
                              bounds=([-7.0, ln.min() - 30], [5.0, ln.max() + 30]))
            sse = float(np.sum(r.fun ** 2))
            if sse < best[0]:
                best = (sse, r.x)
    return _hill_from(dose, start, *best[1])


def zip_original(y: np.ndarray, dose_a: np.ndarray, dose_b: np.ndarray) -> dict:
    """Classic ZIP of one matrix in the original ZIP code's convention (SynergyFinder 1.x
    ``ZIP(correction = TRUE, Emin = 0, Emax = 100)``), the least-squares optimum of every fit.

    Only positive doses enter a fit. Baseline: a free LL.4 per single-drug line, every well
    times ``2 - (max fitted v_a + max fitted v_b) / 2``. Single drugs: Hill curves from 1 to 0.
    Refits: from the other drug's fitted single-drug value to 0; a refit above 1 at the
    highest dose is set to its start there. ``delta = f_a f_b - (fit_col + fit_row) / 2``.
    """
    pa, pb = dose_a > 0, dose_b > 0
    ma = fit_line(dose_a[pa], y[pa, 0])[0].max()
    mb = fit_line(dose_b[pb], y[0, pb])[0].max()
    factor = 2.0 - 0.5 * (ma + mb)
    y = y * factor
    fa = np.ones(len(dose_a))
    fb = np.ones(len(dose_b))
    fa[pa] = _fit_from(dose_a[pa], y[pa, 0], 1.0)
    fb[pb] = _fit_from(dose_b[pb], y[0, pb], 1.0)
    ref = fa[:, None] * fb[None, :]
    fit_col = np.zeros_like(y)
    fit_row = np.zeros_like(y)
    for j in np.flatnonzero(pb):
        v = _fit_from(dose_a[pa], y[pa, j], fb[j])
        k = np.argmax(dose_a[pa])
        v[k] = fb[j] if v[k] > 1.0 else v[k]
        fit_col[pa, j] = v
    for i in np.flatnonzero(pa):
        v = _fit_from(dose_b[pb], y[i, pb], fa[i])
        k = np.argmax(dose_b[pb])
        v[k] = fa[i] if v[k] > 1.0 else v[k]
        fit_row[i, pb] = v
    delta = ref - 0.5 * (fit_col + fit_row)
    both = pa[:, None] & pb[None, :]
    delta[~both] = 0.0
    return {"mean": float(delta[both].mean()), "delta": delta, "factor": factor}
