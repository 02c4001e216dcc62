"""Command line: ``drugbayes run|validate|simulate|families|report|devices``.

Exit codes: 0 ok, 2 bad input or config, 3 diagnostics failed with ``on_fail = "error"``,
1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_DIAGNOSTICS = 0, 1, 2, 3


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


def _print_headline(summary, name: str, title: str, quantities: tuple[str, ...]) -> None:
    import pandas as pd

    t = summary[summary["quantity"].isin(quantities)].copy()
    if t.empty:
        return
    prob = float(summary["interval_prob"].iloc[0])
    groups = list(summary.columns[:summary.columns.get_loc("quantity")])
    t = t[[*groups, "quantity", "unit", "median", "lower", "upper", "censored"]]
    t = t.rename(columns={"lower": f"lower{prob:.0%}", "upper": f"upper{prob:.0%}"})
    with pd.option_context("display.width", 160, "display.max_rows", 500,
                           "display.float_format", lambda v: f"{v:.4g}"):
        print(f"\n{name}: {title} ({prob:.0%} intervals)")
        print(t.to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``drugbayes`` command."""
    args = _parser().parse_args(argv)
    from .errors import DiagnosticsError, InputError

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
        # run
        from .api import run
        from .progress import ProgressHandler

        logger = logging.getLogger("drugbayes")
        h = None
        if not args.quiet:  # bars on a terminal, plain lines otherwise (logs, CI)
            h = ProgressHandler(sys.stderr)
            h.setFormatter(logging.Formatter("[drugbayes] %(message)s"))
            logger.addHandler(h)
            logger.setLevel(logging.INFO)
        failed_diag = []
        from .errors import DrugbayesWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DrugbayesWarning)
            try:
                outs = run(args.configs, args.overrides, on_result=_report)
            except DiagnosticsError as e:
                failed_diag.append(str(e))
                outs = []
            finally:
                if h is not None:
                    logger.removeHandler(h)
                    h.close()
        for w in caught:
            if issubclass(w.category, DrugbayesWarning):
                print(f"warning: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        for out in outs:
            print(f"wrote {out}")
        if failed_diag:
            for m in failed_diag:
                print(f"error: {m}", file=sys.stderr)
            return EXIT_DIAGNOSTICS
        return EXIT_OK
    except InputError as e:
        print(str(e), file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ERROR
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


def _report(result, out: Path) -> None:
    from .families import get_family

    title, quantities = get_family(result.spec.family).headline
    _print_headline(result.summary(), out.name, title, quantities)
    d = result.diagnostics
    approx = d["approximation"]
    status = "passed" if d["passed"] else "FAILED"
    checks = ", ".join(f"{k}={v['value']:.4g}" if isinstance(v["value"], float)
                       else f"{k}={v['value']}" for k, v in d["checks"].items())
    print(f"approximation: {approx['name']}: {approx['description']}")
    uc = d.get("unit_checks", {})
    if "n_misfit" in uc or "n_prior_dominated" in uc:
        print(f"{uc.get('n_misfit', 0)} units misfit, {uc.get('n_prior_dominated', 0)} "
              f"parameters prior-dominated ({uc.get('n_pooled', 0)} pooled; see "
              "diagnostics.json unit_checks)")
    if approx["diagnosed"]:
        print(f"diagnostics {status}: {checks}")
    else:
        # no convergence diagnostic exists for this approximation: only its own checks
        print(f"checks {status} ({checks}); no convergence diagnostics apply")


if __name__ == "__main__":
    sys.exit(main())
