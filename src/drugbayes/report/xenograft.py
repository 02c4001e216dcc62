"""Xenograft summaries, contrasts and plots.

Definitions (``t`` in days since ``start_day``; ``r``, ``b`` a mouse's growth rate and log
baseline volume; ``g(t) = t`` for exponential growth, ``(1 - exp(-beta t)) / beta`` for
Gompertz; the *typical mouse* of an arm has the arm's mean ``r`` and ``b`` and a zero
experiment effect):

- ``growth_rate``: the arm's mean specific growth rate ``d log V / dt`` at the start of
  treatment (per day); for exponential growth it is the rate at every time.
- ``mean_growth_rate`` (Gompertz only): its average over the study window ``[0, T]``,
  ``r (1 - exp(-beta T)) / (beta T)``, ``T`` the last measurement.
- ``doubling_time``: ``ln 2 / growth_rate`` where the rate is positive, else ``inf``;
  ``censored = "no_growth"`` when more than half of the posterior has a rate <= 0.
- ``growth_rate_difference``, ``growth_rate_ratio``: against the control arm of the same cell
  line (``[data] control_arm``); ``p_slower_than_control`` = P(rate < control rate).
- ``tc_ratio``: the ratio of model-based *mean* relative tumour volumes at ``tc_day``,
  ``E[V(t)/V(0)]`` over all mice of the treated arm divided by the same for the control arm;
  with mouse rates ``r ~ Normal(R, sd_r)``, ``E[V(t)/V(0)] = exp(R g(t) + sd_r^2 g(t)^2 / 2)``.
  Computed for every mouse the arm randomised, so culled mice do not bias it. ``tgi`` =
  1 - ``tc_ratio``.
- ``time_to_volume``: posterior predictive days until a new mouse of the arm (baseline and rate
  drawn from the arm's mouse distribution, typical experiment) reaches ``target_volume``:
  0 if it starts above it, ``inf`` if it never does (``censored = "not_reached"`` when more
  than half of the draws are ``inf``). Extrapolates beyond the study window by the model.
- contrasts (factorial designs, ``[[contrasts]] combination, a, b``): ``bliss_excess`` =
  ``(r_ctrl - r_AB) - [(r_ctrl - r_A) + (r_ctrl - r_B)]`` (per day; for exponential growth
  this is Bliss independence on relative tumour volume), ``hsa_excess`` =
  ``min(r_A, r_B) - r_AB``; positive = synergy; ``p_synergy_bliss``, ``p_synergy_hsa`` =
  P(excess > 0).

Regression and regrowth (``growth = "regrowth"``: ``V = V0 [f exp(-d t) + (1 - f) exp(r t)]``):

- ``growth_rate`` is the specific growth rate at the start of treatment, ``(1 - f) r - f d``
  (negative while the tumour shrinks); ``regression_rate`` = ``d``, ``regrowth_rate`` = the
  arm's mean ``r`` (the resistant fraction's rate), ``sensitive_fraction`` = ``f``.
- ``tc_ratio`` uses ``E[V(t)/V(0)] = f exp(-d t) + (1 - f) exp(R t + sd_r^2 t^2 / 2)`` and,
  with a cure component, ``pi exp(-d t) + (1 - pi) (...)``; Simeoni curves average 64 new mice
  per draw. ``time_to_volume`` for Simeoni and regrowth curves is searched on a grid up to
  :data:`HORIZON` times the study window.
- ``linear_growth_rate`` (Simeoni): ``lambda1`` in mm3/day.

Complete regression (``cure = true``), for the arms with a cure component:

- ``p_complete_regression``: the arm's cure fraction ``pi``, the probability that a mouse of
  the arm has its tumour eradicated (posterior, with an interval);
- ``p_all_complete_regression``: the posterior probability that every mouse of the arm in this
  study is cured, ``E[prod_i P(cured_i | data_i, theta)]`` (no interval: it is a probability
  of an event, not a parameter);
- per mouse (``mice.csv``, and ``p_complete_regression_mouse`` in the DataTree):
  ``P(cured_i | data)``.

mRECIST (Gao et al. 2015): ``p_mrecist_cr``, ``p_mrecist_pr``, ``p_mrecist_sd``,
``p_mrecist_pd`` per arm are the class probabilities of a new mouse of the arm; per mouse (in
``mice.csv``) of that mouse; both from posterior-predictive measured trajectories on the arm's
measurement days (measurement error included, values below the detection limit read as 0) and
the rules of :func:`mrecist`. ``mice.csv`` also gives each mouse's observed class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, Issue
from ..families.xenograft import TIME_SCALE, log_volume
from .summary import _prob_stats, _stats

COLUMNS = ["cell_line", "arm", "quantity", "unit", "mean", "sd", "median", "lower", "upper",
           "r_hat", "ess_bulk", "ess_tail", "censored", "interval_prob"]

PREDICTIVE_SEED = 20261127
"""Seed of the posterior predictive draws in summaries and plots (fixed: same draws, same
table)."""


def _g(t: float | np.ndarray, beta: np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float64)
    beta = np.asarray(beta, np.float64)
    x = beta * t
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(x > 1e-8, -np.expm1(-x) / np.where(x > 1e-8, x, 1.0), 1.0 - 0.5 * x)
    return t * r


def _draws(draws: dict, name: str) -> np.ndarray:
    return np.asarray(draws[name], np.float64)


def curve_params(draws: dict, growth: str) -> dict[str, np.ndarray]:
    """Arm-level curve parameters per day, ``(chain, draw, group)``, for :func:`log_volume`."""
    S = TIME_SCALE
    out: dict[str, np.ndarray] = {"growth": growth}
    if growth == "gompertz":
        out["deceleration"] = _draws(draws, "grp_deceleration")
    if growth == "simeoni":
        out["log_linear_rate"] = _draws(draws, "log_linear_rate_10d") - np.log(S)
    if "log_regression_rate_10d" in draws:
        out["log_regression_rate"] = _draws(draws, "log_regression_rate_10d") - np.log(S)
    if growth == "regrowth":
        out["logit_sensitive"] = _draws(draws, "logit_sensitive")
    return out


def _log_v(t, b, r, params: dict, sel=None):
    """``log V(t)`` with arm parameters ``params`` indexed by ``sel`` and broadcast like b."""
    kw = {k: (v if sel is None else v[sel]) for k, v in params.items() if k != "growth"}
    return log_volume(t, b, r, params["growth"], xp=np, **kw)


def _new_mice(draws: dict, rng: np.random.Generator):
    """Baseline and rate of one new mouse per draw and arm group, ``(chain, draw, group)``."""
    base = _draws(draws, "grp_baseline")
    rate = _draws(draws, "grp_rate")
    sb = _draws(draws, "sd_mouse_baseline")[..., None]
    sr = _draws(draws, "sd_mouse_rate")[..., None]
    rho = np.clip(_draws(draws, "corr_mouse")[..., None], -1.0, 1.0)
    u1 = rng.standard_normal(base.shape)
    u2 = rng.standard_normal(base.shape)
    return base + sb * u1, rate + sr * (rho * u1 + np.sqrt(1.0 - rho ** 2) * u2)


def time_to_log_volume(b: np.ndarray, r: np.ndarray, beta: np.ndarray,
                       target: float) -> np.ndarray:
    """Days until ``b + r g(t)`` reaches ``target`` (0 if already there, inf if never)."""
    delta = target - b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_exp = delta / r
        x = beta * delta / r  # Gompertz: reached only below the plateau (x < 1)
        t_gom = np.where(x < 1, -np.log1p(-x) / np.where(beta > 0, beta, 1.0), np.inf)
    t = np.where(beta > 0, t_gom, t_exp)
    t = np.where(r > 0, t, np.inf)
    return np.where(delta <= 0, 0.0, t)


HORIZON = 5.0
"""Simeoni and regrowth curves: ``time_to_volume`` is searched up to ``HORIZON`` times the
study window (``inf`` beyond)."""


def initial_rate(draws: dict, growth: str) -> np.ndarray:
    """The arm's specific growth rate at the start of treatment, ``(chain, draw, group)``:
    ``(1 - f) r - f d`` for regrowth, the arm's rate ``r`` otherwise."""
    rate = _draws(draws, "grp_rate")
    if growth != "regrowth":
        return rate
    p = curve_params(draws, growth)
    f = 1.0 / (1.0 + np.exp(-p["logit_sensitive"]))
    return (1 - f) * rate - f * np.exp(p["log_regression_rate"])


