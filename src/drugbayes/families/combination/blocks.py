"""The ``combination`` posterior in blocks, for the blocked ("screen") back-end.

The target is the posterior of the family's NumPyro model (:mod:`.model`) in its centred
parameterisation, evaluated through the model itself: every density here runs the family's
:func:`.model.latents` (under NumPyro's ``substitute`` and ``trace`` handlers, so every prior
is the model's own site) and :func:`.model.likelihood` (MuSyC surface, Normal or Student-t
wells). No density, prior or surface is written a second time. The plan
(:class:`CombinationPlan`) declares three kinds of blocks:

- **unit blocks** -- combinations (cell line x pair), each with its matrices (its replicate
  experiments): the combination's own sites, i.e. ``grp_beta``, ``z_grp_log_alpha12``,
  ``z_grp_log_alpha21`` (and ``z_grp_log_gamma*`` with ``fit_gamma``) where a pair is tested in
  several cell lines, else the pair's ``pop_*`` sites (then a pair *is* a combination),
  ``z_log_top``, and, where the table has replicate experiments, the ``z_matrix`` deviations
  of each of its matrices (slots beyond a combination's own matrices are inert standard
  Normal coordinates, kept out of every output). A combination's coordinates are conditionally
  independent of the others given the globals and the monotherapy curves: its log density is
  its matrices' log likelihood plus its sites' priors. The unit metric is the absolute value
  of the likelihood's Hessian plus the prior precision; the mode search starts at the prior
  mean and at log alphas 2 prior sds either side (the ridge of alpha when a drug barely acts);
- **curve block** (``curves``): the monotherapy curves (cell line x drug: log10 C, log Hill,
  logit bottom; the centred ``mono_*`` sites, or the drug-level ``mu_*`` sites where every
  drug is tested in one cell line). A curve is shared by every matrix its drug is in, so
  curves are coloured (no two curves of one colour share a matrix; a star design such as one
  anchor drug with many partners has two colours) and each colour is one batched HMC over its
  curves, each with its own 3 x 3 metric (its negative Hessian, absolute eigenvalues) and step
  size, the other colours held;
- **global blocks**, every other latent site of the model (drug means, pair means where pairs
  are tested in several cell lines, hierarchy scales, the noise ``sigma``) in one vector of the
  sites' unconstrained coordinates (NumPyro's ``biject_to``):

  1. ``globals``: HMC over the vector with the units and curves fixed (the centred move; dense
     metric from the negative Hessian, absolute eigenvalues, chain-averaged at each warmup
     refresh);
  2. ``noncentred``: HMC over the same vector with every unit coordinate's and curve's
     standardised deviation from its prior mean held (they follow their means and scales):
     the move that mixes a scale whose members are weakly informed (a funnel). Same kind of
     metric, from this block's Hessian.
- **records**: every latent site of the model under its own name; deterministic sites
  (``grp_*``, ``mat_*``) are computed after sampling by replaying the model on the draws.

Chains start at the model's MAP (found in non-centred coordinates, as NUTS's start), jittered.
What the plan cannot fit is listed by :func:`problems` (shared control wells, plate effects,
per-matrix monotherapy deviations); Student-t or Normal wells, ``fit_gamma``, growth rates,
replicate experiments and self-combinations are fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions import Independent

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
from .model import latents, likelihood, model, plate_effects_active
from .spec import DETERMINISTIC

Array = Any

# per-well model arrays (data of the compiled sweep); everything else is static
OBS_KEYS = ("x_a", "x_b", "zero_a", "zero_b", "y", "mask")

COMBO_SITES = ("grp_beta", "z_grp_beta", "z_grp_log_alpha12", "z_grp_log_alpha21",
               "z_grp_log_gamma12", "z_grp_log_gamma21", "z_log_top")
"""Sites of the model with one member per combination (unit coordinates)."""

PAIR_SITES = ("pop_beta", "pop_log_alpha12", "pop_log_alpha21", "pop_log_gamma12",
              "pop_log_gamma21")
"""Pair-level sites: unit coordinates where each pair is tested in one cell line."""

MATRIX_SITE = "z_matrix"
"""The per-matrix deviations ``[4, matrix]`` (replicate experiments)."""

MONO_SITES = ("mono_log10_c", "mono_log_hill", "mono_logit_bottom")
DRUG_SITES = ("mu_log10_c", "mu_log_hill", "mu_logit_bottom")

MAX_GLOBAL = 600
"""Most global coordinates the plan's dense global metric takes."""

