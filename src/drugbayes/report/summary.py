"""Tidy summary tables: one row per group and quantity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..diagnostics import rank_diagnostics


def _stats(draws: np.ndarray, prob: float, diag: bool) -> dict[str, np.ndarray]:
    """Summary statistics of ``(chain, draw, n)`` draws; diagnostics on a finite monotone copy."""
    d = np.asarray(draws, np.float64)
    flat = d.reshape(-1, d.shape[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        mean = flat.mean(axis=0)
        sd = flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.full(flat.shape[1], np.nan)
    sd = np.where(np.isfinite(mean), sd, np.nan)
    q = quantiles(flat, [0.5, (1 - prob) / 2, (1 + prob) / 2])
    res = {"mean": mean, "sd": sd, "median": q[0], "lower": q[1], "upper": q[2]}
    if flat.shape[0] == 1:
        res["sd"] = res["lower"] = res["upper"] = np.full(flat.shape[1], np.nan)
    n = d.shape[-1]
    if diag and d.shape[1] >= 4:
        # rank-based diagnostics are invariant to monotone maps: clip infinities to finite
        big = np.nanmax(np.abs(np.where(np.isfinite(d), d, 0.0))) + 1.0
        fin = np.clip(np.nan_to_num(d, nan=0.0, posinf=big, neginf=-big), -big, big)
        res["r_hat"], res["ess_bulk"], res["ess_tail"] = rank_diagnostics(fin)
        const = np.ptp(fin.reshape(-1, n), axis=0) == 0
        for k in ("r_hat", "ess_bulk", "ess_tail"):
            res[k] = np.where(const, np.nan, res[k])
    else:
        for k in ("r_hat", "ess_bulk", "ess_tail"):
            res[k] = np.full(n, np.nan)
    return res


def quantiles(flat: np.ndarray, probs: list[float]) -> np.ndarray:
    """``np.quantile(flat, probs, axis=0)`` (numpy's default, linear interpolation between
    order statistics), ``(len(probs), n)``, computed by sorting each column's draws as one
    contiguous row (several times faster than ``np.quantile`` along the draws' axis). A column
    with a NaN draw gets NaN; where the interpolation is undefined (between infinite draws) the
    nearer draw is taken (numpy's ``method="nearest"``)."""
    flat = np.asarray(flat, np.float64)
    n, m = flat.shape
    p = np.asarray(probs, np.float64)
    if n == 0:
        return np.full((len(p), m), np.nan)
    srt = np.sort(np.ascontiguousarray(flat.T), axis=1)  # NaN last
    pos = p * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    t = pos - lo
    a, b = srt[:, lo], srt[:, hi]
    with np.errstate(invalid="ignore"):
        diff = b - a
        q = np.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)  # numpy's _lerp
    nearest = srt[:, np.around(pos).astype(np.intp)]
    q = np.where(np.isnan(q), nearest, q)
    q[np.isnan(srt[:, -1])] = np.nan
    return np.ascontiguousarray(q.T)


def _prob_stats(ind: np.ndarray) -> dict[str, np.ndarray]:
    p = np.asarray(ind, np.float64).reshape(-1, ind.shape[-1]).mean(axis=0)
    nan = np.full_like(p, np.nan)
    return {"mean": p, "sd": np.sqrt(p * (1 - p)), "median": nan, "lower": nan, "upper": nan,
            "r_hat": nan, "ess_bulk": nan, "ess_tail": nan}


ESTIMATE_COLUMNS = ("mean", "sd", "median", "lower", "upper")
"""The columns of a summary row that describe draws."""


def point_estimate_only(table: pd.DataFrame) -> pd.DataFrame:
    """A summary table of a run without posterior draws (a point estimate).

    Probabilities (rows whose ``unit`` is ``"probability"``) are left empty: a point estimate
    would make every one of them exactly 0 or 1. Every other row keeps its point value (in
    ``mean`` and ``median``) and has empty ``sd``, ``lower`` and ``upper``.
    """
    out = table.copy()
    cols = [c for c in ESTIMATE_COLUMNS if c in out.columns]
    if "unit" in out.columns:
        out.loc[out["unit"] == "probability", cols] = np.nan
    spread = [c for c in ("sd", "lower", "upper") if c in out.columns]
    out[spread] = np.nan
    return out


def in_group_order(frames: list[pd.DataFrame], groups: list[tuple[str, str]],
                   by: tuple[str, str], prob: float, columns: list[str]) -> pd.DataFrame:
    """Stack summary rows group by group, in the order of ``groups``.

    Rows whose ``by`` columns name no group (contrasts) follow, in their order; every row gets
    ``interval_prob = prob``; the table has ``columns``.
    """
    out = pd.concat(frames, ignore_index=True)
    out["interval_prob"] = prob
    index = pd.MultiIndex.from_tuples(groups) if groups else None
    if index is not None and index.is_unique:  # by index lookup (large screens)
        rows = pd.MultiIndex.from_arrays([out[by[0]].to_numpy(object),
                                          out[by[1]].to_numpy(object)])
        g = index.get_indexer(rows)
        g = np.where(g < 0, len(groups), g)
    else:
        order = {k: i for i, k in enumerate(groups)}
        g = np.array([order.get(k, len(order)) for k in zip(out[by[0]].tolist(),
                                                             out[by[1]].tolist())], np.int64)
    out = out.iloc[np.argsort(g, kind="stable")].reset_index(drop=True)
    return out[columns]
