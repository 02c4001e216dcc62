"""Transition kernels of the blocked back-end: batched block HMC, HMC over a pytree of global
coordinates, dual averaging, and the scale update with a Gamma proposal.

Nothing here knows what the blocks mean: a block is an array whose last axis holds its
coordinates and whose leading axes index independent copies (units, groups).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = Any


class DualAveraging(NamedTuple):
    """Dual-averaging state of one step size per block (Hoffman & Gelman 2014).

    Attributes
    ----------
    log_eps : array
        The current (adapting) log step size.
    bar : array
        The averaged log step size, used once adaptation stops.
    hbar : array
        The running mean of ``target - acceptance``.
    t : array
        The number of updates.
    mu : array
        The shrinkage point, ``log(10 * initial step size)``.
    """

    log_eps: Array
    bar: Array
    hbar: Array
    t: Array
    mu: Array


def da_init(log_eps: Array) -> DualAveraging:
    """Dual averaging started at ``log_eps`` (device arrays)."""
    z = jnp.zeros_like(log_eps)
    return DualAveraging(log_eps, log_eps, z, z, log_eps + math.log(10))


def da_init_host(log_eps: np.ndarray) -> DualAveraging:
    """Dual averaging started at ``log_eps`` (numpy, host side: the start of a run)."""
    z = np.zeros_like(log_eps)
    return DualAveraging(log_eps, log_eps, z, z, (log_eps + math.log(10)).astype(log_eps.dtype))


def da_restart(da: DualAveraging) -> DualAveraging:
    """Dual averaging restarted at its averaged step size (after a metric change)."""
    return da_init(da.bar)


def da_update(da: DualAveraging, accept: Array, target: float) -> DualAveraging:
    """One dual-averaging update of every block's step size towards ``target`` acceptance."""
    t = da.t + 1.0
    w = 1.0 / (t + 10.0)
    hbar = (1.0 - w) * da.hbar + w * (target - accept)
    log_eps = da.mu - jnp.sqrt(t) / 0.05 * hbar
    eta = t ** -0.75
    bar = eta * log_eps + (1.0 - eta) * da.bar
    return DualAveraging(log_eps, bar, hbar, t, da.mu)


