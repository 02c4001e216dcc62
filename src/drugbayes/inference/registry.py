"""The back-end registry: the only list of inference back-ends in the package.

A back-end is one :class:`Backend` record: its name (the value of ``inference.method``), the
``[inference]`` keys it reads, how it runs, what it can fit, and the capabilities the
diagnostics go by (draws that are Markov chains, divergences, energy, a point estimate, a
variational fit). The rest of the package asks the registry and never names a back-end.

This module imports no numerical library: the back-ends are imported when they run, so a
back-end module can move by changing one import line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, Issue

if TYPE_CHECKING:
    from ..config import InferenceConfig
    from ..families import Family, Spec
    from .settings import InferenceResult

__all__ = ["BACKENDS", "Backend", "FitTask", "Unsupported", "get_backend", "method_problem"]

Unsupported = tuple[str, str, str]
"""Why a back-end cannot fit a model: (what, its value, what the back-end needs)."""


@dataclass(frozen=True)
class FitTask:
    """What a back-end fits: a family's model with its validated spec and encoded data.

    Attributes
    ----------
    family : Family
        The model family (its NumPyro model, sites, start values).
    spec : Spec
        The validated model spec.
    data : object
        The encoded data (category names kept).
    arrays : dict
        ``family.arrays(data)``: the arrays passed to the model.
    """

    family: Family
    spec: Spec
    data: Any
    arrays: dict


@dataclass(frozen=True)
class Backend:
    """One inference back-end.

    Attributes
    ----------
    name : str
        The value of ``inference.method``.
    description : str
        One line.
    keys : tuple of str
        The ``[inference]`` keys it reads (its settings); the others are ignored by it.
    run : callable(FitTask, InferenceConfig, seed) -> InferenceResult
        Fit; every random draw derives from ``seed``.
    supports : callable(spec, arrays or None) -> list of Unsupported, optional
        Why it cannot fit a model and data (``arrays`` is ``None`` where the data are not of
        the spec's kind); ``None``: it fits every family's model.
    chains : bool
        Its draws are Markov chains: R-hat and ESS are checked.
    divergences : bool
        ``sample_stats["diverging"]`` counts divergent transitions (checked).
    energy : bool
        ``sample_stats["energy"]`` is the Hamiltonian energy (BFMI checked).
    point_estimate : bool
        One point (a mode), not draws: only the finiteness of its loss is checked.
    variational : bool
        Independent draws of a fitted approximation: the finiteness of its loss is checked,
        R-hat and ESS are not (they describe the approximation, not the posterior).
    """

    name: str
    description: str
    keys: tuple[str, ...]
    run: Callable[[FitTask, InferenceConfig, int], InferenceResult]
    supports: Callable[[Spec, dict | None], list[Unsupported]] | None = None
    chains: bool = False
    divergences: bool = False
    energy: bool = False
    point_estimate: bool = False
    variational: bool = False

    def unsupported(self, spec: Spec, arrays: Callable[[], dict | None],
                    source: str = "<config>") -> list[Issue]:
        """Why this back-end cannot fit ``spec`` on the data, as config issues (empty: it can).

        ``arrays`` is called (to encode the model arrays) only for a back-end with a
        ``supports`` check.
        """
        if self.supports is None:
            return []
        return [Issue(source, None, f"inference.method = {self.name!r}: {what}", value, need)
                for what, value, need in self.supports(spec, arrays())]

    def check_supports(self, spec: Spec, arrays: Callable[[], dict | None],
                       source: str = "<config>") -> None:
        """Raise :class:`ConfigError` listing why this back-end cannot fit ``spec``."""
        issues = self.unsupported(spec, arrays, source)
        if issues:
            raise ConfigError(issues)


# ------------------------------------------------------------------ the back-ends' entry points
# Each imports its back-end when it runs (a move of a back-end module is a one-line change).
def _run_nuts(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    from .runners import run_nuts_backend

    return run_nuts_backend(task, settings, seed)


def _run_svi(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    from .runners import run_svi_backend

    return run_svi_backend(task, settings, seed)


def _run_map(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    from .runners import run_map_backend

    return run_map_backend(task, settings, seed)


def _run_screen(task: FitTask, settings: InferenceConfig, seed: int) -> InferenceResult:
    from .screen import run_screen

    return run_screen(task.arrays, task.spec, settings, seed)


def _screen_supports(spec: Spec, arrays: dict | None) -> list[Unsupported]:
    from .screen_support import screen_problems

    return screen_problems(spec, arrays)


_MAP_KEYS = ("map_num_steps", "map_learning_rate", "chunk_size")
_MAP_START_KEYS = ("init", *_MAP_KEYS)

BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("nuts", "NumPyro NUTS, every chain started from the MAP",
            ("num_chains", "num_warmup", "num_samples", "chain_method", "target_accept_prob",
             "max_tree_depth", "dense_mass", "thinning", *_MAP_START_KEYS),
            _run_nuts, chains=True, divergences=True, energy=True),
    Backend("svi", "stochastic variational inference (normal or low-rank guide)",
            ("num_chains", "num_samples", "num_steps", "learning_rate", "guide",
             *_MAP_START_KEYS),
            _run_svi, variational=True),
    Backend("map", "the joint posterior mode (Adam in the unconstrained space)",
            _MAP_KEYS, _run_map, point_estimate=True),
    Backend("screen", "batched blocked HMC for screens (dose-response, normalised viability)",
            ("num_chains", "num_warmup", "num_samples", "thinning", "screen_curve_steps",
             "screen_drug_steps", "screen_global_steps", "screen_target_accept",
             "screen_mode_jump", "screen_shard"),
            _run_screen, _screen_supports, chains=True),
)}
"""Every back-end, by ``inference.method`` name (the first is the default)."""


def method_problem(name: str) -> str | None:
    """Why ``name`` is not a registered back-end, or ``None`` where it is."""
    if name in BACKENDS:
        return None
    return f"unknown back-end {name!r}; registered: {', '.join(BACKENDS)}"


def get_backend(name: str) -> Backend:
    """Look a back-end up by ``inference.method`` name (error lists the registered ones)."""
    problem = method_problem(name)
    if problem is not None:
        raise ConfigError([Issue("<config>", None, "inference.method", name, problem)])
    return BACKENDS[name]
