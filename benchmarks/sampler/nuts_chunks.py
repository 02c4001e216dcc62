"""NUTS draws in chunks: one compiled draw loop per run against ``MCMC.run`` per chunk.

``run_nuts`` draws after the warmup in chunks of ``chunk_size`` (progress, checkpoints and the
extension of an unset budget happen between chunks). NumPyro 0.22's ``MCMC.run`` compiles its
collection loop anew at every call; ``nuts._draw_loop`` compiles once per run. This runs the
same problem both ways in one process (the ``MCMC.run`` path by turning the loop off) and
checks that the draws are identical.

Run from the repository root: ``python -m benchmarks.sampler.nuts_chunks``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from unittest import mock

import numpy as np

from .._common import command, environment, log, results_dir, write_result


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
    args = ap.parse_args(argv)
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
          f"Command: `{command('benchmarks.sampler.nuts_chunks', argv or [])}`; "
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


if __name__ == "__main__":
    main()
