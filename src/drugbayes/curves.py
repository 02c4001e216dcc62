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


LN2 = 0.6931471805599453
NEG = -1.0e4
"""Stand-in for log(0) of an untreated dose: exp(NEG) is 0 in float32 and no gradient is NaN."""


def musyc_state_log_weights(
    lx_a: jnp.ndarray, lx_b: jnp.ndarray, h_a: jnp.ndarray, h_b: jnp.ndarray,
    log_alpha12: jnp.ndarray, log_alpha21: jnp.ndarray,
    log_gamma12: jnp.ndarray | float = 0.0, log_gamma21: jnp.ndarray | float = 0.0,
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Unnormalised log occupancies of MuSyC's four states (unit reverse rates).

    The two-drug MuSyC model is a four-state Markov chain: unaffected (U), affected by drug a
    only (A1), by drug b only (A2), by both (A12). With ``x_a = (d_a / C_a)^h_a``,
    ``y_a = (alpha21 d_a / C_a)^(gamma21 h_a)`` (drug b shifts drug a's potency by ``alpha21``
    and its cooperativity by ``gamma21``) and likewise ``x_b``,
    ``y_b = (alpha12 d_b / C_b)^(gamma12 h_b)``, and unit reverse rates for both drugs (the
    ``r1r = r2r = 1`` default of the ``synergy`` package), the steady state (matrix-tree
    theorem on the four-state cycle) is proportional to

    ``U: 2 + y_a + y_b``, ``A1: x_a (2 + y_a) + y_a x_b``, ``A2: x_b (2 + y_b) + y_b x_a``,
    ``A12: y_b x_a + y_a x_b + y_a y_b (x_a + x_b)``.

    Under detailed balance (``alpha21^h_a = alpha12^h_b``) these reduce to ``1, x_a, x_b,
    alpha x_a x_b``; with ``d_b = 0`` the surface is drug a's Hill curve. The weights are
    returned as logarithms (log-sum-exp throughout), so they stay finite in float32 at any dose.

    Parameters
    ----------
    lx_a, lx_b : array
        ``log x = h * ln(10) * (log10 dose - log10 C)``; pass :data:`NEG` for dose 0.
    h_a, h_b : array
        Hill slopes.
    log_alpha12, log_alpha21 : array
        Natural logs of the potency shifts (``alpha12``: drug a on drug b's potency).
    log_gamma12, log_gamma21 : array or float
        Natural logs of the cooperativity shifts (0: gamma = 1, MuSyC's default).
    """
    ly_a = jnp.exp(log_gamma21) * (lx_a + h_a * log_alpha21)
    ly_b = jnp.exp(log_gamma12) * (lx_b + h_b * log_alpha12)
    l2 = jnp.full_like(lx_a, LN2)
    lw_u = jnp.logaddexp(jnp.logaddexp(l2, ly_a), ly_b)
    lw_1 = jnp.logaddexp(lx_a + jnp.logaddexp(l2, ly_a), ly_a + lx_b)
    lw_2 = jnp.logaddexp(lx_b + jnp.logaddexp(l2, ly_b), ly_b + lx_a)
    lw_12 = jnp.logaddexp(jnp.logaddexp(ly_b + lx_a, ly_a + lx_b),
                          ly_a + ly_b + jnp.logaddexp(lx_a, lx_b))
    return lw_u, lw_1, lw_2, lw_12


def musyc_viability(
    x_a: jnp.ndarray, x_b: jnp.ndarray, zero_a: jnp.ndarray, zero_b: jnp.ndarray,
    log10_c_a: jnp.ndarray, log10_c_b: jnp.ndarray, h_a: jnp.ndarray, h_b: jnp.ndarray,
    e0: jnp.ndarray, e1: jnp.ndarray, e2: jnp.ndarray, e3: jnp.ndarray,
    log_alpha12: jnp.ndarray, log_alpha21: jnp.ndarray,
    log_gamma12: jnp.ndarray | float = 0.0, log_gamma21: jnp.ndarray | float = 0.0,
) -> jnp.ndarray:
    """MuSyC combination surface (viability), float32-safe at any dose.

    ``E = (w_U E0 + w_1 E1 + w_2 E2 + w_12 E3) / (w_U + w_1 + w_2 + w_12)`` with the state
    weights of :func:`musyc_state_log_weights`, evaluated as a softmax of log weights.

    Parameters
    ----------
    x_a, x_b : array
        Log10 doses of drug a and drug b (same origin as ``log10_c_*``; ignored where zero).
    zero_a, zero_b : bool array
        Untreated by that drug (dose 0).
    log10_c_a, log10_c_b, h_a, h_b : array
        Monotherapy potencies (EC50, log10) and Hill slopes.
    e0, e1, e2, e3 : array
        Viability untreated, at saturating drug a, drug b, and both.
    log_alpha12, log_alpha21 : array
        Natural logs of the synergistic potencies.
    log_gamma12, log_gamma21 : array or float
        Natural logs of the synergistic cooperativities (0 by default).
    """
    lx_a = jnp.where(zero_a, NEG, h_a * LN10 * (x_a - log10_c_a))
    lx_b = jnp.where(zero_b, NEG, h_b * LN10 * (x_b - log10_c_b))
    lw = musyc_state_log_weights(lx_a, lx_b, h_a, h_b, log_alpha12, log_alpha21, log_gamma12,
                                 log_gamma21)
    lw = jnp.stack(jnp.broadcast_arrays(*lw), axis=0)
    p = nn.softmax(lw, axis=0)
    return p[0] * e0 + p[1] * e1 + p[2] * e2 + p[3] * e3


GROWTH_FORMS = {
    "exponential": "log V = b + r t",
    "gompertz": "log V = b + r (1 - exp(-beta t)) / beta",
    "simeoni": "exponential at rate r until V reaches lambda1 / r, then linear at lambda1 "
               "(mm3/day)",
    "regrowth": "V = V0 [f exp(-d t) + (1 - f) exp(r t)]: a sensitive fraction f decays at d, "
                "a resistant fraction grows at r",
}


def _log_sigmoid(x, xp):
    return -xp.logaddexp(0.0, -x)


def growth_curve(t, rate, deceleration, xp=jnp):
    """``g(t)`` times the rate: ``r t`` (deceleration 0) or ``r (1 - exp(-beta t)) / beta``.

    Float32-safe for any ``beta >= 0``: ``-expm1(-beta t) / beta`` is evaluated as
    ``t * (-expm1(-x) / x)`` with ``x = beta t``, which is 1 at ``x = 0``.
    """
    x = deceleration * t
    small = x < 1e-4
    xs = xp.where(small, 1.0, x)
    ratio = xp.where(small, 1.0 - 0.5 * x, -xp.expm1(-xs) / xs)
    return rate * t * ratio


def log_volume(t, b, r, growth: str = "exponential", deceleration=0.0, log_linear_rate=0.0,
               log_regression_rate=0.0, logit_sensitive=0.0, xp=jnp):
    """Model log volume ``log V(t)`` of a mouse with log baseline ``b`` and rate ``r``.

    Parameters
    ----------
    t : array
        Time since the start of treatment (any unit; rates in the same unit).
    b, r : array
        Log baseline volume and growth rate (the resistant fraction's rate for ``regrowth``).
    growth : {"exponential", "gompertz", "simeoni", "regrowth"}
        See :data:`GROWTH_FORMS`.
    deceleration : array
        Gompertz ``beta``.
    log_linear_rate : array
        Simeoni: log of the linear growth rate ``lambda1`` (volume per time unit).
    log_regression_rate, logit_sensitive : array
        Regrowth: log of the decay rate ``d`` and logit of the sensitive fraction ``f``.
    xp : module
        ``jax.numpy`` (model) or ``numpy`` (summaries, float64).

    Notes
    -----
    Every form is finite in float32 at any time and parameter value: Gompertz through an
    ``expm1`` ratio, regrowth as ``logaddexp(log f - d t, log(1 - f) + r t)`` (never a sum of
    exponentials), Simeoni's linear phase as ``log(V_s) + log1p(lambda1 (t - t_s) / V_s)``.
    """
    if growth in ("exponential", "gompertz"):
        return b + growth_curve(t, r, deceleration if growth == "gompertz" else 0.0, xp)
    if growth == "regrowth":
        d = xp.exp(log_regression_rate)
        return b + xp.logaddexp(_log_sigmoid(logit_sensitive, xp) - d * t,
                                _log_sigmoid(-logit_sensitive, xp) + r * t)
    if growth == "simeoni":
        eps = 1e-6
        rp = xp.maximum(r, eps)
        lv_switch = log_linear_rate - xp.log(rp)  # the volume where r V = lambda1
        lv_start = xp.maximum(b, lv_switch)
        t_switch = xp.maximum((lv_switch - b) / rp, 0.0)
        dt = xp.maximum(t - t_switch, 0.0)
        linear = lv_start + xp.log1p(xp.exp(log_linear_rate - lv_start) * dt)
        return xp.where((r > eps) & (t > t_switch), linear, b + r * t)
    raise ValueError(f"unknown growth {growth!r}")
