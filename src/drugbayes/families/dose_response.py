"""Family ``dose_response``: hierarchical 4PL / 3PL log-logistic IC50 model.

Structure (log10 doses molar, centred per drug on the middle of its tested range):

- drug level: ``mu_log10_ic50[drug] ~ Normal(0, half_range[drug] + log10_ic50_extra_sd)``,
  ``mu_log_hill[drug]``, ``mu_logit_bottom[drug]``;
- cell-line effects on log10 IC50, sum-to-zero over cell lines (shared across drugs), so the drug
  mean is the average cell line and the two do not trade off;
- cell line x drug deviations of log10 IC50, log Hill and logit bottom (non-centred);
- optional experiment effects on log10 IC50 (sum-to-zero over experiments);
- ``top`` fixed at 1 (``curve = "3pl"``) or per group on the log scale (``"4pl"``);
- Normal or Student-t wells; with raw plate-reader signal the plate background (from blank wells)
  and the untreated signal per plate and cell line (from vehicle wells) are parameters:
  ``signal = background[plate] + untreated[plate, cell_line] * viability``.

Levels with a single member collapse (no parameters are created for them).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import nn
from pydantic import Field

from ._base import Family, Spec, StrictModel
from ._curves import log_logistic
from ._hierarchy import mixed_effect, zero_sum_effect


class DoseResponseOptions(StrictModel):
    """Options of the ``dose_response`` family."""

    curve: Literal["4pl", "3pl"] = "4pl"
    likelihood: Literal["normal", "student_t"] = "normal"
    student_t_df: float = Field(4.0, gt=0)
    experiment_effects: bool = True
    parameterization: Literal["auto", "centered", "noncentered"] = "auto"


class DoseResponsePriors(StrictModel):
    """Prior scales (log10 IC50 in decades, viability as a fraction of untreated)."""

    log10_ic50_extra_sd: float = Field(1.0, gt=0, description="added to the half tested range")
    cell_line_sd: float = Field(1.0, gt=0)
    curve_ic50_sd: float = Field(0.5, gt=0)
    experiment_sd: float = Field(0.2, gt=0)
    log_hill_mean: float = 0.0
    log_hill_sd: float = Field(0.5, gt=0)
    curve_log_hill_sd: float = Field(0.3, gt=0)
    logit_bottom_mean: float = -1.5
    logit_bottom_sd: float = Field(1.5, gt=0)
    curve_logit_bottom_sd: float = Field(1.0, gt=0)
    log_top_sd: float = Field(0.1, gt=0)
    noise_sd: float = Field(0.2, gt=0)
    plate_log_signal_sd: float = Field(0.3, gt=0)


DETERMINISTIC = ("grp_log10_ic50", "grp_log_hill", "grp_logit_bottom", "grp_log_top")


def arrays(data) -> dict:
    """Numeric arrays (and sizes) the model needs, from :class:`DoseResponseData`."""
    out = {
        "n_cell": len(data.cell_lines), "n_drug": len(data.drugs),
        "n_exp": len(data.experiments), "n_group": data.n_groups,
        "group_cell": data.group_cell, "group_drug": data.group_drug,
        "curve_group": data.curve_group, "curve_exp": data.curve_experiment,
        "x": data.x, "y": data.y, "mask": data.mask, "is_zero": data.is_zero,
        "half_range": data.drug_half_range.astype(np.float32), "raw": data.is_raw,
    }
    out["informed_ic50"], out["informed_bottom"] = informed_groups(data)
    cells_informed = np.zeros(len(data.cell_lines), bool)
    cells_informed[data.group_cell[out["informed_ic50"]]] = True
    out["cell_informed_fraction"] = float(cells_informed.mean())
    # cell-line effects are pinned by the data only when most cell lines have informative
    # curves and there are enough drugs to tell a cell-line effect from cell x drug deviations
    out["cell_centered_auto"] = bool(out["cell_informed_fraction"] >= 0.5
                                     and len(data.drugs) >= 3)
    if data.is_raw:
        out.update({
            "n_plate": len(data.plates), "n_pc": len(data.plate_cells),
            "pc_plate": data.plate_cell_plate, "point_pc": data.point_plate_cell,
            "blank_y": data.blank_y, "blank_plate": data.blank_plate,
            "vehicle_y": data.vehicle_y, "vehicle_pc": data.vehicle_plate_cell,
            "log_blank_guess": float(np.log(max(np.median(data.blank_y), 1e-3))),
        })
        out["informed_background"], out["informed_untreated"] = informed_plates(data)
    return out


def informed_groups(data) -> tuple[np.ndarray, np.ndarray]:
    """Which groups' own data pin their IC50/Hill and their bottom (a data summary, no fit).

    With ``drop`` the fall of mean viability from the two lowest to the two highest doses, a
    group's IC50 and Hill are informed when ``drop > 0.2`` and either the curve levels off at the
    highest doses (a plateau: the two highest doses differ by less than max(0.1, drop / 4)) or it
    falls below 0.5; its bottom is informed when ``drop > 0.2`` and it levels off. Used only to
    choose centred or non-centred coordinates (``parameterization = "auto"``).
    """
    v = np.asarray(data.y, np.float64).copy()
    if data.is_raw:
        bl = np.array([np.median(data.blank_y[data.blank_plate == i]) for i in
                       range(len(data.plates))])
        ve = np.array([np.median(data.vehicle_y[data.vehicle_plate_cell == i])
                       if np.any(data.vehicle_plate_cell == i) else 1.0
                       for i in range(len(data.plate_cells))])
        b = bl[data.plate_cell_plate][data.point_plate_cell]
        v = (v - b) / np.maximum(ve[data.point_plate_cell] - b, 1e-9)
    # vectorised over groups (one pandas pass; a loop over groups was quadratic in the screen
    # size): mean response per group and dose, then the first two, last two and lowest means
    import pandas as pd

    m = data.mask & ~data.is_zero
    cu, pu = np.nonzero(m)
    pts = pd.DataFrame({"g": data.curve_group[cu], "x": data.x[cu, pu], "v": v[cu, pu]})
    pm = pts.groupby(["g", "x"], sort=True)["v"].mean().reset_index()
    gb = pm.groupby("g")
    rank = gb.cumcount().to_numpy()
    n = gb["x"].transform("size").to_numpy()
    g_all = pm["g"].to_numpy()
    vals = pm["v"].to_numpy()

    def per_group(sel, how="mean"):
        out = np.full(data.n_groups, np.nan)
        agg = pd.Series(vals[sel]).groupby(g_all[sel]).agg(how)
        out[agg.index.to_numpy()] = agg.to_numpy()
        return out

    n_dose = np.zeros(data.n_groups, int)
    first = gb.size()
    n_dose[first.index.to_numpy()] = first.to_numpy()
    m_first2 = per_group(rank < 2)
    m_last2 = per_group(rank >= n - 2)
    m0 = per_group(rank == 0)
    m_last = per_group(rank == n - 1)
    m_prev = per_group(rank == n - 2)
    m_min = per_group(np.ones(len(vals), bool), "min")
    with np.errstate(invalid="ignore"):
        drop = m_first2 - m_last2
        plateau = np.abs(m_last - m_prev) < np.maximum(0.1, 0.25 * drop)
        # a clear drop whose midpoint is crossed inside the range pins IC50 and Hill
        mid = m_first2 - 0.5 * drop
        enough = n_dose >= 3
        ic50 = enough & (drop > 0.2) & (m0 > mid) & (mid > m_last) & (plateau | (m_min < 0.5))
        # a clear drop that levels off pins the bottom
        bottom = enough & (drop > 0.2) & plateau
    return ic50, bottom


def _obs_dist(loc, scale, spec: Spec):
    if spec.options.likelihood == "student_t":
        return dist.StudentT(spec.options.student_t_df, loc, scale)
    return dist.Normal(loc, scale)


def model(a: dict, spec: Spec, observed: bool = True) -> None:
    """NumPyro model of the ``dose_response`` family.

    Parameters
    ----------
    a : dict
        Output of :func:`arrays`.
    spec : Spec
    observed : bool
        Condition on the responses (False gives prior/posterior predictive draws).
    """
    p = spec.priors
    n_cell, n_drug, n_group = a["n_cell"], a["n_drug"], a["n_group"]
    with numpyro.plate("drug", n_drug):
        mu_ic50 = numpyro.sample(
            "mu_log10_ic50", dist.Normal(0.0, jnp.asarray(a["half_range"]) + p.log10_ic50_extra_sd))
        mu_hill = numpyro.sample("mu_log_hill", dist.Normal(p.log_hill_mean, p.log_hill_sd))
        mu_bottom = numpyro.sample(
            "mu_logit_bottom", dist.Normal(p.logit_bottom_mean, p.logit_bottom_sd))
    par = spec.options.parameterization
    cen = par == "centered"
    cell_cen = cen or (par == "auto" and a["cell_centered_auto"])
    cell_eff = zero_sum_effect("cell_line", n_cell, p.cell_line_sd, cell_cen)
    many_cells = n_cell > 1
    gdrug, gcell = a["group_drug"], a["group_cell"]

    def member(name, loc, scale, active, informed):
        if not active:
            return loc
        sigma = numpyro.sample(f"sigma_{name}", dist.HalfNormal(scale))
        mask = {"centered": np.ones(n_group, bool), "noncentered": np.zeros(n_group, bool),
                "auto": informed}[par]
        return mixed_effect(name, loc, sigma, mask)

    loc_ic50 = mu_ic50[gdrug] + cell_eff[gcell]
    g_ic50_v = member("curve_log10_ic50", loc_ic50, p.curve_ic50_sd, many_cells and n_drug > 1,
                      a["informed_ic50"])
    g_hill_v = member("curve_log_hill", mu_hill[gdrug], p.curve_log_hill_sd, many_cells,
                      a["informed_ic50"])
    g_bottom_v = member("curve_logit_bottom", mu_bottom[gdrug], p.curve_logit_bottom_sd,
                        many_cells, a["informed_bottom"])
    g_ic50 = numpyro.deterministic("grp_log10_ic50", g_ic50_v)
    g_hill = numpyro.deterministic("grp_log_hill", g_hill_v)
    g_bottom = numpyro.deterministic("grp_logit_bottom", g_bottom_v)
    if spec.options.curve == "4pl":
        z_top = numpyro.sample("z_log_top", dist.Normal(0.0, 1.0).expand([n_group]).to_event(1))
        g_top = numpyro.deterministic("grp_log_top", p.log_top_sd * z_top)
    else:
        g_top = numpyro.deterministic("grp_log_top", jnp.zeros(n_group))
    # experiment shifts of log10 IC50: sum-to-zero with a fixed scale (2-3 experiments cannot
    # identify a learned scale, and a learned one only adds a funnel)
    if spec.options.experiment_effects and a["n_exp"] > 1:
        exp_eff = numpyro.sample("experiment_effect", dist.ZeroSumNormal(
            p.experiment_sd, event_shape=(a["n_exp"],)))
    else:
        exp_eff = jnp.zeros(a["n_exp"])

    # gathers at curve level, broadcast over points
    cg = a["curve_group"]
    L = (g_ic50[cg] + exp_eff[a["curve_exp"]])[:, None]
    hill = jnp.exp(g_hill[cg])[:, None]
    bfrac = nn.sigmoid(g_bottom[cg])[:, None]
    top = jnp.exp(g_top[cg])[:, None]
    v = log_logistic(jnp.asarray(a["x"]), L, hill, top, bfrac, is_zero=jnp.asarray(a["is_zero"]))
    mask = jnp.asarray(a["mask"])
    sigma = numpyro.sample("sigma", dist.HalfNormal(p.noise_sd))
    if not a["raw"]:
        with numpyro.handlers.mask(mask=mask):
            numpyro.sample("y", _obs_dist(v, sigma, spec).to_event(0),
                           obs=jnp.asarray(a["y"]) if observed else None)
        return
    # raw plate-reader signal, in units of the median untreated signal
    n_plate, n_pc = a["n_plate"], a["n_pc"]
    log_bg_mu = numpyro.sample("log_background_mean", dist.Normal(a["log_blank_guess"], 1.0))
    log_bg_sd = numpyro.sample("log_background_sd", dist.HalfNormal(p.plate_log_signal_sd))
    log_bg = mixed_effect("log_background", jnp.full(n_plate, log_bg_mu), log_bg_sd,
                          a["informed_background"] if par == "auto" else cen_all(n_plate, par))
    background = numpyro.deterministic("background", jnp.exp(log_bg))
    log_u_mu = numpyro.sample("log_untreated_mean", dist.Normal(0.0, 0.5))
    log_u_sd = numpyro.sample("log_untreated_sd", dist.HalfNormal(p.plate_log_signal_sd))
    log_u = mixed_effect("log_untreated", jnp.full(n_pc, log_u_mu), log_u_sd,
                         a["informed_untreated"] if par == "auto" else cen_all(n_pc, par))
    untreated = numpyro.deterministic("untreated_signal", jnp.exp(log_u))
    pc_plate = jnp.asarray(a["pc_plate"])
    point_pc = jnp.asarray(a["point_pc"])
    mean_sig = background[pc_plate][point_pc] + untreated[point_pc] * v
    with numpyro.handlers.mask(mask=mask):
        numpyro.sample("y", _obs_dist(mean_sig, sigma, spec),
                       obs=jnp.asarray(a["y"]) if observed else None)
    numpyro.sample("y_blank", _obs_dist(background[jnp.asarray(a["blank_plate"])], sigma, spec),
                   obs=jnp.asarray(a["blank_y"]) if observed else None)
    vpc = jnp.asarray(a["vehicle_pc"])
    numpyro.sample("y_vehicle", _obs_dist(background[pc_plate[vpc]] + untreated[vpc], sigma, spec),
                   obs=jnp.asarray(a["vehicle_y"]) if observed else None)


def init_values(noncentered: dict, a: dict, spec: Spec) -> dict:
    """Start values for ``spec``'s coordinates from a fit in all-non-centred coordinates.

    The MAP is taken non-centred (a centred hierarchical MAP is degenerate: the density grows
    without bound as a scale goes to 0). Centred members take their values (the ``grp_*`` and
    plate deterministic sites of that fit), non-centred ones keep their standard-normal values.
    """
    par = spec.options.parameterization
    out = {k: v for k, v in noncentered.items()
           if not k.startswith(("grp_", "background", "untreated_signal"))}
    if par == "noncentered":
        return out
    n_group = a["n_group"]
    masks = {"centered": {k: np.ones(n_group, bool) for k in ("ic50", "bottom")},
             "auto": {"ic50": a["informed_ic50"], "bottom": a["informed_bottom"]}}[par]
    for site, det, key in (("raw_curve_log10_ic50", "grp_log10_ic50", "ic50"),
                           ("raw_curve_log_hill", "grp_log_hill", "ic50"),
                           ("raw_curve_logit_bottom", "grp_logit_bottom", "bottom")):
        if site in out:
            out[site] = np.where(masks[key], np.asarray(noncentered[det]), np.asarray(out[site]))
    cell_cen = par == "centered" or (par == "auto" and a["cell_centered_auto"])
    if cell_cen and "z_cell_line" in out:
        out["eff_cell_line"] = np.asarray(out.pop("z_cell_line")) * np.asarray(
            out["sigma_cell_line"])
    if a["raw"]:
        for site, det, key in (("raw_log_background", "background", "informed_background"),
                               ("raw_log_untreated", "untreated_signal", "informed_untreated")):
            mask = a[key] if par == "auto" else np.ones(len(a[key]), bool)
            out[site] = np.where(mask, np.log(np.asarray(noncentered[det])),
                                 np.asarray(out[site]))
    return out


def cen_all(n: int, par: str) -> np.ndarray:
    """All-centred or all-non-centred mask."""
    return np.full(n, par == "centered")


def informed_plates(data) -> tuple[np.ndarray, np.ndarray]:
    """Plates whose blank (resp. plate x cell line whose vehicle) wells pin their own level.

    Informed when the standard error of the level's mean (pooled within-plate SD / sqrt(n)) is
    below the spread of those means across plates; used to choose centred coordinates.
    """
    def rule(y, idx, n):
        means = np.array([y[idx == i].mean() if np.any(idx == i) else np.nan for i in range(n)])
        counts = np.array([np.sum(idx == i) for i in range(n)])
        resid = y - means[idx]
        within = np.sqrt(np.sum(resid ** 2) / max(len(y) - n, 1))
        se = within / np.sqrt(np.maximum(counts, 1))
        between = np.nanstd(np.log(np.maximum(means, 1e-6))) * np.nanmean(means) if n > 1 else 0
        return se < between

    bg = rule(np.asarray(data.blank_y, float), data.blank_plate, len(data.plates))
    un = rule(np.asarray(data.vehicle_y, float), data.vehicle_plate_cell, len(data.plate_cells))
    return bg, un


# ------------------------------------------------------------------------ labelled posterior
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


# ------------------------------------------------------------------------ derived quantities
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
    bfrac = 1.0 / (1.0 + np.exp(-np.asarray(draws["grp_logit_bottom"], np.float64)))
    top = np.exp(np.asarray(draws["grp_log_top"], np.float64))
    lo, hi = data.group_log10_min, data.group_log10_max
    shift = data.drug_center[data.group_drug] - data.unit_offset
    # float64 numpy versions of the _curves formulas (no JAX dispatch on the host side)
    s_ = (0.5 / top - bfrac) / np.maximum(1.0 - bfrac, 1e-300)
    inside = (s_ > 0) & (s_ < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        abs_in = L - (np.log(s_) - np.log1p(-s_)) / (hill * np.log(10.0))
    abs_L = np.where(inside, abs_in, np.where(s_ <= 0, np.inf, -np.inf))
    k = hill * np.log(10.0)
    v_max = top * (bfrac + (1 - bfrac) / (1 + np.exp(np.clip(k * (hi - L), -700, 700))))
    width = np.maximum(hi - lo, 1e-6)
    integral = (np.logaddexp(0.0, -k * (lo - L)) - np.logaddexp(0.0, -k * (hi - L))) / k
    auc = top * (bfrac + (1 - bfrac) * integral / width)
    out = {
        "log10_ic50": L + shift,
        "ic50": 10.0 ** np.clip(L + shift, -300, 300),
        "log10_ic50_absolute": abs_L + shift,
        "ic50_absolute": np.where(np.isfinite(abs_L), 10.0 ** np.clip(abs_L + shift, -300, 300),
                                  np.where(abs_L > 0, np.inf, 0.0)),
        "hill": hill, "top": top, "bottom": top * bfrac,
        "viability_at_max_dose": v_max, "emax": 1.0 - v_max, "auc": auc, "aac": 1.0 - auc,
        "_above_rel": (L > hi).astype(np.float64), "_above_abs": (abs_L > hi).astype(np.float64),
        "_below_rel": (L < lo).astype(np.float64), "_below_abs": (abs_L < lo).astype(np.float64),
    }
    return out


def simulate(*args, **kwargs):
    """See :func:`drugbayes.simulate.simulate_dose_response`."""
    from ..simulate import simulate_dose_response

    return simulate_dose_response(*args, **kwargs)


def summarize(*args, spec: Spec | None = None, **kwargs):
    """See :func:`drugbayes.report.summary.summarize_dose_response`."""
    from ..report.summary import summarize_dose_response

    return summarize_dose_response(*args, **kwargs)


def plot(*args, **kwargs):
    """See :func:`drugbayes.report.plots.plot_dose_response`."""
    from ..report.plots import plot_dose_response

    return plot_dose_response(*args, **kwargs)


def prepare(table, data_cfg) -> tuple:
    """Read, validate and encode a dose-response table (see ``[data]`` in the docs)."""
    from ..data.encode import encode_dose_response
    from ..data.validate import validate_dose_response
    from ..io import read_table

    df, src = read_table(table, data_cfg.columns)
    vt = validate_dose_response(df, src, dose_unit=data_cfg.dose_unit,
                                response_scale=data_cfg.response_scale,
                                missing=data_cfg.missing, min_doses=data_cfg.min_doses,
                                column_names=data_cfg.columns)
    return vt, encode_dose_response(vt)


def validate_contrasts(*args, **kwargs) -> None:
    """See :func:`drugbayes.report.summary.validate_contrasts`."""
    from ..report.summary import validate_contrasts as _v

    _v(*args, **kwargs)


def describe(vt, data) -> str:
    """One line about the encoded data."""
    return (f"{data.n_wells} wells, {len(data.cell_lines)} cell lines, {len(data.drugs)} drugs, "
            f"{len(data.experiments)} experiments, {data.n_curves} curves "
            f"({data.response_scale})")


def extra_sites(data) -> tuple[str, ...]:
    """Plate parameters kept from MAP/SVI draws (raw signal)."""
    return ("background", "untreated_signal") if data.is_raw else ()


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
    const = {"log10_dose": np.where(data.mask & ~data.is_zero,
                                    data.x + data.drug_center[data.group_drug[data.curve_group]]
                                    [:, None] - data.unit_offset, np.nan),
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


def contract_data(seed: int = 1, response_scale: str = "fraction") -> tuple:
    """A small simulated screen for the contract tests (3 cell lines x 2 drugs, 2 experiments)."""
    from ..simulate import simulate_dose_response

    wells, _ = simulate_dose_response(3, 2, n_experiments=2, seed=seed,
                                      response_scale=response_scale)
    return wells, {"dose_unit": "uM", "response_scale": response_scale}


FAMILY = Family(
    name="dose_response",
    kind="dose_response",
    description="Hierarchical 4PL/3PL log-logistic dose-response (IC50) model; normalised or "
    "raw plate-reader signal with plate background and untreated signal learned jointly.",
    options=DoseResponseOptions,
    priors=DoseResponsePriors,
    model=model,
    arrays=arrays,
    deterministic_sites=DETERMINISTIC,
    init_values=init_values,
    posterior_dims=posterior_dims,
    summarize=summarize,
    simulate=simulate,
    prepare=prepare,
    validate_contrasts=validate_contrasts,
    observed=observed,
    describe=describe,
    contract_data=contract_data,
    headline=("IC50 (relative, posterior median and interval)", ("ic50", "ic50_fold_change")),
    extra_sites=extra_sites,
    plot=plot,
)
