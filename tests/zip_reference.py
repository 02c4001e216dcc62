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