# bytes per combination draw on the host through drugbayes.fit: the unit coordinates in
# float32 plus the replayed deterministic sites (about 20 arrays in float64)
HOST_BYTES_PER_COMBO_DRAW = 16 * 4 + 20 * 8


class CombData(NamedTuple):
    """The plan's data on the device.

    Attributes
    ----------
    obs : dict of arrays ``[matrix, point]``
        The model's per-well arrays (:data:`OBS_KEYS`).
    active : bool ``[combo]``
        Combinations that exist.
    priors : dict of float32
        The spec's prior values, by field name.
    """

    obs: dict[str, Array]
    active: Array
    priors: dict[str, Array]


class Glob(NamedTuple):
    """A chain's global state: the unconstrained global vector and the curves."""

    theta: Array   # [n_global]
    curves: Array  # [n_mono, 3]


class PlanAdaptation(NamedTuple):
    """Tuning of the global and curve blocks of one chain."""

    g_metric: Array       # [1, n, n]
    g_da: DualAveraging   # [1]
    nc_metric: Array      # [1, n, n]
    nc_da: DualAveraging  # [1]
    c_metric: Array       # [n_mono, 3, 3]
    c_da: DualAveraging   # [n_mono]


def _abs_sym(H: Array) -> Array:
    H = 0.5 * (H + jnp.swapaxes(H, -1, -2))
    lam, V = jnp.linalg.eigh(H)
    return jnp.einsum("...ij,...j,...kj->...ik", V, jnp.abs(lam), V)


def _columns(grad, x: Array) -> Array:
    """``[..., k, k]``: the Jacobian of the blockwise ``grad`` at ``x [..., k]`` (one
    forward-mode product per coordinate, vectorised: one copy of the model in the program)."""
    k = x.shape[-1]
    basis = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype)[:, None], (k,) + x.shape) \
        if x.ndim == 2 else jnp.eye(k, dtype=x.dtype)
    cols = jax.vmap(lambda v: jax.jvp(grad, (x,), (v,))[1])(basis)  # [k(j), ..., k(i)]
    return jnp.moveaxis(cols, 0, -1)


def _base(fn):
    while isinstance(fn, Independent):
        fn = fn.base_dist
    return fn


def _elementwise(fn, value):
    """A site's log density per member (``to_event`` undone)."""
    return _base(fn).log_prob(value)


