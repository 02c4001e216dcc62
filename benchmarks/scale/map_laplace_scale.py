"""What the Laplace approximation adds to a dose-response ``map`` run, by number of curves.

Simulates a screen (``drugbayes.inference.screen.simulate_screen``, the shapes of
``screen_scale.py``), validates and encodes it once, then runs ``drugbayes.fit`` with
``method = "map"`` twice per size: ``laplace = false`` (the point estimate) and
``laplace = true`` (the default, ``laplace_draws`` draws), each after a warm-up fit of the
same shapes so that both use compiled programs from the persistent cache (a cold first run
adds the compilation of the Hessian-vector product program, reported apart). Reports the fit
time of both, the Laplace step's own time, its structure (plates, dense coordinates,
Hessian-vector products) and the coverage of the true log10 IC50 by the Laplace intervals.

Issue 25's target is a 100,000-curve run within 20% of its point-estimate time; this script
measures the sizes a shared 2-core CPU allows (``--sizes``). ``--no-surrogate`` adds, in the
same run, the Laplace step without the likelihood surrogate (every Hessian-vector product
over the data, as before it), for comparison. The load average is recorded around every fit.

Writes ``benchmarks/results/scale/map_laplace_scale_cpu.{json,md}``.

Usage: ``python -m benchmarks.scale.map_laplace_scale --sizes 2000,10000``
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import command, environment, log, results_dir, write_result
from benchmarks.scale.screen_scale import DOSE_SHIFT, shape_for


def _table(n: int, seed: int):
    from drugbayes.inference import screen as sc

    n_cell, n_drug = shape_for(n)
    grid, truth = sc.simulate_screen(n_cell, n_drug, seed=seed)
    long = grid.to_long()
    df = pd.DataFrame({"cell_line": np.char.add("C", long["cell"].astype(str)),
                       "drug": np.char.add("D", long["drug"].astype(str)),
                       "dose": 10.0 ** (long["x"] + DOSE_SHIFT).astype(np.float64),
                       "response": long["y"]})
    # per curve, in the order of grid.present (as benchmarks/scale/screen_scale.py scores)
    key = pd.MultiIndex.from_arrays([np.char.add("C", long["group_cell"].astype(str)),
                                     np.char.add("D", long["group_drug"].astype(str))],
                                    names=["cell_line", "drug"])
    true = pd.Series(truth["log10_ic50"][grid.present] + DOSE_SHIFT, index=key)
    return df, true, (n_cell, n_drug), grid.n_wells


@contextmanager
def _without_surrogate(on: bool):
    """The Laplace step with every Hessian-vector product over the data (before the
    likelihood surrogate)."""
    from drugbayes.inference import map as map_mod

    saved = map_mod.likelihood_surrogate
    if on:
        map_mod.likelihood_surrogate = lambda *a, **k: (None, {"used": False,
                                                                "why": "benchmark: off"})
    try:
        yield
    finally:
        map_mod.likelihood_surrogate = saved


def main(argv: list[str] | None = None) -> int:
    import drugbayes as db
    from drugbayes.api import prepare
    from drugbayes.inference.settings import enable_compilation_cache

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000")
    ap.add_argument("--draws", type=int, default=1000, help="laplace_draws")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-surrogate", action="store_true",
                    help="also time the Laplace step without the likelihood surrogate")
    ap.add_argument("--out", default=str(results_dir("scale") / "map_laplace_scale_cpu"))
    ap.add_argument("--append", action="store_true",
                    help="keep the rows of other sizes already in --out's JSON (each with "
                         "its own load and git commit)")
    args = ap.parse_args(argv)
    cache = enable_compilation_cache()
    env = environment()
    log(f"compilation cache {cache}")
    opts = {"dose_unit": "uM", "response_scale": "fraction"}
    rows = []
    for n in [int(v) for v in args.sizes.split(",") if v]:
        df, true, shape, n_wells = _table(n, args.seed)
        prep = prepare(df, kind="dose_response", **opts)
        log(f"{n} curves ({shape[0]} x {shape[1]}), {n_wells} wells")
        rec: dict = {"curves": n, "cell_lines": shape[0], "drugs": shape[1], "wells": n_wells,
                     "git_commit": env["git_commit"][:10], "timestamp_utc": env["timestamp_utc"]}
        variants = [("point", False, False), ("laplace", True, False)]
        if args.no_surrogate:
            variants.append(("laplace_no_surrogate", True, True))
        for key, lap, off in variants:
            inf = {"method": "map", "laplace": lap, "laplace_draws": args.draws}
            with _without_surrogate(off):
                t = time.perf_counter()
                db.fit(df, prepared=prep, inference=inf, seed=args.seed, **opts)  # warm-up
                first = time.perf_counter() - t
                load0 = os.getloadavg()[0]
                t = time.perf_counter()
                r = db.fit(df, prepared=prep, inference=inf, seed=args.seed, **opts)
                fit_s = time.perf_counter() - t
                load1 = os.getloadavg()[0]
            t = time.perf_counter()
            s = r.summary()
            summ_s = time.perf_counter() - t
            tm = r.inference.timings
            dtm = r.diagnostics.get("timings", {})
            checks_s = (dtm.get("unit_checks_predictive", 0.0)
                        + dtm.get("unit_checks_contraction", 0.0))
            rec[key] = {"first_fit_s": first, "fit_s": fit_s, "summary_s": summ_s,
                        "checks_s": checks_s,
                        "load_before_after": [load0, load1],
                        "timings": {k: float(v) for k, v in tm.items()},
                        "optimization_s": tm.get("optimization"),
                        "laplace_s": tm.get("laplace"),
                        "approximation": r.diagnostics["approximation"]["name"]}
            if lap:
                rec[key]["structure"] = r.diagnostics.get("laplace")
                ic = s[s.quantity == "log10_ic50"].set_index(["cell_line", "drug"])
                ic = ic.reindex(true.index)
                inside = (ic["lower"] <= true) & (true <= ic["upper"])
                rec[key]["coverage_95"] = float(inside.mean())
                rec[key]["mae_log10_ic50"] = float((ic["median"] - true).abs().mean())
            log(f"  {key}: fit {fit_s:.1f} s (first {first:.1f} s), load {load0:.1f}/{load1:.1f}, "
                f"timings {rec[key]['timings']}")
        rec["overhead"] = rec["laplace"]["fit_s"] / rec["point"]["fit_s"] - 1.0
        rows.append(rec)
    out_json = Path(args.out).with_suffix(".json")
    if args.append and out_json.exists():
        import json

        old = json.loads(out_json.read_text())["rows"]
        mine = {r["curves"] for r in rows}
        rows = sorted([r for r in old if r["curves"] not in mine] + rows,
                      key=lambda r: r["curves"])
    md = ["# MAP with and without the Laplace approximation (dose-response, CPU)", "",
          f"Command: `{command('benchmarks.scale.map_laplace_scale', argv or [])}`; "
          f"{env['timestamp_utc']}, git {env['git_commit'][:10]}, {env['jax_backend']} "
          f"({env['cpu_affinity']} CPUs shared with other jobs: timings are noisy; the load "
          "average before / after each timed fit is given).", "",
          "| curves | wells | git | variant | draws | fit s | vs map | inference s | vs map | "
          "checks s | fit + summary - checks s | vs map | load | "
          "optimisation s | surrogate s | Hessian + draws s (marginal search s, Hessians) | "
          "constrain s | summary s | structure | products | 95% coverage | MAE |",
          "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
          "---:|---|---:|---:|---:|"]
    for r in rows:
        pt = r["point"]
        for key in ("point", "laplace", "laplace_no_surrogate"):
            if key not in r:
                continue
            v = r[key]
            tm = v["timings"]
            st = v.get("structure") or {}
            plates = ", ".join(f"{p['members']} x {p['coordinates_per_member']}"
                               for p in st.get("plates", []))
            sur = (st.get("likelihood_surrogate") or {})
            struct = (f"{st.get('structure')} ({plates}; {st.get('dense_coordinates')} dense)"
                      if st else "")
            prods = (f"{st.get('hessian_vector_products')}"
                     + (f" + {sur.get('likelihood_hessian_vector_products')} over the data"
                        if sur.get("used") else " over the data") if st else "")

            def f(x):
                return "" if x is None else f"{x:.1f}"

            def own(x):  # fit and summary, less the per-unit checks (absent in old rows)
                return x["fit_s"] + x["summary_s"] - x.get("checks_s", float("nan"))

            chk = v.get("checks_s")
            marg = (st.get("held_at_marginal_mode") or {})
            search = (f" ({marg['seconds']:.1f}, {marg['hessians']})"
                      if "seconds" in marg else "")
            md.append(
                f"| {r['curves']:,} | {r['wells']:,} | {r.get('git_commit', '')[:7]} | {key} | "
                f"{st.get('n_draws', 1) if st else 1} | {v['fit_s']:.1f} | "
                f"{v['fit_s'] / pt['fit_s']:.2f} | {tm['total']:.1f} | "
                f"{tm['total'] / pt['timings']['total']:.2f} | "
                f"{f(chk)} | {own(v):.1f} | {own(v) / own(pt):.2f} | "
                f"{v['load_before_after'][0]:.1f} / "
                f"{v['load_before_after'][1]:.1f} | {f(tm.get('optimization'))} | "
                f"{f(tm.get('laplace_surrogate'))} | "
                f"{f(tm.get('laplace_hessian_and_draws'))}{search} | "
                f"{f(tm.get('laplace_constrain'))} | "
                f"{v['summary_s']:.1f} | {struct} | {prods} | "
                f"{v.get('coverage_95', float('nan')):.3f} | "
                f"{v.get('mae_log10_ic50', float('nan')):.3f} |")
    md += ["", f"`laplace_draws = {args.draws}` asked; draws: those made "
           "(`laplace.draws_at_scale`: at most about `MAX_DRAW_VALUES` values of draws, at "
           "least 200; their Monte Carlo error is in `diagnostics.json` "
           "`laplace.monte_carlo_error`). Fit times are `drugbayes.fit` on the "
           "validated table (the second of two identical fits, compiled programs cached), "
           "including the posterior's derived quantities and the per-unit checks (posterior "
           "predictive, prior contraction) that every run with draws gets; summary times are "
           "apart. Checks: the per-unit checks inside the fit (`FitResult.check_units`: "
           "posterior predictive checks and the contraction columns, i.e. the prior and "
           "pooled summaries; none for a point estimate; the posterior summary they read is "
           "not counted in them); fit + summary - checks: what the run costs without them "
           "(the point estimate's summary is computed by `summary()`, the Laplace run's "
           "inside the fit, before the checks). Inference: `drugbayes.fit`'s inference step "
           "alone (MAP, Laplace step, "
           "deterministic sites). Marginal search: moving the held scales to their marginal "
           "mode (`laplace._marginal_held`), inside the Hessian + draws time. Coverage: the "
           "true log10 IC50 inside the Laplace 95% interval. Products: Hessian-vector "
           "products of the Laplace step's last Hessian (of the surrogate, which pass over "
           "the curves' parameters only) + those of the "
           "likelihood over the data."]
    write_result(Path(args.out), {"environment": env, "settings": vars(args), "rows": rows},
                 md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
