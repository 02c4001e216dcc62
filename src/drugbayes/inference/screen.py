"""Screen back-end: blocked Gibbs with batched HMC for the hierarchical 4PL at screen scale.

The target is exactly the posterior of the ``dose_response`` family (normalised viability,
Normal wells): the same priors, sum-to-zero cell-line and experiment effects, per cell line x
drug curve parameters. Only the sampler differs. One sweep of every chain is

1. **curve block** (centred): every curve's parameters ``(log10 IC50, log Hill, logit bottom,
   log top)`` are conditionally independent given the global parameters, so all curves take an
   HMC step at once, each with its own step size (dual averaging per curve), its own 4 x 4
   metric (Fisher information plus prior precision, averaged over chains, refreshed during
   warmup) and a random trajectory length, in top-dose coordinates (:func:`_to_top`: the
   logit of the fraction of the top lost at the highest dose replaces the IC50, which
   straightens the IC50-bottom ridge of a curve that barely responds); then a **mode jump**:
   an independence Metropolis-Hastings proposal from a two-component Student-t mixture at
   each curve's modes (found by multi-start Gauss-Newton at each warmup metric refresh), so
   that a chain that wandered along a flat ridge (bottom near the top, IC50 free) comes back
   at once and a curve whose posterior has two separated modes moves between them;
2. **conjugate updates** (centred): drug means, cell-line effects (sum-to-zero, by conditioning
   the Gaussian on the constraint) and every scale (an independence Metropolis step with the
   Gamma full conditional of the precision as proposal) given the curve parameters;
3. **drug block** (partially non-centred): one small HMC per drug over its three means, each
   curve following by the shift of its conditional mean (a ``K x 3`` matrix per curve: the
   identity for curves their data do not inform, near 0 for well-informed ones);
4. **global block** (non-centred): one HMC over the drug means, the cell-line and experiment
   effects and the log curve scales with the standardised curve deviations held fixed, with
   a diagonal metric of expected curvature assembled from the curves' Fisher information.

Steps 1-2 mix well where curves are informative, steps 3-4 where they are not (the
parameterisations interweave). Every step leaves the posterior invariant, so the chain targets
the same posterior as NUTS on the family's model; ``tests/test_screen.py`` checks agreement.

Layout: a dense masked grid ``[cell_line, drug, point]`` (point = dose x replicate x
experiment of one cell line x drug), so per-curve parameters broadcast over points and every
reduction (over cell lines for a drug, over drugs for a cell line) is a plain reduction, with no
per-observation gathers or scatter-adds. Chains are vectorised; the grid can be sharded over
the cell-line axis across the devices of one host (``shard = True``); only global quantities
are reduced across devices. Sampling runs in compiled chunks (``lax.scan``) with progress
between chunks; per-curve draws stay on the device and per-curve summaries (mean, sd,
quantiles, rank-normalised R-hat and ESS) are computed there.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, nn

from .settings import InferenceResult, log

LN10 = 2.302585092994046
K_MAX = 4
GROUP_SITES = ("grp_log10_ic50", "grp_log_hill", "grp_logit_bottom", "grp_log_top")


# ----------------------------------------------------------------------------- data layout
@dataclass
class ScreenGrid:
    """A screen as a dense masked grid ``[cell_line, drug, point]`` (numpy, host side).

    Attributes
    ----------
    x : float32 [C, D, P]
        Log10 dose, centred per drug (the family's ``x``); 0 where untreated or padded.
    y : float32 [C, D, P]
        Viability fraction; 0 where padded.
    mask : bool [C, D, P]
        Observed wells.
    is_zero : bool [C, D, P]
        Untreated wells (dose 0: the curve equals its top there).
    exp : int32 [C, D, P]
        Experiment of each well.
    present : bool [C, D]
        Cell line x drug pairs with data (the family's groups).
    cell_valid : bool [C]
        Real cell lines (False for padding added to shard the grid evenly).
    half_range : float32 [D]
        Half the tested log10 dose range of each drug.
    n_exp : int
    group_index : int [C, D]
        The family's group number of each grid cell (-1 where absent).
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    is_zero: np.ndarray
    exp: np.ndarray
    present: np.ndarray
    cell_valid: np.ndarray
    half_range: np.ndarray
    n_exp: int
    group_index: np.ndarray
    group_cell: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    group_drug: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.y.shape)  # type: ignore[return-value]

    @property
    def n_wells(self) -> int:
        return int(self.mask.sum())

    def pad_cells(self, multiple: int) -> ScreenGrid:
        """The grid with absent cell lines appended so the cell axis divides ``multiple``."""
        c = self.y.shape[0]
        extra = (-c) % multiple
        if extra == 0:
            return self

        def pad(a, value=0):
            return np.concatenate([a, np.full((extra,) + a.shape[1:], value, a.dtype)])

        return ScreenGrid(pad(self.x), pad(self.y), pad(self.mask, False), pad(self.is_zero, False),
                          pad(self.exp), pad(self.present, False), pad(self.cell_valid, False),
                          self.half_range, self.n_exp, pad(self.group_index, -1),
                          self.group_cell, self.group_drug)

    def to_long(self) -> dict:
        """One entry per observed well: ``cell``, ``drug``, ``group``, ``x``, ``y``, ``exp``."""
        c, d, p = np.nonzero(self.mask)
        return {"cell": c.astype(np.int32), "drug": d.astype(np.int32),
                "group": self.group_index[c, d].astype(np.int32), "x": self.x[c, d, p],
                "y": self.y[c, d, p], "is_zero": self.is_zero[c, d, p],
                "exp": self.exp[c, d, p], "n_cell": int(self.cell_valid.sum()),
                "n_drug": self.y.shape[1], "n_group": int(self.present.sum()),
                "group_cell": self.group_cell, "group_drug": self.group_drug}


def grid_from_arrays(a: dict) -> ScreenGrid:
    """Dense grid from the ``dose_response`` family's arrays (curves of a group are pooled).

    Vectorised (no Python loop over curves), so a 300,000-curve screen takes seconds.
    """
    mask = np.asarray(a["mask"], bool)
    cg = np.asarray(a["curve_group"])
    curve, point = np.nonzero(mask)
    grp = cg[curve]
    order = np.argsort(grp, kind="stable")
    curve, point, grp = curve[order], point[order], grp[order]
    n_group = int(a["n_group"])
    counts = np.bincount(grp, minlength=n_group)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(grp)) - starts[grp]
    n_point = int(max(counts.max(initial=1), 1))
    n_cell, n_drug = int(a["n_cell"]), int(a["n_drug"])
    gc, gd = np.asarray(a["group_cell"]), np.asarray(a["group_drug"])
    shape = (n_cell, n_drug, n_point)
    x = np.zeros(shape, np.float32)
    y = np.zeros(shape, np.float32)
    m = np.zeros(shape, bool)
    z = np.zeros(shape, bool)
    e = np.zeros(shape, np.int32)
    ci, di = gc[grp], gd[grp]
    x[ci, di, rank] = np.asarray(a["x"])[curve, point]
    y[ci, di, rank] = np.asarray(a["y"])[curve, point]
    m[ci, di, rank] = True
    z[ci, di, rank] = np.asarray(a["is_zero"])[curve, point]
    e[ci, di, rank] = np.asarray(a["curve_exp"])[curve]
    present = np.zeros((n_cell, n_drug), bool)
    present[gc, gd] = True
    gi = np.full((n_cell, n_drug), -1, np.int64)
    gi[gc, gd] = np.arange(n_group)
    return ScreenGrid(x, y, m, z, e, present, np.ones(n_cell, bool),
                      np.asarray(a["half_range"], np.float32), int(a["n_exp"]), gi,
                      gc.astype(np.int32), gd.astype(np.int32))


def simulate_screen(n_cell: int, n_drug: int, *, n_replicates: int = 2, n_doses: int = 9,
                    noise_sd: float = 0.05, seed: int = 0) -> tuple[ScreenGrid, dict]:
    """Simulate a screen from the model's generative process, directly as a grid (vectorised;
    a 300,000-curve screen takes seconds).

    Doses span 4 decades per drug (``x`` in [-2, 2], centred log10). Hyper-parameters are fixed
    at typical values (drug mean log10 IC50 ~ N(0, 0.8), cell-line effects sd 0.4, curve sd 0.5;
    log Hill ~ N(0, 0.3) with curve sd 0.25; logit bottom ~ N(-1.5, 1) with curve sd 0.7; log
    top sd 0.05; noise ``noise_sd``), the rest drawn from them.

    Returns
    -------
    (grid, truth)
        ``truth`` has ``log10_ic50``, ``log_hill``, ``logit_bottom``, ``log_top`` (each
        ``[C, D]``, centred log10 dose units) and the hyper-parameters.
    """
    rng = np.random.default_rng(seed)
    x1 = np.linspace(-2.0, 2.0, n_doses)
    mu = np.stack([rng.normal(0.0, 0.8, n_drug), rng.normal(0.0, 0.3, n_drug),
                   rng.normal(-1.5, 1.0, n_drug)], -1)
    cell = rng.normal(0.0, 0.4, n_cell)
    cell -= cell.mean()
    sig = np.array([0.5, 0.25, 0.7])
    G = np.empty((n_cell, n_drug, 4))
    G[..., 0] = mu[None, :, 0] + cell[:, None] + sig[0] * rng.standard_normal((n_cell, n_drug))
    G[..., 1] = mu[None, :, 1] + sig[1] * rng.standard_normal((n_cell, n_drug))
    G[..., 2] = mu[None, :, 2] + sig[2] * rng.standard_normal((n_cell, n_drug))
    G[..., 3] = 0.05 * rng.standard_normal((n_cell, n_drug))
    P = n_doses * n_replicates
    x = np.broadcast_to(np.tile(x1, n_replicates), (n_cell, n_drug, P)).astype(np.float32)
    b = 1.0 / (1.0 + np.exp(-G[..., 2:3]))
    zz = np.clip(-np.exp(G[..., 1:2]) * LN10 * (x - G[..., 0:1]), -50, 50)
    f = np.exp(G[..., 3:4]) * (b + (1 - b) / (1 + np.exp(-zz)))
    y = (f + noise_sd * rng.standard_normal(f.shape)).astype(np.float32)
    C, D = n_cell, n_drug
    grid = ScreenGrid(x.copy(), y, np.ones((C, D, P), bool), np.zeros((C, D, P), bool),
                      np.zeros((C, D, P), np.int32), np.ones((C, D), bool), np.ones(C, bool),
                      np.full(D, 2.0, np.float32), 1,
                      np.arange(C * D).reshape(C, D),
                      np.repeat(np.arange(C), D).astype(np.int32),
                      np.tile(np.arange(D), C).astype(np.int32))
    truth = {"log10_ic50": G[..., 0], "log_hill": G[..., 1], "logit_bottom": G[..., 2],
             "log_top": G[..., 3], "mu": mu, "cell": cell, "sig": sig, "sigma": noise_sd,
             "dose_lo": -2.0, "dose_hi": 2.0}
    return grid, truth


# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class ScreenModel:
    """Static description of the model (hashable: one compilation per shape and model)."""

    n_exp: int
    four_pl: bool
    exp_effects: bool
    log10_ic50_extra_sd: float
    cell_line_sd: float
    curve_ic50_sd: float
    experiment_sd: float
    log_hill_mean: float
    log_hill_sd: float
    curve_log_hill_sd: float
    logit_bottom_mean: float
    logit_bottom_sd: float
    curve_logit_bottom_sd: float
    log_top_sd: float
    noise_sd: float

    @property
    def k(self) -> int:
        return 4 if self.four_pl else 3

    @classmethod
    def from_spec(cls, spec, n_exp: int) -> ScreenModel:
        p, o = spec.priors, spec.options
        return cls(n_exp=n_exp, four_pl=o.curve == "4pl",
                   exp_effects=bool(o.experiment_effects and n_exp > 1),
                   log10_ic50_extra_sd=p.log10_ic50_extra_sd, cell_line_sd=p.cell_line_sd,
                   curve_ic50_sd=p.curve_ic50_sd, experiment_sd=p.experiment_sd,
                   log_hill_mean=p.log_hill_mean, log_hill_sd=p.log_hill_sd,
                   curve_log_hill_sd=p.curve_log_hill_sd,
                   logit_bottom_mean=p.logit_bottom_mean, logit_bottom_sd=p.logit_bottom_sd,
                   curve_logit_bottom_sd=p.curve_logit_bottom_sd, log_top_sd=p.log_top_sd,
                   noise_sd=p.noise_sd)


@dataclass(frozen=True)
class SamplerSettings:
    """Sampler budget and tuning (hashable)."""

    num_chains: int = 4
    num_warmup: int = 500
    num_samples: int = 500
    thinning: int = 1
    curve_steps: int = 10
    drug_steps: int = 6
    global_steps: int = 4
    target_accept: float = 0.8
    mode_jump: bool = True  # independence MH move to each curve's modes (Student-t mixture)
    top_dose_coords: bool = True  # curve HMC in top-dose coordinates (see _to_top)
    keep_draws: bool = True  # per-curve draws back to the host (False: device summaries only)


# ----------------------------------------------------------------------------- log densities
def _curve_mean(G, d, m: ScreenModel, exp_eff):
    """Viability of every well ``[..., C, D, P]`` from curve parameters ``[..., C, D, K]``."""
    L = G[..., 0:1]
    if m.exp_effects:
        # a sum over the (few) experiments rather than a per-well gather: its gradient is then
        # a reduction, not a scatter-add over millions of wells
        L = L + sum(exp_eff[..., e] * (d["exp"] == e) for e in range(m.n_exp))
    hill = jnp.exp(G[..., 1:2])
    b = nn.sigmoid(G[..., 2:3])
    top = jnp.exp(G[..., 3:4]) if m.four_pl else 1.0
    f = b + (1.0 - b) * nn.sigmoid(-hill * LN10 * (d["x"] - L))
    f = jnp.where(d["is_zero"], 1.0, f)
    return top * f


def _curve_loglik(G, d, m: ScreenModel, exp_eff, sigma):
    """Normal log likelihood of each curve ``[C, D]`` (constants dropped)."""
    r = (d["y"] - _curve_mean(G, d, m, exp_eff)) / sigma
    return jnp.sum(jnp.where(d["mask"], -0.5 * r * r, 0.0), axis=-1) - d["n_obs"] * jnp.log(sigma)


def _mu_prior(d, m: ScreenModel):
    """Prior means ``[3]`` and sds ``[D, 3]`` of the drug means (log10 IC50, log Hill, logit
    bottom)."""
    sd = d["mu_ic50_sd"]
    mean = jnp.array([0.0, m.log_hill_mean, m.logit_bottom_mean], sd.dtype)
    return mean, jnp.stack([sd, jnp.full_like(sd, m.log_hill_sd),
                            jnp.full_like(sd, m.logit_bottom_sd)], -1)


def _scale_prior_sd(m: ScreenModel, dtype=jnp.float32):
    """HalfNormal scales of the curve-level sds (log10 IC50, log Hill, logit bottom)."""
    return jnp.array([m.curve_ic50_sd, m.curve_log_hill_sd, m.curve_logit_bottom_sd], dtype)


def _locs(s, m: ScreenModel):
    """Prior means and scales of the curve parameters ``[C, D, K]``."""
    mu, cell = s["mu"], s["cell"]
    loc = jnp.stack([mu[None, :, 0] + cell[:, None], jnp.broadcast_to(mu[None, :, 1],
                    (cell.shape[0], mu.shape[0])), jnp.broadcast_to(
                    mu[None, :, 2], (cell.shape[0], mu.shape[0]))], -1)
    scale = s["sig"]
    if m.four_pl:
        loc = jnp.concatenate([loc, jnp.zeros_like(loc[..., :1])], -1)
        scale = jnp.concatenate([scale, jnp.full((1,), m.log_top_sd, scale.dtype)])
    return loc, scale


def _curve_logp(G, s, d, m: ScreenModel):
    """Log density of each curve's parameters given the globals ``[C, D]``."""
    loc, scale = _locs(s, m)
    zz = (G - loc) / scale
    return _curve_loglik(G, d, m, s["exp"], s["sigma"]) - 0.5 * jnp.sum(zz * zz, -1)


def _fisher(G, s, d, m: ScreenModel):
    """Per-curve Fisher information of the wells ``[C, D, K, K]`` (``J^T J / sigma^2`` with
    ``J`` the derivative of each well's mean by the curve's parameters; K forward-mode
    products, one per parameter, give every curve's column at once since curves are separable).
    Unlike the Hessian it is positive semi-definite everywhere, so a metric built from it
    never has a spurious flat direction."""
    def f(g):
        return _curve_mean(g, d, m, s["exp"])

    cols = []
    for k in range(m.k):
        e = jnp.zeros_like(G).at[..., k].set(1.0)
        cols.append(jnp.where(d["mask"], jax.jvp(f, (G,), (e,))[1], 0.0))
    J = jnp.stack(cols, -1)  # [C, D, P, K]
    return jnp.einsum("cdpk,cdpl->cdkl", J, J) / s["sigma"] ** 2


def _metric_from_precision(P, floor=1e-3):
    """Square root ``S`` (``S S^T = P^-1``) of a regularised per-curve covariance."""
    lam, V = jnp.linalg.eigh(P)
    lam = jnp.clip(lam, floor, 1e8)
    return V * (1.0 / jnp.sqrt(lam))[..., None, :]


# ----------------------------------------------------------------------------- dual averaging
def _da_init(log_eps):
    z = jnp.zeros_like(log_eps)
    return {"log_eps": log_eps, "bar": log_eps, "hbar": z, "t": z, "mu": log_eps + math.log(10)}


