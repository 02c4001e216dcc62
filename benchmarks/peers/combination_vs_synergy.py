"""drugbayes ``combination`` (full NUTS posterior) against the ``synergy`` package's MuSyC.

Twenty simulated combinations (one pair, twenty cell lines, 6 x 6 checkerboards with 3
replicates, known MuSyC parameters; ``drugbayes.families.combination.simulate``, seed fixed)
are fitted

- by drugbayes: one hierarchical fit of all twenty with NUTS (4 chains x 500 warmup + 500
  draws, vectorised chains, MAP start; the default inference settings of the example config);
- by ``synergy`` (PyPI, GPL-3.0; a benchmark/test-only dependency): ``MuSyC(fit_gamma=False)``
  per combination with 100 bootstrap iterations (its confidence intervals),

in one process, one after the other, on the same machine. Reported: wall time per combination
(drugbayes: total of the joint fit / 20, compilation included and also shown apart), the
fraction of synergy's MuSyC point estimates that fall inside our 95% intervals (per parameter
and overall; the issue asks for >= 90%), coverage of the true parameters by our 95% intervals
and by synergy's 95% bootstrap intervals, and point errors against the truth.

Writes ``benchmarks/results/peers/combination_vs_synergy[_quick].{json,md}``.

Usage: ``nice -n 10 python -m benchmarks.peers.combination_vs_synergy [--quick]``
(``--quick``: 4 combinations, 2 chains x 200, 20 bootstraps; a smoke run, not a result).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import results_dir, write_result

OUT = results_dir("peers")
SEED = 20261127
PARAMS = ["e0", "e1", "e2", "e3", "h1", "h2", "c1", "c2", "alpha12", "alpha21", "beta"]
SYNERGY_NAME = {"e0": "E0", "e1": "E1", "e2": "E2", "e3": "E3", "h1": "h1", "h2": "h2",
                "c1": "C1", "c2": "C2", "alpha12": "alpha12", "alpha21": "alpha21",
                "beta": "beta"}


def truth_params(truth: pd.DataFrame) -> pd.DataFrame:
    t = truth.copy()
    emin = np.minimum(t["e1"], t["e2"])
    t["e3"] = emin - t["beta"] * (t["e0"] - emin)
    t["alpha12"] = np.exp(t["log_alpha12"])
    t["alpha21"] = np.exp(t["log_alpha21"])
    return t


def run_drugbayes(wells: pd.DataFrame, chains: int, draws: int, seed: int) -> dict:
    import drugbayes as db

    t0 = time.perf_counter()
    r = db.fit(wells, "combination", dose_unit="uM", seed=seed,
               inference={"method": "nuts", "num_chains": chains, "num_warmup": draws,
                          "num_samples": draws})
    s = r.summary()
    wall = time.perf_counter() - t0
    checks = r.diagnostics["checks"]
    return {"summary": s, "wall": wall, "timings": r.inference.timings,
            "diagnostics": {k: v["value"] for k, v in checks.items()}}


def run_synergy(wells: pd.DataFrame, bootstraps: int, seed: int) -> dict:
    from synergy.combination import MuSyC

    np.random.seed(seed)  # synergy's bootstrap draws from numpy's global generator
    rows = []
    t0 = time.perf_counter()
    per = []
    for cl, g in wells.groupby("cell_line", sort=False):
        t1 = time.perf_counter()
        m = MuSyC(fit_gamma=False)
        row = {"cell_line": cl, "ok": True}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m.fit(g["dose_a"].to_numpy(float), g["dose_b"].to_numpy(float),
                      g["response"].to_numpy(float), bootstrap_iterations=bootstraps)
            p = m.get_parameters()
            p["beta"] = m.beta
            ci = m.get_confidence_intervals(95)
            for k in PARAMS:
                row[k] = float(p[SYNERGY_NAME[k]])
                lo, hi = ci.get(SYNERGY_NAME[k], (np.nan, np.nan))
                row[f"{k}_lower"], row[f"{k}_upper"] = float(lo), float(hi)
            row["n_bootstrap"] = (0 if m.bootstrap_parameters is None
                                  else int(len(m.bootstrap_parameters)))
        except Exception as exc:  # noqa: BLE001  (a failed fit is a result, recorded)
            row.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        per.append(time.perf_counter() - t1)
        rows.append(row)
    return {"table": pd.DataFrame(rows), "wall": time.perf_counter() - t0, "per": per}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    from drugbayes.families.combination import simulate

    n, chains, draws, boots = (4, 2, 200, 20) if args.quick else (20, 4, 500, 100)
    wells, truth = simulate(n, n_doses=5, n_replicates=3, seed=SEED)
    truth = truth_params(truth)
    ours = run_drugbayes(wells, chains, draws, SEED)
    syn = run_synergy(wells, boots, SEED)

    s = ours["summary"]
    s = s[s["cell_line"] != "pooled"]
    st = syn["table"]
    inside, cov_ours, cov_syn, err_ours, err_syn = {}, {}, {}, {}, {}
    for k in PARAMS:
        q = s[s["quantity"] == k].set_index("cell_line")
        t = truth.set_index("cell_line")[k]
        sy = st.set_index("cell_line")
        ok = sy["ok"]
        v = sy.loc[ok, k]
        inside[k] = float(((q.loc[v.index, "lower"] <= v) & (v <= q.loc[v.index, "upper"])).mean())
        cov_ours[k] = float(((q["lower"] <= t) & (t <= q["upper"])).mean())
        cov_syn[k] = float(((sy.loc[ok, f"{k}_lower"] <= t[ok[ok].index])
                            & (t[ok[ok].index] <= sy.loc[ok, f"{k}_upper"])).mean())
        log = k in ("h1", "h2", "c1", "c2", "alpha12", "alpha21")
        f = np.log if log else (lambda x: x)
        err_ours[k] = float(np.median(np.abs(f(q["median"]) - f(t))))
        err_syn[k] = float(np.median(np.abs(f(v) - f(t[v.index]))))
    all_inside = np.mean([inside[k] for k in PARAMS])
    n_ok = int(st["ok"].sum())
    res = {
        "what": "drugbayes combination (NUTS, joint hierarchical fit) vs synergy MuSyC "
                "(per combination, bootstrap CIs) on the same simulated checkerboards",
        "quick": args.quick, "n_combinations": n, "design": "6 x 6 (0 + 5 doses each), "
        "3 replicates, noise sd 0.05", "seed": SEED,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_avg_at_end": os.getloadavg()},
        "drugbayes": {"method": "nuts", "chains": chains, "warmup": draws, "draws": draws,
                      "wall_s": ours["wall"], "wall_per_combination_s": ours["wall"] / n,
                      "timings": ours["timings"], "diagnostics": ours["diagnostics"]},
        "synergy": {"model": "MuSyC(fit_gamma=False)", "bootstrap_iterations": boots,
                    "wall_s": syn["wall"], "wall_per_combination_s": syn["wall"] / n,
                    "per_combination_s": syn["per"], "fits_ok": n_ok,
                    "errors": st.loc[~st["ok"], "error"].tolist() if "error" in st else []},
        "synergy_point_inside_our_95": inside, "synergy_point_inside_our_95_overall":
            float(all_inside),
        "truth_coverage_ours_95": cov_ours, "truth_coverage_synergy_bootstrap_95": cov_syn,
        "median_abs_error_vs_truth_ours": err_ours,
        "median_abs_error_vs_truth_synergy": err_syn,
        "error_scale": "log for h, C, alpha; linear for E and beta",
    }
    stem = "combination_vs_synergy" + ("_quick" if args.quick else "")
    lines = [
        "# drugbayes combination vs synergy MuSyC", "",
        f"{n} simulated combinations (6 x 6 checkerboards, 3 replicates, known MuSyC "
        f"parameters, seed {SEED}); one run on {os.cpu_count()} CPU cores "
        f"(`nice -n 10 python -m benchmarks.peers.combination_vs_synergy"
        f"{' --quick' if args.quick else ''}`).", "",
        "| | drugbayes (NUTS, joint) | synergy MuSyC (+bootstrap) |", "|---|---|---|",
        f"| settings | {chains} chains x {draws} warmup + {draws} draws | "
        f"{boots} bootstrap iterations |",
        f"| wall time, all | {ours['wall']:.1f} s | {syn['wall']:.1f} s |",
        f"| wall time per combination | {ours['wall'] / n:.2f} s | {syn['wall'] / n:.2f} s |",
        f"| fits ok | {n} (diagnostics: " + ", ".join(
            f"{k}={v:.4g}" for k, v in ours["diagnostics"].items()) + f") | {n_ok} |", "",
        "drugbayes timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                ours["timings"].items()), "",
        "| parameter | synergy estimate inside our 95% | truth in our 95% | truth in "
        "synergy 95% | median abs error ours | median abs error synergy |",
        "|---|---|---|---|---|---|"]
    for k in PARAMS:
        lines.append(f"| {k} | {inside[k]:.2f} | {cov_ours[k]:.2f} | {cov_syn[k]:.2f} | "
                     f"{err_ours[k]:.3g} | {err_syn[k]:.3g} |")
    lines += ["", f"synergy's MuSyC point estimates inside our 95% intervals, all parameters: "
              f"**{all_inside:.1%}** (target >= 90%).", "",
              "Errors on the log scale for h, C and alpha, linear for E and beta."]
    write_result(OUT / stem, res, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
