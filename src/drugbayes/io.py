"""Reading tables (CSV, Parquet or DataFrame) and mapping their columns to canonical names.

No science here: values are kept as read (CSV cells as text) so that validation can report
each bad value with its line number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import SupportsInt

import pandas as pd

from .errors import DataValidationError, Issue


@dataclass(frozen=True)
class TableSource:
    """Where a table came from, for error messages.

    Attributes
    ----------
    name : str
        File path or ``"<DataFrame>"``.
    line_offset : int
        Added to the 0-based row position to get the reported line: 2 for CSV (the header is
        line 1), 0 for Parquet and DataFrames (row index).
    """

    name: str
    line_offset: int

    def line(self, position: SupportsInt) -> int:
        """Reported line (or row index) of the row at 0-based ``position`` (an int or numpy
        integer)."""
        return int(position) + self.line_offset


def read_table(
    table: str | Path | pd.DataFrame, columns: dict[str, str] | None = None
) -> tuple[pd.DataFrame, TableSource]:
    """Read a long table and rename the mapped columns to their canonical names.

    Parameters
    ----------
    table : path or DataFrame
        CSV (``.csv``, ``.tsv``, ``.txt``) or Parquet file, or a DataFrame.
    columns : dict, optional
        Canonical name -> the file's column name (``[data.columns]``).

    Returns
    -------
    (DataFrame, TableSource)
        The table with a fresh 0..n-1 index and canonical column names, and its source.
    """
    columns = dict(columns or {})
    if isinstance(table, pd.DataFrame):
        df = table.copy()
        src = TableSource("<DataFrame>", 0)
    else:
        path = Path(table)
        if not path.is_file():
            raise DataValidationError([Issue(str(path), None, None, None, "file not found")])
        suffix = path.suffix.lower()
        try:
            if suffix in {".parquet", ".pq"}:
                df = pd.read_parquet(path)
                src = TableSource(str(path), 0)
            else:
                sep = "\t" if suffix == ".tsv" else ","
                df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                                 skipinitialspace=True)
                src = TableSource(str(path), 2)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataValidationError([Issue(str(path), None, None, None,
                                             f"could not read table: {exc}")]) from None
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    issues = []
    rename = {}
    for canon, given in columns.items():
        if given not in df.columns:
            issues.append(Issue(src.name, 1 if src.line_offset else None, given, None,
                                f"column mapped to '{canon}' by [data.columns] is not in the "
                                f"table (columns: {', '.join(df.columns)})"))
        else:
            rename[given] = canon
    if issues:
        raise DataValidationError(issues)
    df = df.rename(columns=rename)
    return df, src