def _time_to_target_grid(b, r, params: dict, target: float, t_max: float) -> np.ndarray:
    """First time ``log V(t)`` reaches ``target`` on a grid (linear interpolation), one arm
    group (last axis) at a time to bound memory."""
    if np.ndim(b) >= 1 and np.shape(b)[-1] > 1:
        return np.stack([_time_to_target_grid(
            b[..., j:j + 1], r[..., j:j + 1],
            {k: (v[..., j:j + 1] if k != "growth" else v) for k, v in params.items()},
            target, t_max)[..., 0] for j in range(np.shape(b)[-1])], -1)
    grid = np.linspace(0.0, t_max, 1201)
    lv = _log_v(grid, b[..., None], r[..., None],
                {k: (v[..., None] if k != "growth" else v) for k, v in params.items()})
    above = lv >= target
    hit = above.any(-1)
    k = np.argmax(above, axis=-1)
    k0 = np.maximum(k - 1, 0)
    lv1 = np.take_along_axis(lv, k[..., None], -1)[..., 0]
    lv0 = np.take_along_axis(lv, k0[..., None], -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(lv1 > lv0, (target - lv0) / (lv1 - lv0), 0.0)
    t = grid[k0] + np.clip(frac, 0, 1) * (grid[k] - grid[k0])
    return np.where(hit, np.where(k == 0, 0.0, t), np.inf)


def derived(data, draws: dict, scale: str = "log", seed: int = PREDICTIVE_SEED,
            growth: str = "exponential") -> dict:
    """Per-arm-group derived quantity draws ``(chain, draw, group)`` (float64)."""
    rate = _draws(draws, "grp_rate")
    beta = _draws(draws, "grp_deceleration")
    sr = _draws(draws, "sd_mouse_rate")[..., None]
    T = max(data.t_end, 1e-9)
    params = curve_params(draws, growth)
    out = {"growth_rate": rate}
    if growth == "regrowth":
        f = 1.0 / (1.0 + np.exp(-params["logit_sensitive"]))
        d = np.exp(params["log_regression_rate"])
        out["regression_rate"], out["regrowth_rate"], out["sensitive_fraction"] = d, rate, f
        out["growth_rate"] = initial_rate(draws, growth)
    if growth == "simeoni":
        out["linear_growth_rate"] = np.exp(params["log_linear_rate"])
    out["mean_growth_rate"] = rate * _g(T, beta) / T
    gr = out["growth_rate"]
    with np.errstate(divide="ignore"):
        out["doubling_time"] = np.where(gr > 0, np.log(2.0) / np.where(gr > 0, gr, 1.0), np.inf)
    t_tc = data.tc_day - data.start_day
    rng = np.random.default_rng(seed)
    cure = _draws(draws, "grp_cure_fraction") if "grp_cure_fraction" in draws else None
    if growth in ("exponential", "gompertz"):
        g_tc = _g(t_tc, beta)
        log_rtv = rate * g_tc + 0.5 * (sr * g_tc) ** 2
    elif growth == "regrowth":  # E over mice of f e^{-dt} + (1 - f) e^{r t}, r ~ N(R, sr)
        log_rtv = np.logaddexp(np.log(f) - d * t_tc,
                               np.log1p(-f) + rate * t_tc + 0.5 * (sr * t_tc) ** 2)
    else:  # simeoni: Monte Carlo over 64 new mice per draw (V(t)/V(0) depends on V(0))
        acc = []
        for _ in range(64):
            b_n, r_n = _new_mice(draws, rng)
            acc.append(_log_v(t_tc, b_n, r_n, params) - b_n)
        log_rtv = np.log(np.mean(np.exp(np.clip(acc, -700, 700)), axis=0))
    if cure is not None:  # a cured mouse decays at d with nothing left to regrow
        dc = np.exp(params["log_regression_rate"])
        with np.errstate(divide="ignore"):
            log_rtv = np.logaddexp(np.log(cure) - dc * t_tc, np.log1p(-cure) + log_rtv)
    out["_log_rtv"] = log_rtv
    b_new, r_new = _new_mice(draws, rng)
    target = np.log(data.target_volume) if scale == "log" else np.log1p(data.target_volume)
    if growth in ("exponential", "gompertz"):
        ttv = time_to_log_volume(b_new, r_new, beta, target)
    else:
        ttv = _time_to_target_grid(b_new, r_new, params, target, HORIZON * T)
    if cure is not None:  # a cured new mouse never reaches a target above its start
        cured = rng.random(b_new.shape) < cure
        ttv = np.where(cured & (b_new < target), np.inf, ttv)
    out["time_to_volume"] = ttv
    return out


# --------------------------------------------------------------------------------- mRECIST
MRECIST_CLASSES = ("cr", "pr", "sd", "pd")


def mrecist(days: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    """mRECIST class of tumour volume series (Gao et al. 2015), vectorised.

    With ``dVol_t = 100 (V_t - V_0) / V_0`` (``V_0`` the first value), ``BestResponse`` = min
    of ``dVol_t`` over ``t >= 10`` days and ``BestAvgResponse`` = min over ``t >= 10`` of the
    mean of ``dVol`` from the first measurement up to ``t``: CR if ``BestResponse < -95`` and
    ``BestAvgResponse < -40``; else PR if ``< -50`` and ``< -20``; else SD if ``< 35`` and
    ``< 30``; otherwise PD.

    Parameters
    ----------
    days : array (..., n)
        Days since the start of treatment, increasing (NaN volumes are skipped).
    volumes : array (..., n)
        Volumes (0 for an undetectable tumour).

    Returns
    -------
    ndarray of int
        0 = CR, 1 = PR, 2 = SD, 3 = PD (index into :data:`MRECIST_CLASSES`); -1 where no
        measurement at or after day 10 or the first volume is not positive.
    """
    days = np.asarray(days, np.float64)
    v = np.asarray(volumes, np.float64)
    v0 = v[..., :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        dvol = 100.0 * (v - v0) / v0
    valid = np.isfinite(dvol)
    avg = np.cumsum(np.where(valid, dvol, 0.0), -1) / np.maximum(np.cumsum(valid, -1), 1)
    late = (days >= 10) & valid
    best = np.min(np.where(late, dvol, np.inf), -1)
    bavg = np.min(np.where(late, avg, np.inf), -1)
    cls = np.select([(best < -95) & (bavg < -40), (best < -50) & (bavg < -20),
                     (best < 35) & (bavg < 30)], [0, 1, 2], 3)
    return np.where(np.isfinite(best) & (v0[..., 0] > 0), cls, -1)


def _flat_sub(draws: dict, names, max_draws: int) -> dict:
    out = {}
    for k in names:
        if k in draws:
            a = np.asarray(draws[k], np.float64)
            a = a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])
            idx = np.linspace(0, a.shape[0] - 1, min(a.shape[0], max_draws)).astype(int)
            out[k] = a[idx][None]
    return out


def _noise_sd(draws: dict) -> np.ndarray:
    s = _draws(draws, "sigma")
    if "sigma_caliper" in draws:
        s = np.sqrt(s ** 2 + 5 * _draws(draws, "sigma_caliper") ** 2)
    return s


def _schedule(data, g: int) -> np.ndarray:
    sel = data.mouse_group == g
    return np.unique(data.t[sel][data.mask[sel]])


def predictive_mrecist(data, draws: dict, growth: str, per: str = "arm",
                       max_draws: int = 400, seed: int = PREDICTIVE_SEED) -> np.ndarray:
    """mRECIST class probabilities from posterior-predictive measured trajectories.

    ``per = "arm"``: a new mouse of each arm group (baseline, rate and cure drawn from the
    arm's population, typical experiment); ``per = "mouse"``: each mouse of the study (its own
    posterior baseline and rate, cured with its posterior probability). Trajectories are
    measured on the arm's schedule with the model's measurement error; values below the
    detection limit read 0. Each kind has its own random stream (``seed``), so either is
    reproducible on its own.

    Returns
    -------
    ndarray (group or mouse, 4)
        Probabilities of CR, PR, SD, PD.
    """
    rng = np.random.default_rng([seed, 0 if per == "arm" else 1])
    names = ("grp_baseline", "grp_rate", "sd_mouse_baseline", "sd_mouse_rate", "corr_mouse",
             "grp_deceleration", "log_linear_rate_10d", "log_regression_rate_10d",
             "logit_sensitive", "grp_cure_fraction", "sigma", "sigma_caliper",
             "mouse_baseline", "mouse_rate", "p_complete_regression_mouse")
    sub = _flat_sub(draws, names, max_draws)
    params = curve_params(sub, growth)
    noise = _noise_sd(sub)[0]  # (draw,)
    log_dl = np.log(data.detection_limit)
    has_cure = "grp_cure_fraction" in sub
    if per == "arm":
        b_all, r_all = _new_mice(sub, rng)
        cure_all = sub.get("grp_cure_fraction")
        units = [[g] for g in range(data.n_groups)]
    else:
        b_all, r_all = sub["mouse_baseline"], sub["mouse_rate"]
        cure_all = sub.get("p_complete_regression_mouse")
        units = [list(np.flatnonzero(data.mouse_group == g)) for g in range(data.n_groups)]
    out = np.full((b_all.shape[-1], 4), np.nan)
    for g, members in enumerate(units):
        tt = _schedule(data, g)
        if not len(tt):
            continue
        p_g = {k: v[0, :, g][:, None] for k, v in params.items() if k != "growth"}
        p_g["growth"] = growth
        for u in members:
            b = b_all[0, :, u][:, None]
            lv = _log_v(tt[None], b, r_all[0, :, u][:, None], p_g)
            if has_cure:  # a cured tumour decays at the arm's d with nothing to regrow
                cured = rng.random(lv.shape[0]) < cure_all[0, :, u]
                lv = np.where(cured[:, None], b - np.exp(p_g["log_regression_rate"]) * tt[None],
                              lv)
            y = lv + noise[:, None] * rng.standard_normal(lv.shape)
            cls = mrecist(tt, np.where(y > log_dl, np.exp(np.minimum(y, 700.0)), 0.0))
            out[u] = [(cls == k).mean() for k in range(4)]
    return out


def observed_mrecist(data) -> list[str]:
    """mRECIST class of each mouse's measured series ("" when undefined, e.g. culled before
    day 10)."""
    v = np.where(data.mask, np.where(data.censored, 0.0, data.volume), np.nan)
    cls = mrecist(np.where(data.mask, data.t, np.nan), v)
    return [MRECIST_CLASSES[c].upper() if c >= 0 else "" for c in cls]


def mouse_table(data, draws: dict, growth: str = "exponential") -> pd.DataFrame:
    """One row per mouse: arm, status, observed mRECIST, posterior probability of complete
    regression (cure component), mRECIST class probabilities, posterior median growth rate."""
    pm = predictive_mrecist(data, draws, growth, per="mouse")
    rate = _draws(draws, "mouse_rate")
    df = pd.DataFrame({
        "cell_line": [data.cell_lines[data.group_cell[g]] for g in data.mouse_group],
        "arm": [data.arms[data.group_arm[g]] for g in data.mouse_group],
        "experiment": [data.experiments[e] for e in data.mouse_experiment],
        "mouse": data.mice, "status": data.mouse_status,
        "observed_mrecist": observed_mrecist(data),
        "growth_rate_median": np.median(rate.reshape(-1, rate.shape[-1]), axis=0)})
    if "p_complete_regression_mouse" in draws:
        p = _draws(draws, "p_complete_regression_mouse")
        df["p_complete_regression"] = p.reshape(-1, p.shape[-1]).mean(axis=0)
    for k, c in enumerate(MRECIST_CLASSES):
        df[f"p_mrecist_{c}"] = pm[:, k]
    return df


UNITS = {"growth_rate": "1/day", "mean_growth_rate": "1/day", "doubling_time": "day",
         "growth_rate_difference": "1/day", "growth_rate_ratio": "ratio",
         "p_slower_than_control": "probability", "tc_ratio": "ratio", "tgi": "fraction",
         "time_to_volume": "day", "bliss_excess": "1/day", "p_synergy_bliss": "probability",
         "hsa_excess": "1/day", "p_synergy_hsa": "probability",
         "regression_rate": "1/day", "regrowth_rate": "1/day",
         "sensitive_fraction": "fraction", "linear_growth_rate": "mm3/day",
         "p_complete_regression": "probability", "p_all_complete_regression": "probability",
         **{f"p_mrecist_{c}": "probability" for c in MRECIST_CLASSES}}


def _control_groups(data) -> dict[int, int]:
    """Arm group -> the control arm group of its cell line (where there is one)."""
    if data.control_arm is None or data.control_arm not in data.arms:
        return {}
    ca = data.arms.index(data.control_arm)
    ctrl = {int(c): g for g, (c, a) in enumerate(zip(data.group_cell, data.group_arm))
            if a == ca}
    return {g: ctrl[int(c)] for g, c in enumerate(data.group_cell) if int(c) in ctrl}


def summarize_xenograft(data, draws: dict, contrasts: list[dict] | None = None,
                        prob: float = 0.95, method: str = "nuts",
                        scale: str = "log", growth: str | None = None,
                        mrecist_rows: bool = True) -> pd.DataFrame:
    """Summary table of the ``xenograft`` family (one row per arm group and quantity).

    Parameters
    ----------
    data : XenograftData
    draws : dict
        Posterior draws ``(chain, draw, ...)`` of the family's deterministic sites.
    contrasts : list of dict
        ``{"combination": arm, "a": arm, "b": arm}`` (optional ``cell_line``, ``control``).
    prob : float
        Interval probability (equal-tailed).
    method : str
        Back-end; R-hat/ESS are reported for ``nuts`` only.
    scale : {"log", "log1p"}
        The model's volume scale (``time_to_volume`` target).
    growth : str, optional
        The growth form (``"gompertz"`` adds ``mean_growth_rate``, ``"regrowth"``
        ``regression_rate``, ``regrowth_rate`` and ``sensitive_fraction``, ``"simeoni"``
        ``linear_growth_rate``).
    mrecist_rows : bool
        Add the per-arm mRECIST class probabilities (posterior predictive).
    """
    diag = method == "nuts"
    growth = growth or "exponential"
    dq = derived(data, draws, scale, growth=growth)
    gompertz = growth == "gompertz"
    cl = [data.cell_lines[c] for c in data.group_cell]
    arm = [data.arms[a] for a in data.group_arm]
    G = data.n_groups
    ctrl = _control_groups(data)
    frames = []

    def rows(q, st, groups, cens=None):
        frames.append(pd.DataFrame({
            "cell_line": [cl[g] for g in groups], "arm": [arm[g] for g in groups],
            "quantity": q, "unit": UNITS[q], **st,
            "censored": cens if cens is not None else [""] * len(groups)}))

    allg = list(range(G))
    rows("growth_rate", _stats(dq["growth_rate"], prob, diag), allg)
    if gompertz:
        rows("mean_growth_rate", _stats(dq["mean_growth_rate"], prob, diag), allg)
    for q in ("regression_rate", "regrowth_rate", "sensitive_fraction", "linear_growth_rate"):
        if q in dq:
            rows(q, _stats(dq[q], prob, diag), allg)
    if "grp_cure_fraction" in draws:
        cure_g = [g for g in allg if np.any(_draws(draws, "grp_cure_fraction")[..., g] > 0)]
        if cure_g:
            idx = np.array(cure_g)
            rows("p_complete_regression",
                 _stats(_draws(draws, "grp_cure_fraction")[..., idx], prob, diag), cure_g)
            pm = _draws(draws, "p_complete_regression_mouse")
            p_all = np.stack([np.prod(pm[..., data.mouse_group == g], axis=-1)
                              for g in cure_g], -1)
            rows("p_all_complete_regression", _prob_stats(p_all), cure_g)

    p_neg = (dq["growth_rate"] <= 0).reshape(-1, G).mean(axis=0)
    rows("doubling_time", _stats(dq["doubling_time"], prob, diag), allg,
         np.where(p_neg > 0.5, "no_growth", ""))
    treated = [g for g in allg if g in ctrl and ctrl[g] != g]
    if treated:
        idx = np.array(treated)
        cidx = np.array([ctrl[g] for g in treated])
        r = dq["growth_rate"]
        rows("growth_rate_difference", _stats(r[..., idx] - r[..., cidx], prob, diag), treated)
        with np.errstate(divide="ignore", invalid="ignore"):
            rows("growth_rate_ratio", _stats(r[..., idx] / r[..., cidx], prob, diag), treated)
        rows("p_slower_than_control",
             _prob_stats((r[..., idx] < r[..., cidx]).astype(float)), treated)
        tc = np.exp(np.clip(dq["_log_rtv"][..., idx] - dq["_log_rtv"][..., cidx], -700, 700))
        rows("tc_ratio", _stats(tc, prob, diag), treated)
        rows("tgi", _stats(1.0 - tc, prob, diag), treated)
    ttv = dq["time_to_volume"]
    p_inf = np.isinf(ttv).reshape(-1, G).mean(axis=0)
    rows("time_to_volume", _stats(ttv, prob, False), allg,
         np.where(p_inf > 0.5, "not_reached", ""))
    if mrecist_rows:
        p_cls = predictive_mrecist(data, draws, growth, per="arm")
        for k, c in enumerate(MRECIST_CLASSES):
            rows(f"p_mrecist_{c}", _point(p_cls[:, k]), allg)
    for c in contrasts or []:
        frames += _synergy_rows(data, dq, c, prob, diag)
    out = pd.concat(frames, ignore_index=True)
    out["interval_prob"] = prob
    order = {(a, b): i for i, (a, b) in enumerate(zip(cl, arm))}
    out["_g"] = [order.get((a, b), len(order)) for a, b in zip(out["cell_line"], out["arm"])]
    out = out.sort_values(["_g"], kind="stable").drop(columns="_g").reset_index(drop=True)
    return out[COLUMNS]


def _point(p: np.ndarray) -> dict[str, np.ndarray]:
    """A posterior-predictive probability (no interval, no diagnostics)."""
    return _prob_stats(np.asarray(p, np.float64)[None, None])


def _contrast_cells(data, c: dict) -> list[int]:
    arms = [str(c.get(k)) for k in ("combination", "a", "b")]
    arms.append(str(c.get("control", data.control_arm)))
    cells = range(len(data.cell_lines))
    if "cell_line" in c:
        name = str(c["cell_line"])
        cells = [data.cell_lines.index(name)] if name in data.cell_lines else []
    have = {(int(cc), data.arms[a]) for cc, a in zip(data.group_cell, data.group_arm)}
    return [cc for cc in cells if all((cc, a) in have for a in arms)]


def _synergy_rows(data, dq: dict, c: dict, prob: float, diag: bool) -> list[pd.DataFrame]:
    gid = {(data.cell_lines[cc], data.arms[a]): g
           for g, (cc, a) in enumerate(zip(data.group_cell, data.group_arm))}
    r = dq["growth_rate"]
    out = []
    control = str(c.get("control", data.control_arm))
    for cc in _contrast_cells(data, c):
        name = data.cell_lines[cc]
        ab, a, b, k = (gid[(name, str(c[x]))] if x != "control" else gid[(name, control)]
                       for x in ("combination", "a", "b", "control"))
        r_ab, r_a, r_b, r_c = r[..., ab], r[..., a], r[..., b], r[..., k]
        bliss = (r_c - r_ab) - ((r_c - r_a) + (r_c - r_b))
        hsa = np.minimum(r_a, r_b) - r_ab
        st = {q: _stats(v[..., None], prob, diag) for q, v in (("bliss", bliss), ("hsa", hsa))}
        p = {q: _prob_stats((v > 0)[..., None].astype(float))
             for q, v in (("bliss", bliss), ("hsa", hsa))}
        quantities = [("bliss_excess", st["bliss"]), ("p_synergy_bliss", p["bliss"]),
                      ("hsa_excess", st["hsa"]), ("p_synergy_hsa", p["hsa"])]
        out.append(pd.DataFrame({
            "cell_line": name, "arm": str(c["combination"]),
            "quantity": [q for q, _ in quantities], "unit": [UNITS[q] for q, _ in quantities],
            **{k: [s[k][0] for _, s in quantities] for k in quantities[0][1]},
            "censored": ""}))
    return out


def validate_xenograft_contrasts(data, contrasts: list[dict], source: str = "<config>") -> None:
    """Check every ``[[contrasts]]`` entry against the data (all problems at once)."""
    issues = []
    arms = set(data.arms)
    for i, c in enumerate(contrasts):
        for k in sorted(set(c) - {"combination", "a", "b", "cell_line", "control"}):
            issues.append(Issue(source, None, f"contrasts[{i}].{k}", None,
                                "unknown key (expected combination, a, b, and optionally "
                                "cell_line, control)"))
        for k in ("combination", "a", "b"):
            if k not in c:
                issues.append(Issue(source, None, f"contrasts[{i}].{k}", None,
                                    "required (an arm name)"))
        control = c.get("control", data.control_arm)
        if control is None:
            issues.append(Issue(source, None, f"contrasts[{i}]", None,
                                "a control arm is required: set [data] control_arm or the "
                                "contrast's control"))
        for k in ("combination", "a", "b", "control"):
            v = c.get(k, control if k == "control" else None)
            if v is not None and str(v) not in arms:
                issues.append(Issue(source, None, f"contrasts[{i}].{k}", str(v),
                                    f"not an arm of the data (arms: {', '.join(data.arms)})"))
        if "cell_line" in c and str(c["cell_line"]) not in data.cell_lines:
            issues.append(Issue(source, None, f"contrasts[{i}].cell_line", str(c["cell_line"]),
                                "not a cell line of the data"))
        if not issues and {"combination", "a", "b"} <= set(c) and not _contrast_cells(data, c):
            issues.append(Issue(source, None, f"contrasts[{i}]", None,
                                "no cell line has all four arms (control, a, b, combination)"))
    if issues:
        raise ConfigError(issues)


# ----------------------------------------------------------------------------------- plots
def plot_xenograft(result, folder: Path, formats: tuple[str, ...] = ("png",),
                   max_draws: int = 400) -> list[Path]:
    """Spaghetti plots per cell line (each arm's mice over its posterior predictive band) and a
    growth-rate forest plot.

    The band is the interval (run's interval probability) of a new mouse's measured volume
    (mouse variability and measurement error included, typical experiment); the line is the
    typical mouse's median trajectory.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _safe

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = result.data
    s = result.inference.samples
    prob = result.interval_prob
    log1p = getattr(result.spec.options, "scale", "log") == "log1p"

    growth = getattr(result.spec.options, "growth", "exponential")
    rng = np.random.default_rng(PREDICTIVE_SEED)
    names = ("grp_baseline", "grp_rate", "grp_deceleration", "sd_mouse_baseline",
             "sd_mouse_rate", "corr_mouse", "log_linear_rate_10d", "log_regression_rate_10d",
             "logit_sensitive", "grp_cure_fraction", "sigma", "sigma_caliper")
    sub = _flat_sub(s, names, max_draws)
    params = curve_params(sub, growth)
    sigma = _noise_sd(sub)[0]
    b_new, r_new = _new_mice(sub, rng)
    tg = np.linspace(0, data.t_end, 80)
    files = []
    cmap = plt.get_cmap("tab10")
    for cc, cname in enumerate(data.cell_lines):
        groups = np.flatnonzero(data.group_cell == cc)
        ncol = min(len(groups), 4)
        nrow = int(np.ceil(len(groups) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.0 * nrow), sharey=True,
                                 squeeze=False)
        for k, g in enumerate(groups):
            ax = axes[k // ncol][k % ncol]
            color = cmap(k % 10)
            p_g = {q: v[0, :, g][:, None] for q, v in params.items() if q != "growth"}
            p_g["growth"] = growth
            traj = _log_v(tg[None], b_new[0, :, g][:, None], r_new[0, :, g][:, None], p_g)
            if "grp_cure_fraction" in sub:  # a cured new mouse decays at d for good
                cured = rng.random(traj.shape[0]) < sub["grp_cure_fraction"][0, :, g]
                d = np.exp(p_g["log_regression_rate"])
                traj = np.where(cured[:, None], b_new[0, :, g][:, None] - d * tg[None], traj)
            traj = traj + sigma[:, None] * rng.standard_normal(traj.shape)
            typ = _log_v(tg[None], sub["grp_baseline"][0, :, g][:, None],
                         sub["grp_rate"][0, :, g][:, None], p_g)
            conv = ((lambda x: np.maximum(np.expm1(x), data.detection_limit)) if log1p
                    else (lambda x: np.exp(np.maximum(x, np.log(data.detection_limit)))))
            lo, hi = np.quantile(conv(traj), [(1 - prob) / 2, (1 + prob) / 2], axis=0)
            ax.fill_between(tg + data.start_day, lo, hi, color=color, alpha=0.18, lw=0)
            ax.plot(tg + data.start_day, np.median(conv(typ), axis=0), color=color, lw=2)
            for m in np.flatnonzero(data.mouse_group == g):
                mk = data.mask[m]
                v = np.maximum(data.volume[m][mk], data.detection_limit)
                ax.plot(data.day[m][mk], v, color="0.25", lw=0.7, alpha=0.7)
                cens = data.censored[m][mk]
                if cens.any():
                    ax.scatter(data.day[m][mk][cens], v[cens], marker="v", s=12, color="0.25")
            ax.set_yscale("log")
            ax.set_title(data.arms[data.group_arm[g]], fontsize=9)
            ax.set_xlabel("day")
            if k % ncol == 0:
                ax.set_ylabel("tumour volume (mm$^3$)")
        for k in range(len(groups), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.suptitle(f"{cname or 'xenograft'}: mice and {prob:.0%} posterior predictive band "
                     f"({result.inference.method}); v = at/below detection limit", fontsize=9)
        fig.tight_layout()
        for fmt in formats:
            f = folder / f"xenograft_growth_{_safe(cname or 'all')}.{fmt}"
            fig.savefig(f, dpi=110)
            files.append(f)
        plt.close(fig)
    # forest plot of growth rates
    r = initial_rate(_flat_sub(s, names, 10 ** 9), growth)[0]
    lo, med, hi = np.quantile(r, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    labels = data.group_labels
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(labels) + 1.2))
    y = np.arange(len(labels))[::-1]
    ax.errorbar(med, y, xerr=[med - lo, hi - med], fmt="o", color="k", ms=4, capsize=2)
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("growth rate at the start of treatment (1/day)")
    ax.set_title(f"growth rates: posterior median and {prob:.0%} interval", fontsize=9)
    fig.tight_layout()
    for fmt in formats:
        f = folder / f"xenograft_growth_rates.{fmt}"
        fig.savefig(f, dpi=110)
        files.append(f)
    plt.close(fig)
    return files
