"""Rank R-hat and bulk/tail ESS of draws (Vehtari et al. 2021): one implementation, used by
the diagnostics, the summaries and NUTS's draws extension (``inference/nuts.py``)."""

from __future__ import annotations

import numpy as np
from arviz_stats.base import array_stats

VECTORISED_ABOVE = 2000  # sites with more components use the vectorised (JAX) diagnostics


def rank_diagnostics(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank R-hat, bulk ESS and tail ESS (5%/95%) of every component of finite
    ``(chain, draw, ...)`` draws, each flattened over the trailing axes.

    ArviZ loops over components in Python (about 1.5 ms per component here, minutes for a
    screen), so above ``VECTORISED_ABOVE`` components the vectorised JAX version is used; the
    two agree (``tests/test_screen.py``). Rank diagnostics are invariant to monotone maps, so
    the draws are scaled into a float32-safe range first.
    """
    a = np.asarray(draws, np.float64)
    flat = a.reshape(a.shape[0], a.shape[1], -1)
    if flat.shape[2] > VECTORISED_ABOVE:
        from .blocked import summarize_units

        big = np.max(np.abs(flat), axis=(0, 1))  # per component: ranks are kept
        sm = summarize_units((flat / np.where(big > 0, big, 1.0)).astype(np.float32))
        return (np.asarray(sm["r_hat"], np.float64), np.asarray(sm["ess_bulk"], np.float64),
                np.asarray(sm["ess_tail"], np.float64))
    x = np.moveaxis(flat, (0, 1), (-2, -1))
    with np.errstate(all="ignore"):  # constant components give 0/0; callers skip them
        kw = {"chain_axis": -2, "draw_axis": -1}
        return (np.asarray(array_stats.rhat(x, **kw)),
                np.asarray(array_stats.ess(x, method="bulk", **kw)),
                np.asarray(array_stats.ess(x, method="tail", prob=0.05, **kw)))
