"""The screen back-end: agreement with NUTS, device summaries, sharding, compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import drugbayes as db
from drugbayes.errors import ConfigError
from drugbayes.inference import screen as sc

TINY = sc.SamplerSettings(num_chains=2, num_warmup=48, num_samples=20)


@pytest.fixture(scope="module")
def tiny_grid():
    grid, truth = sc.simulate_screen(6, 3, seed=5)
    return grid, truth


def _model(grid):
    from drugbayes.api import _spec

    return sc.ScreenModel.from_spec(_spec(None, "dose_response"), grid.n_exp)


def test_agrees_with_nuts():
    """Same posterior as NUTS on the family's model (small screen, normalised viability).

    Tolerance, in posterior units: for every curve parameter and every hyper-parameter the two
    posterior means differ by at most 0.25 NUTS posterior sd, and the posterior sds agree
    within a factor 1.25. With about 1,000 effective draws on each side the Monte Carlo
    error of a mean is about 0.03 sd, so these bounds catch a wrong target, not noise.
    Measured when written: at most 0.08 sd apart, sd ratios 0.88-1.07; with the matrix
    drug-block shift: 0.07 sd, sd ratios 0.89-1.10.
    """
    df, _ = db.simulate_dose_response(6, 3, seed=2)
    common = {"dose_unit": "uM", "response_scale": "fraction", "seed": 1}
    r = db.fit(df, inference={"method": "screen", "num_chains": 4, "num_warmup": 300,
                              "num_samples": 400}, **common)
    ref = db.fit(df, inference={"method": "nuts", "num_chains": 4, "num_warmup": 400,
                                "num_samples": 600}, **common)
    a, b = r.inference.samples, ref.inference.samples
    sites = ["grp_log10_ic50", "grp_log_hill", "grp_logit_bottom", "grp_log_top",
             "mu_log10_ic50", "mu_log_hill", "mu_logit_bottom", "sigma_curve_log10_ic50",
             "sigma_curve_log_hill", "sigma_curve_logit_bottom", "sigma_cell_line",
             "eff_cell_line", "sigma"]
    worst = {}
    for k in sites:
        x = a[k].reshape(-1, *a[k].shape[2:])
        y = b[k].reshape(-1, *b[k].shape[2:])
        sd = y.std(0)
        dmean = np.max(np.abs(x.mean(0) - y.mean(0)) / sd)
        ratio = x.std(0) / sd
        worst[k] = (float(dmean), float(ratio.min()), float(ratio.max()))
    bad = {k: v for k, v in worst.items() if v[0] > 0.25 or v[1] < 0.8 or v[2] > 1.25}
    assert not bad, bad
    assert r.diagnostics["checks"]["max_rhat"]["value"] < 1.05
    s = r.summary()
    assert set(s.quantity) >= {"log10_ic50", "hill", "auc"}


def test_device_summary_matches_arviz():
    from arviz_stats.base import array_stats

    rng = np.random.default_rng(0)
    c, n, k = 4, 400, 6
    x = np.zeros((c, n, k))
    phi = np.array([0.0, 0.3, 0.6, 0.9, -0.3, 0.95])
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + rng.standard_normal((c, k))
    x[1] += 0.3  # one chain shifted: R-hat above 1
    out = {kk: np.asarray(v) for kk, v in sc.device_summary(jnp.asarray(x, jnp.float32)).items()}
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
    cfg = sc.SamplerSettings(num_chains=2, num_warmup=12, num_samples=3)
    one = sc.sample_screen(grid, m, cfg, seed=3, progress=False)
    two = sc.sample_screen(grid, m, cfg, seed=3, shard=2, progress=False)
    assert two.info["n_devices"] == 2
    # the first sweeps (before any accept decision can flip) match to float precision
    a1 = np.array(one.info["warmup_acceptance"][:2])
    a2 = np.array(two.info["warmup_acceptance"][:2])
    assert np.allclose(a1, a2, atol=1e-4), (a1, a2)
    g1, g2 = one.curves["grp_log10_ic50"], two.curves["grp_log10_ic50"]
    assert g1.shape == g2.shape and np.all(np.isfinite(g2))


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


def test_recovers_simulated_screen(tiny_grid):
    """Posterior medians near the truth on a simulated 6 x 3 screen (short run)."""
    grid, truth = tiny_grid
    m = _model(grid)
    cfg = sc.SamplerSettings(num_chains=2, num_warmup=120, num_samples=100)
    fit = sc.sample_screen(grid, m, cfg, seed=0, progress=False)
    med = fit.curve_summary["grp_log10_ic50"]["median"]
    err = np.abs(med - truth["log10_ic50"])
    inside = (truth["log10_ic50"] > -2) & (truth["log10_ic50"] < 2)
    assert np.median(err[inside]) < 0.15
    assert np.all(np.isfinite(fit.curve_summary["grp_log10_ic50"]["ess_bulk"]))


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


def test_nested_rhat_matches_screen_peers():
    """The device's nested R-hat equals the benchmark's numpy version (itself checked against
    arviz_stats there)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import screen_peers

    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 200, 5))
    x[:2] += 0.4  # one superchain shifted
    dev = np.asarray(sc.device_summary(jnp.asarray(x, jnp.float32), 4)["r_hat_nested"])
    ref = screen_peers.convergence({"a": x}, n_super=4, keep_per_parameter=True)
    want = np.asarray(ref["per_parameter"]["a"]["rhat_nested"])
    assert np.allclose(dev, want, atol=2e-3), (dev, want)


def test_vectorised_diagnostics_path_matches_arviz(monkeypatch):
    """Sites with many components (screens) use the JAX diagnostics; same numbers."""
    from drugbayes import diagnostics

    rng = np.random.default_rng(2)
    x = np.zeros((4, 300, 12))
    for t in range(1, 300):
        x[:, t] = 0.7 * x[:, t - 1] + rng.standard_normal((4, 12))
    ref = diagnostics.param_diagnostics({"a": x})
    monkeypatch.setattr(diagnostics, "VECTORISED_ABOVE", 0)
    got = diagnostics.param_diagnostics({"a": x})
    for r, g in zip(ref, got):
        assert g["r_hat"] == pytest.approx(r["r_hat"], abs=2e-3)
        assert g["ess_bulk"] == pytest.approx(r["ess_bulk"], rel=0.03)
        assert g["ess_tail"] == pytest.approx(r["ess_tail"], rel=0.05)


def test_fit_refuses_draws_beyond_host_memory(monkeypatch):
    """Too many draws for the host: a clear config error before sampling, not an OOM crash."""
    df, _ = db.simulate_dose_response(3, 2, seed=0)
    monkeypatch.setattr(sc, "HOST_BYTES_PER_CURVE_DRAW", 10 ** 12)
    with pytest.raises(ConfigError) as e:
        db.fit(df, dose_unit="uM", response_scale="fraction",
               inference={"method": "screen", "num_samples": 100})
    assert "keep_draws=False" in str(e.value)
