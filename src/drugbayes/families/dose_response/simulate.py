"""Simulator of the ``dose_response`` family: known truth and wells (fraction, percent or raw)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...curves import log_logistic, sigmoid
from ...data.schemas import DOSE_UNITS


def draw_dose_response_truth(
    n_cell_lines: int = 5,
    n_drugs: int = 2,
    *,
    dose_range: tuple[float, float] = (1e-3, 10.0),
    n_experiments: int = 1,
    curve: str = "4pl",
    cell_line_sd: float = 0.6,
    curve_ic50_sd: float = 0.3,
    experiment_sd: float = 0.1,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw per-group truth from the ``dose_response`` generative process.

    Returns
    -------
    truth : DataFrame
        ``cell_line, drug, log10_ic50, ic50, hill, top, bottom`` (IC50 in the unit of
        ``dose_range``).
    experiment_effects : array
        Sum-to-zero shifts of log10 IC50 per experiment.
    """
    rng = np.random.default_rng(seed)
    lo, hi = np.log10(dose_range[0]), np.log10(dose_range[1])
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    mu = rng.uniform(mid - 0.5 * half, mid + 0.5 * half, n_drugs)
    cell = rng.normal(0, cell_line_sd, n_cell_lines)
    cell -= cell.mean()
    mu_hill = rng.normal(0.0, 0.2, n_drugs)
    mu_bot = rng.normal(-1.5, 0.7, n_drugs)
    rows = []
    for i in range(n_cell_lines):
        for j in range(n_drugs):
            L = mu[j] + cell[i] + rng.normal(0, curve_ic50_sd)
            rows.append({
                "cell_line": f"CL{i + 1:03d}", "drug": f"D{j + 1:03d}", "log10_ic50": L,
                "ic50": 10.0 ** L, "hill": float(np.exp(mu_hill[j] + rng.normal(0, 0.2))),
                "top": float(np.exp(rng.normal(0, 0.03))) if curve == "4pl" else 1.0,
                "bottom_fraction": float(sigmoid(mu_bot[j] + rng.normal(0, 0.7), np)),
            })
    truth = pd.DataFrame(rows)
    truth["bottom"] = truth["top"] * truth["bottom_fraction"]
    exp = rng.normal(0, experiment_sd, n_experiments)
    exp = exp - exp.mean() if n_experiments > 1 else np.zeros(1)
    return truth, exp


def viability(dose: np.ndarray, log10_ic50: float, hill: float, top: float,
              bottom_fraction: float) -> np.ndarray:
    """True 4PL viability at ``dose`` (same unit as the IC50); dose 0 gives ``top``
    (:func:`drugbayes.curves.log_logistic` in float64)."""
    dose = np.asarray(dose, np.float64)
    pos = dose > 0
    return log_logistic(np.log10(np.where(pos, dose, 1.0)), log10_ic50, hill, top,
                        bottom_fraction, is_zero=~pos, xp=np)


