"""Units of the ``dose_response`` family's per-unit checks: a curve group (cell line x drug)."""

from __future__ import annotations

import numpy as np

from .._contract import Spec, UnitChecks


def units(data, spec: Spec) -> UnitChecks:
    """Groups (cell line x drug, every experiment's curve) as units; their wells (``y``,
    replicates of a dose in one curve averaged) make the discrepancy (raw-signal control
    wells are per plate and left out)."""
    from .model import latents, likelihood, well_params

    def fitted(a: dict, spec: Spec):
        return likelihood(well_params(latents(spec, a), a), a, spec)["y"]

    keys = [{"cell_line": data.cell_lines[c], "drug": data.drugs[d]}
            for c, d in zip(data.group_cell, data.group_drug)]
    labels = [f"{k['cell_line']}|{k['drug']}" for k in keys]
    sites = ("raw_curve_log10_ic50", "raw_curve_log_hill", "raw_curve_logit_bottom",
             "z_log_top")
    mask = np.asarray(data.mask, bool)
    n_curve, n_point = mask.shape
    unit_of = np.where(mask, np.asarray(data.curve_group)[:, None], -1)
    x = np.where(np.asarray(data.is_zero, bool), -1e9, np.round(np.asarray(data.x), 6))
    # design points: distinct (curve, dose) pairs, numbered in their sorted order (as
    # np.unique over the pairs' rows, by one integer key per pair: much faster on a screen)
    x_values, x_code = np.unique(x.ravel(), return_inverse=True)
    key = np.repeat(np.arange(n_curve, dtype=np.int64), n_point) * len(x_values) + x_code
    cell = np.unique(key, return_inverse=True)[1].reshape(n_curve, n_point)
    return UnitChecks("curve", labels, keys, None, {"y": "y"}, None, sites, fitted, unit_of,
                      np.where(mask, cell, -1))