def when(flag: Array, new: Any, old: Any) -> Any:
    """``new`` where the traced boolean ``flag`` holds, else ``old`` (leaf by leaf)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def step_size(da: DualAveraging, warm: Array) -> Array:
    """The step size in use: the adapting one during warmup, the averaged one after."""
    return jnp.exp(jnp.where(warm, da.log_eps, da.bar))


def metric_from_precision(P: Array, floor: float = 1e-3, absolute: bool = False) -> Array:
    """Square root ``S`` (``S S^T = P^-1``) of a regularised per-block covariance.

    With ``absolute``, ``P`` is symmetrised and its eigenvalues made positive by their
    absolute values before the floor (``S S^T = |P|^-1``): the metric of a block whose negative
    Hessian may be indefinite away from the mode.
    """
    if absolute:
        P = 0.5 * (P + jnp.swapaxes(P, -1, -2))
    lam, V = jnp.linalg.eigh(P)
    lam = jnp.clip(jnp.abs(lam) if absolute else lam, floor, 1e8)
    return V * (1.0 / jnp.sqrt(lam))[..., None, :]


def block_hmc(key: Array, x0: Array, logp: Callable[[Array], Array], S: Array,
              da: DualAveraging, warm: Array, steps: int, active: Array,
              target: float) -> tuple[Array, DualAveraging, Array, Array]:
    """One HMC transition of many independent small blocks at once.

    Parameters
    ----------
    key : PRNG key
    x0 : array ``[..., k]``
        One block per leading index.
    logp : callable
        ``logp(x) -> [...]``: the blocks' log densities. They must be separable (block ``i``'s
        density depends on block ``i`` only), so the gradient of the sum is every block's
        gradient.
    S : array ``[..., k, k]``
        A square root of each block's covariance metric (the leapfrog runs in whitened
        coordinates).
    da : DualAveraging
        Each block's step-size state.
    warm : traced bool
        Warmup: adapt the step sizes.
    steps : int
        The longest trajectory. Every block's trajectory runs a random number of steps in
        ``1..steps`` (blocks step in lockstep; a block whose trajectory has ended is frozen):
        random trajectory lengths avoid the periodic returns of fixed-length HMC on
        near-Gaussian targets.
    active : bool array ``[...]``
        Blocks that exist.
    target : float
        Target acceptance rate of the dual averaging.

    Returns
    -------
    (x, da, acceptance, logp(x))
    """
    k1, k2, k3, k4 = jax.random.split(key, 4)
    eps = step_size(da, warm)
    eps = eps * jax.random.uniform(k3, eps.shape, minval=0.8, maxval=1.2)
    e3 = eps[..., None]

    def grad(x):
        return jax.grad(lambda x_: jnp.sum(logp(x_)))(x)

    p0 = jax.random.normal(k1, x0.shape, x0.dtype)
    n_steps = jax.random.randint(k4, eps.shape, 1, steps + 1)

    def st(c, i):
        x, p, g = c
        on = (i < n_steps)[..., None]
        p_ = p + 0.5 * e3 * jnp.einsum("...kl,...k->...l", S, g)
        x_ = x + e3 * jnp.einsum("...kl,...l->...k", S, p_)
        g_ = grad(x_)
        p_ = p_ + 0.5 * e3 * jnp.einsum("...kl,...k->...l", S, g_)
        return (jnp.where(on, x_, x), jnp.where(on, p_, p), jnp.where(on, g_, g)), None

    lp0 = logp(x0)
    (x1, p1, _), _ = lax.scan(st, (x0, p0, grad(x0)), jnp.arange(steps))
    lp1 = logp(x1)
    dH = (lp1 - lp0) - 0.5 * jnp.sum(p1 * p1 - p0 * p0, -1)
    dH = jnp.where(jnp.isfinite(dH), dH, -jnp.inf)
    acc = jnp.minimum(1.0, jnp.exp(jnp.minimum(dH, 0.0)))
    take = (jax.random.uniform(k2, acc.shape) < acc) & active
    x = jnp.where(take[..., None], x1, x0)
    acc = jnp.where(active, acc, target)
    return x, when(warm, da_update(da, acc, target), da), acc, jnp.where(take, lp1, lp0)


def project(p: Array, inv_m: Array, a: Array) -> Array:
    """Remove the component of momentum ``p`` along the constraint normal ``a`` (metric
    ``inv_m``), so ``a . inv_m p = 0`` and a sum-to-zero coordinate stays sum-to-zero."""
    return p - a * jnp.sum(a * inv_m * p) / jnp.maximum(jnp.sum(a * a * inv_m), 1e-30)


def tree_hmc(key: Array, th0: Any, parts: Callable[[Any], tuple[Array, Array]], inv_m: Any,
             proj: Callable[[Any], Any], da: DualAveraging, warm: Array, steps: int,
             target: float) -> tuple[Any, Array, Array, DualAveraging]:
    """One HMC transition of one block of global coordinates (a pytree).

    Parameters
    ----------
    key : PRNG key
    th0 : pytree
        The coordinates.
    parts : callable
        ``parts(th) -> (per_unit, rest)``: the log density as an array of many terms (summed
        per unit first, so that the change of a sum of millions of terms is float32-safe)
        and a scalar.
    inv_m : pytree like ``th0``
        Diagonal inverse metric (0 freezes a coordinate).
    proj : callable
        Projection of a momentum onto the constraint surface (identity where none).
    da : DualAveraging
        The block's step-size state (scalar).
    warm : traced bool
    steps : int
        The longest trajectory (a random length in ``1..steps``).
    target : float

    Returns
    -------
    (th, taken, acceptance, da)
        The new coordinates (the proposal where taken, else ``th0``), whether the proposal
        was taken, its acceptance probability and the updated step-size state.
    """
    def total(th):
        ll, lp = parts(th)
        return jnp.sum(ll) + lp

    grad = jax.grad(total)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    eps = step_size(da, warm)
    eps = eps * jax.random.uniform(k3, minval=0.8, maxval=1.2)
    leaves, tdef = jax.tree_util.tree_flatten(th0)
    keys = jax.random.split(k1, len(leaves))
    p0 = jax.tree_util.tree_unflatten(tdef, [
        jax.random.normal(k, x.shape) / jnp.sqrt(jnp.maximum(im, 1e-30)) * (im > 0)
        for k, x, im in zip(keys, leaves, jax.tree_util.tree_leaves(inv_m))])
    p0 = proj(p0)

    def kin(p):
        return 0.5 * sum(jnp.sum(im * q * q) for q, im in
                         zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(inv_m)))

    n_steps = jax.random.randint(k4, (), 1, steps + 1)  # random trajectory length

    def st(c):
        th, p, g = c
        p = proj(jax.tree_util.tree_map(lambda q, gg: q + 0.5 * eps * gg, p, g))
        th = jax.tree_util.tree_map(lambda x, q, im: x + eps * im * q, th, p, inv_m)
        g = grad(th)
        p = proj(jax.tree_util.tree_map(lambda q, gg: q + 0.5 * eps * gg, p, g))
        return th, p, g

    th1, p1, _ = lax.fori_loop(0, n_steps, lambda i, c: st(c), (th0, p0, grad(th0)))
    ll0, lp0 = parts(th0)
    ll1, lp1 = parts(th1)
    dH = jnp.sum(ll1 - ll0) + (lp1 - lp0) - kin(p1) + kin(p0)
    dH = jnp.where(jnp.isfinite(dH), dH, -jnp.inf)
    acc = jnp.minimum(1.0, jnp.exp(jnp.minimum(dH, 0.0)))
    take = jax.random.uniform(k2) < acc
    th = jax.tree_util.tree_map(lambda a, b: jnp.where(take, a, b), th1, th0)
    return th, take, acc, when(warm, da_update(da, acc, target), da)


def gamma_scale(key: Array, n: Array, ss: Array, prior_sd: Array, old: Array) -> Array:
    """Scale ``sigma`` of ``n`` Normal(0, sigma) terms with sum of squares ``ss`` and a
    HalfNormal(``prior_sd``) prior: independence Metropolis with the Gamma full conditional
    of the precision (likelihood only) as proposal, accepted on the prior ratio.

    With ``n >= 2`` the proposal is the likelihood as a density in ``sigma`` (precision shape
    ``(n - 1) / 2``). With fewer terms that density is improper (one term: ``1 / sigma`` tails),
    so the proposal takes one more ``1 / sigma`` (shape ``n / 2``) and the acceptance ratio
    carries it back (``prior(sigma) * sigma``, bounded, so the chain stays uniformly ergodic).
    With no terms the conditional is the prior, drawn exactly.
    """
    k1, k2 = jax.random.split(key)
    extra = jnp.where(n >= 2.0, 0.0, 0.5)
    shape = jnp.maximum(0.5 * (n - 1.0) + extra, 1e-6)
    tau = jax.random.gamma(k1, shape) / (0.5 * jnp.maximum(ss, 1e-12))
    new = 1.0 / jnp.sqrt(tau)
    log_r = (-0.5 * (new * new - old * old) / (prior_sd * prior_sd)
             + 2.0 * extra * (jnp.log(new) - jnp.log(old)))
    ok = jnp.log(jax.random.uniform(k2)) < log_r
    moved = jnp.where(ok & jnp.isfinite(new), new, old)
    from_prior = jnp.abs(jax.random.normal(jax.random.fold_in(key, 1), jnp.shape(old))) * prior_sd
    return jnp.where(n >= 0.5, moved, from_prior.astype(moved.dtype))
