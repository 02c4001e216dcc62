"""Growth-rate readouts for dose response: DIP rates (``response_scale = "rate"``) and GR
values (``"gr"``, given or computed from cell counts with ``time_zero`` wells)."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import drugbayes as db
from drugbayes.curves import gr_value
from drugbayes.data.rates import RATE_FLOOR_FACTOR
from drugbayes.families.dose_response.model import viability
from drugbayes.families.dose_response.simulate import simulate_wells

DOSES = np.logspace(-3, 1, 8)  # uM
# one cell line, two drugs: D1 kills cells at high doses (bottom -0.8 x E0), D2 is cytostatic
# only in part (bottom +0.3 x E0); untreated rate 0.04/h
RATE_TRUTH = pd.DataFrame({"cell_line": ["CL1", "CL1"], "drug": ["D1", "D2"],
                           "log10_ic50": [-1.0, 0.0], "hill": [1.2, 1.0], "top": [1.0, 1.0],
                           "bottom_fraction": [-0.8, 0.3]})
MAP = {"method": "map", "map_num_steps": 300, "laplace_draws": 400}


def _rates(seed=3, noise_sd=0.05):
    return simulate_wells(RATE_TRUTH, DOSES, response_scale="rate", noise_sd=noise_sd,
                          seed=seed)


def _by(summary, drug, quantity):
    row = summary[(summary["drug"] == drug) & (summary["quantity"] == quantity)]
    assert len(row) == 1, (drug, quantity)
    return row.iloc[0]


def _check_rate_recovery(s):
    d1_ic50 = _by(s, "D1", "log10_ic50")
    # the net-cytotoxic drug: negative Emax in rate units, P(Emax < 0) near 1
    assert _by(s, "D1", "emax")["upper"] < 0
    assert _by(s, "D1", "emax")["unit"] == "1/h"
    assert _by(s, "D1", "p_net_cytotoxic")["mean"] > 0.99
    assert _by(s, "D2", "p_net_cytotoxic")["mean"] < 0.05
    # IC50 (midpoint) within 3 posterior sd of the truth (log10 uM)
    assert abs(d1_ic50["mean"] - (-1.0)) < 3 * d1_ic50["sd"]
    d2_ic50 = _by(s, "D2", "log10_ic50")
    assert abs(d2_ic50["mean"] - 0.0) < 3 * d2_ic50["sd"]
    # E0 is the untreated rate (0.04/h), Emax / E0 near -0.8 (3 sd)
    top = _by(s, "D1", "top")
    assert abs(top["mean"] - 0.04) < 3 * top["sd"]
    ef = _by(s, "D1", "emax_fraction")
    assert abs(ef["mean"] - (-0.8)) < 3 * ef["sd"]


def test_dip_rates_net_cytotoxic_drug_map():
    """A simulated DIP dose response (MAP + Laplace, seconds): the net-cytotoxic drug's Emax
    is negative with P(Emax < 0) > 0.99, the partial one's is not; IC50, E0 and Emax / E0
    within 3 posterior sd of the truth."""
    res = db.fit(_rates(), "dose_response", dose_unit="uM", response_scale="rate",
                 rate_unit="1/h", inference=MAP)
    s = res.summary()
    _check_rate_recovery(s)
    assert set(s["quantity"]) >= {"ic50", "top", "emax", "emax_fraction", "rate_at_max_dose",
                                  "p_net_cytotoxic"}
    assert "bottom" not in set(s["quantity"])  # the bottom is Emax in rate units
    assert np.nanmin(res.posterior["observed_data"]["y"].values) < -0.02  # rates, in 1/h


@pytest.mark.slow
def test_dip_rates_net_cytotoxic_drug_nuts():
    """The same with NUTS (2 chains x 300 draws, about a minute)."""
    res = db.fit(_rates(), "dose_response", dose_unit="uM", response_scale="rate",
                 rate_unit="1/h", inference={"method": "nuts", "num_chains": 2,
                                             "num_samples": 300, "num_warmup": 300})
    _check_rate_recovery(res.summary())


def test_rate_bottom_bound_follows_the_data():
    """The bottom's lower bound (as a fraction of E0) is combination's rule: -(0.5 + 1.5 x
    the most negative rate / E0), never below -RATE_FLOOR_FACTOR."""
    _, data = db.prepare(_rates(), dose_unit="uM", response_scale="rate", rate_unit="1/h")
    lowest = -float(np.min(data.y[data.mask]))  # y: rates / the median untreated rate
    assert data.bottom_lower == pytest.approx(-min(RATE_FLOOR_FACTOR, 0.5 + 1.5 * lowest))
    assert -RATE_FLOOR_FACTOR <= data.bottom_lower < -0.8
    assert data.response_ref == pytest.approx(0.04, rel=0.1)


def test_rates_declared_as_fractions_are_refused():
    """Raw rates in 1/h declared as fractions: DataValidationError naming the fix."""
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(_rates(), dose_unit="uM", response_scale="fraction")
    msg = str(e.value)
    assert "response_scale = \"rate\"" in msg and "rate_unit" in msg
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(_rates(), dose_unit="uM", response_scale="rate")
    assert "needs rate_unit" in str(e.value)
    treated = _rates()
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(treated[treated["dose"] > 0], dose_unit="uM", response_scale="rate",
                   rate_unit="1/h")
    assert "needs untreated wells" in str(e.value)


def test_rates_as_fractions_exit_2_via_the_cli(tmp_path, capsys):
    from drugbayes.cli import main

    _rates().to_csv(tmp_path / "dip.csv", index=False)
    cfg = tmp_path / "dip.toml"
    cfg.write_text('[data]\npath = "dip.csv"\ndose_unit = "uM"\nresponse_scale = "fraction"\n'
                   '[inference]\nmethod = "map"\n')
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "response_scale = \"rate\"" in err
    assert not (tmp_path / "results").exists()


def test_rates_refused_by_the_screen_backend():
    """The blocked (screen) plan names what it cannot fit: rates and GR values."""
    from drugbayes.families.dose_response.blocks import problems

    a = {"raw": False, "n_cell": 2, "n_drug": 2, "is_rate": True}
    spec = db.api._spec(None, "dose_response")
    assert any(p[1] == "rate" for p in problems(spec, a))


# -------------------------------------------------------------------------------------- GR
def test_gr_value_equals_the_hand_formula():
    """GR(c) = 2^(log2(x/x0) / log2(x_ctrl/x0)) - 1, with hand-computed cases."""
    # x0 = 1000, x_ctrl = 4000 (two doublings): x = 2000 is one doubling -> 2^(1/2) - 1
    assert gr_value(2000.0, 1000.0, 4000.0, np) == pytest.approx(2 ** 0.5 - 1)
    assert gr_value(4000.0, 1000.0, 4000.0, np) == pytest.approx(1.0)   # as untreated
    assert gr_value(1000.0, 1000.0, 4000.0, np) == pytest.approx(0.0)   # cytostatic
    assert gr_value(500.0, 1000.0, 4000.0, np) == pytest.approx(2 ** -0.5 - 1)  # net death
    x = np.array([1500.0, 3000.0, 250.0])
    hand = 2.0 ** (np.log2(x / 800.0) / np.log2(5000.0 / 800.0)) - 1.0
    np.testing.assert_allclose(gr_value(x, 800.0, 5000.0, np), hand, rtol=1e-12)


def _counts():
    truth = pd.DataFrame({"cell_line": ["CL1", "CL2"], "drug": ["D1", "D1"],
                          "log10_ic50": [-1.0, -0.5], "hill": [1.0, 1.0], "top": [1.0, 1.0],
                          "bottom_fraction": [-0.5, 0.2]})
    return simulate_wells(truth, DOSES, response_scale="gr_counts", noise_sd=0.05, seed=5)


def test_gr_from_counts_per_plate():
    """Counts with time_zero wells become GR values per plate and cell line, equal to the
    formula with that plate's mean time-zero and untreated counts; time_zero rows leave."""
    wells = _counts()
    vt, data = db.prepare(wells, dose_unit="uM", response_scale="gr")
    assert vt.gr_from_counts and data.is_gr and data.bottom_lower == -1.0
    assert not vt.df["well_role"].eq("time_zero").any()
    for plate, g in wells.groupby("plate"):
        x0 = g.loc[g["well_role"].eq("time_zero"), "response"].mean()
        xc = g.loc[g["well_role"].eq("vehicle"), "response"].mean()
        t = g[g["well_role"].eq("sample")]
        hand = 2.0 ** (np.log2(t["response"] / x0) / np.log2(xc / x0)) - 1.0
        got = vt.df[vt.df["plate"].eq(plate) & vt.df["well_role"].eq("sample")]["response"]
        np.testing.assert_allclose(got.to_numpy(), hand.to_numpy(), rtol=1e-10)


