"""A simulated PDX clinical trial: convergence of NUTS at the default budgets, per-line
untreated rates against each mouse's own slope, and coverage of pooled and per-line effects.

Simulates 40 lines x (untreated, drugA, drugB, drugA+drugB), one mouse each, staggered
measurement days, culling at 1,500 mm3 (``simulate_pdx_trial``, seeds 201, 202, ...), fits
each with the default preset and NUTS at the default budgets (4 chains x 500 + 500), and
records per trial: wall time of the fit, the machine's load average, max R-hat and min bulk
and tail ESS over every reported quantity of ``summary.csv`` (and over the sampled sites, from
``diagnostics.json``), divergences, the Spearman rank correlation between each line's untreated
growth rate (posterior median) and its mouse's own least-squares slope of log volume on day,
and whether the true values lie inside the 90% intervals: pooled treatment effects and Bliss
excess, per-line growth-rate differences against untreated. Results are written after every
trial to ``benchmarks/results/validation/pdx_trial[_<tag>].{json,md}``.

R-hat is ArviZ's rank-normalised split R-hat (Vehtari et al. 2021): the larger of the bulk
R-hat (of the rank-normalised draws: chains differ in location) and the folded R-hat (of
``|draw - median|``, rank-normalised: chains differ in scale). Both are recorded per sampled
site, with the folded quantity's ESS, because they behave differently here (see the results
file). ``--control`` also fits NUTS with the same budgets to a standard normal of as many
dimensions as the trial has sampled components: the R-hat a perfectly mixing target gives.

Usage: ``python -m benchmarks.validation.pdx_trial [--trials 1] [--tag name]
[--num-samples N] [--control]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats
from scipy.stats import spearmanr

import drugbayes as db
from benchmarks._common import command, environment, log, results_dir, utc_timestamp, write_result
from drugbayes.families.xenograft.simulate import simulate_pdx_trial

OUT = results_dir("validation")
PROB = 0.90


def own_slopes(table: pd.DataFrame, arm: str) -> pd.Series:
    """Each line's mouse of ``arm``: least-squares slope of log volume on day."""
    sub = table[table["arm"].eq(arm) & table["volume"].gt(0)]
    return sub.groupby("cell_line").apply(
        lambda d: np.polyfit(d["day"], np.log(d["volume"]), 1)[0], include_groups=False)


def rhat_parts(draws: np.ndarray) -> dict:
    """Bulk and folded rank R-hat, and the bulk ESS of the folded draws, of every
    non-constant component of ``(chain, draw, n)`` draws: their extremes."""
    x = np.moveaxis(np.asarray(draws, np.float64), (0, 1), (-2, -1))
    x = x[np.ptp(x, axis=(-2, -1)) > 0]
    kw = {"chain_axis": -2, "draw_axis": -1}
    with np.errstate(all="ignore"):
        bulk = np.asarray(array_stats.rhat(x, method="z_scale", **kw))
        fold = np.asarray(array_stats.rhat(x, method="folded", **kw))
        med = np.median(x, axis=(-2, -1), keepdims=True)
        ess_f = np.asarray(array_stats.ess(np.abs(x - med), method="bulk", **kw))
        ess_b = np.asarray(array_stats.ess(x, method="bulk", **kw))
    return {"n_components": int(len(x)), "max_rhat_bulk": float(bulk.max()),
            "max_rhat_folded": float(fold.max()),
            "n_rhat_above_1.01": int((np.maximum(bulk, fold) > 1.01).sum()),
            "n_rhat_bulk_above_1.01": int((bulk > 1.01).sum()),
            "min_ess_bulk": float(ess_b.min()), "median_ess_bulk": float(np.median(ess_b)),
            "min_ess_folded": float(ess_f.min()), "median_ess_folded": float(np.median(ess_f))}


def sites_rhat_parts(r) -> dict:
    """:func:`rhat_parts` over every sampled and deterministic site of the posterior."""
    post = r.posterior["posterior"]
    arrs = [np.asarray(v.values, np.float64).reshape(v.shape[0], v.shape[1], -1)
            for v in post.data_vars.values() if v.ndim >= 2]
    return rhat_parts(np.concatenate(arrs, axis=-1))


def gaussian_control(dim: int, num_samples: int, seed: int) -> dict:
    """NUTS (NumPyro defaults, 4 chains, 500 warm-up draws) on a ``dim``-dimensional
    standard normal: :func:`rhat_parts` of a target that mixes perfectly."""
    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    def model() -> None:
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([dim]).to_event(1))

    mc = MCMC(NUTS(model), num_warmup=500, num_samples=num_samples, num_chains=4,
              chain_method="sequential", progress_bar=False)
    mc.run(jax.random.PRNGKey(seed))
    return rhat_parts(np.asarray(mc.get_samples(group_by_chain=True)["x"]))


