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

Borrowing strength: for the curves also in a checkerboard, the ratio of the width of the 95%
interval of log10 IC50 in the joint fit to that of the dose-response block fitted alone (same
budget and seed; the first ``--width-studies`` studies), and its median.

Held-out line (:func:`heldout_log_density`): the log predictive density of the third line's
xenograft mice (its three treated arms; the line's xenograft is not in the fit) under the
joint fit's predicted arm rates (with the in-vitro link) against a second fit of the same data
*without* the link (:data:`NO_LINK`: ``log_ic50_linear`` with its slope's prior sd 1e-5 and
the synergy slope's also, so each drug's reduction of a line's growth rate is a per-drug
population mean plus the learned between-line residual, and a new line's arms are predicted
from the other lines' arms alone). Both use the same per-mouse marginal density: each arm's
mice integrated over the arm baseline's prior and the mice's own effects.

A calibrated model gives 90% coverage within binomial noise (few studies: the table gives the
count and the central 95% binomial range). Writes
``benchmarks/results/validation/joint_calibration.{json,md}`` (``--out``) after every study;
runs of different ``--first`` seeds are merged with ``--combine``.

Usage: ``python -m benchmarks.validation.joint_calibration [--studies 10] [--warmup 400]
[--samples 400] [--chains 2] [--width-studies 3] [--first 0] [--out NAME]``; in two parts
(two processes) then merged: ``--first 0 --studies 5 --out joint_calibration_part0``,
``--first 5 --studies 5 --out joint_calibration_part5``, then ``--combine
joint_calibration_part0 joint_calibration_part5``.
"""

from __future__ import annotations

import argparse
import sys
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
    held = xe[xe["cell_line"] == HELD_OUT].reset_index(drop=True)
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
    return tables, truth, options, data, arms, held


def _covered(row: pd.Series, value: float) -> bool:
    return bool(row["lower"] <= value <= row["upper"])


def _fit(seed: int, inference: dict, tables: dict, options: dict, data: dict,
         priors: dict | None = None, prob: float = 0.9):
    t0 = time.perf_counter()
    model = {"family": "joint", "options": options, **({"priors": priors} if priors else {})}
    r = db.fit(tables, "joint", model=model, seed=seed, inference=inference,
               interval_prob=prob, **data)
    return r, time.perf_counter() - t0


def _coverage(seed: int, r, truth: dict, arms: list[str]) -> list[dict]:
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
    return rows


def heldout_log_density(r, held: pd.DataFrame, arms: list[str]) -> float:
    """Log predictive density of the held-out line's treated arms (every mouse's log volumes).

    For each posterior draw the arms' growth rates are the fit's ``predicted_rate`` of the
    held-out line; given the rate ``r_a`` of arm ``a``, its mice's log volumes are jointly
    normal (the xenograft family's model with its per-arm baseline and per-mouse effects
    integrated out): mean ``center + r_a t``, covariance ``baseline_sd^2`` (the arm's
    baseline, its prior around the data's median starting volume, shared by the arm's mice)
    plus, per mouse, its correlated baseline and rate deviations (the draw's
    ``sd_mouse_baseline``, ``sd_mouse_rate``, ``corr_mouse``) plus ``sigma^2`` per
    measurement. The line's density is ``log mean_s prod_a p(y_a | draw s)`` (the arms share
    the line's untreated rate, so they are scored together).
    """
    from scipy.special import logsumexp

    from drugbayes.families.joint.model import component_spec

    smp = r.inference.samples
    xd = r.data.blocks["xenograft"]
    base_sd = float(component_spec(r.spec, "xenograft").priors.baseline_sd)
    pred = np.asarray(smp["link.predicted_rate"], np.float64)
    pred = pred.reshape(-1, pred.shape[-1])
    order = [(p["cell_line"], p["arm"]) for p in r.data.predict]

    def flat(name: str) -> np.ndarray:
        return np.asarray(smp[name], np.float64).reshape(-1)

    sd_b, sd_r = flat("xenograft.sd_mouse_baseline"), flat("xenograft.sd_mouse_rate")
    rho, sig = flat("xenograft.corr_mouse"), flat("xenograft.sigma")
    total = np.zeros(len(sd_b))
    for a in arms:
        g = held[held["arm"] == a].sort_values(["mouse", "day"])
        k = order.index((HELD_OUT, a))
        ys, ts, ms = [], [], []
        for _m, gm in g.groupby("mouse", sort=True):
            ys.append(np.log(gm["volume"].to_numpy(np.float64)))
            ts.append(gm["day"].to_numpy(np.float64) - xd.start_day)
            ms.append(np.full(len(gm), len(ms)))
        y, t, mi = np.concatenate(ys), np.concatenate(ts), np.concatenate(ms)
        same = (mi[:, None] == mi[None, :]).astype(np.float64)
        one, tt = np.ones_like(t), t
        cov = (base_sd ** 2 * np.ones((len(y), len(y)))[None]
               + same[None] * (sd_b[:, None, None] ** 2 * np.outer(one, one)[None]
                               + sd_r[:, None, None] ** 2 * np.outer(tt, tt)[None]
                               + (rho * sd_b * sd_r)[:, None, None]
                               * (np.outer(one, tt) + np.outer(tt, one))[None])
               + sig[:, None, None] ** 2 * np.eye(len(y))[None])
        mean = xd.baseline_center + pred[:, k][:, None] * t[None]
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (y[None] - mean)[..., None])[..., 0]
        total += (-0.5 * (z ** 2).sum(-1) - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(-1)
                  - 0.5 * len(y) * np.log(2 * np.pi))
    return float(logsumexp(total) - np.log(len(total)))


NO_LINK = {"link": "log_ic50_linear"}
NO_LINK_PRIORS = {"link_slope_sd": 1e-5, "synergy_slope_sd": 1e-5}
"""The comparison model without the in-vitro link: the ``log_ic50_linear`` link with its
slope's prior sd 1e-5 per day per decade (the slope is 0 to any precision that matters: each
drug's reduction is a per-drug mean plus the learned between-line residual) and the in-vivo
Bliss excess's slope on the in-vitro excess also held at 0 (its own residual only): a treated
arm of a new line is predicted from the population of the other lines' arms alone."""


def _widths(seed: int, inference: dict, joint_result, tables) -> list[float]:
    """Width ratios (joint / dose-response alone) of the 95% intervals of log10 IC50 for the
    curves also in checkerboards."""
    alone = db.fit(tables["dose_response"], "dose_response", seed=seed, dose_unit="uM",
                   inference=inference, interval_prob=0.95)
    a = alone.summary(0.95)
    a = a[a["quantity"] == "ic50"]
    j = joint_result.summary(0.95)
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
    p.add_argument("--first", type=int, default=0, help="index of the first seed to run")
    p.add_argument("--warmup", type=int, default=400)
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--width-studies", type=int, default=3,
                   help="studies (the first ones) whose dose-response block is also fitted "
                   "alone for the width ratios")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the fit without the link (the held-out log density comparison)")
    p.add_argument("--out", default="joint_calibration")
    p.add_argument("--combine", nargs="+", metavar="NAME",
                   help="no fits: merge earlier results (benchmarks/results/validation/"
                   "NAME.json, e.g. of runs with different --first) into --out")
    args = p.parse_args(argv)
    if args.combine:
        _combine(args, argv)
        return
    inference = {"method": "nuts", "num_chains": args.chains, "num_warmup": args.warmup,
                 "num_samples": args.samples, "chain_method": "sequential"}
    rows, studies, ratios = [], [], []
    for k, seed in enumerate(SEEDS[args.first:args.first + args.studies]):
        log(f"joint study seed {seed}")
        tables, truth, options, data, arms, held = _study(seed)
        res, secs = _fit(seed, inference, tables, options, data)
        rows += _coverage(seed, res, truth, arms)
        st = {"seed": seed, "fit_seconds": secs,
              "diagnostics_passed": bool(res.diagnostics["passed"]),
              "failed_checks": {c: v["value"] for c, v in res.diagnostics["checks"].items()
                                if not v["passed"]},
              "lpd_heldout_link": heldout_log_density(res, held, arms)}
        if not args.no_baseline:
            log(f"  without the link, seed {seed}")
            r0, secs0 = _fit(seed, inference, tables, {**options, **NO_LINK}, data,
                             NO_LINK_PRIORS)
            st.update({"lpd_heldout_no_link": heldout_log_density(r0, held, arms),
                       "no_link_fit_seconds": secs0,
                       "no_link_diagnostics_passed": bool(r0.diagnostics["passed"])})
            st["lpd_difference"] = st["lpd_heldout_link"] - st["lpd_heldout_no_link"]
        if k < args.width_studies:
            log(f"  dose-response block alone, seed {seed}")
            w = _widths(seed, inference, res, tables)
            ratios += w
            st["ic50_width_ratios"] = w
        studies.append(st)
        _report(rows, studies, ratios, args, inference, argv)


