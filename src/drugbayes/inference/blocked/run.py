"""The blocked back-end as ``inference.method = "screen"``: the family's plan, sampled."""

from __future__ import annotations

from typing import Any

from ..settings import InferenceResult
from .driver import SamplerSettings, check_host_memory, sample


def settings_from(settings: Any) -> SamplerSettings:
    """The sampler settings of an ``[inference]`` table (``screen_*`` keys)."""
    return SamplerSettings(num_chains=settings.num_chains, num_warmup=settings.num_warmup,
                           num_samples=settings.num_samples, thinning=settings.thinning,
                           unit_steps=settings.screen_curve_steps,
                           group_steps=settings.screen_drug_steps,
                           global_steps=settings.screen_global_steps,
                           target_accept=settings.screen_target_accept,
                           mode_jump=settings.screen_mode_jump)


def run(arrays: dict, spec: Any, settings: Any, rng_seed: int) -> InferenceResult:
    """Fit ``spec`` to the family's model arrays with the family's plan.

    Returns draws under the family's site names, in the family's order of units.
    """
    from ...families import get_family  # the families import the engine, not the reverse

    builder = get_family(spec.family).blocks
    if builder is None:
        raise ValueError(f"family {spec.family!r} has no blocked plan")
    plan, host = builder.build(spec, arrays)
    check_host_memory(plan.n_units(host), settings.num_chains, settings.num_samples,
                      plan.host_bytes_per_unit_draw, plan.unit_label)
    from .. import checkpoint

    cfg = settings_from(settings)
    fit = sample(plan, host, cfg, seed=rng_seed, shard=settings.screen_shard, summarize=(),
                 checkpoint=checkpoint.current(), checkpoint_every=settings.checkpoint_every)
    samples = plan.to_sites(fit.globals, fit.units, host)
    acc_blocks = [f"accept_{b}" for b in plan.global_blocks() if f"accept_{b}" in fit.globals]
    stats = {"accept_prob": fit.globals[f"accept_{plan.unit_label}"]}
    if acc_blocks:
        stats["accept_prob_global"] = fit.globals[acc_blocks[-1]]
    return InferenceResult("screen", samples, stats, fit.timings, fit.info)
