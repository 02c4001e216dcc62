"""Curve maths in one place, array-generic: the model (``jax.numpy``) and the float64 host side
(``numpy``: derived quantities, surfaces, simulators, plots) call the same functions.

Every function takes ``xp``, the array module (``jax.numpy`` by default, or ``numpy``). With
``jax.numpy`` the forms are float32-safe (finite values and gradients at any dose) and use
``jax.nn`` where a stable primitive exists, so the model's arithmetic is what it always was;
with ``numpy`` the same expressions are evaluated in float64, with float64 limits where a form
needs a guard (:func:`sigmoid`, :func:`absolute_log10_ic50`, :func:`growth_curve`).

All curves take log10 doses. Dose 0 (untreated) is never passed through a logarithm: callers
mark it (``is_zero``, ``zero_a``/``zero_b``) and the curve takes its dose-0 value there.

Contents: the 4PL (:func:`hill_sigmoid`, :func:`log_logistic`, its mean over a dose range
:func:`mean_viability` and the absolute IC50 :func:`absolute_log10_ic50`); the MuSyC surface
(:func:`musyc_e3`, :func:`musyc_state_log_weights`, :func:`musyc_viability`); tumour growth forms
(:func:`growth_curve`, :func:`regrowth_log_ratio`, :func:`log_volume`); GR values from cell
counts (:func:`gr_value`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import nn

Array = Any
"""A ``numpy`` or ``jax.numpy`` array (or a scalar broadcasting against one)."""

LN10 = 2.302585092994046
LN2 = 0.6931471805599453
NEG = -1.0e4
"""Stand-in for log(0) of an untreated dose: exp(NEG) is 0 in float32 (and float64) and no
gradient is NaN."""


# ------------------------------------------------------------------------------ primitives
def sigmoid(z: Array, xp: ModuleType = jnp) -> Array:
    """Logistic function ``1 / (1 + exp(-z))``, finite at any ``z``.

    ``jax.nn.sigmoid`` for ``jax.numpy``; for ``numpy`` (float64) ``z`` is clipped to
    ``[-700, 700]`` first, so ``exp`` never overflows.
    """
    if xp is jnp:
        return nn.sigmoid(z)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))


def softplus(x: Array, xp: ModuleType = jnp) -> Array:
    """``log(1 + exp(x))`` without overflow (``logaddexp(0, x)``)."""
    return xp.logaddexp(0.0, x)


def _log_sigmoid(x: Array, xp: ModuleType) -> Array:
    return -softplus(-x, xp)


# --------------------------------------------------------------------------------------- 4PL
def hill_sigmoid(log10_dose: Array, log10_ic50: Array, hill: Array,
                 xp: ModuleType = jnp) -> Array:
    """The falling part of a Hill curve, ``1 / (1 + (d / IC50)^hill)``, from 1 to 0.

    Evaluated as ``sigmoid(-hill * ln(10) * (log10_dose - log10_ic50))`` (:func:`sigmoid`), so
    it never overflows. Every 4PL is ``lower + (upper - lower)`` times this (as written here or
    rearranged, e.g. :func:`log_logistic`).
    """
    return sigmoid(-hill * LN10 * (log10_dose - log10_ic50), xp)


def log_logistic(
    log10_dose: Array,
    log10_ic50: Array,
    hill: Array,
    top: Array,
    bottom_fraction: Array,
    is_zero: Array | None = None,
    xp: ModuleType = jnp,
) -> Array:
    """Four-parameter log-logistic viability curve.

    ``top * (b + (1 - b) * sigmoid(-hill * ln(10) * (log10_dose - log10_ic50)))`` where ``b`` is
    the bottom as a fraction of the top, so the curve runs from ``top`` (no drug) down to
    ``bottom = top * b`` (infinite dose) with its midpoint at the relative IC50. Written through
    a stable sigmoid (:func:`hill_sigmoid`) it never overflows, whatever the dose.

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
    xp : module
        ``jax.numpy`` (model) or ``numpy`` (float64 host side).

    Returns
    -------
    array
        Viability, broadcast over the inputs.
    """
    frac = bottom_fraction + (1.0 - bottom_fraction) * hill_sigmoid(log10_dose, log10_ic50,
                                                                    hill, xp)
    if is_zero is not None:
        frac = xp.where(is_zero, 1.0, frac)
    return top * frac


def mean_viability(
    lo: Array,
    hi: Array,
    log10_ic50: Array,
    hill: Array,
    top: Array,
    bottom_fraction: Array,
    xp: ModuleType = jnp,
) -> Array:
    """Average of :func:`log_logistic` over ``[lo, hi]`` in log10 dose (the normalised AUC).

    Uses the closed form of the integral of a sigmoid (a softplus), so it is exact and finite.
    """
    k = hill * LN10
    width = xp.maximum(hi - lo, 1e-6)
    # integral of sigmoid(-k (x - L)) dx from lo to hi = [softplus(-k(lo-L)) - softplus(-k(hi-L))]/k
    integral = (softplus(-k * (lo - log10_ic50), xp) - softplus(-k * (hi - log10_ic50), xp)) / k
    return top * (bottom_fraction + (1.0 - bottom_fraction) * integral / width)


def _unit_interval_guards(xp: ModuleType) -> tuple[float, float, float]:
    """``(floor of 1 - b, lowest s, highest s)`` kept finite by :func:`absolute_log10_ic50`:
    float32-safe bounds for ``jax.numpy`` (finite gradients), the float64 neighbours of 0 and 1
    for ``numpy`` (values strictly inside (0, 1) are left as they are)."""
    if xp is jnp:
        return 1e-12, 1e-30, 1.0 - 1e-7
    return 1e-300, float(np.nextafter(0.0, 1.0)), float(np.nextafter(1.0, 0.0))


def absolute_log10_ic50(
    log10_ic50: Array,
    hill: Array,
    top: Array,
    bottom_fraction: Array,
    level: float = 0.5,
    xp: ModuleType = jnp,
) -> Array:
    """Log10 dose where the curve crosses ``level`` viability (the absolute IC50).

    Returns ``+inf`` where the curve never falls to ``level`` (bottom above it) and ``-inf``
    where it starts below it (top at or below ``level``). Never NaN for finite inputs.
    """
    floor, s_lo, s_hi = _unit_interval_guards(xp)
    s = (level / top - bottom_fraction) / xp.maximum(1.0 - bottom_fraction, floor)
    inside = (s > 0.0) & (s < 1.0)
    s_safe = xp.clip(s, s_lo, s_hi)
    x = log10_ic50 - (xp.log(s_safe) - xp.log1p(-s_safe)) / (hill * LN10)
    return xp.where(inside, x, xp.where(s <= 0.0, xp.inf, -xp.inf))


def gr_value(count: Array, count_time_zero: Array, count_control: Array,
             xp: ModuleType = jnp) -> Array:
    """Growth-rate inhibition value (Hafner et al. 2016, Nature Methods 13:521).

    ``GR(c) = 2^(log2(x(c) / x0) / log2(x_ctrl / x0)) - 1``, with ``x(c)`` the cell count at
    the end of treatment at concentration ``c``, ``x0`` the count at the time of treatment and
    ``x_ctrl`` the untreated count at the end: 1 without effect, 0 for complete cytostasis,
    below 0 for net cell death, -1 when every cell died. Counts must be > 0 and
    ``x_ctrl > x0``.
    """
    ratio = (xp.log2(count) - xp.log2(count_time_zero)) / (
        xp.log2(count_control) - xp.log2(count_time_zero))
    return 2.0 ** ratio - 1.0


# ------------------------------------------------------------------------------------ MuSyC
def musyc_state_log_weights(
    lx_a: Array, lx_b: Array, h_a: Array, h_b: Array,
    log_alpha12: Array, log_alpha21: Array,
    log_gamma12: Array | float = 0.0, log_gamma21: Array | float = 0.0,
    xp: ModuleType = jnp,
) -> tuple[Array, Array, Array, Array]:
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
    xp : module
        ``jax.numpy`` or ``numpy``.
    """
    ly_a = xp.exp(log_gamma21) * (lx_a + h_a * log_alpha21)
    ly_b = xp.exp(log_gamma12) * (lx_b + h_b * log_alpha12)
    l2 = xp.full_like(lx_a, LN2)
    lw_u = xp.logaddexp(xp.logaddexp(l2, ly_a), ly_b)
    lw_1 = xp.logaddexp(lx_a + xp.logaddexp(l2, ly_a), ly_a + lx_b)
    lw_2 = xp.logaddexp(lx_b + xp.logaddexp(l2, ly_b), ly_b + lx_a)
    lw_12 = xp.logaddexp(xp.logaddexp(ly_b + lx_a, ly_a + lx_b),
                         ly_a + ly_b + xp.logaddexp(lx_a, lx_b))
    return lw_u, lw_1, lw_2, lw_12


