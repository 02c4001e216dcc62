"""Reusable hierarchical building blocks (non-centred, identified)."""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist


def zero_sum_effect(name: str, n: int, scale: float) -> jnp.ndarray:
    """Non-centred sum-to-zero effects ``sigma * z`` over ``n`` levels.

    Collapses to zeros when ``n == 1`` (a single level carries no identified effect), so no
    unidentified parameters are created.

    Parameters
    ----------
    name : str
        Prefix of the sites: ``sigma_<name>`` and ``z_<name>``.
    n : int
        Number of levels.
    scale : float
        Half-normal scale of ``sigma_<name>``.
    """
    if n <= 1:
        return jnp.zeros((max(n, 1),))
    sigma = numpyro.sample(f"sigma_{name}", dist.HalfNormal(scale))
    z = numpyro.sample(f"z_{name}", dist.ZeroSumNormal(1.0, event_shape=(n,)))
    return sigma * z


def group_deviation(name: str, n: int, scale: float, active: bool = True) -> jnp.ndarray:
    """Non-centred deviations ``sigma * z`` with ``z ~ Normal(0, 1)`` over ``n`` members.

    Returns zeros when ``active`` is False (the level collapses).
    """
    if not active:
        return jnp.zeros((n,))
    sigma = numpyro.sample(f"sigma_{name}", dist.HalfNormal(scale))
    z = numpyro.sample(f"z_{name}", dist.Normal(0.0, 1.0).expand([n]).to_event(1))
    return sigma * z
