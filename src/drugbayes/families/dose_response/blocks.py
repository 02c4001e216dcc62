"""The ``dose_response`` posterior in blocks, for the blocked ("screen") back-end.

The target is the posterior of the family's NumPyro model (:mod:`.model`), evaluated through
the same pieces: the wells' density is :func:`.model.likelihood` (the 4PL of
:func:`drugbayes.curves.log_logistic` through :func:`.model.viability`), every prior's
distribution and numbers come from :func:`.model.prior_terms`. Only the layout (the dense grid
of :mod:`.grid`) and the sampler differ. The plan (:class:`DoseResponsePlan`) declares:

- **unit blocks** -- curves: every cell line x drug curve's ``(log10 IC50, log Hill, logit
  bottom[, log top])`` is conditionally independent of the others given the globals. Its
  conditional prior is ``Normal(loc, sigma_curve_*)`` (the family's centred hierarchical
  member, :func:`drugbayes.families._hierarchy.mixed_effect`) with ``loc`` the drug mean plus,
  for log10 IC50, the cell-line effect; log top has ``prior_terms["log_top"]``. The unit HMC
  runs in top-dose coordinates (:func:`to_top`: the logit of the fraction of the top lost at
  the highest dose replaces the IC50, which straightens the IC50-bottom ridge of a curve that
  barely responds), with a metric from the Fisher information of the wells plus the prior
  precision; the mode search starts below, inside and above the tested doses;
- **global blocks**, in order:

  1. ``conjugate`` (centred, exact conditionals): drug means (Normal prior from
     ``prior_terms``), cell-line effects (sum-to-zero, by conditioning the Gaussian on the
     constraint) and every scale (an independence Metropolis step with the Gamma full
     conditional of the precision as proposal; the noise's residuals are read from the
     likelihood's Normal);
  2. ``drug`` (partially non-centred): one small HMC per drug over its three means, each curve
     following by the shift of its conditional mean (a ``K x 3`` matrix per curve: the identity
     for curves their data do not inform, near 0 for well-informed ones);
  3. ``global`` (non-centred): one HMC over the drug means, the cell-line and experiment effects
     and the log curve scales with the standardised curve deviations held fixed, with a
     diagonal metric of expected curvature assembled from the curves' Fisher information.

  Steps of the unit block and ``conjugate`` mix well where curves are informative, ``drug`` and
  ``global`` where they are not (the parameterisations interweave);
- **records** under the family's site names (``mu_log10_ic50``, ..., ``grp_log10_ic50``).

What the plan cannot fit is listed by :func:`problems` (raw plate signal, Student-t wells,
fewer than 2 cell lines or drugs).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import nn

from ...curves import LN10
from ...inference.blocked.kernels import (
    DualAveraging,
    block_hmc,
    da_init_host,
    da_restart,
    gamma_scale,
    metric_from_precision,
    project,
    tree_hmc,
)
from ...inference.blocked.plan import ChainState
from .._contract import Observed, Spec
from .grid import ScreenGrid, grid_from_arrays, top_doses
from .model import likelihood, prior_terms, viability
from .spec import DETERMINISTIC

Array = Any

GROUP_SITES = DETERMINISTIC
"""The family's per-curve sites, in the order of a curve block's coordinates."""

GLOBAL_SITES = ("mu_log10_ic50", "mu_log_hill", "mu_logit_bottom", "sigma_cell_line",
                "eff_cell_line", "sigma_curve_log10_ic50", "sigma_curve_log_hill",
                "sigma_curve_logit_bottom", "sigma", "experiment_effect")
"""The family's global sites, as :meth:`DoseResponsePlan.record` keeps them."""

# bytes per curve draw on the host through drugbayes.fit: 4 parameters in float32, plus the
# summary's derived quantities (about 15 arrays in float64, all held at once)
HOST_BYTES_PER_CURVE_DRAW = 4 * 4 + 15 * 8


class GridData(NamedTuple):
    """The screen grid on the device (``C`` cell lines, ``D`` drugs, ``P`` points).

    Attributes
    ----------
    x, y : float32 ``[C, D, P]``
        Centred log10 dose and viability.
    mask, is_zero : bool ``[C, D, P]``
        Observed and untreated wells.
    exp : int32 ``[C, D, P]``
        Experiment of each well.
    present : bool ``[C, D]``
        Curves with data.
    cell_valid : bool ``[C]``
        Real cell lines (False for padding).
    half_range : float32 ``[D]``
        Half the tested log10 dose range of each drug.
    x_top : float32 ``[C, D]``
        Highest treated dose of each curve.
    n_wells : float32
        Observed wells in all.
    priors : dict of float32
        The spec's prior values, by field name.
    """

    x: Array
    y: Array
    mask: Array
    is_zero: Array
    exp: Array
    present: Array
    cell_valid: Array
    half_range: Array
    x_top: Array
    n_wells: Array
    priors: dict[str, Array]


