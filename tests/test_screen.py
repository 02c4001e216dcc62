"""The screen back-end: device summaries, sharding, compilation, the curve kernels (agreement
with NUTS: ``tests/test_blocked_contract.py``)."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import drugbayes as db
from drugbayes.curves import LN10
from drugbayes.errors import ConfigError
from drugbayes.families.dose_response import blocks
from drugbayes.inference import screen as sc
from drugbayes.inference.blocked import device_summary
from drugbayes.inference.blocked.adaptation import coords_jacobian

TINY = sc.SamplerSettings(num_chains=2, num_warmup=48, num_samples=20)


@pytest.fixture(scope="module")
def tiny_grid():
    grid, truth = sc.simulate_screen(6, 3, seed=5)
    return grid, truth


def _model(grid):
    from drugbayes.api import _spec

    return sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)


def test_device_summary_matches_arviz():
    from arviz_stats.base import array_stats

    rng = np.random.default_rng(0)
    c, n, k = 4, 400, 6
    x = np.zeros((c, n, k))
    phi = np.array([0.0, 0.3, 0.6, 0.9, -0.3, 0.95])
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + rng.standard_normal((c, k))
    x[1] += 0.3  # one chain shifted: R-hat above 1
    out = {kk: np.asarray(v) for kk, v in device_summary(jnp.asarray(x, jnp.float32)).items()}
    for j in range(k):
        xj = x[..., j]
        ref_b = float(array_stats.ess(xj, method="bulk", chain_axis=0, draw_axis=1))
        ref_t = float(array_stats.ess(xj, method="tail", prob=0.05, chain_axis=0,
                                     draw_axis=1))
        ref_r = float(array_stats.rhat(xj, method="rank", chain_axis=0, draw_axis=1))
        assert out["ess_bulk"][j] == pytest.approx(ref_b, rel=0.02)
        assert out["ess_tail"][j] == pytest.approx(ref_t, rel=0.05)
        assert out["r_hat"][j] == pytest.approx(ref_r, abs=2e-3)
    assert np.allclose(out["mean"], x.reshape(-1, k).mean(0), atol=1e-5)


def test_grid_keeps_every_well(small_screen):
    from drugbayes.api import prepare
    from drugbayes.families import get_family

    df, _ = small_screen
    _, data = prepare(df, kind="dose_response", dose_unit="uM", response_scale="fraction")
    a = get_family("dose_response").arrays(data)
    grid = sc.grid_from_arrays(a)
    assert grid.n_wells == int(np.asarray(a["mask"]).sum())
    assert grid.present.sum() == a["n_group"]
    # the same multiset of (cell, drug, dose, response) on both sides
    long = grid.to_long()
    mask = np.asarray(a["mask"])
    cu, pu = np.nonzero(mask)
    g = np.asarray(a["curve_group"])[cu]
    ref = np.sort(np.round(np.asarray(a["y"])[cu, pu] + 10 * g, 5))
    got = np.sort(np.round(long["y"] + 10 * long["group"], 5))
    assert np.allclose(ref, got)
    assert set(np.unique(long["exp"])) == {0, 1}


def test_sharded_run_matches_single_device(tiny_grid):
    """Cell-line blocks on 2 (fake CPU) devices give the single-device chain."""
    if jax.local_device_count() < 2:
        pytest.skip("needs 2 host devices (tests/conftest.py sets them)")
    grid, _ = tiny_grid
    m = _model(grid)
    # HMC trajectories are chaotic: float differences in the order of cross-device sums grow
    # once an accept decision flips, even though the random streams are identical
    # (the mode jump is off here: its proposal comes from a 30-step Gauss-Newton search whose
    # float differences between layouts already move its acceptance probabilities by ~1e-3)
    cfg = sc.SamplerSettings(num_chains=2, num_warmup=12, num_samples=3, mode_jump=False)
    one = sc.sample_screen(grid, m, cfg, seed=3, progress=False)
    two = sc.sample_screen(grid, m, cfg, seed=3, shard=2, progress=False)
    assert two.info["n_devices"] == 2
    # the first sweeps (before any accept decision can flip) match to float precision
    a1 = np.array(one.info["warmup_acceptance"][:2])
    a2 = np.array(two.info["warmup_acceptance"][:2])
    assert np.allclose(a1, a2, atol=1e-4), (a1, a2)
    g1, g2 = one.units["grp_log10_ic50"], two.units["grp_log10_ic50"]
    assert g1.shape == g2.shape and np.all(np.isfinite(g2))


@pytest.mark.slow  # two more compiled screen runs (about 50 s)
def test_sharded_mode_jump_finds_the_same_modes(tiny_grid):
    """With the mode jump: the sharded search finds the same modes, and the run is finite."""
    if jax.local_device_count() < 2:
        pytest.skip("needs 2 host devices (tests/conftest.py sets them)")
    grid, _ = tiny_grid
    m = _model(grid)
    cfg = sc.SamplerSettings(num_chains=2, num_warmup=12, num_samples=3)
    one = sc.sample_screen(grid, m, cfg, seed=3, progress=False)
    two = sc.sample_screen(grid, m, cfg, seed=3, shard=2, progress=False)
    assert two.info["curves_with_two_modes"] == one.info["curves_with_two_modes"]
    assert np.all(np.isfinite(two.units["grp_log10_ic50"]))
    assert 0.0 < two.info["accept_jump"] <= 1.0


def test_second_fit_of_same_shape_does_not_compile(tiny_grid):
    from jax import monitoring
    from jax._src import monitoring as _monitoring

    grid, _ = tiny_grid
    m = _model(grid)
    sc.sample_screen(grid, m, TINY, seed=0, progress=False)
    events = []

    def listener(name, secs, **kw):
        if name == "/jax/core/compile/backend_compile_duration":
            events.append(secs)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        sc.sample_screen(grid, m, TINY, seed=1, progress=False)
    finally:
        _monitoring.unregister_event_duration_listener(listener)
    assert events == []


def test_screen_rejects_what_it_cannot_fit(small_screen):
    df, _ = small_screen
    with pytest.raises(ConfigError) as e:
        db.fit(df, dose_unit="uM", response_scale="fraction",
               model={"preset": "dose_response/hier_4pl",
                      "options": {"likelihood": "student_t"}},
               inference={"method": "screen"})
    assert "student_t" in str(e.value)


@pytest.mark.slow  # a recovery check (about 18 s)
def test_recovers_simulated_screen(tiny_grid):
    """Posterior medians near the truth on a simulated 6 x 3 screen (short run)."""
    grid, truth = tiny_grid
    m = _model(grid)
    cfg = sc.SamplerSettings(num_chains=2, num_warmup=120, num_samples=100)
    fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
    med = fit.unit_summary["grp_log10_ic50"]["median"]
    err = np.abs(med - truth["log10_ic50"])
    inside = (truth["log10_ic50"] > -2) & (truth["log10_ic50"] < 2)
    assert np.median(err[inside]) < 0.15
    assert np.all(np.isfinite(fit.unit_summary["grp_log10_ic50"]["ess_bulk"]))


def test_validate_refuses_screen_on_raw_signal(tmp_path, example_config):
    """``drugbayes validate`` (every config checked before a batch starts) reports it, exit 2."""
    import shutil

    from drugbayes.cli import main

    cfg = tmp_path / "c.toml"
    text = example_config.read_text()
    shutil.copytree(example_config.parent / "data", tmp_path / "data")
    cfg.write_text(text.replace('method = "nuts"', 'method = "screen"', 1))
    if "raw" not in text:
        pytest.skip("example config is not raw signal")
    assert main(["validate", str(cfg)]) == 2


def test_device_diagnostics_match_arviz_stats():
    """The device's rank R-hat, nested R-hat and bulk / tail ESS equal arviz_stats' on draws
    with one superchain shifted (float32 on the device: R-hat to 2e-3, ESS to 3%)."""
    from drugbayes.testing import check_convergence_against_arviz_stats

    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 200, 5))
    x[:2] += 0.4  # one superchain shifted
    for t in range(1, 200):  # some autocorrelation in the last two components
        x[:, t, 3:] = 0.6 * x[:, t - 1, 3:] + x[:, t, 3:]
    d = check_convergence_against_arviz_stats({"a": x}, n_super=4)["max_relative_difference"]
    assert set(d) == {"ess_bulk", "ess_tail", "rhat", "rhat_nested"}
    assert d["rhat"] < 2e-3 and d["rhat_nested"] < 2e-3, d
    assert d["ess_bulk"] < 0.03 and d["ess_tail"] < 0.03, d


def test_vectorised_diagnostics_path_matches_arviz(monkeypatch):
    """Sites with many components (screens) use the JAX diagnostics; same numbers."""
    from drugbayes import diagnostics
    from drugbayes.inference import convergence

    rng = np.random.default_rng(2)
    x = np.zeros((4, 300, 12))
    for t in range(1, 300):
        x[:, t] = 0.7 * x[:, t - 1] + rng.standard_normal((4, 12))
    ref = diagnostics.param_diagnostics({"a": x})
    monkeypatch.setattr(convergence, "VECTORISED_ABOVE", 0)
    got = diagnostics.param_diagnostics({"a": x})
    for r, g in zip(ref, got):
        assert g["r_hat"] == pytest.approx(r["r_hat"], abs=2e-3)
        assert g["ess_bulk"] == pytest.approx(r["ess_bulk"], rel=0.03)
        assert g["ess_tail"] == pytest.approx(r["ess_tail"], rel=0.05)


def test_fit_refuses_draws_beyond_host_memory(monkeypatch):
    """Too many draws for the host: a clear config error before sampling, not an OOM crash."""
    df, _ = db.simulate_dose_response(3, 2, seed=0)
    monkeypatch.setattr(sc.ScreenModel, "host_bytes_per_unit_draw", 10 ** 12)
    with pytest.raises(ConfigError) as e:
        db.fit(df, dose_unit="uM", response_scale="fraction",
               inference={"method": "screen", "num_samples": 100})
    assert "keep_draws=False" in str(e.value)


TWO_MODE_Y = [1.06, 1.03, 1.04, 1.08, 1.01, 1.04, 1.00, 0.77, 0.71,
              0.98, 1.09, 1.00, 1.03, 1.09, 1.02, 1.03, 0.77, 0.69]
RIDGE_Y = [1.05, 1.05, 1.01, 1.08, 1.12, 1.04, 1.02, 0.96, 0.84,
           1.06, 1.08, 1.07, 1.04, 1.05, 1.03, 1.01, 0.93, 0.82]


def _one_curve_problem(n_copies: int, y, mu):
    """Copies of one curve of ``simulate_screen(1000, 300, seed=0)`` (9 doses over [-2, 2],
    2 replicates; ``y`` rounded to 0.01), its globals fixed at the simulation's truth."""
    from drugbayes.testing import curve_copies, curve_modes

    x1 = np.linspace(-2.0, 2.0, 9)
    d, m, s = curve_copies(np.tile(x1, 2), np.asarray(y, np.float32), n_copies, mu)
    jp = curve_modes(d, m, s)
    return d, m, s, jp


