"""Family ``xenograft``: hierarchical tumour growth (exponential or Gompertz) on log volume.

Structure (time ``t`` in days since the start of treatment, ``start_day``):

- per mouse ``i``: ``log V_i(t) = b_i + r_i * g(t)``, with ``g(t) = t`` (exponential growth) or
  ``g(t) = (1 - exp(-beta t)) / beta`` (Gompertz: the specific growth rate decays from ``r_i``
  at ``t = 0`` as ``r_i exp(-beta t)``; ``beta`` per cell line);
- ``(b_i, r_i)``: correlated per-mouse baseline and growth rate around their arm's means,
  non-centred (``[b, r] = mean + diag(sd) L z``, ``L`` an LKJ Cholesky factor);
- arm means: baselines per cell line x arm around the data's median starting volume; growth
  rates per cell line x arm, pooled around a cell-line mean with a learned spread
  (``arm_pooling = true``) or independent (``false``);
- experiment effects on baseline and growth rate: sum-to-zero over experiments, fixed scale
  (pooling the arm effects across experiments);
- observations: ``log V ~ Normal(log V_i(t), sigma)`` (multiplicative error on volume); volumes
  of 0 or at or below the detection limit are left-censored:
  ``P(log V < log detection_limit)``, never "+1".

That is the hierarchy of replicated designs. The design is read from the table
(:mod:`.design`): where an arm has one mouse per line, its mice have no deviation from their arm
group (no mouse variance there), and with a control arm the study is fitted as a PDX clinical
trial (``one_mouse_per_line``): each line's untreated rate is its own, each treatment has a
population effect with between-line deviations (:func:`_pdx_rates`), growth-form parameters a
population value per arm with line deviations (:func:`_pdx_group_param`), and each group's
baseline is sampled as its level at the group's mean measurement time.

With ``scale = "log1p"`` the model is written on ``log1p(volume)`` with no censoring; that preset
exists to mirror a published model (``tumr``'s Stan model), not as a recommendation.

Every arm-level quantity (growth rate, T/C, time to volume) is computed from the model for all
mice of the arm, so mice culled at a humane endpoint do not bias them: the likelihood uses what
was measured, and dropout that depends on measured volumes is ignorable for this model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import log_ndtr

from ...curves import log_volume
from .._contract import Spec
from .._hierarchy import mixed_effect
from .data import _calipers, _cure_groups
from .design import deviation_groups
from .spec import DETERMINISTIC, TIME_SCALE


def _obs_loglik(mu, a: dict, scale: str, calipers: bool, noise: dict):
    """Log-likelihood of every measurement ``[mouse, obs]`` (0 where padded) given the model's
    log volumes ``mu``.

    Volume mode: ``log V ~ Normal(mu, sigma)``, left-censored at the detection limit. Caliper
    mode: ``(log L, log W)`` bivariate normal with ``log L + 2 log W = mu - log c`` on average;
    its covariance adds the tumour's shape (``log(L/W)`` with mean ``aspect_mean`` and sd
    ``aspect_sd``; it cancels in the volume), the volume's own deviation (``sigma``, split
    equally over the three lengths) and an independent multiplicative caliper error
    ``sigma_caliper`` on each of L and W; censored rows (a zero or sub-limit caliper volume)
    use ``log V_obs ~ Normal(mu, sigma^2 + 5 sigma_caliper^2)``.
    """
    mask = jnp.asarray(a["mask"])
    sigma = noise["sigma"]
    if scale == "log1p":
        ll = dist.Normal(mu, sigma).log_prob(jnp.asarray(a["log1p_v"]))
        return jnp.where(mask, ll, 0.0)
    cens = jnp.asarray(a["censored"])
    if calipers:
        sm, ma, sa = noise["sigma_caliper"], noise["aspect_mean"], noise["aspect_sd"]
        vll = (4 * sa ** 2 + sigma ** 2) / 9 + sm ** 2
        vww = (sa ** 2 + sigma ** 2) / 9 + sm ** 2
        vlw = (sigma ** 2 - 2 * sa ** 2) / 9
        det = vll * vww - vlw ** 2
        base = mu - a["log_c"]
        el = jnp.asarray(a["log_len"]) - (base + 2 * ma) / 3
        ew = jnp.asarray(a["log_wid"]) - (base - ma) / 3
        quad = (vww * el ** 2 - 2 * vlw * el * ew + vll * ew ** 2) / det
        ll_obs = -0.5 * quad - 0.5 * jnp.log(det) - jnp.log(2 * jnp.pi)
        s_cens = jnp.sqrt(sigma ** 2 + 5 * sm ** 2)
    else:
        ll_obs = dist.Normal(mu, sigma).log_prob(jnp.asarray(a["log_v"]))
        s_cens = sigma
    ll_cens = log_ndtr((a["log_dl"] - mu) / s_cens)
    return jnp.where(mask, jnp.where(cens, ll_cens, ll_obs), 0.0)


def _replicated_rates(p, o, a: dict):
    """Arm-group growth rates (per 10 days) of a replicated design: pooled around a cell-line
    mean with a learned spread (``arm_pooling``) or independent."""
    S = TIME_SCALE
    if o.arm_pooling:
        with numpyro.plate("cell_line", a["n_cell"]):
            mu_rate = numpyro.sample("mu_rate_10d", dist.Normal(p.rate_mean * S, p.rate_sd * S))
        tau = numpyro.sample("sigma_arm_rate_10d", dist.HalfNormal(p.arm_rate_sd * S))
        with numpyro.plate("arm_group_rate", a["n_group"]):
            return numpyro.sample("arm_rate_10d", dist.Normal(mu_rate[a["group_cell"]], tau))
    with numpyro.plate("arm_group_rate", a["n_group"]):
        return numpyro.sample("arm_rate_10d", dist.Normal(p.rate_mean * S, p.rate_sd * S))


def _pdx_rates(p, a: dict, centered: bool):
    """Arm-group growth rates (per 10 days) of a one-mouse-per-line design (see
    :mod:`.design`): the control group's rate is its line's own untreated rate; a treated
    group's rate is ``line rate + effect[treatment] + deviation``, deviations
    ``~ Normal(0, sd_line_effect[treatment])`` (centred or not, as the mice's data allow)."""
    S = TIME_SCALE
    with numpyro.plate("cell_line", a["n_cell"]):
        line_r = numpyro.sample("line_rate_10d", dist.Normal(p.rate_mean * S, p.rate_sd * S))
    n_trt = a["n_trt"]
    gt = np.asarray(a["group_trt"])
    treated = gt >= 0
    loc = line_r[a["group_cell"]]
    if not n_trt:
        return loc
    with numpyro.plate("treatment", n_trt):
        eff = numpyro.sample("effect_rate_10d", dist.Normal(0.0, p.effect_sd * S))
    numpyro.deterministic("treatment_effect", eff / S)
    spread = np.asarray(a["trt_spread"])
    sd = jnp.zeros(n_trt)
    if spread.any():
        with numpyro.plate("treatment_spread", int(spread.sum())):
            sd_s = numpyro.sample("sd_line_effect_10d", dist.HalfNormal(p.line_effect_sd * S))
        sd = sd.at[np.flatnonzero(spread)].set(sd_s)
    numpyro.deterministic("sd_line_effect", sd / S)
    gtc = np.where(treated, gt, 0)
    loc = jnp.where(jnp.asarray(treated), loc + eff[gtc], loc)
    dev = np.flatnonzero(treated & spread[gtc])
    if not len(dev):
        return loc
    r_dev = mixed_effect("arm_rate_10d", loc[dev], sd[gt[dev]], np.full(len(dev), centered))
    return loc.at[dev].set(r_dev)


def _group_param(name: str, mean: float, sd: float, p, a: dict):
    """A growth-form parameter per arm group, independent (replicated designs)."""
    with numpyro.plate(f"arm_group_{name}", a["n_group"]):
        return numpyro.sample(name, dist.Normal(mean, sd))


def _pdx_group_param(name: str, mean: float, sd: float, p, a: dict):
    """A growth-form parameter per arm group with a population value per arm and
    between-line deviations (one-mouse-per-line designs; non-centred)."""
    n_arm = a["n_arm"]
    garm = np.asarray(a["group_arm"])
    with numpyro.plate(f"arms_{name}", n_arm):
        mu = numpyro.sample(f"arm_{name}", dist.Normal(mean, sd))
        s = numpyro.sample(f"sd_line_{name}", dist.HalfNormal(p.line_curve_sd))
    with numpyro.plate(f"arm_group_{name}", a["n_group"]):
        z = numpyro.sample(f"z_{name}", dist.Normal(0.0, 1.0))
    return numpyro.deterministic(name, mu[garm] + s[garm] * z)


def mice_centered(parameterization: str, a: dict) -> bool:
    """Whether the per-mouse effects are sampled centred (``"mixed"``: their levels; the
    rates non-centred): ``"centered"``, or ``"auto"``/``"mixed"`` where the mice's own data
    pin them (:func:`.data.mice_informed`)."""
    return parameterization == "centered" or (parameterization in ("auto", "mixed")
                                              and bool(a["mice_informed"]))


def _mouse_level(p, a: dict, loc_b, loc_r, centered: bool, rate_noncentered: bool = False):
    """Per-mouse (baseline, rate): correlated deviations from the arm for mice of replicated
    arms; the arm's own values for mice of one-mouse-per-line arms (:mod:`.design`).

    Coordinates: ``centered`` -- each mouse's (level at the mean measurement time, rate)
    (``mouse_effect``); with ``rate_noncentered`` too, its standardised rate deviation
    ``z_mouse_rate`` (``rate = arm rate + sd_rate * z``) and its level given that rate
    (``mouse_level ~ Normal(level mean + (sd_b rho + tc sd_r) z, sd_b sqrt(1 - rho^2))``,
    the conditional of the same bivariate normal); neither -- ``z_mouse``. The three are the
    same model."""
    S = TIME_SCALE
    free = np.asarray(a.get("mouse_free", np.ones(a["n_mouse"], bool)))
    idx = np.flatnonzero(free)
    if not len(idx):
        numpyro.deterministic("sd_mouse_baseline", jnp.zeros(()))
        numpyro.deterministic("sd_mouse_rate", jnp.zeros(()))
        numpyro.deterministic("corr_mouse", jnp.zeros(()))
        b_i, r_i = loc_b, loc_r
    else:
        sd_b = numpyro.sample("sd_mouse_baseline", dist.HalfNormal(p.mouse_baseline_sd))
        sd_r = numpyro.sample("sd_mouse_rate_10d", dist.HalfNormal(p.mouse_rate_sd * S))
        numpyro.deterministic("sd_mouse_rate", sd_r / S)
        chol = numpyro.sample("chol_mouse", dist.LKJCholesky(2, p.mouse_corr_eta))
        numpyro.deterministic("corr_mouse", chol[1, 0])
        lb, lr = loc_b[idx], loc_r[idx]
        if centered and rate_noncentered:
            tc = a["t_center"]
            rho = chol[1, 0]
            zr = numpyro.sample("z_mouse_rate", dist.Normal(0.0, 1.0).expand(
                [len(idx)]).to_event(1))
            fr = lr + sd_r * zr
            level = numpyro.sample("mouse_level", dist.Normal(
                lb + tc * lr + (sd_b * rho + tc * sd_r) * zr,
                sd_b * chol[1, 1]).to_event(1))  # chol[1, 1] = sqrt(1 - rho^2)
            fb = level - tc * fr
        elif centered:
            # sampled as (level at the mean measurement time tc, rate): a linear map of
            # (baseline, rate) that removes most of their posterior correlation per mouse
            tc = a["t_center"]
            tril = jnp.stack([sd_b, sd_r])[:, None] * chol
            amap = jnp.array([[1.0, tc], [0.0, 1.0]])
            at = amap @ tril
            cr = numpyro.sample("mouse_effect", dist.MultivariateNormal(
                jnp.stack([lb + tc * lr, lr], -1),
                covariance_matrix=at @ at.T).to_event(1))
            fb, fr = cr[:, 0] - tc * cr[:, 1], cr[:, 1]
        else:
            z = numpyro.sample("z_mouse", dist.Normal(0.0, 1.0).expand(
                [len(idx), 2]).to_event(2))
            eff = z @ chol.T  # rows ~ N(0, R)
            fb, fr = lb + sd_b * eff[:, 0], lr + sd_r * eff[:, 1]
        if len(idx) == a["n_mouse"]:
            b_i, r_i = fb, fr
        else:
            b_i, r_i = loc_b.at[idx].set(fb), loc_r.at[idx].set(fr)
    numpyro.deterministic("mouse_baseline", b_i)
    numpyro.deterministic("mouse_rate", r_i / S)
    return b_i, r_i


def latents(spec: Spec, a: dict, shared: dict | None = None) -> dict:
    """Sample the hierarchy (the contract's ``latents``: ``a`` from :func:`.data.arrays`, no
    ``shared`` parameters used); return what the likelihood needs.

    Returns
    -------
    dict
        ``mouse_baseline`` and ``mouse_rate_10d`` (per mouse), ``curve`` (the growth form's
        per-mouse parameters for :func:`drugbayes.curves.log_volume`), ``noise`` (``sigma``
        and, with calipers, ``sigma_caliper``, ``aspect_mean``, ``aspect_sd``), and with a
        cure component ``cure_fraction`` (per arm group) and ``log_regression_rate_10d``.
    """
    p, o = spec.priors, spec.options
    n_cell, n_group = a["n_cell"], a["n_group"]
    gcell = a["group_cell"]
    center = a["center"]
    S = TIME_SCALE  # rates are sampled per S days (order 1), reported per day
    pdx = a.get("design") == "one_mouse_per_line"
    centered = mice_centered(o.parameterization, a)
    if o.growth == "gompertz":
        with numpyro.plate("cell_line_deceleration", n_cell):
            log_dec = numpyro.sample("log_deceleration_10d", dist.Normal(
                p.log_deceleration_mean + np.log(S), p.log_deceleration_sd))
        dec_cell = jnp.exp(log_dec)
    else:
        dec_cell = jnp.zeros(n_cell)
    if pdx:
        rate_v = _pdx_rates(p, a, centered)
        # sampled as the level at the group's mean measurement time: the same prior
        # (baseline ~ Normal(center, baseline_sd) given the rate), coordinates that remove
        # most of the posterior correlation of a one-mouse group's baseline and rate
        tg = jnp.asarray(a["group_t_center"])
        with numpyro.plate("arm_group", n_group):
            level = numpyro.sample("grp_level", dist.Normal(center + tg * rate_v,
                                                            p.baseline_sd))
        base = numpyro.deterministic("grp_baseline", level - tg * rate_v)
    else:
        with numpyro.plate("arm_group", n_group):
            z_base = numpyro.sample("z_baseline", dist.Normal(0.0, 1.0))
        base = numpyro.deterministic("grp_baseline", center + p.baseline_sd * z_base)
        rate_v = _replicated_rates(p, o, a)
    numpyro.deterministic("grp_rate", rate_v / S)
    numpyro.deterministic("grp_deceleration", dec_cell[gcell] / S)
    dec = dec_cell[gcell]
    curve = {"growth": o.growth}
    group_param = _pdx_group_param if pdx else _group_param
    if o.growth == "simeoni":
        llin = group_param("log_linear_rate_10d", p.log_linear_rate_mean + np.log(S),
                           p.log_linear_rate_sd, p, a)
        numpyro.deterministic("grp_linear_rate", jnp.exp(llin) / S)
    needs_d = o.growth == "regrowth" or o.cure
    if needs_d:
        lreg = group_param("log_regression_rate_10d", p.log_regression_rate_mean + np.log(S),
                           p.log_regression_rate_sd, p, a)
        numpyro.deterministic("grp_regression_rate", jnp.exp(lreg) / S)
    if o.growth == "regrowth":
        lsens = group_param("logit_sensitive", p.logit_sensitive_mean, p.logit_sensitive_sd,
                            p, a)
        numpyro.deterministic("grp_sensitive_fraction", jax.nn.sigmoid(lsens))
    cure_g = _cure_groups(a, o)
    n_cure = int(cure_g.sum())
    if n_cure:
        with numpyro.plate("cure_group", n_cure):
            pi_c = numpyro.sample("cure_fraction", dist.Beta(p.cure_a, p.cure_b))
        pi = jnp.zeros(n_group).at[np.flatnonzero(cure_g)].set(pi_c)
        numpyro.deterministic("grp_cure_fraction", pi)
    # experiment effects (sum to zero, fixed scale)
    if o.experiment_effects and a["n_exp"] > 1:
        e_base = numpyro.sample("experiment_baseline", dist.ZeroSumNormal(
            p.experiment_baseline_sd, event_shape=(a["n_exp"],)))
        e_rate = numpyro.sample("experiment_rate_10d", dist.ZeroSumNormal(
            p.experiment_rate_sd * S, event_shape=(a["n_exp"],)))
    else:
        e_base = e_rate = jnp.zeros(a["n_exp"])
    mg, me = a["mouse_group"], a["mouse_exp"]
    b_i, r_i = _mouse_level(p, a, base[mg] + e_base[me], rate_v[mg] + e_rate[me], centered,
                            o.parameterization == "mixed")
    if o.growth == "gompertz":
        curve["deceleration"] = dec[mg][:, None]
    if o.growth == "simeoni":
        curve["log_linear_rate"] = llin[mg][:, None]
    if o.growth == "regrowth":
        curve["log_regression_rate"] = lreg[mg][:, None]
        curve["logit_sensitive"] = lsens[mg][:, None]
    calipers = o.scale == "log" and _calipers(o, a["has_calipers"])
    if calipers:
        # the volume's total SD is well identified, its split between the tumour's deviation
        # and the caliper error much less: sampled as (total, share), the ridge between
        # sigma and sigma_caliper gave divergences when sampled directly
        s_tot = numpyro.sample("sigma_total", dist.HalfNormal(p.noise_sd))
        share = numpyro.sample("caliper_share", dist.Beta(p.caliper_share_a, p.caliper_share_b))
        noise = {"sigma": numpyro.deterministic("sigma", s_tot * jnp.sqrt(1.0 - share)),
                 "sigma_caliper": numpyro.deterministic("sigma_caliper",
                                                        s_tot * jnp.sqrt(share / 5.0))}
        noise["aspect_mean"] = numpyro.sample("aspect_mean", dist.Normal(p.aspect_mean, 0.5))
        noise["aspect_sd"] = numpyro.sample("aspect_sd", dist.HalfNormal(p.aspect_sd))
    else:
        noise = {"sigma": numpyro.sample("sigma", dist.HalfNormal(p.noise_sd))}
    out = {"mouse_baseline": b_i, "mouse_rate_10d": r_i, "curve": curve, "noise": noise,
           "calipers": calipers}
    if n_cure:
        out["cure_fraction"] = pi
        out["log_regression_rate_10d"] = lreg
    return out


def likelihood(params: dict, a: dict, spec: Spec) -> dict:
    """Per-mouse log-likelihood of the measurements given the latents (cure marginalised).

    Parameters
    ----------
    params : dict
        Output of :func:`latents` (or the same keys from another back-end).
    a : dict
    spec : Spec

    Returns
    -------
    dict
        ``log_lik_mouse`` ``[mouse]``, ``mu`` (model log volumes ``[mouse, obs]`` of growing
        tumours), and with a cure component ``mu_cure`` and ``p_complete_regression_mouse``.
    """
    o = spec.options
    t = jnp.asarray(a["t"]) / TIME_SCALE
    b_i, r_i = params["mouse_baseline"], params["mouse_rate_10d"]
    mu = log_volume(t, b_i[:, None], r_i[:, None], **params["curve"])
    noise, calipers = params["noise"], params["calipers"]
    ll = _obs_loglik(mu, a, o.scale, calipers, noise).sum(axis=1)
    out = {"mu": mu}
    cure_g = _cure_groups(a, o)
    if cure_g.any():
        mg = a["mouse_group"]
        pi = params["cure_fraction"]
        lreg = params["log_regression_rate_10d"]
        cure_m = jnp.asarray(cure_g[np.asarray(mg)])
        mu_cure = b_i[:, None] - jnp.exp(lreg[mg])[:, None] * t  # every tumour cell sensitive
        ll_c = _obs_loglik(mu_cure, a, o.scale, calipers, noise).sum(axis=1)
        pm = jnp.clip(pi[mg], 1e-12, 1 - 1e-7)
        lp_cure = jnp.log(pm) + ll_c
        lp_grow = jnp.log1p(-pm) + ll
        mix = jnp.logaddexp(lp_cure, lp_grow)
        out["mu_cure"] = mu_cure
        out["p_complete_regression_mouse"] = jnp.where(
            cure_m, jax.nn.sigmoid(lp_cure - lp_grow), 0.0)
        ll = jnp.where(cure_m, mix, ll)
    out["log_lik_mouse"] = ll
    return out


def _predictive(params: dict, a: dict, spec: Spec, lik: dict) -> None:
    """Predictive draws of ``y`` (log volume; cured mice drawn from the cure fraction)."""
    mu = lik["mu"]
    if "mu_cure" in lik:
        with numpyro.plate("mouse", a["n_mouse"]):
            z_c = numpyro.sample("cured", dist.Bernoulli(
                params["cure_fraction"][a["mouse_group"]]))
        mu = jnp.where((z_c > 0)[:, None], lik["mu_cure"], mu)
    noise = params["noise"]
    s_v = noise["sigma"]
    if params["calipers"]:
        s_v = jnp.sqrt(s_v ** 2 + 5 * noise["sigma_caliper"] ** 2)
    with numpyro.handlers.mask(mask=jnp.asarray(a["mask"])):
        numpyro.sample("y", dist.Normal(mu, s_v))


def model(a: dict, spec: Spec, observed: bool = True) -> None:
    """NumPyro model of the ``xenograft`` family: :func:`latents` then :func:`likelihood`.

    ``a`` is the output of :func:`.data.arrays`; with ``observed=False`` the volumes are not
    conditioned on (prior or posterior predictive draws of ``y``, the log volume).
    """
    params = latents(spec, a)
    lik = likelihood(params, a, spec)
    if not observed:
        _predictive(params, a, spec, lik)
        return
    if a["pointwise"]:
        if "p_complete_regression_mouse" in lik:
            numpyro.deterministic("p_complete_regression_mouse",
                                  lik["p_complete_regression_mouse"])
        numpyro.deterministic("log_lik_mouse", lik["log_lik_mouse"])
    numpyro.factor("y", lik["log_lik_mouse"].sum())


def init_values(noncentered: dict, a: dict, spec: Spec) -> dict:
    """NUTS start values from the (non-centred) MAP, converted to ``spec``'s coordinates."""
    latent = {"sigma"} if "sigma_total" not in noncentered else set()
    out = {k: v for k, v in noncentered.items() if k not in DETERMINISTIC or k in latent}
    par = spec.options.parameterization
    a_centered = mice_centered(par, a)
    if a_centered:
        z = out.pop("z_mouse", None)
        free = np.asarray(a.get("mouse_free", np.ones(a["n_mouse"], bool)))
        r10 = np.asarray(noncentered["mouse_rate"]) * TIME_SCALE
        level = np.asarray(noncentered["mouse_baseline"]) + a["t_center"] * r10
        if par == "mixed":
            if free.any() and z is not None:
                # the rate's standardised deviation: row 1 of z @ chol.T (see _mouse_level)
                chol = np.asarray(noncentered["chol_mouse"])
                out["z_mouse_rate"] = np.asarray(z) @ chol[1]
                out["mouse_level"] = level[free]
        elif free.any():
            out["mouse_effect"] = np.stack([level, r10], -1)[free]
        if a.get("design") == "one_mouse_per_line" and "raw_arm_rate_10d" in out:
            out["raw_arm_rate_10d"] = (np.asarray(noncentered["grp_rate"])
                                       * TIME_SCALE)[deviation_groups(a)]
    return out


def map_start(a: dict, spec: Spec) -> dict:
    """MAP start values (non-centred coordinates) from per-mouse least-squares lines.

    Each mouse with at least two measurements above the detection limit gets an ordinary
    least-squares line of log volume (or log1p volume) on time; arms start at the mean line of
    their mice, the mouse spreads at the spread of the lines. The optimiser then only refines
    (from zeros, Adam needs thousands of steps on this model).
    """
    S = TIME_SCALE
    y = np.asarray(a["log1p_v"] if spec.options.scale == "log1p" else a["log_v"], np.float64)
    t = np.asarray(a["t"], np.float64) / S
    use = np.asarray(a["mask"]) & (~np.asarray(a["censored"]) | (spec.options.scale == "log1p"))
    n = use.sum(axis=1)
    w = use.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = (w * t).sum(1) / n
        ym = (w * y).sum(1) / n
        stt = (w * (t - tm[:, None]) ** 2).sum(1)
        slope = (w * (t - tm[:, None]) * (y - ym[:, None])).sum(1) / stt
    ok = (n >= 2) & np.isfinite(slope) & (stt > 0)
    icpt = ym - slope * tm
    mg = np.asarray(a["mouse_group"])
    G = a["n_group"]
    rate = np.full(G, spec.priors.rate_mean * S)
    base = np.full(G, float(a["center"]))
    for g in range(G):
        sel = ok & (mg == g)
        if sel.any():
            rate[g] = float(np.mean(slope[sel]))
            base[g] = float(np.mean(icpt[sel]))
    dev_r = np.where(ok, slope - rate[mg], 0.0)
    dev_b = np.where(ok, icpt - base[mg], 0.0)
    sd_r = float(max(np.std(dev_r[ok]) if ok.sum() > 2 else 0.1, 0.02))
    sd_b = float(max(np.std(dev_b[ok]) if ok.sum() > 2 else 0.2, 0.05))
    resid = np.where(use & ok[:, None], y - icpt[:, None] - slope[:, None] * t, 0.0)
    sigma = float(np.sqrt((resid ** 2).sum() / max(use[ok].sum() - 2 * ok.sum(), 1)))
    free = np.asarray(a.get("mouse_free", np.ones(a["n_mouse"], bool)))
    start = {"z_baseline": (base - float(a["center"])) / spec.priors.baseline_sd,
             "arm_rate_10d": rate, "sd_mouse_rate_10d": sd_r, "sd_mouse_baseline": sd_b,
             "sigma": max(sigma, 0.02), "sigma_total": max(sigma, 0.02),
             "z_mouse": np.stack([dev_b / sd_b, dev_r / sd_r], -1)[free]}
    o = spec.options
    if o.growth == "regrowth" or o.cure:
        # a straight line through a regressing (or regressing then regrowing, or cured)
        # mouse says little about its regrowth rate r, and the spread of such lines is huge:
        # starting there, the optimiser settled in a mode that explains cures by a wide
        # between-mouse spread of r (2,000 simulated mice: mouse-rate SD 0.07/day, truth
        # 0.008). Start arms that shrink as mostly sensitive, regrowing at the prior mean
        # rate, with a small mouse spread.
        shrinking = rate < 0
        start["arm_rate_10d"] = np.where(shrinking, spec.priors.rate_mean * S, rate)
        start["sd_mouse_rate_10d"] = 0.1
        start["z_mouse"] = np.stack([dev_b / sd_b, np.zeros_like(dev_r)], -1)[free]
    if o.growth == "regrowth":
        start["logit_sensitive"] = np.where(rate < 0, 2.0, -2.0)
    if o.growth == "simeoni":
        start["log_linear_rate_10d"] = np.full(G, spec.priors.log_linear_rate_mean + np.log(S))
    if o.growth == "regrowth" or o.cure:
        start["log_regression_rate_10d"] = np.full(
            G, spec.priors.log_regression_rate_mean + np.log(S))
    n_cure = int(_cure_groups(a, o).sum())
    if n_cure:
        start["cure_fraction"] = np.full(n_cure, 0.2)
    if a.get("design") == "one_mouse_per_line":
        _pdx_start(start, a, spec)
        start["grp_level"] = base + np.asarray(a["group_t_center"]) * rate
    elif spec.options.arm_pooling:
        cells = np.asarray(a["group_cell"])
        start["mu_rate_10d"] = np.array([rate[cells == c].mean() if (cells == c).any()
                                         else spec.priors.rate_mean * S
                                         for c in range(a["n_cell"])])
        start["sigma_arm_rate_10d"] = float(max(np.std(rate), 0.05))
    return start


def _pdx_start(start: dict, a: dict, spec: Spec) -> None:
    """One mouse per line: line rates, treatment effects and their spreads (non-centred) from
    the group rates of :func:`map_start`; growth-form parameters as per-arm values."""
    S = TIME_SCALE
    rate = np.asarray(start["arm_rate_10d"], np.float64)
    cells = np.asarray(a["group_cell"])
    gt = np.asarray(a["group_trt"])
    line = np.full(a["n_cell"], spec.priors.rate_mean * S)
    for c in range(a["n_cell"]):
        sel = (cells == c) & (gt < 0)
        if sel.any():
            line[c] = rate[sel].mean()
    start["line_rate_10d"] = line
    n_trt = a["n_trt"]
    diff = rate - line[cells]
    eff = np.array([diff[gt == k].mean() if (gt == k).any() else 0.0 for k in range(n_trt)])
    sd = np.array([max(float(np.std(diff[gt == k])), 0.05) if (gt == k).sum() > 1 else 0.1
                   for k in range(n_trt)])
    start["effect_rate_10d"] = eff
    spread = np.asarray(a["trt_spread"])
    if spread.any():
        start["sd_line_effect_10d"] = sd[spread]
    dev = deviation_groups(a)
    if len(dev):
        start["raw_arm_rate_10d"] = (rate[dev] - line[cells[dev]] - eff[gt[dev]]) / sd[gt[dev]]
    garm = np.asarray(a["group_arm"])
    for name in ("log_linear_rate_10d", "log_regression_rate_10d", "logit_sensitive"):
        if name in start:
            v = np.asarray(start.pop(name), np.float64)
            mu = np.array([v[garm == k].mean() if (garm == k).any() else 0.0
                           for k in range(a["n_arm"])])
            start[f"arm_{name}"] = mu
            start[f"sd_line_{name}"] = np.full(a["n_arm"], 0.5)
            start[f"z_{name}"] = (v - mu[garm]) / 0.5
