"""Simulate-fit helpers shared by the tests and the benchmarks.

Helpers that both ``tests/`` and ``benchmarks/`` use live here, so that the tests never import
from ``benchmarks/``:

- **one-curve chains of the screen back-end** (``one_curve_problem``, ``curve_copies``,
  ``curve_modes``, ``curve_chain``, ``autocorrelation``): the curve block of the screen
  sampler run alone, with the globals fixed, to measure how a kernel (curve HMC, mode jump,
  top-dose coordinates) mixes on one curve;
- **convergence diagnostics in numpy** (``convergence``, ``superchain_ids``,
  ``check_convergence_against_arviz_stats``): bulk / tail ESS, rank R-hat and nested R-hat
  vectorised over parameters, equal to ``arviz_stats`` to rounding; the reference for the
  screen back-end's device summaries and the diagnostics of the screen-scale benchmark;
- **the Mathews Griner ibrutinib screen** (``mathews_griner_blocks``,
  ``synergyfinder_reference``, ``block_grids``): readers of the real combination data in
  ``../shared/data/combination_mathews_griner/``.

This module is not part of the modelling API; it reaches into the blocked engine
(``drugbayes.inference.blocked``) and the dose-response plan.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import fft as sp_fft
from scipy import special

from drugbayes import api
from drugbayes.families.dose_response.blocks import Globals, GridData
from drugbayes.families.dose_response.grid import top_doses
from drugbayes.inference import screen as sc
from drugbayes.inference.blocked.adaptation import coords_precision, unit_precision
from drugbayes.inference.blocked.driver import unit_modes, unit_step
from drugbayes.inference.blocked.kernels import da_init, metric_from_precision
from drugbayes.inference.blocked.mode_jump import JumpProposal, mode_jump
from drugbayes.inference.blocked.plan import Adaptation, ChainState

MATHEWS_GRINER_FILE = "mathews_griner_TMD8_ibrutinib_combos.csv"
SYNERGYFINDER_REFERENCE_FILE = "synergyfinder_vignette_reference.csv"


# ============================================================================= one-curve chains
def one_curve_problem(grid: sc.ScreenGrid, truth: dict, curve: tuple[int, int],
                      n: int) -> tuple[GridData, sc.ScreenModel, Globals]:
    """``n`` copies of one curve of a simulated screen, globals fixed at the truth.

    Parameters
    ----------
    grid, truth
        A screen and its truth from ``sc.simulate_screen``.
    curve : tuple of int
        ``(cell line, drug)`` of the curve.
    n : int
        Number of copies (chains).

    Returns
    -------
    tuple
        The data of a ``[n, 1, P]`` grid, the dose-response plan and the globals for the curve
        kernels (the cell-line effect folded into the drug mean).
    """
    c0, d0 = curve
    mu = np.array(truth["mu"][d0], np.float32)
    mu[0] += truth["cell"][c0]
    return curve_copies(grid.x[c0, d0], grid.y[c0, d0], n, mu, truth["sig"], truth["sigma"])


def curve_copies(x: Any, y: Any, n: int, mu: Any, sig: Sequence[float] = (0.5, 0.25, 0.7),
                 sigma: float = 0.05) -> tuple[GridData, sc.ScreenModel, Globals]:
    """``n`` copies of one curve as a ``[n, 1, P]`` grid of the dose-response plan.

    Parameters
    ----------
    x, y : array ``[P]``
        Centred log10 doses and responses of the curve.
    n : int
        Number of copies (chains).
    mu : array ``[3]``
        Drug means of log10 IC50 (the cell-line effect folded in), log Hill, logit bottom.
    sig : sequence of float
        Curve-level sds.
    sigma : float
        Well noise. (The cell-line scale is 0.4; it plays no part in the curve kernels.)

    Returns
    -------
    tuple
        The grid data, the plan (default priors) and the globals.
    """
    P = len(y)
    shape = (n, 1, P)
    xx = jnp.broadcast_to(jnp.asarray(x, jnp.float32), shape)
    mask, is_zero = jnp.ones(shape, bool), jnp.zeros(shape, bool)
    m = sc.ScreenModel.from_spec(api._spec(None, "dose_response"), 1)
    d = GridData(x=xx, y=jnp.broadcast_to(jnp.asarray(y, jnp.float32), shape), mask=mask,
                 is_zero=is_zero, exp=jnp.zeros(shape, jnp.int32),
                 present=jnp.ones((n, 1), bool), cell_valid=jnp.ones(n, bool),
                 half_range=jnp.array([2.0]), x_top=jnp.asarray(top_doses(xx, mask, is_zero)),
                 n_wells=jnp.float32(n * P), priors=m.prior_values())
    s = Globals(drug_mean=jnp.asarray(np.asarray(mu, np.float32)[None]),
                cell_effect=jnp.zeros(n), curve_sd=jnp.asarray(sig, jnp.float32),
                cell_sd=jnp.float32(0.4), noise_sd=jnp.float32(sigma), exp_effect=jnp.zeros(1))
    return d, m, s


def curve_modes(d: GridData, m: sc.ScreenModel, s: Globals) -> JumpProposal:
    """The mode-jump proposal of every copy of a curve, given the fixed globals."""
    return unit_modes(jax.tree_util.tree_map(lambda v: v[None], s), d, m)


def curve_chain(d: GridData, m: sc.ScreenModel, s: Globals, jp: JumpProposal, jump: bool,
                G0: jax.Array, n_sweeps: int, seed: int = 0, hmc: bool = True,
                top: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Chains of the curve block alone (globals fixed).

    Each sweep is the curve HMC (when ``hmc``; metric from the Fisher information plus prior
    precision at the first mode, step size 0.7, the sampler's typical adapted value; in the
    sampler's top-dose coordinates when ``top``), followed by the mode jump (when ``jump``).

    Parameters
    ----------
    d, m, s : GridData, DoseResponsePlan, Globals
        Data, plan and globals (``one_curve_problem``, ``curve_copies``).
    jp : JumpProposal
        The curve modes (``curve_modes``).
    jump, hmc, top : bool
        Which kernels run, and in which coordinates.
    G0 : jax.Array
        Start ``[chain, 1, K]``.
    n_sweeps, seed : int
        Sweeps and PRNG seed.

    Returns
    -------
    tuple of ndarray
        The draws ``[sweep, chain, K]`` and the jump's acceptance probabilities
        ``[sweep, chain]``.
    """
    n = G0.shape[0]
    Gm = jp.mean[:, :, 0]
    _, P = unit_precision(m, Gm, s, d)
    if top:
        P = coords_precision(m, P, Gm, d)
    S = metric_from_precision(P)
    ad = Adaptation(S, da_init(jnp.full((n, 1), np.log(0.7), jnp.float32)), None)

    @jax.jit
    def run(key, G):
        def body(G, k):
            k1, k2 = jax.random.split(k)
            lp = m.unit_logp(G, s, d)
            if hmc:
                st, _, _, lp = unit_step(k1, ChainState(G, s), ad, d, m, 10,
                                         jnp.asarray(False), 0.8, top)
                G = st.units
            acc = jnp.zeros(G.shape[:2])
            if jump:
                G, acc = mode_jump(k2, G, lp, jp, lambda x: m.unit_logp(x, s, d), d.present)
            return G, (G[:, 0], acc[:, 0])

        return jax.lax.scan(body, G, jax.random.split(key, n_sweeps))[1]

    dr, acc = run(jax.random.PRNGKey(seed), G0)
    return np.asarray(dr), np.asarray(acc)