def _importance_reference(d, m, s, jp, n_draws: int = 400_000):
    """The curve's posterior by self-normalised importance sampling from the mode-jump
    mixture: draws ``[N, K]`` and weights."""
    from drugbayes.inference.blocked.mode_jump import JUMP_DF, jump_logq

    kj, kz, ku = jax.random.split(jax.random.PRNGKey(3), 3)
    comp = (jax.random.uniform(kj, (n_draws,)) < jnp.exp(jp.logw[0, 0, 1])).astype(int)
    z = jax.random.normal(kz, (n_draws, 4))
    u = jax.random.chisquare(ku, JUMP_DF, (n_draws,)) / JUMP_DF
    mean, V, sl = (v[0, 0][comp] for v in (jp.mean, jp.V, jp.sqrt_lam))
    Gr = (mean + jnp.einsum("nkl,nl->nk", V, z / sl) / jnp.sqrt(u)[:, None])[:, None, :]
    dr = d._replace(**{k: jnp.broadcast_to(v[:1], (n_draws,) + v.shape[1:])
                       for k, v in d._asdict().items()
                       if k not in ("half_range", "n_wells", "priors")})
    jpr = jax.tree_util.tree_map(lambda v: jnp.broadcast_to(v[:1], (n_draws,) + v.shape[1:]),
                                 jp)
    logw = (m.unit_logp(Gr, s._replace(cell_effect=jnp.zeros(n_draws)), dr)
            - jump_logq(Gr, jpr))[:, 0]
    return np.asarray(Gr[:, 0]), np.asarray(jax.nn.softmax(logw))