def one_trial(seed: int, num_samples: int | None = None,
              control: bool = False) -> tuple[dict, list[dict]]:
    table, truth = simulate_pdx_trial(40, seed=seed)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    inference = {"method": "nuts"} | ({"num_samples": num_samples} if num_samples else {})
    r = db.fit(table, "xenograft", control_arm="untreated", seed=seed, inference=inference)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    s = r.summary(PROB)
    diag = r.diagnostics["checks"]
    with_diag = s[s["r_hat"].notna()]
    est = s[s["quantity"].eq("growth_rate") & s["arm"].eq("untreated")].set_index(
        "cell_line")["median"]
    own = own_slopes(table, "untreated").loc[est.index]
    rows = []
    per_line = truth[truth["quantity"].isna()].pivot(index="cell_line", columns="arm",
                                                      values="growth_rate")
    diffs = s[s["quantity"].eq("growth_rate_difference") & s["cell_line"].ne("pooled")]
    for x in diffs.itertuples():
        t = per_line.loc[x.cell_line, x.arm] - per_line.loc[x.cell_line, "untreated"]
        rows.append({"seed": seed, "kind": "per_line_difference", "arm": x.arm,
                     "cell_line": x.cell_line, "truth": t, "median": x.median,
                     "lower": x.lower, "upper": x.upper})
    pooled = s[s["cell_line"].eq("pooled")].set_index(["arm", "quantity"])
    tp = truth[truth["cell_line"].eq("pooled")].set_index(["arm", "quantity"])["value"]
    for (arm, q), t in tp.items():
        key = (arm, "growth_rate_difference" if q == "treatment_effect" else q)
        if key in pooled.index:
            p = pooled.loc[key]
            rows.append({"seed": seed, "kind": f"pooled_{q}", "arm": arm, "cell_line": "pooled",
                         "truth": t, "median": p["median"], "lower": p["lower"],
                         "upper": p["upper"]})
    for row in rows:
        row["inside"] = bool(row["lower"] <= row["truth"] <= row["upper"])
    num_draws = r.posterior["posterior"].sizes["draw"]
    rec = {"seed": seed, "wall_s": wall, "fit_total_s": r.diagnostics["timings"]["fit_total"],
           "load_before": load0, "load_after": load1,
           "summary_max_rhat": float(with_diag["r_hat"].max()),
           "summary_min_ess_bulk": float(with_diag["ess_bulk"].min()),
           "summary_min_ess_tail": float(with_diag["ess_tail"].min()),
           "sites_max_rhat": diag["max_rhat"]["value"],
           "sites_min_ess_bulk": diag["min_ess_bulk"]["value"],
           "sites_min_ess_tail": diag["min_ess_tail"]["value"],
           "divergences": diag["divergences"]["value"],
           "min_bfmi": diag.get("min_bfmi", {}).get("value"),
           "passed": bool(r.diagnostics["passed"]),
           "rank_corr_untreated": float(spearmanr(est, own).statistic),
           "worst_rhat": with_diag.nlargest(5, "r_hat")[
               ["cell_line", "arm", "quantity", "r_hat", "ess_bulk", "ess_tail"]].to_dict(
                   "records"),
           "worst_ess_bulk": with_diag.nsmallest(3, "ess_bulk")[
               ["cell_line", "arm", "quantity", "r_hat", "ess_bulk", "ess_tail"]].to_dict(
                   "records"),
           "sites_rhat_parts": sites_rhat_parts(r),
           "n_mice": r.data.n_mice, "n_rows": r.data.n_rows, "design": r.data.design}
    rec["num_samples"] = int(num_draws)
    if control:
        rec["gaussian_control"] = gaussian_control(rec["sites_rhat_parts"]["n_components"],
                                                   int(num_draws), seed)
    return rec, rows


