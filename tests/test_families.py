"""Contract tests over every registered family and preset."""

import jax
import numpy as np
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import initialize_model

import drugbayes as db
from drugbayes.api import _spec
from drugbayes.config import list_presets
from drugbayes.families import REGISTRY

PRESETS = [p for p in list_presets()]


@pytest.fixture(scope="module", params=["fraction", "raw"])
def encoded(request):
    wells, truth = db.simulate_dose_response(3, 2, n_experiments=2, seed=1,
                                             response_scale=request.param)
    return db.prepare(wells, dose_unit="uM", response_scale=request.param)[1]


@pytest.mark.parametrize("preset", PRESETS)
def test_prior_predictive_shapes_and_finite_logdensity(preset, encoded):
    spec = _spec(preset, "dose_response")
    fam = REGISTRY[spec.family]
    arrays = fam.arrays(encoded)

    def model(observed=True):
        fam.model(arrays, spec, observed)

    prior = Predictive(model, num_samples=3)(jax.random.PRNGKey(0), observed=False)
    assert prior["y"].shape == (3,) + encoded.x.shape
    assert prior["grp_log10_ic50"].shape == (3, encoded.n_groups)
    if encoded.is_raw:
        assert prior["y_blank"].shape == (3, len(encoded.blank_y))
    info = initialize_model(jax.random.PRNGKey(1), model)
    pe, grad = jax.value_and_grad(info.potential_fn)(info.param_info.z)
    assert np.isfinite(float(pe))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grad))


@pytest.mark.parametrize("name", list(REGISTRY))
def test_labels_match_sites(name, encoded):
    fam = REGISTRY[name]
    dims, coords = fam.posterior_dims(encoded)
    assert len(coords["curve"]) == encoded.n_groups
    for site, ds in dims.items():
        for d in ds:
            assert d in coords, (site, d)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_simulate_fit_round_trip(name):
    fam = REGISTRY[name]
    wells, truth = fam.simulate(4, 2, seed=9)
    r = db.fit(wells, fam.kind, dose_unit="uM", inference={"method": "map"})
    est = r.summary().query("quantity == 'log10_ic50'").merge(truth, on=["cell_line", "drug"])
    assert np.abs(est["median"] - est["log10_ic50"]).median() < 0.15


def test_single_member_levels_collapse():
    wells, _ = db.simulate_dose_response(1, 1, seed=2)
    spec = _spec(None, "dose_response")
    fam = REGISTRY["dose_response"]
    _, data = db.prepare(wells, dose_unit="uM")
    arrays = fam.arrays(data)
    info = initialize_model(jax.random.PRNGKey(0), lambda: fam.model(arrays, spec))
    sites = set(info.param_info.z)
    assert not any(s.startswith(("sigma_cell", "z_cell", "eff_cell", "sigma_curve",
                                 "raw_curve", "experiment")) for s in sites), sites
