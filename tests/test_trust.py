"""When to trust a posterior: per-unit posterior predictive checks, contraction, LOO honesty
(:mod:`drugbayes.report.checks`, :meth:`drugbayes.results.FitResult.kfold`)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import drugbayes as db
from drugbayes.report.checks import add_columns, lack_of_fit, ppc_p
from drugbayes.results import loo_reliability

ON = {"unit_checks": True}


def test_ppc_p_counts_replicates_at_least_as_extreme():
    obs = np.array([[1.0, 5.0], [1.0, 5.0], [1.0, 5.0], [1.0, np.nan]])
    rep = np.array([[2.0, 1.0], [0.5, 6.0], [3.0, 1.0], [0.0, 9.0]])
    # unit 0: 2 of 4 replicated discrepancies >= 1; unit 1: 1 of the 3 finite draws >= 5
    np.testing.assert_allclose(ppc_p(obs, rep), [0.5, 1 / 3])


def test_lack_of_fit_averages_replicates_per_design_point():
    y = np.array([1.0, 3.0, 0.0, 2.0])
    cells = np.array([0, 0, 1, -1])  # two replicates of point 0, one of point 1, one unchecked
    count = np.array([2.0, 1.0], np.float32)
    out = lack_of_fit(y, 0.0, 2.0, cells, np.array([0, 0]), count, 1)
    # standardised residuals 0.5, 1.5 (mean 1, n 2) and 0: 2 * 1^2 + 0 = 2
    np.testing.assert_allclose(np.asarray(out), [2.0], rtol=1e-6)


def test_loo_reliability_says_when_to_use_kfold():
    ok = loo_reliability(SimpleNamespace(pareto_k=np.array([0.1, 0.8] + [0.2] * 9)))
    bad = loo_reliability(SimpleNamespace(pareto_k=np.array([0.9, 0.8] + [0.2] * 8)))
    assert not ok["unreliable"] and ok["n_high_pareto_k"] == 1  # 1 of 11 <= 10%
    assert bad["unreliable"] and bad["n_high_pareto_k"] == 2 and "kfold(k=5)" in bad["note"]


def _three_curves() -> pd.DataFrame:
    """One drug on three cell lines: A a clear sigmoid, B flat (the drug barely acts: its
    Hill slope is not identified), C a dip that recovers at high doses (non-monotone)."""
    rng = np.random.default_rng(0)
    doses = np.logspace(-3, 1, 9)
    x = np.log10(doses)
    shapes = {"A": 1 - 0.9 / (1 + 10 ** (-1.5 * (x + 1))), "B": np.ones_like(x),
              "C": 1 - 0.8 * np.exp(-((x + 1) ** 2) / (2 * 0.35 ** 2))}
    rows = []
    for cl, v in shapes.items():
        for _ in range(3):
            rows += [{"cell_line": cl, "drug": "D1", "dose": d, "response": vv
                      + rng.normal(0, 0.04)} for d, vv in zip(doses, v)]
            rows.append({"cell_line": cl, "drug": "D1", "dose": 0.0,
                         "response": 1 + rng.normal(0, 0.04)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def three_curves():
    return _three_curves()


def test_misfit_and_prior_dominated_flags(three_curves, capsys):
    r = db.fit(three_curves, "dose_response", inference={"method": "map"}, diagnostics=ON)
    s = r.summary()
    per_cell = s.groupby("cell_line")["ppc_p"].first()
    # the non-monotone curve fails its check, the two the 4PL can draw pass (p >= 0.2)
    assert per_cell["C"] < 0.01 and per_cell["A"] > 0.2 and per_cell["B"] > 0.2
    assert s.loc[s["cell_line"] == "C", "misfit"].all()
    assert not s.loc[s["cell_line"] != "C", "misfit"].any()
    hill = s[s["quantity"] == "hill"].set_index("cell_line")
    # a flat curve says nothing about its slope; the sigmoid pins it
    assert hill.loc["B", "prior_dominated"] and hill.loc["B", "contraction"] < 0.2
    assert not hill.loc["A", "prior_dominated"] and hill.loc["A", "contraction"] > 0.3
    ic50 = s[s["quantity"] == "log10_ic50"].set_index("cell_line")
    assert ic50.loc["A", "contraction"] > 0.9
    assert s.loc[s["unit"] == "probability", "contraction"].isna().all()
    uc = r.diagnostics["unit_checks"]
    assert uc["n_misfit"] == 1 and [m["unit"] for m in uc["misfit"]] == ["C|D1"]
    assert "B|D1 hill" in uc["prior_dominated"] and "A|D1 hill" not in uc["prior_dominated"]
    json.dumps(uc)  # JSON-ready
    from drugbayes.batch import headline_text
    from drugbayes.report.plots import misfit_mark

    out = headline_text(r, "run")
    assert f"1 units misfit, {uc['n_prior_dominated']} parameters prior-dominated" in out
    assert "weakly identified (prior-dominated): " in out and "B|D1 hill" in out
    assert misfit_mark(r, "C|D1").startswith(" [misfit") and misfit_mark(r, "A|D1") == ""


def test_point_estimate_leaves_check_columns_empty(three_curves):
    r = db.fit(three_curves, "dose_response", inference={"method": "map", "laplace": False},
               diagnostics=ON)
    s = r.summary()
    for c in ("ppc_p", "misfit", "contraction", "prior_dominated", "pooled"):
        assert c in s.columns and s[c].isna().all(), c
    assert "note" in r.diagnostics["unit_checks"]


def test_add_columns_matches_unit_rows_only():
    table = pd.DataFrame({"cell_line": ["A", "A", "pooled"], "drug": ["x", "x", "x"],
                          "quantity": ["q", "r", "q"]})
    units = pd.DataFrame({"level": ["curve"], "label": ["A|x"],
                          "keys": [{"cell_line": "A", "drug": "x"}], "ppc_p": [0.01]})
    units.attrs["threshold"] = 0.05
    out = add_columns(table, units, None)
    assert out["ppc_p"].tolist()[:2] == [0.01, 0.01] and np.isnan(out["ppc_p"].iloc[2])
    assert out["misfit"].tolist()[:2] == [True, True] and out["misfit"].isna().iloc[2]


@pytest.mark.slow
def test_kfold_by_mouse_refits_and_scores_every_mouse():
    from drugbayes.families.xenograft.simulate import simulate_xenograft

    table, _ = simulate_xenograft(n_mice_per_arm=3, n_experiments=1, seed=1)
    if "volume" not in table.columns:  # volumes, so that every mouse has a replicated check
        table["volume"] = 0.5 * table["length"] * table["width"] ** 2
    table = table.drop(columns=[c for c in ("length", "width") if c in table.columns])
    r = db.fit(table, "xenograft", inference={"method": "svi", "num_steps": 1500,
                                              "num_samples": 200, "num_chains": 1},
               control_arm="vehicle", diagnostics=ON)
    loo = r.diagnostics["unit_checks"]["loo"]
    assert loo["n_units"] == len(r.data.mice)
    kf = r.kfold(k=2)
    pw = kf["pointwise"]
    assert len(pw) == len(r.data.mice) and np.isfinite(pw["elpd"]).all()
    assert sorted(pw["fold"].unique()) == [0, 1]
    assert np.isclose(kf["elpd_kfold"], pw["elpd"].sum())
    # held-out mice are predicted from the population: worse than in-sample on average
    assert kf["elpd_kfold"] < loo["elpd_loo"] + 3 * loo["se"]


@pytest.mark.slow
def test_unidentified_alpha_is_flagged_in_a_combination():
    """A partner that does not act alone (E2 = E0) with no extra efficacy (beta = 0: E3 = E1)
    hides whether drug a shifts its potency (alpha12: it only splits drug a's bound states,
    which have the same effect): flagged prior-dominated or pooled; the same parameter where
    both drugs act is not."""
    from drugbayes.families.combination import simulate_wells

    base = {"drug_a": "DA", "drug_b": "DB", "e0": 1.0, "e1": 0.2, "beta": 0.2, "c1": 0.3,
            "c2": 0.3, "h1": 1.2, "h2": 1.2, "log_alpha12": 0.8, "log_alpha21": 0.0}
    truth = pd.DataFrame([{**base, "cell_line": "ACTS", "e2": 0.3},
                          {**base, "cell_line": "ALSO", "e2": 0.35},
                          {**base, "cell_line": "INERT", "e2": 1.0, "beta": 0.0}])
    doses = np.logspace(-2, 1, 5)
    wells = simulate_wells(truth, doses, doses, n_replicates=2, noise_sd=0.04, seed=5)
    r = db.fit(wells, "combination", inference={"method": "map"}, response_scale="fraction",
               diagnostics=ON, seed=5)
    s = r.summary()
    la = s[(s["quantity"] == "log_alpha12") & (s["experiment"] == "all")].set_index("cell_line")
    flagged = la["prior_dominated"].fillna(False) | la["pooled"].fillna(False)
    assert flagged["INERT"] and not flagged["ACTS"], la[["contraction", "prior_dominated",
                                                          "pooled"]]
