"""The ``dose_response`` NumPyro model, split into prior terms, latents and likelihood.

Structure (log10 doses molar, centred per drug on the middle of its tested range):

- drug level: ``mu_log10_ic50[drug] ~ Normal(0, half_range[drug] + log10_ic50_extra_sd)``,
  ``mu_log_hill[drug]``, ``mu_logit_bottom[drug]``;
- cell-line effects on log10 IC50, sum-to-zero over cell lines (shared across drugs), so the drug
  mean is the average cell line and the two do not trade off;
- cell line x drug deviations of log10 IC50, log Hill and logit bottom (non-centred or centred
  per member, see :func:`drugbayes.families._hierarchy.mixed_effect`);
- optional experiment effects on log10 IC50 (sum-to-zero over experiments);
- ``top`` fixed at 1 (``curve = "3pl"``) or per group on the log scale (``"4pl"``);
- growth rates (``response_scale = "rate"``): the top is the untreated rate E0, its log
  centred on the group's untreated median rate (sd ``rate_log_e0_sd``, whatever ``curve``
  says), and the bottom as a fraction of the top lies in ``(bottom_lower, 1)`` with
  ``bottom_lower < 0`` from the data (:func:`drugbayes.data.rates.rate_bottom_lower`), so a
  drug that kills cells has a negative maximal rate. Rates enter the model divided by the
  table's median untreated rate (``response_ref``), so every scale (noise included) is a
  fraction of it, as with viability. GR values (``"gr"``): top 1, bottom in ``(-1, 1)``
  (GRinf);
- Normal or Student-t wells; with raw plate-reader signal the plate background (from blank wells)
  and the untreated signal per plate and cell line (from vehicle wells) are parameters:
  ``signal = background[plate] + untreated[plate, cell_line] * viability``.

Levels with a single member collapse (no parameters are created for them).

:func:`prior_terms` is the one place the priors are written; :func:`latents` samples from them
and :func:`likelihood` gives the wells' distribution given per-well curve parameters (any
layout that broadcasts against the doses), so the blocked (screen) back-end evaluates the very
same densities on its own grid.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import nn

from ...curves import log_logistic, musyc_bottom_fraction
from .._contract import Observed, Spec, sample_observed
from .._hierarchy import mixed_effect, zero_sum_effect

CURVE_SCALES = ("curve_log10_ic50", "curve_log_hill", "curve_logit_bottom")
"""The curve-level deviations with a learned scale ``sigma_<name>``."""


def prior_terms(spec: Spec, a: dict) -> dict[str, dist.Distribution]:
    """Every prior of the family, by the name of the site (or scale) it applies to.

    Drug means (``mu_*``, batch shape ``[drug]``), the half-normal scales of the cell-line effect
    and of the curve-level deviations (``sigma_*``), the per-curve log top (``log_top``), the
    experiment effects and the well noise (``sigma``). The NumPyro model and the blocked
    back-end's plan both read them here.
    """
    p = spec.priors
    lower = float(a.get("bottom_lower", 0.0))
    # rates and GR values: the drug-level bottom is centred on 0 (cytostatic), i.e.
    # logit((0 - lower) / (1 - lower)) = log(-lower)
    b_centre = float(np.log(-lower)) if lower < 0 else p.logit_bottom_mean
    rate = a.get("is_rate", False)
    return {
        "mu_log10_ic50": dist.Normal(0.0, jnp.asarray(a["half_range"]) + p.log10_ic50_extra_sd),
        "mu_log_hill": dist.Normal(p.log_hill_mean, p.log_hill_sd),
        "mu_logit_bottom": dist.Normal(b_centre, p.logit_bottom_sd),
        "sigma_cell_line": dist.HalfNormal(p.cell_line_sd),
        "sigma_curve_log10_ic50": (
            dist.LogNormal(float(np.log(p.curve_ic50_sd)), p.curve_ic50_log_sd)
            if p.curve_ic50_prior == "lognormal" else dist.HalfNormal(p.curve_ic50_sd)),
        "sigma_curve_log_hill": dist.HalfNormal(p.curve_log_hill_sd),
        "sigma_curve_logit_bottom": dist.HalfNormal(p.curve_logit_bottom_sd),
        "log_top": dist.Normal(0.0, p.rate_log_e0_sd if rate else p.log_top_sd),
        "experiment_effect": dist.ZeroSumNormal(p.experiment_sd,
                                                event_shape=(max(a["n_exp"], 1),)),
        "sigma": dist.HalfNormal(p.noise_sd),
        "sigma_plate_log_signal": dist.HalfNormal(p.plate_log_signal_sd),
    }


def obs_dist(loc, scale, spec: Spec) -> dist.Distribution:
    """The distribution of one well given its mean and the noise scale."""
    if spec.options.likelihood == "student_t":
        return dist.StudentT(spec.options.student_t_df, loc, scale)
    return dist.Normal(loc, scale)


def cen_all(n: int, par: str) -> np.ndarray:
    """All-centred or all-non-centred mask."""
    return np.full(n, par == "centered")


def auto_masks(a: dict) -> dict[str, np.ndarray]:
    """Per-curve coordinates of ``parameterization = "auto"`` (True: centred), by member.

    ``ic50`` and ``bottom``: centred where the curve's wells pin the member
    (:func:`.data.informed_groups`). ``hill``: never centred. A curve whose wells pin its IC50
    pins its Hill slope much less (only the few doses inside the transition inform it), and a
    centred log Hill under a half-normal spread formed a funnel with
    ``sigma_curve_log_hill`` near 0 (joint calibration, seeds 403 and 408: every divergence
    at spreads of 0.01-0.02 against 0.13-0.17 in the other draws). The model is the same,
    only its coordinates differ.
    """
    n = len(a["informed_ic50"])
    return {"ic50": np.asarray(a["informed_ic50"], bool), "hill": np.zeros(n, bool),
            "bottom": np.asarray(a["informed_bottom"], bool)}


def latents(spec: Spec, a: dict, shared: dict | None = None) -> dict:
    """Sample the hierarchy (the contract's ``latents``: ``a`` from :func:`.data.arrays`, no
    ``shared`` parameters used); return the per-group curve parameters and the
    noise.

    Returns
    -------
    dict
        ``grp_log10_ic50``, ``grp_log_hill``, ``grp_logit_bottom``, ``grp_log_top`` (per
        group), ``experiment_effect`` (per experiment), ``sigma``; with raw signal also
        ``background`` (per plate) and ``untreated_signal`` (per plate x cell line).
    """
    pri = prior_terms(spec, a)
    n_cell, n_drug, n_group = a["n_cell"], a["n_drug"], a["n_group"]
    with numpyro.plate("drug", n_drug):
        mu_ic50 = numpyro.sample("mu_log10_ic50", pri["mu_log10_ic50"])
        mu_hill = numpyro.sample("mu_log_hill", pri["mu_log_hill"])
        mu_bottom = numpyro.sample("mu_logit_bottom", pri["mu_logit_bottom"])
    par = spec.options.parameterization
    cen = par == "centered"
    cell_cen = cen or (par == "auto" and a["cell_centered_auto"])
    cell_eff = zero_sum_effect("cell_line", n_cell, pri["sigma_cell_line"], cell_cen)
    many_cells = n_cell > 1
    gdrug, gcell = a["group_drug"], a["group_cell"]

    def member(name, loc, active, informed):
        if not active:
            return loc
        sigma = numpyro.sample(f"sigma_{name}", pri[f"sigma_{name}"])
        mask = {"centered": np.ones(n_group, bool), "noncentered": np.zeros(n_group, bool),
                "auto": informed}[par]
        return mixed_effect(name, loc, sigma, mask)

    loc_ic50 = mu_ic50[gdrug] + cell_eff[gcell]
    g_ic50_v = member("curve_log10_ic50", loc_ic50, many_cells and n_drug > 1,
                      a["informed_ic50"])
    # the Hill slope's spread: non-centred under "auto" (see :func:`auto_masks`)
    g_hill_v = member("curve_log_hill", mu_hill[gdrug], many_cells, auto_masks(a)["hill"])
    g_bottom_v = member("curve_logit_bottom", mu_bottom[gdrug], many_cells,
                        a["informed_bottom"])
    out = {"grp_log10_ic50": numpyro.deterministic("grp_log10_ic50", g_ic50_v),
           "grp_log_hill": numpyro.deterministic("grp_log_hill", g_hill_v),
           "grp_logit_bottom": numpyro.deterministic("grp_logit_bottom", g_bottom_v)}
    if a.get("is_rate", False):  # the untreated rate: always fitted, around the data's
        z_top = numpyro.sample("z_log_top", dist.Normal(0.0, 1.0).expand([n_group]).to_event(1))
        out["grp_log_top"] = numpyro.deterministic(
            "grp_log_top", jnp.asarray(a["log_top_ref"]) + pri["log_top"].scale * z_top)
    elif spec.options.curve == "4pl" and not a.get("is_gr", False):
        z_top = numpyro.sample("z_log_top", dist.Normal(0.0, 1.0).expand([n_group]).to_event(1))
        out["grp_log_top"] = numpyro.deterministic("grp_log_top",
                                                   pri["log_top"].scale * z_top)
    else:
        out["grp_log_top"] = numpyro.deterministic("grp_log_top", jnp.zeros(n_group))
    # experiment shifts of log10 IC50: sum-to-zero with a fixed scale (2-3 experiments cannot
    # identify a learned scale, and a learned one only adds a funnel)
    if spec.options.experiment_effects and a["n_exp"] > 1:
        out["experiment_effect"] = numpyro.sample("experiment_effect", pri["experiment_effect"])
    else:
        out["experiment_effect"] = jnp.zeros(a["n_exp"])
    out["sigma"] = numpyro.sample("sigma", pri["sigma"])
    if a["raw"]:
        out.update(_plate_latents(a, par, cen, pri["sigma_plate_log_signal"]))
    return out


def _plate_latents(a: dict, par: str, cen: bool, scale_prior) -> dict:
    """Raw signal: plate background and untreated signal, in units of the median untreated."""
    log_bg_mu = numpyro.sample("log_background_mean", dist.Normal(a["log_blank_guess"], 1.0))
    log_bg_sd = numpyro.sample("log_background_sd", scale_prior)
    log_bg = mixed_effect("log_background", jnp.full(a["n_plate"], log_bg_mu), log_bg_sd,
                          a["informed_background"] if par == "auto"
                          else cen_all(a["n_plate"], par))
    background = numpyro.deterministic("background", jnp.exp(log_bg))
    log_u_mu = numpyro.sample("log_untreated_mean", dist.Normal(0.0, 0.5))
    log_u_sd = numpyro.sample("log_untreated_sd", scale_prior)
    log_u = mixed_effect("log_untreated", jnp.full(a["n_pc"], log_u_mu), log_u_sd,
                         a["informed_untreated"] if par == "auto" else cen_all(a["n_pc"], par))
    untreated = numpyro.deterministic("untreated_signal", jnp.exp(log_u))
    return {"background": background, "untreated_signal": untreated}


def well_params(lat: dict, a: dict) -> dict:
    """Per-curve parameters of the model's ``[curve, point]`` layout (broadcast over points).

    ``log10_ic50`` includes the curve's experiment shift; with raw signal, ``background`` and
    ``untreated`` are per well.
    """
    cg = a["curve_group"]
    out = {"log10_ic50": (lat["grp_log10_ic50"][cg]
                          + lat["experiment_effect"][a["curve_exp"]])[:, None],
           "log_hill": lat["grp_log_hill"][cg][:, None],
           "logit_bottom": lat["grp_logit_bottom"][cg][:, None],
           "log_top": lat["grp_log_top"][cg][:, None],
           "sigma": lat["sigma"]}
    if a["raw"]:
        pc_plate = jnp.asarray(a["pc_plate"])
        point_pc = jnp.asarray(a["point_pc"])
        bg, un = lat["background"], lat["untreated_signal"]
        out.update(background=bg[pc_plate][point_pc], untreated=un[point_pc],
                   blank_background=bg[jnp.asarray(a["blank_plate"])],
                   vehicle_signal=bg[pc_plate[jnp.asarray(a["vehicle_pc"])]]
                   + un[jnp.asarray(a["vehicle_pc"])])
    return out


def viability(params: dict, x, is_zero, lower: float = 0.0):
    """The 4PL response of every well from its curve parameters (:func:`curves.log_logistic`);
    the bottom as a fraction of the top is ``lower + (1 - lower) sigmoid(logit_bottom)``
    (:func:`curves.musyc_bottom_fraction`: ``lower = 0`` for viability, < 0 for growth rates
    and GR values)."""
    bfrac = (nn.sigmoid(params["logit_bottom"]) if lower == 0.0
             else musyc_bottom_fraction(params["logit_bottom"], lower))
    return log_logistic(jnp.asarray(x), params["log10_ic50"], jnp.exp(params["log_hill"]),
                        jnp.exp(params["log_top"]), bfrac, is_zero=jnp.asarray(is_zero))


def likelihood(params: dict, a: dict, spec: Spec) -> dict[str, Observed]:
    """Distribution of the observed wells given per-well curve parameters.

    Parameters
    ----------
    params : dict
        ``log10_ic50``, ``log_hill``, ``logit_bottom``, ``log_top`` broadcastable against
        ``a["x"]``, and ``sigma``; with raw signal (``a["raw"]``) also ``background`` and
        ``untreated`` per well and ``blank_background`` / ``vehicle_signal`` per control well.
    a : dict
        ``x``, ``is_zero``, ``y``, ``mask`` (any layout: ``[curve, point]`` in the model,
        ``[cell_line, drug, point]`` in the screen plan), and the control wells with raw signal.
    spec : Spec

    Returns
    -------
    dict of Observed
        ``y`` (masked), and with raw signal ``y_blank`` and ``y_vehicle``.
    """
    v = viability(params, a["x"], a["is_zero"], float(a.get("bottom_lower", 0.0)))
    sigma = params["sigma"]
    mask = jnp.asarray(a["mask"])
    if not a.get("raw", False):
        return {"y": Observed(obs_dist(v, sigma, spec), jnp.asarray(a["y"]), mask)}
    mean_sig = params["background"] + params["untreated"] * v
    return {"y": Observed(obs_dist(mean_sig, sigma, spec), jnp.asarray(a["y"]), mask),
            "y_blank": Observed(obs_dist(params["blank_background"], sigma, spec),
                                jnp.asarray(a["blank_y"])),
            "y_vehicle": Observed(obs_dist(params["vehicle_signal"], sigma, spec),
                                  jnp.asarray(a["vehicle_y"]))}


def model(a: dict, spec: Spec, observed: bool = True) -> None:
    """NumPyro model of the ``dose_response`` family.

    ``a`` is the output of :func:`.data.arrays`; with ``observed=False`` the responses are
    not conditioned on (prior or posterior predictive draws).
    """
    lat = latents(spec, a)
    sample_observed(likelihood(well_params(lat, a), a, spec), observed)


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
    masks = {"centered": {k: np.ones(n_group, bool) for k in ("ic50", "hill", "bottom")},
             "auto": auto_masks(a)}[par]
    for site, det, key in (("raw_curve_log10_ic50", "grp_log10_ic50", "ic50"),
                           ("raw_curve_log_hill", "grp_log_hill", "hill"),
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
