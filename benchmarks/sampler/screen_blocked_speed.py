"""Speed of the blocked engine against the screen sampler it replaced, same run, same machine.

The restructuring moved the screen sampler into ``drugbayes.inference.blocked`` with the
dose-response posterior evaluated through the family's own likelihood and prior terms. This
times both, alternating old and new in separate processes (old, new, then new, old: drift in
the machine's load falls on both), with ``PYTHONPATH`` pointing at each checkout's ``src/``:

1. **per-sweep cost**: what ``benchmarks.sampler.screen_sweep_cost`` measures: the sampling
   phase of ``simulate_screen`` screens of 2,000 and 20,000 curves, 4 chains x (24 warmup +
   96 draws), top-dose coordinates and mode jump each on and off; milliseconds per sweep;
2. **min bulk ESS per second at 2,000 curves**: what ``benchmarks.scale.screen_scale
   --sizes 2000 --methods screen`` measures (4 chains x (300 warmup + 300 draws), device
   summaries): the smallest bulk ESS over every curve's log10 IC50 and the hyper-parameters,
   over the wall seconds of the run (compilation included; no persistent compilation cache),
   for the simulated screens of seeds 0, 1 and 2.

Both versions run through ``drugbayes.inference.screen`` (``simulate_screen``,
``ScreenModel.from_spec``, ``SamplerSettings``, ``sample_screen``), which the new code keeps.
The load average before and after each process is recorded (the machine is shared). Writes
``benchmarks/results/sampler/screen_blocked_speed.{json,md}``.

Usage (from the repository root; the old checkout e.g. ``git worktree add ../old <commit>``)::

    python -m benchmarks.sampler.screen_blocked_speed --old-src ../old/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import REPO, command, log, results_dir, utc_timestamp, write_result

OUT = results_dir("sampler")
SWEEP_SHAPES = ((200, 10), (1000, 20))
VARIANTS = ((False, False), (True, False), (False, True), (True, True))
N_SWEEPS = 96
ESS_SHAPE = (200, 10)  # benchmarks.scale.screen_scale's 2,000 curves
HYPER = ("mu_log10_ic50", "mu_log_hill", "mu_logit_bottom", "sigma_cell_line",
         "eff_cell_line", "sigma_curve", "sigma")


# ----------------------------------------------------------------------------- workers
def _model(grid):
    from drugbayes.api import _spec
    from drugbayes.inference import screen as sc

    return sc, sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)


def worker_sweep(shape: tuple[int, int]) -> dict:
    """``screen_sweep_cost``'s measurement for one screen size, every variant."""
    from drugbayes.inference import screen as sc

    grid, _ = sc.simulate_screen(*shape, seed=0)
    sc, m = _model(grid)
    rows = []
    for top, jump in VARIANTS:
        cfg = sc.SamplerSettings(num_chains=4, num_warmup=24, num_samples=N_SWEEPS,
                                 keep_draws=False, top_dose_coords=top, mode_jump=jump)
        fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
        rows.append({"top_dose_coords": top, "mode_jump": jump,
                     "ms_per_sweep": 1000.0 * fit.timings["sampling"] / N_SWEEPS})
    return {"curves": shape[0] * shape[1], "rows": rows}


def worker_ess(seed: int, draws_path: str) -> dict:
    """``screen_scale``'s screen run at 2,000 curves: timings and the log10 IC50 summaries;
    the hyper-parameter draws go to ``draws_path`` (their ESS is computed by the caller, with
    the same numpy diagnostics as ``screen_scale``)."""
    from drugbayes.inference import screen as sc

    grid, _ = sc.simulate_screen(*ESS_SHAPE, seed=seed)
    sc, m = _model(grid)
    cfg = sc.SamplerSettings(num_chains=4, num_warmup=300, num_samples=300, thinning=1,
                             keep_draws=False)
    t0 = time.perf_counter()
    fit = sc.sample_screen(grid, m, cfg, seed=seed, summarize=("grp_log10_ic50",),
                           progress=False)
    wall = time.perf_counter() - t0
    summ = fit.unit_summary if hasattr(fit, "unit_summary") else fit.curve_summary
    s = summ["grp_log10_ic50"]
    g = fit.globals
    if "mu" in g:  # the old sampler's record names
        hyper = {"mu_log10_ic50": g["mu"][..., 0], "mu_log_hill": g["mu"][..., 1],
                 "mu_logit_bottom": g["mu"][..., 2], "sigma_cell_line": g["sigma_cell"],
                 "eff_cell_line": g["cell"], "sigma_curve": g["sig"], "sigma": g["sigma"]}
    else:
        hyper = {k: g[k] for k in HYPER if k in g}
        hyper["sigma_curve"] = np.stack([g[f"sigma_curve_{k}"] for k in
                                         ("log10_ic50", "log_hill", "logit_bottom")], -1)
    np.savez(draws_path, **hyper)
    tm = dict(fit.timings)
    per_warm = max(0.0, (tm["warmup"] - tm["first_chunk"]) / 11)
    return {"seed": seed, "wall_s": wall, "timings": tm,
            "compile_s": max(0.0, tm["first_chunk"] - per_warm),
            "ic50_min_ess_bulk": float(np.min(s["ess_bulk"][grid.present])),
            "ic50_min_ess_tail": float(np.min(s["ess_tail"][grid.present])),
            "ic50_max_rhat": float(np.max(s["r_hat"][grid.present]))}