def musyc_bottom_fraction(logit_bottom: Array, lower: Array | float = 0.0,
                          xp: ModuleType = jnp) -> Array:
    """A drug's maximal effect as a fraction of E0, ``E_i / E0 = lower + (1 - lower)
    sigmoid(logit_bottom)``, in ``(lower, 1)``: ``lower = 0`` for viability (``E_i`` in
    ``(0, E0)``), ``lower < 0`` for growth rates, where a drug that kills cells has a negative
    rate (net death)."""
    return lower + (1.0 - lower) * sigmoid(logit_bottom, xp)


def musyc_e3(e0: Array, e1: Array, e2: Array, beta: Array, xp: ModuleType = jnp) -> Array:
    """Response at saturating doses of both drugs from MuSyC's synergistic efficacy ``beta``:
    ``E3 = min(E1, E2) - beta * (E0 - min(E1, E2))`` (``beta > 0``: the combination goes below
    the stronger drug's maximum effect). The same for viability and for growth rates, where
    ``E1``, ``E2``, ``E3`` may be negative (Meyer, Wooten et al. 2019: beta is relative to the
    stronger drug's effect ``E0 - min(E1, E2)``, whatever the sign of ``min(E1, E2)``)."""
    emin = xp.minimum(e1, e2)
    return emin - beta * (e0 - emin)


