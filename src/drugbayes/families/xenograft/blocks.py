"""The ``xenograft`` posterior in blocks, for the blocked ("screen") back-end.

The target is the posterior of the family's NumPyro model (:mod:`.model`) in its centred
parameterisation, evaluated through the model itself: every density here runs the family's
:func:`.model.latents` (under NumPyro's ``substitute`` and ``trace`` handlers, so every prior
is the model's own site) and :func:`.model.likelihood` (the per-mouse log likelihood: growth
form, censored zeros, culling, the cure indicator marginalised per mouse, caliper mode). No
density, prior or curve is written a second time. The plan (:class:`XenograftPlan`) declares:

- **unit blocks** -- mice: each mouse's ``mouse_effect`` (its log volume at the mean
  measurement time and its growth rate per 10 days, the model's centred coordinates) is
  conditionally independent of the others given the globals. Its log density is its
  ``log_lik_mouse`` plus its ``mouse_effect`` prior (the model's bivariate Normal around its
  arm group's means and the experiment's effects). The unit metric is the absolute value of
  the likelihood's Hessian plus the prior precision; the mode search starts at the prior
  mean and two rates either side;
- **global blocks**, every other latent site of the model (arm baselines and rates, the
  cell-line rate means and arm spread, experiment effects, the mouse scales and correlation,
  the noise, the growth form's group parameters and cure fractions), all in one vector of the
  sites' unconstrained coordinates (NumPyro's ``biject_to`` of each site's support, with its
  log Jacobian):

  1. ``centred``: HMC over the vector with the mice fixed (one dense metric from the negative
     Hessian, absolute eigenvalues, chain-averaged at each warmup refresh);
  2. ``noncentred``: HMC over the same vector with each mouse's standardised deviation from
     its prior mean held fixed (the mice follow their arm means and scales): the move that
     mixes where mice are weakly informed. Same kind of metric, from this block's Hessian.

  There are no exact conditional updates: every global move is HMC on the model's own
  density (the model's sites have no declared conjugate pieces).
- **records**: every latent site of the model under its own name; deterministic sites
  (``grp_rate``, ``mouse_rate``, ...) are computed after sampling by replaying the model on
  the draws (:meth:`XenograftPlan.to_sites`).

What the plan cannot fit is listed by :func:`problems`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from ...inference.blocked.kernels import (
    DualAveraging,
    block_hmc,
    da_init_host,
    da_restart,
    metric_from_precision,
)
from ...inference.blocked.plan import (
    ChainState,
    ModelPlanBase,
    SiteLayout,
    global_sites,
    static_key,
)
from .._contract import Spec
from .model import latents, likelihood, map_start, model

Array = Any

UNIT_SITE = "mouse_effect"
"""The model's site of the unit blocks (centred per-mouse level and rate)."""

# per-observation model arrays (data of the compiled sweep); everything else is static
OBS_KEYS = ("t", "mask", "censored", "log_v", "log1p_v", "log_len", "log_wid")

# bytes per mouse draw on the host through drugbayes.fit: 2 unit coordinates in float32 plus
# the replayed deterministic sites and summaries (about 10 arrays in float64)
HOST_BYTES_PER_MOUSE_DRAW = 2 * 4 + 10 * 8

SUPPORTED_GROWTH = ("exponential", "regrowth")
"""Growth forms the plan has been checked against NUTS on (the others are refused)."""


class XenoData(NamedTuple):
    """The plan's data on the device.

    Attributes
    ----------
    obs : dict of arrays ``[mouse, obs]``
        The model's per-measurement arrays (:data:`OBS_KEYS` present in the data).
    active : bool ``[mouse]``
        Mice that exist.
    priors : dict of float32
        The spec's prior values, by field name.
    """

    obs: dict[str, Array]
    active: Array
    priors: dict[str, Array]


class PlanAdaptation(NamedTuple):
    """Tuning of the two global blocks of one chain (each a single block of HMC).

    Attributes
    ----------
    c_metric, nc_metric : ``[1, n, n]``
        Square roots of the covariance metrics of the centred and non-centred blocks.
    c_da, nc_da : DualAveraging ``[1]``
        Their step sizes.
    """

    c_metric: Array
    c_da: DualAveraging
    nc_metric: Array
    nc_da: DualAveraging


