"""The Laplace approximation (``inference/laplace.py``) on posteriors whose Gaussian is known.

For a normal-normal hierarchical model the posterior is exactly Gaussian in the unconstrained
space, so the Laplace approximation is the posterior itself and its covariance is the
inverse of the (analytic) precision matrix; the blockwise computation must reproduce it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax.flatten_util import ravel_pytree

from drugbayes.inference._unconstrained import unconstrained_view
from drugbayes.inference.laplace import choose_structure, laplace, likelihood_surrogate

N_UNITS, N_OBS = 12, 4
PRIOR_SD, UNIT_SD, NOISE_SD = 3.0, 1.0, 0.5


def _data(seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.5, UNIT_SD, N_UNITS)
    return rng.normal(theta[:, None], NOISE_SD, (N_UNITS, N_OBS)).astype(np.float32)


def _normal_model(y, chain=False):
    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
        theta = numpyro.sample("theta", dist.Normal(mu, UNIT_SD).expand([N_UNITS]).to_event(1))
        # chain=True: every observation sees two neighbouring units (members coupled)
        loc = theta + jnp.roll(theta, 1) if chain else theta
        numpyro.sample("y", dist.Normal(loc[:, None], NOISE_SD).to_event(2), obs=y)

    return model


def _precision(chain=False) -> np.ndarray:
    """The analytic posterior precision of (mu, theta)."""
    n = N_UNITS
    q = np.zeros((n + 1, n + 1))
    q[0, 0] = 1 / PRIOR_SD**2 + n / UNIT_SD**2
    q[0, 1:] = q[1:, 0] = -1 / UNIT_SD**2
    q[1:, 1:] += np.eye(n) / UNIT_SD**2
    a = np.eye(n) + (np.roll(np.eye(n), 1, axis=1) if chain else 0)  # loc = a @ theta
    q[1:, 1:] += N_OBS / NOISE_SD**2 * a.T @ a
    return q


def _mode(view, q, y, chain=False):
    """The exact posterior mode (a linear solve)."""
    n = N_UNITS
    a = np.eye(n) + (np.roll(np.eye(n), 1, axis=1) if chain else 0)
    b = np.zeros(n + 1)
    b[1:] = a.T @ y.sum(axis=1) / NOISE_SD**2
    m = np.linalg.solve(q, b)
    return {"mu": jnp.asarray(m[0], jnp.float32), "theta": jnp.asarray(m[1:], jnp.float32)}


@pytest.mark.parametrize("dense_max", [0, 1000])
def test_laplace_is_the_gaussian_posterior(dense_max):
    """Arrowhead (units perturbed all at once, dense_max 0) and dense: the marginal sds are
    those of the analytic posterior covariance to float32 precision, and 4,000 draws have its
    mean (the exact mode, reached by the Newton step from a shifted start) and covariance
    within Monte Carlo error."""
    y = _data()
    view = unconstrained_view(_normal_model(y))
    q = _precision()
    mode = _mode(view, q, y)
    # started off the mode (an optimiser stopped short): one Newton step recentres exactly
    start = {k: v + 0.2 for k, v in mode.items()}
    fit = laplace(view.log_density, start, view.ushapes, 4000, jax.random.PRNGKey(1),
                  labels={"theta": [f"unit{i}" for i in range(N_UNITS)]}, dense_max=dense_max)
    assert fit.structure == ("arrowhead" if dense_max == 0 else "dense")
    assert fit.newton["taken"] and fit.newton["gradient_norm"] > 1.0
    assert fit.refused is None and fit.bad_members == []
    cov = np.linalg.inv(q)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(fit.marginal_sd["mu"], sd[0], rtol=1e-4)
    np.testing.assert_allclose(fit.marginal_sd["theta"], sd[1:], rtol=1e-4)
    x = np.column_stack([fit.draws["mu"], fit.draws["theta"]])
    m = np.concatenate([[float(mode["mu"])], np.asarray(mode["theta"])])
    # mean within 4 Monte Carlo standard errors; covariance entries within 0.1 of the sd scale
    assert np.all(np.abs(x.mean(axis=0) - m) < 4 * sd / np.sqrt(4000))
    emp = np.cov(x.T)
    assert np.max(np.abs(emp - cov) / np.outer(sd, sd)) < 0.1
    # the global mean's marginal variance is larger than its conditional one (1 / q00)
    assert fit.marginal_sd["mu"] > 1.02 / np.sqrt(q[0, 0])  # 1.03 here


def test_a_wide_dense_block_is_exact():
    """A dense block wider than the columns written at once (``DENSE_FLUSH``) with a plate of
    units, each coupled to one dense coordinate and (through a shared term) to every one: the
    arrowhead marginal sds and the Schur complement's ``log det`` equal those of the exact
    precision matrix (``jax.hessian``), so a column written to the wrong place fails."""
    from drugbayes.inference.laplace import DENSE_FLUSH

    k, n = DENSE_FLUSH + 3, DENSE_FLUSH + 8
    rng = np.random.default_rng(5)
    y = rng.normal(0.0, 1.0, (n, 2)).astype(np.float32)
    group = np.arange(n) % k
    mix = jnp.asarray(rng.normal(0.0, 0.3, k), jnp.float32)

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 2.0).expand([k]).to_event(1))
        loc = mu[group] + jnp.dot(mix, mu)  # one member of mu, and all through a shared term
        theta = numpyro.sample("theta", dist.Normal(loc, 1.0).to_event(1))
        numpyro.sample("y", dist.Normal(theta[:, None], 0.5).to_event(2), obs=y)

    view = unconstrained_view(model)
    u = {"mu": jnp.asarray(rng.normal(0, 0.1, k), jnp.float32),
         "theta": jnp.asarray(rng.normal(0, 0.1, n), jnp.float32)}
    flat, unravel = ravel_pytree(u)
    q = -np.asarray(jax.jit(jax.hessian(lambda v: view.log_density(unravel(v))))(flat),
                    np.float64)
    fit = laplace(view.log_density, u, view.ushapes, 0, jax.random.PRNGKey(0), dense_max=k)
    assert fit.structure == "arrowhead" and fit.n_dense == k
    sd = np.sqrt(np.diag(np.linalg.inv(q)))
    got = np.concatenate([fit.marginal_sd["mu"], fit.marginal_sd["theta"]])
    np.testing.assert_allclose(got, sd, rtol=1e-4)
    assert fit.logdet == pytest.approx(np.linalg.slogdet(q)[1], rel=1e-5)


def test_coupled_members_are_detected_and_handled_exactly():
    """Observations that see two neighbouring units couple the members: the check finds it,
    the site moves to the dense block and the result is still the exact posterior."""
    y = _data(1)
    view = unconstrained_view(_normal_model(y, chain=True))
    q = _precision(chain=True)
    mode = _mode(view, q, y, chain=True)
    fit = laplace(view.log_density, mode, view.ushapes, 10, jax.random.PRNGKey(2), dense_max=0)
    assert fit.split and fit.split[0].startswith("theta")
    assert fit.structure == "dense"
    sd = np.sqrt(np.diag(np.linalg.inv(q)))
    np.testing.assert_allclose(fit.marginal_sd["theta"], sd[1:], rtol=1e-4)


def test_a_unit_without_a_maximum_is_named_and_left_empty():
    """At a point where one unit sits on a saddle of its double-well density, that unit is
    reported by its label and its draws are NaN; the others keep finite draws."""
    def model():
        theta = numpyro.sample("theta", dist.Normal(0.0, 10.0).expand([5]).to_event(1))
        numpyro.factor("well", -jnp.sum((theta**2 - 1.0) ** 2))

    view = unconstrained_view(model)
    u = {"theta": jnp.asarray([1.0, -1.0, 0.0, 1.0, 1.0], jnp.float32)}
    names = ["a", "b", "c", "d", "e"]
    fit = laplace(view.log_density, u, view.ushapes, 50, jax.random.PRNGKey(3),
                  labels={"theta": names}, dense_max=0)
    assert fit.bad_members == ["c"]
    d = fit.draws["theta"]
    assert np.isnan(d[:, 2]).all() and np.isfinite(np.delete(d, 2, axis=1)).all()


def test_a_global_block_without_a_maximum_refuses_the_approximation():
    def model():
        numpyro.sample("g", dist.Normal(0.0, 1.0))
        # a dip at h = 0: the log density curves upwards there
        numpyro.factor("dip", -5.0 * jnp.exp(-numpyro.sample("h", dist.Normal(0, 10)) ** 2))

    view = unconstrained_view(model)
    fit = laplace(view.log_density, {"g": jnp.float32(0), "h": jnp.float32(0)}, view.ushapes,
                  10, jax.random.PRNGKey(0))
    assert fit.draws is None and "not positive definite" in fit.refused and "h" in fit.refused


def test_structure_splits_the_largest_plate_first():
    shapes = {"a": (), "b": (3,), "cell": (50,), "curve": (1000,), "curve2": (1000, 2),
              "drug": (20, 3)}
    plates, dense = choose_structure(shapes, dense_max=120)
    assert [(p.n, p.sites, p.width) for p in plates] == [(1000, ["curve", "curve2"], 3)]
    assert dense == ["a", "b", "cell", "drug"]
    plates, dense = choose_structure(shapes, dense_max=60)
    assert [(p.n, p.sites, p.width) for p in plates] == [(1000, ["curve", "curve2"], 3),
                                                          (20, ["drug"], 3)]
    plates, dense = choose_structure(shapes, dense_max=10)
    assert [p.n for p in plates] == [1000, 20, 50]
    assert dense == ["a", "b"]


# ----------------------------------------------------------------------- through the family
@pytest.fixture(scope="module")
def small_wells():
    import drugbayes as db

    wells, _ = db.simulate_dose_response(3, 2, seed=3)
    return wells


def test_blockwise_hessian_of_a_real_model_equals_the_dense_one(small_wells):
    """The dose-response model at its MAP: the arrowhead computation (the curve plate split
    off, everything else dense) gives the same marginal sds as the dense Hessian (float32
    Hessian-vector products: 1e-3 relative)."""
    import drugbayes as db
    from drugbayes.api import _spec
    from drugbayes.families import get_family
    from drugbayes.inference.registry import FitTask
    from drugbayes.inference.runners import _model, _noncentred

    _, data = db.prepare(small_wells, dose_unit="uM")
    spec = _noncentred(_spec(None, "dose_response"))
    fam = get_family(spec.family)
    task = FitTask(fam, spec, data, fam.arrays(data))
    r = db.fit(small_wells, dose_unit="uM", inference={"method": "map", "laplace": False})
    view = unconstrained_view(_model(task, spec))
    mode = {k: view.transforms[k].inv(jnp.asarray(v))
            for k, v in r.inference.info["params"].items()}
    n_curves = 6
    curve_coords = sum(int(np.prod(s)) for s in view.ushapes.values()
                       if len(s) and s[0] == n_curves)
    total = sum(int(np.prod(s)) for s in view.ushapes.values())
    arrow = laplace(view.log_density, mode, view.ushapes, 10, jax.random.PRNGKey(0),
                    dense_max=total - curve_coords)
    dense = laplace(view.log_density, mode, view.ushapes, 10, jax.random.PRNGKey(0),
                    dense_max=10_000)
    assert arrow.structure == "arrowhead" and dense.structure == "dense"
    assert arrow.plates[0].n == n_curves
    assert arrow.n_products < dense.n_products
    for k in view.ushapes:
        np.testing.assert_allclose(arrow.marginal_sd[k], dense.marginal_sd[k], rtol=1e-3,
                                   err_msg=k)


def test_map_says_what_its_numbers_are(small_wells):
    """laplace = true: draws with stated meaning, intervals of positive width, probabilities
    strictly inside (0, 1) where the draws fall on both sides; laplace = false: point
    estimates, probabilities and intervals empty (never 0 or 1); neither claims convergence
    diagnostics."""
    import drugbayes as db

    inf = {"method": "map", "laplace_draws": 400}
    r = db.fit(small_wells, dose_unit="uM", inference=inf, seed=1)
    d = r.diagnostics
    assert d["approximation"]["name"] == "laplace" and not d["approximation"]["diagnosed"]
    assert d["checks"]["hessian_positive_definite"]["passed"]
    assert r.posterior.attrs["approximation"] == "laplace"
    s = r.summary()
    ic = s[s.quantity == "log10_ic50"]
    assert (ic["upper"] - ic["lower"] > 0.01).all() and (ic["upper"] - ic["lower"] < 3).all()
    assert r.inference.samples["grp_log10_ic50"].shape[:2] == (1, 400)
    p = s[s.unit == "probability"]["mean"]
    assert p.notna().all()

    pt = db.fit(small_wells, dose_unit="uM", inference={**inf, "laplace": False}, seed=1)
    assert pt.diagnostics["approximation"]["name"] == "point"
    assert "hessian_positive_definite" not in pt.diagnostics["checks"]
    sp = pt.summary()
    probs = sp[sp.unit == "probability"]
    assert len(probs) and probs[["mean", "sd", "median", "lower", "upper"]].isna().all().all()
    assert sp[["lower", "upper", "sd"]].isna().all().all()
    assert sp[sp.quantity == "log10_ic50"]["median"].notna().all()
    # the Laplace draws are centred on the same mode
    np.testing.assert_allclose(ic["median"].to_numpy(),
                               sp[sp.quantity == "log10_ic50"]["median"].to_numpy(), atol=0.15)


def test_the_headline_of_a_map_run_claims_no_diagnostics(tmp_path, capsys):
    from pathlib import Path

    from drugbayes.cli import main

    cfg = Path(__file__).resolve().parents[1] / "configs" / "smoke" / "minimal_map.toml"
    for lap in ("true", "false"):
        out = tmp_path / lap
        rc = main(["run", str(cfg), "--set", f"run.output_dir={out}", "--set",
                   "inference.method=map", "--set", f"inference.laplace={lap}",
                   "--set", "inference.laplace_draws=100", "--set", "report.plots=false"])
        printed = capsys.readouterr()
        assert rc == 0, printed.err
        assert "diagnostics passed" not in printed.out
        name = "laplace" if lap == "true" else "point"
        assert f"approximation: {name}:" in printed.out
        assert "no convergence diagnostics apply" in printed.out
        assert f"approximation: {'Laplace' if lap == 'true' else 'point'}" in (
            out / "run.log").read_text()


def test_several_plates_are_exact_given_the_other_plates():
    """Crossed plates (curves of cell lines x drugs): forced blockwise, the units (curves) and
    the dense block get exactly the Gaussian posterior conditional on the other plates'
    members (the cell-line and drug effects) at the mode, never a larger variance than the
    marginal one, and the covariance stays positive definite."""
    rng = np.random.default_rng(4)
    n_cell, n_drug = 4, 3
    cell = np.repeat(np.arange(n_cell), n_drug)
    drug = np.tile(np.arange(n_drug), n_cell)
    n = len(cell)
    y = rng.normal(0.0, 1.0, (n, N_OBS)).astype(np.float32)

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
        a = numpyro.sample("a", dist.Normal(0.0, 2.0).expand([n_cell]).to_event(1))
        b = numpyro.sample("b", dist.Normal(mu, 2.0).expand([n_drug]).to_event(1))
        theta = numpyro.sample("theta", dist.Normal(a[cell] + b[drug], 1.0).to_event(1))
        numpyro.sample("y", dist.Normal(theta[:, None], NOISE_SD).to_event(2), obs=y)

    view = unconstrained_view(model)
    zero = {k: jnp.zeros(s, jnp.float32) for k, s in view.ushapes.items()}
    flat = ravel_pytree(zero)[1]
    q = -np.asarray(jax.hessian(lambda v: view.log_density(flat(v)))(
        jnp.zeros(sum(int(np.prod(s)) for s in view.ushapes.values()))), np.float64)
    names = sorted(view.ushapes)  # ravel_pytree's order of a dict
    sizes = [int(np.prod(view.ushapes[k])) for k in names]
    idx = dict(zip(names, np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1]), strict=True))
    mode = np.linalg.solve(q, np.asarray(jax.grad(lambda v: view.log_density(flat(v)))(
        jnp.zeros(q.shape[0])), np.float64))
    u = {k: jnp.asarray(mode[idx[k]].reshape(view.ushapes[k]), jnp.float32) for k in names}
    fit = laplace(view.log_density, u, view.ushapes, 10, jax.random.PRNGKey(0), dense_max=0)
    assert fit.structure == "blockwise" and fit.refused is None
    assert [p.sites for p in fit.plates] == [["theta"], ["a"], ["b"]]
    keep = np.concatenate([idx["mu"], idx["theta"]])
    cond = np.linalg.inv(q[np.ix_(keep, keep)])
    sd_cond = np.sqrt(np.diag(cond))
    np.testing.assert_allclose(fit.marginal_sd["mu"], sd_cond[0], rtol=1e-3)
    np.testing.assert_allclose(fit.marginal_sd["theta"], sd_cond[1:], rtol=1e-3)
    sd_marg = np.sqrt(np.diag(np.linalg.inv(q)))
    assert np.all(fit.marginal_sd["theta"] <= sd_marg[idx["theta"]] * (1 + 1e-4))
    assert np.isfinite(fit.draws["b"]).all()


def test_likelihood_surrogate_has_the_models_gradient_and_hessian():
    """The cheap log density (prior + the likelihood's gradient and Hessian in the units'
    parameters) has the model's gradient and Hessian at the point it is built at (any point,
    here not the mode), for a non-linear model: units enter the likelihood through a
    deterministic site (exp), the noise scale is a shared global, the prior is hierarchical.
    The Laplace approximation built on it equals the one built on the model's own density."""
    rng = np.random.default_rng(5)
    n_units = 80  # above SURROGATE_DENSE_MAX: the units form a plate
    y = rng.normal(1.0, 0.5, (n_units, N_OBS)).astype(np.float32)

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
        tau = numpyro.sample("tau", dist.HalfNormal(1.0))
        theta = numpyro.sample("theta", dist.Normal(mu, tau).expand([n_units]).to_event(1))
        level = numpyro.deterministic("level", jnp.exp(theta))
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(level[:, None], sigma).to_event(2), obs=y)

    view = unconstrained_view(model)
    u = {"mu": jnp.float32(0.1), "tau": jnp.float32(-1.0),
         "theta": jnp.asarray(rng.normal(0.0, 0.3, n_units), jnp.float32),
         "sigma": jnp.float32(-0.5)}
    cheap, info = likelihood_surrogate(view.prior_and_params, view.loglik, u,
                                       jax.random.PRNGKey(0))
    assert info["used"] and cheap is not None
    assert set(info["likelihood_sites"]) == {"level", "sigma"}
    assert info["plates"][0]["members"] == n_units
    flat_u, unravel = ravel_pytree(u)

    def hess(f):
        return np.asarray(jax.hessian(lambda v: f(unravel(v)))(flat_u), np.float64)

    def grad(f):
        return np.asarray(jax.grad(lambda v: f(unravel(v)))(flat_u), np.float64)

    h_model, h_cheap = hess(view.log_density), hess(cheap)
    scale = np.abs(h_model).max()
    assert np.abs(h_cheap - h_model).max() < 1e-5 * scale
    np.testing.assert_allclose(grad(cheap), grad(view.log_density), rtol=1e-4,
                               atol=1e-5 * np.abs(grad(view.log_density)).max())


