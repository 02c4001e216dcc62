"""Units of the ``combination`` family's per-unit checks: a matrix, summed per combination."""

from __future__ import annotations

from .._contract import Spec, UnitChecks


def units(data, spec: Spec) -> UnitChecks:
    """Matrices (combination x experiment) as units, combinations as their parents.

    The discrepancy of a matrix covers its own wells (``y``); control wells shared by several
    matrices (``y_shared``) are left out.
    """
    from .model import latents, likelihood

    def log_lik(a: dict, spec: Spec):
        return likelihood(latents(spec, a), a, spec)["y"].log_prob().sum(axis=-1)

    def key(k: int, exp: str) -> dict:
        p = data.combo_pair[k]
        return {"cell_line": data.cell_lines[data.combo_cell[k]],
                "drug_a": data.drugs[data.pair_a[p]], "drug_b": data.drugs[data.pair_b[p]],
                "experiment": exp}

    keys = [key(k, data.experiments[e]) for k, e in zip(data.matrix_combo, data.matrix_exp)]
    parent = (data.matrix_combo, [key(k, "all") for k in range(data.n_combos)],
              list(data.combo_labels))
    centred = spec.options.parameterization == "centered"
    own = ("mono_log10_c", "mono_log_hill", "mono_logit_bottom", "grp_beta")
    sites = tuple(s if centred else f"z_{s}" for s in own) + (
        "z_grp_log_alpha12", "z_grp_log_alpha21", "z_grp_log_gamma12", "z_grp_log_gamma21",
        "z_log_top", "z_matrix")
    return UnitChecks("matrix", list(data.matrix_labels), keys, log_lik, {"y": "y"}, parent,
                      sites)
