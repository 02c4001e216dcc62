"""The slowest kind of curve for the screen back-end, measured on its own (2 CPU cores).

Cell line 419 x drug 19 of ``simulate_screen(1000, 20, seed=0)`` had the lowest log10 IC50
bulk ESS of that 20,000-curve screen (39-51 from 8 chains x 120 draws; see
``screen_mode_jump.md``): its IC50 lies beyond the top dose (truth 2.55, top dose 2) and its
response is nearly flat, so the posterior runs along a curved ridge (IC50 from about 0.8 to
2.7 as the bottom rises towards the top). Here the curve alone is sampled with the globals
fixed at the truth: 256 chains x 1,500 sweeps from its mode (first 300 dropped), with the
curve HMC alone and with the mode jump (the jump's Student-t scale at 1.2 (default), 2 and 3
times the Laplace sds), in the original coordinates and in the sampler's top-dose
coordinates. Reported: posterior mean, sd and 1% quantile of log10 IC50, its autocorrelation
at lags 1, 5, 20, 50 and the integrated autocorrelation time (sweeps per effective draw).

Then the whole sampler on that screen (20,000 curves, 8 chains x (120 warmup + 120 draws),
mode jump on) with and without the top-dose coordinates: sampling seconds (compilation
excluded) and the minimum, 0.1% and 1% quantiles and median of the curves' log10 IC50 bulk
and tail ESS.

Writes ``benchmarks/results/sampler/screen_slow_curve.{json,md}``.
Usage: ``python -m benchmarks.sampler.screen_slow_curve``
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

from benchmarks._common import git_commit, results_dir, utc_timestamp, write_result
from drugbayes.api import _spec
from drugbayes.inference import screen as sc
from drugbayes.inference.blocked import driver
from drugbayes.inference.blocked import mode_jump as mj
from drugbayes.testing import autocorrelation, curve_chain, curve_modes, one_curve_problem

OUT = results_dir("sampler")
CURVE = (419, 19)


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    grid, truth = sc.simulate_screen(1000, 20, seed=0)
    c0, d0 = CURVE
    n = 256
    d, m, s = one_curve_problem(grid, truth, CURVE, n)
    rows = []
    default = mj.JUMP_INFLATE
    try:
        for infl, jump, top in ((default, False, False), (default, True, False),
                                (2.0, True, False), (3.0, True, False), (default, False, True),
                                (default, True, True)):
            mj.JUMP_INFLATE = infl
            driver.unit_modes.clear_cache()  # the scale is read when the search is traced
            jp = curve_modes(d, m, s)
            dr, acc = curve_chain(d, m, s, jp, jump,
                                  jnp.broadcast_to(jp.mean[:, :, 0], (n, 1, 4)), 1500,
                                  top=top)
            x = np.asarray(dr[300:, :, 0])
            rho = autocorrelation(x, 99)
            kernel = ("hmc-top" if top else "hmc") + ("+jump" if jump else "")
            rows.append({"kernel": kernel, "jump_scale": infl if jump
                         else None, "mean": float(x.mean()), "sd": float(x.std()),
                         "q01": float(np.quantile(x, 0.01)),
                         "autocorrelation": {lag: rho[lag - 1] for lag in (1, 5, 20, 50)},
                         "tau": 1 + 2 * sum(max(0.0, r) for r in rho),
                         "accept_jump": float(np.mean(acc)) if jump else None})
            print(rows[-1], flush=True)
    finally:
        mj.JUMP_INFLATE = default
    whole = whole_sampler(grid)
    commit = git_commit()
    res = {"timestamp": utc_timestamp(), "commit": commit,
           "curve": CURVE, "truth": {name: float(truth[name][c0, d0]) for name in
                                     ("log10_ic50", "log_hill", "logit_bottom", "log_top")},
           "rows": rows, "whole_sampler": whole}
    md = [f"# Screen back-end: the slowest kind of curve ({res['timestamp']}, commit {commit})",
          "", "`python -m benchmarks.sampler.screen_slow_curve`: curve (419, 19) of "
          "`simulate_screen(1000, 20, seed=0)` alone, globals at the truth, 256 chains x 1,500 "
          "sweeps (first 300 dropped).", "",
          "| kernel | jump scale | mean | sd | 1% quantile | autocorr. lag 1 / 5 / 20 / 50 | "
          "sweeps per effective draw | jump acceptance |",
          "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        a = r["autocorrelation"]
        acc = "" if r["accept_jump"] is None else f"{r['accept_jump']:.2f}"
        md.append(f"| {r['kernel']} | {r['jump_scale'] or ''} | {r['mean']:.3f} | "
                  f"{r['sd']:.3f} | {r['q01']:.2f} | {a[1]:.2f} / {a[5]:.2f} / {a[20]:.2f} / "
                  f"{a[50]:.2f} | {r['tau']:.0f} | {acc} |")
    md += ["", "Whole sampler, `simulate_screen(1000, 20, seed=0)`, 8 chains x (120 warmup + 120 "
           "draws), mode jump on; log10 IC50 of every curve:", "",
           "| curve coordinates | sampling s | bulk ESS min / 0.1% / 1% / median | "
           "tail ESS min / 1% | slowest curve (bulk) |", "|---|---:|---|---|---|"]
    for r in whole:
        b, tl = r["ess_bulk"], r["ess_tail"]
        md.append(f"| {'top-dose' if r['top_dose_coords'] else 'original'} | "
                  f"{r['sampling_s']:.1f} | {b['min']:.0f} / {b['q001']:.0f} / {b['q01']:.0f} / "
                  f"{b['median']:.0f} | {tl['min']:.0f} / {tl['q01']:.0f} | {r['slowest']} |")
    write_result(OUT / "screen_slow_curve", res, md)
    print("\n".join(md))


def whole_sampler(grid: sc.ScreenGrid) -> list[dict]:
    """The whole sampler with and without the top-dose coordinates (see the module doc)."""
    m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)
    out = []
    for top in (False, True):
        cfg = sc.SamplerSettings(num_chains=8, num_warmup=120, num_samples=120,
                                 keep_draws=False, top_dose_coords=top)
        fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
        summ = fit.unit_summary["grp_log10_ic50"]
        b, tl = summ["ess_bulk"][grid.present], summ["ess_tail"][grid.present]
        c, d = np.unravel_index(np.nanargmin(np.where(grid.present, summ["ess_bulk"], np.inf)),
                                grid.present.shape)
        out.append({"top_dose_coords": top, "sampling_s": fit.timings["sampling"],
                    "ess_bulk": {"min": float(b.min()), "q001": float(np.quantile(b, 0.001)),
                                 "q01": float(np.quantile(b, 0.01)),
                                 "median": float(np.median(b))},
                    "ess_tail": {"min": float(tl.min()), "q01": float(np.quantile(tl, 0.01))},
                    "slowest": f"({c}, {d})"})
        print(out[-1], flush=True)
    return out


if __name__ == "__main__":
    main()
