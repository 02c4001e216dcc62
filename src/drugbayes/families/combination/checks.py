"""Units of the ``combination`` family's per-unit checks: a matrix, summed per combination."""

from __future__ import annotations

import numpy as np

from .._contract import Spec, UnitChecks


def units(data, spec: Spec) -> UnitChecks:
    """Matrices (combination x experiment) as units, combinations as their parents.

    The discrepancy of a matrix covers its own wells (``y``), replicates of a dose pair
    averaged; control wells shared by several matrices (``y_shared``) are left out.
    """
    from .model import latents, likelihood

    def fitted(a: dict, spec: Spec):
        return likelihood(latents(spec, a), a, spec)["y"]

    def key(k: int, exp: str) -> dict:
        p = data.combo_pair[k]
        return {"cell_line": data.cell_lines[data.combo_cell[k]],
                "drug_a": data.drugs[data.pair_a[p]], "drug_b": data.drugs[data.pair_b[p]],
                "experiment": exp}

    keys = [key(k, data.experiments[e]) for k, e in zip(data.matrix_combo, data.matrix_exp)]
    parent = (data.matrix_combo, [key(k, "all") for k in range(data.n_combos)],
              list(data.combo_labels))
    prefix = {"centered": "", "noncentered": "z_", "auto": "raw_"}[
        spec.options.parameterization]
    own = ("mono_log10_c", "mono_log_hill", "mono_logit_bottom", "grp_beta")
    sites = tuple(prefix + s for s in own) + (
        "z_grp_log_alpha12", "z_grp_log_alpha21", "z_grp_log_gamma12", "z_grp_log_gamma21",
        "z_log_top", "z_matrix")
    mask = np.asarray(data.mask, bool)
    n_mat, n_well = mask.shape
    unit_of = np.where(mask, np.arange(n_mat)[:, None], -1)
    # a design point: the matrix and its dose pair (zero doses as their own level)
    xa = np.where(np.asarray(data.zero_a, bool), -1e9, np.round(np.asarray(data.x_a), 6))
    xb = np.where(np.asarray(data.zero_b, bool), -1e9, np.round(np.asarray(data.x_b), 6))
    pts = np.stack([np.repeat(np.arange(n_mat), n_well), xa.ravel(), xb.ravel()], axis=1)
    cell = np.unique(pts, axis=0, return_inverse=True)[1].reshape(n_mat, n_well)
    cell_of = np.where(mask, cell, -1)
    return UnitChecks("matrix", list(data.matrix_labels), keys, None, {"y": "y"}, parent,
                      sites, fitted, unit_of, cell_of)
