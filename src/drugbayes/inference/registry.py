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

__all__ = ["BACKENDS", "Approximation", "Backend", "FitTask", "Unsupported", "get_backend",
           "method_problem"]

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
class Approximation:
    """What a run's numbers are: which approximation of the posterior its draws come from.

    Attributes
    ----------
    name : str
        ``"mcmc"``, ``"variational"``, ``"laplace"`` or ``"point"``.
    draws : bool
        The run has draws of an approximation of the posterior, so intervals and
        probabilities have a meaning (stated in ``description``); ``False``: a point
        estimate, intervals and probabilities are left empty.
    diagnosed : bool
        Convergence diagnostics (R-hat, ESS, ...) apply and were checked.
    description : str
        One or two sentences for ``diagnostics.json``, the log and the printed headline.
    """

    name: str
    draws: bool
    diagnosed: bool
    description: str

    def as_dict(self) -> dict:
        return {"name": self.name, "draws": self.draws, "diagnosed": self.diagnosed,
                "description": self.description}


SVI_COVERAGE = ("measured 90% coverage 0.47 of simulated combinations' synergy (beta, log "
                "alpha, excesses), 0.63 of simulated curves' log10 IC50 and 0.88 of simulated "
                "xenograft arm growth rates (benchmarks/results/validation/"
                "approximation_calibration.md; NUTS 0.92 and 0.89 on the combination and "
                "xenograft studies); 95% intervals held 0.78 of 1,000 simulated curves' log10 "
                "IC50 (NUTS 0.96; benchmarks/results/peers/dose_response_screen_cpu.md)")
"""The variational back-end's measured interval coverage (from the benchmarks)."""


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
    laplace : bool
        A point estimate that can carry draws of the Laplace approximation at it (the run's
        ``info["laplace"]`` says whether this run has them).
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
    laplace: bool = False

    def approximation(self, info: dict | None = None) -> Approximation:
        """What the draws of a run of this back-end are (``info``: the run's
        ``InferenceResult.info``)."""
        info = info or {}
        if self.chains:
            return Approximation("mcmc", True, True, (
                f"MCMC draws ({self.name}): intervals are posterior quantiles and probabilities "
                "posterior frequencies, trustworthy where the convergence diagnostics pass"))
        if self.variational:
            return Approximation("variational", True, False, (
                f"draws of a fitted normal approximation ({self.name}, in the unconstrained "
                "space): no convergence diagnostics apply, and its intervals are usually too "
                f"narrow ({SVI_COVERAGE})"))
        lap = info.get("laplace") or {}
        if self.laplace and lap.get("n_draws") and lap.get("refused") is None:
            n_bad = lap.get("n_not_positive_definite", 0)
            extra = (f"; {n_bad} unit(s) without a positive definite Hessian have empty "
                     "intervals" if n_bad else "")
            held = lap.get("held_at_mode") or []
            if held:
                extra += (f"; the scales {', '.join(held)} are held at the mode (intervals "
                          "conditional on them)")
            return Approximation("laplace", True, False, (
                f"Laplace approximation at the posterior mode ({self.name}): {lap['n_draws']} "
                "draws of the Gaussian with the mode's curvature in the unconstrained space "
                f"({lap.get('structure')} Hessian), pushed through the same derived quantities "
                "as posterior draws; intervals and probabilities are those of that Gaussian, "
                "not checked by any convergence diagnostic, and too narrow where the posterior "
                f"is skewed{extra}"))
        why = (f" (the Laplace approximation was refused: {lap['refused']})"
               if lap.get("refused") else "")
        return Approximation("point", False, False, (
            f"point estimate ({self.name}: the posterior mode){why}: no intervals and no "
            "probabilities (left empty)"))

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
_LAPLACE_KEYS = ("laplace", "laplace_draws")
_MAP_START_KEYS = ("init", *_MAP_KEYS)

BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("nuts", "NumPyro NUTS, every chain started from the MAP",
            ("num_chains", "num_warmup", "num_samples", "max_num_samples", "chain_method",
             "target_accept_prob", "max_tree_depth", "dense_mass", "thinning",
             "checkpoint_every", *_MAP_START_KEYS),
            _run_nuts, chains=True, divergences=True, energy=True),
    Backend("svi", "stochastic variational inference (normal or low-rank guide)",
            ("num_chains", "num_samples", "num_steps", "learning_rate", "guide",
             *_MAP_START_KEYS),
            _run_svi, variational=True),
    Backend("map", "the joint posterior mode (Adam in the unconstrained space), with draws of "
            "the Laplace approximation at it (laplace = true)",
            (*_MAP_KEYS, *_LAPLACE_KEYS), _run_map, point_estimate=True, laplace=True),
    Backend("screen", "batched blocked HMC for screens (dose-response, normalised viability)",
            ("num_chains", "num_warmup", "num_samples", "thinning", "screen_curve_steps",
             "screen_drug_steps", "screen_global_steps", "screen_target_accept",
             "screen_mode_jump", "screen_shard", "checkpoint_every"),
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
