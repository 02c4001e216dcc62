"""Per-unit posterior summaries computed on the device: mean, sd, quantiles, rank-normalised
split R-hat, bulk and tail ESS, nested R-hat; and the slowest units' per-chain picture.

Screens have far too many units to move every draw to the host and summarise it there; these
are vectorised over units and computed where the draws are.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _ranks_normal(x):
    """Rank-normalised values over the chain and draw axes (leading two) of ``x``."""
    c, n = x.shape[:2]
    flat = x.reshape((c * n,) + x.shape[2:])
    r = jnp.argsort(jnp.argsort(flat, 0), 0).astype(jnp.float32) + 1.0
    z = jax.scipy.special.ndtri((r - 0.375) / (c * n + 0.25))
    return z.reshape(x.shape)


def _split(x):
    c, n = x.shape[:2]
    h = n // 2
    return jnp.concatenate([x[:, :h], x[:, n - h:]], 0)


def _rhat_raw(x):
    c, n = x.shape[:2]
    mean_c = x.mean(1)
    var_c = x.var(1, ddof=1)
    W = var_c.mean(0)
    B = n * mean_c.var(0, ddof=1)
    return jnp.sqrt(((n - 1) / n * W + B / n) / W)


def _ess_raw(x):
    """ESS of ``x [chain, draw, ...]`` (Geyer's initial monotone sequence, as in Stan/ArviZ)."""
    c, n = x.shape[:2]
    xc = x - x.mean(1, keepdims=True)
    m = 2 ** int(math.ceil(math.log2(2 * n)))
    f = jnp.fft.rfft(xc, n=m, axis=1)
    acov = jnp.fft.irfft(f * jnp.conj(f), n=m, axis=1)[:, :n] / n  # [c, n, ...]
    mean_var = jnp.mean(acov[:, 0], 0) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if c > 1:
        var_plus = var_plus + x.mean(1).var(0, ddof=1)
    rho = 1.0 - (mean_var - jnp.mean(acov, 0)) / var_plus  # [n, ...]
    rho = rho.at[0].set(1.0)
    npairs = n // 2
    pairs = rho[: 2 * npairs].reshape((npairs, 2) + rho.shape[1:]).sum(1)  # [npairs, ...]
    pos = jnp.cumprod(pairs > 0, axis=0).astype(bool)
    mono = lax.cummin(jnp.where(pos, pairs, jnp.inf), axis=0)
    mono = jnp.where(pos, mono, 0.0)
    tau = -1.0 + 2.0 * jnp.sum(mono, 0)
    tau = jnp.maximum(tau, 1.0 / math.log10(c * n))
    return c * n / tau


def _rhat_nested(x, n_super: int):
    """Nested R-hat (Margossian et al. 2024) of split chains ``x [2 c, n, ...]`` whose first
    and second halves are the chains' halves, in ``n_super`` equal superchains of the original
    chains (contiguous blocks); a split half keeps its chain's superchain."""
    c2 = x.shape[0]
    c = c2 // 2
    ids = jnp.concatenate([jnp.arange(c), jnp.arange(c)]) * n_super // c
    mean_c = x.mean(1)
    var_c = x.var(1, ddof=1)
    onehot = (ids[:, None] == jnp.arange(n_super)[None]).astype(x.dtype)  # [2c, K]
    m = c2 // n_super
    sc_mean = jnp.einsum("ck,c...->k...", onehot, mean_c) / m
    b_k = jnp.einsum("ck,c...->k...", onehot, mean_c ** 2) / m - sc_mean ** 2
    b_k = b_k * m / max(m - 1, 1)
    w_k = jnp.einsum("ck,c...->k...", onehot, var_c) / m
    b_nu = sc_mean.var(0, ddof=1)
    w_nu = (w_k + b_k).mean(0)
    return jnp.sqrt(1.0 + b_nu / w_nu)


@partial(jax.jit, static_argnames=("n_super",))
def device_summary(draws, n_super: int = 0):
    """Per-parameter summaries of ``draws [chain, draw, ...]`` computed on the device.

    Mean, sd, 5/50/95% and 2.5/97.5% quantiles, rank-normalised split R-hat (the larger of the
    bulk and folded versions, as ArviZ), bulk ESS and tail ESS (the smaller of the 5% and 95%
    quantile indicator ESS); with ``n_super`` > 1 superchains (many-chain runs) also the
    nested rank R-hat, the larger of its bulk and folded versions.
    """
    x = draws.astype(jnp.float32)
    c, n = x.shape[:2]
    flat = x.reshape((c * n,) + x.shape[2:])
    qs = jnp.quantile(flat, jnp.array([0.025, 0.05, 0.5, 0.95, 0.975]), axis=0)
    sx = _split(x)
    z = _ranks_normal(sx)
    fold = jnp.abs(sx - jnp.median(flat, 0))
    rhat = jnp.maximum(_rhat_raw(z), _rhat_raw(_ranks_normal(fold)))
    ess_bulk = _ess_raw(z)
    ess_tail = jnp.minimum(_ess_raw((sx <= qs[1]).astype(jnp.float32)),
                           _ess_raw((sx <= qs[3]).astype(jnp.float32)))
    out = {"mean": flat.mean(0), "sd": flat.std(0, ddof=1), "q2.5": qs[0], "q5": qs[1],
           "median": qs[2], "q95": qs[3], "q97.5": qs[4], "r_hat": rhat,
           "ess_bulk": ess_bulk, "ess_tail": ess_tail}
    if n_super > 1 and c % n_super == 0:
        zf = _ranks_normal(fold)
        out["r_hat_nested"] = jnp.maximum(_rhat_nested(z, n_super), _rhat_nested(zf, n_super))
    return out


def summarize_units(draws, chunk: int = 16384, n_super: int = 0) -> dict[str, np.ndarray]:
    """:func:`device_summary` of ``draws [chain, draw, *U]`` in chunks of units (one
    compiled shape; bounded device memory), returned as numpy ``[*U]`` arrays."""
    c, n = draws.shape[:2]
    grid_shape = draws.shape[2:]
    flat = jnp.reshape(draws, (c, n, -1))
    N = flat.shape[2]
    size = min(chunk, N)
    parts = []
    for start in range(0, N, size):
        block = flat[:, :, start:start + size]
        if block.shape[2] < size:  # pad the last chunk to the compiled shape
            block = jnp.concatenate([block, jnp.repeat(block[:, :, -1:], size - block.shape[2],
                                                       2)], 2)
        parts.append({k: np.asarray(v) for k, v in device_summary(block, n_super).items()})
    return {k: np.concatenate([p[k] for p in parts])[:N].reshape(grid_shape) for k in parts[0]}


def worst_units(draws, summary: dict, active: np.ndarray,
                unit_axes: tuple[str, ...]) -> list[dict]:
    """Each chain's mean, sd and range for the units with the lowest bulk ESS, the lowest
    tail ESS and the highest R-hat (nested where computed), from ``draws [chain, draw, *U]``
    on the device: a run that misses a target then shows whether one chain wandered. Each
    record names the unit by its index along ``unit_axes``."""
    out = []
    for stat, pick in (("ess_bulk", np.argmin), ("ess_tail", np.argmin),
                       ("r_hat_nested" if "r_hat_nested" in summary else "r_hat", np.argmax)):
        v = np.where(active, summary[stat], np.inf if pick is np.argmin else -np.inf)
        idx = tuple(int(i) for i in np.unravel_index(int(pick(v)), v.shape))
        x = np.asarray(draws[(slice(None), slice(None)) + idx], np.float64)  # [chain, draw]
        out.append({"worst": stat, **dict(zip(unit_axes, idx)),
                    "value": float(summary[stat][idx]),
                    "chain_mean": x.mean(1).round(4).tolist(),
                    "chain_sd": x.std(1).round(4).tolist(),
                    "chain_min": x.min(1).round(3).tolist(),
                    "chain_max": x.max(1).round(3).tolist()})
    return out
