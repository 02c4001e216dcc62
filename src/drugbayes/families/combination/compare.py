"""Which surface fits each matrix better: PSIS-LOO per matrix of two fits of the same table.

With ``compare_musyc = true`` (on in the ``combination/flexible`` preset) one run does it all:
:func:`reference_model` names the MuSyC model that :func:`drugbayes.api.fit` fits beside the
flexible one; the family's ``compare_reference`` is :func:`compare_surfaces` of the two and its
``with_comparison`` is :func:`with_better_fit`.

The flexible interaction surface (``interaction = "flexible"``, preset
``combination/flexible``) nests MuSyC (its interaction shrunk to 0 is the MuSyC surface). Fit
the same table with both presets (the same back-end, with posterior draws), then
:func:`compare_surfaces` gives, per matrix, the PSIS-LOO expected log predictive density of
its wells under each fit (each well left out in turn, the terms summed over the matrix's
wells: how well the surface predicts the matrix's wells from the rest; leaving a whole matrix
out would ask the population for a combination's own surface, with Pareto k far above 0.7
where a combination is tested in one matrix), their difference and which fits better, and
:func:`with_better_fit` puts that on a summary table (columns ``elpd_diff`` and
``better_fit``). Control wells shared by several matrices (``y_shared``) belong to no one
matrix and are left out of both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TIE_ELPD = 1.0
"""``|elpd_flexible - elpd_musyc|`` (log predictive density, nats) up to which a matrix is a
``tie``: a per-unit difference has no standard error of its own, and the flexible surface
costs a little on a matrix MuSyC already fits (its extra flexibility is not free under LOO)."""

COLUMNS = ("cell_line", "drug_a", "drug_b", "experiment", "matrix", "elpd_flexible",
           "elpd_musyc", "elpd_diff", "pareto_k_flexible", "pareto_k_musyc", "better_fit")
"""Columns of :func:`compare_surfaces`' table."""


def well_log_lik(result: Any, chunk: int = 64) -> np.ndarray:
    """Per-well log-likelihood draws ``(chain, draw, matrix, point)`` of a combination fit,
    ``log p(y_well | theta)`` at each draw (0 at padding; shared control wells left out),
    evaluated with the family's ``latents`` and ``likelihood`` (float32, in chunks of
    draws)."""
    import jax
    from numpyro import handlers

    from .data import arrays
    from .model import latents, likelihood

    data, spec = result.data, result.spec
    samples = result.inference.samples
    a = arrays(data)
    first = np.asarray(next(iter(samples.values())))
    C, D = first.shape[:2]
    flat = {k: np.asarray(v).reshape((C * D,) + np.asarray(v).shape[2:])
            for k, v in samples.items() if not k.startswith("log_lik_")}

    def one(draw):
        params = handlers.substitute(handlers.seed(latents, 0), data=draw)(spec, a)
        return likelihood(params, a, spec)["y"].log_prob()

    run = jax.jit(jax.vmap(one))
    n = C * D
    size = min(chunk, n)
    out = []
    for i in range(0, n, size):
        sl = {k: v[i:i + size] for k, v in flat.items()}
        m = next(iter(sl.values())).shape[0]
        if m < size:  # pad to one shape: one compilation
            sl = {k: np.concatenate([v, np.repeat(v[-1:], size - m, 0)]) for k, v in sl.items()}
        out.append(np.asarray(run(sl), np.float64)[:m])
    return np.concatenate(out).reshape((C, D) + out[0].shape[1:])


def loo_per_matrix(result: Any) -> tuple[np.ndarray, np.ndarray]:
    """PSIS-LOO per matrix: ``(elpd, pareto_k)``, each ``[matrix]``: the sum of its wells'
    leave-one-well-out terms and their largest Pareto k (``arviz_stats.loo`` on
    :func:`well_log_lik`)."""
    import warnings

    from arviz_base import from_dict
    from arviz_stats import loo

    if not result.approximation.draws:
        raise ValueError("PSIS-LOO needs posterior draws (this run is a point estimate)")
    ll = well_log_lik(result)
    mask = np.asarray(result.data.mask, bool)
    tree = from_dict({"posterior": {"_": np.zeros(ll.shape[:2])},
                      "log_likelihood": {"y": ll[..., mask]}}, dims={"y": ["well"]})
    with warnings.catch_warnings():  # high Pareto k is reported per matrix instead
        warnings.simplefilter("ignore", UserWarning)
        res = loo(tree, pointwise=True)
    mat = np.broadcast_to(np.arange(mask.shape[0])[:, None], mask.shape)[mask]
    n = mask.shape[0]
    elpd = np.bincount(mat, weights=np.asarray(res.elpd_i, np.float64).ravel(), minlength=n)
    k = np.full(n, -np.inf)
    np.maximum.at(k, mat, np.asarray(res.pareto_k, np.float64).ravel())
    return elpd, np.where(np.isfinite(k), k, np.nan)


