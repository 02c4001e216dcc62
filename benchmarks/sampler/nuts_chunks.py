"""NUTS draws in chunks: one compiled draw loop per run against ``MCMC.run`` per chunk.

``run_nuts`` draws after the warmup in chunks of ``chunk_size`` (progress, checkpoints and the
extension of an unset budget happen between chunks). NumPyro 0.22's ``MCMC.run`` compiles its
collection loop anew at every call; ``nuts._draw_loop`` compiles once per run. This runs the
same problem both ways in one process (the ``MCMC.run`` path by turning the loop off) and
checks that the draws are identical.

Run from the repository root: ``python -m benchmarks.sampler.nuts_chunks``; with ``--config
PATH`` a whole config (e.g. ``configs/examples/her2_joint.toml``, NUTS extending its draws) is
run both ways instead, its run directory under a temporary folder, its summaries compared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from unittest import mock

import numpy as np

from .._common import command, environment, log, results_dir, write_result


def _command(argv: list[str] | None) -> str:
    return command("benchmarks.sampler.nuts_chunks", sys.argv[1:] if argv is None else argv)


def _problem(n_sites: int):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    y = jnp.linspace(-1.0, 1.0, n_sites)

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0).expand([n_sites]).to_event(1))
        s = numpyro.sample("s", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(mu, s).to_event(1), obs=y)

    return model, (y,)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=50)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--chunk-size", type=int, default=100)
    ap.add_argument("--config", default=None, help="time a whole config both ways instead")
    args = ap.parse_args(argv)
    if args.config:
        _config(args.config, argv)
        return
    import jax

    from drugbayes.config import InferenceConfig
    from drugbayes.inference import nuts

    model, model_args = _problem(args.sites)
    cfg = InferenceConfig(num_chains=2, num_warmup=200, chunk_size=args.chunk_size,
                          num_samples=args.chunks * args.chunk_size)
    runs, draws = {}, {}
    for name in ("compiled loop", "MCMC.run per chunk"):
        patch = (mock.patch.object(nuts, "_draw_loop", lambda *a: None)
                 if name != "compiled loop" else contextlib.nullcontext())
        with patch:
            t = time.perf_counter()
            res = nuts.run_nuts(model, model_args, cfg, jax.random.PRNGKey(0))
        runs[name] = {"wall_s": time.perf_counter() - t, **res.timings}
        draws[name] = res.samples["mu"]
        log(f"{name}: {runs[name]}")
    same = bool(np.array_equal(*draws.values()))
    load = os.getloadavg()[0]
    a, b = runs["compiled loop"], runs["MCMC.run per chunk"]
    md = ["# NUTS draws in chunks: compiled loop vs MCMC.run per chunk", "",
          f"Command: `{_command(argv)}`; "
          f"{args.sites + 1} latent coordinates, 2 vectorized chains, 200 warmup steps, "
          f"{args.chunks} chunks of {args.chunk_size} draws; load average {load:.1f} "
          "at the end (2 CPU cores).", "",
          "| path | warmup s | sampling s | total s |", "|---|---|---|---|"]
    for name, r in runs.items():
        md.append(f"| {name} | {r['warmup']:.1f} | {r['sampling']:.1f} | {r['total']:.1f} |")
    md += ["", f"Draws identical: {same}. Sampling speed-up "
           f"{b['sampling'] / a['sampling']:.1f}x."]
    write_result(results_dir("sampler") / "nuts_chunks",
                 {"runs": runs, "identical_draws": same, "load": load,
                  "environment": environment()}, md)
    print("\n".join(md))


def _config(path: str, argv: list[str] | None) -> None:
    """A whole config run both ways (``drugbayes.api.run_config``), one process."""
    import tempfile
    from pathlib import Path

    from drugbayes.api import run_config
    from drugbayes.config.loading import load_config
    from drugbayes.inference import nuts

    runs, tables = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(("compiled loop", "MCMC.run per chunk")):
            cfg = load_config(path, [f'run.output_dir="{Path(tmp) / str(i)}"'])
            patch = (mock.patch.object(nuts, "_draw_loop", lambda *a: None)
                     if name != "compiled loop" else contextlib.nullcontext())
            with patch:
                t = time.perf_counter()
                res, _ = run_config(cfg)
            runs[name] = {"wall_s": time.perf_counter() - t,
                          **{k: v for k, v in res.diagnostics.get("timings", {}).items()
                             if isinstance(v, (int, float))}}
            tables[name] = res.summary()
            log(f"{name}: {runs[name]}")
    a, b = tables.values()
    same = a.equals(b)
    # the same transitions compiled in another program may round differently, and NUTS
    # trajectories amplify that: compare the posterior means in posterior sds
    ok = np.isfinite(a["mean"]) & np.isfinite(b["mean"]) & (a["sd"] > 0)
    z = ((a["mean"] - b["mean"]).abs() / a["sd"])[ok]
    load = os.getloadavg()[0]
    md = [f"# NUTS draws in chunks, a whole config: {path}", "",
          f"Command: `{_command(argv)}`; load average "
          f"{load:.1f} at the end (2 CPU cores).", "",
          "| path | wall s | sampling s |", "|---|---|---|"]
    for name, r in runs.items():
        md.append(f"| {name} | {r['wall_s']:.1f} | {r.get('sampling', float('nan')):.1f} |")
    md += ["", f"Summaries identical: {same}; posterior means over {int(ok.sum())} rows differ "
           f"by at most {z.max():.3f} and a median {z.median():.3f} posterior sd (a different "
           "compiled program may round differently, and NUTS trajectories amplify that). The "
           "first run pays the compilation of what both share (the MAP start)."]
    stem = "nuts_chunks_" + Path(path).stem
    write_result(results_dir("sampler") / stem, {"config": path, "runs": runs,
                                                 "identical_summaries": same, "load": load,
                                                 "max_mean_diff_sd": float(z.max()),
                                                 "median_mean_diff_sd": float(z.median()),
                                                 "environment": environment()}, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
