"""Simulators (public facade): each family's generative process with known truth.

The simulators live in their family packages; this module gathers the public ones.
"""

from __future__ import annotations

from .families.combination import simulate as _simulate_combination
from .families.dose_response.simulate import (
    draw_dose_response_truth,
    simulate_dose_response,
    simulate_wells,
    viability,
)
from .families.xenograft.simulate import (
    REFERENCE_ARMS,
    REFERENCE_DAYS,
    REFERENCE_RATES,
    REFERENCE_REGRESSION,
    REGRESSION_DAYS,
    simulate_xenograft,
)


def simulate_combination(n_cell_lines: int = 4, **kwargs):
    """Simulate two-drug checkerboards with known MuSyC parameters.

    See :func:`drugbayes.families.combination.simulate` (``n_doses``, ``n_replicates``,
    ``n_experiments``, ``noise_sd``, ``seed``); doses in uM, viability as a fraction.

    Returns
    -------
    (DataFrame, DataFrame)
        The wells and the truth per checkerboard.
    """
    return _simulate_combination(n_cell_lines, **kwargs)


__all__ = ["REFERENCE_ARMS", "REFERENCE_DAYS", "REFERENCE_RATES", "REFERENCE_REGRESSION",
           "REGRESSION_DAYS", "draw_dose_response_truth", "simulate_combination",
           "simulate_dose_response", "simulate_wells", "simulate_xenograft", "viability"]
