"""Calibration of the ``joint`` family (NUTS) and its borrowing of strength across assays.

Simulates joint studies (:func:`drugbayes.families.joint.simulate_joint`, seeds 401..; 3 cell
lines x 2 drugs, checkerboards in the first two lines, a four-arm xenograft in all three) and
fits each with ``family = "joint"`` after removing the third line's xenograft, whose arms are
then *predicted* from its in-vitro data (``[[model.options.predict]]``). The concentration
prior is centred on the true log10 concentration plus a N(0, 0.3) error (a published plasma
level), sd 0.5. Counts how often the truth lies in the 90% interval of:

- each curve's log10 IC50 (the dose-response curves; the simulated midpoint);
- the link parameters: each drug's ``rmax`` and effective concentration;
- the predicted growth rates of the held-out line's three treated arms.

Borrowing strength: for the curves also in a checkerboard, the median ratio of the width of
the interval of log10 IC50 in the joint fit to that of the dose-response block fitted alone
(same draws budget, the first study; 90% intervals, the fits' own: for near-normal posteriors
the ratio is that of the 95% intervals).

A calibrated model gives 90% coverage within binomial noise (few studies: the table gives the
count and the central 95% binomial range). Writes
``benchmarks/results/validation/joint_calibration.{json,md}``.

Usage: ``python -m benchmarks.validation.joint_calibration [--studies 10] [--warmup 400]
[--samples 400] [--chains 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

import drugbayes as db
from benchmarks._common import command, environment, log, results_dir, write_result

OUT = results_dir("validation")
SEEDS = tuple(range(401, 411))
LINES = ("A", "B", "C")
DRUGS = ("x", "y")
HELD_OUT = "C"


def _study(seed: int):
    from drugbayes.families.joint import simulate_joint

    tables, truth = simulate_joint(LINES, DRUGS, checkerboard_lines=LINES[:2],
                                   xenograft_lines=LINES, n_doses=7, n_replicates=2,
                                   checker_doses=4, n_mice_per_arm=4, seed=seed)
    xe = tables["xenograft"]
    tables["xenograft"] = xe[xe["cell_line"] != HELD_OUT].reset_index(drop=True)
    rng = np.random.default_rng(seed + 1000)
    conc = {d: {"log10_mean": float(np.log10(truth["conc"][d]) + rng.normal(0, 0.3)),
                "sd": 0.5} for d in DRUGS}
    arms = [a for a, ds in truth["arm_drugs"].items() if ds]
    options = {"concentration": conc,
               "predict": [{"cell_line": HELD_OUT, "arm": a} for a in arms]}
    data = {"blocks": {"dose_response": {"dose_unit": "uM"},
                       "combination": {"dose_unit": "uM"},
                       "xenograft": {"control_arm": "vehicle"}},
            "arm_drugs": truth["arm_drugs"]}
    return tables, truth, options, data, arms


def _covered(row: pd.Series, value: float) -> bool:
    return bool(row["lower"] <= value <= row["upper"])


def _fit_joint(seed: int, inference: dict, prob: float = 0.9):
    tables, truth, options, data, arms = _study(seed)
    t0 = time.perf_counter()
    r = db.fit(tables, "joint", model={"family": "joint", "options": options}, seed=seed,
               inference=inference, interval_prob=prob, **data)
    secs = time.perf_counter() - t0
    s = r.summary()
    rows = []
    ic = s[(s["assay"] == "dose_response") & (s["quantity"] == "ic50")]
    for c in truth["curves"].itertuples():
        row = ic[(ic["cell_line"] == c.cell_line) & (ic["drug"] == c.drug)].iloc[0]
        lo, hi = np.log10(row["lower"]), np.log10(row["upper"])
        rows.append({"seed": seed, "what": "log10_ic50", "covered":
                     bool(lo <= c.log10_ic50 <= hi)})
    link = s[s["assay"] == "link"]
    for d in DRUGS:
        row = link[(link["quantity"] == "rmax") & (link["drug"] == d)].iloc[0]
        rows.append({"seed": seed, "what": "rmax", "covered": _covered(row, truth["rmax"][d])})
        row = link[(link["quantity"] == "effective_concentration") & (link["drug"] == d)].iloc[0]
        rows.append({"seed": seed, "what": "effective_concentration",
                     "covered": _covered(row, truth["conc"][d])})
    pred = link[link["quantity"] == "predicted_rate"]
    for a in arms:
        row = pred[(pred["cell_line"] == HELD_OUT) & (pred["arm"] == a)].iloc[0]
        rows.append({"seed": seed, "what": "predicted_rate",
                     "covered": _covered(row, truth["arm_rate"][(HELD_OUT, a)])})
    return rows, secs, r, tables


def _widths(seed: int, inference: dict, joint_result, tables) -> list[float]:
    """Width ratios (joint / dose-response alone) of the 90% intervals of log10 IC50 for the
    curves also in checkerboards."""
    alone = db.fit(tables["dose_response"], "dose_response", seed=seed, dose_unit="uM",
                   inference=inference, interval_prob=0.9)
    a = alone.summary()
    a = a[a["quantity"] == "ic50"]
    j = joint_result.summary()
    j = j[(j["assay"] == "dose_response") & (j["quantity"] == "ic50")]
    out = []
    for c in LINES[:2]:
        for d in DRUGS:
            ra = a[(a["cell_line"] == c) & (a["drug"] == d)].iloc[0]
            rj = j[(j["cell_line"] == c) & (j["drug"] == d)].iloc[0]
            wa = np.log10(ra["upper"]) - np.log10(ra["lower"])
            wj = np.log10(rj["upper"]) - np.log10(rj["lower"])
            out.append(float(wj / wa))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--studies", type=int, default=len(SEEDS))
    p.add_argument("--warmup", type=int, default=400)
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--chains", type=int, default=2)
    args = p.parse_args(argv)
    inference = {"method": "nuts", "num_chains": args.chains, "num_warmup": args.warmup,
                 "num_samples": args.samples, "chain_method": "sequential"}
    rows, times, ratios = [], [], []
    for k, seed in enumerate(SEEDS[:args.studies]):
        log(f"joint study seed {seed}")
        r, secs, res, tables = _fit_joint(seed, inference)
        rows += r
        times.append(secs)
        if k == 0:
            ratios = _widths(seed, inference, res, tables)
        _report(rows, times, ratios, args, inference, argv, k + 1)


def _report(rows: list[dict], times: list[float], ratios: list[float], args, inference: dict,
            argv, done: int) -> None:
    """Write the result so far (after each study: a run cut short keeps what it did)."""
    df = pd.DataFrame(rows)
    table = []
    for what, g in df.groupby("what", sort=False):
        n, hit = len(g), int(g["covered"].sum())
        lo, hi = stats.binom.ppf([0.025, 0.975], n, 0.9)
        table.append({"quantity": what, "covered": hit, "n": n, "coverage": hit / n,
                      "binomial_95_range": [lo / n, hi / n]})
    n, hit = len(df), int(df["covered"].sum())
    result = {"environment": environment(), "command": command(
        "benchmarks.validation.joint_calibration", argv or []), "seeds": list(
        SEEDS[:done]), "inference": inference, "coverage_90": table,
        "overall_90": hit / n, "n": n, "fit_seconds": times,
        "ic50_width_ratio_joint_vs_alone": ratios,
        "median_width_ratio": float(np.median(ratios)) if ratios else None}
    md = ["# Joint model calibration (NUTS)", "",
          f"Studies: {done} (seeds {SEEDS[0]}..), {inference}", "",
          "| quantity | covered / n | coverage (90% intervals) | calibrated range |",
          "|---|---|---|---|"]
    md += [f"| {t['quantity']} | {t['covered']} / {t['n']} | {t['coverage']:.2f} | "
           f"{t['binomial_95_range'][0]:.2f}-{t['binomial_95_range'][1]:.2f} |" for t in table]
    md += ["", f"Overall: {hit} / {n} = {hit / n:.2f}.", "",
           "Borrowing strength (seed 401, the four curves also in checkerboards): 90% width "
           "of log10 IC50, joint / dose-response alone: "
           + ", ".join(f"{x:.2f}" for x in ratios)
           + (f"; median {np.median(ratios):.2f}." if ratios else "."), "",
           f"Command: `{result['command']}`"]
    write_result(OUT / "joint_calibration", result, md)
    log("\n".join(md))


if __name__ == "__main__":
    main()
