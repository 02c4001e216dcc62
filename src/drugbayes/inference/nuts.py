"""NUTS back-end: NumPyro NUTS, warm-started from the MAP, sampled in chunks.

Progress is reported between chunks of draws (no host callbacks inside compiled loops).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS
from numpyro.infer.initialization import init_to_median, init_to_value

from ..progress import progress_extra
from . import checkpoint
from .settings import InferenceResult, InferenceSettings, log

EXTRA_FIELDS = ("diverging", "energy", "num_steps", "accept_prob")
EXTEND_RHAT = 1.01
"""Draws are extended (``num_samples`` unset) while a site's R-hat is above this ..."""
EXTEND_ESS = 400.0
"""... or its bulk or tail ESS is below this (the default ``[diagnostics]`` thresholds)."""


def _extension_limit(settings: InferenceSettings) -> int | None:
    """Draws per chain the run may extend to, or None where ``num_samples`` was set."""
    if "num_samples" in settings.model_fields_set:
        return None
    return max(settings.max_num_samples, settings.num_samples)


def _unconverged(chunks: list[dict[str, np.ndarray]]) -> str | None:
    """Why the draws so far fail the extension rule (worst site, latent or deterministic, as
    the diagnostics check them), or None if they pass."""
    from .convergence import rank_diagnostics

    worst: tuple[float, str] | None = None
    for name in sorted(chunks[0]):
        a = np.concatenate([c[name] for c in chunks], axis=1)
        flat = a.reshape(a.shape[0], a.shape[1], -1).astype(np.float64)
        keep = (np.ptp(flat, axis=(0, 1)) > 0) & np.isfinite(flat).all(axis=(0, 1))
        if not keep.any():
            continue
        rhat, ess_b, ess_t = rank_diagnostics(flat[..., keep])
        r, e = float(np.nanmax(rhat)), float(np.nanmin(np.minimum(ess_b, ess_t)))
        # > 1 where a threshold fails; the worst site is named in the log
        score = max((r - 1.0) / (EXTEND_RHAT - 1.0), EXTEND_ESS / max(e, 1e-9))
        if score > 1 and (worst is None or score > worst[0]):
            worst = (score, f"{name}: max R-hat {r:.3f}, min ESS {e:.0f}")
    return None if worst is None else worst[1]