def report(trials: list[dict], rows: list[dict], args) -> tuple[dict, list[str]]:
    df = pd.DataFrame(rows)
    cov = {k: {"inside": int(g["inside"].sum()), "n": int(len(g))}
           for k, g in df.groupby("kind")}
    res = {"timestamp": utc_timestamp(), "command": command(
        "benchmarks.validation.pdx_trial", [f"--trials={args.trials}"]
        + ([f"--tag={args.tag}"] if args.tag else [])
        + ([f"--num-samples={args.num_samples}"] if args.num_samples else [])
        + (["--control"] if args.control else [])), "environment": environment(),
        "interval_prob": PROB, "trials": trials, "coverage": cov, "rows": rows}
    md = [f"# A simulated PDX clinical trial ({res['timestamp']})", "",
          "40 lines x (untreated, drugA, drugB, drugA+drugB), one mouse each, staggered days, "
          "culling at 1,500 mm3; default preset, NUTS with 4 chains x "
          + (f"{args.num_samples} draws" if args.num_samples else
             "the default draws (500, extended in chunks of 250 up to 2,000 while a site has "
             "R-hat > 1.01 or ESS < 400)")
          + " after 500 warm-up draws; "
          f"`{res['command']}`. Machine: 2 CPU cores shared with other jobs (load average "
          "before and after each fit below).", "",
          "| seed | draws per chain | wall s | load (1 min) before/after | "
          "max R-hat (summary / sites) | "
          "min bulk ESS (summary / sites) | min tail ESS (summary / sites) | divergences | "
          "rank corr. untreated vs own slope |", "|---|---|---|---|---|---|---|---|---|"]
    for t in trials:
        md.append(f"| {t['seed']} | {t['num_samples']} | {t['wall_s']:.0f} | "
                  f"{t['load_before'][0]:.1f} / "
                  f"{t['load_after'][0]:.1f} | {t['summary_max_rhat']:.4f} / "
                  f"{t['sites_max_rhat']:.4f} | {t['summary_min_ess_bulk']:.0f} / "
                  f"{t['sites_min_ess_bulk']:.0f} | {t['summary_min_ess_tail']:.0f} / "
                  f"{t['sites_min_ess_tail']:.0f} | {t['divergences']} | "
                  f"{t['rank_corr_untreated']:.4f} |")
    md += ["", f"Coverage of {PROB:.0%} intervals ({len(trials)} trial(s); the issue's target "
           "is 0.85-0.95 over 10 trials):", "", "| quantity | inside | n | fraction |",
           "|---|---|---|---|"]
    for k, c in cov.items():
        md.append(f"| {k} | {c['inside']} | {c['n']} | {c['inside'] / c['n']:.3f} |")
    md += ["", "Highest R-hat of a reported quantity, per trial:", ""]
    for t in trials:
        w = t["worst_rhat"][0]
        md.append(f"- seed {t['seed']}: {w['quantity']} ({w['cell_line']}, {w['arm']}) "
                  f"R-hat {w['r_hat']:.4f}, bulk ESS {w['ess_bulk']:.0f}")
    md += ["", "Rank R-hat split into its two parts (Vehtari et al. 2021) over every component "
           "of the posterior's sites (sampled and deterministic; constant ones skipped): bulk "
           "R-hat (chains differ in location), folded R-hat (of |draw - median|: chains differ "
           "in scale), the number of components whose rank R-hat (the larger) is above 1.01, "
           "and the bulk ESS of the folded draws. "
           + ("Control: NUTS with the same budgets on a standard normal of as many "
              "dimensions (seed = trial seed)." if args.control else ""), "",
           "| seed | components | max bulk R-hat | max folded R-hat | n > 1.01 (bulk only) | "
           "median / min bulk ESS | median / min folded ESS |"
           + (" control: max bulk / folded R-hat, n > 1.01 |" if args.control else ""),
           "|---|---|---|---|---|---|---|" + ("---|" if args.control else "")]
    for t in trials:
        p = t["sites_rhat_parts"]
        line = (f"| {t['seed']} | {p['n_components']} | {p['max_rhat_bulk']:.4f} | "
                f"{p['max_rhat_folded']:.4f} | {p['n_rhat_above_1.01']} "
                f"({p['n_rhat_bulk_above_1.01']}) | {p['median_ess_bulk']:.0f} / "
                f"{p['min_ess_bulk']:.0f} | {p['median_ess_folded']:.0f} / "
                f"{p['min_ess_folded']:.0f} |")
        if "gaussian_control" in t:
            c = t["gaussian_control"]
            line += (f" {c['max_rhat_bulk']:.4f} / {c['max_rhat_folded']:.4f}, "
                     f"{c['n_rhat_above_1.01']} |")
        md.append(line)
    md += ["", f"Design line: {trials[0]['design']}"]
    return res, md


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--tag", default="")
    ap.add_argument("--num-samples", type=int, default=None,
                    help="draws per chain (default: the default budget)")
    ap.add_argument("--control", action="store_true",
                    help="also fit the standard-normal control per trial")
    args = ap.parse_args(argv)
    trials, rows = [], []
    stem = OUT / ("pdx_trial" + (f"_{args.tag}" if args.tag else ""))
    for seed in range(201, 201 + args.trials):
        log(f"trial seed {seed}")
        rec, r = one_trial(seed, args.num_samples, args.control)
        trials.append(rec)
        rows += r
        res, md = report(trials, rows, args)
        write_result(stem, res, md)
        log(f"seed {seed}: {rec['wall_s']:.0f} s, R-hat {rec['summary_max_rhat']:.4f}, "
            f"rank corr {rec['rank_corr_untreated']:.4f}")
    print("\n".join(md))


if __name__ == "__main__":
    main()
