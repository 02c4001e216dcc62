"""Column mapping at the edge: ``[data.columns]`` (one name, or a list of columns melted into
rows), and units written in column names (``Concentration (nM)``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ...errors import Issue
from ...io import TableSource
from ..schemas import DOSE_UNITS

UNIT_IN_NAME = re.compile(r"^(?P<base>.*?)\s*[\(\[]\s*(?P<unit>[^()\[\]]*?)\s*[\)\]]\s*$")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
CONCENTRATION = re.compile(r"^(?P<prefix>[munp]?)(?:m|mol/l)$")
"""A concentration unit (after :func:`_unit_key`): ``uM``, ``µM``, ``umol/L``, ``nM``, ``M``."""

OTHER_UNITS = {
    "volume": ("mm3", {"mm3", "mm^3", "mm³", "mm**3", "µl", "ul"}),
    "length": ("mm", {"mm"}),
    "width": ("mm", {"mm"}),
    "day": ("days", {"d", "day", "days"}),
}
"""Canonical column -> (unit expected, its spellings) for columns measured in a fixed unit."""

UNIT_COLUMNS = ("dose", "dose_a", "dose_b", "response", "volume", "length", "width", "day")
"""Canonical columns that may be found under their name with a unit (``dose (uM)``)."""


def _unit_key(unit: str) -> str:
    return unit.strip().replace("µ", "u").replace("μ", "u").lower().replace(" ", "")


def concentration_unit(unit: str) -> str | None:
    """The dose unit (a key of :data:`DOSE_UNITS`) that ``unit`` names, e.g. ``µM`` -> ``uM``,
    ``nmol/L`` -> ``nM``; None where it names none."""
    m = CONCENTRATION.match(_unit_key(unit))
    if m is None:
        return None
    out = f"{m['prefix']}M"
    return out if out in DOSE_UNITS else None


def split_unit(name: str) -> tuple[str, str | None]:
    """``"Concentration (nM)"`` -> ``("Concentration", "nM")``; no unit -> ``(name, None)``."""
    m = UNIT_IN_NAME.match(name)
    if m is None or not m["unit"]:
        return name, None
    return m["base"], m["unit"]


def unit_problem(canon: str, unit: str, dose_unit: str, response_scale: str) -> str | None:
    """Why a unit in the name of the column mapped to ``canon`` disagrees with the config (None
    when it agrees, or when the column has no fixed unit)."""
    if canon.startswith("dose"):
        conc = concentration_unit(unit)
        if conc is None:
            return (f"the column name gives the unit {unit!r}, which is not a molar "
                    f"concentration ({', '.join(DOSE_UNITS)}; micro as u or µ); doses must be "
                    "molar in [data] dose_unit")
        if conc != dose_unit:
            return (f"the column name gives doses in {conc}, but [data] dose_unit = "
                    f"\"{dose_unit}\"; set dose_unit = \"{conc}\" if the column is right")
        return None
    if canon == "response":
        if _unit_key(unit) == "%" and response_scale != "percent":
            return (f"the column name gives the response in %, but [data] response_scale = "
                    f"\"{response_scale}\"; set response_scale = \"percent\" if it is right")
        return None
    if canon in OTHER_UNITS:
        want, spellings = OTHER_UNITS[canon]
        if _unit_key(unit) not in spellings:
            return f"the column name gives the unit {unit!r}; {canon} is read in {want}"
    return None


def map_columns(df: pd.DataFrame, src: TableSource, header_line: int,
                columns: Mapping[str, str | Sequence[str]], *, dose_unit: str,
                response_scale: str, melt_headers: str = "replicate"
                ) -> tuple[pd.DataFrame, TableSource, dict[str, str], list[Issue]]:
    """Rename the mapped columns to canonical names, check units in column names and melt a
    column mapped to a list of the file's columns.

    Parameters
    ----------
    df, src : DataFrame, TableSource
        A table as read (the file's column names) and its source.
    header_line : int
        The line of the header (0 where there is none, e.g. Parquet or a DataFrame).
    columns : mapping
        ``[data.columns]``: canonical -> the file's column, or a list of columns (wide sheet:
        their values become rows, their names the values of ``melt_headers``).
    dose_unit, response_scale : str
        The config's, checked against units in the column names.
    melt_headers : str
        The canonical column that receives the melted columns' names (``replicate``; ``dose``
        or ``day`` read the number in each name, e.g. ``0.1 uM``, ``Day 7``).

    Returns
    -------
    (table, source, the file's name of each canonical column, problems)
    """
    issues: list[Issue] = []
    notes: list[str] = []
    hl = header_line or None

    def at_header(name: str, value: str | None, msg: str) -> Issue:
        return Issue(src.name, hl, name, value, msg, _header_cell(src, name, hl))

    cols = [str(c) for c in df.columns]
    mapping: dict[str, str | list[str]] = {k: v if isinstance(v, str) else [str(x) for x in v]
                                          for k, v in columns.items()}
    # a canonical column written with its unit: "dose (uM)"
    for canon in UNIT_COLUMNS:
        if canon in mapping or canon in cols:
            continue
        hits = [c for c in cols if split_unit(c)[1] is not None
                and split_unit(c)[0].strip().lower().replace(" ", "_") == canon]
        if len(hits) == 1:
            mapping[canon] = hits[0]
    melted = [k for k, v in mapping.items() if isinstance(v, list)]
    if len(melted) > 1:
        issues.append(Issue(src.name, None, ", ".join(melted), None,
                            "[data.columns] may give a list of columns (a wide sheet) for one "
                            "column only"))
    rename: dict[str, str] = {}
    names: dict[str, str] = {}
    for canon, given in mapping.items():
        for g in ([given] if isinstance(given, str) else given):
            if g not in cols:
                issues.append(Issue(src.name, hl, g, None,
                                    f"column mapped to '{canon}' by [data.columns] is not in the "
                                    f"table (columns: {', '.join(cols)})"))
        if isinstance(given, str):
            rename[given] = canon
            names[canon] = given
        else:
            names[canon] = ", ".join(given)
            if not given:
                issues.append(Issue(src.name, None, canon, None,
                                    "[data.columns] gives an empty list of columns"))
    # units in the names of mapped (or canonical) columns
    for canon in UNIT_COLUMNS:
        given = mapping.get(canon, canon if canon in cols else [])
        for g in ([given] if isinstance(given, str) else given):
            _, unit = split_unit(g)
            if unit is None or g not in cols:
                continue
            problem = unit_problem(canon, unit, dose_unit, response_scale)
            if problem:
                issues.append(at_header(g, unit, problem))
            else:
                notes.append(f"column '{g}' ({canon}): unit {unit} agrees with the config")
    if issues:
        return df, src, names, issues
    dup = [c for c in rename.values() if c in cols and c not in rename]
    for c in dup:
        issues.append(at_header(c, None, f"the table has a column '{c}' and [data.columns] "
                                f"maps another column to '{c}'"))
    out = df.rename(columns=rename)
    if melted and not issues:
        out, src, more = _melt(out, src, melted[0], list(mapping[melted[0]]), hl, melt_headers,
                               dose_unit)
        issues += more
        names.setdefault(melt_headers, "(names of the columns " + names[melted[0]] + ")")
    src = replace(src, notes=src.notes + tuple(notes))
    return out, src, names, issues


def _header_cell(src: TableSource, name: str, line: int | None) -> str | None:
    o = (src.origins or {}).get("*")
    sh = None if o is None else o.sheet_of(0)
    if sh is None or name not in sh[1] or line is None:
        return None
    return f"{sh[0]}!{sh[1][name]}{line}"


def _melt(df: pd.DataFrame, src: TableSource, canon: str, given: list[str], hl: int | None,
          target: str, dose_unit: str) -> tuple[pd.DataFrame, TableSource, list[Issue]]:
    """One row per (row, listed column): ``canon`` takes the cell, ``target`` the column's
    name (or the number in it for ``dose`` and ``day``)."""
    issues: list[Issue] = []
    if target in df.columns:
        issues.append(Issue(src.name, hl, target, None,
                            f"the melted columns' names would fill '{target}' ([data] "
                            f"melt_headers), but the table already has a '{target}' column; "
                            "set melt_headers to another column"))
        return df, src, issues
    labels: list[Any] = []
    for g in given:
        if target in ("dose", "day"):
            base, unit = split_unit(g)
            m = NUMBER.search(base)
            rest = (base[:m.start()] + base[m.end():]).strip() if m else base
            if unit is None and m is not None and rest and target == "dose":
                unit = rest.split()[-1]  # "0.1 uM"
            if m is None:
                issues.append(Issue(src.name, hl, g, g, f"melt_headers = \"{target}\": the "
                                    f"column name holds no number", _header_cell(src, g, hl)))
                continue
            if target == "dose" and unit is not None:
                problem = unit_problem("dose", unit, dose_unit, "")
                if problem:
                    issues.append(Issue(src.name, hl, g, unit, problem,
                                        _header_cell(src, g, hl)))
            labels.append(m.group(0))
        else:
            labels.append(g)
    if issues:
        return df, src, issues
    n, k = len(df), len(given)
    rows = np.repeat(np.arange(n), k)
    rest_cols = [c for c in df.columns if c not in given]
    out = df[rest_cols].iloc[rows].reset_index(drop=True)
    out[canon] = np.asarray(df[given].to_numpy(dtype=object)).reshape(-1)
    out[target] = np.tile(np.array(labels, dtype=object), n)
    taken = src.take(rows, n)
    every = (taken.origins or {})["*"]
    col_of = np.tile(np.array(given, dtype=object), n)
    origins = dict(taken.origins or {})
    origins[canon] = replace(every, column=col_of)
    origins[target] = replace(every, line=np.full(n * k, hl or 0, dtype=np.int64),
                              column=col_of)
    note = (f"wide sheet: columns {', '.join(given)} melted into '{canon}' ({n} rows -> "
            f"{n * k}), their names into '{target}'")
    return out, replace(taken, origins=origins, notes=taken.notes + (note,)), issues


