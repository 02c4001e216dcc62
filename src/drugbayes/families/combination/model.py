"""Family ``combination``: Bayesian MuSyC with Bliss, HSA and Loewe posteriors.

The combination surface is MuSyC (Meyer et al. 2019; Wooten et al. 2021) on viability, with
the two monotherapy curves inside the same model (a matrix's ``dose_b = 0`` row *is* drug a's
Hill curve). Log10 doses are molar, centred per drug on the middle of its tested range, so
potencies are relative to the tested range and changing the dose unit changes nothing but units.

Structure (levels with one member collapse; ``parameterization = "centered"``, the default,
samples the monotherapy curves and the per-combination beta centred, since each is usually
pinned by its own checkerboard, while log alpha, log gamma and the matrix level are always
non-centred; ``"auto"`` samples each curve and each combination's beta centred where its
wells pin it and non-centred where they do not, by the data rule of :func:`.data.pinned`
fixed before fitting (``_hierarchy.mixed_effect``): a member the wells leave to the prior,
sampled centred, forms a funnel with its level's spread; the model is the same, only its
coordinates differ):

- drug level: ``mu_log10_c[drug] ~ Normal(0, half_range + log10_c_extra_sd)``, ``mu_log_hill``,
  ``mu_logit_bottom`` (bottom = Emax as a fraction of E0);
- monotherapy level (cell line x drug, shared by every pair the drug is in): deviations of
  log10 C, log Hill and logit bottom;
- pair level (population, the *pooled* rows): ``pop_beta``, ``pop_log_alpha12``,
  ``pop_log_alpha21`` (and ``pop_log_gamma*`` with ``fit_gamma``);
- combination level (cell line x pair, the summary groups): deviations of beta and log alpha
  across cell lines, ``log E0`` per combination;
- matrix level (combination x experiment): deviations of beta, log alpha and log E0 across
  replicate experiments (``experiment_effects``; none for a combination tested in one matrix);
- plate level (``plate_effects``, where the table names several plates): sum-to-zero effects
  ``plate_log_e0`` on log E0 (:func:`drugbayes.families._hierarchy.zero_sum_effect`), so each
  well's expected response is its matrix's surface times ``exp(plate_log_e0[plate])``.

``E1 = E0 * sigmoid(logit_bottom_a)``, ``E2 = E0 * sigmoid(logit_bottom_b)`` and
``E3 = min(E1, E2) - beta * (E0 - min(E1, E2))``, so ``beta > 0`` means the combination kills
more than the stronger drug's maximum (synergistic efficacy), ``log_alpha12 > 0`` means drug a
makes drug b more potent, ``log_alpha21 > 0`` drug b makes drug a more potent.

With ``interaction = "flexible"`` (preset ``combination/flexible``) each matrix's surface is
the MuSyC surface plus ``E0 g(x_a, x_b)``, a smooth interaction shared by a combination's
matrices and zero where either dose is 0 (see :func:`interaction_latents`).

Sign convention (every output says it): surfaces are **viability**; synergy quantities are
reported so that **positive = synergy**. The excess over a null is
``null viability - combination viability`` on viability normalised by the fitted E0.

Null models, per posterior draw, from the fitted monotherapy curves ``f_a``, ``f_b``
(viability / E0):

- Bliss: ``f_a * f_b``; HSA: ``min(f_a, f_b)``;
- Loewe: the viability ``E`` with ``d_a / D_a(E) + d_b / D_b(E) = 1``, ``D_i`` the inverse
  Hill curve, solved by vectorised bisection in float64. Where ``E`` lies beyond one drug's
  maximum effect that drug's term is 0 (it cannot reach ``E`` at any dose): the continuous
  extension of the Loewe equation, which gives ``min(f_a, f_b)`` exactly where the stronger
  drug alone already goes past the weaker drug's maximum. That is the ``synergy`` package's
  ``Loewe(mode="delta_HSA")``.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from ...curves import musyc_bottom_fraction, musyc_e3, musyc_viability
from .._contract import Observed, Spec, sample_observed
from .._hierarchy import mixed_effect, zero_sum_effect
from .spec import CENTERED_SITES, INTERACTION_KNOTS


def _effect(site: str, loc: jnp.ndarray, sigma: jnp.ndarray | float, active: bool,
            centered: bool | np.ndarray) -> jnp.ndarray:
    """Members ``site ~ Normal(loc, sigma)``: sampled directly (centred), as
    ``loc + sigma * z_<site>`` (non-centred), per member (``centered`` a bool array: the
    ``raw_<site>`` coordinates of :func:`drugbayes.families._hierarchy.mixed_effect`), or
    ``loc`` when the level has one member."""
    if not active:
        return numpyro.deterministic(site, loc)
    if isinstance(centered, np.ndarray):
        return numpyro.deterministic(site, mixed_effect(site, loc, jnp.asarray(sigma),
                                                        centered))
    if centered:
        return numpyro.sample(site, dist.Normal(loc, sigma).to_event(1))
    z = numpyro.sample(f"z_{site}", dist.Normal(0.0, 1.0).expand(list(loc.shape)).to_event(1))
    return numpyro.deterministic(site, loc + sigma * z)


def effect_site(site: str, parameterization: str) -> str:
    """The sample site that :func:`_effect` gives members ``site`` under a spec's
    ``parameterization``: ``site`` itself (centred), ``z_<site>`` (non-centred) or
    ``raw_<site>`` (``"auto"``: per-member coordinates)."""
    return {"centered": site, "noncentered": f"z_{site}", "auto": f"raw_{site}"}[
        parameterization]


def _sigma(name: str, scale: float, active: bool) -> jnp.ndarray | float:
    return numpyro.sample(f"sigma_{name}", dist.HalfNormal(scale)) if active else 1.0


def log_top_sd(priors: Any, a: dict) -> Any:
    """Prior sd of a combination's log E0 around its data's untreated level (growth rates:
    ``rate_log_e0_sd``; viability: ``log_top_sd``): a float, or a traced scalar where the
    priors' values are data (the blocked plan), so never converted here."""
    return priors.rate_log_e0_sd if a.get("is_rate", False) else priors.log_top_sd


