"""The xenograft plan of the blocked ("screen") back-end: its densities are the family's model
(same log joint, split exactly into mice and globals), and what it cannot fit is refused
before anything runs. Agreement with NUTS is ``tests/test_blocked_contract.py`` (slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density

import drugbayes as db
from drugbayes.api import _spec, prepare
from drugbayes.errors import ConfigError
from drugbayes.families import get_family
from drugbayes.families.xenograft import blocks
from drugbayes.families.xenograft.simulate import simulate_xenograft
from drugbayes.inference.registry import get_backend

FAM = get_family("xenograft")


def _plan(options: dict, growth: str = "exponential", mice: int = 2, **sim):
    table, _ = simulate_xenograft(n_mice_per_arm=mice, cell_lines=("BT-474R",),
                                  n_experiments=2, growth=growth, seed=5,
                                  **{"calipers": False, **sim})
    _, data = prepare(table, kind="xenograft", control_arm="vehicle")
    spec = _spec({"family": "xenograft", "options": options}, "xenograft")
    arrays = FAM.arrays(data)
    return spec, arrays


# slow: each case compiles the plan's densities (34-53 s on 2 cores), beyond the default
# suite's budget
@pytest.mark.slow
@pytest.mark.parametrize("options, growth", [
    ({}, "exponential"),
    ({"growth": "regrowth", "cure": True}, "regrowth")])
def test_plan_density_is_the_models_joint(options, growth):
    """At a random point: the plan's log joint is NumPyro's log density of the family's
    (centred) model plus the log Jacobian of the unconstrained globals; a change of one mouse
    changes only that mouse's unit density, by the change of the joint; the non-centred
    block's density changes as the joint plus the map's Jacobian ``n log |L|``. Float32
    arithmetic: tolerances 1e-3 relative to the joint's size (about 1e3)."""
    spec, arrays = _plan(options, growth)
    plan, host = blocks.build(spec, arrays)
    data = jax.tree_util.tree_map(jnp.asarray, plan.device_data(host))
    state = plan.initial_state(host, 1, seed=0)
    rng = np.random.default_rng(0)
    th = jnp.asarray(state.glob[0] + 0.3 * rng.standard_normal(plan.n_global), jnp.float32)
    x = jnp.asarray(state.units[0], jnp.float32)
    x2 = x.at[0].add(jnp.array([0.2, -0.1]))
    th2 = th + 0.05 * jnp.asarray(rng.standard_normal(plan.n_global), jnp.float32)
    n = x.shape[0]

    def log_det_l(t):
        tr, _, _ = plan._run(t, x, data)
        return jnp.sum(jnp.log(jnp.diagonal(plan._mouse_loc_tril(tr)[1])))

    @jax.jit  # one compiled program: far quicker than op-by-op dispatch
    def numbers(th, th2, x, x2):
        vals, logdet = plan._values(th)
        ld, _ = log_density(FAM.model, (plan._arrays(data), plan._spec(data)), {},
                            {**vals, "mouse_effect": x})
        joint = plan._joint(th, x, data)
        u1, u2 = plan.unit_logp(x, th, data), plan.unit_logp(x2, th, data)
        d_joint = plan._joint(th, x2, data) - joint
        w = plan._standardised(th, x, data)
        xa, xb = plan._from_standardised(th, w, data), plan._from_standardised(th2, w, data)
        want = (plan._joint(th2, xb, data) + n * log_det_l(th2)
                - plan._joint(th, xa, data) - n * log_det_l(th))
        got = plan._noncentred(th2, w, data) - plan._noncentred(th, w, data)
        return joint - logdet, ld, u1, u2, d_joint, xa, got, want

    joint, ld, u1, u2, d_joint, xa, got, want = numbers(th, th2, x, x2)
    assert abs(float(joint) - float(ld)) < 1e-3 * max(1.0, abs(float(ld)))
    # the split into mice: one mouse moved changes its own density only, as the joint
    np.testing.assert_allclose(np.asarray(u2[1:]), np.asarray(u1[1:]))
    assert abs(float(u2[0] - u1[0]) - float(d_joint)) < 1e-2, (u2[0] - u1[0], d_joint)
    # the non-centred block: mice follow their prior means and scales
    np.testing.assert_allclose(np.asarray(xa), np.asarray(x), atol=1e-4)
    assert abs(float(got - want)) < 2e-2, (float(got), float(want))


def test_screen_refuses_what_the_plan_cannot_fit():
    """Every problem at once, named by its key, asked of the back-end before anything runs."""
    spec, arrays = _plan({"growth": "gompertz", "observation": "calipers"}, calipers=True)
    issues = get_backend("screen").unsupported(spec, lambda: arrays, "c.toml")
    cols = [i.column for i in issues]
    assert cols == ["inference.method = 'screen': model.options.growth",
                    "inference.method = 'screen': model.options.observation"], cols
    assert "gompertz" in str(issues[0].value) and "nuts" in issues[0].message
    spec, arrays = _plan({"growth": "simeoni"})
    assert [p[0] for p in blocks.problems(spec, arrays)] == ["model.options.growth"]
    spec, arrays = _plan({"scale": "log1p"})
    assert [p[0] for p in blocks.problems(spec, arrays)] == ["model.options.scale"]
    # one mouse per line (a PDX trial): a design the plan does not fit
    spec, arrays = _plan({}, mice=1)
    assert arrays["design"] == "one_mouse_per_line"
    assert [p[0] for p in blocks.problems(spec, arrays)] == ["data"]
    # the supported forms, volumes, replicated arms: no problem
    for opts in ({}, {"growth": "regrowth", "cure": True}):
        spec, arrays = _plan(opts)
        assert blocks.problems(spec, arrays) == []


def test_fit_with_screen_refuses_before_sampling():
    table, _ = simulate_xenograft(n_mice_per_arm=2, cell_lines=("BT-474R",), seed=1,
                                  calipers=False)
    with pytest.raises(ConfigError, match="growth"):
        db.fit(table, kind="xenograft", model={"family": "xenograft",
                                               "options": {"growth": "gompertz"}},
               inference={"method": "screen"}, control_arm="vehicle")
