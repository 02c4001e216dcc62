"""When to trust a posterior: per-unit posterior predictive checks and contraction.

Generic over the families: a family declares its units (:class:`~drugbayes.families.
_contract.UnitChecks`: labels, summary keys, a per-unit log-likelihood and its observed
sites), and this module computes, from the run's draws,

- **posterior predictive checks per unit**: the discrepancy of a unit is the
  replicate-averaged standardised residual sum of squares ``D = sum_c n_c mean_c(r)^2`` over
  its design points ``c`` (a dose, a dose pair), ``r = (y - mu) / s`` with the fitted mean
  ``mu`` and the model's own noise scale ``s`` at a draw (the Student-t scale where the preset
  uses Student-t noise): with one well per design point the standardised residual sum of
  squares; with replicates, its lack-of-fit part (the replicates' own scatter averaged out,
  so a wrong mean surface is not diluted by it). A family without a location-scale
  observation (xenograft mice, a cure mixture) uses the deviance ``-2 log p(y_unit |
  theta)``. For each draw a replicated data set is drawn from the model at that draw (its own
  noise, Student-t included), and
  ``ppc_p = P(D(y_rep, theta) >= D(y, theta) | y)``; ``misfit`` is ``ppc_p <
  [diagnostics] ppc_threshold``. A parent unit (a combination over its matrices) sums its
  members' discrepancies.
- **contraction** of every reported quantity: ``1 - posterior var / prior var``, the prior
  variance from the same summary computed on prior-predictive draws of the model (NumPyro
  ``Predictive`` without data); ``prior_dominated`` is ``contraction <
  [diagnostics] contraction_threshold``. Each variance is the normal-equivalent one of the
  row's central interval (``((upper - lower) / (2 z))^2``, so the ratio is that of the squared
  interval widths): robust to the heavy tails of quantities like ``alpha = exp(log alpha)``.
- **pooled**: for the unit rows of a hierarchical model, ``1 - posterior var / pooled var``
  with the pooled variance from the same summary on draws whose unit-level deviations
  (``UnitChecks.unit_sites``) are redrawn from their prior given the rest of the posterior
  (what the population alone says about a new member); ``pooled`` when that is under the same
  threshold: the unit's own data added next to nothing, its value came from the population.

A run without draws (a point estimate) gets no checks (empty columns).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("drugbayes")

MAX_PRIOR_VALUES = 20_000_000
"""At most this many values of prior draws are made and summarised (fewer prior draws on a
large screen, at least 100: the prior summary costs draws x units like the posterior's)."""

COLUMNS = ("ppc_p", "misfit", "contraction", "prior_dominated", "pooled")
"""The summary columns added by the checks."""


def _flat(samples: dict, max_draws: int | None) -> tuple[dict[str, np.ndarray], int]:
    """Draws ``(chain, draw, ...)`` flattened to ``(n, ...)``, thinned evenly to at most
    ``max_draws``."""
    first = np.asarray(next(iter(samples.values())))
    n = first.shape[0] * first.shape[1]
    idx = np.arange(n)
    if max_draws is not None and n > max_draws:
        idx = np.unique(np.linspace(0, n - 1, max_draws).round().astype(int))
    out = {k: np.asarray(v).reshape((n,) + np.asarray(v).shape[2:])[idx]
           for k, v in samples.items()}
    return out, len(idx)


def _sites(model, a: dict, spec) -> tuple[set[str], set[str]]:
    """The model's latent sample sites (not observed) and deterministic sites when fitted to
    its data."""
    import jax
    from numpyro import handlers

    found: dict[str, set[str]] = {}

    def run():  # traced abstractly (no eager op-by-op compilation)
        tr = handlers.trace(handlers.seed(model, jax.random.PRNGKey(0))).get_trace(a, spec,
                                                                                 True)
        found["latent"] = {k for k, s in tr.items()
                           if s["type"] == "sample" and not s["is_observed"]}
        found["det"] = {k for k, s in tr.items() if s["type"] == "deterministic"}
        return 0.0

    jax.eval_shape(run)
    return found["latent"], found["det"]


def _latent_sites(model, a: dict, spec) -> set[str]:
    return _sites(model, a, spec)[0]


def unit_discrepancies(fam, spec, data, samples: dict, seed: int,
                       max_draws: int | None = 500, chunk: int = 64
                       ) -> tuple[Any, np.ndarray, np.ndarray] | str:
    """Per-unit discrepancy of the data and of replicated data at each posterior draw.

    With the family's ``fitted`` site: the replicate-averaged standardised residual sum of
    squares ``sum_cells n_c * mean_c(r)^2``, ``r = (y - loc) / scale`` with the model's own
    location and noise scale at the draw (:func:`lack_of_fit`); otherwise the deviance
    ``-2 log p(y_unit | theta)``.

    Returns
    -------
    (UnitChecks, observed, replicated) or str
        ``observed`` and ``replicated`` are ``(draw, unit)``; a string says why there is no
        check (the family declares no units, or the draws lack latent sites).
    """
    import jax
    from numpyro import handlers

    from .. import seeding

    decl = fam.units(data, spec) if fam.units is not None else None
    if decl is None:
        return f"family {fam.name!r} declares no per-unit checks for these data"
    a = fam.arrays(data)
    missing = sorted(_latent_sites(fam.model, a, spec) - set(samples))
    if missing:
        return "the draws lack latent sites " + ", ".join(missing[:5])
    draws, n = _flat(samples, max_draws)
    draws = {k: v for k, v in draws.items() if not k.startswith("log_lik_")}
    n_unit = len(decl.labels)
    if decl.fitted is not None:
        ((_, y_key),) = decl.observed.items()
        cells = np.asarray(decl.cell_of).ravel()
        units = np.asarray(decl.unit_of).ravel()
        n_cell = int(cells.max()) + 1 if cells.size else 0
        cell_unit = np.full(max(n_cell, 1), n_unit, np.int64)  # n_unit: not checked
        cell_unit[cells[cells >= 0]] = units[cells >= 0]
        count = np.bincount(cells[cells >= 0], minlength=max(n_cell, 1)).astype(np.float32)

    def score(draw, values, k2):
        if decl.fitted is None:
            ll = handlers.seed(handlers.substitute(decl.log_lik, data=draw), k2)
            return -2.0 * ll(values, spec)
        o = handlers.seed(handlers.substitute(decl.fitted, data=draw), k2)(values, spec)
        return lack_of_fit(values[y_key], o.dist.loc, o.dist.scale, cells, cell_unit, count,
                           n_unit)

    def one(draw, key):
        k1, k2 = jax.random.split(key)
        tr = handlers.trace(handlers.seed(handlers.substitute(fam.model, data=draw), k1)
                            ).get_trace(a, spec, False)
        a_rep = dict(a)
        for site_name, arr in decl.observed.items():
            a_rep[arr] = tr[site_name]["value"]
        return score(draw, a, k2), score(draw, a_rep, k2)

    run = jax.jit(jax.vmap(one))
    keys = jax.random.split(seeding.jax_key(seed, "checks.ppc"), n)
    n_obs = sum(int(np.size(a[k])) for k in decl.observed.values())
    chunk = int(max(1, min(chunk, 20_000_000 // max(n_obs, 1))))  # device memory per chunk
    obs, rep = [], []
    size = min(chunk, n)
    for i in range(0, n, size):
        sl = {k: v[i:i + size] for k, v in draws.items()}
        m = next(iter(sl.values())).shape[0]
        kk = keys[i:i + size]
        if m < size:  # pad to one shape: one compilation
            sl = {k: np.concatenate([v, np.repeat(v[-1:], size - m, 0)]) for k, v in sl.items()}
            kk = jax.numpy.concatenate([kk, jax.numpy.repeat(kk[-1:], size - m, 0)])
        o, r = run(sl, kk)
        obs.append(np.asarray(o, np.float64)[:m])
        rep.append(np.asarray(r, np.float64)[:m])
    return decl, np.concatenate(obs), np.concatenate(rep)


def lack_of_fit(y, loc, scale, cells: np.ndarray, cell_unit: np.ndarray, count: np.ndarray,
                n_unit: int):
    """Per unit, ``sum_cells n_c * mean_c(r)^2`` of the standardised residuals
    ``r = (y - loc) / scale`` (JAX; ``cells`` the flat design point of each value, -1 not
    checked). With one well per design point and normal noise it is the standardised residual
    sum of squares; replicates of a design point are averaged first, so a structured misfit
    (the mean surface is wrong) is not diluted by the replicates' own noise."""
    import jax
    import jax.numpy as jnp

    r = jnp.ravel((jnp.asarray(y) - loc) / scale * jnp.ones_like(jnp.asarray(y)))
    ok = cells >= 0
    r = jnp.where(jnp.asarray(ok), jnp.nan_to_num(r), 0.0)
    seg = jnp.asarray(np.where(ok, cells, 0))
    s = jax.ops.segment_sum(r, seg, num_segments=len(count))
    per_cell = jnp.square(s) / jnp.maximum(jnp.asarray(count), 1.0)
    return jax.ops.segment_sum(per_cell, jnp.asarray(cell_unit), num_segments=n_unit + 1
                               )[:n_unit]


def ppc_p(observed: np.ndarray, replicated: np.ndarray) -> np.ndarray:
    """Posterior predictive p-values ``P(D_rep >= D_obs)`` per unit from ``(draw, unit)``
    discrepancies; draws with a non-finite value are left out, a unit without a finite draw
    gets NaN."""
    ok = np.isfinite(observed) & np.isfinite(replicated)
    hit = (replicated >= observed) & ok
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, hit.sum(axis=0) / np.maximum(n, 1), np.nan)


def predictive_checks(fam, spec, data, samples: dict, seed: int, threshold: float,
                      max_draws: int | None = 500) -> tuple[pd.DataFrame | None, str]:
    """One row per unit (and per parent unit): ``level``, ``label``, its summary keys,
    ``ppc_p`` and ``misfit``; or None and why not."""
    got = unit_discrepancies(fam, spec, data, samples, seed, max_draws)
    if isinstance(got, str):
        return None, got
    decl, lo, lr = got
    rows = [{"level": decl.name, "label": lab, "keys": key, "ppc_p": p}
            for lab, key, p in zip(decl.labels, decl.keys, ppc_p(lo, lr))]
    if decl.parent is not None:
        idx, keys, labels = decl.parent
        idx = np.asarray(idx)
        if len(set(idx.tolist())) < len(idx):  # a parent with several members
            n_par = len(keys)
            po = np.zeros((lo.shape[0], n_par))
            pr = np.zeros((lo.shape[0], n_par))
            np.add.at(po.T, idx, lo.T)
            np.add.at(pr.T, idx, lr.T)
            pp = ppc_p(po, pr)
        else:  # one member each: the parent's check is its member's
            pp = np.full(len(keys), np.nan)
            pp[idx] = ppc_p(lo, lr)
        rows += [{"level": "parent", "label": lab, "keys": key, "ppc_p": p}
                 for lab, key, p in zip(labels, keys, pp)]
    out = pd.DataFrame(rows)
    out["misfit"] = out["ppc_p"] < threshold
    out.attrs["discrepancy"] = (
        "deviance -2 log p(y_unit | theta)" if decl.fitted is None else
        "replicate-averaged standardised residual sum of squares sum_c n_c mean_c(r)^2, "
        "r = (y - fitted mean) / noise scale")
    return out, ""


def _prior_draws(fam, spec, data, n: int, seed: int) -> dict[str, np.ndarray]:
    """``(1, n, ...)`` draws of every latent and deterministic site from the prior."""
    from numpyro.infer import Predictive

    from .. import seeding

    a = fam.arrays(data)
    latent, det = _sites(fam.model, a, spec)
    pred = Predictive(fam.model, num_samples=n, return_sites=sorted(latent | det))
    out = pred(seeding.jax_key(seed, "checks.prior"), a, spec, False)
    return {k: np.asarray(v)[None] for k, v in out.items()}


def _pooled_draws(fam, spec, data, samples: dict, unit_sites: tuple[str, ...], seed: int,
                  max_draws: int | None) -> dict[str, np.ndarray] | None:
    """Draws with each unit's own deviations redrawn from their prior given the rest of the
    posterior; ``(1, n, ...)``. None when the model has none of ``unit_sites``."""
    from numpyro.infer import Predictive

    from .. import seeding

    a = fam.arrays(data)
    latent, det = _sites(fam.model, a, spec)
    redraw = latent & set(unit_sites)
    if not redraw:
        return None
    if latent - redraw - set(samples):  # the rest of the posterior is not all there
        return None
    draws, n = _flat(samples, max_draws)
    given = {k: v for k, v in draws.items() if k in latent and k not in redraw}
    pred = Predictive(fam.model, posterior_samples=given, return_sites=sorted(redraw | det),
                      batch_ndims=1)
    res = pred(seeding.jax_key(seed, "checks.pooled"), a, spec, False)
    merged = {**draws, **{k: np.asarray(v) for k, v in res.items()}}
    return {k: np.asarray(v)[None] for k, v in merged.items()}


def _sd_of(table: pd.DataFrame) -> np.ndarray:
    """A robust scale of each row's draws: the width of its central interval (for normal
    draws proportional to the sd; heavy-tailed quantities such as ``alpha = exp(log alpha)``
    would make the sample variance a noisy measure of what the data taught)."""
    lo = np.asarray(pd.to_numeric(table["lower"], errors="coerce"), np.float64)
    hi = np.asarray(pd.to_numeric(table["upper"], errors="coerce"), np.float64)
    with np.errstate(invalid="ignore"):
        return hi - lo


def _aligned(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = [c for c in a.columns if c in ("quantity",) or a[c].dtype == object]
    cols = [c for c in cols if c in b.columns and c not in ("censored",)]
    return len(a) == len(b) and all((a[c].astype(str).values == b[c].astype(str).values).all()
                                    for c in cols if c == "quantity" or c in _KEY_COLUMNS)


_KEY_COLUMNS = ("cell_line", "drug", "drug_a", "drug_b", "experiment", "arm", "quantity")


def _flags(flag: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    """A nullable boolean column: ``flag`` where ``defined``, empty elsewhere."""
    return pd.arrays.BooleanArray(np.asarray(flag, bool) & defined, ~np.asarray(defined, bool))


def _contraction(post_sd: np.ndarray, ref_sd: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        c = 1.0 - np.square(post_sd) / np.square(ref_sd)
    ok = np.isfinite(post_sd) & np.isfinite(ref_sd) & (ref_sd > 0)
    c = np.where(np.isinf(ref_sd) & np.isfinite(post_sd), 1.0, c)
    ok |= np.isinf(ref_sd) & np.isfinite(post_sd)
    return np.where(ok, c, np.nan)


def _unit_rows(table: pd.DataFrame, keys: list[dict]) -> np.ndarray:
    """Rows of ``table`` that belong to one of the units identified by ``keys``."""
    hit = np.zeros(len(table), bool)
    if not keys:
        return hit
    cols = list(keys[0])
    if not set(cols) <= set(table.columns):
        return hit
    wanted = {tuple(str(k[c]) for c in cols) for k in keys}
    vals = zip(*(table[c].astype(str).tolist() for c in cols))
    return np.array([v in wanted for v in vals], bool)


def contraction_columns(result, threshold: float, prior_draws: int = 1000,
                        max_draws: int | None = 1000) -> tuple[pd.DataFrame, str]:
    """Per summary row (in the summary's order): ``contraction``, ``prior_dominated`` and
    ``pooled``; with a note saying what could not be computed."""
    fam = result.family
    table = result._summary_without_checks()
    n = len(table)
    out = pd.DataFrame({"contraction": np.full(n, np.nan),
                        "prior_dominated": pd.array([pd.NA] * n, dtype="boolean"),
                        "pooled": pd.array([pd.NA] * n, dtype="boolean")})
    prob = table["unit"].astype(str).eq("probability").to_numpy() if "unit" in table else \
        np.zeros(n, bool)

    def summarize(draws):
        return fam.summarize(result.data, draws, result.contrasts, result.interval_prob,
                             result.inference.method, spec=result.spec, seed=result.seed)

    notes = []
    post_sd = _sd_of(table)
    # host memory: at most about MAX_PRIOR_VALUES values of prior draws (large screens)
    per_draw = sum(int(np.prod(np.shape(v)[2:])) for v in result.inference.samples.values())
    n_prior = int(max(100, min(prior_draws, MAX_PRIOR_VALUES // max(per_draw, 1))))
    if n_prior < prior_draws:
        notes.append(f"{n_prior} prior draws (of {prior_draws}: at most about "
                     f"{MAX_PRIOR_VALUES:,} values)")
    prior = summarize(_prior_draws(fam, result.spec, result.data, n_prior, result.seed))
    if _aligned(table, prior):
        c = np.where(prob, np.nan, _contraction(post_sd, _sd_of(prior)))
        out["contraction"] = c
        out["prior_dominated"] = _flags(c < threshold, np.isfinite(c))
    else:
        notes.append("the prior summary does not match the posterior's rows")
    decl = fam.units(result.data, result.spec) if fam.units is not None else None
    if decl is not None and decl.unit_sites:
        pooled = _pooled_draws(fam, result.spec, result.data, result.inference.samples,
                               decl.unit_sites, result.seed, max_draws)
        if pooled is not None:
            ptab = summarize(pooled)
            if _aligned(table, ptab):
                keys = decl.keys + (decl.parent[1] if decl.parent is not None else [])
                rows = _unit_rows(table, keys) & ~prob
                own = _contraction(post_sd, _sd_of(ptab))
                out["pooled"] = _flags(own < threshold, rows & np.isfinite(own))
            else:
                notes.append("the pooled summary does not match the posterior's rows")
    return out, "; ".join(notes)


def add_columns(table: pd.DataFrame, units: pd.DataFrame | None,
                rows: pd.DataFrame | None) -> pd.DataFrame:
    """``table`` with the check columns: ``ppc_p`` and ``misfit`` on the rows of each checked
    unit (matched on the unit's keys; other rows empty), and the per-row ``contraction``,
    ``prior_dominated`` and ``pooled`` (``rows``, in the table's order). Every column is
    present, empty where nothing was computed."""
    out = table.copy()
    n = len(out)
    p = np.full(n, np.nan)
    if units is not None and len(units):
        by_cols: dict[tuple[str, ...], dict[tuple[str, ...], float]] = {}
        for key, val in zip(units["keys"], units["ppc_p"]):
            cols = tuple(key)
            by_cols.setdefault(cols, {})[tuple(str(key[c]) for c in cols)] = val
        for cols, values in by_cols.items():  # one pass over the rows per key layout
            if not set(cols) <= set(out.columns):
                continue
            row_keys = zip(*(out[c].astype(str).tolist() for c in cols))
            hit = np.array([values.get(r, np.nan) for r in row_keys], np.float64)
            p = np.where(np.isnan(hit), p, hit)
    out["ppc_p"] = p
    thr = units.attrs.get("threshold") if units is not None else None
    out["misfit"] = _flags(p < (thr if thr is not None else -np.inf),
                           np.isfinite(p) & (thr is not None))
    for c in ("contraction", "prior_dominated", "pooled"):
        if rows is not None and len(rows) == n:
            out[c] = rows[c].to_numpy() if c == "contraction" else rows[c].array
        else:
            out[c] = np.nan if c == "contraction" else pd.array([pd.NA] * n, dtype="boolean")
    return out


def row_labels(table: pd.DataFrame) -> list[str]:
    """:func:`row_label` of every row of ``table`` (by columns: a large screen has many)."""
    keys = [c for c in _KEY_COLUMNS if c in table.columns and c != "quantity"]
    cols = [[str(v) for v in table[c].tolist()] for c in keys]
    out = []
    for i, q in enumerate(str(v) for v in table["quantity"].tolist()):
        parts = [col[i] for col in cols if col[i] not in ("", "nan", "all")]
        out.append(f"{'|'.join(parts)} {q}" if parts else q)
    return out


def row_label(row: pd.Series) -> str:
    """``cell|drug quantity``-style label of a summary row (for the diagnostics)."""
    keys = [str(row[c]) for c in _KEY_COLUMNS if c in row.index and c != "quantity"
            and str(row[c]) not in ("", "nan", "all")]
    return f"{'|'.join(keys)} {row['quantity']}" if keys else str(row["quantity"])
