"""Validate drugbayes IC50s against CurveCurator on the real sarcoma viability screen.

Data: ``../shared/data/dose_response_sarcoma_curvecurator/`` (see ``../shared/data/README.md``;
Lee et al., Mol Syst Biol 2023; CurveCurator example dataset, Apache-2.0). The data are read in
place and never copied into the repository.

What is compared
----------------
drugbayes's relative log10 IC50 (curve midpoint, ``log10_ic50`` in the data's dose unit, nM)
is turned into a pEC50 (``-log10 EC50 [M]`` = ``9 - log10_ic50 [nM]``) and compared with
CurveCurator's ``pEC50`` of the ``combined`` fits (the three replicates pooled into one curve,
the authors' recommended mode), which is also the midpoint of a 4-parameter log-logistic.

Curve sets (reported separately):

- ``regulated``: CurveCurator ``Curve Regulation`` in {down, up} (significant, relevant and
  with a pEC50 inside CurveCurator's accepted range) -- the headline set;
- ``not_not``: every curve whose regulation is not ``"not"``, i.e. ``regulated`` plus the
  curves CurveCurator left unclassified (empty regulation: neither significant nor clearly
  flat), the literal reading of "regulation is not 'not'";
- ``down``: the regulated curves that fall with dose (drugbayes's curve family only falls, so
  the 3 ``up`` curves cannot be fitted by it);
- each of the above ``_in_range``: restricted to curves whose CurveCurator EC50 lies inside
  that curve's tested dose range (lowest positive to highest dose).

The fit is one joint hierarchical fit over all selected curves (every regulation class, so the
hierarchy sees the same data as CurveCurator did), ``missing = "drop"`` (the empty wells), and
the dose-0 rows (DMSO vehicle, 1.0 by construction) as the untreated point of each curve.

Usage
-----
    python -m benchmarks.validation.validate_curvecurator_sarcoma --method map
    python -m benchmarks.validation.validate_curvecurator_sarcoma --method svi
    python -m benchmarks.validation.validate_curvecurator_sarcoma --method nuts --max-curves 288

Writes ``<out>/curvecurator_sarcoma_<method>[_<tag>].json`` and ``.md`` (``--out``, default
``benchmarks/results/validation``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import REPO, command, results_dir

DEFAULT_DATA = "../shared/data/dose_response_sarcoma_curvecurator"
DATA_FILE = "sarcoma_viability_long.csv"
REF_FILE = "curvecurator_fits_{mode}.csv"
LOG10_NM_IN_M = -9.0  # log10(1 nM / 1 M)


# ----------------------------------------------------------------------------- data
def resolve_data_dir(path: str | os.PathLike | None) -> Path:
    """``path`` (default ``../shared/data/...``) resolved against the repository root."""
    p = Path(path if path is not None else DEFAULT_DATA)
    return p if p.is_absolute() else (REPO / p).resolve()


def load_viability(data_dir: Path) -> pd.DataFrame:
    """The long table as text (empty responses kept as ``""`` so drugbayes sees them)."""
    return pd.read_csv(data_dir / DATA_FILE, dtype=str, keep_default_na=False)


def load_reference(data_dir: Path, mode: str = "combined") -> pd.DataFrame:
    """CurveCurator fits; identified by the ``cell_line`` and ``drug`` columns.

    ``Name`` is ``"<cell_line> <drug>"`` and is not used for the join (drug names can hold
    spaces in general; the separate columns are unambiguous).
    """
    ref = pd.read_csv(data_dir / REF_FILE.format(mode=mode))
    for c in ("cell_line", "drug"):
        ref[c] = ref[c].astype(str).str.strip()
    ref["Curve Regulation"] = ref["Curve Regulation"].fillna("").astype(str).str.strip()
    return ref


def curve_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell line x drug: wells, replicates, missing wells, tested dose range."""
    d = df.copy()
    d["dose"] = pd.to_numeric(d["dose_nM"])
    d["missing"] = d["viability_ratio"].str.strip().eq("")
    pos = d[d["dose"] > 0]
    g = d.groupby(["cell_line", "drug"], sort=False)
    out = pd.DataFrame({
        "n_wells": g.size(),
        "n_replicates": g["replicate"].nunique(),
        "n_missing": g["missing"].sum(),
    })
    gp = pos.groupby(["cell_line", "drug"], sort=False)["dose"]
    out["dose_min_nM"] = gp.min()
    out["dose_max_nM"] = gp.max()
    return out.reset_index()


