"""Options and priors of the ``dose_response`` family."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .._contract import StrictModel


class DoseResponseOptions(StrictModel):
    """Options of the ``dose_response`` family."""

    curve: Literal["4pl", "3pl"] = "4pl"
    likelihood: Literal["normal", "student_t"] = "normal"
    student_t_df: float = Field(4.0, gt=0)
    experiment_effects: bool = True
    parameterization: Literal["auto", "centered", "noncentered"] = "auto"


class DoseResponsePriors(StrictModel):
    """Prior scales (log10 IC50 in decades, viability as a fraction of untreated; with growth
    rates the noise scale is a fraction of the untreated rate)."""

    log10_ic50_extra_sd: float = Field(1.0, gt=0, description="added to the half tested range")
    cell_line_sd: float = Field(1.0, gt=0)
    curve_ic50_sd: float = Field(0.5, gt=0)
    curve_ic50_prior: Literal["half_normal", "lognormal"] = Field(
        "half_normal", description="prior of the spread of curve log10 IC50s around drug and "
        "line: 'half_normal' (scale curve_ic50_sd) or 'lognormal' (median curve_ic50_sd, log "
        "sd curve_ic50_log_sd: keeps the spread away from 0 where few curves inform it, "
        "whose funnel a half-normal leaves to the sampler)")
    curve_ic50_log_sd: float = Field(0.75, gt=0)
    experiment_sd: float = Field(0.2, gt=0)
    log_hill_mean: float = 0.0
    log_hill_sd: float = Field(0.5, gt=0)
    curve_log_hill_sd: float = Field(0.3, gt=0)
    logit_bottom_mean: float = -1.5
    logit_bottom_sd: float = Field(1.5, gt=0)
    curve_logit_bottom_sd: float = Field(1.0, gt=0)
    log_top_sd: float = Field(0.1, gt=0)
    rate_log_e0_sd: float = Field(0.5, gt=0, description="growth rates: log top (the "
                                  "untreated rate) around the group's untreated median")
    noise_sd: float = Field(0.2, gt=0)
    plate_log_signal_sd: float = Field(0.3, gt=0)


DETERMINISTIC = ("grp_log10_ic50", "grp_log_hill", "grp_logit_bottom", "grp_log_top")


NAME = "dose_response"
DESCRIPTION = ("Hierarchical 4PL/3PL log-logistic dose-response (IC50) model; normalised or raw "
               "plate-reader signal with plate background and untreated signal learned jointly.")
OPTIONS, PRIORS = DoseResponseOptions, DoseResponsePriors
HEADLINE = ("IC50 (relative; GEC50 with GR values), posterior median and interval",
            ("ic50", "ic50_fold_change", "gec50"))
DEFAULT_PRESET = "dose_response/hier_4pl"
DATA_KEYS = ("dose_unit", "response_scale", "min_doses", "rate_unit")
