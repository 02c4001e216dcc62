"""Plots of the ``dose_response`` family: fitted curves with bands and the wells."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...curves import log_logistic
from ...report.plots import _safe, figure_folder, misfit_mark, pyplot, save_figure, units_to_plot


def _viability_points(result):
    """Observed responses as viability (raw signal normalised by posterior-mean plate levels)."""
    data = result.data
    y = np.asarray(data.y, np.float64)
    if data.is_raw:
        s = result.inference.samples
        bg = np.asarray(s["background"]).reshape(-1, len(data.plates)).mean(axis=0)
        un = np.asarray(s["untreated_signal"]).reshape(-1, len(data.plate_cells)).mean(axis=0)
        b = bg[data.plate_cell_plate][data.point_plate_cell]
        y = (y - b) / un[data.point_plate_cell]
    elif data.is_rate:  # back to rate units
        y = y * data.response_ref
    return y


def plot_dose_response(result, folder: Path, formats: tuple[str, ...] = ("png",),
                       max_draws: int = 400) -> list[Path]:
    """One figure per drug: each cell line's fitted curve, its band and the data points.

    The band is the interval of the group-level curve (experiment effects at zero) with the
    run's interval probability; points are wells (viability; raw signal is normalised with the
    posterior-mean background and untreated signal of its plate).
    """
    from .derived import bottom_fraction

    plt = pyplot()
    folder = figure_folder(folder)
    data = result.data
    s = result.inference.samples
    prob = result.interval_prob

    def flat(name):
        a = np.asarray(s[name], np.float64)
        return a.reshape(-1, a.shape[-1])

    L, lh, lb, lt = (flat(k) for k in ("grp_log10_ic50", "grp_log_hill", "grp_logit_bottom",
                                       "grp_log_top"))
    n = L.shape[0]
    idx = np.linspace(0, n - 1, min(n, max_draws)).astype(int)
    L, lh, lb, lt = L[idx], lh[idx], lb[idx], lt[idx]
    yv = _viability_points(result)
    top_ref = data.response_ref if data.is_rate else 1.0
    files = []
    cmap = plt.get_cmap("tab10")
    for j in units_to_plot(result, list(data.drugs), "drug"):
        drug = data.drugs[j]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        groups = np.flatnonzero(data.group_drug == j)
        for k, g in enumerate(groups):
            color = cmap(k % 10)
            lo, hi = data.group_log10_min[g], data.group_log10_max[g]
            xg = np.linspace(lo - 0.5, hi + 0.5, 120)
            v = log_logistic(xg[None], L[:, g][:, None], np.exp(lh[:, g])[:, None],
                             top_ref * np.exp(lt[:, g])[:, None],
                             bottom_fraction(data, lb[:, g])[:, None], xp=np)
            dg = data.dose_scale.to_dose(xg, j)
            qlo, med, qhi = np.quantile(v, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
            ax.fill_between(dg, qlo, qhi, color=color, alpha=0.2, lw=0)
            cl = data.cell_lines[data.group_cell[g]]
            ax.plot(dg, med, color=color, lw=1.8, label=cl + misfit_mark(result, f"{cl}|{drug}"))
            rows = np.flatnonzero(data.curve_group == g)
            m = data.mask[rows] & ~data.is_zero[rows]
            ax.scatter(data.dose_scale.to_dose(data.x[rows][m], j), yv[rows][m], s=10,
                       color=color, alpha=0.7, lw=0)
        ax.set_xscale("log")
        if data.is_rate or data.is_gr:  # below 0: net death
            ax.axhline(0.0, color="0.3", lw=0.8, ls="--")
        if not data.is_rate:
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel(f"{drug} dose ({data.dose_unit})")
        ax.set_ylabel({"rate": f"growth rate ({data.rate_unit}); < 0: net death",
                       "gr": "GR value; < 0: net death"}.get(
            data.response_scale, "viability (fraction of untreated)"))
        ax.set_title(f"{drug}: fitted curves, {prob:.0%} bands ({result.inference.method})")
        ax.legend(fontsize=8, frameon=False, loc="lower left")
        files += save_figure(fig, folder, f"dose_response_{_safe(drug)}", formats)
    return files
