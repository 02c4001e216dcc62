"""PDX clinical trials (one mouse per line and arm): the design read from the table, the
design-aware hierarchy, its simulator."""

import numpy as np
import pandas as pd
import pytest
from numpyro import handlers
from scipy.stats import spearmanr

import drugbayes as db
from drugbayes.families import get_family
from drugbayes.families.xenograft.data import arrays
from drugbayes.families.xenograft.design import design_of
from drugbayes.families.xenograft.model import model
from drugbayes.families.xenograft.simulate import PDX_ARMS, simulate_pdx_trial
from drugbayes.simulate import simulate_xenograft

FAM = get_family("xenograft")
MAP = {"method": "map", "laplace": False}  # the mode itself: the tests compare point values


def _spec(**options):
    from drugbayes.api import _spec as make

    return make({"family": "xenograft", "options": options} if options else None, "xenograft")


def _trace(data, **options):
    a = arrays(data)
    with handlers.seed(rng_seed=0):
        return handlers.trace(lambda: model(a, _spec(**options))).get_trace()


def _own_slopes(table: pd.DataFrame, arm: str) -> pd.Series:
    """Each mouse's own least-squares slope of log volume on day."""
    sub = table[table["arm"].eq(arm) & table["volume"].gt(0)]
    return sub.groupby("cell_line").apply(
        lambda d: np.polyfit(d["day"], np.log(d["volume"]), 1)[0], include_groups=False)


@pytest.fixture(scope="module")
def trial():
    return simulate_pdx_trial(12, seed=3)


# ----------------------------------------------------------------------------- simulator
def test_simulated_trial_is_a_pdx_design():
    table, truth = simulate_pdx_trial(seed=0)
    per = table.groupby(["cell_line", "arm"])["mouse"].nunique()
    assert len(per) == 40 * 4 and (per == 1).all()
    assert set(table["arm"]) == set(PDX_ARMS)
    # staggered schedules: mice are not all measured on the same days
    sched = table.groupby("mouse")["day"].apply(tuple)
    assert sched.nunique() > 40
    assert table["status"].eq("culled").any()
    pooled = truth[truth["cell_line"].eq("pooled")]
    assert set(pooled["quantity"]) == {"treatment_effect", "sd_line_effect", "bliss_excess"}


# ------------------------------------------------------------------------------- design
def test_design_is_read_from_the_table(trial):
    table, _ = trial
    _, data = db.prepare(table, kind="xenograft", control_arm="untreated")
    d = design_of(data)
    assert d.pdx and d.arm_single.all() and not d.mouse_free.any()
    assert "between-mouse variance is not identified and is not fitted" in data.design
    assert "one_mouse_per_line" in FAM.describe(None, data)
    # replicated: today's hierarchy, every mouse has its own deviation
    rep, _ = simulate_xenograft(3, n_experiments=1, seed=0)
    _, rdata = db.prepare(rep, kind="xenograft", control_arm="vehicle")
    r = design_of(rdata)
    assert r.mode == "replicated" and r.mouse_free.all() and not r.arm_single.any()
    # without a control arm a one-mouse design cannot name the untreated growth
    _, ndata = db.prepare(table, kind="xenograft")
    assert design_of(ndata).mode == "replicated" and "no control_arm" in ndata.design


def test_mixed_design_keeps_a_mouse_level_only_where_replicated(trial):
    table, _ = trial
    extra = table[table["arm"].eq("untreated")].copy()
    extra["mouse"] = extra["mouse"] + "b"
    _, data = db.prepare(pd.concat([table, extra]), kind="xenograft", control_arm="untreated")
    d = design_of(data)
    assert d.pdx and list(d.arm_single) == [a != "untreated" for a in data.arms]
    tr = _trace(data)
    n_free = int(d.mouse_free.sum())
    assert n_free == 2 * 12 and tr["mouse_effect"]["value"].shape == (n_free, 2)
    assert tr["sd_mouse_rate_10d"]["type"] == "sample"


