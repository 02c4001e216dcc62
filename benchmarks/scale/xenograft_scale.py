"""Xenograft family at study-pooling scale: 2,000 simulated mice x 20 measurements.

The reference design (2 cell lines x 4 arms, 250 mice per arm over 2 experiments) measured
every 3 days from day 0 to day 57 (20 measurements; no culling, so every mouse has all 20),
fitted with ``nuts`` (4 chains, 500 + 500) and ``svi`` (mean-field normal, 4,000 steps) with the
default preset. Records wall, compile/warmup/sampling seconds, diagnostics and the arm growth
rates against the truth (error, 95% coverage). Writes
``benchmarks/results/scale/xenograft_scale_cpu.{json,md}`` (or ``_gpu``).

With ``--growth regrowth`` the study is simulated from the regression-regrowth process with
cures (``REFERENCE_REGRESSION``: lapatinib regresses and regrows, the combination regresses
completely in most mice) and fitted with ``xenograft/regrowth_cure`` (cure arms lapatinib and
the combination); it records the regrowth and regression rates and cure fractions against the
truth. Writes ``benchmarks/results/scale/xenograft_scale_regrowth_cpu[_<tag>].{json,md}``.

With ``--methods screen nuts`` it compares the blocked back-end (the family's plan,
:mod:`drugbayes.families.xenograft.blocks`; 4 chains, ``--draws`` warmup and samples, 8
centred and 12 non-centred global leapfrog steps) with NUTS on the same study in the same
run: min bulk ESS per second of wall time (compilation included), max R-hat, and the share
of mice whose baseline and rate pass R-hat <= 1.01 and bulk ESS >= 400. The load of the
machine (``os.getloadavg``) is recorded before and after each fit.

Usage: ``python -m benchmarks.scale.xenograft_scale [--mice-per-arm 250] [--methods nuts svi]
[--growth exponential|regrowth] [--draws 500] [--tag TAG] [--cell-lines BT-474R]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax
import numpy as np

import drugbayes as db
from benchmarks._common import command, results_dir, utc_timestamp, write_result
from drugbayes.simulate import simulate_xenograft

OUT = results_dir("scale")
DAYS = tuple(range(0, 60, 3))


REGROWTH_MODEL = {"preset": "xenograft/regrowth_cure",
                  "options": {"cure_arms": ["lapatinib", "lapatinib+trastuzumab"]}}


def _truth_check(s, truth, q: str, col: str) -> dict:
    m = s.query("quantity == @q").merge(truth, on=["cell_line", "arm"])
    m = m[np.isfinite(m[col])]
    inside = (m["lower"] <= m[col]) & (m[col] <= m["upper"])
    return {"quantity": q, "n": int(len(m)), "inside95": int(inside.sum()),
            "mean_abs_error": float((m["median"] - m[col]).abs().mean()),
            "rows": m[["cell_line", "arm", "median", "lower", "upper", col]].to_dict("records")}


def run(method: str, table, truth, growth: str = "exponential", draws: int = 500,
        max_tree_depth: int = 8) -> dict:
    inference = {"method": method}
    if method == "nuts":
        inference.update(num_chains=4, num_warmup=draws, num_samples=draws,
                         max_tree_depth=max_tree_depth)
    if method == "screen":
        inference.update(num_chains=4, num_warmup=draws, num_samples=draws,
                         screen_drug_steps=8, screen_global_steps=12)
    load_before = os.getloadavg()
    model = REGROWTH_MODEL if growth == "regrowth" else None
    t0 = time.perf_counter()
    r = db.fit(table, "xenograft", control_arm="vehicle", inference=inference, seed=0,
               model=model)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    mice = _mouse_convergence(r.inference.samples)
    s_all = r.summary()
    s = s_all.query("quantity == 'growth_rate'").merge(truth, on=["cell_line", "arm"])
    err = (s["median"] - s["growth_rate"]).abs()
    inside = ((s["lower"] <= s["growth_rate"]) & (s["growth_rate"] <= s["upper"]))
    d = r.diagnostics
    checks = []
    if growth == "regrowth":
        t2 = truth.copy()
        t2.loc[t2["sensitive_fraction"] == 0, "regression_rate"] = np.nan  # undefined
        t2.loc[~t2["arm"].isin(REGROWTH_MODEL["options"]["cure_arms"]),
               "cure_fraction"] = np.nan  # no cure component there
        checks = [_truth_check(s_all, t2, q, c) for q, c in (
            ("regrowth_rate", "regrowth_rate"), ("regression_rate", "regression_rate"),
            ("p_complete_regression", "cure_fraction"), ("growth_rate", "growth_rate"))]
    return {"method": method, "wall_seconds": wall, "timings": r.inference.timings,
            "diagnostics": {k: v["value"] for k, v in d["checks"].items()},
            "diagnostics_passed": d["passed"], "n_parameters": d.get("n_parameters"),
            "inference": inference,
            "growth_rate_mean_abs_error": float(err.mean()),
            "growth_rate_max_abs_error": float(err.max()),
            "growth_rate_coverage95": float(inside.mean()), "n_arms": int(len(s)),
            "sd_mouse_rate_posterior_mean": float(np.mean(r.inference.samples["sd_mouse_rate"])),
            "sd_mouse_rate_truth": 0.008, "truth_checks": checks,
            "load_before": load_before, "load_after": load_after, **mice,
            "min_ess_bulk_per_second": d["checks"]["min_ess_bulk"]["value"] / wall
            if "min_ess_bulk" in d["checks"] else None}


def _mouse_convergence(samples: dict) -> dict:
    """Share of mice whose baseline and growth rate both pass R-hat <= 1.01 and bulk ESS >=
    400 (split R-hat and ESS of NumPyro), and the worst mouse's values."""
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

    ok, worst_rhat, worst_ess = None, 0.0, np.inf
    for site in ("mouse_baseline", "mouse_rate"):
        x = np.asarray(samples[site], np.float64)
        rh = split_gelman_rubin(x)
        es = effective_sample_size(x)
        good = (rh <= 1.01) & (es >= 400)
        ok = good if ok is None else ok & good
        worst_rhat, worst_ess = max(worst_rhat, float(rh.max())), min(worst_ess, float(es.min()))
    return {"mice_passing": float(np.mean(ok)), "mouse_max_rhat": worst_rhat,
            "mouse_min_ess_bulk": worst_ess}


