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
    return files
