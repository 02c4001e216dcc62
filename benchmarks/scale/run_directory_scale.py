"""The whole run (fit, summaries, files, plots) of the 466-block Mathews Griner screen with
``svi`` and 1,000 draws: wall time and the size of ``posterior.nc``.

Reads the screen in place from ``../shared/data/combination_mathews_griner/`` (see
``../shared/data/README.md``), writes its long table and a config into a temporary folder
outside the repository, and runs ``drugbayes run`` on it (``method = "svi"``, 4 chains x 250
draws, default ``[report]``: no per-well draws, 50 per-unit figures), timing the whole call.
Issue 25's targets: at most 4 minutes on 2 CPU cores and ``posterior.nc`` at most 150 MB.

Writes ``benchmarks/results/scale/run_directory_scale_cpu.{json,md}``.

Usage: ``python -m benchmarks.scale.run_directory_scale [--steps 5000]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks._common import SHARED_DATA, command, environment, log, results_dir, write_result
from benchmarks.validation.validate_mathews_griner_zip import wells_table


def main(argv: list[str] | None = None) -> int:
    from drugbayes.batch import run
    from drugbayes.testing import mathews_griner_blocks

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--samples", type=int, default=250)
    ap.add_argument("--out", default=str(results_dir("scale") / "run_directory_scale_cpu"))
    args = ap.parse_args(argv)
    env = environment()
    folder = SHARED_DATA / "combination_mathews_griner"
    wells = wells_table(mathews_griner_blocks(folder))
    with tempfile.TemporaryDirectory(prefix="drugbayes-run-scale-") as tmp:
        t = Path(tmp)
        wells.to_csv(t / "wells.csv", index=False)
        (t / "run.toml").write_text(
            '[run]\nname = "mathews_griner"\nseed = 1\n'
            '[data]\npath = "wells.csv"\nkind = "combination"\ndose_unit = "nM"\n'
            'response_scale = "percent"\n'
            f'[inference]\nmethod = "svi"\nnum_steps = {args.steps}\n'
            f'num_chains = {args.chains}\nnum_samples = {args.samples}\n')
        log(f"{len(wells)} wells; running drugbayes run")
        t0 = time.perf_counter()
        (out,) = run([t / "run.toml"])
        wall = time.perf_counter() - t0
        manifest = json.loads((out / "manifest.json").read_text())
        post_mb = (out / "posterior.nc").stat().st_size / 1e6
        plots = list((out / "plots").iterdir())
        runlog = (out / "run.log").read_text()
        size_lines = [ln.split(" INFO ", 1)[-1] for ln in runlog.splitlines()
                      if "posterior.nc" in ln]
        rec = {"environment": env, "settings": vars(args), "wells": len(wells),
               "wall_seconds": wall, "posterior_nc_mb": post_mb, "plots": len(plots),
               "plots_not_drawn": len(manifest.get("plots_not_drawn", [])),
               "timings": manifest["timings"],
               "stage_seconds": manifest.get("stage_seconds", {}),
               "posterior_log": size_lines}
    log(f"wall {wall:.0f} s, posterior.nc {post_mb:.1f} MB, {len(plots)} plots")
    md = ["# The 466-block combination screen through `drugbayes run` (svi, 1,000 draws, CPU)",
          "", f"Command: `{command('benchmarks.scale.run_directory_scale', argv or [])}`; "
          f"{env['timestamp_utc']}, git {env['git_commit'][:10]}, {env['jax_backend']} "
          f"({env['cpu_affinity']} CPUs shared with other jobs).", "",
          "| wells | draws | whole run s | posterior.nc MB | figures (not drawn) |",
          "|---:|---:|---:|---:|---:|",
          f"| {rec['wells']:,} | {args.chains * args.samples} | {wall:.0f} | {post_mb:.1f} | "
          f"{len(plots)} ({rec['plots_not_drawn']}) |", "",
          "Stages (s, `manifest.json` `stage_seconds`; `fit` = reading, validation, "
          "compilation, inference, pointwise quantities): " + ", ".join(
              f"{k} {v:.1f}" for k, v in rec["stage_seconds"].items()) + ".", "",
          "Issue 25's targets: whole run <= 240 s on 2 CPU cores, posterior.nc <= 150 MB. "
          "The run's log about posterior.nc:", ""] + [f"- {ln}" for ln in size_lines]
    write_result(Path(args.out), rec, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
