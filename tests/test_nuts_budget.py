"""NUTS's default budget: draws extended while the diagnostics' thresholds fail."""

from __future__ import annotations

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist

from drugbayes.config import InferenceConfig
from drugbayes.inference.nuts import _extension_limit, _unconverged, run_nuts


def _normal_model() -> None:
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([3]).to_event(1))


def test_extension_only_when_num_samples_is_unset() -> None:
    assert _extension_limit(InferenceConfig()) == 2000
    assert _extension_limit(InferenceConfig(max_num_samples=800)) == 800
    assert _extension_limit(InferenceConfig(num_samples=500)) is None


def test_unconverged_names_the_worst_site() -> None:
    rng = np.random.default_rng(0)
    good = {"a": rng.normal(size=(4, 1000, 2))}
    assert _unconverged([good]) is None
    shifted = rng.normal(size=(4, 1000, 2))
    shifted[0] += 1.0  # one chain elsewhere: R-hat far above 1.01
    why = _unconverged([{"a": good["a"], "b": shifted}])
    assert why is not None and why.startswith("b: max R-hat")


def test_unset_budget_extends_a_slowly_mixing_chain() -> None:
    """Tree depth 1 makes NUTS a random walk: 500 draws cannot reach ESS 400, so the run
    draws on in chunks (here of 500) up to max_num_samples and records why."""
    slow = InferenceConfig(num_chains=2, num_warmup=100, max_tree_depth=1, max_num_samples=1000,
                           chunk_size=500)
    res = run_nuts(_normal_model, (), slow, jax.random.PRNGKey(0))
    assert res.samples["x"].shape[:2] == (2, 1000)
    assert res.info["extended"]["from"] == 500 and res.info["extended"]["to"] == 1000
    assert "ESS" in res.info["extended"]["reason"]
