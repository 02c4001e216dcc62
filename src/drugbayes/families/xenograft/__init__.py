"""Family ``xenograft``: hierarchical tumour growth on log volume (exponential, Gompertz,
Simeoni, regression and regrowth, complete regression), per-mouse baseline and rate.

The package: :mod:`.spec` (options, priors), :mod:`.data` (model arrays, checks), :mod:`.model`
(latents, likelihood), :mod:`.derived` (labelled posterior, derived quantities),
:mod:`.mrecist`, :mod:`.summary` (summary table, contrasts, ``mice.csv``), :mod:`.plots`,
:mod:`.simulate`, :mod:`.blocks` (the posterior in blocks for the blocked back-end). This
module assembles :data:`FAMILY`. The growth curves themselves are in
:mod:`drugbayes.curves`.
"""

from __future__ import annotations

from ...curves import GROWTH_FORMS, growth_curve, log_volume
from ...inference.blocked.plan import PlanBuilder
from .._contract import Family, Spec
from . import blocks, spec
from .checks import units  # noqa: F401  (the Family field, taken by assemble)
from .data import arrays, check_spec, contract_data, describe, prepare
from .derived import observed, pointwise, posterior_dims
from .model import _obs_loglik, init_values, latents, likelihood, map_start, model
from .plots import plot_xenograft
from .simulate import simulate_cli, simulate_xenograft
from .spec import TIME_SCALE, XenograftOptions, XenograftPriors
from .summary import mouse_table, summarize_xenograft, validate_xenograft_contrasts


def summarize(*args, spec: Spec | None = None, **kwargs):
    """:func:`.summary.summarize_xenograft` with the spec's scale and growth form."""
    if spec is not None:
        kwargs.setdefault("scale", spec.options.scale)
        kwargs.setdefault("growth", spec.options.growth)
        kwargs.setdefault("threshold", spec.options.effect_threshold)
    return summarize_xenograft(*args, **kwargs)


def extra_tables(result) -> dict:
    """``mice.csv``: one row per mouse (see :func:`.summary.mouse_table`)."""
    return {"mice.csv": mouse_table(result.data, result.inference.samples,
                                    result.spec.options.growth, seed=result.seed,
                                    prob=result.interval_prob)}


def extra_sites(data) -> tuple[str, ...]:
    """One mouse per line: the growth-form parameters per arm group are deterministic there
    (a population value per arm plus line deviations), kept from MAP and SVI draws."""
    from .design import design_of

    if design_of(data).pdx:
        return ("log_linear_rate_10d", "log_regression_rate_10d", "logit_sensitive")
    return ()


simulate = simulate_xenograft
validate_contrasts = validate_xenograft_contrasts
plot = plot_xenograft

FAMILY = Family.assemble(globals(), spec,
                         blocks=PlanBuilder(build=blocks.build, problems=blocks.problems,
                                            contract_data=blocks.contract_data))

__all__ = ["FAMILY", "GROWTH_FORMS", "TIME_SCALE", "_obs_loglik", "arrays", "check_spec",
           "contract_data", "describe", "growth_curve", "init_values", "latents", "likelihood",
           "log_volume", "map_start", "model", "observed", "pointwise", "posterior_dims",
           "prepare", "simulate_cli", "XenograftOptions", "XenograftPriors"]
