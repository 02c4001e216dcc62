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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, Issue
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


def derived(data, draws: dict, scale: str = "log", seed: int = PREDICTIVE_SEED) -> dict:
    """Per-arm-group derived quantity draws ``(chain, draw, group)`` (float64)."""
    rate = _draws(draws, "grp_rate")
    beta = _draws(draws, "grp_deceleration")
    sr = _draws(draws, "sd_mouse_rate")[..., None]
    T = max(data.t_end, 1e-9)
    out = {"growth_rate": rate}
    out["mean_growth_rate"] = rate * _g(T, beta) / T
    with np.errstate(divide="ignore"):
        out["doubling_time"] = np.where(rate > 0, np.log(2.0) / np.where(rate > 0, rate, 1.0),
                                        np.inf)
    t_tc = data.tc_day - data.start_day
    g_tc = _g(t_tc, beta)
    out["_log_rtv"] = rate * g_tc + 0.5 * (sr * g_tc) ** 2
    rng = np.random.default_rng(seed)
    b_new, r_new = _new_mice(draws, rng)
    target = np.log(data.target_volume) if scale == "log" else np.log1p(data.target_volume)
    out["time_to_volume"] = time_to_log_volume(b_new, r_new, beta, target)
    return out


UNITS = {"growth_rate": "1/day", "mean_growth_rate": "1/day", "doubling_time": "day",
         "growth_rate_difference": "1/day", "growth_rate_ratio": "ratio",
         "p_slower_than_control": "probability", "tc_ratio": "ratio", "tgi": "fraction",
         "time_to_volume": "day", "bliss_excess": "1/day", "p_synergy_bliss": "probability",
         "hsa_excess": "1/day", "p_synergy_hsa": "probability"}


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
                        scale: str = "log", growth: str | None = None) -> pd.DataFrame:
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
        ``"gompertz"`` adds ``mean_growth_rate``.
    """
    diag = method == "nuts"
    dq = derived(data, draws, scale)
    gompertz = growth == "gompertz" or bool(np.any(_draws(draws, "grp_deceleration") > 0))
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
    for c in contrasts or []:
        frames += _synergy_rows(data, dq, c, prob, diag)
    out = pd.concat(frames, ignore_index=True)
    out["interval_prob"] = prob
    order = {(a, b): i for i, (a, b) in enumerate(zip(cl, arm))}
    out["_g"] = [order.get((a, b), len(order)) for a, b in zip(out["cell_line"], out["arm"])]
    out = out.sort_values(["_g"], kind="stable").drop(columns="_g").reset_index(drop=True)
    return out[COLUMNS]


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

    def flat(name):
        a = np.asarray(s[name], np.float64)
        return a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])

    rng = np.random.default_rng(PREDICTIVE_SEED)
    n = flat("grp_rate").shape[0]
    idx = np.linspace(0, n - 1, min(n, max_draws)).astype(int)
    sub = {k: flat(k)[idx][None] for k in ("grp_baseline", "grp_rate", "grp_deceleration",
                                           "sd_mouse_baseline", "sd_mouse_rate", "corr_mouse")}
    sigma = flat("sigma")[idx]
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
            beta = sub["grp_deceleration"][0, :, g][:, None]
            traj = b_new[0, :, g][:, None] + r_new[0, :, g][:, None] * _g(tg[None], beta)
            traj = traj + sigma[:, None] * rng.standard_normal(traj.shape)
            typ = sub["grp_baseline"][0, :, g][:, None] + sub["grp_rate"][0, :, g][:, None] * _g(
                tg[None], beta)
            conv = np.expm1 if log1p else np.exp
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
    r = flat("grp_rate")
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
