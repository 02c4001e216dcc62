"""The lab's own files read at the edge: plate-reader exports with layouts, wide sheets, Excel,
units in column names, dates and [data.filter]; and their bad input through the CLI (every
problem at once with file and line or sheet cell, exit code 2, no run directory)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import openpyxl  # a dependency (pyproject.toml): a missing one fails here, loudly
import pandas as pd
import pytest

from drugbayes import api
from drugbayes.cli import main
from drugbayes.config import load_config
from drugbayes.errors import DataValidationError

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "configs" / "examples"
ROWS = "ABCDEFGHIJKLMNOP"
DOSES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
FIT = '[inference]\nmethod = "map"\nmap_num_steps = 30\n[report]\nplots = false\n'


# ----------------------------------------------------------------------------- helpers
def design(n_rows: int = 8) -> pd.DataFrame:
    """A design layout (no plate column): A1-A3 blank, A4-A6 vehicle, then two drugs x 8 doses
    x 3 replicates in rows B-G."""
    rows = [{"well": f"A{c}", "role": "blank", "drug": "", "dose": ""} for c in (1, 2, 3)]
    rows += [{"well": f"A{c}", "role": "vehicle", "drug": "", "dose": "0"} for c in (4, 5, 6)]
    for d, drug in enumerate(("drugX", "drugY")):
        for rep in range(3):
            r = ROWS[1 + 3 * d + rep]
            rows += [{"well": f"{r}{c + 1}", "role": "sample", "drug": drug, "dose": str(x)}
                     for c, x in enumerate(DOSES)]
    return pd.DataFrame(rows)


def signal(layout: pd.DataFrame, shift: float = 0.0) -> dict[str, float]:
    """A deterministic raw signal per well of ``layout``."""
    out = {}
    for i, r in enumerate(layout.itertuples()):
        wobble = 0.01 * ((i * 7) % 5 - 2)
        if r.role == "blank":
            out[r.well] = 0.05 + wobble
        elif r.role == "vehicle":
            out[r.well] = 1.2 + wobble + shift
        else:
            ic50 = 0.05 if r.drug == "drugX" else 0.5
            out[r.well] = 0.05 + (1.15 + shift) / (1 + float(r.dose) / ic50) + wobble
    return out


def export_text(values: dict[str, float], shape=(8, 12), sep="\t", plate="P1") -> str:
    lines = ["Reader export", f"Plate{sep}{plate}", "", sep.join(["<>"] + [str(c + 1) for c in
                                                                         range(shape[1])])]
    for r in range(shape[0]):
        cells = [f"{values[f'{ROWS[r]}{c + 1}']:.4f}" if f"{ROWS[r]}{c + 1}" in values else ""
                 for c in range(shape[1])]
        lines.append(sep.join([ROWS[r]] + cells))
    return "\n".join(lines + ["", "End"]) + "\n"


def plate_config(tmp: Path, layout: pd.DataFrame, readings: dict[str, dict[str, float]],
                 *, shape=(8, 12), extra: str = "", entries: str | None = None) -> Path:
    layout.to_csv(tmp / "layout.csv", index=False)
    for name, vals in readings.items():
        (tmp / f"{name}.txt").write_text(export_text(vals, shape, plate=name))
    if entries is None:
        entries = ", ".join(f'{{ path = "{n}.txt", cell_line = "LINE{i}" }}'
                            for i, n in enumerate(readings))
    cfg = tmp / "run.toml"
    cfg.write_text(f'[data]\nformat = "plate"\nlayout = "layout.csv"\nreadings = [{entries}]\n'
                   f'dose_unit = "uM"\nresponse_scale = "raw"\n{extra}\n' + FIT)
    return cfg


def canonical(cfg: Path):
    _, vt, _ = api.check_config(load_config(cfg))
    return vt


def run_cli(cfg: Path, capsys) -> tuple[int, str]:
    rc = main(["run", str(cfg), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    results = cfg.parent / "results"
    assert not results.exists() or not any(results.iterdir()), "no run directory on bad input"
    return rc, err


# ----------------------------------------------------------------------------- plates
def test_plate_example_reads_as_the_long_table():
    """The plate example (10 exports + a layout) gives the main example's table exactly."""
    long = canonical(EXAMPLES / "lapatinib_her2.toml").df
    plates = canonical(EXAMPLES / "lapatinib_her2_plates.toml")
    cols = ["experiment", "plate", "well", "well_role", "cell_line", "drug", "dose",
            "response", "replicate"]
    a = long[cols].sort_values(["plate", "well"]).reset_index(drop=True)
    b = plates.df[cols].sort_values(["plate", "well"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert [e["well"] for e in plates.source.excluded] == ["E7"]


@pytest.mark.parametrize("main_example,lab_example", [
    ("lapatinib_her2", "lapatinib_her2_plates"), ("her2_xenograft", "her2_xenograft_dates")])
def test_lab_examples_fit_as_the_main_examples(main_example, lab_example):
    """The plate and date examples give their main example's model arrays, spec and inference
    settings: the same fit, draw for draw (so the same diagnostics)."""
    from drugbayes.families import get_family

    cfg_a = load_config(EXAMPLES / f"{main_example}.toml")
    cfg_b = load_config(EXAMPLES / f"{lab_example}.toml")
    spec_a, _, data_a = api.check_config(cfg_a)
    spec_b, _, data_b = api.check_config(cfg_b)
    assert spec_a == spec_b and cfg_a.inference == cfg_b.inference
    assert cfg_a.run.seed == cfg_b.run.seed
    fam = get_family(spec_a.family)
    arr_a, arr_b = fam.arrays(data_a), fam.arrays(data_b)
    assert arr_a.keys() == arr_b.keys()
    for k in arr_a:
        np.testing.assert_array_equal(np.asarray(arr_a[k]), np.asarray(arr_b[k]), err_msg=k)


def test_design_layout_384_wells_edges_and_empty_wells(tmp_path):
    lay = design()
    # move the design onto a 384-well plate's inner wells (rows C-I, columns 3-10)
    lay["well"] = [f"{ROWS[ROWS.index(w[0]) + 2]}{int(w[1:]) + 2}" for w in lay["well"]]
    lay.loc[0, "well"] = "A1"  # one blank on the edge
    vals1, vals2 = signal(lay), signal(lay, 0.1)
    vals1["P24"] = 9.99  # a reading outside the layout: an empty well, ignored and listed
    cfg = plate_config(tmp_path, lay, {"run1": vals1, "run2": vals2}, shape=(16, 24),
                       extra='exclude = ["edges", "run2:C4"]')
    vt = canonical(cfg)
    n_wells = len(lay)
    # every layout well of both plates, less the edge blank twice and C4 of run2
    assert len(vt.df) == 2 * n_wells - 3
    assert set(vt.df["plate"]) == {"run1", "run2"}
    assert set(vt.df["cell_line"]) == {"LINE0", "LINE1"}
    first = vt.df[(vt.df["plate"] == "run1") & (vt.df["well"] == lay["well"].iloc[5])]
    assert first["response"].iloc[0] == pytest.approx(round(vals1[lay["well"].iloc[5]], 4))
    reasons = sorted((e["plate"], e["well"], e["reason"]) for e in vt.source.excluded)
    assert reasons == [("run1", "A1", "edge well (exclude = edges)"),
                       ("run2", "A1", "edge well (exclude = edges)"),
                       ("run2", "C4", "exclude list")]
    notes = "\n".join(vt.source.notes)
    assert "384-well grid" in notes and "1 of them on the plate's edge" in notes
    assert "with a reading, ignored: P24" in notes


def test_plate_fit_end_to_end_logs_wells(tmp_path, capsys):
    """One small MAP fit from plate exports: run.log lists the excluded and empty wells,
    diagnostics.json the excluded ones."""
    lay = design()
    cfg = plate_config(tmp_path, lay, {"P1": signal(lay), "P2": signal(lay, -0.1)},
                       extra='exclude = ["B1"]')
    rc = main(["run", str(cfg), "--quiet"])
    capsys.readouterr()
    assert rc == 0
    out = tmp_path / "results" / "run"
    log = (out / "run.log").read_text()
    assert "excluded 2 well(s): P1:B1, P2:B1" in log
    assert "54 layout wells, 12 of them on the plate's edge" in log
    diag = json.loads((out / "diagnostics.json").read_text())
    assert [(e["plate"], e["well"]) for e in diag["excluded"]] == [("P1", "B1"), ("P2", "B1")]
    # the config as run names the files by absolute paths
    resolved = tomllib.loads((out / "config.resolved.toml").read_text())["data"]
    assert "path" not in resolved and resolved["layout"] == str(tmp_path / "layout.csv")
    assert [r["path"] for r in resolved["readings"]] == [str(tmp_path / "P1.txt"),
                                                         str(tmp_path / "P2.txt")]


def test_plate_export_in_excel_names_cells(tmp_path, capsys):
    lay = design()
    vals = signal(lay)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws2 = wb.create_sheet("Plate 1")
    ws2.append(["Reader export"])
    ws2.append([])
    ws2.append([None] + list(range(1, 13)))
    for r in range(8):
        row = [vals.get(f"{ROWS[r]}{c + 1}") for c in range(12)]
        ws2.append([ROWS[r]] + row)
    ws2["D5"] = "OVER"  # well B3 (row B is sheet row 5, column 3 is sheet column D)
    wb.save(tmp_path / "reads.xlsx")
    cfg = plate_config(tmp_path, lay, {}, entries='{ path = "reads.xlsx", sheet = "Plate 1", '
                       'plate = "P1", cell_line = "LINE" }')
    rc, err = run_cli(cfg, capsys)
    assert rc == 2
    assert "reads.xlsx, line 5, Plate 1!D5 (well B3), column 'reading': value 'OVER': " \
           "response is not a number" in err


# ----------------------------------------------------------------------------- bad input
def test_plate_problems_all_at_once(tmp_path, capsys):
    """Layout not matching the grid, a layout well without a reading, a drug of the layout
    without readings: all reported at once, by file and line."""
    lay = design()
    lay = pd.concat([lay, pd.DataFrame([{"well": "I13", "role": "sample", "drug": "drugX",
                                         "dose": "1"}])], ignore_index=True)
    vals = signal(lay)
    del vals["C4"]  # a layout well without a reading
    for w in lay.loc[lay["drug"].eq("drugY"), "well"]:
        del vals[w]  # drugY: no reading at all
    cfg = plate_config(tmp_path, lay, {"P1": vals})
    rc, err = run_cli(cfg, capsys)
    assert rc == 2
    line_i13 = len(lay) + 1  # the layout's last line (header is line 1)
    assert f"layout.csv, line {line_i13}, column 'well': value 'I13': well is outside plate " \
           "'P1''s grid of 8 x 12" in err
    assert "P1.txt, line 7, well C4: value '': layout well C4 (" in err
    assert "drug 'drugY' of the layout" in err and "has no reading on plate 'P1'" in err
    assert "3 problem(s)" in err


def test_grid_shape_not_a_plate(tmp_path, capsys):
    lay = design()
    vals = signal(lay)
    cfg = plate_config(tmp_path, lay, {"P1": vals}, shape=(8, 11))
    rc, err = run_cli(cfg, capsys)
    assert rc == 2
    assert "P1.txt, line 4: the plate grid has 8 rows (A-H) x 11 columns; a 96-well plate " \
           "has 8 x 12" in err


def test_layout_plate_without_readings(tmp_path, capsys):
    lay = design()
    both = pd.concat([lay.assign(plate="P1"), lay.assign(plate="P2")], ignore_index=True)
    cfg = plate_config(tmp_path, both, {"P1": signal(lay)},
                       entries='{ path = "P1.txt", cell_line = "LINE" }')
    rc, err = run_cli(cfg, capsys)
    assert rc == 2
    assert f"layout.csv, line {len(lay) + 2}, column 'plate': value 'P2': layout plate 'P2' " \
           "has no readings file (its drugs: drugX, drugY" in err


def _xeno(tmp_path: Path, dates: list[str], extra: str) -> Path:
    rows = []
    for m, arm in (("M1", "vehicle"), ("M2", "drug")):
        for d in dates:
            rows.append({"Mouse": m, "Group": arm, "Date": d, "Volume (mm3)": "120"})
    pd.DataFrame(rows).to_csv(tmp_path / "mice.csv", index=False)
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\npath = "mice.csv"\nkind = "xenograft"\ncontrol_arm = "vehicle"\n'
                   f'{extra}\n[data.columns]\nmouse = "Mouse"\narm = "Group"\ndate = "Date"\n'
                   'volume = "Volume (mm3)"\n' + FIT)
    return cfg


def test_dates_converted_to_days(tmp_path):
    cfg = _xeno(tmp_path, ["01/03/2024", "04/03/2024", "08/03/2024"],
                'date_format = "%d/%m/%Y"\nday_zero = { arm = { vehicle = "01/03/2024", '
                'drug = "29/02/2024" } }')
    vt = canonical(cfg)
    days = vt.df.groupby("mouse")["day"].apply(list).to_dict()
    assert days == {"M1": [0.0, 3.0, 7.0], "M2": [1.0, 4.0, 8.0]}


def test_day_zero_per_mouse(tmp_path, capsys):
    """``day_zero = { mouse = {...} }``: each mouse's own day 0, keyed by the canonical or
    the file's column name; a mouse the table lacks is reported with its line."""
    dates = ["2024-03-01", "2024-03-04", "2024-03-08"]
    for by in ("mouse", "Mouse"):
        cfg = _xeno(tmp_path, dates, f'day_zero = {{ {by} = {{ M1 = "2024-03-01", '
                    'M2 = "2024-02-28" }}')
        vt = canonical(cfg)
        days = vt.df.groupby("mouse")["day"].apply(list).to_dict()
        assert days == {"M1": [0.0, 3.0, 7.0], "M2": [2.0, 5.0, 9.0]}, days  # 2024 is a leap year
    cfg = _xeno(tmp_path, dates, 'day_zero = { mouse = { M1 = "2024-03-01" } }')
    rc, err = run_cli(cfg, capsys)
    assert rc == 2
    assert "mice.csv, line 5, column 'Mouse': value 'M2': no day_zero for this mouse " \
           "(day_zero.mouse gives M1)" in err


def test_bad_dates_all_at_once(tmp_path, capsys):
    """An unparseable date and a date before day zero, reported together with their lines."""
    cfg = _xeno(tmp_path, ["2024-03-01", "2024-13-04", "2024-02-20"],
                'day_zero = "2024-03-01"')
    rc, err = run_cli(cfg, capsys)
    assert rc == 2 and "4 problem(s)" in err
    assert "mice.csv, line 3, column 'Date': value '2024-13-04': not a date in the format " \
           "'%Y-%m-%d'" in err
    assert "mice.csv, line 4, column 'Date': value '2024-02-20': date is before day zero " \
           "(2024-03-01, 2024-03-01): -10 days" in err


def test_missing_sheet(tmp_path, capsys):
    wb = openpyxl.Workbook()
    wb.active.title = "Data"
    wb.save(tmp_path / "book.xlsx")
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\npath = "book.xlsx"\nsheet = "Sheet9"\n' + FIT)
    rc, err = run_cli(cfg, capsys)
    assert rc == 2
    assert "book.xlsx, column 'sheet': value 'Sheet9': no sheet of that name in the workbook " \
           "(sheets: Data)" in err


# ----------------------------------------------------------------------------- wide sheets
def wide_table(n_cells: int = 2) -> pd.DataFrame:
    """Normalised viability, one row per cell line, drug and dose, replicates side by side."""
    rows = []
    for c in range(n_cells):
        for drug, ic50 in (("drugX", 0.05), ("drugY", 0.5)):
            for k, d in enumerate(DOSES):
                v = 1 / (1 + d / (ic50 * (1 + c)))
                rows.append({"Cell line": f"LINE{c}", "Compound": drug,
                             "Concentration (nM)": format(d * 1e3, "g"),
                             **{f"Rep {r}": round(v + 0.02 * ((k + r) % 3 - 1), 4)
                                for r in (1, 2, 3)}})
    return pd.DataFrame(rows)


def wide_config(tmp: Path, table: pd.DataFrame, *, path: str = "wide.csv", extra: str = "",
                dose_unit: str = "nM", columns: str = "") -> Path:
    if path.endswith(".csv"):
        table.to_csv(tmp / path, index=False)
    else:
        with pd.ExcelWriter(tmp / path, engine="openpyxl") as xw:
            table.to_excel(xw, sheet_name="Sheet1", index=False)
    cfg = tmp / "run.toml"
    cols = columns or ('cell_line = "Cell line"\ndrug = "Compound"\n'
                       'dose = "Concentration (nM)"\nresponse = ["Rep 1", "Rep 2", "Rep 3"]\n')
    cfg.write_text(f'[data]\npath = "{path}"\ndose_unit = "{dose_unit}"\n{extra}\n'
                   f'[data.columns]\n{cols}' + FIT)
    return cfg


def test_wide_replicate_columns_melt_with_lines(tmp_path, capsys):
    table = wide_table()
    table = table.astype({"Rep 2": object, "Rep 3": object})
    table.loc[2, "Rep 2"] = "n/a?"  # line 4 of the CSV
    table.loc[5, "Rep 3"] = ""  # an empty replicate: dropped and listed
    rc, err = run_cli(wide_config(tmp_path, table, extra='missing = "drop"'), capsys)
    assert rc == 2 and "1 problem(s)" in err
    assert "wide.csv, line 4, column 'Rep 2': value 'n/a?': response is not a number" in err
    table.loc[2, "Rep 2"] = 0.5
    vt = canonical(wide_config(tmp_path, table))
    assert len(vt.df) == 3 * len(table) - 1
    assert vt.dropped[0]["line"] == 7 and vt.dropped[0]["cell_line"] == "LINE0"
    assert sorted(set(vt.df["replicate"])) == ["Rep 1", "Rep 2", "Rep 3"]
    one = vt.df[(vt.df["line"] == 2)]
    assert one["response"].tolist() == table.loc[0, ["Rep 1", "Rep 2", "Rep 3"]].tolist()
    assert vt.df["dose"].min() == pytest.approx(1.0)  # nM


def test_wide_excel_end_to_end(tmp_path, capsys):
    """One small MAP fit from a wide Excel sheet with a filter: run.log has the melt, the
    units and what the filter removed."""
    table = wide_table()
    table.loc[3, "Rep 1"] = np.nan  # an empty cell, dropped
    cfg = wide_config(tmp_path, table, path="wide.xlsx",
                      extra='sheet = "Sheet1"\n[data.filter]\nkeep = { drug = ["drugX"] }\n'
                      'drop = { "Cell line" = ["LINE1"] }')
    rc = main(["run", str(cfg), "--quiet"])
    capsys.readouterr()
    assert rc == 0
    out = tmp_path / "results" / "run"
    log = (out / "run.log").read_text()
    assert "melted into 'response' (32 rows -> 96)" in log
    assert "unit nM agrees with the config" in log
    assert "filter keep drug in [drugX]: removed 48 row(s)" in log
    assert "filter drop Cell line in [LINE1]: removed 24 row(s)" in log
    assert "data: 23 wells, 1 cell lines, 1 drugs" in log
    diag = json.loads((out / "diagnostics.json").read_text())
    assert {"reason": "filter drop Cell line in [LINE1]", "rows": 24} in diag["excluded"]


def test_one_column_per_dose(tmp_path):
    rows = [{"Cell line": "LINE0", "Compound": "drugX", "Rep": r,
             **{f"{d:g} uM": round(1 / (1 + d / 0.05), 4) for d in DOSES}} for r in (1, 2)]
    listed = ", ".join(f'"{d:g} uM"' for d in DOSES)
    cols = f'cell_line = "Cell line"\ndrug = "Compound"\nreplicate = "Rep"\nresponse = [{listed}]\n'
    cfg = wide_config(tmp_path, pd.DataFrame(rows), extra='melt_headers = "dose"',
                      dose_unit="uM", columns=cols)
    vt = canonical(cfg)
    assert sorted(set(vt.df["dose"])) == DOSES and len(vt.df) == 16
    # a dose column whose unit disagrees with dose_unit
    cfg = wide_config(tmp_path, pd.DataFrame(rows), extra='melt_headers = "dose"',
                      dose_unit="nM", columns=cols)
    with pytest.raises(DataValidationError) as e:
        canonical(cfg)
    assert len(e.value.issues) == len(DOSES)
    assert "column '0.001 uM': value 'uM': the column name gives doses in uM, but [data] " \
           "dose_unit = \"nM\"" in str(e.value)


# ----------------------------------------------------------------------------- Excel
def test_excel_long_table_names_cells(tmp_path, capsys):
    table = wide_table().melt(id_vars=["Cell line", "Compound", "Concentration (nM)"],
                              var_name="Rep", value_name="Viability")
    table = table.astype({"Concentration (nM)": object})
    table.loc[12, "Concentration (nM)"] = "ten"  # sheet row 14, column C
    table.loc[20, "Concentration (nM)"] = "-5"  # sheet row 22
    cols = ('cell_line = "Cell line"\ndrug = "Compound"\ndose = "Concentration (nM)"\n'
            'replicate = "Rep"\nresponse = "Viability"\n')
    rc, err = run_cli(wide_config(tmp_path, table, path="long.xlsx", columns=cols), capsys)
    assert rc == 2 and "2 problem(s)" in err
    assert "long.xlsx, line 14, Sheet1!C14, column 'Concentration (nM)': value 'ten': dose is " \
           "not a number" in err
    assert "long.xlsx, line 22, Sheet1!C22, column 'Concentration (nM)': value '-5': dose " \
           "must be >= 0" in err


def test_sheet_on_a_csv_is_a_problem(tmp_path, capsys):
    rc, err = run_cli(wide_config(tmp_path, wide_table(), extra='sheet = "Sheet1"'), capsys)
    assert rc == 2 and "a sheet applies to Excel workbooks (.xlsx) only" in err


# ----------------------------------------------------------------------------- units
@pytest.mark.parametrize("header,unit,ok", [
    ("Concentration (nM)", "nM", True), ("Concentration (nM)", "uM", False),
    ("Conc (µM)", "uM", True), ("Conc (μM)", "uM", True), ("Conc [uM]", "uM", True),
    ("Conc (umol/L)", "uM", True), ("Conc (ug/mL)", "uM", False), ("dose (mM)", "mM", True)])
def test_units_in_column_names(tmp_path, header, unit, ok):
    table = wide_table().rename(columns={"Concentration (nM)": header})
    dose = "" if header.startswith("dose") else f'dose = "{header}"\n'  # "dose (mM)": found
    cols = f'cell_line = "Cell line"\ndrug = "Compound"\n{dose}' \
        'response = ["Rep 1", "Rep 2", "Rep 3"]\n'
    cfg = wide_config(tmp_path, table, dose_unit=unit, columns=cols)
    if ok:
        assert len(canonical(cfg).df) == 3 * len(table)
    else:
        with pytest.raises(DataValidationError) as e:
            canonical(cfg)
        assert f"wide.csv, line 1, column '{header}'" in str(e.value)
        assert "dose_unit" in str(e.value)


def test_unit_disagreement_through_cli(tmp_path, capsys):
    rc, err = run_cli(wide_config(tmp_path, wide_table(), dose_unit="uM"), capsys)
    assert rc == 2
    assert "wide.csv, line 1, column 'Concentration (nM)': value 'nM': the column name gives " \
           "doses in nM, but [data] dose_unit = \"uM\"" in err


def test_percent_in_name_needs_percent_scale(tmp_path):
    table = wide_table().melt(id_vars=["Cell line", "Compound", "Concentration (nM)"],
                              var_name="Rep", value_name="Viability (%)")
    cols = ('cell_line = "Cell line"\ndrug = "Compound"\ndose = "Concentration (nM)"\n'
            'replicate = "Rep"\nresponse = "Viability (%)"\n')
    with pytest.raises(DataValidationError, match="response_scale = \"percent\""):
        canonical(wide_config(tmp_path, table, columns=cols))


# ----------------------------------------------------------------------------- filters
def test_filter_problems(tmp_path, capsys):
    cfg = wide_config(tmp_path, wide_table(), extra='[data.filter]\nkeep = { drug = '
                      '["drugZ"] }\ndrop = { plate = ["P1"] }')
    rc, err = run_cli(cfg, capsys)
    assert rc == 2 and "2 problem(s)" in err
    assert "[data.filter], column 'keep.drug': value 'drugZ': no row has this value (values: " \
           "drugX, drugY)" in err
    assert "[data.filter], column 'drop.plate': no column 'plate' in the table" in err


def test_filter_on_xenograft_by_file_column(tmp_path):
    cfg = _xeno(tmp_path, ["2024-03-01", "2024-03-04"], 'day_zero = "first"\n'
                '[data.filter]\ndrop = { Mouse = ["M2"] }')
    # the drop left no mouse in arm 'drug'; control arm only
    vt = canonical(cfg)
    assert set(vt.df["mouse"]) == {"M1"} and vt.df["day"].tolist() == [0.0, 3.0]
    assert "filter drop Mouse in [M2]: removed 2 row(s)" in vt.source.notes


def test_one_layout_file_per_plate(tmp_path, capsys):
    lay1 = design()
    lay2 = design().replace({"drug": {"drugX": "drugZ"}})
    lay1.to_csv(tmp_path / "layout1.csv", index=False)
    lay2.to_csv(tmp_path / "layout2.csv", index=False)
    (tmp_path / "P1.txt").write_text(export_text(signal(lay1), plate="P1"))
    (tmp_path / "P2.txt").write_text(export_text(signal(lay2, 0.1), plate="P2"))
    entries = ('{ path = "P1.txt", layout = "layout1.csv", cell_line = "L" }, '
               '{ path = "P2.txt", layout = "layout2.csv", cell_line = "L" }')
    cfg = tmp_path / "run.toml"
    body = (f'[data]\nformat = "plate"\nreadings = [{entries}]\ndose_unit = "uM"\n'
            'response_scale = "raw"\nexclude = ["P2:B1", "A1"]\n' + FIT)
    cfg.write_text(body)
    vt = canonical(cfg)
    assert len(vt.df) == 2 * len(lay1) - 3
    assert set(vt.df.loc[vt.df["plate"] == "P2", "drug"]) == {"", "drugY", "drugZ"}
    assert sorted((e["plate"], e["well"]) for e in vt.source.excluded) == [
        ("P1", "A1"), ("P2", "A1"), ("P2", "B1")]
    # a problem in the second layout is named by its file and line; the first layout's lines
    # are not shifted by the stacking
    lay2.loc[4, "well"] = "Z9"
    lay2.to_csv(tmp_path / "layout2.csv", index=False)
    cfg.write_text(body.replace('"P2:B1", ', '"P2:B1", "P1:Q1", '))
    rc, err = run_cli(cfg, capsys)
    assert rc == 2 and "2 problem(s)" in err
    assert "layout2.csv, line 6, column 'well': value 'Z9': not a well name" in err
    assert "[data] exclude, column 'exclude': value 'P1:Q1'" in err


def test_excel_dates_and_plate_combination(tmp_path):
    """Dates stored as Excel dates need no format; a combination matrix read from a plate of
    normalised viability (the readers are generic over kinds)."""
    import datetime as dt

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Mice"
    ws.append(["Mouse", "Group", "Measured", "Volume (mm3)"])
    for m, arm in (("M1", "vehicle"), ("M2", "drug")):
        for d in (0, 3, 7):
            ws.append([m, arm, dt.datetime(2024, 3, 1) + dt.timedelta(days=d), 100 + 10 * d])
    wb.save(tmp_path / "mice.xlsx")
    cfg = tmp_path / "mice.toml"
    cfg.write_text('[data]\npath = "mice.xlsx"\nkind = "xenograft"\nday_zero = "first"\n'
                   'control_arm = "vehicle"\n[data.columns]\nmouse = "Mouse"\narm = "Group"\n'
                   'date = "Measured"\n' + FIT)
    vt = canonical(cfg)
    assert vt.df["day"].tolist() == [0.0, 3.0, 7.0] * 2
    assert vt.df["volume"].tolist() == [100.0, 130.0, 170.0] * 2  # found as "volume (mm3)"

    doses = [0.0, 0.01, 0.1, 1.0]
    rows, vals = [], {}
    for rep in range(3):
        for i, a in enumerate(doses):
            for j, b in enumerate(doses):
                well = f"{ROWS[i + 4 * (rep % 2)]}{j + 1 + 4 * (rep // 2)}"
                rows.append({"well": well, "drug_a": "A", "dose_a": a, "drug_b": "B",
                             "dose_b": b, "replicate": rep + 1})
                vals[well] = 1 / (1 + a / 0.1) / (1 + b / 0.2)
    layout = pd.DataFrame(rows)
    cfg = plate_config(tmp_path, layout, {"M1": vals}, extra='kind = "combination"')
    text = cfg.read_text().replace('response_scale = "raw"', 'response_scale = "fraction"')
    cfg.write_text(text)
    vt = canonical(cfg)
    assert len(vt.df) == 48 and set(vt.df["cell_line"]) == {"LINE0"}
    row = vt.df[(vt.df["dose_a"] == 0.1) & (vt.df["dose_b"] == 1.0)].iloc[0]
    assert row["response"] == pytest.approx(round(0.5 / 6, 4))


def test_canonical_date_column_needs_no_mapping(tmp_path):
    pd.DataFrame({"mouse": ["M1", "M1"], "arm": ["vehicle"] * 2, "volume": ["100", "120"],
                  "date": ["2024-03-01", "2024-03-08"]}).to_csv(tmp_path / "m.csv", index=False)
    cfg = tmp_path / "m.toml"
    cfg.write_text('[data]\npath = "m.csv"\nkind = "xenograft"\nday_zero = "2024-03-01"\n' + FIT)
    assert canonical(cfg).df["day"].tolist() == [0.0, 7.0]


def test_header_row_skips_title_lines(tmp_path, capsys):
    """Title lines above the header (Excel and CSV): header_row; lines stay the file's."""
    table = wide_table()
    table = table.astype({"Rep 2": object})
    table.loc[2, "Rep 2"] = "bad"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Viability screen, 72 h"])
    ws.append(["operator: AB"])
    ws.append(list(table.columns))
    for r in table.itertuples(index=False):
        ws.append(list(r))
    wb.save(tmp_path / "titled.xlsx")
    cfg = wide_config(tmp_path, table, path="unused.csv", extra="header_row = 3")
    cfg.write_text(cfg.read_text().replace('"unused.csv"', '"titled.xlsx"'))
    rc, err = run_cli(cfg, capsys)
    assert rc == 2 and "titled.xlsx, line 6, Sheet1!E6, column 'Rep 2': value 'bad'" in err
    csv = tmp_path / "titled.csv"
    csv.write_text("Viability screen, 72 h\noperator: AB\n" + table.to_csv(index=False))
    cfg.write_text(cfg.read_text().replace('"titled.xlsx"', '"titled.csv"'))
    rc, err = run_cli(cfg, capsys)
    assert rc == 2 and "titled.csv, line 6, column 'Rep 2': value 'bad'" in err