def test_held_sites_give_the_conditional_gaussian():
    """``hold``: the held site's draws are its value, the others' Gaussian is the analytic
    conditional one given it (precision restricted to them), centred by the Newton step at
    the conditional mode."""
    y = _data()
    view = unconstrained_view(_normal_model(y))
    q = _precision()
    mode = _mode(view, q, y)
    held_mu = mode["mu"] + 0.5  # off the joint mode: the conditional mode moves with it
    start = {"mu": held_mu, "theta": mode["theta"]}
    fit = laplace(view.log_density, start, view.ushapes, 2000, jax.random.PRNGKey(2),
                  hold=frozenset({"mu"}))
    assert fit.held == ["mu"] and fit.refused is None
    assert np.all(fit.draws["mu"] == np.float32(held_mu))
    cond_cov = np.linalg.inv(q[1:, 1:])
    np.testing.assert_allclose(fit.marginal_sd["theta"], np.sqrt(np.diag(cond_cov)), rtol=1e-4)
    # conditional mean: theta | mu = cond_cov (data term + mu / UNIT_SD^2)
    b = y.sum(axis=1) / NOISE_SD**2 + float(held_mu) / UNIT_SD**2
    want = cond_cov @ b
    sd = np.sqrt(np.diag(cond_cov))
    assert np.all(np.abs(fit.draws["theta"].mean(axis=0) - want) < 4 * sd / np.sqrt(2000))