# ----------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class XenograftPlan(ModelPlanBase):
    """The ``xenograft`` posterior in blocks (see the module docstring).

    Hashable on ``key`` (options, design and the static model arrays): a second fit of the
    same study reuses the compiled sweep, also with other priors (their values are data).
    """

    spec: Spec = field(compare=False, repr=False)
    static: dict = field(compare=False, repr=False)
    layout: tuple[SiteLayout, ...] = field(compare=False, repr=False)
    transforms: tuple = field(compare=False, repr=False)
    user_centred: bool = field(compare=False)
    key: str

    k: ClassVar[int] = 2
    unit_sites: ClassVar[tuple[str, ...]] = ("mouse_effect_level", "mouse_effect_rate_10d")
    unit_label: ClassVar[str] = "mouse"
    unit_axes: ClassVar[tuple[str, ...]] = ("mouse",)
    host_bytes_per_unit_draw: ClassVar[int] = HOST_BYTES_PER_MOUSE_DRAW

    # --- the family's pieces ------------------------------------------------------------
    def _spec(self, data: XenoData) -> Spec:
        """The plan's spec (centred) with the priors' values from the data (traced)."""
        return replace(self.spec, priors=self.spec.priors.model_construct(**data.priors))

    def _arrays(self, data: XenoData) -> dict:
        return {**self.static, **data.obs}

    def _run(self, theta: Array, x: Array, data: XenoData) -> tuple[dict, dict, Array]:
        """The model's latents at ``(theta, x)``: their trace, the likelihood's inputs and
        the global sites' log prior plus log Jacobian (scalar)."""
        vals, logdet = self._values(theta)
        spec = self._spec(data)
        a = self._arrays(data)
        with handlers.trace() as tr, handlers.substitute(data={**vals, UNIT_SITE: x}):
            params = latents(spec, a)
        lp = logdet
        for name, site in tr.items():
            if site["type"] == "sample" and name != UNIT_SITE:
                lp = lp + jnp.sum(site["fn"].log_prob(site["value"]))
        return tr, params, lp

    def _mouse_prior(self, tr: dict, x: Array) -> Array:
        """Each mouse's ``mouse_effect`` prior log density ``[mouse]``."""
        return tr[UNIT_SITE]["fn"].base_dist.log_prob(x)

    def _mouse_loc_tril(self, tr: dict) -> tuple[Array, Array]:
        """The ``mouse_effect`` prior's means ``[mouse, 2]`` and Cholesky factor ``[2, 2]``."""
        fn = tr[UNIT_SITE]["fn"].base_dist
        # one covariance for every mouse (NumPyro keeps it with a leading axis of 1)
        return fn.loc, fn.scale_tril.reshape((-1, 2, 2))[0]

    def _loglik(self, params: dict, data: XenoData) -> Array:
        """Each mouse's log likelihood ``[mouse]`` (:func:`.model.likelihood`)."""
        ll = likelihood(params, self._arrays(data), self._spec(data))["log_lik_mouse"]
        return jnp.where(data.active, ll, 0.0)

    def _joint(self, theta: Array, x: Array, data: XenoData) -> Array:
        """The model's log joint density (global sites in unconstrained coordinates)."""
        tr, params, lp = self._run(theta, x, data)
        return (jnp.sum(self._loglik(params, data) + self._mouse_prior(tr, x)) + lp)

    def _noncentred(self, theta: Array, w: Array, data: XenoData) -> Array:
        """Log density of the globals with each mouse's standardised deviation ``w`` from
        its prior mean fixed (``x = loc + L w``). The mice's prior at ``x`` plus the map's
        log Jacobian ``n_mouse log |L|`` is constant in ``theta``, so it is left out."""
        tr0, _, _ = self._run(theta, jnp.zeros_like(w), data)
        loc, L = self._mouse_loc_tril(tr0)
        x = loc + w @ L.T
        tr, params, lp = self._run(theta, x, data)
        return jnp.sum(self._loglik(params, data)) + lp

    def _standardised(self, theta: Array, x: Array, data: XenoData) -> Array:
        tr, _, _ = self._run(theta, x, data)
        loc, L = self._mouse_loc_tril(tr)
        return jax.scipy.linalg.solve_triangular(L, (x - loc).T, lower=True).T

    def _from_standardised(self, theta: Array, w: Array, data: XenoData) -> Array:
        tr, _, _ = self._run(theta, jnp.zeros_like(w), data)
        loc, L = self._mouse_loc_tril(tr)
        return loc + w @ L.T

    # --- unit blocks --------------------------------------------------------------------
    def active(self, data: XenoData) -> Array:
        return data.active

    def unit_logp(self, x: Array, glob: Array, data: XenoData) -> Array:
        tr, params, _ = self._run(glob, x, data)
        return jnp.where(data.active, self._loglik(params, data) + self._mouse_prior(tr, x),
                         0.0)

    def unit_fisher(self, x: Array, glob: Array, data: XenoData) -> Array:
        """Each mouse's curvature of its log likelihood ``[mouse, 2, 2]``: the absolute value
        of the Hessian (mice are separable: two forward-mode products of the gradient give
        every mouse's 2 x 2 block)."""
        def grad(x_):
            return jax.grad(lambda y: jnp.sum(self._loglik(self._run(glob, y, data)[1],
                                                           data)))(x_)

        cols = [jax.jvp(grad, (x,), (jnp.zeros_like(x).at[..., j].set(1.0),))[1]
                for j in range(2)]
        H = -jnp.stack(cols, -1)
        H = 0.5 * (H + jnp.swapaxes(H, -1, -2))
        lam, V = jnp.linalg.eigh(H)
        lam = jnp.abs(lam)
        H = jnp.einsum("...ij,...j,...kj->...ik", V, lam, V)
        return jnp.where(data.active[:, None, None], H, 0.0)

    def unit_prior_scale(self, glob: Array, data: XenoData) -> Array:
        tr, _, _ = self._run(glob, jnp.zeros((data.active.shape[0], 2)), data)
        cov = tr[UNIT_SITE]["fn"].base_dist.covariance_matrix
        return jnp.sqrt(jnp.diagonal(cov, 0, -2, -1))

    def to_coords(self, x: Array, data: XenoData) -> Array:
        return x

    def from_coords(self, z: Array, data: XenoData) -> Array:
        return z

    def coords_log_det(self, z: Array) -> Array:
        return jnp.zeros(z.shape[:-1], z.dtype)

    def mode_starts(self, glob: Array, data: XenoData) -> Array:
        """Three starts per mouse: its prior mean, and rates 2 prior sds either side."""
        tr, _, _ = self._run(glob, jnp.zeros((data.active.shape[0], 2)), data)
        fn = tr[UNIT_SITE]["fn"].base_dist
        loc = fn.loc
        sd = jnp.sqrt(jnp.diagonal(fn.covariance_matrix, 0, -2, -1))
        return jnp.stack([loc, loc.at[:, 1].add(-2 * sd[..., 1]),
                          loc.at[:, 1].add(2 * sd[..., 1])])

    # --- global blocks ------------------------------------------------------------------
    def global_blocks(self) -> tuple[str, ...]:
        return ("centred", "noncentred")

    def global_step(self, name: str, key: Array, state: ChainState, adapt: PlanAdaptation,
                    data: XenoData, warm: Array,
                    settings: Any) -> tuple[ChainState, PlanAdaptation, Array | None]:
        on = jnp.ones((1,), bool)
        if name == "centred":
            x = state.units
            th, da, acc, _ = block_hmc(
                key, state.glob[None], lambda th: self._joint(th[0], x, data)[None],
                adapt.c_metric, adapt.c_da, warm, settings.group_steps, on,
                settings.target_accept)
            return ChainState(x, th[0]), adapt._replace(c_da=da), acc
        if name == "noncentred":
            w = self._standardised(state.glob, state.units, data)
            th, da, acc, _ = block_hmc(
                key, state.glob[None], lambda th: self._noncentred(th[0], w, data)[None],
                adapt.nc_metric, adapt.nc_da, warm, settings.global_steps, on,
                settings.target_accept)
            moved = jnp.any(th[0] != state.glob)
            x = jnp.where(moved, self._from_standardised(th[0], w, data), state.units)
            return ChainState(x, th[0]), adapt._replace(nc_da=da), acc
        raise ValueError(f"unknown block {name!r}")

    def refresh_metrics(self, state: ChainState, adapt: PlanAdaptation, fisher: Array,
                        precision: Array, data: XenoData) -> PlanAdaptation:
        """Both global metrics from the negative Hessians of their blocks' log densities at
        each chain's state, averaged over chains."""
        def one(s: ChainState):
            Hc = jax.hessian(lambda th: self._joint(th, s.units, data))(s.glob)
            w = self._standardised(s.glob, s.units, data)
            Hn = jax.hessian(lambda th: self._noncentred(th, w, data))(s.glob)
            return -Hc, -Hn

        Pc, Pn = jax.vmap(one)(state)
        n = Pc.shape[0]
        Sc = metric_from_precision(jnp.mean(Pc, 0), 1e-2, absolute=True)
        Sn = metric_from_precision(jnp.mean(Pn, 0), 1e-2, absolute=True)
        return adapt._replace(c_metric=jnp.broadcast_to(Sc, (n, 1) + Sc.shape),
                              nc_metric=jnp.broadcast_to(Sn, (n, 1) + Sn.shape))

    def restart_adaptation(self, adapt: PlanAdaptation) -> PlanAdaptation:
        return adapt._replace(c_da=da_restart(adapt.c_da), nc_da=da_restart(adapt.nc_da))

    # --- data, start, records -----------------------------------------------------------
    def device_data(self, host: dict) -> XenoData:
        obs = {k: np.asarray(host[k]) for k in OBS_KEYS if k in host}
        return XenoData(obs, np.ones(int(host["n_mouse"]), bool), self.prior_values())

    UNITS = "mice"

    def n_units(self, host: dict) -> int:
        return int(host["n_mouse"])

    def describe(self, host: dict) -> dict:
        return {"n_mice": int(host["n_mouse"]), "n_global_coordinates": self.n_global}

    def initial_state(self, host: dict, num_chains: int, seed: int) -> ChainState:
        """Start of every chain (numpy): the family's MAP start (:func:`.model.map_start`,
        per-mouse least-squares lines), its missing sites at the unconstrained origin (the
        mouse correlation at 0, experiment effects at 0), jittered per chain."""
        rng = np.random.default_rng(seed)
        start = map_start(host, self.spec)
        theta0 = self._unconstrained_start(start)
        a = host
        mg = np.asarray(a["mouse_group"])
        base = float(a["center"]) + self.spec.priors.baseline_sd * np.asarray(
            start["z_baseline"])
        rate = np.asarray(start["arm_rate_10d"], np.float64)
        z = np.asarray(start["z_mouse"], np.float64)
        b = base[mg] + start["sd_mouse_baseline"] * z[:, 0]
        r = rate[mg] + start["sd_mouse_rate_10d"] * z[:, 1]
        x0 = np.stack([b + a["t_center"] * r, r], -1)
        th = theta0[None] + 0.1 * rng.standard_normal((num_chains, self.n_global))
        x = x0[None] + np.array([0.05, 0.02]) * rng.standard_normal((num_chains,) + x0.shape)
        return ChainState(x.astype(np.float32), th.astype(np.float32))

    def initial_adaptation(self, state: ChainState) -> PlanAdaptation:
        nc = state.units.shape[0]
        n = self.n_global
        f = np.float32
        eye = np.tile(0.1 * np.eye(n, dtype=f), (nc, 1, 1, 1))
        da = da_init_host(np.full((nc, 1), np.log(0.1), f))
        return PlanAdaptation(eye, da, eye.copy(), da)

    def record(self, glob: Array) -> dict[str, Array]:
        vals, _ = self._values(glob)
        return vals

    def gradient_passes(self, settings: Any) -> tuple[int, str]:
        n = settings.unit_steps + settings.group_steps + settings.global_steps + 8 + int(
            settings.mode_jump)
        return n, ("per chain and sweep: mouse_steps + centred steps + noncentred steps "
                   "gradient passes over all measurements, and about 8 log-density passes "
                   "(one more with the mode jump)")

    def to_sites(self, globals_: dict, units: dict, host: dict) -> dict[str, np.ndarray]:
        """Draws under the family's site names: the global latent sites as recorded, the
        mice's ``mouse_effect`` (where the family's own parameterisation is centred), and
        every deterministic site of the model, replayed on each draw."""
        lat = {s.name: np.asarray(globals_[s.name]) for s in self.layout}
        me = np.stack([units[n] for n in self.unit_sites], -1)
        nc, nd = me.shape[:2]
        flat = {k: v.reshape((nc * nd,) + v.shape[2:]) for k, v in
                {**lat, UNIT_SITE: me}.items()}
        spec, a = self.spec, dict(host)

        def det(values):
            with handlers.trace() as tr, handlers.substitute(data=values):
                model(a, spec, observed=True)
            return {n: s["value"] for n, s in tr.items() if s["type"] == "deterministic"}

        replay = jax.jit(lambda v: jax.lax.map(det, v, batch_size=64))
        out = {k: np.asarray(v).reshape((nc, nd) + np.shape(v)[1:]) for k, v in
               replay(flat).items()}
        samples = {**lat, **out}
        if self.user_centred:
            samples[UNIT_SITE] = me
        return samples


