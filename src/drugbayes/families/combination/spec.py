"""Options and priors of the ``combination`` family."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .._contract import StrictModel


class CombinationOptions(StrictModel):
    """Options of the ``combination`` family."""

    likelihood: Literal["normal", "student_t"] = "student_t"
    student_t_df: float = Field(4.0, gt=0)
    experiment_effects: bool = True
    fit_gamma: bool = False
    parameterization: Literal["centered", "noncentered", "auto"] = Field(
        "centered", description="coordinates of the monotherapy curves and beta: 'centered' "
        "(both centred), 'noncentered', or 'auto' (per member from the data: a curve centred "
        "where its drug alone lowers viability by more than 0.2 of untreated in a "
        "checkerboard, a combination's beta centred where both of its drugs do, the others "
        "non-centred: see combination.data.pinned); the model is the same, only the "
        "sampler's geometry changes")
    matrix_monotherapy_effects: bool = Field(
        False, description="per-matrix deviations of each drug's log10 C and maximal effect "
        "(for drugs tested in several matrices, e.g. an anchor on many plates)")
    plate_effects: Literal["auto", "on", "off"] = Field(
        "auto", description="a fitted plate effect on E0 (sum-to-zero on log E0 over plates; "
        "needs a plate column with several plates): 'auto' fits it where a matrix has wells on "
        "two or more plates")
    classic_zip: bool = Field(True, description="the classic ZIP of each combination in the "
                              "summary (zip_delta_classic)")
    interaction: Literal["musyc", "flexible"] = Field(
        "musyc", description="the combination surface: 'musyc' (the parametric MuSyC "
        "surface) or 'flexible' (MuSyC plus a smooth nonparametric interaction surface over "
        "the two log doses, a low-rank tensor-product basis with hierarchical shrinkage, zero "
        "where either dose is 0; see models/combination/flexible.toml)")
    compare_musyc: bool = Field(
        False, description="with interaction = 'flexible': the run also fits the MuSyC "
        "surface (same table, back-end and seed; about twice the run time) and says per "
        "matrix which surface predicts its wells better (PSIS-LOO): summary columns elpd_diff "
        "and better_fit, the table surface_comparison.csv (on by default in the "
        "combination/flexible preset)")


class CombinationPriors(StrictModel):
    """Prior scales (log10 C in decades, viability as a fraction of untreated, log = ln)."""

    log10_c_extra_sd: float = Field(1.0, gt=0, description="added to the half tested range")
    mono_log10_c_sd: float = Field(0.5, gt=0)
    log_hill_mean: float = 0.0
    log_hill_sd: float = Field(0.5, gt=0)
    mono_log_hill_sd: float = Field(0.3, gt=0)
    logit_bottom_mean: float = -1.0
    logit_bottom_sd: float = Field(1.5, gt=0)
    mono_logit_bottom_sd: float = Field(1.0, gt=0)
    log_top_sd: float = Field(0.1, gt=0, description="log E0 around the data's untreated level")
    rate_log_e0_sd: float = Field(0.5, gt=0, description="growth rates: log E0 (the "
                                  "untreated rate) around the plates' untreated median")
    beta_sd: float = Field(0.5, gt=0)
    cell_beta_sd: float = Field(0.3, gt=0)
    log_alpha_sd: float = Field(1.0, gt=0)
    cell_log_alpha_sd: float = Field(0.5, gt=0)
    log_gamma_sd: float = Field(0.5, gt=0)
    cell_log_gamma_sd: float = Field(0.3, gt=0)
    experiment_beta_sd: float = Field(0.1, gt=0)
    experiment_log_alpha_sd: float = Field(0.2, gt=0)
    experiment_log_top_sd: float = Field(0.05, gt=0)
    noise_sd: float = Field(0.2, gt=0, description="as a fraction of the untreated level")
    matrix_log10_c_sd: float = Field(0.2, gt=0, description="half-normal scale of the "
                                     "per-matrix log10 C deviations (decades)")
    matrix_logit_bottom_sd: float = Field(0.5, gt=0, description="half-normal scale of the "
                                          "per-matrix logit bottom deviations")
    plate_log_e0_sd: float = Field(0.1, gt=0, description="half-normal scale of the plate "
                                   "effects on log E0")
    interaction_sd: float = Field(0.2, gt=0, description="flexible interaction: half-normal "
                                  "scale of the global size of the interaction coefficients "
                                  "(fraction of E0); each combination's own scale is that "
                                  "times a half-normal(1) factor")


GRP = ("grp_log_top", "grp_log10_c_a", "grp_log10_c_b", "grp_log_hill_a", "grp_log_hill_b",
       "grp_logit_bottom_a", "grp_logit_bottom_b", "grp_beta", "grp_log_alpha12",
       "grp_log_alpha21", "grp_log_gamma12", "grp_log_gamma21")


MAT = ("mat_beta", "mat_log_alpha12", "mat_log_alpha21", "mat_log_top")


MAT_MONO = ("mat_log10_c_a", "mat_log10_c_b", "mat_logit_bottom_a", "mat_logit_bottom_b")
"""Per-matrix monotherapy parameters (with ``matrix_monotherapy_effects`` only)."""


DETERMINISTIC = GRP + MAT + MAT_MONO + ("mono_log10_c", "mono_log_hill", "mono_logit_bottom",
                              "plate_log_e0", "interaction_coef")


INTERACTION_KNOTS = 4
"""Basis functions per drug of the flexible interaction (``INTERACTION_KNOTS**2`` coefficients
per combination): enough for one bump or dip between the lowest and highest tested doses of a
6 x 6 checkerboard, few enough to stay a smooth surface on 25 combination wells."""


OPTIONAL_SITES = frozenset(MAT_MONO + ("plate_log_e0", "interaction_coef"))
"""Deterministic sites present only with their option and design (``matrix_monotherapy_effects``;
plate effects where the table has several plates; ``interaction = "flexible"``)."""


CENTERED_SITES = ("mono_log10_c", "mono_log_hill", "mono_logit_bottom", "grp_beta")


NAME = "combination"
DESCRIPTION = ("Bayesian MuSyC combination surface (viability) with hierarchical pooling of "
               "monotherapy curves, beta and log alpha across cell lines and experiments; Bliss, "
               "HSA and Loewe excess posteriors (positive = synergy).")
OPTIONS, PRIORS = CombinationOptions, CombinationPriors
HEADLINE = ("Synergy (positive = synergy; excess = null - combination viability)",
            ("beta", "log_alpha12", "log_alpha21", "bliss_excess", "hsa_excess",
             "loewe_excess"))
DEFAULT_PRESET = "combination/musyc_student_t"
DATA_KEYS = ("dose_unit", "response_scale", "min_doses", "rate_unit")