class Globals(NamedTuple):
    """The global parameters of one chain.

    Attributes
    ----------
    drug_mean : ``[D, 3]``
        Drug means of log10 IC50, log Hill and logit bottom (``mu_*``).
    cell_effect : ``[C]``
        Sum-to-zero cell-line effects on log10 IC50 (``eff_cell_line``).
    curve_sd : ``[3]``
        Scales of the curve deviations (``sigma_curve_*``).
    cell_sd : scalar
        Scale of the cell-line effects (``sigma_cell_line``).
    noise_sd : scalar
        Well noise (``sigma``).
    exp_effect : ``[E]``
        Sum-to-zero experiment effects on log10 IC50 (``experiment_effect``).
    """

    drug_mean: Array
    cell_effect: Array
    curve_sd: Array
    cell_sd: Array
    noise_sd: Array
    exp_effect: Array


class GlobalCoords(NamedTuple):
    """Coordinates of the non-centred global block (also its diagonal inverse metric). The field
    order fixes which random stream each coordinate's momentum takes."""

    cell_effect: Array
    exp_effect: Array
    log_curve_sd: Array
    drug_mean: Array


class PlanAdaptation(NamedTuple):
    """Tuning of the global blocks of one chain.

    Attributes
    ----------
    global_da : DualAveraging
        Step size of the global block (scalar).
    drug_da : DualAveraging
        Step size of each drug's block ``[D]``.
    drug_metric : ``[D, 3, 3]``
        Square root of each drug block's covariance metric.
    drug_shift : ``[C, D, K, 3]``
        Each curve's conditional-mean shift per unit move of its drug means.
    global_inv_mass : GlobalCoords
        Diagonal inverse metric of the global block.
    """

    global_da: DualAveraging
    drug_da: DualAveraging
    drug_metric: Array
    drug_shift: Array
    global_inv_mass: GlobalCoords


# ----------------------------------------------------------------------------- coordinates
def to_top(G: Array, x_top: Array) -> Array:
    """Curve parameters ``[..., K]`` in top-dose coordinates ``(l, log Hill, w[, log top])``.

    With ``t = Hill ln10 (x_top - log10 IC50)`` (``x_top``: the curve's highest dose) and
    ``beta`` the logit bottom: ``w = beta + softplus(t)`` and ``l = t - softplus(w)``, the
    logit of the fraction of the top lost at the highest dose. A curve that has barely
    responded there pins ``l`` while its IC50 and bottom trade off along a curved ridge (a
    higher bottom, a lower IC50); in these coordinates the ridge is nearly straight. The map
    ``(l, w) -> (t, beta)`` (``t = l + softplus(w)``, ``beta = w - softplus(t)``) has unit
    Jacobian determinant, so the log density gains only ``-log Hill`` (from ``t -> IC50``)."""
    t = jnp.exp(G[..., 1]) * LN10 * (x_top - G[..., 0])
    w = G[..., 2] + nn.softplus(t)
    return jnp.stack([t - nn.softplus(w), G[..., 1], w] + [G[..., k] for k in
                                                          range(3, G.shape[-1])], -1)


def from_top(Z: Array, x_top: Array) -> Array:
    """Inverse of :func:`to_top`."""
    t = Z[..., 0] + nn.softplus(Z[..., 2])
    L = x_top - t / (jnp.exp(Z[..., 1]) * LN10)
    return jnp.stack([L, Z[..., 1], Z[..., 2] - nn.softplus(t)] + [Z[..., k] for k in
                                                                  range(3, Z.shape[-1])], -1)


