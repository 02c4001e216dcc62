"""SVI back-end (AutoNormal or low-rank multivariate normal), optimised in compiled chunks."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import optim
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal
from numpyro.infer.initialization import init_to_median

from ..progress import progress_extra
from ._unconstrained import unconstrained_view
from .settings import InferenceResult, InferenceSettings, log


def run_in_chunks(run_chunk: Callable, state, num_steps: int, chunk: int, t0: float,
                  label: str, what: str = "loss"):
    """Call a compiled ``run_chunk(state, start) -> (state, losses)`` until ``num_steps`` are
    done, logging progress between chunks (never inside the compiled loop).

    Returns ``(state, losses, seconds_to_first_chunk, steps_done)``.
    """
    chunks: list[np.ndarray] = []
    done = 0
    t_first = None
    while done < num_steps:
        state, loss = run_chunk(state, done)
        loss = np.asarray(loss)
        if t_first is None:
            t_first = time.perf_counter() - t0
        chunks.append(loss)
        done += chunk
        log.info("%s: step %d/%d, %s %.6g", label, min(done, num_steps), num_steps, what,
                 float(np.mean(loss[-min(len(loss), 100):])),
                 extra=progress_extra(min(done, num_steps), num_steps, label))
    losses = np.concatenate(chunks) if chunks else np.zeros(0)
    return state, losses, t_first or 0.0, done


def optimize_in_chunks(svi: SVI, rng_key, model_args: tuple, num_steps: int, chunk: int,
                       label: str = "svi"):
    """Run ``num_steps`` SVI updates as compiled ``lax.scan`` chunks, logging between chunks.

    Returns ``(state, losses, timings)``.
    """
    t0 = time.perf_counter()
    state = svi.init(rng_key, *model_args)
    chunk = max(1, min(chunk, num_steps))

    @jax.jit
    def run_chunk(st, start):
        def body(s, _):
            s, loss = svi.update(s, *model_args)
            return s, loss

        return jax.lax.scan(body, st, None, length=chunk)

    state, losses, t_first, _ = run_in_chunks(run_chunk, state, num_steps, chunk, t0, label)
    total = time.perf_counter() - t0
    return state, losses, {"compile": t_first, "optimization": total}


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
            deterministic: tuple[str, ...] = (), start: dict | None = None) -> InferenceResult:
    """Fit a normal variational family and draw ``num_chains * num_samples`` from it.

    ``guide = "normal"``: mean-field normal in the unconstrained space, written directly on the
    traced log density (one compiled program, no eager model runs); ``"lowrank"``: NumPyro's
    ``AutoLowRankMultivariateNormal``. ``start``: constrained start values of the guide's
    locations for some sites (the others start at unconstrained zero; ``"normal"`` only).
    """
    if settings.guide == "lowrank":
        return _run_numpyro_guide(model, model_args, settings, rng_key, deterministic)
    t0 = time.perf_counter()
    view = unconstrained_view(model, model_args, rng_key)
    k_opt, k_draw, k_det = jax.random.split(rng_key, 3)
    steps = settings.num_steps
    lr = settings.learning_rate
    opt = optim.Adam(step_size=lambda i: lr * 0.1 ** jnp.minimum(i / steps, 1.0))
    chunk = max(1, min(settings.chunk_size * 4, steps))

    def neg_elbo(params, key):
        loc, log_scale = params
        keys = jax.random.split(key, len(view.names))
        u = {k: loc[k] + jnp.exp(log_scale[k]) * jax.random.normal(kk, loc[k].shape)
             for k, kk in zip(view.names, keys, strict=True)}
        entropy = sum(jnp.sum(v) for v in log_scale.values())
        return -(view.log_density(u) + entropy)

    grad_fn = jax.value_and_grad(neg_elbo)

    @jax.jit
    def run_chunk(state, start):
        def body(st, i):
            loss, g = grad_fn(opt.get_params(st), jax.random.fold_in(k_opt, i))
            return opt.update(g, st, value=loss), loss

        return jax.lax.scan(body, state, start + jnp.arange(chunk))

    init = view.init(start)
    state = opt.init(({k: jnp.asarray(v) for k, v in init.items()},
                      {k: jnp.full(v.shape, np.log(0.05), jnp.float32) for k, v in init.items()}))
    state, losses, t_first, done = run_in_chunks(run_chunk, state, steps, chunk, t0, "svi",
                                                 "-ELBO")
    loc, log_scale = opt.get_params(state)
    t1 = time.perf_counter()
    n = settings.num_samples * settings.num_chains

    @jax.jit
    def draw(key):
        keys = jax.random.split(key, len(view.names))
        u = {k: loc[k] + jnp.exp(log_scale[k]) * jax.random.normal(kk, (n,) + loc[k].shape)
             for k, kk in zip(view.names, keys, strict=True)}
        return jax.vmap(view.constrain)(u)

    latent = {k: np.asarray(v) for k, v in draw(k_draw).items()}
    if deterministic:
        latent.update(predictive_sites(model, latent, model_args, deterministic, k_det))
    c = settings.num_chains
    samples = {k: v.reshape((c, settings.num_samples) + v.shape[1:]) for k, v in latent.items()}
    total = time.perf_counter() - t0
    final = float(np.mean(losses[-100:])) if len(losses) else float("nan")
    log.info("svi: %d steps, final -ELBO %.6g, %.1f s", done, final, total)
    return InferenceResult("svi", samples, {},
                           {"compile": t_first or 0.0, "optimization": t1 - t0,
                            "sampling": time.perf_counter() - t1, "total": total},
                           {"num_steps": done, "final_loss": final,
                            "loss_finite": bool(np.isfinite(losses).all()), "guide": "normal"})


def _run_numpyro_guide(model: Callable, model_args: tuple, settings: InferenceSettings, rng_key,
                       deterministic: tuple[str, ...] = ()) -> InferenceResult:
    """SVI with NumPyro's low-rank multivariate normal guide."""
    t0 = time.perf_counter()
    guide = AutoLowRankMultivariateNormal(model, init_loc_fn=init_to_median)
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
    c = settings.num_chains
    samples = {k: v.reshape((c, settings.num_samples) + v.shape[1:]) for k, v in latent.items()}
    timings["sampling"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    final = float(np.mean(losses[-100:])) if len(losses) else float("nan")
    return InferenceResult("svi", samples, {}, timings,
                           {"num_steps": settings.num_steps, "final_loss": final,
                            "loss_finite": bool(np.isfinite(losses).all()), "guide": "lowrank"})
