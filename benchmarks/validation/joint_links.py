"""The joint model's two in-vitro -> in-vivo links compared by PSIS-LOO on the HER2 example.

Fits ``configs/examples/her2_joint.toml`` (the HER2 reference study) with ``link =
"viability"`` (``rmax * (1 - v(C))``) and ``link = "log_ic50_linear"`` (NUTS, the same seed and
budget) and compares the expected log predictive density of the xenograft mice (PSIS-LOO over
mice: the links differ only in what they say about the xenograft arms) with
:func:`arviz_stats.compare`, twice:

- ``conditional``: the fit's own per-mouse log-likelihood (``log_lik_mouse``: each mouse's
  volumes given its own baseline and rate). Leaving a mouse out moves its own two effects far
  from where its data put them, so PSIS fails for most mice (Pareto k > 0.7) and this
  comparison is reported only with that count;
- ``marginal``: each mouse's log volumes with its own effects integrated out
  (:func:`marginal_mouse_loglik`: given a draw's arm-group baseline and growth rate, mouse
  SDs, their correlation and the noise, a mouse's log volumes are jointly normal). The left-out
  mouse's predictive density is then a function of the arm-level quantities the links
  determine, and PSIS is reliable far more often (the Pareto k counts are reported).

Writes ``benchmarks/results/validation/joint_links.{json,md}``.

Usage: ``python -m benchmarks.validation.joint_links [--warmup 500] [--samples 500]
[--chains 4]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from arviz_stats import compare, loo

from benchmarks._common import command, environment, log, results_dir, write_result
from drugbayes.api import check_config, fit
from drugbayes.config import load_config
from drugbayes.results import loo_reliability

OUT = results_dir("validation")
EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "examples" / "her2_joint.toml"


def marginal_mouse_loglik(r) -> np.ndarray:
    """Per-draw log density of each xenograft mouse's log volumes with its own baseline and
    rate deviations integrated out, ``[chain, draw, mouse]``.

    Given a draw, mouse ``i`` of arm group ``g`` has ``log V(t) = b_i + r_i t + e``,
    ``(b_i, r_i) ~ N((b_g, r_g), Sigma)`` (``Sigma`` from ``sd_mouse_baseline``,
    ``sd_mouse_rate``, ``corr_mouse``), ``e ~ N(0, sigma^2)``: its measurements are normal
    with mean ``b_g + r_g t`` and covariance ``[1 t] Sigma [1 t]' + sigma^2 I``. Exact for the
    joint model's xenograft block (exponential growth on log volume, one experiment, no
    calipers); a mouse with a censored measurement is refused.
    """
    smp = r.inference.samples
    xd = r.data.blocks["xenograft"]
    if np.asarray(xd.censored)[np.asarray(xd.mask)].any():
        raise ValueError("censored volumes: the marginal density here is for measured ones")
    if len(xd.experiments) > 1 or xd.has_calipers:
        raise ValueError("one experiment and volumes only")
    base = np.asarray(smp["xenograft.grp_baseline"], np.float64)
    rate = np.asarray(smp["xenograft.grp_rate"], np.float64)  # per day
    sd_b = np.asarray(smp["xenograft.sd_mouse_baseline"], np.float64)[..., None, None]
    sd_r = np.asarray(smp["xenograft.sd_mouse_rate"], np.float64)[..., None, None]
    rho = np.asarray(smp["xenograft.corr_mouse"], np.float64)[..., None, None]
    sig = np.asarray(smp["xenograft.sigma"], np.float64)[..., None, None]
    out = np.zeros(base.shape[:2] + (len(xd.mice),))
    for i in range(len(xd.mice)):
        m = np.asarray(xd.mask[i], bool)
        t = np.asarray(xd.t[i], np.float64)[m]
        y = np.log(np.asarray(xd.volume[i], np.float64)[m])
        g = int(xd.mouse_group[i])
        one = np.ones_like(t)
        cov = (sd_b ** 2 * np.outer(one, one) + sd_r ** 2 * np.outer(t, t)
               + rho * sd_b * sd_r * (np.outer(one, t) + np.outer(t, one))
               + sig ** 2 * np.eye(len(t)))
        mean = base[..., g, None] + rate[..., g, None] * t
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (y - mean)[..., None])[..., 0]
        out[..., i] = (-0.5 * (z ** 2).sum(-1)
                       - np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
                       - 0.5 * len(t) * np.log(2 * np.pi))
    return out


def _loo_of(ll: np.ndarray, mice: list[str]):
    from arviz_base import from_dict

    dt = from_dict({"posterior": {"dummy": np.zeros(ll.shape[:2])},
                    "log_likelihood": {"log_lik_mouse": ll}},
                   dims={"log_lik_mouse": ["mouse"]}, coords={"mouse": mice})
    return loo(dt, pointwise=True)


def _cell(x) -> str:
    return f"{x:.2f}" if isinstance(x, float) else str(x)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--chains", type=int, default=4)
    args = p.parse_args(argv)
    fits: dict[str, dict] = {"conditional": {}, "marginal": {}}
    rows = []
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
        secs = time.perf_counter() - t0
        fits["conditional"][link] = r.loo()
        fits["marginal"][link] = _loo_of(marginal_mouse_loglik(r),
                                         list(r.data.blocks["xenograft"].mice))
        row = {"link": link, "seconds": secs,
               "diagnostics_passed": bool(r.diagnostics["passed"]),
               "failed_checks": [c for c, v in r.diagnostics["checks"].items()
                                 if not v["passed"]]}
        for kind, f in fits.items():
            rel = loo_reliability(f[link])
            row[kind] = {"elpd_loo": float(f[link].elpd), "se": float(f[link].se),
                         "n_high_pareto_k": rel["n_high_pareto_k"], "n_units": rel["n_units"],
                         "unreliable": rel["unreliable"]}
        rows.append(row)
    tables = {kind: compare(f).reset_index().rename(columns={"index": "link"})
              for kind, f in fits.items()}
    result = {"environment": environment(),
              "command": command("benchmarks.validation.joint_links",
                                 sys.argv[1:] if argv is None else argv),
              "inference": {"num_warmup": args.warmup, "num_samples": args.samples,
                            "num_chains": args.chains},
              "fits": rows, "compare": {k: t.to_dict(orient="records")
                                        for k, t in tables.items()}}
    md = ["# Joint model: the two links by PSIS-LOO over mice (HER2 example)", "",
          f"NUTS, {args.chains} chains x {args.samples} draws ({args.warmup} warmup), seed of "
          "the example. `conditional`: each mouse's log-likelihood given its own effects (the "
          "fit's `log_lik_mouse`); `marginal`: its own effects integrated out (see the "
          "script).", "",
          "| link | LOO | elpd_loo | se | Pareto k > 0.7 | diagnostics passed | seconds |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        for kind in fits:
            x = r[kind]
            md.append(f"| {r['link']} | {kind} | {x['elpd_loo']:.1f} | {x['se']:.1f} | "
                      f"{x['n_high_pareto_k']} / {x['n_units']} | {r['diagnostics_passed']} | "
                      f"{r['seconds']:.0f} |")
    for kind, t in tables.items():
        cols = [c for c in ("link", "rank", "elpd", "se", "elpd_diff", "dse", "p_worse",
                            "weight") if c in t.columns]
        md += ["", f"arviz_stats.compare ({kind}):", "", "| " + " | ".join(cols) + " |",
               "|" + "---|" * len(cols)]
        md += ["| " + " | ".join(_cell(row[c]) for c in cols) + " |"
               for _, row in t.iterrows()]
    md += ["", f"Command: `{result['command']}`"]
    write_result(OUT / "joint_links", result, md, default=str)
    log("\n".join(md))


if __name__ == "__main__":
    main()