def problems(spec: Spec, arrays: dict) -> list[tuple[str, str, str]]:
    """What the plan cannot fit: ``(what, its value, what it needs)`` for each problem."""
    o = spec.options
    out = []
    if o.growth not in SUPPORTED_GROWTH:
        out.append(("model.options.growth", o.growth, f"{' or '.join(SUPPORTED_GROWTH)} "
                    "(the screen's xenograft plan is not yet checked against NUTS for the "
                    "other forms: use method nuts, svi or map)"))
    if o.scale != "log":
        out.append(("model.options.scale", o.scale, "log (use method nuts, svi or map)"))
    if arrays.get("has_calipers") and o.observation != "volume":
        out.append(("model.options.observation", o.observation, "volume (caliper mode is "
                    "not yet checked with the screen: use method nuts, svi or map)"))
    if arrays.get("design") == "one_mouse_per_line" or not np.all(
            np.asarray(arrays.get("mouse_free", np.ones(arrays["n_mouse"], bool)))):
        out.append(("data", f"design {arrays.get('design')!r}", "replicated arms (several "
                    "mice per arm group; the one-mouse-per-line design needs method nuts, "
                    "svi or map)"))
    return out


def build(spec: Spec, arrays: dict) -> tuple[XenograftPlan, dict]:
    """The plan of ``spec`` and its host data (the family's model arrays)."""
    user_centred = spec.options.parameterization == "centered" or (
        spec.options.parameterization == "auto" and bool(arrays["mice_informed"]))
    spec_c = replace(spec, options=spec.options.model_copy(
        update={"parameterization": "centered"}))
    host = dict(arrays)
    host["pointwise"] = False
    static = {k: v for k, v in host.items() if k not in OBS_KEYS}
    # the global sites, their shapes and transforms, from one trace of the model's latents
    with handlers.trace() as tr, handlers.seed(rng_seed=0):
        latents(spec_c, host)
    layout, transforms = global_sites(tr, lambda name: name == UNIT_SITE)
    plan = XenograftPlan(spec_c, static, layout, transforms, user_centred,
                         static_key(spec_c, static))
    return plan, host


def contract_data(seed: int = 2) -> tuple:
    """The contract problem of the plan (agreement with NUTS): a simulated study of one cell
    line x 4 arms, 4 mice per arm in 2 experiments, exponential growth, volumes."""
    from .simulate import simulate_xenograft

    table, _ = simulate_xenograft(n_mice_per_arm=4, cell_lines=("BT-474R",), n_experiments=2,
                                  calipers=False, seed=seed)
    return table, {"control_arm": "vehicle"}
