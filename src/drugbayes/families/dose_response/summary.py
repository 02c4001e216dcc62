"""Summary table of the ``dose_response`` family: one row per curve and quantity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.fields import carried_by_group
from ...errors import ConfigError, Issue
from ...inference.registry import get_backend
from ...report.summary import _prob_stats, _stats, in_group_order

COLUMNS = ["cell_line", "drug", "quantity", "unit", "mean", "sd", "median", "lower", "upper",
           "r_hat", "ess_bulk", "ess_tail", "censored", "interval_prob"]


CENSORED = {"ic50": "rel", "log10_ic50": "rel", "gec50": "rel", "log10_gec50": "rel",
            "ic50_absolute": "abs", "log10_ic50_absolute": "abs", "gr50": "abs",
            "log10_gr50": "abs"}
"""Potencies with a ``censored`` flag: relative (curve midpoint) or absolute (crossing)."""

QUANTITY_ORDER = ["ic50", "log10_ic50", "ic50_absolute", "log10_ic50_absolute", "hill", "top",
                  "bottom", "viability_at_max_dose", "emax", "auc", "aac",
                  "p_ic50_above_max_dose", "p_ic50_absolute_above_max_dose"]
"""The quantities of viability; growth rates and GR values have their own
(:func:`.derived.quantity_order`)."""


def summarize_dose_response(data, draws: dict[str, np.ndarray], contrasts: list[dict] | None = None,
                            prob: float = 0.95, method: str = "nuts") -> pd.DataFrame:
    """Summary table of the ``dose_response`` family.

    Parameters
    ----------
    data : DoseResponseData
    draws : dict
        ``grp_*`` sites, ``(chain, draw, group)``.
    contrasts : list of dict
        Each ``{"drug": ..., "a": cell line, "b": cell line}``: ``ic50_fold_change`` = a / b.
    prob : float
        Interval probability (equal-tailed).
    method : str
        Back-end; R-hat/ESS are reported for the MCMC back-ends (``nuts``, ``screen``).
    """
    from .derived import derived, quantity_order, unit_of

    dq = derived(data, draws)
    diag = get_backend(method).chains
    cl = [data.cell_lines[c] for c in data.group_cell]
    dr = [data.drugs[d] for d in data.group_drug]
    frames = []
    for q in quantity_order(data):
        if q in ("p_ic50_above_max_dose", "p_gec50_above_max_dose"):
            st = _prob_stats(dq["_above_rel"])
        elif q in ("p_ic50_absolute_above_max_dose", "p_gr50_above_max_dose"):
            st = _prob_stats(dq["_above_abs"])
        elif q == "p_net_cytotoxic":
            st = _prob_stats(dq[q])
        else:
            st = _stats(dq[q], prob, diag)
        cens = np.full(len(cl), "", dtype=object)
        if q in CENSORED:
            sfx = CENSORED[q]
            above = dq[f"_above_{sfx}"].reshape(-1, len(cl)).mean(axis=0)
            below = dq[f"_below_{sfx}"].reshape(-1, len(cl)).mean(axis=0)
            cens = np.where(above > 0.5, "above_max_dose",
                            np.where(below > 0.5, "below_min_dose", ""))
        frames.append(pd.DataFrame({"cell_line": cl, "drug": dr, "quantity": q,
                                    "unit": unit_of(data, q), **st, "censored": cens}))
    for c in contrasts or []:
        frames.append(_contrast(data, dq, c, prob, diag))
    out = in_group_order(frames, list(zip(cl, dr)), ("cell_line", "drug"), prob, COLUMNS)
    carried = carried_by_group(getattr(data, "carried_curve", {}), data.curve_group, data.n_groups)
    if carried:
        at = {(c, d): g for g, (c, d) in enumerate(zip(cl, dr))}
        row_group = [at.get(k, -1) for k in zip(out["cell_line"].tolist(),
                                                 out["drug"].tolist())]
    for col, vals in carried.items():  # carried columns, not modelled
        if col not in out.columns:
            out[col] = [vals[g] if g >= 0 else "" for g in row_group]
    return out


def validate_contrasts(data, contrasts: list[dict], source: str = "<config>") -> None:
    """Check every ``[[contrasts]]`` entry against the data (all problems at once)."""
    issues = []
    pairs = {(data.cell_lines[c], data.drugs[d]) for c, d in zip(data.group_cell, data.group_drug)}
    for i, c in enumerate(contrasts):
        keys = set(c)
        unknown = keys - {"drug", "a", "b"}
        for k in sorted(unknown):
            issues.append(Issue(source, None, f"contrasts[{i}].{k}", None,
                                "unknown key (expected drug, a, b)"))
        for k in ("drug", "a", "b"):
            if k not in c:
                issues.append(Issue(source, None, f"contrasts[{i}].{k}", None, "required"))
        if {"drug", "a", "b"} <= keys:
            for k in ("a", "b"):
                if (str(c[k]), str(c["drug"])) not in pairs:
                    issues.append(Issue(source, None, f"contrasts[{i}].{k}", str(c[k]),
                                        f"no curve of cell line {c[k]!r} with drug "
                                        f"{c['drug']!r} in the data"))
    if issues:
        raise ConfigError(issues)


def _contrast(data, dq: dict, c: dict, prob: float, diag: bool) -> pd.DataFrame:
    gid = {(data.cell_lines[a], data.drugs[b]): i
           for i, (a, b) in enumerate(zip(data.group_cell, data.group_drug))}
    ga, gb = gid[(str(c["a"]), str(c["drug"]))], gid[(str(c["b"]), str(c["drug"]))]
    diff = dq["log10_ic50"][..., ga] - dq["log10_ic50"][..., gb]
    fc = 10.0 ** diff[..., None]
    st = _stats(fc, prob, diag)
    p = _prob_stats((diff > 0)[..., None].astype(float))
    label = f"{c['a']}/{c['b']}"
    rows = pd.DataFrame({"cell_line": [label, label], "drug": [str(c["drug"])] * 2,
                         "quantity": ["ic50_fold_change", "p_fold_change_above_1"],
                         "unit": ["ratio", "probability"],
                         **{k: [st[k][0], p[k][0]] for k in st}, "censored": ["", ""]})
    return rows
