"""Warmup of the blocked engine: the schedule, the unit metrics and step-size restarts.

Warmup runs in ``WARMUP_CHUNKS`` equal chunks. The metrics are set at the start and refreshed
after the chunks in ``METRIC_REFRESH``; step sizes adapt by dual averaging throughout and
restart after each metric change. A unit's metric is its Fisher information plus its prior
precision, averaged over chains (a single chain's state can sit where the unit's likelihood
is locally flat or curved the wrong way), carried to the unit HMC's coordinates. (A metric
from each unit's warmup covariance was tried: windows that still hold the approach to the
typical set, or a stuck chain, gave metrics far too wide, and tiny step sizes.)
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .kernels import da_init_host, da_restart, metric_from_precision
from .plan import Adaptation, ChainState, Plan

Array = Any

WARMUP_CHUNKS = 12
METRIC_REFRESH = (1, 3, 6, 9)  # warmup chunks before which the metrics are refreshed
UNIT_LOG_STEP = math.log(0.5)  # initial unit step size


def initial_adaptation(plan: Plan, state: ChainState) -> Adaptation:
    """Identity unit metrics, unit step sizes 0.5 and the plan's own start (numpy)."""
    units = state.units
    nc, k = units.shape[0], units.shape[-1]
    unit_shape = units.shape[1:-1]
    f = np.float32
    eye = np.tile(np.eye(k, dtype=f), (nc, *unit_shape, 1, 1))
    da = da_init_host(np.full((nc, *unit_shape), UNIT_LOG_STEP, f))
    return Adaptation(eye, da, plan.initial_adaptation(state))


def coords_jacobian(plan: Plan, z: Array, data: Any) -> Array:
    """``d x / d z`` of the plan's unit coordinates per unit ``[*U, k, k]`` (one forward-mode
    product per coordinate)."""
    cols = [jax.jvp(lambda z_: plan.from_coords(z_, data), (z,),
                    (jnp.zeros_like(z).at[..., j].set(1.0),))[1] for j in range(z.shape[-1])]
    return jnp.stack(cols, -1)


def coords_precision(plan: Plan, P: Array, x: Array, data: Any) -> Array:
    """Per-unit precision ``P [*U, k, k]`` in the natural coordinates at ``x``, carried to the
    plan's unit coordinates: ``A^T P A`` with ``A`` the Jacobian of ``from_coords``."""
    A = coords_jacobian(plan, plan.to_coords(x, data), data)
    return jnp.einsum("...ki,...kl,...lj->...ij", A, P, A)


def unit_precision(plan: Plan, x: Array, glob: Any, data: Any) -> tuple[Array, Array]:
    """Fisher information of each unit's data and, added to it, the unit's prior precision
    ``([*U, k, k], [*U, k, k])``."""
    F = plan.unit_fisher(x, glob, data)
    scale = plan.unit_prior_scale(glob, data)
    return F, F + jnp.eye(plan.k) / scale ** 2


@partial(jax.jit, static_argnames=("plan", "coords"))
def refresh_metrics(state: ChainState, adapt: Adaptation, data: Any, plan: Plan,
                    coords: bool = False) -> Adaptation:
    """Every metric from the chains' current states (leading chain axis): the units' from
    their Fisher information plus prior precision averaged over chains (in the plan's unit
    coordinates when ``coords``), the global blocks' from the plan."""
    F, P = jax.vmap(lambda s: unit_precision(plan, s.units, s.glob, data))(state)
    plan_ad = plan.refresh_metrics(state, adapt.plan, F, P, data)
    if coords:
        P = jax.vmap(lambda p, x: coords_precision(plan, p, x, data))(P, state.units)
    S = metric_from_precision(jnp.mean(P, 0))
    S = jnp.where(plan.active(data)[..., None, None], S, jnp.eye(plan.k))
    return Adaptation(jnp.broadcast_to(S, (P.shape[0],) + S.shape), adapt.unit_da, plan_ad)


@partial(jax.jit, static_argnames=("plan",))
def restart_step_sizes(adapt: Adaptation, plan: Plan) -> Adaptation:
    """Every step size restarted at its average so far (after a metric change)."""
    def one(ad):
        return Adaptation(ad.unit_metric, da_restart(ad.unit_da),
                          plan.restart_adaptation(ad.plan))

    return jax.vmap(one)(adapt)
