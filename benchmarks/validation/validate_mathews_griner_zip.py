"""ZIP and MuSyC on the real Mathews Griner ibrutinib screen (466 checkerboards, one run).

Data: ``../shared/data/combination_mathews_griner/`` (see ``../shared/data/README.md``;
Mathews Griner et al., PNAS 2014, via PharmacoGx, GPL >= 3): ibrutinib x 466 partner drugs in
TMD8 cells, 6 x 6 grids (each drug alone and the untreated corner included), one well per dose
pair, viability in % of control. Read in place, never copied into the repository.

What is computed
----------------
1. The classic ZIP delta (:func:`drugbayes.families.combination.zip.zip_delta_classic`) of all 466
   blocks in one compiled program, with both conventions (``synergyfinder``, ``synergy``), in %
   inhibition (x 100). Blocks 19 (ispinesib) and 45 (canertinib) are compared with SynergyFinder
   Plus's published mean ZIP (19.57 and -2.98; its vignette added small noise first, so about +-1.5
   agreement is expected) and with the ``synergy`` package's ZIP on the same wells. 2. One
   hierarchical Bayesian MuSyC fit (family ``combination``) of all 466 blocks in one compiled
   program (``--method svi`` or ``nuts``): wall time, the run's diagnostics, how many combinations
   pass per-combination diagnostics (NUTS: every summary quantity of that combination with R-hat <=
   1.01 and bulk/tail ESS >= 400, the run's thresholds), and the posterior ``zip_delta``
   (model-based ZIP, x 100) and ``beta`` of blocks 19 and 45.

Design of the fit: ``cell_line = TMD8``, ``drug_a = ibrutinib``, ``drug_b`` = the partner,
``experiment`` = ``tech_rep`` (blocks 157, 179 and 237 repeat a partner of blocks 143, 178
and 236: those pairs are one combination with two matrices), so 463 combinations from 466
matrices. Ibrutinib's monotherapy curve is shared by every block (one cell line).

Usage
-----
    nice -n 10 python -m benchmarks.validation.validate_mathews_griner_zip --method svi
    nice -n 10 python -m benchmarks.validation.validate_mathews_griner_zip --method nuts \\
        --chains 2 --warmup 300 --samples 300
    ... --method none     (classic ZIP only)

Writes ``benchmarks/results/validation/mathews_griner_zip_<method>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import REPO, results_dir, write_result
from benchmarks.scale.combination_scale import combinations_passing
from drugbayes.testing import (
    MATHEWS_GRINER_FILE,
    block_grids,
    mathews_griner_blocks,
    synergyfinder_reference,
)

OUT = results_dir("validation")
DEFAULT_DATA = "../shared/data/combination_mathews_griner"
SEED = 20261127
BLOCKS = (19, 45)
CEILING_SEED = 2


def data_dir(path: str | None = None) -> Path:
    """``path`` (default ``../shared/data/...``) resolved against the repository root."""
    p = Path(path if path is not None else DEFAULT_DATA)
    return (p if p.is_absolute() else REPO / p).resolve()


def wells_table(df: pd.DataFrame) -> pd.DataFrame:
    """The long table of kind ``combination`` (doses in nM, response in %)."""
    return pd.DataFrame({
        "experiment": "rep" + df["tech_rep"].astype(str), "cell_line": df["sampleid"],
        "drug_a": "ibrutinib", "dose_a": df["ColConcs"], "drug_b": df["RowName"],
        "dose_b": df["RowConcs"], "response": df["viability"]})


def synergy_zip(df: pd.DataFrame, block: int) -> float | None:
    """The ``synergy`` package's mean ZIP (% inhibition) over the combination wells."""
    try:
        from synergy.combination import ZIP
    except ImportError:
        return None
    g = df[df["BlockId"] == block]
    d1, d2 = g["ColConcs"].to_numpy(float), g["RowConcs"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = ZIP().fit(d1, d2, g["viability"].to_numpy(float) / 100.0)
    return float(100.0 * np.mean(s[(d1 > 0) & (d2 > 0)]))


def classic(df: pd.DataFrame) -> dict:
    """Classic ZIP of every block, both conventions, timed (compilation included)."""
    from drugbayes.families.combination.zip import zip_delta_classic

    ids, y, xa, xb = block_grids(df)
    out: dict = {"n_blocks": len(ids)}
    for conv in ("synergyfinder", "synergy"):
        t0 = time.perf_counter()
        # SynergyFinder Plus's default: no baseline correction (correct_baseline = "non")
        z = zip_delta_classic(y, xa, xb, convention=conv, baseline="none")
        out[conv] = {"wall_s": time.perf_counter() - t0,
                     "mean_percent": {int(b): float(100 * m) for b, m in zip(ids, z["mean"])},
                     "all_finite": bool(np.isfinite(z["delta"]).all())}
    # the original ZIP code (its baseline correction and its curves: the summary's column),
    # and SynergyFinder Plus's refits on the same corrected wells
    z = zip_delta_classic(y, xa, xb, convention="original", baseline="original")
    zs = zip_delta_classic(y, xa, xb, convention="synergyfinder", baseline="original")
    out["original_baseline"] = {
        "mean_percent": {int(b): float(100 * m) for b, m in zip(ids, z["mean"])},
        "mean_percent_synergyfinder_refits": {int(b): float(100 * m)
                                              for b, m in zip(ids, zs["mean"])},
        "factor_quantiles_0_50_100": [float(v) for v in np.percentile(z["baseline_factor"],
                                                                      [0, 50, 100])]}
    return out


def per_block_zip(df: pd.DataFrame, r, combos: pd.DataFrame) -> dict:
    """Model ZIP against the classic ZIP per block (matrix; % inhibition), and why they differ.

    Each block's model ZIP is its per-block row (the three repeated pairs) or its
    combination's row (a combination tested once is its only block); the classic ZIP is the
    summary's per-block ``zip_delta_classic`` (the original ZIP code: its baseline correction
    and curves). Also, per block: the classic ZIP with SynergyFinder Plus's refits on the same
    corrected wells (``classic_sf``: free single-drug tops, so the corrected untreated level
    ``T`` enters its reference twice and its refits once), the original code's ZIP on the
    wells divided by the model's fitted E0 instead of the correction (``classic_e0``), and the
    classic's reference (its per-block single-drug fits) combined with the model's surface
    (``classic_ref_model_surface``) and the model's reference with the classic's refits.
    """
    from drugbayes.families.combination.surfaces import _surfaces, block_view
    from drugbayes.families.combination.zip import zip_delta_classic

    data = r.data
    post = r.posterior["posterior"]
    samples = {k: post[k].values for k in post.data_vars}
    n_m = np.bincount(data.matrix_combo, minlength=data.n_combos)
    rows = []
    for m, lab in enumerate(data.matrix_labels):
        cell, a, b, exp = lab.split("|")
        sel = (combos["drug_b"] == b) & (combos["experiment"] == (
            exp if n_m[data.matrix_combo[m]] > 1 else "all"))
        v = combos[sel].set_index("quantity")["mean"]
        rows.append({"matrix": m, "partner": b, "rep": int(exp[3:]),
                     "model": 100 * v["zip_delta"], "classic": 100 * v["zip_delta_classic"]})
    t = pd.DataFrame(rows)
    e0 = np.exp(np.asarray(samples["mat_log_top"], np.float64).reshape(
        -1, data.n_matrices)).mean(axis=0)
    k = data.matrix_combo
    with np.errstate(divide="ignore", invalid="ignore"):
        xa = np.log10(np.where(data.grid_dose_a > 0, data.grid_dose_a, np.nan))[k]
        xb = np.log10(np.where(data.grid_dose_b > 0, data.grid_dose_b, np.nan))[k]
    y, tested = data.matrix_grid_y, data.matrix_grid_tested
    zo = zip_delta_classic(y, xa, xb, tested, convention="original")
    zs = zip_delta_classic(y, xa, xb, tested, convention="synergyfinder")
    ze = zip_delta_classic(y / e0[:, None, None], xa, xb, tested, convention="original",
                           baseline="none")
    bd, bdr = block_view(data, samples, np.arange(data.n_matrices))
    surf = _surfaces(bd, bdr)
    fit_m = np.asarray(surf["viability"])[0, 0] / e0[:, None, None]
    ref_m = np.asarray(surf["bliss"])[0, 0]
    cw = tested.copy()
    cw[:, 0, :] = False
    cw[:, :, 0] = False

    def wmean(g):
        return 100 * np.nansum(np.where(cw, g, 0.0), axis=(1, 2)) / cw.sum(axis=(1, 2))

    # the classic's reference on the model's scale: its single-drug curves (tops 1) times the
    # correction-free E0 normalisation is what the model's reference is; combine each
    # estimator's reference with the other's fit
    ref_c = np.asarray(ze["reference"])
    fit_c = np.asarray(ze["fit"])
    mi = t["matrix"].to_numpy()
    t["classic_sf"] = wmean(np.asarray(zs["reference"]) - np.asarray(zs["fit"]))[mi]
    t["classic_e0"] = 100 * np.asarray(ze["mean"])[mi]
    t["classic_ref_model_surface"] = wmean(ref_c - fit_m)[mi]
    t["model_ref_classic_refits"] = wmean(ref_m - fit_c)[mi]
    t["factor"] = np.asarray(zo["baseline_factor"])[mi]
    np.testing.assert_allclose(t["classic"], 100 * np.asarray(zo["mean"])[mi], atol=1e-3)
    # the single-drug wells around the model's curves (E0 scale): independent noise, or
    # per-block shifts that the combination wells of the same row share?
    yn = y / e0[:, None, None]
    res_a = yn[:, 1:, 0] - ref_m[:, 1:, 0]  # drug a alone, positive doses
    res_c = (yn - fit_m)[:, 1:, 1:].mean(axis=2)  # each row's combination wells
    mono_noise = {
        "residual_sd": float(np.nanstd(res_a)),
        "block_mean_residual_sd": float(np.nanstd(np.nanmean(res_a, axis=1))),
        "block_mean_residual_sd_if_independent": float(np.nanstd(res_a)
                                                       / np.sqrt(res_a.shape[1])),
        "corr_with_row_combination_residual": float(np.corrcoef(
            res_a[np.isfinite(res_a + res_c)], res_c[np.isfinite(res_a + res_c)])[0, 1])}
    big = t["classic"].abs() > 3

    def share(a, b, mask):
        return float((np.sign(t.loc[mask, a]) == np.sign(t.loc[mask, b])).mean())

    big_sf = t["classic_sf"].abs() > 3
    big_e0 = t["classic_e0"].abs() > 3
    dis = big & (np.sign(t["model"]) != np.sign(t["classic"]))
    return {
        "n_blocks": int(len(t)), "n_abs_classic_gt_3": int(big.sum()),
        "sign_agreement_abs_classic_gt_3": share("model", "classic", big),
        "pearson": float(np.corrcoef(t["classic"], t["model"])[0, 1]),
        "n_abs_classic_sf_gt_3": int(big_sf.sum()),
        "sign_agreement_model_vs_classic_sf": share("model", "classic_sf", big_sf),
        "n_abs_classic_e0_gt_3": int(big_e0.sum()),
        "sign_agreement_model_vs_classic_e0": share("model", "classic_e0", big_e0),
        "sign_agreement_classic_e0_vs_classic": share("classic_e0", "classic", big),
        "sign_agreement_classic_ref_model_surface_vs_classic_e0": share(
            "classic_ref_model_surface", "classic_e0", big_e0),
        "sign_agreement_model_ref_classic_refits_vs_classic_e0": share(
            "model_ref_classic_refits", "classic_e0", big_e0),
        "n_disagreeing": int(dis.sum()),
        "median_abs_model_disagreeing": float(t.loc[dis, "model"].abs().median()),
        "median_abs_classic_disagreeing": float(t.loc[dis, "classic"].abs().median()),
        "factor_disagreeing_quantiles_10_50_90": [
            float(v) for v in np.percentile(t.loc[dis, "factor"], [10, 50, 90])],
        "factor_all_quantiles_10_50_90": [float(v) for v in np.percentile(t["factor"],
                                                                          [10, 50, 90])],
        "drug_a_single_wells_vs_model": mono_noise,
    }


def learned_scales(r) -> dict:
    """Posterior means of the well noise and of the per-block monotherapy scales (with
    ``matrix_monotherapy_effects``), and the spread over the blocks of drug a's fitted
    per-block shifts from its monotherapy curve (log10 C in decades, logit maximal
    effect)."""
    post = r.posterior["posterior"]
    out = {k: float(post[k].values.mean()) for k in
           ("sigma", "sigma_matrix_log10_c", "sigma_matrix_logit_bottom") if k in post}
    data = r.data
    for k in ("log10_c_a", "logit_bottom_a"):
        if f"mat_{k}" in post:
            m = np.asarray(post[f"mat_{k}"].values, np.float64).reshape(-1, data.n_matrices)
            g = np.asarray(post[f"mono_{k[:-2]}"].values, np.float64).reshape(
                m.shape[0], -1)[:, data.combo_mono_a[data.matrix_combo]]
            out[f"block_shift_sd_{k}"] = float(np.std((m - g).mean(axis=0)))
    return out


HELDOUT_DOSES_NM = (3.125, 12.5)
"""Ibrutinib-alone doses held out, one fold each, in :func:`heldout_single_wells`."""


def _grid_fit(r) -> tuple[np.ndarray, np.ndarray]:
    """Each matrix's fitted surface on its dose grid ``[matrix, i, j]`` (posterior mean of
    its MAP draws) and its fitted E0."""
    from drugbayes.families.combination.surfaces import _surfaces, block_view

    data = r.data
    post = r.posterior["posterior"]
    smp = {k: post[k].values for k in post.data_vars}
    bd, bdr = block_view(data, smp, np.arange(data.n_matrices))
    v = np.asarray(_surfaces(bd, bdr)["viability"])[0, 0]
    e0 = np.exp(np.asarray(smp["mat_log_top"], np.float64).reshape(-1, data.n_matrices)
                ).mean(axis=0)
    return v, e0


def heldout_single_wells(df: pd.DataFrame, options: dict) -> dict:
    """Do per-block monotherapy shifts predict a block's own held-out single-drug well?

    For each dose of :data:`HELDOUT_DOSES_NM`, the ibrutinib-alone well of every block at that
    dose is left out; the rest is fitted by MAP with and without ``options``, and the left-out
    wells are predicted by their block's fitted surface (E0 scale of the data: fraction of
    control). Also, in sample: the residual sd of the wells by kind (untreated, drug a alone,
    drug b alone, combination) and by fitted level (fraction of the block's E0), for the fit
    without the options, to tell per-block variation from noise that grows with the level.
    """
    import drugbayes as db

    w = wells_table(df)
    out: dict = {}
    for dose in HELDOUT_DOSES_NM:
        hold = (np.isclose(w["dose_a"], dose, rtol=1e-3) & (w["dose_b"] == 0)).to_numpy()
        h = w[hold]
        res: dict = {"n_held_out": int(hold.sum())}
        err = {}
        for name, opts in (("off", None), ("on", options)):
            r = db.fit(w[~hold].reset_index(drop=True), "combination", dose_unit="nM",
                       response_scale="percent", inference={"method": "map", "laplace": False},
                       seed=SEED, model={"options": opts} if opts else None)
            v, e0 = _grid_fit(r)
            data = r.data
            lab = {s: m for m, s in enumerate(data.matrix_labels)}
            m = np.array([lab[f"{c}|ibrutinib|{b}|{e}"] for c, b, e in
                          zip(h["cell_line"], h["drug_b"], h["experiment"])])
            ga = np.nan_to_num(data.grid_dose_a[data.matrix_combo[m]], nan=-1.0)
            i = np.argmin(np.abs(ga - dose), axis=1)
            assert np.allclose(ga[np.arange(len(m)), i], dose, rtol=1e-3)
            gb = np.nan_to_num(data.grid_dose_b[data.matrix_combo[m]], nan=np.inf)
            j = np.argmin(gb, axis=1)
            e = h["response"].to_numpy() / 100.0 - v[m, i, j]
            err[name] = np.abs(e)
            res[name] = {"rmse": float(np.sqrt(np.mean(e ** 2))),
                         "mae": float(np.mean(np.abs(e))),
                         "median_abs_error": float(np.median(np.abs(e))),
                         "bias": float(np.mean(e))}
            if name == "off" and dose == HELDOUT_DOSES_NM[0]:
                out["residual_sd_by_kind_and_level"] = _residuals_by_level(data, v, e0)
        res["share_on_closer"] = float(np.mean(err["on"] < err["off"]))
        out[f"{dose:g}"] = res
    return out


def _residuals_by_level(data, v: np.ndarray, e0: np.ndarray) -> dict:
    """In-sample residual sd (E0 scale) of the wells by kind and fitted level."""
    y, tested = data.matrix_grid_y, data.matrix_grid_tested
    res = (y - v) / e0[:, None, None]
    lev = v / e0[:, None, None]
    kind = np.full(y.shape, "combination", dtype=object)
    kind[:, 1:, 0] = "drug a alone"
    kind[:, 0, 1:] = "drug b alone"
    kind[:, 0, 0] = "untreated"
    out = {}
    for k in ("untreated", "drug a alone", "drug b alone", "combination"):
        for lo, hi in ((-np.inf, 0.3), (0.3, 0.6), (0.6, 0.9), (0.9, np.inf)):
            sel = tested & (kind == k) & (lev >= lo) & (lev < hi) & np.isfinite(res)
            if sel.sum() >= 20:
                out[f"{k}, level {lo:g} to {hi:g}"] = {"n": int(sel.sum()),
                                                       "sd": float(np.std(res[sel]))}
    return out


def ceiling(df: pd.DataFrame, r, seed: int, options: dict | None = None) -> dict:
    """The same comparison where the model is true: wells drawn from the fitted model (each
    block's MAP surface plus Student-t noise, 4 degrees of freedom, at the fitted scale),
    refitted by MAP, scored by the summary's classic ZIP. Sign agreement over the simulated
    blocks whose classic |ZIP| > 3 of the refitted model ZIP and of the true ZIP (the
    surface's) with the classic. The refit uses the same model ``options`` as the fit (with
    ``matrix_monotherapy_effects`` the simulated blocks carry the fit's per-block
    monotherapy shifts)."""
    import drugbayes as db
    from drugbayes.families.combination.surfaces import _surfaces, block_view

    data = r.data
    post = r.posterior["posterior"]
    samples = {k: post[k].values for k in post.data_vars}
    sigma = float(np.asarray(samples["sigma"]).mean())
    idx = np.arange(data.n_matrices)

    def per_block(d, smp):
        bd, bdr = block_view(d, smp, idx)
        s = _surfaces(bd, bdr)
        cw = d.matrix_grid_tested.copy()
        cw[:, 0, :] = False
        cw[:, :, 0] = False
        z = np.asarray(s["zip_delta"])[0, 0]
        return (np.asarray(s["viability"])[0, 0],
                100 * np.nansum(np.where(cw, z, 0.0), axis=(1, 2)) / cw.sum(axis=(1, 2)))

    v, true_zip = per_block(data, samples)
    wells = wells_table(df)
    lab = {s: m for m, s in enumerate(data.matrix_labels)}
    m = np.array([lab[f"{c}|ibrutinib|{b}|{e}"] for c, b, e in
                  zip(wells["cell_line"], wells["drug_b"], wells["experiment"])])
    ga = data.grid_dose_a[data.matrix_combo[m]]
    gb = data.grid_dose_b[data.matrix_combo[m]]
    i = np.argmin(np.abs(ga - wells["dose_a"].to_numpy()[:, None]), axis=1)
    j = np.argmin(np.abs(gb - wells["dose_b"].to_numpy()[:, None]), axis=1)
    rng = np.random.default_rng(seed)
    wells["response"] = 100 * (v[m, i, j] + sigma * rng.standard_t(4.0, len(wells)))
    r2 = db.fit(wells, "combination", dose_unit="nM", response_scale="percent",
                inference={"method": "map", "laplace": False}, seed=SEED,
                model={"options": options} if options else None)
    assert list(r2.data.matrix_labels) == list(data.matrix_labels)
    post2 = r2.posterior["posterior"]
    _, est = per_block(r2.data, {k: post2[k].values for k in post2.data_vars})
    from drugbayes.families.combination.zip import zip_delta_classic_matrices

    cl = 100 * np.asarray(zip_delta_classic_matrices(r2.data, convention="original")["mean"])
    big = np.abs(cl) > 3
    return {"seed": seed, "noise_scale": sigma, "n_abs_classic_gt_3": int(big.sum()),
            "sign_agreement_model_estimate_vs_classic": float(
                np.mean(np.sign(est[big]) == np.sign(cl[big]))),
            "sign_agreement_truth_vs_classic": float(
                np.mean(np.sign(true_zip[big]) == np.sign(cl[big]))),
            "sign_agreement_model_estimate_vs_truth_abs_estimate_gt_3": float(np.mean(
                np.sign(est[np.abs(est) > 3]) == np.sign(true_zip[np.abs(est) > 3])))}


def bayes(df: pd.DataFrame, method: str, chains: int, warmup: int, samples: int,
          steps: int, options: dict | None = None, ceiling_seeds: int = 1) -> dict:
    """One fit of all blocks; summary rows of blocks 19 and 45; per-combination diagnostics."""
    import drugbayes as db

    wells = wells_table(df)
    inf: dict = {"method": method}
    if method == "nuts":
        inf.update(num_chains=chains, num_warmup=warmup, num_samples=samples)
    elif method == "svi":
        inf.update(num_steps=steps)
    t0 = time.perf_counter()
    if method == "map":
        inf["laplace"] = False  # the mode: per-block signs, no intervals needed
    r = db.fit(wells, "combination", dose_unit="nM", response_scale="percent", inference=inf,
               seed=SEED, model={"options": options} if options else None)
    s = r.summary()
    wall = time.perf_counter() - t0
    d = r.diagnostics
    combos = s[s["cell_line"] != "pooled"]
    per: dict = {"n_combinations": int(combos.groupby(["drug_a", "drug_b"]).ngroups)}
    if method == "nuts":
        th = d.get("thresholds", {})
        max_rhat = float(th.get("max_rhat", 1.01))
        min_ess = float(th.get("min_ess_bulk", 400))
        min_tail = float(th.get("min_ess_tail", 400))
        per.update(combinations_passing(combos, ["drug_a", "drug_b"], max_rhat, min_ess,
                                        min_tail))
    per["zip_model_vs_classic"] = per_block_zip(df, r, combos)
    per["learned_scales"] = learned_scales(r)
    ceil = ceiling(df, r, CEILING_SEED, options) if method == "map" else None
    if ceil is not None and ceiling_seeds > 1:
        ceil["other_seeds"] = [ceiling(df, r, CEILING_SEED + k, options)
                               for k in range(1, ceiling_seeds)]
    held = (heldout_single_wells(df, options) if method == "map" and options
            and options.get("matrix_monotherapy_effects") else None)
    blocks = {}
    for b in BLOCKS:
        partner = df.loc[df["BlockId"] == b, "RowName"].iloc[0]
        rows = combos[combos["drug_b"] == partner].set_index("quantity")
        blocks[b] = {"partner": partner}
        for q in ("zip_delta", "p_synergy_zip", "beta", "p_beta_positive", "bliss_excess",
                  "log_alpha12", "log_alpha21"):
            blocks[b][q] = {k: float(rows.loc[q, k]) for k in ("mean", "median", "lower",
                                                                 "upper")}
    return {"method": method, "settings": inf, "wall_s": wall,
            "timings": getattr(r.inference, "timings", {}),
            "diagnostics": {"passed": bool(d.get("passed", False)),
                            "checks": {k: v.get("value") for k, v in d.get("checks", {}).items()}},
            "per_combination": per, "blocks": blocks,
            **({"ceiling": ceil} if ceil is not None else {}),
            **({"heldout_single_wells": held} if held is not None else {})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--method", choices=("svi", "nuts", "map", "none"), default="svi")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--steps", type=int, default=5000, help="SVI steps")
    ap.add_argument("--ceiling-seeds", type=int, default=1,
                    help="map: simulation checks (wells drawn from the fit) with this many "
                    "seeds")
    ap.add_argument("--matrix-monotherapy", action="store_true",
                    help="matrix_monotherapy_effects = true (each block its own ibrutinib "
                    "curve shift)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder = data_dir(args.data_dir)
    if not (folder / MATHEWS_GRINER_FILE).is_file():
        print(f"data not found: {folder / MATHEWS_GRINER_FILE} (see ../shared/data/README.md)",
              file=sys.stderr)
        return 2
    df = mathews_griner_blocks(folder)
    ref = synergyfinder_reference(folder)
    res: dict = {"data": str(folder), "seed": SEED,
                 "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()}}
    res["classic"] = classic(df)
    res["synergy_package"] = {b: synergy_zip(df, b) for b in BLOCKS}
    res["synergyfinder_reference"] = ref
    if args.method != "none":
        res["bayes"] = bayes(df, args.method, args.chains, args.warmup, args.samples,
                             args.steps, {"matrix_monotherapy_effects": True}
                             if args.matrix_monotherapy else None, args.ceiling_seeds)
    res["machine"]["load_avg_at_end"] = os.getloadavg()
    stem = f"mathews_griner_zip_{args.method}" + ("_matrix_mono" if args.matrix_monotherapy
                                                  else "")
    c = res["classic"]
    cmd = (f"nice -n 10 python -m benchmarks.validation.validate_mathews_griner_zip "
           f"--method {args.method}"
           + (f" --chains {args.chains} --warmup {args.warmup} --samples {args.samples}"
              if args.method == "nuts" else "")
           + (f" --steps {args.steps}" if args.method == "svi" else "")
           + (" --matrix-monotherapy" if args.matrix_monotherapy else "")
           + (f" --ceiling-seeds {args.ceiling_seeds}" if args.ceiling_seeds > 1 else ""))
    lines = ["# ZIP on the Mathews Griner ibrutinib screen (466 blocks)", "",
             f"`{cmd}` on {os.cpu_count()} CPU cores (shared machine). Data read in place from "
             "`../shared/data/combination_mathews_griner/`.", "",
             "## Classic ZIP (mean delta over the 25 combination wells, % inhibition, "
             "positive = synergy)", "",
             "| block | partner | SynergyFinder Plus (published, noise added) | ours, "
             "`synergyfinder` convention | difference | ours, `synergy` convention | "
             "`synergy` package ZIP |", "|---|---|---|---|---|---|---|"]
    for b in BLOCKS:
        partner = df.loc[df["BlockId"] == b, "RowName"].iloc[0]
        ours = c["synergyfinder"]["mean_percent"][b]
        sp = res["synergy_package"][b]
        lines.append(f"| {b} | {partner} | {ref.get(b, float('nan')):.2f} | {ours:.2f} | "
                     f"{ours - ref.get(b, float('nan')):+.2f} | "
                     f"{c['synergy']['mean_percent'][b]:.2f} | "
                     + ("n/a" if sp is None else f"{sp:.2f}") + " |")
    lines += ["", f"All {c['n_blocks']} blocks in one compiled program: "
              f"{c['synergyfinder']['wall_s']:.1f} s (`synergyfinder`), "
              f"{c['synergy']['wall_s']:.1f} s (`synergy`), compilation included; "
              f"all deltas finite: {c['synergyfinder']['all_finite']}, "
              f"{c['synergy']['all_finite']}.", "",
              "The difference from SynergyFinder Plus is its fits, not its algorithm: its "
              "published values are reproduced exactly with drc 3.0-1 and its own code path, "
              "and rest on fits with up to 250 times the least-squares residual sum of "
              "squares; with optimal fits its algorithm gives 11.50 and -15.69 "
              "(`synergyfinder_drc_reproduction.md`).", "",
              "The original ZIP code (its baseline correction and its curves; the summary's "
              "`zip_delta_classic`, `convention=\"original\"`; SynergyFinder Plus leaves the "
              "correction off by default): "
              + ", ".join(f"block {b} {c['original_baseline']['mean_percent'][b]:.2f}"
                          for b in BLOCKS)
              + "; SynergyFinder Plus's refits on the same corrected wells: "
              + ", ".join(f"block {b} "
                          f"{c['original_baseline']['mean_percent_synergyfinder_refits'][b]:.2f}"
                          for b in BLOCKS)
              + "; correction factors (0/50/100% quantiles over the blocks) "
              + ", ".join(f"{v:.3f}" for v in c["original_baseline"]["factor_quantiles_0_50_100"])
              + ".", ""]
    if "bayes" in res:
        bz = res["bayes"]
        lines += [f"## Bayesian MuSyC fit of all blocks ({bz['method']}, one program)", "",
                  f"Settings {bz['settings']}; wall time **{bz['wall_s']:.1f} s** (reading, "
                  "validation, compilation, inference and summary); timings (s): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in bz["timings"].items()) + ".", "",
                  f"Run diagnostics passed: {bz['diagnostics']['passed']} "
                  f"({', '.join(f'{k}={v}' for k, v in bz['diagnostics']['checks'].items())}).",
                  ""]
        per = bz["per_combination"]
        if "passed" in per:
            lines += [f"Combinations passing per-combination diagnostics (every numeric "
                      f"summary quantity R-hat <= {per['thresholds']['max_rhat']}, ESS "
                      f"bulk/tail >= {per['thresholds']['min_ess_bulk']:.0f}): **{per['passed']}"
                      f" of {per['n_combinations']}**; relaxed (R-hat <= 1.05, ESS >= 100): "
                      f"**{per['passed_relaxed']} of {per['n_combinations']}**; per-combination "
                      f"max R-hat median {per['max_rhat_median']:.3f}, largest "
                      f"{per['max_rhat_max']:.3f}; per-combination min bulk ESS median "
                      f"{per['min_ess_bulk_median']:.0f}.", ""]
        else:
            lines += [f"{per['n_combinations']} combinations; per-combination R-hat/ESS do "
                      f"not apply to {bz['method']} (independent draws of a fitted guide).", ""]
        zz = per["zip_model_vs_classic"]
        lines += [f"Model-based ZIP (posterior mean of `zip_delta`) against the summary's "
                  f"classic ZIP (`zip_delta_classic`: the original ZIP code, its baseline "
                  f"correction included), per block: sign agreement "
                  f"**{zz['sign_agreement_abs_classic_gt_3']:.3f}** over the "
                  f"{zz['n_abs_classic_gt_3']} of {zz['n_blocks']} with classic |ZIP| > 3 "
                  f"(% inhibition); Pearson {zz['pearson']:.3f}.", "",
                  "Why they differ (sign agreement over the blocks whose second score is "
                  "> 3 in size):", "",
                  f"- SynergyFinder Plus's refits (free single-drug tops) on the same corrected "
                  f"wells: {zz['sign_agreement_model_vs_classic_sf']:.3f} of "
                  f"{zz['n_abs_classic_sf_gt_3']} (the corrected untreated level enters their "
                  f"reference twice and their refits once);",
                  f"- the original code's ZIP of the wells divided by the model's fitted E0 "
                  f"instead of the correction: {zz['sign_agreement_model_vs_classic_e0']:.3f} "
                  f"of {zz['n_abs_classic_e0_gt_3']}; it agrees with the corrected one for "
                  f"{zz['sign_agreement_classic_e0_vs_classic']:.3f};",
                  f"- on that E0 scale, the classic's own reference (its per-block single-drug "
                  f"fits) with the model's surface in place of its refits reproduces the "
                  f"classic's sign for "
                  f"{zz['sign_agreement_classic_ref_model_surface_vs_classic_e0']:.3f}, the "
                  f"model's reference with the classic's refits for "
                  f"{zz['sign_agreement_model_ref_classic_refits_vs_classic_e0']:.3f}: the "
                  f"difference is the reference, i.e. each block's own single-drug wells "
                  f"(one well per dose) against the model's pooled single-drug curves; "
                  f"drug a's single wells scatter around the model's curve with sd "
                  f"{zz['drug_a_single_wells_vs_model']['residual_sd']:.3f} E0, their "
                  f"per-block means with sd "
                  f"{zz['drug_a_single_wells_vs_model']['block_mean_residual_sd']:.3f} "
                  f"({zz['drug_a_single_wells_vs_model']['block_mean_residual_sd_if_independent']:.3f}"
                  f" if independent), correlation with their rows' combination residuals "
                  f"{zz['drug_a_single_wells_vs_model']['corr_with_row_combination_residual']:.2f};",
                  f"- the {zz['n_disagreeing']} disagreeing blocks: model ZIP median "
                  f"|{zz['median_abs_model_disagreeing']:.2f}|, classic "
                  f"|{zz['median_abs_classic_disagreeing']:.2f}|; their correction factors "
                  f"(10/50/90%) "
                  + ", ".join(f"{v:.3f}" for v in zz["factor_disagreeing_quantiles_10_50_90"])
                  + " against "
                  + ", ".join(f"{v:.3f}" for v in zz["factor_all_quantiles_10_50_90"])
                  + " over all blocks.", ""]
        ls = per.get("learned_scales", {})
        if "sigma_matrix_log10_c" in ls:
            sd_c = ls.get("block_shift_sd_log10_c_a", float("nan"))
            lines += [f"Per-block monotherapy shifts (drugs in two or more blocks: ibrutinib): "
                      f"learned scales (posterior mean) `sigma_matrix_log10_c` "
                      f"{ls['sigma_matrix_log10_c']:.3f} decades (prior half-normal 0.2), "
                      f"`sigma_matrix_logit_bottom` {ls['sigma_matrix_logit_bottom']:.3f} "
                      f"(prior half-normal 0.5); ibrutinib's fitted shifts over the blocks: sd "
                      f"{sd_c:.3f} decades (log10 "
                      f"C), {ls.get('block_shift_sd_logit_bottom_a', float('nan')):.3f} (logit "
                      f"maximal effect); well noise {ls['sigma']:.4f}. At the joint mode of "
                      f"the non-centred coordinates a scale sits near sqrt(prior scale x root "
                      f"sum of squares of the shifts) whatever the data say about it "
                      f"(sqrt(0.2 x sqrt({zz['n_blocks']}) x {sd_c:.3f}) = "
                      f"{np.sqrt(0.2 * np.sqrt(zz['n_blocks']) * sd_c):.2f}), so under map the "
                      f"shifts' "
                      f"spread is the estimate, not the scale.", ""]
        elif "sigma" in ls:
            lines += [f"Well noise (posterior mean) {ls['sigma']:.4f}.", ""]
        if "ceiling" in bz:
            ce = bz["ceiling"]
            lines += [f"Where the model is true (wells drawn from this fit: each block's MAP "
                      f"surface plus Student-t(4) noise at the fitted scale "
                      f"{ce['noise_scale']:.4f}, seed {ce['seed']}; refitted by MAP; scored by "
                      f"the same classic ZIP): over the {ce['n_abs_classic_gt_3']} simulated "
                      f"blocks with classic |ZIP| > 3 the refitted model ZIP agrees in sign "
                      f"with the classic for "
                      f"**{ce['sign_agreement_model_estimate_vs_classic']:.3f}**, the true ZIP "
                      f"for **{ce['sign_agreement_truth_vs_classic']:.3f}**; the refitted "
                      f"model ZIP agrees with the true one for "
                      f"{ce['sign_agreement_model_estimate_vs_truth_abs_estimate_gt_3']:.3f} "
                      f"of the blocks where it is > 3 in size.", ""]
            if ce.get("other_seeds"):
                lines += ["Other seeds: " + "; ".join(
                    f"seed {o['seed']}: true ZIP {o['sign_agreement_truth_vs_classic']:.3f}, "
                    f"refitted model ZIP {o['sign_agreement_model_estimate_vs_classic']:.3f} "
                    f"of {o['n_abs_classic_gt_3']}" for o in ce["other_seeds"]) + ".", ""]
        if "heldout_single_wells" in bz:
            ho = bz["heldout_single_wells"]
            lines += ["Held out (each block's ibrutinib-alone well at one dose left out, the "
                      "rest fitted by MAP without and with the per-block shifts, the left-out "
                      "wells predicted by their block's surface; fraction of control):", "",
                      "| dose (nM) | wells | RMSE without | RMSE with | MAE without | MAE with "
                      "| bias without | bias with | share closer with |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for dose in HELDOUT_DOSES_NM:
                q = ho[f"{dose:g}"]
                lines.append(f"| {dose:g} | {q['n_held_out']} | {q['off']['rmse']:.4f} | "
                             f"{q['on']['rmse']:.4f} | {q['off']['mae']:.4f} | "
                             f"{q['on']['mae']:.4f} | {q['off']['bias']:+.4f} | "
                             f"{q['on']['bias']:+.4f} | {q['share_on_closer']:.3f} |")
            lines += ["", "In-sample residual sd (fraction of the block's E0) by kind of well "
                      "and fitted level, fit without the shifts (first fold): "
                      + "; ".join(f"{k} {q['sd']:.3f} (n {q['n']})" for k, q in
                                  ho["residual_sd_by_kind_and_level"].items()) + ".", ""]
        lines += ["| block | partner | zip_delta x 100 (95% interval) | P(ZIP > 0) | beta "
                  "(95% interval) | P(beta > 0) | classic ZIP (summary: original code) |",
                  "|---|---|---|---|---|---|---|"]
        for b in BLOCKS:
            q = bz["blocks"][b]
            z, be = q["zip_delta"], q["beta"]
            lines.append(f"| {b} | {q['partner']} | {100 * z['mean']:.2f} ({100 * z['lower']:.2f}"
                         f", {100 * z['upper']:.2f}) | {q['p_synergy_zip']['mean']:.3f} | "
                         f"{be['mean']:.3f} ({be['lower']:.3f}, {be['upper']:.3f}) | "
                         f"{q['p_beta_positive']['mean']:.3f} | "
                         f"{c['original_baseline']['mean_percent'][b]:.2f} |")
    write_result(OUT / stem, res, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
