"""Check the examples' fits against their known truth (run after ``drugbayes run``).

Dose-response (default): reads ``configs/examples/results/lapatinib_her2/posterior.nc`` and the
truth written by ``scripts/make_example_data.py``; prints, per cell line and drug, the true
relative IC50 and its 95% and 99% posterior intervals, and how many lie inside.

Xenograft (``--xenograft``): the same for the arm growth rates of
``configs/examples/results/her2_xenograft``, with the per-mouse least-squares mean slope of the
simulated mice and the mean of the rates they were drawn with beside the truth (what these
mice realised).

Regression (``--regression``): ``configs/examples/results/her2_xenograft_regression``
(``summary.csv``): per arm the true regrowth rate, regression rate (arms with a sensitive
fraction), cure fraction (cure arms) and initial growth rate against their 95% intervals.

Combination (``--combination``): ``configs/examples/results/lapatinib_trastuzumab_combination``.
Per cell line, the true beta, log alpha12, log alpha21 and Bliss/HSA/Loewe excess (averaged
over the combination wells) against their 95% and 99% intervals, beside the mean over the two
experiments of the values each experiment's matrix was simulated with (``realised``: what the
data carry). Then per matrix (experiment), the realised beta and log alphas against the
matrix-level posterior (``mat_*``).

Usage: ``python scripts/check_example.py [RUN_DIR]``,
``python scripts/check_example.py --combination [RUN_DIR]``,
``python scripts/check_example.py --xenograft [RUN_DIR]`` or
``python scripts/check_example.py --regression [RUN_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

REPO = Path(__file__).resolve().parents[1]


def check_xenograft(run: Path) -> int:
    data = REPO / "configs" / "examples" / "data"
    truth = pd.read_csv(data / "her2_xenograft_truth.csv")
    mice = pd.read_csv(data / "her2_xenograft_calipers.csv")
    mice["logv"] = np.log(0.5 * mice["Length (mm)"] * mice["Width (mm)"] ** 2)
    ols = {k: np.mean([np.polyfit(m["Day"], m["logv"], 1)[0] for _, m in g.groupby("Mouse ID")])
           for k, g in mice.groupby(["Model", "Group"])}
    tree = xr.open_datatree(run / "posterior.nc", engine="h5netcdf")
    post = tree["posterior"]["grp_rate"]
    rows = []
    for t in truth.itertuples():
        d = post.sel(arm_group=f"{t.cell_line}|{t.arm}").values.ravel()
        q = np.quantile(d, [0.005, 0.025, 0.5, 0.975, 0.995])
        rows.append({"cell_line": t.cell_line, "arm": t.arm, "true_rate": t.growth_rate,
                     "mice_drawn_mean": t.mice_mean_rate,
                     "mice_ols_mean": ols[(t.cell_line, t.arm)], "median": q[2],
                     "lower95": q[1], "upper95": q[3], "lower99": q[0], "upper99": q[4],
                     "in95": q[1] <= t.growth_rate <= q[3],
                     "in99": q[0] <= t.growth_rate <= q[4]})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.float_format", lambda v: f"{v:.4g}"):
        print(df.to_string(index=False))
    print(f"\ngrowth rates: {int(df.in95.sum())}/{len(df)} true arm rates in their 95% "
          f"intervals, {int(df.in99.sum())}/{len(df)} in their 99% intervals")
    return 0


def _interval_rows(draws: dict, truth: dict, realised: dict) -> pd.DataFrame:
    rows = []
    for key, d in draws.items():
        q = np.quantile(d, [0.005, 0.025, 0.5, 0.975, 0.995])
        t = truth[key]
        rows.append({"group": key[0], "quantity": key[1], "truth": t,
                     "realised": realised.get(key, np.nan), "median": q[2], "lower95": q[1],
                     "upper95": q[3], "lower99": q[0], "upper99": q[4],
                     "in95": q[1] <= t <= q[3], "in99": q[0] <= t <= q[4]})
    return pd.DataFrame(rows)


def check_combination(run: Path) -> int:
    data = REPO / "configs" / "examples" / "data"
    name = "lapatinib_trastuzumab_combination"
    truth = pd.read_csv(data / f"{name}_truth.csv")
    per_exp = pd.read_csv(data / f"{name}_truth_experiments.csv")
    tree = xr.open_datatree(run / "posterior.nc", engine="h5netcdf")
    post = tree["posterior"]
    cw = tree["constant_data"]["grid_combination_well"]
    params = ("beta", "log_alpha12", "log_alpha21")
    excess = ("bliss_excess", "hsa_excess", "loewe_excess")
    draws, tv, rv = {}, {}, {}
    for t in truth.itertuples():
        combo = f"{t.cell_line}|{t.drug_a}|{t.drug_b}"
        mine = per_exp[per_exp["cell_line"] == t.cell_line]
        for q in params:
            draws[(t.cell_line, q)] = post[f"grp_{q}"].sel(combination=combo).values.ravel()
            tv[(t.cell_line, q)] = getattr(t, q)
            rv[(t.cell_line, q)] = float(mine[q].mean())
        w = cw.sel(combination=combo).values
        for q in excess:
            surf = post[q].sel(combination=combo).values  # chain, draw, a, b
            draws[(t.cell_line, q)] = surf[..., w].mean(axis=-1).ravel()
            tv[(t.cell_line, q)] = getattr(t, q)
            rv[(t.cell_line, q)] = float(mine[q].mean())
    df = _interval_rows(draws, tv, rv)
    fmt = ("display.width", 180, "display.float_format", lambda v: f"{v:.4g}")
    with pd.option_context(*fmt):
        print(df.to_string(index=False))
    print(f"\ncell-line level: {int(df.in95.sum())}/{len(df)} true values in their 95% "
          f"intervals, {int(df.in99.sum())}/{len(df)} in their 99% intervals")
    # matrix level: what each experiment's matrix was simulated with
    draws, tv = {}, {}
    for r in per_exp.itertuples():
        mat = f"{r.cell_line}|{r.drug_a}|{r.drug_b}|{r.experiment}"
        for q in params:
            draws[(mat, q)] = post[f"mat_{q}"].sel(matrix=mat).values.ravel()
            tv[(mat, q)] = getattr(r, q)
    dm = _interval_rows(draws, tv, {})
    with pd.option_context(*fmt):
        print(dm.drop(columns="realised").to_string(index=False))
    print(f"\nmatrix level: {int(dm.in95.sum())}/{len(dm)} realised values in their 95% "
          f"intervals, {int(dm.in99.sum())}/{len(dm)} in their 99% intervals")
    return 0


def check_regression(run: Path) -> int:
    truth = pd.read_csv(REPO / "configs" / "examples" / "data"
                        / "her2_xenograft_regression_truth.csv")
    s = pd.read_csv(run / "summary.csv")
    total = inside = 0
    for q, col, keep in (("regrowth_rate", "regrowth_rate", lambda t: t.index == t.index),
                         ("regression_rate", "regression_rate",
                          lambda t: t["sensitive_fraction"] > 0),
                         ("p_complete_regression", "cure_fraction", None),
                         ("growth_rate", "growth_rate", lambda t: t.index == t.index)):
        m = s[s["quantity"] == q].merge(truth, on=["cell_line", "arm"])
        if keep is not None:
            m = m[keep(m)]
        m = m.assign(inside=(m["lower"] <= m[col]) & (m[col] <= m["upper"]))
        print(f"\n{q} (truth column {col}):")
        with pd.option_context("display.width", 160, "display.float_format",
                               lambda v: f"{v:.4g}"):
            print(m[["cell_line", "arm", col, "median", "lower", "upper", "inside",
                     "r_hat", "ess_bulk"]].to_string(index=False))
        total += len(m)
        inside += int(m["inside"].sum())
    print(f"\n{inside}/{total} true values in their 95% intervals")
    return 0


def main() -> int:
    if "--regression" in sys.argv:
        args = [a for a in sys.argv[1:] if a != "--regression"]
        return check_regression(Path(args[0]) if args else REPO / "configs" / "examples"
                                / "results" / "her2_xenograft_regression")
    if "--combination" in sys.argv:
        args = [a for a in sys.argv[1:] if a != "--combination"]
        return check_combination(Path(args[0]) if args else REPO / "configs" / "examples"
                                 / "results" / "lapatinib_trastuzumab_combination")
    if "--xenograft" in sys.argv:
        args = [a for a in sys.argv[1:] if a != "--xenograft"]
        return check_xenograft(Path(args[0]) if args else
                               REPO / "configs" / "examples" / "results" / "her2_xenograft")
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        REPO / "configs" / "examples" / "results" / "lapatinib_her2")
    truth = pd.read_csv(REPO / "configs" / "examples" / "data" / "lapatinib_her2_truth.csv")
    tree = xr.open_datatree(run / "posterior.nc", engine="h5netcdf")
    post = tree["posterior"]["log10_ic50"]
    rows = []
    for t in truth.itertuples():
        d = post.sel(cell_line=t.cell_line, drug=t.drug).values.ravel()
        q = np.quantile(d, [0.005, 0.025, 0.5, 0.975, 0.995])
        rows.append({"cell_line": t.cell_line, "drug": t.drug, "true_ic50_uM": t.ic50_uM,
                     "median": 10 ** q[2], "lower95": 10 ** q[1], "upper95": 10 ** q[3],
                     "lower99": 10 ** q[0], "upper99": 10 ** q[4],
                     "in95": q[1] <= t.log10_ic50_uM <= q[3],
                     "in99": q[0] <= t.log10_ic50_uM <= q[4]})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.float_format", lambda v: f"{v:.4g}"):
        print(df.to_string(index=False))
    lap = df[df.drug == "lapatinib"]
    print(f"\nlapatinib: {int(lap.in95.sum())}/5 true IC50s in their 95% intervals, "
          f"{int(lap.in99.sum())}/5 in their 99% intervals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