def latents(spec: Spec, a: dict, shared: dict | None = None) -> dict:
    """Sample the hierarchy (the contract's ``latents``: ``a`` from :func:`.data.arrays`, no
    ``shared`` parameters used); return the per-matrix MuSyC parameters and
    the noise.

    Returns
    -------
    dict
        Per matrix (``[matrix]``): ``log10_c_a``, ``log10_c_b``, ``log_hill_a``,
        ``log_hill_b``, ``e0``, ``e1``, ``e2``, ``e3``, ``log_alpha12``, ``log_alpha21``,
        ``log_gamma12``, ``log_gamma21``; and ``sigma``.
    """
    p, o = spec.priors, spec.options
    cen = o.parameterization == "centered"
    auto = o.parameterization == "auto"
    n_combo, n_mat = a["n_combo"], a["n_matrix"]
    with numpyro.plate("drug", a["n_drug"]):
        mu_c = numpyro.sample("mu_log10_c", dist.Normal(
            0.0, jnp.asarray(a["half_range"]) + p.log10_c_extra_sd))
        mu_h = numpyro.sample("mu_log_hill", dist.Normal(p.log_hill_mean, p.log_hill_sd))
        # growth rates: centred on E_i = 0 (cytostatic), logit((0 - lower) / (1 - lower))
        b_centre = (float(np.log(-float(a["bottom_lower"]))) if a.get("is_rate", False)
                    else p.logit_bottom_mean)
        mu_b = numpyro.sample("mu_logit_bottom", dist.Normal(b_centre, p.logit_bottom_sd))
    md = a["mono_drug"]
    act = a["mono_active"]
    # "auto": per curve, centred where its drug acts alone in a checkerboard (:func:`.data.pinned`)
    m_cen = np.asarray(a["mono_centered"], bool) if auto else cen
    m_c = _effect("mono_log10_c", mu_c[md], _sigma("mono_log10_c", p.mono_log10_c_sd, act),
                  act, m_cen)
    m_h = _effect("mono_log_hill", mu_h[md], _sigma("mono_log_hill", p.mono_log_hill_sd, act),
                  act, m_cen)
    m_b = _effect("mono_logit_bottom", mu_b[md],
                  _sigma("mono_logit_bottom", p.mono_logit_bottom_sd, act), act, m_cen)
    with numpyro.plate("pair", a["n_pair"]):
        pop_beta = numpyro.sample("pop_beta", dist.Normal(0.0, p.beta_sd))
        pop_la12 = numpyro.sample("pop_log_alpha12", dist.Normal(0.0, p.log_alpha_sd))
        pop_la21 = numpyro.sample("pop_log_alpha21", dist.Normal(0.0, p.log_alpha_sd))
        if o.fit_gamma:
            pop_lg12 = numpyro.sample("pop_log_gamma12", dist.Normal(0.0, p.log_gamma_sd))
            pop_lg21 = numpyro.sample("pop_log_gamma21", dist.Normal(0.0, p.log_gamma_sd))
    cp = a["combo_pair"]
    cact = a["combo_active"]
    # "auto": per combination, centred where its wells pin beta (:func:`.data.pinned`)
    g_beta = _effect("grp_beta", pop_beta[cp], _sigma("combo_beta", p.cell_beta_sd, cact),
                     cact, np.asarray(a["beta_centered"], bool) if auto else cen)
    s_la = _sigma("combo_log_alpha", p.cell_log_alpha_sd, cact)
    # potency (and cooperativity) shifts are weakly pinned by one checkerboard: non-centred
    g_la12 = _effect("grp_log_alpha12", pop_la12[cp], s_la, cact, False)
    g_la21 = _effect("grp_log_alpha21", pop_la21[cp], s_la, cact, False)
    if o.fit_gamma:
        s_lg = _sigma("combo_log_gamma", p.cell_log_gamma_sd, cact)
        g_lg12 = _effect("grp_log_gamma12", pop_lg12[cp], s_lg, cact, False)
        g_lg21 = _effect("grp_log_gamma21", pop_lg21[cp], s_lg, cact, False)
    else:
        g_lg12 = numpyro.deterministic("grp_log_gamma12", jnp.zeros(n_combo))
        g_lg21 = numpyro.deterministic("grp_log_gamma21", jnp.zeros(n_combo))
    # log E0 per combination, centred on the data's untreated level (on the data scale, so a
    # screen reading 116% of control is fitted as such); matrices differ by their plates'
    # untreated levels and by the experiment deviation
    z_top = numpyro.sample("z_log_top", dist.Normal(0.0, 1.0).expand([n_combo]).to_event(1))
    c_ref = jnp.asarray(a["combo_log_e0_ref"])
    top_sd = log_top_sd(p, a)
    g_top = numpyro.deterministic("grp_log_top", c_ref + top_sd * z_top)
    ia, ib = a["combo_mono_a"], a["combo_mono_b"]
    mk = a["matrix_combo"]
    # matrix level of the monotherapy curves (``matrix_monotherapy_effects``): a drug tested
    # in several matrices (an anchor on many plates) may shift its potency and maximal effect
    # from one matrix to the next; the combination's curve is the mean over its matrices
    mono_dev = _matrix_monotherapy(spec, a)
    g_ca, g_cb, g_ba, g_bb = m_c[ia], m_c[ib], m_b[ia], m_b[ib]
    mat_mono = {}
    if mono_dev is not None:
        w = jnp.asarray(a["matrix_per_combo_weight"])  # [matrix] 1 / matrices of its combo
        seg = jax.ops.segment_sum
        mat_mono = {k: numpyro.deterministic(f"mat_{k}", base[mk] + d)
                    for k, base, d in (("log10_c_a", g_ca, mono_dev[0]),
                                       ("log10_c_b", g_cb, mono_dev[1]),
                                       ("logit_bottom_a", g_ba, mono_dev[2]),
                                       ("logit_bottom_b", g_bb, mono_dev[3]))}
        g_ca, g_cb, g_ba, g_bb = (seg(mat_mono[k] * w, mk, n_combo) for k in (
            "log10_c_a", "log10_c_b", "logit_bottom_a", "logit_bottom_b"))
    g_ca = numpyro.deterministic("grp_log10_c_a", g_ca)
    g_cb = numpyro.deterministic("grp_log10_c_b", g_cb)
    g_ha = numpyro.deterministic("grp_log_hill_a", m_h[ia])
    g_hb = numpyro.deterministic("grp_log_hill_b", m_h[ib])
    g_ba = numpyro.deterministic("grp_logit_bottom_a", g_ba)
    g_bb = numpyro.deterministic("grp_logit_bottom_b", g_bb)

    # matrix level: replicate experiments of a combination
    m_ref = jnp.asarray(a["log_e0_ref"]) - c_ref[mk]  # plate level relative to the combination
    mact = o.experiment_effects and a["matrix_active"]
    if mact:
        s_eb = numpyro.sample("sigma_matrix_beta", dist.HalfNormal(p.experiment_beta_sd))
        s_ea = numpyro.sample("sigma_matrix_log_alpha",
                              dist.HalfNormal(p.experiment_log_alpha_sd))
        z_m = numpyro.sample("z_matrix", dist.Normal(0.0, 1.0).expand([4, n_mat]).to_event(2))
        # only combinations tested in several matrices deviate: the only matrix of a
        # combination *is* the combination (a deviation there is not identified, and would
        # let the surface fitted to its wells differ from the combination's reported values)
        rep = jnp.asarray(a["matrix_replicated"], z_m.dtype)
        z_m = z_m * rep
        m_beta = g_beta[mk] + s_eb * z_m[0]
        m_la12 = g_la12[mk] + s_ea * z_m[1]
        m_la21 = g_la21[mk] + s_ea * z_m[2]
        m_top = g_top[mk] + m_ref + p.experiment_log_top_sd * z_m[3]
    else:
        m_beta, m_la12, m_la21, m_top = g_beta[mk], g_la12[mk], g_la21[mk], g_top[mk] + m_ref
    m_beta = numpyro.deterministic("mat_beta", m_beta)
    m_la12 = numpyro.deterministic("mat_log_alpha12", m_la12)
    m_la21 = numpyro.deterministic("mat_log_alpha21", m_la21)
    m_top = numpyro.deterministic("mat_log_top", m_top)

    extra = {}
    if plate_effects_active(spec, a):
        # multiplicative plate effect on E0 (the whole surface scales with E0), as dose
        # response's untreated signal per plate; sum-to-zero, so the matrices keep their level
        extra["plate_log_e0"] = numpyro.deterministic(
            "plate_log_e0", zero_sum_effect("plate_log_e0", a["n_plate"], p.plate_log_e0_sd))
    e0 = jnp.exp(m_top)
    lower = a.get("bottom_lower", 0.0)
    e1 = e0 * musyc_bottom_fraction(mat_mono.get("logit_bottom_a", g_ba[mk]), lower)
    e2 = e0 * musyc_bottom_fraction(mat_mono.get("logit_bottom_b", g_bb[mk]), lower)
    e3 = musyc_e3(e0, e1, e2, m_beta)
    return {"log10_c_a": mat_mono.get("log10_c_a", g_ca[mk]),
            "log10_c_b": mat_mono.get("log10_c_b", g_cb[mk]), "log_hill_a": g_ha[mk],
            "log_hill_b": g_hb[mk], "e0": e0, "e1": e1, "e2": e2, "e3": e3,
            "log_alpha12": m_la12, "log_alpha21": m_la21, "log_gamma12": g_lg12[mk],
            "log_gamma21": g_lg21[mk], **extra, **interaction_latents(spec, a),
            "sigma": numpyro.sample("sigma", dist.HalfNormal(p.noise_sd * a["response_ref"]))}


