"""The ``joint`` NumPyro model: the three families' own latents and likelihoods, linked.

Nothing of the families' science is written again here: each block's hierarchy is its family's
``latents`` (sites namespaced ``dose_response.*``, ``combination.*``, ``xenograft.*`` with
:func:`numpyro.handlers.scope`) and each block's data its family's ``likelihood``. The links
are values *given* to sites of those latents (:class:`given`: the site takes the value and adds
no density of its own, so the site's prior in that family is replaced by the link):

- **one monotherapy hierarchy**: the dose-response family's hierarchy runs over every in-vitro
  cell line x drug (:attr:`.data.JointData.dr`); the checkerboards' monotherapy curves
  (``combination.mono_log10_c``, ``mono_log_hill``, ``mono_logit_bottom``, given in whatever
  coordinates the combination block samples them) are those curves, with a per-drug assay
  offset ``link.assay_log10_ic50`` on log10 IC50 for drugs in both assays, and an assay
  offset ``link.assay_log_top`` on the top: a checkerboard's untreated level E0 (the top of
  both its monotherapy curves) is, on the log scale, the mean
  of its line's two dose-response tops (0 with a 3PL block) plus that offset plus its own
  deviation (sd the combination family's ``log_top_sd``). The checkerboard's log E0 is sampled
  centred (``link.combination_log_top``: its untreated wells pin it) and given to the
  combination family's ``z_log_top``, so the offset's posterior is the pooled difference of
  the checkerboards' untreated level from the plates' top with no offset/deviation ridge.
- **in-vitro -> in-vivo**: each xenograft arm's growth rate (``xenograft.arm_rate_10d``, the
  arm groups of a replicated design) is its line's untreated rate minus the reductions of its
  drugs; a line x drug's reduction is ``rmax[drug] * (1 - v(C[drug]))`` (``link =
  "viability"``: ``v`` the line's dose-response curve as a fraction of its top, ``C`` the
  drug's in-vivo effective concentration with a prior from the config, learned) or
  ``a[drug] - slope * log10 IC50`` (``"log_ic50_linear"``), plus a residual with a learned
  scale ``link.sigma_link``. Untreated rates are pooled across lines (``link.control_rate``)
  around a learned mean with a *fixed* between-line sd (the prior ``control_rate_sd``): a study
  has its untreated rates from a handful of lines (two in the HER2 example), which cannot
  learn a spread; a learned one was the weakly identified quantity of the example's
  divergences (a funnel at large spreads with non-centred rates, at small ones with centred).
  A line's rate is centred where its control mice pin it, non-centred where no control arm
  informs it (:func:`drugbayes.families._hierarchy.mixed_effect`, mask fixed from the data).
- **synergy**: a two-drug arm's rate is further lowered by its in-vivo Bliss excess. For
  exponential growth Bliss independence of two drugs' effects on the growth rate is additivity
  of their rate reductions, so the excess is ``reduction(a+b) - reduction(a) - reduction(b)``;
  it is ``slope * in-vitro Bliss excess + residual``, the in-vitro Bliss excess taken from the
  line's checkerboard of the pair (its first matrix) at the in-vivo concentrations (0 for a
  line without that checkerboard).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.handlers import scope
from numpyro.primitives import Messenger

from ...curves import log_logistic
from .._contract import Observed, Spec, sample_observed
from .._hierarchy import mixed_effect
from ..combination.model import effect_site as cb_effect_site
from ..combination.model import latents as cb_latents
from ..combination.model import likelihood as cb_likelihood
from ..combination.model import log_top_sd as cb_log_top_sd
from ..combination.model import surface_at
from ..dose_response.model import latents as dr_latents
from ..dose_response.model import likelihood as dr_likelihood
from ..dose_response.model import well_params
from ..xenograft.model import latents as xe_latents
from ..xenograft.model import likelihood as xe_likelihood
from ..xenograft.model import map_start as xe_map_start
from ..xenograft.model import mice_centered
from ..xenograft.spec import TIME_SCALE
from .data import COMPONENTS

DIVIDER = "."
"""Between a block's name and its family's site name (``dose_response.sigma``)."""

FORCED: dict[str, dict[str, Any]] = {
    "xenograft": {"growth": "exponential", "scale": "log", "arm_pooling": False,
                  "cure": False}}
"""Component options the link relies on."""

DEFAULTS: dict[str, dict[str, Any]] = {"combination": {"parameterization": "noncentered"},
                                       "xenograft": {"parameterization": "mixed"}}
"""Component options the joint model sets where ``[model.options.<kind>]`` does not.

