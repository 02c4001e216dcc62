"""The flexible interaction surface of the combination family (``interaction = "flexible"``,
preset ``combination/flexible``) and the per-matrix comparison with MuSyC."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro import handlers
from numpyro.infer import Predictive

import drugbayes as db
from drugbayes.families import Spec
from drugbayes.families.combination import arrays, simulate
from drugbayes.families.combination.compare import compare_surfaces, with_better_fit
from drugbayes.families.combination.derived import derived, volume_under_surface
from drugbayes.families.combination.model import (
    interaction_at,
    interaction_basis,
    interaction_ranges,
    latents,
    model,
    surface_at,
)
from drugbayes.families.combination.surfaces import _surfaces, combination_wells


def _spec() -> Spec:
    from drugbayes.api import _spec as spec_of

    return spec_of("combination/flexible", "combination")


def _data(n_cell_lines=2, seed=3):
    wells, truth = simulate(n_cell_lines, n_doses=4, n_replicates=1, seed=seed)
    _, data = db.prepare(wells, kind="combination", dose_unit="uM", response_scale="fraction")
    return wells, truth, data


def test_basis_is_zero_at_dose_zero_bounded_and_finite_in_float32():
    """Every basis function is 0 where either dose is 0 (the monotherapy margins stay the
    Hill curves), lies in [0, 1], and stays finite in float32 at extreme doses."""
    rng = jnp.asarray([[-1.0, 1.0, -0.5, 2.0]], jnp.float32)
    x = jnp.asarray([-1e30, -1e6, -1.0, 0.0, 1.0, 1e6, 1e30], jnp.float32)
    xa, xb = jnp.meshgrid(x, x, indexing="ij")
    for za, zb in ((False, False), (True, False), (False, True)):
        b = interaction_basis(xa, xb, jnp.full(xa.shape, za), jnp.full(xb.shape, zb),
                              rng[0], 4, jnp)
        assert b.shape == xa.shape + (16,) and b.dtype == jnp.float32
        assert bool(jnp.all(jnp.isfinite(b))) and float(b.min()) >= 0 and float(b.max()) <= 1
        if za or zb:
            assert float(jnp.abs(b).max()) == 0.0
    # inside the range the basis has a bump at each knot of each axis
    b = interaction_basis(jnp.asarray(-1.0), jnp.asarray(2.0), False, False, rng[0], 4, jnp)
    assert float(b[3]) == pytest.approx(1.0)  # knot (a = 0, b = 3): lo of a, hi of b


def test_ranges_are_each_combinations_tested_doses():
    """The basis of a combination spans its lowest to highest tested dose > 0 of each drug
    (from the grid: the same numbers as its wells)."""
    _, _, data = _data()
    r = interaction_ranges(data)
    for k in range(data.n_combos):
        wells = data.matrix_combo == k
        xa = data.x_a[wells][data.mask[wells] & ~data.zero_a[wells]]
        xb = data.x_b[wells][data.mask[wells] & ~data.zero_b[wells]]
        np.testing.assert_allclose(r[k], [xa.min(), xa.max(), xb.min(), xb.max()], atol=1e-6)


@pytest.fixture(scope="module")
def prior():
    """Two simulated matrices and 40 prior draws of the flexible model (one compiled
    program), as ``(1, draw, ...)`` arrays."""
    _, _, data = _data()
    spec = _spec()
    a = arrays(data)
    pred = Predictive(model, num_samples=40)
    out = jax.jit(lambda key: pred(key, a, spec, False))(jax.random.PRNGKey(0))
    return data, spec, {k: np.asarray(v)[None] for k, v in out.items()}


def _params(spec, a, draw):
    """The likelihood's parameters (latents) at one draw, and its surface at the wells."""
    def run(d):
        p = handlers.substitute(handlers.seed(latents, 0), data=d)(spec, a)
        return p, surface_at(p, None, a["x_a"], a["x_b"], a["zero_a"], a["zero_b"])

    return jax.jit(run)(draw)


def test_model_surface_is_musyc_plus_e0_g_and_the_margins_are_musyc(prior):
    """The likelihood's surface is the MuSyC surface plus ``E0 * g``; where either dose is 0
    it is the MuSyC surface (the monotherapy curves) exactly."""
    data, spec, draws = prior
    a = arrays(data)
    params, v = _params(spec, a, {k: x[0, 0] for k, x in draws.items()})
    assert params["interaction_coef"].shape == (data.n_matrices, 16)
    musyc = {k: val for k, val in params.items() if not k.startswith("interaction_")}
    v0 = surface_at(musyc, None, a["x_a"], a["x_b"], a["zero_a"], a["zero_b"], xp=np)
    g = interaction_at(params, None, a["x_a"], a["x_b"], a["zero_a"], a["zero_b"], xp=np)
    np.testing.assert_allclose(v, v0 + np.asarray(params["e0"])[:, None] * g, rtol=1e-5,
                               atol=1e-6)
    margin = np.asarray(a["mask"] & (a["zero_a"] | a["zero_b"]))
    np.testing.assert_allclose(np.asarray(v)[margin], v0[margin], rtol=1e-6)
    inner = np.asarray(a["mask"] & ~a["zero_a"] & ~a["zero_b"])
    assert float(np.abs(g[inner]).max()) > 1e-3  # the prior draw is not flat