def _matrix_monotherapy(spec: Spec, a: dict) -> jnp.ndarray | None:
    """Per-matrix deviations ``[4, matrix]`` of log10 C (drug a, drug b) and logit bottom
    (drug a, drug b), non-centred with learned scales, for the drugs (of a cell line) tested
    in two or more matrices (0 for the others: their own matrix pins their curve); None
    without ``matrix_monotherapy_effects`` or where no drug is in two matrices."""
    if not spec.options.matrix_monotherapy_effects or not a.get("matrix_mono_active", False):
        return None
    p = spec.priors
    s_c = numpyro.sample("sigma_matrix_log10_c", dist.HalfNormal(p.matrix_log10_c_sd))
    s_b = numpyro.sample("sigma_matrix_logit_bottom",
                         dist.HalfNormal(p.matrix_logit_bottom_sd))
    z = numpyro.sample("z_matrix_mono",
                       dist.Normal(0.0, 1.0).expand([4, a["n_matrix"]]).to_event(2))
    w = jnp.asarray(a["matrix_mono_shared"], z.dtype)  # [2, matrix]: drug a, drug b
    return jnp.stack([s_c * z[0] * w[0], s_c * z[1] * w[1], s_b * z[2] * w[0],
                      s_b * z[3] * w[1]])


