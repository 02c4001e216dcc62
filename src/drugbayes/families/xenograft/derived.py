"""Labelled posterior and per-mouse pointwise quantities of the ``xenograft`` family."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import seeding
from ...curves import growth_curve, log_volume, sigmoid
from ...data.fields import carried_tree_names
from .._contract import Spec
from .data import _cure_groups, arrays
from .spec import TIME_SCALE


# ------------------------------------------------------------------------ labelled posterior
def posterior_dims(data) -> tuple[dict, dict]:
    """Dims of every site and their coords."""
    from .design import design_of, deviation_groups

    d = design_of(data)
    labels = data.group_labels
    free_mice = [m for m, f in zip(data.mice, d.mouse_free) if f]
    coords = {"cell_line": data.cell_lines, "arm_group": labels,
              "experiment": data.experiments, "mouse": data.mice,
              "mouse_z": ["baseline", "rate"],
              "mouse_effect": ["level_at_mean_time", "rate_10d"], "arm": data.arms,
              "treatment": [data.arms[t] for t in d.treatments],
              "treatment_spread": [data.arms[t] for t, s in zip(d.treatments,
                                                                d.treatment_spread) if s],
              "free_mouse": free_mice, "rate_deviation": []}
    dims = {
        "mu_rate_10d": ["cell_line"], "log_deceleration_10d": ["cell_line"],
        "z_baseline": ["arm_group"], "grp_level": ["arm_group"], "arm_rate_10d": ["arm_group"],
        "grp_rate": ["arm_group"],
        "grp_baseline": ["arm_group"], "grp_deceleration": ["arm_group"],
        "experiment_baseline": ["experiment"], "experiment_rate_10d": ["experiment"],
        "z_mouse": ["free_mouse", "mouse_z"], "mouse_effect": ["free_mouse", "mouse_effect"],
        "mouse_level": ["free_mouse"], "z_mouse_rate": ["free_mouse"],
        "line_rate_10d": ["cell_line"], "effect_rate_10d": ["treatment"],
        "treatment_effect": ["treatment"], "sd_line_effect": ["treatment"],
        "sd_line_effect_10d": ["treatment_spread"], "raw_arm_rate_10d": ["rate_deviation"],
        "mouse_baseline": ["mouse"],
        "mouse_rate": ["mouse"],
        "log_linear_rate_10d": ["arm_group"], "grp_linear_rate": ["arm_group"],
        "log_regression_rate_10d": ["arm_group"], "grp_regression_rate": ["arm_group"],
        "logit_sensitive": ["arm_group"], "grp_sensitive_fraction": ["arm_group"],
        "grp_cure_fraction": ["arm_group"],
        "p_complete_regression_mouse": ["mouse"], "log_lik_mouse": ["mouse"],
    }
    if d.pdx:
        dev = deviation_groups({"group_trt": d.group_treatment,
                                "trt_spread": d.treatment_spread})
        coords["rate_deviation"] = [labels[g] for g in dev]
        for name in ("log_linear_rate_10d", "log_regression_rate_10d", "logit_sensitive"):
            dims[f"arm_{name}"] = ["arm"]
            dims[f"sd_line_{name}"] = ["arm"]
            dims[f"z_{name}"] = ["arm_group"]
    return dims, coords


def observed(data, samples: dict) -> dict:
    """DataTree pieces: observed volumes and days per mouse, arms of the mice."""
    obs = {"volume": np.where(data.mask, data.volume, np.nan)}
    odims = {"volume": ["mouse", "obs"]}
    const = {"day": data.day, "censored": data.censored & data.mask,
             "mouse_arm": np.array([data.arms[data.group_arm[g]] for g in data.mouse_group]),
             "mouse_cell_line": np.array([data.cell_lines[data.group_cell[g]]
                                          for g in data.mouse_group]),
             "mouse_status": np.array(data.mouse_status)}
    cdims = {"day": ["mouse", "obs"], "censored": ["mouse", "obs"], "mouse_arm": ["mouse"],
             "mouse_cell_line": ["mouse"], "mouse_status": ["mouse"]}
    # carried columns, not modelled, under names a DataTree can hold (each its own variable)
    carried_obs = getattr(data, "carried_obs", {})
    carried_mouse = getattr(data, "carried_mouse", {})
    names = carried_tree_names([*carried_obs, *carried_mouse], [
        *const, *obs, *samples, *posterior_dims(data)[1], "mouse", "obs", "chain", "draw"])
    for k, v in carried_obs.items():
        const[names[k]] = np.asarray(v, np.float64)
        cdims[names[k]] = ["mouse", "obs"]
    for k, v in carried_mouse.items():
        const[names[k]] = np.array(v, dtype=str)
        cdims[names[k]] = ["mouse"]
    return {"observed": obs, "observed_dims": odims,
            "constant": const, "constant_dims": cdims}


def pointwise(data, spec: Spec, samples: dict, chunk: int = 256, seed: int = 0) -> dict:
    """Per-mouse log-likelihood draws ``log_lik_mouse`` (for LOO; with a cure component the
    marginal over cured / not cured) and, with a cure component,
    ``p_complete_regression_mouse``: each mouse's probability of being cured given its data
    and the draw's parameters. Both ``(chain, draw, mouse)``, computed after the fit in chunks
    of draws.
    """
    from ...inference.svi import predictive_sites
    from .model import model

    a = dict(arrays(data))
    a["pointwise"] = True
    sites = ("log_lik_mouse",) + (("p_complete_regression_mouse",)
                                  if _cure_groups(a, spec.options).any() else ())

    def m(observed: bool = True):
        return model(a, spec, observed)

    any_site = next(iter(samples.values()))
    C, D = np.asarray(any_site).shape[:2]
    flat = {k: np.asarray(v).reshape(C * D, *np.asarray(v).shape[2:])
            for k, v in samples.items() if k not in sites}
    parts: dict[str, list] = {k: [] for k in sites}
    key = seeding.jax_key(seed, "xenograft.pointwise")
    for i in range(0, C * D, chunk):
        sl = {k: v[i:i + chunk] for k, v in flat.items()}
        n = next(iter(sl.values())).shape[0]
        if n < chunk:  # pad to one shape: one compilation
            sl = {k: np.concatenate([v, np.repeat(v[-1:], chunk - n, 0)]) for k, v in sl.items()}
        out = predictive_sites(m, sl, (), sites, key)
        for k in sites:
            parts[k].append(out[k][:n])
    return {k: np.concatenate(v).reshape(C, D, -1) for k, v in parts.items()}


def _g(t: float | np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Gompertz ``g(t) = (1 - exp(-beta t)) / beta`` in float64 (:func:`curves.growth_curve`)."""
    return growth_curve(np.asarray(t, np.float64), 1.0, np.asarray(beta, np.float64), xp=np)