def main(argv: list[str] | None = None) -> None:
    import logging

    logging.basicConfig(format="[%(asctime)s] %(message)s", level=logging.INFO)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mice-per-arm", type=int, default=250)
    ap.add_argument("--methods", nargs="+", default=["svi", "nuts"])
    ap.add_argument("--growth", default="exponential", choices=["exponential", "regrowth"])
    ap.add_argument("--draws", type=int, default=500, help="nuts warmup = samples per chain")
    ap.add_argument("--max-tree-depth", type=int, default=8)
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--cell-lines", nargs="+", default=None, help="default: both")
    args = ap.parse_args(argv)
    cells = tuple(args.cell_lines) if args.cell_lines else None
    table, truth = simulate_xenograft(args.mice_per_arm, n_experiments=2, days=DAYS,
                                      cell_lines=cells,
                                      cull_volume=np.inf, calipers=False, seed=7,
                                      growth=args.growth)
    n_mice = table["mouse"].nunique()
    results = [run(m, table, truth, args.growth, args.draws, args.max_tree_depth)
               for m in args.methods]
    from importlib.metadata import version

    dev = jax.devices()[0]
    res = {"timestamp": utc_timestamp(),
           "device": str(dev), "platform": platform.platform(), "cpu_count": os.cpu_count(),
           "jax": version("jax"), "numpyro": version("numpyro"), "n_mice": int(n_mice),
           "n_measurements": int(len(table)), "results": results}
    tag = "gpu" if dev.platform == "gpu" else "cpu"
    if args.growth != "exponential":
        tag = f"{args.growth}_{tag}"
    if args.tag:
        tag = f"{tag}_{args.tag}"
    cmd = command("benchmarks.scale.xenograft_scale", sys.argv[1:] if argv is None else argv)
    lines = [f"# Xenograft family ({args.growth}): {n_mice} mice x {len(DAYS)} measurements "
             f"({res['timestamp']})",
             "", f"Device {res['device']} ({res['cpu_count']} CPU cores), jax {res['jax']}, "
             f"numpyro {res['numpyro']}; `{cmd}`.", "",
             "| method | wall s | compile / warmup / sampling s | max R-hat | min bulk ESS | "
             "divergences | growth-rate MAE (1/day) | 95% coverage (arms) | mouse-rate SD "
             "(truth 0.008) | min ESS/s | mice passing | load avg before/after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in results:
        t = x["timings"]
        phases = " / ".join(f"{t[k]:.1f}" if k in t else "-"
                            for k in ("compile", "warmup", "sampling"))
        dg = x["diagnostics"]
        lines.append(f"| {x['method']} | {x['wall_seconds']:.1f} | {phases} | "
                     f"{dg.get('max_rhat', float('nan')):.4g} | "
                     f"{dg.get('min_ess_bulk', float('nan')):.4g} | "
                     f"{dg.get('divergences', '-')} | {x['growth_rate_mean_abs_error']:.4f} | "
                     f"{x['growth_rate_coverage95']:.2f} ({x['n_arms']}) | "
                     f"{x['sd_mouse_rate_posterior_mean']:.4f} | "
                     f"{x['min_ess_bulk_per_second'] or float('nan'):.3g} | "
                     f"{x['mice_passing']:.3f} | {x['load_before'][0]:.1f} / "
                     f"{x['load_after'][0]:.1f} |")
    for x in results:
        for c in x["truth_checks"]:
            lines.append("")
            lines.append(f"{x['method']}: `{c['quantity']}` truth inside the 95% interval for "
                         f"{c['inside95']}/{c['n']} arms, mean abs error "
                         f"{c['mean_abs_error']:.4f}.")
    write_result(OUT / f"xenograft_scale_{tag}", res, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
