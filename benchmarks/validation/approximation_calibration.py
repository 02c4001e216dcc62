"""Coverage of the fast back-ends' intervals: ``map`` (Laplace) and ``svi`` against the truth.

For each family, simulates the studies of its NUTS calibration benchmark (the same simulator,
shapes and seeds: ``combination_calibration.py``, seeds 201..; ``xenograft_calibration.py``,
seeds 101..) and, for dose-response, screens of 8 cell lines x 5 drugs (seeds 301..), fits each
with ``method = "map"`` (the default ``laplace = true``, 1,000 draws) and ``method = "svi"``
(its defaults), and counts how often the true value lies in the 90% and 95% intervals:

- combination: ``beta``, ``log_alpha12``, ``log_alpha21`` and the Bliss/HSA/Loewe excess per
  cell line (the population-of-experiments values, as in the NUTS benchmark);
- xenograft: the arm growth rates;
- dose-response: each curve's log10 IC50.

The NUTS coverage of the same studies is in ``combination_calibration.md`` and
``xenograft_calibration.md`` (NUTS, 10 studies). Few studies make the figures rough: each
table gives the count and the number of values, and the binomial range a calibrated method
would give.

Writes ``benchmarks/results/validation/approximation_calibration.{json,md}``.

Usage: ``python -m benchmarks.validation.approximation_calibration [--studies 3]
[--families combination,xenograft,dose_response] [--methods map,svi] [--partial f.json]``;
runs split over processes (``--methods map --partial a.json`` and ``--methods svi --partial
b.json``) are tabulated together with ``--combine a.json,b.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import drugbayes as db
from benchmarks._common import command, environment, log, results_dir, write_result

OUT = results_dir("validation")
COMBINATION = ("beta", "log_alpha12", "log_alpha21", "bliss_excess", "hsa_excess",
               "loewe_excess")


def _combination(seed: int, inference: dict) -> tuple[list[dict], float]:
    from drugbayes.families.combination import simulate

    wells, truth = simulate(4, n_doses=5, n_replicates=3, n_experiments=2, noise_sd=0.05,
                            seed=seed)
    t0 = time.perf_counter()
    r = db.fit(wells, "combination", seed=seed, response_scale="fraction", inference=inference)
    secs = time.perf_counter() - t0
    rows = []
    for prob in (0.95, 0.90):
        s = r.summary(prob)
        s = s[s["quantity"].isin(COMBINATION)].merge(truth, on=["cell_line", "drug_a", "drug_b"])
        rows += [{"prob": prob, "quantity": x.quantity, "truth": getattr(x, x.quantity),
                  "median": x.median, "lower": x.lower, "upper": x.upper}
                 for x in s.itertuples()]
    return rows, secs


def _xenograft(seed: int, inference: dict) -> tuple[list[dict], float]:
    from drugbayes.simulate import simulate_xenograft

    table, truth = simulate_xenograft(10, n_experiments=2, seed=seed)
    t0 = time.perf_counter()
    r = db.fit(table, "xenograft", control_arm="vehicle", seed=seed, inference=inference)
    secs = time.perf_counter() - t0
    rows = []
    for prob in (0.95, 0.90):
        s = r.summary(prob).query("quantity == 'growth_rate'").merge(truth,
                                                                      on=["cell_line", "arm"])
        rows += [{"prob": prob, "quantity": "growth_rate", "truth": x.growth_rate,
                  "median": x.median, "lower": x.lower, "upper": x.upper}
                 for x in s.itertuples()]
    return rows, secs


def _dose_response(seed: int, inference: dict) -> tuple[list[dict], float]:
    wells, truth = db.simulate_dose_response(8, 5, seed=seed)
    t0 = time.perf_counter()
    r = db.fit(wells, "dose_response", seed=seed, dose_unit="uM", inference=inference)
    secs = time.perf_counter() - t0
    rows = []
    for prob in (0.95, 0.90):
        s = r.summary(prob).query("quantity == 'log10_ic50'").merge(
            truth[["cell_line", "drug", "log10_ic50"]], on=["cell_line", "drug"])
        rows += [{"prob": prob, "quantity": "log10_ic50", "truth": x.log10_ic50,
                  "median": x.median, "lower": x.lower, "upper": x.upper}
                 for x in s.itertuples()]
    return rows, secs


FAMILIES = {"combination": (_combination, 201), "xenograft": (_xenograft, 101),
            "dose_response": (_dose_response, 301)}
METHODS = {"map": {"method": "map"}, "svi": {"method": "svi"}}


def _range(n: int, p: float) -> str:
    lo, hi = stats.binom.ppf([0.05, 0.95], n, p)
    return f"{int(lo)}-{int(hi)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=3)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=str(OUT / "approximation_calibration"))
    ap.add_argument("--first-study", type=int, default=0,
                    help="index of the first study (seeds from the family's first + this)")
    ap.add_argument("--partial", default=None,
                    help="JSON file rewritten with the fits done so far after every study")
    ap.add_argument("--combine", default=None,
                    help="comma-separated --partial files: tabulate their fits, fit nothing")
    args = ap.parse_args(argv)
    env = environment()
    rows, fits = [], []
    if args.combine:
        import json

        for f in args.combine.split(","):
            got = json.loads(Path(f).read_text())
            rows += got["rows"]
            fits += got["fits"]
        args.studies = len({(x["family"], x["seed"]) for x in fits}) // max(
            len({x["family"] for x in fits}), 1)
    # study by study (every family and method), so that a partial run covers them all
    for i in range(args.first_study, args.first_study + (0 if args.combine else args.studies)):
        for fam in args.families.split(","):
            run, seed0 = FAMILIES[fam]
            for meth in args.methods.split(","):
                seed = seed0 + i
                got, secs = run(seed, METHODS[meth])
                fits.append({"family": fam, "method": meth, "seed": seed, "seconds": secs})
                rows += [{"family": fam, "method": meth, "seed": seed, **g} for g in got]
                log(f"{fam} {meth} seed {seed}: {secs:.0f} s")
        if args.partial:
            import json

            Path(args.partial).write_text(json.dumps({"rows": rows, "fits": fits},
                                                     default=float))
    df = pd.DataFrame(rows)
    df["inside"] = (df["lower"] <= df["truth"]) & (df["truth"] <= df["upper"])
    df["width"] = df["upper"] - df["lower"]
    cov = {}
    for (fam, meth, prob), g in df.groupby(["family", "method", "prob"]):
        cov.setdefault(fam, {}).setdefault(meth, {})[str(prob)] = {
            "inside": int(g["inside"].sum()), "values": int(len(g)),
            "fraction": float(g["inside"].mean())}
    md = ["# Coverage of map (Laplace) and svi intervals against the truth", "",
          f"Command: `{command('benchmarks.validation.approximation_calibration', argv or [])}`"
          f"; {env['timestamp_utc']}, git {env['git_commit'][:10]}. {args.studies} simulated "
          "studies per family and method (the NUTS calibration benchmarks' simulators and "
          "seeds; dose-response: 8 cell lines x 5 drugs). Default settings of each method.", "",
          "| family | quantities | method | inside 90% | inside 95% | calibrated range (90% / "
          "95%) | median |error| | median width 95% |",
          "|---|---|---|---:|---:|---|---:|---:|"]
    for fam in cov:
        for meth in cov[fam]:
            g = df[(df.family == fam) & (df.method == meth)]
            c90, c95 = cov[fam][meth]["0.9"], cov[fam][meth]["0.95"]
            g95 = g[g.prob == 0.95]
            qs = ", ".join(sorted(g["quantity"].unique()))
            md.append(f"| {fam} | {qs} | {meth} | {c90['inside']}/{c90['values']} "
                      f"({c90['fraction']:.2f}) | {c95['inside']}/{c95['values']} "
                      f"({c95['fraction']:.2f}) | {_range(c90['values'], 0.9)} / "
                      f"{_range(c95['values'], 0.95)} | "
                      f"{float(np.median(np.abs(g95['median'] - g95['truth']))):.3g} | "
                      f"{float(g95['width'].median()):.3g} |")
    by = (df[df.prob == 0.9].groupby(["family", "method", "quantity"])["inside"]
          .agg(["sum", "count"]).reset_index())
    md += ["", "Per quantity, inside the 90% interval:", "",
           "| family | method | quantity | inside 90% |", "|---|---|---|---:|"]
    md += [f"| {x.family} | {x.method} | {x.quantity} | {int(x.sum)}/{int(x.count)} |"
           for x in by.itertuples()]
    med = {(f, m): np.median([x["seconds"] for x in fits
                              if x["family"] == f and x["method"] == m])
           for f in cov for m in cov[f]}
    md += ["", "Per fit: " + ", ".join(f"{f} {m} {v:.0f} s" for (f, m), v in med.items())
           + " median wall time (2 shared CPU cores)."]
    write_result(Path(args.out),
                 {"environment": env, "settings": vars(args), "coverage": cov, "fits": fits,
                  "rows": df.to_dict("records")}, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