def test_pdx_sites_and_untreated_rate_is_the_lines_own(trial):
    table, _ = trial
    _, data = db.prepare(table, kind="xenograft", control_arm="untreated")
    tr = _trace(data)
    assert "sd_mouse_rate_10d" not in tr and "mu_rate_10d" not in tr
    assert tr["sd_mouse_rate"]["type"] == "deterministic"
    for site in ("line_rate_10d", "effect_rate_10d", "sd_line_effect_10d", "raw_arm_rate_10d"):
        assert tr[site]["type"] == "sample", site
    line = np.asarray(tr["line_rate_10d"]["value"]) / 10
    grp = np.asarray(tr["grp_rate"]["value"])
    ctrl = [g for g in range(data.n_groups) if data.arms[data.group_arm[g]] == "untreated"]
    np.testing.assert_array_equal(grp[ctrl], line[data.group_cell[ctrl]])
    # replicated designs keep mouse < arm < line
    rep, _ = simulate_xenograft(3, n_experiments=1, seed=0)
    _, rdata = db.prepare(rep, kind="xenograft", control_arm="vehicle")
    rtr = _trace(rdata)
    assert {"mu_rate_10d", "sigma_arm_rate_10d", "sd_mouse_rate_10d"} <= set(rtr)
    assert "line_rate_10d" not in rtr


def test_untreated_rates_follow_each_lines_mouse_not_its_treated_arms(trial):
    """MAP: the untreated rate of each line is its own mouse's (rank correlation with the
    mouse's least-squares slope >= 0.95, each within 0.005/day), and making one line's
    treated tumours grow much faster moves its untreated rate by less than 0.001/day."""
    table, _ = trial
    r = db.fit(table, "xenograft", control_arm="untreated", inference=MAP, seed=1)
    s = r.summary()
    est = s[s["quantity"].eq("growth_rate") & s["arm"].eq("untreated")].set_index(
        "cell_line")["median"]
    own = _own_slopes(table, "untreated").loc[est.index]
    assert spearmanr(est, own).statistic >= 0.95
    assert np.abs(est - own).max() < 0.005
    line = est.index[0]
    fast = table.copy()
    sel = fast["cell_line"].eq(line) & fast["arm"].ne("untreated")
    fast.loc[sel, "volume"] = fast.loc[sel, "volume"] * np.exp(0.05 * fast.loc[sel, "day"])
    r2 = db.fit(fast, "xenograft", control_arm="untreated", inference=MAP, seed=1)
    s2 = r2.summary()
    est2 = s2[s2["quantity"].eq("growth_rate") & s2["arm"].eq("untreated")].set_index(
        "cell_line")["median"]
    assert abs(est2[line] - est[line]) < 0.001
    assert "one_mouse_per_line" in r.posterior.attrs["design"]


@pytest.mark.parametrize("growth", ["regrowth", "simeoni"])
def test_pdx_growth_forms_have_population_and_line_parameters(trial, growth):
    table, _ = trial
    _, data = db.prepare(table, kind="xenograft", control_arm="untreated")
    tr = _trace(data, growth=growth)
    names = (("log_regression_rate_10d", "logit_sensitive") if growth == "regrowth"
             else ("log_linear_rate_10d",))
    for n in names:
        assert tr[f"arm_{n}"]["value"].shape == (4,)
        assert tr[f"sd_line_{n}"]["type"] == "sample"
        assert tr[n]["type"] == "deterministic" and tr[n]["value"].shape == (data.n_groups,)
    r = db.fit(table, "xenograft", control_arm="untreated", inference=MAP, seed=1,
               model={"family": "xenograft", "options": {"growth": growth}})
    s = r.summary()
    assert np.isfinite(s.loc[s["quantity"].eq("growth_rate"), "median"]).all()