def plate_effects_active(spec: Spec, a: dict) -> bool:
    """Whether the model has plate effects on E0 (``plate_effects``; :func:`.data.arrays`'
    ``plate_informative`` decides ``"auto"``)."""
    opt = spec.options.plate_effects
    return a.get("n_plate", 1) > 1 and (opt == "on" or (opt == "auto"
                                                        and a.get("plate_informative", False)))


def likelihood(params: dict, a: dict, spec: Spec) -> dict[str, Observed]:
    """Distribution of the observed wells given the per-matrix MuSyC parameters.

    Parameters
    ----------
    params : dict
        Output of :func:`latents`: per-matrix parameters (broadcast over the matrix's wells)
        and ``sigma``.
    a : dict
        ``x_a``, ``x_b``, ``zero_a``, ``zero_b``, ``y``, ``mask`` (``[matrix, well]``).
    spec : Spec

    Returns
    -------
    dict of Observed
        ``y`` (masked).
    """
    o = spec.options
    sigma = params["sigma"]

    def well_dist(v):
        if o.likelihood == "student_t":
            return dist.StudentT(o.student_t_df, v, sigma)
        return dist.Normal(v, sigma)

    v = surface_at(params, None, a["x_a"], a["x_b"], a["zero_a"], a["zero_b"])
    plate = params.get("plate_log_e0")
    if plate is not None:
        v = v * jnp.exp(plate[jnp.asarray(a["point_plate"])])
    out = {"y": Observed(well_dist(v), jnp.asarray(a["y"]), jnp.asarray(a["mask"]))}
    if a.get("n_shared", 0):
        # a control well shared by several matrices enters once: the mean of their surfaces
        vs = surface_at(params, jnp.asarray(a["sh_mat"]), a["sh_x_a"], a["sh_x_b"],
                        a["sh_zero_a"], a["sh_zero_b"])
        w = jnp.asarray(a["sh_member"], vs.dtype)
        v_sh = jnp.sum(vs * w, axis=1) / jnp.sum(w, axis=1)
        if plate is not None:
            v_sh = v_sh * jnp.exp(plate[jnp.asarray(a["sh_plate"])])
        out["y_shared"] = Observed(well_dist(v_sh), jnp.asarray(a["sh_y"]))
    return out


