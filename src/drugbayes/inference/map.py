"""MAP back-end: joint posterior mode over all curves at once, one compiled program.

The mode is taken in the unconstrained space (log scales, sum-to-zero coordinates; the
Jacobian is included), with Adam in compiled ``lax.scan`` chunks, progress between chunks.
With ``laplace = true`` the Laplace approximation at the mode (:mod:`.laplace`) gives draws,
which go through the model's deterministic sites like SVI draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers, optim

from ._unconstrained import unconstrained_view
from .laplace import (
    MARGINAL_MAX_COORDINATES,
    MAX_DRAW_VALUES,
    draws_at_scale,
    likelihood_surrogate,
    monte_carlo_error,
)
from .laplace import laplace as laplace_fit
from .settings import InferenceResult, InferenceSettings, log
from .svi import predictive_sites, run_in_chunks

HOLD_SCALES = True
"""Hold the model's positive scalar sites (hierarchical scales, the noise scale) at the mode
in the Laplace draws: the other parameters' Gaussian is conditional on them (empirical Bayes
for the scales). Taken jointly, a Gaussian in a log scale and its non-centred members cannot
follow their curved ridge and gave intervals 5-7 times NUTS's width for the combination
example's matrix-level synergy (``benchmarks/results/validation/map_laplace_vs_nuts.md``).
They are held at the mode of their own (Laplace-approximate) marginal posterior, not at the
joint mode (:func:`drugbayes.inference.laplace._marginal_held`): the joint mode of a scale
sits near its prior mode where few members inform it, and held there it made the
combination-level intervals of the combination example about twice NUTS's width. Problems
above :data:`drugbayes.inference.laplace.MARGINAL_MAX_COORDINATES` coordinates (large
screens) keep the joint mode's values (the search's cost)."""


def _held(view) -> frozenset[str]:
    """The sites held at the mode: scalar sites with positive support."""
    if not HOLD_SCALES:
        return frozenset()
    from numpyro.distributions import constraints

    return frozenset(k for k in view.names if view.shapes[k] == ()
                     and view.transforms[k].codomain == constraints.positive)


def run_map(model: Callable, model_args: tuple, settings: InferenceSettings, rng_key,
            deterministic: tuple[str, ...] = (), num_steps: int | None = None,
            learning_rate: float | None = None, start: dict | None = None,
            laplace: bool = False, labels: dict[str, list[str]] | None = None
            ) -> InferenceResult:
    """Maximise the log posterior with Adam over all parameters jointly.

    Without ``laplace``: a single "draw" (chain 1, draw 1) of every latent and deterministic
    site, the mode. With it: ``settings.laplace_draws`` draws (chain 1; fewer on a large
    problem, :func:`~drugbayes.inference.laplace.draws_at_scale`, the Monte Carlo error in
    ``info["laplace"]["monte_carlo_error"]``) of the Laplace
    approximation at the mode (``info["laplace"]`` says how it was built and which units, by
    their ``labels``, had no positive definite Hessian); where it is refused, the mode alone.
    The constrained mode is in ``info["params"]`` (used to start NUTS) either way. ``start``:
    constrained start values of some sites (the others start at unconstrained zero).
    """
    t0 = time.perf_counter()
    view = unconstrained_view(model, model_args, rng_key)
    steps = settings.map_num_steps if num_steps is None else num_steps
    lr = learning_rate or settings.map_learning_rate
    # Adam with the step size decaying exponentially to 1% of its start: fast early progress,
    # a precise mode at the end
    opt = optim.Adam(step_size=lambda i: lr * 0.01 ** jnp.minimum(i / steps, 1.0))
    chunk = max(1, min(settings.chunk_size * 4, steps))  # steps = 0: start is the mode
    grad_fn = jax.value_and_grad(lambda u: -view.log_density(u))

    @jax.jit
    def run_chunk(state, start):
        def body(st, _):
            loss, g = grad_fn(opt.get_params(st))
            return opt.update(g, st, value=loss), loss

        return jax.lax.scan(body, state, None, length=chunk)

    state = opt.init(view.init(start))
    state, losses, t_first, done = run_in_chunks(run_chunk, state, steps, chunk, t0, "map",
                                                 "-log density")
    u = opt.get_params(state)

    @jax.jit
    def finish(u):
        # constrained values, deterministic sites and the log density in one compiled program
        x = view.constrain(u)
        tr = handlers.trace(handlers.substitute(
            handlers.seed(model, jax.random.fold_in(rng_key, 1)), data=x)).get_trace(*model_args)
        return x, {k: tr[k]["value"] for k in deterministic if k in tr}, -view.log_density(u)

    x, det, loss_u = finish(u)
    latent = {k: np.asarray(v) for k, v in x.items()}
    samples = {k: v[None, None] for k, v in latent.items()}
    samples.update({k: np.asarray(v)[None, None] for k, v in det.items()})
    t_opt = time.perf_counter() - t0
    final = float(losses[-1]) if len(losses) else float(loss_u)
    log.info("map: %d steps, final -log density %.6g, %.1f s", done, final, t_opt)
    info = {"num_steps": done, "final_loss": final, "loss_finite": bool(np.isfinite(final)),
            "params": {k: jnp.asarray(v) for k, v in latent.items()}}
    timings = {"compile": t_first or 0.0, "optimization": t_opt}
    if laplace and np.isfinite(final):
        t1 = time.perf_counter()
        n_coord = sum(int(np.prod(sh)) for sh in view.ushapes.values())
        n = draws_at_scale(settings.laplace_draws, n_coord)
        mc = monte_carlo_error(n)
        if n < settings.laplace_draws:
            mc["note"] = (f"{n} of the {settings.laplace_draws} laplace_draws asked for "
                          f"({n_coord} unconstrained coordinates; at most about "
                          f"{MAX_DRAW_VALUES:,} values of draws): " + mc["note"])
            log.info("laplace: %s", mc["note"])
        cheap, how = likelihood_surrogate(view.prior_and_params, view.loglik, u,
                                          jax.random.fold_in(rng_key, 4))
        if cheap is None:
            log.info("laplace: Hessian-vector products over the data (%s)", how["why"])
        t2 = time.perf_counter()
        fit = laplace_fit(cheap or view.log_density, u, view.ushapes, n,
                          jax.random.fold_in(rng_key, 2), labels, hold=_held(view),
                          marginal=sum(int(np.prod(sh)) for sh in view.ushapes.values())
                          <= MARGINAL_MAX_COORDINATES)
        info["laplace"] = {**fit.info(), "n_draws": n if fit.draws is not None else 0,
                           "n_draws_requested": settings.laplace_draws,
                           "monte_carlo_error": mc if fit.draws is not None else None,
                           "likelihood_surrogate": how}
        timings["laplace_surrogate"] = t2 - t1
        timings["laplace_hessian_and_draws"] = time.perf_counter() - t2
        u_draws, refused = fit.draws, fit.refused
        del fit  # what its marginal sds would need (on a large screen, gigabytes)
        if u_draws is None:
            log.warning("map: no Laplace approximation (%s); point estimates only, intervals "
                        "and probabilities left empty", refused)
        else:
            t3 = time.perf_counter()
            drawn = jax.jit(jax.vmap(view.constrain))(
                {k: jnp.asarray(v) for k, v in u_draws.items()})
            draws = {k: np.asarray(v) for k, v in drawn.items()}
            if deterministic:
                draws.update(predictive_sites(model, draws, model_args, deterministic,
                                              jax.random.fold_in(rng_key, 3)))
            samples = {k: v[None] for k, v in draws.items()}
            timings["laplace_constrain"] = time.perf_counter() - t3
        timings["laplace"] = time.perf_counter() - t1
    elif laplace:
        info["laplace"] = {"refused": "the MAP's loss is not finite", "n_draws": 0}
    timings["total"] = time.perf_counter() - t0
    return InferenceResult("map", samples, {}, timings, info)

