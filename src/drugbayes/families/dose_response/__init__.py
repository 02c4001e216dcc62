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
    simulate=simulate_dose_response,
    prepare=prepare,
    validate_contrasts=validate_contrasts,
    observed=observed,
    describe=describe,
    contract_data=contract_data,
    headline=("IC50 (relative, posterior median and interval)", ("ic50", "ic50_fold_change")),
    extra_sites=extra_sites,
    plot=plot_dose_response,
    default_preset="dose_response/hier_4pl",
    data_keys=("dose_unit", "response_scale", "min_doses"),
    simulate_cli=simulate_cli,
    blocks=PlanBuilder(build=blocks.build, problems=blocks.problems,
                       contract_data=blocks.contract_data),
)

__all__ = ["FAMILY", "QUANTITY_UNITS", "DoseResponseOptions", "DoseResponsePriors", "arrays",
           "derived", "informed_groups", "latents", "likelihood", "model", "prior_terms"]