def test_gr_counts_problems_all_at_once():
    """A plate without time_zero wells, a count of 0 and time_zero wells without "gr"."""
    wells = _counts()
    bad = wells[~(wells["plate"].eq("P-E1-CL2") & wells["well_role"].eq("time_zero"))].copy()
    i = bad.index[bad["well_role"].eq("sample")][0]
    bad.loc[i, "response"] = 0.0
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(bad, dose_unit="uM", response_scale="gr")
    msg = str(e.value)
    assert "no time_zero wells" in msg and "CL2" in msg
    assert "must be > 0" in msg
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(wells, dose_unit="uM", response_scale="fraction")
    assert "time_zero wells" in str(e.value)


def test_counts_declared_as_gr_values_are_refused():
    wells = _counts()
    counts_only = wells[~wells["well_role"].eq("time_zero")].drop(columns=["well_role"])
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(counts_only, dose_unit="uM", response_scale="gr")
    assert "time_zero" in str(e.value) and "do not look like GR values" in str(e.value)


def test_gr_metrics_follow_their_definitions():
    """Each GR metric from given curve parameters against a direct numerical evaluation of
    its definition (Hafner et al. 2016): GEC50 the midpoint, GR50 where GR = 0.5 (+inf when
    GRinf >= 0.5), GRinf the bottom, GRmax the GR value at the highest tested dose, GR_AOC the
    mean of 1 - GR over the tested log10 range (trapezoid on 20,001 points)."""
    from drugbayes.curves import LN10
    from drugbayes.families.dose_response.derived import derived

    _, data = db.prepare(_counts(), dose_unit="uM", response_scale="gr")
    n = data.n_groups
    L = np.array([-0.3, 0.4])[:n]
    lh = np.log(np.array([1.5, 0.8]))[:n]
    grinf = np.array([-0.4, 0.6])[:n]  # the second never reaches 0.5
    lb = np.log((grinf + 1.0) / (1.0 - grinf))  # logit of (grinf - (-1)) / 2
    draws = {"grp_log10_ic50": L[None, None], "grp_log_hill": lh[None, None],
             "grp_logit_bottom": lb[None, None], "grp_log_top": np.zeros((1, 1, n))}
    dq = derived(data, draws)
    drug = data.group_drug
    for g in range(n):
        lo, hi = data.group_log10_min[g], data.group_log10_max[g]
        xs = np.linspace(lo, hi, 20001)
        gr = grinf[g] + (1 - grinf[g]) / (1 + np.exp(LN10 * np.exp(lh[g]) * (xs - L[g])))
        assert dq["grinf"][0, 0, g] == pytest.approx(grinf[g], abs=1e-12)
        assert dq["log10_gec50"][0, 0, g] == pytest.approx(
            data.dose_scale.to_log10(L[g], drug[g]), abs=1e-12)
        assert dq["grmax"][0, 0, g] == pytest.approx(gr[-1], abs=1e-12)
        aoc = np.sum(0.5 * (2 - gr[1:] - gr[:-1]) * np.diff(xs)) / (hi - lo)
        assert dq["gr_aoc"][0, 0, g] == pytest.approx(aoc, abs=1e-8)
        if grinf[g] < 0.5:
            # GR = 0.5 where the sigmoid equals (0.5 - grinf) / (1 - grinf)
            s = (0.5 - grinf[g]) / (1 - grinf[g])
            x50 = L[g] + np.log((1 - s) / s) / (LN10 * np.exp(lh[g]))
            assert dq["log10_gr50"][0, 0, g] == pytest.approx(
                data.dose_scale.to_log10(x50, drug[g]), abs=1e-10)
        else:
            assert np.isposinf(dq["log10_gr50"][0, 0, g])


