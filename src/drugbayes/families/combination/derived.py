"""Derived quantities and the labelled posterior of the ``combination`` family."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .spec import GRP, MAT
from .surfaces import _flat_params, combination_wells, surfaces

if TYPE_CHECKING:
    from ...data.combination import CombinationData

QUANTITY_UNITS = {
    "e0": "viability fraction", "e1": "viability fraction", "e2": "viability fraction",
    "e3": "viability fraction", "c1": "dose_unit", "c2": "dose_unit",
    "log10_c1": "log10 dose_unit", "log10_c2": "log10 dose_unit", "h1": "1", "h2": "1",
    "beta": "ratio (E0 - min(E1,E2) units)", "log_alpha12": "ln ratio",
    "log_alpha21": "ln ratio", "alpha12": "ratio", "alpha21": "ratio",
    "log_gamma12": "ln ratio", "log_gamma21": "ln ratio",
    "p_beta_positive": "probability", "p_log_alpha12_positive": "probability",
    "p_log_alpha21_positive": "probability",
    "bliss_excess": "viability fraction (null - combination)",
    "hsa_excess": "viability fraction (null - combination)",
    "loewe_excess": "viability fraction (null - combination)",
    "p_synergy_bliss": "probability", "p_synergy_hsa": "probability",
    "p_synergy_loewe": "probability",
    "zip_delta": "viability fraction of E0 (ZIP reference - fitted surface)",
    "p_synergy_zip": "probability",
    "zip_delta_classic": "viability fraction (classic ZIP, baseline-corrected; x 100 = "
                         "SynergyFinder % inhibition)",
    "bliss_excess_observed": "viability fraction (null - observed)",
    "hsa_excess_observed": "viability fraction (null - observed)",
    "loewe_excess_observed": "viability fraction (null - observed)",
}


QUANTITY_ORDER = list(QUANTITY_UNITS)


def derived(data: CombinationData, draws: dict) -> dict[str, Any]:
    """Per-combination derived quantity draws ``(chain, draw, combo)`` in float64.

    Every entry is an array, except ``_surfaces``: the :func:`surfaces` dict they came from.

    ``log10_c*`` are in the data's dose unit; ``*_excess`` and ``zip_delta`` are averaged
    over the tested wells with both doses > 0 (each dose pair once, replicates and experiments
    pooled).

    ``zip_delta`` is the model-based ZIP delta: ZIP's reference, the product of the two
    fitted monotherapy curves ``f_a f_b``, minus the fitted MuSyC surface, which plays the role
    of ZIP's averaged row and column refits, both normalised by the fitted E0 (the untreated
    level of the combination), so that a screen whose untreated wells read 116% of control
    scores like the same screen rescaled to 100%. It differs from the classic ZIP
    (:func:`drugbayes.families.combination.zip.zip_delta_classic`) in three ways: the refits are
    replaced by one smooth surface fitted to the whole checkerboard (no separate Hill curve per
    row and column), the baseline is the fitted E0 rather than the classic method's correction,
    and it is a posterior (per draw) rather than a point estimate. On the normalised scale
    ZIP's reference *is* Bliss independence, so ``zip_delta`` equals ``bliss_excess`` (the
    Bliss excess of the fitted surface); it is kept as its own row under ZIP's name.
    """
    q = _flat_params(data, draws)
    out: dict[str, Any] = {"e0": q["e0"], "e1": q["e1"], "e2": q["e2"], "e3": q["e3"],
           "h1": q["h_a"], "h2": q["h_b"], "beta": q["beta"],
           "log_alpha12": q["log_alpha12"], "log_alpha21": q["log_alpha21"],
           "log_gamma12": q["log_gamma12"], "log_gamma21": q["log_gamma21"]}
    _potencies(data, out, q["log10_c_a"], q["log10_c_b"], data.slot_drug("a"),
               data.slot_drug("b"))
    s = surfaces(data, draws)
    cw = combination_wells(data)
    w = cw / np.maximum(cw.sum(axis=(1, 2), keepdims=True), 1)
    for k in ("bliss", "hsa", "loewe"):
        for sfx in ("_excess", "_excess_observed"):
            out[f"{k}{sfx}"] = np.nansum(np.where(cw, s[f"{k}{sfx}"], 0.0) * w, axis=(-2, -1))
    out["zip_delta"] = np.nansum(np.where(cw, s["zip_delta"], 0.0) * w, axis=(-2, -1))
    # censoring of the potencies: beyond the tested range of that combination
    for key, grid in (("1", data.grid_dose_a), ("2", data.grid_dose_b)):
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log10(np.where(grid > 0, grid, np.nan))
        out[f"_above_{key}"] = (out[f"log10_c{key}"] > np.nanmax(lg, axis=1)).astype(float)
        out[f"_below_{key}"] = (out[f"log10_c{key}"] < np.nanmin(lg, axis=1)).astype(float)
    out["_surfaces"] = s
    return out


def pooled(data: CombinationData, draws: dict, dq: dict) -> dict[str, np.ndarray]:
    """Population-level draws per pair ``(chain, draw, pair)``.

    ``beta`` and ``log_alpha*`` are the pair's population means (what a new cell line is
    expected to show), ``log10_c*``/``h*`` the drugs' means; the excesses are averaged over
    the pair's cell lines in the data.
    """
    out = {"beta": np.asarray(draws["pop_beta"], np.float64),
           "log_alpha12": np.asarray(draws["pop_log_alpha12"], np.float64),
           "log_alpha21": np.asarray(draws["pop_log_alpha21"], np.float64)}
    if "pop_log_gamma12" in draws:
        out["log_gamma12"] = np.asarray(draws["pop_log_gamma12"], np.float64)
        out["log_gamma21"] = np.asarray(draws["pop_log_gamma21"], np.float64)
    mu_c = np.asarray(draws["mu_log10_c"], np.float64)
    mu_h = np.exp(np.asarray(draws["mu_log_hill"], np.float64))
    _potencies(data, out, mu_c[..., data.pair_a], mu_c[..., data.pair_b], data.pair_a,
               data.pair_b)
    out["h1"], out["h2"] = mu_h[..., data.pair_a], mu_h[..., data.pair_b]
    onehot = np.zeros((data.n_combos, len(data.pairs)))
    onehot[np.arange(data.n_combos), data.combo_pair] = 1.0
    onehot /= np.maximum(onehot.sum(axis=0), 1.0)
    for k in ("bliss_excess", "hsa_excess", "loewe_excess", "bliss_excess_observed",
              "hsa_excess_observed", "loewe_excess_observed", "zip_delta"):
        out[k] = dq[k] @ onehot
    return out


def _potencies(data: CombinationData, out: dict, log10_c_a: np.ndarray, log10_c_b: np.ndarray,
               drug_a: np.ndarray, drug_b: np.ndarray) -> None:
    """Potencies in the data's dose unit (``log10_c*``, ``c*``) from centred log10 values of
    drugs ``drug_a``/``drug_b``, and ``alpha*`` from ``out["log_alpha*"]``, into ``out``."""
    scale = data.dose_scale
    out["log10_c1"] = scale.to_log10(log10_c_a, drug_a)
    out["log10_c2"] = scale.to_log10(log10_c_b, drug_b)
    out["c1"] = scale.to_dose(log10_c_a, drug_a)
    out["c2"] = scale.to_dose(log10_c_b, drug_b)
    out["alpha12"] = np.exp(np.clip(out["log_alpha12"], -700, 700))
    out["alpha21"] = np.exp(np.clip(out["log_alpha21"], -700, 700))


PROBS = {"p_beta_positive": "beta", "p_log_alpha12_positive": "log_alpha12",
         "p_log_alpha21_positive": "log_alpha21", "p_synergy_bliss": "bliss_excess",
         "p_synergy_hsa": "hsa_excess", "p_synergy_loewe": "loewe_excess",
         "p_synergy_zip": "zip_delta"}


# ------------------------------------------------------------------------ labelled posterior
def posterior_dims(data: CombinationData) -> tuple[dict, dict]:
    """Dims of every site and their coords."""
    monos = [f"{data.cell_lines[c]}|{data.drugs[d]}"
             for c, d in zip(data.mono_cell, data.mono_drug)]
    coords = {"drug": data.drugs, "pair": data.pairs, "monotherapy": monos,
              "combination": data.combo_labels, "matrix": data.matrix_labels,
              "cell_line": data.cell_lines, "experiment": data.experiments,
              "matrix_effect": ["beta", "log_alpha12", "log_alpha21", "log_top"]}
    dims: dict[str, list[str]] = {
        "mu_log10_c": ["drug"], "mu_log_hill": ["drug"], "mu_logit_bottom": ["drug"],
        "pop_beta": ["pair"], "pop_log_alpha12": ["pair"], "pop_log_alpha21": ["pair"],
        "pop_log_gamma12": ["pair"], "pop_log_gamma21": ["pair"],
        "z_matrix": ["matrix_effect", "matrix"], "z_log_top": ["combination"],
    }
    for k in ("mono_log10_c", "mono_log_hill", "mono_logit_bottom"):
        dims[k] = ["monotherapy"]
        dims[f"z_{k}"] = ["monotherapy"]
    for k in GRP:
        dims[k] = ["combination"]
        dims[f"z_{k}"] = ["combination"]
    for k in MAT:
        dims[k] = ["matrix"]
    return dims, coords


GRID_DIMS = ["combination", "dose_a_index", "dose_b_index"]


def observed(data: CombinationData, samples: dict) -> dict:
    """DataTree pieces: per-well surfaces and excesses (index dims, 2-D dose coords), wells."""
    extra: dict = {"samples": {}, "dims": {}}
    if all(k in samples for k in GRP[:10]) and "pop_beta" in samples:
        s = surfaces(data, samples, keep=True)
        for k in ("viability", "bliss_excess", "hsa_excess", "loewe_excess",
                  "bliss_excess_observed", "hsa_excess_observed", "loewe_excess_observed",
                  "zip_delta"):
            name = "surface_viability" if k == "viability" else k
            extra["samples"][name] = s[k].astype(np.float32)
            extra["dims"][name] = GRID_DIMS
    na, nb = data.grid_dose_a.shape[1], data.grid_dose_b.shape[1]
    extra["coords"] = {"combination": data.combo_labels, "matrix": data.matrix_labels,
                       "dose_a_index": list(range(na)), "dose_b_index": list(range(nb))}
    extra["coords_nd"] = {"dose_a": (["combination", "dose_a_index"], data.grid_dose_a),
                          "dose_b": (["combination", "dose_b_index"], data.grid_dose_b)}
    scale = data.dose_scale
    drug_a = data.slot_drug("a")[data.matrix_combo][:, None]
    drug_b = data.slot_drug("b")[data.matrix_combo][:, None]
    dose_a = np.where(data.mask, scale.to_dose(data.x_a, drug_a, data.zero_a), np.nan)
    dose_b = np.where(data.mask, scale.to_dose(data.x_b, drug_b, data.zero_b), np.nan)
    extra["observed"] = {"y": np.where(data.mask, data.y, np.nan)}
    extra["observed_dims"] = {"y": ["matrix", "point"]}
    extra["constant"] = {"well_dose_a": dose_a, "well_dose_b": dose_b,
                         "grid_observed_viability": data.grid_y,
                         "grid_tested": data.grid_tested,
                         "grid_combination_well": combination_wells(data)}
    extra["constant_dims"] = {"well_dose_a": ["matrix", "point"],
                              "well_dose_b": ["matrix", "point"],
                              "grid_observed_viability": GRID_DIMS, "grid_tested": GRID_DIMS,
                              "grid_combination_well": GRID_DIMS}
    return extra
