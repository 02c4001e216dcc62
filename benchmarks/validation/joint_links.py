"""The joint model's two in-vitro -> in-vivo links compared by PSIS-LOO on the HER2 example.

Fits ``configs/examples/her2_joint.toml`` (the HER2 reference study) with ``link =
"viability"`` (``rmax * (1 - v(C))``) and ``link = "log_ic50_linear"`` (NUTS, the same seed and
budget) and compares the expected log predictive density of the xenograft mice (PSIS-LOO over
mice: the links differ only in what they say about the xenografts) with
:func:`arviz_stats.compare`.

Writes ``benchmarks/results/validation/joint_links.{json,md}``.

Usage: ``python -m benchmarks.validation.joint_links [--warmup 500] [--samples 500]
[--chains 4]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from arviz_stats import compare

from benchmarks._common import command, environment, log, results_dir, write_result
from drugbayes.api import check_config, fit
from drugbayes.config import load_config

OUT = results_dir("validation")
EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "examples" / "her2_joint.toml"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--chains", type=int, default=4)
    args = p.parse_args(argv)
    fits, rows = {}, []
    for link in ("viability", "log_ic50_linear"):
        cfg = load_config(EXAMPLE, [f"model.options.link={link}",
                                    f"inference.num_warmup={args.warmup}",
                                    f"inference.num_samples={args.samples}",
                                    f"inference.num_chains={args.chains}"])
        spec, vt, data = check_config(cfg)
        log(f"fitting link = {link}")
        t0 = time.perf_counter()
        r = fit(None, cfg.data.kind, model=cfg.model, inference=cfg.inference,
                seed=cfg.run.seed, prepared=(vt, data), diagnostics=cfg.diagnostics)
        fits[link] = r.loo()
        rows.append({"link": link, "elpd_loo": float(fits[link].elpd),
                     "se": float(fits[link].se), "seconds": time.perf_counter() - t0,
                     "diagnostics_passed": bool(r.diagnostics["passed"])})
    cmp = compare(fits)
    table = cmp.reset_index().rename(columns={"index": "link"})
    result = {"environment": environment(),
              "command": command("benchmarks.validation.joint_links", argv or []),
              "fits": rows, "compare": table.to_dict(orient="records")}
    md = ["# Joint model: the two links by PSIS-LOO (HER2 example, xenograft mice)", "",
          "| link | elpd_loo | se | diagnostics passed | seconds |", "|---|---|---|---|---|"]
    md += [f"| {r['link']} | {r['elpd_loo']:.1f} | {r['se']:.1f} | {r['diagnostics_passed']} "
           f"| {r['seconds']:.0f} |" for r in rows]
    md += ["", "arviz_stats.compare:", "", table.to_markdown(index=False), "",
           f"Command: `{result['command']}`"]
    write_result(OUT / "joint_links", result, md, default=str)
    log("\n".join(md))


if __name__ == "__main__":
    main()
