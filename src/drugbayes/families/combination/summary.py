"""Summary table of the ``combination`` family (sign convention: positive = synergy)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.fields import carried_by_group
from ...inference.registry import get_backend
from .._contract import Spec
from .derived import (
    BLOCK_QUANTITIES,
    FLEXIBLE_BLOCK_QUANTITIES,
    PROBS,
    QUANTITY_ORDER,
    UNDEFINED,
    blocks,
    derived,
    pooled,
    quantity_unit,
)

SCALE_ROWS = {"sd_matrix_log10_c": "sigma_matrix_log10_c",
              "sd_matrix_logit_bottom": "sigma_matrix_logit_bottom"}
"""With ``matrix_monotherapy_effects``: the learned scales of the per-matrix monotherapy
shifts, one row each (``cell_line = "pooled"``, ``drug_a`` and ``drug_b`` empty: one scale
for every drug tested in two or more matrices). Where every draw has the same value (``map``,
whose Laplace approximation holds the scales at the mode) the row is a point: ``mean`` and
``median``, no sd or interval. Under ``map`` the joint mode of the non-centred coordinates
puts such a scale near ``sqrt(prior scale x root sum of squares of the shifts)`` whatever the
data say, so read the spread of the fitted shifts (``mat_*``) there."""

POINT = ("zip_delta_classic",)
"""Point estimates (one value per combination, not a posterior): sd and interval NaN."""


def summarize(data, draws: dict, contrasts: list[dict] | None = None, prob: float = 0.95,
              method: str = "nuts", spec: Spec | None = None, seed: int = 0) -> pd.DataFrame:
    """Summary table: one row per cell line x pair x quantity, then the pooled rows per pair.

    Columns ``cell_line, drug_a, drug_b, experiment, quantity, unit, mean, sd, median, lower,
    upper, r_hat, ess_bulk, ess_tail, censored, interval_prob, sign_convention``.
    Probabilities have their value in ``mean``. Pooled rows have ``cell_line = "pooled"``.
    A combination tested in several experiments (blocks) has, after its rows (``experiment =
    "all"``: pooled over its blocks), one row per block and quantity of
    :data:`.derived.BLOCK_QUANTITIES` with that block's ``experiment`` (:func:`.derived.blocks`);
    every other row has ``experiment = "all"``. ``zip_delta_classic``
    (with the ``classic_zip`` option, the default) is the classic ZIP of each block's own
    wells (:func:`.zip.zip_delta_classic_matrices` in the original ZIP code's convention,
    its baseline correction included), a point estimate in ``mean`` and ``median``; a
    combination's row is the mean over its blocks. With ``matrix_monotherapy_effects`` the
    last rows are the learned scales of the per-matrix monotherapy shifts
    (:data:`SCALE_ROWS`). ``spec`` and ``seed`` are accepted for the
    family contract (the quantities do not depend on them).
    """
    from ...data.combination import POOLED
    from ...report.summary import _prob_stats, _stats

    dq = derived(data, draws)
    pq = pooled(data, draws, dq)
    b_idx, bq = blocks(data, draws)
    if (spec is None or spec.options.classic_zip) and not data.is_rate:
        from .zip import zip_delta_classic_matrices

        # a point estimate per block (each draw the same value: sd and interval NaN); a
        # combination's row is the mean over its blocks
        zm = np.asarray(zip_delta_classic_matrices(data, convention="original")["mean"],
                        np.float64)
        n_m = np.bincount(data.matrix_combo, minlength=data.n_combos)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.bincount(data.matrix_combo, weights=zm, minlength=data.n_combos) / n_m
        dq["zip_delta_classic"] = z[None, None, :]
        if b_idx.size:
            bq["zip_delta_classic"] = zm[b_idx][None, None, :]
    diag = get_backend(method).chains
    gamma = "pop_log_gamma12" in draws
    order = [q for q in QUANTITY_ORDER if gamma or "gamma" not in q]
    frames = []
    levels = [("combo", dq, data.n_combos), ("block", bq, len(b_idx)),
              ("pool", pq, len(data.pairs))]
    cols = ["cell_line", "drug_a", "drug_b", "experiment", "quantity", "unit", "mean", "sd",
            "median", "lower", "upper", "r_hat", "ess_bulk", "ess_tail", "censored",
            "interval_prob", "sign_convention"]
    per_matrix = {c: v for c, v in getattr(data, "carried_matrix", {}).items()
                  if c not in cols and c != "_g"}  # carried columns, not modelled
    carried = {"combo": carried_by_group(per_matrix, data.matrix_combo, data.n_combos),
               "block": {c: [v[m] for m in b_idx] for c, v in per_matrix.items()},
               "pool": carried_by_group(per_matrix, data.combo_pair[data.matrix_combo],
                                        len(data.pairs), joined=False)}
    for level, src, n in levels:
        exp = ["all"] * n
        group = np.arange(n, dtype=np.float64) + (0 if level == "combo" else 10**6)
        if level == "combo":
            cl = [data.cell_lines[c] for c in data.combo_cell]
            pair_idx = data.combo_pair
        elif level == "block":
            combo = data.matrix_combo[b_idx]
            cl = [data.cell_lines[c] for c in data.combo_cell[combo]]
            pair_idx = data.combo_pair[combo]
            exp = [data.experiments[e] for e in data.matrix_exp[b_idx]]
            group = combo + 0.5  # after its combination's rows, blocks in matrix order
        else:
            cl = [POOLED] * n
            pair_idx = np.arange(n)
        da = [data.drugs[data.pair_a[p]] for p in pair_idx]
        db = [data.drugs[data.pair_b[p]] for p in pair_idx]
        for q in order:
            if level == "block" and q not in BLOCK_QUANTITIES + FLEXIBLE_BLOCK_QUANTITIES:
                continue
            if q in PROBS:
                if PROBS[q] not in src:
                    continue
                st = _prob_stats((src[PROBS[q]] > 0).astype(float))
            elif q in POINT and q in src:
                st = _stats(src[q], prob, False)
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
            why = src.get(f"_why_{q}")
            if why is not None:
                # undefined in some draws: no estimate, the reason (the commonest) instead
                codes = np.asarray(why).reshape(-1, n)
                share = (codes > 0).mean(axis=0)
                for i in np.flatnonzero(share > 0):
                    c = int(np.bincount(codes[:, i][codes[:, i] > 0]).argmax())
                    cens[i] = f"undefined in {100 * share[i]:.1f}% of draws: {UNDEFINED[c]}"
                    for col in ("mean", "sd", "median", "lower", "upper", "r_hat", "ess_bulk",
                                "ess_tail"):
                        st[col] = np.where(np.arange(n) == i, np.nan, st[col])
            frames.append(pd.DataFrame({
                "cell_line": cl, "drug_a": da, "drug_b": db, "experiment": exp, "quantity": q,
                "unit": quantity_unit(q, data), **st, "censored": cens, "_g": group,
                **carried[level]}))
    for q, site in SCALE_ROWS.items():  # matrix_monotherapy_effects: the learned scales
        if site in draws:
            d = np.asarray(draws[site], np.float64)
            if np.ptp(d) == 0:  # held at the mode (map's Laplace): a point, no interval
                d = d[:1, :1]
            frames.append(pd.DataFrame({
                "cell_line": [POOLED], "drug_a": [""], "drug_b": [""], "experiment": ["all"],
                "quantity": q, "unit": quantity_unit(q, data),
                **_stats(d.reshape(d.shape[:2] + (1,)), prob, diag), "censored": [""],
                "_g": [2.0 * 10**6], **{c: [""] for c in per_matrix}}))
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values("_g", kind="stable").drop(columns="_g").reset_index(drop=True)
    out["interval_prob"] = prob
    out["sign_convention"] = ("positive = synergy; surfaces are growth rates" if data.is_rate
                              else "positive = synergy; surfaces are viability")
    return out[cols + list(per_matrix)]


def validate_contrasts(data, contrasts: list[dict], source: str = "<config>") -> None:
    """Kind ``combination`` defines no ``[[contrasts]]`` yet: any entry is an error."""
    from ...errors import ConfigError, Issue

    if contrasts:
        raise ConfigError([Issue(source, None, f"contrasts[{i}]", None,
                                 "contrasts are not defined for kind combination (the summary "
                                 "already has pooled rows per pair)")
                           for i in range(len(contrasts))])