# ----------------------------------------------------------------------- pooled summaries
def test_pooled_rows_per_treatment_and_synergy(trial):
    table, truth = trial
    r = db.fit(table, "xenograft", control_arm="untreated", inference=MAP, seed=1)
    s = r.summary()
    pooled = s[s["cell_line"].eq("pooled")].set_index(["arm", "quantity"])
    treatments = ["drugA", "drugB", "drugA+drugB"]
    for arm in treatments:
        for q in ("growth_rate_difference", "sd_line_effect", "log_growth_rate_ratio", "tgi",
                  "p_effect_above_threshold"):
            assert (arm, q) in pooled.index, (arm, q)
    assert ("drugA+drugB", "bliss_excess") in pooled.index
    assert pooled.loc[("", "sd_mouse_rate"), "censored"].startswith("not_identified")
    assert ("drugA+drugB", "p_synergy_bliss") in pooled.index
    eff = {a: pooled.loc[(a, "growth_rate_difference"), "median"] for a in treatments}
    # definitions, exact on the single MAP draw
    t_tc = r.data.tc_day - r.data.start_day
    for a in treatments:
        assert pooled.loc[(a, "tgi"), "median"] == pytest.approx(1 - np.exp(eff[a] * t_tc))
    assert pooled.loc[("drugA+drugB", "bliss_excess"), "median"] == pytest.approx(
        eff["drugA"] + eff["drugB"] - eff["drugA+drugB"], abs=1e-9)
    # the population effects are near the truth (12 lines; between-line sd 0.012-0.015/day,
    # so the mean of 12 lines is within about 0.005/day; tolerance 0.012/day)
    tp = truth[truth["quantity"].eq("treatment_effect")].set_index("arm")["value"]
    for a in treatments:
        assert abs(eff[a] - tp[a]) < 0.012, (a, eff[a], tp[a])
    # per line: synergy of the combination arm without [[contrasts]], P(effect > threshold)
    per_line = s[s["cell_line"].ne("pooled")]
    assert (per_line["quantity"].eq("bliss_excess")).sum() == 12
    assert (per_line["quantity"].eq("p_effect_above_threshold")).sum() == 36
    assert s.loc[s["quantity"].eq("tgi"), "unit"].str.contains(
        f"at day {r.data.tc_day:g}").all()


def test_ratio_with_a_control_rate_near_zero_is_undefined():
    table, _ = simulate_pdx_trial(4, control_rate=(0.0, 0.002), seed=2)
    r = db.fit(table, "xenograft", control_arm="untreated", seed=1,
               inference={"method": "nuts", "num_chains": 1, "num_warmup": 150,
                          "num_samples": 150})
    s = r.summary()
    ratio = s[s["quantity"].eq("growth_rate_ratio")]
    und = ratio["censored"].str.startswith("undefined: the 95% interval of the control")
    assert und.sum() >= 3
    assert ratio.loc[und, ["median", "lower", "upper"]].isna().all().all()
    lr = s[s["quantity"].eq("log_growth_rate_ratio")]
    assert lr["censored"].str.startswith("undefined").all() and lr["median"].isna().all()


# ---------------------------------------------------------------- metrics as published
def _gao_reference(days: list[float], volumes: list[float]) -> dict:
    """Gao et al. 2015 (Nat Med 21:1318), Online Methods, written here from the paper's text
    (not from drugbayes): tumour volume change dVol_t = (V_t - V_initial) / V_initial * 100;
    BestResponse = the minimum dVol_t for t >= 10 d; for each t the average of dVol_i for
    0 <= i <= t, BestAvgResponse = its minimum for t >= 10 d; mCR: BestResponse < -95% and
    BestAvgResponse < -40%; mPR: BestResponse < -50% and BestAvgResponse < -20%; mSD:
    BestResponse < 35% and BestAvgResponse < 30%; mPD: not otherwise classified."""
    v_init = volumes[0]
    if v_init <= 0:
        return {"class": ""}
    change = [(v - v_init) / v_init * 100 for v in volumes]
    best = best_avg = None
    for i, t in enumerate(days):
        running = sum(change[:i + 1]) / (i + 1)
        if t < 10:
            continue
        best = change[i] if best is None else min(best, change[i])
        best_avg = running if best_avg is None else min(best_avg, running)
    if best is None:
        return {"class": ""}
    if best < -95 and best_avg < -40:
        cls = "CR"
    elif best < -50 and best_avg < -20:
        cls = "PR"
    elif best < 35 and best_avg < 30:
        cls = "SD"
    else:
        cls = "PD"
    return {"class": cls, "best": best, "best_avg": best_avg}


