"""Simulator of the ``combination`` family: checkerboards with known MuSyC parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ...curves import musyc_e3
from .surfaces import hill_fraction, loewe_null, musyc_surface


# ------------------------------------------------------------------------ simulation
def simulate_wells(truth: pd.DataFrame, doses_a: ArrayLike | dict, doses_b: ArrayLike | dict,
                   *, n_replicates: int = 3,
                   n_experiments: int = 1, noise_sd: float = 0.05,
                   experiment_beta_sd: float = 0.05, experiment_log_alpha_sd: float = 0.1,
                   experiment_log_top_sd: float = 0.03, seed: int = 0,
                   return_realised: bool = False
                   ) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Checkerboard wells (``0`` plus ``doses_*`` for each drug) for each truth row.

    Parameters
    ----------
    truth : DataFrame
        One row per cell line x pair: ``cell_line, drug_a, drug_b, e0, e1, e2, beta, c1, c2,
        h1, h2, log_alpha12, log_alpha21`` (doses in the unit of ``doses_*``).
    doses_a, doses_b : array or dict
        Positive doses, or ``{cell_line: doses}``.
    return_realised : bool
        Also return the parameters each matrix was simulated with (the truth plus that
        experiment's deviations): one row per experiment x truth row, the truth's columns with
        ``beta``, ``log_alpha12``, ``log_alpha21``, ``e0``, ``e1``, ``e2`` replaced by the
        realised values, and ``experiment``. The random stream, hence the wells, is the same
        either way.
    """
    rng = np.random.default_rng(seed)
    rows, realised = [], []
    for e in range(n_experiments):
        ename = f"EXP{e + 1}" if n_experiments > 1 else ""
        for r in truth.itertuples():
            da = np.asarray(doses_a[r.cell_line] if isinstance(doses_a, dict) else doses_a, float)
            dbb = np.asarray(doses_b[r.cell_line] if isinstance(doses_b, dict) else doses_b,
                             float)
            ga = np.concatenate([[0.0], da])
            gb = np.concatenate([[0.0], dbb])
            A, B = np.meshgrid(ga, gb, indexing="ij")
            beta = r.beta + (rng.normal(0, experiment_beta_sd) if n_experiments > 1 else 0)
            la12 = r.log_alpha12 + (rng.normal(0, experiment_log_alpha_sd)
                                    if n_experiments > 1 else 0)
            la21 = r.log_alpha21 + (rng.normal(0, experiment_log_alpha_sd)
                                    if n_experiments > 1 else 0)
            top = np.exp(rng.normal(0, experiment_log_top_sd)) if n_experiments > 1 else 1.0
            e0, e1, e2 = r.e0 * top, r.e1 * top, r.e2 * top
            realised.append({**r._asdict(), "experiment": ename, "beta": beta,
                             "log_alpha12": la12, "log_alpha21": la21, "e0": e0, "e1": e1,
                             "e2": e2})
            e3 = musyc_e3(e0, e1, e2, beta, np)
            with np.errstate(divide="ignore"):
                xa = np.where(A > 0, np.log10(np.where(A > 0, A, 1)), -np.inf)
                xb = np.where(B > 0, np.log10(np.where(B > 0, B, 1)), -np.inf)
            v = musyc_surface(xa, xb, np.log10(r.c1), np.log10(r.c2), r.h1, r.h2, e0, e1, e2,
                              e3, la12, la21)
            for rep in range(n_replicates):
                y = v + rng.normal(0, noise_sd, v.shape)
                for i, j in np.ndindex(v.shape):
                    rows.append({"experiment": ename, "cell_line": r.cell_line,
                                 "drug_a": r.drug_a, "dose_a": float(A[i, j]),
                                 "drug_b": r.drug_b, "dose_b": float(B[i, j]),
                                 "replicate": rep + 1, "response": round(float(y[i, j]), 5)})
    df = pd.DataFrame(rows)
    if n_experiments == 1:
        df = df.drop(columns="experiment")
    if return_realised:
        return df, pd.DataFrame(realised).drop(columns="Index")
    return df


