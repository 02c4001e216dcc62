"""The result of a fit: the labelled posterior, diagnostics and the family's summaries."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .families import Spec, get_family
from .inference.registry import Approximation, get_backend
from .inference.settings import InferenceResult
from .report.summary import point_estimate_only

__all__ = ["FitResult", "LOO_HIGH_K", "LOO_HIGH_K_SHARE", "loo_reliability"]

LOO_HIGH_K = 0.7
"""Pareto k above which a unit's PSIS-LOO term is unreliable."""

LOO_HIGH_K_SHARE = 0.1
"""Share of units with a high Pareto k above which the LOO estimate as a whole is unreliable."""


def loo_reliability(res: Any) -> dict:
    """How many units of a PSIS-LOO result (``arviz_stats.loo``, pointwise) have Pareto
    k > :data:`LOO_HIGH_K`, and whether that is more than :data:`LOO_HIGH_K_SHARE` of them."""
    import numpy as np

    k = np.asarray(getattr(res, "pareto_k", []), np.float64).ravel()
    n_high = int(np.sum(k > LOO_HIGH_K))
    share = n_high / k.size if k.size else 0.0
    bad = share > LOO_HIGH_K_SHARE
    note = (f"Pareto k > {LOO_HIGH_K} for {n_high} of {k.size} units ({share:.0%}): PSIS-LOO is "
            "unreliable; use result.kfold(k=5) (K-fold by unit, refitting with the same "
            "back-end and settings)" if bad else
            f"Pareto k > {LOO_HIGH_K} for {n_high} of {k.size} units")
    return {"n_units": int(k.size), "n_high_pareto_k": n_high, "share_high_pareto_k": share,
            "unreliable": bool(bad), "note": note}


