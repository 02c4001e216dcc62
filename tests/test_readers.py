"""The lab's own files read at the edge: plate-reader exports with layouts, wide sheets, Excel,
units in column names, dates and [data.filter]; and their bad input through the CLI (every
problem at once with file and line or sheet cell, exit code 2, no run directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from drugbayes import api
from drugbayes.cli import main
from drugbayes.config import load_config

openpyxl = pytest.importorskip("openpyxl")

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