def true_excess(truth: pd.DataFrame, doses_a: ArrayLike | dict, doses_b: ArrayLike | dict
                ) -> pd.DataFrame:
    """The true Bliss/HSA/Loewe excess and model-based ZIP delta of each truth row, averaged
    over its combination wells."""
    out = []
    for r in truth.itertuples():
        da = np.asarray(doses_a[r.cell_line] if isinstance(doses_a, dict) else doses_a, float)
        dbb = np.asarray(doses_b[r.cell_line] if isinstance(doses_b, dict) else doses_b, float)
        A, B = np.meshgrid(np.log10(da), np.log10(dbb), indexing="ij")
        e3 = musyc_e3(r.e0, r.e1, r.e2, r.beta, np)
        v = musyc_surface(A, B, np.log10(r.c1), np.log10(r.c2), r.h1, r.h2, r.e0, r.e1, r.e2,
                          e3, r.log_alpha12, r.log_alpha21) / r.e0
        fa = hill_fraction(A, np.log10(r.c1), r.h1, r.e1 / r.e0)
        fb = hill_fraction(B, np.log10(r.c2), r.h2, r.e2 / r.e0)
        lo = loewe_null(A, B, np.log10(r.c1), np.log10(r.c2), r.h1, r.h2, r.e1 / r.e0,
                        r.e2 / r.e0)
        out.append({"bliss_excess": float(np.mean(fa * fb - v)),
                    "zip_delta": float(np.mean(fa * fb - v)),
                    "hsa_excess": float(np.mean(np.minimum(fa, fb) - v)),
                    "loewe_excess": float(np.mean(lo - v))})
    return pd.concat([truth.reset_index(drop=True), pd.DataFrame(out)], axis=1)


def simulate(n_cell_lines: int = 4, *, n_doses: int = 5, n_replicates: int = 3,
             n_experiments: int = 1, noise_sd: float = 0.05, seed: int = 0
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a two-drug checkerboard screen (drugs ``DA`` x ``DB``, doses in uM) with truth.

    Returns
    -------
    (wells, truth)
        ``truth`` has one row per cell line with the MuSyC parameters and the true averaged
        Bliss/HSA/Loewe excess.
    """
    rng = np.random.default_rng(seed)
    doses = np.logspace(-2, 1, n_doses)
    rows = []
    for i in range(n_cell_lines):
        e0 = 1.0
        rows.append({"cell_line": f"CL{i + 1:02d}", "drug_a": "DA", "drug_b": "DB", "e0": e0,
                     "e1": float(rng.uniform(0.1, 0.4)), "e2": float(rng.uniform(0.3, 0.6)),
                     "beta": float(rng.normal(0.3, 0.15)),
                     "c1": float(10 ** rng.normal(-0.5, 0.3)),
                     "c2": float(10 ** rng.normal(-0.5, 0.3)),
                     "h1": float(np.exp(rng.normal(0, 0.2))),
                     "h2": float(np.exp(rng.normal(0, 0.2))),
                     "log_alpha12": float(rng.normal(0.7, 0.3)),
                     "log_alpha21": float(rng.normal(0.0, 0.3))})
    truth = pd.DataFrame(rows)
    wells = simulate_wells(truth, doses, doses, n_replicates=n_replicates,
                           n_experiments=n_experiments, noise_sd=noise_sd, seed=seed + 1)
    return wells, true_excess(truth, doses, doses)


def simulate_cli(args) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``drugbayes simulate --kind combination``: wells, truth and a line about them."""
    table, truth = simulate(args.cell_lines, n_replicates=args.replicates,
                            n_experiments=args.experiments, seed=args.seed)
    return table, truth, (f"{len(table)} wells of {len(truth)} checkerboards, drugs DA x DB; "
                          "doses in uM, viability fraction")
