"""MAP back-end: joint maximum a posteriori over all curves at once (one compiled program)."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import numpy as np
from numpyro import optim
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoDelta

from .settings import InferenceResult, InferenceSettings, log
from .svi import optimize_in_chunks, predictive_sites


def run_map(model: Callable, model_args: tuple, settings: InferenceSettings, rng_key,
            deterministic: tuple[str, ...] = (), num_steps: int | None = None,
            learning_rate: float | None = None) -> InferenceResult:
    """Maximise the log posterior with Adam over all parameters jointly.

    Returns a single "draw" (chain 1, draw 1) of every latent and deterministic site.
    """
    t0 = time.perf_counter()
    guide = AutoDelta(model)
    steps = num_steps or settings.map_num_steps
    lr = learning_rate or settings.map_learning_rate
    svi = SVI(model, guide, optim.ClippedAdam(step_size=lr, clip_norm=10.0), Trace_ELBO())
    state, losses, timings = optimize_in_chunks(svi, rng_key, model_args, steps,
                                                settings.chunk_size * 4, label="map")
    params = svi.get_params(state)
    latent = guide.median(params)
    samples = {k: np.asarray(v)[None, None] for k, v in latent.items()}
    if deterministic:
        det = predictive_sites(model, {k: np.asarray(v)[None] for k, v in latent.items()},
                               model_args, deterministic, jax.random.fold_in(rng_key, 1))
        samples.update({k: v[None] for k, v in det.items()})
    timings["total"] = time.perf_counter() - t0
    final = float(losses[-1]) if len(losses) else float("nan")
    log.info("map: %d steps, final loss %.4g, %.1f s", steps, final, timings["total"])
    return InferenceResult("map", samples, {}, timings,
                           {"num_steps": steps, "final_loss": final,
                            "loss_finite": bool(np.isfinite(final)), "params": latent})