# ----------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class DoseResponsePlan:
    """The ``dose_response`` posterior in blocks on a screen grid (see the module docstring).

    Hashable on ``n_exp`` and ``options`` (the spec's options, as JSON): a second fit of the
    same shapes and options reuses the compiled sweep. The priors' values are data
    (:attr:`GridData.priors`), so a fit with other priors reuses it too; traced code must read
    them there (:meth:`priors`), never from ``spec``.
    """

    spec: Spec = field(compare=False, repr=False)
    n_exp: int
    options: str

    unit_label: ClassVar[str] = "curve"
    unit_axes: ClassVar[tuple[str, ...]] = ("cell", "drug")
    host_bytes_per_unit_draw: ClassVar[int] = HOST_BYTES_PER_CURVE_DRAW

    @classmethod
    def from_spec(cls, spec: Spec, n_exp: int) -> DoseResponsePlan:
        """The plan of ``spec`` for data with ``n_exp`` experiments."""
        return cls(spec, int(n_exp), spec.options.model_dump_json())

    @property
    def four_pl(self) -> bool:
        return self.spec.options.curve == "4pl"

    @property
    def exp_effects(self) -> bool:
        return bool(self.spec.options.experiment_effects and self.n_exp > 1)

    @property
    def k(self) -> int:
        return 4 if self.four_pl else 3

    @property
    def unit_sites(self) -> tuple[str, ...]:
        return GROUP_SITES[:self.k]

    # --- the family's pieces ------------------------------------------------------------
    def priors(self, data: GridData) -> dict[str, dist.Distribution]:
        """The family's prior terms (:func:`.model.prior_terms`) for this grid, with the
        priors' values from the data (traced)."""
        spec = replace(self.spec, priors=self.spec.priors.model_construct(**data.priors))
        return prior_terms(spec, {"half_range": data.half_range, "n_exp": self.n_exp})

    def _well_params(self, G: Array, data: GridData, exp_eff: Array,
                     sigma: Array | None = None) -> dict:
        """The likelihood's per-well parameters on the grid, from curve parameters ``[...,
        C, D, K]``: the curve's own, broadcast over points, its log10 IC50 shifted by each
        well's experiment effect."""
        L = G[..., 0:1]
        if self.exp_effects:
            # a sum over the (few) experiments rather than a per-well gather: its gradient is
            # then a reduction, not a scatter-add over millions of wells
            L = L + sum(exp_eff[..., e] * (data.exp == e) for e in range(self.n_exp))
        return {"log10_ic50": L, "log_hill": G[..., 1:2], "logit_bottom": G[..., 2:3],
                "log_top": G[..., 3:4] if self.four_pl else 0.0, "sigma": sigma}

    def _mean(self, G: Array, data: GridData, exp_eff: Array) -> Array:
        """Viability of every well ``[..., C, D, P]`` (:func:`.model.viability`)."""
        return viability(self._well_params(G, data, exp_eff), data.x, data.is_zero)

    def _wells(self, G: Array, data: GridData, exp_eff: Array, sigma: Array) -> Observed:
        """The wells' distribution on the grid: the family's :func:`.model.likelihood`."""
        a = {"x": data.x, "is_zero": data.is_zero, "y": data.y, "mask": data.mask}
        return likelihood(self._well_params(G, data, exp_eff, sigma), a, self.spec)["y"]

    def _loglik(self, G: Array, data: GridData, exp_eff: Array, sigma: Array) -> Array:
        """Log likelihood of each curve's wells ``[C, D]``."""
        return jnp.sum(self._wells(G, data, exp_eff, sigma).log_prob(), axis=-1)

    def _noise_ss(self, G: Array, data: GridData, exp_eff: Array, sigma: Array) -> Array:
        """Sum of squared residuals of all wells around the likelihood's Normal means (the
        noise's sufficient statistic)."""
        obs = self._wells(G, data, exp_eff, sigma)
        if not isinstance(obs.dist, dist.Normal):
            raise NotImplementedError("the conjugate noise update needs Normal wells")
        r_w = obs.value - obs.dist.loc
        return jnp.sum(jnp.sum(jnp.where(obs.mask, r_w * r_w, 0.0), -1))

    def _unit_prior(self, G: Array, glob: Globals, data: GridData) -> Array:
        """Each curve's conditional prior log density ``[C, D]``: ``Normal(loc, sigma_curve_*)``
        for the hierarchical members, ``prior_terms["log_top"]`` for log top."""
        loc = self._loc(glob)
        lp = jnp.sum(dist.Normal(loc[..., :3], glob.curve_sd).log_prob(G[..., :3]), -1)
        if self.four_pl:
            lp = lp + self.priors(data)["log_top"].log_prob(G[..., 3])
        return lp

    def _drug_mean_prior(self, mu: Array, data: GridData) -> Array:
        """Log prior density of the drug means ``mu [D, 3]``, per drug ``[D]``."""
        pri = self.priors(data)
        return sum(pri[f"mu_{n}"].log_prob(mu[..., i]) for i, n in
                   enumerate(("log10_ic50", "log_hill", "logit_bottom")))

    def _mu_prior(self, data: GridData) -> tuple[Array, Array]:
        """Prior means and sds ``[D, 3]`` of the drug means (log10 IC50, log Hill,
        logit bottom), from the prior terms."""
        pri = self.priors(data)
        terms = [pri[f"mu_{n}"] for n in ("log10_ic50", "log_hill", "logit_bottom")]
        shape = jnp.shape(data.half_range)

        def per_drug(v):
            return jnp.broadcast_to(jnp.asarray(v, jnp.float32), shape)

        return (jnp.stack([per_drug(t.loc) for t in terms], -1),
                jnp.stack([per_drug(t.scale) for t in terms], -1))

    def _scale_prior_sd(self, data: GridData, dtype=jnp.float32) -> Array:
        """HalfNormal scales of the curve-level sds (log10 IC50, log Hill, logit bottom)."""
        pri = self.priors(data)
        return jnp.array([pri[f"sigma_curve_{n}"].scale for n in
                          ("log10_ic50", "log_hill", "logit_bottom")], dtype)

    def _loc(self, glob: Globals) -> Array:
        """Conditional prior means of the curve parameters ``[C, D, K]``."""
        mu, cell = glob.drug_mean, glob.cell_effect
        loc = jnp.stack([mu[None, :, 0] + cell[:, None], jnp.broadcast_to(mu[None, :, 1],
                        (cell.shape[0], mu.shape[0])), jnp.broadcast_to(
                        mu[None, :, 2], (cell.shape[0], mu.shape[0]))], -1)
        if self.four_pl:
            loc = jnp.concatenate([loc, jnp.zeros_like(loc[..., :1])], -1)
        return loc

    def unit_prior_scale(self, glob: Globals, data: GridData) -> Array:
        scale = glob.curve_sd
        if self.four_pl:
            top_sd = self.priors(data)["log_top"].scale
            scale = jnp.concatenate([scale, jnp.full((1,), top_sd, scale.dtype)])
        return scale

    # --- unit blocks --------------------------------------------------------------------
    def active(self, data: GridData) -> Array:
        return data.present

    def unit_logp(self, G: Array, glob: Globals, data: GridData) -> Array:
        return (self._loglik(G, data, glob.exp_effect, glob.noise_sd)
                + self._unit_prior(G, glob, data))

    def unit_fisher(self, G: Array, glob: Globals, data: GridData) -> Array:
        """Per-curve Fisher information of the wells ``[C, D, K, K]`` (``J^T J / sigma^2``
        with ``J`` the derivative of each well's mean by the curve's parameters; K
        forward-mode products, one per parameter, give every curve's column at once since
        curves are separable). Unlike the Hessian it is positive semi-definite everywhere,
        so a metric built from it never has a spurious flat direction."""
        def f(g):
            return self._mean(g, data, glob.exp_effect)

        cols = []
        for k in range(self.k):
            e = jnp.zeros_like(G).at[..., k].set(1.0)
            cols.append(jnp.where(data.mask, jax.jvp(f, (G,), (e,))[1], 0.0))
        J = jnp.stack(cols, -1)  # [C, D, P, K]
        return jnp.einsum("cdpk,cdpl->cdkl", J, J) / glob.noise_sd ** 2

    def to_coords(self, G: Array, data: GridData) -> Array:
        return to_top(G, data.x_top)

    def from_coords(self, Z: Array, data: GridData) -> Array:
        return from_top(Z, data.x_top)

    def coords_log_det(self, Z: Array) -> Array:
        """``log |det dG/dZ|`` of :func:`from_top`: ``-log Hill`` (up to ``-log ln10``)."""
        return -Z[..., 1]

    def mode_starts(self, glob: Globals, data: GridData) -> Array:
        """Six starts per curve: log10 IC50 below, inside and above the tested doses, each
        with a low and a high bottom. Curves whose response has begun only at the top doses
        are the typical two-mode case: a curve that is just starting to fall towards a low
        bottom, or one already flattening at a high bottom."""
        loc = self._loc(glob)
        hr = jnp.broadcast_to(data.half_range[None, :], loc.shape[:2])
        starts = []
        for ic50 in (-hr - 0.5, jnp.zeros_like(hr), hr + 0.5):
            for shift in (-1.5, 1.5):
                starts.append(loc.at[..., 0].set(ic50).at[..., 2].add(shift))
        return jnp.stack(starts)

    # --- global blocks ------------------------------------------------------------------
    def global_blocks(self) -> tuple[str, ...]:
        return ("conjugate", "drug", "global")

    def global_step(self, name: str, key: Array, state: ChainState, adapt: PlanAdaptation,
                    data: GridData, warm: Array,
                    settings: Any) -> tuple[ChainState, PlanAdaptation, Array | None]:
        if name == "conjugate":
            return self._conjugate(key, state, data), adapt, None
        if name == "drug":
            return self._drug_hmc(key, state, adapt, data, settings.group_steps, warm,
                                  settings.target_accept)
        if name == "global":
            return self._global_hmc(key, state, adapt, data, settings.global_steps, warm,
                                    settings.target_accept)
        raise ValueError(f"unknown block {name!r}")

    def _conjugate(self, key: Array, state: ChainState, data: GridData) -> ChainState:
        """Centred Gibbs updates of drug means, cell-line effects and every scale."""
        ks = jax.random.split(key, 8)
        G, pres, g = state.units, data.present, state.glob
        pf = pres.astype(G.dtype)
        n_d = jnp.sum(pf, 0)
        sig = g.curve_sd
        prior_mean, prior_sd = self._mu_prior(data)
        # the curves' locations minus their drug means: the cell-line shift of log10 IC50 only
        shift = self._loc(g._replace(drug_mean=jnp.zeros_like(g.drug_mean)))[..., :3]
        r = jnp.sum(jnp.where(pres[..., None], G[..., :3] - shift, 0.0), 0)  # [D, 3]
        prec = 1.0 / prior_sd ** 2 + n_d[:, None] / sig ** 2
        mean = (prior_mean / prior_sd ** 2 + r / sig ** 2) / prec
        mu = mean + jax.random.normal(ks[0], mean.shape) / jnp.sqrt(prec)
        # cell-line effects: Gaussian full conditional conditioned on sum-to-zero over real
        # cells
        valid = data.cell_valid
        n_c = jnp.sum(pf, 1)
        rc = jnp.sum(jnp.where(pres, G[..., 0] - mu[None, :, 0], 0.0), 1)
        pc = n_c / sig[0] ** 2 + 1.0 / g.cell_sd ** 2
        mc = (rc / sig[0] ** 2) / pc
        x = mc + jax.random.normal(ks[1], mc.shape) / jnp.sqrt(pc)
        var = jnp.where(valid, 1.0 / pc, 0.0)
        x = jnp.where(valid, x - var * jnp.sum(jnp.where(valid, x, 0.0)) / jnp.sum(var), 0.0)
        # curve scales, cell-line scale
        dev = G[..., :3] - self._loc(g._replace(drug_mean=mu, cell_effect=x))[..., :3]
        ss = jnp.sum(jnp.where(pres[..., None], dev * dev, 0.0), (0, 1))
        n_g = jnp.sum(pf)
        sd0 = self._scale_prior_sd(data, G.dtype)
        sig = jnp.stack([gamma_scale(ks[2 + i], n_g, ss[i], sd0[i], sig[i]) for i in range(3)])
        n_cells = jnp.sum(valid.astype(G.dtype))
        pri = self.priors(data)
        # sum-to-zero effects over n cell lines carry n - 1 degrees of freedom
        sc = gamma_scale(ks[5], n_cells - 1.0, jnp.sum(x * x), pri["sigma_cell_line"].scale,
                         g.cell_sd)
        # noise
        ss_w = self._noise_ss(G, data, g.exp_effect, g.noise_sd)
        sigma = gamma_scale(ks[6], data.n_wells + 0.0, ss_w, pri["sigma"].scale, g.noise_sd)
        return ChainState(G, g._replace(drug_mean=mu, cell_effect=x, curve_sd=sig, cell_sd=sc,
                                        noise_sd=sigma))

    def _drug_hmc(self, key: Array, state: ChainState, adapt: PlanAdaptation, data: GridData,
                  steps: int, warm: Array,
                  target: float) -> tuple[ChainState, PlanAdaptation, Array]:
        """Partially non-centred drug block: each drug's means ``(log10 IC50, log Hill, logit
        bottom)`` move by ``delta`` and every curve of the drug follows by ``W delta``, with
        ``W`` (``K x 3`` per curve) the shift of the curve's conditional mean under a Gaussian
        approximation: ``W = (F + P)^-1 P0``, ``F`` its Fisher information, ``P`` the prior
        precision of all its parameters and ``P0`` that of the three that have drug means. An
        uninformed curve moves fully with its drug mean (non-centred), a well-informed one
        stays (centred), and a curve informed only along a ridge moves along the ridge
        (Papaspiliopoulos, Roberts & Skold 2003, with the matrix weights of the Gaussian case).
        The shear ``(mu, G - W mu)`` has unit Jacobian and ``W`` is fixed between warmup
        metric updates. Drugs are independent of each other given the rest, so every drug
        gets its own step size and 3 x 3 metric."""
        w = adapt.drug_shift  # [C, D, K, 3]
        g = state.glob
        mu0 = g.drug_mean

        def unpack(mu):
            return state.units + jnp.einsum("cdkj,dj->cdk", w, mu - mu0)

        def logp(mu):  # [D]
            lp = jnp.where(data.present, self.unit_logp(unpack(mu), g._replace(drug_mean=mu),
                                                        data), 0.0)
            return jnp.sum(lp, 0) + self._drug_mean_prior(mu, data)

        mu, da, acc, _ = block_hmc(key, mu0, logp, adapt.drug_metric, adapt.drug_da, warm,
                                   steps, jnp.any(data.present, 0), target)
        G = jnp.where(data.present[..., None], unpack(mu), state.units)
        return ChainState(G, g._replace(drug_mean=mu)), adapt._replace(drug_da=da), acc

    def _nc_unpack(self, th: GlobalCoords, z: Array, state: ChainState) -> Array:
        """Curve parameters from the non-centred coordinates (standardised deviations
        fixed)."""
        sig = jnp.exp(th.log_curve_sd)
        loc = self._loc(state.glob._replace(drug_mean=th.drug_mean, cell_effect=th.cell_effect))
        G3 = loc[..., :3] + sig * z
        if self.four_pl:
            G3 = jnp.concatenate([G3, state.units[..., 3:4]], -1)
        return G3

    def _nc_parts(self, th: GlobalCoords, z: Array, state: ChainState,
                  data: GridData) -> tuple[Array, Array]:
        """Per-curve log likelihood ``[C, D]`` and the prior of the global block (scalar)."""
        G = self._nc_unpack(th, z, state)
        ll = jnp.where(data.present, self._loglik(G, data, th.exp_effect, state.glob.noise_sd),
                       0.0)
        pri = self.priors(data)
        sig = jnp.exp(th.log_curve_sd)
        # the cell-line effects' ZeroSumNormal(sigma_cell_line) restricted to the sum-to-zero
        # surface (where the block's momenta keep them) is iid Normal up to a constant, and
        # sigma_cell_line is fixed in this block
        cell = jnp.where(data.cell_valid, dist.Normal(0.0, state.glob.cell_sd).log_prob(
            th.cell_effect), 0.0)
        lp = (jnp.sum(self._drug_mean_prior(th.drug_mean, data)) + jnp.sum(cell)
              + sum(pri[f"sigma_curve_{n}"].log_prob(sig[i]) for i, n in
                    enumerate(("log10_ic50", "log_hill", "logit_bottom")))
              + jnp.sum(th.log_curve_sd))
        if self.exp_effects:
            lp = lp + pri["experiment_effect"].log_prob(th.exp_effect)
        return ll, lp

    def _global_hmc(self, key: Array, state: ChainState, adapt: PlanAdaptation,
                    data: GridData, steps: int, warm: Array,
                    target: float) -> tuple[ChainState, PlanAdaptation, Array]:
        """One HMC transition of the global block in non-centred coordinates."""
        g = state.glob
        sig = g.curve_sd
        loc = self._loc(g)
        z = (state.units[..., :3] - loc[..., :3]) / sig
        th0 = GlobalCoords(g.cell_effect, g.exp_effect, jnp.log(sig), g.drug_mean)
        inv_m = adapt.global_inv_mass
        a_cell = data.cell_valid.astype(sig.dtype)
        exp_effects = self.exp_effects

        def proj(p):
            return p._replace(
                cell_effect=project(p.cell_effect, inv_m.cell_effect, a_cell),
                exp_effect=project(p.exp_effect, inv_m.exp_effect, jnp.ones_like(g.exp_effect))
                if exp_effects else jnp.zeros_like(p.exp_effect))

        th, take, acc, da = tree_hmc(key, th0, lambda th: self._nc_parts(th, z, state, data),
                                     inv_m, proj, adapt.global_da, warm, steps, target)
        G = jnp.where(take, self._nc_unpack(th, z, state), state.units)
        G = jnp.where(data.present[..., None], G, state.units)
        glob = g._replace(drug_mean=th.drug_mean, cell_effect=th.cell_effect,
                          curve_sd=jnp.exp(th.log_curve_sd), exp_effect=th.exp_effect)
        return ChainState(G, glob), adapt._replace(global_da=da), acc

    def refresh_metrics(self, state: ChainState, adapt: PlanAdaptation, fisher: Array,
                        precision: Array, data: GridData) -> PlanAdaptation:
        """Global diagonal metric from the curves' Fisher information (expected curvature of
        each global coordinate) and the drug blocks' shifts and metrics (chain-averaged)."""
        n_exp = self.n_exp
        exp_sd = self.priors(data)["experiment_effect"].scale

        def one(s: ChainState, ad: PlanAdaptation, F: Array, P: Array):
            g = s.glob
            loc = self._loc(g)
            scale = self.unit_prior_scale(g, data)
            neg = jnp.where(data.present[..., None], jnp.diagonal(F, 0, -2, -1), 0.0)
            sig = g.curve_sd
            z = (s.units[..., :3] - loc[..., :3]) / sig
            _, prior_sd = self._mu_prior(data)
            c_mu = jnp.sum(neg[..., :3], 0) + 1.0 / prior_sd ** 2
            c_cell = jnp.sum(neg[..., 0], 1) + 1.0 / g.cell_sd ** 2
            c_sig = jnp.sum(neg[..., :3] * (sig * z) ** 2, (0, 1)) + 2.0
            c_exp = jnp.full_like(g.exp_effect, jnp.sum(neg[..., 0]) / max(n_exp, 1)
                                  + 1.0 / exp_sd ** 2)
            inv_m = GlobalCoords(
                cell_effect=jnp.where(data.cell_valid, 1.0 / c_cell, 0.0),
                exp_effect=1.0 / c_exp if self.exp_effects else jnp.zeros_like(g.exp_effect),
                log_curve_sd=1.0 / c_sig, drug_mean=1.0 / c_mu)
            # partial non-centring of the drug block: each curve's conditional-mean shift W
            # [C, D, K, 3] per unit move of its drug means, and the block's curvature
            prec0 = 1.0 / sig ** 2
            E = jnp.eye(self.k, 3, dtype=sig.dtype)
            pres = data.present[..., None, None]
            w = jnp.where(pres, jnp.linalg.solve(P, jnp.broadcast_to(
                E * prec0, P.shape[:-1] + (3,))), E)
            R = w - E  # the move of each curve relative to its prior location
            Fd = jnp.einsum("cdki,cdkl,cdlj->dij", jnp.where(pres, w, 0.0), F, w)
            Fd = Fd + jnp.einsum("cdki,k,cdkj->dij", jnp.where(pres, R, 0.0), 1.0 / scale ** 2,
                                 R)
            Pd = Fd + jnp.eye(3) / prior_sd[..., None] ** 2
            return ad._replace(global_inv_mass=inv_m, drug_shift=w), Pd

        adapt, Pd = jax.vmap(one)(state, adapt, fisher, precision)
        Sd = metric_from_precision(jnp.mean(Pd, 0))
        return adapt._replace(drug_metric=jnp.broadcast_to(Sd, (Pd.shape[0],) + Sd.shape))

    def restart_adaptation(self, adapt: PlanAdaptation) -> PlanAdaptation:
        return adapt._replace(global_da=da_restart(adapt.global_da),
                              drug_da=da_restart(adapt.drug_da))

    # --- data, start, records -----------------------------------------------------------
    def device_data(self, grid: ScreenGrid) -> GridData:
        return GridData(grid.x, grid.y, grid.mask, grid.is_zero, grid.exp, grid.present,
                        grid.cell_valid, grid.half_range.astype(np.float32),
                        top_doses(grid.x, grid.mask, grid.is_zero),
                        np.float32(grid.mask.sum()), self.prior_values())

    def prior_values(self) -> dict[str, np.float32]:
        """The spec's numeric prior values (:attr:`GridData.priors`; a prior's choice of
        distribution, such as ``curve_ic50_prior``, is not data: the plan refuses all but its
        default)."""
        return {k: np.float32(v) for k, v in self.spec.priors.model_dump().items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def sharded_data(self) -> tuple[str, ...]:
        return ("x", "y", "mask", "is_zero", "exp", "present", "cell_valid", "x_top")

    def sharded_state(self) -> tuple[str, ...]:
        return ("cell_effect", "drug_shift")

    def pad_units(self, grid: ScreenGrid, multiple: int) -> ScreenGrid:
        return grid.pad_cells(multiple)

    def n_units(self, grid: ScreenGrid) -> int:
        return int(grid.present.sum())

    def describe(self, grid: ScreenGrid) -> dict:
        return {"grid_shape": list(grid.shape)}

    def initial_state(self, grid: ScreenGrid, num_chains: int, seed: int) -> ChainState:
        """Data-based start of every chain (numpy): curve midpoint where the mean viability
        crosses halfway between the lowest- and highest-dose wells, Hill 1, bottom from the
        lowest wells; globals from the curve starts. Chains are dispersed by jitter."""
        rng = np.random.default_rng(seed)
        C, D, P = grid.shape
        mask = grid.mask & ~grid.is_zero
        x = np.where(mask, grid.x, np.nan)
        y = np.where(mask, grid.y, np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices of absent curves
            lo, hi = np.nanmin(x, -1), np.nanmax(x, -1)
            span = np.maximum(hi - lo, 1e-3)
            w_lo = mask & (x <= (lo + 0.25 * span)[..., None])
            w_hi = mask & (x >= (hi - 0.25 * span)[..., None])
            top = np.nanmean(np.where(w_lo, y, np.nan), -1)
            bot = np.nanmean(np.where(w_hi, y, np.nan), -1)
            top = np.where(np.isfinite(top), np.clip(top, 0.5, 1.5), 1.0)
            bot = np.where(np.isfinite(bot), bot, 0.5)
            frac = np.clip(bot / top, 0.02, 0.9)
            half = 0.5 * (top + np.minimum(bot, top))
            # midpoint: mean of the doses whose wells lie above half-way, weighted -> proxy
            above = np.nanmean(np.where(mask & (y > half[..., None]), x, np.nan), -1)
            below = np.nanmean(np.where(mask & (y <= half[..., None]), x, np.nan), -1)
            ic50 = np.where(np.isfinite(above) & np.isfinite(below), 0.5 * (
                np.nan_to_num(above) + np.nan_to_num(below)),
                np.where(np.isfinite(below), lo, hi + 0.5))
            ic50 = np.where(np.isfinite(ic50), ic50, 0.0)
        k = self.k
        G = np.zeros((num_chains, C, D, k), np.float32)
        G[..., 0] = ic50 + 0.1 * rng.standard_normal((num_chains, C, D))
        G[..., 1] = 0.1 * rng.standard_normal((num_chains, C, D))
        G[..., 2] = np.log(frac / (1 - frac)) + 0.1 * rng.standard_normal((num_chains, C, D))
        if self.four_pl:
            G[..., 3] = np.log(top) * 0.5 + 0.02 * rng.standard_normal((num_chains, C, D))
        pres = grid.present
        w = pres.astype(np.float64)
        n_d = np.maximum(w.sum(0), 1)
        mu = np.stack([(G[..., i] * w).sum(1) / n_d for i in range(3)], -1)  # [chains, D, 3]
        cell = ((G[..., 0] - mu[:, None, :, 0]) * w).sum(2) / np.maximum(w.sum(1), 1)
        cell = np.where(grid.cell_valid, cell, 0.0)
        n_valid = grid.cell_valid.sum()
        cell = np.where(grid.cell_valid, cell - cell.sum(1, keepdims=True) / n_valid, 0.0)
        pri = prior_terms(self.spec, {"half_range": grid.half_range, "n_exp": self.n_exp})
        sig = np.tile(np.array([[pri[f"sigma_curve_{n}"].scale for n in
                                 ("log10_ic50", "log_hill", "logit_bottom")]], np.float32),
                      (num_chains, 1))
        sig = sig * np.exp(0.1 * rng.standard_normal(sig.shape))
        cell_sd = np.full(num_chains, 0.5, np.float32) * np.exp(
            0.1 * rng.standard_normal(num_chains)).astype(np.float32)
        glob = Globals(drug_mean=mu.astype(np.float32), cell_effect=cell.astype(np.float32),
                       curve_sd=sig.astype(np.float32), cell_sd=cell_sd,
                       noise_sd=np.full(num_chains, 0.1, np.float32),
                       exp_effect=np.zeros((num_chains, max(grid.n_exp, 1)), np.float32))
        return ChainState(G, glob)

    def initial_adaptation(self, state: ChainState) -> PlanAdaptation:
        G, g = state.units, state.glob
        nc, C, D, k = G.shape
        f = np.float32
        return PlanAdaptation(
            global_da=da_init_host(np.full(nc, math.log(0.3), f)),
            drug_da=da_init_host(np.full((nc, D), math.log(0.5), f)),
            drug_metric=np.tile(np.eye(3, dtype=f), (nc, D, 1, 1)),
            drug_shift=np.tile(np.eye(k, 3, dtype=f), (nc, C, D, 1, 1)),
            global_inv_mass=GlobalCoords(np.ones_like(g.cell_effect), np.ones_like(g.exp_effect),
                                         np.ones_like(g.curve_sd), np.ones_like(g.drug_mean)))

    def record(self, glob: Globals) -> dict[str, Array]:
        mu, sig = glob.drug_mean, glob.curve_sd
        return {"mu_log10_ic50": mu[..., 0], "mu_log_hill": mu[..., 1],
                "mu_logit_bottom": mu[..., 2], "sigma_cell_line": glob.cell_sd,
                "eff_cell_line": glob.cell_effect, "sigma_curve_log10_ic50": sig[..., 0],
                "sigma_curve_log_hill": sig[..., 1], "sigma_curve_logit_bottom": sig[..., 2],
                "sigma": glob.noise_sd, "experiment_effect": glob.exp_effect}

    def gradient_passes(self, settings: Any) -> tuple[int, str]:
        n = (settings.unit_steps + settings.group_steps + settings.global_steps + 6
             + int(settings.mode_jump))
        return n, ("per chain and sweep: curve_steps + drug_steps gradient passes over all "
                   "wells (every block steps in lockstep), at most global_steps more, and 6 "
                   "log-density passes (7 with the mode jump)")

    def to_sites(self, globals_: dict, units: dict, grid: ScreenGrid) -> dict[str, np.ndarray]:
        """Draws under the family's site names, curves in the family's group order."""
        n_cell = len(grid.cell_valid)
        samples = {k: globals_[k] for k in GLOBAL_SITES}
        samples["eff_cell_line"] = samples["eff_cell_line"][..., :n_cell]
        if not self.exp_effects:
            samples.pop("experiment_effect", None)
        gc, gd = grid.group_cell, grid.group_drug
        for name in GROUP_SITES:
            if name in units:
                samples[name] = units[name][:, :, gc, gd]
            else:
                samples[name] = np.zeros_like(units[GROUP_SITES[0]][:, :, gc, gd])
        return samples


def problems(spec: Spec, arrays: dict) -> list[tuple[str, str, str]]:
    """What the plan cannot fit: ``(what, its value, what it needs)`` for each problem."""
    out = []
    if arrays["raw"]:
        out.append(("data.response_scale", "raw", "normalised viability (raw plate signal "
                    "needs method nuts, svi or map)"))
    for key, scale in (("is_rate", "rate"), ("is_gr", "gr")):
        if arrays.get(key, False):
            out.append(("data.response_scale", scale, "normalised viability (growth rates and "
                        "GR values need method nuts, svi or map)"))
    if spec.options.likelihood != "normal":
        out.append(("model.options.likelihood", spec.options.likelihood,
                    "normal (Student-t wells need method nuts, svi or map)"))
    if spec.priors.curve_ic50_prior != "half_normal":
        out.append(("model.priors.curve_ic50_prior", spec.priors.curve_ic50_prior,
                    "half_normal (the plan's scale updates assume it; other priors need "
                    "method nuts, svi or map)"))
    if arrays["n_cell"] < 2 or arrays["n_drug"] < 2:
        out.append(("data", f"{arrays['n_cell']} cell line(s) x {arrays['n_drug']} drug(s)",
                    "at least 2 cell lines and 2 drugs (a screen)"))
    return out


def build(spec: Spec, arrays: dict) -> tuple[DoseResponsePlan, ScreenGrid]:
    """The plan of ``spec`` and the screen grid of the family's model arrays."""
    grid = grid_from_arrays(arrays)
    return DoseResponsePlan.from_spec(spec, grid.n_exp), grid


def contract_data(seed: int = 2) -> tuple:
    """The contract problem of the plan (agreement with NUTS): a simulated screen of 6 cell
    lines x 3 drugs in 2 experiments, normalised viability."""
    from .simulate import simulate_dose_response

    wells, _ = simulate_dose_response(6, 3, n_experiments=2, seed=seed)
    return wells, {"dose_unit": "uM", "response_scale": "fraction"}
