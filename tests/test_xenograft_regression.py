"""Xenograft regression, regrowth, cure, mRECIST and caliper mode."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import drugbayes as db
from drugbayes.cli import main
from drugbayes.errors import ConfigError
from drugbayes.families.xenograft import _obs_loglik, log_volume
from drugbayes.families.xenograft.mrecist import MRECIST_CLASSES, mrecist
from drugbayes.simulate import simulate_xenograft

REPO = Path(__file__).resolve().parents[1]
SMALL_NUTS = {"method": "nuts", "num_chains": 2, "num_warmup": 300, "num_samples": 300}


# ----------------------------------------------------------------------------------- maths
@pytest.mark.parametrize("growth", ["simeoni", "regrowth"])
def test_growth_forms_float32_finite_at_extremes(growth):
    t = jnp.asarray([0.0, 1e-6, 1.0, 60.0, 1e4], jnp.float32)[:, None]
    for r in (-5.0, -1e-8, 0.0, 1e-8, 0.05, 5.0):
        for p in (-40.0, 0.0, 40.0):
            lv = log_volume(t, jnp.float32(5.0), jnp.float32(r), growth,
                            log_linear_rate=jnp.float32(p / 4),
                            log_regression_rate=jnp.float32(p / 10),
                            logit_sensitive=jnp.float32(p))
            assert lv.dtype == jnp.float32 and bool(jnp.isfinite(lv).all()), (r, p)


def test_regrowth_limits():
    t = np.linspace(0, 50, 11)
    b, g = np.log(150.0), 0.06
    # no sensitive fraction: exponential growth at the regrowth rate
    np.testing.assert_allclose(log_volume(t, b, g, "regrowth", log_regression_rate=np.log(0.1),
                                          logit_sensitive=-40.0, xp=np), b + g * t, atol=1e-9)
    # V = V0 [f exp(-d t) + (1 - f) exp(g t)]
    f, d = 0.9, 0.2
    lv = log_volume(t, b, g, "regrowth", log_regression_rate=np.log(d),
                    logit_sensitive=np.log(f / (1 - f)), xp=np)
    np.testing.assert_allclose(np.exp(lv), 150 * (f * np.exp(-d * t) + (1 - f) * np.exp(g * t)),
                               rtol=1e-9)


def test_simeoni_exponential_then_linear():
    b, r, lam = np.log(100.0), 0.1, 50.0  # switches at V = lam / r = 500 mm3
    t = np.array([0.0, 10.0, np.log(5) / r, 30.0, 40.0])
    v = np.exp(log_volume(t, b, r, "simeoni", log_linear_rate=np.log(lam), xp=np))
    t_s = np.log(5) / r
    np.testing.assert_allclose(v[:3], 100 * np.exp(r * t[:3]), rtol=1e-9)
    np.testing.assert_allclose(v[3:], 500 + lam * (t[3:] - t_s), rtol=1e-9)
    # a tumour that starts above the switch volume grows linearly from the start
    v2 = np.exp(log_volume(np.array([0.0, 10.0]), np.log(800.0), r, "simeoni",
                           log_linear_rate=np.log(lam), xp=np))
    np.testing.assert_allclose(v2, [800.0, 800.0 + 10 * lam], rtol=1e-9)


# ---------------------------------------------------------------------------------- mRECIST
def _cls(days, vols):
    return MRECIST_CLASSES[int(mrecist(np.asarray(days, float), np.asarray(vols, float)))]


def test_mrecist_rules_on_hand_made_trajectories():
    d = [0, 4, 7, 11, 14, 18, 21]
    assert _cls(d, [100, 60, 20, 0, 0, 0, 0]) == "cr"       # -100% and mean below -40%
    # best -96% but the best running mean only -27.2% (dVol 0, 0, 0, -96, -40, -20, -10)
    assert _cls(d, [100, 100, 100, 4, 60, 80, 90]) == "pr"
    assert _cls(d, [100, 80, 60, 40, 45, 50, 55]) == "pr"   # -60% and mean < -20%
    assert _cls(d, [100, 105, 110, 120, 125, 128, 130]) == "sd"  # +20%, mean < 30%
    assert _cls(d, [100, 120, 150, 200, 260, 330, 400]) == "pd"
    # only t >= 10 days count: an early dip to 0 before day 10 does not make a CR
    assert _cls(d, [100, 0, 0, 140, 150, 160, 170]) == "pd"
    # the mean runs from the first measurement: BestAvgResponse at day 21 here
    d2 = [0, 10, 20, 30]
    v2 = [100, 30, 30, 30]  # dVol -70 (t >= 10), means -35, -46.7, -52.5: PR
    assert _cls(d2, v2) == "pr"
    # boundaries are strict inequalities
    assert _cls([0, 10], [100, 135]) == "pd"  # BestResponse 35 is not < 35
    assert _cls([0, 10], [100, 134]) == "sd"
    # undefined: nothing at or after day 10, or a zero start
    assert int(mrecist(np.array([0.0, 3, 7]), np.array([100.0, 90, 80]))) == -1
    assert int(mrecist(np.array([0.0, 10]), np.array([0.0, 80]))) == -1
    # NaN (unmeasured) entries are skipped; vectorised over leading axes
    v = np.array([[100, np.nan, 0, 0], [100, 150, 200, np.nan]], float)
    assert list(mrecist(np.array([0.0, 5, 10, 15]), v)) == [0, 3]


# ----------------------------------------------------------------------------- caliper mode
def test_caliper_likelihood_is_the_bivariate_normal():
    """Caliper mode: (log L, log W) ~ bivariate normal implied by log V = log c + log L +
    2 log W, the aspect log(L/W) ~ N(m_a, s_a), a volume deviation sigma (a third on each
    length) and independent caliper error s_m on L and W; compared with scipy."""
    mu = np.array([[np.log(300.0), np.log(50.0)]], np.float32)
    log_len = np.array([[np.log(10.0), np.log(5.5)]], np.float32)
    log_wid = np.array([[np.log(7.5), np.log(4.0)]], np.float32)
    a = {"mask": np.ones((1, 2), bool), "censored": np.zeros((1, 2), bool),
         "log_len": log_len, "log_wid": log_wid, "log_c": np.float32(np.log(0.5)),
         "log_dl": np.float32(np.log(0.5)), "log_v": np.zeros((1, 2), np.float32)}
    noise = {"sigma": 0.12, "sigma_caliper": 0.05, "aspect_mean": 0.3, "aspect_sd": 0.15}
    ll = np.asarray(_obs_loglik(jnp.asarray(mu), a, "log", True, noise))
    A = np.array([[2 / 3], [-1 / 3]])   # aspect loading on (log L, log W)
    P = np.array([[1 / 3], [1 / 3]])    # volume deviation loading
    cov = 0.15 ** 2 * A @ A.T + 0.12 ** 2 * P @ P.T + 0.05 ** 2 * np.eye(2)
    for j in range(2):
        m = np.array([(mu[0, j] - np.log(0.5) + 2 * 0.3) / 3, (mu[0, j] - np.log(0.5) - 0.3) / 3])
        ref = multivariate_normal(m, cov).logpdf([log_len[0, j], log_wid[0, j]])
        assert ll[0, j] == pytest.approx(ref, abs=2e-4)
    # a censored row: log V_obs ~ N(mu, sigma^2 + 5 s_m^2) below the detection limit
    a["censored"] = np.array([[False, True]])
    ll = np.asarray(_obs_loglik(jnp.asarray(mu), a, "log", True, noise))
    from scipy.stats import norm
    ref = norm.logcdf(np.log(0.5), mu[0, 1], np.sqrt(0.12 ** 2 + 5 * 0.05 ** 2))
    assert ll[0, 1] == pytest.approx(ref, abs=2e-4)


@pytest.mark.slow  # a recovery check (about 18 s)
def test_caliper_mode_recovers_rates():
    """Caliper mode on a simulated study (4 arms, 8 mice, calipers at 0.1 mm): 95% intervals of
    the arm growth rates; stated tolerance at least 3 of 4 inside."""
    table, truth = simulate_xenograft(8, cell_lines=("BT-474R",), n_experiments=1, seed=21)
    r = db.fit(table, "xenograft", control_arm="vehicle", inference=SMALL_NUTS, seed=21,
               model={"preset": "xenograft/exponential", "options": {"observation": "calipers"}})
    assert "sigma_caliper" in r.inference.samples
    s = r.summary().query("quantity == 'growth_rate'").merge(truth, on=["cell_line", "arm"])
    inside = ((s["lower"] <= s["growth_rate"]) & (s["growth_rate"] <= s["upper"])).sum()
    assert inside >= 3, s[["arm", "median", "lower", "upper", "growth_rate"]]
    # the aspect ratio of the simulator: log(L/W) with L/W ~ Uniform(1.1, 1.6)
    m_a = float(np.median(r.inference.samples["aspect_mean"]))
    assert m_a == pytest.approx(np.log(1.35), abs=0.05)


def test_options_checked_against_the_data():
    table, _ = simulate_xenograft(3, cell_lines=("BT-474R",), n_experiments=1, seed=0,
                                  calipers=False)
    with pytest.raises(ConfigError) as e:
        db.fit(table, "xenograft", control_arm="vehicle", inference={"method": "map"},
               model={"preset": "xenograft/regrowth",
                      "options": {"cure_arms": ["lapatinib", "Lapatinib"],
                                  "observation": "calipers"}})
    msg = str(e.value)
    assert "'Lapatinib'" in msg and "not an arm of the data" in msg
    assert "cure_arms needs cure = true" in msg
    assert "caliper mode needs a length and a width" in msg


# ------------------------------------------------------------------------ cure and regrowth
@pytest.fixture(scope="module")
def cure_fit():
    table, truth = simulate_xenograft(12, cell_lines=("BT-474R",), n_experiments=1, seed=4,
                                      growth="regrowth",
                                      days=tuple(float(d) for d in range(0, 57, 4)))
    r = db.fit(table, "xenograft", control_arm="vehicle", seed=3,
               inference={"method": "nuts", "num_chains": 2, "num_warmup": 400,
                          "num_samples": 400},
               model={"preset": "xenograft/regrowth_cure",
                      "options": {"cure_arms": ["lapatinib", "lapatinib+trastuzumab"]}})
    return r, truth, table


@pytest.mark.slow  # shares a 2 x 800-draw NUTS fit of 36 mice (about 50 s)
def test_cure_fractions_and_rates_recovered(cure_fit):
    """Known cure fractions 0.2 (lapatinib) and 0.8 (combination), 12 mice each: both inside
    their 95% intervals; regression and regrowth rates of the treated arms inside theirs
    (stated tolerance: at least 5 of 6)."""
    r, truth, _ = cure_fit
    s = r.summary()
    pc = s.query("quantity == 'p_complete_regression'").merge(truth, on=["cell_line", "arm"])
    assert len(pc) == 2
    assert ((pc["lower"] <= pc["cure_fraction"]) & (pc["cure_fraction"] <= pc["upper"])).all(), pc
    hits = 0
    for q in ("regression_rate", "regrowth_rate"):
        m = s.query("quantity == @q and arm != 'vehicle'").merge(truth, on=["cell_line", "arm"])
        hits += int(((m["lower"] <= m[q]) & (m[q] <= m["upper"])).sum())
    assert hits >= 5


@pytest.mark.slow  # shares a 2 x 800-draw NUTS fit of 36 mice (about 50 s)
def test_cured_and_regrowing_mice_told_apart(cure_fit):
    """A mouse undetectable over its last 5 measurements (20 days) is more likely cured than
    not; a mouse measurable at the end is not cured (P < 0.05)."""
    r, _, table = cure_fit
    from drugbayes.families.xenograft.summary import mouse_table

    mt = mouse_table(r.data, r.inference.samples, "regrowth").set_index("mouse")
    vol = 0.5 * table["length"] * table["width"] ** 2
    last = table.assign(v=vol).sort_values("day").groupby("mouse")["v"]
    zeros_at_end = last.apply(lambda v: bool((v.tail(5) == 0).all()))
    measurable = last.apply(lambda v: v.iloc[-1] > 0.5)
    cure_arms = mt["arm"].isin(["lapatinib", "lapatinib+trastuzumab"])
    z = mt.index[cure_arms & zeros_at_end.reindex(mt.index)]
    m = mt.index[cure_arms & measurable.reindex(mt.index)]
    assert len(z) >= 3 and len(m) >= 3
    assert (mt.loc[z, "p_complete_regression"] > 0.5).all(), mt.loc[z]
    assert (mt.loc[m, "p_complete_regression"] < 0.05).all(), mt.loc[m]
    # P(all mice of the arm cured) <= every single mouse's P, and 0 with a regrowing mouse
    s = r.summary().query("quantity == 'p_all_complete_regression'").set_index("arm")
    for arm in s.index:
        mice = mt[mt["arm"] == arm]
        assert s.loc[arm, "mean"] <= mice["p_complete_regression"].min() + 1e-9
    # mRECIST probabilities sum to one, per arm and per mouse
    p = r.summary().query("quantity.str.startswith('p_mrecist')")
    np.testing.assert_allclose(p.groupby("arm")["mean"].sum(), 1.0, atol=1e-9)
    cols = [f"p_mrecist_{c}" for c in MRECIST_CLASSES]
    np.testing.assert_allclose(mt[cols].sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.slow  # shares a 2 x 800-draw NUTS fit of 36 mice (about 50 s)
def test_loo_and_log_likelihood_group(cure_fit, tmp_path):
    r, _, _ = cure_fit
    assert "log_likelihood" in r.posterior.children
    ll = r.posterior["log_likelihood"]["log_lik_mouse"]
    assert ll.dims == ("chain", "draw", "mouse") and bool(np.isfinite(ll.values).all())
    res = r.loo()
    assert np.isfinite(res.elpd) and res.n_data_points == r.data.n_mice
    r.to_netcdf(tmp_path / "p.nc")


def test_regression_example_runs(tmp_path):
    """The regression example with a tiny budget writes summary.csv and mice.csv."""
    cfg = REPO / "configs" / "examples" / "her2_xenograft_regression.toml"
    out = tmp_path / "out"
    rc = main(["run", str(cfg), "--quiet", "--set", f"run.output_dir={out}",
               "--set", "inference.method=map", "--set", "report.plots=false"])
    assert rc == 0
    mice = pd.read_csv(out / "mice.csv")
    assert len(mice) == 80 and {"observed_mrecist", "p_complete_regression",
                                "p_mrecist_cr"} <= set(mice.columns)
    s = pd.read_csv(out / "summary.csv")
    assert {"regression_rate", "regrowth_rate", "p_complete_regression",
            "p_all_complete_regression", "p_mrecist_pd"} <= set(s["quantity"])
