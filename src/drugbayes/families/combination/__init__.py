"""Family ``combination``: Bayesian MuSyC with Bliss, HSA, Loewe and ZIP posteriors.

The package: :mod:`.spec` (options, priors), :mod:`.data` (model arrays), :mod:`.model`
(latents, likelihood), :mod:`.surfaces` (float64 MuSyC surface and the null models per draw),
:mod:`.zip` (the classic ZIP delta), :mod:`.derived` (derived quantities, labelled posterior),
:mod:`.summary`, :mod:`.plots`, :mod:`.simulate`, :mod:`.blocks` (the posterior in blocks
for the blocked back-end). This module assembles :data:`FAMILY`. See
:mod:`.model` for the model's structure and sign conventions.
"""

from __future__ import annotations

from ...inference.blocked.plan import PlanBuilder
from .._contract import Family
from . import blocks, spec
from .checks import units  # noqa: F401  (the Family field, taken by assemble)
from .compare import compare_surfaces as compare_reference  # noqa: F401  (Family fields)
from .compare import reference_model  # noqa: F401
from .compare import with_better_fit as with_comparison  # noqa: F401
from .data import arrays, contract_data, describe, extra_sites, prepare
from .derived import QUANTITY_ORDER, QUANTITY_UNITS, derived, observed, pooled, posterior_dims
from .model import init_values, latents, likelihood, model
from .plots import plot_combination
from .simulate import simulate, simulate_cli, simulate_wells, true_excess
from .spec import CombinationOptions, CombinationPriors
from .summary import summarize, validate_contrasts
from .surfaces import bliss_null, hill_fraction, hsa_null, loewe_null, musyc_surface
from .zip import zip_delta_classic, zip_delta_classic_data

plot = plot_combination

FAMILY = Family.assemble(globals(), spec,
                         blocks=PlanBuilder(build=blocks.build, problems=blocks.problems,
                                            contract_data=blocks.contract_data))

__all__ = ["FAMILY", "QUANTITY_ORDER", "QUANTITY_UNITS", "arrays", "bliss_null",
           "CombinationOptions", "CombinationPriors", "contract_data", "derived", "describe",
           "extra_sites", "hill_fraction", "hsa_null", "init_values", "latents", "likelihood",
           "loewe_null", "model", "musyc_surface", "observed", "pooled", "posterior_dims",
           "prepare", "simulate", "simulate_cli", "simulate_wells", "summarize", "surfaces",
           "true_excess", "validate_contrasts", "zip_delta_classic", "zip_delta_classic_data"]
