"""The lab's own files, read at the edge into the canonical long table (before validation).

:func:`read_input` reads what ``[data]`` describes: a long table (CSV, Parquet, an Excel
sheet, a DataFrame), or plate-reader exports joined with a plate layout (``format =
"plate"``); maps ``[data.columns]`` (a list of columns melts a wide sheet into rows), checks
units written in column names, turns dates into days since day zero and applies
``[data.filter]``. Every problem of every stage that could run is reported at once, with file
and line (and sheet cell or plate well).

Modules: :mod:`.sheets` (Excel and text cells), :mod:`.columns` (mapping, units, melting),
:mod:`.plates` (plate grids and layouts), :mod:`.rows` (dates, filters).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import DataValidationError, Issue
from ...io import SourcedTable, TableSource, duplicate_header_issues, sniff_delimiter
from .columns import map_columns
from .plates import Reading, read_plate_layouts
from .rows import dates_to_days, filter_rows
from .sheets import ReadProblems, read_any_table

__all__ = ["read_input"]


def _readings(entries: list[str | dict[str, Any]]) -> list[Reading]:
    out = []
    for e in entries:
        if isinstance(e, str):
            out.append(Reading(Path(e)))
        else:
            e = dict(e)
            path = Path(str(e.pop("path")))
            sheet = e.pop("sheet", None)
            plate = e.pop("plate", None)
            layout = e.pop("layout", None)
            out.append(Reading(path, None if sheet is None else str(sheet),
                               None if plate is None else str(plate),
                               {k: str(v) for k, v in e.items()},
                               None if layout is None else Path(str(layout))))
    return out


def read_input(table: Any, data_cfg: Any) -> tuple[Any, Any]:
    """Read the data a ``[data]`` section describes into a canonical long table.

    Parameters
    ----------
    table : path, DataFrame or None
        The table (``[data] path``, resolved); not read for ``format = "plate"`` (the layout
        and readings come from ``data_cfg``).
    data_cfg : DataConfig
        The ``[data]`` section (paths in it already resolved).

    Returns
    -------
    (SourcedTable or the table unchanged, DataConfig)
        The table with canonical columns and its source; ``table`` itself when ``[data]`` asks
        for none of the readers here (a plain CSV, Parquet or DataFrame read as before). The
        config is returned with ``columns`` as single names (a melted list joined).

    Raises
    ------
    DataValidationError
        Every problem found (file and line, sheet cell or plate well).
    """
    dc = data_cfg
    columns = dict(dc.columns)
    is_excel = isinstance(table, (str, Path)) and Path(table).suffix.lower() in (".xlsx",
                                                                                 ".xlsm")
    plain = (dc.format == "table" and not is_excel and dc.sheet is None
             and dc.header_row is None
             and all(isinstance(v, str) for v in columns.values())
             and not dc.filter.keep and not dc.filter.drop and "date" not in columns
             and not _needs_reader(table, columns))
    if plain:
        return table, dc
    issues: list[Issue] = []
    try:
        if dc.format == "plate":
            if not dc.readings:
                raise ReadProblems([Issue("[data]", None, "readings", None,
                                          "format = \"plate\" needs readings = [...] (the plate "
                                          "reader's export files)")])
            layout = Path(dc.layout) if dc.layout is not None else None
            df, src, names, more = read_plate_layouts(
                layout, _readings(dc.readings), sheet=dc.sheet, header_line=dc.header_row,
                columns={k: v for k, v in columns.items() if isinstance(v, str)},
                exclude=dc.exclude, dose_unit=dc.dose_unit, response_scale=dc.response_scale)
            lists = [k for k, v in columns.items() if not isinstance(v, str)]
            if lists:
                more.append(Issue("[data.columns]", None, ", ".join(lists), None,
                                  "a list of columns (wide sheet) does not apply to format = "
                                  "\"plate\""))
        else:
            if isinstance(table, pd.DataFrame):
                dup = duplicate_header_issues(list(table.columns), "<DataFrame>", None)
                if dup:
                    raise ReadProblems(dup)
                raw = table.copy().reset_index(drop=True)
                raw.columns = [str(c).strip() for c in raw.columns]
                raw_src, hl = TableSource("<DataFrame>", 0), 0
            else:
                raw, raw_src, hl = read_any_table(Path(table), dc.sheet, dc.header_row)
            df, src, names, more = map_columns(raw, raw_src, hl, columns,
                                               dose_unit=dc.dose_unit,
                                               response_scale=dc.response_scale,
                                               melt_headers=dc.melt_headers)
        if more:
            raise ReadProblems(more)
        df, src, more = dates_to_days(df, src, names, dc.date_format, dc.day_zero)
        issues += more
        if not more:
            df, src, more = filter_rows(df, src, names, dc.filter.keep, dc.filter.drop)
            issues += more
    except ReadProblems as p:
        issues += p.issues
    if issues:
        raise DataValidationError(issues)
    df = df.reset_index(drop=True)
    plain_names = {k: v for k, v in names.items() if k in df.columns}
    return SourcedTable(df, src), replace_columns(dc, plain_names)


def replace_columns(dc: Any, names: dict[str, str]) -> Any:
    """``dc`` with ``columns`` = the file's name of each canonical column (for messages)."""
    return dc.model_copy(update={"columns": names})


def _needs_reader(table: Any, columns: dict[str, Any]) -> bool:
    """Whether a column name carries a unit to check, or a ``date`` column is to be turned
    into days (reads a CSV's header only)."""
    from .columns import UNIT_COLUMNS, split_unit

    names = list(columns.values())
    if isinstance(table, pd.DataFrame):
        names += [str(c) for c in table.columns]
    elif isinstance(table, (str, Path)) and Path(table).is_file() and \
            Path(table).suffix.lower() in (".csv", ".tsv", ".txt"):
        try:
            sep = sniff_delimiter(Path(table))
            names += [str(c).strip() for c in pd.read_csv(table, sep=sep, nrows=0).columns]
        except (OSError, ValueError, pd.errors.ParserError):
            return False
    mapped = set(columns.values())
    if "date" in names:
        return True
    for n in names:
        base, unit = split_unit(str(n))
        if unit is None:
            continue
        canon = base.strip().lower().replace(" ", "_")
        if str(n) in mapped or canon in UNIT_COLUMNS:
            return True
    return False


