"""Simulator of the ``xenograft`` family: mice, arms and measurements with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...curves import growth_curve, regrowth_log_ratio

# ---------------------------------------------------------------------------------- xenograft
REFERENCE_ARMS = ("vehicle", "lapatinib", "trastuzumab", "lapatinib+trastuzumab")


REFERENCE_RATES = {
    # growth rates (1/day) of the reference study: trastuzumab-resistant HER2+ xenografts
    "BT-474R": (0.075, 0.035, 0.065, -0.005),
    "MCF7/HER2-18": (0.060, 0.030, 0.050, 0.000),
}


REFERENCE_DAYS = (0, 3, 7, 10, 14, 17, 21, 24, 28, 31, 35)


REGRESSION_DAYS = tuple(float(d) for d in np.round(np.arange(0, 61, 3.5)))
"""The regression study: calipers twice weekly for about 8.5 weeks (treatment, then
follow-up for regrowth)."""


REFERENCE_REGRESSION = {
    # per arm: (sensitive fraction f, regression rate d (1/day), regrowth rate g (1/day),
    # cure fraction): lapatinib regresses then regrows (a few mice cured), the combination
    # regresses completely in most mice; trastuzumab barely acts on these resistant lines
    "BT-474R": ((0.0, 0.1, 0.075, 0.0), (0.97, 0.12, 0.060, 0.2),
                (0.3, 0.05, 0.065, 0.0), (0.995, 0.30, 0.040, 0.8)),
    "MCF7/HER2-18": ((0.0, 0.1, 0.060, 0.0), (0.95, 0.10, 0.050, 0.2),
                     (0.3, 0.05, 0.050, 0.0), (0.99, 0.25, 0.040, 0.8)),
}


def simulate_xenograft(
    n_mice_per_arm: int = 10,
    *,
    cell_lines: tuple[str, ...] | None = None,
    n_experiments: int = 2,
    days: tuple[float, ...] = REFERENCE_DAYS,
    growth: str = "exponential",
    deceleration: float = 0.03,
    baseline_volume: float = 175.0,
    baseline_sd: float = 0.08,
    mouse_rate_sd: float = 0.008,
    mouse_corr: float = -0.3,
    experiment_rate_sd: float = 0.004,
    experiment_baseline_sd: float = 0.05,
    noise_sd: float = 0.12,
    volume_constant: float = 0.5,
    cull_volume: float = 1500.0,
    calipers: bool = True,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the reference xenograft study from the ``xenograft`` generative process.

    Nude mice bearing trastuzumab-resistant HER2+ tumours (BT-474R, MCF7/HER2-18) are
    randomised at about 150-200 mm3 into vehicle, lapatinib, trastuzumab and lapatinib +
    trastuzumab; calipers twice weekly for 5 weeks; a mouse is culled at its first measurement
    at or above ``cull_volume`` (``status = "culled"`` on its last row).

    Parameters
    ----------
    n_mice_per_arm : int
        Mice per arm and cell line, split evenly over ``n_experiments``.
    cell_lines : tuple of str, optional
        Subset of ``REFERENCE_RATES`` (default: both).
    growth : {"exponential", "gompertz", "regrowth"}
        With Gompertz the specific growth rate decays as ``rate * exp(-deceleration * t)``.
        With ``regrowth`` the arms follow :data:`REFERENCE_REGRESSION`: ``V = V0 [f exp(-d t)
        + (1 - f) exp(g t)]`` (``g`` varies between mice), and a cured mouse (probability
        = the arm's cure fraction) follows ``V0 exp(-d t)``. A tumour below the detection
        limit ``volume_constant * 1 mm^3`` is recorded as 0.
    calipers : bool
        Write ``length`` and ``width`` (mm, 0.1 mm resolution, ``V = volume_constant * L *
        W^2``) instead of ``volume``.
    seed : int

    Returns
    -------
    table : DataFrame
        ``mouse, cell_line, arm, experiment, day, length, width`` (or ``volume``), ``status``.
    truth : DataFrame
        ``cell_line, arm, growth_rate, baseline_volume, deceleration`` (the typical mouse: zero
        experiment effect), and (not with ``regrowth``) ``mice_mean_rate``, the mean over the
        arm's simulated mice of the rate each was drawn with (arm rate + its own deviation +
        its experiment's shift): what these mice realised; with ``regrowth`` also
        ``regrowth_rate``, ``regression_rate``,
        ``sensitive_fraction``, ``cure_fraction``, and ``growth_rate`` is the initial rate
        ``(1 - f) g - f d``.
    """
    rng = np.random.default_rng(seed)
    cells = tuple(cell_lines or REFERENCE_RATES)
    t = np.asarray(days, float) - days[0]
    exp_rate = rng.normal(0, experiment_rate_sd, n_experiments)
    exp_rate -= exp_rate.mean()
    exp_base = rng.normal(0, experiment_baseline_sd, n_experiments)
    exp_base -= exp_base.mean()
    cov = np.array([[baseline_sd ** 2, mouse_corr * baseline_sd * mouse_rate_sd],
                    [mouse_corr * baseline_sd * mouse_rate_sd, mouse_rate_sd ** 2]])
    rows, truth = [], []
    m = 0
    for cl in cells:
        for k_arm, arm in enumerate(REFERENCE_ARMS):
            r_arm = REFERENCE_RATES[cl][k_arm]
            row_t = {"cell_line": cl, "arm": arm, "growth_rate": r_arm,
                     "baseline_volume": baseline_volume,
                     "deceleration": deceleration if growth == "gompertz" else 0.0}
            if growth == "regrowth":
                f, d, r_arm, cure = REFERENCE_REGRESSION[cl][k_arm]
                row_t.update(growth_rate=(1 - f) * r_arm - f * d, regrowth_rate=r_arm,
                             regression_rate=d, sensitive_fraction=f, cure_fraction=cure)
            truth.append(row_t)
            mouse_rates = []
            for k in range(n_mice_per_arm):
                e = k % n_experiments
                m += 1
                b, r = rng.multivariate_normal([np.log(baseline_volume), r_arm], cov)
                b += exp_base[e]
                r += exp_rate[e]
                mouse_rates.append(r)
                if growth == "gompertz":
                    lv = b + growth_curve(t, r, deceleration, xp=np)
                elif growth == "regrowth":
                    if rng.random() < cure:
                        lv = b - d * t
                    else:
                        with np.errstate(divide="ignore"):
                            lv = b + regrowth_log_ratio(t, np.log(f), np.log1p(-f), d, r, np)
                else:
                    lv = b + r * t
                v = np.exp(lv + rng.normal(0, noise_sd, len(t)))
                v = np.where(v < volume_constant, 0.0, v)  # below 1 mm calipers: 0
                for day, vol in zip(days, v):
                    row = {"mouse": f"M{m:03d}", "cell_line": cl, "arm": arm,
                           "experiment": f"E{e + 1}", "day": day}
                    if calipers:
                        ratio = rng.uniform(1.1, 1.6)
                        w = (vol / (volume_constant * ratio)) ** (1 / 3)
                        row["length"] = round(float(ratio * w), 1)
                        row["width"] = round(float(w), 1)
                        vol = volume_constant * row["length"] * row["width"] ** 2
                    else:
                        row["volume"] = round(float(vol), 2)
                    culled = vol >= cull_volume
                    row["status"] = "culled" if culled else ""
                    rows.append(row)
                    if culled:
                        break
            if growth != "regrowth":
                row_t["mice_mean_rate"] = float(np.mean(mouse_rates))
    table = pd.DataFrame(rows)
    if n_experiments == 1:
        table = table.drop(columns="experiment")
    return table, pd.DataFrame(truth)


def simulate_cli(args) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``drugbayes simulate --kind xenograft``: measurements, truth and a line about them."""
    table, truth = simulate_xenograft(args.mice_per_arm, n_experiments=args.experiments,
                                      seed=args.seed)
    return table, truth, (f"{len(table)} measurements of {table['mouse'].nunique()} mice; "
                          "calipers in mm")
