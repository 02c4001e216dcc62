"""Reusable hierarchical building blocks (non-centred, identified)."""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.typing import ArrayLike

CLEAR_DROP = 0.2
"""A fall of viability (fraction of untreated) above which a curve's wells pin its member
(the data rules that choose centred or non-centred coordinates for ``mixed_effect``: the
dose-response family's ``informed_groups``, the combination family's ``pinned``)."""


def zero_sum_effect(name: str, n: int, scale: float | dist.Distribution,
                    centered: bool = False) -> jnp.ndarray:
    """Non-centred sum-to-zero effects ``sigma * z`` over ``n`` levels.

    Collapses to zeros when ``n == 1`` (a single level carries no identified effect), so no
    unidentified parameters are created.

    Parameters
    ----------
    name : str
        Prefix of the sites: ``sigma_<name>`` and ``z_<name>``.
    n : int
        Number of levels.
    scale : float or Distribution
        Half-normal scale of ``sigma_<name>``, or its prior distribution.
    """
    if n <= 1:
        return jnp.zeros((max(n, 1),))
    prior = scale if isinstance(scale, dist.Distribution) else dist.HalfNormal(scale)
    sigma = numpyro.sample(f"sigma_{name}", prior)
    if centered:
        return numpyro.sample(f"eff_{name}", dist.ZeroSumNormal(sigma, event_shape=(n,)))
    z = numpyro.sample(f"z_{name}", dist.ZeroSumNormal(1.0, event_shape=(n,)))
    return sigma * z


def mixed_effect(name: str, loc: jnp.ndarray, sigma: jnp.ndarray,
                 centered: ArrayLike | None) -> jnp.ndarray:
    """Hierarchical members ``theta ~ Normal(loc, sigma)`` with per-member parameterisation.

    Members well informed by their own data are sampled centred (``theta`` itself is the
    parameter), the others non-centred (``theta = loc + sigma * z``). Centring where the data
    pin a member and non-centring where they do not removes both the funnel and the
    mean/deviation ridge that either parameterisation alone gives NUTS. The mask is fixed from
    the data before fitting, so the model is the same, only its coordinates differ.

    Parameters
    ----------
    name : str
        Site name of the raw parameter (``raw_<name>``).
    loc, sigma : array
        Member means and the shared scale.
    centered : bool array (numpy or JAX) or None
        Per-member choice (None: all non-centred).
    """
    n = loc.shape[0]
    if centered is None:
        centered = jnp.zeros(n, bool)
    c = jnp.asarray(centered)
    raw = numpyro.sample(f"raw_{name}", dist.Normal(jnp.where(c, loc, 0.0),
                                                     jnp.where(c, sigma, 1.0)).to_event(1))
    return jnp.where(c, raw, loc + sigma * raw)
