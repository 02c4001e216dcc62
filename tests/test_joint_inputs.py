"""The ``joint`` family's input side (issue 19): a dose unit per drug, top-level ``[[predict]]``
and bad input across blocks (every problem at once, exit 2, no run directory). Validation
only: nothing here fits."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from joint_helpers import joint_raw, problems, write_tables

from drugbayes.api import check_config
from drugbayes.cli import main
from drugbayes.config import config_from_dict, load_config
from drugbayes.errors import ConfigError, InputError
from drugbayes.families import REGISTRY
from drugbayes.families.joint.doseunits import canonical_unit, label_units

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "configs" / "examples" / "her2_joint.toml"
FAM = REGISTRY["joint"]


def _antibody_tables(tables: dict) -> dict:
    """The study with drug y an antibody: its doses written in ng/mL in the dose-response
    file (a ``dose_unit`` column; 1000 x the numbers in ug/mL), in ug/mL in the checkerboards
    (no unit column: the drug's declared unit)."""
    out = {k: v.copy() for k, v in tables.items()}
    dr = out["dose_response"]
    dr["dose_unit"] = np.where(dr["drug"] == "y", "ng/mL", "µM")
    dr.loc[dr["drug"] == "y", "dose"] *= 1000.0
    return out


def test_unit_names():
    assert canonical_unit("µM") == "uM" and canonical_unit("umol/L") == "uM"
    assert canonical_unit("µg/ml") == "ug/mL" and canonical_unit(" ng/mL ") == "ng/mL"
    assert canonical_unit("mg/kg") is None and canonical_unit("") is None


def test_a_unit_per_drug_converts_same_kind_units(tmp_path, joint_study):
    tables, opts = joint_study
    write_tables(tmp_path, tables)
    _, _, base = check_config(config_from_dict(joint_raw(opts["arm_drugs"]), base_dir=tmp_path))
    assert base.drug_units == {"x": "uM", "y": "uM"} and base.family_unit == "uM"
    write_tables(tmp_path, _antibody_tables(tables))
    cfg = config_from_dict(joint_raw(opts["arm_drugs"], {"x": "uM", "y": "ug/mL"}),
                           base_dir=tmp_path)
    _, vt, data = check_config(cfg)
    assert data.drug_units == {"x": "uM", "y": "ug/mL"} and data.dose_unit == "per drug"
    assert data.attrs["dose_units"] == "x: uM; y: ug/mL"  # recorded on posterior.nc
    assert "(doses: x uM, y ug/mL)" in FAM.describe(vt, data)
    # y's ng/mL doses were converted to ug/mL: the same numbers as the study's, so each drug's
    # log10 doses (in its own unit) and the checkerboard's shift are the base study's
    np.testing.assert_allclose(data.dr.dose_scale.shift, base.dr.dose_scale.shift)
    np.testing.assert_allclose(data.dr.group_log10_min, base.dr.group_log10_min)
    np.testing.assert_allclose(data.comb_shift, base.comb_shift, atol=1e-6)
    # the unit column is read, not carried into the outputs as a column of its own
    assert "dose_unit" not in vt.blocks["dose_response"].df.columns
    carried = vt.blocks["dose_response"].carried
    assert carried is None or "dose_unit" not in carried.columns
    # a block's own dose_unit (x in nM in the checkerboards) and a row's column (y in ug/mL)
    # come before the drug's declared unit: both converted to it
    t = _antibody_tables(tables)
    cb = t["combination"]
    cb.loc[cb["drug_a"] == "x", "dose_a"] *= 1000.0
    cb["dose_unit_b"] = "ug/mL"
    write_tables(tmp_path, t)
    cfg = config_from_dict(joint_raw(opts["arm_drugs"], {"x": "uM", "y": "ug/mL"},
                                combination={"dose_unit": "nM"}), base_dir=tmp_path)
    _, _, again = check_config(cfg)
    np.testing.assert_allclose(again.comb_shift, base.comb_shift, atol=1e-6)
    np.testing.assert_allclose(again.dr.dose_scale.shift, base.dr.dose_scale.shift)


def test_far_dose_notes_name_the_drugs_unit(tmp_path, joint_study):
    """The blocks' notes reach the run log (each naming its block), a far dose in its drug's
    unit (not the component family's ``M``)."""
    tables, opts = joint_study
    t = _antibody_tables(tables)
    dr = t["dose_response"]
    dr.loc[dr.index[(dr["drug"] == "y") & (dr["cell_line"] == "A")][-1], "dose"] = 1e20
    write_tables(tmp_path, t)
    cfg = config_from_dict(joint_raw(opts["arm_drugs"], {"x": "uM", "y": "ug/mL"}),
                           base_dir=tmp_path)
    _, vt, data = check_config(cfg)
    assert data.family_unit == "M"
    far = [n for n in vt.source.notes if "decades from the middle" in n]
    assert far and all(n.startswith("[data.dose_response] ") for n in far)
    assert "dose 1e+17 ug/mL of drug 'y'" in far[0] and " M" not in far[0].split(": ", 1)[1]


def test_summary_rows_carry_their_drugs_unit():
    summary = pd.DataFrame({
        "assay": ["dose_response", "dose_response", "dose_response", "combination",
                  "combination", "link", "link"],
        "drug": ["x", "y", "y", "", "", "y", "y"],
        "drug_a": ["", "", "", "x", "x", "", ""],
        "drug_b": ["", "", "", "y", "y", "", ""],
        "quantity": ["ic50", "ic50", "log10_ic50", "c1", "log10_c2",
                     "effective_concentration", "rmax"],
        "unit": ["M", "M", "log10 M", "M", "log10 M", "M", "1/day"]})
    out = label_units(summary, "M", {"x": "uM", "y": "ug/mL"})
    assert list(out["unit"]) == ["uM", "ug/mL", "log10 ug/mL", "uM", "log10 ug/mL",
                                 "ug/mL", "1/day"]
    # one molar unit for every drug: the families' own labels are kept
    assert label_units(summary, "uM", {"x": "uM", "y": "uM"}) is summary


def test_conflicting_units_every_one_at_once(tmp_path, joint_study):
    tables, opts = joint_study
    t = _antibody_tables(tables)
    cb = t["combination"]
    cb["dose_unit_a"] = "uM"
    cb.loc[cb["cell_line"] == "B", "dose_unit_a"] = "ug/mL"  # x is molar: no conversion
    cb["dose_unit_b"] = "ug/mL"
    cb.loc[3, "dose_unit_b"] = "furlongs"
    write_tables(tmp_path, t)
    raw = joint_raw(opts["arm_drugs"], {"x": "uM", "q": "nM"})
    with pytest.raises(InputError) as e:
        check_config(config_from_dict(raw, base_dir=tmp_path))
    text = problems(e.value)
    assert "conflicting dose units of drug 'x'" in text and "ug/mL in [data.combination]" in text
    assert "molar and mass concentrations do not convert" in text
    # y has no declared unit: ng/mL in one block, ug/mL in the other is a conflict, with a hint
    assert "conflicting dose units of drug 'y'" in text
    assert "declare its unit in [data.dose_units]" in text
    assert "'furlongs'" in text and "unknown dose unit" in text and "line 5" in text
    assert "data.dose_units.q" in text and "not a drug of any in-vitro block" in text
    # undeclared, with different units in the two blocks' own keys (as before, per drug)
    write_tables(tmp_path, tables)
    raw = joint_raw(opts["arm_drugs"], combination={"dose_unit": "nM"})
    with pytest.raises(InputError) as e:
        check_config(config_from_dict(raw, base_dir=tmp_path))
    text = problems(e.value)
    assert "conflicting dose units of drug 'x'" in text
    assert "conflicting dose units of drug 'y'" in text
    assert "uM in [data.dose_response]" in text and "nM in [data.combination]" in text


def test_top_level_predict(tmp_path, joint_study):
    tables, opts = joint_study
    write_tables(tmp_path, tables)
    raw = joint_raw(opts["arm_drugs"])
    raw["predict"] = [{"cell_line": "B", "arm": "x+y"}]
    cfg = config_from_dict(raw, base_dir=tmp_path)
    _, _, data = check_config(cfg)
    assert [p["cell_line"] for p in data.predict] == ["B"] and data.predict_key == "predict"
    assert len(data.predict[0]["units"]) == 2
    # written back at the top level in config.resolved.toml
    resolved = cfg.to_toml_dict()
    assert resolved["predict"] == [{"cell_line": "B", "arm": "x+y"}]
    assert "predict" not in resolved["data"]
    # the older spelling still works, but not both at once
    old = joint_raw(opts["arm_drugs"])
    old["model"]["options"] = {"predict": [{"cell_line": "B", "arm": "x+y"}]}
    _, _, data = check_config(config_from_dict(old, base_dir=tmp_path))
    assert data.predict_key == "model.options.predict" and len(data.predict) == 1
    both = {**raw, "model": old["model"]}
    with pytest.raises(ConfigError, match="predictions given twice"):
        check_config(config_from_dict(both, base_dir=tmp_path))
    # a kind that makes no predictions refuses the key; an entry needs both keys
    with pytest.raises(ConfigError, match="predict"):
        config_from_dict({"data": {"path": "x.csv"}, "predict": [{"cell_line": "B",
                                                                    "arm": "x"}]})
    with pytest.raises(ConfigError, match="predict.0.arm"):
        config_from_dict({**raw, "predict": [{"cell_line": "B"}]})


def _bad_study(tmp_path: Path, tables: dict, opts: dict) -> Path:
    """A config with four problems across blocks, one of each kind the issue names."""
    t = {k: v.copy() for k, v in tables.items()}
    # a line only in the xenograft block (its vehicle arm only)
    extra = t["xenograft"][(t["xenograft"]["cell_line"] == "C")
                           & (t["xenograft"]["arm"] == "vehicle")].copy()
    extra["cell_line"] = "E"
    extra["mouse"] = "E-" + extra["mouse"]
    t["xenograft"] = pd.concat([t["xenograft"], extra], ignore_index=True)
    write_tables(tmp_path, t)
    raw = joint_raw({**opts["arm_drugs"], "x+w": ["x", "w"]}, combination={"dose_unit": "nM"})
    raw["predict"] = [{"cell_line": "E", "arm": "x"}, {"cell_line": "B", "arm": "nope"}]
    path = tmp_path / "joint.toml"
    path.write_text(_toml(raw))
    return path


def _toml(raw: dict) -> str:
    from drugbayes.config.toml import dump_toml

    return dump_toml(raw)


def _four_problems(text: str) -> None:
    assert "data.arm_drugs.x+w" in text and "'w'" in text  # not an in-vitro drug
    assert "conflicting dose units of drug 'x'" in text
    assert "predict[0].cell_line" in text and "'E' is only in [data.xenograft]" in text
    assert "predict[1].arm" in text and "not an arm of [data.arm_drugs]" in text


def test_bad_input_across_blocks_at_once(tmp_path, joint_study):
    tables, opts = joint_study
    path = _bad_study(tmp_path, tables, opts)
    with pytest.raises(InputError) as e:
        check_config(load_config(path))
    _four_problems(problems(e.value))


def test_cross_block_names_are_checked_beside_a_block_that_fails(tmp_path, joint_study):
    """A block that fails its own validation cannot be encoded; the config's names are still
    checked against the tables, and reported with its problems."""
    tables, opts = joint_study
    t = {k: v.copy() for k, v in tables.items()}
    t["dose_response"]["response"] = t["dose_response"]["response"].astype(object)
    t["dose_response"].loc[3, "response"] = "abc"
    write_tables(tmp_path, t)
    raw = joint_raw({**opts["arm_drugs"], "x+w": ["x", "w"]})
    raw["predict"] = [{"cell_line": "B", "arm": "nope"}, {"cell_line": "B", "arm": "x"}]
    with pytest.raises(InputError) as e:
        check_config(config_from_dict(raw, base_dir=tmp_path))
    text = problems(e.value)
    assert "[data.dose_response]" in text and "'abc'" in text
    assert "data.arm_drugs.x+w" in text and "'w'" in text
    assert "predict[0].arm" in text and "predict[1]" not in text


@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_input_across_blocks_cli_exit_2(tmp_path, joint_study, capsys, command):
    tables, opts = joint_study
    path = _bad_study(tmp_path, tables, opts)
    assert main([command, str(path), "--quiet"] if command == "run"
                else [command, str(path)]) == 2
    captured = capsys.readouterr()
    _four_problems(captured.out + captured.err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


def test_the_example_declares_units_and_top_level_predictions():
    raw = tomllib.loads(EXAMPLE.read_text())
    assert "predict" in raw and "predict" not in raw["model"].get("options", {})
    _, _, data = check_config(load_config(EXAMPLE))
    assert data.drug_units == {"lapatinib": "uM", "trastuzumab": "ug/mL"}
    assert [(p["cell_line"], p["arm"]) for p in data.predict] == [
        ("HCC1954", "lapatinib+trastuzumab"), ("SKBR3", "lapatinib")]


@pytest.mark.slow
def test_the_examples_summary_gives_each_drug_its_unit():
    """The joint summary of the example (from prior draws: no fit; about a minute, the
    summaries' compilation): trastuzumab's rows in ug/mL, lapatinib's in uM, none in M."""
    import jax
    from numpyro.infer import Predictive

    spec, _, data = check_config(load_config(EXAMPLE))
    prior = Predictive(FAM.model, num_samples=4)(jax.random.PRNGKey(0), FAM.arrays(data), spec)
    draws = {k: np.asarray(v)[None] for k, v in prior.items()}
    s = FAM.summarize(data, draws, None, 0.9, "nuts", spec=spec, seed=0)
    ic50 = s[s["quantity"] == "ic50"].groupby("drug")["unit"].unique()
    assert list(ic50["trastuzumab"]) == ["ug/mL"] and list(ic50["lapatinib"]) == ["uM"]
    pot = s[s["quantity"].isin(["log10_c1", "log10_c2"])]
    assert set(pot["unit"]) == {"log10 uM", "log10 ug/mL"}
    conc = s[s["quantity"] == "effective_concentration"].set_index("drug")["unit"]
    assert conc.to_dict() == {"lapatinib": "uM", "trastuzumab": "ug/mL"}
    assert not s["unit"].astype(str).str.contains(r"(?:^|\s)M$").any()
