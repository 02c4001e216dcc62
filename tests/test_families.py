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
from drugbayes.families.combination.spec import OPTIONAL_SITES as COMBINATION_OPTIONAL
from drugbayes.families.joint.spec import OPTIONAL_SITES as JOINT_OPTIONAL
from drugbayes.families.xenograft.spec import OPTIONAL_SITES

SLOW_PRESETS = {"joint/link"}  # the joint model's compilation alone takes minutes
PRESETS = [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PRESETS else p
           for p in list_presets()]
CASES = [(name, {}) for name in REGISTRY] + [("dose_response", {"response_scale": "raw"})]


def _encoded(name, kwargs):
    fam = REGISTRY[name]
    table, options = fam.contract_data(1, **kwargs)
    return db.prepare(table, kind=fam.kind, **options)[1]


_CACHE = {}


def encoded_for(name, kwargs):
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _CACHE:
        _CACHE[key] = _encoded(name, kwargs)
    return _CACHE[key]


@pytest.mark.parametrize("preset", PRESETS)
def test_prior_predictive_shapes_and_finite_logdensity(preset):
    spec = _spec(preset, preset.split("/")[0])
    fam = REGISTRY[spec.family]
    for name, kwargs in CASES:
        if name != fam.name:
            continue
        data = encoded_for(name, kwargs)
        arrays = fam.arrays(data)

        def model(observed=True, arrays=arrays):
            fam.model(arrays, spec, observed)

        prior = Predictive(model, num_samples=3)(jax.random.PRNGKey(0), observed=False)
        dims, coords = fam.posterior_dims(data)
        optional = {"xenograft": OPTIONAL_SITES, "combination": COMBINATION_OPTIONAL,
                    "joint": JOINT_OPTIONAL}.get(
            fam.name, frozenset())
        assert set(fam.deterministic_sites) - set(prior) <= optional
        for site in (x for x in fam.deterministic_sites if x in prior):
            assert prior[site].shape[0] == 3
            assert prior[site].shape[1:] == tuple(len(coords[d]) for d in dims.get(site, [])), site
            assert np.isfinite(np.asarray(prior[site])).all(), site
        info = initialize_model(jax.random.PRNGKey(1), model)
        pe, grad = jax.value_and_grad(info.potential_fn)(info.param_info.z)
        assert np.isfinite(float(pe))
        assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grad))


@pytest.mark.parametrize("name,kwargs", CASES)
def test_labels_match_sites(name, kwargs):
    fam = REGISTRY[name]
    data = encoded_for(name, kwargs)
    dims, coords = fam.posterior_dims(data)
    for site, ds in dims.items():
        for d in ds:
            assert d in coords, (site, d)
    extra = fam.observed(data, {})
    for group in ("observed", "constant"):
        for k, v in (extra.get(group) or {}).items():
            ds = extra[f"{group}_dims"][k]
            assert len(ds) == np.ndim(v), k


def test_dose_response_prior_predictive_wells():
    data = encoded_for("dose_response", {"response_scale": "raw"})
    fam = REGISTRY["dose_response"]
    spec = _spec(None, "dose_response")
    arrays = fam.arrays(data)
    prior = Predictive(lambda observed=True: fam.model(arrays, spec, observed),
                       num_samples=3)(jax.random.PRNGKey(0), observed=False)
    assert prior["y"].shape == (3,) + data.x.shape
    assert prior["y_blank"].shape == (3, len(data.blank_y))


def test_simulate_fit_round_trip_dose_response():
    fam = REGISTRY["dose_response"]
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
