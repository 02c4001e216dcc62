"""The result of a fit: the labelled posterior, diagnostics and the family's summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .families import Spec, get_family
from .inference.registry import Approximation, get_backend
from .inference.settings import InferenceResult
from .report.summary import point_estimate_only

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """Result of :func:`drugbayes.fit`.

    Attributes
    ----------
    posterior : xarray.DataTree
        ArviZ DataTree (posterior, sample_stats, observed_data, constant_data), labelled.
    diagnostics : dict
        Thresholds, pass/fail, offending parameters, divergences, timings.
    data : DoseResponseData or XenograftData
        The encoded data (category names kept).
    spec : Spec
        The validated model spec.
    inference : InferenceResult
        Raw draws and timings of the back-end.
    seed : int
        The run's seed: every random draw after the fit (predictive quantities in summaries,
        tables and plots) derives from it (:mod:`drugbayes.seeding`).
    """

    posterior: xr.DataTree
    diagnostics: dict
    data: Any
    spec: Spec
    inference: InferenceResult
    contrasts: list[dict] = field(default_factory=list)
    interval_prob: float = 0.95
    dropped: list[dict] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)
    seed: int = 0
    _summaries: dict = field(default_factory=dict, repr=False)

    @property
    def approximation(self) -> Approximation:
        """What the run's draws are (MCMC, variational, Laplace or a point estimate), from
        the back-end registry."""
        return get_backend(self.inference.method).approximation(self.inference.info)

    def summary(self, interval_prob: float | None = None) -> pd.DataFrame:
        """Tidy summary: one row per group and quantity (plus contrasts).

        Computed once per interval probability (a run writes it and the CLI prints it);
        each call returns a copy. A run without draws (a point estimate) has its
        probabilities and intervals left empty (:func:`~drugbayes.report.summary.
        point_estimate_only`).
        """
        prob = interval_prob or self.interval_prob
        if prob not in self._summaries:
            fam = get_family(self.spec.family)
            table = fam.summarize(self.data, self.inference.samples, self.contrasts, prob,
                                  self.inference.method, spec=self.spec, seed=self.seed)
            if not self.approximation.draws:
                table = point_estimate_only(table)
            self._summaries[prob] = table
        return self._summaries[prob].copy()

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """The family's further tables of a run directory (file name -> table; may be empty)."""
        fam = get_family(self.spec.family)
        return fam.extra_tables(self) if fam.extra_tables else {}

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the DataTree to a netCDF file (h5netcdf engine)."""
        path = Path(path)
        self.posterior.to_netcdf(path, engine="h5netcdf")
        return path

    def loo(self, pointwise: bool = False):
        """PSIS-LOO (``arviz_stats.loo``) on the DataTree's ``log_likelihood`` group.

        The unit is the family's (xenograft: a mouse, its whole series). Compare presets
        fitted to the same table with :func:`arviz_stats.compare`.
        """
        from arviz_stats import loo

        if "log_likelihood" not in self.posterior.children:
            raise ValueError(f"family {self.spec.family!r} records no log-likelihood")
        return loo(self.posterior, pointwise=pointwise)

    def plot(self, folder: str | Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
        """Write the family's plots into ``folder``; returns the files."""
        fam = get_family(self.spec.family)
        if fam.plot is None:
            return []
        return fam.plot(self, Path(folder), formats)
