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
                        length, width = round(float(ratio * w), 1), round(float(w), 1)
                        row["length"], row["width"] = length, width
                        vol = volume_constant * length * width ** 2
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


# ------------------------------------------------------------------------ PDX clinical trial
PDX_ARMS = ("untreated", "drugA", "drugB", "drugA+drugB")


def simulate_pdx_trial(
    n_lines: int = 40,
    *,
    control_rate: tuple[float, float] = (0.05, 0.025),
    effects: tuple[float, float] = (-0.03, -0.02),
    effect_sd: tuple[float, float, float] = (0.015, 0.012, 0.015),
    bliss_excess: float = 0.01,
    baseline_volume: float = 200.0,
    baseline_sd: float = 0.25,
    noise_sd: float = 0.1,
    interval: float = 3.5,
    jitter: float = 1.0,
    study_days: tuple[float, float] = (24.0, 35.0),
    cull_volume: float = 1500.0,
    p_early_loss: float = 0.03,
    extra_columns: bool = False,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a PDX clinical trial (Gao et al. 2015): ``n_lines`` patient-derived lines,
    each given every arm of :data:`PDX_ARMS` in one mouse.

    Each line has its own untreated exponential growth rate ``r0 ~ Normal(*control_rate)``
    (1/day). Arm ``drugA`` changes it by ``effects[0] + u_A`` (``u_A ~ Normal(0,
    effect_sd[0])``, one draw per line), ``drugB`` by ``effects[1] + u_B``, the combination by
    ``effects[0] + effects[1] - bliss_excess + u_AB`` (positive ``bliss_excess`` = synergy on
    the growth rate, the in-vivo Bliss excess ``r_A + r_B - r_0 - r_AB``). Schedules are
    realistic: each mouse is measured at day 0 (start of treatment) and then about every
    ``interval`` days with its own jitter (so lines and arms are measured on different days),
    until its own end of study (uniform in ``study_days``); a mouse is culled at its first
    measurement at or above ``cull_volume`` (``status = "culled"``), and with probability
    ``p_early_loss`` it is lost at a random time (``status = "found dead"``).

    Parameters
    ----------
    extra_columns : bool
        Add ``body_weight`` (g) and ``tissue`` columns (not used by the model: carried).
    seed : int

    Returns
    -------
    table : DataFrame
        ``mouse, cell_line, arm, day, volume, status`` (and the extra columns).
    truth : DataFrame
        One row per line and arm: ``cell_line, arm, growth_rate, baseline_volume``, and rows
        with ``cell_line = "pooled"``: ``quantity`` = ``treatment_effect`` (population effect
        on the rate, per treated arm), ``sd_line_effect`` (the between-line sd it was drawn
        with) and ``bliss_excess`` (population, combination arm) in column ``value``.
    """
    rng = np.random.default_rng(seed)
    ctrl, a, b, ab = PDX_ARMS
    pop = {a: effects[0], b: effects[1], ab: effects[0] + effects[1] - bliss_excess}
    sds = dict(zip((a, b, ab), effect_sd))
    rows: list[dict] = []
    truth: list[dict] = []
    m = 0
    for i in range(n_lines):
        line = f"PDX{i + 1:03d}"
        r0 = rng.normal(*control_rate)
        b0 = np.log(baseline_volume) + rng.normal(0.0, baseline_sd)
        tissue = ("breast", "colorectal", "lung", "pancreas")[i % 4]
        for arm in PDX_ARMS:
            r = r0 if arm == ctrl else r0 + pop[arm] + rng.normal(0.0, sds[arm])
            bm = b0 + rng.normal(0.0, 0.1)  # each mouse's implant differs a little
            truth.append({"cell_line": line, "arm": arm, "growth_rate": r,
                          "baseline_volume": float(np.exp(bm))})
            m += 1
            end = rng.uniform(*study_days)
            days = [0.0]
            while True:
                nxt = days[-1] + interval + rng.uniform(-jitter, jitter)
                if nxt > end:
                    break
                days.append(round(float(nxt)))
            days = sorted(set(days))
            lost_at = rng.uniform(3.0, end) if rng.random() < p_early_loss else np.inf
            weight = rng.normal(22.0, 1.5)
            for d in days:
                if d > lost_at:
                    rows[-1]["status"] = "found dead"
                    break
                v = float(np.exp(bm + r * d + rng.normal(0.0, noise_sd)))
                row = {"mouse": f"M{m:04d}", "cell_line": line, "arm": arm, "day": d,
                       "volume": round(v, 1), "status": ""}
                if extra_columns:
                    row["body_weight"] = round(weight * (1 - 0.002 * d
                                                         * (arm != ctrl)), 1)
                    row["tissue"] = tissue
                rows.append(row)
                if v >= cull_volume:
                    row["status"] = "culled"
                    break
    truth_df = pd.DataFrame(truth)
    pooled = [{"cell_line": "pooled", "arm": k, "quantity": "treatment_effect",
               "value": pop[k]} for k in (a, b, ab)]
    pooled += [{"cell_line": "pooled", "arm": k, "quantity": "sd_line_effect",
                "value": sds[k]} for k in (a, b, ab)]
    pooled.append({"cell_line": "pooled", "arm": ab, "quantity": "bliss_excess",
                   "value": bliss_excess})
    return pd.DataFrame(rows), pd.concat([truth_df, pd.DataFrame(pooled)], ignore_index=True)
