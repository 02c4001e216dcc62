"""Benchmark: drugbayes map / svi / nuts against a per-curve scipy 4PL loop on a simulated screen.

One run, one process, one machine. A screen of ``n_cell_lines x n_drugs`` curves (9 doses,
3 replicates, normalised viability, fixed seed) is simulated with known truth; every method
estimates log10 IC50 (relative IC50 = curve midpoint, log10 uM) for every cell line x drug and
is scored against the truth.

- ``scipy``: one independent ``scipy.optimize.curve_fit`` 4PL fit per cell line x drug, pooling
  its replicates; bounded (trf); start values from the dose means; a Wald interval on log10 IC50
  from the covariance of the fit. Failed fits are counted and, so that every method is scored
  on the same curves, fall back to their data-based start values (metrics over the successful
  fits only are recorded as well).
- ``map`` / ``svi`` / ``nuts``: ``drugbayes.fit`` on the whole table (the hierarchical model);
  the posterior median of ``log10_ic50`` is the point estimate, equal-tailed 90%/95% intervals
  from the draws (``map`` gives none).

Wall time is measured around each method's whole call (for drugbayes: ``db.fit`` including
validation, JIT compilation, and for nuts the MAP warm start).

Usage::

    python -m benchmarks.peers.dose_response_screen               # full: 100 x 10 curves
    python -m benchmarks.peers.dose_response_screen --n-cell-lines 10 --n-drugs 3 \
        --num-warmup 200 --num-samples 200 --out /tmp/tiny          # quick check

Writes ``benchmarks/results/peers/dose_response_screen_cpu.{json,md}`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

from benchmarks._common import command, environment, log, results_dir

DOSES = np.logspace(-3, 1, 9)  # uM
LO, HI = float(np.log10(DOSES.min())), float(np.log10(DOSES.max()))
ALL_METHODS = ("scipy", "map", "map_warm", "svi", "nuts")


# ----------------------------------------------------------------------------- scipy baseline
def four_pl(logd, top, bottom, log10_ic50, hill):
    """4PL on log10 dose: bottom + (top - bottom) / (1 + 10^(hill (logd - log10_ic50))).

    Same curve as drugbayes' ``top * (b + (1 - b) * sigmoid(-hill ln10 (logd - L)))`` with
    ``bottom = top * b``; the midpoint (relative IC50) is ``log10_ic50`` in both.
    """
    z = np.clip(hill * (logd - log10_ic50) * np.log(10.0), -700, 700)
    return bottom + (top - bottom) / (1.0 + np.exp(z))


# bounds: top, bottom, log10 IC50 (2 decades beyond the tested range), hill
BOUNDS = ([0.0, -0.5, LO - 2.0, 0.05], [2.0, 1.5, HI + 2.0, 20.0])


def start_values(logd: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Data-based start: top/bottom = max/min dose mean, IC50 where the means cross halfway."""
    ud = np.unique(logd)
    means = np.array([y[logd == d].mean() for d in ud])
    top = float(np.clip(means.max(), 0.05, 1.95))
    bottom = float(np.clip(means.min(), -0.45, top - 0.01))
    half = 0.5 * (top + bottom)
    L = 0.5 * (LO + HI)
    below = np.nonzero(means < half)[0]
    if len(below) and below[0] > 0:
        i = below[0]
        y0, y1 = means[i - 1], means[i]
        f = (y0 - half) / (y0 - y1) if y0 != y1 else 0.5
        L = float(ud[i - 1] + f * (ud[i] - ud[i - 1]))
    elif len(below):  # already below halfway at the lowest dose
        L = float(ud[0])
    return np.array([top, bottom, float(np.clip(L, BOUNDS[0][2], BOUNDS[1][2])), 1.0])


