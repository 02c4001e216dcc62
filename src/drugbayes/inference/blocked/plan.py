"""What a plan tells the blocked engine, and the engine's typed states.

A **plan** describes one family's posterior in blocks, in the family's package (e.g.
:mod:`drugbayes.families.dose_response.blocks`); its densities call the family's own
``likelihood`` and prior terms. The engine (:mod:`.driver`) knows blocks, not what they mean:

- **unit blocks**: one small block of ``k`` coordinates per unit (a curve, a mouse, ...), all
  units conditionally independent given the globals, laid out as an array ``[*U, k]`` (``U``
  the unit axes; the first one may be sharded over devices). The engine moves all units at
  once by batched HMC (:func:`.kernels.block_hmc`), each with its own step size and ``k x k``
  metric (the plan's curvature: Fisher information plus prior precision), optionally in the
  plan's own coordinates, then by the mode jump (:mod:`.mode_jump`);
- **global blocks**: the plan's updates of everything else given the units, in order: exact
  conditional (conjugate) updates where they exist, HMC otherwise (built from
  :func:`.kernels.block_hmc` and :func:`.kernels.tree_hmc`);
- **records**: what each sweep keeps, under the family's site names, and how unit draws map
  back to the family's sites.

A plan must be hashable (it is a static argument of the compiled sweep): a frozen dataclass
whose compared fields fix the model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import biject_to

from .kernels import DualAveraging

Array = Any


class ChainState(NamedTuple):
    """The state of one chain (leading chain axis when batched).

    Attributes
    ----------
    units : array ``[*U, k]``
        Every unit block's coordinates (in the plan's natural coordinates).
    glob : pytree
        The plan's global parameters (its own typed state).
    """

    units: Array
    glob: Any


class Adaptation(NamedTuple):
    """Tuning of one chain: the unit blocks' metrics and step sizes, and the plan's own.

    Attributes
    ----------
    unit_metric : array ``[*U, k, k]``
        A square root of each unit's covariance metric (in the coordinates the unit HMC uses).
    unit_da : DualAveraging
        Each unit's step size ``[*U]``.
    plan : pytree
        The plan's adaptation state (its global blocks' metrics and step sizes).
    """

    unit_metric: Array
    unit_da: DualAveraging
    plan: Any


class Plan(Protocol):
    """A family's posterior in blocks (see the module docstring).

    Attributes
    ----------
    k : int
        Coordinates per unit.
    unit_sites : tuple of str
        The family's site name of each unit coordinate (``k`` names).
    unit_label : str
        What a unit is (``"curve"``): names the engine's statistics (``accept_curve``,
        ``curves_with_two_modes``, ``worst_curves``).
    unit_axes : tuple of str
        Names of the unit axes ``U`` (``("cell", "drug")``).
    host_bytes_per_unit_draw : int
        Host memory per unit draw of a full fit (draws and derived quantities), for the
        engine's host-memory guard.
    """

    # read-only members: a plan may give them as class attributes or properties
    @property
    def k(self) -> int: ...

    @property
    def unit_sites(self) -> tuple[str, ...]: ...

    @property
    def unit_label(self) -> str: ...

    @property
    def unit_axes(self) -> tuple[str, ...]: ...

    @property
    def host_bytes_per_unit_draw(self) -> int: ...

    # --- data and start -----------------------------------------------------------------
    def device_data(self, host: Any) -> Any:
        """The data pytree the densities read (numpy leaves; the engine moves it)."""

    def sharded_data(self) -> tuple[str, ...]:
        """Fields of the data pytree with the first unit axis leading (sharded)."""

    def sharded_state(self) -> tuple[str, ...]:
        """Field names, in the plan's global state and adaptation state, of leaves whose
        first axis after the chain axis is the first unit axis (sharded)."""

    def pad_units(self, host: Any, multiple: int) -> Any:
        """The host data with absent units appended so the first unit axis divides
        ``multiple``."""

    def initial_state(self, host: Any, num_chains: int, seed: int) -> ChainState:
        """Start of every chain (numpy, leading chain axis)."""

    def initial_adaptation(self, state: ChainState) -> Any:
        """The plan's adaptation state at the start (numpy, leading chain axis)."""

    def active(self, data: Any) -> Array:
        """Units that exist ``[*U]``."""

    def n_units(self, host: Any) -> int:
        """The number of units that exist (host data)."""

    def to_sites(self, globals_: dict, units: dict, host: Any) -> dict:
        """Draws under the family's site names, from the records of the globals and the unit
        draws ``[chain, draw, *U]`` (in the family's own order of units)."""

    # --- unit blocks --------------------------------------------------------------------
    def unit_logp(self, x: Array, glob: Any, data: Any) -> Array:
        """Log density ``[*U]`` of each unit's coordinates ``x [*U, k]`` given the globals
        (likelihood of its data plus its conditional prior)."""

    def unit_fisher(self, x: Array, glob: Any, data: Any) -> Array:
        """Fisher information of each unit's data ``[*U, k, k]`` at ``x``."""

    def unit_prior_scale(self, glob: Any, data: Any) -> Array:
        """The sd of each unit coordinate's conditional prior (broadcasts to ``[*U, k]``)."""

    def to_coords(self, x: Array, data: Any) -> Array:
        """The unit HMC's coordinates ``z`` of ``x`` (a bijection)."""

    def from_coords(self, z: Array, data: Any) -> Array:
        """Inverse of :meth:`to_coords`."""

    def coords_log_det(self, z: Array) -> Array:
        """``log |det dx/dz|`` per unit ``[*U]``, up to a constant."""

    def mode_starts(self, glob: Any, data: Any) -> Array:
        """Starts ``[n_start, *U, k]`` of the mode search, given the chain-averaged
        globals."""

    # --- global blocks ------------------------------------------------------------------
    def global_blocks(self) -> tuple[str, ...]:
        """Names of the global blocks, in the order of a sweep."""

    def global_step(self, name: str, key: Array, state: ChainState, adapt: Any, data: Any,
                    warm: Array, settings: Any) -> tuple[ChainState, Any, Array | None]:
        """One update of global block ``name``: the new state and plan adaptation state, and
        its acceptance rate (None for an exact conditional draw)."""

    def refresh_metrics(self, state: ChainState, adapt: Any, fisher: Array, precision: Array,
                        data: Any) -> Any:
        """The plan's metrics from the chains' states (leading chain axis on ``state``,
        ``adapt``, the units' Fisher information ``fisher`` and, added to it, their prior
        precision ``precision``)."""

    def restart_adaptation(self, adapt: Any) -> Any:
        """The plan's step sizes restarted after a metric change (one chain)."""

    def describe(self, host: Any) -> dict:
        """Facts about the layout for the fit's ``info`` (e.g. ``grid_shape``)."""

    # --- records ------------------------------------------------------------------------
    def record(self, glob: Any) -> dict[str, Array]:
        """What a sweep keeps of the globals, under the family's site names."""

    def gradient_passes(self, settings: Any) -> tuple[int, str]:
        """Gradient or log-density passes over all the data per chain and sweep, and a
        note of how they are counted."""




