"""The family contract: what every registered model family provides.

Every family's NumPyro model is split in two pure pieces that other code can call:

- ``latents(spec, a, shared=None) -> dict``: samples the hierarchy (every latent site, in a
  fixed order) and returns the parameters the likelihood needs;
- ``likelihood(params, a, spec) -> dict[str, Observed]``: the distribution of each observed
  site given those parameters, with its observed values and mask.

``model(a, spec, observed)`` is ``sample_observed(likelihood(latents(spec, a), a, spec),
observed)``. A blocked back-end evaluates the same ``likelihood`` (``Observed.log_prob``) on
its own layout of the data, so the posterior is written once.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpyro
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError, Issue


class Observed(NamedTuple):
    """One observed site: its distribution given the parameters, its data and its mask."""

    dist: Any
    value: Any
    mask: Any = None

    def log_prob(self) -> jnp.ndarray:
        """Elementwise log density of the data, 0 where masked out."""
        lp = self.dist.log_prob(self.value)
        return lp if self.mask is None else jnp.where(self.mask, lp, 0.0)


def sample_observed(obs: dict[str, Observed], observed: bool = True) -> None:
    """Emit the NumPyro sample statements of a likelihood (in its order).

    Parameters
    ----------
    obs : dict
        Output of a family's ``likelihood``.
    observed : bool
        Condition on the data (False draws predictive values at the same sites).
    """
    for name, o in obs.items():
        fn = o.dist if o.mask is None else o.dist.mask(o.mask)
        numpyro.sample(name, fn, obs=o.value if observed else None)


@dataclass(frozen=True)
class UnitChecks:
    """What a family checks per unit (:mod:`drugbayes.report.checks`).

    Attributes
    ----------
    name : str
        What a unit is (``"curve"``, ``"matrix"``, ``"mouse"``).
    labels : list of str
        One label per unit (named in ``diagnostics.json`` and the run log).
    keys : list of dict
        Per unit, the summary columns and values that identify its rows (for example
        ``{"cell_line": "A", "drug": "x"}``); tables without those columns get no value.
    log_lik : callable(a, spec) -> array ``[unit]``, optional
        The log-likelihood of each unit's observations under the latent values in force (it
        calls the family's ``latents`` and ``likelihood``; the checks substitute posterior
        draws): the discrepancy is then the deviance. Used where ``fitted`` is None.
    observed : dict
        Model site -> key of ``a`` holding its observed values: a replicated value of the site
        (the model run with ``observed=False``) is put there to score replicated data.
    parent : (index, keys, labels), optional
        Coarser units whose discrepancy is the sum of their members' (for example a
        combination over its matrices): ``index[unit]`` is its parent, ``keys`` and ``labels``
        one per parent.
    unit_sites : tuple of str
        Latent sites holding each unit's own deviation from its population: redrawn from their
        prior given the rest to tell whether a reported value is pooled.
    fitted : callable(a, spec) -> Observed, optional
        The checked observed site (a location-scale distribution: ``dist.loc`` and
        ``dist.scale``) under the latent values in force; with ``unit_of`` and ``cell_of`` the
        discrepancy is the replicate-averaged standardised residual sum of squares.
    unit_of, cell_of : int arrays shaped like that site's values, optional
        Each observation's unit and design point (wells that replicate one another share a
        design point; -1: not checked).
    hold_out : callable(data, units) -> data, optional
        The same data with the observations of ``units`` (indices) masked out, so that a fit
        draws their parameters from the population: K-fold cross-validation by unit
        (:meth:`drugbayes.results.FitResult.kfold`) of a family whose ``pointwise`` gives
        ``log_lik_<name>`` per unit.
    """

    name: str
    labels: list[str]
    keys: list[dict]
    log_lik: Callable[..., Any] | None
    observed: dict[str, str]
    parent: tuple[Any, list[dict], list[str]] | None = None
    unit_sites: tuple[str, ...] = ()
    fitted: Callable[..., Any] | None = None
    unit_of: Any = None
    cell_of: Any = None
    hold_out: Callable[..., Any] | None = None


class StrictModel(BaseModel):
    """Options/priors base: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Spec:
    """A validated model specification: family name, options and priors."""

    family: str
    options: Any
    priors: Any
    preset: str | None = None
    description: str | None = None


