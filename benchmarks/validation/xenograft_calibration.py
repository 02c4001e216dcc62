"""Calibration of the xenograft arm growth rates over simulated reference studies.

Simulates the reference study (2 cell lines x 4 arms, 10 mice per arm over 2 experiments,
calipers twice weekly for 5 weeks, culled at 1,500 mm3) with seeds 101..110, fits each with the
default preset (NUTS, 4 chains x 500 + 500), and counts how often the true arm growth rate lies
in its 95% (and 90%) posterior interval: 80 arms in all. A calibrated model covers about 76 of
80 at 95% (binomial 5-95% range 73-79). Writes
``benchmarks/results/validation/xenograft_calibration.{json,md}``.

Usage: ``python -m benchmarks.validation.xenograft_calibration [--studies 10]``
"""

from __future__ import annotations

import argparse

import pandas as pd

import drugbayes as db
from benchmarks._common import results_dir, utc_timestamp, write_result
from drugbayes.simulate import simulate_xenograft

OUT = results_dir("validation")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=10)
    args = ap.parse_args(argv)
    rows = []
    for seed in range(101, 101 + args.studies):
        table, truth = simulate_xenograft(10, n_experiments=2, seed=seed)
        r = db.fit(table, "xenograft", control_arm="vehicle", seed=seed,
                   inference={"method": "nuts", "num_chains": 4, "num_warmup": 500,
                              "num_samples": 500})
        for prob in (0.95, 0.90):
            s = r.summary(prob).query("quantity == 'growth_rate'").merge(
                truth, on=["cell_line", "arm"])
            for x in s.itertuples():
                rows.append({"seed": seed, "prob": prob, "cell_line": x.cell_line,
                             "arm": x.arm, "truth": x.growth_rate, "median": x.median,
                             "lower": x.lower, "upper": x.upper,
                             "inside": bool(x.lower <= x.growth_rate <= x.upper),
                             "max_rhat": r.diagnostics["checks"]["max_rhat"]["value"]})
    df = pd.DataFrame(rows)
    res = {"timestamp": utc_timestamp(),
           "studies": args.studies,
           "coverage": {str(p): {"inside": int(g["inside"].sum()), "arms": int(len(g))}
                        for p, g in df.groupby("prob")},
           "mean_abs_error": float((df.query("prob == 0.95")["median"]
                                    - df.query("prob == 0.95")["truth"]).abs().mean()),
           "max_rhat": float(df["max_rhat"].max()), "rows": df.to_dict("records")}
    cov = res["coverage"]
    md = [f"# Xenograft growth-rate calibration ({res['timestamp']})", "",
          f"{args.studies} simulated reference studies (seeds 101-{100 + args.studies}), "
          "default preset, NUTS 4 x (500 + 500); "
          "`python -m benchmarks.validation.xenograft_calibration`.",
          "", "| interval | true arm rates inside | expected if calibrated |", "|---|---|---|"]
    for p in ("0.95", "0.9"):
        n = cov[p]["arms"]
        md.append(f"| {float(p):.0%} | {cov[p]['inside']}/{n} | about "
                  f"{float(p) * n:.0f} |")
    md += ["", f"Mean absolute error of the posterior median: {res['mean_abs_error']:.4f} per "
           f"day; max R-hat over all fits {res['max_rhat']:.4f}."]
    by = df.query("prob == 0.95").groupby("arm")["inside"].agg(["sum", "count"])
    md += ["", "| arm | inside 95% |", "|---|---|"]
    md += [f"| {a} | {int(r['sum'])}/{int(r['count'])} |" for a, r in by.iterrows()]
    write_result(OUT / "xenograft_calibration", res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
