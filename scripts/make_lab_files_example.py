"""Write the lab-file examples: the main examples' data as a lab exports them.

From ``configs/examples/data/lapatinib_her2_mts.csv`` (the main dose-response example):

- ``data/plates/<plate>.txt``: one plate-reader export per plate (header lines, then the
  96-well grid of A490 readings, rows A-H x columns 1-12; rows G-H unused), and
  ``data/plates/lapatinib_her2_layout.csv``: the layout (plate, well, role, cell line,
  compound, concentration) of every plate. Read by ``lapatinib_her2_plates.toml``.
- ``data/lapatinib_her2_wide.xlsx``: percent viability (each plate's blank-subtracted signal
  over its mean vehicle signal), one row per dose with replicate columns ``Rep 1 .. Rep 3``,
  doses in nM, on sheet ``Viability`` (a ``Notes`` sheet first). Read by
  ``lapatinib_her2_wide.toml``.

From ``configs/examples/data/her2_xenograft_calipers.csv`` (the xenograft example):

- ``data/her2_xenograft_dates.csv``: the same measurements with calendar dates
  (``dd/mm/yyyy``) instead of study days; day 0 is each study's randomisation date. Read by
  ``her2_xenograft_dates.toml``.

Deterministic (no random numbers): running it again rewrites the same files (the .xlsx differs
only in its timestamps).

Usage: ``python scripts/make_lab_files_example.py``
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "configs" / "examples" / "data"
RANDOMISED = {"E1": dt.date(2024, 3, 4), "E2": dt.date(2024, 5, 13)}
ROWS = "ABCDEFGH"


def plates() -> None:
    wells = pd.read_csv(DATA / "lapatinib_her2_mts.csv")
    out = DATA / "plates"
    out.mkdir(exist_ok=True)
    layout = wells.drop(columns=["A490", "Experiment"])
    layout.to_csv(out / "lapatinib_her2_layout.csv", index=False)
    for plate, g in wells.groupby("Plate", sort=False):
        grid = [[""] * 12 for _ in ROWS]
        for w, v in zip(g["Well"], g["A490"]):
            if not np.isnan(v):
                grid[ROWS.index(w[0])][int(w[1:]) - 1] = f"{v:.4f}"
        lines = ["Example Reader v1.0 - absorbance endpoint", f"Plate:\t{plate}",
                 "Wavelength:\t490 nm", "Read at:\t72 h", "",
                 "<>\t" + "\t".join(str(c) for c in range(1, 13))]
        lines += [r + "\t" + "\t".join(grid[i]) for i, r in enumerate(ROWS)]
        lines += ["", "End of plate"]
        (out / f"{plate}.txt").write_text("\n".join(lines) + "\n")


def wide() -> None:
    import openpyxl

    wells = pd.read_csv(DATA / "lapatinib_her2_mts.csv")
    rows = []
    for (exp, _plate), g in wells.groupby(["Experiment", "Plate"], sort=False):
        blank = g.loc[g["Role"].eq("blank"), "A490"].mean()
        vehicle = g.loc[g["Role"].eq("vehicle"), "A490"].mean() - blank
        s = g[g["Role"].eq("sample")]
        for (drug, conc), d in s.groupby(["Compound", "Conc (uM)"], sort=False):
            reps = {int(r): v for r, v in zip(d["Rep"], d["A490"])}
            rows.append([exp, g["Cell line"].dropna().iloc[0], drug, round(conc * 1e3, 6)]
                        + [None if np.isnan(reps[r]) else round(100 * (reps[r] - blank)
                                                                / vehicle, 2)
                           for r in (1, 2, 3)])
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Notes"
    notes.append(["72 h MTS, percent of each plate's vehicle wells after blank subtraction"])
    ws = wb.create_sheet("Viability")
    ws.append(["Experiment", "Cell line", "Compound", "Concentration (nM)",
               "Rep 1", "Rep 2", "Rep 3"])
    for r in rows:
        ws.append(r)
    wb.save(DATA / "lapatinib_her2_wide.xlsx")


def dates() -> None:
    mice = pd.read_csv(DATA / "her2_xenograft_calipers.csv", dtype=str, keep_default_na=False)
    day = mice.pop("Day").astype(float)
    mice.insert(4, "Date", [(RANDOMISED[s] + dt.timedelta(days=d)).strftime("%d/%m/%Y")
                            for s, d in zip(mice["Study"], day)])
    mice.to_csv(DATA / "her2_xenograft_dates.csv", index=False)


if __name__ == "__main__":
    plates()
    wide()
    dates()