def _run_curve_kernel(kernel: str, d, m, s, jp, G0, n_steps: int, seed: int = 11):
    """Draws ``[step, copy, K]`` of a curve-only chain with the globals fixed: ``"jump"`` (the
    mode jump alone), ``"hmc"`` (the curve HMC alone: metric at the first mode, step size 0.7,
    the sampler's typical adapted value) or ``"hmc+jump"`` (one sweep of the curve block);
    ``"hmc-top"``: the curve HMC in the sampler's top-dose coordinates;
    ``drugbayes.testing.curve_chain``."""
    from drugbayes.testing import curve_chain as chain

    return chain(d, m, s, jp, "jump" in kernel, G0, n_steps, seed=seed, hmc="hmc" in kernel,
                 top=kernel.endswith("top"))[0]


@pytest.mark.parametrize("kernel", ["jump", "hmc", "hmc-top"])
def test_mode_jump_targets_the_curve_posterior(kernel):
    """The mode jump alone (independence Metropolis-Hastings from the two-mode mixture) and
    the curve HMC alone (in the original and in the top-dose coordinates) sample the same
    conditional posterior of a two-mode curve (cell line
    352, drug 42 of the 300,000-curve benchmark screen: a response begun only at the top two
    doses, either just starting to fall to a low bottom or flattening at a high one).

    Reference: the mixture as an importance sampler, 400,000 draws (Monte Carlo error of the
    mean below 0.002 posterior sd). Each kernel runs 256 chains from a start in the lower
    mode and drops the first quarter; the HMC runs 2,000 steps (it moves between the modes
    slowly: at 400 its means were still 0.2 sd off), the jump 400. Tolerance: every
    parameter's mean within 0.1 posterior sd of the reference, its sd within 10%, and the mass
    of the upper mode (log10 IC50 > 1.8) within 0.03 (Monte Carlo error of the chains about
    0.01). The search must find two modes, 0.5-0.7 log10 units apart. A proposal density left
    out of the acceptance ratio fails, and so does the top-dose coordinates' Jacobian term."""
    n = 256
    d, m, s, jp = _one_curve_problem(n, TWO_MODE_Y, [1.38, 0.44, -2.11])
    assert bool(jp.two.all())
    gap = float(jnp.abs(jp.mean[0, 0, 0, 0] - jp.mean[0, 0, 1, 0]))
    assert 0.5 < gap < 0.7, gap
    G_ref, w = _importance_reference(d, m, s, jp)
    assert 1.0 / np.sum(w ** 2) > 40_000  # the importance sampler is efficient
    ref_mean = w @ G_ref
    ref_sd = np.sqrt(w @ (G_ref - ref_mean) ** 2)
    ref_upper = float(w @ (G_ref[:, 0] > 1.8))
    low = int(jnp.argmin(jp.mean[0, 0, :, 0]))
    G0 = jnp.broadcast_to(jp.mean[:, :, low], (n, 1, 4))
    # local HMC moves between the modes slowly: it gets a longer run
    n_steps = 400 if kernel == "jump" else 2000
    x = _run_curve_kernel(kernel, d, m, s, jp, G0, n_steps)[n_steps // 4:].reshape(-1, 4)
    dmean = np.abs(x.mean(0) - ref_mean) / ref_sd
    ratio = x.std(0) / ref_sd
    upper = float((x[:, 0] > 1.8).mean())
    assert np.all(dmean < 0.1), (kernel, dmean)
    assert np.all(np.abs(ratio - 1) < 0.1), (kernel, ratio)
    assert abs(upper - ref_upper) < 0.03, (kernel, upper, ref_upper)


def test_mode_jump_brings_chains_back_from_a_flat_ridge():
    """A curve whose response has barely begun at the top dose (cell line 23, drug 270 of the
    benchmark screen) has a thin tail along a flat ridge: bottom near the top, IC50 then free.
    A chain that wanders there took hundreds of sweeps to come back with local HMC steps
    alone, which is what gives a few curves of a 300,000-curve screen a low ESS.

    256 chains start on the ridge (log10 IC50 1.3, logit bottom 2.9; the posterior is about
    2.42 +- 0.15 and -1.8). Measured when written, the fraction of chains still outside the
    posterior's central 99% (importance-sampling reference) after 20 sweeps: 0.004-0.008
    with the jump (one or two of 256 chains, depending on float rounding in the compiled
    loop), 0.81 with the curve HMC alone. Asserted: below 0.1 with the jump, above 0.5
    without it (the contrast that makes the jump worth its cost)."""
    n = 256
    d, m, s, jp = _one_curve_problem(n, RIDGE_Y, [2.32, 0.23, -1.85])
    G_ref, w = _importance_reference(d, m, s, jp)
    order = np.argsort(G_ref[:, 0])
    cw = np.cumsum(w[order])
    lo, hi = G_ref[order, 0][np.searchsorted(cw, [0.005, 0.995])]
    G0 = jnp.broadcast_to(jnp.array([1.3, 0.0, 2.9, 0.0]), (n, 1, 4))
    out = {}
    for kernel in ("hmc+jump", "hmc"):
        x = _run_curve_kernel(kernel, d, m, s, jp, G0, 20)[-1, :, 0]
        out[kernel] = float(np.mean((x < lo) | (x > hi)))
    assert out["hmc+jump"] < 0.1 and out["hmc"] > 0.5, (out, lo, hi)


SLOW_Y = [0.95, 1.06, 1.04, 1.10, 1.05, 0.96, 0.86, 0.90, 0.78,
          1.14, 1.14, 1.09, 1.14, 1.02, 1.03, 0.96, 0.95, 0.79]


def test_top_dose_coordinates_round_trip_with_unit_jacobian():
    """The top-dose coordinates are a bijection (round trip within float32 rounding, also
    for IC50s far outside the doses and steep curves) whose log Jacobian determinant is
    ``-log Hill - log ln10``, the term the curve HMC adds."""
    rng = np.random.default_rng(0)
    G = jnp.asarray(rng.normal(size=(64, 3, 4)) * [2.0, 0.7, 2.0, 0.1], jnp.float32)
    G = G.at[0, 0].set(jnp.array([-4.0, 1.5, 3.0, 0.0])).at[0, 1].set(
        jnp.array([5.0, -1.0, -4.0, 0.0]))
    xt = jnp.asarray(rng.uniform(1.0, 2.5, (64, 3)), jnp.float32)
    back = blocks.from_top(blocks.to_top(G, xt), xt)
    assert np.all(np.isfinite(np.asarray(back)))
    np.testing.assert_allclose(np.asarray(back), np.asarray(G), atol=2e-3)
    Z = blocks.to_top(G, xt)
    plan = _model(sc.simulate_screen(2, 2, seed=0)[0])
    jac = coords_jacobian(plan, Z, SimpleNamespace(x_top=xt))
    logdet = np.linalg.slogdet(np.asarray(jac, np.float64))[1]
    np.testing.assert_allclose(logdet, -np.asarray(Z[..., 1]) - np.log(LN10), atol=1e-3)


def test_top_dose_coordinates_mix_a_curve_beyond_the_top_dose():
    """Cell line 419 x drug 19 of ``simulate_screen(1000, 20, seed=0)`` (its ``y`` rounded to
    0.01), the slowest curve of that screen: IC50 beyond the top dose (truth 2.55, top dose
    2) and a nearly flat response, so its IC50 and bottom trade off along a curved ridge.
    256 chains x 1,200 sweeps of the curve HMC from the mode (first 200 dropped), globals
    fixed at the truth. Measured: the integrated autocorrelation time of log10 IC50 is about
    130 sweeps in the original coordinates and about 4 in the top-dose coordinates (step size
    0.7), and the posterior sd of log10 IC50 0.31 with them (0.22 without: the slow chains
    miss the lower tail; 0.33 in ``benchmarks/results/sampler/screen_slow_curve.md`` for the
    unrounded curve). Asserted: below 25 sweeps with them, above 40 without; the sd with them in
    0.25-0.40."""
    from drugbayes.testing import autocorrelation

    n = 256
    d, m, s, jp = _one_curve_problem(n, SLOW_Y, [1.04, 0.45, -2.16])
    G0 = jnp.broadcast_to(jp.mean[:, :, 0], (n, 1, 4))
    tau, sd = {}, {}
    for kernel in ("hmc", "hmc-top"):
        x = _run_curve_kernel(kernel, d, m, s, jp, G0, 1200)[200:, :, 0]
        rho = autocorrelation(x, 199)
        cut = next((i for i, r in enumerate(rho) if r < 0), len(rho))
        tau[kernel] = 1 + 2 * float(np.sum(rho[:cut]))
        sd[kernel] = float(x.std())
    assert tau["hmc-top"] < 25, tau
    assert tau["hmc"] > 40, tau
    assert 0.25 < sd["hmc-top"] < 0.40, sd


@pytest.mark.parametrize("n", [0.0, 1.0, 4.0])
def test_gamma_scale_leaves_its_conditional_invariant(n):
    """The Gibbs-within-Metropolis scale update keeps sigma^-n exp(-ss / 2 sigma^2) times a
    HalfNormal(0.8) prior, also for one term (an improper likelihood density in sigma: the
    screen's sigma_cell_line with two cell lines never moved before) and for none (the prior).
    30,000 steps; the target's mean and sd by quadrature; tolerance 0.02 (Monte Carlo error of
    the chain's mean about 0.005)."""
    from scipy import integrate

    from drugbayes.inference.blocked.kernels import gamma_scale

    ss, s0 = 0.3 * (n > 0), 0.8

    def step(sig, key):
        new = gamma_scale(key, jnp.float32(n), jnp.float32(ss), jnp.float32(s0), sig)
        return new, new

    _, xs = jax.lax.scan(step, jnp.float32(0.5), jax.random.split(jax.random.PRNGKey(0), 30000))
    xs = np.asarray(xs)[500:]

    def dens(s):
        return s ** (-n) * np.exp(-ss / (2 * s * s) - 0.5 * s * s / s0 ** 2)

    z = integrate.quad(dens, 0, 20)[0]
    mean = integrate.quad(lambda s: s * dens(s), 0, 20)[0] / z
    sd = np.sqrt(integrate.quad(lambda s: s * s * dens(s), 0, 20)[0] / z - mean ** 2)
    assert abs(xs.mean() - mean) < 0.02 and abs(xs.std() - sd) < 0.02, (xs.mean(), mean)
    assert np.mean(np.diff(xs) != 0) > 0.3