def autocorrelation(x: np.ndarray, max_lag: int) -> list[float]:
    """Autocorrelation of draws ``[sweep, chain]`` at lags ``1..max_lag``.

    Centred on the overall mean and pooled over chains; one value per lag.
    """
    xc = x - x.mean()
    v = np.mean(xc * xc)
    return [float(np.mean(xc[lag:] * xc[:-lag]) / v) for lag in range(1, max_lag + 1)]


# ============================================================================= convergence
# Vectorised re-implementation of arviz_stats' array diagnostics (arviz_stats.base.diagnostics:
# _z_scale, _split_chains, _rhat, _rhat_rank, _ess, _ess_bulk, _ess_tail, _rhat_nested). The
# arviz_stats functions loop over parameters in Python (~0.5 ms per parameter and diagnostic on
# 8 x 300 draws, i.e. minutes for 300,000 curves); these work on [chain, draw, P] blocks at once
# and agree with arviz_stats to rounding (see check_convergence_against_arviz_stats).

def _split(x: np.ndarray) -> np.ndarray:
    """[P, C, N] -> [P, 2C, N // 2]: first and last halves as separate chains (drops middle)."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


def _rank_average(a: np.ndarray) -> np.ndarray:
    """Ranks 1..S along the last axis of [P, S], ties averaged (``scipy.stats.rankdata``)."""
    p, s = a.shape
    order = np.argsort(a, axis=1)
    srt = np.take_along_axis(a, order, axis=1)
    tie = srt[:, 1:] == srt[:, :-1]
    del srt
    sorted_ranks = np.empty((p, s))
    sorted_ranks[:] = np.arange(1, s + 1)
    rows = np.nonzero(tie.any(axis=1))[0]
    if len(rows):  # only rows with ties need the (slower) averaging
        idx = np.arange(s, dtype=np.int32)
        starts = np.ones((len(rows), s), bool)
        starts[:, 1:] = ~tie[rows]
        first = np.maximum.accumulate(np.where(starts, idx, 0), axis=1)
        ends = np.ones((len(rows), s), bool)
        ends[:, :-1] = starts[:, 1:]
        last = np.minimum.accumulate(np.where(ends, idx, s)[:, ::-1], axis=1)[:, ::-1]
        sorted_ranks[rows] = 0.5 * (first + last) + 1.0
    ranks = np.empty((p, s))
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    return ranks


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise per parameter over all chains and draws (average ties, Blom c = 3/8)."""
    p, c, n = x.shape
    r = _rank_average(x.reshape(p, c * n))
    s = c * n
    return special.ndtri((r - 0.375) / (s - 0.75 + 1.0)).reshape(p, c, n)


