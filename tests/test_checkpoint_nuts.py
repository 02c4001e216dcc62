"""Checkpoints of NUTS (``[inference] checkpoint_every``): the warmup runs in chunks whose
state (step counter, step size, mass matrix and its adaptation windows) is written every N
chunks, as the sampling's is; a fit stopped after a checkpoint, mid-warmup or mid-sampling,
and started again ends with draws identical, bit for bit, to an uninterrupted run without
checkpoints (the subprocess kill -9 through the CLI is the slow test in ``test_batch.py``)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from drugbayes.config import InferenceConfig
from drugbayes.inference import checkpoint
from drugbayes.inference.nuts import run_nuts

SIGMA = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


def eight_schools():
    """A hierarchical model that compiles in a second (its funnel makes the step size and the
    mass matrix adapt visibly)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(5.0))
    with numpyro.plate("school", 8):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("y", dist.Normal(theta, SIGMA), obs=Y)


def normal_scale():
    """The smallest model with a step size and a diagonal mass matrix of two sites to adapt
    (it compiles in about a third less time than ``eight_schools``)."""
    m = numpyro.sample("m", dist.Normal(0.0, 1.0))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(m, s), obs=Y[:3] / 10.0)


class Stop(Exception):
    """Stands for a kill right after a checkpoint was written."""


def _settings(every: int, chains: int, samples: int) -> InferenceConfig:
    # 75 warmup steps in chunks of 10 (the last one 5 long)
    return InferenceConfig(method="nuts", num_chains=chains, num_warmup=75,
                           num_samples=samples, chunk_size=10, checkpoint_every=every,
                           max_tree_depth=5)


def _fit(every: int, chains: int, samples: int, model=eight_schools):
    return run_nuts(model, (), _settings(every, chains, samples), jax.random.PRNGKey(7))


# each fit compiles NumPyro's sampling loop once per chunk of draws (2-3 s of CPU each): the
# default case has the smallest model and draws one chunk, the others are slow
@pytest.mark.parametrize(("model", "chains", "stop_at", "samples"), [
    (normal_scale, 2, "warmup", 10),
    pytest.param(eight_schools, 2, "warmup", 10, marks=pytest.mark.slow),
    pytest.param(eight_schools, 2, "sampling", 30, marks=pytest.mark.slow),
    pytest.param(eight_schools, 1, "warmup", 20, marks=pytest.mark.slow)])
def test_nuts_stopped_after_a_checkpoint_resumes_to_identical_draws(
        tmp_path, monkeypatch, caplog, model, chains, stop_at, samples):
    plain = _fit(0, chains, samples, model)  # no checkpoints: NumPyro's MCMC.warmup in one loop
    ck_path = tmp_path / ".run.checkpoint.npz"
    save = checkpoint.save
    headers: list[dict] = []

    def save_then_stop(ck, arrays, header):
        save(ck, arrays, header)
        headers.append(header)
        mid_warmup = header["warmup_steps"] < 75
        # the second mid-warmup checkpoint (40 of 75 warmup steps), or the first with draws
        if (stop_at == "warmup" and mid_warmup and len(headers) == 2) or (
                stop_at == "sampling" and header["draws"] > 0):
            raise Stop

    with checkpoint.checkpointing(ck_path, "inputs-hash") as ck:
        # a checkpoint of these inputs but another state (e.g. another number of chains) is
        # not resumed from: the fit starts over
        checkpoint.save(ck, {"state/0": np.zeros(2)},
                        {"back_end": "nuts", "draws": 0, "warmup_steps": 10,
                         "treedef": "another", "leaves": 1})
        monkeypatch.setattr(checkpoint, "save", save_then_stop)
        with caplog.at_level("INFO", logger="drugbayes"), pytest.raises(Stop):
            _fit(2, chains, samples, model)
        assert "is of another state; not resumed" in caplog.text
        monkeypatch.setattr(checkpoint, "save", save)
        with np.load(ck_path, allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
        if stop_at == "warmup":
            assert (header["warmup_steps"], header["draws"]) == (40, 0)
        else:
            assert (header["warmup_steps"], header["draws"]) == (75, 20)
        resumed = _fit(2, chains, samples, model)
        assert checkpoint.load(ck) is not None  # removed by the run, not by the back-end
    assert resumed.info["resumed_from_checkpoint"] is True
    assert plain.info["resumed_from_checkpoint"] is False
    assert plain.samples.keys() == resumed.samples.keys()
    for k in plain.samples:
        assert plain.samples[k].shape[:2] == (chains, samples)
        assert np.array_equal(plain.samples[k], resumed.samples[k]), k
    for k in plain.sample_stats:
        assert np.array_equal(plain.sample_stats[k], resumed.sample_stats[k]), k
