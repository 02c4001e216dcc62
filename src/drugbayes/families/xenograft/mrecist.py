"""Response metrics of PDX trials as published (Gao et al. 2015, Nat Med 21:1318, Online
Methods), observed and posterior predictive: best response, best average response, time to
double, mRECIST (with progression after the best response, e.g. ``SD-->PD``).

Definitions (``t`` in days since the start of treatment, ``V_0`` the first measurement):

- ``dVol_t = 100 (V_t - V_0) / V_0`` (%);
- ``best.response`` = min of ``dVol_t`` over ``t >= 10``; ``best.response.time`` its day;
- ``best.average.response`` = min over ``t >= 10`` of the mean of ``dVol_i`` over the
  measurements ``0 <= t_i <= t``; ``best.average.response.time`` its day;
- mRECIST: CR if best.response < -95 and best.average.response < -40; else PR if < -50 and
  < -20; else SD if < 35 and < 30; else PD;
- transitions (our rule, stated because the paper's Online Methods do not give one): a CR, PR
  or SD mouse whose tumour, after the day of its best response, is measured at
  ``dVol_t >= 35`` (past the SD ceiling of the rules) is ``<class>-->PD``;
- ``time.to.double``: the first measured day with ``V_t >= 2 V_0`` (``inf`` when the tumour
  was never measured at twice its starting volume).

Column names follow the Xeva package (``best.response``, ``best.average.response``, ...)
where it has one.
"""

from __future__ import annotations

import numpy as np

from ... import seeding
from .derived import _draws, _log_v, _new_mice, curve_params

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
    return response_metrics(days, volumes)["mrecist"]


def response_metrics(days: np.ndarray, volumes: np.ndarray) -> dict[str, np.ndarray]:
    """The published metrics of volume series (see the module docstring), vectorised.

    Parameters
    ----------
    days : array (..., n)
        Days since the start of treatment, increasing (NaN where not measured).
    volumes : array (..., n)
        Volumes (0 for an undetectable tumour, NaN where not measured).

    Returns
    -------
    dict of arrays (...)
        ``best.response``, ``best.response.time``, ``best.average.response``,
        ``best.average.response.time``, ``time.to.double`` (float; NaN where undefined: no
        measurement at or after day 10, or a first volume that is not positive), ``mrecist``
        (int, 0-3 = CR, PR, SD, PD, -1 undefined) and ``progressed`` (bool: measured at
        ``dVol >= 35`` after the day of the best response).
    """
    v = np.asarray(volumes, np.float64)
    days = np.broadcast_to(np.asarray(days, np.float64), v.shape)
    v0 = v[..., :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        dvol = 100.0 * (v - v0) / v0
    valid = np.isfinite(dvol) & np.isfinite(days)
    avg = np.cumsum(np.where(valid, dvol, 0.0), -1) / np.maximum(np.cumsum(valid, -1), 1)
    late = (days >= 10) & valid
    br_arg = np.argmin(np.where(late, dvol, np.inf), -1)
    ba_arg = np.argmin(np.where(late, avg, np.inf), -1)
    best = np.take_along_axis(np.where(late, dvol, np.inf), br_arg[..., None], -1)[..., 0]
    bavg = np.take_along_axis(np.where(late, avg, np.inf), ba_arg[..., None], -1)[..., 0]
    ok = np.isfinite(best) & (v0[..., 0] > 0)
    cls = np.select([(best < -95) & (bavg < -40), (best < -50) & (bavg < -20),
                     (best < 35) & (bavg < 30)], [0, 1, 2], 3)
    idx = np.arange(days.shape[-1])
    after = valid & (idx > br_arg[..., None])
    progressed = ok & (cls < 3) & np.any(after & (dvol >= 35.0), -1)
    doubled = valid & (v >= 2 * v0)
    k2 = np.argmax(doubled, -1)
    ttd = np.where(doubled.any(-1), np.take_along_axis(days, k2[..., None], -1)[..., 0],
                   np.inf)
    nan = np.nan
    return {"best.response": np.where(ok, best, nan),
            "best.response.time": np.where(ok, np.take_along_axis(
                days, br_arg[..., None], -1)[..., 0], nan),
            "best.average.response": np.where(ok, bavg, nan),
            "best.average.response.time": np.where(ok, np.take_along_axis(
                days, ba_arg[..., None], -1)[..., 0], nan),
            "time.to.double": np.where(v0[..., 0] > 0, ttd, nan),
            "mrecist": np.where(ok, cls, -1), "progressed": progressed}


def mrecist_label(cls: int, progressed: bool) -> str:
    """``CR``, ``PR``, ``SD``, ``PD``, ``<class>-->PD`` or ``""`` (undefined)."""
    if cls < 0:
        return ""
    name = MRECIST_CLASSES[cls].upper()
    return f"{name}-->PD" if progressed and cls < 3 else name


def observed_metrics(data) -> dict[str, np.ndarray]:
    """:func:`response_metrics` of each mouse's measured series (below the detection limit
    read as 0), with ``mRECIST`` the labels of :func:`mrecist_label`."""
    v = np.where(data.mask, np.where(data.censored, 0.0, data.volume), np.nan)
    out = response_metrics(np.where(data.mask, data.t, np.nan), v)
    out["mRECIST"] = np.array([mrecist_label(int(c), bool(p))
                               for c, p in zip(out["mrecist"], out["progressed"])], object)
    return out


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
                       max_draws: int = 400, seed: int = 0) -> np.ndarray:
    """mRECIST class probabilities ``(group or mouse, 4)`` of
    :func:`predictive_metrics`."""
    return predictive_metrics(data, draws, growth, per, max_draws, seed)["p"]


