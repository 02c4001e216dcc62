"""Family ``combination``: Bayesian MuSyC with Bliss, HSA and Loewe posteriors.

The combination surface is MuSyC (Meyer et al. 2019; Wooten et al. 2021) on viability, with
the two monotherapy curves inside the same model (a matrix's ``dose_b = 0`` row *is* drug a's
Hill curve). Log10 doses are molar, centred per drug on the middle of its tested range, so
potencies are relative to the tested range and changing the dose unit changes nothing but units.

Structure (levels with one member collapse; ``parameterization = "centered"``, the default,
samples the monotherapy curves and the per-combination beta centred, since each is pinned by
its own checkerboard, while log alpha, log gamma and the matrix level are always non-centred):

- drug level: ``mu_log10_c[drug] ~ Normal(0, half_range + log10_c_extra_sd)``, ``mu_log_hill``,
  ``mu_logit_bottom`` (bottom = Emax as a fraction of E0);
- monotherapy level (cell line x drug, shared by every pair the drug is in): deviations of
  log10 C, log Hill and logit bottom;
- pair level (population, the *pooled* rows): ``pop_beta``, ``pop_log_alpha12``,
  ``pop_log_alpha21`` (and ``pop_log_gamma*`` with ``fit_gamma``);
- combination level (cell line x pair, the summary groups): deviations of beta and log alpha
  across cell lines, ``log E0`` per combination;
- matrix level (combination x experiment): deviations of beta, log alpha and log E0 across
  replicate experiments (``experiment_effects``).

``E1 = E0 * sigmoid(logit_bottom_a)``, ``E2 = E0 * sigmoid(logit_bottom_b)`` and
``E3 = min(E1, E2) - beta * (E0 - min(E1, E2))``, so ``beta > 0`` means the combination kills
more than the stronger drug's maximum (synergistic efficacy), ``log_alpha12 > 0`` means drug a
makes drug b more potent, ``log_alpha21 > 0`` drug b makes drug a more potent.

Sign convention (every output says it): surfaces are **viability**; synergy quantities are
reported so that **positive = synergy**. The excess over a null is
``null viability - combination viability`` on viability normalised by the fitted E0.

Null models, per posterior draw, from the fitted monotherapy curves ``f_a``, ``f_b``
(viability / E0):

- Bliss: ``f_a * f_b``; HSA: ``min(f_a, f_b)``;
- Loewe: the viability ``E`` with ``d_a / D_a(E) + d_b / D_b(E) = 1``, ``D_i`` the inverse
  Hill curve, solved by vectorised bisection in float64. Where ``E`` lies beyond one drug's
  maximum effect that drug's term is 0 (it cannot reach ``E`` at any dose): the continuous
  extension of the Loewe equation, which gives ``min(f_a, f_b)`` exactly where the stronger
  drug alone already goes past the weaker drug's maximum. That is the ``synergy`` package's
  ``Loewe(mode="delta_HSA")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from jax import nn
from numpy.typing import ArrayLike
from pydantic import Field

from ..curves import musyc_viability
from ._contract import Family, Spec, StrictModel
from ._zip import zip_delta_classic, zip_delta_classic_data  # noqa: F401  (public here)

if TYPE_CHECKING:
    from ..data.combination import CombinationData

LN10 = np.log(10.0)


class CombinationOptions(StrictModel):
    """Options of the ``combination`` family."""

    likelihood: Literal["normal", "student_t"] = "normal"
    student_t_df: float = Field(4.0, gt=0)
    experiment_effects: bool = True
    fit_gamma: bool = False
    parameterization: Literal["centered", "noncentered"] = "centered"


class CombinationPriors(StrictModel):
    """Prior scales (log10 C in decades, viability as a fraction of untreated, log = ln)."""

    log10_c_extra_sd: float = Field(1.0, gt=0, description="added to the half tested range")
    mono_log10_c_sd: float = Field(0.5, gt=0)
    log_hill_mean: float = 0.0
    log_hill_sd: float = Field(0.5, gt=0)
    mono_log_hill_sd: float = Field(0.3, gt=0)
    logit_bottom_mean: float = -1.0
    logit_bottom_sd: float = Field(1.5, gt=0)
    mono_logit_bottom_sd: float = Field(1.0, gt=0)
    log_top_sd: float = Field(0.1, gt=0)
    beta_sd: float = Field(0.5, gt=0)
    cell_beta_sd: float = Field(0.3, gt=0)
    log_alpha_sd: float = Field(1.0, gt=0)
    cell_log_alpha_sd: float = Field(0.5, gt=0)
    log_gamma_sd: float = Field(0.5, gt=0)
    cell_log_gamma_sd: float = Field(0.3, gt=0)
    experiment_beta_sd: float = Field(0.1, gt=0)
    experiment_log_alpha_sd: float = Field(0.2, gt=0)
    experiment_log_top_sd: float = Field(0.05, gt=0)
    noise_sd: float = Field(0.2, gt=0)


GRP = ("grp_log_top", "grp_log10_c_a", "grp_log10_c_b", "grp_log_hill_a", "grp_log_hill_b",
       "grp_logit_bottom_a", "grp_logit_bottom_b", "grp_beta", "grp_log_alpha12",
       "grp_log_alpha21", "grp_log_gamma12", "grp_log_gamma21")
MAT = ("mat_beta", "mat_log_alpha12", "mat_log_alpha21", "mat_log_top")
DETERMINISTIC = GRP + MAT + ("mono_log10_c", "mono_log_hill", "mono_logit_bottom")


def arrays(data: CombinationData) -> dict:
    """Numeric arrays (and sizes) the model needs, from :class:`CombinationData`."""
    n_cells_per_drug = np.bincount(data.mono_drug, minlength=len(data.drugs))
    n_cells_per_pair = np.bincount(data.combo_pair, minlength=len(data.pairs))
    return {
        "n_drug": len(data.drugs), "n_pair": len(data.pairs), "n_mono": len(data.mono_drug),
        "n_combo": data.n_combos, "n_matrix": data.n_matrices,
        "mono_drug": data.mono_drug, "combo_pair": data.combo_pair,
        "combo_mono_a": data.combo_mono_a, "combo_mono_b": data.combo_mono_b,
        "matrix_combo": data.matrix_combo,
        "x_a": data.x_a, "x_b": data.x_b, "zero_a": data.zero_a, "zero_b": data.zero_b,
        "y": data.y, "mask": data.mask, "half_range": data.drug_half_range.astype(np.float32),
        "mono_active": bool(n_cells_per_drug.max() > 1),
        "combo_active": bool(n_cells_per_pair.max() > 1),
        "matrix_active": bool(data.n_matrices > data.n_combos),
    }


def _effect(site: str, loc: jnp.ndarray, sigma: jnp.ndarray | float, active: bool,
            centered: bool) -> jnp.ndarray:
    """Members ``site ~ Normal(loc, sigma)``: sampled directly (centred), as
    ``loc + sigma * z_<site>`` (non-centred), or ``loc`` when the level has one member."""
    if not active:
        return numpyro.deterministic(site, loc)
    if centered:
        return numpyro.sample(site, dist.Normal(loc, sigma).to_event(1))
    z = numpyro.sample(f"z_{site}", dist.Normal(0.0, 1.0).expand(list(loc.shape)).to_event(1))
    return numpyro.deterministic(site, loc + sigma * z)


def _sigma(name: str, scale: float, active: bool) -> jnp.ndarray | float:
    return numpyro.sample(f"sigma_{name}", dist.HalfNormal(scale)) if active else 1.0


def model(a: dict, spec: Spec, observed: bool = True) -> None:
    """NumPyro model of the ``combination`` family.

    Parameters
    ----------
    a : dict
        Output of :func:`arrays`.
    spec : Spec
    observed : bool
        Condition on the responses (False gives prior/posterior predictive draws).
    """
    p, o = spec.priors, spec.options
    cen = o.parameterization == "centered"
    n_combo, n_mat = a["n_combo"], a["n_matrix"]
    with numpyro.plate("drug", a["n_drug"]):
        mu_c = numpyro.sample("mu_log10_c", dist.Normal(
            0.0, jnp.asarray(a["half_range"]) + p.log10_c_extra_sd))
        mu_h = numpyro.sample("mu_log_hill", dist.Normal(p.log_hill_mean, p.log_hill_sd))
        mu_b = numpyro.sample("mu_logit_bottom",
                              dist.Normal(p.logit_bottom_mean, p.logit_bottom_sd))
    md = a["mono_drug"]
    act = a["mono_active"]
    m_c = _effect("mono_log10_c", mu_c[md], _sigma("mono_log10_c", p.mono_log10_c_sd, act),
                  act, cen)
    m_h = _effect("mono_log_hill", mu_h[md], _sigma("mono_log_hill", p.mono_log_hill_sd, act),
                  act, cen)
    m_b = _effect("mono_logit_bottom", mu_b[md],
                  _sigma("mono_logit_bottom", p.mono_logit_bottom_sd, act), act, cen)
    with numpyro.plate("pair", a["n_pair"]):
        pop_beta = numpyro.sample("pop_beta", dist.Normal(0.0, p.beta_sd))
        pop_la12 = numpyro.sample("pop_log_alpha12", dist.Normal(0.0, p.log_alpha_sd))
        pop_la21 = numpyro.sample("pop_log_alpha21", dist.Normal(0.0, p.log_alpha_sd))
        if o.fit_gamma:
            pop_lg12 = numpyro.sample("pop_log_gamma12", dist.Normal(0.0, p.log_gamma_sd))
            pop_lg21 = numpyro.sample("pop_log_gamma21", dist.Normal(0.0, p.log_gamma_sd))
    cp = a["combo_pair"]
    cact = a["combo_active"]
    g_beta = _effect("grp_beta", pop_beta[cp], _sigma("combo_beta", p.cell_beta_sd, cact),
                     cact, cen)
    s_la = _sigma("combo_log_alpha", p.cell_log_alpha_sd, cact)
    # potency (and cooperativity) shifts are weakly pinned by one checkerboard: non-centred
    g_la12 = _effect("grp_log_alpha12", pop_la12[cp], s_la, cact, False)
    g_la21 = _effect("grp_log_alpha21", pop_la21[cp], s_la, cact, False)
    if o.fit_gamma:
        s_lg = _sigma("combo_log_gamma", p.cell_log_gamma_sd, cact)
        g_lg12 = _effect("grp_log_gamma12", pop_lg12[cp], s_lg, cact, False)
        g_lg21 = _effect("grp_log_gamma21", pop_lg21[cp], s_lg, cact, False)
    else:
        g_lg12 = numpyro.deterministic("grp_log_gamma12", jnp.zeros(n_combo))
        g_lg21 = numpyro.deterministic("grp_log_gamma21", jnp.zeros(n_combo))
    z_top = numpyro.sample("z_log_top", dist.Normal(0.0, 1.0).expand([n_combo]).to_event(1))
    g_top = numpyro.deterministic("grp_log_top", p.log_top_sd * z_top)
    ia, ib = a["combo_mono_a"], a["combo_mono_b"]
    g_ca = numpyro.deterministic("grp_log10_c_a", m_c[ia])
    g_cb = numpyro.deterministic("grp_log10_c_b", m_c[ib])
    g_ha = numpyro.deterministic("grp_log_hill_a", m_h[ia])
    g_hb = numpyro.deterministic("grp_log_hill_b", m_h[ib])
    g_ba = numpyro.deterministic("grp_logit_bottom_a", m_b[ia])
    g_bb = numpyro.deterministic("grp_logit_bottom_b", m_b[ib])

    # matrix level: replicate experiments of a combination
    mk = a["matrix_combo"]
    mact = o.experiment_effects and a["matrix_active"]
    if mact:
        s_eb = numpyro.sample("sigma_matrix_beta", dist.HalfNormal(p.experiment_beta_sd))
        s_ea = numpyro.sample("sigma_matrix_log_alpha",
                              dist.HalfNormal(p.experiment_log_alpha_sd))
        z_m = numpyro.sample("z_matrix", dist.Normal(0.0, 1.0).expand([4, n_mat]).to_event(2))
        m_beta = g_beta[mk] + s_eb * z_m[0]
        m_la12 = g_la12[mk] + s_ea * z_m[1]
        m_la21 = g_la21[mk] + s_ea * z_m[2]
        m_top = g_top[mk] + p.experiment_log_top_sd * z_m[3]
    else:
        m_beta, m_la12, m_la21, m_top = g_beta[mk], g_la12[mk], g_la21[mk], g_top[mk]
    m_beta = numpyro.deterministic("mat_beta", m_beta)
    m_la12 = numpyro.deterministic("mat_log_alpha12", m_la12)
    m_la21 = numpyro.deterministic("mat_log_alpha21", m_la21)
    m_top = numpyro.deterministic("mat_log_top", m_top)

    def col(v):
        return v[:, None]

    e0 = jnp.exp(m_top)
    e1 = e0 * nn.sigmoid(g_ba[mk])
    e2 = e0 * nn.sigmoid(g_bb[mk])
    emin = jnp.minimum(e1, e2)
    e3 = emin - m_beta * (e0 - emin)
    v = musyc_viability(jnp.asarray(a["x_a"]), jnp.asarray(a["x_b"]), jnp.asarray(a["zero_a"]),
                        jnp.asarray(a["zero_b"]), col(g_ca[mk]), col(g_cb[mk]),
                        col(jnp.exp(g_ha[mk])), col(jnp.exp(g_hb[mk])), col(e0), col(e1),
                        col(e2), col(e3), col(m_la12), col(m_la21), col(g_lg12[mk]),
                        col(g_lg21[mk]))
    sigma = numpyro.sample("sigma", dist.HalfNormal(p.noise_sd))
    if o.likelihood == "student_t":
        obs_dist = dist.StudentT(o.student_t_df, v, sigma)
    else:
        obs_dist = dist.Normal(v, sigma)
    with numpyro.handlers.mask(mask=jnp.asarray(a["mask"])):
        numpyro.sample("y", obs_dist, obs=jnp.asarray(a["y"]) if observed else None)


CENTERED_SITES = ("mono_log10_c", "mono_log_hill", "mono_logit_bottom", "grp_beta")


def init_values(noncentered: dict, a: dict, spec: Spec) -> dict:
    """Start values for ``spec``'s coordinates from the MAP taken in non-centred coordinates.

    Centred members take the values of the matching deterministic sites of that fit; the
    other deterministic sites are dropped.
    """
    cen = spec.options.parameterization == "centered"
    latent_names = set(CENTERED_SITES) if cen else set()
    out = {}
    for k, v in noncentered.items():
        if k.startswith(("grp_", "mat_", "mono_")) and k not in latent_names:
            continue
        if cen and k.startswith("z_") and k[2:] in CENTERED_SITES:
            continue
        out[k] = v
    return out


# ------------------------------------------------------------------- float64 numpy maths
def hill_fraction(x: ArrayLike, log10_c: ArrayLike, hill: ArrayLike,
                  bottom_fraction: ArrayLike) -> np.ndarray:
    """Monotherapy viability as a fraction of E0: ``b + (1 - b) / (1 + (d / C)^h)`` (float64).

    ``x`` and ``log10_c`` are log10 doses with the same origin; pass ``x = -inf`` for dose 0.
    """
    z = np.clip(hill * LN10 * (np.asarray(x, np.float64) - log10_c), -700.0, 700.0)
    return bottom_fraction + (1.0 - bottom_fraction) / (1.0 + np.exp(z))


def musyc_surface(x_a: ArrayLike, x_b: ArrayLike, log10_c_a: ArrayLike, log10_c_b: ArrayLike,
                  h_a: ArrayLike, h_b: ArrayLike, e0: ArrayLike, e1: ArrayLike, e2: ArrayLike,
                  e3: ArrayLike, log_alpha12: ArrayLike, log_alpha21: ArrayLike,
                  log_gamma12: ArrayLike = 0.0, log_gamma21: ArrayLike = 0.0) -> np.ndarray:
    """MuSyC viability surface in float64 numpy (same maths as ``_curves.musyc_viability``).

    ``x_a``/``x_b`` are log10 doses; ``-inf`` marks dose 0. Everything broadcasts.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        neg = -1.0e300
        lx_a = np.where(np.isneginf(x_a), neg, h_a * LN10 * (x_a - log10_c_a))
        lx_b = np.where(np.isneginf(x_b), neg, h_b * LN10 * (x_b - log10_c_b))
        ly_a = np.exp(log_gamma21) * (lx_a + h_a * log_alpha21)
        ly_b = np.exp(log_gamma12) * (lx_b + h_b * log_alpha12)
        l2 = np.log(2.0)
        lw = np.stack(np.broadcast_arrays(
            np.logaddexp(np.logaddexp(l2, ly_a), ly_b),
            np.logaddexp(lx_a + np.logaddexp(l2, ly_a), ly_a + lx_b),
            np.logaddexp(lx_b + np.logaddexp(l2, ly_b), ly_b + lx_a),
            np.logaddexp(np.logaddexp(ly_b + lx_a, ly_a + lx_b),
                         ly_a + ly_b + np.logaddexp(lx_a, lx_b))))
    lw = np.maximum(lw, -1.0e300)
    lw = lw - lw.max(axis=0)
    w = np.exp(lw)
    w = w / w.sum(axis=0)
    return w[0] * e0 + w[1] * e1 + w[2] * e2 + w[3] * e3


