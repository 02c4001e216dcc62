"""The combination plan of the blocked ("screen") back-end: its densities are the family's model
(same log joint, split exactly into combinations, curves and globals), what it cannot fit is
refused before anything runs, and a self-combination (the sham null check) is accepted.
Agreement with NUTS is ``tests/test_blocked_contract.py`` (slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density

import drugbayes as db
from drugbayes.api import _spec, prepare
from drugbayes.errors import ConfigError
from drugbayes.families import get_family
from drugbayes.families.combination import blocks
from drugbayes.families.combination.simulate import simulate, simulate_wells
from drugbayes.inference.registry import get_backend

FAM = get_family("combination")
DOSES = np.logspace(-2, 1, 3)


def _truth(pairs, cells=("CL1",)):
    return pd.DataFrame([dict(cell_line=c, drug_a=a, drug_b=b, e0=1.0, e1=0.2, e2=0.4,
                              beta=0.2, c1=0.3, c2=0.5, h1=1.0, h2=1.2, log_alpha12=0.3,
                              log_alpha21=0.0) for c in cells for a, b in pairs])


def _arrays(table, options=None, **data_opts):
    _, data = prepare(table, kind="combination", dose_unit="uM", **data_opts)
    spec = _spec({"family": "combination", "options": options or {}}, "combination")
    return spec, FAM.arrays(data), data


# slow: compiling the model's densities takes 54 s on 2 loaded cores (load average 26)
@pytest.mark.slow
def test_plan_density_is_the_models_joint():
    """At a random point of the contract problem (3 cell lines, 2 replicate experiments, so
    every kind of block: combinations with two matrix slots, two colours of curves, the
    global vector): the plan's log joint is NumPyro's log density of the family's (centred)
    model plus the log Jacobian of the unconstrained globals; moving one combination changes
    only its own unit density, by the change of the joint; moving one curve changes only its
    colour's curve density, by the change of the joint. Float32: tolerances 1e-3 relative
    to the joint's size (about 1e2)."""
    table, opts = blocks.contract_data(2)
    spec, arrays, _ = _arrays(table, **{k: v for k, v in opts.items() if k != "dose_unit"})
    plan, host = blocks.build(spec, arrays)
    assert plan.colours == ((0, 2, 4), (1, 3, 5))  # drug a curves, drug b curves
    assert plan.k == 4 + 2 * 4  # the combination's sites and two matrix slots
    data = jax.tree_util.tree_map(jnp.asarray, plan.device_data(host))
    rng = np.random.default_rng(0)
    g = blocks.Glob(jnp.asarray(0.3 * rng.standard_normal(plan.n_global), jnp.float32),
                    jnp.asarray(0.3 * rng.standard_normal((plan.n_mono, 3)), jnp.float32))
    x = jnp.asarray(0.3 * rng.standard_normal((plan.n_combo, plan.k)), jnp.float32)
    x2 = x.at[1, :4].add(0.2)
    c2 = g.curves.at[2].add(0.1)  # curve 2 is in colour 0
    on = jnp.asarray(plan._colour_masks()[0])

    @jax.jit  # one compiled program: quicker than op-by-op dispatch
    def numbers(g, x, x2, c2):
        vals = {**plan._values(g.theta)[0], **plan._curve_values(g.curves),
                **plan._unit_values(x)}
        ld, _ = log_density(FAM.model, (plan._arrays(data), plan._spec(data)), {}, vals)
        joint = plan._joint(g, x, data) - plan._values(g.theta)[1]
        u1, u2 = plan.unit_logp(x, g, data), plan.unit_logp(x2, g, data)
        dj_unit = plan._joint(g, x2, data) - plan._joint(g, x, data)
        k1 = plan._curve_logp(g.curves, g, x, data, on)
        k2 = plan._curve_logp(c2, g, x, data, on)
        dj_curve = plan._joint(g._replace(curves=c2), x, data) - plan._joint(g, x, data)
        return joint, ld, u1, u2, dj_unit, k1, k2, dj_curve

    joint, ld, u1, u2, dj_unit, k1, k2, dj_curve = numbers(g, x, x2, c2)
    tol = 1e-3 * max(1.0, abs(float(ld)))
    # the inert matrix slots (combinations tested in one experiment have none here: every
    # combination has two matrices) add nothing
    assert not plan._dummy().any()
    assert abs(float(joint) - float(ld)) < tol, (float(joint), float(ld))
    np.testing.assert_allclose(np.asarray(u2)[[0, 2]], np.asarray(u1)[[0, 2]], rtol=1e-5)
    assert abs(float(u2[1] - u1[1]) - float(dj_unit)) < 1e-2
    np.testing.assert_allclose(np.asarray(k2)[[0, 4]], np.asarray(k1)[[0, 4]], rtol=1e-5)
    assert float(k2[1]) == 0.0  # other colour
    assert abs(float(k2[2] - k1[2]) - float(dj_curve)) < 1e-2


