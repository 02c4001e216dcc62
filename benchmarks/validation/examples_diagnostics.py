"""Every shipped example with its own budgets: do its diagnostics pass?

Runs each config in ``configs/examples/`` as a user would (``drugbayes run``: the readers, the
shipped budgets and seed, plots off to save time) into a temporary folder and records what
``diagnostics.json`` says: passed or not, max R-hat, min bulk and tail ESS, divergences, BFMI,
whether NUTS extended its draws, the offending quantities, and the wall time with the machine's
load average before and after (the machine may be shared).

Writes ``benchmarks/results/validation/examples_diagnostics.{json,md}``.

Usage: ``python -m benchmarks.validation.examples_diagnostics [--only NAME,...] [--keep DIR]``
(``--keep``: the run directories are written under DIR and kept, e.g. to look at the
divergent transitions in ``posterior.nc``; by default they go to a temporary folder.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import REPO, command, environment, log, results_dir, write_result

OUT = results_dir("validation")
EXAMPLES = REPO / "configs" / "examples"


def run_example(path: Path, folder: Path) -> dict:
    """Run one example config into ``folder``; its diagnostics and timings."""
    from drugbayes.api import run_config
    from drugbayes.config import load_config

    cfg = load_config(path, [f"run.output_dir={folder / path.stem}", "report.plots=false",
                             "report.html=false"])
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    _, out = run_config(cfg)
    wall = time.perf_counter() - t0
    diag = json.loads((out / "diagnostics.json").read_text())
    checks = {k: v.get("value") for k, v in diag.get("checks", {}).items()}
    return {"example": path.name, "method": diag["method"], "passed": diag["passed"],
            "checks": checks, "draws_extended": diag.get("draws_extended"),
            "offending": diag.get("offending", [])[:8], "wall_s": wall,
            "load_before": load0, "load_after": os.getloadavg()[0]}


def _fmt(v: object, spec: str) -> str:
    return "" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated config stems (default: all)")
    ap.add_argument("--out", default=str(OUT / "examples_diagnostics"),
                    help="result stem (default: benchmarks/results/validation/"
                    "examples_diagnostics)")
    ap.add_argument("--merge", nargs="*", default=[], metavar="JSON",
                    help="earlier results of this script whose examples not run now are "
                    "added to the table (each row keeps its own wall time and load)")
    ap.add_argument("--keep", default="", metavar="DIR",
                    help="write the run directories under DIR and keep them (default: a "
                    "temporary folder, removed at the end)")
    args = ap.parse_args(argv)
    paths = sorted(EXAMPLES.glob("*.toml"))
    if args.only:
        keep = set(args.only.split(","))
        paths = [p for p in paths if p.stem in keep]
    env = environment()  # at the start: the commit whose code the runs import
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        for p in paths:
            log(f"{p.name}")
            rows.append(run_example(p, folder))
            log(f"{p.name}: passed {rows[-1]['passed']} in {rows[-1]['wall_s']:.0f} s")
            print("row " + json.dumps(rows[-1], default=str), flush=True)  # kept if killed
    done = {r["example"] for r in rows}
    for f in args.merge:
        earlier = json.loads(Path(f).read_text())
        for r in earlier["examples"]:
            if r["example"] not in done:
                rows.append({**r, "from": f"{earlier['command']} at "
                             f"{earlier['environment']['timestamp_utc']}"})
                done.add(r["example"])
    rows.sort(key=lambda r: r["example"])
    res = {"command": command("benchmarks.validation.examples_diagnostics",
                              sys.argv[1:] if argv is None else argv),
           "environment": env, "examples": rows}
    md = ["# The shipped examples with their own budgets", "",
          f"`{res['command']}`; {res['environment']['timestamp_utc']}, git "
          f"{res['environment']['git_commit'][:10]}, {res['environment']['jax_backend']} "
          f"({res['environment']['cpu_affinity']} CPUs; load average before/after each run "
          "below). Thresholds: R-hat <= 1.01, bulk and tail ESS >= 400, 0 divergences, "
          "BFMI >= 0.3.", "",
          "| example | method | passed | max R-hat | min bulk ESS | min tail ESS | divergences "
          "| draws extended | wall s | load before/after |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["checks"]
        ext = r["draws_extended"]
        md.append(f"| {r['example']} | {r['method']} | {r['passed']} | "
                  f"{_fmt(c.get('max_rhat'), '.4f')} | {_fmt(c.get('min_ess_bulk'), '.0f')} | "
                  f"{_fmt(c.get('min_ess_tail'), '.0f')} | {_fmt(c.get('divergences'), 'd')} | "
                  f"{'' if not ext else str(ext['from']) + ' -> ' + str(ext['to'])} | "
                  f"{r['wall_s']:.0f} | {r['load_before']:.1f} / {r['load_after']:.1f} |")
    merged = sorted({r["from"] for r in rows if "from" in r})
    if merged:
        md += ["", "Rows of examples not run by this command come from: "
               + "; ".join(f"`{m}`" for m in merged) + "."]
    failed = [r for r in rows if not r["passed"]]
    if failed:
        md += ["", "Offending quantities of the runs that did not pass:", ""]
        for r in failed:
            md.append(f"- {r['example']}: " + "; ".join(
                json.dumps(o, default=str) for o in r["offending"]))
    write_result(Path(args.out), res, md)
    print("\n".join(md))
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