def predictive_metrics(data, draws: dict, growth: str, per: str = "arm",
                       max_draws: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """mRECIST class probabilities from posterior-predictive measured trajectories.

    ``per = "arm"``: a new mouse of each arm group (baseline, rate and cure drawn from the
    arm's population, typical experiment); ``per = "mouse"``: each mouse of the study (its own
    posterior baseline and rate, cured with its posterior probability). Trajectories are
    measured on the arm's schedule with the model's measurement error; values below the
    detection limit read 0. Each kind has its own random stream derived from the run's
    ``seed`` (:mod:`drugbayes.seeding`), so either is reproducible on its own.

    Returns
    -------
    dict
        ``p``: ``(group or mouse, 4)`` probabilities of CR, PR, SD, PD; ``best.response``,
        ``best.average.response``, ``time.to.double``: ``(group or mouse, draw)`` predictive
        draws of the metrics of :func:`response_metrics` (NaN where undefined).
    """
    rng = seeding.rng(seed, f"xenograft.mrecist.{per}")
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
        from .design import design_of

        b_all, r_all = _new_mice(sub, rng, design_of(data).group_free)
        cure_all = sub.get("grp_cure_fraction")
        units = [[g] for g in range(data.n_groups)]
    else:
        b_all, r_all = sub["mouse_baseline"], sub["mouse_rate"]
        cure_all = sub.get("p_complete_regression_mouse")
        units = [list(np.flatnonzero(data.mouse_group == g)) for g in range(data.n_groups)]
    n_units, n_draws = b_all.shape[-1], b_all.shape[1]
    out = np.full((n_units, 4), np.nan)
    keys = ("best.response", "best.average.response", "time.to.double")
    metric = {k: np.full((n_units, n_draws), np.nan) for k in keys}
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
                assert cure_all is not None  # the cure component's sites are in the draws
                cured = rng.random(lv.shape[0]) < cure_all[0, :, u]
                lv = np.where(cured[:, None], b - np.exp(p_g["log_regression_rate"]) * tt[None],
                              lv)
            y = lv + noise[:, None] * rng.standard_normal(lv.shape)
            rm = response_metrics(tt, np.where(y > log_dl, np.exp(np.minimum(y, 700.0)), 0.0))
            cls = rm["mrecist"]
            out[u] = [(cls == k).mean() for k in range(4)]
            for k in keys:
                metric[k][u] = rm[k]
    return {"p": out, **metric}


def observed_mrecist(data) -> list[str]:
    """mRECIST class of each mouse's measured series ("" when undefined, e.g. culled before
    day 10)."""
    v = np.where(data.mask, np.where(data.censored, 0.0, data.volume), np.nan)
    cls = mrecist(np.where(data.mask, data.t, np.nan), v)
    return [MRECIST_CLASSES[c].upper() if c >= 0 else "" for c in cls]
