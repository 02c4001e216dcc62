"""Checkpoints of the blocked (``screen``) sampler: the chain states, adaptation, mode-jump
proposal, random key and draws so far, written every N chunks of warmup or sampling; a run
stopped after a checkpoint and started again ends with draws identical, bit for bit, to an
uninterrupted run (the subprocess kill -9 through the CLI is the slow test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from drugbayes.inference import checkpoint
from drugbayes.inference.blocked import ChainState, SamplerSettings, sample
from drugbayes.inference.blocked.adaptation import WARMUP_CHUNKS
from drugbayes.testing import kill_at_checkpoint, posterior_values

REPO = Path(__file__).resolve().parents[1]
SRC = str(REPO / "src")


class Stop(Exception):
    """Stands for a kill right after a checkpoint was written."""


class ToyPlan:
    """A plan that compiles in seconds: units ``x_u ~ N(mu, 1)`` with data ``y_u ~ N(x_u,
    1)``, ``mu ~ N(0, 10)`` drawn from its exact conditional (the engine's chunks, metric
    refreshes, mode jump and records all run; the screen's own plan takes minutes to compile
    on 2 cores and is used by the slow test)."""

    k = 1
    unit_sites = ("x",)
    unit_label = "unit"
    unit_axes = ("unit",)
    host_bytes_per_unit_draw = 8

    def device_data(self, host):
        return {"y": np.asarray(host, np.float32)}

    def sharded_data(self):
        return ()

    def sharded_state(self):
        return ()

    def pad_units(self, host, multiple):
        return host

    def initial_state(self, host, num_chains, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(num_chains, len(host), 1)).astype(np.float32)
        return ChainState(x, {"mu": np.zeros(num_chains, np.float32)})

    def initial_adaptation(self, state):
        return {"scale": np.ones(state.units.shape[0], np.float32)}

    def active(self, data):
        return jnp.ones(data["y"].shape, bool)

    def n_units(self, host):
        return len(host)

    def to_sites(self, globals_, units, host):
        return {"mu": globals_["mu"], "x": units["x"]}

    def unit_logp(self, x, glob, data):
        return -0.5 * ((data["y"] - x[..., 0]) ** 2 + (x[..., 0] - glob["mu"]) ** 2)

    def unit_fisher(self, x, glob, data):
        return jnp.ones(x.shape[:-1] + (1, 1))

    def unit_prior_scale(self, glob, data):
        return jnp.ones(())

    def to_coords(self, x, data):
        return x

    def from_coords(self, z, data):
        return z

    def coords_log_det(self, z):
        return jnp.zeros(z.shape[:-1])

    def mode_starts(self, glob, data):
        return data["y"][None, :, None]

    def global_blocks(self):
        return ("mu",)

    def global_step(self, name, key, state, adapt, data, warm, settings):
        n = state.units.shape[0]
        prec = n + 0.01
        mu = jnp.sum(state.units[:, 0]) / prec + jax.random.normal(key) / jnp.sqrt(prec)
        return state._replace(glob={"mu": mu}), adapt, None

    def refresh_metrics(self, state, adapt, fisher, precision, data):
        return adapt

    def restart_adaptation(self, adapt):
        return adapt

    def describe(self, host):
        return {}

    def record(self, glob):
        return {"mu": glob["mu"]}

    def gradient_passes(self, settings):
        return 1, "toy"


# 12 warmup chunks of 2 sweeps, then 15 sampling chunks of 2 sweeps
TINY = SamplerSettings(num_chains=2, num_warmup=24, num_samples=30, unit_steps=4)
PLAN = ToyPlan()
HOST = np.linspace(-2.0, 2.0, 6)


def _sample(ck=None, seed=3):
    return sample(PLAN, HOST, TINY, seed=seed, checkpoint=ck, checkpoint_every=5,
                  progress=False)


# after warmup chunk 5 (metric refreshes before it and after), and 5 chunks into sampling
@pytest.mark.parametrize("stop_after", [1, 4])
def test_blocked_resume_gives_identical_draws(tmp_path, monkeypatch, stop_after):
    plain = _sample()
    assert not plain.info["resumed_from_checkpoint"]
    ck = checkpoint.Checkpoint(tmp_path / ".run.checkpoint.npz", "inputs-hash")
    saved = []
    real_save = checkpoint.save

    def save_then_stop(c, arrays, header):
        real_save(c, arrays, header)
        saved.append(header)
        if len(saved) == stop_after:
            raise Stop

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(Stop):
        _sample(ck)
    monkeypatch.setattr(checkpoint, "save", real_save)
    last = saved[-1]
    # where it stopped: every 5 chunks and at the end of the warmup
    assert [(h["warmup_chunks"], h["got"]) for h in saved] == [
        (5, 0), (10, 0), (WARMUP_CHUNKS, 0), (WARMUP_CHUNKS, 10)][:stop_after]
    with np.load(ck.path, allow_pickle=False) as z:  # plain arrays, no pickle
        assert json.loads(str(z["__header__"]))["got"] == last["got"]
    resumed = _sample(ck)
    assert resumed.info["resumed_from_checkpoint"]
    assert plain.globals.keys() == resumed.globals.keys()
    for k in plain.globals:
        assert np.array_equal(plain.globals[k], resumed.globals[k], equal_nan=True), k
    for k in plain.units:
        assert np.array_equal(plain.units[k], resumed.units[k], equal_nan=True), k


def test_blocked_checkpoint_of_another_sampler_or_inputs_is_not_resumed(tmp_path):
    ck = checkpoint.Checkpoint(tmp_path / ".run.checkpoint.npz", "inputs-hash")
    _sample(ck)  # the last checkpoint stays (api.run_config removes it)
    assert ck.path.exists()
    assert _sample(ck).info["resumed_from_checkpoint"]  # the same settings do resume
    assert not _sample(ck, seed=4).info["resumed_from_checkpoint"]  # another sampler
    other = checkpoint.Checkpoint(ck.path, "other-inputs")
    assert not _sample(other).info["resumed_from_checkpoint"]


def _screen_config(folder: Path, name: str, every: int) -> Path:
    data = folder / "data.csv"
    if not data.exists():
        data.write_text((REPO / "configs" / "smoke" / "data" / "percent_nM.csv").read_text())
    p = folder / f"{name}.toml"
    p.write_text(f'[run]\nname = "{name}"\nseed = 5\n'
                 '[data]\npath = "data.csv"\ndose_unit = "nM"\nresponse_scale = "percent"\n'
                 '[inference]\nmethod = "screen"\nnum_chains = 2\nnum_warmup = 240\n'
                 f'num_samples = 400\ncheckpoint_every = {every}\n'
                 '[report]\nplots = false\nhtml = false\n')
    return p


@pytest.mark.slow  # three screen runs in subprocesses
def test_screen_run_killed_mid_sampling_resumes_to_identical_draws(tmp_path):
    """kill -9 of ``drugbayes run`` mid-sampling with ``checkpoint_every = 2``, then the same
    command: it resumes and its posterior.nc equals that of a run without checkpoints."""
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONUNBUFFERED="1")
    plain = _screen_config(tmp_path, "plain", 0)
    subprocess.run([sys.executable, "-m", "drugbayes", "run", str(plain), "--quiet"], env=env,
                   check=True, capture_output=True, timeout=600)
    cfg = _screen_config(tmp_path, "ck", 2)
    ck = tmp_path / "results" / ".ck.checkpoint.npz"
    cmd = [sys.executable, "-m", "drugbayes", "run", str(cfg), "--quiet"]
    got = kill_at_checkpoint(cmd, env, ck, lambda h: h["got"] >= 100).get("got", 0)
    assert 100 <= got < 400 and not (tmp_path / "results" / "ck").exists()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "resumed from checkpoint" in (tmp_path / "results" / "ck" / "run.log").read_text()
    assert not ck.exists()
    a, b = posterior_values(tmp_path / "results" / "plain"), \
        posterior_values(tmp_path / "results" / "ck")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k
