"""Xenograft family: curve maths, bad input, summary contract, censoring and recovery."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import drugbayes as db
from drugbayes.cli import main
from drugbayes.errors import ConfigError, DataValidationError
from drugbayes.families.xenograft import growth_curve
from drugbayes.families.xenograft.derived import time_to_log_volume
from drugbayes.simulate import simulate_xenograft

REPO = Path(__file__).resolve().parents[1]
SMALL_NUTS = {"method": "nuts", "num_chains": 2, "num_warmup": 300, "num_samples": 300}
FACTORIAL = [{"combination": "lapatinib+trastuzumab", "a": "lapatinib", "b": "trastuzumab"}]


# ----------------------------------------------------------------------------------- maths
def test_growth_curve_float32_finite_and_limits():
    t = jnp.asarray([0.0, 1e-6, 1.0, 35.0, 1e4], jnp.float32)
    for beta in (0.0, 1e-9, 1e-3, 0.05, 50.0):
        g = growth_curve(t, 1.0, jnp.float32(beta))
        assert g.dtype == jnp.float32 and bool(jnp.isfinite(g).all())
    # exponential: g(t) = t; Gompertz: g -> 1/beta as t -> inf, g ~ t for small beta t
    np.testing.assert_allclose(growth_curve(t, 1.0, 0.0), t, rtol=1e-6)
    np.testing.assert_allclose(float(growth_curve(1e4, 1.0, 0.05)), 20.0, rtol=1e-5)
    np.testing.assert_allclose(float(growth_curve(35.0, 1.0, 0.05)),
                               (1 - np.exp(-0.05 * 35)) / 0.05, rtol=1e-5)


def test_time_to_volume_cases():
    b = np.array([np.log(100.0), np.log(2000.0), np.log(100.0), np.log(100.0), np.log(100.0)])
    r = np.array([0.1, 0.1, -0.01, 0.1, 0.1])
    beta = np.array([0.0, 0.0, 0.0, 0.02, 0.2])
    t = time_to_log_volume(b, r, beta, np.log(1000.0))
    assert t[0] == pytest.approx(np.log(10) / 0.1)
    assert t[1] == 0.0  # already above the target
    assert np.isinf(t[2])  # shrinking tumour never gets there
    # Gompertz: log V(t) = b + r (1 - exp(-beta t)) / beta
    assert t[3] == pytest.approx(-np.log(1 - 0.02 * np.log(10) / 0.1) / 0.02)
    assert np.isinf(t[4])  # plateau b + r/beta = log(100) + 0.5 < log(1000)


# ------------------------------------------------------------------------------- bad input
def _table() -> pd.DataFrame:
    t, _ = simulate_xenograft(3, cell_lines=("BT-474R",), n_experiments=1, seed=0)
    return t


def test_every_xenograft_problem_at_once(tmp_path, capsys):
    df = _table().astype({"length": object, "width": object, "day": object})
    df.loc[2, "length"] = -3.0                      # negative caliper   -> line 4
    df.loc[4, "width"] = "n/a"                      # non-numeric        -> line 6
    df.loc[6, "width"] = 99.0                       # width > length     -> line 8
    df.loc[8, "day"] = df.loc[7, "day"]             # a day twice        -> line 10
    m0 = df.loc[15, "mouse"]
    df.loc[df["mouse"].eq(m0) & (df.index > 15), "arm"] = "lapatinib"  # two arms
    df["cage"] = "C1"                               # carried, not refused
    path = tmp_path / "mice.csv"
    df.to_csv(path, index=False)
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\npath = "mice.csv"\nkind = "xenograft"\ncontrol_arm = "Vehicle"\n'
                   '[data.select]\narm = ["vehicle", "nope"]\ncolour = ["red"]\n'
                   '[inference]\nmethod = "map"\n[report]\nplots = false\n')
    rc = main(["run", str(cfg), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert not (tmp_path / "results").exists()
    assert "cage" not in err  # unmapped columns are carried
    assert "column 'select.arm': value 'nope': not a value of column 'arm'" in err
    assert "column 'select.colour'" in err and "cannot select on 'colour'" in err
    assert "line 4, column 'length': value '-3.0': length must be >= 0" in err
    assert "line 6, column 'width': value 'n/a': width is not a number" in err
    assert "line 8, column 'width'" in err and "width > length" in err
    assert "line 10, column 'day'" in err and "day listed twice" in err
    assert f"mouse '{m0}' is in two arms" in err
    assert "column 'control_arm': value 'Vehicle'" in err
    assert "problem(s)" in err


def test_negative_and_non_numeric_volume():
    df = _table()
    df["volume"] = (0.5 * df["length"] * df["width"] ** 2).astype(object)
    df = df.drop(columns=["length", "width"])
    df.loc[1, "volume"] = -5
    df.loc[3, "volume"] = "big"
    with pytest.raises(DataValidationError) as e:
        db.prepare(df, kind="xenograft")
    msgs = [str(i) for i in e.value.issues]
    assert any("line 1" in m and "volume must be >= 0" in m for m in msgs)  # DataFrame: row
    assert any("line 3" in m and "volume is not a number" in m for m in msgs)


def test_volume_constant_mismatch_is_caught():
    df = _table()
    df["volume"] = 0.52 * df["length"] * df["width"] ** 2
    with pytest.raises(DataValidationError) as e:
        db.prepare(df, kind="xenograft", volume_constant=0.5)
    assert "implies 0.52" in str(e.value)
    vt, data = db.prepare(df, kind="xenograft", volume_constant=0.52)
    assert data.n_rows == len(df)


def test_dose_response_keys_rejected_for_xenograft():
    with pytest.raises(ConfigError, match="do not apply to kind 'xenograft'"):
        db.prepare(_table(), kind="xenograft", dose_unit="uM")


def test_contrast_needs_four_arms_and_control():
    _, data = db.prepare(_table(), kind="xenograft")
    from drugbayes.families.xenograft.summary import validate_xenograft_contrasts

    with pytest.raises(ConfigError) as e:
        validate_xenograft_contrasts(data, [{"combination": "lapatinib+trastuzumab",
                                             "a": "lapatinib", "b": "nope"}])
    text = str(e.value)
    assert "control arm is required" in text and "'nope'" in text


# ------------------------------------------------------------------------- summary contract
@pytest.fixture(scope="module")
def small_fit():
    table, truth = simulate_xenograft(8, cell_lines=("BT-474R",), n_experiments=2, seed=5)
    r = db.fit(table, "xenograft", control_arm="vehicle", inference=SMALL_NUTS, seed=2,
               contrasts=FACTORIAL, tc_day=21)
    return r, truth


def test_summary_contract(small_fit):
    r, truth = small_fit
    s = r.summary()
    assert list(s.columns[:3]) == ["cell_line", "arm", "quantity"]
    assert not s.duplicated(["cell_line", "arm", "quantity"]).any()
    q = set(s["quantity"])
    assert {"growth_rate", "doubling_time", "growth_rate_difference", "growth_rate_ratio",
            "tc_ratio", "tgi", "time_to_volume", "bliss_excess", "hsa_excess",
            "p_synergy_bliss", "p_synergy_hsa"} <= q
    assert "mean_growth_rate" not in q  # Gompertz only
    # control rows carry no difference to itself
    ctrl = s[s["arm"] == "vehicle"]
    assert "growth_rate_difference" not in set(ctrl["quantity"])
    gr = s[s["quantity"] == "growth_rate"].set_index("arm")
    dt = s[s["quantity"] == "doubling_time"].set_index("arm")
    assert dt.loc["vehicle", "median"] == pytest.approx(np.log(2) / gr.loc["vehicle", "median"],
                                                        rel=0.02)
    # the regressing combination arm: no doubling, never reaches the target volume
    assert dt.loc["lapatinib+trastuzumab", "censored"] in ("no_growth", "")
    tgi = s[s["quantity"] == "tgi"].set_index("arm")["median"]
    assert tgi["lapatinib+trastuzumab"] > tgi["lapatinib"] > tgi["trastuzumab"]
    assert pd.api.types.is_float_dtype(s["median"])
    assert set(s["unit"]) <= {"1/day", "day", "ratio", "fraction", "probability",
                              "ratio at day 21", "fraction at day 21"}
    # the DataTree is labelled with mice and arm groups
    post = r.posterior["posterior"]
    assert post["grp_rate"].dims[-1] == "arm_group"
    assert post["mouse_rate"].sizes["mouse"] == r.data.n_mice


def test_small_fit_recovers_rates(small_fit):
    r, truth = small_fit
    s = r.summary().query("quantity == 'growth_rate'").merge(truth, on=["cell_line", "arm"])
    inside = ((s["lower"] <= s["growth_rate"]) & (s["growth_rate"] <= s["upper"])).sum()
    assert inside >= 3, s[["arm", "median", "lower", "upper", "growth_rate"]]
    assert (s["median"] - s["growth_rate"]).abs().mean() < 0.006  # 1/day


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_recovery_coverage_map_free(seed):
    """NUTS on three simulated studies (4 arms, 8 mice each): 95% intervals of the arm growth
    rates. Stated tolerance: at least 3 of 4 arms per study inside (P(fail) about 1.4% per
    study if calibrated). Volume observation model (the caliper mode has its own recovery
    test in test_xenograft_regression.py)."""
    table, truth = simulate_xenograft(8, cell_lines=("MCF7/HER2-18",), n_experiments=1,
                                      seed=seed)
    r = db.fit(table, "xenograft", control_arm="vehicle", inference=SMALL_NUTS, seed=seed,
               model={"preset": "xenograft/exponential", "options": {"observation": "volume"}})
    s = r.summary().query("quantity == 'growth_rate'").merge(truth, on=["cell_line", "arm"])
    inside = ((s["lower"] <= s["growth_rate"]) & (s["growth_rate"] <= s["upper"])).sum()
    assert inside >= 3, s[["arm", "median", "lower", "upper", "growth_rate"]]


def test_left_censored_zeros_not_plus_one():
    """A regressing arm whose tumours fall below the detection limit (recorded as 0): the
    censored likelihood recovers the decay rate; zeros never become log(0) or log(1)."""
    rng = np.random.default_rng(3)
    rows = []
    for m in range(8):
        b = np.log(150) + rng.normal(0, 0.1)
        r = -0.25 + rng.normal(0, 0.02)
        for d in range(0, 36, 3):
            v = np.exp(b + r * d + rng.normal(0, 0.1))
            rows.append({"mouse": f"m{m}", "arm": "combo", "day": d,
                         "volume": 0.0 if v < 2.0 else round(v, 2)})
    df = pd.DataFrame(rows)
    assert (df["volume"] == 0).mean() > 0.3
    r = db.fit(df, "xenograft", detection_limit=2.0, inference=SMALL_NUTS, seed=0)
    s = r.summary().query("quantity == 'growth_rate'")
    assert abs(float(s["median"].iloc[0]) + 0.25) < 0.03
    assert float(s["upper"].iloc[0]) < -0.2


def test_gompertz_preset_reports_mean_growth_rate():
    table, truth = simulate_xenograft(6, cell_lines=("BT-474R",), n_experiments=1,
                                      growth="gompertz", deceleration=0.04, seed=4,
                                      cull_volume=1e9)
    r = db.fit(table, "xenograft", model="xenograft/gompertz", control_arm="vehicle",
               inference={"method": "map"})
    s = r.summary()
    assert "mean_growth_rate" in set(s["quantity"])
    gr = s.query("quantity == 'growth_rate'").merge(truth, on=["cell_line", "arm"])
    assert (gr["median"] - gr["growth_rate"]).abs().max() < 0.02
    mgr = s.query("quantity == 'mean_growth_rate'").set_index("arm")["median"]
    assert mgr["vehicle"] < gr.set_index("arm").loc["vehicle", "median"]


def test_example_config_validates(capsys):
    cfg = REPO / "configs" / "examples" / "her2_xenograft.toml"
    assert main(["validate", str(cfg)]) == 0
    assert "850 measurements of 80 mice" in capsys.readouterr().out


def test_run_directory_of_example(tmp_path):
    cfg = REPO / "configs" / "examples" / "her2_xenograft.toml"
    out = tmp_path / "x"
    rc = main(["run", str(cfg), "--quiet", "--set", f"run.output_dir={out}",
               "--set", "inference.method=map"])
    assert rc == 0
    s = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    assert {"cell_line", "arm"} <= set(s.columns)
    assert (out / "plots" / "xenograft_growth_BT-474R.png").is_file()
    assert (out / "plots" / "xenograft_growth_rates.png").is_file()
    assert json.loads((out / "manifest.json").read_text())["complete"]