def bliss_null(f_a: ArrayLike, f_b: ArrayLike) -> np.ndarray:
    """Bliss independence on viability: ``f_a * f_b``."""
    return np.asarray(f_a) * np.asarray(f_b)


def hsa_null(f_a: ArrayLike, f_b: ArrayLike) -> np.ndarray:
    """Highest single agent on viability: ``min(f_a, f_b)``."""
    return np.minimum(f_a, f_b)


def loewe_null(x_a: ArrayLike, x_b: ArrayLike, log10_c_a: ArrayLike, log10_c_b: ArrayLike,
               h_a: ArrayLike, h_b: ArrayLike, b_a: ArrayLike, b_b: ArrayLike,
               iterations: int = 54) -> np.ndarray:
    """Loewe additivity on viability (fraction of E0), solved by vectorised bisection (float64).

    Finds ``E`` with ``d_a / D_a(E) + d_b / D_b(E) = 1`` where ``D_i(E) = C_i ((1 - E) /
    (E - b_i))^(1 / h_i)`` inverts drug i's Hill curve ``b_i + (1 - b_i) / (1 + (d / C_i)^h_i)``.
    The left side increases with ``E`` from 0 (at ``E <= min(b_a, b_b)``) to infinity
    (``E -> 1``), so the root is unique and bracketed by ``[min(b_a, b_b), 1]``; 54 halvings
    of a bracket inside [0, 1] reach float64 resolution (2^-53).

    Policy where one drug's effect exceeds the other's maximum: a drug that cannot reach ``E``
    at any dose contributes 0 (``D_i = inf``). This is the continuous extension of the
    equation; it returns ``min(f_a, f_b)`` exactly where the stronger drug alone goes past the
    weaker drug's maximum (``Loewe(mode="delta_HSA")`` of the ``synergy`` package).
    Where a dose is 0 (``x = -inf``) the null is the other drug's curve.

    Parameters
    ----------
    x_a, x_b : array
        Log10 doses (same origin as ``log10_c_*``); ``-inf`` for dose 0.
    log10_c_a, log10_c_b, h_a, h_b, b_a, b_b : array
        Hill parameters (potency, slope, bottom as a fraction of E0, in (0, 1)).
    """
    x_a, x_b, ca, cb, ha, hb, ba, bb = np.broadcast_arrays(
        *(np.asarray(v, np.float64) for v in (x_a, x_b, log10_c_a, log10_c_b, h_a, h_b, b_a,
                                              b_b)))
    lo = np.minimum(ba, bb).copy()
    hi = np.ones_like(lo)
    la = LN10 * (x_a - ca)
    lb = LN10 * (x_b - cb)

    def term(e, l1, lx, b, h):
        t = np.exp(lx + (np.log(e - b) - l1) / h)
        return np.where(e > b, t, 0.0)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            l1 = np.log1p(-mid)  # shared by both drugs' terms
            g = term(mid, l1, la, ba, ha) + term(mid, l1, lb, bb, hb) - 1.0
            up = g > 0.0
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
    e = 0.5 * (lo + hi)
    fa = hill_fraction(x_a, ca, ha, ba)
    fb = hill_fraction(x_b, cb, hb, bb)
    za, zb = np.isneginf(x_a), np.isneginf(x_b)
    return np.where(za & zb, 1.0, np.where(za, fb, np.where(zb, fa, e)))


