"""The slowest kind of curve for the screen back-end, measured on its own (2 CPU cores).

Cell line 419 x drug 19 of ``simulate_screen(1000, 20, seed=0)`` had the lowest log10 IC50
bulk ESS of that 20,000-curve screen (39-51 from 8 chains x 120 draws; see
``screen_mode_jump.md``): its IC50 lies beyond the top dose (truth 2.55, top dose 2) and its
response is nearly flat, so the posterior runs along a curved ridge (IC50 from about 0.8 to
2.7 as the bottom rises towards the top). Here the curve alone is sampled with the globals
fixed at the truth: 256 chains x 1,500 sweeps from its mode (first 300 dropped), with the
curve HMC alone and with the mode jump, the jump's Student-t scale at 1.2 (default), 2 and 3
times the Laplace sds. Reported: posterior mean, sd and 1% quantile of log10 IC50, its
autocorrelation at lags 1, 5, 20, 50 and the integrated autocorrelation time (sweeps per
effective draw).

Writes ``benchmarks/results/screen_slow_curve.{json,md}``.
Usage: ``python benchmarks/screen_slow_curve.py``
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from screen_mode_jump import curve_chain, one_curve_problem

from drugbayes.inference import screen as sc

OUT = Path(__file__).resolve().parent / "results"
CURVE = (419, 19)


def main() -> None:
    grid, truth = sc.simulate_screen(1000, 20, seed=0)
    c0, d0 = CURVE
    n = 256
    d, m, s = one_curve_problem(grid, truth, CURVE, n)
    rows = []
    default = sc.JUMP_INFLATE
    try:
        for infl, jump in ((default, False), (default, True), (2.0, True), (3.0, True)):
            sc.JUMP_INFLATE = infl
            sc._curve_modes.clear_cache()  # the scale is read when the search is traced
            jp = sc._curve_modes({name: v[None] for name, v in s.items()}, d, m)
            dr, acc = curve_chain(d, m, s, jp, jump,
                                  jnp.broadcast_to(jp["mean"][:, :, 0], (n, 1, 4)), 1500)
            x = np.asarray(dr[300:, :, 0])
            xc = x - x.mean()
            v = np.mean(xc * xc)
            rho = [float(np.mean(xc[lag:] * xc[:-lag]) / v) for lag in range(1, 100)]
            rows.append({"kernel": "hmc+jump" if jump else "hmc", "jump_scale": infl if jump
                         else None, "mean": float(x.mean()), "sd": float(x.std()),
                         "q01": float(np.quantile(x, 0.01)),
                         "autocorrelation": {lag: rho[lag - 1] for lag in (1, 5, 20, 50)},
                         "tau": 1 + 2 * sum(max(0.0, r) for r in rho),
                         "accept_jump": float(np.mean(acc)) if jump else None})
            print(rows[-1], flush=True)
    finally:
        sc.JUMP_INFLATE = default
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    res = {"timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
           "curve": CURVE, "truth": {name: float(truth[name][c0, d0]) for name in
                                     ("log10_ic50", "log_hill", "logit_bottom", "log_top")},
           "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "screen_slow_curve.json").write_text(json.dumps(res, indent=2, default=float))
    md = [f"# Screen back-end: the slowest kind of curve ({res['timestamp']}, commit {commit})",
          "", "`python benchmarks/screen_slow_curve.py`: curve (419, 19) of "
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
    (OUT / "screen_slow_curve.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
