"""Many checkerboards in one compiled program: 1,000 simulated 6 x 6 combinations on CPU.

Design (seed fixed): 50 cell lines x 20 ordered drug pairs (from 10 drugs) = 1,000
combinations, one 6 x 6 checkerboard each (dose 0 plus 5 four-fold doses; every cell line has
its own dose range, so grids differ), one replicate, noise sd 0.05, MuSyC truth with drug-level
potencies, slopes and maximal effects, cell-line deviations, and pair-level beta and alphas
(``drugbayes.families.combination.simulate_wells``).

The ``combination`` family's model is vectorised over ``[matrix, point]`` arrays (no Python
loop over combinations), so each back-end compiles one program for all 1,000; NUTS and SVI run
in compiled chunks (``inference.chunk_size``) with progress logged between chunks.

Timed, one after the other in one process on the same machine:

- the classic ZIP of all 1,000 (one compiled program, compilation included);
- drugbayes ``svi`` and ``nuts`` fits of all 1,000 (each: read, validate, encode, compile, fit,
  summary), with the run diagnostics, coverage of the true beta and the true model-based ZIP
  by the 95% intervals, and for NUTS the number of combinations passing per-combination
  diagnostics;
- the ``synergy`` package's ``MuSyC(fit_gamma=False)`` with 100 bootstrap iterations, on the
  first ``--synergy-cap`` combinations only, extrapolated linearly to 1,000 (**an
  extrapolation**, not a measurement).

Usage: ``nice -n 10 python -m benchmarks.scale.combination_scale [--n 1000] [--methods svi,nuts]
[--synergy-cap 10] [--chains 2 --warmup 300 --samples 300] [--steps 4000] [--tag TAG]``.
Writes ``benchmarks/results/scale/combination_scale_cpu[_quick][_<tag>].{json,md}``
(``_quick`` with ``--n < 1000``).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import SHARED_DATA, results_dir, write_result

OUT = results_dir("scale")
SEED = 20261127


def combinations_passing(combos: pd.DataFrame, by, max_rhat: float, min_ess: float,
                         min_tail: float) -> dict:
    """Per-combination diagnostics: a combination passes when every numeric summary quantity
    has R-hat <= ``max_rhat`` and bulk and tail ESS >= the minimums. Counted for the given
    thresholds and for a relaxed rule (R-hat <= 1.05, ESS >= 100); also the median and the
    largest per-combination maximum R-hat."""
    num = combos[~combos["quantity"].str.startswith("p_")]
    g = num.groupby(by)
    worst_rhat = g["r_hat"].max()
    worst_bulk = g["ess_bulk"].min()
    worst_tail = g["ess_tail"].min()

    def count(rh: float, eb: float, et: float) -> int:
        return int(((worst_rhat.fillna(1.0) <= rh) & (worst_bulk.fillna(np.inf) >= eb)
                    & (worst_tail.fillna(np.inf) >= et)).sum())

    return {"passed": count(max_rhat, min_ess, min_tail),
            "passed_relaxed": count(1.05, 100.0, 100.0),
            "thresholds": {"max_rhat": max_rhat, "min_ess_bulk": min_ess,
                           "min_ess_tail": min_tail},
            "relaxed": {"max_rhat": 1.05, "min_ess_bulk": 100.0, "min_ess_tail": 100.0},
            "max_rhat_median": float(worst_rhat.median()),
            "max_rhat_max": float(worst_rhat.max()),
            "min_ess_bulk_median": float(worst_bulk.median())}


def make_screen(n: int, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``(wells, truth, doses per cell line)``: ``n`` combinations (a multiple of 20)."""
    from drugbayes.families.combination import simulate_wells, true_excess

    rng = np.random.default_rng(seed)
    n_pairs = 20
    n_cells = max(1, n // n_pairs)
    drugs = [f"D{i:02d}" for i in range(10)]
    all_pairs = [(a, b) for a in drugs for b in drugs if a != b]
    pairs = [all_pairs[i] for i in rng.choice(len(all_pairs), n_pairs, replace=False)]
    d_c = {d: rng.normal(-0.5, 0.4) for d in drugs}
    d_h = {d: rng.normal(0.0, 0.2) for d in drugs}
    d_b = {d: rng.uniform(0.1, 0.6) for d in drugs}
    p_beta = {p: rng.normal(0.1, 0.3) for p in pairs}
    p_la12 = {p: rng.normal(0.0, 0.6) for p in pairs}
    p_la21 = {p: rng.normal(0.0, 0.6) for p in pairs}
    cells = [f"CL{i:03d}" for i in range(n_cells)]
    doses = {c: 10 ** rng.uniform(0.5, 1.5) / 4.0 ** np.arange(4, -1, -1) for c in cells}
    rows = []
    for c in cells:
        for a, b in pairs:
            rows.append({"cell_line": c, "drug_a": a, "drug_b": b, "e0": 1.0,
                         "e1": float(np.clip(d_b[a] + rng.normal(0, 0.05), 0.02, 0.95)),
                         "e2": float(np.clip(d_b[b] + rng.normal(0, 0.05), 0.02, 0.95)),
                         "beta": float(p_beta[(a, b)] + rng.normal(0, 0.1)),
                         "c1": float(10 ** (d_c[a] + rng.normal(0, 0.2))),
                         "c2": float(10 ** (d_c[b] + rng.normal(0, 0.2))),
                         "h1": float(np.exp(d_h[a] + rng.normal(0, 0.1))),
                         "h2": float(np.exp(d_h[b] + rng.normal(0, 0.1))),
                         "log_alpha12": float(p_la12[(a, b)] + rng.normal(0, 0.2)),
                         "log_alpha21": float(p_la21[(a, b)] + rng.normal(0, 0.2))})
    truth = pd.DataFrame(rows)
    wells = simulate_wells(truth, doses, doses, n_replicates=1, noise_sd=0.05, seed=seed + 1)
    return wells, true_excess(truth, doses, doses), doses


COVERED = ("beta", "log_alpha12", "log_alpha21", "bliss_excess")
"""Quantities whose true value's 90% interval coverage is counted (issue 18's targets)."""


def run_drugbayes(wells: pd.DataFrame, truth: pd.DataFrame, inference: dict) -> dict:
    import drugbayes as db

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    r = db.fit(wells, "combination", dose_unit="uM", inference=inference, seed=SEED)
    s = r.summary()
    wall = time.perf_counter() - t0
    m = s[s["cell_line"] != "pooled"].merge(truth, on=["cell_line", "drug_a", "drug_b"])
    cover = {}
    for q in ("beta", "zip_delta", "bliss_excess"):
        sub = m[m["quantity"] == q]
        cover[q] = float(((sub["lower"] <= sub[q]) & (sub[q] <= sub["upper"])).mean())
    s90 = r.summary(0.9)
    m90 = s90[s90["cell_line"] != "pooled"].merge(truth, on=["cell_line", "drug_a", "drug_b"])
    cover90 = {}
    for q in COVERED:
        sub = m90[m90["quantity"] == q]
        cover90[q] = float(((sub["lower"] <= sub[q]) & (sub[q] <= sub["upper"])).mean())
    checks = {k: v.get("value") for k, v in r.diagnostics.get("checks", {}).items()}
    t_inf = sum(v for k, v in r.inference.timings.items()
                if k in ("warmup", "sampling", "map_init"))
    out = {"settings": inference, "wall_s": wall, "timings": r.inference.timings,
           "diagnostics_passed": bool(r.diagnostics.get("passed", False)),
           "checks": checks, "truth_in_95": cover, "truth_in_90": cover90,
           "n_combinations": int(len(truth)),
           "min_ess_bulk_per_s_wall": (checks.get("min_ess_bulk") or float("nan")) / wall,
           "min_ess_bulk_per_s_inference": (checks.get("min_ess_bulk") or float("nan"))
           / max(t_inf, 1e-9),
           "load_avg_before": load0, "load_avg_after": os.getloadavg()}
    if inference["method"] in ("nuts", "screen"):
        out["per_combination"] = combinations_passing(
            m, ["cell_line", "drug_a", "drug_b"], 1.01, 400.0, 400.0)
    return out


def run_classic_zip(wells: pd.DataFrame) -> dict:
    import drugbayes as db
    from drugbayes.families.combination.zip import zip_delta_classic_data

    _, data = db.prepare(wells, kind="combination", dose_unit="uM")
    t0 = time.perf_counter()
    z = zip_delta_classic_data(data)
    return {"wall_s": time.perf_counter() - t0, "all_finite": bool(np.isfinite(z["mean"]).all())}


def run_synergy(wells: pd.DataFrame, cap: int, boots: int) -> dict:
    from synergy.combination import MuSyC

    np.random.seed(SEED)  # synergy's bootstrap uses numpy's global generator
    groups = list(wells.groupby(["cell_line", "drug_a", "drug_b"], sort=False))[:cap]
    per, ok = [], 0
    for _, g in groups:
        t1 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                MuSyC(fit_gamma=False).fit(g["dose_a"].to_numpy(float),
                                           g["dose_b"].to_numpy(float),
                                           g["response"].to_numpy(float),
                                           bootstrap_iterations=boots)
            ok += 1
        except Exception:  # noqa: BLE001  (a failed fit is a result)
            pass
        per.append(time.perf_counter() - t1)
    return {"n_timed": len(per), "fits_ok": ok, "bootstrap_iterations": boots,
            "wall_s": float(sum(per)), "per_combination_s": float(np.mean(per))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--methods", default="svi,nuts")
    ap.add_argument("--synergy-cap", type=int, default=10)
    ap.add_argument("--boots", type=int, default=100)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--screen-chains", type=int, default=4)
    ap.add_argument("--screen-warmup", type=int, default=500)
    ap.add_argument("--screen-samples", type=int, default=500)
    ap.add_argument("--mathews-griner", action="store_true",
                    help="the 466-block Mathews Griner table instead of simulated data")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.mathews_griner:
        run_mathews_griner(args)
        return
    t0 = time.perf_counter()
    wells, truth, _ = make_screen(args.n)
    res: dict = {"n_combinations": int(len(truth)), "n_wells": int(len(wells)), "seed": SEED,
                 "simulate_s": time.perf_counter() - t0,
                 "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()}}
    res["classic_zip"] = run_classic_zip(wells)
    for method in [m for m in args.methods.split(",") if m]:
        inf: dict = {"method": method}
        if method == "nuts":
            inf.update(num_chains=args.chains, num_warmup=args.warmup,
                       num_samples=args.samples)
        elif method == "svi":
            inf.update(num_steps=args.steps)
        elif method == "screen":
            inf.update(num_chains=args.screen_chains, num_warmup=args.screen_warmup,
                       num_samples=args.screen_samples)
        res[method] = run_drugbayes(wells, truth, inf)
        logging.info("%s done: %.1f s", method, res[method]["wall_s"])
    if args.synergy_cap > 0:
        res["synergy_musyc"] = run_synergy(wells, args.synergy_cap, args.boots)
        res["synergy_musyc"]["extrapolated_s_for_all"] = (
            res["synergy_musyc"]["per_combination_s"] * res["n_combinations"])
    res["machine"]["load_avg_at_end"] = os.getloadavg()
    stem = ("combination_scale_cpu" + ("" if args.n >= 1000 else "_quick")
            + (f"_{args.tag}" if args.tag else ""))
    n = res["n_combinations"]
    lines = [f"# {n} simulated 6 x 6 combinations in one program (CPU)", "",
             f"`nice -n 10 python -m benchmarks.scale.combination_scale --n {args.n} --methods "
             f"{args.methods} --synergy-cap {args.synergy_cap} --chains {args.chains} --warmup "
             f"{args.warmup} --samples {args.samples} --steps {args.steps}` on "
             f"{os.cpu_count()} CPU cores (shared with another job; load average at the end "
             f"{res['machine']['load_avg_at_end'][0]:.1f}). {res['n_wells']} wells; "
             f"{n // 20} cell lines (each its own dose grid) x 20 pairs of 10 drugs.", "",
             "| what | wall time | per combination | notes |", "|---|---|---|---|",
             f"| classic ZIP, all {n} (one program) | {res['classic_zip']['wall_s']:.1f} s | "
             f"{1000 * res['classic_zip']['wall_s'] / n:.1f} ms | compilation included |"]
    for method in ("svi", "nuts", "screen"):
        if method in res:
            r = res[method]
            note = (f"diagnostics passed: {r['diagnostics_passed']} ("
                    + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in r["checks"].items()) + "); truth in 95%: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in r["truth_in_95"].items())
                    + "; truth in 90%: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in r.get("truth_in_90", {}).items())
                    + f"; min bulk ESS per s (wall) {r.get('min_ess_bulk_per_s_wall', 0):.3g}"
                    + "; load average before/after "
                    + f"{r.get('load_avg_before', (0,))[0]:.1f}/"
                    + f"{r.get('load_avg_after', (0,))[0]:.1f}")
            if "per_combination" in r:
                pc = r["per_combination"]
                note += (f"; combinations passing R-hat <= 1.01 and ESS >= 400: "
                         f"{pc['passed']}/{n}, R-hat <= 1.05 and ESS >= 100: "
                         f"{pc['passed_relaxed']}/{n} (per-combination max R-hat: median "
                         f"{pc['max_rhat_median']:.3f}, max {pc['max_rhat_max']:.3f})")
            lines.append(f"| drugbayes {method} {r['settings']} | {r['wall_s']:.1f} s | "
                         f"{r['wall_s'] / n:.3f} s | {note} |")
    if "synergy_musyc" in res:
        sy = res["synergy_musyc"]
        lines.append(f"| synergy MuSyC + {sy['bootstrap_iterations']} bootstraps, "
                     f"{sy['n_timed']} timed | {sy['wall_s']:.1f} s | "
                     f"{sy['per_combination_s']:.2f} s | **extrapolated** to {n}: "
                     f"{sy['extrapolated_s_for_all']:.0f} s; fits ok {sy['fits_ok']}/"
                     f"{sy['n_timed']} |")
    if "screen" in res and "nuts" in res:
        res["screen_vs_nuts_min_ess_per_s"] = (res["screen"]["min_ess_bulk_per_s_wall"]
                                               / res["nuts"]["min_ess_bulk_per_s_wall"])
        lines += ["", "screen / NUTS min bulk ESS per second (wall, compilation included): "
                  f"{res['screen_vs_nuts_min_ess_per_s']:.2f}"]
    lines += ["", "drugbayes timings (s): " + "; ".join(
        f"{m}: " + ", ".join(f"{k} {v:.1f}" for k, v in res[m]["timings"].items())
        for m in ("svi", "nuts", "screen") if m in res)]
    write_result(OUT / stem, res, lines)
    print("\n".join(lines))


# ----------------------------------------------------------------------------- Mathews Griner
MG_FILE = SHARED_DATA / "combination_mathews_griner" / "mathews_griner_TMD8_ibrutinib_combos.csv"


def mathews_griner_table() -> pd.DataFrame:
    """The Mathews Griner CSV as a user would write it: one table, ``experiment`` = block,
    ibrutinib as drug a and the partner as drug b (block 209 is ibrutinib with itself: the
    self-combination, the built-in null check), doses in nM, viability in %."""
    df = pd.read_csv(MG_FILE)
    return pd.DataFrame({"experiment": "B" + df["BlockId"].astype(str),
                         "cell_line": df["sampleid"], "drug_a": df["ColName"],
                         "dose_a": df["ColConcs"], "drug_b": df["RowName"],
                         "dose_b": df["RowConcs"], "response": df["viability"]})


def run_mathews_griner(args) -> None:
    """Every method of ``--methods`` on the Mathews Griner table: per-combination pass rate,
    whole-run time (reading the table, validation, compilation, fit, summary) and the
    self-combination's synergy (the null check)."""
    import drugbayes as db

    table = mathews_griner_table()
    res: dict = {"data": str(MG_FILE.name), "n_rows": int(len(table)),
                 "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    lines = ["# Mathews Griner ibrutinib screen (466 blocks), one table as a user reads it", "",
             "`nice -n 10 python -m benchmarks.scale.combination_scale --mathews-griner "
             f"--methods {args.methods} --chains {args.chains} --warmup {args.warmup} "
             f"--samples {args.samples} --screen-chains {args.screen_chains} --screen-warmup "
             f"{args.screen_warmup} --screen-samples {args.screen_samples}` on "
             f"{os.cpu_count()} CPU cores shared with other jobs (load averages below).", "",
             "| method | whole run | combinations passing R-hat <= 1.01, bulk/tail ESS >= 400 "
             "| relaxed (1.05, 100) | max R-hat (median / max over combinations) | load "
             "average before / after |", "|---|---|---|---|---|---|"]
    sham_rows = []
    for method in [m for m in args.methods.split(",") if m]:
        inf: dict = {"method": method}
        if method == "nuts":
            inf.update(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples)
        elif method == "screen":
            inf.update(num_chains=args.screen_chains, num_warmup=args.screen_warmup,
                       num_samples=args.screen_samples)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        r = db.fit(table, "combination", dose_unit="nM", response_scale="percent",
                   inference=inf, seed=SEED)
        s = r.summary()
        wall = time.perf_counter() - t0
        combos = s[s["cell_line"] != "pooled"]
        n = int(combos[["drug_a", "drug_b"]].drop_duplicates().shape[0])
        pc = combinations_passing(combos, ["cell_line", "drug_a", "drug_b"], 1.01, 400, 400)
        sham = combos[(combos["drug_a"] == combos["drug_b"])
                      & combos["quantity"].isin(["beta", "log_alpha12", "log_alpha21",
                                                 "bliss_excess", "hsa_excess",
                                                 "loewe_excess"])]
        res[method] = {"settings": inf, "wall_s": wall, "timings": r.inference.timings,
                       "n_combinations": n, "per_combination": pc,
                       "checks": {k: v.get("value") for k, v in
                                  r.diagnostics.get("checks", {}).items()},
                       "load_avg_before": load0, "load_avg_after": os.getloadavg(),
                       "self_combination": sham[["quantity", "mean", "lower", "upper",
                                                 "r_hat"]].to_dict("records")}
        lines.append(f"| {method} {inf} | {wall:.0f} s | {pc['passed']} of {n} | "
                     f"{pc['passed_relaxed']} of {n} | {pc['max_rhat_median']:.3f} / "
                     f"{pc['max_rhat_max']:.3f} | {load0[0]:.1f} / {os.getloadavg()[0]:.1f} |")
        for row in res[method]["self_combination"]:
            sham_rows.append(f"| {method} | {row['quantity']} | {row['mean']:.3f} | "
                             f"({row['lower']:.3f}, {row['upper']:.3f}) | {row['r_hat']:.3f} |")
        logging.info("%s done: %.1f s", method, wall)
    lines += ["", "## The self-combination (ibrutinib x ibrutinib, block 209): the null check",
              "", "Loewe additivity says a drug's synergy with itself is zero; Bliss does not "
              "(a sham combination of a steep curve is Bliss-synergistic or antagonistic by "
              "construction). 95% intervals:", "",
              "| method | quantity | mean | 95% interval | R-hat |", "|---|---|---|---|---|",
              *sham_rows]
    stem = "combination_scale_mathews_griner" + (f"_{args.tag}" if args.tag else "")
    write_result(OUT / stem, res, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