@pytest.mark.slow
def test_gr_fit_reports_the_gr_metrics():
    """GR curve fitted (MAP + Laplace, about 6 s; the example config
    ``dose_response_gr.toml`` runs the same path in the default suite): GEC50, GR50, GRinf,
    GRmax, GR_AOC with intervals; CL1's GRinf (truth -0.5) negative, CL2's (0.2) positive, each
    within 3 sd."""
    res = db.fit(_counts(), "dose_response", dose_unit="uM", response_scale="gr",
                 inference=MAP)
    s = res.summary()
    q = set(s["quantity"])
    assert q >= {"gec50", "gr50", "grinf", "grmax", "gr_aoc", "p_net_cytotoxic"}
    assert "top" not in q and "ic50" not in q
    for cl, truth in (("CL1", -0.5), ("CL2", 0.2)):
        r = s[(s["cell_line"] == cl) & (s["quantity"] == "grinf")].iloc[0]
        assert abs(r["mean"] - truth) < 3 * r["sd"] + 0.02, (cl, r["mean"], r["sd"])
        assert np.isfinite(r["lower"]) and np.isfinite(r["upper"])
    cl1 = s[s["cell_line"] == "CL1"].set_index("quantity")
    assert cl1.loc["p_net_cytotoxic", "mean"] > 0.99
    # GR50 of CL1 (bottom -0.5) crosses 0.5 inside the range; GR_AOC = 1 - mean GR in [0, 2]
    assert 0.0 < cl1.loc["gr_aoc", "mean"] < 2.0
    assert np.isfinite(cl1.loc["gr50", "median"])


