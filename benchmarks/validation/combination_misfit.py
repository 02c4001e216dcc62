"""Does the per-unit posterior predictive check flag combination matrices MuSyC cannot fit?

Simulates checkerboards (6 x 6: dose 0 plus 5 doses of each drug, 2 replicates, noise sd 0.05
of E0; :func:`drugbayes.families.combination.simulate`), ``--per-fit`` cell lines per study
against one pair. In each study half of the cell lines keep their MuSyC surface; the other half
get a **non-monotone interaction** added where both drugs are present: a Gaussian bump of
height ``h ~ U(0.3, 0.5)`` (fraction of E0) and width ``w ~ U(0.4, 0.6)`` decades, centred
at a random point in the middle half of the tested dose range, redrawn until the true
(noise-free) surface rises by at least 0.2 of E0 (four noise sd) along a dose axis: viability
rises and falls again with dose (the shape of Mathews Griner block 45). The simulator addition
lives here, not in the package.

Each study is fitted with the default preset (Student-t noise) and the given back-end; the
per-matrix ``misfit`` flag (``ppc_p < [diagnostics] ppc_threshold``, default 0.05; the rate
at 0.01 is reported too) is
compared with the truth: the catch rate on the bumped matrices, the false-alarm rate on the
MuSyC ones.

Writes ``benchmarks/results/validation/combination_misfit.{json,md}`` (``--out`` names another
file). With ``--append`` the
studies run are added to that result (same back-end and ``--per-fit``; the seeds continue after
the last done one unless ``--seed`` is given, and a seed already done is refused): the studies
done are never rerun or dropped, and each run's command, seeds and git commit are kept.

Usage: ``python -m benchmarks.validation.combination_misfit [--studies 20] [--per-fit 10]
[--method map] [--seed 401] [--append]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

import drugbayes as db
from benchmarks._common import command, git_commit, results_dir, utc_timestamp, write_result
from drugbayes.families.combination import simulate, simulate_wells

OUT = results_dir("validation")
THRESHOLD = 0.05
"""``[diagnostics] ppc_threshold``'s default."""


def _rise(v: np.ndarray) -> float:
    """Largest increase of viability with dose along either axis of a ``[dose_a, dose_b]``
    grid (0 for a surface monotone in both doses)."""
    return float(max(np.diff(v, axis=0).max(initial=0.0), np.diff(v, axis=1).max(initial=0.0)))


def add_bump(wells: pd.DataFrame, truth: pd.DataFrame, cell_lines: list[str], seed: int,
             min_rise: float = 0.2) -> tuple[pd.DataFrame, list[dict]]:
    """Wells with a Gaussian bump in log dose added to the combination wells of
    ``cell_lines`` (both doses > 0), redrawn until the true (noise-free) surface rises by at
    least ``min_rise`` (fraction of E0) somewhere along a dose axis; returns the new table and
    each bump (height, width, centre, the true surface's largest rise)."""
    rng = np.random.default_rng(seed)
    out = wells.copy()
    doses = np.sort(out.loc[out["dose_a"] > 0, "dose_a"].unique())
    clean = simulate_wells(truth, doses, doses, n_replicates=1, noise_sd=0.0, seed=0)
    lo, hi = np.log10(doses[0]), np.log10(doses[-1])
    bumps = []
    for cl in cell_lines:
        c = clean[clean["cell_line"] == cl]
        grid = c.pivot_table(index="dose_a", columns="dose_b", values="response").to_numpy()
        la_g = np.log10(np.where(np.r_[0.0, doses] > 0, np.r_[1.0, doses], 1.0))
        both = np.outer(np.r_[0.0, doses] > 0, np.r_[0.0, doses] > 0)
        for _ in range(100):
            h, w = rng.uniform(0.3, 0.5), rng.uniform(0.4, 0.6)
            ca = rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo))
            cb = rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo))

            def bump(xa, xb, h=h, w=w, ca=ca, cb=cb):
                return h * np.exp(-((xa - ca) ** 2 + (xb - cb) ** 2) / (2 * w ** 2))

            g = grid + np.where(both, bump(la_g[:, None], la_g[None, :]), 0.0)
            if _rise(g) >= min_rise:
                break
        m = (out["cell_line"] == cl) & (out["dose_a"] > 0) & (out["dose_b"] > 0)
        out.loc[m, "response"] += bump(np.log10(out.loc[m, "dose_a"]),
                                       np.log10(out.loc[m, "dose_b"]))
        bumps.append({"cell_line": cl, "height": h, "width": w, "centre_a": ca,
                      "centre_b": cb, "true_rise": _rise(g)})
    return out, bumps


