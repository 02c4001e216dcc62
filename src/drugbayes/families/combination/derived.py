"""Derived quantities and the labelled posterior of the ``combination`` family."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ...data.fields import carried_tree_names
from .spec import GRP, INTERACTION_KNOTS, MAT, MAT_MONO
from .surfaces import (
    CI_UNDEFINED,
    _flat_params,
    _surfaces,
    block_view,
    combination_index_50,
    combination_wells,
    surfaces,
)

if TYPE_CHECKING:
    from ...data.combination import CombinationData

log = logging.getLogger("drugbayes")

QUANTITY_UNITS = {
    "e0": "viability fraction", "e1": "viability fraction", "e2": "viability fraction",
    "e3": "viability fraction", "c1": "dose_unit", "c2": "dose_unit",
    "log10_c1": "log10 dose_unit", "log10_c2": "log10 dose_unit", "h1": "1", "h2": "1",
    "beta": "ratio (E0 - min(E1,E2) units)", "log_alpha12": "ln ratio",
    "log_alpha21": "ln ratio", "alpha12": "ratio", "alpha21": "ratio",
    "log10_alpha12": "log10 ratio (MuSyC paper's log10 alpha2)",
    "log10_alpha21": "log10 ratio (MuSyC paper's log10 alpha1)",
    "log_gamma12": "ln ratio", "log_gamma21": "ln ratio",
    "p_beta_positive": "probability", "p_log_alpha12_positive": "probability",
    "p_log_alpha21_positive": "probability",
    "bliss_excess": "viability fraction (null - combination)",
    "hsa_excess": "viability fraction (null - combination)",
    "loewe_excess": "viability fraction (null - combination)",
    "p_synergy_bliss": "probability", "p_synergy_hsa": "probability",
    "p_synergy_loewe": "probability",
    "loewe_index": "ratio (< 1 = synergy, 1 = Loewe additive; not positive = synergy)",
    "combination_index_50": "ratio (< 1 = synergy, 1 = Loewe additive; not positive = "
                            "synergy)",
    "zip_delta": "viability fraction of E0 (ZIP reference - fitted surface)",
    "p_synergy_zip": "probability",
    "zip_delta_classic": "viability fraction (classic ZIP as the original ZIP code computes "
                         "it, baseline-corrected; x 100 = % inhibition)",
    "vus": "viability fraction (Bliss null - combination; volume under the excess surface "
           "over the log10 dose rectangle / its area)",
    "p_synergy_vus": "probability",
    "sd_matrix_log10_c": "log10 dose (decades; sd of the per-matrix monotherapy log10 C "
                         "shifts)",
    "sd_matrix_logit_bottom": "logit (sd of the per-matrix monotherapy logit maximal-effect "
                              "shifts)",
    "bliss_excess_observed": "viability fraction (null - observed)",
    "hsa_excess_observed": "viability fraction (null - observed)",
    "loewe_excess_observed": "viability fraction (null - observed)",
}


QUANTITY_ORDER = list(QUANTITY_UNITS)


UNDEFINED = CI_UNDEFINED
"""Why a quantity with a ``_why_<quantity>`` code array is undefined (NaN) in a draw."""


def quantity_unit(q: str, data: CombinationData) -> str:
    """The unit of quantity ``q`` for ``data`` (dose unit, and growth rates' unit)."""
    u = QUANTITY_UNITS[q].replace("dose_unit", data.dose_unit)
    if data.is_rate:
        if q in ("e0", "e1", "e2", "e3"):
            return data.rate_unit
        u = u.replace("viability fraction", "rate as a fraction of E0")
    return u


def derived(data: CombinationData, draws: dict, cache: bool = True) -> dict[str, Any]:
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

    ``cache = False`` neither takes nor keeps :func:`surfaces`' cached result (the per-block
    quantities of :func:`blocks` are computed on a block view of the data).
    """
    q = _flat_params(data, draws)
    out: dict[str, Any] = {"e0": q["e0"], "e1": q["e1"], "e2": q["e2"], "e3": q["e3"],
           "h1": q["h_a"], "h2": q["h_b"], "beta": q["beta"],
           "log_alpha12": q["log_alpha12"], "log_alpha21": q["log_alpha21"],
           "log_gamma12": q["log_gamma12"], "log_gamma21": q["log_gamma21"]}
    _potencies(data, out, q["log10_c_a"], q["log10_c_b"], data.slot_drug("a"),
               data.slot_drug("b"))
    s = surfaces(data, draws) if cache else _surfaces(data, draws)
    cw = combination_wells(data)
    w = cw / np.maximum(cw.sum(axis=(1, 2), keepdims=True), 1)
    # a draw that is NaN at a combination well (a Laplace unit without a positive definite
    # block) stays NaN: its row is left empty rather than reported as an excess of 0
    for k in ("bliss", "hsa", "loewe"):
        for sfx in ("_excess", "_excess_observed"):
            if f"{k}{sfx}" in s:
                out[f"{k}{sfx}"] = np.sum(np.where(cw, s[f"{k}{sfx}"], 0.0) * w,
                                          axis=(-2, -1))
    if "zip_delta" in s:
        out["zip_delta"] = np.sum(np.where(cw, s["zip_delta"], 0.0) * w, axis=(-2, -1))
    # Loewe index of the fitted surface, averaged over the same wells (+inf in a draw where
    # the surface is at or above E0 at one of them)
    li = np.sum(np.where(cw, s["loewe_index"], 0.0) * w, axis=(-2, -1))
    out["loewe_index"] = np.where(cw.any(axis=(1, 2)), li, np.nan)
    if "interaction_coef" in draws:
        # flexible surface: the volume under its Bliss excess; no CI_50 (it follows the
        # surface beyond the tested doses, where the interaction is not informed)
        if "bliss_excess" in s:
            out["vus"] = volume_under_surface(s["bliss_excess"], data)
    else:
        out["combination_index_50"], out["_why_combination_index_50"] = (
            combination_index_50(q))
    # censoring of the potencies: beyond the tested range of that combination
    for key, grid in (("1", data.grid_dose_a), ("2", data.grid_dose_b)):
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log10(np.where(grid > 0, grid, np.nan))
        out[f"_above_{key}"] = (out[f"log10_c{key}"] > np.nanmax(lg, axis=1)).astype(float)
        out[f"_below_{key}"] = (out[f"log10_c{key}"] < np.nanmin(lg, axis=1)).astype(float)
    out["_surfaces"] = s
    return out


def volume_under_surface(excess: np.ndarray, data: CombinationData) -> np.ndarray:
    """Volume under an excess surface ``(chain, draw, combo, ia, ib)`` over each combination's
    rectangle of doses > 0 in log10 dose (trapezoid rule on its grid), divided by the
    rectangle's area: the surface's mean height over log dose (bayesynergy's VUS, as a
    fraction rather than x 100). A drug with one dose > 0 contributes no width (the mean
    over the other axis); NaN for a combination without a dose > 0 of either drug."""
    out = np.full(excess.shape[:-2], np.nan)
    xa_all, xb_all = data.grid_x("a"), data.grid_x("b")
    for k in range(excess.shape[-3]):
        ia = np.flatnonzero(np.nan_to_num(data.grid_dose_a[k]) > 0)
        ib = np.flatnonzero(np.nan_to_num(data.grid_dose_b[k]) > 0)
        if not ia.size or not ib.size:
            continue
        z = excess[..., k, :, :][..., ia[:, None], ib[None, :]]

        def mean_over(v, x, axis):
            if x.size < 2:
                return v.mean(axis=axis)
            return np.trapezoid(v, x, axis=axis) / (x[-1] - x[0])

        out[..., k] = mean_over(mean_over(z, xb_all[k, ib], -1), xa_all[k, ia], -1)
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
              "hsa_excess_observed", "loewe_excess_observed", "zip_delta", "vus"):
        if k in dq:
            out[k] = dq[k] @ onehot
    return out


BLOCK_QUANTITIES = ("e0", "beta", "log_alpha12", "log_alpha21", "alpha12", "alpha21",
                    "log10_alpha12", "log10_alpha21", "p_beta_positive",
                    "p_log_alpha12_positive", "p_log_alpha21_positive", "bliss_excess",
                    "hsa_excess", "loewe_excess", "p_synergy_bliss", "p_synergy_hsa",
                    "p_synergy_loewe", "zip_delta", "p_synergy_zip", "zip_delta_classic",
                    "bliss_excess_observed", "hsa_excess_observed", "loewe_excess_observed",
                    "loewe_index", "combination_index_50")
"""The quantities with one row per block (matrix = combination x experiment)."""

FLEXIBLE_BLOCK_QUANTITIES = ("vus", "p_synergy_vus")
"""The further per-block quantities of the flexible interaction surface."""


def blocks(data: CombinationData, draws: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-block draws ``(chain, draw, block)`` of the combinations tested in several blocks.

    A block is one matrix (a combination in one experiment). ``beta``, ``log_alpha*`` and
    ``e0`` are the model's matrix-level values (``mat_*``: the combination's value plus that
    experiment's deviation), so the blocks of a combination scatter around its row; the
    excesses (Bliss, HSA, Loewe, model ZIP; fitted and observed) are those of the block's own
    surface (its matrix-level parameters and the combination's monotherapy curves) over the
    block's own tested wells with both doses > 0, and the observed ones use the block's own
    observed means (:func:`.surfaces.block_view`, then :func:`derived`). A combination tested
    once has no block rows (its block is its row).

    Returns
    -------
    (indices, draws)
        The matrix indices reported, and their draws by quantity.
    """
    n = np.bincount(data.matrix_combo, minlength=data.n_combos)
    idx = np.flatnonzero(n[data.matrix_combo] > 1)
    if not idx.size or "mat_beta" not in draws:
        return idx[:0], {}
    bd, bdr = block_view(data, draws, idx)
    out = {k: v for k, v in derived(bd, bdr, cache=False).items()
           if k in BLOCK_QUANTITIES + FLEXIBLE_BLOCK_QUANTITIES or k.startswith("_why_")}
    return idx, out


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
    out["log10_alpha12"] = out["log_alpha12"] / np.log(10.0)
    out["log10_alpha21"] = out["log_alpha21"] / np.log(10.0)


