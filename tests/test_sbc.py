"""Simulation-based calibration (SBC).

By default: the rank computation and the uniformity statistic on a conjugate normal model whose
exact posterior is known (an exact posterior passes, an overconfident or a biased one fails),
in well under a second. With ``-m sbc``: reduced SBC of the back-ends on the families' own
prior predictive (minutes; the full runs are ``benchmarks/validation/sbc.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from drugbayes.testing import (
    rank_bins,
    rank_uniformity,
    sbc_rank,
    sbc_summary,
    thin,
)

L = 99


def _conjugate_reps(n_reps: int, sd_factor: float = 1.0, shift: float = 0.0,
                    seed: int = 0) -> list[dict]:
    """SBC replications of theta ~ N(0, 1), y_1..5 ~ N(theta, 1) with posterior draws from
    N(m + shift * s, (sd_factor * s)^2) (exact for sd_factor 1, shift 0)."""
    rng = np.random.default_rng(seed)
    reps = []
    for r in range(n_reps):
        theta = rng.normal()
        y = rng.normal(theta, 1.0, 5)
        m, s = y.sum() / 6.0, 1.0 / np.sqrt(6.0)
        draws = rng.normal(m + shift * s, sd_factor * s, (2, 200))
        fixed = np.zeros((2, 200))  # a constant site: left out of the summary
        flat = draws.reshape(-1)
        reps.append({"rep": r, "n_draws": L,
                     "rank": {"theta": [int(sbc_rank(theta, thin(draws, L), rng))],
                              "fixed": [int(sbc_rank(0.0, thin(fixed, L), rng))]},
                     "truth": {"theta": [theta], "fixed": [0.0]},
                     "z": {"theta": [(theta - flat.mean()) / flat.std()], "fixed": [np.nan]}})
    return reps


def test_rank_helpers():
    rng = np.random.default_rng(1)
    draws = np.arange(2 * 60, dtype=float).reshape(2, 60)
    t = thin(draws, L)
    assert t.shape == (L,) and t[0] == 0 and t[-1] == 119
    assert sbc_rank(-1.0, t, rng) == 0 and sbc_rank(1e9, t, rng) == L
    # ties: a truth equal to every draw gets a rank spread over 0..L, not always 0
    tied = [int(sbc_rank(0.0, np.zeros(L), rng)) for _ in range(400)]
    assert min(tied) < 20 and max(tied) > 80
    assert rank_bins(100, 200) == 20 and rank_bins(100, 100) == 10 and rank_bins(100, 50) == 5
    with pytest.raises(ValueError):
        thin(draws, 500)


def test_exact_posterior_passes_and_overconfidence_is_caught():
    exact = sbc_summary(_conjugate_reps(200))
    assert list(exact["parameter"]) == ["theta"]  # the constant site is not ranked
    row = exact.iloc[0]
    assert row["p"] > 0.01 and row["ks_p"] > 0.01
    assert 0.85 <= row["coverage90"] <= 0.95 and 0.85 < row["z_sd"] < 1.15

    narrow = sbc_summary(_conjugate_reps(200, sd_factor=0.5)).iloc[0]
    assert narrow["p"] < 1e-6 and narrow["coverage90"] < 0.7 and narrow["z_sd"] > 1.7

    biased = sbc_summary(_conjugate_reps(200, shift=1.0)).iloc[0]
    assert biased["p"] < 1e-3 and biased["ks_p"] < 1e-3


def test_rank_uniformity_band_and_counts():
    u = rank_uniformity(np.arange(100).repeat(2), 100)
    assert u["n"] == 200 and u["bins"] == 20 and u["counts"] == [10] * 20
    assert u["chi2"] == 0.0 and u["p"] == pytest.approx(1.0) and u["n_bins_outside99"] == 0
    lo, hi = u["band99"]
    assert lo < 10 < hi
    all_low = rank_uniformity(np.zeros(200, int), 100)
    assert all_low["p"] < 1e-10 and all_low["n_bins_outside99"] == 20


# ----------------------------------------------------------------------------- reduced SBC
def _reduced_sbc(kind: str, table, options: dict, method: str, settings: dict, reps: int,
                 seed: int):
    from drugbayes.testing import SBCProblem, sbc_replication

    p = SBCProblem(kind, table, None, **options)
    prior = p.prior(reps, seed)
    out = [sbc_replication(p, prior, r, method, settings, L, seed=seed * 1000 + r)
           for r in range(reps)]
    shapes = {k: tuple(np.shape(v)[1:]) for k, v in prior.items()}
    return sbc_summary(out, shapes), out


def _assert_calibrated(s):
    """No parameter outside the Bonferroni-corrected 99% band, and no more parameters outside
    the plain 99% band than chance allows (Binomial(P, 0.01) at its 99.9% quantile)."""
    from scipy import stats

    P = len(s)
    assert P > 0
    worst = s.sort_values("p").head(3)[["parameter", "p", "z_sd"]].to_dict("records")
    assert (s["p"] >= 0.01 / P).all(), worst
    assert (s["p"] < 0.01).sum() <= stats.binom.ppf(0.999, P, 0.01), worst


def _dose_response_design(n_cell_lines: int = 2):
    import drugbayes as db

    wells, _ = db.simulate_dose_response(n_cell_lines, 2, n_replicates=1, seed=1)
    return wells, {"response_scale": "fraction"}


SCREEN = {"num_chains": 4, "num_warmup": 300, "num_samples": 250}


@pytest.mark.sbc
def test_sbc_dose_response_screen():
    """100 replications of the screen back-end on 6 curves (3 cell lines x 2 drugs; a few
    minutes)."""
    wells, opts = _dose_response_design(3)
    s, _ = _reduced_sbc("dose_response", wells, opts, "screen", SCREEN, 100, 11)
    _assert_calibrated(s)


@pytest.mark.sbc
def test_sbc_dose_response_screen_two_cell_lines():
    """The same with 2 cell lines x 2 drugs: one degree of freedom for sigma_cell_line (its
    Gibbs update proposed from Gamma(0) and never moved before the fix of ``gamma_scale``)."""
    wells, opts = _dose_response_design(2)
    s, _ = _reduced_sbc("dose_response", wells, opts, "screen", SCREEN, 100, 11)
    _assert_calibrated(s)


@pytest.mark.sbc
def test_sbc_dose_response_nuts():
    """60 replications of NumPyro's NUTS kernel with the back-end's settings, vmapped over
    replications (``sbc_nuts_vmapped``: one compiled program), on 4 curves."""
    from drugbayes.testing import SBCProblem, sbc_nuts_vmapped

    wells, opts = _dose_response_design(2)
    p = SBCProblem("dose_response", wells, None, **opts)
    prior = p.prior(60, 12)
    reps = sbc_nuts_vmapped(p, prior, list(range(60)), L, 12, num_warmup=300,
                            num_samples=300, batch=20)
    s = sbc_summary(reps, {k: tuple(np.shape(v)[1:]) for k, v in prior.items()})
    _assert_calibrated(s)


@pytest.mark.sbc
def test_svi_vmapped_matches_the_svi_backend():
    """``sbc_svi_vmapped`` fits what the ``svi`` back-end fits (dose response: no MAP start)
    on 3 prior-predictive data sets of 4 curves (27 scalars each), with other random streams:
    per data set the median over scalars of |difference of the means| is under 0.15 guide sd
    and the largest under 0.5, and every sd ratio is within [0.75, 1.33]. Two seeds of the
    back-end itself differ by a median 0.05-0.09 sd and at most 0.3 sd; a fit cut to 1,500 of
    the back-end's 2,000 steps (it runs whole chunks of 1,000) differs by a median of up to
    0.17 sd and up to 0.6 sd. 2,000 steps (a multiple of the back-end's chunk)."""
    from drugbayes.testing import SBCProblem, sbc_parameters, sbc_svi_vmapped

    wells, opts = _dose_response_design(2)
    p = SBCProblem("dose_response", wells, None, **opts)
    prior = p.prior(3, 13)
    n, steps = 400, 2000
    reps = sbc_svi_vmapped(p, prior, [0, 1, 2], L, 13, num_steps=steps, num_samples=n,
                           batch=3, keep_draws=True)
    assert all(np.isfinite(r["final_loss"]) for r in reps)
    for r in range(3):
        draws, _ = p.fit(p.arrays_for(prior, r), "svi",
                         {"num_chains": 1, "num_samples": n, "num_steps": steps}, seed=r)
        diff, ratio = [], []
        for site in sbc_parameters(prior, draws):
            a = np.asarray(draws[site], float).reshape(n, -1)
            b = np.asarray(reps[r]["draws"][site], float).reshape(n, -1)
            sd = a.std(0)
            keep = sd > 1e-6
            diff += list((np.abs(a.mean(0) - b.mean(0)) / sd)[keep])
            ratio += list((b.std(0) / sd)[keep])
        assert len(diff) == 27
        assert np.median(diff) < 0.15 and max(diff) < 0.5, (r, np.median(diff), max(diff))
        assert 0.75 < min(ratio) and max(ratio) < 1.33, (r, min(ratio), max(ratio))
