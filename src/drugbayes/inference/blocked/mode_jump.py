"""The mode jump of the unit blocks: an independence Metropolis-Hastings move to each unit's
modes, found by multi-start Gauss-Newton.

Every unit (``x [..., k]``, one block per leading index) gets a fixed two-component
multivariate Student-t mixture at its modes as the proposal. The move leaves each unit's
conditional posterior invariant whatever the mixture. It lets a unit whose posterior has two
separated modes move between them, and brings back in one step a chain that wandered along a
flat ridge, where local HMC steps take hundreds of sweeps; the components are Student-t
(``JUMP_DF``) so that their density in such a tail is not negligible, which a Gaussian
proposal's is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, nn

Array = Any

JUMP_INFLATE = 1.2  # proposal scales of the mode jump, relative to each mode's Laplace sds
# Student-t proposal components (integer degrees of freedom): heavy tails bring a chain back
# from a tail of its unit's posterior
JUMP_DF = 3
JUMP_MIN_WEIGHT = 0.1  # the least often a second mode is proposed


class JumpProposal(NamedTuple):
    """The mode-jump mixture of every unit (``U`` the unit axes, ``k`` its coordinates).

    Attributes
    ----------
    mean : array ``[*U, 2, k]``
        The two components' centres (the same mode twice where only one was found).
    V : array ``[*U, 2, k, k]``
        Eigenvectors of each component's precision.
    sqrt_lam : array ``[*U, 2, k]``
        Square roots of its eigenvalues, divided by ``JUMP_INFLATE``.
    logw : array ``[*U, 2]``
        Log component weights.
    two : bool array ``[*U]``
        Units with two separated modes.
    """

    mean: Array
    V: Array
    sqrt_lam: Array
    logw: Array
    two: Array


def gauss_newton(x: Array, logp: Callable[[Array], Array], curvature: Callable[[Array], Array],
                 n_iter: int) -> tuple[Array, Array, Array]:
    """Ascend every unit's log density from ``x [..., k]`` by damped Gauss-Newton steps.

    ``logp(x) -> [...]`` (separable over units; 0 for absent units) and ``curvature(x) ->
    [..., k, k]`` (a positive definite approximation of the negative Hessian, e.g. Fisher
    information plus prior precision). Each step takes the best of a few step lengths per
    unit. Returns ``(x, logp(x), curvature(x))`` at the end.
    """
    def body(_, x):
        g = jax.grad(lambda x_: jnp.sum(logp(x_)))(x)
        H = curvature(x)
        step = jnp.linalg.solve(H, g[..., None])[..., 0]
        best, best_lp = x, logp(x)
        for a in (1.0, 0.5, 0.2, 0.05):
            xn = x + a * step
            lpn = logp(xn)
            better = jnp.isfinite(lpn) & (lpn > best_lp)
            best = jnp.where(better[..., None], xn, best)
            best_lp = jnp.where(better, lpn, best_lp)
        return best

    x = lax.fori_loop(0, n_iter, body, x)
    return x, logp(x), curvature(x)


def find_modes(starts: Array, logp: Callable[[Array], Array],
               curvature: Callable[[Array], Array], n_iter: int = 30) -> JumpProposal:
    """Two modes of every unit's conditional posterior, and the mixture proposal at them.

    Damped Gauss-Newton (:func:`gauss_newton`) runs from each start ``starts [n_start, ...,
    k]`` (one start at a time: one compiled search, the memory of one). The first mode is the
    end with the largest Laplace mass; the second the largest among the ends more than 3
    Laplace sds from it (by either end's curvature), else the first again.
    """
    x, lp, H = lax.map(lambda x0: gauss_newton(x0, logp, curvature, n_iter), starts)
    lam, V = jnp.linalg.eigh(H)
    lam = jnp.clip(lam, 1e-3, 1e8)
    mass = lp - 0.5 * jnp.sum(jnp.log(lam), -1)
    mass = jnp.where(jnp.isfinite(mass), mass, -jnp.inf)
    i1 = jnp.argmax(mass, 0)

    def pick(a, i):
        return jnp.take_along_axis(a, i.reshape((1,) + i.shape + (1,) * (a.ndim - 1 - i.ndim)),
                                   0)[0]

    x1, H1 = pick(x, i1), pick(H, i1)
    diff = x - x1[None]
    far = ((jnp.einsum("s...k,...kl,s...l->s...", diff, H1, diff) > 9.0)
           & (jnp.einsum("s...k,s...kl,s...l->s...", diff, H, diff) > 9.0))
    m2 = jnp.where(far, mass, -jnp.inf)
    has2 = jnp.any(far, 0)
    i2 = jnp.where(has2, jnp.argmax(m2, 0), i1)
    means = jnp.stack([x1, pick(x, i2)], -2)
    Vs = jnp.stack([pick(V, i1), pick(V, i2)], -3)
    sl = jnp.stack([pick(lam, i1), pick(lam, i2)], -2) ** 0.5 / JUMP_INFLATE
    w2 = jnp.clip(nn.sigmoid(pick(mass, i2) - pick(mass, i1)), JUMP_MIN_WEIGHT,
                  1.0 - JUMP_MIN_WEIGHT)
    w2 = jnp.where(has2, w2, 0.0)
    logw = jnp.log(jnp.stack([1.0 - w2, w2], -1))
    return JumpProposal(means, Vs, sl, logw, has2)


def jump_logq(x: Array, jp: JumpProposal) -> Array:
    """Log density (constants dropped) of the mode-jump mixture at ``x [..., k]``."""
    z = jp.sqrt_lam * jnp.einsum("...jkl,...jk->...jl", jp.V, x[..., None, :] - jp.mean)
    k = x.shape[-1]
    comp = (jp.logw + jnp.sum(jnp.log(jp.sqrt_lam), -1)
            - 0.5 * (JUMP_DF + k) * jnp.log1p(jnp.sum(z * z, -1) / JUMP_DF))
    return jax.scipy.special.logsumexp(comp, -1)


def mode_jump(key: Array, x: Array, lp: Array, jp: JumpProposal,
              logp: Callable[[Array], Array], active: Array) -> tuple[Array, Array]:
    """The mode jump of every unit: an independence Metropolis-Hastings step with the mixture
    ``jp`` as the proposal.

    Parameters
    ----------
    key : PRNG key
    x : array ``[..., k]``
        The units' current values.
    lp : array ``[...]``
        Their current log densities (``logp(x)``).
    jp : JumpProposal
    logp : callable
        The units' conditional log densities (separable).
    active : bool array ``[...]``
        Units that exist.

    Returns
    -------
    (x, acceptance)
    """
    k1, k2, k3, k4 = jax.random.split(key, 4)
    unit_shape = x.shape[:-1]
    j = (jax.random.uniform(k1, unit_shape) < jnp.exp(jp.logw[..., 1])).astype(jnp.int32)
    sel = j[..., None, None]
    mean = jnp.take_along_axis(jp.mean, sel, -2)[..., 0, :]
    V = jnp.take_along_axis(jp.V, sel[..., None], -3)[..., 0, :, :]
    sl = jnp.take_along_axis(jp.sqrt_lam, sel, -2)[..., 0, :]
    z = jax.random.normal(k2, x.shape, x.dtype)
    # chi-square(JUMP_DF) / JUMP_DF from squared normals (far cheaper than a gamma draw)
    u = jnp.mean(jax.random.normal(k4, (JUMP_DF,) + unit_shape, x.dtype) ** 2, 0)
    xp = mean + jnp.einsum("...kl,...l->...k", V, z / sl) / jnp.sqrt(u)[..., None]
    lpp = logp(xp)
    log_r = (lpp - lp) + (jump_logq(x, jp) - jump_logq(xp, jp))
    log_r = jnp.where(jnp.isfinite(log_r), log_r, -jnp.inf)
    take = (jnp.log(jax.random.uniform(k3, lp.shape)) < log_r) & active
    acc = jnp.where(active, jnp.exp(jnp.minimum(log_r, 0.0)), 0.0)
    return jnp.where(take[..., None], xp, x), acc