PROBS = {"p_beta_positive": "beta", "p_log_alpha12_positive": "log_alpha12",
         "p_log_alpha21_positive": "log_alpha21", "p_synergy_bliss": "bliss_excess",
         "p_synergy_hsa": "hsa_excess", "p_synergy_loewe": "loewe_excess",
         "p_synergy_zip": "zip_delta", "p_synergy_vus": "vus"}


# ------------------------------------------------------------------------ labelled posterior
def posterior_dims(data: CombinationData) -> tuple[dict, dict]:
    """Dims of every site and their coords."""
    monos = [f"{data.cell_lines[c]}|{data.drugs[d]}"
             for c, d in zip(data.mono_cell, data.mono_drug)]
    coords = {"drug": data.drugs, "pair": data.pairs, "monotherapy": monos,
              "combination": data.combo_labels, "matrix": data.matrix_labels,
              "cell_line": data.cell_lines, "experiment": data.experiments,
              "matrix_effect": ["beta", "log_alpha12", "log_alpha21", "log_top"],
              "plate": data.plates or ["all"]}
    dims: dict[str, list[str]] = {
        "mu_log10_c": ["drug"], "mu_log_hill": ["drug"], "mu_logit_bottom": ["drug"],
        "pop_beta": ["pair"], "pop_log_alpha12": ["pair"], "pop_log_alpha21": ["pair"],
        "pop_log_gamma12": ["pair"], "pop_log_gamma21": ["pair"],
        "z_matrix": ["matrix_effect", "matrix"], "z_log_top": ["combination"],
        "plate_log_e0": ["plate"], "z_plate_log_e0": ["plate"],
    }
    for k in ("mono_log10_c", "mono_log_hill", "mono_logit_bottom"):
        dims[k] = ["monotherapy"]
        dims[f"z_{k}"] = ["monotherapy"]
    for k in GRP:
        dims[k] = ["combination"]
        dims[f"z_{k}"] = ["combination"]
    for k in MAT + MAT_MONO:
        dims[k] = ["matrix"]
    dims["z_matrix_mono"] = ["matrix_mono_effect", "matrix"]
    # interaction = "flexible": its coefficients per combination and basis function
    coords["interaction_basis"] = [f"a{i}_b{j}" for i in range(INTERACTION_KNOTS)
                                   for j in range(INTERACTION_KNOTS)]
    for k in ("interaction_coef", "z_interaction"):
        dims[k] = ["combination", "interaction_basis"]
    dims["interaction_scale"] = ["combination"]
    coords["matrix_mono_effect"] = ["log10_c_a", "log10_c_b", "logit_bottom_a",
                                    "logit_bottom_b"]
    return dims, coords


