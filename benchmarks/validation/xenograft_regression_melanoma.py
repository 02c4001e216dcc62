"""Complete regression, regrowth and model comparison on real xenografts (tumr melanoma1).

``melanoma1.csv`` (A375 xenografts, 35 mice, 2x2 factorial: ``A`` control, ``B`` vemurafenib,
``C`` buthionine sulfoximine, ``D`` both; 217 zero volumes; all 8 combination mice reach 0 and
two of them regrow later). Fits every log-scale growth preset of the ``xenograft`` family with
NUTS and reports:

- per arm ``p_complete_regression`` (the arm's cure fraction) and, for the combination,
  ``p_all_complete_regression`` (every mouse of the arm cured), from
  ``xenograft/regrowth_cure`` (cure arms: every arm but the control);
- per mouse of the combination: the posterior probability of complete regression next to what
  the mouse did (last measurement);
- mRECIST per arm (posterior predictive class probabilities) and per mouse (observed class);
- PSIS-LOO per preset (unit: a mouse's whole series) and ``arviz_stats.compare``.

Reads ``../shared/data/xenograft_tumr/`` (never copied into the repository). Writes
``benchmarks/results/validation/xenograft_regression_melanoma.{json,md}``.

Usage: ``python -m benchmarks.validation.xenograft_regression_melanoma [--draws 500]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import jax
import numpy as np
import pandas as pd

import drugbayes as db
from benchmarks._common import (
    SHARED_DATA,
    results_dir,
    utc_timestamp,
    write_json,
    write_markdown,
)
from drugbayes.families.xenograft.summary import mouse_table

DATA = SHARED_DATA / "xenograft_tumr"
OUT = results_dir("validation")
COLUMNS = {"mouse": "ID", "day": "Day", "volume": "Volume", "arm": "Treatment"}
PRESETS = ("exponential", "gompertz", "simeoni", "regrowth", "regrowth_cure")


def fit(preset: str, draws: int, seed: int = 0):
    t0 = time.perf_counter()
    r = db.fit(DATA / "melanoma1.csv", "xenograft", columns=COLUMNS, control_arm="A",
               model=f"xenograft/{preset}", seed=seed,
               inference={"method": "nuts", "num_chains": 4, "num_warmup": draws,
                          "num_samples": draws, "dense_mass": True})
    return r, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500)
    args = ap.parse_args(argv)
    from arviz_stats import compare

    fits, rows, elpd_i = {}, [], {}
    for p in PRESETS:
        r, wall = fit(p, args.draws)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loo = r.loo(pointwise=True)
        k = np.asarray(loo.pareto_k).ravel()
        elpd_i[p] = np.asarray(loo.elpd_i).ravel()
        d = r.diagnostics
        fits[p] = r
        rows.append({"preset": p, "wall_seconds": wall, "elpd_loo": float(loo.elpd),
                     "se": float(loo.se), "p_loo": float(loo.p),
                     "pareto_k_over_0.7": int((k > 0.7).sum()),
                     "diagnostics": {c: v["value"] for c, v in d["checks"].items()},
                     "diagnostics_passed": d["passed"]})
        print(p, f"{wall:.0f} s", f"elpd {loo.elpd:.1f} ({loo.se:.1f})", d["passed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare({p: fits[p].posterior for p in PRESETS})
    # differences and their SE from the pointwise values (sum over mice, sqrt(n) sd)
    best = max(elpd_i, key=lambda p: elpd_i[p].sum())
    cmp_rows = []
    for p in sorted(elpd_i, key=lambda p: -elpd_i[p].sum()):
        dd = elpd_i[best] - elpd_i[p]
        cmp_rows.append({"preset": p, "elpd": float(elpd_i[p].sum()),
                         "elpd_diff": float(dd.sum()),
                         "dse": float(np.sqrt(len(dd)) * dd.std(ddof=1)) if p != best else 0.0,
                         "weight": float(cmp.loc[p, "weight"])})
    rc = fits["regrowth_cure"]
    s = rc.summary()
    cure = s[s["quantity"].isin(["p_complete_regression", "p_all_complete_regression"])]
    mrec = s[s["quantity"].str.startswith("p_mrecist")].pivot(
        index="arm", columns="quantity", values="mean").reset_index()
    mt = mouse_table(rc.data, rc.inference.samples, "regrowth")
    raw = pd.read_csv(DATA / "melanoma1.csv").sort_values("Day")
    last = raw.groupby("ID").agg(last_day=("Day", "last"), last_volume=("Volume", "last"),
                                 zero_days=("Volume", lambda v: int((v == 0).sum())))
    last.index = last.index.astype(str)
    mt = mt.join(last, on="mouse")
    rates = s[s["quantity"].isin(["growth_rate", "regression_rate", "regrowth_rate",
                                  "sensitive_fraction"])]
    from importlib.metadata import version

    res = {"timestamp": utc_timestamp(),
           "device": str(jax.devices()[0]), "platform": platform.platform(),
           "jax": version("jax"), "numpyro": version("numpyro"), "draws": args.draws,
           "presets": rows, "compare": cmp_rows,
           "cure": cure[["arm", "quantity", "mean", "median", "lower", "upper"]].to_dict(
               "records"),
           "mrecist_per_arm": mrec.to_dict("records"),
           "mice": mt.drop(columns=["cell_line", "experiment"]).to_dict("records"),
           "rates": rates[["arm", "quantity", "median", "lower", "upper"]].to_dict("records")}
    write_json(OUT / "xenograft_regression_melanoma.json", res)

    def f(x, n=3):
        return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{n}f}"

    L = [f"# Complete regression and model comparison on tumr melanoma1 ({res['timestamp']})",
         "", f"A375 xenografts, 35 mice (A control, B vemurafenib, C BSO, D both). NUTS 4 x "
         f"{args.draws} + {args.draws}, device {res['device']}, jax {res['jax']}, numpyro "
         f"{res['numpyro']}. `python -m benchmarks.validation.xenograft_regression_melanoma`.", "",
         "## Growth presets: PSIS-LOO (unit: one mouse's whole series)", "",
         "| preset | wall s | elpd_loo (SE) | p_loo | Pareto k > 0.7 | max R-hat | min bulk "
         "ESS | divergences |", "|---|---|---|---|---|---|---|---|"]
    for x in rows:
        dg = x["diagnostics"]
        L.append(f"| {x['preset']} | {x['wall_seconds']:.0f} | {x['elpd_loo']:.1f} "
                 f"({x['se']:.1f}) | {x['p_loo']:.1f} | {x['pareto_k_over_0.7']} | "
                 f"{dg.get('max_rhat', float('nan')):.3f} | "
                 f"{dg.get('min_ess_bulk', float('nan')):.0f} | {dg.get('divergences')} |")
    L += ["", "Differences from the best (pointwise over mice; weights from "
          "`arviz_stats.compare`):", "", "| preset | elpd_loo | elpd_diff | SE of diff | "
          "weight |", "|---|---|---|---|---|"]
    for x in cmp_rows:
        L.append(f"| {x['preset']} | {x['elpd']:.1f} | {x['elpd_diff']:.1f} | "
                 f"{x['dse']:.1f} | {x['weight']:.2f} |")
    L += ["", "## Complete regression (`xenograft/regrowth_cure`)", "",
          "| arm | quantity | mean | 95% interval |", "|---|---|---|---|"]
    for x in res["cure"]:
        L.append(f"| {x['arm']} | {x['quantity']} | {f(x['mean'])} | "
                 f"{f(x['lower'])} - {f(x['upper'])} |")
    L += ["", "Combination mice (arm D):", "", "| mouse | last day | last volume | zero "
          "measurements | observed mRECIST | P(complete regression) |",
          "|---|---|---|---|---|---|"]
    for x in res["mice"]:
        if x["arm"] == "D":
            L.append(f"| {x['mouse']} | {x['last_day']} | {x['last_volume']:.0f} | "
                     f"{x['zero_days']} | {x['observed_mrecist']} | "
                     f"{f(x.get('p_complete_regression'))} |")
    L += ["", "## mRECIST per arm (posterior predictive, new mouse)", "",
          "| arm | CR | PR | SD | PD |", "|---|---|---|---|---|"]
    for x in res["mrecist_per_arm"]:
        L.append(f"| {x['arm']} | " + " | ".join(f(x[f"p_mrecist_{c}"], 2)
                                                 for c in ("cr", "pr", "sd", "pd")) + " |")
    obs = pd.DataFrame(res["mice"]).groupby(["arm", "observed_mrecist"]).size()
    L += ["", "Observed mRECIST (mice per class): " + ", ".join(
        f"{a} {c or 'undefined'} {n}" for (a, c), n in obs.items()), ""]
    L += ["## Rates (`xenograft/regrowth_cure`, 1/day)", "",
          "| arm | quantity | median | 95% interval |", "|---|---|---|---|"]
    for x in res["rates"]:
        L.append(f"| {x['arm']} | {x['quantity']} | {f(x['median'], 4)} | "
                 f"{f(x['lower'], 4)} - {f(x['upper'], 4)} |")
    write_markdown(OUT / "xenograft_regression_melanoma.md", L)
    print("\n".join(L))


if __name__ == "__main__":
    main()
