"""Units of the ``dose_response`` family's per-unit checks: a curve group (cell line x drug)."""

from __future__ import annotations

import jax

from .._contract import Spec, UnitChecks


def units(data, spec: Spec) -> UnitChecks:
    """Groups (cell line x drug, every experiment's curve) as units; their treated wells
    (``y``) make the discrepancy (raw-signal control wells are per plate and left out)."""
    from .model import latents, likelihood, well_params

    n = data.n_groups

    def log_lik(a: dict, spec: Spec):
        ll = likelihood(well_params(latents(spec, a), a), a, spec)["y"].log_prob().sum(-1)
        return jax.ops.segment_sum(ll, a["curve_group"], num_segments=n)

    keys = [{"cell_line": data.cell_lines[c], "drug": data.drugs[d]}
            for c, d in zip(data.group_cell, data.group_drug)]
    sites = ("raw_curve_log10_ic50", "raw_curve_log_hill", "raw_curve_logit_bottom",
             "z_log_top")
    labels = [f"{k['cell_line']}|{k['drug']}" for k in keys]
    return UnitChecks("curve", labels, keys, log_lik, {"y": "y"}, None, sites)
