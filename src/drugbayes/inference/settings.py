"""Inference settings and the common result of every back-end."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..config import InferenceConfig

InferenceSettings = InferenceConfig

log = logging.getLogger("drugbayes")

_CACHE_SET = False


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache where the user asked for it (once per process).

    Off by default: a run writes nothing outside its run directory, and a cached program is
    machine code that a later run would execute as read from disk. Opt in with
    ``$DRUGBAYES_COMPILATION_CACHE`` set to a folder you own (``0`` or empty: off); compiled
    programs are then kept there, keyed by their shapes, so a second run of the same shapes (a
    rerun, the next config of a batch, a new process) skips XLA compilation. A cache directory
    set by the user through JAX's own configuration is kept. Returns the folder in use, or None.
    """
    global _CACHE_SET
    import os
    from pathlib import Path

    import jax

    if _CACHE_SET:
        return jax.config.jax_compilation_cache_dir or None
    _CACHE_SET = True
    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    setting = os.environ.get("DRUGBAYES_COMPILATION_CACHE", "").strip()
    if setting in ("", "0"):
        return None
    folder = Path(setting).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        log.warning("compilation cache %s cannot be created: compiling without it", folder)
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(folder)


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
