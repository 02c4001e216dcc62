"""Calibration of the ``joint`` family (NUTS) and its borrowing of strength across assays.

Simulates joint studies (:func:`drugbayes.families.joint.simulate_joint`, seeds 401..410,
written in :data:`SEEDS`; 3 cell lines x 2 drugs, checkerboards in the first two lines, a
four-arm xenograft in all three) and fits each with ``family = "joint"`` after removing the
third line's xenograft, whose arms are then *predicted* from its in-vitro data (top-level
``[[predict]]`` entries).

Each study is fitted with the settings a user gets from the shipped example
(:data:`EXAMPLE`, ``configs/examples/her2_joint.toml``, read at run time, not copied): its
``[model.options]`` (the link) and ``[model.priors]`` (the dose-response block's log-normal
curve-IC50 spread), and its whole ``[inference]`` table (NUTS, 4 chains, 500 warmup,
``target_accept_prob`` 0.99, ``num_samples`` unset so that draws are extended while a quantity
fails R-hat or ESS). Only the concentration prior is the study's own: centred on the true
log10 concentration plus a N(0, 0.3) error (a published plasma level) with the example's sd.

The simulator and the fitted model (read the calibration with this in mind): the simulator
draws each study's parameters around *fixed* hyperparameters, not from the fitted model's
priors: curve log10 IC50 = drug mean + line effect (sd 0.4) + curve deviation (sd 0.3, where
the fit puts a log-normal prior of median 0.5 decades, 95% 0.11-2.2, on that spread);
untreated growth rates N(0.08, 0.015) per line (the fit: a fixed between-line sd of
``control_rate_sd`` = 0.05); the checkerboards' top offset 0 (fit: ``link.assay_log_top``
with its prior). So this is coverage under informative priors that contain, but are not, the
simulating distribution: frequentist coverage at fixed hyperparameters, not simulation-based
calibration.

Counts how often the truth lies in the 90% interval of:

- each curve's log10 IC50 (the dose-response curves; the simulated midpoint);
- the link parameters: each drug's ``rmax`` and effective concentration;
- the predicted growth rates of the held-out line's three treated arms.

Every joint fit's diagnostics (R-hat, bulk/tail ESS, divergences, BFMI with the project's
thresholds) are recorded per study, with the sites that fail R-hat or ESS and where the
divergences sit.

Borrowing strength: for the curves also in a checkerboard, the ratio of the width of the 95%
interval of log10 IC50 in the joint fit to that of the dose-response block fitted alone (same
options, priors, inference settings and seed; the first ``--width-studies`` studies), and its
median.

Held-out line (:func:`heldout_log_density`): the log predictive density of the third line's
xenograft mice (its three treated arms; the line's xenograft is not in the fit) under the
joint fit's predicted arm rates (with the in-vitro link) against a second fit of the same data
*without* the link (:data:`NO_LINK`: ``log_ic50_linear`` with its slope's prior sd 1e-5 and
the synergy slope's also, so each drug's reduction of a line's growth rate is a per-drug
population mean plus the learned between-line residual, and a new line's arms are predicted
from the other lines' arms alone). Both use the same per-mouse marginal density: each arm's
mice integrated over the arm baseline's prior and the mice's own effects. ``--no-baseline``
skips it.

A calibrated model gives 90% coverage within binomial noise (few studies: the table gives the
count and the central 95% binomial range). Writes
``benchmarks/results/validation/joint_calibration.{json,md}`` (``--out``) after every study;
runs of different ``--first`` seeds are merged with ``--combine``.

Usage: ``python -m benchmarks.validation.joint_calibration [--studies 10] [--width-studies 3]
[--first 0] [--no-baseline] [--out NAME]``; in parts (one process at a time: a joint NUTS fit
takes a core and several GB) then merged: ``--first 0 --studies 5 --out
joint_calibration_part0``, ``--first 5 --studies 5 --out joint_calibration_part5``, then
``--combine joint_calibration_part0 joint_calibration_part5``.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib

import numpy as np
import pandas as pd
from scipy import stats

import drugbayes as db
from benchmarks._common import REPO, command, environment, log, results_dir, write_result

OUT = results_dir("validation")
EXAMPLE = REPO / "configs" / "examples" / "her2_joint.toml"
"""The shipped example whose model options, priors and inference settings every fit uses."""
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
    ex = example_settings()
    sd = ex["concentration_sd"]
    conc = {d: {"log10_mean": float(np.log10(truth["conc"][d]) + rng.normal(0, 0.3)),
                "sd": sd} for d in DRUGS}
    arms = [a for a, ds in truth["arm_drugs"].items() if ds]
    options = {**ex["options"], "concentration": conc}
    data = {"blocks": {"dose_response": {"dose_unit": "uM"},
                       "combination": {"dose_unit": "uM"},
                       "xenograft": {"control_arm": "vehicle"}},
            "arm_drugs": truth["arm_drugs"],
            "predict": [{"cell_line": HELD_OUT, "arm": a} for a in arms]}
    return tables, truth, options, data, arms, held


def example_settings() -> dict:
    """The shipped example's fitting settings (:data:`EXAMPLE`): ``options`` (its
    ``[model.options]`` without the concentrations, which are the study's), ``priors`` (its
    ``[model.priors]``, block tables included), ``inference`` (its ``[inference]`` table) and
    ``concentration_sd`` (the sd of its concentration priors; one value for all drugs)."""
    cfg = tomllib.loads(EXAMPLE.read_text())
    model = cfg["model"]
    options = {k: v for k, v in model.get("options", {}).items() if k != "concentration"}
    sds = {float(c["sd"]) for c in model.get("options", {}).get("concentration", {}).values()}
    if len(sds) != 1:
        raise SystemExit(f"{EXAMPLE}: expected one concentration sd, found {sorted(sds)}")
    return {"options": options, "priors": dict(model.get("priors", {})),
            "inference": dict(cfg["inference"]), "concentration_sd": sds.pop()}


def _covered(row: pd.Series, value: float) -> bool:
    return bool(row["lower"] <= value <= row["upper"])


def _fit(seed: int, inference: dict, tables: dict, options: dict, data: dict,
         priors: dict, prob: float = 0.9):
    t0 = time.perf_counter()
    model = {"family": "joint", "options": options, "priors": priors}
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


def _widths(seed: int, inference: dict, joint_result, tables, ex: dict
            ) -> tuple[list[float], dict]:
    """Width ratios (joint / dose-response alone) of the 95% intervals of log10 IC50 for the
    curves also in checkerboards. The block alone is fitted with the joint's options and
    priors of its dose-response block (the example's ``[model.*.dose_response]`` tables), so
    the ratio measures what the other assays add, not a change of prior."""
    model = {"family": "dose_response",
             "options": dict(ex["options"].get("dose_response", {})),
             "priors": dict(ex["priors"].get("dose_response", {}))}
    alone = db.fit(tables["dose_response"], "dose_response", model=model, seed=seed,
                   dose_unit="uM", inference=inference, interval_prob=0.95)
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
    d = alone.diagnostics
    return out, {"passed": bool(d["passed"]), "divergences": d.get("divergences", 0),
                 "failed_checks": {c: v["value"] for c, v in d["checks"].items()
                                   if not v["passed"]}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--studies", type=int, default=len(SEEDS))
    p.add_argument("--first", type=int, default=0, help="index of the first seed to run")
    p.add_argument("--warmup", type=int, help="override the example's num_warmup")
    p.add_argument("--samples", type=int, help="override the example's num_samples (unset "
                   "there: extended while R-hat/ESS fail)")
    p.add_argument("--chains", type=int, help="override the example's num_chains")
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
    ex = example_settings()
    inference = {**ex["inference"], **{k: v for k, v in (
        ("num_warmup", args.warmup), ("num_samples", args.samples),
        ("num_chains", args.chains)) if v is not None}}
    rows, studies, ratios = [], [], []
    for k, seed in enumerate(SEEDS[args.first:args.first + args.studies]):
        log(f"joint study seed {seed}")
        tables, truth, options, data, arms, held = _study(seed)
        res, secs = _fit(seed, inference, tables, options, data, ex["priors"])
        rows += _coverage(seed, res, truth, arms)
        st = {"seed": seed, "fit_seconds": secs, **_diagnosed(res),
              "lpd_heldout_link": heldout_log_density(res, held, arms)}
        log(f"  seed {seed}: {secs:.0f} s, diagnostics passed {st['diagnostics_passed']} "
            f"{_failed(st['failed_checks'])}")
        if not args.no_baseline:
            log(f"  without the link, seed {seed}")
            r0, secs0 = _fit(seed, inference, tables, {**options, **NO_LINK}, data,
                             {**ex["priors"], **NO_LINK_PRIORS})
            st.update({"lpd_heldout_no_link": heldout_log_density(r0, held, arms),
                       "no_link_fit_seconds": secs0,
                       "no_link_diagnostics_passed": bool(r0.diagnostics["passed"])})
            st["lpd_difference"] = st["lpd_heldout_link"] - st["lpd_heldout_no_link"]
        if k < args.width_studies:
            log(f"  dose-response block alone, seed {seed}")
            w, alone = _widths(seed, inference, res, tables, ex)
            ratios += w
            st["ic50_width_ratios"] = w
            st["alone_diagnostics"] = alone
        studies.append(st)
        _report(rows, studies, ratios, args, inference, argv)


def _diagnosed(r) -> dict:
    """A fit's diagnostics: passed, the failed checks' values, the draws per chain (extended
    or not), the worst sites (R-hat or ESS failing, at most 8) and, with divergences, the
    medians of the scale sites in divergent against other draws (where they sit)."""
    d = r.diagnostics
    smp = r.inference.samples
    n_draws = int(next(iter(smp.values())).shape[1])
    out = {"diagnostics_passed": bool(d["passed"]),
           "failed_checks": {c: v["value"] for c, v in d["checks"].items() if not v["passed"]},
           "draws_per_chain": n_draws, "draws_extended": d.get("draws_extended"),
           "max_rhat": d["checks"].get("max_rhat", {}).get("value"),
           "min_ess_bulk": d["checks"]["min_ess_bulk"]["value"],
           "min_ess_tail": d["checks"]["min_ess_tail"]["value"],
           "divergences": d.get("divergences", 0),
           "offending": [{k: o[k] for k in ("parameter", "r_hat", "ess_bulk", "ess_tail")}
                         for o in d["offending"][:8]]}
    div = np.asarray(r.inference.sample_stats.get("diverging", np.zeros(1)), bool)
    if div.any():
        where = {}
        for name, v in smp.items():
            a = np.asarray(v, np.float64)
            if a.ndim == 2 and (name.split(".")[-1].startswith(("sd_", "sigma"))):
                where[name] = {"divergent_median": float(np.median(a[div])),
                               "other_median": float(np.median(a[~div]))}
        out["divergent_scales"] = where
    return out


def _alone_passed(studies: list[dict]) -> str:
    al = [(st["seed"], st["alone_diagnostics"]) for st in studies if "alone_diagnostics" in st]
    bad = [f"{sd}: {_failed(a['failed_checks'])}" for sd, a in al if not a["passed"]]
    return (f"{len(al) - len(bad)} of {len(al)} studies"
            + (f" (failed: {'; '.join(bad)})" if bad else ""))


def _num(v, spec: str) -> str:
    return "" if v is None else format(v, spec)


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


def _table(df: pd.DataFrame) -> list[dict]:
    """Coverage per quantity: covered, n, coverage and the central 95% binomial range."""
    table = []
    for what, g in df.groupby("what", sort=False):
        n, hit = len(g), int(g["covered"].sum())
        lo, hi = stats.binom.ppf([0.025, 0.975], n, 0.9)
        table.append({"quantity": what, "covered": hit, "n": n, "coverage": hit / n,
                      "binomial_95_range": [lo / n, hi / n]})
    return table


def _report(rows: list[dict], studies: list[dict], ratios: list[float], args,
            inference: dict, argv, parts: list[dict] | None = None) -> None:
    """Write the result so far (after each study: a run cut short keeps what it did)."""
    df = pd.DataFrame(rows)
    table = _table(df)
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
    passed = {st["seed"] for st in studies if st["diagnostics_passed"]}
    ok = df[df["seed"].isin(passed)]
    result["coverage_90_passed_fits"] = _table(ok) if len(ok) else []
    md += [f"Only the {len(passed)} fits that passed their diagnostics (seeds "
           f"{', '.join(map(str, sorted(passed))) or 'none'}; coverage from failed fits is no "
           "evidence): " + ("; ".join(f"{t['quantity']} {t['covered']} / {t['n']}"
                                      for t in result["coverage_90_passed_fits"])
                            + f"; overall {int(ok['covered'].sum())} / {len(ok)}"
                            if len(ok) else "none") + ".", ""]
    if ratios:
        md += [f"Borrowing strength ({len(ratios) // 4} studies, the four curves of "
               "each also in checkerboards): width of the 95% interval of log10 IC50, joint / "
               "dose-response block alone: " + ", ".join(f"{x:.2f}" for x in ratios)
               + f"; median {np.median(ratios):.2f}. The block-alone fits passed their "
               "diagnostics in " + _alone_passed(studies) + ".", ""]
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
    md += ["| seed | joint fit s | draws/chain | max R-hat | min ESS bulk/tail | divergences "
           "| diagnostics | failed checks | worst sites |", "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {st['seed']} | {st['fit_seconds']:.0f} | {st.get('draws_per_chain', '')} | "
           f"{_num(st.get('max_rhat'), '.4f')} | {_num(st.get('min_ess_bulk'), '.0f')}/"
           f"{_num(st.get('min_ess_tail'), '.0f')} | {st.get('divergences', '')} | "
           f"{st['diagnostics_passed']} | {_failed(st['failed_checks'])} | "
           + ", ".join(o["parameter"] for o in st.get("offending", [])[:4]) + " |"
           for st in studies]
    for st in studies:
        ws = st.get("divergent_scales") or {}
        far = sorted(ws.items(), key=lambda kv: -abs(np.log(
            max(kv[1]["divergent_median"], 1e-12) / max(kv[1]["other_median"], 1e-12))))[:2]
        if far:
            md += [f"- seed {st['seed']}: its {st['divergences']} divergent draws sit where "
                   + " and ".join(f"`{k}` is {v['divergent_median']:.3g} (other draws "
                                  f"{v['other_median']:.3g})" for k, v in far)
                   + " (medians; the scale sites furthest from the other draws)"]
    md += ["", "Settings: every fit uses the model options, priors and `[inference]` table of "
           "`configs/examples/her2_joint.toml` (read at run time); the simulator draws around "
           "fixed hyperparameters (curve log10 IC50 sd 0.3, line effect sd 0.4, untreated rates "
           "N(0.08, 0.015), top offset 0) where the fit has priors (log-normal curve-IC50 "
           "spread of median 0.5, fixed untreated-rate sd 0.05, ...): coverage at fixed "
           "hyperparameters under informative priors, not simulation-based calibration."]
    md += ["", f"Command: `{result['command']}`"]
    md += [f"Part {p['name']} (seeds {p['seeds']}, commit {p['git_commit'][:10]}): "
           f"`{p['command']}`" for p in parts or []]
    write_result(OUT / args.out, result, md)
    log("\n".join(md))


if __name__ == "__main__":
    main()
