"""SVI back-end (AutoNormal or low-rank multivariate normal), optimised in compiled chunks."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import optim
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal
from numpyro.infer.initialization import init_to_median

from .settings import InferenceResult, InferenceSettings, log


def optimize_in_chunks(svi: SVI, rng_key, model_args: tuple, num_steps: int, chunk: int,
                       label: str = "svi"):
    """Run ``num_steps`` SVI updates as compiled ``lax.scan`` chunks, logging between chunks.

    Returns ``(state, losses, timings)``.
    """
    t0 = time.perf_counter()
    state = svi.init(rng_key, *model_args)
    chunk = max(1, min(chunk, num_steps))

    @jax.jit
    def run_chunk(st):
        def body(s, _):
            s, loss = svi.update(s, *model_args)
            return s, loss

        return jax.lax.scan(body, st, None, length=chunk)

    losses = []
    done = 0
    t_first = None
    while done < num_steps:
        state, loss = run_chunk(state)
        loss = np.asarray(loss)
        if t_first is None:
            t_first = time.perf_counter() - t0
        losses.append(loss)
        done += chunk
        log.info("%s: step %d/%d, loss %.5g", label, min(done, num_steps), num_steps,
                 float(loss[-1]))
    losses = np.concatenate(losses)[:max(num_steps, 1)] if losses else np.zeros(0)
    total = time.perf_counter() - t0
    return state, losses, {"compile": t_first or 0.0, "optimization": total}


def predictive_sites(model: Callable, latent: dict, model_args: tuple, sites: tuple[str, ...],
                     rng_key) -> dict[str, np.ndarray]:
    """Deterministic sites for a batch of latent draws (leading axis = draw)."""
    @jax.jit
    def run(samples):
        pred = Predictive(model, posterior_samples=samples, return_sites=list(sites),
                          batch_ndims=1)
        return pred(rng_key, *model_args)

    out = run({k: jnp.asarray(v) for k, v in latent.items()})
    return {k: np.asarray(v) for k, v in out.items()}


def run_svi(model: Callable, model_args: tuple, settings: InferenceSettings, rng_key,
            deterministic: tuple[str, ...] = ()) -> InferenceResult:
    """Fit a mean-field (or low-rank) normal guide and draw ``num_samples`` from it."""
    t0 = time.perf_counter()
    if settings.guide == "lowrank":
        guide = AutoLowRankMultivariateNormal(model, init_loc_fn=init_to_median)
    else:
        guide = AutoNormal(model, init_loc_fn=init_to_median, init_scale=0.05)
    svi = SVI(model, guide, optim.ClippedAdam(step_size=settings.learning_rate, clip_norm=10.0),
              Trace_ELBO())
    k_opt, k_draw, k_det = jax.random.split(rng_key, 3)
    state, losses, timings = optimize_in_chunks(svi, k_opt, model_args, settings.num_steps,
                                                settings.chunk_size * 4)
    params = svi.get_params(state)
    n = settings.num_samples * settings.num_chains
    t1 = time.perf_counter()
    latent = guide.sample_posterior(k_draw, params, sample_shape=(n,))
    latent = {k: np.asarray(v) for k, v in latent.items()}
    if deterministic:
        latent.update(predictive_sites(model, latent, model_args, deterministic, k_det))
    # present independent draws as chains x draws, so the diagnostics machinery applies
    c = settings.num_chains
    samples = {k: v.reshape((c, settings.num_samples) + v.shape[1:]) for k, v in latent.items()}
    timings["sampling"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    final = float(np.mean(losses[-100:])) if len(losses) else float("nan")
    log.info("svi: %d steps, final loss %.5g, %.1f s", settings.num_steps, final,
             timings["total"])
    return InferenceResult("svi", samples, {}, timings,
                           {"num_steps": settings.num_steps, "final_loss": final,
                            "loss_finite": bool(np.isfinite(losses).all())})