def _runs(d: dict) -> list[dict]:
    """The runs of a stored result (command, seeds, git commit); a result written before runs
    were recorded is one run of ``first_seed``.. with its studies done."""
    if "runs" in d:
        return list(d["runs"])
    seeds = [f["seed"] for f in d["fits"]]
    return [{"command": command("benchmarks.validation.combination_misfit",
                                ["--studies", str(d["studies_asked"]), "--per-fit",
                                 str(d["per_fit"]), "--method", d["method"], "--seed",
                                 str(d["first_seed"])]),
             "seeds": seeds, "git_commit": None, "timestamp": d["timestamp"]}]


def rewrite(path=OUT / "combination_misfit.json") -> None:
    """Rewrite the Markdown of a finished or cut-short run from its JSON rows."""
    d = json.loads(path.read_text())
    args = argparse.Namespace(method=d["method"], studies=d["studies_asked"],
                              per_fit=d["per_fit"], seed=d["first_seed"],
                              out=Path(path).stem)
    report(args, d["rows"], d["fits"], _runs(d))


def _start(args: argparse.Namespace, argv: list[str] | None) -> tuple[list, list, list, list]:
    """Rows, fits and runs to start from (the stored result's under ``--append``) and the
    seeds to run; ``args.studies`` and ``args.seed`` become the whole result's."""
    here = command("benchmarks.validation.combination_misfit",
                   argv if argv is not None else sys.argv[1:])
    if not args.append:
        seeds = list(range(args.seed, args.seed + args.studies))
        return [], [], [{"command": here, "seeds": seeds, "git_commit": git_commit(),
                         "timestamp": utc_timestamp()}], seeds
    d = json.loads((OUT / f"{args.out}.json").read_text())
    if d["method"] != args.method or d["per_fit"] != args.per_fit:
        raise SystemExit(f"--append: the stored result is --method {d['method']} --per-fit "
                         f"{d['per_fit']}, not --method {args.method} --per-fit "
                         f"{args.per_fit}")
    done = {f["seed"] for f in d["fits"]}
    first = args.seed if args.seed is not None else max(done) + 1
    seeds = list(range(first, first + args.studies))
    clash = sorted(set(seeds) & done)
    if clash:
        raise SystemExit(f"--append: seeds {clash} are done already (done: {sorted(done)})")
    runs = _runs(d) + [{"command": here, "seeds": seeds, "git_commit": git_commit(),
                        "timestamp": utc_timestamp()}]
    args.studies = len(done) + args.studies
    args.seed = d["first_seed"]
    return list(d["rows"]), list(d["fits"]), runs, seeds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=20)
    ap.add_argument("--per-fit", type=int, default=10)
    ap.add_argument("--method", default="map")
    ap.add_argument("--seed", type=int, default=None, help="first study's seed (default 401; "
                    "under --append the one after the last done; the default threshold was "
                    "chosen on a pilot with seeds 301-302)")
    ap.add_argument("--append", action="store_true", help="add the studies to the stored "
                    "result instead of starting a new one")
    ap.add_argument("--out", default="combination_misfit", help="the result's file name "
                    "(without extension) in benchmarks/results/validation")
    args = ap.parse_args(argv)
    if args.seed is None and not args.append:
        args.seed = 401
    inference = {"method": args.method}
    if args.method == "nuts":
        inference.update({"num_chains": 2, "num_warmup": 300, "num_samples": 300})
    rows, fits, runs, seeds = _start(args, argv)
    for seed in seeds:
        wells, truth = simulate(args.per_fit, n_doses=5, n_replicates=2, noise_sd=0.05,
                                seed=seed)
        cells = sorted(truth["cell_line"])
        bumped = cells[: len(cells) // 2]
        wells, bumps = add_bump(wells, truth, bumped, seed + 1000)
        t0 = time.perf_counter()
        r = db.fit(wells, "combination", seed=seed, response_scale="fraction",
                   inference=inference, diagnostics={"unit_checks": True})
        fits.append({"seed": seed, "seconds": round(time.perf_counter() - t0, 1),
                     "passed": bool(r.diagnostics["passed"]), "bumps": bumps,
                     "git_commit": runs[-1]["git_commit"]})
        u = r.unit_checks
        u = u[u["level"] != "parent"]
        for x in u.itertuples():
            cl = x.keys["cell_line"]
            rows.append({"seed": seed, "cell_line": cl, "non_monotone": cl in bumped,
                         "ppc_p": float(x.ppc_p), "misfit": bool(x.misfit)})
        print(fits[-1], pd.DataFrame(rows[-len(u):])[["non_monotone", "ppc_p"]]
              .groupby("non_monotone")["ppc_p"].median().to_dict(), flush=True)
        report(args, rows, fits, runs)  # after every study: a cut-short run keeps its results


def _median_seconds(fits: list[dict], seeds: list[int]) -> str:
    """The median wall time of the fits of ``seeds`` done ("-" if none)."""
    t = [f["seconds"] for f in fits if f["seed"] in set(seeds)]
    return f"{np.median(t):.0f}" if t else "-"


def _ci(k: int, n: int) -> str:
    """``k``'s exact (Clopper-Pearson) 95% binomial interval out of ``n``, in percent."""
    lo, hi = binomtest(k, n).proportion_ci(0.95, method="exact")
    return f"[{lo:.1%}, {hi:.1%}]"


def report(args, rows: list[dict], fits: list[dict], runs: list[dict]) -> None:
    """Write the JSON and Markdown results of the studies done so far."""
    df = pd.DataFrame(rows)
    bad, good = df[df["non_monotone"]], df[~df["non_monotone"]]
    thr = THRESHOLD
    res = {"timestamp": utc_timestamp(), "method": args.method, "studies_done": len(fits),
           "studies_asked": args.studies, "per_fit": args.per_fit, "first_seed": args.seed,
           "ppc_threshold": thr,
           "caught": int((bad["ppc_p"] < thr).sum()), "non_monotone": len(bad),
           "false_alarms": int((good["ppc_p"] < thr).sum()), "musyc": len(good),
           "caught_at_0.01": int((bad["ppc_p"] < 0.01).sum()),
           "false_alarms_at_0.01": int((good["ppc_p"] < 0.01).sum()),
           "caught_at_0.1": int((bad["ppc_p"] < 0.1).sum()),
           "false_alarms_at_0.1": int((good["ppc_p"] < 0.1).sum()),
           "runs": runs, "fits": fits, "rows": df.to_dict("records")}
    seeds = sorted(f["seed"] for f in fits)
    md = [f"# Per-matrix misfit flag on non-monotone combination matrices ({res['timestamp']})",
          "", f"{len(fits)} of {args.studies} studies done (seeds {seeds[0]}-{seeds[-1]}"
          f"{'' if seeds == list(range(seeds[0], seeds[-1] + 1)) else ', with gaps'}) x "
          f"{args.per_fit} matrices "
          "(half with a non-monotone bump), default preset (Student-t noise), back-end "
          f"`{args.method}` (map: the Laplace approximation's 1,000 draws; the checks use "
          "500 of them), `ppc_threshold` = the default. Runs:", "",
          *[f"- `{r['command']}`: seeds {r['seeds'][0]}-{r['seeds'][-1]}, git "
            f"{r['git_commit'] or 'not recorded'} ({r['timestamp']}), "
            f"{_median_seconds(fits, r['seeds'])} s median per fit" for r in runs], "",
          "| matrices | flagged (p < 0.05, the default) | rate [exact 95% CI] | p < 0.01 "
          "| p < 0.1 | target |",
          "|---|---|---|---|---|---|",
          f"| non-monotone | {res['caught']}/{len(bad)} | {res['caught'] / len(bad):.1%} "
          f"{_ci(res['caught'], len(bad))} | "
          f"{res['caught_at_0.01']}/{len(bad)} | {res['caught_at_0.1']}/{len(bad)} | >= 90% |",
          f"| MuSyC-shaped | {res['false_alarms']}/{len(good)} | "
          f"{res['false_alarms'] / len(good):.1%} {_ci(res['false_alarms'], len(good))} | "
          f"{res['false_alarms_at_0.01']}/{len(good)} "
          f"| {res['false_alarms_at_0.1']}/{len(good)} | <= 5% |", "",
          f"Median ppc_p: non-monotone {bad['ppc_p'].median():.3g} (largest "
          f"{bad['ppc_p'].max():.3g}), MuSyC {good['ppc_p'].median():.3g} (smallest "
          f"{good['ppc_p'].min():.3g}). Times per fit: wall time of `drugbayes.fit` (checks "
          "included) on this shared 2-core machine."]
    write_result(OUT / getattr(args, "out", "combination_misfit"), res, md)
    print("\n".join(md), flush=True)


if __name__ == "__main__":
    main()
