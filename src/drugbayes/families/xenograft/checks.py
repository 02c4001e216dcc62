"""Units of the ``xenograft`` family's per-unit checks: a mouse (its whole series)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._contract import Spec, UnitChecks


def units(data, spec: Spec) -> UnitChecks | None:
    """Mice as units, scored by their log-likelihood (the cure mixture marginalised).

    ``hold_out`` masks mice out for K-fold cross-validation by mouse. Replicated series are
    log volumes (``y`` of the model run without data); caliper
    measurements have no replicated counterpart, so a caliper fit has no per-unit check
    (None). Rows below the detection limit enter both sides of the check alike.
    """
    from .data import _calipers, caliper_rows_complete
    from .model import latents, likelihood

    o = spec.options
    if o.scale == "log" and _calipers(o, caliper_rows_complete(data)):
        return None

    def log_lik(a: dict, spec: Spec):
        return likelihood(latents(spec, a), a, spec)["log_lik_mouse"]

    key = "log1p_v" if o.scale == "log1p" else "log_v"
    return UnitChecks("mouse", list(data.mice), [{"mouse": m} for m in data.mice], log_lik,
                      {"y": key}, hold_out=hold_out)


def hold_out(data, mice):
    """The data with every measurement of ``mice`` (indices) masked out."""
    mask = np.array(data.mask, bool)
    mask[np.asarray(mice, int)] = False
    return replace(data, mask=mask)
