"""Growth-rate (DIP) checkerboards with net-cytotoxic partners: beta's sign and coverage.

Issue 23's target: simulated DIP screens of 12 pairs (anchor A x 12 partners, one cell line,
6 x 6 grids, 2 replicates), half the partners net-cytotoxic alone (E2 = -0.9 E0 .. -0.5 E0, the
others cytostatic, E2 = 0.1 .. 0.4 E0), untreated rate 0.04/h, noise 0.003/h; beta = +-U(0.2,
0.6) (half synergistic), log alpha12 ~ N(0, 0.5). Each study is fitted with the default preset
(Student-t wells) and ``response_scale = "rate"`` by NUTS; counted: pairs whose posterior mean
of beta has the true sign, and how often the 90% intervals of beta, log alpha12 and log alpha21
contain the truth (target 0.85-0.95).

Usage
-----
    nice -n 10 python -m benchmarks.validation.combination_dip_calibration --studies 10

Writes ``benchmarks/results/validation/combination_dip_calibration.json`` and ``.md`` (after
every study, so a partial run leaves its numbers).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from benchmarks._common import results_dir, write_result

OUT = results_dir("validation")
SEED = 20261207


def screen(study: int, n_pairs: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One simulated DIP screen and its truth."""
    from drugbayes.families.combination import simulate_wells

    rng = np.random.default_rng(SEED + study)
    e0 = 0.04
    rows = []
    for i in range(n_pairs):
        toxic = i % 2 == 0
        sign = 1.0 if (i // 2) % 2 == 0 else -1.0
        rows.append({
            "cell_line": "CL1", "drug_a": "A", "drug_b": f"P{i + 1:02d}", "e0": e0,
            "e1": 0.2 * e0,
            "e2": float(rng.uniform(-0.9, -0.5) if toxic else rng.uniform(0.1, 0.4)) * e0,
            "beta": sign * float(rng.uniform(0.2, 0.6)), "c1": 0.3,
            "c2": float(10 ** rng.normal(-0.5, 0.3)), "h1": 1.0,
            "h2": float(np.exp(rng.normal(0, 0.2))),
            "log_alpha12": float(rng.normal(0, 0.5)), "log_alpha21": 0.0})
    truth = pd.DataFrame(rows)
    doses = np.logspace(-2, 1, 5)
    wells = simulate_wells(truth, doses, doses, n_replicates=2, noise_sd=0.003,
                           seed=SEED + 1000 + study)
    return wells, truth


def main(argv: list[str] | None = None) -> int:
    import drugbayes as db

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--chains", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=250)
    ap.add_argument("--samples", type=int, default=250)
    args = ap.parse_args(argv)
    per_study = []
    for k in range(args.studies):
        wells, truth = screen(k)
        t0 = time.perf_counter()
        r = db.fit(wells, "combination", dose_unit="uM", response_scale="rate",
                   rate_unit="1/h", seed=SEED + k, interval_prob=0.9,
                   inference={"method": "nuts", "num_chains": args.chains,
                              "num_warmup": args.warmup, "num_samples": args.samples})
        s = r.summary()
        wall = time.perf_counter() - t0
        cl = s[s["cell_line"] == "CL1"].merge(truth, on=["cell_line", "drug_a", "drug_b"])
        res = {"study": k, "wall_s": wall, "diagnostics_passed": bool(r.diagnostics["passed"])}
        b = cl[cl["quantity"] == "beta"]
        res["beta_sign_right"] = int((np.sign(b["mean"]) == np.sign(b["beta"])).sum())
        res["n_pairs"] = int(len(b))
        for q in ("beta", "log_alpha12", "log_alpha21"):
            sub = cl[cl["quantity"] == q]
            res[f"covered_{q}"] = int(((sub["lower"] <= sub[q]) & (sub[q] <= sub["upper"])).sum())
        per_study.append(res)
        n = sum(x["n_pairs"] for x in per_study)
        summary = {"studies": len(per_study), "pairs": n,
                   "beta_sign_right": sum(x["beta_sign_right"] for x in per_study),
                   **{f"coverage90_{q}": sum(x[f"covered_{q}"] for x in per_study) / n
                      for q in ("beta", "log_alpha12", "log_alpha21")}}
        lines = ["# DIP-rate checkerboards with net-cytotoxic partners", "",
                 f"`nice -n 10 python -m benchmarks.validation.combination_dip_calibration "
                 f"--studies {args.studies} --chains {args.chains} --warmup {args.warmup} "
                 f"--samples {args.samples}` on {os.cpu_count()} CPU cores (shared machine); "
                 f"{len(per_study)} of {args.studies} studies done.", "",
                 f"beta's sign right (posterior mean) for **{summary['beta_sign_right']} of "
                 f"{n}** pairs; 90% interval coverage: beta "
                 f"{summary['coverage90_beta']:.3f}, log alpha12 "
                 f"{summary['coverage90_log_alpha12']:.3f}, log alpha21 "
                 f"{summary['coverage90_log_alpha21']:.3f} (target 0.85-0.95).", "",
                 "| study | sign right | beta covered | log alpha12 | log alpha21 | "
                 "diagnostics | wall (s) |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {x['study']} | {x['beta_sign_right']}/{x['n_pairs']} | "
                  f"{x['covered_beta']} | {x['covered_log_alpha12']} | "
                  f"{x['covered_log_alpha21']} | {x['diagnostics_passed']} | "
                  f"{x['wall_s']:.0f} |" for x in per_study]
        write_result(OUT / "combination_dip_calibration",
                     {"settings": vars(args), "summary": summary, "studies": per_study}, lines)
        print(lines[4], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