# ----------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class CombinationPlan(ModelPlanBase):
    """The ``combination`` posterior in blocks (see the module docstring).

    Hashable on ``key`` (options, design and the static model arrays).
    """

    spec: Spec = field(compare=False, repr=False)
    static: dict = field(compare=False, repr=False)
    layout: tuple[SiteLayout, ...] = field(compare=False, repr=False)
    transforms: tuple = field(compare=False, repr=False)
    unit_map: tuple[tuple[str, str, int, int], ...] = field(compare=False, repr=False)
    curve_sites: tuple[str, ...] = field(compare=False, repr=False)
    curve_kind: str = field(compare=False)
    colours: tuple[tuple[int, ...], ...] = field(compare=False, repr=False)
    matrix_slot: tuple[int, ...] = field(compare=False, repr=False)
    key: str

    unit_label: ClassVar[str] = "combination"
    unit_axes: ClassVar[tuple[str, ...]] = ("combination",)

    @property
    def k(self) -> int:
        return len(self.unit_map)

    @property
    def unit_sites(self) -> tuple[str, ...]:
        return tuple(f"{s}[{r},{slot}]" if kind == "matrix" else s
                     for s, kind, r, slot in self.unit_map)

    @property
    def host_bytes_per_unit_draw(self) -> int:
        return HOST_BYTES_PER_COMBO_DRAW

    @property
    def n_combo(self) -> int:
        return int(self.static["n_combo"])

    @property
    def n_mono(self) -> int:
        return int(self.static["n_mono"])

    # --- the family's pieces ------------------------------------------------------------
    def _spec(self, data: CombData) -> Spec:
        return replace(self.spec, priors=self.spec.priors.model_construct(**data.priors))

    def _arrays(self, data: CombData) -> dict:
        return {**self.static, **data.obs}

    def _curve_values(self, c: Array) -> dict:
        """The curve sites' values from the curves ``[..., mono, 3]``."""
        if self.curve_kind == "mono":
            return {n: c[..., j] for j, n in enumerate(self.curve_sites)}
        md = np.asarray(self.static["mono_drug"])
        nd = int(self.static["n_drug"])
        return {n: jnp.zeros(c.shape[:-2] + (nd,), c.dtype).at[..., md].set(c[..., j])
                for j, n in enumerate(self.curve_sites)}

    def _matrix_cols(self) -> np.ndarray:
        """``[4, matrix]`` unit column of each ``z_matrix`` entry."""
        base = {(r, s): j for j, (_, kind, r, s) in enumerate(self.unit_map) if kind == "matrix"}
        slot = np.asarray(self.matrix_slot)
        return np.array([[base[(r, int(slot[m]))] for m in range(len(slot))]
                         for r in range(4)], np.int32)

    def _unit_values(self, x: Array) -> dict:
        """The unit sites' values from the unit coordinates ``[..., combo, k]``."""
        out = {}
        cp = np.asarray(self.static["combo_pair"])
        npair = int(self.static["n_pair"])
        for j, (s, kind, _, _) in enumerate(self.unit_map):
            if kind == "combo":
                out[s] = x[..., j]
            elif kind == "pair":
                out[s] = jnp.zeros(x.shape[:-2] + (npair,), x.dtype).at[..., cp].set(x[..., j])
        if any(kind == "matrix" for _, kind, _, _ in self.unit_map):
            mc = np.asarray(self.static["matrix_combo"])
            cols = self._matrix_cols()
            out[MATRIX_SITE] = x[..., mc[None, :], cols]
        return out

    def _dummy(self) -> np.ndarray:
        """``[combo, k]``: unit coordinates that are inert slots (no matrix there)."""
        d = np.zeros((self.n_combo, self.k), bool)
        if not any(kind == "matrix" for _, kind, _, _ in self.unit_map):
            return d
        mc = np.asarray(self.static["matrix_combo"])
        n_of = np.bincount(mc, minlength=self.n_combo)
        for j, (_, kind, _, s) in enumerate(self.unit_map):
            if kind == "matrix":
                d[:, j] = n_of <= s
        return d

    def _run(self, glob: Glob, x: Array, data: CombData) -> tuple[dict, dict, Array]:
        """The model's latents at ``(glob, x)``: their trace, the likelihood's inputs and the
        global sites' log prior plus log Jacobian (scalar)."""
        vals, logdet = self._values(glob.theta)
        sub = {**vals, **self._curve_values(glob.curves), **self._unit_values(x)}
        with handlers.trace() as tr, handlers.substitute(data=sub):
            params = latents(self._spec(data), self._arrays(data))
        lp = logdet
        glob_names = {s.name for s in self.layout}
        for name, site in tr.items():
            if site["type"] == "sample" and name in glob_names:
                lp = lp + jnp.sum(site["fn"].log_prob(site["value"]))
        return tr, params, lp

    def _loglik_matrix(self, params: dict, data: CombData) -> Array:
        """Each matrix's log likelihood ``[matrix]`` (:func:`.model.likelihood`)."""
        obs = likelihood(params, self._arrays(data), self._spec(data))
        return jnp.sum(obs["y"].log_prob(), -1)

    def _to_combo(self, v: Array) -> Array:
        return jax.ops.segment_sum(v, np.asarray(self.static["matrix_combo"]), self.n_combo)

    def _to_mono(self, v: Array) -> Array:
        """Each matrix's value summed to its curves (once for a self-combination)."""
        mc = np.asarray(self.static["matrix_combo"])
        ma = np.asarray(self.static["combo_mono_a"])[mc]
        mb = np.asarray(self.static["combo_mono_b"])[mc]
        return (jax.ops.segment_sum(v, ma, self.n_mono)
                + jax.ops.segment_sum(jnp.where(ma != mb, v, 0.0), mb, self.n_mono))

    def _unit_prior(self, tr: dict, x: Array) -> Array:
        """Each combination's log prior of its unit sites ``[combo]`` (inert slots:
        standard Normal)."""
        cp = np.asarray(self.static["combo_pair"])
        lp = jnp.zeros(x.shape[:-1], x.dtype)
        done = set()
        for s, kind, _, _ in self.unit_map:
            if s in done:
                continue
            done.add(s)
            e = _elementwise(tr[s]["fn"], tr[s]["value"])
            if kind == "combo":
                lp = lp + e
            elif kind == "pair":
                lp = lp + e[cp]
            else:
                lp = lp + self._to_combo(jnp.sum(e, 0))
        d = jnp.asarray(self._dummy())
        return lp + jnp.sum(jnp.where(d, -0.5 * x * x, 0.0), -1)

    def _curve_prior(self, tr: dict) -> Array:
        """Each curve's log prior ``[mono]``."""
        lp = 0.0
        for n in self.curve_sites:
            e = _elementwise(tr[n]["fn"], tr[n]["value"])
            lp = lp + (e if self.curve_kind == "mono" else e[np.asarray(self.static["mono_drug"])])
        return lp

    def _joint(self, glob: Glob, x: Array, data: CombData) -> Array:
        tr, params, lp = self._run(glob, x, data)
        return (lp + jnp.sum(self._curve_prior(tr))
                + jnp.sum(jnp.where(data.active, self._unit_prior(tr, x), 0.0))
                + jnp.sum(self._loglik_matrix(params, data)))

    def _curve_logp(self, c: Array, glob: Glob, x: Array, data: CombData,
                    on: Array) -> Array:
        """Log density ``[mono]`` of the curves of one colour (``on``), the others held at
        ``glob.curves``; 0 for the others."""
        ce = jnp.where(on[:, None], c, glob.curves)
        tr, params, _ = self._run(glob._replace(curves=ce), x, data)
        ll = self._to_mono(self._loglik_matrix(params, data))
        return jnp.where(on, ll + self._curve_prior(tr), 0.0)

    def _locs(self, glob: Glob, data: CombData) -> tuple[Array, Array, Array, Array]:
        """Prior means and sds of the unit coordinates ``[combo, k]`` and of the curves
        ``[mono, 3]`` given the global vector (they do not depend on the units or curves)."""
        tr, _, _ = self._run(glob, jnp.zeros((self.n_combo, self.k), glob.theta.dtype), data)
        loc_x, sc_x = self._unit_loc_scale(glob, data, tr)
        md = np.asarray(self.static["mono_drug"])
        lc, sc = [], []
        for n in self.curve_sites:
            b = _base(tr[n]["fn"])
            shape = jnp.shape(tr[n]["value"])
            m, v = jnp.broadcast_to(b.mean, shape), jnp.broadcast_to(b.variance, shape)
            if self.curve_kind == "drug":
                m, v = m[md], v[md]
            lc.append(m)
            sc.append(jnp.sqrt(v))
        return loc_x, sc_x, jnp.stack(lc, -1), jnp.stack(sc, -1)

    def _standardised(self, glob: Glob, x: Array, data: CombData) -> tuple[Array, Array]:
        loc_x, sc_x, loc_c, sc_c = self._locs(glob, data)
        return (x - loc_x) / sc_x, (glob.curves - loc_c) / sc_c

    def _noncentred(self, theta: Array, w_x: Array, w_c: Array,
                    data: CombData) -> tuple[Array, Array, Array]:
        """Log density of the global vector with every unit coordinate's and curve's
        standardised deviation from its prior mean held (``x = loc + sd w``; the log
        Jacobian of that map added), and the units and curves at ``theta``."""
        g = Glob(theta, jnp.zeros((self.n_mono, 3), theta.dtype))
        loc_x, sc_x, loc_c, sc_c = self._locs(g, data)
        x = loc_x + sc_x * w_x
        c = loc_c + sc_c * w_c
        lj = (jnp.sum(jnp.where(data.active[:, None], jnp.log(sc_x), 0.0))
              + jnp.sum(jnp.log(sc_c)))
        return self._joint(Glob(theta, c), x, data) + lj, x, c

    def _noncentred_step(self, key: Array, state: ChainState, adapt: PlanAdaptation,
                         data: CombData, warm: Array, settings: Any):
        g, x = state.glob, state.units
        w_x, w_c = self._standardised(g, x, data)
        th, da, acc, _ = block_hmc(
            key, g.theta[None], lambda th: self._noncentred(th[0], w_x, w_c, data)[0][None],
            adapt.nc_metric, adapt.nc_da, warm, settings.global_steps, jnp.ones((1,), bool),
            settings.target_accept)
        moved = jnp.any(th[0] != g.theta)
        _, x1, c1 = self._noncentred(th[0], w_x, w_c, data)
        x = jnp.where(moved, x1, x)
        c = jnp.where(moved, c1, g.curves)
        return ChainState(x, Glob(th[0], c)), adapt._replace(nc_da=da), acc

    # --- unit blocks --------------------------------------------------------------------
    def active(self, data: CombData) -> Array:
        return data.active

    def unit_logp(self, x: Array, glob: Glob, data: CombData) -> Array:
        tr, params, _ = self._run(glob, x, data)
        ll = self._to_combo(self._loglik_matrix(params, data))
        return jnp.where(data.active, ll + self._unit_prior(tr, x), 0.0)

    def unit_fisher(self, x: Array, glob: Glob, data: CombData) -> Array:
        """Each combination's curvature of its log likelihood ``[combo, k, k]``: the absolute
        value of the Hessian (combinations are separable: one forward-mode product of the
        gradient per coordinate gives every block)."""
        def grad(x_):
            return jax.grad(lambda y: jnp.sum(self._loglik_matrix(
                self._run(glob, y, data)[1], data)))(x_)

        H = _abs_sym(-_columns(grad, x))
        return jnp.where(data.active[:, None, None], H, 0.0)

    def _unit_loc_scale(self, glob: Glob, data: CombData,
                        tr: dict | None = None) -> tuple[Array, Array]:
        if tr is None:
            tr, _, _ = self._run(glob, jnp.zeros((self.n_combo, self.k), glob.theta.dtype),
                                 data)
        cp = np.asarray(self.static["combo_pair"])
        locs, scales = [], []
        for s, kind, _, _ in self.unit_map:
            b = _base(tr[s]["fn"])
            loc = jnp.broadcast_to(b.mean, jnp.shape(tr[s]["value"]))
            sc = jnp.broadcast_to(jnp.sqrt(b.variance), jnp.shape(tr[s]["value"]))
            if kind == "combo":
                locs.append(loc)
                scales.append(sc)
            elif kind == "pair":
                locs.append(loc[cp])
                scales.append(sc[cp])
            else:
                # every z_matrix entry is standard Normal a priori
                locs.append(jnp.zeros(self.n_combo))
                scales.append(jnp.ones(self.n_combo))
        return jnp.stack(locs, -1), jnp.stack(scales, -1)

    def unit_prior_scale(self, glob: Glob, data: CombData) -> Array:
        # [combo, 1, k]: the engine divides an identity [k, k] by its square
        return self._unit_loc_scale(glob, data)[1][:, None, :]

    def to_coords(self, x: Array, data: CombData) -> Array:
        return x

    def from_coords(self, z: Array, data: CombData) -> Array:
        return z

    def coords_log_det(self, z: Array) -> Array:
        return jnp.zeros(z.shape[:-1], z.dtype)

    def mode_starts(self, glob: Glob, data: CombData) -> Array:
        """Three starts per combination: its prior mean, and its log alphas 2 prior sds
        either side (alpha's ridge when a drug barely acts)."""
        loc, sd = self._unit_loc_scale(glob, data)
        al = np.array(["alpha" in s for s, _, _, _ in self.unit_map])
        return jnp.stack([loc, loc + 2 * sd * al, loc - 2 * sd * al])

    # --- global blocks ------------------------------------------------------------------
    def global_blocks(self) -> tuple[str, ...]:
        return ("curves", "globals", "noncentred")

    def _colour_masks(self) -> np.ndarray:
        """``[colour, mono]``: the curves of each colour."""
        on = np.zeros((len(self.colours), self.n_mono), bool)
        for i, c in enumerate(self.colours):
            on[i, list(c)] = True
        return on

    def global_step(self, name: str, key: Array, state: ChainState, adapt: PlanAdaptation,
                    data: CombData, warm: Array,
                    settings: Any) -> tuple[ChainState, PlanAdaptation, Array | None]:
        x, g = state.units, state.glob
        if name == "globals":
            on = jnp.ones((1,), bool)
            th, da, acc, _ = block_hmc(
                key, g.theta[None], lambda th: self._joint(g._replace(theta=th[0]), x,
                                                           data)[None],
                adapt.g_metric, adapt.g_da, warm, settings.global_steps, on,
                settings.target_accept)
            return ChainState(x, g._replace(theta=th[0])), adapt._replace(g_da=da), acc
        if name == "noncentred":
            return self._noncentred_step(key, state, adapt, data, warm, settings)
        if name != "curves":
            raise ValueError(f"unknown block {name!r}")

        def colour(carry, inp):
            # one batched HMC over the curves of one colour, the others held
            c, da_c = carry
            k, on = inp
            c_new, da, acc, _ = block_hmc(
                k, c, lambda c_: self._curve_logp(c_, g._replace(curves=c), x, data, on),
                adapt.c_metric, da_c, warm, settings.group_steps, on, settings.target_accept)
            da = jax.tree_util.tree_map(lambda a, b: jnp.where(on, a, b), da, da_c)
            return (c_new, da), jnp.sum(jnp.where(on, acc, 0.0))

        masks = jnp.asarray(self._colour_masks())
        keys = jax.random.split(key, masks.shape[0])
        (c, da), acc = jax.lax.scan(colour, (g.curves, adapt.c_da), (keys, masks))
        return (ChainState(x, g._replace(curves=c)), adapt._replace(c_da=da),
                jnp.sum(acc) / self.n_mono)

    def _curve_precision(self, glob: Glob, x: Array, data: CombData) -> Array:
        """Each curve's ``|Hessian|`` of its log density ``[mono, 3, 3]`` (per colour: the
        curves of one colour are separable)."""
        def one(P, on):
            def grad(c):
                return jax.grad(lambda y: jnp.sum(self._curve_logp(y, glob, x, data, on)))(c)

            return jnp.where(on[:, None, None], -_columns(grad, glob.curves), P), None

        P0 = jnp.zeros((self.n_mono, 3, 3), glob.curves.dtype)
        P, _ = jax.lax.scan(one, P0, jnp.asarray(self._colour_masks()))
        return _abs_sym(P)

    def refresh_metrics(self, state: ChainState, adapt: PlanAdaptation, fisher: Array,
                        precision: Array, data: CombData) -> PlanAdaptation:
        """The global metric from the negative Hessian of the joint in the global vector,
        and each curve's from its negative Hessian, at each chain's state, averaged over
        chains."""
        def one(s: ChainState):
            Hg = jax.hessian(lambda th: self._joint(s.glob._replace(theta=th), s.units,
                                                    data))(s.glob.theta)
            w_x, w_c = self._standardised(s.glob, s.units, data)
            Hn = jax.hessian(lambda th: self._noncentred(th, w_x, w_c, data)[0])(s.glob.theta)
            return -Hg, -Hn, self._curve_precision(s.glob, s.units, data)

        Pg, Pn, Pc = jax.vmap(one)(state)
        n = Pg.shape[0]
        Sg = metric_from_precision(jnp.mean(Pg, 0), 1e-2, absolute=True)
        Sn = metric_from_precision(jnp.mean(Pn, 0), 1e-2, absolute=True)
        Sc = metric_from_precision(jnp.mean(Pc, 0), 1e-2, absolute=True)
        return adapt._replace(g_metric=jnp.broadcast_to(Sg, (n, 1) + Sg.shape),
                              nc_metric=jnp.broadcast_to(Sn, (n, 1) + Sn.shape),
                              c_metric=jnp.broadcast_to(Sc, (n,) + Sc.shape))

    def restart_adaptation(self, adapt: PlanAdaptation) -> PlanAdaptation:
        return adapt._replace(g_da=da_restart(adapt.g_da), nc_da=da_restart(adapt.nc_da),
                              c_da=da_restart(adapt.c_da))

    # --- data, start, records -----------------------------------------------------------
    def device_data(self, host: dict) -> CombData:
        obs = {k: np.asarray(host[k]) for k in OBS_KEYS}
        return CombData(obs, np.ones(int(host["n_combo"]), bool), self.prior_values())

    UNITS = "combinations"

    def n_units(self, host: dict) -> int:
        return int(host["n_combo"])

    def describe(self, host: dict) -> dict:
        return {"n_combinations": self.n_combo, "n_matrices": int(host["n_matrix"]),
                "n_curves": self.n_mono, "curve_colours": len(self.colours),
                "n_global_coordinates": self.n_global, "unit_coordinates": self.k}

    def initial_state(self, host: dict, num_chains: int, seed: int) -> ChainState:
        """Every chain starts at the model's MAP (found in non-centred coordinates, as the
        NUTS back-end's start), jittered per chain."""
        vals = _map_values(self.spec, host, seed)
        rng = np.random.default_rng(seed)
        theta0 = self._unconstrained_start(vals)
        md = np.asarray(host["mono_drug"])
        c0 = np.zeros((self.n_mono, 3))
        for j, n in enumerate(self.curve_sites):
            if n in vals:
                v = np.asarray(vals[n], np.float64)
                c0[:, j] = v if self.curve_kind == "mono" else v[md]
        x0 = np.zeros((self.n_combo, self.k))
        cp = np.asarray(host["combo_pair"])
        mc = np.asarray(host["matrix_combo"])
        slot = np.asarray(self.matrix_slot)
        for j, (site, kind, r, sl) in enumerate(self.unit_map):
            if site not in vals:
                continue
            v = np.asarray(vals[site], np.float64)
            if kind == "combo":
                x0[:, j] = v
            elif kind == "pair":
                x0[:, j] = v[cp]
            else:
                sel = slot == sl
                x0[mc[sel], j] = v[r, sel]
        for a in (theta0, c0, x0):
            a[~np.isfinite(a)] = 0.0
        f = np.float32
        th = theta0[None] + 0.05 * rng.standard_normal((num_chains, self.n_global))
        c = c0[None] + 0.02 * rng.standard_normal((num_chains,) + c0.shape)
        x = x0[None] + 0.05 * rng.standard_normal((num_chains,) + x0.shape)
        return ChainState(x.astype(f), Glob(th.astype(f), c.astype(f)))

    def initial_adaptation(self, state: ChainState) -> PlanAdaptation:
        nc = state.units.shape[0]
        n = self.n_global
        f = np.float32
        eye = np.tile(0.1 * np.eye(n, dtype=f), (nc, 1, 1, 1))
        da = da_init_host(np.full((nc, 1), np.log(0.1), f))
        ceye = np.tile(0.1 * np.eye(3, dtype=f), (nc, self.n_mono, 1, 1))
        cda = da_init_host(np.full((nc, self.n_mono), np.log(0.3), f))
        return PlanAdaptation(eye, da, eye.copy(), da, ceye, cda)

    def record(self, glob: Glob) -> dict[str, Array]:
        vals, _ = self._values(glob.theta)
        return {**vals, **self._curve_values(glob.curves)}

    def gradient_passes(self, settings: Any) -> tuple[int, str]:
        n = (settings.unit_steps + len(self.colours) * settings.group_steps
             + 2 * settings.global_steps + 10 + int(settings.mode_jump))
        return n, ("per chain and sweep: combination steps + one curve HMC per colour + "
                   "centred and non-centred global steps gradient passes over all wells, and "
                   "about 10 log-density passes (one more with the mode jump)")

    def to_sites(self, globals_: dict, units: dict, host: dict) -> dict[str, np.ndarray]:
        """Draws under the family's site names: the global and curve sites as recorded, the
        unit sites from the unit draws, and every deterministic site of the model, replayed
        on each draw."""
        lat = {s.name: np.asarray(globals_[s.name]) for s in self.layout}
        lat.update({n: np.asarray(globals_[n]) for n in self.curve_sites})
        x = np.stack([units[n] for n in self.unit_sites], -1)
        lat.update({k: np.asarray(v) for k, v in self._unit_values(jnp.asarray(x)).items()})
        nc, nd = x.shape[:2]
        flat = {k: v.reshape((nc * nd,) + v.shape[2:]) for k, v in lat.items()}
        spec, a = self.spec, dict(host)

        def det(values):
            with handlers.trace() as tr, handlers.substitute(data=values):
                model(a, spec, observed=True)
            return {n: s["value"] for n, s in tr.items() if s["type"] == "deterministic"}

        replay = jax.jit(lambda v: jax.lax.map(det, v, batch_size=64))
        out = {k: np.asarray(v).reshape((nc, nd) + np.shape(v)[1:]) for k, v in
               replay(flat).items()}
        return {**lat, **out}


