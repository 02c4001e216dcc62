"""Calibration of the combination family's synergy parameters over simulated checkerboards.

Simulates studies shaped like the combination example (4 cell lines x one pair, 6 x 6 matrices
with dose 0 plus 5 doses of each drug, 3 replicates, 2 experiments with experiment-to-
experiment deviations of beta, log alpha and E0; ``drugbayes.families.combination.simulate``)
with seeds 201..210, fits each with the default preset (NUTS, 4 chains x 500 + 500, target
acceptance 0.98 as in the example), and counts how often the true cell-line value lies in its
95% (and 90%) posterior interval for ``beta``, ``log_alpha12``, ``log_alpha21`` and the
Bliss/HSA/Loewe excess: 10 x 4 x 6 = 240 values. A calibrated model covers about 228 of 240
at 95%. The true values are the cell-line (population-of-experiments) values, as in the
example's truth table, not what the two experiments realised.

Writes ``benchmarks/results/validation/combination_calibration.{json,md}``.

Usage: ``python -m benchmarks.validation.combination_calibration [--studies 10]``
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import drugbayes as db
from benchmarks._common import results_dir, utc_timestamp, write_result
from drugbayes.families.combination import simulate

OUT = results_dir("validation")
QUANTITIES = ("beta", "log_alpha12", "log_alpha21", "bliss_excess", "hsa_excess",
              "loewe_excess")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=10)
    args = ap.parse_args(argv)
    rows, fits = [], []
    for seed in range(201, 201 + args.studies):
        wells, truth = simulate(4, n_doses=5, n_replicates=3, n_experiments=2, noise_sd=0.05,
                                seed=seed)
        t0 = time.perf_counter()
        r = db.fit(wells, "combination", seed=seed, response_scale="fraction",
                   inference={"method": "nuts", "num_chains": 4, "num_warmup": 500,
                              "num_samples": 500, "target_accept_prob": 0.98})
        checks = r.diagnostics["checks"]
        fits.append({"seed": seed, "seconds": round(time.perf_counter() - t0, 1),
                     "max_rhat": checks["max_rhat"]["value"],
                     "min_ess_bulk": checks["min_ess_bulk"]["value"],
                     "divergences": checks["divergences"]["value"]})
        print(fits[-1], flush=True)
        for prob in (0.95, 0.90):
            s = r.summary(prob)
            s = s[s["quantity"].isin(QUANTITIES)].merge(truth, on=["cell_line", "drug_a",
                                                                   "drug_b"])
            for x in s.itertuples():
                t = getattr(x, x.quantity)
                rows.append({"seed": seed, "prob": prob, "cell_line": x.cell_line,
                             "quantity": x.quantity, "truth": t, "median": x.median,
                             "lower": x.lower, "upper": x.upper,
                             "inside": bool(x.lower <= t <= x.upper)})
    df = pd.DataFrame(rows)
    res = {"timestamp": utc_timestamp(),
           "studies": args.studies, "fits": fits,
           "coverage": {str(p): {"inside": int(g["inside"].sum()), "values": int(len(g))}
                        for p, g in df.groupby("prob")},
           "rows": df.to_dict("records")}
    cov = res["coverage"]
    fd = pd.DataFrame(fits)
    md = [f"# Combination synergy calibration ({res['timestamp']})", "",
          f"{args.studies} simulated studies shaped like the combination example (seeds "
          f"201-{200 + args.studies}), default preset, NUTS 4 x (500 + 500), target acceptance "
          "0.98; `python -m benchmarks.validation.combination_calibration`. Truth = the "
          "cell-line value "
          "(population of experiments).", "",
          "| interval | true values inside | expected if calibrated |", "|---|---|---|"]
    for p in ("0.95", "0.9"):
        n = cov[p]["values"]
        md.append(f"| {float(p):.0%} | {cov[p]['inside']}/{n} | about {float(p) * n:.0f} |")
    by = df.groupby(["quantity", "prob"])["inside"].agg(["sum", "count"]).reset_index()
    md += ["", "| quantity | inside 95% | inside 90% |", "|---|---|---|"]
    for q in QUANTITIES:
        g = by[by["quantity"] == q].set_index("prob")
        md.append(f"| {q} | {int(g.loc[0.95, 'sum'])}/{int(g.loc[0.95, 'count'])} | "
                  f"{int(g.loc[0.9, 'sum'])}/{int(g.loc[0.9, 'count'])} |")
    md += ["", f"Per fit: {fd['seconds'].median():.0f} s median wall time on this machine; "
           f"max R-hat {fd['max_rhat'].max():.4f}; min bulk ESS {fd['min_ess_bulk'].min():.0f}; "
           f"{int(fd['divergences'].sum())} divergences in all."]
    write_result(OUT / "combination_calibration", res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
