"""Family ``combination``: Bayesian MuSyC with Bliss, HSA, Loewe and ZIP posteriors.

The package: :mod:`.spec` (options, priors), :mod:`.data` (model arrays), :mod:`.model`
(latents, likelihood), :mod:`.surfaces` (float64 MuSyC surface and the null models per draw),
:mod:`.zip` (the classic ZIP delta), :mod:`.derived` (derived quantities, labelled posterior),
:mod:`.summary`, :mod:`.plots`, :mod:`.simulate`. This module assembles :data:`FAMILY`. See
:mod:`.model` for the model's structure and sign conventions.
"""

from __future__ import annotations

from .._contract import Family
from .data import arrays, contract_data, describe, extra_sites, prepare
from .derived import QUANTITY_ORDER, QUANTITY_UNITS, derived, observed, pooled, posterior_dims
from .model import init_values, latents, likelihood, model
from .plots import plot_combination
from .simulate import simulate, simulate_cli, simulate_wells, true_excess
from .spec import DETERMINISTIC, CombinationOptions, CombinationPriors
from .summary import summarize, validate_contrasts
from .surfaces import bliss_null, hill_fraction, hsa_null, loewe_null, musyc_surface
from .zip import zip_delta_classic, zip_delta_classic_data

FAMILY = Family(
    name="combination",
    kind="combination",
    description="Bayesian MuSyC combination surface (viability) with hierarchical pooling of "
    "monotherapy curves, beta and log alpha across cell lines and experiments; Bliss, HSA and "
    "Loewe excess posteriors (positive = synergy).",
    options=CombinationOptions,
    priors=CombinationPriors,
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
    headline=("Synergy (positive = synergy; excess = null - combination viability)",
              ("beta", "log_alpha12", "log_alpha21", "bliss_excess", "hsa_excess",
               "loewe_excess")),
    extra_sites=extra_sites,
    plot=plot_combination,
    default_preset="combination/musyc",
    data_keys=("dose_unit", "response_scale", "min_doses"),
    simulate_cli=simulate_cli,
)

__all__ = ["FAMILY", "QUANTITY_ORDER", "QUANTITY_UNITS", "CombinationOptions", "CombinationPriors",
           "bliss_null", "derived", "hill_fraction", "hsa_null", "latents", "likelihood",
           "loewe_null", "model", "musyc_surface", "pooled", "simulate", "simulate_wells",
           "surfaces", "true_excess", "zip_delta_classic", "zip_delta_classic_data"]