def test_screen_refuses_what_the_plan_cannot_fit():
    """Every problem at once, named by its key, asked of the back-end before anything runs:
    control wells shared by several matrices, plate effects, per-matrix monotherapy
    deviations. Student-t and Normal wells, fit_gamma, the non-centred parameterisation and
    replicate experiments are fitted (no problem)."""
    wells = simulate_wells(_truth([("DA", "DB"), ("DA", "DC")]), DOSES, DOSES,
                           n_replicates=1, n_experiments=2, seed=1)
    wells["plate"] = np.where(wells["replicate"].eq(1) & wells["dose_a"].gt(0.05), "P1",
                              "P2")
    untreated = wells[(wells["dose_a"] == 0) & (wells["dose_b"] == 0)].copy()
    shared = untreated.groupby("experiment").head(1).assign(drug_a="", drug_b="",
                                                            replicate=9)
    table = pd.concat([wells, shared], ignore_index=True)
    spec, arrays, _ = _arrays(table, {"plate_effects": "on",
                                      "matrix_monotherapy_effects": True})
    assert arrays["n_shared"] > 0
    issues = get_backend("screen").unsupported(spec, lambda: arrays, "c.toml")
    cols = [i.column for i in issues]
    assert cols == ["inference.method = 'screen': data",
                    "inference.method = 'screen': model.options.plate_effects",
                    "inference.method = 'screen': model.options.matrix_monotherapy_effects"]
    assert "shared" in str(issues[0].value) and "nuts" in issues[0].message
    for options in ({}, {"likelihood": "normal"}, {"fit_gamma": True},
                    {"parameterization": "noncentered"}):
        spec, arrays, _ = _arrays(wells.drop(columns="plate"), options)
        assert blocks.problems(spec, arrays) == [], options
    with pytest.raises(ConfigError, match="plate_effects"):
        db.fit(table, kind="combination", dose_unit="uM",
               model={"family": "combination", "options": {"plate_effects": "on"}},
               inference={"method": "screen"})


def test_fit_gamma_sites_are_unit_coordinates():
    """With fit_gamma the per-combination log gammas are unit coordinates (pairs tested in
    several cell lines: the non-centred ``z_grp_log_gamma*``; one cell line: the pair's
    ``pop_log_gamma*``)."""
    wells, _ = simulate(2, n_doses=3, n_replicates=1, seed=1)
    spec, arrays, _ = _arrays(wells, {"fit_gamma": True})
    plan, _ = blocks.build(spec, arrays)
    assert {"z_grp_log_gamma12", "z_grp_log_gamma21", "grp_beta"} <= set(plan.unit_sites)
    one = wells[wells["cell_line"] == "CL01"]
    spec, arrays, _ = _arrays(one, {"fit_gamma": True})
    plan, _ = blocks.build(spec, arrays)
    assert {"pop_log_gamma12", "pop_beta", "z_log_top"} <= set(plan.unit_sites)
    assert plan.curve_sites == blocks.DRUG_SITES  # one cell line: drug-level curves


def test_self_combination_is_accepted_as_the_null_check():
    """A drug combined with itself (the sham experiment; the Mathews Griner table's
    ibrutinib x ibrutinib block) is validated, encoded with one monotherapy curve in both
    slots, named in the data description as the built-in null check, and coloured apart from
    nothing (its curve is alone in its matrix)."""
    wells = simulate_wells(_truth([("DA", "DB"), ("DA", "DA")]), DOSES, DOSES,
                           n_replicates=1, seed=2)
    vt, data = prepare(wells, kind="combination", dose_unit="uM")
    k = data.pairs.index("DA|DA")
    combo = int(np.flatnonzero(data.combo_pair == k)[0])
    assert data.combo_mono_a[combo] == data.combo_mono_b[combo]
    assert data.self_combinations == ["CL1|DA|DA"]
    assert "self-combination" in FAM.describe(vt, data)
    assert "null check" in FAM.describe(vt, data)
    spec = _spec({"family": "combination"}, "combination")
    arrays = FAM.arrays(data)
    plan, _ = blocks.build(spec, arrays)
    assert blocks.problems(spec, arrays) == []
    # DA's curve is in both matrices, DB's in one: two colours
    assert sorted(len(c) for c in plan.colours) == [1, 1]


def test_plan_densities_take_the_priors_as_data():
    """The plan's densities take the priors' values as traced data (so a second fit with
    other priors reuses the compiled sweep): tracing the unit, curve and global densities with
    every device array abstract needs no concrete prior value. A prior converted with
    ``float()`` in the model's latents broke every combination screen run this way while the
    slow density test was not run; tracing alone (no compilation) takes seconds."""
    table, opts = blocks.contract_data(2)
    spec, arrays, _ = _arrays(table, **{k: v for k, v in opts.items() if k != "dose_unit"})
    plan, host = blocks.build(spec, arrays)
    data = jax.tree_util.tree_map(jnp.asarray, plan.device_data(host))
    g = blocks.Glob(jnp.zeros(plan.n_global, jnp.float32),
                    jnp.zeros((plan.n_mono, 3), jnp.float32))
    x = jnp.zeros((plan.n_combo, plan.k), jnp.float32)
    on = jnp.asarray(plan._colour_masks()[0])

    def densities(g, x, d):
        return (plan.unit_logp(x, g, d), plan._curve_logp(g.curves, g, x, d, on),
                plan._joint(g, x, d))

    jaxpr = jax.make_jaxpr(densities)(g, x, data)
    assert [v.shape for v in jaxpr.out_avals] == [(plan.n_combo,), (plan.n_mono,), ()]
