"""Family ``xenograft``: hierarchical tumour growth on log volume (exponential, Gompertz,
Simeoni, regression and regrowth, complete regression), per-mouse baseline and rate.

The package: :mod:`.spec` (options, priors), :mod:`.data` (model arrays, checks), :mod:`.model`
(latents, likelihood), :mod:`.derived` (labelled posterior, derived quantities),
:mod:`.mrecist`, :mod:`.summary` (summary table, contrasts, ``mice.csv``), :mod:`.plots`,
:mod:`.simulate`. This module assembles :data:`FAMILY`. The growth curves themselves are in
:mod:`drugbayes.curves`.
"""

from __future__ import annotations

from ...curves import GROWTH_FORMS, growth_curve, log_volume
from .._contract import Family, Spec
from .data import arrays, check_spec, contract_data, describe, prepare
from .derived import observed, pointwise, posterior_dims
from .model import _obs_loglik, init_values, latents, likelihood, map_start, model
from .plots import plot_xenograft
from .simulate import simulate_cli, simulate_xenograft
from .spec import DETERMINISTIC, TIME_SCALE, XenograftOptions, XenograftPriors
from .summary import mouse_table, summarize_xenograft, validate_xenograft_contrasts


def summarize(*args, spec: Spec | None = None, **kwargs):
    """:func:`.summary.summarize_xenograft` with the spec's scale and growth form."""
    if spec is not None:
        kwargs.setdefault("scale", spec.options.scale)
        kwargs.setdefault("growth", spec.options.growth)
    return summarize_xenograft(*args, **kwargs)


def extra_tables(result) -> dict:
    """``mice.csv``: one row per mouse (see :func:`.summary.mouse_table`)."""
    return {"mice.csv": mouse_table(result.data, result.inference.samples,
                                    result.spec.options.growth, seed=result.seed)}


FAMILY = Family(
    name="xenograft",
    kind="xenograft",
    description="Hierarchical xenograft tumour growth (exponential or Gompertz on log volume) "
    "with correlated per-mouse baseline and rate, arm and experiment effects, left-censored "
    "volumes below the detection limit; growth rates, T/C, TGI, time to volume, in-vivo "
    "Bliss/HSA synergy.",
    options=XenograftOptions,
    priors=XenograftPriors,
    model=model,
    arrays=arrays,
    deterministic_sites=DETERMINISTIC,
    init_values=init_values,
    posterior_dims=posterior_dims,
    summarize=summarize,
    simulate=simulate_xenograft,
    prepare=prepare,
    validate_contrasts=validate_xenograft_contrasts,
    observed=observed,
    describe=describe,
    contract_data=contract_data,
    map_start=map_start,
    check_spec=check_spec,
    pointwise=pointwise,
    extra_tables=extra_tables,
    headline=("growth rates and treatment effects (posterior median and interval)",
              ("growth_rate", "regrowth_rate", "growth_rate_difference", "tgi",
               "p_complete_regression", "bliss_excess", "hsa_excess")),
    plot=plot_xenograft,
    default_preset="xenograft/exponential",
    data_keys=("volume_constant", "control_arm", "detection_limit", "caliper_resolution",
               "start_day", "tc_day", "target_volume"),
    simulate_cli=simulate_cli,
)

__all__ = ["FAMILY", "GROWTH_FORMS", "TIME_SCALE", "XenograftOptions", "XenograftPriors",
           "_obs_loglik", "growth_curve", "latents", "likelihood", "log_volume", "model"]
