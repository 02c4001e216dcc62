"""Simulation-based calibration (SBC) of every family and preset on the back-ends with draws.

For each family x preset x back-end: one small design (a simulated table: dose-response 2 cell
lines x 2 drugs, 9 doses, one replicate; xenograft one cell line, 4 arms x 2 mice, 4 caliper
days as volumes; combination 2 cell lines, one 4 x 4 checkerboard each), whose observed values
are replaced by draws of the family's own prior predictive (``numpyro.infer.Predictive`` on
the family's ``model``, unobserved); every replication fits that data with the back-end's own
``run`` (as ``drugbayes.fit`` calls it, MAP start included) and ranks each prior draw among
``L = 99`` thinned posterior draws (Talts et al. 2018). ``nuts_vmap`` and ``svi_vmap`` run the
same NUTS kernel or SVI fit on the family's model ``jax.vmap``-ed over batches of replications
(one compiled program instead of one per data set; ``drugbayes.testing.sbc_nuts_vmapped`` and
``sbc_svi_vmapped`` say where they differ from the back-ends: no MAP start; ``svi_vmap`` is
refused for a family whose ``svi`` starts from the MAP, the xenograft). Per scalar parameter
(drug means, scales, per-unit values; not the sampler's non-centred coordinates) a chi-square
test of the ranks against uniformity (bins with >= 10 replications each), its p-value and a KS
statistic,
the central 90% coverage read from the ranks and ``z_sd`` (the sd over replications of
(truth - posterior mean) / posterior sd: 1 calibrated, 2 intervals half as wide as they should
be). A parameter is "outside the 99% band" when its chi-square p < 0.01; with P parameters,
about 0.01 P of them are expected there by chance, so the report also gives the Bonferroni
view (p < 0.01 / P).

Each replication is appended to ``benchmarks/results/validation/sbc/<family>__<preset>__<method>
.jsonl`` as it finishes (a rerun continues where it stopped, ``--fresh`` starts over); the
summary (``sbc.json``, ``sbc.md``) and one PNG of rank histograms per run (ranks pooled over a
site's components, with the pointwise 99% band of a bin's count) are written from every
``.jsonl`` present (``--report`` only rewrites them).

Usage::

    python -m benchmarks.validation.sbc --families dose_response --presets hier_4pl \\
        --methods nuts --reps 200
    python -m benchmarks.validation.sbc --families dose_response --methods svi_vmap --reps 200
    python -m benchmarks.validation.sbc --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import command, environment, log, results_dir, write_result

OUT = results_dir("validation") / "sbc"
VMAP_BATCH = 20
"""Replications per compiled batch of ``nuts_vmap``."""
N_DRAWS = 99
"""Posterior draws each prior draw is ranked among (L): ranks 0..99, 100 values."""
FAMILIES = ("dose_response", "xenograft", "combination")
DEFAULT_PRESETS = {"dose_response": "hier_4pl", "xenograft": "exponential",
                   "combination": "musyc_student_t"}
SETTINGS: dict[str, dict[str, Any]] = {
    # 2 chains x 400 draws (800, thinned to 99 ranked draws) with the back-end's sampler
    # defaults otherwise (target accept 0.95, tree depth 8, MAP start)
    "nuts": {"num_chains": 2, "num_warmup": 400, "num_samples": 400},
    # NumPyro's NUTS kernel vmapped over replications (one compiled program; one chain each,
    # started at the prior medians): drugbayes.testing.sbc_nuts_vmapped
    "nuts_vmap": {"num_warmup": 300, "num_samples": 300},
    "screen": {"num_chains": 4, "num_warmup": 300, "num_samples": 250},
    # the back-end's defaults (4,000 steps, normal guide), 400 independent draws
    "svi": {"num_chains": 1, "num_samples": 400},
    # the svi back-end's default fit (the same guide, start, schedule and draws, without a MAP
    # start) vmapped over replications: drugbayes.testing.sbc_svi_vmapped
    "svi_vmap": {"num_steps": 4000, "learning_rate": 0.01, "num_samples": 400},
}
VMAPPED = {"nuts_vmap": "sbc_nuts_vmapped", "svi_vmap": "sbc_svi_vmapped"}
"""Runs of many replications per compiled program: the ``drugbayes.testing`` function."""


def presets(family: str) -> list[str]:
    """The presets of a family (``models/<family>/*.toml``)."""
    from drugbayes.config.presets import list_presets

    return sorted(n.split("/", 1)[1] for n in list_presets() if n.startswith(family + "/"))


def design(family: str, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    """The small simulated table of a family and its ``[data]`` options (the design only: its
    observed values are replaced by prior-predictive draws)."""
    import drugbayes as db
    from drugbayes.simulate import simulate_combination, simulate_xenograft

    if family == "dose_response":
        wells, _ = db.simulate_dose_response(2, 2, n_replicates=1, seed=seed)
        return wells, {"response_scale": "fraction"}
    if family == "xenograft":
        table, _ = simulate_xenograft(2, cell_lines=("BT-474R",), n_experiments=1,
                                      days=(0, 7, 14, 21), calipers=False, seed=seed)
        return table, {"control_arm": "vehicle"}
    if family == "combination":
        wells, _ = simulate_combination(2, n_doses=4, n_replicates=1, n_experiments=1, seed=seed)
        return wells, {"response_scale": "fraction"}
    raise ValueError(f"no SBC design for family {family!r}")


def problem(family: str, preset: str) -> Any:
    """The :class:`~drugbayes.testing.SBCProblem` of a family and preset."""
    from drugbayes.testing import SBCProblem

    table, options = design(family)
    p = SBCProblem(family, table, f"{family}/{preset}", **options)
    cens = p.arrays.get("censored")
    if cens is not None and np.asarray(cens).any():
        raise ValueError("the xenograft SBC design must have no censored volume")
    return p


def stem(family: str, preset: str, method: str, tag: str = "") -> str:
    """A run's file name: ``<family>__<preset>__<method>`` plus ``_<tag>`` for a run with
    settings other than :data:`SETTINGS` (``--warmup``, ``--tree-depth``...)."""
    return f"{family}__{preset}__{method}" + (f"_{tag}" if tag else "")


def run_one(family: str, preset: str, method: str, reps: int, seed: int, fresh: bool,
            deadline: float | None, overrides: dict[str, Any] | None = None,
            tag: str = "") -> Path:
    """Replications ``0..reps - 1`` of one family x preset x back-end (those already in its
    ``.jsonl`` are kept unless ``fresh``); ``overrides`` replace entries of the method's
    :data:`SETTINGS` (a run with overrides needs a ``tag``, so that its file is not the
    default run's)."""
    from drugbayes import testing
    from drugbayes.testing import sbc_replication

    if overrides and not tag:
        raise ValueError("a run with settings other than SETTINGS needs a tag")
    settings = {**SETTINGS[method], **(overrides or {})}
    name = stem(family, preset, method, tag)
    path = OUT / f"{name}.jsonl"
    OUT.mkdir(parents=True, exist_ok=True)
    if fresh and path.exists():
        path.unlink()
    done = set()
    if path.exists():
        done = {rec["rep"] for rec in _records(path)}
    p = problem(family, preset)
    if method == "svi_vmap" and p.family.map_start:
        raise ValueError(f"svi_vmap starts at 0, but the svi back-end starts {family} from "
                         "the MAP: run svi")
    if method not in VMAPPED:  # a model the back-end refuses: before any file is written
        from drugbayes.inference.registry import get_backend

        get_backend(method).check_supports(p.spec, lambda: p.arrays)
    # every replication's truth from one prior-predictive call of a fixed size, so a rerun
    # with more replications extends the same sequence
    n_prior = max(reps, 1000)
    prior = p.prior(n_prior, seed)
    log(f"{name}: {len(done)} done, to {reps}")
    with path.open("a") as f:
        def write(rec: dict) -> None:
            """One replication's line, with its run and the shapes of its parameters."""
            rec.update(family=family, preset=preset, method=method, seed=seed,
                       settings=settings,
                       shapes={k: list(np.shape(v)[1:]) for k, v in prior.items()
                               if k in rec["rank"]})
            f.write(json.dumps(rec) + "\n")

        if method in VMAPPED:
            vmapped = getattr(testing, VMAPPED[method])
            todo = [r for r in range(reps) if r not in done]
            for start in range(0, len(todo), VMAP_BATCH):
                if deadline is not None and time.time() > deadline:
                    log(f"{name}: deadline reached")
                    break
                # the batch's PRNG seed from its first replication, so a continued run's
                # batches draw new streams (the batch position restarts at 0 in every run)
                recs = vmapped(p, prior, todo[start:start + VMAP_BATCH], N_DRAWS,
                               seed=seed * 1000 + todo[start], batch=VMAP_BATCH,
                               **settings)
                for rec in recs:
                    write(rec)
                f.flush()
                log(f"{name}: {start + len(recs)} of {len(todo)}, "
                    f"{recs[0]['seconds']:.1f} s per replication")
            return path
        for r in range(reps):
            if r in done:
                continue
            if deadline is not None and time.time() > deadline:
                log(f"{name}: deadline reached at {r} replications")
                break
            rec = sbc_replication(p, prior, r, method, settings, N_DRAWS,
                                  seed=seed * 100_000 + r)
            write(rec)
            f.flush()
            log(f"{name} rep {r}: {rec['seconds']:.1f} s"
                + (f", {rec['divergences']} divergences" if rec["divergences"] else ""))
    return path


# ----------------------------------------------------------------------------- report
def _records(path: Path) -> list[dict]:
    """The replications of a ``.jsonl`` (a last line still being written is skipped)."""
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def read_runs() -> dict[str, list[dict]]:
    """Every run's replications, by run stem."""
    runs = {}
    for path in sorted(OUT.glob("*.jsonl")):
        reps = _records(path)
        if reps:
            runs[path.stem] = sorted(reps, key=lambda r: r["rep"])
    return runs


def plot(name: str, reps: list[dict]) -> Path:
    """Rank histograms per site (components pooled), with the pointwise 99% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    from drugbayes.testing import rank_bins

    sites = list(reps[0]["rank"])
    n_ranks = reps[0]["n_draws"] + 1
    ncol = min(5, len(sites))
    nrow = -(-len(sites) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
    for ax, site in zip(axes.ravel(), sites, strict=False):
        ranks = np.concatenate([np.asarray(r["rank"][site]) for r in reps])
        truth = np.array([r["truth"][site] for r in reps])
        keep = np.ptp(truth, axis=0) > 0
        ranks = np.array([r["rank"][site] for r in reps])[:, keep].ravel()
        if ranks.size == 0:
            ax.set_title(f"{site} (fixed)", fontsize=8)
            continue
        b = rank_bins(n_ranks, len(ranks))
        counts = np.bincount(ranks * b // n_ranks, minlength=b)
        lo, hi = stats.binom.ppf([0.005, 0.995], len(ranks), 1 / b)
        ax.axhspan(lo, hi, color="0.85")
        ax.axhline(len(ranks) / b, color="0.5", lw=0.8)
        ax.bar(np.arange(b), counts, width=1.0, color="C0", edgecolor="white")
        ax.set_title(f"{site} ({int(keep.sum())} x {len(reps)})", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(sites):]:
        ax.axis("off")
    fig.suptitle(f"SBC ranks: {name.replace('__', ' / ')} ({len(reps)} replications, "
                 f"L = {n_ranks - 1}; grey: pointwise 99% band)", fontsize=9)
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def report(argv: list[str]) -> None:
    """``sbc.json`` and ``sbc.md`` from every run's ``.jsonl``, one PNG per run."""
    from drugbayes.testing import sbc_summary

    runs = read_runs()
    record: dict[str, Any] = {"command": command("benchmarks.validation.sbc", argv),
                              "environment": environment(), "n_draws": N_DRAWS,
                              "settings": SETTINGS, "runs": {}}
    md = ["# Simulation-based calibration", "",
          "Ranks of prior draws among L = 99 thinned posterior draws, the fit's data drawn "
          "from the model's own prior predictive on a small fixed design (see the docstring "
          "of `benchmarks/validation/sbc.py`). Per scalar parameter a chi-square test of the "
          "ranks against uniformity; *outside 99%*: p < 0.01 (about 1% of calibrated "
          "parameters land there by chance: *expected* column); *Bonferroni*: p < 0.01 / P. "
          "`z_sd`: sd of (truth - posterior mean) / posterior sd (1 calibrated; > 1 "
          "overconfident by that factor), `z_mad` the same from the median |z| (robust to a "
          "few stuck fits); with fewer than 20 replications the chi-square has 2-4 bins and "
          "little power; coverage: fraction of truths inside the central "
          "90% of the ranked draws.", "",
          f"Command: `{record['command']}`", "",
          "| family / preset / back-end | reps | s / rep | divergences (reps with any) "
          "| divergences per rep (median / max) | P "
          "| outside 99% (expected) | Bonferroni | median z_sd | median z_mad "
          "| median coverage90 |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    details = []
    for name, reps in runs.items():
        shapes = reps[0].get("shapes", {})
        s = sbc_summary(reps, {k: tuple(v) for k, v in shapes.items()})
        if len(reps) < 5 or s.empty:
            md.append(f"| {name.replace('__', ' / ')} | {len(reps)} | - | - | - | - | too "
                      "few replications | - | - | - | - |")
            continue
        P = len(s)
        bad = s[s["p"] < 0.01].sort_values("p")
        bonf = s[s["p"] < 0.01 / max(P, 1)]
        div = [r["divergences"] for r in reps if r["divergences"] is not None]
        png = plot(name, reps)
        secs = float(np.mean([r["seconds"] for r in reps]))
        record["runs"][name] = {
            "reps": len(reps), "seconds_per_rep": secs,
            "divergent_reps": int(sum(d > 0 for d in div)) if div else None,
            "divergences_per_rep": div or None, "settings": reps[0].get("settings"),
            "png": png.name, "parameters": s.to_dict("records")}
        md.append(f"| {name.replace('__', ' / ')} | {len(reps)} | {secs:.1f} | "
                  + (f"{sum(div)} ({sum(d > 0 for d in div)})" if div else "-")
                  + (f" | {np.median(div):.0f} / {max(div)}" if div else " | -")
                  + f" | {P} | {len(bad)} ({0.01 * P:.1f}) | {len(bonf)} | "
                  f"{s['z_sd'].median():.2f} | {s['z_mad'].median():.2f} | "
                  f"{s['coverage90'].median():.2f} |")
        own = reps[0].get("settings")
        if len(bad) or (own and own != SETTINGS.get(reps[0].get("method", ""))):
            details.append(f"### {name.replace('__', ' / ')}: "
                           + ("outside the 99% band" if len(bad) else "none outside the 99% band"))
            details.append("")
            if own:
                details.append(f"Settings: `{json.dumps(own)}`.")
                details.append("")
        if len(bad):
            details.append("| parameter | chi2 | p | KS p | z_sd | z_mad | coverage90 |")
            details.append("|---|---|---|---|---|---|---|")
            details += [f"| {x.parameter} | {x.chi2:.1f} | {x.p:.2g} | {x.ks_p:.2g} | "
                        f"{x.z_sd:.2f} | {x.z_mad:.2f} | {x.coverage90:.2f} |"
                        for x in bad.itertuples()]
            details.append("")
    md += ["", *details, *_compare_tagged(runs),
           "Histograms: `<family>__<preset>__<back-end>.png` in this folder."]
    write_result(OUT / "sbc", record, md)
    log(f"wrote {OUT / 'sbc.md'}")


def _compare_tagged(runs: dict[str, list[dict]]) -> list[str]:
    """Markdown comparing each tagged run (other settings) with its method's default run on
    the same replications (the same prior draws: a replication's truth depends only on its
    index and the seed): divergences and the parameters outside the 99% band in either."""
    from drugbayes.testing import sbc_summary

    out: list[str] = []
    for name, reps in runs.items():
        r0 = reps[0]
        base = stem(r0["family"], r0["preset"], r0["method"])
        if name == base or base not in runs:
            continue
        ids = {r["rep"] for r in reps}
        old = [r for r in runs[base] if r["rep"] in ids]
        if len(old) < len(reps) or any(r.get("seed") != r0.get("seed") for r in old):
            continue
        shapes = {k: tuple(v) for k, v in r0.get("shapes", {}).items()}
        s_new, s_old = sbc_summary(reps, shapes), sbc_summary(old, shapes)
        both = s_old[["parameter", "p", "z_sd", "z_mad", "coverage90"]].merge(
            s_new[["parameter", "p", "z_sd", "z_mad", "coverage90"]], on="parameter",
            suffixes=("_old", "_new"))
        P = len(both)
        show = both[(both["p_old"] < 0.01) | (both["p_new"] < 0.01)].sort_values("p_old")
        d_old = [r["divergences"] or 0 for r in old]
        d_new = [r["divergences"] or 0 for r in reps]
        out += [f"### {name.replace('__', ' / ')} against {base.replace('__', ' / ')} "
                f"(the same {len(reps)} replications)", "",
                f"Settings: `{json.dumps(r0.get('settings'))}` against "
                f"`{json.dumps(runs[base][0].get('settings', SETTINGS.get(r0['method'])))}`. "
                f"Divergent transitions: {sum(d_old)} in {sum(d > 0 for d in d_old)} "
                f"replications (median {np.median(d_old):.0f}, max {max(d_old)} per "
                f"replication) -> {sum(d_new)} in {sum(d > 0 for d in d_new)} (median "
                f"{np.median(d_new):.0f}, max {max(d_new)}). Outside 99%: "
                f"{int((both['p_old'] < 0.01).sum())} -> {int((both['p_new'] < 0.01).sum())}; "
                f"Bonferroni (p < {0.01 / P:.2g}): {int((both['p_old'] < 0.01 / P).sum())} -> "
                f"{int((both['p_new'] < 0.01 / P).sum())}; median z_sd "
                f"{both['z_sd_old'].median():.2f} -> {both['z_sd_new'].median():.2f}.", ""]
        if len(show):
            out += ["| parameter | p (default) | p (this) | z_sd | z_sd (this) | z_mad "
                    "| z_mad (this) | coverage90 | coverage90 (this) |",
                    "|---|---|---|---|---|---|---|---|---|"]
            out += [f"| {x.parameter} | {x.p_old:.2g} | {x.p_new:.2g} | {x.z_sd_old:.2f} | "
                    f"{x.z_sd_new:.2f} | {x.z_mad_old:.2f} | {x.z_mad_new:.2f} | "
                    f"{x.coverage90_old:.2f} | {x.coverage90_new:.2f} |"
                    for x in show.itertuples()]
            out.append("")
    return out


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--presets", default="default",
                    help="comma-separated preset names, 'default' or 'all'")
    ap.add_argument("--methods", default="nuts")
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--fresh", action="store_true", help="drop the runs' earlier replications")
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop starting replications after this many minutes")
    ap.add_argument("--report", action="store_true", help="only rewrite the summary")
    ap.add_argument("--warmup", type=int, default=None,
                    help="NUTS warmup steps instead of the method's SETTINGS (nuts, nuts_vmap)")
    ap.add_argument("--target-accept", type=float, default=None,
                    help="NUTS target acceptance probability (nuts_vmap; default 0.95)")
    ap.add_argument("--tree-depth", type=int, default=None,
                    help="NUTS maximum tree depth (nuts_vmap; default 8)")
    ap.add_argument("--tag", default=None,
                    help="suffix of the run's files for non-default settings (default: from "
                         "the settings, e.g. w1000_ta0.99)")
    args = ap.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.warmup is not None:
        overrides["num_warmup"] = args.warmup
    if args.target_accept is not None:
        overrides["target_accept_prob"] = args.target_accept
    if args.tree_depth is not None:
        overrides["max_tree_depth"] = args.tree_depth
    tag = args.tag if args.tag is not None else "_".join(
        f"{short}{overrides[k]}" for k, short in (("num_warmup", "w"),
                                                  ("target_accept_prob", "ta"),
                                                  ("max_tree_depth", "td")) if k in overrides)
    if not args.report:
        deadline = time.time() + 60 * args.minutes if args.minutes else None
        for fam in args.families.split(","):
            names = ([DEFAULT_PRESETS[fam]] if args.presets == "default"
                     else presets(fam) if args.presets == "all" else args.presets.split(","))
            for preset in names:
                for method in args.methods.split(","):
                    run_one(fam, preset, method, args.reps, args.seed, args.fresh, deadline,
                            overrides, tag)
    report(argv)


if __name__ == "__main__":
    main()
