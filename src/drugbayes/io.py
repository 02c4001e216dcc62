"""Reading tables (CSV, Parquet or DataFrame) and mapping their columns to canonical names.

No science here: values are kept as read (CSV cells as text) so that validation can report
each bad value with its line number. Tables assembled by the lab-file readers
(:mod:`drugbayes.data.readers`: plates, wide and Excel sheets, dates, filters) arrive as a
:class:`SourcedTable` whose :class:`TableSource` knows, row by row and column by column, the
file, line and cell each value came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, SupportsInt

import numpy as np
import pandas as pd

from .errors import DataValidationError, Issue


@dataclass(frozen=True, eq=False)
class Origins:
    """Where each row of an assembled table came from (one entry per row position).

    Attributes
    ----------
    names : tuple of str
        The source files (or ``file[sheet]``).
    file : ndarray of int
        Index into ``names`` per row.
    line : ndarray of int
        File line (spreadsheet row) per row; 0 where unknown.
    cell : ndarray of object, optional
        A ready cell label per row (``"well C5"``, ``"Plate1!D7 (well C5)"``); ``""`` none.
    column : ndarray of object, optional
        The file's column per row, where it varies (melted wide sheets); ``""`` none.
    sheets : tuple, optional
        Per file (as ``names``): None, or ``(sheet, letters)`` for a spreadsheet, whose cells
        are then named ``sheet!<letter><line>`` (``letters``: the file's column name ->
        spreadsheet column letter).
    """

    names: tuple[str, ...]
    file: np.ndarray
    line: np.ndarray
    cell: np.ndarray | None = None
    column: np.ndarray | None = None
    sheets: tuple[tuple[str, Mapping[str, str]] | None, ...] = ()

    @classmethod
    def single(cls, name: str, lines: np.ndarray, *, sheet: str | None = None,
               letters: Mapping[str, str] | None = None) -> Origins:
        """Every row from one file, at ``lines`` (of worksheet ``sheet``)."""
        lines = np.asarray(lines, dtype=np.int64)
        return cls((name,), np.zeros(len(lines), dtype=np.int64), lines,
                   sheets=(None if sheet is None else (sheet, dict(letters or {})),))

    def sheet_of(self, file: int = 0) -> tuple[str, Mapping[str, str]] | None:
        """``(sheet, letters)`` of file ``file``, or None (not a spreadsheet)."""
        return self.sheets[file] if file < len(self.sheets) else None

    @staticmethod
    def concat(parts: Sequence[Origins]) -> Origins:
        """The origins of tables stacked in the order of ``parts``."""
        names: list[str] = []
        sheets: list[tuple[str, Mapping[str, str]] | None] = []
        files = []
        for o in parts:
            code = []
            for k, n in enumerate(o.names):
                key = (n, o.sheet_of(k))
                for j, (m, s) in enumerate(zip(names, sheets)):
                    if (m, s) == key:
                        code.append(j)
                        break
                else:
                    names.append(n)
                    sheets.append(o.sheet_of(k))
                    code.append(len(names) - 1)
            files.append(np.asarray(code, dtype=np.int64)[o.file] if len(o.file)
                         else np.zeros(0, dtype=np.int64))

        def stack(attr: str) -> np.ndarray | None:
            if all(getattr(o, attr) is None for o in parts):
                return None
            return np.concatenate([np.full(len(o.line), "", dtype=object)
                                   if getattr(o, attr) is None else getattr(o, attr)
                                   for o in parts])

        return Origins(tuple(names), np.concatenate(files),
                       np.concatenate([o.line for o in parts]), stack("cell"), stack("column"),
                       tuple(sheets))

    def take(self, idx: np.ndarray) -> Origins:
        """The origins of rows ``idx`` (positions), in that order."""
        return replace(self, file=self.file[idx], line=self.line[idx],
                       cell=None if self.cell is None else self.cell[idx],
                       column=None if self.column is None else self.column[idx])

    def locate(self, pos: int, file_column: str | None
               ) -> tuple[str, int | None, str | None, str | None]:
        """``(source, line, column, cell)`` of row ``pos`` (``file_column``: the file's name of
        the column asked about, used where the row does not name its own)."""
        line = int(self.line[pos]) or None
        col = file_column
        if self.column is not None and self.column[pos]:
            col = str(self.column[pos])
        cell = None
        if self.cell is not None and self.cell[pos]:
            cell = str(self.cell[pos])
        else:
            sh = self.sheet_of(int(self.file[pos]))
            if sh is not None and col is not None and col in sh[1] and line is not None:
                cell = f"{sh[0]}!{sh[1][col]}{line}"
        return self.names[int(self.file[pos])], line, col, cell


@dataclass(frozen=True, eq=False)
class TableSource:
    """Where a table came from, for error messages.

    Attributes
    ----------
    name : str
        File path or ``"<DataFrame>"``.
    line_offset : int
        Added to the 0-based row position to get the reported line: 2 for CSV (the header is
        line 1), 0 for Parquet and DataFrames (row index). Used where ``origins`` is empty.
    origins : mapping, optional
        Per canonical column (``"*"``: every other column), where each row's value came from
        (tables assembled by :mod:`drugbayes.data.readers`).
    notes : tuple of str
        What the readers did (units read from headers, wells excluded, rows filtered, ...),
        for the run log.
    excluded : tuple of dict
        Rows or wells left out on purpose before validation (for ``diagnostics.json``).
    """

    name: str
    line_offset: int
    origins: Mapping[str, Origins] | None = None
    notes: tuple[str, ...] = ()
    excluded: tuple[dict, ...] = ()

    def _origins(self, column: str | None) -> Origins | None:
        if not self.origins:
            return None
        return self.origins.get(column or "*", self.origins["*"])

    def line(self, position: SupportsInt, column: str | None = None) -> int:
        """Reported line (or row index) of the row at 0-based ``position`` (an int or numpy
        integer)."""
        o = self._origins(column)
        if o is None:
            return int(position) + self.line_offset
        return int(o.line[int(position)])

    def lines(self, n: int) -> np.ndarray:
        """The reported line of each of the ``n`` rows."""
        o = self._origins(None)
        return np.arange(n) + self.line_offset if o is None else o.line.copy()

    def locate(self, position: SupportsInt, column: str | None, file_column: str | None
               ) -> tuple[str, int | None, str | None, str | None]:
        """``(source, line, column, cell)`` of canonical ``column`` on the row at
        ``position``; ``file_column`` is the file's name for that column."""
        o = self._origins(column)
        if o is None:
            return self.name, self.line(position), file_column, None
        return o.locate(int(position), file_column)

    def take(self, idx: np.ndarray, n_rows: int) -> TableSource:
        """The source of rows ``idx`` (positions) of its table of ``n_rows`` rows."""
        origins = dict(self.origins or {})
        if not origins:
            origins["*"] = Origins.single(self.name, np.arange(n_rows) + self.line_offset)
        return replace(self, origins={k: o.take(idx) for k, o in origins.items()})

    @staticmethod
    def concat(parts: Sequence[tuple[TableSource, int]], name: str) -> TableSource:
        """The source of tables stacked in order: ``parts`` = (source, number of rows)."""
        full = [s if s.origins else s.take(np.arange(n), n) for s, n in parts]
        keys = dict.fromkeys(k for s in full for k in (s.origins or {}))
        origins = {k: Origins.concat([(s.origins or {}).get(k, (s.origins or {})["*"])
                                      for s in full]) for k in keys}
        return TableSource(name, full[0].line_offset, origins,
                           tuple(n for s in full for n in s.notes),
                           tuple(e for s in full for e in s.excluded))


