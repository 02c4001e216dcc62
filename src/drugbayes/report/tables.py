"""The run directory's tables in the formats a config asks for (``[report] tables``).

CSV is always written; Parquet (pyarrow) and Excel ``.xlsx`` (openpyxl) on request, each
table under the CSV's name with the format's suffix (``summary.parquet``, ``summary.xlsx``,
one sheet named after the table). They are written from the tables in memory, so column types
are kept (a cell line named ``001`` stays a string).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

__all__ = ["TABLE_FORMATS", "write_tables"]

TABLE_FORMATS = ("csv", "parquet", "xlsx")


def write_tables(folder: Path, tables: dict[str, pd.DataFrame],
                 formats: Sequence[str] = ("csv",)) -> list[Path]:
    """Write each table as CSV and in the further ``formats``.

    Parameters
    ----------
    folder : Path
        The (run) folder.
    tables : dict
        CSV file name (``summary.csv``) -> table.
    formats : list of str
        Among :data:`TABLE_FORMATS`; CSV is written whether listed or not.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    unknown = sorted(set(formats) - set(TABLE_FORMATS))
    if unknown:
        raise ValueError(f"unknown table formats {unknown}; known: {list(TABLE_FORMATS)}")
    out = []
    for name, table in tables.items():
        stem = Path(name).stem
        csv = folder / name
        table.to_csv(csv, index=False)
        out.append(csv)
        if "parquet" in formats:
            f = folder / f"{stem}.parquet"
            table.to_parquet(f, index=False)
            out.append(f)
        if "xlsx" in formats:
            f = folder / f"{stem}.xlsx"
            table.to_excel(f, index=False, sheet_name=stem[:31], engine="openpyxl")
            out.append(f)
    return out