# ------------------------------------------------------------------------ derived quantities
def _flat_params(data: CombinationData, draws: dict, prefix: str = "grp_"
                 ) -> dict[str, np.ndarray]:
    """Per-combination parameter draws ``(chain, draw, combo)`` as float64 natural values."""
    g = {k[len(prefix):]: np.asarray(draws[k], np.float64) for k in draws
         if k.startswith(prefix)}
    e0 = np.exp(g["log_top"])
    ba = 1.0 / (1.0 + np.exp(-g["logit_bottom_a"]))
    bb = 1.0 / (1.0 + np.exp(-g["logit_bottom_b"]))
    e1, e2 = e0 * ba, e0 * bb
    emin = np.minimum(e1, e2)
    e3 = emin - g["beta"] * (e0 - emin)
    return {"e0": e0, "e1": e1, "e2": e2, "e3": e3, "b_a": ba, "b_b": bb,
            "log10_c_a": g["log10_c_a"], "log10_c_b": g["log10_c_b"],
            "h_a": np.exp(g["log_hill_a"]), "h_b": np.exp(g["log_hill_b"]), "beta": g["beta"],
            "log_alpha12": g["log_alpha12"], "log_alpha21": g["log_alpha21"],
            "log_gamma12": g.get("log_gamma12", np.zeros_like(e0)),
            "log_gamma21": g.get("log_gamma21", np.zeros_like(e0))}


