"""Simulate-fit helpers shared by the tests and the benchmarks.

Helpers that both ``tests/`` and ``benchmarks/`` use live here, so that the tests never import
from ``benchmarks/``:

- **one-curve chains of the screen back-end** (``one_curve_problem``, ``curve_copies``,
  ``curve_modes``, ``curve_chain``, ``autocorrelation``): the curve block of the screen
  sampler run alone, with the globals fixed, to measure how a kernel (curve HMC, mode jump,
  top-dose coordinates) mixes on one curve;
- **convergence over many parameters** (``convergence``,
  ``check_convergence_against_arviz_stats``): the extremes of bulk / tail ESS, rank R-hat and
  nested R-hat over every scalar, from the blocked engine's device summaries (the package's
  one vectorised copy), and their comparison with ``arviz_stats``;
- **simulation-based calibration** (``SBCProblem``, ``sbc_replication``, ``sbc_rank``,
  ``thin``, ``rank_uniformity``, ``rank_bins``, ``sbc_summary``): data drawn from a family's
  own prior predictive on a fixed design, fitted by a back-end, each prior draw ranked among
  thinned posterior draws, and the ranks' uniformity per parameter;
- **the Mathews Griner ibrutinib screen** (``mathews_griner_blocks``,
  ``synergyfinder_reference``, ``block_grids``): readers of the real combination data in
  ``../shared/data/combination_mathews_griner/``.

This module is not part of the modelling API; it reaches into the blocked engine
(``drugbayes.inference.blocked``) and the dose-response plan.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

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

def convergence(draws: Mapping[str, np.ndarray], *, n_super: int = 4, chunk: int = 16384,
                keep_per_parameter: bool = False) -> dict:
    """Min bulk / tail ESS, max rank R-hat and nested R-hat over every scalar of every array.

    The numbers are the device summaries of the blocked engine
    (:func:`drugbayes.inference.blocked.summaries.summarize_units`, the package's one
    vectorised R-hat / ESS; :func:`check_convergence_against_arviz_stats` compares them with
    ``arviz_stats``): split halves, rank-normalised over all chains, bulk ESS and R-hat on the
    normalised values, the tail versions on the folded ``|x - median|`` (R-hat) or the 5% / 95%
    quantile indicators (ESS), Geyer's initial positive and monotone sequences for ESS; in
    chunks of ``chunk`` scalars.

    Nested R-hat (Margossian et al. 2024, Bayesian Analysis) is computed when there are at
    least 8 chains that split into ``n_super`` equal contiguous superchains. It is meant for
    superchains whose chains start from the same point; chains with independent starts make it
    a conservative grouping of ordinary chains.

    Parameters
    ----------
    draws : mapping of str to ndarray [chain, draw, ...]
        Every array is flattened to scalars over its trailing dimensions.
    n_super : int, default 4
        Number of superchains for nested R-hat.
    chunk : int, default 16384
        Scalars per vectorised block.
    keep_per_parameter : bool, default False
        Also return the per-scalar arrays (``per_parameter[name][diagnostic]``).

    Returns
    -------
    dict
        ``n_parameters``, ``n_chains``, ``n_draws``, ``min_ess_bulk``, ``min_ess_tail``,
        ``max_rhat``, ``max_rhat_nested`` (None without superchains), each with
        ``<key>_param`` ("name[i, j]" of the worst scalar); ``n_nonfinite`` (scalars with a
        non-finite diagnostic, excluded from the min / max), ``n_rhat_gt_1_01``,
        ``n_ess_bulk_lt_400`` (both over finite values), ``per_variable`` (the same extremes per
        array), ``seconds``.
    """
    from drugbayes.inference.blocked.summaries import summarize_units

    t0 = time.perf_counter()
    shapes = {k: np.shape(v) for k, v in draws.items()}
    n_chains = {s[0] for s in shapes.values()}
    n_draws = {s[1] for s in shapes.values()}
    if len(n_chains) != 1 or len(n_draws) != 1:
        raise ValueError(f"all arrays need the same [chain, draw]: {shapes}")
    c, n = n_chains.pop(), n_draws.pop()
    nested = c >= 8 and c % n_super == 0
    keys = {"ess_bulk": "ess_bulk", "ess_tail": "ess_tail", "rhat": "r_hat"}
    if nested:
        keys["rhat_nested"] = "r_hat_nested"
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
        sm = summarize_units(jnp.asarray(flat, jnp.float32), chunk=chunk,
                             n_super=n_super if nested else 0)
        res = {k: np.asarray(sm[v], np.float64).reshape(p) for k, v in keys.items()}
        bad = ~np.isfinite(flat).all(axis=(0, 1))
        for k in res:
            res[k] = np.where(bad | (n < 4), np.nan, res[k])
        nonfin = ~np.all([np.isfinite(res[k]) for k in keys], axis=0)
        n_params += p
        n_nonfinite += int(nonfin.sum())
        n_rhat_bad += int((res["rhat"] > 1.01).sum())
        n_ess_bad += int((res["ess_bulk"] < 400).sum())
        pv: dict[str, Any] = {"n": p, "n_nonfinite": int(nonfin.sum())}
        for k in keys:
            v = res[k]
            if not np.isfinite(v).any():
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
                           "n_super": n_super if nested else None}
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
    """Largest relative difference between :func:`convergence` and ``arviz_stats`` on a few
    scalars: ``arviz_stats.ess`` (bulk; tail with prob (0.05, 0.95)), ``arviz_stats.rhat``
    and, with >= 8 chains, ``arviz_stats.rhat_nested`` on the first ``max_params`` scalars of
    every array."""
    import arviz_stats as azs

    diffs: dict[str, float] = {}
    for arr in draws.values():
        arr = np.asarray(arr, np.float64)
        c, n = arr.shape[:2]
        flat = arr.reshape(c, n, -1)[:, :, :max_params]
        ours = convergence({"a": flat}, n_super=n_super, keep_per_parameter=True)
        ours = ours["per_parameter"]["a"]
        ref = {"ess_bulk": azs.ess(flat, method="bulk", chain_axis=0, draw_axis=1),
               "ess_tail": azs.ess(flat, method="tail", prob=(0.05, 0.95), chain_axis=0,
                                   draw_axis=1),
               "rhat": azs.rhat(flat, chain_axis=0, draw_axis=1)}
        if "rhat_nested" in ours:
            ids = np.arange(c) * n_super // c
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


# ============================================================================= SBC
# Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788): draw parameters and data
# from the model's own prior predictive, fit the same model to the data, and rank each prior
# draw among L thinned posterior draws. A back-end that draws from the exact posterior gives
# ranks uniform on 0..L; an overconfident one (intervals too narrow) a U shape, a biased one a
# slope. Used by ``tests/test_sbc.py`` (``-m sbc``) and ``benchmarks/validation/sbc.py``.

SBC_COORDINATE_PREFIXES = ("raw_", "z_", "chol_", "mouse_effect", "mouse_level")
"""Sites that are a sampler's coordinates (non-centred or Cholesky), not family parameters:
their values depend on the parameterisation, so they are not ranked."""


class SBCProblem:
    """A family's model on a fixed design: the arrays of a small simulated table, whose
    observed values are replaced by prior-predictive draws.

    Attributes
    ----------
    family, spec, data, arrays
        The family, the validated spec, the encoded data and the model arrays (the design:
        doses, days, masks; data-dependent constants of the arrays, such as centring, stay
        those of the first table, so the prior is the same for every replication).
    observed : dict
        Observed site -> key of ``arrays`` holding its values.
    """

    def __init__(self, kind: str, table: Any, model: str | None = None,
                 **data_options: Any) -> None:
        from drugbayes.families import get_family

        _, self.data = api.prepare(table, kind=kind, **data_options)
        self.family = get_family(kind)
        self.spec = api._spec(model, kind)
        self.arrays = self.family.arrays(self.data)
        units = self.family.units(self.data, self.spec) if self.family.units else None
        self.observed = dict(units.observed) if units is not None else {"y": "y"}

    def prior(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """``n`` joint draws of every site (parameters and observed values) from the prior
        predictive (``numpyro.infer.Predictive`` on the family's ``model``, unobserved)."""
        from numpyro.infer import Predictive

        pr = Predictive(self.family.model, num_samples=n)(jax.random.PRNGKey(seed),
                                                           self.arrays, self.spec,
                                                           observed=False)
        return {k: np.asarray(v) for k, v in pr.items()}

    def arrays_for(self, prior: Mapping[str, np.ndarray], r: int) -> dict:
        """The model arrays with the observed values of replication ``r``."""
        a = dict(self.arrays)
        for site, key in self.observed.items():
            a[key] = np.asarray(prior[site][r], np.asarray(self.arrays[key]).dtype)
        return a

    def fit(self, arrays: dict, method: str, settings: Mapping[str, Any],
            seed: int) -> tuple[dict[str, np.ndarray], dict]:
        """Fit ``arrays`` with a registered back-end (its own ``run``, as ``drugbayes.fit``
        calls it); returns its draws ``(chain, draw, ...)`` and its sample stats."""
        from drugbayes.config import InferenceConfig
        from drugbayes.inference.registry import FitTask, get_backend

        backend = get_backend(method)
        backend.check_supports(self.spec, lambda: arrays)
        res = backend.run(FitTask(self.family, self.spec, self.data, arrays),
                          InferenceConfig(method=method, **settings), seed)
        return ({k: np.asarray(v) for k, v in res.samples.items()},
                {k: np.asarray(v) for k, v in res.sample_stats.items()})


def sbc_parameters(prior: Mapping[str, np.ndarray], draws: Mapping[str, np.ndarray]
                   ) -> list[str]:
    """The sites ranked: in both the prior draws and the posterior draws, not observed-value
    sites (``prior`` keys with no posterior draws) and not sampler coordinates
    (:data:`SBC_COORDINATE_PREFIXES`)."""
    return sorted(k for k in prior if k in draws and not k.startswith(SBC_COORDINATE_PREFIXES))


def thin(draws: np.ndarray, n_keep: int) -> np.ndarray:
    """``n_keep`` draws evenly spaced over the chains' draws ``(chain, draw, ...)`` flattened
    chain by chain (thinning against autocorrelation), shape ``(n_keep, ...)``."""
    a = np.asarray(draws)
    flat = a.reshape((-1,) + a.shape[2:])
    if flat.shape[0] < n_keep:
        raise ValueError(f"{flat.shape[0]} draws < {n_keep} to keep")
    idx = np.round(np.linspace(0, flat.shape[0] - 1, n_keep)).astype(int)
    return flat[idx]


def sbc_rank(truth: Any, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank of ``truth`` among ``draws`` (leading axis, L draws): the number of draws below
    it, ties broken at random, so a rank lies in ``0..L`` (shape of ``truth``)."""
    d = np.asarray(draws, np.float64)
    t = np.asarray(truth, np.float64)
    below = (d < t).sum(axis=0)
    ties = (d == t).sum(axis=0)
    return below + rng.integers(0, ties + 1)


def rank_bins(n_ranks: int, n_reps: int, min_expected: float = 10.0) -> int:
    """Bins of a rank histogram: the largest divisor of ``n_ranks`` (L + 1) leaving at least
    ``min_expected`` replications per bin (at least 2)."""
    divisors = [b for b in range(2, n_ranks + 1) if n_ranks % b == 0]
    ok = [b for b in divisors if n_reps / b >= min_expected]
    return max(ok) if ok else min(divisors)


def rank_uniformity(ranks: Any, n_ranks: int, n_bins: int | None = None) -> dict:
    """Chi-square test of ranks (``0..n_ranks - 1``) against the discrete uniform.

    Parameters
    ----------
    ranks : array of int
        One rank per replication.
    n_ranks : int
        Number of possible ranks (L + 1 for L posterior draws).
    n_bins : int, optional
        Equal bins of consecutive ranks (a divisor of ``n_ranks``); default
        :func:`rank_bins`.

    Returns
    -------
    dict
        ``n``, ``bins``, ``counts``, ``chi2``, ``p`` (upper tail, ``bins - 1`` degrees of
        freedom), ``band99`` (the pointwise 99% range of a bin's count under uniformity,
        Binomial(n, 1 / bins)), ``n_bins_outside99``, ``ks`` and ``ks_p`` (Kolmogorov-Smirnov of
        ``(rank + 0.5) / n_ranks`` against Uniform(0, 1), a second view), ``coverage90`` (the
        fraction of ranks inside the central 90% of ``0..n_ranks - 1``: a calibrated back-end
        0.90, an overconfident one less).
    """
    from scipy import stats

    r = np.asarray(ranks, int).ravel()
    n = len(r)
    b = n_bins or rank_bins(n_ranks, n)
    if n_ranks % b:
        raise ValueError(f"{b} bins do not divide {n_ranks} ranks")
    counts = np.bincount(r * b // n_ranks, minlength=b)
    expected = n / b
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1.0 / b)
    u = (r + 0.5) / n_ranks
    ks = stats.kstest(u, "uniform")
    q = (r + 0.5) / n_ranks
    return {"n": n, "bins": b, "counts": counts.tolist(), "chi2": chi2,
            "p": float(stats.chi2.sf(chi2, b - 1)), "band99": [float(lo), float(hi)],
            "n_bins_outside99": int(((counts < lo) | (counts > hi)).sum()),
            "ks": float(ks.statistic), "ks_p": float(ks.pvalue),
            "coverage90": float(np.mean((q > 0.05) & (q < 0.95)))}


def _sbc_scores(prior: Mapping[str, np.ndarray], draws: Mapping[str, np.ndarray], r: int,
                n_draws: int, rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """Replication ``r``'s rank, z and truth per parameter (site -> flat list over its scalar
    components): the rank of the prior draw among ``n_draws`` thinned posterior draws (ties
    broken by ``rng``), z = (truth - posterior mean) / posterior sd."""
    ranks, zs, truths = {}, {}, {}
    for site in sbc_parameters(prior, draws):
        truth = np.asarray(prior[site][r], np.float64)
        full = np.asarray(draws[site], np.float64)
        flat = full.reshape((-1,) + full.shape[2:])
        if flat.shape[1:] != truth.shape:
            continue
        ranks[site] = np.ravel(sbc_rank(truth, thin(full, n_draws), rng)).tolist()
        truths[site] = np.ravel(truth).tolist()
        with np.errstate(invalid="ignore", divide="ignore"):
            zs[site] = np.ravel((truth - flat.mean(0)) / flat.std(0)).tolist()
    return ranks, zs, truths


def sbc_replication(problem: SBCProblem, prior: Mapping[str, np.ndarray], r: int, method: str,
                    settings: Mapping[str, Any], n_draws: int, seed: int) -> dict:
    """One SBC replication: fit the data of prior draw ``r`` and rank its parameters.

    Returns
    -------
    dict
        ``rank`` (site -> list of ranks in ``0..n_draws``, one per scalar component),
        ``truth`` (site -> the prior draw's components),
        ``z`` (site -> (truth - posterior mean) / posterior sd per component: a calibrated
        back-end's z have sd 1 over replications), ``seconds``, ``divergences`` (NUTS; else
        None), ``n_draws``.
    """
    t0 = time.perf_counter()
    draws, stats = problem.fit(problem.arrays_for(prior, r), method, settings, seed)
    rng = np.random.default_rng([seed, r])
    ranks, zs, truths = _sbc_scores(prior, draws, r, n_draws, rng)
    div = stats.get("diverging")
    return {"rep": r, "rank": ranks, "z": zs, "truth": truths, "seconds": time.perf_counter() - t0,
            "divergences": None if div is None else int(np.sum(div)), "n_draws": n_draws}


def sbc_summary(reps: Sequence[Mapping], shapes: Mapping[str, tuple] | None = None,
                n_bins: int | None = None) -> pd.DataFrame:
    """Per scalar parameter, the uniformity of its ranks over replications.

    Components whose prior draws are constant (fixed by the model, e.g. a 3PL's top) are
    left out; ``shapes`` (site -> the shape of one draw) labels components by their index.
    Returns one row per parameter (``site``, ``index``, ``parameter``) with the
    columns of :func:`rank_uniformity` (``counts`` and ``band99`` dropped), ``z_sd`` (sd of
    the z over replications: 1 calibrated, 2 = intervals half as wide as they should be) and
    ``z_mad`` (the same from the median absolute z, robust to a few stuck fits).
    """
    if not reps:
        return pd.DataFrame()
    n_ranks = reps[0]["n_draws"] + 1
    rows = []
    for site in reps[0]["rank"]:
        ranks = np.array([rp["rank"][site] for rp in reps])
        zs = np.array([rp["z"][site] for rp in reps])
        vals = np.array([rp["truth"][site] for rp in reps])
        shape = tuple((shapes or {}).get(site, (ranks.shape[1],)))
        if ranks.shape[1] == 1 and not (shapes or {}).get(site):
            shape = ()
        for j in range(ranks.shape[1]):
            if np.ptp(vals[:, j]) == 0:
                continue
            u = rank_uniformity(ranks[:, j], n_ranks, n_bins)
            z = zs[:, j][np.isfinite(zs[:, j])]
            idx = np.unravel_index(j, shape) if shape else ()
            label = site + (f"[{', '.join(str(int(i)) for i in idx)}]" if shape else "")
            rows.append({"site": site, "index": j, "parameter": label,
                         **{k: v for k, v in u.items() if k not in ("counts", "band99")},
                         "z_sd": float(np.std(z)) if len(z) > 1 else float("nan"),
                         "z_mad": float(np.median(np.abs(z)) / 0.6745) if len(z) else
                         float("nan")})
    return pd.DataFrame(rows)


def _vmapped_replications(run: Callable, prior: Mapping[str, np.ndarray], site: str,
                          reps: Sequence[int], dtype: Any, n_draws: int, seed: int, batch: int,
                          extra: Callable[[np.ndarray, dict], dict]) -> list[dict]:
    """SBC records of replications fitted ``batch`` at a time by one compiled ``run(keys,
    observed) -> (draws, aux)`` vmapped over replications (the last batch padded with its last
    replication, whose extra fits are dropped); the batch's key from ``seed`` plus its first
    position. ``extra(aux[i], draws)`` adds a fit's own fields (divergences, final loss) to
    the record of :func:`sbc_replication`."""
    out = []
    rng = np.random.default_rng(seed)
    for start in range(0, len(reps), batch):
        idx = list(reps[start:start + batch])
        pad = idx + [idx[-1]] * (batch - len(idx))
        ys = jnp.asarray(np.stack([prior[site][r] for r in pad]), dtype)
        keys = jax.random.split(jax.random.PRNGKey(seed + start), batch)
        t0 = time.perf_counter()
        samples, aux = run(keys, ys)
        samples = {k: np.asarray(v) for k, v in samples.items()}
        aux = np.asarray(aux)
        secs = (time.perf_counter() - t0) / len(idx)
        for i, r in enumerate(idx):
            draws = {k: v[i][None] for k, v in samples.items()}  # (chain 1, draw, ...)
            ranks, zs, truths = _sbc_scores(prior, draws, r, n_draws, rng)
            out.append({"rep": r, "rank": ranks, "z": zs, "truth": truths, "seconds": secs,
                        "n_draws": n_draws, **extra(aux[i], draws)})
    return out


def _observed_as_argument(problem: SBCProblem, prior: Mapping[str, np.ndarray],
                          reps: Sequence[int]) -> tuple[str, Any, Callable, jnp.ndarray]:
    """The family's model with the observed values as its argument (so that one compiled fit
    serves every replication): ``(site, dtype, model(y), y of the first replication)``."""
    (site, key), = problem.observed.items()
    fam, spec, base = problem.family, problem.spec, problem.arrays
    dtype = np.asarray(base[key]).dtype

    def model(y):
        fam.model({**base, key: y}, spec, True)

    return site, dtype, model, jnp.asarray(prior[site][reps[0]], dtype)


def sbc_nuts_vmapped(problem: SBCProblem, prior: Mapping[str, np.ndarray], reps: Sequence[int],
                     n_draws: int, seed: int, num_warmup: int = 400, num_samples: int = 400,
                     target_accept_prob: float = 0.95, max_tree_depth: int = 8,
                     batch: int = 25) -> list[dict]:
    """SBC replications of NumPyro's NUTS kernel, many replications in one compiled program.

    The ``nuts`` back-end compiles its sampler for every data set (the arrays are constants
    of the program), which makes hundreds of small fits cost minutes each on a busy CPU. Here
    the same NUTS kernel (``numpyro.infer.hmc``, diagonal mass matrix and step size adapted
    over ``num_warmup`` steps as NumPyro's windowed adaptation does, the back-end's
    ``target_accept_prob`` and ``max_tree_depth``) runs on the family's ``model`` with the
    observed values as a model argument, ``jax.vmap``-ed over ``batch`` replications, one
    chain each, started at the prior medians (the back-end's ``init = "median"``; the MAP
    start of its default is left out). Returns the records of :func:`sbc_replication`.
    """
    from numpyro.infer import init_to_median
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import initialize_model

    site, dtype, model, y0 = _observed_as_argument(problem, prior, reps)
    info, pot_gen, post_gen, _ = initialize_model(jax.random.PRNGKey(seed), model,
                                                  init_strategy=init_to_median(num_samples=15),
                                                  dynamic_args=True, model_args=(y0,))
    init_kernel, sample_kernel = hmc(potential_fn_gen=pot_gen, algo="NUTS")
    z0 = info.z

    def one(rng, y):
        k_init, k_run = jax.random.split(rng)
        state = init_kernel(z0, num_warmup, target_accept_prob=target_accept_prob,
                            max_tree_depth=max_tree_depth, model_args=(y,), rng_key=k_init)

        def warm(_, s):
            return sample_kernel(s, model_args=(y,))

        state = jax.lax.fori_loop(0, num_warmup, warm, state)

        def draw(s, _):
            s = sample_kernel(s, model_args=(y,))
            return s, (s.z, s.diverging)

        _, (zs, div) = jax.lax.scan(draw, state, None, length=num_samples)
        post = post_gen(y)
        return jax.vmap(post)(zs), div

    return _vmapped_replications(
        jax.jit(jax.vmap(one)), prior, site, reps, dtype, n_draws, seed, batch,
        lambda div, draws: {"divergences": int(div.sum())})


def sbc_svi_vmapped(problem: SBCProblem, prior: Mapping[str, np.ndarray], reps: Sequence[int],
                    n_draws: int, seed: int, num_steps: int = 4000, learning_rate: float = 0.01,
                    num_samples: int = 400, batch: int = 20,
                    keep_draws: bool = False) -> list[dict]:
    """SBC replications of the ``svi`` back-end's default fit, many in one compiled program.

    The ``svi`` back-end compiles its optimiser for every data set; here the same fit (a
    mean-field normal on the unconstrained latents, locations started at 0 and scales at 0.05,
    Adam with step size ``learning_rate * 0.1 ** (step / num_steps)``, one reparameterised draw
    per step, ``num_samples`` draws of the fitted guide) runs on the family's ``model`` with
    the observed values as a model argument, ``jax.vmap``-ed over ``batch`` replications. It is
    the back-end's fit for the families without a data-driven start (``map_start``: dose
    response, combination); for the others the back-end starts from the MAP instead. Returns
    the records of :func:`sbc_replication` (``final_loss``: the mean -ELBO of the last 100
    steps; ``draws``: site -> the guide's draws, with ``keep_draws``).
    """
    from numpyro import optim
    from numpyro.infer.util import initialize_model

    site, dtype, model, y0 = _observed_as_argument(problem, prior, reps)
    info, pot_gen, post_gen, _ = initialize_model(jax.random.PRNGKey(seed), model,
                                                  dynamic_args=True, model_args=(y0,))
    names = sorted(info.z)
    loc0 = {k: jnp.zeros(jnp.shape(info.z[k]), jnp.float32) for k in names}
    scale0 = {k: jnp.full(v.shape, np.log(0.05), jnp.float32) for k, v in loc0.items()}
    opt = optim.Adam(step_size=lambda i: learning_rate * 0.1 ** jnp.minimum(i / num_steps, 1.0))

    def one(rng, y):
        potential = pot_gen(y)
        k_opt, k_draw = jax.random.split(rng)

        def neg_elbo(params, k):
            loc, log_scale = params
            ks = jax.random.split(k, len(names))
            u = {n: loc[n] + jnp.exp(log_scale[n]) * jax.random.normal(kk, loc[n].shape)
                 for n, kk in zip(names, ks, strict=True)}
            return potential(u) - sum(jnp.sum(v) for v in log_scale.values())

        grad_fn = jax.value_and_grad(neg_elbo)

        def body(st, i):
            loss, g = grad_fn(opt.get_params(st), jax.random.fold_in(k_opt, i))
            return opt.update(g, st, value=loss), loss

        state, losses = jax.lax.scan(body, opt.init((loc0, scale0)), jnp.arange(num_steps))
        loc, log_scale = opt.get_params(state)
        ks = jax.random.split(k_draw, len(names))
        u = {n: loc[n] + jnp.exp(log_scale[n]) * jax.random.normal(kk, (num_samples,)
                                                                     + loc[n].shape)
             for n, kk in zip(names, ks, strict=True)}
        return jax.vmap(post_gen(y))(u), jnp.mean(losses[-100:])

    return _vmapped_replications(
        jax.jit(jax.vmap(one)), prior, site, reps, dtype, n_draws, seed, batch,
        lambda loss, draws: {"divergences": None, "final_loss": float(loss),
                             **({"draws": {k: v[0] for k, v in draws.items()}} if keep_draws
                                else {})})


# ----------------------------------------------------------------------------- kill and resume
def kill_at_checkpoint(cmd: Sequence[str], env: Mapping[str, str], checkpoint: Path,
                       due: Callable[[dict], bool], timeout: float = 600.0,
                       poll: float = 0.05) -> dict:
    """Run ``cmd`` and ``kill -9`` it as soon as the header of its ``checkpoint`` file (read
    as it is rewritten) makes ``due`` true, or when it ends or ``timeout`` passes.

    Returns the last header read (``{}`` if none), for the caller to check where the kill
    landed.
    """
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    header: dict = {}
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None and not (header and due(header)):
            time.sleep(poll)
            if checkpoint.exists():
                try:
                    with np.load(checkpoint, allow_pickle=False) as z:
                        header = json.loads(str(z["__header__"]))
                except (OSError, ValueError, KeyError):  # being written
                    continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    return header


def posterior_values(run_dir: Path) -> dict[str, np.ndarray]:
    """Every variable of the ``posterior`` group of ``run_dir/posterior.nc``."""
    import xarray as xr

    with xr.open_datatree(Path(run_dir) / "posterior.nc") as tree:
        post = tree["posterior"].to_dataset()
        return {str(k): post[k].values.copy() for k in post.data_vars}
