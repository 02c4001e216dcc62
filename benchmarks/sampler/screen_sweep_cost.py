"""Cost per sweep of the screen back-end's curve-block additions, on CPU.

The top-dose coordinates of the curve HMC (``SamplerSettings.top_dose_coords``) and the mode
jump (``mode_jump``) each add work to every sweep. This times the sampling phase (compilation
excluded: warmup and sampling share one compiled program) of ``simulate_screen`` screens of
2,000 and 20,000 curves, 4 chains x (24 warmup + 96 draws), with each combination of the two
switched on and off, and reports milliseconds per sweep and the ratio to neither. Writes
``benchmarks/results/sampler/screen_sweep_cost.{json,md}``.

Usage: ``python -m benchmarks.sampler.screen_sweep_cost``
"""

from __future__ import annotations

import argparse

from benchmarks._common import results_dir, write_result
from benchmarks.peers import screen_peers as peers
from drugbayes.api import _spec
from drugbayes.inference import screen as sc

OUT = results_dir("sampler")
SHAPES = ((200, 10), (1000, 20))
VARIANTS = ((False, False), (True, False), (False, True), (True, True))
N_SWEEPS = 96


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rows = []
    for n_cell, n_drug in SHAPES:
        grid, _ = sc.simulate_screen(n_cell, n_drug, seed=0)
        m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)
        base = None
        for top, jump in VARIANTS:
            cfg = sc.SamplerSettings(num_chains=4, num_warmup=24, num_samples=N_SWEEPS,
                                     keep_draws=False, top_dose_coords=top, mode_jump=jump)
            fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
            ms = 1000.0 * fit.timings["sampling"] / N_SWEEPS
            base = ms if base is None else base
            rows.append({"curves": n_cell * n_drug, "top_dose_coords": top, "mode_jump": jump,
                         "ms_per_sweep": ms, "ratio": ms / base})
            print(rows[-1], flush=True)
    env = peers.environment()
    res = {"environment": env, "rows": rows}
    md = [f"# Screen back-end: cost per sweep of the curve-block additions "
          f"({env['timestamp_utc']}, git {env.get('git_commit', '')[:10]}, "
          f"{env.get('cpu_count')} CPUs)", "",
          "`python -m benchmarks.sampler.screen_sweep_cost`: 4 chains, sampling phase of "
          f"{N_SWEEPS} sweeps, compilation excluded.", "",
          "| curves | top-dose coordinates | mode jump | ms per sweep | vs neither |",
          "|---:|---|---|---:|---:|"]
    for r in rows:
        md.append(f"| {r['curves']:,} | {'on' if r['top_dose_coords'] else 'off'} | "
                  f"{'on' if r['mode_jump'] else 'off'} | {r['ms_per_sweep']:.1f} | "
                  f"{r['ratio']:.2f} |")
    write_result(OUT / "screen_sweep_cost", res, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
