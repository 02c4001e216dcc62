"""Real-data check: the tumr melanoma xenografts against the published Stan fits.

Needs ``../shared/data/xenograft_tumr`` (skipped when absent). ``melanoma2.csv`` with the preset
that mirrors the published model (``xenograft/tumr_log1p_linear``), NUTS with a small budget
(2 chains x 300 + 300): every arm's posterior mean slope lies inside the published posterior
90% interval, and every one of the ten slope differences has the published sign where the
published 90% interval excludes zero, and is within 0.005 per day of the published mean (the
full run, ``benchmarks/results/validation/tumr_melanoma.md``, agrees to 0.001; the published
intervals are about 0.04 wide). ``melanoma1.csv`` (217 zeros, culled controls) runs with the
default preset and finite summaries.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drugbayes as db

REPO = Path(__file__).resolve().parent.parent
DATA = (REPO / "../shared/data/xenograft_tumr").resolve()
COLUMNS = {"mouse": "ID", "day": "Day", "volume": "Volume", "arm": "Treatment"}
NUTS = {"method": "nuts", "num_chains": 2, "num_warmup": 300, "num_samples": 300}

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data absent")]


def test_melanoma2_mirrors_published_stan_model():
    pub = pd.read_csv(DATA / "published_fits_melanoma2.csv").query("method == 'bhm_stan'")
    r = db.fit(DATA / "melanoma2.csv", "xenograft", columns=COLUMNS, control_arm="A",
               model="xenograft/tumr_log1p_linear", inference=NUTS, seed=0)
    rate = np.asarray(r.inference.samples["grp_rate"], np.float64).reshape(-1, 5)
    arms = [r.data.arms[a] for a in r.data.group_arm]
    for j, arm in enumerate(arms):
        p = pub.query("quantity == 'group_slope' and term == @arm").iloc[0]
        assert p["lower"] <= rate[:, j].mean() <= p["upper"], arm
    for a, b in itertools.combinations(sorted(arms), 2):
        term = f"{a} - {b}"
        p = pub.query("quantity == 'slope_difference' and term == @term").iloc[0]
        d = rate[:, arms.index(a)] - rate[:, arms.index(b)]
        assert abs(d.mean() - p["estimate"]) < 0.005, term
        if p["lower"] > 0 or p["upper"] < 0:
            assert np.sign(d.mean()) == np.sign(p["estimate"]), term


def test_melanoma1_zeros_and_culled_controls_run_cleanly():
    r = db.fit(DATA / "melanoma1.csv", "xenograft", columns=COLUMNS, control_arm="A",
               inference=NUTS, seed=0, contrasts=[{"combination": "D", "a": "B", "b": "C"}])
    assert int((r.data.censored & r.data.mask).sum()) == 217
    s = r.summary()
    gr = s.query("quantity == 'growth_rate'").set_index("arm")
    assert np.isfinite(gr[["median", "lower", "upper"]].to_numpy()).all()
    assert gr.loc["D", "upper"] < 0  # the combination regresses (all 8 mice reach 0)
    assert r.diagnostics["checks"]["divergences"]["value"] == 0
