"""Plots of the ``joint`` family: the in-vitro -> in-vivo link."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...report.plots import _safe, figure_folder, pyplot, save_figure
from ..xenograft.spec import TIME_SCALE


def plot_joint(result, folder: Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """One figure per linked drug: each line's in-vitro inhibition at the in-vivo
    concentration (``1 - v(C)``, posterior median and interval) against its in-vivo growth-rate
    reduction (control rate - single-drug arm rate, from the xenograft's arm rates), lines as
    labelled points; with ``link = "viability"`` the link ``rmax * (1 - v)`` with its band."""
    data = result.data
    s = result.inference.samples
    if "xenograft" not in data.blocks or "link.viability_at_c" not in s:
        return []
    plt = pyplot()
    folder = figure_folder(folder)
    xe = data.blocks["xenograft"]
    prob = result.interval_prob
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    v = np.asarray(s["link.viability_at_c"], np.float64).reshape(-1, len(data.link_units))
    rate = np.asarray(s["xenograft.grp_rate"], np.float64)
    rate = rate.reshape(-1, rate.shape[-1])
    ctrl = {xe.group_cell[g]: g for g in range(xe.n_groups)
            if xe.arms[xe.group_arm[g]] == xe.control_arm}
    ldrugs = sorted(set(int(x) for x in data.unit_drug))
    files: list[Path] = []
    for k, d in enumerate(ldrugs):
        name = data.drugs[d]
        fig, ax = plt.subplots(figsize=(5, 4))
        if "link.rmax_10d" in s:
            rmax = np.asarray(s["link.rmax_10d"], np.float64).reshape(-1, len(ldrugs))[:, k]
            grid = np.linspace(0, 1, 50)
            band = rmax[:, None] / TIME_SCALE * grid[None, :]
            ax.fill_between(grid, np.quantile(band, lo, axis=0), np.quantile(band, hi, axis=0),
                            alpha=0.25, color="C0", label=f"link rmax (1 - v), {prob:.0%}")
            ax.plot(grid, np.median(band, axis=0), color="C0")
        for g in range(xe.n_groups):
            u = int(data.group_units[g, 0])
            if u < 0 or data.group_units[g, 1] >= 0 or int(data.unit_drug[u]) != d:
                continue  # a single-drug arm of this drug only
            c = ctrl.get(xe.group_cell[g])
            if c is None:
                continue
            inh = 1.0 - v[:, u]
            red = rate[:, c] - rate[:, g]
            ax.errorbar(np.median(inh), np.median(red),
                        xerr=[[np.median(inh) - np.quantile(inh, lo)],
                              [np.quantile(inh, hi) - np.median(inh)]],
                        yerr=[[np.median(red) - np.quantile(red, lo)],
                              [np.quantile(red, hi) - np.median(red)]], fmt="o", color="C1")
            ax.annotate(xe.cell_lines[xe.group_cell[g]], (np.median(inh), np.median(red)),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(f"in-vitro inhibition at the in-vivo concentration, 1 - v(C) ({name})")
        ax.set_ylabel("in-vivo growth-rate reduction (1/day)")
        ax.set_title(f"link: {name}")
        ax.legend(loc="upper left", fontsize=7)
        files += save_figure(fig, folder, f"link_{_safe(name)}", formats)
    files += _arm_rates(result, folder, formats, plt)
    return files


def _arm_rates(result, folder: Path, formats: tuple[str, ...], plt) -> list[Path]:
    """Each xenograft arm's growth rate given by the link (posterior median and interval)
    against the observed one (the mean of its mice's least-squares slopes of log volume on
    days above the detection limit); predicted arms (lines without a xenograft) listed with
    their interval at the right."""
    data = result.data
    xe = data.blocks["xenograft"]
    s = result.inference.samples
    prob = result.interval_prob
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    rate = np.asarray(s["xenograft.grp_rate"], np.float64)
    rate = rate.reshape(-1, rate.shape[-1])
    lv = np.log(np.maximum(np.asarray(xe.volume, np.float64), 1e-9))
    ok = xe.mask & ~xe.censored
    slopes = np.full(xe.n_mice, np.nan)
    for m in range(xe.n_mice):
        if ok[m].sum() >= 2:
            slopes[m] = np.polyfit(xe.t[m][ok[m]], lv[m][ok[m]], 1)[0]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for g in range(xe.n_groups):
        obs = np.nanmean(slopes[xe.mouse_group == g])
        r = rate[:, g]
        ax.errorbar(obs, np.median(r), yerr=[[np.median(r) - np.quantile(r, lo)],
                                             [np.quantile(r, hi) - np.median(r)]],
                    fmt="o", color="C0")
        ax.annotate(xe.group_labels[g], (obs, np.median(r)), textcoords="offset points",
                    xytext=(4, 4), fontsize=7)
    lim = ax.get_xlim()
    ax.plot(lim, lim, color="grey", lw=0.8, ls="--")
    if data.predict and "link.predicted_rate" in s:
        pr = np.asarray(s["link.predicted_rate"], np.float64).reshape(-1, len(data.predict))
        x = lim[1]
        for i, p in enumerate(data.predict):
            ax.errorbar(x, np.median(pr[:, i]), yerr=[[np.median(pr[:, i])
                                                      - np.quantile(pr[:, i], lo)],
                                                     [np.quantile(pr[:, i], hi)
                                                      - np.median(pr[:, i])]],
                        fmt="s", color="C3")
            ax.annotate(f"predicted {p['cell_line']}|{p['arm']}", (x, np.median(pr[:, i])),
                        textcoords="offset points", xytext=(-4, 4), fontsize=7, ha="right",
                        color="C3")
    ax.set_xlabel("observed growth rate (mean of the mice's slopes, 1/day)")
    ax.set_ylabel(f"linked growth rate, median and {prob:.0%} interval (1/day)")
    ax.set_title("xenograft arms: linked vs observed growth")
    return save_figure(fig, folder, "arm_rates", formats)
