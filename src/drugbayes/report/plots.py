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