def test_derived_surfaces_are_the_models_surface_at_the_wells(prior):
    """The float64 surfaces of the derived quantities (:func:`_surfaces`) are the model's
    float32 surface at every well: one surface, in both places."""
    data, spec, draws = prior
    grid = _surfaces(data, draws)["viability"][0]  # (draw, combo, ia, ib)
    a = arrays(data)
    for s in range(3):
        _, v = _params(spec, a, {k: x[0, s] for k, x in draws.items()})
        v = np.asarray(v)
        for m in range(data.n_matrices):
            k = data.matrix_combo[m]
            for j in np.flatnonzero(data.mask[m]):
                da, dbb = (data.dose_scale.to_dose(np.asarray(x), data.slot_drug(w)[k], z)
                           for x, w, z in ((data.x_a[m, j], "a", data.zero_a[m, j]),
                                           (data.x_b[m, j], "b", data.zero_b[m, j])))
                ia = int(np.nanargmin(np.abs(data.grid_dose_a[k] - da)))
                ib = int(np.nanargmin(np.abs(data.grid_dose_b[k] - dbb)))
                assert grid[s, k, ia, ib] == pytest.approx(float(v[m, j]), rel=2e-5, abs=2e-6)


def test_vus_is_the_mean_height_over_log_dose():
    """A constant excess has that VUS; a linear one in log dose a, its midpoint value."""
    _, _, data = _data()
    na, nb = data.grid_dose_a.shape[1], data.grid_dose_b.shape[1]
    const = np.full((1, 1, data.n_combos, na, nb), 0.25)
    np.testing.assert_allclose(volume_under_surface(const, data), 0.25)
    xa = data.grid_x("a")
    lin = np.broadcast_to(xa[None, None, :, :, None], const.shape)
    lo, hi = xa[:, 1:].min(axis=1), xa[:, 1:].max(axis=1)
    np.testing.assert_allclose(volume_under_surface(lin, data)[0, 0], 0.5 * (lo + hi))


def test_flexible_quantities_follow_the_surface(prior):
    """Under the flexible surface the Bliss excess is the mean over the combination wells of
    ``f_a f_b - viability / E0`` of the same surface, ``zip_delta`` equals it, ``vus`` is
    reported and CI_50 is not (it would follow the surface beyond the tested doses)."""
    data, _, draws = prior
    dq = derived(data, draws, cache=False)
    s = dq["_surfaces"]
    cw = combination_wells(data)
    manual = np.array([[[np.mean(s["bliss"][c, d, k][cw[k]]
                                 - s["viability"][c, d, k][cw[k]]
                                 / dq["e0"][c, d, k]) for k in range(data.n_combos)]
                        for d in range(40)] for c in range(1)])
    np.testing.assert_allclose(dq["bliss_excess"], manual, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dq["zip_delta"], dq["bliss_excess"])
    assert "vus" in dq and np.isfinite(dq["vus"]).all()
    assert "combination_index_50" not in dq


def _bumped(seed=5):
    """One matrix MuSyC-shaped, one with a non-monotone bump (+0.4 E0) in its interior."""
    wells, truth = simulate(2, n_doses=5, n_replicates=1, seed=seed, noise_sd=0.03)
    la, lb = np.log10(wells["dose_a"].where(wells["dose_a"] > 0)), np.log10(
        wells["dose_b"].where(wells["dose_b"] > 0))
    bump = 0.4 * np.exp(-((la + 0.5) ** 2 + (lb + 0.5) ** 2) / (2 * 0.5 ** 2))
    hit = (wells["cell_line"] == "CL02") & (wells["dose_a"] > 0) & (wells["dose_b"] > 0)
    return wells.assign(response=np.where(hit, wells["response"] + bump.fillna(0.0),
                                          wells["response"]))


