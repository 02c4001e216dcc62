"""Row-level readers at the edge: dates converted to days since day zero, and
``[data.filter]`` (keep or drop rows by column values)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ...errors import Issue
from ...io import TableSource

ISO_DATE = "%Y-%m-%d"


def _parse(value: Any, fmt: str) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    text = str(value).strip()
    for f in (fmt, fmt + " %H:%M:%S", fmt + " %H:%M") if text else ():
        try:
            return dt.datetime.strptime(text, f)
        except ValueError:
            continue
    return None


def _example(fmt: str) -> str:
    return dt.datetime(2024, 3, 7).strftime(fmt)


def dates_to_days(df: pd.DataFrame, src: TableSource, names: Mapping[str, str],
                  date_format: str | None, day_zero: str | Mapping[str, Mapping[str, str]] | None
                  ) -> tuple[pd.DataFrame, TableSource, list[Issue]]:
    """Replace a ``date`` column by ``day``: days since each row's day zero.

    Parameters
    ----------
    df, src : DataFrame, TableSource
        Canonical column names; ``date`` holds text in ``date_format`` (or Excel dates).
    names : mapping
        Canonical -> the file's column name (for messages).
    date_format : str, optional
        :func:`datetime.strptime` format of the dates (default ``%Y-%m-%d``).
    day_zero : str or mapping
        The date of day 0: one date for every mouse; ``"first"``: each mouse's first date;
        ``{arm = {name = date, ...}}``: by the values of one column (``arm``, ``mouse``,
        ``experiment``; canonical or the file's name).

    Returns
    -------
    (table with ``day`` instead of ``date``, source, problems)
    """
    if "date" not in df.columns:
        return df, src, []
    fmt = date_format or ISO_DATE
    issues: list[Issue] = []
    dname = names.get("date", "date")

    def at(pos: int, col: str, value: Any, msg: str) -> None:
        s, ln, c, cell = src.locate(pos, col, names.get(col, col))
        issues.append(Issue(s, ln, c, None if value is None else str(value), msg, cell))

    if "day" in df.columns:
        issues.append(Issue(src.name, None, names.get("day", "day"), None,
                            "the table has both a day and a date column; map one of them"))
    if day_zero is None:
        issues.append(Issue(src.name, None, "day_zero", None,
                            f"a date column ('{dname}') needs [data] day_zero: a date "
                            f"(\"{_example(fmt)}\"), \"first\" (each mouse's first date), or "
                            "{ arm = { <arm> = <date>, ... } } / { mouse = { ... } }"))
    if issues:
        return df, src, issues
    dates = [_parse(v, fmt) for v in df["date"]]
    for pos, (v, d) in enumerate(zip(df["date"], dates)):
        if d is None:
            at(pos, "date", v, f"not a date in the format {fmt!r} (e.g. {_example(fmt)!r}; set "
               "[data] date_format)" if str(v).strip() else "date is empty")
    zero: list[dt.datetime | None] = [None] * len(df)
    what = ""
    if isinstance(day_zero, str) and day_zero.strip().lower() == "first":
        if "mouse" not in df.columns:
            issues.append(Issue("[data] day_zero", None, "day_zero", day_zero,
                                "day_zero = \"first\" needs a mouse column"))
            return df, src, issues
        key = df["mouse"].astype(str).str.strip()
        if "experiment" in df.columns:
            key = df["experiment"].astype(str).str.strip() + "\x1f" + key
        firsts: dict[str, dt.datetime] = {}
        for k, d in zip(key, dates):
            if d is not None and (k not in firsts or d < firsts[k]):
                firsts[k] = d
        zero = [firsts.get(k) for k in key]
        what = "each mouse's first date"
    elif isinstance(day_zero, str):
        z = _parse(day_zero, fmt) or _parse(day_zero, ISO_DATE)
        if z is None:
            issues.append(Issue("[data] day_zero", None, "day_zero", day_zero,
                                f"not a date in the format {fmt!r} (e.g. {_example(fmt)!r}), "
                                "nor \"first\""))
        zero = [z] * len(df)
        what = f"{day_zero}"
    elif day_zero is not None:
        if len(day_zero) != 1:
            issues.append(Issue("[data] day_zero", None, "day_zero", str(dict(day_zero)),
                                "give one table, by one column (arm, mouse, experiment, ...): "
                                "day_zero = { arm = { vehicle = \"2024-03-07\", ... } }"))
            return df, src, issues
        by, table = next(iter(day_zero.items()))
        by = by if by in df.columns else {v: k for k, v in names.items()}.get(by, by)
        if by not in df.columns:
            issues.append(Issue(src.name, None, names.get(by, by), None,
                                f"day_zero is given by {by}, but the table has no {by} column"))
            return df, src, issues
        parsed: dict[str, dt.datetime] = {}
        for k, v in table.items():
            z = _parse(v, fmt) or _parse(v, ISO_DATE)
            if z is None:
                issues.append(Issue("[data] day_zero", None, f"day_zero.{by}.{k}", str(v),
                                    f"not a date in the format {fmt!r} (e.g. "
                                    f"{_example(fmt)!r})"))
            else:
                parsed[str(k)] = z
        keys = df[by].astype(str).str.strip()
        seen: set[str] = set()
        for pos, k in enumerate(keys):
            if k not in table and k not in seen:
                seen.add(k)
                at(pos, by, k, f"no day_zero for this {by} (day_zero.{by} gives "
                   f"{', '.join(map(str, table)) or 'none'})")
        zero = [parsed.get(k) for k in keys]
        what = f"by {by}"
    day = np.full(len(df), np.nan)
    for pos, (d, z) in enumerate(zip(dates, zero)):
        if d is None or z is None:
            continue
        day[pos] = (d - z).total_seconds() / 86400.0
        if day[pos] < 0:
            at(pos, "date", df["date"].iloc[pos],
               f"date is before day zero ({z:%Y-%m-%d}, {what}): {day[pos]:g} days")
    if issues:
        return df, src, issues
    out = df.drop(columns=["date"])
    out["day"] = [format(d, ".10g") for d in day]
    origins = dict(src.origins or {})
    if "date" in origins:
        origins["day"] = origins.pop("date")
    note = (f"dates in '{dname}' ({fmt}) converted to days since day zero ({what}): days "
            f"{np.nanmin(day):g} to {np.nanmax(day):g}" if len(day) else "")
    return out, replace(src, origins=origins or None, notes=src.notes + (note,)), issues


def _matches(series: pd.Series, values: Sequence[Any]) -> np.ndarray:
    """Rows whose cell equals one of ``values`` (text compared stripped; numbers also by
    value)."""
    txt = series.astype(str).str.strip()
    hit = txt.isin([str(v).strip() for v in values]).to_numpy()
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if nums:
        vals = pd.to_numeric(txt, errors="coerce").to_numpy()
        hit |= np.isin(vals, nums)
    return hit


def filter_rows(df: pd.DataFrame, src: TableSource, names: Mapping[str, str],
                keep: Mapping[str, Sequence[Any]], drop: Mapping[str, Sequence[Any]]
                ) -> tuple[pd.DataFrame, TableSource, list[Issue]]:
    """``[data.filter]``: keep the rows whose column has one of the listed values, then drop the
    rows whose column has one of the listed values (each rule in turn; the run log counts the
    rows each removed).

    Columns are named canonically (``arm``) or as in the file (an unmapped column). A value
    that no row has is a problem (a misspelt value would otherwise silently keep nothing or
    drop nothing).
    """
    issues: list[Issue] = []
    rules = [("keep", c, list(v)) for c, v in keep.items()] + \
        [("drop", c, list(v)) for c, v in drop.items()]
    if not rules:
        return df, src, issues
    inverse = {v: k for k, v in names.items()}
    alive = np.ones(len(df), dtype=bool)
    notes: list[str] = []
    excluded: list[dict] = []
    for how, col, values in rules:
        canon = col if col in df.columns else inverse.get(col)
        if canon is None or canon not in df.columns:
            issues.append(Issue("[data.filter]", None, f"{how}.{col}", None,
                                f"no column '{col}' in the table (columns: "
                                f"{', '.join(names.get(c, c) for c in df.columns)})"))
            continue
        hit = _matches(df[canon], values)
        present = {str(v).strip() for v in values if _matches(df[canon], [v]).any()}
        absent = [v for v in values if str(v).strip() not in present]
        if absent:
            seen = sorted(set(df[canon].astype(str).str.strip()))
            issues.append(Issue("[data.filter]", None, f"{how}.{col}",
                                ", ".join(map(str, absent)),
                                f"no row has this value (values: {', '.join(seen[:20])}"
                                f"{', ...' if len(seen) > 20 else ''})"))
        gone = alive & (~hit if how == "keep" else hit)
        alive &= ~gone
        rule = f"filter {how} {col} in [{', '.join(map(str, values))}]"
        notes.append(f"{rule}: removed {int(gone.sum())} row(s)")
        excluded.append({"reason": rule, "rows": int(gone.sum())})
    if issues:
        return df, src, issues
    idx = np.flatnonzero(alive)
    out = df.iloc[idx].reset_index(drop=True)
    taken = src.take(idx, len(df))
    return out, replace(taken, notes=taken.notes + tuple(notes),
                        excluded=taken.excluded + tuple(excluded)), issues
