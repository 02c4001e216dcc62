"""Family ``dose_response``: hierarchical 4PL / 3PL log-logistic IC50 model.

The package: :mod:`.spec` (options, priors), :mod:`.data` (model arrays and data summaries),
:mod:`.model` (prior terms, latents, likelihood), :mod:`.derived` (derived quantities, labelled
posterior), :mod:`.summary`, :mod:`.plots`, :mod:`.simulate`, :mod:`.grid` (the screen layout) and
:mod:`.blocks` (the posterior in blocks for the blocked back-end). This module assembles
:data:`FAMILY`.
"""

from __future__ import annotations

from ...inference.blocked.plan import PlanBuilder
from .._contract import Family
from . import blocks
from .data import arrays, contract_data, describe, extra_sites, informed_groups, prepare
from .derived import QUANTITY_UNITS, derived, observed, posterior_dims
from .model import init_values, latents, likelihood, model, prior_terms
from .plots import plot_dose_response
from .simulate import simulate_cli, simulate_dose_response
from .spec import DETERMINISTIC, DoseResponseOptions, DoseResponsePriors
from .summary import summarize_dose_response, validate_contrasts


def summarize(*args, spec=None, seed: int = 0, **kwargs):
    """:func:`.summary.summarize_dose_response` (no random draws: spec and seed unused)."""
    return summarize_dose_response(*args, **kwargs)


simulate = simulate_dose_response
plot = plot_dose_response

FAMILY = Family.assemble(
    globals(),
    name="dose_response",
    kind="dose_response",
    description="Hierarchical 4PL/3PL log-logistic dose-response (IC50) model; normalised or "
    "raw plate-reader signal with plate background and untreated signal learned jointly.",
    options=DoseResponseOptions,
    priors=DoseResponsePriors,
    deterministic_sites=DETERMINISTIC,
    headline=("IC50 (relative, posterior median and interval)", ("ic50", "ic50_fold_change")),
    default_preset="dose_response/hier_4pl",
    data_keys=("dose_unit", "response_scale", "min_doses"),
    blocks=PlanBuilder(build=blocks.build, problems=blocks.problems,
                       contract_data=blocks.contract_data),
)

__all__ = ["FAMILY", "QUANTITY_UNITS", "arrays", "contract_data", "derived", "describe",
           "DoseResponseOptions", "DoseResponsePriors", "extra_sites", "informed_groups",
           "init_values", "latents", "likelihood", "model", "observed", "posterior_dims",
           "prepare", "prior_terms", "simulate_cli", "validate_contrasts"]
