"""Columns a config does not map are carried, never refused, for the well kinds: constant within
a unit (a dose-response curve, a combination matrix) into the unit's summary rows and the
DataTree, varying within a unit per well in the DataTree only; listed in the run log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import drugbayes as db
from drugbayes.families import get_family
from drugbayes.families.combination.data import contract_data as combination_data
from drugbayes.families.dose_response.data import contract_data as dose_response_data


def _dose_response():
    wells, opts = dose_response_data(seed=1)
    names = sorted(wells["cell_line"].unique())
    wells["tissue"] = wells["cell_line"].map({c: f"tissue{i}" for i, c in enumerate(names)})
    wells["notes"] = [f"well {i}" for i in range(len(wells))]  # varies within every curve
    return wells, opts


def test_dose_response_carries_tissue_per_curve_and_notes_per_well():
    wells, opts = _dose_response()
    vt, data = db.prepare(wells, kind="dose_response", **opts)
    assert list(vt.carried.columns) == ["tissue", "notes"] and len(vt.carried) == len(vt.df)
    assert list(data.carried_curve) == ["tissue"] and list(data.carried_well) == ["notes"]
    cell = [data.cell_lines[data.group_cell[g]] for g in data.curve_group]
    expect = dict(zip(wells["cell_line"], wells["tissue"]))
    assert data.carried_curve["tissue"] == [expect[c] for c in cell]
    notes = data.carried_well["notes"]
    assert notes.shape == data.y.shape
    assert (notes[data.mask] != "").all() and (notes[~data.mask] == "").all()
    # each well's note is that well's own (the response written next to it in the table)
    by_note = dict(zip(wells["notes"], wells["response"]))
    got = np.array([by_note[n] for n in notes[data.mask]])
    np.testing.assert_allclose(got, data.y[data.mask], rtol=1e-6)
    fam = get_family("dose_response")
    line = fam.describe(vt, data)
    assert "carried columns (not modelled): tissue, notes" in line
    assert "varying within a curve, kept per well in the DataTree only: notes" in line
    tree = fam.observed(data, {})
    assert tree["constant_dims"]["tissue"] == ["measured_curve"]
    assert tree["constant_dims"]["notes"] == ["measured_curve", "point"]


def test_dose_response_tree_names_of_awkward_columns():
    """A name the DataTree cannot hold (``/``) or already uses (``point``, ``log10_dose``)
    gets its own name there."""
    wells, opts = _dose_response()
    wells["lot/batch"] = "L1"
    wells["point"] = "p"
    wells["log10_dose"] = "x"
    _, data = db.prepare(wells, kind="dose_response", **opts)
    dims = get_family("dose_response").observed(data, {})["constant_dims"]
    assert dims["lot_batch"] == dims["carried_point"] == ["measured_curve"]
    assert dims["carried_log10_dose"] == ["measured_curve"]
    assert dims["log10_dose"] == ["measured_curve", "point"]  # the family's own


def test_dose_response_summary_rows_name_the_tissue():
    wells, opts = _dose_response()
    _, data = db.prepare(wells, kind="dose_response", **opts)
    rng = np.random.default_rng(0)
    shape = (1, 4, data.n_groups)
    draws = {"grp_log10_ic50": rng.normal(0, 0.3, shape), "grp_log_hill": rng.normal(0, .1, shape),
             "grp_logit_bottom": rng.normal(-2, .1, shape), "grp_log_top": np.zeros(shape)}
    from drugbayes.families.dose_response.summary import summarize_dose_response

    s = summarize_dose_response(data, draws, method="map")
    expect = dict(zip(wells["cell_line"], wells["tissue"]))
    assert (s["tissue"] == s["cell_line"].map(expect)).all()
    assert "notes" not in s.columns  # varies within a curve: per well only


def test_a_name_in_data_columns_the_file_lacks_is_still_an_error():
    wells, opts = _dose_response()
    with pytest.raises(db.DataValidationError) as e:
        db.prepare(wells, kind="dose_response", columns={"tissue": "organ"}, **opts)
    assert "organ" in str(e.value)


def test_combination_carries_descriptive_columns():
    wells, opts = combination_data(seed=1)
    wells["study"] = "S1"  # constant everywhere
    wells["block_id"] = wells["cell_line"] + "/" + wells["experiment"].astype(str)  # per matrix
    wells["comment"] = [f"c{i}" for i in range(len(wells))]  # per well
    wells["mean"] = 1.0  # the name of a summary column: DataTree only
    vt, data = db.prepare(wells, kind="combination", **opts)
    assert set(vt.carried.columns) == {"study", "block_id", "comment", "mean"}
    assert list(data.carried_well) == ["comment"]
    assert set(data.carried_matrix) == {"study", "block_id", "mean"}
    assert data.carried_matrix["block_id"] == [lab.split("|")[0] + "/" + lab.split("|")[-1]
                                               for lab in _matrix_labels(data)]
    fam = get_family("combination")
    assert "carried columns (not modelled): study, block_id, mean, comment" in fam.describe(
        vt, data)
    tree = fam.observed(data, {})
    assert tree["constant_dims"]["block_id"] == ["matrix"]
    assert tree["constant_dims"]["comment"] == ["matrix", "point"]
    comment = tree["constant"]["comment"]
    assert (comment[data.mask] != "").all() and (comment[~data.mask] == "").all()


def _matrix_labels(data) -> list[str]:
    """``cell line|experiment`` of each matrix."""
    return [f"{data.cell_lines[data.combo_cell[k]]}|{data.experiments[e]}"
            for k, e in zip(data.matrix_combo, data.matrix_exp)]


@pytest.mark.slow  # a MAP fit: about 20 s on 2 cores
def test_combination_summary_rows_carry_matrix_columns():
    wells, opts = combination_data(seed=1)
    wells["study"] = "S1"
    wells["block_id"] = wells["cell_line"] + "/" + wells["experiment"].astype(str)
    wells["comment"] = [f"c{i}" for i in range(len(wells))]
    wells["lot/batch"] = "L1"
    r = db.fit(wells, "combination", inference={"method": "map", "map_num_steps": 20}, seed=1,
               **opts)
    s = r.summary()
    assert (s["study"] == "S1").all() and "comment" not in s.columns
    blocks = s[s["experiment"].ne("all")]
    assert (blocks["block_id"] == blocks["cell_line"] + "/" + blocks["experiment"]).all()
    combos = s[s["experiment"].eq("all") & s["cell_line"].ne("pooled")]
    assert (combos["block_id"] == combos["cell_line"] + "/EXP1; " + combos["cell_line"]
            + "/EXP2").all()
    assert (s.loc[s["cell_line"].eq("pooled"), "block_id"] == "").all()  # varies: left empty
    const = r.posterior["constant_data"]
    assert const["block_id"].dims == ("matrix",) and const["comment"].dims == ("matrix", "point")
    assert const["lot_batch"].dims == ("matrix",) and (s["lot/batch"] == "L1").all()


REAL = (Path(__file__).resolve().parents[1] / "../shared/data/combination_mathews_griner"
        ).resolve()


@pytest.mark.realdata
@pytest.mark.skipif(not (REAL / "mathews_griner_TMD8_ibrutinib_combos.csv").is_file(),
                    reason=f"real data folder {REAL} is absent")
def test_real_combination_screen_with_its_descriptive_columns():
    """Two blocks of the Mathews Griner screen with every column of the file: the columns the
    config does not map (14) are carried, none refused, the block's descriptions per matrix."""
    from drugbayes.testing import mathews_griner_blocks

    df = mathews_griner_blocks(REAL)
    df = df[df["BlockId"].isin([19, 45])]
    cols = {"cell_line": "sampleid", "drug_a": "ColName", "dose_a": "ColConcs",
            "drug_b": "RowName", "dose_b": "RowConcs", "response": "viability",
            "experiment": "BlockId"}
    vt, data = db.prepare(df, kind="combination", columns=cols, dose_unit="nM",
                          response_scale="percent")
    carried = set(vt.carried.columns)
    assert carried == set(df.columns) - set(cols.values()) and len(carried) == 14
    assert {"AssayId", "RowTarget", "ColTarget", "tissueid", "RowConcUnit"} <= set(
        data.carried_matrix)
    assert {"Col", "Row"} <= set(data.carried_well)  # the well's position varies
    assert data.carried_matrix["tissueid"] == ["Lymphoma", "Lymphoma"]