def _softmax0(lw: Array, xp: ModuleType) -> Array:
    """Softmax over the first axis (``jax.nn.softmax`` for ``jax.numpy``)."""
    if xp is jnp:
        return nn.softmax(lw, axis=0)
    w = np.exp(lw - lw.max(axis=0))
    return w / w.sum(axis=0)


def musyc_viability(
    x_a: Array, x_b: Array, zero_a: Array, zero_b: Array,
    log10_c_a: Array, log10_c_b: Array, h_a: Array, h_b: Array,
    e0: Array, e1: Array, e2: Array, e3: Array,
    log_alpha12: Array, log_alpha21: Array,
    log_gamma12: Array | float = 0.0, log_gamma21: Array | float = 0.0,
    xp: ModuleType = jnp,
) -> Array:
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
    xp : module
        ``jax.numpy`` (model) or ``numpy`` (float64 surfaces and simulators).
    """
    lx_a = xp.where(zero_a, NEG, h_a * LN10 * (x_a - log10_c_a))
    lx_b = xp.where(zero_b, NEG, h_b * LN10 * (x_b - log10_c_b))
    lw = musyc_state_log_weights(lx_a, lx_b, h_a, h_b, log_alpha12, log_alpha21, log_gamma12,
                                 log_gamma21, xp)
    p = _softmax0(xp.stack(xp.broadcast_arrays(*lw), axis=0), xp)
    return p[0] * e0 + p[1] * e1 + p[2] * e2 + p[3] * e3


# ------------------------------------------------------------------------------ tumour growth
GROWTH_FORMS = {
    "exponential": "log V = b + r t",
    "gompertz": "log V = b + r (1 - exp(-beta t)) / beta",
    "simeoni": "exponential at rate r until V reaches lambda1 / r, then linear at lambda1 "
               "(mm3/day)",
    "regrowth": "V = V0 [f exp(-d t) + (1 - f) exp(r t)]: a sensitive fraction f decays at d, "
                "a resistant fraction grows at r",
}


def growth_curve(t: Array, rate: Array, deceleration: Array, xp: ModuleType = jnp) -> Array:
    """``g(t)`` times the rate: ``r t`` (deceleration 0) or ``r (1 - exp(-beta t)) / beta``.

    Float32-safe for any ``beta >= 0``: ``-expm1(-beta t) / beta`` is evaluated as
    ``t * (-expm1(-x) / x)`` with ``x = beta t``, which is 1 at ``x = 0``; below ``x = 1e-4``
    (``jax.numpy``) or ``1e-8`` (``numpy``, float64) the ratio is its series ``1 - x / 2``.
    """
    x = deceleration * t
    small = x < (1e-4 if xp is jnp else 1e-8)
    xs = xp.where(small, 1.0, x)
    ratio = xp.where(small, 1.0 - 0.5 * x, -xp.expm1(-xs) / xs)
    return rate * t * ratio


def regrowth_log_ratio(t: Array, log_f: Array, log_1mf: Array, decay: Array, rate: Array,
                       xp: ModuleType = jnp) -> Array:
    """``log(f exp(-d t) + (1 - f) exp(r t))``: a fraction ``f`` decays at ``d``, the rest grows at
    ``r`` (given as ``log f`` and ``log(1 - f)``), as a ``logaddexp`` (finite at any ``t``)."""
    return xp.logaddexp(log_f - decay * t, log_1mf + rate * t)


def log_volume(t: Array, b: Array, r: Array, growth: str = "exponential",
               deceleration: Array = 0.0, log_linear_rate: Array = 0.0,
               log_regression_rate: Array = 0.0, logit_sensitive: Array = 0.0,
               xp: ModuleType = jnp) -> Array:
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
        return b + regrowth_log_ratio(t, _log_sigmoid(logit_sensitive, xp),
                                      _log_sigmoid(-logit_sensitive, xp), d, r, xp)
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
