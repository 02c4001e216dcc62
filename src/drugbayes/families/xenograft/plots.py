"""Plots of the ``xenograft`` family."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import seeding
from ...report.plots import _safe, figure_folder, misfit_mark, pyplot, save_figure, units_to_plot
from .derived import _log_v, _new_mice, curve_params, initial_rate
from .mrecist import _flat_sub, _noise_sd


# ----------------------------------------------------------------------------------- plots
def plot_xenograft(result, folder: Path, formats: tuple[str, ...] = ("png",),
                   max_draws: int = 400) -> list[Path]:
    """Spaghetti plots per cell line (each arm's mice over its posterior predictive band) and a
    growth-rate forest plot.

    The band is the interval (run's interval probability) of a new mouse's measured volume
    (mouse variability and measurement error included, typical experiment); the line is the
    typical mouse's median trajectory.
    """
    plt = pyplot()
    folder = figure_folder(folder)
    data = result.data
    s = result.inference.samples
    prob = result.interval_prob
    log1p = getattr(result.spec.options, "scale", "log") == "log1p"

    growth = getattr(result.spec.options, "growth", "exponential")
    rng = seeding.rng(getattr(result, "seed", 0), "xenograft.plots")
    names = ("grp_baseline", "grp_rate", "grp_deceleration", "sd_mouse_baseline",
             "sd_mouse_rate", "corr_mouse", "log_linear_rate_10d", "log_regression_rate_10d",
             "logit_sensitive", "grp_cure_fraction", "sigma", "sigma_caliper")
    sub = _flat_sub(s, names, max_draws)
    params = curve_params(sub, growth)
    sigma = _noise_sd(sub)[0]
    from .design import design_of

    b_new, r_new = _new_mice(sub, rng, design_of(data).group_free)
    tg = np.linspace(0, data.t_end, 80)
    files = []
    cmap = plt.get_cmap("tab10")
    for cc in units_to_plot(result, list(data.cell_lines), "cell line"):
        cname = data.cell_lines[cc]
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
            bad = [data.mice[m] for m in np.flatnonzero(data.mouse_group == g)
                   if misfit_mark(result, data.mice[m])]
            ax.set_title(data.arms[data.group_arm[g]]
                         + (f" [misfit: {', '.join(bad)}]" if bad else ""), fontsize=9)
            ax.set_xlabel("day")
            if k % ncol == 0:
                ax.set_ylabel("tumour volume (mm$^3$)")
        for k in range(len(groups), nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.suptitle(f"{cname or 'xenograft'}: mice and {prob:.0%} posterior predictive band "
                     f"({result.inference.method}); v = at/below detection limit", fontsize=9)
        files += save_figure(fig, folder, f"xenograft_growth_{_safe(cname or 'all')}", formats)
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
    files += save_figure(fig, folder, "xenograft_growth_rates", formats)
    return files + plot_carried_weight(data, folder, formats)


def plot_carried_weight(data, folder: Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """Each mouse's carried body weight over time, one panel per arm (for every carried
    numeric column whose name contains "weight"; not modelled)."""
    cols = [c for c in getattr(data, "carried_obs", {}) if "weight" in c.lower()]
    if not cols:
        return []
    plt = pyplot()
    files: list[Path] = []
    for col in cols:
        w = data.carried_obs[col]
        n = len(data.arms)
        ncol = min(n, 4)
        nrow = int(np.ceil(n / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.8 * nrow), sharey=True,
                                 squeeze=False)
        arm_of = np.asarray(data.group_arm)[np.asarray(data.mouse_group)]
        for a, name in enumerate(data.arms):
            ax = axes[a // ncol][a % ncol]
            for m in np.flatnonzero(arm_of == a):
                ok = data.mask[m] & np.isfinite(w[m])
                ax.plot(data.day[m][ok], w[m][ok], color="0.3", lw=0.7, alpha=0.6)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("day")
            if a % ncol == 0:
                ax.set_ylabel(col)
        for k in range(n, nrow * ncol):
            axes[k // ncol][k % ncol].set_visible(False)
        fig.suptitle(f"{col} per mouse (carried from the table, not modelled)", fontsize=9)
        files += save_figure(fig, folder, f"xenograft_{_safe(col)}", formats)
    return files