GRID_DIMS = ["combination", "dose_a_index", "dose_b_index"]


def observed(data: CombinationData, samples: dict) -> dict:
    """DataTree pieces: per-well surfaces and excesses (index dims, 2-D dose coords), wells."""
    extra: dict = {"samples": {}, "dims": {}}
    if all(k in samples for k in GRP[:10]) and "pop_beta" in samples:
        s = surfaces(data, samples, keep=True)
        for k in ("viability", "bliss_excess", "hsa_excess", "loewe_excess",
                  "bliss_excess_observed", "hsa_excess_observed", "loewe_excess_observed",
                  "zip_delta", "loewe_index"):
            if k not in s:
                continue
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
    shared = data.sh_y is not None and len(data.sh_y) > 0
    labels = data.row_label or [f"row {r}" for r in range(data.n_wells)]
    if shared:
        # control wells shared by several matrices (each once), named by their table line
        extra["observed"]["y_shared"] = data.sh_y
        extra["observed_dims"]["y_shared"] = ["shared_well"]
        extra["coords"]["shared_well"] = [labels[int(r)] for r in np.asarray(data.sh_row)]
    extra["constant"] = {"well_dose_a": dose_a, "well_dose_b": dose_b,
                         "grid_observed_viability": data.grid_y,
                         "grid_tested": data.grid_tested,
                         "grid_combination_well": combination_wells(data)}
    extra["constant_dims"] = {"well_dose_a": ["matrix", "point"],
                              "well_dose_b": ["matrix", "point"],
                              "grid_observed_viability": GRID_DIMS, "grid_tested": GRID_DIMS,
                              "grid_combination_well": GRID_DIMS}
    if "sigma" in samples and "mat_log_top" in samples:
        z, z_sh = well_residuals(data, samples)
        extra["constant"]["well_residual_z"] = np.where(data.mask, z, np.nan)
        extra["constant"]["well_outlier"] = data.mask & (z > OUTLIER_Z)
        extra["constant_dims"]["well_residual_z"] = ["matrix", "point"]
        extra["constant_dims"]["well_outlier"] = ["matrix", "point"]
        flagged = [int(r) for r in np.asarray(data.point_row)[data.mask & (z > OUTLIER_Z)]]
        if shared:
            extra["constant"]["shared_well_residual_z"] = z_sh
            extra["constant"]["shared_well_outlier"] = z_sh > OUTLIER_Z
            extra["constant_dims"]["shared_well_residual_z"] = ["shared_well"]
            extra["constant_dims"]["shared_well_outlier"] = ["shared_well"]
            flagged += [int(r) for r in np.asarray(data.sh_row)[z_sh > OUTLIER_Z]]
        if flagged:
            log.warning("%d well(s) treated as outliers (posterior median |residual| > %g "
                        "noise sd): %s", len(flagged), OUTLIER_Z,
                        "; ".join(labels[r] for r in sorted(flagged)[:20])
                        + (" ..." if len(flagged) > 20 else ""))
    # carried columns, not modelled; a shared well's values as shared_<column>
    carried = {k: (v, ["matrix"]) for k, v in getattr(data, "carried_matrix", {}).items()}
    carried.update({k: (v, ["matrix", "point"])
                    for k, v in getattr(data, "carried_well", {}).items()})
    if shared:
        carried.update({f"shared_{k}": (v, ["shared_well"])
                        for k, v in getattr(data, "carried_shared", {}).items()})
    names = carried_tree_names(carried, [
        *extra["constant"], *extra["observed"], *extra["samples"], *extra["coords"],
        *extra["coords_nd"], *GRID_DIMS, "point", "chain", "draw"])
    for k, (v, dims) in carried.items():
        extra["constant"][names[k]] = np.asarray(v, dtype=str)
        extra["constant_dims"][names[k]] = dims
    return extra


