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


def _two_site_model(y) -> None:
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.deterministic("mu_sum", mu.sum())
    numpyro.sample("y", dist.Normal(mu[:, None], s), obs=y)


def test_compiled_draw_loop_matches_mcmc_run() -> None:
    """The chunks drawn after the warmup by nuts' own compiled loop are NumPyro's
    ``MCMC.run`` draws from the same state, site for site (constrained, deterministic) and
    field for field, chain by chain, with and without thinning; a loop that skipped a
    transition or kept the wrong one would differ (one chain: the seeds tests' fits)."""
    from numpyro.infer import MCMC, NUTS

    from drugbayes.inference.nuts import EXTRA_FIELDS, _draw_loop

    y = np.array([[0.3, -0.2, 0.5], [1.1, 0.9, 1.4]])
    for chains, thin in ((2, 2),):
        mcmc = MCMC(NUTS(_two_site_model), num_warmup=20, num_samples=12 * thin,
                    num_chains=chains, chain_method="vectorized", thinning=thin,
                    progress_bar=False)
        mcmc.warmup(jax.random.PRNGKey(1), y, extra_fields=EXTRA_FIELDS, collect_warmup=False)
        start = mcmc.post_warmup_state
        state, s, e = _draw_loop(mcmc, (y,), chains, thin)(start, 12)
        mcmc.run(start.rng_key, y, extra_fields=EXTRA_FIELDS)
        ref = mcmc.get_samples(group_by_chain=True)
        ref_e = mcmc.get_extra_fields(group_by_chain=True)
        assert set(s) == set(ref) == {"mu", "s", "mu_sum"}
        for k in ref:
            np.testing.assert_allclose(s[k], np.asarray(ref[k]), rtol=1e-6, err_msg=k)
        for k in EXTRA_FIELDS:
            np.testing.assert_allclose(e[k], np.asarray(ref_e[k]), rtol=1e-6, err_msg=k)
        np.testing.assert_allclose(np.asarray(state.z["mu"]),
                                   np.asarray(mcmc.last_state.z["mu"]), rtol=1e-6)
