"""Inference settings and the common result of every back-end."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..config import InferenceConfig

InferenceSettings = InferenceConfig

log = logging.getLogger("drugbayes")


@dataclass
class InferenceResult:
    """Draws of one back-end.

    Attributes
    ----------
    method : str
    samples : dict
        Site name -> array ``(chain, draw, ...)`` (latent and deterministic sites).
    sample_stats : dict
        ``diverging``, ``energy``, ``n_steps``, ... ``(chain, draw)`` (NUTS only).
    timings : dict
        Seconds: ``compile``, ``warmup``, ``sampling``/``optimization``, ``total``.
    info : dict
        Back-end details (final loss, steps, ...).
    """

    method: str
    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