def _rhat_basic(x: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of [P, C, N] (no split, no rank) -> [P]."""
    n = x.shape[2]
    chain_mean = x.mean(axis=2)
    chain_var = x.var(axis=2, ddof=1)
    b = n * chain_mean.var(axis=1, ddof=1)
    w = chain_var.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((b / w + n - 1) / n)


def _rhat_nested_basic(x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Nested R-hat of [P, C, N] given superchain ids [C] (equal-sized superchains) -> [P]."""
    p, c, n = x.shape
    ks = np.unique(ids)
    m = c // len(ks)
    chain_mean = x.mean(axis=2)  # [P, C]
    chain_var = x.var(axis=2, ddof=1) if n > 1 else np.zeros((p, c))
    sc_mean = np.stack([chain_mean[:, ids == k].mean(axis=1) for k in ks], axis=1)  # [P, K]
    if m > 1:
        b_k = np.stack([chain_mean[:, ids == k].var(axis=1, ddof=1) for k in ks], axis=1)
    else:
        b_k = np.zeros((p, len(ks)))
    w_k = np.stack([chain_var[:, ids == k].mean(axis=1) for k in ks], axis=1)
    b_nu = sc_mean.var(axis=1, ddof=1)
    w_nu = (w_k + b_k).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(1.0 + b_nu / w_nu)


def _ess_basic(x: np.ndarray) -> np.ndarray:
    """ESS of [P, C, N] (Geyer initial positive + monotone sequence, as arviz_stats) -> [P].

    Pairs ``S_k = rho[2k] + rho[2k+1]`` of the combined autocorrelation estimate; ``K`` is the
    first ``k`` with ``S_k <= 0`` (at most ``kmax``, the last pair arviz_stats looks at), the pair
    sums before ``K`` are replaced by their running minimum, and ``tau = -1 + 2 sum_{k<K} S_k +
    rho[2K]`` (``rho[2K]`` clipped at 0 when ``S_K < 0``), ``ESS = C N / max(tau, 1/log10(C N))``
    -- the loops of ``arviz_stats.base.diagnostics._ess`` written as array operations.
    """
    p, c, n = x.shape
    size = c * n
    const = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) < np.finfo(float).resolution
    m = sp_fft.next_fast_len(2 * n)
    xc = x - x.mean(axis=2, keepdims=True)
    f = sp_fft.rfft(xc, n=m, axis=2, workers=-1)
    del xc
    f *= np.conjugate(f)
    acov = sp_fft.irfft(f, n=m, axis=2, workers=-1)[:, :, :n] / n  # [P, C, N]
    del f
    mean_acov = acov.mean(axis=1)  # [P, N]
    del acov
    mean_var = mean_acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if c > 1:
        var_plus = var_plus + x.mean(axis=2).var(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]  # [P, N]
    rho[:, 0] = 1.0
    # pairs k = 0..kmax of (rho[2k], rho[2k+1]); arviz computes pair k >= 1 while 2k - 1 < n - 3
    kmax = max(k for k in range(0, n) if k == 0 or 2 * k - 1 < n - 3)
    pair = rho[:, 0:2 * kmax + 1:2] + rho[:, 1:2 * kmax + 2:2]  # [P, kmax + 1]
    nonpos = pair <= 0.0
    big_k = np.where(nonpos.any(axis=1), nonpos.argmax(axis=1), kmax)
    big_k = np.minimum(big_k, kmax)
    mono = np.minimum.accumulate(pair, axis=1)
    idx = np.arange(kmax + 1)[None, :]
    head = np.where(idx < big_k[:, None], mono, 0.0).sum(axis=1)
    rows = np.arange(p)
    rho_k = rho[rows, 2 * big_k]
    pair_k = pair[rows, big_k]
    last = np.where(pair_k >= 0.0, rho_k, np.maximum(rho_k, 0.0))
    tau = -1.0 + 2.0 * head + last
    tau = np.maximum(tau, 1.0 / np.log10(size))
    with np.errstate(invalid="ignore", divide="ignore"):
        ess = size / tau
    ess = np.where(np.isnan(rho).any(axis=1), np.nan, ess)
    return np.where(const, float(size), ess)