_SURFACES_CACHE: list = []


def surfaces(data: CombinationData, draws: dict, keep: bool = False
             ) -> dict[str, np.ndarray]:
    """Per-well posterior surfaces on each combination's dose grid, float64 (see
    :func:`_surfaces`).

    The DataTree (:func:`observed`, ``keep=True``) and then the summary (:func:`derived`)
    need them for the same draws: a call for the same ``data`` and draw arrays (compared by
    identity) as a kept result takes it instead of recomputing (the Loewe bisection dominates
    the post-processing of a large screen). A kept result serves one reuse only and only
    the latest is kept, so a screen's surfaces are not held after both consumers have them.
    """
    keys = sorted(k for k in draws if k.startswith("grp_"))
    arrays = [draws[k] for k in keys]
    for i, (d, arr, out) in enumerate(_SURFACES_CACHE):
        if d is data and len(arr) == len(arrays) and all(a is b for a, b in zip(arr, arrays)):
            del _SURFACES_CACHE[i]
            return out
    out = _surfaces(data, draws)
    _SURFACES_CACHE[:] = [(data, arrays, out)] if keep else []
    return out


def _surfaces(data: CombinationData, draws: dict) -> dict[str, np.ndarray]:
    """Per-well posterior surfaces on each combination's dose grid, float64.

    Returns arrays ``(chain, draw, combo, dose_a_index, dose_b_index)``: ``viability`` (fitted
    MuSyC surface, E0 included), the nulls ``bliss``, ``hsa``, ``loewe`` (viability / E0) and
    the excesses ``*_excess = null - viability / E0`` and ``*_excess_observed = null -
    observed mean / E0`` (NaN where the dose pair was not tested), and the model-based ZIP
    delta ``zip_delta = (E0 f_a)(E0 f_b) - viability`` (0 where a dose is 0; see
    :func:`derived`). Positive = synergy.
    """
    q = _flat_params(data, draws)
    xa = np.where(data.grid_dose_a > 0, data.grid_x("a"), -np.inf)  # [K, ia]
    xb = np.where(data.grid_dose_b > 0, data.grid_x("b"), -np.inf)
    xa = np.where(np.isnan(data.grid_dose_a), -np.inf, xa)
    xb = np.where(np.isnan(data.grid_dose_b), -np.inf, xb)
    A = xa[None, None, :, :, None]
    B = xb[None, None, :, None, :]

    def par(k):
        return q[k][..., None, None]

    v = musyc_surface(A, B, par("log10_c_a"), par("log10_c_b"), par("h_a"), par("h_b"),
                      par("e0"), par("e1"), par("e2"), par("e3"), par("log_alpha12"),
                      par("log_alpha21"), par("log_gamma12"), par("log_gamma21"))
    fa = np.where(np.isneginf(A), 1.0, hill_fraction(A, par("log10_c_a"), par("h_a"),
                                                      par("b_a")))
    fb = np.where(np.isneginf(B), 1.0, hill_fraction(B, par("log10_c_b"), par("h_b"),
                                                      par("b_b")))
    # Loewe by bisection only where both doses are > 0 (index 0 of each grid is dose 0, where
    # the null is the other drug's curve)
    inner = loewe_null(A[..., 1:, :], B[..., :, 1:], par("log10_c_a"), par("log10_c_b"),
                       par("h_a"), par("h_b"), par("b_a"), par("b_b"))
    loewe = np.empty(v.shape)
    loewe[..., 0, :] = np.broadcast_to(fb, v.shape)[..., 0, :]
    loewe[..., :, 0] = np.broadcast_to(fa, v.shape)[..., :, 0]
    loewe[..., 1:, 1:] = inner
    nulls = {"bliss": bliss_null(fa, fb), "hsa": hsa_null(fa, fb), "loewe": loewe}
    valid = ~(np.isnan(data.grid_dose_a)[:, :, None] | np.isnan(data.grid_dose_b)[:, None, :])
    out = {"viability": np.where(valid, v, np.nan)}
    # model-based ZIP: the fitted surface in place of ZIP's row/column refits, on the data
    # scale (fraction of untreated) like the classic score; 0 where a dose is 0
    e0 = par("e0")
    margin = np.isneginf(A) | np.isneginf(B)
    out["zip_delta"] = np.where(valid, np.where(margin, 0.0, (e0 * fa) * (e0 * fb) - v), np.nan)
    vn = v / par("e0")
    yn = data.grid_y[None, None] / par("e0")
    for k, n in nulls.items():
        out[k] = np.where(valid, n, np.nan)
        out[f"{k}_excess"] = np.where(valid, n - vn, np.nan)
        out[f"{k}_excess_observed"] = np.where(data.grid_tested, n - yn, np.nan)
    return out