# ----------------------------------------------------------------------------- building
def _map_values(spec: Spec, host: dict, seed: int) -> dict:
    """The model's MAP (non-centred coordinates), as constrained values of every latent and
    deterministic site (numpy)."""
    from ...config.schema import InferenceConfig
    from ...inference.map import run_map

    nc = replace(spec, options=spec.options.model_copy(
        update={"parameterization": "noncentered"}))
    arrays = {k: v for k, v in host.items()}

    def m(observed: bool = True):
        return model(arrays, nc, observed)

    try:
        res = run_map(m, (), InferenceConfig(), jax.random.PRNGKey(seed), DETERMINISTIC,
                      num_steps=1000)
    except Exception:  # noqa: BLE001  (no MAP: the sampler starts from the prior's centre)
        return {}
    return {k: np.asarray(v)[0, 0] for k, v in res.samples.items()}


def _colouring(arrays: dict) -> tuple[tuple[int, ...], ...]:
    """Colours of the curves: no two curves of a colour in one matrix (greedy, most
    connected first)."""
    n = int(arrays["n_mono"])
    ma, mb = np.asarray(arrays["combo_mono_a"]), np.asarray(arrays["combo_mono_b"])
    nb: list[set[int]] = [set() for _ in range(n)]
    for a, b in zip(ma, mb):
        if a != b:
            nb[int(a)].add(int(b))
            nb[int(b)].add(int(a))
    colour = np.full(n, -1)
    for i in sorted(range(n), key=lambda i: -len(nb[i])):
        used = {int(colour[j]) for j in nb[i] if colour[j] >= 0}
        colour[i] = next(c for c in range(n + 1) if c not in used)
    return tuple(tuple(int(i) for i in np.flatnonzero(colour == c))
                 for c in range(int(colour.max()) + 1))