_DECLARED = {"name": "NAME", "description": "DESCRIPTION", "options": "OPTIONS",
             "priors": "PRIORS", "deterministic_sites": "DETERMINISTIC", "headline": "HEADLINE",
             "default_preset": "DEFAULT_PRESET", "data_keys": "DATA_KEYS",
             "data_blocks": "DATA_BLOCKS"}
"""Family fields declared as constants of the family's ``spec`` module."""


@dataclass(frozen=True)
class Family:
    """One model family (one file + one registry line).

    Attributes
    ----------
    name, kind, description : str
    options, priors : pydantic model classes (every field has a default)
    encode : callable(ValidatedTable) -> data
        Arrays for the model.
    model : callable(data_arrays: dict, spec: Spec, observed: bool) -> None
        The NumPyro model: a pure function of the arrays and the spec.
    arrays : callable(data) -> dict of numpy arrays passed to ``model``
    posterior_dims : callable(data) -> (dims: dict, coords: dict)
    derived : callable(data, spec, draws) -> dict of derived quantity draws
    summarize : callable(data, draws, contrasts, prob, method, *, spec, seed) -> DataFrame
        The summary table; ``seed`` is the run's seed, from which any predictive draw derives
        (:mod:`drugbayes.seeding`).
    simulate : callable(...) -> (DataFrame, truth)
    prepare : callable(table, DataConfig) -> (validated table, encoded data)
        Read, validate (every problem at once) and encode a table of this family's kind.
    validate_contrasts : callable(data, contrasts, source) -> None
        Check ``[[contrasts]]`` against the data (raises :class:`ConfigError`).
    observed : callable(data, samples) -> dict
        Extra pieces of the DataTree: ``samples`` (added or rescaled posterior variables),
        ``dims``, ``coords``, ``observed``, ``observed_dims``, ``constant``, ``constant_dims``.
    describe : callable(validated, data) -> str
        One line describing the encoded data (logged and printed by ``drugbayes validate``).
    headline : (title, quantities)
        What ``drugbayes run`` prints after a fit.
    extra_sites : callable(data) -> tuple of str
        Non-deterministic sites to keep from MAP/SVI draws besides ``deterministic_sites``.
    map_start : callable(arrays, spec) -> dict, optional
        Constrained start values of some sites for the MAP (from simple data summaries).
    contract_data : callable(seed) -> (table, data options)
        A small simulated table for the contract tests over the registry.
    check_spec : callable(spec, data, source) -> None, optional
        Check model options that name things in the data (raises :class:`ConfigError`).
    pointwise : callable(data, spec, samples, *, seed) -> dict, optional
        Per-unit log-likelihood draws (``log_lik_<dim>``) and other per-unit posterior
        quantities computed from the draws after the fit, for LOO and summaries.
    extra_tables : callable(result) -> dict of file name -> DataFrame, optional
        Further tables of the run directory (e.g. one row per mouse).
    default_preset : str
        The preset a config of this family's kind gets without ``[model]``.
    data_keys : tuple of str
        The flat ``[data]`` keys of this kind (besides ``path``, ``kind``, ``missing``,
        ``columns``), passed to ``prepare``.
    data_blocks : tuple of str
        The kinds of the named data blocks a family reads together (``[data.<kind>]``, each
        validated by its kind's own family); empty for a family that reads one table. Its
        ``prepare(tables, data_cfg)`` then takes ``{kind: table or None}`` (None: the block's
        own ``path``) and ``data_cfg.blocks``.
    simulate_cli : callable(args) -> (table, truth, message), optional
        ``drugbayes simulate --kind <kind>``: a table and its truth from the command's
        arguments (``cell_lines``, ``drugs``, ``replicates``, ``experiments``,
        ``mice_per_arm``, ``response_scale``, ``seed``) and a line describing the table.
    units : callable(data, spec) -> UnitChecks or None, optional
        The family's units for the per-unit posterior predictive checks and the pooling
        flags (:mod:`drugbayes.report.checks`; None: no per-unit checks for this data).
    blocks : PlanBuilder, optional
        The family's plan for the blocked back-end (``inference.method = "screen"``; see
        :mod:`drugbayes.inference.blocked.plan`).
    reference_model : callable(spec) -> dict or None, optional
        A second model (``{"options": ..., "priors": ...}`` of this family) that a fit under
        ``spec`` is compared with unit by unit, fitted to the same table with the same back-end
        and seed by :func:`drugbayes.api.fit` (None: no comparison for this spec).
    compare_reference : callable(result, reference_result) -> DataFrame, optional
        The per-unit comparison of the two fits (e.g. PSIS-LOO per matrix), written as a table
        of the run directory.
    with_comparison : callable(summary, comparison) -> DataFrame, optional
        The summary with the comparison's columns on the units' rows.
    """

    name: str
    kind: str
    description: str
    options: type[StrictModel]
    priors: type[StrictModel]
    model: Callable[..., None]
    arrays: Callable[..., dict]
    deterministic_sites: tuple[str, ...]
    posterior_dims: Callable[..., tuple[dict, dict]]
    summarize: Callable[..., Any]
    simulate: Callable[..., Any]
    prepare: Callable[..., tuple[Any, Any]]
    validate_contrasts: Callable[..., None]
    observed: Callable[..., dict]
    describe: Callable[..., str]
    contract_data: Callable[..., tuple[Any, dict]]
    headline: tuple[str, tuple[str, ...]] = ("", ())
    extra_sites: Callable[..., tuple[str, ...]] | None = None
    plot: Callable[..., Any] | None = None
    map_start: Callable[..., dict] | None = None
    init_values: Callable[..., dict] | None = None
    check_spec: Callable[..., None] | None = None
    pointwise: Callable[..., dict] | None = None
    extra_tables: Callable[..., dict] | None = None
    default_preset: str = ""
    data_keys: tuple[str, ...] = ()
    data_blocks: tuple[str, ...] = ()
    simulate_cli: Callable[..., tuple[Any, Any, str]] | None = None
    blocks: Any | None = None
    units: Callable[..., UnitChecks | None] | None = None
    reference_model: Callable[..., dict | None] | None = None
    compare_reference: Callable[..., Any] | None = None
    with_comparison: Callable[..., Any] | None = None

    @classmethod
    def assemble(cls, namespace: Mapping[str, Any], spec: types.ModuleType,
                 **given: Any) -> Family:
        """A family from its package's namespace and its ``spec`` module.

        Every callable field not ``given`` is taken from ``namespace`` under its own name
        (``model``, ``arrays``, ``summarize``, ``plot``, ...); optional fields may be absent.
        The declared fields come from the constants of ``spec``: ``NAME``, ``DESCRIPTION``,
        ``OPTIONS``, ``PRIORS``, ``DETERMINISTIC`` (the deterministic sites), ``HEADLINE``,
        ``DEFAULT_PRESET``, ``DATA_KEYS`` and ``DATA_BLOCKS``; ``kind`` is the name unless
        given. So a family package names its pieces after the contract and assembles itself with
        ``Family.assemble(globals(), spec)``.

        Raises
        ------
        TypeError
            A piece taken from the namespace is a module or not callable (a submodule that
            shadows the function of the same name).
        """
        taken: dict[str, Any] = {}
        for f in fields(cls):
            const = _DECLARED.get(f.name)
            if f.name in given:
                continue
            if const is not None:
                if hasattr(spec, const):
                    taken[f.name] = getattr(spec, const)
                continue
            if f.name not in namespace:
                continue
            value = namespace[f.name]
            if isinstance(value, types.ModuleType) or not callable(value):
                raise TypeError(f"family piece {f.name!r} is {value!r}, not a function")
            taken[f.name] = value
        taken.setdefault("kind", given.get("name", taken.get("name")))
        return cls(**taken, **given)

    def make_spec(self, options: dict | None = None, priors: dict | None = None,
                  preset: str | None = None, description: str | None = None) -> Spec:
        """Validate options and priors into a :class:`Spec` (every problem at once)."""
        issues = []
        parsed = {}
        for section, cls, raw in (("options", self.options, options or {}),
                                  ("priors", self.priors, priors or {})):
            try:
                parsed[section] = cls.model_validate(raw)
            except ValidationError as err:
                for e in err.errors():
                    loc = f"model.{section}." + ".".join(str(x) for x in e["loc"])
                    msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
                    issues.append(Issue(preset or "<model>", None, loc,
                                        repr(e.get("input")) if e["type"] != "extra_forbidden"
                                        else None, msg))
        if issues:
            raise ConfigError(issues)
        return Spec(self.name, parsed["options"], parsed["priors"], preset, description)
