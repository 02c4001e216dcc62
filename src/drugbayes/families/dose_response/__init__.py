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
from . import blocks, spec
from .checks import units  # noqa: F401  (the Family field, taken by assemble)
from .data import arrays, contract_data, describe, extra_sites, informed_groups, prepare
from .derived import QUANTITY_UNITS, derived, observed, posterior_dims
from .model import init_values, latents, likelihood, model, prior_terms
from .plots import plot_dose_response
from .simulate import simulate_cli, simulate_dose_response
from .spec import DoseResponseOptions, DoseResponsePriors
from .summary import summarize_dose_response, validate_contrasts


def summarize(*args, spec=None, seed: int = 0, **kwargs):
    """:func:`.summary.summarize_dose_response` (no random draws: spec and seed unused)."""
    return summarize_dose_response(*args, **kwargs)


simulate = simulate_dose_response
plot = plot_dose_response

FAMILY = Family.assemble(globals(), spec,
                         blocks=PlanBuilder(build=blocks.build, problems=blocks.problems,
                                            contract_data=blocks.contract_data))

__all__ = ["FAMILY", "QUANTITY_UNITS", "arrays", "contract_data", "derived", "describe",
           "DoseResponseOptions", "DoseResponsePriors", "extra_sites", "informed_groups",
           "init_values", "latents", "likelihood", "model", "observed", "posterior_dims",
           "prepare", "prior_terms", "simulate_cli", "validate_contrasts"]
