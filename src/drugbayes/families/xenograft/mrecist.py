"""mRECIST classes (Gao et al. 2015) of the ``xenograft`` family, observed and predictive."""

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
                       max_draws: int = 400, seed: int = 0) -> np.ndarray:
    """mRECIST class probabilities from posterior-predictive measured trajectories.

    ``per = "arm"``: a new mouse of each arm group (baseline, rate and cure drawn from the
    arm's population, typical experiment); ``per = "mouse"``: each mouse of the study (its own
    posterior baseline and rate, cured with its posterior probability). Trajectories are
    measured on the arm's schedule with the model's measurement error; values below the
    detection limit read 0. Each kind has its own random stream derived from the run's
    ``seed`` (:mod:`drugbayes.seeding`), so either is reproducible on its own.

    Returns
    -------
    ndarray (group or mouse, 4)
        Probabilities of CR, PR, SD, PD.
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