def combination_wells(data: CombinationData) -> np.ndarray:
    """``[combo, ia, ib]`` mask of the tested wells with both doses > 0."""
    pos = (data.grid_dose_a > 0)[:, :, None] & (data.grid_dose_b > 0)[:, None, :]
    return data.grid_tested & pos


QUANTITY_UNITS = {
    "e0": "viability fraction", "e1": "viability fraction", "e2": "viability fraction",
    "e3": "viability fraction", "c1": "dose_unit", "c2": "dose_unit",
    "log10_c1": "log10 dose_unit", "log10_c2": "log10 dose_unit", "h1": "1", "h2": "1",
    "beta": "ratio (E0 - min(E1,E2) units)", "log_alpha12": "ln ratio",
    "log_alpha21": "ln ratio", "alpha12": "ratio", "alpha21": "ratio",
    "log_gamma12": "ln ratio", "log_gamma21": "ln ratio",
    "p_beta_positive": "probability", "p_log_alpha12_positive": "probability",
    "p_log_alpha21_positive": "probability",
    "bliss_excess": "viability fraction (null - combination)",
    "hsa_excess": "viability fraction (null - combination)",
    "loewe_excess": "viability fraction (null - combination)",
    "p_synergy_bliss": "probability", "p_synergy_hsa": "probability",
    "p_synergy_loewe": "probability",
    "zip_delta": "viability fraction of untreated (ZIP reference - fitted surface)",
    "p_synergy_zip": "probability",
    "bliss_excess_observed": "viability fraction (null - observed)",
    "hsa_excess_observed": "viability fraction (null - observed)",
    "loewe_excess_observed": "viability fraction (null - observed)",
}
QUANTITY_ORDER = list(QUANTITY_UNITS)


def derived(data: CombinationData, draws: dict) -> dict[str, np.ndarray]:
    """Per-combination derived quantity draws ``(chain, draw, combo)`` in float64.

    ``log10_c*`` are in the data's dose unit; ``*_excess`` and ``zip_delta`` are averaged
    over the tested wells with both doses > 0 (each dose pair once, replicates and experiments
    pooled).

    ``zip_delta`` is the model-based ZIP delta: ZIP's reference, the product of the two
    monotherapy curves on the data scale ``(E0 f_a)(E0 f_b)``, minus the fitted MuSyC surface,
    which plays the role of ZIP's averaged row and column refits. It differs from the classic
    ZIP (:func:`drugbayes.families._zip.zip_delta_classic`) in three ways: the refits are
    replaced by one smooth surface fitted to the whole checkerboard (no separate Hill curve per
    row and column, no observed baseline), the monotherapy curves share the combination's E0
    and are pooled hierarchically, and it is a posterior (per draw) rather than a point
    estimate. It equals ``E0 * bliss_excess + E0 (E0 - 1) f_a f_b``: the Bliss excess of
    the fitted surface where the fitted E0 is 1.
    """
    q = _flat_params(data, draws)
    shift_a = data.drug_center[data.pair_a[data.combo_pair]] - data.unit_offset
    shift_b = data.drug_center[data.pair_b[data.combo_pair]] - data.unit_offset
    out = {"e0": q["e0"], "e1": q["e1"], "e2": q["e2"], "e3": q["e3"],
           "log10_c1": q["log10_c_a"] + shift_a, "log10_c2": q["log10_c_b"] + shift_b,
           "h1": q["h_a"], "h2": q["h_b"], "beta": q["beta"],
           "log_alpha12": q["log_alpha12"], "log_alpha21": q["log_alpha21"],
           "log_gamma12": q["log_gamma12"], "log_gamma21": q["log_gamma21"]}
    out["c1"] = 10.0 ** np.clip(out["log10_c1"], -300, 300)
    out["c2"] = 10.0 ** np.clip(out["log10_c2"], -300, 300)
    out["alpha12"] = np.exp(np.clip(q["log_alpha12"], -700, 700))
    out["alpha21"] = np.exp(np.clip(q["log_alpha21"], -700, 700))
    s = surfaces(data, draws)
    cw = combination_wells(data)
    w = cw / np.maximum(cw.sum(axis=(1, 2), keepdims=True), 1)
    for k in ("bliss", "hsa", "loewe"):
        for sfx in ("_excess", "_excess_observed"):
            out[f"{k}{sfx}"] = np.nansum(np.where(cw, s[f"{k}{sfx}"], 0.0) * w, axis=(-2, -1))
    out["zip_delta"] = np.nansum(np.where(cw, s["zip_delta"], 0.0) * w, axis=(-2, -1))
    # censoring of the potencies: beyond the tested range of that combination
    for key, grid in (("1", data.grid_dose_a), ("2", data.grid_dose_b)):
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log10(np.where(grid > 0, grid, np.nan))
        out[f"_above_{key}"] = (out[f"log10_c{key}"] > np.nanmax(lg, axis=1)).astype(float)
        out[f"_below_{key}"] = (out[f"log10_c{key}"] < np.nanmin(lg, axis=1)).astype(float)
    out["_surfaces"] = s
    return out