def select_subset(df: pd.DataFrame, max_curves: int | None, by: str, seed: int,
                  cell_lines: list[str] | None = None,
                  drugs: list[str] | None = None) -> tuple[pd.DataFrame, str]:
    """Deterministic subset of whole curves.

    ``by="cell_line"``: whole cell lines in sorted order while the curve count stays within
    ``max_curves`` (at least one cell line). ``by="drug"``: a fixed random subset of drugs
    (``numpy.random.default_rng(seed)``, drawn from the sorted drug list) across all cell lines,
    as many drugs as fit within ``max_curves``.
    """
    notes = []
    if cell_lines:
        df = df[df["cell_line"].isin(cell_lines)]
        notes.append(f"cell lines {', '.join(cell_lines)}")
    if drugs:
        df = df[df["drug"].isin(drugs)]
        notes.append(f"drugs {', '.join(drugs)}")
    if max_curves is None:
        return df, "; ".join(notes) or "all curves"
    pairs = df[["cell_line", "drug"]].drop_duplicates()
    if len(pairs) <= max_curves:
        return df, "; ".join(notes + [f"max {max_curves} curves: all {len(pairs)} kept"])
    if by == "cell_line":
        per_cell = pairs.groupby("cell_line").size().sort_index()
        keep, n = [], 0
        for cl, k in per_cell.items():
            if keep and n + k > max_curves:
                break
            keep.append(cl)
            n += k
        df = df[df["cell_line"].isin(keep)]
        notes.append(f"whole cell lines (sorted) up to {max_curves} curves: {', '.join(keep)}")
    else:
        all_drugs = np.array(sorted(pairs["drug"].unique()))
        n_cells = pairs["cell_line"].nunique()
        n_drugs = max(1, min(len(all_drugs), max_curves // max(n_cells, 1)))
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(all_drugs, size=n_drugs, replace=False).tolist())
        df = df[df["drug"].isin(keep)]
        notes.append(f"random {n_drugs} drugs (seed {seed}): {', '.join(keep)}")
    return df, "; ".join(notes)


# ----------------------------------------------------------------------------- fit
INFERENCE_DEFAULTS = {
    "map": {"method": "map", "map_num_steps": 2000},
    "svi": {"method": "svi", "num_steps": 4000, "num_samples": 250, "num_chains": 4},
    "nuts": {"method": "nuts", "num_warmup": 500, "num_samples": 500, "num_chains": 4},
}


def fit_drugbayes(table, method: str, seed: int = 0, inference: dict | None = None):
    """Fit with drugbayes; returns ``(FitResult, estimates DataFrame, seconds)``."""
    import drugbayes as db

    inf = dict(INFERENCE_DEFAULTS[method])
    inf.update(inference or {})
    t0 = time.perf_counter()
    r = db.fit(table, dose_unit="nM", response_scale="fraction", missing="drop",
               columns={"dose": "dose_nM", "response": "viability_ratio"},
               inference=inf, seed=seed)
    s = r.summary()
    secs = time.perf_counter() - t0
    est = s[s["quantity"] == "log10_ic50"][
        ["cell_line", "drug", "median", "mean", "lower", "upper", "r_hat", "ess_bulk",
         "censored"]].copy()
    est = est.rename(columns={"median": "log10_ic50_nM", "mean": "log10_ic50_nM_mean",
                              "lower": "log10_ic50_nM_lower", "upper": "log10_ic50_nM_upper",
                              "censored": "db_censored"})
    est["pEC50_db"] = -(est["log10_ic50_nM"] + LOG10_NM_IN_M)
    # interval of pEC50 (the order flips)
    est["pEC50_db_lower"] = -(est["log10_ic50_nM_upper"] + LOG10_NM_IN_M)
    est["pEC50_db_upper"] = -(est["log10_ic50_nM_lower"] + LOG10_NM_IN_M)
    return r, est.reset_index(drop=True), secs


# ----------------------------------------------------------------------------- compare
def join(est: pd.DataFrame, ref: pd.DataFrame, curves: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Join drugbayes estimates with the reference on (cell_line, drug); account for misses."""
    ref_cols = ["cell_line", "drug", "pEC50", "pEC50 Error", "Curve Slope", "Curve Front",
                "Curve Back", "Curve R2", "Curve Regulation"]
    m = est.merge(ref[ref_cols], on=["cell_line", "drug"], how="outer", indicator=True)
    m = m.merge(curves, on=["cell_line", "drug"], how="left")
    only_db = m[m["_merge"] == "left_only"]
    only_ref = m[m["_merge"] == "right_only"]
    fitted_keys = set(zip(curves["cell_line"], curves["drug"]))
    reasons: dict[str, list[str]] = {}
    for r in only_db.itertuples():
        if r.n_replicates < 3:
            why = (f"no CurveCurator fit: only {r.n_replicates} of 3 replicates in the data "
                   f"({int(r.n_wells)} wells); CurveCurator's combined mode allows at most "
                   "max_missing = 4 missing values per curve")
        else:
            why = "no CurveCurator fit (reason unknown)"
        reasons.setdefault(why, []).append(f"{r.cell_line}|{r.drug}")
    n_ref_outside = 0
    for r in only_ref.itertuples():
        if (r.cell_line, r.drug) in fitted_keys:
            why = "in the data but absent from drugbayes's summary"
            reasons.setdefault(why, []).append(f"{r.cell_line}|{r.drug}")
        else:
            n_ref_outside += 1  # not in the selected subset: not a failure
    both = m[m["_merge"] == "both"].drop(columns="_merge").copy()
    both["diff"] = both["pEC50_db"] - both["pEC50"]
    both["abs_diff"] = both["diff"].abs()
    p_hi = -(np.log10(both["dose_min_nM"]) + LOG10_NM_IN_M)  # lowest dose -> highest pEC50
    p_lo = -(np.log10(both["dose_max_nM"]) + LOG10_NM_IN_M)
    both["cc_in_range"] = both["pEC50"].between(p_lo, p_hi)
    info = {
        "drugbayes_curves": int(len(est)),
        "reference_curves_in_selection": int(len(m) - len(only_db) - n_ref_outside),
        "joined": int(len(both)),
        "failed_join": int(len(only_db) + len(only_ref) - n_ref_outside),
        "failed_join_reasons": {k: {"count": len(v), "curves": v} for k, v in reasons.items()},
    }
    return both.reset_index(drop=True), info


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy()


def stats(d: pd.DataFrame) -> dict:
    """Agreement statistics of ``pEC50_db`` vs ``pEC50`` (CurveCurator)."""
    n = int(len(d))
    if n == 0:
        return {"n": 0}
    a, b = d["pEC50_db"].to_numpy(float), d["pEC50"].to_numpy(float)
    diff = a - b
    out = {
        "n": n,
        "median_abs_diff": float(np.median(np.abs(diff))),
        "mean_abs_diff": float(np.mean(np.abs(diff))),
        "median_diff_db_minus_cc": float(np.median(diff)),
        "p90_abs_diff": float(np.quantile(np.abs(diff), 0.9)),
        "frac_within_0.3": float(np.mean(np.abs(diff) <= 0.3)),
        "frac_within_0.5": float(np.mean(np.abs(diff) <= 0.5)),
        "frac_within_1.0": float(np.mean(np.abs(diff) <= 1.0)),
    }
    if n >= 3 and np.std(a) > 0 and np.std(b) > 0:
        out["pearson_r"] = float(np.corrcoef(a, b)[0, 1])
        out["spearman_rho"] = float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])
    else:
        out["pearson_r"] = out["spearman_rho"] = None
    if "pEC50_db_lower" in d and d["pEC50_db_lower"].notna().all():
        lo, hi = d["pEC50_db_lower"].to_numpy(float), d["pEC50_db_upper"].to_numpy(float)
        out["frac_cc_inside_db_interval"] = float(np.mean((b >= lo) & (b <= hi)))
    return out


CURVE_SETS = {
    "regulated": lambda d: d["Curve Regulation"].isin(["down", "up"]),
    "not_not": lambda d: d["Curve Regulation"].ne("not"),
    "down": lambda d: d["Curve Regulation"].eq("down"),
    "all_joined": lambda d: pd.Series(True, index=d.index),
}


def compare(both: pd.DataFrame) -> dict:
    """Statistics per curve set, and the same restricted to CurveCurator EC50 in range."""
    out = {}
    for name, f in CURVE_SETS.items():
        sel = both[f(both)]
        out[name] = stats(sel)
        out[name + "_in_range"] = stats(sel[sel["cc_in_range"]])
    return out


# ----------------------------------------------------------------------------- report
def environment() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import jax

    v = {}
    for p in ("drugbayes", "jax", "jaxlib", "numpyro", "numpy", "pandas"):
        try:
            v[p] = version(p)
        except PackageNotFoundError:
            v[p] = None
    git = {}
    try:
        import subprocess

        def _git(*a):
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True,
                                  timeout=10).stdout.strip()

        git = {"commit": _git("rev-parse", "HEAD"),
               "src_uncommitted_changes": bool(_git("status", "--porcelain", "--", "src"))}
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "versions": v, "python": platform.python_version(), "git": git,
        "jax_backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
        "host": platform.node(), "cpu_count": os.cpu_count(),
        "timestamp_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _f(x, nd=3):
    return "n/a" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def markdown(res: dict) -> str:
    env, st = res["environment"], res["stats"]
    git = env.get("git") or {}
    git_txt = (git.get("commit") or "?")[:10] + (
        ", src/ with uncommitted changes" if git.get("src_uncommitted_changes") else "")
    lines = [
        f"# drugbayes vs CurveCurator: sarcoma viability screen ({res['method']})",
        "",
        f"- started: {env['timestamp_utc']}, {env['host']} ({env['cpu_count']} CPUs), "
        f"jax {env['versions']['jax']} ({env['jax_backend']}: {', '.join(env['devices'])}), "
        f"numpyro {env['versions']['numpyro']}, drugbayes {env['versions']['drugbayes']} "
        f"(git {git_txt})",
        f"- command: `{res['command']}`",
        f"- data: `{res['data_dir']}`; reference `{res['reference_file']}`",
        f"- selection: {res['selection']}",
        f"- fitted: {res['fit']['curves']} curves ({res['fit']['cell_lines']} cell lines x "
        f"{res['fit']['drugs']} drugs), {res['fit']['wells']} wells, "
        f"{res['fit']['dropped_wells']} empty wells dropped (missing = \"drop\")",
        f"- inference: `{json.dumps(res['inference'])}`, seed {res['seed']}",
        f"- time: fit + summary {res['timings']['fit_and_summary_s']:.1f} s "
        f"(db.fit {_f(res['timings']['backend'].get('fit_total'), 1)} s, of which the "
        f"inference back-end {_f(res['timings'].get('backend_total_s'), 1)} s), "
        f"whole script {res['timings']['script_total_s']:.1f} s",
        f"- diagnostics passed: {res['fit']['diagnostics_passed']}",
        f"- join on (cell_line, drug): {res['join']['joined']} joined, "
        f"{res['join']['failed_join']} failed",
    ]
    for why, v in res["join"]["failed_join_reasons"].items():
        shown = ", ".join(v["curves"][:6]) + (" ..." if v["count"] > 6 else "")
        lines.append(f"  - {v['count']}: {why} ({shown})")
    lines += [
        "",
        "pEC50 = -log10 EC50 [M]; diff = drugbayes - CurveCurator (log10 units). "
        "`_in_range`: CurveCurator EC50 inside the tested dose range.",
        "",
        "| curve set | n | median abs diff | median diff | p90 abs diff | within 0.5 | "
        "Pearson r | Spearman rho |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in st.items():
        if s.get("n", 0) == 0:
            lines.append(f"| {name} | 0 | | | | | | |")
            continue
        lines.append(
            f"| {name} | {s['n']} | {_f(s['median_abs_diff'])} | "
            f"{_f(s['median_diff_db_minus_cc'])} | {_f(s['p90_abs_diff'])} | "
            f"{_f(s['frac_within_0.5'], 2)} | {_f(s['pearson_r'])} | {_f(s['spearman_rho'])} |")
    lines += ["", "Largest differences (regulated curves):", "",
              "| cell line | drug | regulation | CurveCurator pEC50 | drugbayes pEC50 | diff | "
              "CC slope | CC back | db censored |", "|---|---|---|---|---|---|---|---|---|"]
    for w in res["worst_regulated"]:
        lines.append(f"| {w['cell_line']} | {w['drug']} | {w['regulation']} | "
                     f"{w['pEC50_cc']:.2f} | {w['pEC50_db']:.2f} | {w['diff']:+.2f} | "
                     f"{w['cc_slope']:.2f} | {w['cc_back']:.2f} | {w['db_censored']} |")
    if res.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in res["notes"]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=["map", "svi", "nuts"], default="map")
    p.add_argument("--data-dir", default=DEFAULT_DATA,
                   help="data folder; relative paths are resolved against the repository root "
                        f"(default {DEFAULT_DATA})")
    p.add_argument("--reference", choices=["combined", "aggregated"], default="combined",
                   help="CurveCurator fit mode to compare with (default combined)")
    p.add_argument("--max-curves", type=int, default=None,
                   help="fit a deterministic subset of at most N curves (see --subset-by)")
    p.add_argument("--subset-by", choices=["cell_line", "drug"], default="cell_line",
                   help="whole cell lines in sorted order, or a fixed random subset of drugs")
    p.add_argument("--cell-lines", default=None, help="comma-separated cell lines to keep")
    p.add_argument("--drugs", default=None, help="comma-separated drugs to keep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None,
                   help="map_num_steps (map) or num_steps (svi), overriding the defaults")
    p.add_argument("--num-warmup", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=None)
    p.add_argument("--num-chains", type=int, default=None)
    p.add_argument("--out", default=str(results_dir("validation")),
                   help="output folder (default benchmarks/results/validation)")
    p.add_argument("--tag", default="", help="suffix of the output file names")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    t_script = time.perf_counter()
    args = parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    missing = [f for f in (DATA_FILE, REF_FILE.format(mode=args.reference))
               if not (data_dir / f).is_file()]
    if missing:
        print(f"error: data folder {data_dir} not found or incomplete (missing: "
              f"{', '.join(missing)}).\nThe real data live outside the repository in "
              f"{DEFAULT_DATA} (see ../shared/data/README.md); pass --data-dir.",
              file=sys.stderr)
        return 2
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        logging.getLogger("drugbayes").setLevel(logging.INFO)

    import drugbayes as db

    env = environment()  # versions and git state of the code that runs (taken at the start)
    df = load_viability(data_dir)
    ref = load_reference(data_dir, args.reference)
    sub, selection = select_subset(
        df, args.max_curves, args.subset_by, args.seed,
        args.cell_lines.split(",") if args.cell_lines else None,
        args.drugs.split(",") if args.drugs else None)
    curves = curve_table(sub)
    inference = {}
    if args.steps is not None:
        inference["map_num_steps" if args.method == "map" else "num_steps"] = args.steps
    for k, v in (("num_warmup", args.num_warmup), ("num_samples", args.num_samples),
                 ("num_chains", args.num_chains)):
        if v is not None:
            inference[k] = v
    inf_used = {**INFERENCE_DEFAULTS[args.method], **inference}
    table = (data_dir / DATA_FILE) if len(sub) == len(df) else sub.reset_index(drop=True)
    print(f"fitting {len(curves)} curves ({sub['cell_line'].nunique()} cell lines x "
          f"{sub['drug'].nunique()} drugs, {len(sub)} rows) with {args.method} ...",
          file=sys.stderr)
    try:
        r, est, secs = fit_drugbayes(table, args.method, args.seed, inference)
    except db.DataValidationError as e:
        print(f"drugbayes rejected the data (nothing was dropped silently):\n{e}",
              file=sys.stderr)
        return 3
    both, jinfo = join(est, ref, curves)
    st = compare(both)
    reg = both[CURVE_SETS["regulated"](both)].sort_values("abs_diff", ascending=False)
    worst = [{"cell_line": w["cell_line"], "drug": w["drug"],
              "regulation": w["Curve Regulation"], "pEC50_cc": float(w["pEC50"]),
              "pEC50_db": float(w["pEC50_db"]), "diff": float(w["diff"]),
              "cc_slope": float(w["Curve Slope"]), "cc_back": float(w["Curve Back"]),
              "db_censored": w["db_censored"] or "-"}
             for _, w in reg.head(15).iterrows()]
    diag = r.diagnostics
    timings = {"fit_and_summary_s": secs, "backend": diag.get("timings", {}),
               "backend_total_s": diag.get("timings", {}).get("total"),
               "script_total_s": time.perf_counter() - t_script}
    notes = []
    n_up = int(both["Curve Regulation"].eq("up").sum())
    if n_up:
        notes.append(f"{n_up} regulated curve(s) rise with dose ('up'); drugbayes's curve "
                     "family only falls (Hill > 0, bottom <= top), so their pEC50 cannot agree; "
                     "they are in 'regulated'/'not_not' but not in 'down'.")
    if args.method == "nuts" and "num_steps" in r.inference.sample_stats:
        steps = np.asarray(r.inference.sample_stats["num_steps"])
        max_steps = 2 ** int(inf_used.get("max_tree_depth", 8)) - 1
        frac = float(np.mean(steps >= max_steps))
        timings["nuts_mean_leapfrog_steps_per_draw"] = float(steps.mean())
        timings["nuts_frac_draws_at_max_tree_depth"] = frac
        if frac > 0.1:
            notes.append(f"NUTS: {frac:.0%} of the draws hit the maximum tree depth "
                         f"({max_steps} leapfrog steps; mean {steps.mean():.0f} per draw).")
    if diag.get("passed") is False and args.method == "nuts":
        notes.append("NUTS diagnostics failed their thresholds: " + ", ".join(
            f"{k}={v['value']}" for k, v in diag.get("checks", {}).items() if not v["passed"]))
    res = {
        "benchmark": "curvecurator_sarcoma",
        "method": args.method,
        "command": command("benchmarks.validation.validate_curvecurator_sarcoma",
                           sys.argv[1:] if argv is None else argv),
        "environment": env,
        "data_dir": str(data_dir),
        "reference_file": REF_FILE.format(mode=args.reference),
        "selection": selection,
        "seed": args.seed,
        "inference": inf_used,
        "inference_resolved": _resolved_inference(inf_used),
        "fit": {"curves": int(r.data.n_groups), "cell_lines": len(r.data.cell_lines),
                "drugs": len(r.data.drugs), "wells": int(r.data.n_wells),
                "dropped_wells": len(r.dropped),
                "diagnostics_passed": diag.get("passed"),
                "diagnostics_checks": diag.get("checks"),
                "diagnostics_n_parameters": diag.get("n_parameters"),
                "diagnostics_worst_parameters": diag.get("offending", [])[:10],
                "backend_info": {k: v for k, v in r.inference.info.items() if k != "params"}},
        "join": jinfo,
        "regulation_counts_joined": both["Curve Regulation"].replace("", "(empty)")
        .value_counts().to_dict(),
        "stats": st,
        "timings": timings,
        "worst_regulated": worst,
        "notes": notes,
    }
    cols = {"cell_line": "cell_line", "drug": "drug", "Curve Regulation": "regulation",
            "pEC50": "pEC50_cc", "pEC50_db": "pEC50_db", "pEC50_db_lower": "pEC50_db_lower",
            "pEC50_db_upper": "pEC50_db_upper", "cc_in_range": "cc_in_range",
            "db_censored": "db_censored"}
    per_curve = both[list(cols)].rename(columns=cols).round(3)
    per_curve = per_curve.dropna(axis=1, how="all")  # no interval for map
    res["curves"] = {"columns": list(per_curve.columns),
                     "rows": per_curve.astype(object).values.tolist()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"curvecurator_sarcoma_{args.method}" + (f"_{args.tag}" if args.tag else "")
    # one line per section; the per-curve table (columns + rows) compact on its own line
    head = json.dumps(_clean({k: v for k, v in res.items() if k != "curves"}), indent=1,
                      default=_json_default, allow_nan=False)
    curves_txt = json.dumps(_clean(res["curves"]), separators=(",", ":"),
                            default=_json_default, allow_nan=False)
    (out / f"{stem}.json").write_text(head[:-2] + ',\n "curves": ' + curves_txt + "\n}\n")
    md = markdown(res)
    (out / f"{stem}.md").write_text(md)
    print(md)
    print(f"wrote {out / (stem + '.json')} and .md", file=sys.stderr)
    return 0


def _resolved_inference(inf: dict) -> dict | None:
    """Every inference setting in effect (drugbayes defaults filled in)."""
    try:
        from drugbayes.config import InferenceConfig

        return InferenceConfig.model_validate(inf).model_dump()
    except Exception:  # noqa: BLE001 - provenance only
        return None


def _clean(o):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def _json_default(o):
    if isinstance(o, np.generic):
        v = o.item()
        return None if isinstance(v, float) and not np.isfinite(v) else v
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