def _failed(checks: list | dict) -> str:
    if isinstance(checks, dict):
        return ", ".join(f"{c} = {v:.3g}" if isinstance(v, float) else f"{c} = {v}"
                         for c, v in checks.items())
    return ", ".join(checks)


def _combine(args, argv) -> None:
    """Merge the studies of earlier results (each study once, in seed order)."""
    import json

    rows, studies, inference, parts = [], {}, None, []
    for name in args.combine:
        rec = json.loads((OUT / f"{name}.json").read_text())
        parts.append({"name": name, "command": rec["command"], "seeds": rec["seeds"],
                      "git_commit": rec["environment"]["git_commit"]})
        inference = inference or rec["inference"]
        if rec["inference"] != inference:
            raise SystemExit(f"{name}: inference settings differ ({rec['inference']})")
        for st in rec["studies"]:
            if st["seed"] not in studies:
                studies[st["seed"]] = st
                rows += [r for r in rec["coverage_rows"] if r["seed"] == st["seed"]]
    order = sorted(studies)
    rows.sort(key=lambda r: order.index(r["seed"]))
    ratios = [x for sd in order for x in studies[sd].get("ic50_width_ratios", [])]
    _report(rows, [studies[sd] for sd in order], ratios, args, inference, argv, parts)


def _report(rows: list[dict], studies: list[dict], ratios: list[float], args,
            inference: dict, argv, parts: list[dict] | None = None) -> None:
    """Write the result so far (after each study: a run cut short keeps what it did)."""
    df = pd.DataFrame(rows)
    table = []
    for what, g in df.groupby("what", sort=False):
        n, hit = len(g), int(g["covered"].sum())
        lo, hi = stats.binom.ppf([0.025, 0.975], n, 0.9)
        table.append({"quantity": what, "covered": hit, "n": n, "coverage": hit / n,
                      "binomial_95_range": [lo / n, hi / n]})
    n, hit = len(df), int(df["covered"].sum())
    lo_all, hi_all = stats.binom.ppf([0.025, 0.975], n, 0.9)
    seeds = [st["seed"] for st in studies]
    diffs = [st["lpd_difference"] for st in studies if "lpd_difference" in st]
    result = {"environment": environment(), "command": command(
        "benchmarks.validation.joint_calibration", sys.argv[1:] if argv is None else argv),
        "seeds": seeds,
        "inference": inference, "coverage_90": table, "overall_90": hit / n, "n": n,
        "overall_binomial_95_range": [lo_all / n, hi_all / n], "studies": studies,
        "ic50_width_ratio_joint_vs_alone_95": ratios,
        "median_width_ratio_95": float(np.median(ratios)) if ratios else None,
        "heldout_lpd_difference": diffs,
        "heldout_lpd_difference_sum": float(np.sum(diffs)) if diffs else None,
        "no_link_model": {"options": NO_LINK, "priors": NO_LINK_PRIORS},
        "coverage_rows": rows, **({"parts": parts} if parts else {})}
    md = ["# Joint model calibration (NUTS)", "",
          f"Studies: {len(studies)} (seeds {', '.join(map(str, seeds))}), {inference}. "
          f"Diagnostics passed in {sum(st['diagnostics_passed'] for st in studies)} of "
          f"{len(studies)} joint fits.", "",
          "| quantity | covered / n | coverage (90% intervals) | calibrated range |",
          "|---|---|---|---|"]
    md += [f"| {t['quantity']} | {t['covered']} / {t['n']} | {t['coverage']:.2f} | "
           f"{t['binomial_95_range'][0]:.2f}-{t['binomial_95_range'][1]:.2f} |" for t in table]
    md += ["", f"Overall: {hit} / {n} = {hit / n:.2f} (calibrated range "
           f"{lo_all / n:.2f}-{hi_all / n:.2f}).", ""]
    if ratios:
        md += [f"Borrowing strength ({len(ratios) // 4} studies, the four curves of "
               "each also in checkerboards): width of the 95% interval of log10 IC50, joint / "
               "dose-response block alone: " + ", ".join(f"{x:.2f}" for x in ratios)
               + f"; median {np.median(ratios):.2f}.", ""]
    if diffs:
        md += ["Held-out line's treated arms (its xenograft removed from the fit), log "
               "predictive density of its mice's log volumes, with the in-vitro link minus "
               "without it (the population of the other lines' arms; see the script):", "",
               "| seed | with link | without | difference |", "|---|---|---|---|"]
        md += [f"| {st['seed']} | {st['lpd_heldout_link']:.1f} | "
               f"{st['lpd_heldout_no_link']:.1f} | {st['lpd_difference']:+.1f} |"
               for st in studies if "lpd_difference" in st]
        md += ["", f"Link better in {sum(d > 0 for d in diffs)} of {len(diffs)} studies; "
               f"summed difference {np.sum(diffs):+.1f}, median {np.median(diffs):+.1f}.", ""]
    md += ["| seed | joint fit s | diagnostics | failed checks |", "|---|---|---|---|"]
    md += [f"| {st['seed']} | {st['fit_seconds']:.0f} | {st['diagnostics_passed']} | "
           f"{_failed(st['failed_checks'])} |" for st in studies]
    md += ["", f"Command: `{result['command']}`"]
    md += [f"Part {p['name']} (seeds {p['seeds']}, commit {p['git_commit'][:10]}): "
           f"`{p['command']}`" for p in parts or []]
    write_result(OUT / args.out, result, md)
    log("\n".join(md))


if __name__ == "__main__":
    main()
