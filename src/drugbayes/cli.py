"""Command line: ``drugbayes run|validate|simulate|families|report|devices``.

Exit codes (of a batch: its worst run): 0 ok (every run done or skipped), 1 a run failed (or
anything else went wrong), 2 bad input or config (nothing was run), 3 diagnostics failed with
``on_fail = "error"``, 130 interrupted (SIGINT; no partial run directory left).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_DIAGNOSTICS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drugbayes", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="fit one or more configs (a batch)")
    r.add_argument("configs", nargs="+", type=Path)
    r.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a config value (TOML value, "
                   "else a bare string); repeatable")
    r.add_argument("--quiet", action="store_true", help="no progress messages (a bar on a "
                   "terminal, plain lines otherwise)")
    r.add_argument("--force", action="store_true", help="redo every run, even one whose "
                   "finished run directory records the same config, data and version")
    r.add_argument("--jobs", type=int, default=1, metavar="N", help="runs at once: local "
                   "worker processes (default 1: one after another in this process); with "
                   "--executor ray and no --ray-address, the CPUs of the Ray started here")
    r.add_argument("--executor", choices=["local", "ray"], default="local", help="ray: each "
                   "run a Ray task (pip install 'drugbayes[ray]') on the Ray cluster at "
                   "--ray-address, or on a Ray started on this machine for the batch (every "
                   "socket on 127.0.0.1, no dashboard)")
    r.add_argument("--ray-address", default=None, metavar="ADDRESS", help="an existing Ray "
                   "cluster ('auto' after `ray start --head` here, or host:port)")
    r.add_argument("--retries", type=int, default=1, help="ray: tries again a run whose "
                   "worker died (default 1)")
    r.add_argument("--gpus-per-run", type=float, default=None, metavar="G", help="ray: GPUs "
                   "each run is given, for every config (default: each config's [run] gpus, "
                   "itself 0 by default; 1 on a cluster of GPU nodes)")
    v = sub.add_parser("validate", help="check configs and their data without fitting")
    v.add_argument("configs", nargs="+", type=Path)
    v.add_argument("--set", dest="overrides", action="append", default=[])
    s = sub.add_parser("simulate", help="write a simulated table of a data kind (see "
                       "`drugbayes families`) with its truth")
    s.add_argument("--kind", default=None, help="data kind (default: the first registered)")
    s.add_argument("--mice-per-arm", type=int, default=10, help="mice per arm (in vivo kinds)")
    s.add_argument("--cell-lines", type=int, default=5)
    s.add_argument("--drugs", type=int, default=2)
    s.add_argument("--replicates", type=int, default=3)
    s.add_argument("--experiments", type=int, default=1)
    s.add_argument("--response-scale", choices=["fraction", "percent", "raw"], default="fraction")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True, help="CSV of wells (truth: *_truth.csv)")
    sub.add_parser("families", help="list model families and presets")
    dv = sub.add_parser("devices", help="what JAX sees (platform, memory) and the largest "
                        "screen that fits by the memory guard")
    dv.add_argument("--chains", type=int, default=None, help="chains (default: [inference])")
    dv.add_argument("--samples", type=int, default=None,
                    help="kept draws per chain (default: [inference])")
    rp = sub.add_parser("report", help="(re)write report.html in run directories and the "
                        "index page of the folders holding them")
    rp.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    rp.add_argument("--no-index", action="store_true", help="write no index page")
    return p


def command() -> None:
    """The ``drugbayes`` command: :func:`main`, then exit with its code.

    After an interrupt (exit 130; runs stopped, their temporary folders removed, the message
    printed) the process ends at once, without the interpreter's finalisation: freeing JAX's
    compiled programs there took from seconds to over a minute on loaded CPUs, during which
    the command seemed not to stop."""
    code = main()
    if code == EXIT_INTERRUPTED:
        logging.shutdown()  # flush and close every log handler
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``drugbayes`` command (returns its exit code)."""
    args = _parser().parse_args(argv)
    from .errors import InputError

    try:
        if args.command == "families":
            from .config import list_presets
            from .families import REGISTRY

            for name, fam in REGISTRY.items():
                print(f"{name}  (kind {fam.kind}): {fam.description}")
            print("\npresets:")
            for p in list_presets():
                print(f"  {p}")
            return EXIT_OK
        if args.command == "devices":
            from .devices import device_report, format_report

            print(format_report(device_report(args.chains, args.samples)))
            return EXIT_OK
        if args.command == "report":
            return _write_reports(args.run_dirs, index=not args.no_index)
        if args.command == "simulate":
            from .families import family_for_kind, kinds

            fam = family_for_kind(args.kind or kinds()[0])
            if fam.simulate_cli is None:
                print(f"error: kind {fam.kind!r} has no simulator", file=sys.stderr)
                return EXIT_INPUT
            table, truth, message = fam.simulate_cli(args)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.out, index=False)
            truth.to_csv(args.out.with_name(args.out.stem + "_truth.csv"), index=False)
            print(f"wrote {args.out} ({message})")
            return EXIT_OK
        if args.command == "validate":
            from .api import check_config
            from .config import load_config
            from .families import family_for_kind

            issues: list[InputError] = []
            for c in args.configs:
                try:
                    cfg = load_config(c, args.overrides)
                    _, vt, data = check_config(cfg)
                    desc = family_for_kind(cfg.data.kind).describe(vt, data)
                    print(f"{c}: ok ({desc}; {len(vt.dropped)} missing responses would be "
                          "dropped)")
                    for note in getattr(getattr(vt, "source", None), "notes", ()):
                        print(f"  {note}")  # what the readers did (plates, units, filters)
                except InputError as e:
                    issues.append(e)
            for err in issues:
                print(str(err), file=sys.stderr)
            return EXIT_INPUT if issues else EXIT_OK
        return _run_batch(args)
    except InputError as e:
        print(str(e), file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR


def _write_reports(run_dirs: list[Path], index: bool) -> int:
    """``drugbayes report``: every directory is checked first; nothing is written if one is
    not a complete run directory holding only its manifest's files."""
    from .errors import InputError, Issue
    from .outputs import output_dir_problem
    from .report.html import write_indexes, write_report
    from .report.rundir import read_manifest

    issues: list[Issue | str] = []
    for d in run_dirs:
        if not d.is_dir() or d.is_symlink():
            problem: str | None = "is not a folder"
        elif read_manifest(d) is None:
            problem = "is not a drugbayes run directory (no complete manifest.json)"
        else:
            problem = output_dir_problem(d)
        if problem is not None:
            issues.append(Issue(str(d), None, None, None, problem))
    if issues:
        raise InputError(issues, title="not run directories (no report written)")
    for d in run_dirs:
        print(f"wrote {write_report(d)}")
    if index:
        for root, path, why in write_indexes(run_dirs):
            print(f"wrote {path}" if path is not None else f"no index page in {root}: {why}")
    return EXIT_OK


def _run_batch(args: argparse.Namespace) -> int:
    """``drugbayes run``: the batch, each run's headline as it ends, then the batch table."""
    from .batch import RunRecord, exit_code, format_table, run_batch
    from .errors import DrugbayesWarning
    from .progress import ProgressHandler

    logger = logging.getLogger("drugbayes")
    h = None
    if not args.quiet:  # bars on a terminal, plain lines otherwise (logs, CI)
        h = ProgressHandler(sys.stderr)
        h.setFormatter(logging.Formatter("[drugbayes] %(message)s"))
        logger.addHandler(h)
        logger.setLevel(logging.INFO)

    def show(rec: RunRecord) -> None:
        if rec.headline:
            print(rec.headline)
        for w in rec.warnings:
            print(f"warning: {rec.name}: {w}", file=sys.stderr)
        if rec.state == "failed":
            print(f"error: {rec.name}: {rec.note}", file=sys.stderr)
        elif rec.state == "skipped":
            print(f"{rec.name}: skipped ({rec.note}): {rec.run_dir}")
        sys.stdout.flush()

    records: list[RunRecord] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DrugbayesWarning)
        try:
            run_batch(args.configs, args.overrides, force=args.force, jobs=args.jobs,
                      executor=args.executor, ray_address=args.ray_address,
                      retries=args.retries, gpus_per_run=args.gpus_per_run,
                      quiet=args.quiet, on_record=show, records=records)
        except KeyboardInterrupt:
            print("\n" + format_table(records) if records else "", flush=True)
            print("interrupted: runs under way were stopped and their temporary folders "
                  "removed; finished run directories are kept (rerun the same command to "
                  "resume)", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            if h is not None:
                logger.removeHandler(h)
                h.close()
    for w in caught:
        if issubclass(w.category, DrugbayesWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print("\n" + format_table(records))
    return exit_code(records)


if __name__ == "__main__":
    sys.exit(main())