class SiteLayout(NamedTuple):
    """One global site in a plan's vector of unconstrained coordinates."""

    name: str
    shape: tuple[int, ...]        # constrained value's shape
    free_shape: tuple[int, ...]   # unconstrained shape
    start: int
    size: int


def global_sites(trace: dict, skip: Callable[[str], bool]) -> tuple[tuple[SiteLayout, ...],
                                                                     tuple[Any, ...]]:
    """The latent sites of a model's ``trace`` that ``skip`` does not take (the unit and curve
    sites a plan moves in blocks of their own), in trace order, laid out one after another in
    one vector of unconstrained coordinates, with each site's bijection from it."""
    layout, transforms, start = [], [], 0
    for name, site in trace.items():
        if site["type"] != "sample" or site.get("is_observed") or skip(name):
            continue
        t = biject_to(site["fn"].support)
        shape = tuple(np.shape(site["value"]))
        free = tuple(t.inverse_shape(shape))
        size = int(np.prod(free)) if free else 1
        layout.append(SiteLayout(name, shape, free, start, size))
        transforms.append(t)
        start += size
    return tuple(layout), tuple(transforms)


def static_key(spec: Any, static: dict) -> str:
    """A hash of a spec's options and a plan's static model arrays: the compared field of a
    plan (a second fit of the same study reuses the compiled sweep, also with other priors,
    whose values are data)."""
    h = hashlib.sha1(spec.options.model_dump_json().encode())
    for k in sorted(static):
        v = static[k]
        if isinstance(v, np.ndarray):
            h.update(k.encode() + str(v.dtype).encode() + str(v.shape).encode() + v.tobytes())
        else:
            h.update(k.encode() + json.dumps(v, default=str).encode())
    return h.hexdigest()