def pooled(data: CombinationData, draws: dict, dq: dict) -> dict[str, np.ndarray]:
    """Population-level draws per pair ``(chain, draw, pair)``.

    ``beta`` and ``log_alpha*`` are the pair's population means (what a new cell line is
    expected to show), ``log10_c*``/``h*`` the drugs' means; the excesses are averaged over
    the pair's cell lines in the data.
    """
    out = {"beta": np.asarray(draws["pop_beta"], np.float64),
           "log_alpha12": np.asarray(draws["pop_log_alpha12"], np.float64),
           "log_alpha21": np.asarray(draws["pop_log_alpha21"], np.float64)}
    if "pop_log_gamma12" in draws:
        out["log_gamma12"] = np.asarray(draws["pop_log_gamma12"], np.float64)
        out["log_gamma21"] = np.asarray(draws["pop_log_gamma21"], np.float64)
    out["alpha12"] = np.exp(np.clip(out["log_alpha12"], -700, 700))
    out["alpha21"] = np.exp(np.clip(out["log_alpha21"], -700, 700))
    mu_c = np.asarray(draws["mu_log10_c"], np.float64)
    mu_h = np.exp(np.asarray(draws["mu_log_hill"], np.float64))
    out["log10_c1"] = mu_c[..., data.pair_a] + data.drug_center[data.pair_a] - data.unit_offset
    out["log10_c2"] = mu_c[..., data.pair_b] + data.drug_center[data.pair_b] - data.unit_offset
    out["c1"] = 10.0 ** np.clip(out["log10_c1"], -300, 300)
    out["c2"] = 10.0 ** np.clip(out["log10_c2"], -300, 300)
    out["h1"], out["h2"] = mu_h[..., data.pair_a], mu_h[..., data.pair_b]
    onehot = np.zeros((data.n_combos, len(data.pairs)))
    onehot[np.arange(data.n_combos), data.combo_pair] = 1.0
    onehot /= np.maximum(onehot.sum(axis=0), 1.0)
    for k in ("bliss_excess", "hsa_excess", "loewe_excess", "bliss_excess_observed",
              "hsa_excess_observed", "loewe_excess_observed", "zip_delta"):
        out[k] = dq[k] @ onehot
    return out


PROBS = {"p_beta_positive": "beta", "p_log_alpha12_positive": "log_alpha12",
         "p_log_alpha21_positive": "log_alpha21", "p_synergy_bliss": "bliss_excess",
         "p_synergy_hsa": "hsa_excess", "p_synergy_loewe": "loewe_excess",
         "p_synergy_zip": "zip_delta"}


def summarize(data, draws: dict, contrasts: list[dict] | None = None, prob: float = 0.95,
              method: str = "nuts", spec: Spec | None = None) -> pd.DataFrame:
    """Summary table: one row per cell line x pair x quantity, then the pooled rows per pair.

    Columns ``cell_line, drug_a, drug_b, quantity, unit, mean, sd, median, lower, upper,
    r_hat, ess_bulk, ess_tail, censored, interval_prob, sign_convention``. Probabilities have
    their value in ``mean``. Pooled rows have ``cell_line = "pooled"``. ``spec`` is accepted
    for the family contract (the quantities do not depend on it).
    """
    from ..data.combination import POOLED
    from ..report.summary import _prob_stats, _stats

    dq = derived(data, draws)
    pq = pooled(data, draws, dq)
    diag = method == "nuts"
    gamma = "pop_log_gamma12" in draws
    order = [q for q in QUANTITY_ORDER if gamma or "gamma" not in q]
    frames = []
    for level, src, n in (("combo", dq, data.n_combos), ("pool", pq, len(data.pairs))):
        if level == "combo":
            cl = [data.cell_lines[c] for c in data.combo_cell]
            pair_idx = data.combo_pair
        else:
            cl = [POOLED] * n
            pair_idx = np.arange(n)
        da = [data.drugs[data.pair_a[p]] for p in pair_idx]
        db = [data.drugs[data.pair_b[p]] for p in pair_idx]
        for q in order:
            if q in PROBS:
                st = _prob_stats((src[PROBS[q]] > 0).astype(float))
            elif q in src:
                st = _stats(src[q], prob, diag)
            else:
                continue
            cens = np.full(n, "", dtype=object)
            if level == "combo" and q in ("c1", "c2", "log10_c1", "log10_c2"):
                k = q[-1]
                above = dq[f"_above_{k}"].reshape(-1, n).mean(axis=0)
                below = dq[f"_below_{k}"].reshape(-1, n).mean(axis=0)
                cens = np.where(above > 0.5, "above_max_dose",
                                np.where(below > 0.5, "below_min_dose", ""))
            frames.append(pd.DataFrame({
                "cell_line": cl, "drug_a": da, "drug_b": db, "quantity": q,
                "unit": QUANTITY_UNITS[q].replace("dose_unit", data.dose_unit), **st,
                "censored": cens, "_g": np.arange(n) + (0 if level == "combo" else 10**6)}))
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values("_g", kind="stable").drop(columns="_g").reset_index(drop=True)
    out["interval_prob"] = prob
    out["sign_convention"] = "positive = synergy; surfaces are viability"
    return out[["cell_line", "drug_a", "drug_b", "quantity", "unit", "mean", "sd", "median",
                "lower", "upper", "r_hat", "ess_bulk", "ess_tail", "censored", "interval_prob",
                "sign_convention"]]


# ------------------------------------------------------------------------ labelled posterior
def posterior_dims(data: CombinationData) -> tuple[dict, dict]:
    """Dims of every site and their coords."""
    monos = [f"{data.cell_lines[c]}|{data.drugs[d]}"
             for c, d in zip(data.mono_cell, data.mono_drug)]
    coords = {"drug": data.drugs, "pair": data.pairs, "monotherapy": monos,
              "combination": data.combo_labels, "matrix": data.matrix_labels,
              "cell_line": data.cell_lines, "experiment": data.experiments,
              "matrix_effect": ["beta", "log_alpha12", "log_alpha21", "log_top"]}
    dims: dict[str, list[str]] = {
        "mu_log10_c": ["drug"], "mu_log_hill": ["drug"], "mu_logit_bottom": ["drug"],
        "pop_beta": ["pair"], "pop_log_alpha12": ["pair"], "pop_log_alpha21": ["pair"],
        "pop_log_gamma12": ["pair"], "pop_log_gamma21": ["pair"],
        "z_matrix": ["matrix_effect", "matrix"], "z_log_top": ["combination"],
    }
    for k in ("mono_log10_c", "mono_log_hill", "mono_logit_bottom"):
        dims[k] = ["monotherapy"]
        dims[f"z_{k}"] = ["monotherapy"]
    for k in GRP:
        dims[k] = ["combination"]
        dims[f"z_{k}"] = ["combination"]
    for k in MAT:
        dims[k] = ["matrix"]
    return dims, coords


