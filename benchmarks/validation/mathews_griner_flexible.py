"""Mathews Griner block 45 and its like under the flexible interaction surface.

Fits a subset of the ibrutinib screen (``../shared/data/combination_mathews_griner``: one cell
line, ibrutinib x partners, one 6 x 6 block each) with MuSyC (``combination/musyc_student_t``,
the default preset, per-unit checks on) and with the flexible interaction surface
(``combination/flexible``), the same back-end and seed. The subset is block 45 (canertinib,
non-monotone), block 19 (ispinesib) and ``--others`` blocks drawn at random (seed
``--seed``) from the rest, so that the noise scale and the ibrutinib curve are shared with
ordinary blocks as in the full screen. Reports per block:

- the MuSyC fit's ``ppc_p`` and ``misfit`` (ppc_p < 0.05);
- under the flexible surface: Bliss excess, model ZIP and ``vus`` (posterior mean, 95%
  interval) and the observed Bliss excess over the same fit's reference (the fitted
  monotherapy curves), and whether they agree in sign (the interval on the observed side's
  side of 0 or covering it);
- the classic ZIP of the block's wells;
- per-matrix PSIS-LOO (leave-one-well-out terms summed per matrix) of the two fits:
  ``elpd_diff = flexible - MuSyC`` and ``better_fit``.

Writes ``benchmarks/results/validation/mathews_griner_flexible.{json,md}``.

Usage: ``python -m benchmarks.validation.mathews_griner_flexible [--others 18] [--method nuts]
[--warmup 300] [--samples 300] [--chains 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import drugbayes as db
from benchmarks._common import SHARED_DATA, command, results_dir, utc_timestamp, write_result
from benchmarks.validation.validate_mathews_griner_zip import wells_table
from drugbayes.families.combination.compare import compare_surfaces, with_better_fit
from drugbayes.testing import mathews_griner_blocks

OUT = results_dir("validation")
FIXED = (45, 19)


def _flag(v) -> bool:
    """A nullable boolean summary cell as a bool (empty: False)."""
    return bool(v) if not pd.isna(v) else False


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--others", type=int, default=18)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="nuts")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--out", default="mathews_griner_flexible")
    args = ap.parse_args(argv)
    df = mathews_griner_blocks(SHARED_DATA / "combination_mathews_griner")
    rest = sorted(set(df["BlockId"].unique()) - set(FIXED))
    pick = np.random.default_rng(args.seed).choice(rest, args.others, replace=False)
    blocks = list(FIXED) + sorted(int(b) for b in pick)
    sub = df[df["BlockId"].isin(blocks)]
    partner = sub.groupby("BlockId")["RowName"].first()
    inf: dict = {"method": args.method}
    if args.method == "nuts":
        inf.update(num_warmup=args.warmup, num_samples=args.samples, num_chains=args.chains)
    fits, wall = {}, {}
    for preset in ("combination/musyc_student_t", "combination/flexible"):
        t0 = time.perf_counter()
        model = {"preset": preset, "options": {"compare_musyc": False}}  # compared below
        fits[preset] = db.fit(wells_table(sub), "combination", model=model, dose_unit="nM",
                              response_scale="percent", inference=inf, seed=args.seed,
                              diagnostics={"unit_checks": True})
        wall[preset] = time.perf_counter() - t0
    mus, flex = fits["combination/musyc_student_t"], fits["combination/flexible"]
    t0 = time.perf_counter()
    cmp = compare_surfaces(flex, mus)
    wall["compare"] = time.perf_counter() - t0
    sm = mus.summary()
    sf = with_better_fit(flex.summary(), cmp)

    def rows(s, q):
        r = s[(s["cell_line"] != "pooled") & (s["experiment"] == "all") & (s["quantity"] == q)]
        return r.set_index("drug_b")

    per = []
    for b in blocks:
        p = partner[b]
        obs = rows(sf, "bliss_excess_observed").loc[p]
        rec = {"block": b, "partner": p,
               "musyc_ppc_p": float(rows(sm, "bliss_excess").loc[p, "ppc_p"]),
               "musyc_misfit": _flag(rows(sm, "bliss_excess").loc[p, "misfit"]),
               "musyc_bliss": float(rows(sm, "bliss_excess").loc[p, "mean"]),
               "flexible_ppc_p": float(rows(sf, "bliss_excess").loc[p, "ppc_p"]),
               "observed_bliss": float(obs["mean"]),
               "zip_classic": float(rows(sf, "zip_delta_classic").loc[p, "mean"]),
               "elpd_diff": float(rows(sf, "bliss_excess").loc[p, "elpd_diff"]),
               "better_fit": str(rows(sf, "bliss_excess").loc[p, "better_fit"])}
        for q in ("bliss_excess", "zip_delta", "vus", "hsa_excess", "loewe_excess"):
            r = rows(sf, q).loc[p]
            rec[q] = [float(r["mean"]), float(r["lower"]), float(r["upper"])]
        m, lo, hi = rec["bliss_excess"]
        rec["sign_agrees"] = bool(np.sign(m) == np.sign(rec["observed_bliss"]))
        rec["interval_excludes_0"] = bool(lo > 0 or hi < 0)
        per.append(rec)
    flagged = [r for r in per if r["musyc_misfit"]]
    res = {"timestamp": utc_timestamp(), "blocks": blocks, "method": args.method,
           "inference": inf, "seed": args.seed, "wall_seconds": wall,
           "musyc_diagnostics_passed": mus.diagnostics["passed"],
           "flexible_diagnostics_passed": flex.diagnostics["passed"],
           "n_flagged_musyc": len(flagged),
           "n_flagged_flexible": flex.diagnostics["unit_checks"].get("n_misfit"),
           "flagged_sign_agrees": sum(r["sign_agrees"] for r in flagged),
           "all_sign_agrees": sum(r["sign_agrees"] for r in per),
           "better_fit_counts": {k: int(v) for k, v in
                                 cmp["better_fit"].value_counts().items()},
           "per_block": per}
    args_list = [f"--others={args.others}", f"--seed={args.seed}", f"--method={args.method}"]
    if args.method == "nuts":
        args_list += [f"--warmup={args.warmup}", f"--samples={args.samples}",
                      f"--chains={args.chains}"]
    md = [f"# Mathews Griner block 45 and its like under the flexible surface "
          f"({res['timestamp']})", "",
          f"`{command('benchmarks.validation.mathews_griner_flexible', args_list)}`: blocks "
          f"{', '.join(map(str, blocks))} in one fit per preset, `{args.method}` {inf}; wall "
          f"time (s, shared 2-core machine, checks included): MuSyC "
          f"{wall['combination/musyc_student_t']:.0f}, flexible "
          f"{wall['combination/flexible']:.0f}, comparison {wall['compare']:.0f}. Run "
          f"diagnostics passed: MuSyC {res['musyc_diagnostics_passed']}, flexible "
          f"{res['flexible_diagnostics_passed']}.", "",
          "Excesses are viability fractions of E0, positive = synergy; the observed Bliss "
          "excess is over the flexible fit's own reference (its fitted monotherapy curves).",
          "", "| block | partner | MuSyC ppc_p | MuSyC misfit | MuSyC Bliss | flexible Bliss "
          "(95%) | flexible ZIP (95%) | vus (95%) | observed Bliss | classic ZIP | flexible "
          "ppc_p | elpd flex - MuSyC | better fit |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def ci(v):
        return f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"

    for r in per:
        md.append(f"| {r['block']} | {r['partner']} | {r['musyc_ppc_p']:.3f} | "
                  f"{r['musyc_misfit']} | {r['musyc_bliss']:+.3f} | {ci(r['bliss_excess'])} | "
                  f"{ci(r['zip_delta'])} | {ci(r['vus'])} | {r['observed_bliss']:+.3f} | "
                  f"{r['zip_classic']:+.3f} | {r['flexible_ppc_p']:.3f} | "
                  f"{r['elpd_diff']:+.1f} | {r['better_fit']} |")
    md += ["", f"MuSyC flags {len(flagged)} of {len(per)} blocks (ppc_p < 0.05); the flexible "
           f"fit flags {res['n_flagged_flexible']}. Flexible Bliss excess has the sign of the "
           f"observed excess in {res['flagged_sign_agrees']} of the {len(flagged)} flagged "
           f"blocks and {res['all_sign_agrees']} of all {len(per)}. Per-matrix LOO: "
           f"{res['better_fit_counts']}."]
    write_result(OUT / args.out, res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