def _n_draws(samples: dict) -> int:
    """Draws (chains x draws) of a back-end's samples."""
    import numpy as np

    first = np.shape(next(iter(samples.values()))) if samples else (0, 0)
    return int(first[0] * first[1]) if len(first) >= 2 else 0


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
    well_variables : list of str
        Posterior variables with one value per well (:func:`drugbayes.posterior.
        well_variables`): written to ``posterior.nc`` only on request.
    max_unit_plots : int, optional
        Per-unit figures drawn at most by :meth:`plot` (``None``: all).
    plots_omitted : list of str
        The per-unit figures :meth:`plot` left out (over ``max_unit_plots``).
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
    well_variables: list[str] = field(default_factory=list)
    max_unit_plots: int | None = None
    plots_omitted: list[str] = field(default_factory=list)
    unit_checks: Any = None
    row_checks: Any = None
    settings: Any = None
    comparison: Any = None
    _summaries: dict = field(default_factory=dict, repr=False)

    @property
    def family(self):
        """The fitted family (from the registry)."""
        return get_family(self.spec.family)

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
            from .report.checks import add_columns

            table = add_columns(self._summary_without_checks(prob), self.unit_checks,
                                self.row_checks)
            fam = self.family
            if self.comparison is not None and fam.with_comparison:
                table = fam.with_comparison(table, self.comparison)
            self._summaries[prob] = table
        return self._summaries[prob].copy()

    def set_comparison(self, table: pd.DataFrame) -> None:
        """The per-unit comparison with the family's reference model (its columns join the
        summary, the table the run directory's tables)."""
        self.comparison = table
        self._forget_final_summaries()

    def _forget_final_summaries(self) -> None:
        """Drop the summaries with check and comparison columns (kept: those without, which
        the checks read)."""
        for k in [k for k in self._summaries if not isinstance(k, tuple)]:
            del self._summaries[k]

    def _summary_without_checks(self, prob: float | None = None) -> pd.DataFrame:
        """The family's summary table before the check columns are added (computed once per
        interval probability: the checks and :meth:`summary` read the same table)."""
        key = ("without_checks", prob or self.interval_prob)
        if key not in self._summaries:
            table = self.family.summarize(self.data, self.inference.samples, self.contrasts,
                                          key[1], self.inference.method, spec=self.spec,
                                          seed=self.seed)
            self._summaries[key] = (table if self.approximation.draws
                                    else point_estimate_only(table))
        return self._summaries[key].copy()

    def check_units(self, thresholds: Any) -> dict:
        """Per-unit posterior predictive checks and per-row contraction
        (:mod:`drugbayes.report.checks`), recorded in ``diagnostics["unit_checks"]``, the
        summary's columns and the log; returns the record.

        ``thresholds`` is the run's ``[diagnostics]`` (``unit_checks``, ``ppc_threshold``,
        ``ppc_draws``, ``contraction_threshold``, ``prior_draws``). A run without draws (a
        point estimate) gets no checks.
        """
        import logging

        from .report.checks import contraction_columns, predictive_checks, row_labels

        log = logging.getLogger("drugbayes")
        rec: dict[str, Any] = {"ppc_threshold": thresholds.ppc_threshold,
                               "contraction_threshold": thresholds.contraction_threshold}
        self.diagnostics["unit_checks"] = rec
        self._forget_final_summaries()
        if not thresholds.unit_checks:
            rec["note"] = "unit checks turned off ([diagnostics] unit_checks = false)"
            return rec
        if not self.approximation.draws:
            rec["note"] = "a point estimate has no posterior draws: no checks"
            return rec
        t0 = time.perf_counter()
        units, why = predictive_checks(self.family, self.spec, self.data,
                                       self.inference.samples, self.seed,
                                       thresholds.ppc_threshold, thresholds.ppc_draws)
        if units is not None:
            units.attrs["threshold"] = thresholds.ppc_threshold
            bad = units[units["misfit"]]
            level = units["level"].iloc[0] if len(units) else ""
            rec.update({"unit": level, "n_units": int((units["level"] != "parent").sum()),
                        "discrepancy": units.attrs.get("discrepancy", ""),
                        "n_draws": min(thresholds.ppc_draws, _n_draws(self.inference.samples)),
                        "n_misfit": int((bad["level"] != "parent").sum()),
                        "misfit": [{"unit": r.label, "level": r.level, "ppc_p": float(r.ppc_p)}
                                   for r in bad.itertuples()]})
            for r in bad.itertuples():
                log.warning("misfit: %s %s (posterior predictive p = %.3g < %g)", r.level,
                            r.label, r.ppc_p, thresholds.ppc_threshold)
        else:
            rec["ppc_note"] = why
            log.info("no posterior predictive checks: %s", why)
        self.unit_checks = units
        t1 = time.perf_counter()
        self._summary_without_checks()  # computed once, read by the contraction columns
        t2 = time.perf_counter()
        rows, note = contraction_columns(self, thresholds.contraction_threshold,
                                         thresholds.prior_draws, thresholds.ppc_draws * 2)
        self.row_checks = rows
        self.diagnostics.setdefault("timings", {}).update(
            unit_checks_predictive=t1 - t0, summary=t2 - t1,
            unit_checks_contraction=time.perf_counter() - t2)
        loo_rec = self.loo_summary()
        if loo_rec is not None:
            rec["loo"] = loo_rec
        table = self._summary_without_checks()
        pd_rows = table[rows["prior_dominated"].fillna(False).to_numpy(bool)]
        pooled = table[rows["pooled"].fillna(False).to_numpy(bool)]
        rec["n_prior_dominated"] = len(pd_rows)
        rec["prior_dominated"] = row_labels(pd_rows)
        rec["n_pooled"] = len(pooled)
        rec["pooled"] = row_labels(pooled)
        if note:
            rec["contraction_note"] = note
        def names(items: list[str], most: int = 50) -> str:
            more = f" and {len(items) - most} more (diagnostics.json)" if len(items) > most else ""
            return ", ".join(items[:most]) + more

        if len(pd_rows):
            log.warning("prior-dominated (contraction < %g): %s",
                        thresholds.contraction_threshold, names(rec["prior_dominated"]))
        if len(pooled):
            log.info("pooled (the unit's own data add little to the population): %s",
                     names(rec["pooled"]))
        return rec

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """The family's further tables of a run directory (file name -> table; may be empty);
        a table with one row per checked unit gets the units' ``ppc_p`` and ``misfit``."""
        from .report.checks import add_columns

        fam = get_family(self.spec.family)
        tables = fam.extra_tables(self) if fam.extra_tables else {}
        if self.comparison is not None:
            name = self.comparison.attrs.get("file", "reference_comparison.csv")
            tables = {**tables, name: self.comparison}
        units = self.unit_checks
        if units is None or not len(units):
            return tables
        out = {}
        for name, t in tables.items():  # a table of the checked units (e.g. one row per
            keys = set(units["keys"].iloc[0])  # mouse) gets their ppc_p and misfit
            out[name] = (add_columns(t, units, None).drop(
                columns=["contraction", "prior_dominated", "pooled"])
                if keys <= set(t.columns) else t)
        return out

    def posterior_to_write(self, well_draws: bool = False) -> xr.DataTree:
        """The DataTree as written: without the per-well variables unless ``well_draws``."""
        drop = [] if well_draws else [v for v in self.well_variables
                                      if v in self.posterior.children["posterior"].data_vars]
        if not drop:
            return self.posterior
        tree = self.posterior.copy()
        tree["posterior"] = xr.DataTree(tree.children["posterior"].to_dataset(inherit=False)
                                        .drop_vars(drop))
        return tree

    def to_netcdf(self, path: str | Path, well_draws: bool = True,
                  compress: bool = True) -> Path:
        """Write the DataTree to a netCDF file (h5netcdf engine).

        Parameters
        ----------
        well_draws : bool
            Keep the per-well posterior variables (``well_variables``).
        compress : bool
            Chunked, gzip-compressed variables (:func:`drugbayes.posterior.netcdf_encoding`).
        """
        from .posterior import netcdf_encoding

        path = Path(path)
        tree = self.posterior_to_write(well_draws)
        enc = netcdf_encoding(tree) if compress else None
        tree.to_netcdf(path, engine="h5netcdf", encoding=enc)
        return path

    def loo(self, pointwise: bool = False):
        """PSIS-LOO (``arviz_stats.loo``) on the DataTree's ``log_likelihood`` group.

        The unit is the family's (xenograft: a mouse, its whole series). Compare presets
        fitted to the same table with :func:`arviz_stats.compare`. Where Pareto k > 0.7 for
        more than 10% of the units the estimate is unreliable: the warning is logged, set on
        the result and printed under its table, naming :meth:`kfold` (K-fold by unit) as the
        alternative. Pointwise values are always computed (``pointwise`` is kept for
        compatibility).
        """
        from arviz_stats import loo

        if "log_likelihood" not in self.posterior.children:
            raise ValueError(f"family {self.spec.family!r} records no log-likelihood")
        res = loo(self.posterior, pointwise=True)
        note = loo_reliability(res)
        if note["unreliable"]:
            import logging

            logging.getLogger("drugbayes").warning("LOO: %s", note["note"])
            res.warning = True
            footer = res._footer()
            # the printed table ends with the reason and the alternative
            res._footer = lambda: f"{footer}\n{note['note']}"
        return res

    def loo_summary(self) -> dict | None:
        """PSIS-LOO in brief (``elpd_loo``, its ``se``, the units with Pareto k > 0.7 and
        whether that is more than :data:`LOO_HIGH_K_SHARE` of them: then LOO is unreliable and
        :meth:`kfold` is the alternative); None for a family without a log-likelihood."""
        if "log_likelihood" not in self.posterior.children or not self.approximation.draws:
            return None
        res = self.loo(pointwise=True)
        return {"elpd_loo": float(res.elpd), "se": float(res.se), **loo_reliability(res)}

    def kfold(self, k: int = 5) -> dict:
        """K-fold cross-validation by unit: the reliable alternative to PSIS-LOO where many
        Pareto k exceed 0.7.

        The units (the family's, e.g. mice) are split at random (from the run's seed) into
        ``k`` folds; each fold is masked out of the data and the model refitted with the same
        back-end and settings, so the held-out units' parameters come from the population;
        each held-out unit's log predictive density is ``log mean_s p(y_unit | theta_s)``
        over the refit's draws.

        Returns
        -------
        dict
            ``elpd_kfold``, ``se``, ``k``, ``seconds`` and ``pointwise`` (a table: unit, fold,
            elpd).

        Raises
        ------
        ValueError
            The family has no per-unit log-likelihood or cannot hold units out, or the run
            has no posterior draws.
        """
        import time

        import numpy as np
        from scipy.special import logsumexp

        from . import seeding
        from .inference.registry import FitTask

        fam = self.family
        decl = fam.units(self.data, self.spec) if fam.units is not None else None
        if decl is None or decl.hold_out is None or fam.pointwise is None:
            raise ValueError(f"family {fam.name!r} cannot hold units out for K-fold")
        if self.settings is None or not self.approximation.draws:
            raise ValueError("K-fold needs a run with posterior draws and its settings")
        n = len(decl.labels)
        if not 2 <= k <= n:
            raise ValueError(f"k = {k}: need 2 <= k <= {n} (the units)")
        t0 = time.perf_counter()
        perm = seeding.rng(self.seed, "kfold").permutation(n)
        folds = np.array_split(perm, k)
        elpd = np.full(n, np.nan)
        fold_of = np.zeros(n, int)
        backend = get_backend(self.settings.method)
        for i, fold in enumerate(folds):
            d = decl.hold_out(self.data, fold)
            res = backend.run(FitTask(fam, self.spec, d, fam.arrays(d)), self.settings,
                              self.seed)
            pw = fam.pointwise(self.data, self.spec, res.samples, seed=self.seed)
            ll = next(v for key, v in pw.items() if key.startswith("log_lik_"))
            ll = np.asarray(ll, np.float64).reshape(-1, n)[:, fold]
            elpd[fold] = logsumexp(ll, axis=0) - np.log(ll.shape[0])
            fold_of[fold] = i
        table = pd.DataFrame({"unit": decl.labels, "fold": fold_of, "elpd": elpd})
        return {"elpd_kfold": float(elpd.sum()), "se": float(np.sqrt(n * np.var(elpd))),
                "k": k, "seconds": time.perf_counter() - t0, "pointwise": table}

    def plot(self, folder: str | Path, formats: tuple[str, ...] = ("png",),
             max_unit_plots: int | None = None) -> list[Path]:
        """Write the run's overview and the family's plots into ``folder``; returns the files.

        ``max_unit_plots`` caps the family's per-unit figures (one per drug, combination, cell
        line); the ones left out are listed in ``plots_omitted`` and the log.
        """
        from .report.plots import overview

        fam = get_family(self.spec.family)
        self.max_unit_plots = max_unit_plots
        self.plots_omitted = []
        files = overview(self, Path(folder), formats, fam.headline)
        if fam.plot is not None:
            files += fam.plot(self, Path(folder), formats)
        return files