def scipy_loop(wells: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """One bounded curve_fit per cell line x drug (replicates pooled)."""
    t0 = time.perf_counter()
    rows = []
    for (cl, dr), sub in wells.groupby(["cell_line", "drug"], sort=False):
        logd = np.log10(sub["dose"].to_numpy(np.float64))
        y = sub["response"].to_numpy(np.float64)
        p0 = start_values(logd, y)
        status, est, se, msg = "ok", p0[2], np.nan, ""
        with warnings.catch_warnings():
            warnings.simplefilter("error", optimize.OptimizeWarning)
            try:
                popt, pcov = optimize.curve_fit(four_pl, logd, y, p0=p0, bounds=BOUNDS,
                                                maxfev=10000)
                est = float(popt[2])
                var = float(pcov[2, 2])
                se = np.sqrt(var) if np.isfinite(var) and var >= 0 else np.nan
                if not np.isfinite(se):
                    status = "no_covariance"
            except optimize.OptimizeWarning as e:  # covariance could not be estimated
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optimize.OptimizeWarning)
                    popt, _ = optimize.curve_fit(four_pl, logd, y, p0=p0, bounds=BOUNDS,
                                                 maxfev=10000)
                est, status, msg = float(popt[2]), "no_covariance", str(e)
            except (RuntimeError, ValueError) as e:
                status, msg = "failed", str(e)
        at_bound = bool(status != "failed" and (
            np.isclose(est, BOUNDS[0][2], atol=1e-6) or np.isclose(est, BOUNDS[1][2], atol=1e-6)))
        rows.append({"cell_line": cl, "drug": dr, "est": est, "se": se, "status": status,
                     "at_bound": at_bound, "message": msg})
    return pd.DataFrame(rows), time.perf_counter() - t0


# ----------------------------------------------------------------------------- drugbayes
def drugbayes_fit(db, wells: pd.DataFrame, method: str, args) -> tuple[pd.DataFrame, float, dict]:
    if method == "map":
        inf = {"method": "map", "map_num_steps": args.map_steps,
               "map_learning_rate": args.map_learning_rate}
    elif method == "svi":
        inf = {"method": "svi", "num_steps": args.svi_steps, "learning_rate": args.svi_lr,
               "num_samples": args.num_samples, "num_chains": args.num_chains}
    else:
        inf = {"method": "nuts", "num_chains": args.num_chains, "num_warmup": args.num_warmup,
               "num_samples": args.num_samples}
    t0 = time.perf_counter()
    r = db.fit(wells, dose_unit="uM", response_scale="fraction", inference=inf, seed=args.seed,
               interval_prob=0.9)
    wall = time.perf_counter() - t0
    s90 = r.summary(interval_prob=0.9)
    s95 = r.summary(interval_prob=0.95)
    e90 = s90[s90.quantity == "log10_ic50"][["cell_line", "drug", "median", "lower", "upper",
                                            "censored", "r_hat", "ess_bulk"]]
    e95 = s95[s95.quantity == "log10_ic50"][["cell_line", "drug", "lower", "upper"]]
    est = e90.rename(columns={"median": "est", "lower": "lo90", "upper": "hi90"}).merge(
        e95.rename(columns={"lower": "lo95", "upper": "hi95"}), on=["cell_line", "drug"])
    d = r.diagnostics
    checks = {k: (v.get("value") if isinstance(v, dict) else v)
              for k, v in d.get("checks", {}).items()}
    extra = {"inference": inf, "diagnostics_passed": bool(d.get("passed")),
             "offending_parameters_top10": d.get("offending", [])[:10],
             "n_offending_parameters": len(d.get("offending", [])),
             "n_parameters_checked": d.get("n_parameters"),
             "checks": checks, "timings": d.get("timings", {}),
             "info": {k: v for k, v in r.inference.info.items() if k != "params"}}
    return est, wall, extra


# ----------------------------------------------------------------------------- scoring
def _err_stats(err: np.ndarray) -> dict:
    err = np.asarray(err, np.float64)
    fin = err[np.isfinite(err)]
    return {"n": int(len(err)), "n_nonfinite": int(len(err) - len(fin)),
            "mae": float(np.mean(fin)) if len(fin) else None,
            "median_ae": float(np.median(fin)) if len(fin) else None}


def _cov(lo, hi, true) -> dict:
    lo, hi, true = (np.asarray(a, np.float64) for a in (lo, hi, true))
    ok = np.isfinite(lo) & np.isfinite(hi)
    hit = (true >= lo) & (true <= hi) & ok
    return {"n_with_interval": int(ok.sum()), "n_without_interval": int((~ok).sum()),
            "coverage": float(hit[ok].mean()) if ok.any() else None,
            "coverage_missing_as_miss": float(hit.mean()) if len(hit) else None,
            "mean_width": float(np.mean((hi - lo)[ok])) if ok.any() else None,
            "median_width": float(np.median((hi - lo)[ok])) if ok.any() else None}