- combination ``"noncentered"``: the checkerboards' betas non-centred. In the joint the
  block's monotherapy curves are given by the dose-response hierarchy whatever the block's
  coordinates (``combination.model.effect_site``), so its parameterisation only moves the
  betas, a handful of members (one per checkerboarded line and pair) around a learned
  spread that they barely identify. Centred betas formed a funnel with ``sigma_combo_beta``
  near 0 (joint calibration seeds 403, 405, 406: divergent draws at spreads of 0.003-0.1 against
  0.12-0.24), and the family's ``"auto"`` rule would centre them all there (both drugs act
  in every checkerboard of those studies).
- xenograft ``"mixed"``: where the mice's data pin them, each mouse's level centred and its
  rate deviation non-centred (centred rates formed a funnel at ``sd_mouse_rate`` near 0:
  seeds 404, 407).
"""


class given(Messenger):
    """Sites that take given values and add no density of their own (observed ``Delta``)."""

    def __init__(self, fn: Any = None, values: dict | None = None) -> None:
        self.values = values or {}
        self.seen: set[str] = set()
        super().__init__(fn)

    def __exit__(self, exc_type, exc_value, traceback):
        out = super().__exit__(exc_type, exc_value, traceback)
        missing = set(self.values) - self.seen
        if exc_type is None and missing:  # a renamed site would silently drop the link
            raise RuntimeError(f"given values of sites the model lacks: {sorted(missing)}")
        return out

    def process_message(self, msg: dict) -> None:
        if msg["type"] == "sample" and msg["name"] in self.values:
            self.seen.add(msg["name"])
            v = self.values[msg["name"]]
            event_dim = msg["fn"].event_dim
            msg["fn"] = dist.Delta(v, event_dim=event_dim)
            msg["value"] = v
            msg["is_observed"] = True


def component_spec(spec: Spec, kind: str) -> Spec:
    """The block family's spec: its options from ``[model.options.<kind>]`` plus the joint's
    fixed ones, its priors from ``[model.priors.<kind>]`` (the family's defaults for the
    rest)."""
    opts = {**DEFAULTS.get(kind, {}), **getattr(spec.options, kind), **FORCED.get(kind, {})}
    return COMPONENTS[kind].make_spec(opts, dict(getattr(spec.priors, kind)))


def _scoped(kind: str):
    return scope(prefix=kind, divider=DIVIDER)


def latents(spec: Spec, a: dict, shared: dict | None = None) -> dict:
    """Sample every block's hierarchy and the links; return each block's parameters.

    Returns
    -------
    dict
        ``dose_response``, ``combination``, ``xenograft``: each family's latents (the blocks
        present).
    """
    s_dr = component_spec(spec, "dose_response")
    with _scoped("dose_response"):
        lat_dr = dr_latents(s_dr, a["dose_response"])
    out = {"dose_response": lat_dr}
    if "combination" in a:
        out["combination"] = _combination(spec, a, lat_dr)
    if "xenograft" in a:
        out["xenograft"] = _xenograft(spec, a, lat_dr, out.get("combination"))
    return out


def _combination(spec: Spec, a: dict, lat_dr: dict) -> dict:
    """The checkerboards' latents with their monotherapy curves given by the shared
    hierarchy (plus the assay offset on log10 IC50)."""
    ac, j = a["combination"], a["joint"]
    n_off = len(j["offset_drugs"])
    offset = jnp.zeros(ac["n_drug"])
    if n_off:
        with numpyro.plate("link.offset_drug", n_off):
            off = numpyro.sample("link.assay_log10_ic50",
                                 dist.Normal(0.0, spec.priors.assay_log10_ic50_sd))
        offset = offset.at[j["offset_drugs"]].set(off)
    g = j["comb_mono_group"]
    md = ac["mono_drug"]
    mono = {"mono_log10_c": lat_dr["grp_log10_ic50"][g] + jnp.asarray(j["comb_shift"])[md]
            + offset[md],
            "mono_log_hill": lat_dr["grp_log_hill"][g],
            "mono_logit_bottom": lat_dr["grp_logit_bottom"][g]}
    pre = "combination" + DIVIDER
    s_cb = component_spec(spec, "combination")
    if ac["mono_active"]:
        # the joint gives each member's drug mean 0 and its spread 1, so in every
        # parameterisation the block's sample site *is* the member: given the shared curve's
        # value it is the same model
        par_cb = s_cb.options.parameterization
        vals = {pre + cb_effect_site(k, par_cb): v for k, v in mono.items()}
        vals.update({f"{pre}mu_{k[5:]}": jnp.zeros(ac["n_drug"]) for k in mono})
        vals.update({f"{pre}sigma_{k}": jnp.ones(()) for k in mono})
    else:  # one line per drug: the combination's monotherapy is its drug mean
        vals = {f"{pre}mu_{k[5:]}": jnp.zeros(ac["n_drug"]).at[md].set(v)
                for k, v in mono.items()}
    # the top: each checkerboard's log E0 around its line's dose-response tops + the offset
    off_top = numpyro.sample("link.assay_log_top",
                             dist.Normal(0.0, spec.priors.assay_log_top_sd))
    mg = jnp.asarray(g)
    dr_top = 0.5 * (lat_dr["grp_log_top"][mg[ac["combo_mono_a"]]]
                    + lat_dr["grp_log_top"][mg[ac["combo_mono_b"]]])
    top_sd = cb_log_top_sd(s_cb.priors, ac)
    with numpyro.plate("link.combination", ac["n_combo"]):
        log_top = numpyro.sample("link.combination_log_top",
                                 dist.Normal(dr_top + off_top, top_sd))
    vals[pre + "z_log_top"] = (log_top - jnp.asarray(ac["combo_log_e0_ref"])) / top_sd
    with given(values=vals), _scoped("combination"):
        return cb_latents(s_cb, ac)


def _has_control(j: dict) -> np.ndarray:
    """Per link cell line: whether a xenograft group of it is untreated (its control arm)."""
    control = (np.asarray(j["group_units"]) == j["n_unit"]).all(axis=1)
    gcell = np.asarray(j["group_cell"])
    return np.array([bool((control & (gcell == c)).any()) for c in range(j["n_link_cell"])])


def _viability(lat_dr: dict, group: Any, x: Any) -> Any:
    """The dose-response curve of groups ``group`` at centred log10 doses ``x``, as a
    fraction of its top."""
    return log_logistic(x, lat_dr["grp_log10_ic50"][group],
                        jnp.exp(lat_dr["grp_log_hill"][group]), 1.0,
                        jnp.exp(-jnp.logaddexp(0.0, -lat_dr["grp_logit_bottom"][group])))


def _xenograft(spec: Spec, a: dict, lat_dr: dict, lat_cb: dict | None) -> dict:
    """The xenograft latents with the arm growth rates given by the link."""
    p = spec.priors
    j, ax = a["joint"], a["xenograft"]
    S = TIME_SCALE
    s_xe = component_spec(spec, "xenograft")
    n_u, n_s, n_c = j["n_unit"], j["n_syn"], j["n_link_cell"]
    ud, ug = j["unit_ldrug"], j["unit_group"]
    # untreated growth rates of the link's lines, pooled around a learned mean with a fixed
    # between-line sd (see the module docstring); centred where control mice pin the rate
    mu0 = numpyro.sample("link.mu_control_rate_10d",
                         dist.Normal(s_xe.priors.rate_mean * S, s_xe.priors.rate_sd * S))
    with scope(prefix="link", divider=DIVIDER):
        r0 = mixed_effect("control_rate_10d", jnp.full(n_c, mu0),
                          jnp.asarray(p.control_rate_sd * S), _has_control(j))
    numpyro.deterministic("link.control_rate", r0 / S)
    n_d = j["n_ldrug"]
    with numpyro.plate("link.drug", n_d):
        log10_c = numpyro.sample("link.log10_conc", dist.Normal(j["conc_mean"], j["conc_sd"]))
        if spec.options.link == "viability":
            rmax = numpyro.sample("link.rmax_10d", dist.HalfNormal(p.rmax_sd * S))
        else:
            icpt = numpyro.sample("link.intercept_10d", dist.Normal(0.0, p.link_intercept_sd * S))
    v = _viability(lat_dr, ug, log10_c[ud])
    numpyro.deterministic("link.viability_at_c", v)
    if spec.options.link == "viability":
        numpyro.deterministic("link.rmax", rmax / S)
        mean = rmax[ud] * (1.0 - v)
    else:
        slope = numpyro.sample("link.slope_10d", dist.Normal(0.0, p.link_slope_sd * S))
        mean = icpt[ud] - slope * lat_dr["grp_log10_ic50"][ug]
        numpyro.deterministic("link.rmax", jnp.zeros(n_d))
    s_link = numpyro.sample("link.sigma_link_10d", dist.HalfNormal(p.link_sd * S))
    with numpyro.plate("link.unit", n_u):
        zu = numpyro.sample("link.z_reduction", dist.Normal(0.0, 1.0))
    red = mean + s_link * zu
    numpyro.deterministic("link.reduction", red / S)
    excess = jnp.zeros(0)
    if n_s:
        bliss = _in_vitro_bliss(a, lat_cb, log10_c)
        numpyro.deterministic("link.in_vitro_bliss", bliss)
        b_syn = numpyro.sample("link.synergy_slope_10d",
                               dist.Normal(0.0, p.synergy_slope_sd * S))
        s_syn = numpyro.sample("link.sigma_synergy_10d", dist.HalfNormal(p.synergy_sd * S))
        with numpyro.plate("link.syn", n_s):
            zs = numpyro.sample("link.z_synergy", dist.Normal(0.0, 1.0))
        excess = b_syn * bliss + s_syn * zs
        numpyro.deterministic("link.in_vivo_excess", excess / S)

    def rates(cell, units, syn):
        red_pad = jnp.concatenate([red, jnp.zeros(1)])
        ex_pad = jnp.concatenate([excess, jnp.zeros(1)])
        return (r0[cell] - red_pad[units].sum(axis=-1) - ex_pad[syn])

    arm_rate = rates(j["group_cell"], j["group_units"], j["group_syn"])
    if j["n_pred"]:
        pr = rates(j["pred_cell"], j["pred_units"], j["pred_syn"])
        numpyro.deterministic("link.predicted_rate", pr / S)
        numpyro.deterministic("link.predicted_tc",
                              jnp.exp((pr - r0[j["pred_cell"]]) / S * j["tc_day"]))
    with given(values={"xenograft" + DIVIDER + "arm_rate_10d": arm_rate}), \
            _scoped("xenograft"):
        return xe_latents(s_xe, ax)


def _in_vitro_bliss(a: dict, lat_cb: dict | None, log10_c: Any) -> Any:
    """Bliss excess (positive = synergy) of each synergy unit's checkerboard at the in-vivo
    concentrations (0 where the line has no checkerboard of the pair)."""
    j = a["joint"]
    n_s = j["n_syn"]
    if lat_cb is None:
        return jnp.zeros(n_s)
    has = jnp.asarray(j["syn_matrix"] >= 0)
    m = np.maximum(j["syn_matrix"], 0)[:, None]
    da, db = j["syn_drug_a"], j["syn_drug_b"]  # registry drugs in the matrix's slots a, b
    xa = (log10_c[da] + jnp.asarray(j["syn_shift_a"]))[:, None]
    xb = (log10_c[db] + jnp.asarray(j["syn_shift_b"]))[:, None]
    zero = jnp.zeros_like(xa, bool)
    one = jnp.ones_like(xa, bool)
    e0 = lat_cb["e0"][m]
    fa = surface_at(lat_cb, m, xa, xb, zero, one) / e0
    fb = surface_at(lat_cb, m, xa, xb, one, zero) / e0
    fab = surface_at(lat_cb, m, xa, xb, zero, zero) / e0
    return jnp.where(has, (fa * fb - fab)[:, 0], 0.0)


def likelihood(params: dict, a: dict, spec: Spec) -> dict[str, Observed]:
    """Every block's observed sites, by its family's own likelihood (names namespaced).

    The xenograft family's likelihood is a per-mouse log-likelihood (its censored volumes),
    returned as the factor ``xenograft.y`` (an :class:`Observed` whose distribution is
    :class:`numpyro.distributions.Unit` with that log density).
    """
    out: dict[str, Observed] = {}
    a_dr = a["dose_response"]
    s_dr = component_spec(spec, "dose_response")
    for k, o in dr_likelihood(well_params(params["dose_response"], a_dr), a_dr,
                                    s_dr).items():
        out["dose_response" + DIVIDER + k] = o
    if "combination" in params:
        for k, o in cb_likelihood(params["combination"], a["combination"],
                                        component_spec(spec, "combination")).items():
            out["combination" + DIVIDER + k] = o
    if "xenograft" in params:
        lik = xe_likelihood(params["xenograft"], a["xenograft"],
                                  component_spec(spec, "xenograft"))
        ll = lik["log_lik_mouse"]
        out["xenograft" + DIVIDER + "y"] = Observed(dist.Unit(ll), jnp.zeros(ll.shape + (0,)))
    return out


def model(a: dict, spec: Spec, observed: bool = True) -> None:
    """NumPyro model of the ``joint`` family (``observed=False``: the in-vitro wells are drawn;
    the xenograft volumes are not conditioned on)."""
    lat = latents(spec, a)
    obs = likelihood(lat, a, spec)
    xe = obs.pop("xenograft" + DIVIDER + "y", None)
    sample_observed(obs, observed)
    if xe is not None and observed:
        numpyro.factor("xenograft" + DIVIDER + "y", xe.dist.log_factor.sum())


def _latent_sites(a: dict, spec: Spec) -> set[str]:
    """Names of the model's latent sample sites."""
    import jax
    from numpyro.handlers import seed, trace

    tr = trace(seed(model, jax.random.PRNGKey(0))).get_trace(a, spec)
    return {k for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}


