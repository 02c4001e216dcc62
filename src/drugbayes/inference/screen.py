"""The ``"screen"`` back-end, by its historical module name.

The sampler is the generic blocked engine (:mod:`drugbayes.inference.blocked`); the
dose-response posterior it samples is the family's plan
(:mod:`drugbayes.families.dose_response.blocks`) on the screen grid
(:mod:`drugbayes.families.dose_response.grid`). This module keeps the screen-shaped names
importable: ``run_screen`` (the back-end), ``summarize_curves`` (device diagnostics),
``sample_screen`` and ``SamplerSettings`` with the curve-named settings.
"""

from __future__ import annotations

from ..families.dose_response.blocks import GROUP_SITES, HOST_BYTES_PER_CURVE_DRAW
from ..families.dose_response.blocks import DoseResponsePlan as ScreenModel
from ..families.dose_response.grid import ScreenGrid, grid_from_arrays, simulate_screen
from .blocked import BlockedFit, device_summary, sample
from .blocked import SamplerSettings as BlockedSettings
from .blocked import summarize_units as summarize_curves
from .blocked.run import run as run_screen

ScreenFit = BlockedFit


def SamplerSettings(num_chains: int = 4, num_warmup: int = 500, num_samples: int = 500,  # noqa: N802
                    thinning: int = 1, curve_steps: int = 10, drug_steps: int = 6,
                    global_steps: int = 4, target_accept: float = 0.8, mode_jump: bool = True,
                    top_dose_coords: bool = True, keep_draws: bool = True) -> BlockedSettings:
    """:class:`drugbayes.inference.blocked.SamplerSettings` under the screen's names
    (``curve_steps``: unit steps, ``drug_steps``: group steps, ``top_dose_coords``: unit
    coordinates)."""
    return BlockedSettings(num_chains=num_chains, num_warmup=num_warmup,
                           num_samples=num_samples, thinning=thinning, unit_steps=curve_steps,
                           group_steps=drug_steps, global_steps=global_steps,
                           target_accept=target_accept, mode_jump=mode_jump,
                           unit_coords=top_dose_coords, keep_draws=keep_draws)


def sample_screen(grid: ScreenGrid, m: ScreenModel, cfg: BlockedSettings, seed: int = 0,
                  shard: bool | int = False, summarize: tuple[str, ...] = ("grp_log10_ic50",),
                  progress: bool = True) -> BlockedFit:
    """:func:`drugbayes.inference.blocked.sample` of the dose-response plan ``m`` on a grid."""
    return sample(m, grid, cfg, seed=seed, shard=shard, summarize=summarize,
                  progress=progress)


__all__ = ["GROUP_SITES", "HOST_BYTES_PER_CURVE_DRAW", "SamplerSettings", "ScreenFit",
           "ScreenGrid", "ScreenModel", "device_summary", "grid_from_arrays", "run_screen",
           "sample_screen", "simulate_screen", "summarize_curves"]
