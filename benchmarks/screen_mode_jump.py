"""The screen back-end's mode jump: what it buys and what it costs, on 2 CPU cores.

1. **Ridge escape.** Cell line 23 x drug 270 of ``simulate_screen(1000, 300, seed=0)`` (the
   300,000-curve benchmark screen) has barely begun to respond at the top dose, so its
   posterior has a thin tail along a flat ridge (bottom near the top, IC50 then free). 512
   chains of the curve alone (globals fixed at the truth) start on the ridge; reported: the
   fraction still outside the posterior's central 99% after 10-2,000 sweeps, and the
   autocorrelation of log10 IC50 at lags 1, 5 and 20 once stationary, with the curve HMC
   alone and with the jump after each HMC step.
2. **Whole sampler.** ``simulate_screen(1000, 20, seed=0)`` (20,000 curves), 8 chains x (120
   warmup + 120 draws), with and without the jump: seconds and the 1% quantile, minimum and
   median of the curves' log10 IC50 bulk ESS.

Writes ``benchmarks/results/screen_mode_jump.{json,md}``.

Usage: ``python benchmarks/screen_mode_jump.py``
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from drugbayes.api import _spec
from drugbayes.families.dose_response.blocks import Globals, GridData
from drugbayes.families.dose_response.grid import top_doses
from drugbayes.inference import screen as sc
from drugbayes.inference.blocked.adaptation import coords_precision, unit_precision
from drugbayes.inference.blocked.driver import unit_modes, unit_step
from drugbayes.inference.blocked.kernels import da_init, metric_from_precision
from drugbayes.inference.blocked.mode_jump import JumpProposal, mode_jump
from drugbayes.inference.blocked.plan import Adaptation, ChainState

OUT = Path(__file__).resolve().parent / "results"
CURVE = (23, 270)
RIDGE_START = (1.3, 0.0, 2.9, 0.0)
CHECK_SWEEPS = (10, 30, 100, 300, 1000, 2000)


def one_curve_problem(grid: sc.ScreenGrid, truth: dict, curve: tuple[int, int],
                      n: int) -> tuple[GridData, sc.ScreenModel, Globals]:
    """``n`` copies of one curve of a simulated screen as a ``[n, 1, P]`` grid, with its
    globals fixed at the simulation's truth (the cell-line effect folded into the drug mean):
    the data, the plan and the globals for the curve kernels."""
    c0, d0 = curve
    mu = np.array(truth["mu"][d0], np.float32)
    mu[0] += truth["cell"][c0]
    return curve_copies(grid.x[c0, d0], grid.y[c0, d0], n, mu, truth["sig"], truth["sigma"])


def curve_copies(x, y, n: int, mu, sig=(0.5, 0.25, 0.7),
                 sigma: float = 0.05) -> tuple[GridData, sc.ScreenModel, Globals]:
    """``n`` copies of one curve (doses ``x``, responses ``y``) as a ``[n, 1, P]`` grid of
    the dose-response plan, with globals fixed: drug means ``mu`` (cell-line effect folded
    in), curve scales ``sig``, noise ``sigma``, cell-line scale 0.4 (unused)."""
    P = len(y)
    shape = (n, 1, P)
    xx = jnp.broadcast_to(jnp.asarray(x, jnp.float32), shape)
    mask, is_zero = jnp.ones(shape, bool), jnp.zeros(shape, bool)
    m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), 1)
    d = GridData(x=xx, y=jnp.broadcast_to(jnp.asarray(y, jnp.float32), shape), mask=mask,
                 is_zero=is_zero, exp=jnp.zeros(shape, jnp.int32),
                 present=jnp.ones((n, 1), bool), cell_valid=jnp.ones(n, bool),
                 half_range=jnp.array([2.0]),
                 x_top=jnp.asarray(top_doses(xx, mask, is_zero)),
                 n_wells=jnp.float32(n * P), priors=m.prior_values())
    s = Globals(drug_mean=jnp.asarray(np.asarray(mu, np.float32)[None]),
                cell_effect=jnp.zeros(n), curve_sd=jnp.asarray(sig, jnp.float32),
                cell_sd=jnp.float32(0.4), noise_sd=jnp.float32(sigma), exp_effect=jnp.zeros(1))
    return d, m, s


def curve_modes(d: GridData, m: sc.ScreenModel, s: Globals) -> JumpProposal:
    """The mode-jump proposal of every copy, given the fixed globals."""
    return unit_modes(jax.tree_util.tree_map(lambda v: v[None], s), d, m)


def curve_chain(d: GridData, m: sc.ScreenModel, s: Globals, jp: JumpProposal, jump: bool, G0,
                n_sweeps: int, seed: int = 0, hmc: bool = True,
                top: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Chains of the curve block alone (globals fixed): the curve HMC (``hmc``; metric from
    the Fisher information plus prior precision at the first mode, step size 0.7, the
    sampler's typical adapted value; in the sampler's top-dose coordinates when ``top``),
    followed by the mode jump when ``jump``. Returns the draws ``[sweep, chain, K]``
    and the jump's acceptance probabilities ``[sweep, chain]``."""
    n = G0.shape[0]
    Gm = jp.mean[:, :, 0]
    _, P = unit_precision(m, Gm, s, d)
    if top:
        P = coords_precision(m, P, Gm, d)
    S = metric_from_precision(P)
    ad = Adaptation(S, da_init(jnp.full((n, 1), np.log(0.7), jnp.float32)), None)

    @jax.jit
    def run(key, G):
        def body(G, k):
            k1, k2 = jax.random.split(k)
            lp = m.unit_logp(G, s, d)
            if hmc:
                st, _, _, lp = unit_step(k1, ChainState(G, s), ad, d, m, 10,
                                         jnp.asarray(False), 0.8, top)
                G = st.units
            acc = jnp.zeros(G.shape[:2])
            if jump:
                G, acc = mode_jump(k2, G, lp, jp, lambda x: m.unit_logp(x, s, d), d.present)
            return G, (G[:, 0], acc[:, 0])

        return jax.lax.scan(body, G, jax.random.split(key, n_sweeps))[1]

    dr, acc = run(jax.random.PRNGKey(seed), G0)
    return np.asarray(dr), np.asarray(acc)


