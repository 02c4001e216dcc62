"""The ``joint`` family: named data blocks, one registry of levels, the links (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from joint_helpers import joint_raw, problems, write_tables
from numpyro.handlers import seed, trace

import drugbayes as db
from drugbayes.api import check_config
from drugbayes.cli import main
from drugbayes.config import config_from_dict
from drugbayes.errors import InputError
from drugbayes.families import REGISTRY

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "configs" / "examples" / "her2_joint.toml"
FAM = REGISTRY["joint"]


def test_named_blocks_are_a_kind_of_their_reader(tmp_path, joint_study):
    tables, opts = joint_study
    write_tables(tmp_path, tables)
    cfg = config_from_dict(joint_raw(opts["arm_drugs"]), base_dir=tmp_path)
    assert cfg.data.kind == "joint"
    assert set(cfg.data.blocks) == {"dose_response", "combination", "xenograft"}
    assert cfg.data.blocks["xenograft"].control_arm == "vehicle"
    paths = cfg.resolved_data_paths()["blocks"]
    assert paths["combination"]["path"] == str(tmp_path / "combination.csv")
    from drugbayes.outputs import input_files

    assert {p.name for p in input_files(cfg)} == {"dose_response.csv", "combination.csv",
                                                  "xenograft.csv"}
    spec, vt, data = check_config(cfg)
    assert data.cell_lines == ["A", "B", "C"] and data.drugs == ["x", "y"]
    # the shared hierarchy covers every in-vitro line x drug once
    assert len(data.dr.group_cell) == 6


def test_a_block_key_of_another_kind_is_refused():
    from drugbayes.errors import ConfigError

    raw = joint_raw({}, xenograft={"dose_unit": "uM"}, dose_response={"control_arm": "v"})
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw)
    text = problems(e.value)
    assert "control_arm" in text and "dose_unit" in text  # both blocks, one error
    assert "data.xenograft" in text and "data.dose_response" in text


def test_every_problem_of_every_block_at_once(tmp_path, joint_study):
    tables, opts = joint_study
    tables = {k: v.copy() for k, v in tables.items()}
    tables["dose_response"]["response"] = tables["dose_response"]["response"].astype(object)
    tables["dose_response"].loc[3, "response"] = "abc"
    tables["xenograft"].loc[5, "volume"] = -4.0
    write_tables(tmp_path, tables)
    cfg = config_from_dict(joint_raw(opts["arm_drugs"], combination={"dose_unit": "nM"}),
                           base_dir=tmp_path)
    with pytest.raises(InputError) as e:
        check_config(cfg)
    text = problems(e.value)
    assert "[data.dose_response]" in text and "[data.xenograft]" in text
    assert "conflicting dose units" in text


def test_cross_block_names(tmp_path, joint_study):
    tables, opts = joint_study
    tables = {k: v.copy() for k, v in tables.items()}
    tables["xenograft"]["cell_line"] = tables["xenograft"]["cell_line"].replace({"A": "a."})
    write_tables(tmp_path, tables)
    arm_drugs = {**opts["arm_drugs"], "x": ["x", "z"]}
    cfg = config_from_dict(joint_raw(arm_drugs), base_dir=tmp_path)
    with pytest.raises(InputError) as e:
        check_config(cfg)
    text = problems(e.value)
    assert "'a.' differs from 'A'" in text  # a near miss, reported
    assert "'z'" in text and "not a drug of any in-vitro block" in text
    # an alias makes them one level; the unknown drug is still refused
    raw = joint_raw(opts["arm_drugs"])
    raw["data"]["aliases"] = {"a.": "A", "Q": "A"}
    with pytest.raises(InputError, match="names no cell line or drug of any block"):
        check_config(config_from_dict(raw, base_dir=tmp_path))
    raw["data"]["aliases"] = {"a.": "A"}
    spec, vt, data = check_config(config_from_dict(raw, base_dir=tmp_path))
    assert data.blocks["xenograft"].cell_lines == ["A", "C"]
    assert data.cell_lines == ["A", "B", "C"]


def test_prediction_needs_in_vitro_data(tmp_path, joint_study):
    tables, opts = joint_study
    tables = {k: v.copy() for k, v in tables.items()}
    # a line only in the xenograft block
    tables["xenograft"]["cell_line"] = tables["xenograft"]["cell_line"].replace({"C": "D"})
    write_tables(tmp_path, tables)
    raw = joint_raw(opts["arm_drugs"])
    raw["model"]["options"] = {"predict": [{"cell_line": "D", "arm": "x"},
                                           {"cell_line": "B", "arm": "nope"}]}
    with pytest.raises(InputError) as e:
        check_config(config_from_dict(raw, base_dir=tmp_path))
    text = problems(e.value)
    assert "needs this cell line's in-vitro curve" in text  # D's observed arms
    raw["model"]["options"] = {"predict": [{"cell_line": "B", "arm": "x+y"}]}
    tables, _ = joint_study
    write_tables(tmp_path, tables)
    spec, vt, data = check_config(config_from_dict(raw, base_dir=tmp_path))
    assert data.predict[0]["cell_line"] == "B" and len(data.predict[0]["units"]) == 2
    raw["model"]["options"] = {"predict": [{"cell_line": "B", "arm": "nope"}]}
    with pytest.raises(InputError, match="not an arm"):
        check_config(config_from_dict(raw, base_dir=tmp_path))


def test_prediction_for_a_xenograft_only_line_is_refused(tmp_path, joint_study):
    tables, opts = joint_study
    tables = {k: v.copy() for k, v in tables.items()}
    extra = tables["xenograft"][tables["xenograft"]["cell_line"] == "C"].copy()
    extra = extra[extra["arm"] == "vehicle"]
    extra["cell_line"] = "E"
    extra["mouse"] = "E-" + extra["mouse"]
    import pandas as pd

    tables["xenograft"] = pd.concat([tables["xenograft"], extra], ignore_index=True)
    write_tables(tmp_path, tables)
    raw = joint_raw(opts["arm_drugs"])
    raw["model"]["options"] = {"predict": [{"cell_line": "E", "arm": "x"}]}
    with pytest.raises(InputError) as e:
        check_config(config_from_dict(raw, base_dir=tmp_path))
    assert "a prediction needs the line's in-vitro curve of x" in problems(e.value)


def _trace(spec, a):
    return trace(seed(FAM.model, jax.random.PRNGKey(3))).get_trace(a, spec)


def test_map_start_is_the_xenograft_familys(joint_study):
    """The joint MAP starts the xenograft block where the xenograft family does (from zeros it
    stopped in a degenerate mode: noise SD 3, mouse correlation 1; issue 26)."""
    from drugbayes.families.joint.model import component_spec
    from drugbayes.families.xenograft.model import map_start as xe_map_start

    tables, opts = joint_study
    _, data = db.prepare(tables, kind="joint", **opts)
    spec = FAM.make_spec({"xenograft": {"parameterization": "centered"}}, {})
    FAM.check_spec(spec, data)
    a = FAM.arrays(data)
    start = FAM.map_start(a, spec)
    ax = a["xenograft"]
    # non-centred mice (this small study's "auto"): the family's own standardised deviations
    nc = FAM.map_start(a, FAM.make_spec({}, {}))
    np.testing.assert_allclose(nc["xenograft.z_mouse"],
                               xe_map_start(ax, component_spec(FAM.make_spec({}, {}),
                                                               "xenograft"))["z_mouse"])
    xs = xe_map_start(ax, component_spec(spec, "xenograft"))
    for k in ("sigma", "sd_mouse_baseline", "sd_mouse_rate_10d", "z_baseline"):
        np.testing.assert_allclose(start["xenograft." + k], xs[k])
    assert "xenograft.arm_rate_10d" not in start  # given by the link
    # each mouse at its own least-squares line: (level at the mean time, rate), centred
    me = np.asarray(start["xenograft.mouse_effect"])
    mg = np.asarray(ax["mouse_group"])
    base = float(ax["center"]) + 1.5 * np.asarray(xs["z_baseline"])
    b = base[mg] + xs["sd_mouse_baseline"] * xs["z_mouse"][:, 0]
    r = xs["arm_rate_10d"][mg] + xs["sd_mouse_rate_10d"] * xs["z_mouse"][:, 1]
    np.testing.assert_allclose(me[:, 1], r, rtol=1e-6)
    np.testing.assert_allclose(me[:, 0] - ax["t_center"] * me[:, 1], b, rtol=1e-6)
    # the lines' untreated rates at their control groups' (lines without controls: the mean)
    j = a["joint"]
    control = (j["group_units"] == j["n_unit"]).all(1)
    has = np.array([(control & (j["group_cell"] == c)).any() for c in range(j["n_link_cell"])])
    # centred where control mice pin the rate, non-centred (z = 0: the mean) elsewhere
    raw = np.asarray(start["link.raw_control_rate_10d"])
    r0 = np.where(has, raw, start["link.mu_control_rate_10d"] + 0.5 * raw)
    np.testing.assert_allclose(raw[~has], 0.0)
    assert any(has)
    for c in range(j["n_link_cell"]):
        sel = control & (j["group_cell"] == c)
        expect = xs["arm_rate_10d"][sel].mean() if has[c] else start["link.mu_control_rate_10d"]
        np.testing.assert_allclose(r0[c], expect, rtol=1e-5)


@pytest.mark.slow
def test_one_monotherapy_hierarchy_and_the_link(joint_study):
    """By a trace of the model (slow: tracing compiles the three families' models, ~40 s)."""
    tables, opts = joint_study
    _, data = db.prepare(tables, kind="joint", **opts)
    spec = FAM.make_spec({}, {})
    FAM.check_spec(spec, data)
    a = FAM.arrays(data)
    tr = _trace(spec, a)
    latent = {k for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
    # the checkerboards' monotherapy curves are the dose-response hierarchy's, not their own
    assert not any(k.startswith(("combination.mono_", "combination.mu_",
                                 "combination.sigma_mono")) for k in latent)
    assert "dose_response.mu_log10_ic50" in latent and "link.assay_log10_ic50" in latent
    grp = np.asarray(tr["dose_response.grp_log10_ic50"]["value"])
    off = np.zeros(2)
    off[a["joint"]["offset_drugs"]] = np.asarray(tr["link.assay_log10_ic50"]["value"])
    md = a["combination"]["mono_drug"]
    expect = grp[a["joint"]["comb_mono_group"]] + a["joint"]["comb_shift"][md] + off[md]
    np.testing.assert_allclose(tr["combination.mono_log10_c"]["value"], expect, rtol=1e-6)
    # the arm rates are the link's: line rate - reductions of the arm's drugs - excess
    j = a["joint"]
    rate = np.asarray(tr["xenograft.arm_rate_10d"]["value"])
    r0 = np.asarray(tr["link.control_rate"]["value"]) * 10
    red = np.concatenate([np.asarray(tr["link.reduction"]["value"]) * 10, [0.0]])
    ex = np.concatenate([np.asarray(tr["link.in_vivo_excess"]["value"]) * 10, [0.0]])
    expect = r0[j["group_cell"]] - red[j["group_units"]].sum(1) - ex[j["group_syn"]]
    np.testing.assert_allclose(rate, expect, rtol=1e-5, atol=1e-6)
    assert tr["xenograft.arm_rate_10d"]["is_observed"]
    # sites of two families never collide: each has its own sigma
    assert {"dose_response.sigma", "combination.sigma", "xenograft.sigma"} <= set(tr)


@pytest.mark.slow
def test_log_ic50_link_and_posterior_dims(joint_study):
    tables, opts = joint_study
    _, data = db.prepare(tables, kind="joint", **opts)
    spec = FAM.make_spec({"link": "log_ic50_linear"}, {})
    FAM.check_spec(spec, data)
    tr = _trace(spec, FAM.arrays(data))
    assert "link.slope_10d" in tr and "link.rmax_10d" not in tr
    dims, coords = FAM.posterior_dims(data)
    assert coords["cell_line"] == ["A", "B", "C"]  # the registry's, shared
    for site, ds in dims.items():
        assert all(d in coords for d in ds), site
        if site in tr and tr[site]["type"] in ("sample", "deterministic"):
            shape = np.shape(tr[site]["value"])
            assert shape == tuple(len(coords[d]) for d in ds), (site, shape)


def test_validate_cli_on_the_example(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "link: 7 cell line x drug, 3 combination arm(s), 2 prediction(s)" in (
        capsys.readouterr().out)


def test_cli_bad_input_exit_2_no_output(tmp_path, joint_study):
    tables, opts = joint_study
    write_tables(tmp_path, tables)
    text = EXAMPLE.read_text().replace("data/her2_joint_", "").replace(
        '"lapatinib+trastuzumab" = ["lapatinib", "trastuzumab"]', '"x+y" = ["x", "w"]')
    cfg = tmp_path / "joint.toml"
    cfg.write_text(text.replace("[data.aliases]", "[data.ignored]"))
    assert main(["run", str(cfg), "--quiet"]) == 2
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_cli_run_of_the_example(tmp_path):
    """The example end to end with a tiny budget (minutes: the joint model's compilation)."""
    out = subprocess.run(
        [sys.executable, "-m", "drugbayes", "run", str(EXAMPLE), "--quiet",
         "--set", f"run.output_dir={tmp_path / 'out'}", "--set", "inference.num_chains=1",
         "--set", "inference.num_warmup=30", "--set", "inference.num_samples=30",
         "--set", "inference.max_tree_depth=4", "--set", "inference.init=median"],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "DRUGBAYES_UNIT_CHECKS": "0"})
    assert out.returncode in (0, 3), out.stderr
    import pandas as pd

    s = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(s["assay"]) == {"dose_response", "combination", "xenograft", "link"}
    pred = s[s["quantity"] == "predicted_tc"]
    assert list(pred["cell_line"]) == ["HCC1954", "SKBR3"]
    assert (pred["lower"] < pred["upper"]).all()
    assert (tmp_path / "out" / "plots" / "link_lapatinib.png").exists()
    import xarray as xr

    tree = xr.open_datatree(tmp_path / "out" / "posterior.nc")
    post = tree["posterior"]
    assert "dose_response.sigma" in post and "combination.sigma" in post


def test_blocks_deterministic_sites_are_kept_from_map_and_svi_draws():
    """The blocks' summaries read their deterministic sites (``xenograft.grp_rate``, ...):
    the joint family declares them under their scopes, so a MAP or SVI run keeps them (it
    failed with ``KeyError: 'grp_rate'`` when only the link's were declared)."""
    from drugbayes.families import get_family
    from drugbayes.families.xenograft.spec import DETERMINISTIC as XE

    sites = set(get_family("joint").deterministic_sites)
    assert {f"xenograft.{s}" for s in XE} <= sites
    assert {"dose_response.grp_log10_ic50", "combination.grp_beta", "link.reduction"} <= sites


@pytest.mark.slow
def test_map_run_of_the_example(tmp_path):
    """The example under ``map`` with Laplace (about 80 s): every assay in the summary."""
    import pandas as pd

    from drugbayes.cli import main

    out = tmp_path / "out"
    assert main(["run", str(EXAMPLE), "--quiet", "--set", f"run.output_dir={out}",
                 "--set", "inference.method=map", "--set", "report.plots=false"]) == 0
    s = pd.read_csv(out / "summary.csv")
    assert set(s["assay"]) == {"dose_response", "combination", "xenograft", "link"}
    assert s.loc[s["quantity"] == "predicted_tc", "lower"].notna().all()


def test_link_plots_from_draws(tmp_path, joint_study):
    """The link and arm-rate figures from draws of the right shapes (no fit)."""
    from types import SimpleNamespace

    from drugbayes.families.joint.plots import plot_joint

    tables, opts = joint_study
    _, data = db.prepare(tables, kind="joint", **opts)
    FAM.check_spec(FAM.make_spec({"predict": [{"cell_line": "B", "arm": "x+y"}]}, {}), data)
    rng = np.random.default_rng(0)
    n_g = data.blocks["xenograft"].n_groups
    samples = {"xenograft.grp_rate": rng.normal(0.05, 0.01, (1, 20, n_g)),
               "link.viability_at_c": rng.uniform(0, 1, (1, 20, len(data.link_units))),
               "link.rmax_10d": rng.uniform(0.5, 1.5, (1, 20, 2)),
               "link.predicted_rate": rng.normal(0.0, 0.01, (1, 20, 1))}
    result = SimpleNamespace(data=data, inference=SimpleNamespace(samples=samples),
                             interval_prob=0.9)
    files = plot_joint(result, tmp_path, ("png",))
    assert {f.name for f in files} == {"link_x.png", "link_y.png", "arm_rates.png"}


def test_top_offset_sets_the_checkerboards_untreated_level(joint_study):
    """The checkerboards' top (their untreated level E0, the top of both monotherapy curves)
    is the line's dose-response tops plus the learned assay offset ``link.assay_log_top``
    (issue 19: an assay offset on log10 IC50 *and* top), by a trace of the combination part
    of the joint model (the whole model's trace takes a minute)."""
    from numpyro.handlers import substitute

    from drugbayes.families.joint.model import _combination

    tables, opts = joint_study
    _, data = db.prepare(tables, kind="joint", **opts)
    spec = FAM.make_spec({}, {})
    a = FAM.arrays(data)
    rng = np.random.default_rng(0)
    n = a["dose_response"]["n_group"]
    lat_dr = {k: rng.normal(0.0, 0.2, n) for k in ("grp_log10_ic50", "grp_log_hill",
                                                  "grp_logit_bottom", "grp_log_top")}
    ac, j = a["combination"], a["joint"]
    g = np.asarray(j["comb_mono_group"])
    dr_top = 0.5 * (lat_dr["grp_log_top"][g[ac["combo_mono_a"]]]
                    + lat_dr["grp_log_top"][g[ac["combo_mono_b"]]])
    off = 0.3
    fn = substitute(seed(_combination, jax.random.PRNGKey(0)),
                    {"link.assay_log_top": off, "link.combination_log_top": dr_top + off})
    tr = trace(fn).get_trace(spec, a, lat_dr)
    assert tr["link.assay_log_top"]["type"] == "sample"
    assert not tr["link.assay_log_top"]["is_observed"]
    # the checkerboards' log E0: prior centred on the dose-response tops plus the offset
    np.testing.assert_allclose(tr["link.combination_log_top"]["fn"].loc, dr_top + off,
                               rtol=1e-5, atol=1e-6)
    assert tr["combination.z_log_top"]["is_observed"]  # given: the link replaces its prior
    np.testing.assert_allclose(tr["combination.grp_log_top"]["value"], dr_top + off,
                               rtol=1e-5, atol=1e-6)
    # and the matrices' untreated level, which the wells' likelihood reads, is that level
    mk = np.asarray(ac["matrix_combo"])
    m_ref = np.asarray(ac["log_e0_ref"]) - np.asarray(ac["combo_log_e0_ref"])[mk]
    np.testing.assert_allclose(tr["combination.mat_log_top"]["value"],
                               (dr_top + off)[mk] + m_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_top_offset_recovered_from_a_simulated_study():
    """A study whose checkerboards read exp(0.2) = 1.22 of the plates' top: the MAP offset is
    positive and of that size (shrunk by its prior towards 0: 3 checkerboards); the same
    study with no offset gives an offset near 0."""
    from drugbayes.api import infer
    from drugbayes.config.schema import InferenceConfig

    est = {}
    for true in (0.0, 0.2):
        tables, truth = FAM.simulate(("A", "B", "C"), ("x", "y"),
                                     checkerboard_lines=("A", "B", "C"), xenograft_lines=("A",),
                                     n_doses=6, n_replicates=2, checker_doses=4,
                                     n_mice_per_arm=2, days=(0, 7, 14), seed=4, top_offset=true)
        assert truth["top_offset"] == true
        _, data = db.prepare(tables, kind="joint",
                             blocks={"dose_response": {"dose_unit": "uM"},
                                     "combination": {"dose_unit": "uM"},
                                     "xenograft": {"control_arm": "vehicle"}},
                             arm_drugs=truth["arm_drugs"])
        spec = FAM.make_spec({}, {})
        FAM.check_spec(spec, data)
        res = infer(spec, data, InferenceConfig(method="map"), seed=0)
        est[true] = float(np.mean(res.samples["link.assay_log_top"]))
    assert abs(est[0.0]) < 0.05, est
    assert 0.08 < est[0.2] < 0.3, est


def test_block_priors_reach_the_block_and_the_lognormal_spread(joint_study):
    """``[model.priors.dose_response]`` is the dose-response block's priors in a joint model
    (unknown keys refused by that family); ``curve_ic50_prior = "lognormal"`` makes the spread
    of curve log10 IC50s log-normal with median ``curve_ic50_sd``, which the screen plan
    refuses (its scale updates assume the half-normal)."""
    from drugbayes.errors import ConfigError
    from drugbayes.families import get_family
    from drugbayes.families.dose_response import blocks
    from drugbayes.families.dose_response.model import prior_terms
    from drugbayes.families.joint.model import component_spec

    fam = get_family("joint")
    spec = fam.make_spec({}, {"dose_response": {"curve_ic50_prior": "lognormal",
                                                "curve_ic50_sd": 0.4}})
    s_dr = component_spec(spec, "dose_response")
    assert s_dr.priors.curve_ic50_prior == "lognormal" and s_dr.priors.curve_ic50_sd == 0.4
    a = {"half_range": np.ones(2), "n_exp": 1}
    d = prior_terms(s_dr, a)["sigma_curve_log10_ic50"]
    assert float(np.exp(d.loc)) == pytest.approx(0.4) and float(d.scale) == 0.75
    assert type(prior_terms(component_spec(fam.make_spec(), "dose_response"), a)[
        "sigma_curve_log10_ic50"]).__name__ == "HalfNormal"
    bad = fam.make_spec({}, {"dose_response": {"curve_ic50_sdd": 0.4}})
    with pytest.raises(ConfigError, match="curve_ic50_sdd"):
        component_spec(bad, "dose_response")
    arrays = {"raw": False, "n_cell": 3, "n_drug": 2}
    assert any(p[0] == "model.priors.curve_ic50_prior" for p in blocks.problems(s_dr, arrays))
