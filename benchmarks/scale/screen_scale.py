"""Benchmark: the drugbayes screen back-end against plain NumPyro and scipy at screen scale.

Simulated screens with known truth, drawn from the model's generative process
(``drugbayes.inference.screen.simulate_screen``: 9 doses over 4 decades, 2 replicates), at
several sizes. Per method: compile / warmup / sampling seconds, gradient evaluations per second,
min bulk and tail ESS and ESS per second over all IC50s and hyper-parameters, max R-hat (and
nested R-hat for many chains), IC50 error and 90% interval coverage against the truth, peak
device memory. The device, the jax/numpyro versions and a timestamp go into every result file.

Methods (peers in the same run, same device, each with a capped budget):

- ``screen``: drugbayes' screen back-end (blocked Gibbs with batched per-curve HMC, dense grid,
  device summaries); budget from ``--num-chains/--num-warmup/--num-samples``;
- ``plain_nuts``: a hierarchical 4PL written the way users write it, stock NumPyro NUTS, 4
  vectorised chains, 300 warmup + 300 draws (``benchmarks.peers.screen_peers.run_plain_nuts``);
- ``plain_svi``: the same model with NumPyro ``AutoNormal`` SVI;
- ``scipy``: a per-curve ``scipy.optimize.curve_fit`` loop (CPU only);
- ``map``: drugbayes ``method = "map"`` through ``drugbayes.fit`` on the long table (joint
  MAP; table validation timed separately).

Usage::

    python -m benchmarks.scale.screen_scale --sizes 2000   # results/scale/screen_scale_cpu
    python -m benchmarks.scale.screen_scale --sizes 10000,300000 --methods screen,plain_nuts \
        --num-chains 16 --out $OUT/screen_scale_gpu       # on a GPU (scripts/gpu_check.sh)

Plain NumPyro runs only at sizes up to ``--peer-max-curves`` (default 10,000); scipy up to
``--scipy-max-curves`` (default 10,000).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._common import command, log, results_dir
from benchmarks.peers import screen_peers as peers
from drugbayes.testing import convergence

SHAPES = {1000: (100, 10), 2000: (200, 10), 10000: (200, 50), 100000: (500, 200),
          300000: (1000, 300)}
DOSE_SHIFT = -1.0  # simulated doses 0.001-10 uM: log10 uM = centred x - 1


def shape_for(n: int) -> tuple[int, int]:
    if n in SHAPES:
        return SHAPES[n]
    n_drug = max(2, min(300, int(round(math.sqrt(n / 3.3)))))
    return max(2, n // n_drug), n_drug


def worst_curves(chains: list[dict], s: dict, truth: dict, adapt) -> list[dict]:
    """The sampler's slowest curves (``info["worst_curves"]``: lowest bulk ESS, lowest tail
    ESS, highest (nested) R-hat of log10 IC50, each chain's mean, sd and range) with their
    true parameters, their summaries and each chain's final step size, so that a run that
    misses a target says which curve and why."""
    out = []
    for ch in chains:
        c, d = ch["cell"], ch["drug"]
        rec = {**ch, "truth": {k: float(truth[k][c, d]) for k in
                         ("log10_ic50", "log_hill", "logit_bottom", "log_top")},
               "drug_mean_truth": [float(v) for v in truth["mu"][d]]}
        rec.update({k: float(v[c, d]) for k, v in s.items()})
        if adapt is not None:
            bar = np.asarray(adapt.unit_da.bar[:, c, d])
            rec["step_size_per_chain"] = [round(float(v), 4) for v in np.exp(bar)]
        out.append(rec)
    return out


def run_screen(grid, args, truth: dict | None = None) -> tuple[dict, dict]:
    """The drugbayes screen back-end; returns a peers-style result and the IC50 summary."""
    from drugbayes.api import _spec
    from drugbayes.inference import screen as sc

    m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)
    cfg = sc.SamplerSettings(num_chains=args.num_chains, num_warmup=args.num_warmup,
                             num_samples=args.num_samples, thinning=args.thinning,
                             keep_draws=False)
    t0 = time.perf_counter()
    fit = sc.sample_screen(grid, m, cfg, seed=args.seed, shard=args.shard,
                           summarize=("grp_log10_ic50",))
    wall = time.perf_counter() - t0
    tm = dict(fit.timings)
    # compile: the first warmup chunk includes the compilation of the one sweep program; a
    # chunk's own run time is estimated from the other 11 warmup chunks
    per_warm = max(0.0, (tm["warmup"] - tm["first_chunk"]) / 11)
    tm["compile"] = max(0.0, tm["first_chunk"] - per_warm)
    tm["total"] = wall
    s = fit.unit_summary["grp_log10_ic50"]
    pres = grid.present
    g = fit.globals
    hyper = {k: g[k] for k in ("mu_log10_ic50", "mu_log_hill", "mu_logit_bottom",
                               "sigma_cell_line", "eff_cell_line")}
    hyper["sigma_curve"] = np.stack([g[f"sigma_curve_{k}"] for k in
                                     ("log10_ic50", "log_hill", "logit_bottom")], -1)
    hyper["sigma"] = g["sigma"]
    conv_h = convergence(hyper)
    ic50 = {"min_ess_bulk": float(np.min(s["ess_bulk"][pres])),
            "min_ess_tail": float(np.min(s["ess_tail"][pres])),
            "max_rhat": float(np.max(s["r_hat"][pres])),
            "n_rhat_above_1.01": int(np.sum(s["r_hat"][pres] > 1.01)),
            "n_ess_bulk_below_400": int(np.sum(s["ess_bulk"][pres] < 400))}
    if "r_hat_nested" in s:
        ic50["max_rhat_nested"] = float(np.max(s["r_hat_nested"][pres]))
        ic50["n_rhat_nested_above_1.01"] = int(np.sum(s["r_hat_nested"][pres] > 1.01))
    conv = {"min_ess_bulk": min(ic50["min_ess_bulk"], conv_h["min_ess_bulk"]),
            "min_ess_tail": min(ic50["min_ess_tail"], conv_h["min_ess_tail"]),
            "max_rhat": max(ic50["max_rhat"], conv_h["max_rhat"]),
            "max_rhat_nested": max(v for v in (conv_h.get("max_rhat_nested"),
                                               ic50.get("max_rhat_nested")) if v is not None)
            if conv_h.get("max_rhat_nested") is not None else None,
            "ic50": ic50, "hyper": {k: v for k, v in conv_h.items() if k != "per_parameter"}}
    if truth is not None:
        conv["worst_curves"] = worst_curves(fit.info["worst_curves"]["grp_log10_ic50"], s,
                                            truth, fit.adapt)
    res = {"median": s["median"][pres] + DOSE_SHIFT, "lo90": s["q5"][pres] + DOSE_SHIFT,
           "hi90": s["q95"][pres] + DOSE_SHIFT, "timings": tm,
           "num_grad_evals": fit.info["num_gradient_evals"], "info": fit.info,
           "settings": {"num_chains": cfg.num_chains, "num_warmup": cfg.num_warmup,
                        "num_samples": cfg.num_samples, "thinning": cfg.thinning,
                        "curve_steps": cfg.curve_steps, "global_steps": cfg.global_steps,
                        "mode_jump": cfg.mode_jump}}
    return res, conv


def run_map(long, args) -> dict:
    """drugbayes ``method = "map"`` through the public API, from a long table (validation and
    encoding timed apart from the fit)."""
    import pandas as pd

    import drugbayes as db
    from drugbayes.api import prepare

    df = pd.DataFrame({"cell_line": np.char.add("C", long["cell"].astype(str)),
                       "drug": np.char.add("D", long["drug"].astype(str)),
                       "dose": 10.0 ** long["log10_dose"].astype(np.float64),
                       "response": long["y"]})
    opts = {"dose_unit": "uM", "response_scale": "fraction"}
    t0 = time.perf_counter()
    prep = prepare(df, kind="dose_response", **opts)
    t_prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    r = db.fit(df, prepared=prep, inference={"method": "map"}, seed=args.seed, **opts)
    t_fit = time.perf_counter() - t1
    t2 = time.perf_counter()
    summ = r.summary()
    t_summ = time.perf_counter() - t2
    est = summ[summ.quantity == "log10_ic50"].set_index(["cell_line", "drug"])["median"]
    gc, gd = long["group_cell"], long["group_drug"]
    key = pd.MultiIndex.from_arrays([np.char.add("C", gc.astype(str)),
                                     np.char.add("D", gd.astype(str))])
    tm = r.diagnostics["timings"]
    return {"median": est.reindex(key).to_numpy(), "lo90": None, "hi90": None,
            "timings": {"prepare_table": t_prep, "compile": tm.get("compile"),
                        "sampling": tm.get("optimization"), "fit": t_fit, "summary": t_summ,
                        "total": t_fit},
            "note": "total = drugbayes.fit on the validated table (MAP, 500 Adam steps); "
                    "prepare_table = validation and encoding of the long table"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000", help="comma-separated numbers of curves")
    ap.add_argument("--methods", default="screen,plain_nuts,plain_svi,scipy")
    ap.add_argument("--num-chains", type=int, default=4)
    ap.add_argument("--num-warmup", type=int, default=300)
    ap.add_argument("--num-samples", type=int, default=300)
    ap.add_argument("--thinning", type=int, default=1)
    ap.add_argument("--shard", action="store_true", help="shard over all local devices")
    ap.add_argument("--peer-max-curves", type=int, default=10000)
    ap.add_argument("--scipy-max-curves", type=int, default=10000)
    ap.add_argument("--svi-steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(results_dir("scale") / "screen_scale_cpu"),
                    help="output path without extension (.json and .md are written)")
    args = ap.parse_args(argv)

    import jax

    from drugbayes.inference import screen as sc
    from drugbayes.inference.settings import enable_compilation_cache

    cache = enable_compilation_cache()
    methods = [m for m in args.methods.split(",") if m]
    on_cpu = jax.default_backend() == "cpu"
    env = peers.environment()
    log(f"devices {jax.devices()}; compilation cache {cache}")
    records = []
    notes = []
    for n in [int(v) for v in args.sizes.split(",") if v]:
        n_cell, n_drug = shape_for(n)
        t = time.perf_counter()
        grid, truth = sc.simulate_screen(n_cell, n_drug, seed=args.seed)
        long = grid.to_long()
        long["log10_dose"] = long["x"] + DOSE_SHIFT
        true_ic50 = truth["log10_ic50"][grid.present] + DOSE_SHIFT
        lo = np.full(true_ic50.shape, truth["dose_lo"] + DOSE_SHIFT)
        hi = np.full(true_ic50.shape, truth["dose_hi"] + DOSE_SHIFT)
        log(f"{n_cell} x {n_drug} = {n_cell * n_drug} curves, {grid.n_wells} wells "
            f"(simulated in {time.perf_counter() - t:.1f} s)")
        ratio_ref = {}
        for method in methods:
            if method in ("plain_nuts", "plain_svi") and n > args.peer_max_curves:
                continue
            if method == "scipy" and (n > args.scipy_max_curves or not on_cpu):
                continue
            log(f"  {method} ...")
            t = time.perf_counter()
            conv = None
            if method == "screen":
                res, conv = run_screen(grid, args, truth)
            elif method == "plain_nuts":
                res = peers.run_plain_nuts(long, num_chains=4, num_warmup=300, num_samples=300,
                                           seed=args.seed)
                hyper = dict(res["hyper"])
                conv = convergence({"log10_ic50": res["log10_ic50"], **hyper})
            elif method == "plain_svi":
                res = peers.run_plain_svi(long, num_steps=args.svi_steps, seed=args.seed)
            elif method == "map":
                res = run_map(long, args)
            elif method == "scipy":
                res = peers.run_scipy(long)
            else:
                raise SystemExit(f"unknown method {method!r}")
            rec = peers.make_record(method, long, res, true_ic50, conv=conv, lo_dose=lo,
                                    hi_dose=hi, peak_memory=peers.peak_device_memory(),
                                    size=n, shape=[n_cell, n_drug])
            records.append(rec)
            for w in (conv or {}).get("worst_curves", []):
                tr = w["truth"]
                notes.append(
                    f"{n} curves, screen: {w['worst']} worst at cell line {w['cell']}, "
                    f"drug {w['drug']} (truth log10 IC50 {tr['log10_ic50']:.2f}, log Hill "
                    f"{tr['log_hill']:.2f}, logit bottom {tr['logit_bottom']:.2f}; drug mean "
                    f"log10 IC50 {w['drug_mean_truth'][0]:.2f}): bulk ESS {w['ess_bulk']:.0f}, "
                    f"tail ESS {w['ess_tail']:.0f}, R-hat {w['r_hat']:.3f}, posterior median "
                    f"{w['median']:.2f} [{w['q5']:.2f}, {w['q95']:.2f}]; step size per chain "
                    f"{min(w.get('step_size_per_chain', [np.nan])):.3f}-"
                    f"{max(w.get('step_size_per_chain', [np.nan])):.3f}")
            eps = (rec.get("ess_per_second") or {}).get("min_ess_bulk_per_s")
            if eps:
                ratio_ref[method] = eps
            log(f"  {method}: {time.perf_counter() - t:.1f} s; min bulk ESS/s {eps}")
        if "screen" in ratio_ref and "plain_nuts" in ratio_ref:
            r = ratio_ref["screen"] / ratio_ref["plain_nuts"]
            notes.append(f"{n} curves: screen min bulk ESS per second = {r:.1f} x plain "
                         f"NumPyro NUTS (same run, same device)")
            for rec in records:
                if rec["method"] == "screen" and rec["size"] == n:
                    rec["ess_per_second_vs_plain_nuts"] = r
        # write after every size, so a run cut short keeps what it measured
        peers.write_results(records, {
            "title": f"Screen-scale benchmark ({'CPU' if on_cpu else 'GPU'})",
            "command": command("benchmarks.scale.screen_scale", argv or sys.argv[1:]),
            "environment": env, "notes": notes + [
                "screen: drugbayes inference.method = 'screen' (blocked Gibbs: batched per-curve"
                " HMC + conjugate updates + non-centred global HMC; dense grid; summaries on "
                "the device). Its ESS and R-hat cover every curve's log10 IC50 and the "
                "hyper-parameters (drug means, cell-line effects, scales, noise).",
                "plain_nuts: stock NumPyro NUTS on a plain hierarchical 4PL (per-observation "
                "gathers, 10 ** x), 4 vectorised chains, 300 warmup + 300 draws; ESS and "
                "R-hat over its log10 IC50s and hyper-parameters.",
                "ESS/s = min bulk ESS / total wall seconds of the method (compilation "
                "included). Coverage: equal-tailed 90% intervals against the simulated truth.",
            ]}, Path(args.out))
    log(f"wrote {args.out}.json / .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
