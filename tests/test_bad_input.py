"""Bad input: every problem at once (file, line, column, value, expectation), exit code 2,
no traceback, no output folder. One test per case of the issue."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drugbayes as db
from drugbayes.cli import main
from drugbayes.errors import ConfigError, DataValidationError


def _good_table(n_cells=2, raw=False) -> pd.DataFrame:
    wells, _ = db.simulate_dose_response(n_cells, 1, n_replicates=2, seed=0,
                                         response_scale="raw" if raw else "fraction")
    return wells


def _write(tmp_path: Path, df: pd.DataFrame, extra: str = "", raw: bool = False) -> Path:
    csv = tmp_path / "wells.csv"
    df.to_csv(csv, index=False)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[data]\npath = "wells.csv"\ndose_unit = "uM"\n'
                   f'response_scale = "{"raw" if raw else "fraction"}"\n{extra}\n'
                   '[inference]\nmethod = "map"\nmap_num_steps = 10\n[report]\nplots = false\n')
    return cfg


def _run_cli(cfg: Path, capsys) -> tuple[int, str]:
    rc = main(["run", str(cfg), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (cfg.parent / "results").exists() or not any((cfg.parent / "results").iterdir())
    return rc, err


def test_missing_column(tmp_path, capsys):
    cfg = _write(tmp_path, _good_table().drop(columns=["response"]))
    rc, err = _run_cli(cfg, capsys)
    assert rc == 2 and "'response'" in err and "missing" in err


def test_negative_dose(tmp_path, capsys):
    df = _good_table()
    df.loc[3, "dose"] = -1.0
    rc, err = _run_cli(_write(tmp_path, df), capsys)
    # CSV line numbers count the header as line 1: row index 3 is line 5
    assert rc == 2 and "line 5, column 'dose': value '-1.0': dose must be >= 0" in err


def test_non_numeric_dose(tmp_path, capsys):
    df = _good_table().astype({"dose": object})
    df.loc[7, "dose"] = "ten"
    rc, err = _run_cli(_write(tmp_path, df), capsys)
    assert rc == 2 and "line 9, column 'dose': value 'ten': dose is not a number" in err


def test_every_problem_at_once(tmp_path, capsys):
    df = _good_table().astype({"dose": object, "response": object})
    df.loc[3, "dose"] = -1.0
    df.loc[7, "dose"] = "ten"
    df.loc[9, "response"] = "n/a?"
    rc, err = _run_cli(_write(tmp_path, df), capsys)
    assert rc == 2
    assert "line 5, column 'dose': value '-1.0': dose must be >= 0" in err
    assert "line 9, column 'dose': value 'ten': dose is not a number" in err
    assert "line 11, column 'response'" in err and "not a number" in err
    assert "3 problem(s)" in err
    # listed in line order
    assert err.index("line 5,") < err.index("line 9,") < err.index("line 11,")


def test_non_numeric_response(tmp_path):
    df = _good_table().astype({"response": object})
    df.loc[0, "response"] = "high"
    with pytest.raises(DataValidationError, match="line 2, column 'response': value 'high'"):
        db.prepare(_write(tmp_path, df).parent / "wells.csv", dose_unit="uM")
    # a DataFrame reports the row index instead of a file line
    with pytest.raises(DataValidationError, match="<DataFrame>, line 0, column 'response'"):
        db.prepare(df, dose_unit="uM")


def test_unknown_unit(tmp_path, capsys):
    cfg = _write(tmp_path, _good_table())
    cfg.write_text(cfg.read_text().replace('dose_unit = "uM"', 'dose_unit = "ug/mL"'))
    rc, err = _run_cli(cfg, capsys)
    assert rc == 2 and "data.dose_unit" in err and "ug/mL" in err


def test_duplicate_wells(tmp_path, capsys):
    df = _good_table()
    df = pd.concat([df, df.iloc[[4]]], ignore_index=True)
    rc, err = _run_cli(_write(tmp_path, df), capsys)
    assert rc == 2 and "duplicate well" in err and f"line {len(df) + 1}" in err
    assert "as line 6" in err


def test_raw_plate_without_vehicle_wells(tmp_path, capsys):
    df = _good_table(raw=True)
    plate = df["plate"].iloc[0]
    df = df[~((df["plate"] == plate) & (df["well_role"] == "vehicle"))]
    rc, err = _run_cli(_write(tmp_path, df, raw=True), capsys)
    assert rc == 2 and "no vehicle wells" in err and plate in err


def test_curve_with_too_few_doses(tmp_path, capsys):
    df = _good_table()
    first = df[(df.cell_line == "CL001")]
    keep_doses = sorted(first.dose.unique())[:2]
    df = df[(df.cell_line != "CL001") | df.dose.isin(keep_doses)]
    rc, err = _run_cli(_write(tmp_path, df), capsys)
    assert rc == 2 and "2 distinct positive dose(s)" in err and "CL001" in err


def test_unknown_config_key(tmp_path, capsys):
    cfg = _write(tmp_path, _good_table(), extra="colour = \"red\"")
    rc, err = _run_cli(cfg, capsys)
    assert rc == 2 and "data.colour" in err and "unknown key" in err


def test_missing_error_mode_and_drop_mode(tmp_path):
    df = _good_table()
    df.loc[5, "response"] = np.nan
    path = tmp_path / "w.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match="line 7, column 'response'"):
        db.prepare(path, dose_unit="uM", missing="error")
    vt, data = db.prepare(path, dose_unit="uM", missing="drop")
    assert len(vt.dropped) == 1 and vt.dropped[0]["line"] == 7
    assert data.n_wells == len(df) - 1


def test_batch_starts_nothing_if_one_config_is_bad(tmp_path, capsys):
    good_dir = tmp_path / "good"
    bad_dir = tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    good = _write(good_dir, _good_table())
    bad = _write(bad_dir, _good_table().drop(columns=["dose"]))
    rc = main(["run", str(good), str(bad), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "nothing was run" in err
    assert not (good_dir / "results").exists()


def test_contrast_naming_unknown_cell_line(small_screen):
    wells, _ = small_screen
    with pytest.raises(ConfigError, match="no curve of cell line 'XX'"):
        db.fit(wells, dose_unit="uM", inference={"method": "map", "map_num_steps": 5},
               contrasts=[{"drug": "D001", "a": "XX", "b": "CL001"}])


def test_noisy_values_are_data_not_errors():
    df = _good_table()
    df.loc[0, "response"] = -0.05
    df.loc[1, "response"] = 1.3
    vt, _ = db.prepare(df, dose_unit="uM")
    assert len(vt.df) == len(df)


# --- the malformed files of issue 17 -------------------------------------------------------
def test_header_only_file_is_an_error_for_every_kind(tmp_path, capsys):
    cfg = _write(tmp_path, _good_table().head(0))
    rc = main(["validate", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2 and "wells.csv: no data rows" in err
    rc, err = _run_cli(cfg, capsys)
    assert rc == 2 and "no data rows" in err
    for kind, cols, opts in (
            ("combination", "cell_line,drug_a,drug_b,dose_a,dose_b,response", {"dose_unit": "uM"}),
            ("xenograft", "mouse,arm,day,volume", {})):
        (tmp_path / f"{kind}.csv").write_text(cols + "\n")
        with pytest.raises(DataValidationError, match=f"{kind}.csv: no data rows"):
            db.prepare(tmp_path / f"{kind}.csv", kind=kind, **opts)
    for text in ("", "\n\n"):  # "\n": found by tests/test_fuzz.py (a table without columns)
        (tmp_path / "empty.csv").write_text(text)
        with pytest.raises(DataValidationError, match="the file is empty"):
            db.prepare(tmp_path / "empty.csv", dose_unit="uM")


def test_raw_signal_declared_as_fraction_or_percent_is_refused(tmp_path, capsys):
    df = _good_table()
    rc, err = _run_cli(_write(tmp_path, df.assign(response=df["response"] * 120_000)), capsys)
    assert rc == 2 and "do not look like viability" in err
    assert "90% quantile of the responses is 1." in err and "e+05" in err
    assert 'response_scale = "raw"' in err and 'response_scale = "percent"' in err
    # the same rule for percent: 120,000 is no percentage either; 0-100 values are
    pct = df.assign(response=df["response"] * 100)
    with pytest.raises(DataValidationError, match="do not look like viability"):
        db.prepare(df.assign(response=df["response"] * 120_000), dose_unit="uM",
                   response_scale="percent")
    vt, _ = db.prepare(pct, dose_unit="uM", response_scale="percent")
    assert len(vt.df) == len(df)
    # untreated wells, where present, are the reference: percent declared as fraction
    ctl = pd.concat([pct, pct.head(2).assign(dose=0.0, response=100.0)], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"untreated \(dose 0\) wells' median is 100"):
        db.prepare(ctl, dose_unit="uM")


def _log10_ic50(df: pd.DataFrame) -> pd.Series:
    res = db.fit(df, dose_unit="uM", inference={"method": "map", "laplace": False})
    s = res.summary()
    return s[s["quantity"].eq("log10_ic50")].set_index("cell_line")["mean"]


def test_one_huge_dose_moves_no_other_curve(tmp_path, capsys):
    """A dose of 1e30 uM in one curve (CL001) is kept and named in the log; the drug's centring
    (median and interquartile range of its distinct log doses) barely moves, so the MAP
    IC50 of the other curve (CL002) stays within 0.1 decade of its value without that dose
    (before the robust centring it went to 1e14 uM)."""
    df = _good_table()
    clean = _log10_ic50(df)
    bad = df.copy()
    row = bad.index[bad["cell_line"].eq("CL001")][0]
    bad.loc[row, "dose"] = 1e30
    cfg = _write(tmp_path, bad)
    assert main(["validate", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert f"line {row + 2}: dose 1e+30 uM of drug 'D001' is 30.8 decades" in out
    moved = _log10_ic50(bad)
    assert abs(moved["CL002"] - clean["CL002"]) < 0.1, (clean, moved)
    # and CL002's IC50 is where its own data cross 50% (between 0.1 and 0.32 uM)
    assert -1.0 < moved["CL002"] < -0.5


def test_duplicated_column_name_is_named_with_positions(tmp_path, capsys):
    df = _good_table()
    cols = ["dose" if c == "response" else c for c in df.columns]
    cfg = _write(tmp_path, df.set_axis(cols, axis=1))
    rc, err = _run_cli(cfg, capsys)
    k = [i + 1 for i, c in enumerate(cols) if c == "dose"]
    assert rc == 2 and "line 1, column 'dose': the header names column 'dose' 2 times" in err
    assert f"(columns {k[0]}, {k[1]})" in err
    with pytest.raises(DataValidationError, match="names column 'dose' 2 times"):
        db.prepare(df.set_axis(cols, axis=1), dose_unit="uM")


def test_nan_dose_is_reported_as_written(tmp_path, capsys):
    df = _good_table().astype({"dose": object, "response": object})
    df.loc[2, "dose"] = "NaN"
    df.loc[4, "response"] = "NA"
    cfg = _write(tmp_path, df, extra='missing = "error"')
    rc, err = _run_cli(cfg, capsys)
    assert rc == 2 and "line 4, column 'dose': value 'NaN': dose is missing" in err
    assert "line 6, column 'response': value 'NA': response is missing" in err


def test_semicolon_file_with_decimal_commas_is_read_and_logged(tmp_path, capsys):
    df = _good_table()
    cfg = _write(tmp_path, df)
    plain, _ = db.prepare(tmp_path / "wells.csv", dose_unit="uM")
    text = df.to_csv(index=False, sep=";", decimal=",")
    assert "0,5" in text or "," in text.splitlines()[1]
    (tmp_path / "wells.csv").write_text(text)
    assert main(["validate", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "this file uses ';' between columns" in out
    assert "decimal commas read as decimal points in column(s) dose, response" in out
    vt, _ = db.prepare(tmp_path / "wells.csv", dose_unit="uM")
    pd.testing.assert_frame_equal(vt.df, plain.df)
    # a problem in a ';' file is found at its own line and column
    lines = text.splitlines()
    lines[3] = lines[3].replace(lines[3].split(";")[4], "ten", 1)
    (tmp_path / "wells.csv").write_text("\n".join(lines) + "\n")
    rc, err = _run_cli(cfg, capsys)
    assert rc == 2 and "line 4, column 'dose': value 'ten': dose is not a number" in err


def test_values_beyond_float32_are_refused_not_encoded_as_inf():
    """Found by tests/test_fuzz.py: a response of 1e308 (or 1e30: far beyond any viability)
    and a xenograft day of 1e308 were accepted and became inf in the float32 model arrays."""
    from drugbayes.families.xenograft.simulate import simulate_xenograft

    df = _good_table().astype({"response": object})
    df.loc[3, "response"] = "1e308"
    df.loc[5, "response"] = "1e30"
    with pytest.raises(DataValidationError) as e:
        db.prepare(df, dose_unit="uM")
    msg = str(e.value)
    assert ("line 3, column 'response': value '1e308': response is more than 1000 x the "
            "median" in msg)
    assert "line 5, column 'response': value '1e30'" in msg
    x, _ = simulate_xenograft(1, n_experiments=1, days=(0, 3, 7), seed=0)
    x = x.head(6).astype({"day": object})
    x.loc[2, "day"] = "1e308"
    x.loc[4, "day"] = 20240304
    with pytest.raises(DataValidationError) as e:
        db.prepare(x, kind="xenograft")
    msg = str(e.value)
    assert "line 2, column 'day': value '1e308': day is beyond 100,000 days" in msg
    assert "line 4, column 'day': value '20240304'" in msg and "dates" in msg


def test_subnormal_dose_is_encoded_finite_and_logged():
    """Found by tests/test_fuzz.py: a dose of 1e-320 uM underflowed to 0 M when converted
    (1e-320 x 1e-6) and its log10 dose was -inf in the model arrays."""
    from drugbayes.families import family_for_kind

    df = _good_table().astype({"dose": object})
    df.loc[0, "dose"] = "1e-320"
    vt, data = db.prepare(df, dose_unit="uM")
    x = family_for_kind("dose_response").arrays(data)["x"]
    assert np.isfinite(x).all() and x.min() < -300
    assert any("e-321 uM of drug 'D001' is 318.8 decades" in n for n in vt.source.notes)


def test_raw_screen_of_mostly_killed_wells_keeps_its_untreated_wells():
    """Raw signal: the extreme-response rule is relative to the untreated wells too, so a
    plate whose treated wells mostly read near the blank (signal ~200) keeps untreated wells
    at 5,000x that median (1e6)."""
    wells, _ = db.simulate_dose_response(2, 1, n_replicates=2, seed=0, response_scale="raw")
    treated = wells["well_role"].eq("sample") & wells["dose"].gt(0)
    wells.loc[treated, "response"] = 200.0 + np.arange(treated.sum())
    wells.loc[wells["well_role"].eq("blank"), "response"] = 150.0
    wells.loc[wells["well_role"].eq("vehicle") | wells["dose"].eq(0), "response"] = 1e6
    vt, data = db.prepare(wells, kind="dose_response", response_scale="raw", dose_unit="uM")
    assert not vt.dropped and data.n_wells == len(wells)