def simulate_wells(
    truth: pd.DataFrame,
    doses: np.ndarray | dict,
    *,
    n_replicates: int = 3,
    experiment_effects: np.ndarray | None = None,
    response_scale: str = "fraction",
    noise_sd: float = 0.05,
    n_vehicle: int = 3,
    n_blank: int = 4,
    background: float = 0.08,
    untreated: float = 1.2,
    plate_sd: float = 0.08,
    rate_e0: float = 0.04,
    doublings: float = 2.0,
    count_time_zero: float = 2000.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate one row per well for each truth row (cell line x drug) and experiment.

    Parameters
    ----------
    truth : DataFrame
        ``cell_line, drug, log10_ic50, hill, top, bottom_fraction``.
    doses : array or dict
        Tested doses (no 0), or ``{(cell_line, drug): doses}`` for mixed ranges.
    response_scale : {"fraction", "percent", "raw", "rate", "gr", "gr_counts"}
        ``raw`` gives plate-reader signal with ``blank`` and ``vehicle`` wells; one plate per
        cell line and experiment, ``signal = background + untreated * viability + noise``
        (``noise_sd`` then in signal units). ``rate``: growth rates ``rate_e0 x curve + noise``
        (``noise_sd`` a fraction of ``rate_e0``; ``bottom_fraction`` < 0 is net death), with
        one untreated (dose 0) well per replicate of each curve. ``gr``: GR values (the
        curve, whose top should be 1, plus noise; ``bottom_fraction`` down to -1).
        ``gr_counts``: cell counts whose GR values are that curve: three ``time_zero`` wells (count
        ``count_time_zero``) and three untreated wells (``doublings`` doublings) per plate,
        treated wells ``x0 (x_ctrl / x0)^log2(1 + GR)``, each with log-normal noise of sd
        ``noise_sd``.
    """
    rng = np.random.default_rng(seed)
    exps = np.zeros(1) if experiment_effects is None else np.asarray(experiment_effects)
    rows = []
    for e, shift in enumerate(exps):
        ename = f"E{e + 1}"
        for cl, sub in truth.groupby("cell_line", sort=False):
            plate = f"P-{ename}-{cl}"
            bg = background * np.exp(rng.normal(0, plate_sd))
            un = untreated * np.exp(rng.normal(0, plate_sd))

            def signal(v, bg=bg, un=un):
                return bg + un * v + rng.normal(0, noise_sd, np.shape(v))

            # drawn only for counts, so that every other scale's draws (and data) stay as
            # they were for a seed
            x0 = xc = 1.0
            if response_scale == "gr_counts":
                x0 = count_time_zero * np.exp(rng.normal(0, plate_sd))
                xc = x0 * 2.0 ** doublings
                for role, level in (("time_zero", x0), ("vehicle", xc)):
                    for k in range(3):
                        rows.append({"experiment": ename, "plate": plate, "well_role": role,
                                     "cell_line": cl, "drug": "", "dose": 0.0,
                                     "replicate": k + 1,
                                     "response": float(level * np.exp(rng.normal(0, noise_sd)))})
            if response_scale == "raw":
                for k in range(n_blank):
                    rows.append({"experiment": ename, "plate": plate, "well_role": "blank",
                                 "cell_line": "", "drug": "", "dose": np.nan,
                                 "replicate": k + 1, "response": float(signal(0.0) - un * 0)})
                for k in range(n_vehicle):
                    rows.append({"experiment": ename, "plate": plate, "well_role": "vehicle",
                                 "cell_line": cl, "drug": "", "dose": 0.0, "replicate": k + 1,
                                 "response": float(signal(1.0))})
            for r in sub.itertuples():
                d = np.asarray(doses[(r.cell_line, r.drug)] if isinstance(doses, dict) else doses,
                               np.float64)
                # growth rates: each replicate has an untreated well (dose 0) in its curve
                d_rep = np.concatenate([[0.0], d]) if response_scale == "rate" else d
                for rep in range(n_replicates):
                    v = viability(d_rep, r.log10_ic50 + shift, r.hill, r.top,
                                  r.bottom_fraction)
                    if response_scale == "raw":
                        y = signal(v)
                    elif response_scale == "rate":
                        y = rate_e0 * (v + rng.normal(0, noise_sd, len(d_rep)))
                    elif response_scale == "gr_counts":
                        y = x0 * (xc / x0) ** np.log2(np.maximum(1.0 + v, 1e-9)) * np.exp(
                            rng.normal(0, noise_sd, len(d_rep)))
                    else:
                        y = v + rng.normal(0, noise_sd, len(d_rep))
                        if response_scale == "percent":
                            y = 100.0 * y
                    for dd, yy in zip(d_rep, y):
                        rows.append({"experiment": ename, "plate": plate, "well_role": "sample",
                                     "cell_line": r.cell_line, "drug": r.drug, "dose": float(dd),
                                     "replicate": rep + 1, "response": float(yy)})
    df = pd.DataFrame(rows)
    if response_scale not in ("raw", "gr_counts"):
        df = df.drop(columns=["well_role"])
    return df


def simulate_dose_response(
    n_cell_lines: int = 5,
    n_drugs: int = 2,
    *,
    doses: np.ndarray | None = None,
    dose_unit: str = "uM",
    n_replicates: int = 3,
    n_experiments: int = 1,
    response_scale: str = "fraction",
    noise_sd: float = 0.05,
    curve: str = "4pl",
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a dose-response screen with known truth.

    Returns
    -------
    (wells, truth)
        ``wells`` is a long table ready for :func:`drugbayes.fit`; ``truth`` has one row per
        cell line x drug with the true ``log10_ic50`` (in ``dose_unit``), ``hill``, ``top``,
        ``bottom``.
    """
    if dose_unit not in DOSE_UNITS:
        raise ValueError(f"unknown dose unit {dose_unit!r}")
    doses = np.asarray(doses if doses is not None else np.logspace(-3, 1, 9), np.float64)
    truth, exp = draw_dose_response_truth(
        n_cell_lines, n_drugs, dose_range=(doses.min(), doses.max()),
        n_experiments=n_experiments, curve=curve, seed=seed)
    wells = simulate_wells(truth, doses, n_replicates=n_replicates, experiment_effects=exp,
                           response_scale=response_scale, noise_sd=noise_sd, seed=seed + 1)
    return wells, truth


def simulate_cli(args) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``drugbayes simulate --kind dose_response``: wells, truth and a line about them."""
    wells, truth = simulate_dose_response(
        args.cell_lines, args.drugs, n_replicates=args.replicates,
        n_experiments=args.experiments, response_scale=args.response_scale, seed=args.seed)
    return wells, truth, f"{len(wells)} wells; doses in uM"
