"""Derived quantities and the labelled posterior of the ``dose_response`` family."""

from __future__ import annotations

import numpy as np

from ...curves import (
    absolute_log10_ic50,
    log_logistic,
    mean_viability,
    musyc_bottom_fraction,
    sigmoid,
)
from ...data.fields import carried_tree_names


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
    # growth rates (response_scale = "rate")
    "emax_fraction": "fraction of top", "rate_at_max_dose": "rate_unit",
    "p_net_cytotoxic": "probability",
    # GR values (response_scale = "gr")
    "gec50": "dose_unit", "log10_gec50": "log10 dose_unit", "gr50": "dose_unit",
    "log10_gr50": "log10 dose_unit", "grinf": "GR value", "grmax": "GR value",
    "gr_aoc": "GR value", "p_gec50_above_max_dose": "probability",
    "p_gr50_above_max_dose": "probability",
}
"""Units of the summary's quantities (``dose_unit`` and ``rate_unit`` replaced by the data's);
``top``, ``bottom`` and ``emax`` are in ``rate_unit`` with growth rates (:func:`unit_of`)."""

RATE_UNITS = {"top": "rate_unit", "bottom": "rate_unit", "emax": "rate_unit"}


def unit_of(data, q: str) -> str:
    """The unit of quantity ``q`` for ``data``'s response scale."""
    u = RATE_UNITS.get(q, QUANTITY_UNITS[q]) if data.is_rate else QUANTITY_UNITS[q]
    return u.replace("dose_unit", data.dose_unit).replace("rate_unit", data.rate_unit)


def bottom_fraction(data, logit_bottom: np.ndarray) -> np.ndarray:
    """The bottom as a fraction of the top (float64): ``sigmoid`` for viability, in
    ``(bottom_lower, 1)`` for growth rates and GR values (:func:`curves.musyc_bottom_fraction`)."""
    lower = float(getattr(data, "bottom_lower", 0.0))
    if lower == 0.0:
        return sigmoid(logit_bottom, np)
    return musyc_bottom_fraction(logit_bottom, lower, np)


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
    bfrac = bottom_fraction(data, np.asarray(draws["grp_logit_bottom"], np.float64))
    # rates: the model's top is relative to the table's untreated rate
    top = np.exp(np.asarray(draws["grp_log_top"], np.float64)) * float(
        getattr(data, "response_ref", 1.0) if getattr(data, "is_rate", False) else 1.0)
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
    if getattr(data, "is_rate", False):
        # the bottom is the rate at infinite dose: Emax in rate units, < 0 for net death
        out.update(emax=top * bfrac, emax_fraction=bfrac, rate_at_max_dose=v_max,
                   p_net_cytotoxic=(bfrac < 0).astype(np.float64))
    elif getattr(data, "is_gr", False):
        # Hafner et al. 2016: GEC50 the midpoint, GR50 where GR = 0.5, GRinf the bottom,
        # GRmax the GR value at the highest tested dose, GR_AOC the mean of 1 - GR over the
        # tested log10 range
        out.update(gec50=out["ic50"], log10_gec50=out["log10_ic50"],
                   gr50=out["ic50_absolute"], log10_gr50=out["log10_ic50_absolute"],
                   grinf=bfrac, grmax=v_max, gr_aoc=1.0 - auc,
                   p_net_cytotoxic=(bfrac < 0).astype(np.float64))
    return out


def quantity_order(data) -> list[str]:
    """The summary's quantities for ``data``'s response scale, in order."""
    if getattr(data, "is_rate", False):
        return ["ic50", "log10_ic50", "hill", "top", "emax", "emax_fraction",
                "rate_at_max_dose", "p_net_cytotoxic", "p_ic50_above_max_dose"]
    if getattr(data, "is_gr", False):
        return ["gec50", "log10_gec50", "gr50", "log10_gr50", "hill", "grinf", "grmax",
                "gr_aoc", "p_net_cytotoxic", "p_gec50_above_max_dose",
                "p_gr50_above_max_dose"]
    return ["ic50", "log10_ic50", "ic50_absolute", "log10_ic50_absolute", "hill", "top",
            "bottom", "viability_at_max_dose", "emax", "auc", "aac",
            "p_ic50_above_max_dose", "p_ic50_absolute_above_max_dose"]


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
        names = {"rate": ("log10_ic50", "hill", "top", "emax"),
                 "gr": ("log10_gec50", "log10_gr50", "hill", "grinf", "gr_aoc")}.get(
            data.response_scale, ("log10_ic50", "log10_ic50_absolute", "hill", "top", "bottom",
                                  "auc"))
        for name in names:
            v = dq[name]
            grid = np.full(v.shape[:2] + (nc, nd), np.nan)
            grid[:, :, data.group_cell, data.group_drug] = v
            extra["samples"][name] = grid
            extra["dims"][name] = ["cell_line", "drug"]
    extra["coords"] = {"measured_curve": [
        f"{data.cell_lines[data.group_cell[g]]}|{data.drugs[data.group_drug[g]]}|"
        f"{data.experiments[e]}" for g, e in zip(data.curve_group, data.curve_experiment)]}
    y_scale = data.signal_scale if data.is_raw else (data.response_ref if data.is_rate else 1.0)
    y = np.where(data.mask, data.y * y_scale, np.nan)
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
    carried = [(getattr(data, "carried_curve", {}), ["measured_curve"]),  # not modelled
               (getattr(data, "carried_well", {}), ["measured_curve", "point"])]
    tree_names = carried_tree_names(dict.fromkeys(k for values, _ in carried for k in values), [
        *const, *obs, *extra["samples"], *extra["coords"], "measured_curve", "point",
        "cell_line", "drug", "chain", "draw"])
    for values, dims in carried:
        for k, v in values.items():
            const[tree_names[k]] = np.asarray(v, dtype=str)
            cdims[tree_names[k]] = dims
    extra.update(observed=obs, observed_dims=odims, constant=const, constant_dims=cdims)
    return extra