def _centred(spec: Spec) -> Spec:
    return replace(spec, options=spec.options.model_copy(
        update={"parameterization": "centered"}))


def _trace(spec: Spec, arrays: dict) -> dict:
    with handlers.trace() as tr, handlers.seed(rng_seed=0):
        latents(spec, arrays)
    return tr


def _layout(spec: Spec, arrays: dict):
    """Unit map, curve sites and kind, and the global sites' layout and transforms."""
    tr = _trace(spec, arrays)
    n_combo, n_pair = int(arrays["n_combo"]), int(arrays["n_pair"])
    mono_active = bool(arrays["mono_active"])
    curve_sites = MONO_SITES if mono_active else DRUG_SITES
    unit_map: list[tuple[str, str, int, int]] = []
    latent = [n for n, s in tr.items() if s["type"] == "sample" and not s.get("is_observed")]
    for n in latent:
        shape = tuple(np.shape(tr[n]["value"]))
        if n in COMBO_SITES and shape == (n_combo,):
            unit_map.append((n, "combo", 0, 0))
        elif n in PAIR_SITES and not arrays["combo_active"] and n_pair == n_combo:
            unit_map.append((n, "pair", 0, 0))
    n_slots = 0
    if MATRIX_SITE in latent:
        n_slots = int(np.bincount(np.asarray(arrays["matrix_combo"])).max())
        for s in range(n_slots):
            unit_map.extend((MATRIX_SITE, "matrix", r, s) for r in range(4))
    taken = {u[0] for u in unit_map} | set(curve_sites)
    layout, transforms = global_sites(tr, taken.__contains__)
    return tuple(unit_map), curve_sites, ("mono" if mono_active else "drug"), layout, transforms


