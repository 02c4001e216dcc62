"""Every random draw of a run derives from the run's seed.

A run has one seed (``[run] seed``, ``fit(seed=...)``). The back-end's sampler keys come from
it directly; every other random draw (posterior-predictive quantities in summaries, plots and
tables, pointwise quantities) takes its own stream, named by its purpose, derived from that seed
with :class:`numpy.random.SeedSequence`, so streams are independent of each other and two runs
with the same seed give the same numbers.
"""

from __future__ import annotations

import zlib

import jax
import numpy as np

__all__ = ["jax_key", "rng", "stream_seed"]


def stream_seed(seed: int, purpose: str) -> int:
    """A 32-bit seed for the stream ``purpose`` of the run with seed ``seed``."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode())])
    return int(ss.generate_state(1)[0])


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A NumPy generator for the stream ``purpose`` of the run with seed ``seed``."""
    return np.random.default_rng(stream_seed(seed, purpose))


def jax_key(seed: int, purpose: str) -> jax.Array:
    """A JAX PRNG key for the stream ``purpose`` of the run with seed ``seed``."""
    return jax.random.PRNGKey(stream_seed(seed, purpose))
