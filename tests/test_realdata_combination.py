"""Real data: classic ZIP on the Mathews Griner ibrutinib screen (``../shared/data``).

Small on purpose (two of the 466 blocks, classic ZIP only); the full run with the Bayesian fit
of every block is ``python -m benchmarks.validation.validate_mathews_griner_zip``. Skipped when
the data folder is absent.

The issue expects our classic ZIP of blocks 19 and 45 within about 1.5 (% inhibition) of
SynergyFinder Plus's published means (19.57 and -2.98). Measured: 11.50 and -15.70
(``synergyfinder`` convention). SynergyFinder's published values were reproduced exactly with
drc 3.0-1 and its own code path; they rest on drc fits with up to 250 times the least-squares
residual sum of squares, and with optimal fits its algorithm gives 11.50 and -15.69
(``benchmarks/results/validation/synergyfinder_drc_reproduction.md``). The tests check that
our fits are those optima (against the independent scipy reference ``tests/zip_reference.py``)
and keep the published comparison as a strict expected failure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = (REPO / "../shared/data/combination_mathews_griner").resolve()

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA_DIR / "mathews_griner_TMD8_ibrutinib_combos.csv").is_file(),
                       reason=f"real data folder {DATA_DIR} is absent"),
]


@pytest.fixture(scope="module")
def zips():
    from drugbayes.families.combination.zip import zip_delta_classic
    from drugbayes.testing import block_grids, mathews_griner_blocks, synergyfinder_reference

    df = mathews_griner_blocks(DATA_DIR)
    ids, y, xa, xb = block_grids(df, [19, 45])
    out = {c: zip_delta_classic(y, xa, xb, convention=c, baseline="none")
           for c in ("synergyfinder", "synergy")}
    return ids, out, synergyfinder_reference(DATA_DIR), (y, xa, xb)


def test_classic_zip_of_blocks_19_and_45_is_finite_and_ordered(zips):
    ids, out, _, _ = zips
    assert ids == [19, 45]
    for z in out.values():
        assert np.isfinite(z["delta"]).all()
    sf = 100 * out["synergyfinder"]["mean"]
    assert sf[0] > 5.0 > sf[1]  # ispinesib synergistic, canertinib not
    assert abs(sf[0] - 100 * out["synergy"]["mean"][0]) < 10.0


def test_classic_zip_of_blocks_19_and_45_is_synergyfinders_algorithm_at_its_optimum(zips):
    """Every refit within 1% of the least-squares optimum's residual sum of squares (two of
    block 45's optima are power laws on a boundary, approached to 0.6%), and the block means
    within 0.05 (% inhibition) of the scipy reference (11.50 and -15.69)."""
    from zip_reference import zip_synergyfinder

    ids, out, _, (y, xa, xb) = zips
    z = out["synergyfinder"]
    for k in range(len(ids)):
        da = np.concatenate([[0.0], 10.0 ** xa[k, 1:]])
        dbb = np.concatenate([[0.0], 10.0 ** xb[k, 1:]])
        ref = zip_synergyfinder(y[k], da, dbb)
        assert (z["sse_col"][k] <= 1.01 * ref["sse_col"] + 1e-6).all()
        assert (z["sse_row"][k] <= 1.01 * ref["sse_row"] + 1e-6).all()
        assert abs(100 * float(z["mean"][k]) - 100 * ref["mean"]) < 0.05


@pytest.mark.xfail(reason="measured 11.50 / -15.70 against SynergyFinder's published 19.57 / "
                   "-2.98, which rest on drc fits far from the least-squares optimum; see "
                   "benchmarks/results/validation/synergyfinder_drc_reproduction.md", strict=True)
def test_classic_zip_matches_synergyfinder_within_1_5(zips):
    _, out, ref, _ = zips
    ours = 100 * out["synergyfinder"]["mean"]
    assert abs(ours[0] - ref[19]) < 1.5 and abs(ours[1] - ref[45]) < 1.5