# ------------------------------------------------------------------------------ numerics
@pytest.mark.parametrize("lower", [0.0, -1.0, -RATE_FLOOR_FACTOR])
def test_float32_finite_at_extreme_doses(lower):
    """The curve and its gradient are finite in float32 at doses 1e-30 .. 1e30 (log10 +-30,
    and far beyond) for viability, GR (lower -1) and rates at the floor."""
    x = jnp.asarray([-1e4, -30.0, 0.0, 30.0, 1e4], jnp.float32)

    def total(p):
        params = {"log10_ic50": p[0], "log_hill": p[1], "logit_bottom": p[2], "log_top": p[3]}
        return jnp.sum(viability(params, x, jnp.zeros(5, bool), lower))

    for p in ([0.0, 0.0, 0.0, 0.0], [5.0, 3.0, -30.0, -3.0], [-5.0, -3.0, 30.0, 2.0]):
        p = jnp.asarray(p, jnp.float32)
        params = {"log10_ic50": p[0], "log_hill": p[1], "logit_bottom": p[2], "log_top": p[3]}
        v = viability(params, x, jnp.zeros(5, bool), lower)
        assert v.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(v)))
        assert bool(jnp.all(jnp.isfinite(jax.grad(total)(p))))
        # between the bottom (lower x top at most) and the top
        top = float(jnp.exp(p[3]))
        assert float(v.min()) >= lower * top - 1e-6 and float(v.max()) <= top + 1e-6
