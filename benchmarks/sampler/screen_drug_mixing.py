"""Mixing of the drug-level means of the screen back-end on its hardest drug, on CPU.

The 300,000-curve GPU benchmark (``benchmarks.scale.screen_scale --sizes 300000``, seed 0) had
its slowest hyper-parameters at drug 219, whose mean log10 IC50 (2.45) lies beyond the top
tested dose (2): three quarters of its curves never reach half their effect. Its mixing depends
on the number of cell lines per drug, not on the number of drugs, so it can be measured on 2 CPU
cores: the same simulated screen (``simulate_screen(1000, 300, seed=0)``), restricted to drug
219 and drug 2 (an ordinary drug) with all 1,000 cell lines, sampled with the default settings
(8 chains, 600 warmup sweeps, 500 draws thinned by 3). Reports the bulk ESS, R-hat and nested
R-hat of each drug's means. Writes ``benchmarks/results/sampler/screen_drug_mixing.{json,md}``.

Usage: ``python -m benchmarks.sampler.screen_drug_mixing [--seeds 0 1] [--chains 8]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks._common import git_commit, results_dir, utc_timestamp, write_result
from drugbayes.api import _spec
from drugbayes.inference import screen as sc
from drugbayes.testing import convergence

OUT = results_dir("sampler")
DRUGS = (219, 2)


def subset(grid: sc.ScreenGrid, drugs: tuple[int, ...]) -> sc.ScreenGrid:
    """The grid restricted to ``drugs`` (every cell line)."""
    c, d = grid.y.shape[0], len(drugs)
    idx = list(drugs)
    return sc.ScreenGrid(grid.x[:, idx].copy(), grid.y[:, idx].copy(), grid.mask[:, idx].copy(),
                         grid.is_zero[:, idx].copy(), grid.exp[:, idx].copy(),
                         grid.present[:, idx].copy(), grid.cell_valid, grid.half_range[idx],
                         grid.n_exp, np.arange(c * d).reshape(c, d),
                         np.repeat(np.arange(c), d).astype(np.int32),
                         np.tile(np.arange(d), c).astype(np.int32))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--chains", type=int, default=8)
    args = ap.parse_args(argv)
    grid, truth = sc.simulate_screen(1000, 300, seed=0)
    g = subset(grid, DRUGS)
    del grid
    m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), g.n_exp)
    cfg = sc.SamplerSettings(num_chains=args.chains, num_warmup=600, num_samples=500,
                             thinning=3, keep_draws=False)
    runs = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        fit = sc.sample_screen(g, m, cfg, seed=seed, summarize=("grp_log10_ic50",),
                               progress=False)
        wall = time.perf_counter() - t0
        mu = np.stack([fit.globals[k] for k in ("mu_log10_ic50", "mu_log_hill",
                                                 "mu_logit_bottom")], -1)  # [chain, draw, D, 3]
        for j, drug in enumerate(DRUGS):
            for k, name in enumerate(("mu_log10_ic50", "mu_log_hill", "mu_logit_bottom")):
                c = convergence({name: mu[..., j, k]})
                runs.append({"seed": seed, "drug": drug, "parameter": name,
                             "truth": float(truth["mu"][drug, k]),
                             "posterior_mean": float(mu[..., j, k].mean()),
                             "ess_bulk": c["min_ess_bulk"], "rhat": c["max_rhat"],
                             "rhat_nested": c.get("max_rhat_nested"), "wall_s": wall})
        print(f"seed {seed}: {wall:.1f} s", flush=True)
    commit = git_commit()
    res = {"timestamp": utc_timestamp(), "commit": commit,
           "settings": {"chains": args.chains, "num_warmup": 600, "num_samples": 500,
                        "thinning": 3, "drugs": DRUGS, "cell_lines": 1000}, "runs": runs}
    md = [f"# Screen back-end: drug-level mixing on the hardest drug ({res['timestamp']}, "
          f"commit {commit})", "",
          f"`python -m benchmarks.sampler.screen_drug_mixing` on 2 CPU cores: drugs {DRUGS} of "
          "`simulate_screen(1000, 300, seed=0)` with all 1,000 cell lines, "
          f"{args.chains} chains x (600 warmup + 500 draws, thinning 3).", "",
          "| seed | drug | parameter | truth | posterior mean | bulk ESS | R-hat | nested R-hat "
          "| wall s |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        md.append(f"| {r['seed']} | {r['drug']} | {r['parameter']} | {r['truth']:.3f} | "
                  f"{r['posterior_mean']:.3f} | {r['ess_bulk']:.0f} | {r['rhat']:.4f} | "
                  f"{r['rhat_nested']:.4f} | {r['wall_s']:.0f} |")
    md += ["", "Before the matrix drug-block shift (commit 24da871, diagonal weights), "
           "the same command measured for drug 219 (log10 IC50 / log Hill / logit bottom bulk "
           "ESS): seed 0 350 / 507 / 280, seed 1 307 / 409 / 235."]
    write_result(OUT / "screen_drug_mixing", res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