def _diagnostics_block(x: np.ndarray, ids: np.ndarray | None,
                       tail_prob: tuple[float, float] = (0.05, 0.95)) -> dict[str, np.ndarray]:
    """Bulk ESS, tail ESS, rank R-hat and (if ``ids``) nested rank R-hat of [C, N, P]."""
    c, n, p = x.shape
    # [P, C, N], contiguous along draws (sorting and FFTs run along the last axis)
    x = np.ascontiguousarray(np.moveaxis(np.asarray(x), 2, 0), dtype=np.float64)
    bad = ~np.isfinite(x).all(axis=(1, 2))
    if bad.any():  # as arviz_stats: NaN for a parameter with a non-finite draw
        x[bad] = 0.0
    xs = _split(x)
    z = _z_scale(xs)
    ess_bulk = _ess_basic(z)
    q = np.quantile(x.reshape(p, c * n), tail_prob, axis=1)  # [2, P], linear
    ess_tail = np.minimum(_ess_basic(_split((x <= q[0][:, None, None]).astype(np.float64))),
                          _ess_basic(_split((x <= q[1][:, None, None]).astype(np.float64))))
    del x
    folded = np.abs(xs - np.median(xs.reshape(p, -1), axis=1)[:, None, None])
    del xs
    zf = _z_scale(folded)
    del folded
    out = {"ess_bulk": ess_bulk, "ess_tail": ess_tail}
    if c >= 2:
        out["rhat"] = np.maximum(_rhat_basic(z), _rhat_basic(zf))
    else:
        out["rhat"] = np.full(p, np.nan)
    if ids is not None:
        ids2 = np.concatenate([ids, ids])
        out["rhat_nested"] = np.maximum(_rhat_nested_basic(z, ids2), _rhat_nested_basic(zf, ids2))
    if n < 4:
        for k in out:
            out[k] = np.full(p, np.nan)
    for k in out:
        out[k] = np.where(bad, np.nan, out[k])
    return out


