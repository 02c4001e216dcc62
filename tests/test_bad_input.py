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
