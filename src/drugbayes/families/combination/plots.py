"""Plots of the ``combination`` family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...report.plots import _safe, figure_folder, misfit_mark, pyplot, save_figure, units_to_plot


def plot_combination(result, folder: Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """One figure per combination (cell line x pair): observed and fitted viability, and the
    Bliss/HSA/Loewe synergy maps (posterior mean excess and P(synergy)).

    Heatmaps are on each combination's own dose grid (index 0 = dose 0). Excess =
    null - combination viability (fraction of E0), so positive (red) = synergy. Surfaces are
    computed for the combinations drawn only (at most ``result.max_unit_plots``).
    """
    plt = pyplot()

    from .surfaces import surfaces

    folder = figure_folder(folder)
    data = result.data
    units = units_to_plot(result, list(data.combo_labels), "combination")
    if not units:
        return []
    s = surfaces(data, result.inference.samples, combos=units)
    files = []
    for j, k in enumerate(units):
        label = data.combo_labels[k]
        cell = data.cell_lines[data.combo_cell[k]]
        a = data.drugs[data.pair_a[data.combo_pair[k]]]
        b = data.drugs[data.pair_b[data.combo_pair[k]]]
        ga, gb = data.grid_dose_a[k], data.grid_dose_b[k]
        na, nb = int(np.sum(~np.isnan(ga))), int(np.sum(~np.isnan(gb)))

        def grid(v, na=na, nb=nb):
            return np.asarray(v)[:na, :nb]

        def draws(name, j=j):
            x = s[name][:, :, j]
            return x.reshape((-1,) + x.shape[-2:])

        # (title, values, colour map, vmin, vmax); the all-None panel holds the legend text
        obs, fit = grid(data.grid_y[k]), grid(draws("viability").mean(0))
        if data.is_rate:
            # growth rates: a diverging scale centred on 0, so net death (< 0) shows
            lim = float(np.nanmax(np.abs(np.concatenate([obs.ravel(), fit.ravel()]))))
            what, cmap_s, lo, hi = f"rate ({data.rate_unit})", "PuOr", -lim, lim
        else:
            what, cmap_s, lo, hi = "viability", "viridis", 0.0, 1.1
        panels: list[tuple[str | None, Any, str | None, float | None, float | None]] = [
            (f"observed {what} (mean of wells)", obs, cmap_s, lo, hi),
            (f"fitted {what} (posterior mean)", fit, cmap_s, lo, hi),
            (None, None, None, None, None)]
        nulls = [n for n in ("bliss", "hsa", "loewe") if f"{n}_excess" in s]
        for null in nulls:
            panels.append((f"{null} excess (mean; + = synergy)",
                           grid(draws(f"{null}_excess").mean(0)), "RdBu_r", -0.3, 0.3))
        for null in nulls:
            pos = (data.grid_dose_a[k] > 0)[:, None] & (data.grid_dose_b[k] > 0)[None, :]
            p = np.where(pos, (draws(f"{null}_excess") > 0).mean(0), np.nan)
            panels.append((f"P(synergy), {null}", grid(p), "RdBu_r", 0, 1))
        fig, axes = plt.subplots(3, 3, figsize=(12, 11))
        for ax in axes.ravel()[len(panels):]:
            ax.axis("off")
        for ax, (title, z, cmap, vmin, vmax) in zip(axes.ravel(), panels):
            if title is None:
                ax.axis("off")
                ax.text(0.0, 0.5, f"surfaces: {data.response_label}\n"
                        "excess = null - combination (/ E0)\npositive = synergy\n"
                        f"method: {result.inference.method}", fontsize=10, va="center")
                continue
            im = ax.imshow(z.T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
            ax.set_xticks(range(na))
            ax.set_xticklabels([f"{d:.3g}" for d in ga[:na]], rotation=45, fontsize=7)
            ax.set_yticks(range(nb))
            ax.set_yticklabels([f"{d:.3g}" for d in gb[:nb]], fontsize=7)
            ax.set_xlabel(f"{a} ({data.dose_unit})", fontsize=8)
            ax.set_ylabel(f"{b} ({data.dose_unit})", fontsize=8)
            ax.set_title(title, fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        fig.suptitle(f"{cell}: {a} x {b}{misfit_mark(result, label)}")
        files += save_figure(fig, folder, f"combination_{_safe(label)}", formats, dpi=100)
    return files
