"""The time a kill costs a checkpointed run: the combination example (NUTS, its shipped
budgets) with ``[inference] checkpoint_every``, run once uninterrupted and once killed
(``kill -9``) just before a checkpoint was due (mid-sampling, or mid-warmup with
``--kill-at-warmup``), then run again to completion.

Time lost = (killed run until the kill + the rerun) - the uninterrupted run. The target
(issue 17): at most one checkpoint interval (the time between two checkpoints, measured from
the checkpoint file's writes) beyond the rerun's start (reading the data, the MAP start and
compilation, taken from the rerun's own run.log). The load average is recorded before each
run, as the machine may be shared.

Usage: ``python -m benchmarks.scale.kill_resume [--config PATH] [--every N] [--kill-after D]
[--kill-at-warmup S]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks._common import REPO, command, environment, log, results_dir, write_result

EXAMPLE = REPO / "configs" / "examples" / "lapatinib_trastuzumab_combination.toml"


def _cmd(config: Path, out: Path, every: int) -> list[str]:
    return [sys.executable, "-m", "drugbayes", "run", str(config), "--quiet", "--force",
            "--set", f"run.output_dir={out}", "--set", f"inference.checkpoint_every={every}",
            "--set", "report.plots=false", "--set", "report.html=false"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))


def _progress(ck: Path) -> tuple[int, int] | None:
    """(warmup steps, draws per chain) of the checkpoint ``ck``, or None where unreadable."""
    try:
        with np.load(ck, allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
            return int(header.get("warmup_steps", 0)), int(header["draws"])
    except (OSError, ValueError, KeyError):
        return None


def _named(progress: tuple[int, int] | list[int] | None) -> str:
    return "none" if progress is None else f"{progress[0]} warmup steps, {progress[1]} draws"


def _watch(proc: subprocess.Popen, ck: Path) -> dict[tuple[int, int], float]:
    """When each checkpoint of ``ck`` ((warmup steps, draws) -> time) was first seen, until
    ``proc`` ends."""
    seen: dict[tuple[int, int], float] = {}
    while proc.poll() is None:
        d = _progress(ck) if ck.exists() else None
        if d is not None and d not in seen:
            seen[d] = time.perf_counter()
        time.sleep(0.05)
    return seen


def _log_times(run_log: Path) -> dict:
    """Seconds from the run log's first line to the resume line and to its end."""
    lines = run_log.read_text().splitlines()

    def t(line: str) -> float:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    stamped = [ln for ln in lines if ln[:4].isdigit()]
    first = t(stamped[0])
    resumed = [t(ln) - first for ln in stamped if "resumed from checkpoint" in ln]
    return {"to_resume_s": resumed[0] if resumed else None, "log_s": t(stamped[-1]) - first}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=EXAMPLE)
    ap.add_argument("--every", type=int, default=1, help="checkpoint_every (chunks)")
    ap.add_argument("--kill-after", type=int, default=500,
                    help="kill once a checkpoint with this many draws per chain is written, "
                    "0.9 of a checkpoint interval later")
    ap.add_argument("--kill-at-warmup", type=int, default=None,
                    help="kill mid-warmup instead: once the checkpoint of this many warmup "
                    "steps is written (a multiple of chunk_size x checkpoint_every), 0.9 of "
                    "a checkpoint interval later")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/scale/"
                    "kill_resume_cpu (kill_resume_warmup_cpu with --kill-at-warmup)")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = str(results_dir("scale") / ("kill_resume_cpu" if args.kill_at_warmup is None
                                               else "kill_resume_warmup_cpu"))
    due = ((args.kill_at_warmup, 0) if args.kill_at_warmup is not None
           else None)  # the checkpoint after which to kill (a sampling one: by its draws)
    env = _env()
    res: dict = {"config": str(args.config.relative_to(REPO)), "checkpoint_every": args.every}
    with tempfile.TemporaryDirectory(prefix="drugbayes-kill-resume-") as tmp:
        tmp_p = Path(tmp)
        # uninterrupted (checkpoints written too: their cost is part of both)
        res["load_before_plain"] = os.getloadavg()[0]
        t = time.perf_counter()
        plain = subprocess.Popen(_cmd(args.config, tmp_p / "plain", args.every), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plain_seen = _watch(plain, tmp_p / ".plain.checkpoint.npz")
        if plain.wait() != 0:
            raise RuntimeError("the uninterrupted run failed")
        res["plain_s"] = time.perf_counter() - t
        res["plain_checkpoints"] = {f"{k[0]} warmup steps, {k[1]} draws": v - t
                                    for k, v in plain_seen.items()}
        log(f"uninterrupted: {res['plain_s']:.1f} s")
        if due is not None:  # mid-warmup: the interval after that checkpoint in the plain run
            after = sorted(k for k in plain_seen if k > due)
            if due not in plain_seen or not after:
                raise RuntimeError(f"no checkpoint after {due} in the uninterrupted run: "
                                   f"{sorted(plain_seen)}")
            plain_interval = plain_seen[after[0]] - plain_seen[due]
        # killed just before a checkpoint was due
        out = tmp_p / "killed"
        ck = tmp_p / ".killed.checkpoint.npz"
        res["load_before_killed"] = os.getloadavg()[0]
        t = time.perf_counter()
        proc = subprocess.Popen(_cmd(args.config, out, args.every), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen: dict[tuple[int, int], float] = {}
        interval = float("nan")
        try:
            while proc.poll() is None:
                d = _progress(ck) if ck.exists() else None
                if d is not None and d not in seen:
                    seen[d] = time.perf_counter()
                    log(f"checkpoint: {d[0]} warmup steps, {d[1]} draws per chain")
                if due is not None and due in seen:
                    interval = plain_interval
                elif due is None and any(k[1] == args.kill_after for k in seen) \
                        and len(seen) >= 2:
                    done = sorted(seen)
                    interval = seen[done[-1]] - seen[done[-2]]
                if interval == interval:  # not NaN: the checkpoint to kill after was written
                    time.sleep(0.9 * interval)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
        res["killed_s"] = time.perf_counter() - t
        res["checkpoints_seen"] = {f"{k[0]} warmup steps, {k[1]} draws": v - t
                                   for k, v in seen.items()}
        res["interval_s"] = interval
        res["killed_at"] = _progress(ck)
        log(f"killed after {res['killed_s']:.1f} s (checkpoint interval {interval:.1f} s)")
        res["load_before_rerun"] = os.getloadavg()[0]
        t = time.perf_counter()
        rerun = subprocess.run(_cmd(args.config, out, args.every), env=env,
                               capture_output=True, text=True)
        res["rerun_s"] = time.perf_counter() - t
        res["rerun_exit"] = rerun.returncode
        res["rerun_log"] = _log_times(out / "run.log")
        res["load_after"] = os.getloadavg()[0]
    res["lost_s"] = res["killed_s"] + res["rerun_s"] - res["plain_s"]
    start = res["rerun_log"]["to_resume_s"]
    res["lost_beyond_start_s"] = res["lost_s"] - (start or 0.0)
    res["environment"] = environment()
    res["command"] = command("benchmarks.scale.kill_resume",
                             argv if argv is not None else sys.argv[1:])
    lines = ["# Kill and resume of a checkpointed run", "",
             f"Command: `nice -n 10 {res['command']}`; {res['environment']['timestamp_utc']}, "
             f"git {res['environment']['git_commit'][:10]}.", "",
             f"Config `{res['config']}` (its shipped budgets), `checkpoint_every = "
             f"{args.every}`; killed (-9) 0.9 of a checkpoint interval after the checkpoint of "
             + (f"{args.kill_after} draws per chain (the interval: the killed run's last)"
                if due is None else f"{args.kill_at_warmup} warmup steps (the interval: the "
                "uninterrupted run's after that checkpoint)") + ", then run again.", "",
             "| quantity | seconds | load average before (1 min) |", "|---|---|---|",
             f"| uninterrupted run | {res['plain_s']:.1f} | {res['load_before_plain']:.1f} |",
             f"| killed run, until the kill | {res['killed_s']:.1f} | "
             f"{res['load_before_killed']:.1f} |",
             f"| rerun to completion (exit {res['rerun_exit']}) | {res['rerun_s']:.1f} | "
             f"{res['load_before_rerun']:.1f} |",
             f"| rerun's start until resumed (data, MAP start, compile) | "
             f"{start if start is not None else float('nan'):.1f} | |",
             f"| one checkpoint interval | {res['interval_s']:.1f} | |",
             f"| the checkpoint the rerun resumed from | {_named(res['killed_at'])} | |",
             f"| **time lost** (killed + rerun - uninterrupted) | {res['lost_s']:.1f} | |",
             f"| time lost beyond the rerun's start | {res['lost_beyond_start_s']:.1f} | |",
             "", f"Load average after: {res['load_after']:.1f}."]
    write_result(Path(args.out), res, lines)
    print("\n".join(lines))
    return 0 if res["rerun_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
