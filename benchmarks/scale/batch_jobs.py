"""Wall time of a 4-config batch: `drugbayes run --jobs 1` against `--jobs 2` (and `--executor
ray --jobs 2`, on the Ray of 2 CPUs that drugbayes starts for the batch, its start included,
where Ray is installed and `--ray` is given), on this machine.

Each batch is the command line a user types (a fresh process, `--force` so that every run is
redone), repeated in alternating order; the load average before each batch is recorded, as
the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import REPO, command, environment, log, results_dir, write_result

DATA = REPO / "configs" / "smoke" / "data" / "percent_nM.csv"


def _configs(folder: Path, n: int, method: str, budget: int) -> list[Path]:
    shutil.copy(DATA, folder / "data.csv")
    out = []
    for i in range(n):
        p = folder / f"run{i}.toml"
        p.write_text(f'[run]\nname = "run{i}"\nseed = {i}\n'
                     '[data]\npath = "data.csv"\ndose_unit = "nM"\nresponse_scale = "percent"\n'
                     f'[inference]\nmethod = "{method}"\nnum_chains = 2\n'
                     f"num_warmup = {budget}\nnum_samples = {budget}\n")
        out.append(p)
    return out


def _batch(configs: list[Path], args: list[str]) -> tuple[float, int, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "drugbayes", "run", *map(str, configs),
                          "--quiet", "--force", *args], env=env, capture_output=True,
                         text=True)
    table = res.stdout[res.stdout.rfind("run  state"):]
    return time.perf_counter() - t, res.returncode, table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=4)
    ap.add_argument("--method", default="nuts")
    ap.add_argument("--budget", type=int, default=300, help="warmup = draws per chain")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="also --executor ray --jobs 2 (a "
                    "Ray of 2 CPUs started by drugbayes for each batch)")
    ap.add_argument("--out", default=str(results_dir("scale") / "batch_jobs_cpu"))
    args = ap.parse_args(argv)
    env = environment()
    variants = {"jobs 1": ["--jobs", "1"], "jobs 2": ["--jobs", "2"]}
    if args.ray:  # the Ray that drugbayes starts for the batch (2 CPUs, on 127.0.0.1)
        variants["ray, jobs 2"] = ["--executor", "ray", "--jobs", "2"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="drugbayes-batch-jobs-") as tmp:
        cfgs = _configs(Path(tmp), args.configs, args.method, args.budget)
        _batch(cfgs[:1], [])  # warm the compilation cache and the file cache
        for r in range(args.repeats):
            for name, extra in variants.items():
                load = os.getloadavg()
                seconds, rc, table = _batch(cfgs, extra)
                log(f"{name} (repeat {r}): {seconds:.1f} s, exit {rc}, load before "
                    f"{load[0]:.2f}")
                rows.append({"variant": name, "repeat": r, "seconds": seconds, "exit": rc,
                             "load_before": list(load), "table": table})
    cmd = command("benchmarks.scale.batch_jobs", argv if argv is not None else sys.argv[1:])
    lines = [f"# A {args.configs}-config batch: `--jobs 1` against `--jobs 2`", "",
             f"Command: `nice -n 10 {cmd}`", "",
             f"Each config: the smoke data (96 wells, 6 curves), method `{args.method}`, 2 "
             f"chains, {args.budget} warmup + {args.budget} draws; each batch a fresh "
             "`drugbayes run ... --quiet --force` process (JAX's compilation cache warm).",
             f"Machine: {env.get('cpu_count', os.cpu_count())} CPU cores, shared with other "
             "jobs (load average before each batch below).", "",
             "| variant | repeat | wall time (s) | exit | load before (1 min) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['repeat']} | {r['seconds']:.1f} | {r['exit']} | "
              f"{r['load_before'][0]:.2f} |" for r in rows]
    for name in variants:
        times = [r["seconds"] for r in rows if r["variant"] == name]
        lines.append(f"\n{name}: median {statistics.median(times):.1f} s over "
                     f"{len(times)} batches")
    write_result(Path(args.out), {"environment": env, "command": cmd, "rows": rows},
                 lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