def test_combination_shared_controls_carry_their_own_values():
    """Control wells written once for every matrix of their plate (drug_b empty) carry their
    own row's values: per shared well where a column varies, in each matrix where constant."""
    import pandas as pd

    from drugbayes.families.combination import simulate_wells

    truth = pd.DataFrame([{"cell_line": "CL1", "drug_a": "A", "drug_b": p, "e0": 1.0,
                           "e1": 0.2, "e2": 0.5, "beta": 0.3, "c1": 0.3, "c2": 0.5,
                           "h1": 1.0, "h2": 1.2, "log_alpha12": 0.5, "log_alpha21": 0.0}
                          for p in ("P1", "P2")])
    doses = np.logspace(-2, 1, 4)
    w = simulate_wells(truth, doses, doses, n_replicates=1, noise_sd=0.05, seed=1)
    ctrl = w[(w["dose_b"] == 0) & (w["drug_b"] == "P1")].copy()
    ctrl["drug_b"], ctrl["dose_b"] = "", np.nan
    table = pd.concat([w[w["dose_b"] > 0], ctrl], ignore_index=True)
    table["well_id"] = [f"w{i}" for i in range(len(table))]
    table["screen"] = "pilot"
    _, data = db.prepare(table, kind="combination", dose_unit="uM")
    assert len(data.sh_row) == len(ctrl)
    assert data.carried_matrix == {"screen": ["pilot", "pilot"]}
    ids = table["well_id"].to_numpy()
    np.testing.assert_array_equal(data.carried_shared["well_id"], ids[data.sh_row])
    own = data.carried_well["well_id"]
    np.testing.assert_array_equal(own[data.mask], ids[data.point_row[data.mask]])
    dims = get_family("combination").observed(data, {})["constant_dims"]
    assert dims["well_id"] == ["matrix", "point"] and dims["shared_well_id"] == ["shared_well"]