def init_values(values: dict, a: dict, spec: Spec) -> dict:
    """NUTS start values from the MAP: the values of the model's latent sites."""
    latent = _latent_sites(a, spec)
    return {k: v for k, v in values.items() if k in latent}


def map_start(a: dict, spec: Spec) -> dict:
    """MAP start values: the xenograft block where the xenograft family starts it, the link's
    untreated rates and concentrations from the same lines.

    The xenograft block starts at :func:`drugbayes.families.xenograft.model.map_start` (per-mouse
    least-squares lines; the noise at their residual SD), in the block's own coordinates (the
    joint MAP runs in the model's parameterisation: with centred mice, each mouse's (level at
    the mean measurement time, rate) of its line). Without it, the MAP started at unconstrained
    zeros (mouse log volumes 0 against data near log 100-1000 mm3, noise 1) and stopped in a
    degenerate mode (noise SD 3, mouse correlation 1) where three of four NUTS chains stayed.
    The link's untreated rates start at the control groups' rates, the in-vivo concentrations
    at their prior means, the checkerboards' log E0 at their data's untreated level; the
    dose-response and combination blocks' other sites start at unconstrained zeros as before.
    Like the xenograft family's, the start may name sites this model lacks (``sigma_total``
    without calipers): the MAP ignores them.
    """
    out: dict[str, Any] = {}
    if "combination" in a:  # checkerboards' untreated level at the data's
        out["link.combination_log_top"] = np.asarray(a["combination"]["combo_log_e0_ref"],
                                                     np.float64)
    if "xenograft" not in a:
        return out
    ax, j = a["xenograft"], a["joint"]
    s_xe = component_spec(spec, "xenograft")
    xs = xe_map_start(ax, s_xe)
    S = TIME_SCALE
    par = s_xe.options.parameterization
    rate = np.asarray(xs["arm_rate_10d"], np.float64)
    if mice_centered(par, ax) and "z_mouse" in xs:
        free = np.asarray(ax.get("mouse_free", np.ones(ax["n_mouse"], bool)))
        mg = np.asarray(ax["mouse_group"])[free]
        base = float(ax["center"]) + s_xe.priors.baseline_sd * np.asarray(xs["z_baseline"])
        z = np.asarray(xs.pop("z_mouse"))
        b = base[mg] + xs["sd_mouse_baseline"] * z[:, 0]
        r = rate[mg] + xs["sd_mouse_rate_10d"] * z[:, 1]
        if par == "mixed":  # the level centred, the rate's standardised deviation
            xs["mouse_level"] = b + ax["t_center"] * r
            xs["z_mouse_rate"] = z[:, 1]
        else:
            xs["mouse_effect"] = np.stack([b + ax["t_center"] * r, r], -1)
    xs.pop("arm_rate_10d")  # given by the link
    out.update({"xenograft" + DIVIDER + k: v for k, v in xs.items()})
    # untreated rates of the link's lines: their control groups' rates (per 10 days)
    gcell = np.asarray(j["group_cell"])
    control = (np.asarray(j["group_units"]) == j["n_unit"]).all(axis=1)
    has = _has_control(j)
    r0 = np.array([rate[control & (gcell == c)].mean() if has[c] else np.nan
                   for c in range(j["n_link_cell"])])
    mu0 = float(np.nanmean(r0)) if has.any() else s_xe.priors.rate_mean * S
    r0 = np.where(has, r0, mu0)
    # centred lines (with controls) at their rate, the others at their mean (z = 0)
    out.update({"link.mu_control_rate_10d": mu0,
                "link.raw_control_rate_10d": np.where(has, r0, 0.0),
                "link.log10_conc": np.asarray(j["conc_mean"], np.float64)})
    return out


def with_options(spec: Spec, **options: Any) -> Spec:
    """``spec`` with some options changed (validated)."""
    return replace(spec, options=spec.options.model_copy(update=options))