# ----------------------------------------------------------------------------- driver
def _run(version: str, src: Path, args: list[str]) -> dict:
    """One worker process on ``src``; returns its JSON result with the load around it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{REPO}",
               "JAX_PLATFORMS": "cpu", "PYTHONDONTWRITEBYTECODE": "1",
               "DRUGBAYES_COMPILATION_CACHE": "0"}
        env.pop("XLA_FLAGS", None)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "benchmarks.sampler.screen_blocked_speed",
                        "--worker", *args, "--worker-out", str(out)], cwd=REPO, env=env,
                       check=True)
        res = json.loads(out.read_text())
        if "draws" in res:
            from drugbayes.testing import convergence

            hyper = dict(np.load(res.pop("draws")))
            conv = convergence(hyper)
            res["hyper_min_ess_bulk"] = float(conv["min_ess_bulk"])
            res["min_ess_bulk"] = min(res["ic50_min_ess_bulk"], res["hyper_min_ess_bulk"])
            res["min_ess_bulk_per_s"] = res["min_ess_bulk"] / res["wall_s"]
            res["min_ess_bulk_per_s_excl_compile"] = res["min_ess_bulk"] / (
                res["wall_s"] - res["compile_s"])
        res.update(version=version, process_s=time.perf_counter() - t0, load_before=load0,
                   load_after=os.getloadavg())
        log(f"{version} {args}: " + ", ".join(
            f"{k} {res[k]:.3g}" for k in ("min_ess_bulk", "min_ess_bulk_per_s", "wall_s")
            if k in res) + f"; load {load0[0]:.1f} -> {res['load_after'][0]:.1f}")
        return res


def _git(path: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _pairs(label_args: list[tuple[str, list[str]]], srcs: dict[str, Path],
           rounds: int) -> list[dict]:
    """Every job of ``label_args`` for both versions, ABBA: round r runs old then new when r
    is even, new then old when odd."""
    out = []
    for r in range(rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for label, a in label_args:
            for v in order:
                out.append({"round": r, "job": label, **_run(v, srcs[v], a)})
    return out


def _mean(xs) -> float:
    xs = list(xs)
    return float(np.mean(xs)) if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-src", help="src/ of the old checkout")
    ap.add_argument("--new-src", default=str(REPO / "src"))
    ap.add_argument("--old-commit", default="", help="the old src's commit (default: git)")
    ap.add_argument("--new-commit", default="", help="the new src's commit (e.g. for a copy "
                    "made with git archive, so that edits during the run do not count)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--skip", default="", help="comma-separated: sweep, ess")
    ap.add_argument("--out", default=str(OUT / "screen_blocked_speed"))
    ap.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        kind, value = args.worker
        if kind == "sweep":
            res = worker_sweep(tuple(int(v) for v in value.split(",")))
        else:
            draws = str(Path(args.worker_out).with_suffix(".npz"))
            res = {**worker_ess(int(value), draws), "draws": draws}
        Path(args.worker_out).write_text(json.dumps(res, default=float))
        return 0
    if not args.old_src:
        ap.error("--old-src is required")
    srcs = {"old": Path(args.old_src).resolve(), "new": Path(args.new_src).resolve()}
    commits = {v: getattr(args, f"{v}_commit") or _git(p) for v, p in srcs.items()}
    skip = set(args.skip.split(","))
    t0 = time.perf_counter()
    sweep = [] if "sweep" in skip else _pairs(
        [(f"sweep {c}x{d}", ["sweep", f"{c},{d}"]) for c, d in SWEEP_SHAPES], srcs,
        args.rounds)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    ess = [] if "ess" in skip else _pairs([(f"ess seed {s}", ["ess", str(s)]) for s in seeds],
                                          srcs, args.rounds)
    # summaries
    sweep_rows = []
    for c, d in SWEEP_SHAPES:
        for top, jump in VARIANTS:
            ms = {v: [row["ms_per_sweep"] for r in sweep if r["version"] == v
                      and r["curves"] == c * d for row in r["rows"]
                      if row["top_dose_coords"] == top and row["mode_jump"] == jump]
                  for v in ("old", "new")}
            if ms["old"]:
                sweep_rows.append({"curves": c * d, "top_dose_coords": top, "mode_jump": jump,
                                   "old_ms": ms["old"], "new_ms": ms["new"],
                                   "ratio": _mean(ms["new"]) / _mean(ms["old"])})
    ess_rows = []
    for s in seeds:
        e = {v: [r for r in ess if r["version"] == v and r["seed"] == s] for v in ("old", "new")}
        if e["old"]:
            ess_rows.append({"seed": s, **{f"{v}_{k}": [r[k] for r in e[v]] for v in e for k in
                                           ("min_ess_bulk", "min_ess_bulk_per_s", "wall_s",
                                            "min_ess_bulk_per_s_excl_compile")}})
    summary = {}
    if ess_rows:
        for key in ("min_ess_bulk_per_s", "min_ess_bulk_per_s_excl_compile", "min_ess_bulk",
                    "wall_s"):
            old = _mean(_mean(r[f"old_{key}"]) for r in ess_rows)
            new = _mean(_mean(r[f"new_{key}"]) for r in ess_rows)
            summary[key] = {"old": old, "new": new, "ratio": new / old}
    res = {"benchmark": "screen_blocked_speed", "timestamp": utc_timestamp(),
           "command": command("benchmarks.sampler.screen_blocked_speed",
                              argv if argv is not None else sys.argv[1:]),
           "commits": commits, "srcs": {k: str(v) for k, v in srcs.items()},
           "cpu_count": os.cpu_count(), "wall_s": time.perf_counter() - t0,
           "sweep_cost": sweep_rows, "ess": ess_rows, "ess_summary": summary,
           "runs": sweep + ess}
    loads = [r["load_before"][0] for r in sweep + ess] + [r["load_after"][0] for r in sweep + ess]
    md = [f"# Blocked engine vs the screen sampler it replaced ({res['timestamp']})", "",
          f"`{res['command']}`", "",
          f"Old: `{commits['old'][:10]}` ({srcs['old']}); new: `{commits['new'][:10]}` "
          f"({srcs['new']}); {os.cpu_count()} CPUs, shared: 1-minute load average "
          f"{min(loads, default=float('nan')):.1f}-{max(loads, default=float('nan')):.1f} "
          f"around the runs. Old and new alternate in separate processes (ABBA), "
          f"{args.rounds} rounds.", ""]
    if sweep_rows:
        md += ["## Per-sweep cost (`screen_sweep_cost`: 4 chains, 96 sampled sweeps)", "",
               "| curves | top-dose coordinates | mode jump | old ms per sweep | new ms per sweep "
               "| new / old |", "|---:|---|---|---|---|---:|"]
        for r in sweep_rows:
            md.append(f"| {r['curves']:,} | {'on' if r['top_dose_coords'] else 'off'} | "
                      f"{'on' if r['mode_jump'] else 'off'} | "
                      f"{' / '.join(f'{v:.1f}' for v in r['old_ms'])} | "
                      f"{' / '.join(f'{v:.1f}' for v in r['new_ms'])} | {r['ratio']:.3f} |")
        md.append("")
    if ess_rows:
        md += ["## Min bulk ESS per second at 2,000 curves (`screen_scale`: 4 chains x "
               "(300 + 300))", "",
               "| seed | old min bulk ESS | new min bulk ESS | old ESS/s | new ESS/s | old wall s "
               "| new wall s |", "|---:|---|---|---|---|---|---|"]
        for r in ess_rows:
            def f(v, k, fmt, r=r):
                return " / ".join(format(x, fmt) for x in r[f"{v}_{k}"])

            md.append(f"| {r['seed']} | {f('old', 'min_ess_bulk', '.0f')} | "
                      f"{f('new', 'min_ess_bulk', '.0f')} | {f('old', 'min_ess_bulk_per_s', '.2f')}"
                      f" | {f('new', 'min_ess_bulk_per_s', '.2f')} | {f('old', 'wall_s', '.1f')} "
                      f"| {f('new', 'wall_s', '.1f')} |")
        md += ["", "| averaged over seeds and rounds | old | new | new / old |",
               "|---|---:|---:|---:|"]
        for k, v in summary.items():
            md.append(f"| {k} | {v['old']:.3g} | {v['new']:.3g} | {v['ratio']:.3f} |")
        md.append("")
    write_result(Path(args.out), res, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