def superchain_ids(num_chains: int, n_super: int = 4) -> np.ndarray:
    """Contiguous superchains: chain ``c`` belongs to superchain ``c * n_super // num_chains``."""
    if num_chains % n_super:
        raise ValueError(f"{num_chains} chains do not split into {n_super} equal superchains")
    return np.arange(num_chains) * n_super // num_chains


def convergence(draws: Mapping[str, np.ndarray], *, n_super: int = 4,
                superchains: Sequence[int] | None = None, chunk: int = 10_000,
                keep_per_parameter: bool = False) -> dict:
    """Min bulk / tail ESS, max rank R-hat and nested R-hat over every scalar of every array.

    Numbers are those of ``arviz_stats`` (``ess(method="bulk")``, ``ess(method="tail",
    prob=(0.05, 0.95))``, ``rhat(method="rank")``, ``rhat_nested(method="rank")``): draws are
    split in halves, rank-normalised over all chains (Blom, average ties), bulk ESS and R-hat use
    the normalised values, the tail versions the folded ``|x - median|`` (R-hat) or the 5% / 95%
    quantile indicators (ESS); ESS uses Geyer's initial positive and monotone sequences. The
    computation is vectorised over parameters and runs in chunks of ``chunk`` scalars (float64
    internally: about ``chunk * chains * draws * 8`` bytes times ~10 at a time), e.g. 300,000
    curves x 8 chains x 300 draws in 30 chunks.

    Nested R-hat (Margossian et al. 2024, "Nested R-hat: assessing the convergence of Markov
    chain Monte Carlo when running many short chains", Bayesian Analysis), computed when there
    are at least 8 chains: the chains are grouped into ``K`` superchains of ``M`` chains each
    (``superchains`` ids, default ``n_super`` contiguous blocks), the split halves keep their
    chain's superchain, and with chain means ``xbar_.mk``, chain variances ``s2_mk`` (ddof 1),
    superchain means ``xbar_..k`` and overall mean ``xbar_...``::

        B_nu = 1/(K-1) sum_k (xbar_..k - xbar_...)^2            between superchains
        B_k  = 1/(M-1) sum_m (xbar_.mk - xbar_..k)^2  (0 if M=1) between chains in superchain k
        W_k  = 1/M sum_m s2_mk                                  within chains of superchain k
        W_nu = 1/K sum_k (B_k + W_k)                            within superchains
        nR   = sqrt(1 + B_nu / W_nu)

    on the rank-normalised draws and on the rank-normalised folded draws, reporting the larger
    (arviz_stats' ``method="rank"``). The statistic is meant for superchains whose chains start
    from the same point; chains with independent starts (plain NumPyro) make it a conservative
    grouping of ordinary chains. Nested R-hat with M = 1 is not R-hat (it is lower-bounded by 1
    and has no ``(N-1)/N`` term).

    Parameters
    ----------
    draws : mapping of str to ndarray [chain, draw, ...]
        Every array is flattened to scalars over its trailing dimensions.
    n_super : int, default 4
        Number of superchains for nested R-hat (chains must split evenly).
    superchains : sequence of int, optional
        Explicit superchain id per chain (overrides ``n_super``).
    chunk : int, default 10000
        Scalars per vectorised block.
    keep_per_parameter : bool, default False
        Also return the per-scalar arrays (``per_parameter[name][diagnostic]``).

    Returns
    -------
    dict
        ``n_parameters``, ``n_chains``, ``n_draws``, ``min_ess_bulk``, ``min_ess_tail``,
        ``max_rhat``, ``max_rhat_nested`` (None with fewer than 8 chains), each with
        ``<key>_param`` ("name[i, j]" of the worst scalar); ``n_nonfinite`` (scalars with a
        non-finite diagnostic, excluded from the min / max), ``n_rhat_gt_1_01``,
        ``n_ess_bulk_lt_400`` (both over finite values), ``per_variable`` (the same extremes per
        array), ``seconds``.
    """
    t0 = time.perf_counter()
    shapes = {k: np.shape(v) for k, v in draws.items()}
    n_chains = {s[0] for s in shapes.values()}
    n_draws = {s[1] for s in shapes.values()}
    if len(n_chains) != 1 or len(n_draws) != 1:
        raise ValueError(f"all arrays need the same [chain, draw]: {shapes}")
    c, n = n_chains.pop(), n_draws.pop()
    ids = None
    if superchains is not None:
        ids = np.asarray(superchains, np.int64)
    elif c >= 8 and c % n_super == 0:
        ids = superchain_ids(c, n_super)
    keys = ["ess_bulk", "ess_tail", "rhat"] + (["rhat_nested"] if ids is not None else [])
    worst_is_min = {"ess_bulk": True, "ess_tail": True, "rhat": False, "rhat_nested": False}

    per_var: dict[str, dict] = {}
    per_param: dict[str, dict] = {}
    glob: dict[str, tuple[float, str]] = {}
    n_params = n_nonfinite = n_rhat_bad = n_ess_bad = 0
    for name, arr in draws.items():
        arr = np.asarray(arr)
        tail = arr.shape[2:]
        flat = arr.reshape(c, n, -1)
        p = flat.shape[2]
        res = {k: np.empty(p) for k in keys}
        for s in range(0, p, chunk):
            block = _diagnostics_block(flat[:, :, s:s + chunk], ids)
            for k in keys:
                res[k][s:s + chunk] = block[k]
        nonfin = ~np.all([np.isfinite(res[k]) for k in keys], axis=0)
        n_params += p
        n_nonfinite += int(nonfin.sum())
        n_rhat_bad += int((res["rhat"] > 1.01).sum())
        n_ess_bad += int((res["ess_bulk"] < 400).sum())
        pv: dict[str, Any] = {"n": p, "n_nonfinite": int(nonfin.sum())}
        for k in keys:
            v = res[k]
            fin = np.isfinite(v)
            if not fin.any():
                pv[k] = None
                continue
            i = int(np.nanargmin(v) if worst_is_min[k] else np.nanargmax(v))
            label = name + ("[" + ", ".join(str(int(j)) for j in np.unravel_index(i, tail))
                            + "]" if tail else "")
            pv[k] = float(v[i])
            pv[k + "_param"] = label
            if k not in glob or (v[i] < glob[k][0] if worst_is_min[k] else v[i] > glob[k][0]):
                glob[k] = (float(v[i]), label)
        per_var[name] = pv
        if keep_per_parameter:
            per_param[name] = {k: res[k].reshape(tail) for k in keys}

    out: dict[str, Any] = {"n_parameters": n_params, "n_chains": c, "n_draws": n,
                           "n_super": int(len(np.unique(ids))) if ids is not None else None}
    for k, name in (("ess_bulk", "min_ess_bulk"), ("ess_tail", "min_ess_tail"),
                    ("rhat", "max_rhat"), ("rhat_nested", "max_rhat_nested")):
        out[name] = glob[k][0] if k in glob else None
        out[name + "_param"] = glob[k][1] if k in glob else None
    out.update({"n_nonfinite": n_nonfinite, "n_rhat_gt_1_01": n_rhat_bad,
                "n_ess_bulk_lt_400": n_ess_bad, "per_variable": per_var,
                "seconds": time.perf_counter() - t0})
    if keep_per_parameter:
        out["per_parameter"] = per_param
    return out


