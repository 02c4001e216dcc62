"""Plots (matplotlib, imported lazily, non-interactive backend): helpers shared by the families'
figures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive ``Agg`` backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_folder(folder: Path | str) -> Path:
    """The folder figures are written to (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_figure(fig: Any, folder: Path, stem: str, formats: tuple[str, ...],
                dpi: int = 110) -> list[Path]:
    """Lay out ``fig``, write it as ``folder/<stem>.<format>`` for each format and close it.

    Returns
    -------
    list of Path
        The files written.
    """
    fig.tight_layout()
    files = []
    for fmt in formats:
        f = Path(folder) / f"{stem}.{fmt}"
        fig.savefig(f, dpi=dpi)
        files.append(f)
    pyplot().close(fig)
    return files


def units_to_plot(result: Any, labels: list[str], what: str) -> list[int]:
    """The indices of the units a family draws one figure each for.

    At most ``result.max_unit_plots`` (``None``: all), in order; the others are added to
    ``result.plots_omitted`` and logged, so that a large run lists what it did not draw.

    Parameters
    ----------
    result : FitResult
    labels : list of str
        One label per unit (drug, combination, cell line).
    what : str
        What a unit is, for the log (``"drug"``).
    """
    import logging

    cap = getattr(result, "max_unit_plots", None)
    n = len(labels)
    if cap is None or n <= cap:
        return list(range(n))
    left = [f"{what} {lab}" for lab in labels[cap:]]
    omitted = getattr(result, "plots_omitted", None)
    if isinstance(omitted, list):
        omitted += left
    logging.getLogger("drugbayes").info(
        "plots: %d of %d per-%s figures drawn (report.max_unit_plots = %d); not drawn: %s",
        cap, n, what, cap, ", ".join(str(x) for x in labels[cap:]))
    return list(range(cap))


def overview(result: Any, folder: Path, formats: tuple[str, ...],
             headline: tuple[str, tuple[str, ...]], max_rows: int = 4000) -> list[Path]:
    """One figure per run: the family's first headline quantity for every unit, sorted by
    its median, with its interval (where the run has draws) and the approximation named.

    Units beyond ``max_rows`` (evenly spaced in the sorted order) are left out of the figure;
    so are per-block rows (an ``experiment`` column other than ``"all"``), which repeat their
    unit.
    """
    import numpy as np

    title, quantities = headline
    summary = result.summary()
    rows = summary[summary["quantity"].isin(quantities[:1])] if quantities else summary[:0]
    rows = rows[np.isfinite(rows["median"].to_numpy(np.float64))]
    if "experiment" in rows:  # per-block rows repeat their unit: the unit's own row only
        rows = rows[rows["experiment"].isin(("all", ""))]
    if rows.empty:
        return []
    rows = rows.sort_values("median", kind="stable")
    if len(rows) > max_rows:
        rows = rows.iloc[np.linspace(0, len(rows) - 1, max_rows).astype(int)]
    plt = pyplot()
    folder = figure_folder(folder)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(len(rows))
    med = rows["median"].to_numpy(np.float64)
    lo, hi = rows["lower"].to_numpy(np.float64), rows["upper"].to_numpy(np.float64)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.vlines(x[ok], lo[ok], hi[ok], color="0.6", lw=0.8 if len(rows) < 200 else 0.3)
    ax.scatter(x, med, s=8 if len(rows) < 200 else 2, color="C0", zorder=3)
    approx = result.approximation
    prob = float(rows["interval_prob"].iloc[0]) if "interval_prob" in rows else 0.95
    q = quantities[0]
    unit = str(rows["unit"].iloc[0]) if "unit" in rows else ""
    ax.set_xlabel(f"units sorted by median ({len(rows)})")
    ax.set_ylabel(f"{q} ({unit})" if unit else q)
    band = f"{prob:.0%} intervals" if ok.any() else "no intervals"
    ax.set_title(f"{title}: {q}, medians and {band}\n({approx.name}: "
                 f"{result.inference.method})", fontsize=9)
    return save_figure(fig, folder, "overview", formats)


def misfit_mark(result, label: str) -> str:
    """``" [misfit: ppc p = 0.003]"`` for a unit (or parent unit) the posterior predictive
    check flagged (:mod:`drugbayes.report.checks`), else ``""``: for per-unit plot titles."""
    units = getattr(result, "unit_checks", None)
    if units is None or not len(units):
        return ""
    hit = units[(units["label"] == label) & units["misfit"]]
    return f" [misfit: ppc p = {hit['ppc_p'].iloc[0]:.2g}]" if len(hit) else ""