def _when(flag, new, old):
    """``new`` where the traced boolean ``flag`` holds, else ``old`` (leaf by leaf)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def _da_update(da, accept, target):
    t = da["t"] + 1.0
    w = 1.0 / (t + 10.0)
    hbar = (1.0 - w) * da["hbar"] + w * (target - accept)
    log_eps = da["mu"] - jnp.sqrt(t) / 0.05 * hbar
    eta = t ** -0.75
    bar = eta * log_eps + (1.0 - eta) * da["bar"]
    return {"log_eps": log_eps, "bar": bar, "hbar": hbar, "t": t, "mu": da["mu"]}


# ----------------------------------------------------------------------------- the kernels
def _block_hmc(key, x0, logp, S, da, warm, steps: int, active, target: float):
    """One HMC transition of many independent small blocks at once.

    ``x0 [..., k]``: one block per leading index; ``logp(x) -> [...]`` their log densities
    (separable, so the gradient of the sum is every block's gradient); ``S [..., k, k]``: a
    square root of each block's covariance metric (the leapfrog runs in whitened coordinates);
    ``da``: each block's dual-averaging state; ``active [...]``: blocks that exist. Every
    block's trajectory runs a random number of steps in 1..steps (blocks step in lockstep; a
    block whose trajectory has ended is frozen): random trajectory lengths avoid the periodic
    returns of fixed-length HMC on near-Gaussian targets. Returns ``(x, da, acceptance,
    logp(x))``.
    """
    k1, k2, k3, k4 = jax.random.split(key, 4)
    eps = jnp.exp(jnp.where(warm, da["log_eps"], da["bar"]))
    eps = eps * jax.random.uniform(k3, eps.shape, minval=0.8, maxval=1.2)
    e3 = eps[..., None]

    def grad(x):
        return jax.grad(lambda x_: jnp.sum(logp(x_)))(x)

    p0 = jax.random.normal(k1, x0.shape, x0.dtype)
    n_steps = jax.random.randint(k4, eps.shape, 1, steps + 1)

    def st(c, i):
        x, p, g = c
        on = (i < n_steps)[..., None]
        p_ = p + 0.5 * e3 * jnp.einsum("...kl,...k->...l", S, g)
        x_ = x + e3 * jnp.einsum("...kl,...l->...k", S, p_)
        g_ = grad(x_)
        p_ = p_ + 0.5 * e3 * jnp.einsum("...kl,...k->...l", S, g_)
        return (jnp.where(on, x_, x), jnp.where(on, p_, p), jnp.where(on, g_, g)), None

    lp0 = logp(x0)
    (x1, p1, _), _ = lax.scan(st, (x0, p0, grad(x0)), jnp.arange(steps))
    lp1 = logp(x1)
    dH = (lp1 - lp0) - 0.5 * jnp.sum(p1 * p1 - p0 * p0, -1)
    dH = jnp.where(jnp.isfinite(dH), dH, -jnp.inf)
    acc = jnp.minimum(1.0, jnp.exp(jnp.minimum(dH, 0.0)))
    take = (jax.random.uniform(k2, acc.shape) < acc) & active
    x = jnp.where(take[..., None], x1, x0)
    acc = jnp.where(active, acc, target)
    return x, _when(warm, _da_update(da, acc, target), da), acc, jnp.where(take, lp1, lp0)


def _to_top(G, x_top):
    """Curve parameters ``[..., K]`` in top-dose coordinates ``(l, log Hill, w[, log top])``.

    With ``t = Hill ln10 (x_top - log10 IC50)`` (``x_top``: the curve's highest dose) and
    ``beta`` the logit bottom: ``w = beta + softplus(t)`` and ``l = t - softplus(w)``, the
    logit of the fraction of the top lost at the highest dose. A curve that has barely
    responded there pins ``l`` while its IC50 and bottom trade off along a curved ridge (a
    higher bottom, a lower IC50); in these coordinates the ridge is nearly straight. The map
    ``(l, w) -> (t, beta)`` (``t = l + softplus(w)``, ``beta = w - softplus(t)``) has unit
    Jacobian determinant, so the log density gains only ``-log Hill`` (from ``t -> IC50``)."""
    t = jnp.exp(G[..., 1]) * LN10 * (x_top - G[..., 0])
    w = G[..., 2] + nn.softplus(t)
    return jnp.stack([t - nn.softplus(w), G[..., 1], w] + [G[..., k] for k in
                                                          range(3, G.shape[-1])], -1)


def _from_top(Z, x_top):
    """Inverse of :func:`_to_top`."""
    t = Z[..., 0] + nn.softplus(Z[..., 2])
    L = x_top - t / (jnp.exp(Z[..., 1]) * LN10)
    return jnp.stack([L, Z[..., 1], Z[..., 2] - nn.softplus(t)] + [Z[..., k] for k in
                                                                  range(3, Z.shape[-1])], -1)


def _top_jacobian(Z, x_top):
    """``d G / d Z`` of :func:`_from_top` per curve ``[..., K, K]`` (one forward-mode product
    per coordinate)."""
    cols = [jax.jvp(lambda z: _from_top(z, x_top), (Z,),
                    (jnp.zeros_like(Z).at[..., k].set(1.0),))[1] for k in range(Z.shape[-1])]
    return jnp.stack(cols, -1)


def _top_precision(P, G, x_top):
    """Per-curve precision ``P [..., K, K]`` in the original coordinates at ``G``, carried to
    the top-dose coordinates: ``A^T P A`` with ``A`` the Jacobian of :func:`_from_top`."""
    A = _top_jacobian(_to_top(G, x_top), x_top)
    return jnp.einsum("...ki,...kl,...lj->...ij", A, P, A)


def _curve_hmc(key, s, ad, d, m: ScreenModel, steps: int, warm, target: float, top: bool):
    """Centred curve block: every curve's parameters given the globals, all at once (in
    top-dose coordinates when ``top``; the metric ``ad["S"]`` is then in those coordinates).
    Returns the state, the adaptation state, the acceptance rates and the curves' log
    densities in the original coordinates."""
    if not top:
        G, da, acc, lp = _block_hmc(key, s["G"], lambda G: _curve_logp(G, s, d, m), ad["S"],
                                    ad["da"], warm, steps, d["present"], target)
        return {**s, "G": G}, {**ad, "da": da}, acc, lp
    xt = d["x_top"]
    Z0 = _to_top(s["G"], xt)
    Z, da, acc, lp = _block_hmc(key, Z0, lambda Z: _curve_logp(_from_top(Z, xt), s, d, m)
                                - Z[..., 1], ad["S"], ad["da"], warm, steps, d["present"], target)
    # a rejected move keeps the exact old parameters (no float32 round trip)
    G = jnp.where(jnp.all(Z == Z0, -1)[..., None], s["G"], _from_top(Z, xt))
    return {**s, "G": G}, {**ad, "da": da}, acc, lp + Z[..., 1]


JUMP_INFLATE = 1.2  # proposal scales of the mode jump, relative to each mode's Laplace sds
# Student-t proposal components (integer degrees of freedom): heavy tails bring a chain back
# from a tail of its curve's posterior
JUMP_DF = 3
JUMP_MIN_WEIGHT = 0.1  # the least often a second mode is proposed


def _gauss_newton(G, s, d, m: ScreenModel, n_iter: int):
    """Ascend every curve's conditional log density from ``G [C, D, K]`` by damped
    Gauss-Newton steps (Fisher information plus prior precision as the curvature, the best of a
    few step lengths per curve). Returns ``(G, logp, precision)`` at the end."""
    _, scale = _locs(s, m)
    prior_prec = jnp.eye(m.k, dtype=G.dtype) / scale ** 2

    def logp(x):
        return jnp.where(d["present"], _curve_logp(x, s, d, m), 0.0)

    def body(_, G):
        g = jax.grad(lambda x: jnp.sum(logp(x)))(G)
        H = _fisher(G, s, d, m) + prior_prec
        step = jnp.linalg.solve(H, g[..., None])[..., 0]
        best, best_lp = G, logp(G)
        for a in (1.0, 0.5, 0.2, 0.05):
            Gn = G + a * step
            lpn = logp(Gn)
            better = jnp.isfinite(lpn) & (lpn > best_lp)
            best = jnp.where(better[..., None], Gn, best)
            best_lp = jnp.where(better, lpn, best_lp)
        return best

    G = lax.fori_loop(0, n_iter, body, G)
    return G, logp(G), _fisher(G, s, d, m) + prior_prec


@partial(jax.jit, static_argnames=("m", "n_iter"))
def _curve_modes(s, d, m: ScreenModel, n_iter: int = 30):
    """Two modes of every curve's conditional posterior, for the mode-jump proposal.

    Given the chain-averaged globals, damped Gauss-Newton runs from six starts per curve (log10
    IC50 below, inside and above the tested doses, each with a low and a high bottom). The
    first mode is the end with the largest Laplace mass; the second the largest among the ends
    more than 3 Laplace sds from it (by either end's curvature), else the first again. Curves
    whose response has begun only at the top doses are the typical two-mode case: a curve that
    is just starting to fall towards a low bottom, or one already flattening at a high bottom.
    Returns the proposal: component means ``[C, D, 2, K]``, eigenvectors and scaled square-root
    eigenvalues of each component's precision, and log weights ``[C, D, 2]``."""
    sm = jax.tree_util.tree_map(lambda a: jnp.mean(a, 0), {k: v for k, v in s.items()
                                                           if k != "G"})
    loc, _ = _locs(sm, m)
    hr = jnp.broadcast_to(d["half_range"][None, :], loc.shape[:2])
    starts = []
    for ic50 in (-hr - 0.5, jnp.zeros_like(hr), hr + 0.5):
        for shift in (-1.5, 1.5):
            starts.append(loc.at[..., 0].set(ic50).at[..., 2].add(shift))
    # one start at a time (one compiled search, memory of one)
    G, lp, H = lax.map(lambda G0: _gauss_newton(G0, sm, d, m, n_iter), jnp.stack(starts))
    lam, V = jnp.linalg.eigh(H)
    lam = jnp.clip(lam, 1e-3, 1e8)
    mass = lp - 0.5 * jnp.sum(jnp.log(lam), -1)
    mass = jnp.where(jnp.isfinite(mass), mass, -jnp.inf)
    i1 = jnp.argmax(mass, 0)

    def pick(a, i):
        return jnp.take_along_axis(a, i.reshape((1,) + i.shape + (1,) * (a.ndim - 3)), 0)[0]

    G1, H1 = pick(G, i1), pick(H, i1)
    diff = G - G1[None]
    far = ((jnp.einsum("scdk,cdkl,scdl->scd", diff, H1, diff) > 9.0)
           & (jnp.einsum("scdk,scdkl,scdl->scd", diff, H, diff) > 9.0))
    m2 = jnp.where(far, mass, -jnp.inf)
    has2 = jnp.any(far, 0)
    i2 = jnp.where(has2, jnp.argmax(m2, 0), i1)
    means = jnp.stack([G1, pick(G, i2)], 2)
    Vs = jnp.stack([pick(V, i1), pick(V, i2)], 2)
    sl = jnp.stack([pick(lam, i1), pick(lam, i2)], 2) ** 0.5 / JUMP_INFLATE
    w2 = jnp.clip(nn.sigmoid(pick(mass, i2) - pick(mass, i1)), JUMP_MIN_WEIGHT,
                  1.0 - JUMP_MIN_WEIGHT)
    w2 = jnp.where(has2, w2, 0.0)
    logw = jnp.log(jnp.stack([1.0 - w2, w2], -1))
    return {"mean": means, "V": Vs, "sqrt_lam": sl, "logw": logw, "two": has2}


def _jump_logq(x, jp):
    """Log density (constants dropped) of the mode-jump mixture of multivariate Student-t
    components at ``x [C, D, K]``."""
    z = jp["sqrt_lam"] * jnp.einsum("cdjkl,cdjk->cdjl", jp["V"], x[..., None, :] - jp["mean"])
    k = x.shape[-1]
    comp = (jp["logw"] + jnp.sum(jnp.log(jp["sqrt_lam"]), -1)
            - 0.5 * (JUMP_DF + k) * jnp.log1p(jnp.sum(z * z, -1) / JUMP_DF))
    return jax.scipy.special.logsumexp(comp, -1)


def _curve_jump(key, s, lp, jp, d, m: ScreenModel):
    """Mode jump of every curve: an independence Metropolis-Hastings step given the globals,
    with a fixed two-component multivariate Student-t mixture at the curve's modes
    (:func:`_curve_modes`, Laplace sds inflated by ``JUMP_INFLATE``) as the proposal.

    It leaves each curve's conditional posterior invariant whatever the mixture. It lets a
    curve whose posterior has two separated modes move between them, and brings back in one
    step a chain that wandered along a flat ridge (bottom near the top, IC50 then free), where
    local HMC steps take hundreds of sweeps; the components are Student-t (``JUMP_DF``) so
    that their density in such a tail is not negligible, which a Gaussian proposal's is.
    ``lp``: the current curves' log densities. Returns the state and the acceptance rate per
    curve."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    G = s["G"]
    j = (jax.random.uniform(k1, G.shape[:2]) < jnp.exp(jp["logw"][..., 1])).astype(jnp.int32)
    sel = j[..., None, None]
    mean = jnp.take_along_axis(jp["mean"], sel, 2)[..., 0, :]
    V = jnp.take_along_axis(jp["V"], sel[..., None], 2)[..., 0, :, :]
    sl = jnp.take_along_axis(jp["sqrt_lam"], sel, 2)[..., 0, :]
    z = jax.random.normal(k2, G.shape, G.dtype)
    # chi-square(JUMP_DF) / JUMP_DF from squared normals (far cheaper than a gamma draw)
    u = jnp.mean(jax.random.normal(k4, (JUMP_DF,) + G.shape[:2], G.dtype) ** 2, 0)
    Gp = mean + jnp.einsum("cdkl,cdl->cdk", V, z / sl) / jnp.sqrt(u)[..., None]
    lpp = _curve_logp(Gp, s, d, m)
    log_r = (lpp - lp) + (_jump_logq(G, jp) - _jump_logq(Gp, jp))
    log_r = jnp.where(jnp.isfinite(log_r), log_r, -jnp.inf)
    take = (jnp.log(jax.random.uniform(k3, lp.shape)) < log_r) & d["present"]
    acc = jnp.where(d["present"], jnp.exp(jnp.minimum(log_r, 0.0)), 0.0)
    return {**s, "G": jnp.where(take[..., None], Gp, G)}, acc


def _drug_hmc(key, s, ad, d, m: ScreenModel, steps: int, warm, target: float):
    """Partially non-centred drug block: each drug's means ``(log10 IC50, log Hill, logit
    bottom)`` move by ``delta`` and every curve of the drug follows by ``W delta``, with ``W``
    (``K x 3`` per curve) the shift of the curve's conditional mean under a Gaussian
    approximation: ``W = (F + P)^-1 P0``, ``F`` its Fisher information, ``P`` the prior
    precision of all its parameters and ``P0`` that of the three that have drug means. An
    uninformed curve moves fully with its drug mean (non-centred), a well-informed one stays
    (centred), and a curve informed only along a ridge moves along the ridge (Papaspiliopoulos,
    Roberts & Skold 2003, with the matrix weights of the Gaussian case). The shear ``(mu, G -
    W mu)`` has unit Jacobian and ``W`` is fixed between warmup metric updates. Drugs are
    independent of each other given the rest, so every drug gets its own step size and 3 x 3
    metric."""
    w = ad["w_drug"]  # [C, D, K, 3]
    mu0 = s["mu"]
    prior_mean, prior_sd = _mu_prior(d, m)

    def unpack(mu):
        return s["G"] + jnp.einsum("cdkj,dj->cdk", w, mu - mu0)

    def logp(mu):  # [D]
        lp = jnp.where(d["present"], _curve_logp(unpack(mu), {**s, "mu": mu}, d, m), 0.0)
        zm = (mu - prior_mean) / prior_sd
        return jnp.sum(lp, 0) - 0.5 * jnp.sum(zm * zm, -1)

    mu, da, acc, _ = _block_hmc(key, mu0, logp, ad["S_drug"], ad["dda"], warm, steps,
                             jnp.any(d["present"], 0), target)
    G = jnp.where(d["present"][..., None], unpack(mu), s["G"])
    return {**s, "mu": mu, "G": G}, {**ad, "dda": da}, acc


def _gamma_scale(key, n, ss, prior_sd, old):
    """Scale ``sigma`` of ``n`` Normal(0, sigma) terms with sum of squares ``ss`` and a
    HalfNormal(prior_sd) prior: independence Metropolis with the Gamma full conditional of
    the precision (likelihood only) as proposal, accepted on the prior ratio."""
    k1, k2 = jax.random.split(key)
    shape = 0.5 * (n - 1.0)
    tau = jax.random.gamma(k1, shape) / (0.5 * jnp.maximum(ss, 1e-12))
    new = 1.0 / jnp.sqrt(tau)
    log_r = -0.5 * (new * new - old * old) / (prior_sd * prior_sd)
    ok = jnp.log(jax.random.uniform(k2)) < log_r
    return jnp.where(ok & jnp.isfinite(new), new, old)


def _conjugate(key, s, d, m: ScreenModel):
    """Centred Gibbs updates of drug means, cell-line effects and every scale."""
    ks = jax.random.split(key, 8)
    G, pres = s["G"], d["present"]
    pf = pres.astype(G.dtype)
    n_d = jnp.sum(pf, 0)
    sig = s["sig"]
    prior_mean, prior_sd = _mu_prior(d, m)
    # the curves' locations minus their drug means: the cell-line shift of log10 IC50 only
    shift = _locs({**s, "mu": jnp.zeros_like(s["mu"])}, m)[0][..., :3]
    r = jnp.sum(jnp.where(pres[..., None], G[..., :3] - shift, 0.0), 0)  # [D, 3]
    prec = 1.0 / prior_sd ** 2 + n_d[:, None] / sig ** 2
    mean = (prior_mean / prior_sd ** 2 + r / sig ** 2) / prec
    mu = mean + jax.random.normal(ks[0], mean.shape) / jnp.sqrt(prec)
    # cell-line effects: Gaussian full conditional conditioned on sum-to-zero over real cells
    valid = d["cell_valid"]
    n_c = jnp.sum(pf, 1)
    rc = jnp.sum(jnp.where(pres, G[..., 0] - mu[None, :, 0], 0.0), 1)
    pc = n_c / sig[0] ** 2 + 1.0 / s["sigma_cell"] ** 2
    mc = (rc / sig[0] ** 2) / pc
    x = mc + jax.random.normal(ks[1], mc.shape) / jnp.sqrt(pc)
    var = jnp.where(valid, 1.0 / pc, 0.0)
    x = jnp.where(valid, x - var * jnp.sum(jnp.where(valid, x, 0.0)) / jnp.sum(var), 0.0)
    # curve scales, cell-line scale
    dev = G[..., :3] - _locs({**s, "mu": mu, "cell": x}, m)[0][..., :3]
    ss = jnp.sum(jnp.where(pres[..., None], dev * dev, 0.0), (0, 1))
    n_g = jnp.sum(pf)
    sd0 = _scale_prior_sd(m, G.dtype)
    sig = jnp.stack([_gamma_scale(ks[2 + i], n_g, ss[i], sd0[i], sig[i]) for i in range(3)])
    n_cells = jnp.sum(valid.astype(G.dtype))
    # sum-to-zero effects over n cell lines carry n - 1 degrees of freedom
    sc = _gamma_scale(ks[5], n_cells - 1.0, jnp.sum(x * x), m.cell_line_sd, s["sigma_cell"])
    # noise
    r_w = d["y"] - _curve_mean(G, d, m, s["exp"])
    ss_w = jnp.sum(jnp.sum(jnp.where(d["mask"], r_w * r_w, 0.0), -1))
    sigma = _gamma_scale(ks[6], d["n_wells"] + 0.0, ss_w, m.noise_sd, s["sigma"])
    return {**s, "mu": mu, "cell": x, "sig": sig, "sigma_cell": sc, "sigma": sigma}


def _nc_unpack(th, z, s, m: ScreenModel):
    """Curve parameters from the non-centred coordinates (standardised deviations fixed)."""
    sig = jnp.exp(th["lsig"])
    loc, _ = _locs({**s, "mu": th["mu"], "cell": th["cell"], "sig": sig}, m)
    G3 = loc[..., :3] + sig * z
    if m.four_pl:
        G3 = jnp.concatenate([G3, s["G"][..., 3:4]], -1)
    return G3


def _nc_logp_parts(th, z, s, d, m: ScreenModel):
    """Per-curve log likelihood ``[C, D]`` and the prior of the global block (scalar)."""
    G = _nc_unpack(th, z, s, m)
    ll = jnp.where(d["present"], _curve_loglik(G, d, m, th["exp"], s["sigma"]), 0.0)
    prior_mean, prior_sd = _mu_prior(d, m)
    zm = (th["mu"] - prior_mean) / prior_sd
    sd0 = _scale_prior_sd(m)
    sig = jnp.exp(th["lsig"])
    lp = (-0.5 * jnp.sum(zm * zm) - 0.5 * jnp.sum(th["cell"] ** 2) / s["sigma_cell"] ** 2
          - 0.5 * jnp.sum((sig / sd0) ** 2) + jnp.sum(th["lsig"]))
    if m.exp_effects:
        lp = lp - 0.5 * jnp.sum(th["exp"] ** 2) / m.experiment_sd ** 2
    return ll, lp


def _project(p, inv_m, a):
    """Remove the component of momentum ``p`` along the constraint normal ``a`` (metric
    ``inv_m``), so ``a . inv_m p = 0`` and a sum-to-zero effect stays sum-to-zero."""
    return p - a * jnp.sum(a * inv_m * p) / jnp.maximum(jnp.sum(a * a * inv_m), 1e-30)


def _global_hmc(key, s, ad, d, m: ScreenModel, steps: int, warm, target: float):
    """One HMC transition of the global block in non-centred coordinates."""
    sig = s["sig"]
    loc, _ = _locs(s, m)
    z = (s["G"][..., :3] - loc[..., :3]) / sig
    th0 = {"mu": s["mu"], "cell": s["cell"], "lsig": jnp.log(sig), "exp": s["exp"]}
    inv_m = ad["inv_m"]
    a_cell = d["cell_valid"].astype(sig.dtype)
    a_exp = jnp.ones_like(s["exp"]) if m.exp_effects else jnp.zeros_like(s["exp"])

    def proj(p):
        return {**p, "cell": _project(p["cell"], inv_m["cell"], a_cell),
                "exp": _project(p["exp"], inv_m["exp"], a_exp) if m.exp_effects
                else jnp.zeros_like(p["exp"])}

    def total(th):
        ll, lp = _nc_logp_parts(th, z, s, d, m)
        return jnp.sum(ll) + lp

    grad = jax.grad(total)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    eps = jnp.exp(jnp.where(warm, ad["gda"]["log_eps"], ad["gda"]["bar"]))
    eps = eps * jax.random.uniform(k3, minval=0.8, maxval=1.2)
    leaves, tdef = jax.tree_util.tree_flatten(th0)
    keys = jax.random.split(k1, len(leaves))
    p0 = jax.tree_util.tree_unflatten(tdef, [
        jax.random.normal(k, x.shape) / jnp.sqrt(jnp.maximum(im, 1e-30)) * (im > 0)
        for k, x, im in zip(keys, leaves, jax.tree_util.tree_leaves(inv_m))])
    p0 = proj(p0)

    def kin(p):
        return 0.5 * sum(jnp.sum(im * q * q) for q, im in
                         zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(inv_m)))

    n_steps = jax.random.randint(k4, (), 1, steps + 1)  # random trajectory length

    def st(c, _):
        th, p, g = c
        p = proj(jax.tree_util.tree_map(lambda q, gg: q + 0.5 * eps * gg, p, g))
        th = jax.tree_util.tree_map(lambda x, q, im: x + eps * im * q, th, p, inv_m)
        g = grad(th)
        p = proj(jax.tree_util.tree_map(lambda q, gg: q + 0.5 * eps * gg, p, g))
        return (th, p, g), None

    th1, p1, _ = lax.fori_loop(0, n_steps, lambda i, c: st(c, i)[0], (th0, p0, grad(th0)))
    ll0, lp0 = _nc_logp_parts(th0, z, s, d, m)
    ll1, lp1 = _nc_logp_parts(th1, z, s, d, m)
    # the change of a sum of millions of terms, summed per curve first (float32-safe)
    dH = jnp.sum(ll1 - ll0) + (lp1 - lp0) - kin(p1) + kin(p0)
    dH = jnp.where(jnp.isfinite(dH), dH, -jnp.inf)
    acc = jnp.minimum(1.0, jnp.exp(jnp.minimum(dH, 0.0)))
    take = jax.random.uniform(k2) < acc
    th = jax.tree_util.tree_map(lambda a, b: jnp.where(take, a, b), th1, th0)
    G = jnp.where(take, _nc_unpack(th1, z, s, m), s["G"])
    G = jnp.where(d["present"][..., None], G, s["G"])
    s = {**s, "mu": th["mu"], "cell": th["cell"], "sig": jnp.exp(th["lsig"]), "exp": th["exp"],
         "G": G}
    ad = {**ad, "gda": _when(warm, _da_update(ad["gda"], acc, target), ad["gda"])}
    return s, ad, acc


def _sweep(key, s, ad, d, jp, m: ScreenModel, cfg: SamplerSettings, warm):
    k1, k2, k3 = jax.random.split(key, 3)
    k1, k4 = jax.random.split(k1)
    k4, k5 = jax.random.split(k4)
    s, ad, acc_c, lp = _curve_hmc(k1, s, ad, d, m, cfg.curve_steps, warm, cfg.target_accept,
                                  cfg.top_dose_coords)
    pf = d["present"].astype(acc_c.dtype)
    stats = {}
    if cfg.mode_jump:
        s, acc_j = _curve_jump(k5, s, lp, jp, d, m)
        two = jp["two"] & d["present"]
        stats["accept_jump"] = jnp.sum(acc_j * pf) / jnp.sum(pf)
        stats["accept_jump_two_modes"] = (jnp.sum(jnp.where(two, acc_j, 0.0))
                                          / jnp.maximum(jnp.sum(two), 1))
    s = _conjugate(k2, s, d, m)
    s, ad, acc_d = _drug_hmc(k4, s, ad, d, m, cfg.drug_steps, warm, cfg.target_accept)
    s, ad, acc_g = _global_hmc(k3, s, ad, d, m, cfg.global_steps, warm, cfg.target_accept)
    return s, ad, {"accept_curve": jnp.sum(acc_c * pf) / jnp.sum(pf), "accept_global": acc_g,
                   "accept_drug": jnp.mean(acc_d), **stats}


# ----------------------------------------------------------------------------- compiled steps
@partial(jax.jit, static_argnames=("m", "cfg", "length", "keep"))
def _run_chunk(keys, s, ad, d, jp, warm, m: ScreenModel, cfg: SamplerSettings, length: int,
               keep: tuple[int, ...]):
    """``length`` sweeps of every chain (vmapped), as one compiled scan.

    ``jp``: the mode-jump proposal (shared by all chains); ``warm`` (a traced boolean, so
    warmup and sampling share one compiled program) switches step-size adaptation on;
    ``keep``: the curve parameters returned for every sweep."""
    def one_chain(key, s, ad):
        def body(c, k):
            s, ad = c
            s, ad, st = _sweep(k, s, ad, d, jp, m, cfg, warm)
            out = {"G": s["G"][..., list(keep)]}
            out.update({"mu": s["mu"], "cell": s["cell"], "sig": s["sig"],
                   "sigma_cell": s["sigma_cell"], "sigma": s["sigma"], "exp": s["exp"], **st})
            return (s, ad), out

        ks = jax.random.split(key, length)
        (s, ad), out = lax.scan(body, (s, ad), ks)
        return s, ad, out

    return jax.vmap(one_chain)(keys, s, ad)


@partial(jax.jit, static_argnames=("m", "top"))
def _fisher_metric(s, ad, d, m: ScreenModel, top: bool = False):
    """Curve metric from the Fisher information at the current state plus the prior precision
    (in top-dose coordinates when ``top``: ``A^T P A`` with ``A`` the Jacobian of
    :func:`_from_top`); global diagonal metric from the curves' Fisher information (expected
    curvature of each global coordinate)."""
    def one(s, ad):
        F = _fisher(s["G"], s, d, m)  # [C, D, K, K] (wells only)
        loc, scale = _locs(s, m)
        P = F + jnp.eye(m.k) / scale ** 2
        neg = jnp.where(d["present"][..., None], jnp.diagonal(F, 0, -2, -1), 0.0)
        sig = s["sig"]
        z = (s["G"][..., :3] - loc[..., :3]) / sig
        _, prior_sd = _mu_prior(d, m)
        c_mu = jnp.sum(neg[..., :3], 0) + 1.0 / prior_sd ** 2
        c_cell = jnp.sum(neg[..., 0], 1) + 1.0 / s["sigma_cell"] ** 2
        c_sig = jnp.sum(neg[..., :3] * (sig * z) ** 2, (0, 1)) + 2.0
        c_exp = jnp.full_like(s["exp"], jnp.sum(neg[..., 0]) / max(m.n_exp, 1)
                              + 1.0 / m.experiment_sd ** 2)
        inv_m = {"mu": 1.0 / c_mu,
                 "cell": jnp.where(d["cell_valid"], 1.0 / c_cell, 0.0),
                 "lsig": 1.0 / c_sig,
                 "exp": 1.0 / c_exp if m.exp_effects else jnp.zeros_like(s["exp"])}
        # partial non-centring of the drug block: each curve's conditional-mean shift W
        # [C, D, K, 3] per unit move of its drug means, and the block's curvature
        prec0 = 1.0 / sig ** 2
        E = jnp.eye(m.k, 3, dtype=sig.dtype)
        pres = d["present"][..., None, None]
        w = jnp.where(pres, jnp.linalg.solve(P, jnp.broadcast_to(E * prec0, P.shape[:-1] + (3,))),
                      E)
        R = w - E  # the move of each curve relative to its prior location
        Fd = jnp.einsum("cdki,cdkl,cdlj->dij", jnp.where(pres, w, 0.0), F, w)
        Fd = Fd + jnp.einsum("cdki,k,cdkj->dij", jnp.where(pres, R, 0.0), 1.0 / scale ** 2, R)
        Pd = Fd + jnp.eye(3) / prior_sd[..., None] ** 2
        if top:
            P = _top_precision(P, s["G"], d["x_top"])
        return {**ad, "inv_m": inv_m, "w_drug": w}, (P, Pd)

    ad, (P, Pd) = jax.vmap(one)(s, ad)
    Sd = _metric_from_precision(jnp.mean(Pd, 0))
    ad = {**ad, "S_drug": jnp.broadcast_to(Sd, (Pd.shape[0],) + Sd.shape)}
    # one curve metric for all chains: the chain-averaged precision (a single chain's state
    # can sit where the curve's likelihood is locally flat or curved the wrong way)
    S = _metric_from_precision(jnp.mean(P, 0))
    S = jnp.where(d["present"][..., None, None], S, jnp.eye(m.k))
    return {**ad, "S": jnp.broadcast_to(S, (P.shape[0],) + S.shape)}


@jax.jit
def _restart_da(ad):
    def one(ad):
        return {**ad, "da": _da_init(ad["da"]["bar"]), "gda": _da_init(ad["gda"]["bar"]),
                "dda": _da_init(ad["dda"]["bar"])}

    return jax.vmap(one)(ad)


# ----------------------------------------------------------------------------- start values
def initial_state(grid: ScreenGrid, m: ScreenModel, num_chains: int, seed: int) -> dict:
    """Data-based start of every chain (numpy): curve midpoint where the mean viability crosses
    halfway between the lowest- and highest-dose wells, Hill 1, bottom from the lowest wells;
    globals from the curve starts. Chains are dispersed by jitter."""
    rng = np.random.default_rng(seed)
    C, D, P = grid.shape
    mask = grid.mask & ~grid.is_zero
    x = np.where(mask, grid.x, np.nan)
    y = np.where(mask, grid.y, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices of absent curves
        lo, hi = np.nanmin(x, -1), np.nanmax(x, -1)
        span = np.maximum(hi - lo, 1e-3)
        w_lo = mask & (x <= (lo + 0.25 * span)[..., None])
        w_hi = mask & (x >= (hi - 0.25 * span)[..., None])
        top = np.nanmean(np.where(w_lo, y, np.nan), -1)
        bot = np.nanmean(np.where(w_hi, y, np.nan), -1)
        top = np.where(np.isfinite(top), np.clip(top, 0.5, 1.5), 1.0)
        bot = np.where(np.isfinite(bot), bot, 0.5)
        frac = np.clip(bot / top, 0.02, 0.9)
        half = 0.5 * (top + np.minimum(bot, top))
        # midpoint: mean of the doses whose wells lie above half-way, weighted -> simple proxy
        above = np.nanmean(np.where(mask & (y > half[..., None]), x, np.nan), -1)
        below = np.nanmean(np.where(mask & (y <= half[..., None]), x, np.nan), -1)
        ic50 = np.where(np.isfinite(above) & np.isfinite(below), 0.5 * (np.nan_to_num(above)
                        + np.nan_to_num(below)), np.where(np.isfinite(below), lo, hi + 0.5))
        ic50 = np.where(np.isfinite(ic50), ic50, 0.0)
    k = m.k
    G = np.zeros((num_chains, C, D, k), np.float32)
    G[..., 0] = ic50 + 0.1 * rng.standard_normal((num_chains, C, D))
    G[..., 1] = 0.1 * rng.standard_normal((num_chains, C, D))
    G[..., 2] = np.log(frac / (1 - frac)) + 0.1 * rng.standard_normal((num_chains, C, D))
    if m.four_pl:
        G[..., 3] = np.log(top) * 0.5 + 0.02 * rng.standard_normal((num_chains, C, D))
    pres = grid.present
    w = pres.astype(np.float64)
    n_d = np.maximum(w.sum(0), 1)
    mu = np.stack([(G[..., i] * w).sum(1) / n_d for i in range(3)], -1)  # [chains, D, 3]
    cell = ((G[..., 0] - mu[:, None, :, 0]) * w).sum(2) / np.maximum(w.sum(1), 1)
    cell = np.where(grid.cell_valid, cell, 0.0)
    n_valid = grid.cell_valid.sum()
    cell = np.where(grid.cell_valid, cell - cell.sum(1, keepdims=True) / n_valid, 0.0)
    sig = np.tile(np.array([[m.curve_ic50_sd, m.curve_log_hill_sd,
                             m.curve_logit_bottom_sd]], np.float32), (num_chains, 1))
    sig = sig * np.exp(0.1 * rng.standard_normal(sig.shape))
    return {"G": G, "mu": mu.astype(np.float32), "cell": cell.astype(np.float32),
            "sig": sig.astype(np.float32),
            "sigma_cell": np.full(num_chains, 0.5, np.float32) * np.exp(
                0.1 * rng.standard_normal(num_chains)).astype(np.float32),
            "sigma": np.full(num_chains, 0.1, np.float32),
            "exp": np.zeros((num_chains, max(grid.n_exp, 1)), np.float32)}


def _adapt_init(s: dict, m: ScreenModel) -> dict:
    nc, C, D, k = s["G"].shape
    f = np.float32
    return {"S": np.tile(np.eye(k, dtype=f), (nc, C, D, 1, 1)),
            "da": {kk: v for kk, v in _np_da(np.full((nc, C, D), math.log(0.5), f)).items()},
            "gda": _np_da(np.full(nc, math.log(0.3), f)),
            "dda": _np_da(np.full((nc, D), math.log(0.5), f)),
            "S_drug": np.tile(np.eye(3, dtype=f), (nc, D, 1, 1)),
            "w_drug": np.tile(np.eye(k, 3, dtype=f), (nc, C, D, 1, 1)),
            "inv_m": {"mu": np.ones_like(s["mu"]), "cell": np.ones_like(s["cell"]),
                      "lsig": np.ones_like(s["sig"]), "exp": np.ones_like(s["exp"])}}


def _np_da(log_eps):
    z = np.zeros_like(log_eps)
    return {"log_eps": log_eps, "bar": log_eps, "hbar": z, "t": z,
            "mu": (log_eps + math.log(10)).astype(log_eps.dtype)}


# ----------------------------------------------------------------------------- device summaries
def _ranks_normal(x):
    """Rank-normalised values over the chain and draw axes (leading two) of ``x``."""
    c, n = x.shape[:2]
    flat = x.reshape((c * n,) + x.shape[2:])
    r = jnp.argsort(jnp.argsort(flat, 0), 0).astype(jnp.float32) + 1.0
    z = jax.scipy.special.ndtri((r - 0.375) / (c * n + 0.25))
    return z.reshape(x.shape)


def _split(x):
    c, n = x.shape[:2]
    h = n // 2
    return jnp.concatenate([x[:, :h], x[:, n - h:]], 0)


def _rhat_raw(x):
    c, n = x.shape[:2]
    mean_c = x.mean(1)
    var_c = x.var(1, ddof=1)
    W = var_c.mean(0)
    B = n * mean_c.var(0, ddof=1)
    return jnp.sqrt(((n - 1) / n * W + B / n) / W)


def _ess_raw(x):
    """ESS of ``x [chain, draw, ...]`` (Geyer's initial monotone sequence, as in Stan/ArviZ)."""
    c, n = x.shape[:2]
    xc = x - x.mean(1, keepdims=True)
    m = 2 ** int(math.ceil(math.log2(2 * n)))
    f = jnp.fft.rfft(xc, n=m, axis=1)
    acov = jnp.fft.irfft(f * jnp.conj(f), n=m, axis=1)[:, :n] / n  # [c, n, ...]
    mean_var = jnp.mean(acov[:, 0], 0) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if c > 1:
        var_plus = var_plus + x.mean(1).var(0, ddof=1)
    rho = 1.0 - (mean_var - jnp.mean(acov, 0)) / var_plus  # [n, ...]
    rho = rho.at[0].set(1.0)
    npairs = n // 2
    pairs = rho[: 2 * npairs].reshape((npairs, 2) + rho.shape[1:]).sum(1)  # [npairs, ...]
    pos = jnp.cumprod(pairs > 0, axis=0).astype(bool)
    mono = lax.cummin(jnp.where(pos, pairs, jnp.inf), axis=0)
    mono = jnp.where(pos, mono, 0.0)
    tau = -1.0 + 2.0 * jnp.sum(mono, 0)
    tau = jnp.maximum(tau, 1.0 / math.log10(c * n))
    return c * n / tau


def _rhat_nested(x, n_super: int):
    """Nested R-hat (Margossian et al. 2024) of split chains ``x [2 c, n, ...]`` whose first
    and second halves are the chains' halves, in ``n_super`` equal superchains of the original
    chains (contiguous blocks); a split half keeps its chain's superchain."""
    c2 = x.shape[0]
    c = c2 // 2
    ids = jnp.concatenate([jnp.arange(c), jnp.arange(c)]) * n_super // c
    mean_c = x.mean(1)
    var_c = x.var(1, ddof=1)
    onehot = (ids[:, None] == jnp.arange(n_super)[None]).astype(x.dtype)  # [2c, K]
    m = c2 // n_super
    sc_mean = jnp.einsum("ck,c...->k...", onehot, mean_c) / m
    b_k = jnp.einsum("ck,c...->k...", onehot, mean_c ** 2) / m - sc_mean ** 2
    b_k = b_k * m / max(m - 1, 1)
    w_k = jnp.einsum("ck,c...->k...", onehot, var_c) / m
    b_nu = sc_mean.var(0, ddof=1)
    w_nu = (w_k + b_k).mean(0)
    return jnp.sqrt(1.0 + b_nu / w_nu)


@partial(jax.jit, static_argnames=("n_super",))
def device_summary(draws, n_super: int = 0):
    """Per-parameter summaries of ``draws [chain, draw, ...]`` computed on the device.

    Mean, sd, 5/50/95% and 2.5/97.5% quantiles, rank-normalised split R-hat (the larger of the
    bulk and folded versions, as ArviZ), bulk ESS and tail ESS (the smaller of the 5% and 95%
    quantile indicator ESS); with ``n_super`` > 1 superchains (many-chain runs) also the
    nested rank R-hat, the larger of its bulk and folded versions.
    """
    x = draws.astype(jnp.float32)
    c, n = x.shape[:2]
    flat = x.reshape((c * n,) + x.shape[2:])
    qs = jnp.quantile(flat, jnp.array([0.025, 0.05, 0.5, 0.95, 0.975]), axis=0)
    sx = _split(x)
    z = _ranks_normal(sx)
    fold = jnp.abs(sx - jnp.median(flat, 0))
    rhat = jnp.maximum(_rhat_raw(z), _rhat_raw(_ranks_normal(fold)))
    ess_bulk = _ess_raw(z)
    ess_tail = jnp.minimum(_ess_raw((sx <= qs[1]).astype(jnp.float32)),
                           _ess_raw((sx <= qs[3]).astype(jnp.float32)))
    out = {"mean": flat.mean(0), "sd": flat.std(0, ddof=1), "q2.5": qs[0], "q5": qs[1],
           "median": qs[2], "q95": qs[3], "q97.5": qs[4], "r_hat": rhat,
           "ess_bulk": ess_bulk, "ess_tail": ess_tail}
    if n_super > 1 and c % n_super == 0:
        zf = _ranks_normal(fold)
        out["r_hat_nested"] = jnp.maximum(_rhat_nested(z, n_super), _rhat_nested(zf, n_super))
    return out


def summarize_curves(draws, chunk: int = 16384, n_super: int = 0) -> dict[str, np.ndarray]:
    """:func:`device_summary` of ``draws [chain, draw, C, D]`` in chunks of curves (one
    compiled shape; bounded device memory), returned as numpy ``[C, D]`` arrays."""
    c, n = draws.shape[:2]
    grid_shape = draws.shape[2:]
    flat = jnp.reshape(draws, (c, n, -1))
    N = flat.shape[2]
    size = min(chunk, N)
    parts = []
    for start in range(0, N, size):
        block = flat[:, :, start:start + size]
        if block.shape[2] < size:  # pad the last chunk to the compiled shape
            block = jnp.concatenate([block, jnp.repeat(block[:, :, -1:], size - block.shape[2],
                                                       2)], 2)
        parts.append({k: np.asarray(v) for k, v in device_summary(block, n_super).items()})
    return {k: np.concatenate([p[k] for p in parts])[:N].reshape(grid_shape) for k in parts[0]}


def _worst_curves(draws, summary: dict, present: np.ndarray) -> list[dict]:
    """Each chain's mean, sd and range for the curves with the lowest bulk ESS, the lowest
    tail ESS and the highest R-hat (nested where computed), from ``draws [chain, draw, C,
    D]`` on the device: a run that misses a target then shows whether one chain wandered."""
    out = []
    for stat, pick in (("ess_bulk", np.argmin), ("ess_tail", np.argmin),
                       ("r_hat_nested" if "r_hat_nested" in summary else "r_hat", np.argmax)):
        v = np.where(present, summary[stat], np.inf if pick is np.argmin else -np.inf)
        c, d = (int(i) for i in np.unravel_index(int(pick(v)), v.shape))
        x = np.asarray(draws[:, :, c, d], np.float64)  # [chain, draw]
        out.append({"worst": stat, "cell": c, "drug": d, "value": float(summary[stat][c, d]),
                    "chain_mean": x.mean(1).round(4).tolist(),
                    "chain_sd": x.std(1).round(4).tolist(),
                    "chain_min": x.min(1).round(3).tolist(),
                    "chain_max": x.max(1).round(3).tolist()})
    return out


# ----------------------------------------------------------------------------- driver
@dataclass
class ScreenFit:
    """Result of :func:`sample_screen`.

    Attributes
    ----------
    globals : dict
        Host draws ``[chain, draw, ...]`` of ``mu [D, 3]``, ``cell [C]``, ``sig [3]``,
        ``sigma_cell``, ``sigma``, ``exp [E]``.
    curves : dict or None
        Host draws ``[chain, draw, C, D]`` of each curve parameter (``keep_draws``).
    curve_summary : dict
        Device-computed summaries of each curve parameter, each ``[C, D]`` (numpy).
    timings : dict
    info : dict
    """

    globals: dict
    curves: dict | None
    curve_summary: dict
    timings: dict
    info: dict
    adapt: dict | None = None  # final adaptation state (device arrays; for inspection)


def _shardings(n_dev: int):
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as Ps

    mesh = Mesh(np.array(jax.devices()[:n_dev]), ("cells",))
    return mesh, NamedSharding, Ps


def _top_doses(x, mask, is_zero) -> np.ndarray:
    """Highest treated log10 dose of every curve ``[C, D]`` from the grid's ``x``, ``mask``
    and ``is_zero`` ``[C, D, P]`` (0 for curves without one)."""
    top = np.where(np.asarray(mask) & ~np.asarray(is_zero), np.asarray(x), -np.inf).max(-1)
    return np.where(np.isfinite(top), top, 0.0).astype(np.float32)


def sample_screen(grid: ScreenGrid, m: ScreenModel, cfg: SamplerSettings, seed: int = 0,
                  shard: bool | int = False, summarize: tuple[str, ...] = ("grp_log10_ic50",),
                  progress: bool = True) -> ScreenFit:
    """Run the screen sampler on a grid.

    Parameters
    ----------
    grid : ScreenGrid
    m : ScreenModel
    cfg : SamplerSettings
    seed : int
    shard : bool or int
        Shard the cell-line axis over the local devices (True: all; int: that many).
    summarize : tuple of str
        Curve parameters (``GROUP_SITES`` names) summarised on the device.
    """
    t0 = time.perf_counter()
    n_dev = (jax.local_device_count() if shard is True else int(shard)) if shard else 1
    if n_dev > 1:
        grid = grid.pad_cells(n_dev)
    C, D, P = grid.shape
    present = grid.present
    d = {"x": grid.x, "y": grid.y, "mask": grid.mask, "is_zero": grid.is_zero,
         "exp": grid.exp, "present": present, "cell_valid": grid.cell_valid,
         "n_obs": grid.mask.sum(-1).astype(np.float32),
         "mu_ic50_sd": (grid.half_range + m.log10_ic50_extra_sd).astype(np.float32),
         "half_range": grid.half_range.astype(np.float32),
         "x_top": _top_doses(grid.x, grid.mask, grid.is_zero),
         "n_wells": np.float32(grid.mask.sum())}
    s = initial_state(grid, m, cfg.num_chains, seed)
    ad = _adapt_init(s, m)
    if n_dev > 1:
        mesh, NS, Ps = _shardings(n_dev)

        def put(tree, axis_of):
            return jax.tree_util.tree_map_with_path(lambda p, v: jax.device_put(
                v, NS(mesh, axis_of(p, np.ndim(v)))), tree)

        def data_axis(path, nd):
            name = path[0].key
            if name in ("x", "y", "mask", "is_zero", "exp", "present", "n_obs", "cell_valid",
                        "x_top"):
                return Ps("cells")
            return Ps()

        def chain_axis(path, nd):
            # chain state: [chain, C, ...] for curve-level leaves
            names = [getattr(q, "key", None) for q in path]
            curve_level = names[0] in ("G", "S", "da", "w_drug") or names[-1] == "cell"
            if curve_level and nd >= 2:
                return Ps(None, "cells")
            return Ps()

        d = put(d, data_axis)
        s = put(s, chain_axis)
        ad = put(ad, chain_axis)
    else:
        d = jax.tree_util.tree_map(jnp.asarray, d)
    key = jax.random.PRNGKey(seed)
    # warmup in 12 equal chunks: metrics (Fisher information + prior precision, averaged over
    # chains) at the start and after chunks 1, 3, 6 and 9; step sizes by dual averaging
    # throughout, restarted after each metric change. (A metric from each curve's warmup
    # covariance was tried: windows that still hold the approach to the typical set, or a
    # stuck chain, gave metrics far too wide, and tiny step sizes.)
    n_warm_chunks = 12
    chunk = max(1, math.ceil(cfg.num_warmup / n_warm_chunks))
    # per-curve draws kept on the device: every parameter (keep_draws), else only those
    # summarised there
    keep_idx = tuple(range(m.k)) if cfg.keep_draws else tuple(
        GROUP_SITES.index(nm) for nm in summarize if GROUP_SITES.index(nm) < m.k)
    warm_on, warm_off = jnp.asarray(True), jnp.asarray(False)
    timings = {}
    acc_log = []
    def modes():
        # the mode-jump proposal, from the chain-averaged globals (sharded like the grid)
        if not cfg.mode_jump:
            return None
        jp = _curve_modes(s, d, m)
        if n_dev > 1:
            jp = jax.tree_util.tree_map(lambda v: jax.device_put(v, NS(mesh, Ps("cells"))), jp)
        return jp

    ad = _fisher_metric(s, ad, d, m, cfg.top_dose_coords)
    jp = modes()
    t_c = time.perf_counter()
    for i in range(n_warm_chunks):
        if i in (1, 3, 6, 9):
            ad = _restart_da(_fisher_metric(s, ad, d, m, cfg.top_dose_coords))
            jp = modes()
        key, k = jax.random.split(key)
        s, ad, out = _run_chunk(jax.random.split(k, cfg.num_chains), s, ad, d, jp, warm_on, m,
                                cfg, chunk, keep_idx)
        acc = (float(np.nanmean(np.asarray(out["accept_curve"]))),
               float(np.mean(np.asarray(out["accept_global"]))))
        acc_log.append(acc)
        if i == 0:
            timings["first_chunk"] = time.perf_counter() - t_c
        if progress:
            log.info("screen: warmup %d/%d, acceptance curves %.2f, globals %.2f",
                     (i + 1) * chunk, n_warm_chunks * chunk, *acc)
    jax.block_until_ready(s)
    timings["warmup"] = time.perf_counter() - t0
    # sampling
    t1 = time.perf_counter()
    n_keep = cfg.num_samples
    per_chunk = chunk  # same length as warmup chunks: one compiled program for both
    glob, curves_dev = [], []
    got = 0
    n_sweeps = 0
    first = True
    while got < n_keep:
        key, k = jax.random.split(key)
        s, ad, out = _run_chunk(jax.random.split(k, cfg.num_chains), s, ad, d, jp, warm_off,
                                m, cfg, per_chunk, keep_idx)
        if first:
            timings["first_sampling_chunk"] = time.perf_counter() - t1
            first = False
        n_sweeps += per_chunk
        sel = slice(cfg.thinning - 1, None, cfg.thinning)
        Gd = out["G"][:, sel]  # device [chain, kept, C, D, len(keep_idx)]
        take = min(Gd.shape[1], n_keep - got)
        curves_dev.append(Gd[:, :take])
        glob.append({k_: np.asarray(out[k_][:, sel][:, :take]) for k_ in
                     ("mu", "cell", "sig", "sigma_cell", "sigma", "exp", "accept_curve",
                      "accept_global", "accept_drug", "accept_jump", "accept_jump_two_modes")
                     if k_ in out})
        got += take
        if progress:
            log.info("screen: %d/%d draws per chain", got, n_keep)
    G_all = jnp.concatenate(curves_dev, 1) if len(curves_dev) > 1 else curves_dev[0]
    jax.block_until_ready(G_all)
    timings["sampling"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    summary, worst = {}, {}
    for name in summarize:
        j = GROUP_SITES.index(name)
        if j >= m.k:
            continue
        # nested R-hat over 4 superchains when there are at least 8 chains
        n_super = 4 if cfg.num_chains >= 8 and cfg.num_chains % 4 == 0 else 0
        summary[name] = summarize_curves(G_all[..., list(keep_idx).index(j)], n_super=n_super)
        worst[name] = _worst_curves(G_all[..., list(keep_idx).index(j)], summary[name],
                                    present)
    curves = None
    if cfg.keep_draws:
        curves = {name: np.asarray(G_all[..., j]) for j, name in enumerate(GROUP_SITES[:m.k])}
    timings["summaries"] = time.perf_counter() - t2
    glob_all = {k_: np.concatenate([g[k_] for g in glob], 1) for k_ in glob[0]}
    timings["total"] = time.perf_counter() - t0
    n_grad = cfg.num_chains * (n_warm_chunks * chunk + n_sweeps) * (
        cfg.curve_steps + cfg.drug_steps + cfg.global_steps + 6 + int(cfg.mode_jump))
    info = {"grid_shape": [C, D, P], "n_devices": n_dev, "warmup_acceptance": acc_log,
            "accept_curve": float(np.nanmean(glob_all["accept_curve"])),
            "accept_global": float(np.mean(glob_all["accept_global"])),
            "num_gradient_evals": int(n_grad),
            "note_gradient_evals": "per chain and sweep: curve_steps + drug_steps gradient "
                                   "passes over all wells (every block steps in lockstep), "
                                   "at most global_steps more, and 6 log-density passes "
                                   "(7 with the mode jump)"}
    if worst:
        info["worst_curves"] = worst
    if cfg.mode_jump:
        info["accept_jump"] = float(np.mean(glob_all["accept_jump"]))
        info["accept_jump_two_modes"] = float(np.mean(glob_all["accept_jump_two_modes"]))
        info["curves_with_two_modes"] = int(np.sum(np.asarray(jp["two"]) & present))
    return ScreenFit(glob_all, curves, summary, timings, info, ad)


# ----------------------------------------------------------------------------- API glue
# bytes per curve draw on the host through drugbayes.fit: 4 parameters in float32, plus the
# summary's derived quantities (about 15 arrays in float64, all held at once)
HOST_BYTES_PER_CURVE_DRAW = 4 * 4 + 15 * 8


def _check_host_memory(n_curves: int, num_chains: int, num_samples: int) -> None:
    """Refuse (exit 2, before sampling) a ``drugbayes.fit`` run whose draws cannot fit in host
    memory: that path keeps every draw of every curve (``posterior.nc``, ``summary.csv``)."""
    from ..errors import ConfigError, Issue

    need = n_curves * num_chains * num_samples * HOST_BYTES_PER_CURVE_DRAW
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > 0.6 * total:
        fit_draws = max(1, int(0.6 * total / (n_curves * num_chains * HOST_BYTES_PER_CURVE_DRAW)))
        raise ConfigError([Issue(
            "<config>", None, "inference.num_samples", str(num_samples),
            f"at most {fit_draws} draws per chain for {n_curves} curves x {num_chains} chains "
            f"on this machine: drugbayes.fit keeps every draw of every curve on the host "
            f"(about {need / 2 ** 30:.0f} GiB, {total / 2 ** 30:.0f} GiB here). Thin "
            f"(inference.thinning) or use fewer draws or chains; or call "
            f"drugbayes.inference.screen.sample_screen(..., keep_draws=False), which keeps "
            f"only per-curve summaries computed on the device")])



def run_screen(arrays: dict, spec, settings, rng_seed: int) -> InferenceResult:
    """The screen back-end for :func:`drugbayes.api.infer` (``inference.method = "screen"``).

    Returns draws under the family's site names, in the family's group order.
    """
    grid = grid_from_arrays(arrays)
    _check_host_memory(int(grid.present.sum()), settings.num_chains, settings.num_samples)
    m = ScreenModel.from_spec(spec, grid.n_exp)
    cfg = SamplerSettings(num_chains=settings.num_chains, num_warmup=settings.num_warmup,
                          num_samples=settings.num_samples, thinning=settings.thinning,
                          curve_steps=settings.screen_curve_steps,
                          drug_steps=settings.screen_drug_steps,
                          global_steps=settings.screen_global_steps,
                          target_accept=settings.screen_target_accept,
                          mode_jump=settings.screen_mode_jump)
    shard = settings.screen_shard
    fit = sample_screen(grid, m, cfg, seed=rng_seed, shard=shard, summarize=())
    g = fit.globals
    gc, gd = grid.group_cell, grid.group_drug
    n_cell = len(grid.cell_valid)
    samples = {
        "mu_log10_ic50": g["mu"][..., 0], "mu_log_hill": g["mu"][..., 1],
        "mu_logit_bottom": g["mu"][..., 2], "sigma_cell_line": g["sigma_cell"],
        "eff_cell_line": g["cell"][..., :n_cell],
        "sigma_curve_log10_ic50": g["sig"][..., 0], "sigma_curve_log_hill": g["sig"][..., 1],
        "sigma_curve_logit_bottom": g["sig"][..., 2], "sigma": g["sigma"],
    }
    if m.exp_effects:
        samples["experiment_effect"] = g["exp"]
    for name in GROUP_SITES:
        if name in fit.curves:
            samples[name] = fit.curves[name][:, :, gc, gd]
        else:
            samples[name] = np.zeros_like(fit.curves["grp_log10_ic50"][:, :, gc, gd])
    stats = {"accept_prob": g["accept_curve"], "accept_prob_global": g["accept_global"]}
    return InferenceResult("screen", samples, stats, fit.timings, fit.info)