OUTLIER_Z = 6.0
"""A well is flagged as an outlier when the posterior median of its absolute standardised
residual ``|y - surface| / sigma`` exceeds this (a Student-t well with nu = 4 there weighs an
eighth of a typical one, ``(nu + 1) / (nu + z^2)``; a Normal well is 6 sd out)."""


def well_residuals(data: CombinationData, samples: dict, max_draws: int = 200
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior median of ``|y - fitted surface| / sigma`` per well (``[matrix, point]``) and
    per shared well (``[shared_well]``), over at most ``max_draws`` evenly spaced draws."""
    from ...curves import musyc_bottom_fraction, musyc_e3
    from .model import surface_at

    sig = np.asarray(samples["sigma"], np.float64)
    flat = sig.reshape(-1)
    take = np.unique(np.linspace(0, flat.size - 1, min(max_draws, flat.size)).astype(int))

    def draws(k):
        v = np.asarray(samples[k], np.float64)
        return v.reshape((-1,) + v.shape[2:])[take]

    mk = data.matrix_combo

    def mono(k):  # the matrix's own monotherapy curve where the model has one
        return draws(f"mat_{k}") if f"mat_{k}" in samples else draws(f"grp_{k}")[:, mk]

    e0 = np.exp(draws("mat_log_top"))
    lower = float(data.bottom_lower)
    e1 = e0 * musyc_bottom_fraction(mono("logit_bottom_a"), lower, np)
    e2 = e0 * musyc_bottom_fraction(mono("logit_bottom_b"), lower, np)
    inter = {}
    if "interaction_coef" in samples:  # interaction = "flexible"
        from .model import interaction_ranges

        inter = {"interaction_coef": draws("interaction_coef")[:, mk],
                 "interaction_range": interaction_ranges(data)[mk].astype(np.float64)}
    p = {"log10_c_a": mono("log10_c_a"), "log10_c_b": mono("log10_c_b"),
         "log_hill_a": draws("grp_log_hill_a")[:, mk], "log_hill_b": draws("grp_log_hill_b")[:, mk],
         "e0": e0, "e1": e1, "e2": e2, "e3": musyc_e3(e0, e1, e2, draws("mat_beta"), np),
         "log_alpha12": draws("mat_log_alpha12"), "log_alpha21": draws("mat_log_alpha21"),
         "log_gamma12": draws("grp_log_gamma12")[:, mk],
         "log_gamma21": draws("grp_log_gamma21")[:, mk], **inter}
    s = flat[take][:, None, None]
    v = surface_at(p, None, data.x_a, data.x_b, data.zero_a, data.zero_b, xp=np)
    plate = np.exp(draws("plate_log_e0")) if "plate_log_e0" in samples else None
    if plate is not None:
        v = v * plate[:, data.point_plate]
    z = np.median(np.abs(data.y[None] - v) / s, axis=0)
    z_sh = np.zeros(0)
    if data.sh_y is not None and len(data.sh_y):
        vs = surface_at(p, data.sh_mat, data.sh_x_a, data.sh_x_b, data.sh_zero_a,
                        data.sh_zero_b, xp=np)
        w = np.asarray(data.sh_member, np.float64)
        v_sh = (vs * w).sum(-1) / w.sum(-1)
        if plate is not None:
            v_sh = v_sh * plate[:, data.sh_plate]
        z_sh = np.median(np.abs(data.sh_y[None] - v_sh) / s[..., 0], axis=0)
    return z, z_sh