def test_held_scale_moves_to_its_marginal_mode():
    """``marginal=True``: a held hierarchical scale moves from the joint mode of the
    non-centred model (near its prior mode: the members' standard normals absorb the data) to
    the mode of its marginal posterior. Given the scale the model is Gaussian, so Laplace's
    marginal is exact: ``p(log s | y) ∝ p(log s) prod_i N(ybar_i; mu, s^2 + e^2 / n)``
    (``mu`` integrated too); its mode by a fine grid, within 0.05 on the log scale."""
    y = _data(3)

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
        s = numpyro.sample("s", dist.HalfNormal(2.0))
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([N_UNITS]).to_event(1))
        numpyro.sample("y", dist.Normal((mu + s * z)[:, None], NOISE_SD).to_event(2), obs=y)

    view = unconstrained_view(model)
    ybar = y.mean(axis=1).astype(np.float64)
    e2 = NOISE_SD**2 / N_OBS

    def log_marginal(ls):  # log s with its Jacobian; mu integrated (Gaussian)
        s2 = np.exp(2 * ls)
        v = s2 + e2
        prec = 1 / PRIOR_SD**2 + N_UNITS / v
        mean = (ybar.sum() / v) / prec
        return (-s2 / 8.0 + ls - 0.5 * N_UNITS * np.log(v) - 0.5 * np.sum(ybar**2) / v
                + 0.5 * prec * mean**2 - 0.5 * np.log(prec))

    grid = np.linspace(-3, 2, 50001)
    want = grid[np.argmax([log_marginal(g) for g in grid])]
    # start: the joint mode in s (scale) at fixed members pinned near the data, far off
    start = {"mu": jnp.asarray(ybar.mean(), jnp.float32), "s": jnp.asarray(np.log(2.0)),
             "z": jnp.asarray((ybar - ybar.mean()) / 2.0, jnp.float32)}
    fit = laplace(view.log_density, start, view.ushapes, 200, jax.random.PRNGKey(0),
                  hold=frozenset({"s"}), marginal=True)
    assert fit.refused is None and fit.marginal is not None
    got = fit.held_values["s"]
    assert abs(got - want) < 0.05 < abs(np.log(2.0) - want), (got, want, fit.marginal)
    assert np.all(fit.draws["s"] == np.float32(got))