def autocorrelation(x: np.ndarray, max_lag: int) -> list[float]:
    """Autocorrelation of draws ``[sweep, chain]`` at lags ``1..max_lag`` (centred on the
    overall mean, pooled over chains)."""
    xc = x - x.mean()
    v = np.mean(xc * xc)
    return [float(np.mean(xc[lag:] * xc[:-lag]) / v) for lag in range(1, max_lag + 1)]


def ridge_escape(grid: sc.ScreenGrid, truth: dict, n: int = 512, n_sweeps: int = 3000) -> dict:
    d, m, s = one_curve_problem(grid, truth, CURVE, n)
    jp = curve_modes(d, m, s)
    G0 = jnp.broadcast_to(jnp.asarray(RIDGE_START, jnp.float32), (n, 1, 4))
    out = {}
    for jump in (False, True):
        dr, _ = curve_chain(d, m, s, jp, jump, G0, n_sweeps)  # [sweep, chain, K]
        ref = dr[1000:, :, 0]
        lo, hi = np.quantile(ref, [0.005, 0.995])
        x = ref - ref.mean(0)
        out["hmc+jump" if jump else "hmc"] = {
            "outside_central_99": {t: float(np.mean((dr[t, :, 0] < lo) | (dr[t, :, 0] > hi)))
                                   for t in CHECK_SWEEPS},
            "autocorrelation": {lag: float(np.mean(x[lag:] * x[:-lag]) / np.mean(x * x))
                                for lag in (1, 5, 20)},
            "posterior_mean": float(ref.mean()), "posterior_sd": float(ref.std())}
    return out


def whole_sampler() -> list[dict]:
    grid, _ = sc.simulate_screen(1000, 20, seed=0)
    m = sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)
    rows = []
    for jump in (False, True, False, True):  # twice each: the first pays compilation
        cfg = sc.SamplerSettings(num_chains=8, num_warmup=120, num_samples=120,
                                 keep_draws=False, mode_jump=jump)
        fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
        e = fit.unit_summary["grp_log10_ic50"]["ess_bulk"]
        rows.append({"mode_jump": jump, "total_s": fit.timings["total"],
                     "warmup_s": fit.timings["warmup"], "sampling_s": fit.timings["sampling"],
                     "ess_bulk_min": float(e.min()), "ess_bulk_q01": float(np.quantile(e, 0.01)),
                     "ess_bulk_median": float(np.median(e)),
                     "accept_jump": fit.info.get("accept_jump"),
                     "worst_curves": fit.info.get("worst_curves", {}).get("grp_log10_ic50")})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    t0 = time.perf_counter()
    grid, truth = sc.simulate_screen(1000, 300, seed=0)
    esc = ridge_escape(grid, truth)
    del grid
    print(json.dumps(esc, indent=1), flush=True)
    rows = whole_sampler()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    res = {"timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
           "device": str(jax.devices()[0]), "ridge_escape": esc, "whole_sampler": rows,
           "wall_s": time.perf_counter() - t0}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "screen_mode_jump.json").write_text(json.dumps(res, indent=2, default=float))
    md = [f"# Screen back-end: the mode jump ({res['timestamp']}, commit {commit}, "
          f"{res['device']}, 2 cores)", "", "`python benchmarks/screen_mode_jump.py`", "",
          f"## Ridge escape: curve {CURVE} of the 300,000-curve screen, 512 chains from "
          f"{RIDGE_START}", "",
          "| kernel | " + " | ".join(f"outside 99% after {t}" for t in CHECK_SWEEPS)
          + " | autocorr. lag 1 / 5 / 20 |",
          "|---|" + "---:|" * (len(CHECK_SWEEPS) + 1)]
    for k, v in esc.items():
        ac = v["autocorrelation"]
        md.append(f"| {k} | " + " | ".join(f"{v['outside_central_99'][t]:.3f}"
                                           for t in CHECK_SWEEPS)
                  + f" | {ac[1]:.3f} / {ac[5]:.3f} / {ac[20]:.3f} |")
    md += ["", "## Whole sampler: 20,000 curves, 8 chains x (120 + 120)", "",
           "| mode jump | total s | warmup s | sampling s | min bulk ESS | 1% quantile | median "
           "| jump acceptance |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        acc = "" if r["accept_jump"] is None else f"{r['accept_jump']:.2f}"
        md.append(f"| {r['mode_jump']} | {r['total_s']:.1f} | {r['warmup_s']:.1f} | "
                  f"{r['sampling_s']:.1f} | {r['ess_bulk_min']:.0f} | {r['ess_bulk_q01']:.0f} | "
                  f"{r['ess_bulk_median']:.0f} | {acc} |")
    md += ["", "Lowest bulk ESS per run (cell line, drug: each chain's mean log10 IC50):", ""]
    for r in rows:
        w = (r["worst_curves"] or [{}])[0]
        if w:
            md.append(f"- mode jump {r['mode_jump']}: ({w['cell']}, {w['drug']}) ESS "
                      f"{w['value']:.0f}: " + ", ".join(f"{v:.2f}" for v in w["chain_mean"]))
    (OUT / "screen_mode_jump.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