def test_observed_mrecist_equals_an_independent_implementation_of_the_paper():
    from drugbayes.families.xenograft.mrecist import observed_metrics

    pdx, _ = simulate_pdx_trial(40, effects=(-0.06, -0.04), seed=4)
    reg, _ = simulate_xenograft(20, growth="regrowth", calipers=False, seed=3)
    reg["mouse"] = "R" + reg["mouse"]
    table = pd.concat([pdx, reg.drop(columns="experiment", errors="ignore")],
                      ignore_index=True)
    # hand-made series at the thresholds (strict inequalities) and culled before day 10
    edge = {"E1": [100, 80, 5, 4.99, 5.0], "E2": [100, 60, 50, 50, 50],
            "E3": [100, 120, 135, 135, 130], "E4": [100, 110, 134.9, 120, 129],
            "E5": [100, 130], "E6": [100, 40, 20, 0, 0]}
    rows = [{"mouse": m, "cell_line": "EDGE", "arm": "untreated", "day": d, "volume": v,
             "status": ""} for m, vs in edge.items() for d, v in zip((0, 7, 10, 14, 21), vs)]
    table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    _, data = db.prepare(table, kind="xenograft", control_arm="untreated",
                         detection_limit=1e-3)
    obs = observed_metrics(data)
    start = table["day"].min()
    ref = {}
    for m, d in table.sort_values("day").groupby("mouse"):
        ref[m] = _gao_reference(list(d["day"] - start), list(d["volume"]))
    classes = set()
    for i, m in enumerate(data.mice):
        got = obs["mRECIST"][i].split("-->")[0]
        assert got == ref[m]["class"], (m, got, ref[m])
        classes.add(got)
        if ref[m]["class"]:
            assert obs["best.response"][i] == pytest.approx(ref[m]["best"], abs=1e-9)
            assert obs["best.average.response"][i] == pytest.approx(ref[m]["best_avg"],
                                                                    abs=1e-9)
    assert {"CR", "PR", "SD", "PD", ""} <= classes


def test_transitions_time_to_double_and_best_response_days():
    from drugbayes.families.xenograft.mrecist import response_metrics

    days = np.array([[0, 5, 10, 14, 21, 28], [0, 5, 10, 14, 21, 28], [0, 5, 10, 14, 21, 28]],
                    float)
    vols = np.array([[100, 70, 40, 30, 80, 210],    # PR at day 14, then +110%: PR-->PD
                     [100, 90, 95, 100, 110, 120],  # SD throughout
                     [100, 150, 210, 300, 450, np.nan]], float)  # PD, doubles at day 10
    m = response_metrics(days, vols)
    assert list(m["mrecist"]) == [1, 2, 3]
    assert list(m["progressed"]) == [True, False, False]
    assert m["best.response"][0] == pytest.approx(-70.0)
    assert m["best.response.time"][0] == 14
    np.testing.assert_array_equal(m["time.to.double"], [28, np.inf, 10])


