"""The back-ends that run on a family's NumPyro model: MAP, NUTS and SVI.

Each takes a :class:`~drugbayes.inference.registry.FitTask` and the run's seed. The seed's key
is split once into a MAP key and a run key (the MAP start of NUTS and SVI, and the MAP
back-end itself, use the first). The MAP is taken in non-centred coordinates (a centred
hierarchical MAP is degenerate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from ..config import InferenceConfig
from ..families import Spec
from .map import run_map
from .nuts import run_nuts
from .settings import InferenceResult
from .svi import run_svi

if TYPE_CHECKING:
    from .registry import FitTask

__all__ = ["run_map_backend", "run_nuts_backend", "run_svi_backend"]


def _keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """The MAP key and the run key of a seed."""
    k_map, k_run = jax.random.split(jax.random.PRNGKey(seed))
    return k_map, k_run


def _model(task: FitTask, spec: Spec) -> Callable[..., None]:
    """The family's model bound to the task's arrays and ``spec``."""
    def model(observed: bool = True):
        return task.family.model(task.arrays, spec, observed)

    return model


def _noncentred(spec: Spec) -> Spec:
    """``spec`` with a non-centred parameterisation (where the family has the option)."""
    if hasattr(spec.options, "parameterization"):
        return replace(spec, options=spec.options.model_copy(
            update={"parameterization": "noncentered"}))
    return spec


def _kept_sites(task: FitTask) -> tuple[str, ...]:
    """Deterministic and extra sites kept from MAP and SVI draws."""
    fam = task.family
    extra = fam.extra_sites(task.data) if fam.extra_sites else ()
    return fam.deterministic_sites + extra


def _map_start(task: FitTask, nc_spec: Spec) -> dict | None:
    """The family's data-driven MAP start, if it has one."""
    fam = task.family
    return fam.map_start(task.arrays, nc_spec) if fam.map_start else None


def _map(task: FitTask, settings: InferenceConfig, k_map: jax.Array, nc_spec: Spec,
         start: dict | None, laplace: bool = False) -> InferenceResult:
    labels = _labels(task) if laplace else None
    return run_map(_model(task, nc_spec), (), settings, k_map, _kept_sites(task), start=start,
                   laplace=laplace, labels=labels)


def _labels(task: FitTask) -> dict[str, list[str]]:
    """Site -> labels of its leading dimension (from the family's posterior dims)."""
    dims, coords = task.family.posterior_dims(task.data)
    return {k: [str(x) for x in coords[d[0]]] for k, d in dims.items()
            if d and d[0] in coords}


def _init_from_map(task: FitTask, settings: InferenceConfig, k_map: jax.Array,
                   nc_spec: Spec, start: dict | None) -> dict:
    """Constrained start values of every chain (or of the guide) from the MAP."""
    m = _map(task, settings, k_map, nc_spec, start)
    values = {k: v[0, 0] for k, v in m.samples.items()}
    fam = task.family
    init = fam.init_values(values, task.arrays, task.spec) if fam.init_values else values
    return {k: jnp.asarray(v) for k, v in init.items()}


REFINE_RATE = 0.2
"""The Laplace refinement's step size, as a fraction of ``map_learning_rate``."""


def run_map_backend(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    """The MAP back-end: the joint posterior mode, with draws of the Laplace approximation at
    it (``laplace = true``) or alone (one "draw", the non-centred mode).

    The mode is found in non-centred coordinates (a centred hierarchical MAP can be
    degenerate). The Laplace approximation is taken in the model's own parameterisation (that
    of NUTS: e.g. centred where a unit's data pin its parameters), at the mode reached by
    refining the non-centred one there (``map_num_steps`` more Adam steps at a fifth of
    ``map_learning_rate``, from the family's ``init_values``): in non-centred coordinates a
    well-identified unit's value is a product (scale x standard normal) whose posterior is a
    curved ridge that a Gaussian cannot follow, and its intervals came out 2-5 times wider
    than NUTS's (``benchmarks/results/validation/map_laplace_vs_nuts.md``). Where the
    approximation is refused there (a Hessian that is not positive definite), it is taken in
    non-centred coordinates at the first mode instead (``info["laplace"]["parameterization"]``
    says which).
    """
    k_map, _ = _keys(seed)
    nc_spec = _noncentred(task.spec)
    start = _map_start(task, nc_spec)
    if not settings.laplace or nc_spec == task.spec:
        one = _map(task, settings, k_map, nc_spec, start, settings.laplace)
        if settings.laplace:
            one.info.setdefault("laplace", {})["parameterization"] = "the model's own"
        return one
    m = _map(task, settings, k_map, nc_spec, start)
    values = {k: v[0, 0] for k, v in m.samples.items()}
    fam = task.family
    init = fam.init_values(values, task.arrays, task.spec) if fam.init_values else values
    steps = settings.map_num_steps
    res = run_map(_model(task, task.spec), (), settings, jax.random.fold_in(k_map, 5),
                  _kept_sites(task), num_steps=steps,
                  learning_rate=settings.map_learning_rate * REFINE_RATE,
                  start={k: jnp.asarray(v) for k, v in init.items()}, laplace=True,
                  labels=_labels(task))
    res.info["params"] = m.info["params"]  # the non-centred mode (the start of NUTS and SVI)
    res.info["num_steps"] = m.info["num_steps"] + res.info["num_steps"]
    res.timings = {**res.timings, "refinement": res.timings["optimization"],
                   "compile": m.timings["compile"],
                   "optimization": m.timings["optimization"] + res.timings["optimization"],
                   "laplace": res.timings.get("laplace", 0.0),
                   "total": m.timings["total"] + res.timings["total"]}
    res.info.setdefault("laplace", {})["parameterization"] = (
        "the model's own (refined from the non-centred mode)")
    if "laplace" not in res.info or res.info["laplace"].get("n_draws", 0) == 0:
        from .settings import log

        log.warning("map: the Laplace approximation in the model's own parameterisation was "
                    "refused (%s); taking it in non-centred coordinates",
                    res.info.get("laplace", {}).get("refused"))
        nc = _map(task, settings, k_map, nc_spec, start, True)
        nc.info.setdefault("laplace", {})["parameterization"] = (
            "non-centred (the model's own was refused: "
            f"{res.info.get('laplace', {}).get('refused')})")
        nc.timings["optimization"] += res.timings["optimization"]
        nc.timings["total"] += res.timings["total"]
        return nc
    return res


def run_nuts_backend(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    """NUTS, every chain started from the MAP (``init = "map"``) or from prior medians."""
    k_map, k_run = _keys(seed)
    nc_spec = _noncentred(task.spec)
    start = _map_start(task, nc_spec)
    t0 = time.perf_counter()
    init = None
    if settings.init == "map":
        init = _init_from_map(task, settings, k_map, nc_spec, start)
    t_map = time.perf_counter() - t0
    res = run_nuts(_model(task, task.spec), (), settings, k_run, init)
    res.timings["map_init"] = t_map
    return res


def run_svi_backend(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    """SVI; the guide starts from the MAP for families whose optimisation needs a data-driven
    start (``map_start``: from zeros Adam needs thousands of steps on them)."""
    k_map, k_run = _keys(seed)
    nc_spec = _noncentred(task.spec)
    start = _map_start(task, nc_spec)
    t0 = time.perf_counter()
    init = None
    if settings.init == "map" and start is not None:
        init = _init_from_map(task, settings, k_map, nc_spec, start)
    t_map = time.perf_counter() - t0
    res = run_svi(_model(task, task.spec), (), settings, k_run, _kept_sites(task), start=init)
    res.timings["map_init"] = t_map
    return res