@dataclass(frozen=True, eq=False)
class SourcedTable:
    """A table already read and mapped to canonical names by the lab-file readers, with its
    source (passed through :func:`read_table` unchanged)."""

    df: pd.DataFrame
    source: TableSource


DELIMITERS = (",", ";", "\t")
"""Column delimiters a text table may use (read from its header line)."""

_DECIMAL_COMMA = r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$"


def sniff_delimiter(path: Path, header_line: int = 1) -> str:
    """The delimiter of a text table: ``\t`` for ``.tsv``; otherwise the one of
    :data:`DELIMITERS` the header line ``header_line`` uses most (``,`` when it uses none, a
    single column)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            head = ""
            for _ in range(header_line):
                head = f.readline()
    except OSError:
        return ","
    head = re.sub(r'"[^"]*"', "", head)  # delimiters inside quoted names do not count
    counts = {d: head.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def duplicate_header_issues(names: Sequence[object], source: str, line: int | None
                            ) -> list[Issue]:
    """One problem per column name the header gives more than once (after stripping spaces),
    naming its positions (1-based)."""
    pos: dict[str, list[int]] = {}
    for k, n in enumerate(names, start=1):
        pos.setdefault(str(n).strip(), []).append(k)
    return [Issue(source, line, n, None,
                  f"the header names column {n!r} {len(p)} times (columns "
                  f"{', '.join(map(str, p))}); each column needs its own name")
            for n, p in pos.items() if len(p) > 1]


def _decimal_commas(df: pd.DataFrame) -> list[str]:
    """Columns of text cells that are all numbers written with a decimal comma (or plain
    integers, or empty), at least one with a comma: converted in place to decimal points."""
    done = []
    for c in df.columns:
        t = df[c].astype(str).str.strip()
        comma = t.str.match(_DECIMAL_COMMA)
        plain = t.str.match(r"^[+-]?\d+([eE][+-]?\d+)?$") | t.eq("")
        if comma.any() and (comma | plain).all():
            df[c] = t.str.replace(",", ".", regex=False)
            done.append(str(c))
    return done


def read_raw(path: Path, header_line: int = 1) -> tuple[pd.DataFrame, TableSource]:
    """Read a CSV (cells as text; the header on ``header_line``, lines above it skipped) or
    Parquet file as it is (no column mapping).

    The delimiter of a text file is read from its header line (:func:`sniff_delimiter`:
    ``,``, ``;`` or a tab); in a file delimited by ``;``, columns whose numbers all use a
    decimal comma (``0,5``) are read with decimal points. Both are recorded in the source's
    notes (the run log). A column name given twice is an error.
    """
    if not path.is_file():
        raise DataValidationError([Issue(str(path), None, None, None, "file not found")])
    if path.stat().st_size == 0:
        raise DataValidationError([Issue(str(path), None, None, None,
                                         "the file is empty (no header, no data rows)")])
    suffix = path.suffix.lower()
    notes: list[str] = []
    try:
        if suffix in {".parquet", ".pq"}:
            df = pd.read_parquet(path)
            src = TableSource(str(path), 0)
            header = list(df.columns)
        else:
            sep = sniff_delimiter(path, header_line)
            header = list(pd.read_csv(path, sep=sep, dtype=str, header=None, nrows=1,
                                      keep_default_na=False, skiprows=header_line - 1,
                                      encoding="utf-8-sig").iloc[0])
            df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                             skipinitialspace=True, skiprows=header_line - 1,
                             encoding="utf-8-sig")
            if sep != "," and suffix != ".tsv":
                shown = "a tab" if sep == "\t" else repr(sep)
                notes.append(f"this file uses {shown} between columns (read as such)")
            if sep == ";":
                conv = _decimal_commas(df)
                if conv:
                    notes.append("decimal commas read as decimal points in column(s) "
                                 + ", ".join(conv))
            src = TableSource(str(path), header_line + 1, notes=tuple(notes))
    except pd.errors.EmptyDataError:  # blank lines only
        raise DataValidationError([Issue(str(path), None, None, None,
                                         "the file is empty (no header, no data rows)")]
                                  ) from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataValidationError([Issue(str(path), None, None, None,
                                         f"could not read table: {exc}")]) from None
    dup = duplicate_header_issues(header, str(path), header_line if src.line_offset else None)
    if dup:
        raise DataValidationError(dup)
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    return df, src


def read_table(
    table: str | Path | pd.DataFrame | SourcedTable, columns: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, TableSource]:
    """Read a long table and rename the mapped columns to their canonical names.

    Parameters
    ----------
    table : path, DataFrame or SourcedTable
        CSV (``.csv``, ``.tsv``, ``.txt``) or Parquet file, or a DataFrame; a
        :class:`SourcedTable` is returned as it is (its columns are already canonical).
    columns : dict, optional
        Canonical name -> the file's column name (``[data.columns]``).

    Returns
    -------
    (DataFrame, TableSource)
        The table with a fresh 0..n-1 index and canonical column names, and its source.
    """
    if isinstance(table, SourcedTable):
        return table.df.copy(), table.source
    columns = dict(columns or {})
    if isinstance(table, pd.DataFrame):
        dup = duplicate_header_issues(list(table.columns), "<DataFrame>", None)
        if dup:
            raise DataValidationError(dup)
        df = table.copy().reset_index(drop=True)
        df.columns = [str(c).strip() for c in df.columns]
        src = TableSource("<DataFrame>", 0)
    else:
        df, src = read_raw(Path(table))
    issues = []
    rename = {}
    for canon, given in columns.items():
        if given not in df.columns:
            issues.append(Issue(src.name, 1 if src.line_offset else None, str(given), None,
                                f"column mapped to '{canon}' by [data.columns] is not in the "
                                f"table (columns: {', '.join(df.columns)})"))
        else:
            rename[given] = canon
    if issues:
        raise DataValidationError(issues)
    df = df.rename(columns=rename)
    return df, src