def surface_at(params: dict, idx, x_a, x_b, zero_a, zero_b, xp=jnp):
    """The MuSyC surface of matrices ``idx`` (``[n, k]``; None: every matrix, one per row of
    the ``[matrix, point]`` coordinates) at slot coordinates ``x_*``/``zero_*``, plus the
    flexible interaction ``E0 * g`` where ``params`` has it (:func:`interaction_at`)."""
    def col(k):
        p = xp.asarray(params[k])
        return p[..., :, None] if idx is None else p[..., idx]

    v = musyc_viability(xp.asarray(x_a), xp.asarray(x_b), xp.asarray(zero_a),
                        xp.asarray(zero_b), col("log10_c_a"), col("log10_c_b"),
                        xp.exp(col("log_hill_a")), xp.exp(col("log_hill_b")), col("e0"),
                        col("e1"), col("e2"), col("e3"), col("log_alpha12"),
                        col("log_alpha21"), col("log_gamma12"), col("log_gamma21"), xp=xp)
    if "interaction_coef" in params:  # interaction = "flexible": E0 * g on top of MuSyC
        v = v + col("e0") * interaction_at(params, idx, x_a, x_b, zero_a, zero_b, xp)
    return v


def model(a: dict, spec: Spec, observed: bool = True) -> None:
    """NumPyro model of the ``combination`` family: :func:`latents` then :func:`likelihood`.

    ``a`` is the output of :func:`.data.arrays`; with ``observed=False`` the responses are
    not conditioned on (prior or posterior predictive draws).
    """
    sample_observed(likelihood(latents(spec, a), a, spec), observed)


