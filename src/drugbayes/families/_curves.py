"""Pure ``jax.numpy`` curve maths, written to stay finite in float32 at any dose.

All curves take log10 doses. Dose 0 (untreated) is never passed through a logarithm: callers
evaluate the curve's top there instead (see :func:`log_logistic`'s ``is_zero`` argument).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import nn

LN10 = 2.302585092994046


def log_logistic(
    log10_dose: jnp.ndarray,
    log10_ic50: jnp.ndarray,
    hill: jnp.ndarray,
    top: jnp.ndarray,
    bottom_fraction: jnp.ndarray,
    is_zero: jnp.ndarray | None = None,
) -> jnp.ndarray:
    """Four-parameter log-logistic viability curve.

    ``top * (b + (1 - b) * sigmoid(-hill * ln(10) * (log10_dose - log10_ic50)))`` where ``b`` is
    the bottom as a fraction of the top, so the curve runs from ``top`` (no drug) down to
    ``bottom = top * b`` (infinite dose) with its midpoint at the relative IC50. Written through
    ``jax.nn.sigmoid`` it never overflows, whatever the dose.

    Parameters
    ----------
    log10_dose : array
        Log10 doses (any consistent origin, e.g. centred on the tested range).
    log10_ic50 : array
        Log10 relative IC50 (curve midpoint), same origin as ``log10_dose``.
    hill : array
        Hill slope (> 0 means viability falls with dose).
    top : array
        Viability with no drug (1 for a 3-parameter curve).
    bottom_fraction : array
        Bottom plateau as a fraction of the top, in [0, 1].
    is_zero : array of bool, optional
        Marks untreated points (dose 0); the curve there equals ``top``.

    Returns
    -------
    array
        Viability, broadcast over the inputs.
    """
    z = -hill * LN10 * (log10_dose - log10_ic50)
    frac = bottom_fraction + (1.0 - bottom_fraction) * nn.sigmoid(z)
    if is_zero is not None:
        frac = jnp.where(is_zero, 1.0, frac)
    return top * frac


def mean_viability(
    lo: jnp.ndarray,
    hi: jnp.ndarray,
    log10_ic50: jnp.ndarray,
    hill: jnp.ndarray,
    top: jnp.ndarray,
    bottom_fraction: jnp.ndarray,
) -> jnp.ndarray:
    """Average of :func:`log_logistic` over ``[lo, hi]`` in log10 dose (the normalised AUC).

    Uses the closed form of the integral of a sigmoid (a softplus), so it is exact and finite.
    """
    k = hill * LN10
    width = jnp.maximum(hi - lo, 1e-6)
    # integral of sigmoid(-k (x - L)) dx from lo to hi = [softplus(-k(lo-L)) - softplus(-k(hi-L))]/k
    integral = (nn.softplus(-k * (lo - log10_ic50)) - nn.softplus(-k * (hi - log10_ic50))) / k
    frac_sig = integral / width
    return top * (bottom_fraction + (1.0 - bottom_fraction) * frac_sig)


def absolute_log10_ic50(
    log10_ic50: jnp.ndarray,
    hill: jnp.ndarray,
    top: jnp.ndarray,
    bottom_fraction: jnp.ndarray,
    level: float = 0.5,
) -> jnp.ndarray:
    """Log10 dose where the curve crosses ``level`` viability (the absolute IC50).

    Returns ``+inf`` where the curve never falls to ``level`` (bottom above it) and ``-inf``
    where it starts below it (top at or below ``level``). Never NaN for finite inputs.
    """
    s = (level / top - bottom_fraction) / jnp.maximum(1.0 - bottom_fraction, 1e-12)
    inside = (s > 0.0) & (s < 1.0)
    s_safe = jnp.clip(s, 1e-30, 1.0 - 1e-7)
    x = log10_ic50 - (jnp.log(s_safe) - jnp.log1p(-s_safe)) / (hill * LN10)
    return jnp.where(inside, x, jnp.where(s <= 0.0, jnp.inf, -jnp.inf))
