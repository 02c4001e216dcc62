"""MAP with the Laplace approximation (and SVI) against NUTS on the shipped examples.

Fits the combination example (``configs/examples/lapatinib_trastuzumab_combination.toml``)
and the xenograft example (``configs/examples/her2_xenograft.toml``) with ``nuts`` (the
reference), ``map`` (``laplace = true``, the default) and optionally ``svi``, and compares
their summary tables row by row (same unit and quantity):

- interval widths: the fraction of reported quantities (rows with a finite interval under
  both) whose interval width is within a factor 2 of NUTS's (issue 25's target: >= 80% on
  the combination example);
- probabilities: how many are exactly 0 or 1 (target: none unless every Laplace draw falls
  on one side) and how many are within 0.1 of NUTS's;
- the xenograft example's P(slower than control): within 0.1 of NUTS's for >= 80% of arms.

Writes ``benchmarks/results/validation/map_laplace_vs_nuts.{json,md}``.

Usage: ``python -m benchmarks.validation.map_laplace_vs_nuts [--nuts-samples 500] [--svi]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import drugbayes as db
from benchmarks._common import REPO, command, environment, log, results_dir, write_result
from drugbayes.config import load_config

OUT = results_dir("validation")
EXAMPLES = {"combination": "lapatinib_trastuzumab_combination.toml",
            "xenograft": "her2_xenograft.toml"}


def _fit(cfg, inference: dict):
    t0 = time.perf_counter()
    r = db.fit(cfg.resolved_data_path(), cfg.data.kind, model=cfg.model,
               inference=inference, seed=cfg.run.seed, columns=cfg.data.columns,
               contrasts=cfg.contrasts, diagnostics=cfg.diagnostics,
               interval_prob=cfg.report.interval_prob, **cfg.data.options())
    s = r.summary()
    return r, s, time.perf_counter() - t0


def _nuts(cfg, inference: dict, name: str, cache: str | None) -> dict:
    """The NUTS reference: its summary, time and diagnostics (cached in ``cache``)."""
    import json

    tag = "_".join(f"{k}{v}" for k, v in inference.items() if k != "method")
    csv = Path(cache) / f"{name}_nuts_{tag}.csv" if cache else None
    if csv is not None and csv.is_file():
        meta = json.loads(csv.with_suffix(".json").read_text())
        return {**meta, "summary": pd.read_csv(csv, keep_default_na=False, na_values=[""]),
                "cached": str(csv)}
    r, s, t = _fit(cfg, inference)
    meta = {"seconds": t, "passed": r.diagnostics["passed"],
            "checks": {k: v["value"] for k, v in r.diagnostics["checks"].items()}}
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        s.to_csv(csv, index=False)
        csv.with_suffix(".json").write_text(json.dumps(meta, default=float))
        s = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    return {**meta, "summary": s}


def compare(ref: pd.DataFrame, other: pd.DataFrame) -> dict:
    """Row-by-row comparison of two summary tables of the same data."""
    key = list(ref.columns[:ref.columns.get_loc("quantity") + 1])
    m = ref.merge(other, on=key, suffixes=("_nuts", "_x"))
    prob = m["unit_nuts"] == "probability"
    w_ref = m["upper_nuts"] - m["lower_nuts"]
    w_x = m["upper_x"] - m["lower_x"]
    ok = ~prob & np.isfinite(w_ref) & np.isfinite(w_x) & (w_ref > 0)
    ratio = (w_x[ok] / w_ref[ok]).to_numpy()
    within = (ratio >= 0.5) & (ratio <= 2.0)
    per_q = {}
    for q, g in m[ok].assign(ratio=ratio).groupby("quantity", sort=False):
        r = g["ratio"].to_numpy()
        per_q[str(q)] = {"rows": len(r), "median_width_ratio": float(np.median(r)),
                         "within_factor_2": float(np.mean((r >= 0.5) & (r <= 2.0)))}
    p_ref, p_x = m.loc[prob, "mean_nuts"], m.loc[prob, "mean_x"]
    both = np.isfinite(p_ref) & np.isfinite(p_x)
    diff = (p_x[both] - p_ref[both]).abs()
    return {
        "rows_compared": int(len(m)),
        "interval_rows": int(ok.sum()),
        "width_within_factor_2": float(within.mean()) if len(ratio) else float("nan"),
        "median_width_ratio": float(np.median(ratio)) if len(ratio) else float("nan"),
        "narrower_than_half": int((ratio < 0.5).sum()),
        "wider_than_twice": int((ratio > 2.0).sum()),
        "per_quantity": per_q,
        "probabilities": int(prob.sum()),
        "probabilities_exactly_0_or_1": int(((p_x == 0) | (p_x == 1)).sum()),
        "nuts_probabilities_exactly_0_or_1": int(((p_ref == 0) | (p_ref == 1)).sum()),
        "probabilities_within_0.1_of_nuts": float((diff <= 0.1).mean()) if both.any()
        else float("nan"),
        "max_probability_difference": float(diff.max()) if both.any() else float("nan"),
    }


def slower_than_control(ref: pd.DataFrame, other: pd.DataFrame) -> dict:
    q = "p_slower_than_control"
    a = ref[ref.quantity == q].set_index(["cell_line", "arm"])["mean"]
    b = other[other.quantity == q].set_index(["cell_line", "arm"])["mean"]
    d = (b.reindex(a.index) - a).abs()
    return {"arms": int(len(a)), "within_0.1": float((d <= 0.1).mean()),
            "max_difference": float(d.max()),
            "rows": [{"cell_line": c, "arm": arm, "nuts": float(a[(c, arm)]),
                      "other": float(b.get((c, arm), np.nan))} for c, arm in a.index]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nuts-chains", type=int, default=4)
    ap.add_argument("--nuts-warmup", type=int, default=500)
    ap.add_argument("--nuts-samples", type=int, default=500)
    ap.add_argument("--laplace-draws", type=int, default=1000)
    ap.add_argument("--svi", action="store_true", help="also compare svi (4000 steps)")
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    ap.add_argument("--out", default=str(OUT / "map_laplace_vs_nuts"))
    ap.add_argument("--nuts-cache", default=None, help="folder keeping the NUTS summaries "
                    "(reused when present with the same settings)")
    args = ap.parse_args(argv)
    res: dict = {"environment": environment(),
                 "command": command("benchmarks.validation.map_laplace_vs_nuts",
                                    (argv if argv is not None else [])),
                 "settings": vars(args), "examples": {}}
    md = ["# MAP + Laplace (and SVI) against NUTS on the shipped examples", "",
          f"Command: `{res['command']}`; {res['environment']['timestamp_utc']}, git "
          f"{res['environment']['git_commit'][:10]}, {res['environment']['jax_backend']} "
          f"({res['environment']['cpu_affinity']} CPUs, shared).", ""]
    for name in args.examples.split(","):
        cfg = load_config(REPO / "configs" / "examples" / EXAMPLES[name])
        log(f"{name}: nuts")
        nuts_inf = {"method": "nuts", "num_chains": args.nuts_chains,
                    "num_warmup": args.nuts_warmup, "num_samples": args.nuts_samples}
        out = {"nuts": _nuts(cfg, nuts_inf, name, args.nuts_cache)}
        s_n, t_n = out["nuts"].pop("summary"), out["nuts"]["seconds"]
        methods = [("map", {"method": "map", "laplace_draws": args.laplace_draws})]
        if args.svi:
            methods.append(("svi", {"method": "svi"}))
        for mname, inf in methods:
            log(f"{name}: {mname}")
            r, s, t = _fit(cfg, inf)
            c = compare(s_n, s)
            entry = {"seconds": t, "approximation": r.diagnostics["approximation"]["name"],
                     "laplace": r.diagnostics.get("laplace"), **c}
            if name == "xenograft":
                entry["p_slower_than_control"] = slower_than_control(s_n, s)
            out[mname] = entry
            log(f"{name} {mname}: width within x2 {c['width_within_factor_2']:.3f}, "
                f"probabilities exactly 0/1: {c['probabilities_exactly_0_or_1']} "
                f"(nuts {c['nuts_probabilities_exactly_0_or_1']})")
        res["examples"][name] = out
        checks = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in out["nuts"]["checks"].items())
        md += [f"## {name} (`configs/examples/{EXAMPLES[name]}`)", "",
               f"NUTS {args.nuts_chains} x ({args.nuts_warmup} + {args.nuts_samples}): "
               f"{t_n:.0f} s, diagnostics {'passed' if out['nuts']['passed'] else 'FAILED'} "
               f"({checks}).",
               "",
               "| method | s | rows with intervals | width within x2 of NUTS | median width ratio "
               "| < x0.5 / > x2 | probabilities | exactly 0 or 1 (NUTS) | within 0.1 of NUTS |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for mname, _ in methods:
            e = out[mname]
            md.append(f"| {mname} ({e['approximation']}) | {e['seconds']:.0f} | "
                      f"{e['interval_rows']} | {e['width_within_factor_2']:.3f} | "
                      f"{e['median_width_ratio']:.2f} | {e['narrower_than_half']} / "
                      f"{e['wider_than_twice']} | {e['probabilities']} | "
                      f"{e['probabilities_exactly_0_or_1']} "
                      f"({e['nuts_probabilities_exactly_0_or_1']}) | "
                      f"{e['probabilities_within_0.1_of_nuts']:.3f} |")
        md.append("")
        for mname, _ in methods:
            e = out[mname]
            md += [f"Per quantity ({mname}): " + "; ".join(
                f"{q} {v['within_factor_2']:.2f} (ratio {v['median_width_ratio']:.2f}, "
                f"{v['rows']} rows)" for q, v in e["per_quantity"].items()), ""]
            if "p_slower_than_control" in e:
                p = e["p_slower_than_control"]
                md += [f"P(slower than control), {mname}: within 0.1 of NUTS for "
                       f"{p['within_0.1']:.0%} of {p['arms']} arms (largest difference "
                       f"{p['max_difference']:.3f}): " + ", ".join(
                           f"{x['cell_line']}/{x['arm']} {x['other']:.3f} vs {x['nuts']:.3f}"
                           for x in p["rows"]), ""]
    md += ["Widths are `upper - lower` of the equal-tailed 95% intervals of every summary row "
           "that is not a probability and has a finite interval under both methods; a "
           "probability is the `mean` of a `probability` row. The Laplace draws are "
           "described in `src/drugbayes/inference/laplace.py`."]
    write_result(Path(args.out), res, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