def run_nuts(model: Callable, model_args: tuple, settings: InferenceSettings, rng_key,
             init_values: dict | None = None) -> InferenceResult:
    """Sample with NUTS; returns draws grouped by chain.

    Parameters
    ----------
    model : callable
        NumPyro model taking ``*model_args``.
    settings : InferenceSettings
        ``num_chains``, ``num_warmup``, ``num_samples``, ``chain_method``, ``chunk_size``,
        ``target_accept_prob``, ``max_tree_depth``, ``thinning``.
    init_values : dict, optional
        Constrained values to start every chain from (e.g. the MAP); otherwise prior medians.
    """
    t0 = time.perf_counter()
    init = init_to_value(values=init_values) if init_values else init_to_median
    dense = settings.dense_mass
    chain_method = settings.chain_method
    if chain_method == "parallel" and jax.local_device_count() < settings.num_chains:
        log.info("nuts: %d devices < %d chains; using vectorized chains",
                 jax.local_device_count(), settings.num_chains)
        chain_method = "vectorized"
    chunk = min(settings.chunk_size * settings.thinning, settings.num_samples * settings.thinning)

    def sampler() -> MCMC:
        kernel = NUTS(model, init_strategy=init, target_accept_prob=settings.target_accept_prob,
                      max_tree_depth=settings.max_tree_depth, dense_mass=bool(dense))
        return MCMC(kernel, num_warmup=settings.num_warmup, num_samples=chunk,
                    num_chains=settings.num_chains, chain_method=chain_method,
                    thinning=settings.thinning, progress_bar=False)

    mcmc = sampler()
    k_warm, _ = jax.random.split(rng_key)
    chunks: list[dict] = []
    stats: list[dict] = []
    got = 0
    target = settings.num_samples
    ck = checkpoint.current() if settings.checkpoint_every > 0 else None
    if ck is not None and chain_method != "vectorized" and settings.num_chains > 1:
        log.info("nuts: checkpoints need chain_method = \"vectorized\"; none written")
        ck = None
    resumed = False
    if ck is None:
        mcmc.warmup(k_warm, *model_args, extra_fields=EXTRA_FIELDS, collect_warmup=False)
        jax.block_until_ready(mcmc.post_warmup_state)
    else:
        resumed, got = _checkpointed_warmup(mcmc, ck, k_warm, model_args, settings, chunk,
                                            chunks, stats)
    t_warm = time.perf_counter() - t0
    if got == 0:
        log.info("nuts: warmup done (%d chains x %d steps) in %.1f s", settings.num_chains,
                 settings.num_warmup, t_warm)
    limit = _extension_limit(settings)
    draw = (_draw_loop(mcmc, model_args, settings.num_chains, settings.thinning)
            if chain_method == "vectorized" else None)
    extended_because: list[str] = []
    t_first = None
    n_chunk = 0
    while got < target or (limit is not None and got < limit
                           and _extend(chunks, extended_because)):
        if got >= target:
            target = min(got + chunk // settings.thinning, limit or got)
            log.info("nuts: extending to %d draws per chain (num_samples unset; %s)", target,
                     extended_because[-1])
        t_c = time.perf_counter()
        if draw is not None:
            mcmc.post_warmup_state, s, e = draw(mcmc.post_warmup_state, chunk // settings.thinning)
        else:
            mcmc.run(mcmc.post_warmup_state.rng_key, *model_args, extra_fields=EXTRA_FIELDS)
            s = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
            e = {k: np.asarray(v)
                 for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
            mcmc.post_warmup_state = mcmc.last_state
        if t_first is None:
            t_first = time.perf_counter() - t_c
        chunks.append(s)
        stats.append(e)
        got += next(iter(s.values())).shape[1]
        n_chunk += 1
        if (ck is not None and got < max(target, limit or 0)
                and n_chunk % settings.checkpoint_every == 0):
            _save(mcmc.post_warmup_state, ck, chunks, stats, got, settings.num_warmup)
        ndiv = int(sum(x["diverging"].sum() for x in stats))
        log.info("nuts: %d/%d draws per chain, %d divergences so far", min(got, target), target,
                 ndiv, extra=progress_extra(min(got, target), target, "nuts draws"))
    samples = {k: np.concatenate([c[k] for c in chunks], axis=1)[:, :target] for k in chunks[0]}
    sstats = {k: np.concatenate([c[k] for c in stats], axis=1)[:, :target] for k in stats[0]}
    t_samp = time.perf_counter() - t0 - t_warm
    timings = {"warmup": t_warm, "sampling": t_samp, "total": time.perf_counter() - t0}
    n_grad = int(sstats["num_steps"].sum())
    info: dict[str, object] = {"chain_method": chain_method, "num_gradient_evals": n_grad,
                               "num_samples": int(target), "resumed_from_checkpoint": resumed}
    if extended_because:
        info["extended"] = {"from": settings.num_samples, "to": int(target),
                            "reason": extended_because[0]}
    return InferenceResult("nuts", samples, sstats, timings, info)


def _draw_loop(mcmc: MCMC, model_args: tuple, num_chains: int, thinning: int) -> Callable:
    """Chunks of draws after the warmup from one compiled loop for the whole run.

    ``MCMC.run`` compiles its collection loop anew at every call (NumPyro 0.22: a new closure
    each time), seconds per chunk for a small model and far more for a large one. This loop is
    compiled once per run (once per chunk length): ``thinning`` kernel steps per draw, the
    draw's constrained and deterministic sites from the sampler's own ``postprocess_fn`` and
    the ``EXTRA_FIELDS`` of its state: the same transitions from the same state as
    ``MCMC.run``, draw for draw (``tests/test_nuts_budget.py``). Vectorized chains only (the
    sampler's ``sample`` then steps every chain at once). Returns ``draw(state, n) ->
    (state, samples, stats)``, arrays ``(chain, draw, ...)``.
    """
    sampler = mcmc.sampler
    post = sampler.postprocess_fn(model_args, {})
    if num_chains > 1:
        post = jax.vmap(post)

    def one(state, _):
        state = jax.lax.fori_loop(0, thinning, lambda i, x: sampler.sample(x, model_args, {}),
                                  state)
        return state, (post(state.z), {k: getattr(state, k) for k in EXTRA_FIELDS})

    @partial(jax.jit, static_argnums=1)
    def loop(state, n):
        return jax.lax.scan(one, state, None, length=n)

    def draw(state, n: int):
        state, (samples, stats) = loop(state, n)

        def by_chain(x):
            x = np.asarray(x)
            return np.swapaxes(x, 0, 1) if num_chains > 1 else x[None]

        return (state, {k: by_chain(v) for k, v in samples.items()},
                {k: by_chain(v) for k, v in stats.items()})

    return draw


def _extend(chunks: list[dict[str, np.ndarray]], reasons: list[str]) -> bool:
    """Whether to draw another chunk; the reason is appended to ``reasons``."""
    why = _unconverged(chunks)
    if why is not None:
        reasons.append(why)
    return why is not None


def _checkpointed_warmup(mcmc: MCMC, ck: checkpoint.Checkpoint, k_warm, model_args: tuple,
                         settings: InferenceSettings, chunk: int, chunks: list[dict],
                         stats: list[dict]) -> tuple[bool, int]:
    """The warmup in chunks of ``chunk`` steps, checkpointed every ``checkpoint_every`` of
    them and at its end, resumed from ``ck`` where it holds this run's state (mid-warmup or
    mid-sampling: the draws so far go to ``chunks`` and ``stats``); leaves the state after the
    warmup (or the checkpoint's, after some draws) in ``mcmc.post_warmup_state``. Returns
    (resumed, draws per chain restored).

    The kernel is initialised once for the whole ``num_warmup`` (its adaptation schedule, the
    windows of the mass matrix and step size, is fixed there) and its ``sample`` step is
    iterated in one compiled loop per chunk: the state carries the step counter and the
    adaptation, so the chunks end in the state that ``MCMC.warmup`` reaches in one loop, bit
    for bit (``tests/test_checkpoint_nuts.py``), and the draws are those of a run without
    checkpoints.
    """
    num_warmup = settings.num_warmup
    # the chains' keys as MCMC.run splits them, and their initial state (also the structure a
    # checkpoint's state must have)
    chain_keys = (jax.random.split(k_warm, settings.num_chains)
                  if settings.num_chains > 1 else k_warm)
    state = mcmc.sampler.init(chain_keys, num_warmup, None, model_args, {})
    done, got, resumed = 0, 0, False
    found = _resume(ck, jax.tree_util.tree_structure(state), num_warmup, chunks, stats)
    if found is not None:
        state, done, got = found
        resumed = True
    if done < num_warmup:
        sampler = mcmc.sampler

        @jax.jit
        def steps(s, n):  # n traced: one compilation for every chunk's length
            return jax.lax.fori_loop(0, n, lambda i, x: sampler.sample(x, model_args, {}), s)

        n_chunk = 0
        while done < num_warmup:
            n = min(chunk, num_warmup - done)
            state = jax.block_until_ready(steps(state, n))
            done += n
            n_chunk += 1
            log.info("nuts: warmup %d/%d steps", done, num_warmup,
                     extra=progress_extra(done, num_warmup, "nuts warmup"))
            if done == num_warmup or n_chunk % settings.checkpoint_every == 0:
                _save(state, ck, chunks, stats, 0, done)
    mcmc.post_warmup_state = state
    return resumed, got


def _save(state, ck: checkpoint.Checkpoint, chunks: list[dict], stats: list[dict],
          got: int, warmup: int) -> None:
    """The chains' state (step sizes, mass matrices and adaptation included), the warmup steps
    done and the draws so far."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    arrays = {f"state/{i}": np.asarray(x) for i, x in enumerate(leaves)}
    for prefix, parts in (("samples", chunks), ("stats", stats)):
        if parts:
            arrays.update({f"{prefix}/{k}": np.concatenate([c[k] for c in parts], axis=1)
                           for k in parts[0]})
    checkpoint.save(ck, arrays, {"back_end": "nuts", "draws": got, "warmup_steps": warmup,
                                 "treedef": str(treedef), "leaves": len(leaves)})
    log.info("nuts: checkpoint written (%d warmup steps, %d draws per chain) to %s", warmup,
             got, ck.path)


def _resume(ck: checkpoint.Checkpoint, treedef, num_warmup: int, chunks: list[dict],
            stats: list[dict]) -> tuple[Any, int, int] | None:
    """The state, warmup steps done and draws per chain of ``ck`` (of this run's inputs and
    structure; its draws so far appended to ``chunks`` and ``stats``), or None."""
    found = checkpoint.load(ck)
    if found is None:
        return None
    arrays, header = found
    warmup = header.get("warmup_steps", num_warmup)
    if (header.get("back_end") != "nuts" or header.get("treedef") != str(treedef)
            or not isinstance(warmup, int) or not 0 <= warmup <= num_warmup):
        log.info("nuts: checkpoint %s is of another state; not resumed", ck.path)
        return None
    leaves = [jax.numpy.asarray(arrays[f"state/{i}"]) for i in range(header["leaves"])]
    state = jax.tree_util.tree_unflatten(treedef, leaves)
    samples = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("samples/")}
    extra = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("stats/")}
    if samples:  # none where the checkpoint was taken during or after the warmup
        chunks.append(samples)
        stats.append(extra)
    got = int(header["draws"])
    log.info("nuts: resumed from checkpoint %s (%d of %d warmup steps, %d draws per chain)",
             ck.path, warmup, num_warmup, got)
    return state, warmup, got
