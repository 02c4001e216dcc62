"""Unconstrained-space view of a NumPyro model, built by tracing (no eager op-by-op run).

NumPyro's ``initialize_model`` runs the model eagerly, which on a CPU compiles every jnp
operation separately (hundreds of small compilations, seconds). Here the model's latent sites
and supports are read with ``jax.eval_shape`` (a trace, nothing compiled) and the log density
is only ever evaluated inside ``jax.jit``: one compilation per program.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import compute_log_probs, log_density


@dataclass
class Unconstrained:
    """Latent sites of a model and the maps between constrained and unconstrained values."""

    names: list[str]
    transforms: dict
    shapes: dict[str, tuple]  # constrained shapes
    ushapes: dict[str, tuple]  # unconstrained shapes
    model: Callable
    model_args: tuple

    def init(self, start: dict | None = None) -> dict[str, np.ndarray]:
        """Unconstrained start: ``start``'s constrained values where given, else zeros
        (location 0, scales 1, sum-to-zero effects 0)."""
        out = {k: np.zeros(self.ushapes[k], np.float32) for k in self.names}
        for k, v in (start or {}).items():
            if k in out:
                u = np.asarray(self.transforms[k].inv(jnp.asarray(v, jnp.float32)), np.float32)
                out[k] = np.broadcast_to(u, self.ushapes[k]).copy()
        return out

    def constrain(self, u: dict) -> dict:
        return {k: self.transforms[k](u[k]) for k in self.names}

    def log_density(self, u: dict) -> jnp.ndarray:
        """Log joint density of the unconstrained values (Jacobian included)."""
        x = self.constrain(u)
        lp, _ = log_density(self.model, self.model_args, {}, x)
        for k in self.names:
            t = self.transforms[k]
            ld = t.log_abs_det_jacobian(u[k], x[k])
            lp = lp + jnp.sum(ld)
        return lp

    def prior_and_params(self, u: dict) -> tuple[jnp.ndarray, dict]:
        """The split ``log_density(u) = prior + loglik(params)``.

        ``prior``: the latent sites' log densities and the Jacobians; ``params``: every
        latent site's constrained value and every deterministic site's value (what the
        observed sites may depend on). Compiled, the observed sites' densities are not
        evaluated (nothing uses them).
        """
        x = self.constrain(u)
        logp, tr = compute_log_probs(self.model, self.model_args, {}, x)
        lp = sum((logp[k] for k in self.names), start=jnp.zeros(()))
        for k in self.names:
            lp = lp + jnp.sum(self.transforms[k].log_abs_det_jacobian(u[k], x[k]))
        det = {k: s["value"] for k, s in tr.items() if s["type"] == "deterministic"}
        return lp, {**x, **det}

    def loglik(self, params: dict) -> jnp.ndarray:
        """Log density of the observed sites given ``params`` (latent and deterministic site
        values, as from :meth:`prior_and_params`; deterministic sites take the given
        values, not the ones their inputs would give)."""
        logp, tr = compute_log_probs(self.model, self.model_args, {}, params)
        return sum((v for k, v in logp.items() if tr[k]["is_observed"]), start=jnp.zeros(()))


def unconstrained_view(model: Callable, model_args: tuple = (), rng_key=None) -> Unconstrained:
    """Read the latent sites of ``model`` by tracing it once (nothing is compiled or run)."""
    rng_key = jax.random.PRNGKey(0) if rng_key is None else rng_key
    supports: dict = {}
    order: list[str] = []

    def f(key):
        tr = handlers.trace(handlers.seed(model, key)).get_trace(*model_args)
        out = {}
        for name, site in tr.items():
            if site["type"] == "sample" and not site["is_observed"]:
                supports[name] = site["fn"].support
                order.append(name)
                out[name] = site["value"]
        return out

    shapes = {k: tuple(v.shape) for k, v in jax.eval_shape(f, rng_key).items()}
    transforms = {k: biject_to(supports[k]) for k in order}
    ushapes = {k: tuple(transforms[k].inverse_shape(shapes[k])) for k in order}
    return Unconstrained(order, transforms, shapes, ushapes, model, model_args)