GRID_DIMS = ["combination", "dose_a_index", "dose_b_index"]


def observed(data: CombinationData, samples: dict) -> dict:
    """DataTree pieces: per-well surfaces and excesses (index dims, 2-D dose coords), wells."""
    extra: dict = {"samples": {}, "dims": {}}
    if all(k in samples for k in GRP[:10]) and "pop_beta" in samples:
        s = surfaces(data, samples, keep=True)
        for k in ("viability", "bliss_excess", "hsa_excess", "loewe_excess",
                  "bliss_excess_observed", "hsa_excess_observed", "loewe_excess_observed",
                  "zip_delta"):
            name = "surface_viability" if k == "viability" else k
            extra["samples"][name] = s[k].astype(np.float32)
            extra["dims"][name] = GRID_DIMS
    na, nb = data.grid_dose_a.shape[1], data.grid_dose_b.shape[1]
    extra["coords"] = {"combination": data.combo_labels, "matrix": data.matrix_labels,
                       "dose_a_index": list(range(na)), "dose_b_index": list(range(nb))}
    extra["coords_nd"] = {"dose_a": (["combination", "dose_a_index"], data.grid_dose_a),
                          "dose_b": (["combination", "dose_b_index"], data.grid_dose_b)}
    dose_a = np.full(data.x_a.shape, np.nan)
    dose_b = np.full(data.x_b.shape, np.nan)
    ca = data.drug_center[data.pair_a[data.combo_pair[data.matrix_combo]]][:, None]
    cb = data.drug_center[data.pair_b[data.combo_pair[data.matrix_combo]]][:, None]
    dose_a[data.mask] = np.where(data.zero_a, 0.0, 10.0 ** (data.x_a + ca - data.unit_offset))[
        data.mask]
    dose_b[data.mask] = np.where(data.zero_b, 0.0, 10.0 ** (data.x_b + cb - data.unit_offset))[
        data.mask]
    extra["observed"] = {"y": np.where(data.mask, data.y, np.nan)}
    extra["observed_dims"] = {"y": ["matrix", "point"]}
    extra["constant"] = {"well_dose_a": dose_a, "well_dose_b": dose_b,
                         "grid_observed_viability": data.grid_y,
                         "grid_tested": data.grid_tested,
                         "grid_combination_well": combination_wells(data)}
    extra["constant_dims"] = {"well_dose_a": ["matrix", "point"],
                              "well_dose_b": ["matrix", "point"],
                              "grid_observed_viability": GRID_DIMS, "grid_tested": GRID_DIMS,
                              "grid_combination_well": GRID_DIMS}
    return extra


