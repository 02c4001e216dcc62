"""Peers and scoring for the screen-scale benchmark (``benchmarks/scale/screen_scale.py``).

This module holds what the screen-scale benchmark compares drugbayes against, and how every
method is scored, so that the main script only simulates the screen, runs drugbayes and calls in
here:

- ``plain_model`` / ``run_plain_nuts`` / ``run_plain_svi``: a hierarchical 4PL NumPyro model
  written the way users typically write it (per-observation gathers, ``10 ** (...)``, default
  initialisation, model data baked into the program), deliberately *not* optimised, sampled with
  stock NumPyro NUTS or fitted with stock ``AutoNormal`` SVI;
- ``run_scipy``: the per-curve bounded ``scipy.optimize.curve_fit`` loop of
  ``benchmarks.peers.dose_response_screen.scipy_loop`` with Wald intervals;
- ``convergence`` (bulk/tail ESS, rank-normalised split R-hat, nested R-hat; from
  ``drugbayes.testing``), vectorised over parameters so that it handles 300,000 curves x 8
  chains x 300 draws in chunks; its numbers are those of ``arviz_stats``
  (``check_convergence_against_arviz_stats`` compares them);
- ``score_ic50``, ``ess_per_second``, ``peak_device_memory``, ``environment``,
  ``make_record`` and ``write_results`` (JSON + a Markdown table).

Input format (one entry per well; a group is one curve = one cell line x drug)::

    long = {"cell": int32[n], "drug": int32[n], "group": int32[n],
            "log10_dose": float32[n],  # log10 uM
            "y": float32[n],           # normalised viability
            "n_cell": int, "n_drug": int, "n_group": int,
            "group_cell": int32[n_group], "group_drug": int32[n_group]}

Self-check (small simulated screen; writes ``/tmp/screen_peers_check.{json,md}``)::

    python -m benchmarks.peers.screen_peers
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from benchmarks._common import environment as _base_environment
from benchmarks.peers.dose_response_screen import BOUNDS, HI, LO, _cov, _err_stats, scipy_loop
from drugbayes.testing import check_convergence_against_arviz_stats, convergence

Long = Mapping[str, Any]

HYPER_SITES = ("mu_log10_ic50", "mu_log_hill", "mu_logit_bottom", "sigma_cell", "sigma_ic50",
               "sigma_hill", "sigma_b", "sigma")


# ============================================================================= plain NumPyro
def plain_model(long: Long, observed: bool = True) -> None:
    """Hierarchical 4PL written the way users typically write it (the "plain NumPyro" peer).

    Drug level: ``mu_log10_ic50[drug] ~ Normal(mid, 2)`` with ``mid`` the middle of the tested
    log10 dose range, ``mu_log_hill[drug] ~ Normal(0, 0.5)``,
    ``mu_logit_bottom[drug] ~ Normal(-1.5, 1.5)``. Cell line: ``cell_eff[cell] ~ Normal(0,
    sigma_cell)``, ``sigma_cell ~ HalfNormal(1)``. Curve ``g`` (non-centred)::

        log10_ic50[g] = mu_log10_ic50[drug_g] + cell_eff[cell_g] + sigma_ic50 * z[g]
        hill[g]       = exp(mu_log_hill[drug_g] + sigma_hill * z_h[g])
        bottom[g]     = sigmoid(mu_logit_bottom[drug_g] + sigma_b * z_b[g])
        top[g]        = exp(0.1 * z_t[g])

    with ``sigma_ic50 ~ HalfNormal(0.5)``, ``sigma_hill ~ HalfNormal(0.5)``,
    ``sigma_b ~ HalfNormal(1)``, the ``z``s standard normal, and noise
    ``sigma ~ HalfNormal(0.2)``. The likelihood gathers every curve parameter per observation
    (length-n arrays) and writes the 4PL as users do,
    ``bottom + (top - bottom) / (1 + 10 ** (hill * (x - log10_ic50)))``; ``10 ** (...)`` can
    overflow for extreme parameter values, which is part of what this peer measures.

    Parameters
    ----------
    long : mapping
        The long-format screen (see the module docstring).
    observed : bool, default True
        Condition ``y`` on ``long["y"]``; ``False`` leaves ``y`` unobserved (prior / posterior
        predictive).
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    x = jnp.asarray(long["log10_dose"], jnp.float32)
    grp = jnp.asarray(long["group"], jnp.int32)
    gc = jnp.asarray(long["group_cell"], jnp.int32)
    gd = jnp.asarray(long["group_drug"], jnp.int32)
    ld = np.asarray(long["log10_dose"], np.float64)
    mid = float(0.5 * (ld.min() + ld.max()))

    with numpyro.plate("drug", int(long["n_drug"])):
        mu_log10_ic50 = numpyro.sample("mu_log10_ic50", dist.Normal(mid, 2.0))
        mu_log_hill = numpyro.sample("mu_log_hill", dist.Normal(0.0, 0.5))
        mu_logit_bottom = numpyro.sample("mu_logit_bottom", dist.Normal(-1.5, 1.5))
    sigma_cell = numpyro.sample("sigma_cell", dist.HalfNormal(1.0))
    sigma_ic50 = numpyro.sample("sigma_ic50", dist.HalfNormal(0.5))
    sigma_hill = numpyro.sample("sigma_hill", dist.HalfNormal(0.5))
    sigma_b = numpyro.sample("sigma_b", dist.HalfNormal(1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
    with numpyro.plate("cell", int(long["n_cell"])):
        cell_eff = numpyro.sample("cell_eff", dist.Normal(0.0, sigma_cell))
    with numpyro.plate("curve", int(long["n_group"])):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        z_h = numpyro.sample("z_h", dist.Normal(0.0, 1.0))
        z_b = numpyro.sample("z_b", dist.Normal(0.0, 1.0))
        z_t = numpyro.sample("z_t", dist.Normal(0.0, 1.0))
    log10_ic50 = numpyro.deterministic("log10_ic50",
                                       mu_log10_ic50[gd] + cell_eff[gc] + sigma_ic50 * z)
    hill = jnp.exp(mu_log_hill[gd] + sigma_hill * z_h)
    bottom = jax_sigmoid(mu_logit_bottom[gd] + sigma_b * z_b)
    top = jnp.exp(0.1 * z_t)

    # per-observation gathers, as users write it
    ic_i, hill_i, bottom_i, top_i = log10_ic50[grp], hill[grp], bottom[grp], top[grp]
    mu = bottom_i + (top_i - bottom_i) / (1.0 + 10.0 ** (hill_i * (x - ic_i)))
    y = jnp.asarray(long["y"], jnp.float32) if observed else None
    with numpyro.plate("well", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def jax_sigmoid(v):
    """``jax.nn.sigmoid`` (imported lazily so the module imports without touching JAX)."""
    import jax

    return jax.nn.sigmoid(v)


def _block(tree) -> None:
    import jax

    jax.block_until_ready(tree)


def run_plain_nuts(long: Long, *, num_chains: int = 4, num_warmup: int = 300,
                   num_samples: int = 300, seed: int = 0) -> dict:
    """Stock NumPyro NUTS on ``plain_model`` (vectorised chains, float32, default init).

    Timings (seconds, each closed with ``jax.block_until_ready``):

    - ``compile``: ``jax.jit(jax.grad(potential_fn)).lower(x).compile()`` of the model's
      potential from ``numpyro.infer.util.initialize_model``, timed on its own. NumPyro does not
      reuse this program: it traces and compiles its own sampler (which contains the gradient)
      inside ``mcmc.warmup``, so that compilation is *also* included in ``warmup``. ``compile``
      is reported to show the size of that part, not to be added to the others;
    - ``warmup``: ``mcmc.warmup`` (NumPyro's compilation + adaptation);
    - ``sampling``: ``mcmc.run`` from the post-warmup state (a second compilation of the
      sampling loop is included here, as NumPyro does it);
    - ``total``: ``warmup + sampling`` (wall time of what a user waits for).

    Parameters
    ----------
    long : mapping
        The long-format screen.
    num_chains, num_warmup, num_samples : int
        NUTS settings (``chain_method="vectorized"``).
    seed : int
        PRNG seed.

    Returns
    -------
    dict
        ``log10_ic50`` (ndarray [chain, draw, n_group]), ``hyper`` ({site: ndarray [chain,
        draw, ...]} for the drug-level and scale parameters), ``timings``, ``num_grad_evals``
        (total leapfrog steps over all chains, warmup + sampling; one gradient each),
        ``num_grad_evals_warmup``, ``num_grad_evals_sampling``, ``divergences`` (sampling),
        ``divergences_warmup``, ``settings``, ``dtype``.
    """
    import jax
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.util import initialize_model

    key = jax.random.PRNGKey(seed)
    k_init, k_mcmc = jax.random.split(key)

    # compile of the potential's gradient, on its own (NumPyro compiles again inside warmup)
    init = initialize_model(k_init, plain_model, model_args=(long,))
    x0 = init.param_info.z
    t0 = time.perf_counter()
    jax.jit(jax.grad(init.potential_fn)).lower(x0).compile()
    t_compile = time.perf_counter() - t0

    mcmc = MCMC(NUTS(plain_model), num_warmup=num_warmup, num_samples=num_samples,
                num_chains=num_chains, chain_method="vectorized", progress_bar=False)
    fields = ("num_steps", "diverging")
    t0 = time.perf_counter()
    mcmc.warmup(k_mcmc, long, extra_fields=fields, collect_warmup=True)
    _block(mcmc.post_warmup_state)
    t_warmup = time.perf_counter() - t0
    ex_w = mcmc.get_extra_fields(group_by_chain=True)
    steps_w = int(np.asarray(ex_w["num_steps"], np.int64).sum())
    div_w = int(np.asarray(ex_w["diverging"]).sum())

    t0 = time.perf_counter()
    mcmc.run(mcmc.post_warmup_state.rng_key, long, extra_fields=fields)
    samples = mcmc.get_samples(group_by_chain=True)
    _block(samples)
    t_sampling = time.perf_counter() - t0
    ex = mcmc.get_extra_fields(group_by_chain=True)
    steps_s = int(np.asarray(ex["num_steps"], np.int64).sum())
    div_s = int(np.asarray(ex["diverging"]).sum())

    return {
        "log10_ic50": np.asarray(samples["log10_ic50"]),
        "hyper": {k: np.asarray(samples[k]) for k in HYPER_SITES},
        "timings": {"compile": t_compile, "warmup": t_warmup, "sampling": t_sampling,
                    "total": t_warmup + t_sampling},
        "num_grad_evals": steps_w + steps_s,
        "num_grad_evals_warmup": steps_w,
        "num_grad_evals_sampling": steps_s,
        "divergences": div_s,
        "divergences_warmup": div_w,
        "dtype": str(np.asarray(samples["log10_ic50"]).dtype),
        "settings": {"num_chains": num_chains, "num_warmup": num_warmup,
                     "num_samples": num_samples, "seed": seed, "chain_method": "vectorized",
                     "init": "numpyro default (uniform(-2, 2) on the unconstrained scale)",
                     "compile_note": "NumPyro compiles its own sampler inside warmup; 'compile' "
                                     "(jit(grad(potential)) alone) is part of 'warmup', not "
                                     "additional to it"},
    }


def run_plain_svi(long: Long, *, num_steps: int = 2000, learning_rate: float = 0.01,
                  num_draws: int = 1000, seed: int = 0) -> dict:
    """Stock NumPyro SVI (``AutoNormal``, Adam, Trace_ELBO) on ``plain_model``.

    The optimisation is one jitted ``lax.scan`` of ``svi.update`` (what ``svi.run`` does without
    a progress bar), so that compilation and optimisation are timed separately. Posterior draws
    of ``log10_ic50`` come from ``Predictive`` with the fitted guide (run sequentially over
    draws, NumPyro's default, so memory stays at one draw of the model). A non-finite loss does
    not raise: it is reported (``nan``) and the draws are whatever the guide gives.

    Parameters
    ----------
    long : mapping
        The long-format screen.
    num_steps : int
        Optimisation steps.
    learning_rate : float
        Adam step size.
    num_draws : int
        Draws from the fitted guide.
    seed : int
        PRNG seed.

    Returns
    -------
    dict
        ``log10_ic50`` (ndarray [1, num_draws, n_group]), ``timings`` (``compile``,
        ``optimise``, ``draws``, ``total``), ``final_loss``, ``loss_trace`` (every
        ``max(1, num_steps // 100)``-th loss), ``nan`` (bool: a non-finite loss occurred),
        ``first_nonfinite_step`` (int or None), ``n_nonfinite_draws``, ``draws_error`` (str or
        None), ``num_grad_evals`` (= num_steps, one single-particle ELBO gradient each),
        ``settings``. ``timings["compile"]`` is ``svi.init`` (tracing, guide set-up) plus
        lowering and compiling the scan; ``optimise`` runs the compiled scan.
    """
    import jax
    import numpyro
    from numpyro.infer import SVI, Predictive, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal
    from numpyro.optim import Adam

    key = jax.random.PRNGKey(seed)
    k_init, k_draw = jax.random.split(key)
    guide = AutoNormal(plain_model)
    svi = SVI(plain_model, guide, Adam(learning_rate), Trace_ELBO())

    t_start = time.perf_counter()
    state = svi.init(k_init, long)

    def step(s, _):
        return svi.update(s, long)

    run = jax.jit(lambda s: jax.lax.scan(step, s, None, length=num_steps))
    compiled = run.lower(state).compile()
    t_compile = time.perf_counter() - t_start
    t0 = time.perf_counter()
    state, losses = compiled(state)
    _block(losses)
    t_opt = time.perf_counter() - t0

    losses = np.asarray(losses, np.float64)
    bad = np.nonzero(~np.isfinite(losses))[0]
    params = svi.get_params(state)
    t0 = time.perf_counter()
    draws_error = None
    try:
        # validation off: NaN guide parameters (a diverged fit) give NaN draws, not an error
        with warnings.catch_warnings(), numpyro.validation_enabled(False):
            warnings.simplefilter("ignore")
            pred = Predictive(plain_model, guide=guide, params=params, num_samples=num_draws,
                              return_sites=["log10_ic50"])(k_draw, long)
        draws = np.asarray(pred["log10_ic50"])[None]
    except Exception as e:  # noqa: BLE001 -- reported, not raised
        draws_error = f"{type(e).__name__}: {e}"[:500]
        draws = np.full((1, num_draws, int(long["n_group"])), np.nan, np.float32)
    t_draws = time.perf_counter() - t0
    thin = max(1, num_steps // 100)
    return {
        "log10_ic50": draws,
        "timings": {"compile": t_compile, "optimise": t_opt, "draws": t_draws,
                    "total": time.perf_counter() - t_start},
        "final_loss": float(losses[-1]),
        "loss_trace": losses[::thin].tolist(),
        "nan": bool(len(bad)),
        "first_nonfinite_step": int(bad[0]) if len(bad) else None,
        "n_nonfinite_draws": int((~np.isfinite(draws)).sum()),
        "draws_error": draws_error,
        "num_grad_evals": int(num_steps),
        "settings": {"num_steps": num_steps, "learning_rate": learning_rate,
                     "num_draws": num_draws, "seed": seed, "guide": "AutoNormal",
                     "optimiser": "Adam", "elbo": "Trace_ELBO (1 particle)"},
    }


# ============================================================================= scipy loop
def run_scipy(long: Long) -> dict:
    """Per-curve bounded ``curve_fit`` 4PL (``dose_response_screen.scipy_loop``), group order.

    Each group (curve) is fitted on its own wells (replicates pooled), dose ``10 **
    log10_dose`` uM. The bounds and the start value's fallback come from
    ``dose_response_screen`` (log10 IC50 within 2 decades of 1e-3..10 uM, i.e. [-5, 3]); a
    screen with another dose range is fitted with those same bounds (recorded in ``settings``).
    A failed fit is reported at its data-based start value, as in ``scipy_loop``.

    Parameters
    ----------
    long : mapping
        The long-format screen.

    Returns
    -------
    dict
        ``median`` (point estimate), ``lo90`` / ``hi90`` (Wald: ``est -+ 1.645 se``; NaN where
        the fit has no covariance or failed), ``se``, ``status`` (ok / no_covariance / failed),
        all ndarray [n_group] in group order; ``timings`` ({"total": s}); ``n_failed``,
        ``n_no_covariance``, ``n_ic50_at_bound``, ``failure_messages`` (up to 10 distinct),
        ``settings``.
    """
    n_group = int(long["n_group"])
    grp = np.asarray(long["group"], np.int64)
    wells = pd.DataFrame({
        "cell_line": grp,  # one "cell line" per group: scipy_loop fits one curve per pair
        "drug": np.asarray(long["group_drug"], np.int64)[grp],
        "dose": 10.0 ** np.asarray(long["log10_dose"], np.float64),
        "response": np.asarray(long["y"], np.float64),
    })
    fits, wall = scipy_loop(wells)
    g = fits["cell_line"].to_numpy(np.int64)
    est = np.full(n_group, np.nan)
    se = np.full(n_group, np.nan)
    status = np.full(n_group, "missing", dtype=object)
    est[g] = fits["est"].to_numpy(np.float64)
    se[g] = fits["se"].to_numpy(np.float64)
    status[g] = fits["status"].to_numpy()
    z90 = float(stats.norm.ppf(0.95))
    ld = np.asarray(long["log10_dose"], np.float64)
    return {
        "median": est, "lo90": est - z90 * se, "hi90": est + z90 * se, "se": se,
        "status": status,
        "timings": {"total": wall},
        "n_failed": int((fits.status == "failed").sum()),
        "n_no_covariance": int((fits.status == "no_covariance").sum()),
        "n_missing": int((status == "missing").sum()),
        "n_ic50_at_bound": int(fits.at_bound.sum()),
        "failure_messages": sorted(set(fits.loc[fits.message != "", "message"]))[:10],
        "settings": {"bounds_log10_ic50": [BOUNDS[0][2], BOUNDS[1][2]],
                     "bounds_from_dose_range": [LO, HI],
                     "data_dose_range": [float(ld.min()), float(ld.max())],
                     "interval": "Wald 90%, est +- 1.645 sqrt(pcov[2, 2])",
                     "method": "scipy.optimize.curve_fit, trf, bounded, maxfev 10000"},
    }


def ess_per_second(conv: Mapping[str, Any], seconds: float) -> dict:
    """Worst-case ESS per second: ``min_ess_bulk / seconds`` and ``min_ess_tail / seconds``.

    Parameters
    ----------
    conv : mapping
        Output of ``convergence``.
    seconds : float
        The time to charge (the benchmark uses warmup + sampling, compilation included).
    """
    def per(v):
        return None if v is None or not seconds else float(v) / float(seconds)

    return {"min_ess_bulk_per_s": per(conv.get("min_ess_bulk")),
            "min_ess_tail_per_s": per(conv.get("min_ess_tail")), "seconds": float(seconds)}


# ============================================================================= scoring
def posterior_summary(draws: np.ndarray, prob: float = 0.9) -> dict[str, np.ndarray]:
    """Median and equal-tailed ``prob`` interval over chain and draw of [chain, draw, G]."""
    flat = np.asarray(draws).reshape(-1, *np.shape(draws)[2:])
    a = (1.0 - prob) / 2.0
    lo, med, hi = np.quantile(flat, [a, 0.5, 1.0 - a], axis=0)
    return {"median": med, "lo90": lo, "hi90": hi}


def score_ic50(median: np.ndarray, lo90: np.ndarray | None, hi90: np.ndarray | None,
               truth: np.ndarray, lo_dose: np.ndarray | float | None = None,
               hi_dose: np.ndarray | float | None = None) -> dict:
    """Error, 90% coverage and interval width of log10 IC50 estimates against the truth.

    Parameters
    ----------
    median : ndarray [G]
        Point estimates (log10 uM).
    lo90, hi90 : ndarray [G] or None
        90% interval bounds (NaN where a method gives none; coverage is over the curves with an
        interval, ``coverage_missing_as_miss`` counts the others as misses).
    truth : ndarray [G]
        True log10 IC50.
    lo_dose, hi_dose : ndarray [G] or float, optional
        Tested log10 dose range per curve; with both, the same scores over the curves whose true
        IC50 lies inside it are returned under ``in_range``.

    Returns
    -------
    dict
        ``n``, ``n_nonfinite``, ``mae``, ``median_ae``, ``coverage90``, ``mean_width90``,
        ``median_width90``, ``n_with_interval``, ``coverage_missing_as_miss`` and, with a dose
        range, ``in_range`` (same keys plus ``n_curves``).
    """
    median = np.asarray(median, np.float64)
    truth = np.asarray(truth, np.float64)

    def one(sel: np.ndarray) -> dict:
        out = _err_stats(np.abs(median[sel] - truth[sel]))
        if lo90 is not None and hi90 is not None:
            cv = _cov(np.asarray(lo90)[sel], np.asarray(hi90)[sel], truth[sel])
            out.update({"coverage90": cv["coverage"], "mean_width90": cv["mean_width"],
                        "median_width90": cv["median_width"],
                        "n_with_interval": cv["n_with_interval"],
                        "coverage_missing_as_miss": cv["coverage_missing_as_miss"]})
        return out

    res = one(np.ones(len(truth), bool))
    if lo_dose is not None and hi_dose is not None:
        inside = (truth >= np.asarray(lo_dose)) & (truth <= np.asarray(hi_dose))
        res["in_range"] = {"n_curves": int(inside.sum()), **one(inside)}
    return res


# ============================================================================= environment
def peak_device_memory() -> int | None:
    """``peak_bytes_in_use`` of the first JAX device; None on CPU or when not reported."""
    import jax

    d = jax.devices()[0]
    if d.platform == "cpu":
        return None
    try:
        stats_ = d.memory_stats()
    except Exception:  # noqa: BLE001
        return None
    if not stats_ or "peak_bytes_in_use" not in stats_:
        return None
    return int(stats_["peak_bytes_in_use"])


def environment() -> dict:
    """``benchmarks._common.environment()`` plus the JAX device kinds and x64 flag."""
    import jax

    env = _base_environment()
    env["jax_device_kind"] = [d.device_kind for d in jax.devices()]
    env["jax_platform"] = jax.devices()[0].platform
    env["jax_enable_x64"] = bool(jax.config.jax_enable_x64)
    return env


# ============================================================================= records / report
def make_record(method: str, long: Long, result: Mapping[str, Any], truth: np.ndarray, *,
                conv: Mapping[str, Any] | None = None, lo_dose=None, hi_dose=None,
                peak_memory: int | None = None, **extra: Any) -> dict:
    """One JSON-able result row for ``write_results`` from a ``run_*`` output.

    Posterior methods (``result["log10_ic50"]`` [chain, draw, G]) are summarised by the median
    and equal-tailed 90% interval; ``run_scipy`` output (``median``/``lo90``/``hi90``) is used
    as is. Draw arrays are not stored. ``grad_evals_per_s`` is ``num_grad_evals`` over
    warmup + sampling (or optimisation) seconds; ESS/s is charged ``timings["total"]``.
    """
    if "log10_ic50" in result:
        summ = posterior_summary(result["log10_ic50"])
    else:
        summ = {k: result[k] for k in ("median", "lo90", "hi90")}
    tm = dict(result.get("timings", {}))
    run_s = (tm.get("warmup") or 0.0) + (tm.get("sampling") or 0.0) or tm.get("optimise")
    rec: dict[str, Any] = {
        "method": method,
        "n_curves": int(long["n_group"]),
        "n_wells": int(np.shape(long["y"])[0]),
        "timings": tm,
        "num_grad_evals": result.get("num_grad_evals"),
        "grad_evals_per_s": (result["num_grad_evals"] / run_s
                             if result.get("num_grad_evals") and run_s else None),
        "divergences": result.get("divergences"),
        "score": score_ic50(summ["median"], summ.get("lo90"), summ.get("hi90"), truth,
                            lo_dose, hi_dose),
        "peak_device_memory_bytes": peak_memory,
    }
    if conv is not None:
        rec["convergence"] = {k: v for k, v in conv.items() if k != "per_parameter"}
        rec["ess_per_second"] = ess_per_second(conv, tm.get("total") or 0.0)
    skip = {"log10_ic50", "hyper", "median", "lo90", "hi90", "se", "status", "timings",
            "num_grad_evals", "divergences"}
    rec["details"] = {k: v for k, v in result.items() if k not in skip}
    rec.update(extra)
    return rec


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _fmt(x: Any, nd: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if not np.isfinite(x):
        return "nan"
    return f"{x:,.{nd}f}"


def markdown_table(records: Sequence[Mapping[str, Any]]) -> str:
    """The Markdown results table (one row per record from ``make_record``)."""
    head = ["method", "curves", "wells", "compile s", "warmup s", "sampling s", "total s",
            "grad evals/s", "min bulk ESS", "min tail ESS", "min bulk ESS/s", "max R-hat",
            "nested R-hat", "divergences", "MAE log10 IC50", "90% coverage",
            "peak device memory GiB"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in records:
        tm = r.get("timings", {})
        cv = r.get("convergence") or {}
        eps = r.get("ess_per_second") or {}
        sc = r.get("score", {})
        mem = r.get("peak_device_memory_bytes")
        sampling = tm.get("sampling", tm.get("optimise"))
        row = [r["method"], _fmt(r.get("n_curves")), _fmt(r.get("n_wells")),
               _fmt(tm.get("compile"), 1), _fmt(tm.get("warmup"), 1), _fmt(sampling, 1),
               _fmt(tm.get("total"), 1), _fmt(r.get("grad_evals_per_s"), 0),
               _fmt(cv.get("min_ess_bulk"), 0), _fmt(cv.get("min_ess_tail"), 0),
               _fmt(eps.get("min_ess_bulk_per_s"), 2), _fmt(cv.get("max_rhat"), 3),
               _fmt(cv.get("max_rhat_nested"), 3), _fmt(r.get("divergences")),
               _fmt(sc.get("mae"), 3), _fmt(sc.get("coverage90"), 3),
               _fmt(mem / 2**30 if mem is not None else None, 2)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_results(records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any],
                  out_stem: Path) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (meta + all records) and ``<stem>.md`` (header + table).

    ``meta["environment"]`` (from ``environment()``) gives the device and versions of the
    header; it is collected here when missing. ``meta["title"]``, ``meta["command"]`` and
    ``meta["notes"]`` (list of str) are used when present. For SVI the "sampling s" column
    holds the optimisation time; for scipy only "total s" is filled.
    """
    out_stem = Path(out_stem)
    meta = dict(meta)
    env = meta.get("environment") or environment()
    meta["environment"] = env
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out_stem.with_suffix(".json"), out_stem.with_suffix(".md")
    jpath.write_text(json.dumps({"meta": meta, "records": list(records)}, indent=2,
                                default=_json_default) + "\n")
    v = env.get("versions", {})
    kinds = ", ".join(env.get("jax_device_kind") or env.get("jax_devices") or [])
    lines = [f"# {meta.get('title', 'Screen-scale benchmark')}", "",
             f"Device: {kinds} ({env.get('jax_platform', env.get('jax_backend'))}; "
             f"{env.get('cpu_count')} CPUs); jax {v.get('jax')}, numpyro {v.get('numpyro')}, "
             f"scipy {v.get('scipy')}; {env.get('timestamp_utc')}; git "
             f"{(env.get('git_commit') or '')[:10]}.", ""]
    if meta.get("command"):
        lines += ["Command: `" + str(meta["command"]) + "`", ""]
    lines += [markdown_table(records), ""]
    for note in meta.get("notes", []):
        lines.append(f"- {note}")
    mpath.write_text("\n".join(lines).rstrip() + "\n")
    return jpath, mpath


# ============================================================================= self-check
def simulate_small_screen(n_cell: int = 20, n_drug: int = 5, n_rep: int = 2,
                          noise_sd: float = 0.05, seed: int = 0) -> tuple[dict, np.ndarray]:
    """A small screen in the ``long`` format with random 4PL truths (plain numpy)."""
    rng = np.random.default_rng(seed)
    doses = np.logspace(-3, 1, 9)
    n_group = n_cell * n_drug
    group_cell = np.repeat(np.arange(n_cell), n_drug).astype(np.int32)
    group_drug = np.tile(np.arange(n_drug), n_cell).astype(np.int32)
    drug_ic = rng.normal(-1.0, 1.0, n_drug)
    cell_eff = rng.normal(0.0, 0.5, n_cell)
    ic50 = drug_ic[group_drug] + cell_eff[group_cell] + rng.normal(0.0, 0.3, n_group)
    hill = np.exp(rng.normal(0.0, 0.3, n_group))
    bottom = 1.0 / (1.0 + np.exp(-rng.normal(-1.5, 1.0, n_group)))
    top = np.exp(rng.normal(0.0, 0.05, n_group))
    ld = np.log10(doses)
    grp = np.repeat(np.arange(n_group), len(doses) * n_rep).astype(np.int32)
    x = np.tile(np.repeat(ld, n_rep), n_group)
    mu = bottom[grp] + (top[grp] - bottom[grp]) / (1.0 + 10.0 ** (hill[grp] * (x - ic50[grp])))
    y = mu + rng.normal(0.0, noise_sd, len(mu))
    long = {"cell": group_cell[grp], "drug": group_drug[grp], "group": grp,
            "log10_dose": x.astype(np.float32), "y": y.astype(np.float32),
            "n_cell": n_cell, "n_drug": n_drug, "n_group": n_group,
            "group_cell": group_cell, "group_drug": group_drug}
    return long, ic50


def _self_check(out_stem: Path = Path("/tmp/screen_peers_check")) -> None:
    long, truth = simulate_small_screen()
    lo = np.full(long["n_group"], float(np.min(long["log10_dose"])))
    hi = np.full(long["n_group"], float(np.max(long["log10_dose"])))
    records = []

    nuts = run_plain_nuts(long, num_chains=2, num_warmup=100, num_samples=100, seed=0)
    draws = {"log10_ic50": nuts["log10_ic50"], **nuts["hyper"]}
    conv = convergence(draws)
    check = check_convergence_against_arviz_stats(draws, max_params=10)
    print(f"nuts: {nuts['timings']}, grad evals {nuts['num_grad_evals']}, "
          f"arviz_stats agreement {check}", file=sys.stderr)
    records.append(make_record("plain_nuts", long, nuts, truth, conv=conv, lo_dose=lo,
                               hi_dose=hi, peak_memory=peak_device_memory(),
                               arviz_stats_check=check))

    svi = run_plain_svi(long, num_steps=500, num_draws=500, seed=0)
    print(f"svi: {svi['timings']}, final loss {svi['final_loss']:.1f}, nan {svi['nan']}",
          file=sys.stderr)
    records.append(make_record("plain_svi", long, svi, truth, lo_dose=lo, hi_dose=hi,
                               peak_memory=peak_device_memory()))

    sp = run_scipy(long)
    print(f"scipy: {sp['timings']}, failed {sp['n_failed']}, no cov {sp['n_no_covariance']}",
          file=sys.stderr)
    records.append(make_record("scipy", long, sp, truth, lo_dose=lo, hi_dose=hi))

    # nested R-hat path: 8 fake chains from an AR(1) (no model needed)
    rng = np.random.default_rng(1)
    e = rng.normal(size=(8, 300, 50))
    ar = np.empty_like(e)
    ar[:, 0] = e[:, 0]
    for t in range(1, 300):
        ar[:, t] = 0.6 * ar[:, t - 1] + e[:, t]
    ar[4:] += 0.3  # two superchains shifted
    fake = {"ar1": ar.astype(np.float32)}
    nested = convergence(fake)
    nested_check = check_convergence_against_arviz_stats(fake, max_params=50)
    print(f"8-chain AR(1): max R-hat {nested['max_rhat']:.3f}, nested "
          f"{nested['max_rhat_nested']:.3f}; arviz_stats agreement {nested_check}",
          file=sys.stderr)

    meta = {"title": "screen_peers self-check (20 cell lines x 5 drugs, 9 doses, 2 reps)",
            "command": "python -m benchmarks.peers.screen_peers",
            "environment": environment(),
            "nested_rhat_check": {"convergence": nested, "arviz_stats": nested_check},
            "notes": ["plain_nuts: 2 chains x (100 warmup + 100 samples); 'compile' is "
                      "jit(grad(potential)) alone and is also inside 'warmup'.",
                      "plain_svi: 500 Adam steps (lr 0.01), AutoNormal, 500 draws; the "
                      "'sampling s' column is the optimisation time.",
                      "scipy: per-curve bounded curve_fit, Wald 90% intervals.",
                      "ESS / R-hat agree with arviz_stats on the first 10 scalars of each "
                      f"array to {max(check['max_relative_difference'].values()):.1e} "
                      "(largest relative difference)."]}
    jpath, mpath = write_results(records, meta, out_stem)
    print(mpath.read_text())
    print(f"wrote {jpath} and {mpath}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """The self-check from the command line (``--out``: the result path without extension)."""
    import argparse

    ap = argparse.ArgumentParser(description="screen_peers self-check on a small simulated "
                                             "screen (plain NumPyro NUTS and SVI, scipy, "
                                             "convergence against arviz_stats)")
    ap.add_argument("--out", default="/tmp/screen_peers_check",
                    help="output path without extension (.json and .md are written)")
    _self_check(Path(ap.parse_args(argv).out))


if __name__ == "__main__":
    main()