class ModelPlanBase:
    """What the plans that run a family's own model under NumPyro handlers share (xenograft,
    combination): priors read from the spec, no sharding of units over devices yet, the global
    sites in one vector of unconstrained coordinates (:func:`global_sites`).

    A subclass sets ``spec`` (the family's :class:`Spec`), ``layout`` and ``transforms`` (from
    :func:`global_sites`) and ``UNITS`` (what a unit is, for the message of :meth:`pad_units`).
    """

    spec: Any
    layout: tuple[SiteLayout, ...]
    transforms: tuple[Any, ...]
    UNITS = "units"

    @property
    def n_global(self) -> int:
        """Length of the global vector."""
        return sum(s.size for s in self.layout)

    def _values(self, theta: Array) -> tuple[dict, Array]:
        """Constrained values of the global sites from the unconstrained vector, and the log
        Jacobian determinant of the map."""
        vals, logdet = {}, jnp.zeros((), theta.dtype)
        for s, tr in zip(self.layout, self.transforms):
            u = theta[s.start:s.start + s.size].reshape(s.free_shape)
            v = tr(u)
            vals[s.name] = v
            logdet = logdet + jnp.sum(tr.log_abs_det_jacobian(u, v))
        return vals, logdet

    def _unconstrained_start(self, values: dict) -> Any:
        """The global vector (numpy float64) at constrained ``values`` where they are given
        and map to finite coordinates; 0 (the unconstrained origin) elsewhere."""
        theta0 = np.zeros(self.n_global, np.float64)
        for s, tr in zip(self.layout, self.transforms):
            if s.name in values:
                v = np.broadcast_to(np.asarray(values[s.name], np.float64), s.shape)
                u = np.asarray(tr.inv(jnp.asarray(v, jnp.float32)), np.float64)
                if np.all(np.isfinite(u)):
                    theta0[s.start:s.start + s.size] = u.reshape(-1)
        return theta0

    def prior_values(self) -> dict[str, Any]:
        """The spec's prior values as float32 (the plan's device data)."""
        return {k: np.float32(v) for k, v in self.spec.priors.model_dump().items()}

    def sharded_data(self) -> tuple[str, ...]:
        return ()

    def sharded_state(self) -> tuple[str, ...]:
        return ()

    def pad_units(self, host: dict, multiple: int) -> dict:
        if multiple > 1:
            name = type(self).__name__.removesuffix("Plan").lower()
            raise NotImplementedError(f"the {name} plan does not shard {self.UNITS} over "
                                      "devices yet (set "
                                      "inference.screen_shard = false)")
        return host


class PlanBuilder(NamedTuple):
    """What a family registers for the blocked back-end (``Family.blocks``).

    Attributes
    ----------
    build : callable
        ``build(spec, arrays) -> (plan, host)``: the plan of a spec and the plan's host data
        from the family's model arrays.
    problems : callable
        ``problems(spec, arrays) -> [(what, its value, what the plan needs), ...]``: why the
        plan cannot fit this model and data (empty where it can).
    contract_data : callable
        ``contract_data(seed) -> (table, data options)``: a small simulated problem on which
        the blocked back-end must agree with NUTS (``tests/test_blocked_contract.py``).
    """

    build: Callable[..., tuple[Plan, Any]]
    problems: Callable[..., list[tuple[str, str, str]]]
    contract_data: Callable[..., tuple[Any, dict]]


__all__ = ["Adaptation", "ChainState", "DualAveraging", "ModelPlanBase", "Plan",
           "PlanBuilder", "SiteLayout", "global_sites", "static_key"]