# ------------------------------------------------------------------------ simulation
def simulate_wells(truth: pd.DataFrame, doses_a: ArrayLike | dict, doses_b: ArrayLike | dict,
                   *, n_replicates: int = 3,
                   n_experiments: int = 1, noise_sd: float = 0.05,
                   experiment_beta_sd: float = 0.05, experiment_log_alpha_sd: float = 0.1,
                   experiment_log_top_sd: float = 0.03, seed: int = 0,
                   return_realised: bool = False
                   ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Checkerboard wells (``0`` plus ``doses_*`` for each drug) for each truth row.

    Parameters
    ----------
    truth : DataFrame
        One row per cell line x pair: ``cell_line, drug_a, drug_b, e0, e1, e2, beta, c1, c2,
        h1, h2, log_alpha12, log_alpha21`` (doses in the unit of ``doses_*``).
    doses_a, doses_b : array or dict
        Positive doses, or ``{cell_line: doses}``.
    return_realised : bool
        Also return the parameters each matrix was simulated with (the truth plus that
        experiment's deviations): one row per experiment x truth row, the truth's columns with
        ``beta``, ``log_alpha12``, ``log_alpha21``, ``e0``, ``e1``, ``e2`` replaced by the
        realised values, and ``experiment``. The random stream, hence the wells, is the same
        either way.
    """
    rng = np.random.default_rng(seed)
    rows, realised = [], []
    for e in range(n_experiments):
        ename = f"EXP{e + 1}" if n_experiments > 1 else ""
        for r in truth.itertuples():
            da = np.asarray(doses_a[r.cell_line] if isinstance(doses_a, dict) else doses_a, float)
            dbb = np.asarray(doses_b[r.cell_line] if isinstance(doses_b, dict) else doses_b,
                             float)
            ga = np.concatenate([[0.0], da])
            gb = np.concatenate([[0.0], dbb])
            A, B = np.meshgrid(ga, gb, indexing="ij")
            beta = r.beta + (rng.normal(0, experiment_beta_sd) if n_experiments > 1 else 0)
            la12 = r.log_alpha12 + (rng.normal(0, experiment_log_alpha_sd)
                                    if n_experiments > 1 else 0)
            la21 = r.log_alpha21 + (rng.normal(0, experiment_log_alpha_sd)
                                    if n_experiments > 1 else 0)
            top = np.exp(rng.normal(0, experiment_log_top_sd)) if n_experiments > 1 else 1.0
            e0, e1, e2 = r.e0 * top, r.e1 * top, r.e2 * top
            realised.append({**r._asdict(), "experiment": ename, "beta": beta,
                             "log_alpha12": la12, "log_alpha21": la21, "e0": e0, "e1": e1,
                             "e2": e2})
            emin = min(e1, e2)
            e3 = emin - beta * (e0 - emin)
            with np.errstate(divide="ignore"):
                xa = np.where(A > 0, np.log10(np.where(A > 0, A, 1)), -np.inf)
                xb = np.where(B > 0, np.log10(np.where(B > 0, B, 1)), -np.inf)
            v = musyc_surface(xa, xb, np.log10(r.c1), np.log10(r.c2), r.h1, r.h2, e0, e1, e2,
                              e3, la12, la21)
            for rep in range(n_replicates):
                y = v + rng.normal(0, noise_sd, v.shape)
                for i, j in np.ndindex(v.shape):
                    rows.append({"experiment": ename, "cell_line": r.cell_line,
                                 "drug_a": r.drug_a, "dose_a": float(A[i, j]),
                                 "drug_b": r.drug_b, "dose_b": float(B[i, j]),
                                 "replicate": rep + 1, "response": round(float(y[i, j]), 5)})
    df = pd.DataFrame(rows)
    if n_experiments == 1:
        df = df.drop(columns="experiment")
    if return_realised:
        return df, pd.DataFrame(realised).drop(columns="Index")
    return df


def true_excess(truth: pd.DataFrame, doses_a: ArrayLike | dict, doses_b: ArrayLike | dict
                ) -> pd.DataFrame:
    """The true Bliss/HSA/Loewe excess and model-based ZIP delta of each truth row, averaged
    over its combination wells."""
    out = []
    for r in truth.itertuples():
        da = np.asarray(doses_a[r.cell_line] if isinstance(doses_a, dict) else doses_a, float)
        dbb = np.asarray(doses_b[r.cell_line] if isinstance(doses_b, dict) else doses_b, float)
        A, B = np.meshgrid(np.log10(da), np.log10(dbb), indexing="ij")
        emin = min(r.e1, r.e2)
        e3 = emin - r.beta * (r.e0 - emin)
        v = musyc_surface(A, B, np.log10(r.c1), np.log10(r.c2), r.h1, r.h2, r.e0, r.e1, r.e2,
                          e3, r.log_alpha12, r.log_alpha21) / r.e0
        fa = hill_fraction(A, np.log10(r.c1), r.h1, r.e1 / r.e0)
        fb = hill_fraction(B, np.log10(r.c2), r.h2, r.e2 / r.e0)
        lo = loewe_null(A, B, np.log10(r.c1), np.log10(r.c2), r.h1, r.h2, r.e1 / r.e0,
                        r.e2 / r.e0)
        out.append({"bliss_excess": float(np.mean(fa * fb - v)),
                    "zip_delta": float(np.mean(r.e0 * fa * r.e0 * fb - r.e0 * v)),
                    "hsa_excess": float(np.mean(np.minimum(fa, fb) - v)),
                    "loewe_excess": float(np.mean(lo - v))})
    return pd.concat([truth.reset_index(drop=True), pd.DataFrame(out)], axis=1)


def simulate(n_cell_lines: int = 4, *, n_doses: int = 5, n_replicates: int = 3,
             n_experiments: int = 1, noise_sd: float = 0.05, seed: int = 0
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a two-drug checkerboard screen (drugs ``DA`` x ``DB``, doses in uM) with truth.

    Returns
    -------
    (wells, truth)
        ``truth`` has one row per cell line with the MuSyC parameters and the true averaged
        Bliss/HSA/Loewe excess.
    """
    rng = np.random.default_rng(seed)
    doses = np.logspace(-2, 1, n_doses)
    rows = []
    for i in range(n_cell_lines):
        e0 = 1.0
        rows.append({"cell_line": f"CL{i + 1:02d}", "drug_a": "DA", "drug_b": "DB", "e0": e0,
                     "e1": float(rng.uniform(0.1, 0.4)), "e2": float(rng.uniform(0.3, 0.6)),
                     "beta": float(rng.normal(0.3, 0.15)),
                     "c1": float(10 ** rng.normal(-0.5, 0.3)),
                     "c2": float(10 ** rng.normal(-0.5, 0.3)),
                     "h1": float(np.exp(rng.normal(0, 0.2))),
                     "h2": float(np.exp(rng.normal(0, 0.2))),
                     "log_alpha12": float(rng.normal(0.7, 0.3)),
                     "log_alpha21": float(rng.normal(0.0, 0.3))})
    truth = pd.DataFrame(rows)
    wells = simulate_wells(truth, doses, doses, n_replicates=n_replicates,
                           n_experiments=n_experiments, noise_sd=noise_sd, seed=seed + 1)
    return wells, true_excess(truth, doses, doses)


# ------------------------------------------------------------------------ contract pieces
def prepare(table, data_cfg) -> tuple:
    """Read, validate and encode a combination table (see ``[data]`` in the docs)."""
    from ..data.combination import encode_combination, validate_combination
    from ..io import read_table

    df, src = read_table(table, data_cfg.columns)
    vt = validate_combination(df, src, dose_unit=data_cfg.dose_unit,
                              response_scale=data_cfg.response_scale, missing=data_cfg.missing,
                              min_doses=data_cfg.min_doses, column_names=data_cfg.columns)
    return vt, encode_combination(vt)


def validate_contrasts(data, contrasts: list[dict], source: str = "<config>") -> None:
    """Kind ``combination`` defines no ``[[contrasts]]`` yet: any entry is an error."""
    from ..errors import ConfigError, Issue

    if contrasts:
        raise ConfigError([Issue(source, None, f"contrasts[{i}]", None,
                                 "contrasts are not defined for kind combination (the summary "
                                 "already has pooled rows per pair)")
                           for i in range(len(contrasts))])


def describe(vt, data) -> str:
    """One line about the encoded data."""
    return (f"{data.n_wells} wells, {len(data.cell_lines)} cell lines, {len(data.pairs)} "
            f"pair(s), {len(data.experiments)} experiment(s), {data.n_combos} combinations, "
            f"{data.n_matrices} matrices ({data.response_scale} viability)")


def extra_sites(data) -> tuple[str, ...]:
    """Population-level sites kept from MAP/SVI draws (they are latent, so always kept)."""
    return ()


def plot(result, folder: str | Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """See :func:`drugbayes.report.plots.plot_combination`."""
    from ..report.plots import plot_combination

    return plot_combination(result, folder, formats)


def contract_data(seed: int = 1) -> tuple:
    """A small simulated checkerboard for the contract tests (2 cell lines, 2 experiments)."""
    wells, _ = simulate(2, n_doses=3, n_replicates=1, n_experiments=2, seed=seed)
    return wells, {"dose_unit": "uM", "response_scale": "fraction"}


FAMILY = Family(
    name="combination",
    kind="combination",
    description="Bayesian MuSyC combination surface (viability) with hierarchical pooling of "
    "monotherapy curves, beta and log alpha across cell lines and experiments; Bliss, HSA and "
    "Loewe excess posteriors (positive = synergy).",
    options=CombinationOptions,
    priors=CombinationPriors,
    model=model,
    arrays=arrays,
    deterministic_sites=DETERMINISTIC,
    init_values=init_values,
    posterior_dims=posterior_dims,
    summarize=summarize,
    simulate=simulate,
    prepare=prepare,
    validate_contrasts=validate_contrasts,
    observed=observed,
    describe=describe,
    contract_data=contract_data,
    headline=("Synergy (positive = synergy; excess = null - combination viability)",
              ("beta", "log_alpha12", "log_alpha21", "bliss_excess", "hsa_excess",
               "loewe_excess")),
    extra_sites=extra_sites,
    plot=plot,
)