def compare_surfaces(flexible: Any, musyc: Any, tie: float = TIE_ELPD) -> pd.DataFrame:
    """Per matrix: which of two fits of the same combination table predicts its wells better.

    Parameters
    ----------
    flexible, musyc : FitResult
        Fits of the same table (``flexible``: ``interaction = "flexible"``; ``musyc``: the
        MuSyC surface), each with posterior draws.
    tie : float
        :data:`TIE_ELPD`.

    Returns
    -------
    DataFrame
        One row per matrix (:data:`COLUMNS`): ``elpd_*`` the PSIS-LOO log predictive density
        of the matrix's wells, ``elpd_diff = elpd_flexible - elpd_musyc``, each fit's largest
        Pareto k over the matrix's wells (above 0.7 a well's term is unreliable),
        ``better_fit`` ``flexible``, ``musyc`` or ``tie`` (``|elpd_diff| <= tie``).
    """
    d1, d2 = flexible.data, musyc.data
    if (d1.matrix_labels != d2.matrix_labels or d1.y.shape != d2.y.shape
            or not np.array_equal(np.nan_to_num(d1.y), np.nan_to_num(d2.y))):
        raise ValueError("the two fits are not of the same table (matrices or wells differ)")
    e1, k1 = loo_per_matrix(flexible)
    e2, k2 = loo_per_matrix(musyc)
    diff = e1 - e2
    better = np.where(diff > tie, "flexible", np.where(diff < -tie, "musyc", "tie"))
    d = d1
    pair = d.combo_pair[d.matrix_combo]
    table = pd.DataFrame({
        "cell_line": [d.cell_lines[c] for c in d.combo_cell[d.matrix_combo]],
        "drug_a": [d.drugs[d.pair_a[p]] for p in pair],
        "drug_b": [d.drugs[d.pair_b[p]] for p in pair],
        "experiment": [d.experiments[e] for e in d.matrix_exp],
        "matrix": d.matrix_labels, "elpd_flexible": e1, "elpd_musyc": e2, "elpd_diff": diff,
        "pareto_k_flexible": k1, "pareto_k_musyc": k2, "better_fit": better})[list(COLUMNS)]
    table.attrs["file"] = "surface_comparison.csv"  # its name in a run directory
    return table


def with_better_fit(summary: pd.DataFrame, comparison: pd.DataFrame,
                    tie: float = TIE_ELPD) -> pd.DataFrame:
    """``summary`` with the columns ``elpd_diff`` and ``better_fit`` of
    :func:`compare_surfaces`: on each block's rows (its ``experiment``) the block's own, on a
    combination's rows (``experiment = "all"``) the sum over its matrices (the combination's
    wells left out matrix by matrix); empty on the pooled rows."""
    out = summary.copy()
    keys = ["cell_line", "drug_a", "drug_b"]
    per_combo = comparison.groupby(keys, sort=False)["elpd_diff"].sum()
    by_block = comparison.set_index(keys + ["experiment"])["elpd_diff"]
    diff = np.full(len(out), np.nan)
    for i, row in enumerate(out[keys + ["experiment"]].itertuples(index=False)):
        if row.experiment == "all":
            diff[i] = per_combo.get(tuple(row[:3]), np.nan)
        else:
            diff[i] = by_block.get(tuple(row), np.nan)
    out["elpd_diff"] = diff
    out["better_fit"] = np.where(np.isnan(diff), "", np.where(
        diff > tie, "flexible", np.where(diff < -tie, "musyc", "tie")))
    return out


def reference_model(spec: Any) -> dict | None:
    """The MuSyC model a flexible fit is compared with (``compare_musyc``): the same options
    and priors with ``interaction = "musyc"``; None for any other spec."""
    o = spec.options
    if o.interaction != "flexible" or not o.compare_musyc:
        return None
    options = {**o.model_dump(), "interaction": "musyc", "compare_musyc": False}
    return {"options": options, "priors": spec.priors.model_dump(),
            "description": "MuSyC surface (reference of the flexible fit's per-matrix "
                           "comparison)"}
