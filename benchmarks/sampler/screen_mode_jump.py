"""The screen back-end's mode jump: what it buys and what it costs, on 2 CPU cores.

1. **Ridge escape.** Cell line 23 x drug 270 of ``simulate_screen(1000, 300, seed=0)`` (the
   300,000-curve benchmark screen) has barely begun to respond at the top dose, so its
   posterior has a thin tail along a flat ridge (bottom near the top, IC50 then free). 512
   chains of the curve alone (globals fixed at the truth) start on the ridge; reported: the
   fraction still outside the posterior's central 99% after 10-2,000 sweeps, and the
   autocorrelation of log10 IC50 at lags 1, 5 and 20 once stationary, with the curve HMC
   alone and with the jump after each HMC step.
2. **Whole sampler.** ``simulate_screen(1000, 20, seed=0)`` (20,000 curves), 8 chains x (120
   warmup + 120 draws), with and without the jump: seconds and the 1% quantile, minimum and
   median of the curves' log10 IC50 bulk ESS.

Writes ``benchmarks/results/sampler/screen_mode_jump.{json,md}``.

Usage: ``python -m benchmarks.sampler.screen_mode_jump``
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._common import git_commit, results_dir, utc_timestamp, write_result
from drugbayes.api import _spec
from drugbayes.inference import screen as sc
from drugbayes.testing import curve_chain, curve_modes, one_curve_problem

OUT = results_dir("sampler")
CURVE = (23, 270)
RIDGE_START = (1.3, 0.0, 2.9, 0.0)
CHECK_SWEEPS = (10, 30, 100, 300, 1000, 2000)


def ridge_escape(grid: sc.ScreenGrid, truth: dict, n: int = 512, n_sweeps: int = 3000) -> dict:
    d, m, s = one_curve_problem(grid, truth, CURVE, n)
    jp = curve_modes(d, m, s)
    G0 = jnp.broadcast_to(jnp.asarray(RIDGE_START, jnp.float32), (n, 1, 4))
    out = {}
    for jump in (False, True):
        dr, _ = curve_chain(d, m, s, jp, jump, G0, n_sweeps)  # [sweep, chain, K]
        ref = dr[1000:, :, 0]
        lo, hi = np.quantile(ref, [0.005, 0.995])
        x = ref - ref.mean(0)
        out["hmc+jump" if jump else "hmc"] = {
            "outside_central_99": {t: float(np.mean((dr[t, :, 0] < lo) | (dr[t, :, 0] > hi)))
                                   for t in CHECK_SWEEPS},
            "autocorrelation": {lag: float(np.mean(x[lag:] * x[:-lag]) / np.mean(x * x))
                                for lag in (1, 5, 20)},
            "posterior_mean": float(ref.mean()), "posterior_sd": float(ref.std())}
    return out


def whole_sampler() -> list[dict]:
    grid, _ = sc.simulate_screen(1000, 20, seed=0)
    m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)
    rows = []
    for jump in (False, True, False, True):  # twice each: the first pays compilation
        cfg = sc.SamplerSettings(num_chains=8, num_warmup=120, num_samples=120,
                                 keep_draws=False, mode_jump=jump)
        fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
        e = fit.unit_summary["grp_log10_ic50"]["ess_bulk"]
        rows.append({"mode_jump": jump, "total_s": fit.timings["total"],
                     "warmup_s": fit.timings["warmup"], "sampling_s": fit.timings["sampling"],
                     "ess_bulk_min": float(e.min()), "ess_bulk_q01": float(np.quantile(e, 0.01)),
                     "ess_bulk_median": float(np.median(e)),
                     "accept_jump": fit.info.get("accept_jump"),
                     "worst_curves": fit.info.get("worst_curves", {}).get("grp_log10_ic50")})
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    t0 = time.perf_counter()
    grid, truth = sc.simulate_screen(1000, 300, seed=0)
    esc = ridge_escape(grid, truth)
    del grid
    print(json.dumps(esc, indent=1), flush=True)
    rows = whole_sampler()
    commit = git_commit()
    res = {"timestamp": utc_timestamp(), "commit": commit,
           "device": str(jax.devices()[0]), "ridge_escape": esc, "whole_sampler": rows,
           "wall_s": time.perf_counter() - t0}
    md = [f"# Screen back-end: the mode jump ({res['timestamp']}, commit {commit}, "
          f"{res['device']}, 2 cores)", "", "`python -m benchmarks.sampler.screen_mode_jump`", "",
          f"## Ridge escape: curve {CURVE} of the 300,000-curve screen, 512 chains from "
          f"{RIDGE_START}", "",
          "| kernel | " + " | ".join(f"outside 99% after {t}" for t in CHECK_SWEEPS)
          + " | autocorr. lag 1 / 5 / 20 |",
          "|---|" + "---:|" * (len(CHECK_SWEEPS) + 1)]
    for k, v in esc.items():
        ac = v["autocorrelation"]
        md.append(f"| {k} | " + " | ".join(f"{v['outside_central_99'][t]:.3f}"
                                           for t in CHECK_SWEEPS)
                  + f" | {ac[1]:.3f} / {ac[5]:.3f} / {ac[20]:.3f} |")
    md += ["", "## Whole sampler: 20,000 curves, 8 chains x (120 + 120)", "",
           "| mode jump | total s | warmup s | sampling s | min bulk ESS | 1% quantile | median "
           "| jump acceptance |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        acc = "" if r["accept_jump"] is None else f"{r['accept_jump']:.2f}"
        md.append(f"| {r['mode_jump']} | {r['total_s']:.1f} | {r['warmup_s']:.1f} | "
                  f"{r['sampling_s']:.1f} | {r['ess_bulk_min']:.0f} | {r['ess_bulk_q01']:.0f} | "
                  f"{r['ess_bulk_median']:.0f} | {acc} |")
    md += ["", "Lowest bulk ESS per run (cell line, drug: each chain's mean log10 IC50):", ""]
    for r in rows:
        w = (r["worst_curves"] or [{}])[0]
        if w:
            md.append(f"- mode jump {r['mode_jump']}: ({w['cell']}, {w['drug']}) ESS "
                      f"{w['value']:.0f}: " + ", ".join(f"{v:.2f}" for v in w["chain_mean"]))
    write_result(OUT / "screen_mode_jump", res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
