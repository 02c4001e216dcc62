"""Derived quantities and the labelled posterior of the ``dose_response`` family."""

from __future__ import annotations

import numpy as np

from ...curves import absolute_log10_ic50, log_logistic, mean_viability, sigmoid


def posterior_dims(data) -> tuple[dict, dict]:
    """Dims of every site and their coords."""
    groups = [f"{data.cell_lines[c]}|{data.drugs[d]}"
              for c, d in zip(data.group_cell, data.group_drug)]
    coords = {"drug": data.drugs, "cell_line": data.cell_lines, "experiment": data.experiments,
              "curve": groups}
    dims = {
        "mu_log10_ic50": ["drug"], "mu_log_hill": ["drug"], "mu_logit_bottom": ["drug"],
        "z_cell_line": ["cell_line"], "eff_cell_line": ["cell_line"],
        "experiment_effect": ["experiment"],
        "raw_curve_log10_ic50": ["curve"], "raw_curve_log_hill": ["curve"],
        "raw_curve_logit_bottom": ["curve"], "z_log_top": ["curve"],
        "grp_log10_ic50": ["curve"], "grp_log_hill": ["curve"], "grp_logit_bottom": ["curve"],
        "grp_log_top": ["curve"],
    }
    if data.is_raw:
        coords["plate"] = data.plates
        coords["plate_cell_line"] = data.plate_cells
        dims.update({"raw_log_background": ["plate"], "background": ["plate"],
                     "raw_log_untreated": ["plate_cell_line"],
                     "untreated_signal": ["plate_cell_line"]})
    return dims, coords


QUANTITY_UNITS = {
    "ic50": "dose_unit", "log10_ic50": "log10 dose_unit", "ic50_absolute": "dose_unit",
    "log10_ic50_absolute": "log10 dose_unit", "hill": "1", "top": "viability fraction",
    "bottom": "viability fraction", "viability_at_max_dose": "viability fraction",
    "emax": "viability fraction", "auc": "viability fraction", "aac": "viability fraction",
    "p_ic50_above_max_dose": "probability", "p_ic50_absolute_above_max_dose": "probability",
}


def derived(data, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-group derived quantity draws, each ``(chain, draw, group)`` in float64.

    Parameters
    ----------
    data : DoseResponseData
    draws : dict
        At least the ``grp_*`` deterministic sites, shaped ``(chain, draw, group)``.
    """
    L = np.asarray(draws["grp_log10_ic50"], np.float64)
    hill = np.exp(np.asarray(draws["grp_log_hill"], np.float64))
    bfrac = sigmoid(np.asarray(draws["grp_logit_bottom"], np.float64), np)
    top = np.exp(np.asarray(draws["grp_log_top"], np.float64))
    lo, hi = data.group_log10_min, data.group_log10_max
    scale, drug = data.dose_scale, data.group_drug
    abs_L = absolute_log10_ic50(L, hill, top, bfrac, xp=np)
    v_max = log_logistic(hi, L, hill, top, bfrac, xp=np)
    auc = mean_viability(lo, hi, L, hill, top, bfrac, xp=np)
    out = {
        "log10_ic50": scale.to_log10(L, drug), "ic50": scale.to_dose(L, drug),
        "log10_ic50_absolute": scale.to_log10(abs_L, drug),
        "ic50_absolute": scale.to_dose(abs_L, drug),
        "hill": hill, "top": top, "bottom": top * bfrac,
        "viability_at_max_dose": v_max, "emax": 1.0 - v_max, "auc": auc, "aac": 1.0 - auc,
        "_above_rel": (L > hi).astype(np.float64), "_above_abs": (abs_L > hi).astype(np.float64),
        "_below_rel": (L < lo).astype(np.float64), "_below_abs": (abs_L < lo).astype(np.float64),
    }
    return out


def observed(data, samples: dict) -> dict:
    """DataTree pieces: rescaled plate parameters, (cell_line, drug) grids, observed wells."""
    extra: dict = {"samples": {}, "dims": {}}
    if data.is_raw:
        for k in ("background", "untreated_signal"):
            if k in samples:
                extra["samples"][k] = samples[k] * data.signal_scale
    grp = {k: v for k, v in samples.items() if k.startswith("grp_")}
    if grp:
        dq = derived(data, grp)
        nc, nd = len(data.cell_lines), len(data.drugs)
        for name in ("log10_ic50", "log10_ic50_absolute", "hill", "top", "bottom", "auc"):
            v = dq[name]
            grid = np.full(v.shape[:2] + (nc, nd), np.nan)
            grid[:, :, data.group_cell, data.group_drug] = v
            extra["samples"][name] = grid
            extra["dims"][name] = ["cell_line", "drug"]
    extra["coords"] = {"measured_curve": [
        f"{data.cell_lines[data.group_cell[g]]}|{data.drugs[data.group_drug[g]]}|"
        f"{data.experiments[e]}" for g, e in zip(data.curve_group, data.curve_experiment)]}
    y = np.where(data.mask, data.y * (data.signal_scale if data.is_raw else 1.0), np.nan)
    obs = {"y": y}
    odims = {"y": ["measured_curve", "point"]}
    curve_drug = data.group_drug[data.curve_group][:, None]
    const = {"log10_dose": np.where(data.mask & ~data.is_zero,
                                    data.dose_scale.to_log10(data.x, curve_drug), np.nan),
             "untreated": data.is_zero & data.mask}
    cdims = {"log10_dose": ["measured_curve", "point"], "untreated": ["measured_curve", "point"]}
    if data.is_raw:
        obs["y_blank"] = data.blank_y * data.signal_scale
        obs["y_vehicle"] = data.vehicle_y * data.signal_scale
        odims["y_blank"] = ["blank_well"]
        odims["y_vehicle"] = ["vehicle_well"]
        const["blank_plate"] = np.array([data.plates[i] for i in data.blank_plate])
        const["vehicle_plate_cell_line"] = np.array(
            [data.plate_cells[i] for i in data.vehicle_plate_cell])
        cdims["blank_plate"] = ["blank_well"]
        cdims["vehicle_plate_cell_line"] = ["vehicle_well"]
    extra.update(observed=obs, observed_dims=odims, constant=const, constant_dims=cdims)
    return extra