def score(est: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Error and coverage of log10 IC50 (columns est, lo90, hi90, lo95, hi95 if intervals)."""
    m = truth[["cell_line", "drug", "log10_ic50"]].merge(est, on=["cell_line", "drug"],
                                                         how="left", validate="one_to_one")
    true = m["log10_ic50"].to_numpy()
    err = np.abs(m["est"].to_numpy(np.float64) - true)
    inside = (true >= LO) & (true <= HI)
    out = {"n_curves": int(len(m)), "n_missing_estimate": int(m["est"].isna().sum()),
           "n_true_ic50_in_range": int(inside.sum()),
           "error_all": _err_stats(err), "error_in_range": _err_stats(err[inside])}
    if "lo90" in m:
        for p in ("90", "95"):
            lo, hi = m[f"lo{p}"].to_numpy(), m[f"hi{p}"].to_numpy()
            out[f"coverage{p}_all"] = _cov(lo, hi, true)
            out[f"coverage{p}_in_range"] = _cov(lo[inside], hi[inside], true[inside])
    return out


# ----------------------------------------------------------------------------- report
def _f(x, nd=3):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{nd}f}"


def markdown(res: dict) -> str:
    s = res["setup"]
    env = res["environment"]
    lines = [
        "# Dose-response screen benchmark (CPU)", "",
        f"{s['n_curves']} curves ({s['n_cell_lines']} cell lines x {s['n_drugs']} drugs), "
        f"{len(s['doses_uM'])} doses ({s['doses_uM'][0]:g}-{s['doses_uM'][-1]:g} uM, log-spaced), "
        f"{s['n_replicates']} replicates, viability fraction with noise sd {s['noise_sd']}, "
        f"seed {s['seed']}; {s['n_true_ic50_in_range']} curves have their true IC50 inside the "
        f"tested range. Device: {', '.join(env['jax_devices'])} ({env['cpu_count']} CPUs, "
        f"affinity {env['cpu_affinity']}); jax {env['versions']['jax']}, numpyro "
        f"{env['versions']['numpyro']}, scipy {env['versions']['scipy']}; "
        f"{env['timestamp_utc']}.", "",
        "Command: `" + res["command"] + "`", "",
        "| method | wall time (s) | MAE log10 IC50 (all) | median AE (all) | MAE (true IC50 in "
        "range) | median AE (in range) | 90% coverage (all / in range) | 95% coverage (all / in "
        "range) | failures | max R-hat | min bulk ESS | divergences |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in res["methods"].items():
        sc = m["score"]
        c90 = (f"{_f(sc['coverage90_all']['coverage'])} / "
               f"{_f(sc['coverage90_in_range']['coverage'])}" if "coverage90_all" in sc else "–")
        c95 = (f"{_f(sc['coverage95_all']['coverage'])} / "
               f"{_f(sc['coverage95_in_range']['coverage'])}" if "coverage95_all" in sc else "–")
        if name == "scipy":
            fail = (f"{m['n_failed']} failed, {m['n_no_covariance']} no cov., "
                    f"{m['n_ic50_at_bound']} at bound")
        else:
            fail = "diagnostics " + ("passed" if m.get("diagnostics_passed") else "failed")
        ch = m.get("checks", {})
        lines.append(
            f"| {name} | {_f(m['wall_time_s'], 1)} | {_f(sc['error_all']['mae'])} | "
            f"{_f(sc['error_all']['median_ae'])} | {_f(sc['error_in_range']['mae'])} | "
            f"{_f(sc['error_in_range']['median_ae'])} | {c90} | {c95} | {fail} | "
            f"{_f(ch.get('max_rhat')) if name == 'nuts' else '–'} | "
            f"{_f(ch.get('min_ess_bulk'), 0) if name == 'nuts' else '–'} | "
            f"{_f(ch.get('divergences')) if name == 'nuts' else '–'} |")
    lines += ["", "Timings inside `drugbayes.fit` (s, from `result.diagnostics['timings']`; "
              "`compile` is the first compiled chunk, JIT included):", ""]
    for name, m in res["methods"].items():
        if name == "scipy":
            continue
        tm = m.get("timings", {})
        lines.append("- " + name + ": " + ", ".join(f"{k} {v:.1f}" for k, v in tm.items()))
    if "nuts" in res["methods"]:
        n = res["methods"]["nuts"]
        lines += ["", f"nuts: {n['n_offending_parameters']} of {n['n_parameters_checked']} "
                  f"parameters fail a diagnostic threshold; over the reported log10 IC50s max "
                  f"R-hat {_f(n['log10_ic50_max_rhat'])}, min bulk ESS "
                  f"{_f(n['log10_ic50_min_ess_bulk'], 0)}; min tail ESS (all parameters) "
                  f"{_f(n['checks'].get('min_ess_tail'), 0)}."]
    t = res["targets"]
    lines += ["", "Targets from the issue (as measured in this run):", ""]
    for k, v in t.items():
        lines.append(f"- {k}: {v}")
    lines += [
        "", "## What is measured", "",
        "`map` runs with an empty persistent JAX compilation cache (cold: XLA compiles its "
        "program); `map_warm` is the same fit repeated once the compiled program is on disk, "
        "which is what a rerun, a later config of a batch or a new process with the same "
        "shapes sees. "
        "Every method estimates the relative log10 IC50 (curve midpoint, log10 uM) of every cell "
        "line x drug and is scored against the simulated truth: mean and median absolute error "
        "over all curves, and over the curves whose true IC50 lies inside the tested dose range "
        "(outside it the data hold little information and estimates are extrapolations). "
        "`scipy` is an independent bounded `curve_fit` 4PL per cell line x drug (replicates "
        "pooled, start values from the dose means, log10 IC50 bounded to 2 decades beyond the "
        "tested range); its intervals are Wald intervals from the fit's covariance; a failed fit "
        "is counted and scored at its start value, a fit without a usable covariance has no "
        "interval (coverage is over the curves with an interval; the JSON also has coverage "
        "counting a missing interval as a miss). `map`, `svi` and `nuts` are `drugbayes.fit` on "
        "the whole table with the default hierarchical 4PL model; the point estimate is the "
        "posterior median and the intervals are equal-tailed (`map` is a point estimate, no "
        "intervals). Wall time covers the whole call (validation, JIT compilation and, for "
        "nuts, its MAP warm start), in one process on one machine, methods run one after "
        "another; R-hat, bulk ESS and divergences are drugbayes' own diagnostics over all "
        "parameters (`result.diagnostics`).", "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-cell-lines", type=int, default=100)
    ap.add_argument("--n-drugs", type=int, default=10)
    ap.add_argument("--n-replicates", type=int, default=3)
    ap.add_argument("--noise-sd", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(ALL_METHODS),
                    help="comma-separated subset of " + ",".join(ALL_METHODS))
    ap.add_argument("--num-warmup", type=int, default=500)
    ap.add_argument("--num-samples", type=int, default=1000)
    ap.add_argument("--num-chains", type=int, default=4)
    ap.add_argument("--svi-steps", type=int, default=4000)
    ap.add_argument("--svi-lr", type=float, default=0.01)
    ap.add_argument("--map-steps", type=int, default=500)
    ap.add_argument("--map-learning-rate", type=float, default=0.05)
    ap.add_argument("--out", default=str(results_dir("peers") / "dose_response_screen_cpu"),
                    help="output path without extension (.json and .md are written)")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad:
        ap.error(f"unknown method(s) {bad}; choose from {ALL_METHODS}")

    # a fresh persistent compilation cache: `map` runs cold (compiles), `map_warm` repeats it
    # with the compiled program on disk (what a rerun or the next config of a batch sees)
    import os
    import tempfile

    os.environ["DRUGBAYES_COMPILATION_CACHE"] = tempfile.mkdtemp(prefix="drugbayes-jax-cache-")
    import drugbayes as db

    env = environment()
    log(f"devices {env['jax_devices']}, {env['cpu_count']} CPUs")
    wells, truth = db.simulate_dose_response(
        n_cell_lines=args.n_cell_lines, n_drugs=args.n_drugs, doses=DOSES, dose_unit="uM",
        n_replicates=args.n_replicates, n_experiments=1, response_scale="fraction",
        noise_sd=args.noise_sd, seed=args.seed)
    inside = ((truth.log10_ic50 >= LO) & (truth.log10_ic50 <= HI))
    setup = {"n_cell_lines": args.n_cell_lines, "n_drugs": args.n_drugs,
             "n_curves": int(len(truth)), "n_replicates": args.n_replicates,
             "n_wells": int(len(wells)), "doses_uM": DOSES.tolist(), "noise_sd": args.noise_sd,
             "seed": args.seed, "response_scale": "fraction", "n_experiments": 1,
             "n_true_ic50_in_range": int(inside.sum()),
             "true_log10_ic50_range": [float(truth.log10_ic50.min()),
                                       float(truth.log10_ic50.max())]}
    log(f"simulated {setup['n_curves']} curves, {setup['n_wells']} wells; "
        f"{setup['n_true_ic50_in_range']} true IC50s in range")

    results: dict = {}
    for method in methods:
        log(f"{method}: start")
        if method == "scipy":
            fits, wall = scipy_loop(wells)
            z90, z95 = stats.norm.ppf(0.95), stats.norm.ppf(0.975)
            est = fits[["cell_line", "drug", "est"]].copy()
            for p, z in (("90", z90), ("95", z95)):
                est[f"lo{p}"] = fits["est"] - z * fits["se"]
                est[f"hi{p}"] = fits["est"] + z * fits["se"]
            ok = fits["status"] != "failed"
            sc = score(est, truth)
            sc_ok = score(est[ok.to_numpy()], truth.merge(fits[ok][["cell_line", "drug"]]))
            results[method] = {
                "wall_time_s": wall, "score": sc,
                "score_successful_fits_only": sc_ok,
                "n_failed": int((fits.status == "failed").sum()),
                "n_no_covariance": int((fits.status == "no_covariance").sum()),
                "n_ic50_at_bound": int(fits.at_bound.sum()),
                "failure_messages": sorted(set(fits.loc[fits.message != "", "message"]))[:10],
                "settings": {"bounds": {"top": [BOUNDS[0][0], BOUNDS[1][0]],
                                        "bottom": [BOUNDS[0][1], BOUNDS[1][1]],
                                        "log10_ic50": [BOUNDS[0][2], BOUNDS[1][2]],
                                        "hill": [BOUNDS[0][3], BOUNDS[1][3]]},
                             "method": "trf (scipy default with bounds)", "maxfev": 10000,
                             "interval": "Wald, log10_ic50 +- z * sqrt(pcov[2, 2]), "
                                         "absolute_sigma=False"},
            }
        else:
            est, wall, extra = drugbayes_fit(db, wells, "map" if method == "map_warm" else method,
                                             args)
            if method in ("map", "map_warm"):
                est = est.drop(columns=["lo90", "hi90", "lo95", "hi95"])
            sc = score(est, truth)
            if method == "nuts":
                extra["log10_ic50_max_rhat"] = float(np.nanmax(est["r_hat"]))
                extra["log10_ic50_min_ess_bulk"] = float(np.nanmin(est["ess_bulk"]))
            results[method] = {"wall_time_s": wall, "score": sc, **extra,
                               "n_censored_estimates": {
                                   str(k): int(v) for k, v in
                                   est["censored"].replace("", "none").value_counts().items()}}
        r = results[method]
        log(f"{method}: {r['wall_time_s']:.1f} s, MAE {r['score']['error_all']['mae']:.4f}, "
            f"in range {r['score']['error_in_range']['mae']}")

    targets = {}
    if "map" in results and "scipy" in results:
        targets["map faster than the scipy loop"] = bool(
            results["map"]["wall_time_s"] < results["scipy"]["wall_time_s"])
        if "map_warm" in results:
            targets["map with a warm compilation cache faster than the scipy loop"] = bool(
                results["map_warm"]["wall_time_s"] < results["scipy"]["wall_time_s"])
        targets["map lower mean |error| than the scipy loop (all curves)"] = bool(
            results["map"]["score"]["error_all"]["mae"]
            < results["scipy"]["score"]["error_all"]["mae"])
        targets["map lower mean |error| than the scipy loop (true IC50 in range)"] = bool(
            results["map"]["score"]["error_in_range"]["mae"]
            < results["scipy"]["score"]["error_in_range"]["mae"])
    if "nuts" in results:
        rh = results["nuts"]["checks"].get("max_rhat")
        targets["nuts max R-hat <= 1.01"] = bool(rh is not None and rh <= 1.01)
        targets["nuts wall time under 5 minutes"] = bool(results["nuts"]["wall_time_s"] < 300)

    out = {"benchmark": "dose_response_screen",
           "command": command("benchmarks.peers.dose_response_screen", argv or sys.argv[1:]),
        "environment": env, "setup": setup, "methods": results, "targets": targets,
        "args": vars(args)}
    base = Path(args.out)
    base.parent.mkdir(parents=True, exist_ok=True)
    jpath, mpath = base.with_suffix(".json"), base.with_suffix(".md")
    jpath.write_text(json.dumps(out, indent=2, default=lambda o: o.item()
                                if isinstance(o, np.generic) else str(o)) + "\n")
    mpath.write_text(markdown(out))
    log(f"wrote {jpath} and {mpath}")
    print(mpath.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