def init_values(noncentered: dict, a: dict, spec: Spec) -> dict:
    """Start values for ``spec``'s coordinates from the MAP taken in non-centred coordinates.

    Centred members take the values of the matching deterministic sites of that fit; the
    other deterministic sites are dropped. With ``parameterization = "auto"`` the
    ``raw_<site>`` coordinates take the deterministic value where the member is centred and
    the standard-normal ``z_<site>`` where it is not.
    """
    par = spec.options.parameterization
    cen = par == "centered"
    latent_names = set(CENTERED_SITES) if cen else set()
    out = {}
    for k, v in noncentered.items():
        if (k.startswith(("grp_", "mat_", "mono_")) and k not in latent_names
                or k == "interaction_coef"):
            continue
        if par != "noncentered" and k.startswith("z_") and k[2:] in CENTERED_SITES:
            continue
        out[k] = v
    if par == "auto":
        for site in CENTERED_SITES:
            if f"z_{site}" in noncentered:
                mask = np.asarray(a["beta_centered" if site == "grp_beta" else
                                    "mono_centered"], bool)
                out[f"raw_{site}"] = np.where(mask, np.asarray(noncentered[site]),
                                              np.asarray(noncentered[f"z_{site}"]))
    return out


# --------------------------------------------------------- flexible interaction surface
# ``interaction = "flexible"``: the MuSyC surface of a matrix plus ``E0 * g(x_a, x_b)``, with
# ``g`` a low-rank tensor-product basis over the two centred log10 doses, shared by the
# matrices of a combination. ``g`` is 0 wherever either dose is 0, so the monotherapy margins
# stay the monotherapy Hill curves and E0 the untreated level; on the wells with both doses
# > 0 it can take any smooth shape (a bump, a dip, a non-monotone ridge) the MuSyC surface
# cannot. Each combination's coefficients are ``interaction_sd`` (global, half-normal) times
# its own half-normal(1) scale times standard normals: shrinkage to the MuSyC surface, with a
# combination whose wells demand it free to leave it.