def test_compare_surfaces_mechanics_on_two_copies_of_one_posterior(prior):
    """The per-matrix comparison of a posterior with itself: one row per matrix, finite
    elpd, difference exactly 0, ``tie`` everywhere; ``with_better_fit`` puts it on the
    combination rows of a summary (empty on the pooled rows); fits of different tables are
    refused."""
    data, spec, draws = prior
    res = SimpleNamespace(data=data, spec=spec, inference=SimpleNamespace(samples=draws),
                          approximation=SimpleNamespace(draws=True))
    c = compare_surfaces(res, res)
    assert list(c["matrix"]) == data.matrix_labels
    assert np.isfinite(c[["elpd_flexible", "elpd_musyc"]].to_numpy()).all()
    assert (c["elpd_diff"] == 0).all() and (c["better_fit"] == "tie").all()
    summary = pd.DataFrame({"cell_line": ["CL01", "CL02", "pooled"], "drug_a": "DA",
                            "drug_b": "DB", "experiment": "all", "quantity": "vus"})
    shifted = c.assign(elpd_diff=[3.0, -0.5])
    out = with_better_fit(summary, shifted)
    assert list(out["better_fit"]) == ["flexible", "tie", ""]
    other = SimpleNamespace(**{**vars(res), "data": dataclasses.replace(data, y=data.y + 0.1)})
    with pytest.raises(ValueError, match="same table"):
        compare_surfaces(res, other)


@pytest.mark.slow
def test_flexible_surface_follows_a_non_monotone_matrix_nuts():
    """A matrix with a non-monotone bump (+0.4 E0 at the centre of its doses): the MuSyC fit
    flags it (ppc_p < 0.05) and not the MuSyC-shaped one; the flexible fit's Bliss excess
    has the sign of the observed excess over the same reference with a 95% interval that
    excludes 0, and per-matrix LOO prefers the flexible surface there."""
    wells = _bumped()
    inf = {"method": "nuts", "num_warmup": 300, "num_samples": 300, "num_chains": 2}
    kw = dict(dose_unit="uM", response_scale="fraction", inference=inf, seed=3,
              diagnostics={"unit_checks": True})
    mus = db.fit(wells, "combination", model="combination/musyc_student_t", **kw)
    flex = db.fit(wells, "combination", model={"preset": "combination/flexible",
                                                "options": {"compare_musyc": False}}, **kw)
    sm, sf = mus.summary(), flex.summary()

    def row(s, cl, q):
        return s[(s["cell_line"] == cl) & (s["quantity"] == q)].iloc[0]

    assert bool(row(sm, "CL02", "bliss_excess")["misfit"])
    assert not bool(row(sm, "CL01", "bliss_excess")["misfit"])
    for q in ("bliss_excess", "zip_delta", "vus"):
        r, obs = row(sf, "CL02", q), row(sf, "CL02", "bliss_excess_observed")
        assert np.sign(r["mean"]) == np.sign(obs["mean"]) == -1.0
        assert r["upper"] < 0
    c = compare_surfaces(flex, mus).set_index("cell_line")
    assert c.loc["CL02", "better_fit"] == "flexible"
    assert isinstance(c, pd.DataFrame)


def test_one_run_fits_both_surfaces_and_says_which_fits_better(tmp_path):
    """The flexible preset's run (``compare_musyc``, on in the preset) also fits the MuSyC
    surface to the same table and puts the per-matrix comparison in the run directory:
    ``elpd_diff`` / ``better_fit`` on each combination's summary rows (empty on the pooled
    rows), ``surface_comparison.csv``, the reference fit's own diagnostics in
    ``diagnostics.json``; no checkpoint is left beside the run directory. Plumbing only (SVI,
    tiny budget): which surface wins is the slow NUTS test's point."""
    import json

    from drugbayes.cli import main

    wells = _bumped()
    wells.to_csv(tmp_path / "wells.csv", index=False)
    out = tmp_path / "run"
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\npath = "wells.csv"\nkind = "combination"\ndose_unit = "uM"\n'
                   'response_scale = "fraction"\n[model]\npreset = "combination/flexible"\n'
                   '[inference]\nmethod = "svi"\nnum_steps = 100\nnum_samples = 100\n'
                   f'[run]\nseed = 3\noutput_dir = "{out}"\n[diagnostics]\nunit_checks = false\n'
                   '[report]\nplots = false\n')
    assert main(["run", str(cfg), "--quiet"]) in (0, 3)
    s = pd.read_csv(out / "summary.csv")
    c = pd.read_csv(out / "surface_comparison.csv")
    assert list(c["cell_line"]) == ["CL01", "CL02"]
    assert set(c["better_fit"]) <= {"flexible", "musyc", "tie"}
    np.testing.assert_allclose(c["elpd_diff"], c["elpd_flexible"] - c["elpd_musyc"])
    for cl, d in zip(c["cell_line"], c["elpd_diff"]):
        rows = s[(s["cell_line"] == cl) & (s["experiment"] == "all")]
        assert len(rows) and np.allclose(rows["elpd_diff"], d)
    assert s.loc[~s["cell_line"].isin(["CL01", "CL02"]), "better_fit"].isna().all()
    ref = json.loads((out / "diagnostics.json").read_text())["reference"]
    assert ref["approximation"] == "variational" and "passed" in ref
    assert sum(ref["better_fit"].values()) == 2
    assert not list(tmp_path.glob(".*checkpoint*"))