def _draws(draws: dict, name: str) -> np.ndarray:
    return np.asarray(draws[name], np.float64)


def curve_params(draws: dict, growth: str) -> dict[str, Any]:
    """Arm-level curve parameters per day, ``(chain, draw, group)``, for :func:`log_volume`;
    entry ``growth`` is the growth curve's name."""
    S = TIME_SCALE
    out: dict[str, Any] = {"growth": growth}
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


def _new_mice(draws: dict, rng: np.random.Generator, free: np.ndarray | None = None):
    """Baseline and rate of one new mouse per draw and arm group, ``(chain, draw, group)``;
    ``free`` (bool per group, default all): groups whose new mice vary around the group (in
    a one-mouse-per-line arm the mouse is the arm, :mod:`.design`)."""
    base = _draws(draws, "grp_baseline")
    rate = _draws(draws, "grp_rate")
    f = 1.0 if free is None else np.asarray(free, np.float64)
    sb = _draws(draws, "sd_mouse_baseline")[..., None] * f
    sr = _draws(draws, "sd_mouse_rate")[..., None] * f
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
    f = sigmoid(p["logit_sensitive"], np)
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


def derived(data, draws: dict, scale: str = "log", seed: int = 0,
            growth: str = "exponential") -> dict:
    """Per-arm-group derived quantity draws ``(chain, draw, group)`` (float64).

    ``seed`` is the run's seed: the posterior-predictive quantities (time to volume of a new
    mouse, Simeoni T/C) take their own stream derived from it (:mod:`drugbayes.seeding`).
    """
    from .design import design_of

    free = design_of(data).group_free
    rate = _draws(draws, "grp_rate")
    beta = _draws(draws, "grp_deceleration")
    sr = _draws(draws, "sd_mouse_rate")[..., None] * free
    T = max(data.t_end, 1e-9)
    params = curve_params(draws, growth)
    out = {"growth_rate": rate}
    if growth == "regrowth":
        f = sigmoid(params["logit_sensitive"], np)
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
    rng = seeding.rng(seed, "xenograft.derived")
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
            b_n, r_n = _new_mice(draws, rng, free)
            acc.append(_log_v(t_tc, b_n, r_n, params) - b_n)
        log_rtv = np.log(np.mean(np.exp(np.clip(acc, -700, 700)), axis=0))
    if cure is not None:  # a cured mouse decays at d with nothing left to regrow
        dc = np.exp(params["log_regression_rate"])
        with np.errstate(divide="ignore"):
            log_rtv = np.logaddexp(np.log(cure) - dc * t_tc, np.log1p(-cure) + log_rtv)
    out["_log_rtv"] = log_rtv
    b_new, r_new = _new_mice(draws, rng, free)
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