def _matrix_slots(arrays: dict) -> tuple[int, ...]:
    mc = np.asarray(arrays["matrix_combo"])
    seen: dict[int, int] = {}
    out = []
    for k in mc:
        out.append(seen.get(int(k), 0))
        seen[int(k)] = out[-1] + 1
    return tuple(out)


def problems(spec: Spec, arrays: dict) -> list[tuple[str, str, str]]:
    """What the plan cannot fit: ``(what, its value, what it needs)`` for each problem."""
    o = spec.options
    out = []
    other = "use method nuts, svi or map"
    if arrays.get("n_shared", 0):
        out.append(("data", f"{int(arrays['n_shared'])} control wells shared by several "
                    "matrices", "each well in one matrix (a shared control couples its "
                    f"matrices, which the screen's blocks keep apart: {other})"))
    if plate_effects_active(spec, arrays):
        out.append(("model.options.plate_effects", str(o.plate_effects), "\"off\" (plate "
                    f"effects are not yet in the screen's combination plan: {other})"))
    if getattr(o, "matrix_monotherapy_effects", False) and arrays.get("matrix_mono_active"):
        out.append(("model.options.matrix_monotherapy_effects", "true", "false (per-matrix "
                    f"monotherapy deviations are not in the screen's plan: {other})"))
    if out:
        return out
    try:
        unit_map, _, _, layout, _ = _layout(_centred(spec), arrays)
    except Exception as e:  # noqa: BLE001  (a model the plan cannot read is refused)
        return [("model", spec.family, f"a model the screen's combination plan can read "
                 f"({type(e).__name__}: {e}; {other})")]
    n_global = sum(s.size for s in layout)
    if n_global > MAX_GLOBAL:
        big = ", ".join(f"{s.name} ({s.size})" for s in sorted(layout, key=lambda s: -s.size)[:4])
        out.append(("model", f"{n_global} global coordinates ({big})", f"at most "
                    f"{MAX_GLOBAL} (the plan's global block takes a dense metric: {other})"))
    return out


def build(spec: Spec, arrays: dict) -> tuple[CombinationPlan, dict]:
    """The plan of ``spec`` and its host data (the family's model arrays)."""
    spec_c = _centred(spec)
    host = dict(arrays)
    static = {k: v for k, v in host.items() if k not in OBS_KEYS}
    unit_map, curve_sites, kind, layout, transforms = _layout(spec_c, host)
    plan = CombinationPlan(spec_c, static, layout, transforms, unit_map, curve_sites, kind,
                           _colouring(host), _matrix_slots(host), static_key(spec_c, static))
    return plan, host


def contract_data(seed: int = 2) -> tuple:
    """The contract problem of the plan (agreement with NUTS): a simulated checkerboard of
    one pair in 3 cell lines, 2 replicate experiments, 3 doses per drug."""
    from .simulate import simulate

    wells, _ = simulate(3, n_doses=3, n_replicates=1, n_experiments=2, seed=seed)
    return wells, {"dose_unit": "uM", "response_scale": "fraction"}
