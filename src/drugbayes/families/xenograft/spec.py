"""Options and priors of the ``xenograft`` family."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from .._contract import StrictModel


class XenograftOptions(StrictModel):
    """Options of the ``xenograft`` family."""

    growth: Literal["exponential", "gompertz", "simeoni", "regrowth"] = "exponential"
    scale: Literal["log", "log1p"] = "log"
    arm_pooling: bool = True
    experiment_effects: bool = True
    parameterization: Literal["auto", "noncentered", "centered", "mixed"] = Field(
        "auto", description="coordinates of the per-mouse (baseline, rate) effects: 'auto' "
        "(centred where the mice's own data pin them, non-centred otherwise), 'centered', "
        "'noncentered', or 'mixed' (as 'auto', but where centred only each mouse's level at "
        "the mean measurement time is centred, its rate deviation from the arm non-centred: "
        "no funnel when the mouse rate spread is near 0; the joint family's default)")
    cure: bool = False
    cure_arms: list[str] | None = Field(
        None, description="arms with a cure component (default: every arm but the control)")
    observation: Literal["auto", "volume", "calipers"] = "auto"
    effect_threshold: float = Field(
        0.01, ge=0, description="p_effect_above_threshold = P(control rate - treated rate > "
        "this), 1/day")


class XenograftPriors(StrictModel):
    """Prior scales (rates per day, baselines on the natural-log volume scale)."""

    rate_mean: float = Field(0.05, description="prior mean of a cell line's growth rate, 1/day")
    rate_sd: float = Field(0.1, gt=0)
    arm_rate_sd: float = Field(0.05, gt=0, description="half-normal scale of the arm spread")
    effect_sd: float = Field(0.1, gt=0, description="one mouse per line: prior sd of a "
                             "treatment's population effect on the growth rate, 1/day")
    line_effect_sd: float = Field(0.05, gt=0, description="one mouse per line: half-normal "
                                  "scale of the between-line sd of a treatment effect, 1/day")
    line_curve_sd: float = Field(1.0, gt=0, description="one mouse per line: half-normal scale "
                                 "of the between-line sd of regression, sensitivity and "
                                 "Simeoni parameters (log or logit scale)")
    baseline_sd: float = Field(1.5, gt=0, description="arm baseline around the data's median")
    mouse_baseline_sd: float = Field(0.5, gt=0)
    mouse_rate_sd: float = Field(0.03, gt=0)
    mouse_corr_eta: float = Field(2.0, gt=0, description="LKJ concentration")
    experiment_baseline_sd: float = Field(0.2, gt=0)
    experiment_rate_sd: float = Field(0.01, gt=0)
    noise_sd: float = Field(0.3, gt=0)
    log_deceleration_mean: float = Field(-3.5, description="Gompertz log beta, beta in 1/day")
    log_deceleration_sd: float = Field(1.0, gt=0)
    log_linear_rate_mean: float = Field(
        np.log(50.0), description="Simeoni: log of the linear growth rate, mm3/day")
    log_linear_rate_sd: float = Field(1.5, gt=0)
    log_regression_rate_mean: float = Field(
        np.log(0.1), description="regrowth/cure: log of the regression rate d, 1/day")
    log_regression_rate_sd: float = Field(1.0, gt=0)
    logit_sensitive_mean: float = Field(0.0, description="regrowth: logit sensitive fraction")
    logit_sensitive_sd: float = Field(3.0, gt=0)
    cure_a: float = Field(1.0, gt=0, description="Beta(a, b) prior of an arm's cure fraction")
    cure_b: float = Field(1.0, gt=0)
    caliper_share_a: float = Field(
        1.0, gt=0, description="Beta(a, b) prior of the caliper error's share of the log-volume "
        "variance, 5 sigma_caliper^2 / (sigma^2 + 5 sigma_caliper^2)")
    caliper_share_b: float = Field(1.0, gt=0)
    aspect_mean: float = Field(0.3, description="prior mean of log(length / width)")
    aspect_sd: float = Field(0.3, gt=0, description="half-normal scale of its spread")


TIME_SCALE = 10.0
"""Rates are sampled per 10 days (values of order 1 for the optimiser and the sampler) and
reported per day; sites sampled in those units end in ``_10d``."""


DETERMINISTIC = ("grp_rate", "grp_baseline", "grp_deceleration", "mouse_rate",
                 "mouse_baseline", "sd_mouse_baseline", "sd_mouse_rate", "corr_mouse",
                 "grp_linear_rate", "grp_regression_rate", "grp_sensitive_fraction",
                 "grp_cure_fraction", "sigma", "sigma_caliper", "treatment_effect",
                 "sd_line_effect")


OPTIONAL_SITES = frozenset({"grp_linear_rate", "grp_regression_rate", "grp_sensitive_fraction",
                            "grp_cure_fraction", "sigma_caliper", "treatment_effect",
                            "sd_line_effect"})
"""Deterministic sites that exist only with some options (growth form, cure, calipers) or
designs (one mouse per line: treatment effects)."""


NAME = "xenograft"
DESCRIPTION = ("Hierarchical xenograft tumour growth (exponential or Gompertz on log volume) with "
               "correlated per-mouse baseline and rate, arm and experiment effects, left-censored "
               "volumes below the detection limit; growth rates, T/C, TGI, time to volume, "
               "in-vivo Bliss/HSA synergy.")
OPTIONS, PRIORS = XenograftOptions, XenograftPriors
HEADLINE = ("growth rates and treatment effects (posterior median and interval; T/C and TGI "
            "at tc_day, by default the median last day the control mice were measured)",
            ("growth_rate", "regrowth_rate", "growth_rate_difference", "tgi", "sd_line_effect",
             "log_growth_rate_ratio", "p_complete_regression", "bliss_excess", "hsa_excess"))
DEFAULT_PRESET = "xenograft/exponential"
DATA_KEYS = ("volume_constant", "control_arm", "detection_limit", "caliper_resolution",
             "start_day", "tc_day", "target_volume", "select")
