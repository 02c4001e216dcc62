"""Smoke fits, the summary contract, recovery, reproducibility, back-ends."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import drugbayes as db
from drugbayes.families.dose_response.summary import COLUMNS, QUANTITY_ORDER


@pytest.fixture(scope="module")
def screen():
    """6 cell lines x 3 drugs (18 curves), 2 experiments, with known truth."""
    return db.simulate_dose_response(6, 3, n_experiments=2, seed=11)


@pytest.fixture(scope="module")
def nuts_fit(screen):
    wells, _ = screen
    return db.fit(wells, dose_unit="uM", seed=4, interval_prob=0.9,
                  inference={"method": "nuts", "num_chains": 2, "num_warmup": 300,
                             "num_samples": 300},
                  contrasts=[{"drug": "D001", "a": "CL002", "b": "CL001"}])


def test_recovery_90pct_intervals(screen, nuts_fit):
    """At least 80% of the true log10 IC50s lie in their 90% intervals (seed fixed above)."""
    _, truth = screen
    s = nuts_fit.summary()
    est = s[s.quantity == "log10_ic50"].merge(truth, on=["cell_line", "drug"])
    assert len(est) == 18
    inside = (est.lower <= est.log10_ic50) & (est.log10_ic50 <= est.upper)
    assert inside.mean() >= 0.8, est[["cell_line", "drug", "lower", "log10_ic50", "upper"]]
    # point estimates within 0.25 decades on average
    assert np.abs(est["median"] - est["log10_ic50"]).mean() < 0.25


def test_summary_contract(nuts_fit):
    s = nuts_fit.summary()
    from drugbayes.report.checks import COLUMNS as CHECKS

    assert list(s.columns) == COLUMNS + list(CHECKS)
    per_group = s[~s.cell_line.str.contains("/")]
    counts = per_group.groupby(["cell_line", "drug", "quantity"]).size()
    assert (counts == 1).all() and len(counts) == 18 * len(QUANTITY_ORDER)
    for c in ("mean", "sd", "median", "lower", "upper", "r_hat", "ess_bulk", "ess_tail"):
        assert pd.api.types.is_float_dtype(s[c]), c
    assert set(s.censored.unique()) <= {"", "above_max_dose", "below_min_dose"}
    fc = s[s.quantity == "ic50_fold_change"]
    assert fc.cell_line.tolist() == ["CL002/CL001"] and fc.unit.tolist() == ["ratio"]
    ic = s[s.quantity == "ic50"].set_index(["cell_line", "drug"])
    lg = s[s.quantity == "log10_ic50"].set_index(["cell_line", "drug"])
    # equal up to the interpolation between the two middle draws (even number of draws)
    np.testing.assert_allclose(np.log10(ic["median"]), lg["median"], atol=1e-4)
    a = s.set_index(["cell_line", "drug", "quantity"])
    ratio = 10 ** (a.loc[("CL002", "D001", "log10_ic50"), "median"]
                   - a.loc[("CL001", "D001", "log10_ic50"), "median"])
    assert a.loc[("CL002/CL001", "D001", "ic50_fold_change"), "median"] == pytest.approx(
        ratio, rel=0.05)
    emax = a.xs("emax", level="quantity")["mean"]
    vmax = a.xs("viability_at_max_dose", level="quantity")["mean"]
    np.testing.assert_allclose(emax, 1 - vmax)
    assert nuts_fit.summary(0.5)["interval_prob"].eq(0.5).all()


def test_posterior_is_labelled(nuts_fit, tmp_path):
    post = nuts_fit.posterior
    assert isinstance(post, xr.DataTree)
    p = post["posterior"]
    assert list(p["mu_log10_ic50"].dims) == ["chain", "draw", "drug"]
    assert list(p["log10_ic50"].coords["cell_line"].values) == nuts_fit.data.cell_lines
    assert list(p["experiment_effect"].coords["experiment"].values) == ["E1", "E2"]
    assert "diverging" in post["sample_stats"]
    path = nuts_fit.to_netcdf(tmp_path / "p.nc")
    back = xr.open_datatree(path, engine="h5netcdf")
    assert "posterior" in back.children


def test_diagnostics_content(nuts_fit):
    d = nuts_fit.diagnostics
    assert {"max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "min_bfmi"} <= set(
        d["checks"])
    assert isinstance(d["passed"], bool) and "timings" in d
    for o in d["offending"]:
        assert "[" in o["parameter"] or o["parameter"].startswith("sigma")


def test_map_and_svi_agree_with_truth(screen):
    wells, truth = screen
    for inf in ({"method": "map"}, {"method": "svi", "num_steps": 2000, "num_samples": 100}):
        r = db.fit(wells, dose_unit="uM", inference=inf, seed=0)
        est = r.summary().query("quantity == 'log10_ic50'").merge(truth,
                                                                  on=["cell_line", "drug"])
        assert np.abs(est["median"] - est["log10_ic50"]).median() < 0.2, inf


def test_reproducible_with_seed(small_screen):
    wells, _ = small_screen
    # reproducibility does not need a long chain: a tiny budget, the same code paths
    inf = {"method": "nuts", "num_chains": 2, "num_warmup": 20, "num_samples": 10,
           "map_num_steps": 200}
    a = db.fit(wells, dose_unit="uM", inference=inf, seed=7).summary()
    b = db.fit(wells, dose_unit="uM", inference=inf, seed=7).summary()
    pd.testing.assert_frame_equal(a, b)


def test_dose_unit_invariance_and_percent_scale(small_screen):
    wells, _ = small_screen
    nm = wells.assign(dose=wells.dose * 1000.0)
    pct = wells.assign(response=wells.response * 100.0)
    inf = {"method": "map", "map_num_steps": 1500}
    a = db.fit(wells, dose_unit="uM", inference=inf).summary().query("quantity=='log10_ic50'")
    b = db.fit(nm, dose_unit="nM", inference=inf).summary().query("quantity=='log10_ic50'")
    c = db.fit(pct, dose_unit="uM", response_scale="percent", inference=inf).summary().query(
        "quantity=='log10_ic50'")
    np.testing.assert_allclose(b["median"].to_numpy() - 3.0, a["median"].to_numpy(), atol=2e-3)
    np.testing.assert_allclose(c["median"].to_numpy(), a["median"].to_numpy(), atol=2e-3)


def test_mixed_dose_ranges_3pl_student_t():
    from drugbayes.simulate import draw_dose_response_truth, simulate_wells

    truth, _ = draw_dose_response_truth(3, 2, dose_range=(1e-3, 10.0), seed=2)
    grids = {(r.cell_line, r.drug): np.logspace(-3 + i % 3, 1 + i % 3, 6 + i % 4)
             for i, r in enumerate(truth.itertuples())}
    wells = simulate_wells(truth, grids, seed=1)
    for preset in ("dose_response/hier_3pl", "dose_response/robust_4pl"):
        r = db.fit(wells, dose_unit="uM", model=preset, inference={"method": "map"})
        s = r.summary()
        assert np.isfinite(s.query("quantity == 'log10_ic50'")["median"]).all()
        assert r.spec.preset == preset
    lo = r.data.group_log10_min + r.data.drug_center[r.data.group_drug]
    assert len(np.unique(np.round(lo, 3))) > 1  # the ranges really differ


def test_normalised_vehicle_rows_inform_top():
    wells, _ = db.simulate_dose_response(2, 1, seed=5)
    veh = wells.drop_duplicates(["cell_line", "drug"]).assign(dose=0.0, response=1.0)
    vt, data = db.prepare(pd.concat([wells, veh], ignore_index=True), dose_unit="uM")
    assert data.is_zero.sum() == len(veh)
    assert np.all(data.x[data.is_zero] == 0.0)


def test_chunked_progress_and_parallel_chains(small_screen, caplog):
    import logging

    import jax

    wells, _ = small_screen
    caplog.set_level(logging.INFO, logger="drugbayes")
    r = db.fit(wells, dose_unit="uM", seed=1,
               inference={"method": "nuts", "num_chains": 2, "num_warmup": 40,
                          "num_samples": 45, "chunk_size": 20, "map_num_steps": 100,
                          "chain_method": "parallel"})
    msgs = [m for m in caplog.messages if "draws per chain" in m]
    assert len(msgs) == 3 and msgs[0].startswith("nuts: 20/45 draws per chain")
    assert r.inference.samples["mu_log10_ic50"].shape[:2] == (2, 45)
    expected = "parallel" if jax.local_device_count() >= 2 else "vectorized"
    assert r.inference.info["chain_method"] == expected
