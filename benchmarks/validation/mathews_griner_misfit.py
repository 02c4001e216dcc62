"""Which Mathews Griner blocks does the MuSyC fit's per-matrix check flag (block 45 among them)?

Fits every block of the ibrutinib screen (``../shared/data/combination_mathews_griner``; one
cell line, ibrutinib x 466 partners, technical replicates as experiments) with the default
preset and ``svi`` (``map`` falls back to point estimates on this screen: no checks), the
per-unit checks on, and reports ``ppc_p`` and
``misfit`` of blocks 19 and 45 (45, canertinib x ibrutinib, is non-monotone: the model-based
and classic ZIP disagree in sign) and how many combinations are flagged in all.

Writes ``benchmarks/results/validation/mathews_griner_misfit.{json,md}``.

Usage: ``python -m benchmarks.validation.mathews_griner_misfit``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import drugbayes as db
from benchmarks._common import SHARED_DATA, command, results_dir, utc_timestamp, write_result
from benchmarks.validation.validate_mathews_griner_zip import wells_table
from drugbayes.testing import mathews_griner_blocks

OUT = results_dir("validation")
BLOCKS = {19: "Ispinesib", 45: "Canertinib"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="svi", help="map gave point estimates only on this "
                    "screen (its Laplace Hessian is not positive definite): no checks")
    args = ap.parse_args(argv)
    df = mathews_griner_blocks(SHARED_DATA / "combination_mathews_griner")
    t0 = time.perf_counter()
    r = db.fit(wells_table(df), "combination", dose_unit="nM", response_scale="percent",
               inference={"method": args.method}, seed=0, diagnostics={"unit_checks": True})
    wall = time.perf_counter() - t0
    if "n_misfit" not in r.diagnostics["unit_checks"]:
        raise SystemExit(f"no per-unit checks: {r.diagnostics['unit_checks']}")
    s = r.summary()
    combos = s[(s["cell_line"] != "pooled") & (s["experiment"] == "all")]
    per = combos.groupby("drug_b")[["ppc_p", "misfit"]].first()
    zc = combos[combos["quantity"] == "zip_delta_classic"].set_index("drug_b")["mean"]
    zm = combos[combos["quantity"] == "zip_delta"].set_index("drug_b")["mean"]
    flagged = per[per["misfit"].fillna(False).astype(bool)]
    sign = (np.sign(zc) != np.sign(zm)) & (zc.abs() > 0.05)
    res = {"timestamp": utc_timestamp(), "method": args.method, "wall_seconds": wall,
           "n_combinations": len(per), "n_misfit": len(flagged),
           "blocks": {str(b): {"partner": p, "ppc_p": float(per.loc[p, "ppc_p"]),
                               "misfit": bool(per.loc[p, "misfit"] is True),
                               "zip_classic": float(zc[p]), "zip_model": float(zm[p])}
                      for b, p in BLOCKS.items()},
           "sign_disagreement_abs_classic_gt_0.05": int(sign.sum()),
           "of_those_flagged": int(sign[sign].index.isin(flagged.index).sum()),
           "ppc_p": {k: float(v) for k, v in per["ppc_p"].items()}}
    md = [f"# Per-combination misfit on the Mathews Griner ibrutinib screen ({res['timestamp']})",
          "", f"`{command('benchmarks.validation.mathews_griner_misfit')}`: all "
          f"{len(per)} combinations in one fit, default preset, `{args.method}`; "
          f"{wall:.0f} s wall time on the shared 2-core machine (checks included).", "",
          "| block | partner | ppc_p | misfit | classic ZIP | model ZIP |",
          "|---|---|---|---|---|---|"]
    for b, v in res["blocks"].items():
        md.append(f"| {b} | {v['partner']} | {v['ppc_p']:.3g} | {v['misfit']} | "
                  f"{100 * v['zip_classic']:.1f} | {100 * v['zip_model']:.1f} |")
    md += ["", f"{len(flagged)} of {len(per)} combinations flagged misfit (ppc_p < 0.05). "
           f"Classic and model-based ZIP disagree in sign (|classic| > 5) for "
           f"{res['sign_disagreement_abs_classic_gt_0.05']} combinations, "
           f"{res['of_those_flagged']} of them flagged."]
    write_result(OUT / "mathews_griner_misfit", res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