def interaction_ranges(data) -> np.ndarray:
    """``[combo, 4]`` float32: the lowest and highest centred log10 dose > 0 of drug a, then of
    drug b, on each combination's dose grid (the support of its interaction basis; the span
    is 1 where a drug has one dose > 0, 0 where it has none)."""
    out = np.zeros((data.n_combos, 4), np.float32)
    for j, which in enumerate(("a", "b")):
        dose = data.grid_dose_a if which == "a" else data.grid_dose_b
        x = np.where(np.nan_to_num(dose) > 0, data.grid_x(which), np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a drug without a dose > 0
            lo, hi = np.nanmin(x, axis=1), np.nanmax(x, axis=1)
        out[:, 2 * j] = np.nan_to_num(lo)
        out[:, 2 * j + 1] = np.nan_to_num(hi)
    return out


def interaction_basis(x_a, x_b, zero_a, zero_b, rng, knots: int, xp=jnp):
    """Tensor-product basis ``[..., knots**2]`` of the flexible interaction at centred log10
    doses ``x_a``, ``x_b`` (``zero_*``: dose 0, where every function is 0).

    Each axis is mapped onto ``u = (x - lo) / (hi - lo)`` over its combination's tested range
    (``rng[..., 4]``: lo_a, hi_a, lo_b, hi_b, broadcast with ``x``), with Gaussian bumps of
    width ``1 / (knots - 1)`` at ``u = 0, 1 / (knots - 1), ..., 1``: smooth, bounded by 1,
    finite in float32 for any dose (far outside the range every bump is 0).
    """
    c = xp.linspace(0.0, 1.0, knots)
    w = 1.0 / (knots - 1)

    def axis(x, zero, lo, hi):
        span = xp.where(hi > lo, hi - lo, 1.0)
        u = xp.where(xp.asarray(zero, bool), lo, xp.asarray(x)) - lo
        u = xp.clip(u / span, -4.0, 5.0)
        phi = xp.exp(-0.5 * xp.square((u[..., None] - c) / w))
        return xp.where(xp.asarray(zero, bool)[..., None], 0.0, phi)

    pa = axis(x_a, zero_a, rng[..., 0], rng[..., 1])
    pb = axis(x_b, zero_b, rng[..., 2], rng[..., 3])
    return (pa[..., :, None] * pb[..., None, :]).reshape(pa.shape[:-1] + (knots * knots,))


def interaction_latents(spec: Spec, a: dict) -> dict:
    """The flexible interaction's coefficients (``interaction = "flexible"``; empty dict
    otherwise): ``interaction_coef`` ``[combo, INTERACTION_KNOTS**2]`` (deterministic), returned per
    matrix (its combination's) with each matrix's basis range, for :func:`interaction_at`."""
    o = spec.options
    if o.interaction != "flexible":
        return {}
    n_combo, nb = a["n_combo"], INTERACTION_KNOTS ** 2
    tau = numpyro.sample("sigma_interaction", dist.HalfNormal(spec.priors.interaction_sd))
    lam = numpyro.sample("interaction_scale",
                         dist.HalfNormal(1.0).expand([n_combo]).to_event(1))
    z = numpyro.sample("z_interaction", dist.Normal(0.0, 1.0).expand([n_combo, nb]).to_event(2))
    coef = numpyro.deterministic("interaction_coef", tau * lam[:, None] * z)
    mk = jnp.asarray(a["matrix_combo"])
    return {"interaction_coef": coef[mk],
            "interaction_range": jnp.asarray(a["interaction_range"])[mk]}


def interaction_at(params: dict, idx, x_a, x_b, zero_a, zero_b, xp=jnp):
    """``g`` of the flexible interaction (fraction of E0) of matrices ``idx`` (``[n, k]``;
    None: every matrix, one per row of the ``[matrix, point]`` coordinates)."""
    coef = xp.asarray(params["interaction_coef"])  # [..., matrix, basis]
    rng = xp.asarray(params["interaction_range"])  # [matrix, 4]
    knots = int(round(float(np.sqrt(coef.shape[-1]))))
    if idx is None:
        r, cf = rng[:, None, :], coef[..., :, None, :]
    else:
        r, cf = rng[idx], coef[..., idx, :]
    basis = interaction_basis(xp.asarray(x_a), xp.asarray(x_b), zero_a, zero_b, r, knots, xp)
    return xp.sum(cf * basis, axis=-1)