def test_mice_table_has_published_metrics_and_intervals(trial):
    table, _ = trial
    r = db.fit(table, "xenograft", control_arm="untreated", inference=MAP, seed=1)
    mice = r.extra_tables()["mice.csv"]
    for c in ("best.response", "best.response.time", "best.average.response",
              "best.average.response.time", "time.to.double", "mRECIST",
              "pred_best.response_median", "pred_best.response_lower",
              "pred_best.average.response_upper", "growth_rate_lower", "growth_rate_upper"):
        assert c in mice.columns, c
    assert len(mice) == 48
    assert (mice["pred_best.response_lower"] <= mice["pred_best.response_upper"]).all()


# --------------------------------------------------------------- columns and selection
def test_unmapped_columns_are_carried(trial, tmp_path):
    table, _ = simulate_pdx_trial(6, extra_columns=True, seed=5)
    table = table.rename(columns={"body_weight": "body.weight"})
    vt, data = db.prepare(table, kind="xenograft", control_arm="untreated")
    assert data.carried_mouse["tissue"][0] in ("breast", "colorectal", "lung", "pancreas")
    bw = data.carried_obs["body.weight"]
    assert bw.shape == data.volume.shape and np.isfinite(bw[data.mask]).all()
    assert np.isnan(bw[~data.mask]).all()
    assert "carried (not modelled): tissue, body.weight" in FAM.describe(vt, data)
    r = db.fit(table, "xenograft", control_arm="untreated", inference=MAP, seed=1)
    mice = r.extra_tables()["mice.csv"]
    assert {"tissue", "body.weight_first", "body.weight_last"} <= set(mice.columns)
    const = r.posterior["constant_data"]
    assert const["body.weight"].dims == ("mouse", "obs")


def test_select_arms_and_lines():
    table, _ = simulate_pdx_trial(6, seed=5)
    lines = ["PDX001", "PDX002", "PDX003"]
    vt, data = db.prepare(table, kind="xenograft", control_arm="untreated",
                          select={"arm": ["untreated", "drugA"], "cell_line": lines})
    assert data.arms == ["untreated", "drugA"] and data.cell_lines == lines
    assert data.n_mice == 6
    assert "select kept" in FAM.describe(vt, data)


def test_bad_selection_reports_every_problem_at_once():
    from drugbayes.errors import DataValidationError

    table, _ = simulate_pdx_trial(3, seed=5)
    with pytest.raises(DataValidationError) as e:
        db.prepare(table, kind="xenograft", control_arm="untreated",
                   select={"arm": ["drugA", "drugC"], "cell_line": ["PDX009"],
                           "cage": ["1"]})
    text = str(e.value)
    assert "'drugC': not a value of column 'arm'" in text
    assert "'PDX009': not a value of column 'cell_line'" in text
    assert "cannot select on 'cage'" in text
    assert "control_arm is not an arm of the selected rows" in text


def test_pdx_example_config_validates(capsys):
    from pathlib import Path

    from drugbayes.cli import main

    cfg = Path(__file__).resolve().parents[1] / "configs" / "examples" / "pdx_trial.toml"
    assert main(["validate", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "160 mice" in out and "carried (not modelled): tissue, body.weight" in out
    assert "one_mouse_per_line" in out


def test_body_weight_is_plotted_per_mouse(tmp_path):
    from drugbayes.families.xenograft.plots import plot_carried_weight

    table, _ = simulate_pdx_trial(3, extra_columns=True, seed=5)
    _, data = db.prepare(table, kind="xenograft", control_arm="untreated")
    files = plot_carried_weight(data, tmp_path)
    assert [f.name for f in files] == ["xenograft_body_weight.png"]


def test_map_point_estimates_leave_probabilities_empty(trial):
    """``map`` without its Laplace draws has no parameter uncertainty: every probability of
    the PDX summary is left empty (never 0 or 1)."""
    table, _ = trial
    r = db.fit(table, "xenograft", control_arm="untreated",
               inference={**MAP, "laplace": False}, seed=1)
    s = r.summary()
    p = s[s["unit"] == "probability"]
    assert len(p) and p["median"].isna().all() and p["mean"].isna().all()