def test_draws_at_scale_keep_the_asked_number_on_small_problems():
    """All ``laplace_draws`` up to MAX_DRAW_VALUES values, fewer above (never fewer than
    MIN_DRAWS_AT_SCALE), and the Monte Carlo error of what is left stated: a normal sample
    quantile's asymptotic sd ``sqrt(q (1 - q) / n) / phi(z_q)``."""
    from scipy.stats import norm

    from drugbayes.inference.laplace import (
        MAX_DRAW_VALUES,
        MIN_DRAWS_AT_SCALE,
        draws_at_scale,
        monte_carlo_error,
    )

    assert draws_at_scale(1000, 8_229) == 1000
    assert draws_at_scale(1000, 41_000) == MAX_DRAW_VALUES // 41_000 < 1000
    assert draws_at_scale(1000, 410_000) == MIN_DRAWS_AT_SCALE
    assert draws_at_scale(50, 410_000) == 50  # never more than asked
    mc = monte_carlo_error(200)
    assert mc["probability_sd_at_most"] == pytest.approx(0.5 / np.sqrt(200))
    assert mc["interval_end_sd_in_posterior_sds"] == pytest.approx(
        np.sqrt(0.025 * 0.975 / 200) / norm.pdf(norm.ppf(0.025)))
    # the stated sd of the 2.5% quantile is the simulated one (2,000 sets of 200 draws)
    q = np.quantile(np.random.default_rng(0).standard_normal((2000, 200)), 0.025, axis=1)
    assert q.std() == pytest.approx(mc["interval_end_sd_in_posterior_sds"], rel=0.1)


def test_summary_quantiles_are_numpys():
    """The summaries' quantiles (sorted contiguous rows) equal ``np.quantile``'s linear ones,
    the nearer draw between infinite draws, NaN where a draw is NaN."""
    from drugbayes.report.summary import quantiles

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 400):
        x = rng.standard_normal((n, 6))
        x[:, 1] = np.inf
        x[: (n + 1) // 2, 2] = -np.inf
        x[0, 3] = np.nan
        probs = [0.5, 0.025, 0.975, 0.1]
        with np.errstate(invalid="ignore"):
            ref = np.quantile(x, probs, axis=0)
        ref = np.where(np.isnan(ref), np.quantile(x, probs, axis=0, method="nearest"), ref)
        np.testing.assert_array_equal(quantiles(x, probs), ref)