def check_convergence_against_arviz_stats(draws: Mapping[str, np.ndarray], *,
                                          max_params: int = 20, n_super: int = 4) -> dict:
    """Largest relative difference between ``convergence`` and ``arviz_stats`` on a few scalars.

    Runs ``arviz_stats.ess`` (bulk; tail with prob (0.05, 0.95)), ``arviz_stats.rhat`` and, with
    >= 8 chains, ``arviz_stats.rhat_nested`` on the first ``max_params`` scalars of every array.
    """
    import arviz_stats as azs

    diffs: dict[str, float] = {}
    for arr in draws.values():
        arr = np.asarray(arr, np.float64)
        c, n = arr.shape[:2]
        flat = arr.reshape(c, n, -1)[:, :, :max_params]
        ids = superchain_ids(c, n_super) if c >= 8 and c % n_super == 0 else None
        ours = _diagnostics_block(flat, ids)
        ref = {"ess_bulk": azs.ess(flat, method="bulk", chain_axis=0, draw_axis=1),
               "ess_tail": azs.ess(flat, method="tail", prob=(0.05, 0.95), chain_axis=0,
                                   draw_axis=1),
               "rhat": azs.rhat(flat, chain_axis=0, draw_axis=1)}
        if ids is not None:
            ref["rhat_nested"] = azs.rhat_nested(flat, superchain_ids=list(ids), chain_axis=0,
                                                 draw_axis=1)
        for k, v in ref.items():
            v = np.asarray(v, np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.abs(ours[k] - v) / np.abs(v)
            d = d[np.isfinite(d)]
            diffs[k] = max(diffs.get(k, 0.0), float(d.max()) if len(d) else 0.0)
    return {"max_relative_difference": diffs, "n_scalars_per_array": max_params}


# ============================================================================= Mathews Griner
def mathews_griner_blocks(folder: Path) -> pd.DataFrame:
    """The screen's wells as given (one row per well)."""
    return pd.read_csv(folder / MATHEWS_GRINER_FILE)


def synergyfinder_reference(folder: Path) -> dict[int, float]:
    """SynergyFinder's mean ZIP per block (% inhibition, positive = synergy)."""
    ref = pd.read_csv(folder / SYNERGYFINDER_REFERENCE_FILE)
    ref = ref[(ref["method"] == "ZIP") & (ref["statistic"] == "mean_synergy_over_matrix")]
    return {int(b): float(v) for b, v in zip(ref["BlockId"], ref["value"])}


def block_grids(df: pd.DataFrame, blocks: list[int] | None = None
                ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """``(block ids, y [K, 6, 6] viability fraction, log10 ibrutinib doses [K, 6], log10 partner
    doses [K, 6])``; axis 1 is ibrutinib (``ColConcs``), axis 2 the partner (``RowConcs``),
    index 0 dose 0, doses ascending."""
    ids = sorted(df["BlockId"].unique()) if blocks is None else list(blocks)
    ys, xa, xb = [], [], []
    for b in ids:
        g = df[df["BlockId"] == b]
        da = np.sort(g["ColConcs"].unique())
        dbb = np.sort(g["RowConcs"].unique())
        y = np.full((len(da), len(dbb)), np.nan)
        y[np.searchsorted(da, g["ColConcs"]), np.searchsorted(dbb, g["RowConcs"])] = (
            g["viability"].to_numpy(float) / 100.0)
        ys.append(y)
        xa.append(np.log10(np.where(da > 0, da, 1.0)))
        xb.append(np.log10(np.where(dbb > 0, dbb, 1.0)))
    return ids, np.array(ys), np.array(xa), np.array(xb)
