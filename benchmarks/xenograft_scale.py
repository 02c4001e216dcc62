"""Xenograft family at study-pooling scale: 2,000 simulated mice x 20 measurements.

The reference design (2 cell lines x 4 arms, 250 mice per arm over 2 experiments) measured
every 3 days from day 0 to day 57 (20 measurements; no culling, so every mouse has all 20),
fitted with ``nuts`` (4 chains, 500 + 500) and ``svi`` (mean-field normal, 4,000 steps) with the
default preset. Records wall, compile/warmup/sampling seconds, diagnostics and the arm growth
rates against the truth (error, 95% coverage). Writes
``benchmarks/results/xenograft_scale_cpu.{json,md}`` (or ``_gpu``).

Usage: ``python benchmarks/xenograft_scale.py [--mice-per-arm 250] [--methods nuts svi]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import jax
import numpy as np

import drugbayes as db
from drugbayes.simulate import simulate_xenograft

OUT = Path(__file__).resolve().parent / "results"
DAYS = tuple(range(0, 60, 3))


def run(method: str, table, truth) -> dict:
    inference = {"method": method}
    if method == "nuts":
        inference.update(num_chains=4, num_warmup=500, num_samples=500)
    t0 = time.perf_counter()
    r = db.fit(table, "xenograft", control_arm="vehicle", inference=inference, seed=0)
    wall = time.perf_counter() - t0
    s = r.summary().query("quantity == 'growth_rate'").merge(truth, on=["cell_line", "arm"])
    err = (s["median"] - s["growth_rate"]).abs()
    inside = ((s["lower"] <= s["growth_rate"]) & (s["growth_rate"] <= s["upper"]))
    d = r.diagnostics
    return {"method": method, "wall_seconds": wall, "timings": r.inference.timings,
            "diagnostics": {k: v["value"] for k, v in d["checks"].items()},
            "diagnostics_passed": d["passed"], "n_parameters": d.get("n_parameters"),
            "growth_rate_mean_abs_error": float(err.mean()),
            "growth_rate_max_abs_error": float(err.max()),
            "growth_rate_coverage95": float(inside.mean()), "n_arms": int(len(s)),
            "sd_mouse_rate_posterior_mean": float(np.mean(r.inference.samples["sd_mouse_rate"])),
            "sd_mouse_rate_truth": 0.008}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mice-per-arm", type=int, default=250)
    ap.add_argument("--methods", nargs="+", default=["svi", "nuts"])
    args = ap.parse_args()
    table, truth = simulate_xenograft(args.mice_per_arm, n_experiments=2, days=DAYS,
                                      cull_volume=np.inf, calipers=False, seed=7)
    n_mice = table["mouse"].nunique()
    results = [run(m, table, truth) for m in args.methods]
    from importlib.metadata import version

    dev = jax.devices()[0]
    res = {"timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
           "device": str(dev), "platform": platform.platform(), "cpu_count": os.cpu_count(),
           "jax": version("jax"), "numpyro": version("numpyro"), "n_mice": int(n_mice),
           "n_measurements": int(len(table)), "results": results}
    tag = "gpu" if dev.platform == "gpu" else "cpu"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"xenograft_scale_{tag}.json").write_text(json.dumps(res, indent=2, default=float))
    lines = [f"# Xenograft family: {n_mice} mice x {len(DAYS)} measurements ({res['timestamp']})",
             "", f"Device {res['device']} ({res['cpu_count']} CPU cores), jax {res['jax']}, "
             f"numpyro {res['numpyro']}; `python benchmarks/xenograft_scale.py`.", "",
             "| method | wall s | compile / warmup / sampling s | max R-hat | min bulk ESS | "
             "divergences | growth-rate MAE (1/day) | 95% coverage (arms) | mouse-rate SD "
             "(truth 0.008) |", "|---|---|---|---|---|---|---|---|---|"]
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
                     f"{x['sd_mouse_rate_posterior_mean']:.4f} |")
    (OUT / f"xenograft_scale_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
