"""The blocked back-end: a generic scalable sampler for posteriors given as blocks by a plan.

User-facing method name: ``"screen"``. A family supplies a plan (its posterior in unit blocks
and global blocks, :mod:`.plan`) whose densities call the family's own likelihood and prior
terms; this package supplies the kernels (:mod:`.kernels`), the mode jump (:mod:`.mode_jump`),
warmup (:mod:`.adaptation`), the driver (:mod:`.driver`: chunks, chains, sharding, thinning,
the host-memory guard), device summaries (:mod:`.summaries`) and the back-end entry point
(:mod:`.run`).
"""

from __future__ import annotations

from .driver import BlockedFit, SamplerSettings, check_host_memory, sample
from .plan import Adaptation, ChainState, Plan, PlanBuilder
from .summaries import device_summary, summarize_units

__all__ = ["Adaptation", "BlockedFit", "ChainState", "Plan", "PlanBuilder", "SamplerSettings",
           "check_host_memory", "device_summary", "sample", "summarize_units"]
