"""Spreadsheet cells as text: Excel workbooks (openpyxl) and delimited text files, with the
names of their cells (``Sheet1!C14``) for error reports."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import Issue
from ...io import Origins, TableSource, read_raw

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


class ReadProblems(Exception):
    """Problems found by a reader (gathered by :func:`drugbayes.data.readers.read_input`)."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"{len(issues)} problem(s)")
        self.issues = issues


def letter(col: int) -> str:
    """Spreadsheet column letter of 0-based column ``col`` (0 -> A, 26 -> AA)."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_value(v: Any) -> Any:
    """A cell as the validators read it: text, except dates and times (kept as
    :class:`datetime.datetime`) for the date reader."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, float):
        return format(v, ".15g")
    return str(v).strip()


@dataclass(frozen=True)
class Sheet:
    """The cells of one sheet (or text file) as rows of values.

    Attributes
    ----------
    name : str
        The file's path.
    sheet : str or None
        Worksheet name (None for text files).
    rows : list of list
        Cell values (:func:`cell_value`), row 0 is spreadsheet row / file line 1.
    """

    name: str
    sheet: str | None
    rows: list[list[Any]]

    def cell(self, row: int, col: int) -> str:
        """Name of the cell at 0-based ``(row, col)``: ``Sheet1!C14`` (Excel) or ``""``."""
        return "" if self.sheet is None else f"{self.sheet}!{letter(col)}{row + 1}"


def read_sheet(path: Path, sheet: str | None) -> Sheet:
    """The cells of worksheet ``sheet`` (default: the first) of an Excel workbook.

    Raises
    ------
    ReadProblems
        The file is missing or unreadable, or has no sheet of that name.
    """
    if not path.is_file():
        raise ReadProblems([Issue(str(path), None, None, None, "file not found")])
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a dependency
        raise ReadProblems([Issue(str(path), None, None, None, "reading .xlsx needs openpyxl "
                                  "(pip install openpyxl)")]) from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise ReadProblems([Issue(str(path), None, None, None,
                                  f"could not read the workbook: {exc}")]) from None
    try:
        names = list(wb.sheetnames)
        if sheet is None:
            sheet = names[0]
        if sheet not in names:
            raise ReadProblems([Issue(str(path), None, "sheet", sheet,
                                      f"no sheet of that name in the workbook (sheets: "
                                      f"{', '.join(names)})")])
        rows = [[cell_value(v) for v in r] for r in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()
    return Sheet(str(path), sheet, rows)


def read_text_cells(path: Path) -> Sheet:
    """The cells of a delimited text file (a plate reader's export), each line split on tabs,
    semicolons or commas (whichever it has: tab first, then the more frequent of the others)."""
    if not path.is_file():
        raise ReadProblems([Issue(str(path), None, None, None, "file not found")])
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise ReadProblems([Issue(str(path), None, None, None,
                                  f"could not read the file: {exc}")]) from None
    rows = []
    for line in text.splitlines():
        delim = "\t" if "\t" in line else (";" if line.count(";") > line.count(",") else ",")
        rows.append([c.strip() for c in next(csv.reader([line], delimiter=delim), [])])
    return Sheet(str(path), None, rows)


def read_cells(path: Path, sheet: str | None) -> Sheet:
    """:func:`read_sheet` for Excel workbooks, else :func:`read_text_cells` (a ``sheet`` given
    for a text file is a problem)."""
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return read_sheet(path, sheet)
    if sheet is not None:
        raise ReadProblems([Issue(str(path), None, "sheet", sheet,
                                  "a sheet applies to Excel workbooks (.xlsx) only")])
    return read_text_cells(path)


def sheet_table(sh: Sheet, header_line: int | None = None
                ) -> tuple[pd.DataFrame, TableSource, int]:
    """A long table from a sheet: the header is on row ``header_line`` (default: the first
    non-empty row), rows above it are skipped, and so are entirely empty rows (line numbers
    stay the sheet's).

    Returns
    -------
    (DataFrame of cell values, TableSource naming sheet cells, header line)
    """
    def empty(row: list) -> bool:
        return all(v == "" for v in row)

    h: int | None
    if header_line is not None:
        h = header_line - 1
        if header_line > len(sh.rows) or empty(sh.rows[header_line - 1]):
            raise ReadProblems([Issue(sh.name, header_line, "header_row", str(header_line),
                                      "the header row is empty or beyond the sheet's end",
                                      sh.cell(header_line - 1, 0) or None)])
    else:
        h = next((i for i, r in enumerate(sh.rows) if not empty(r)), None)
    if h is None:
        raise ReadProblems([Issue(sh.name, None, None, sh.sheet, "the sheet is empty")])
    header = [str(v).strip() for v in sh.rows[h]]
    body = [(i, r) for i, r in enumerate(sh.rows[h + 1:], start=h + 1) if not empty(r)]
    width = max([len(header)] + [len(r) for _, r in body])
    keep = [j for j in range(width)
            if (j < len(header) and header[j]) or any(j < len(r) and r[j] != "" for _, r in body)]
    names = [header[j] if j < len(header) and header[j] else f"column {letter(j)}" for j in keep]
    issues = [Issue(sh.name, h + 1, n, None, "the header names this column twice",
                    sh.cell(h, keep[k])) for k, n in enumerate(names) if n in names[:k]]
    if issues:
        raise ReadProblems(issues)
    data = {n: [r[j] if j < len(r) else "" for _, r in body] for n, j in zip(names, keep)}
    df = pd.DataFrame(data, columns=names, dtype=object)
    lines = np.array([i + 1 for i, _ in body], dtype=np.int64)
    origins = Origins.single(sh.name, lines, sheet=sh.sheet,
                             letters={n: letter(j) for n, j in zip(names, keep)})
    return df, TableSource(sh.name, h + 2, origins={"*": origins}), h + 1


def read_any_table(path: Path, sheet: str | None, header_line: int | None = None
                   ) -> tuple[pd.DataFrame, TableSource, int]:
    """A long table from CSV, Parquet or an Excel sheet, columns as in the file; the header on
    ``header_line`` (default: line 1 of a CSV, the first non-empty row of a sheet).

    Returns
    -------
    (DataFrame, TableSource, header line (0 where none, Parquet))
    """
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return sheet_table(read_sheet(path, sheet), header_line)
    if sheet is not None:
        raise ReadProblems([Issue(str(path), None, "sheet", sheet,
                                  "a sheet applies to Excel workbooks (.xlsx) only")])
    from ...errors import DataValidationError

    if header_line is not None and path.suffix.lower() in (".parquet", ".pq"):
        raise ReadProblems([Issue(str(path), None, "header_row", str(header_line),
                                  "header_row applies to CSV and Excel files")])
    try:
        df, src = read_raw(path, header_line or 1)
    except DataValidationError as e:
        raise ReadProblems([i for i in e.issues if isinstance(i, Issue)]) from None
    return df, src, src.line_offset - 1 if src.line_offset else 0
