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


def test_original_baseline_correction_on_blocks_19_and_45(zips):
    """The original ZIP code's correction fits each single-drug line at its positive doses and
    scales the block by ``2 - mean of the lines' largest fitted viability``: 1.216 for block 19
    (ispinesib already inhibits at its lowest dose, so the original code counts part of its
    effect as baseline and scales up, although the untreated well reads 123%) and 0.652 for
    block 45 (canertinib raises viability to 187% at mid doses). The original code's ZIP
    (single-drug curves from 1 to 0) then gives 15.41 and -15.78 (% inhibition); SynergyFinder
    Plus's refits on the same corrected wells 21.84 and -27.83; uncorrected (SynergyFinder
    Plus's default) 11.50 and -15.70: every version keeps the signs."""
    from drugbayes.families.combination.zip import zip_delta_classic

    ids, out, _, (y, xa, xb) = zips
    z = zip_delta_classic(y, xa, xb, baseline="original", convention="original")
    assert (y[:, 0, 0] > 1.05).all()
    np.testing.assert_allclose(z["baseline_factor"], [1.216, 0.652], atol=0.01)
    np.testing.assert_allclose(100 * z["mean"], [15.41, -15.78], atol=0.1)
    zs = zip_delta_classic(y, xa, xb, baseline="original", convention="synergyfinder")
    np.testing.assert_allclose(100 * zs["mean"], [21.84, -27.83], atol=0.1)
    assert np.sign(z["mean"]).tolist() == np.sign(out["synergyfinder"]["mean"]).tolist()


def test_classic_zip_of_two_blocks_in_the_summary():
    """The two blocks read as a user would (their own column names, doses in nM, percent):
    ``zip_delta_classic`` in the summary equals the function's value per block."""
    import drugbayes as db
    from drugbayes.families.combination.zip import zip_delta_classic
    from drugbayes.testing import block_grids, mathews_griner_blocks

    df = mathews_griner_blocks(DATA_DIR)
    df = df[df["BlockId"].isin([19, 45])]
    cols = {"cell_line": "sampleid", "drug_a": "ColName", "dose_a": "ColConcs",
            "drug_b": "RowName", "dose_b": "RowConcs", "response": "viability"}
    table = df[list(cols.values())]
    r = db.fit(table, "combination", columns=cols, dose_unit="nM", response_scale="percent",
               inference={"method": "map", "map_num_steps": 300, "laplace": False}, seed=1)
    s = r.summary()
    rows = s[s["quantity"] == "zip_delta_classic"].set_index("drug_b")["mean"]
    _, y, xa, xb = block_grids(df, [19, 45])
    z = zip_delta_classic(y, xa, xb, convention="original")
    partners = [df.loc[df["BlockId"] == b, "RowName"].iloc[0] for b in (19, 45)]
    np.testing.assert_allclose(rows.loc[partners].to_numpy(), z["mean"], atol=1e-5)
