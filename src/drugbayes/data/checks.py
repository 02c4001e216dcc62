"""Shared pieces of table validation: text and number parsing, and one issue collector.

Every validator (:mod:`drugbayes.data.validate`, :mod:`drugbayes.data.combination`) reports
every problem at once: it adds :class:`~drugbayes.errors.Issue` records to an
:class:`IssueCollector` (which names columns as the user's file does and numbers lines as the
file does) and raises one :class:`~drugbayes.errors.DataValidationError` at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import SupportsInt

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..errors import DataValidationError, Issue
from ..io import TableSource
from .fields import far_doses
from .schemas import DOSE_UNITS

EMPTY = ("", "NA", "NaN", "nan", "N/A", "null", "None")
"""Cell texts read as empty."""


def text(s: pd.Series) -> pd.Series:
    """Stripped text of a column (plain Python strings; missing values as ``""``)."""
    # plain Python strings (object dtype): iterating Arrow-backed strings row by row is slow
    return s.astype("string").fillna("").str.strip().astype(object)


def numeric(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse a column as numbers: ``(values, empty mask, unparseable mask)``.

    Empty cells (:data:`EMPTY`) and unparseable or infinite ones are NaN in ``values``.
    """
    txt = text(s)
    empty = txt.isin(list(EMPTY))
    vals = pd.to_numeric(txt.where(~empty, None), errors="coerce").astype(float)
    bad = ~empty & (vals.isna() | ~np.isfinite(vals.fillna(0.0)))
    return vals, empty, bad


VIABILITY_REFERENCE = (0.2, 5.0)
"""Normalised viability's reference level must lie within these multiples of 100% (1 for
``fraction``, 100 for ``percent``): the median of the untreated (dose 0) wells where there are
some, otherwise the 90% quantile of the responses (the top of the curves, near untreated)."""

VIABILITY_NEGATIVE = (-0.25, 0.1)
"""At most this share (second) of normalised viability may lie below this multiple (first) of
100%: viability is >= 0 up to noise, while growth rates of killing drugs go well below 0."""


def viability_scale_problem(resp: np.ndarray, untreated: np.ndarray, response_scale: str
                            ) -> str | None:
    """Whether responses declared as normalised viability (``fraction`` or ``percent``) do not
    look like it: the rule of :data:`VIABILITY_REFERENCE` and :data:`VIABILITY_NEGATIVE`.

    Parameters
    ----------
    resp : array
        The responses (finite, as in the file).
    untreated : bool array
        Which responses are untreated (dose 0) wells.
    response_scale : {"fraction", "percent"}

    Returns
    -------
    str or None
        What is wrong (the caller adds how to fix it), or None where the responses fit.
    """
    resp = np.asarray(resp, np.float64)
    untreated = np.asarray(untreated, bool)
    if response_scale not in ("fraction", "percent") or not len(resp):
        return None
    unit = 100.0 if response_scale == "percent" else 1.0
    if untreated.any():
        ref, what = float(np.median(resp[untreated])), "the untreated (dose 0) wells' median"
    else:
        ref, what = float(np.quantile(resp, 0.9)), "the 90% quantile of the responses"
    lo, hi = VIABILITY_REFERENCE
    floor, share = VIABILITY_NEGATIVE
    n_neg = int((resp / unit < floor).sum())
    if lo <= ref / unit <= hi and n_neg <= share * len(resp):
        return None
    return (f"the responses do not look like viability normalised to untreated wells "
            f"(response_scale = \"{response_scale}\", untreated = {unit:g}): {what} is "
            f"{ref:.4g} (between {lo * unit:g} and {hi * unit:g} expected) and {n_neg} of "
            f"{len(resp)} responses are below {floor:g} x {unit:g} (at most "
            f"{share:.0%} expected)")


EXTREME_FACTOR = 1000.0
"""A response more than this many times the median magnitude of the table's non-zero responses
is refused: no measurement is that far from the others (a typing slip such as ``1e30``), and
squared residuals of such values overflow float32. Relative to the data, so that a whole table
on another scale is left to the scale rule (:func:`viability_scale_problem`)."""


def extreme_responses(resp: pd.Series, ok: pd.Series, floor: float = 0.0
                      ) -> tuple[pd.Series, float]:
    """Which responses (among ``ok``) exceed :data:`EXTREME_FACTOR` x the median magnitude of
    the non-zero ones (at least ``floor``: 1% for normalised viability, so that a table of
    mostly killed wells keeps its untreated ones), and that median (0 where all are 0)."""
    r = resp[ok].abs()
    r = r[r.gt(0)]
    typical = max(float(r.median()) if len(r) else 0.0, floor)
    if not typical > 0:
        return pd.Series(False, index=resp.index), typical
    return ok & resp.abs().gt(EXTREME_FACTOR * typical), typical


def with_far_dose_notes(source: TableSource, lines: ArrayLike, doses: ArrayLike,
                        drugs: Iterable, unit: str) -> TableSource:
    """``source`` with a note (for the run log) on each dose far from its drug's others
    (:func:`~drugbayes.data.fields.far_doses`: kept, not refused); ``lines``, ``doses`` and
    ``drugs`` give each positive-dose row's line, dose and drug."""
    lines = np.asarray(lines)
    notes = tuple(f"line {int(lines[pos])}: {note}"
                  for pos, note in far_doses(doses, drugs, unit))
    return replace(source, notes=source.notes + notes) if notes else source


class IssueCollector:
    """The problems found in one table, reported all at once.

    Parameters
    ----------
    source : TableSource
        Where the table came from (its name and how row positions map to file lines).
    known : iterable of str
        Canonical column names of the table's kind.
    column_names : dict, optional
        Canonical -> the file's column name, to name columns as the user knows them.
    """

    def __init__(self, source: TableSource, known: Iterable[str],
                 column_names: dict[str, str] | None = None) -> None:
        self.source = source
        self.names = {c: c for c in known}
        # a melted column maps to a list of the file's columns: rows name their own
        self.names.update({k: v if isinstance(v, str) else ", ".join(map(str, v))
                           for k, v in (column_names or {}).items()})
        self.issues: list[Issue] = []

    def name(self, col: str) -> str:
        """The user's name of canonical column ``col``."""
        return self.names.get(col, col)

    def add(self, pos: SupportsInt | None, col: str | None, value: object, msg: str,
            line: int | None = None) -> None:
        """One problem at row position ``pos`` (or at file ``line`` when ``pos`` is None)."""
        file_col = None if col is None else self.name(col)
        if pos is None:
            src, ln, cell = self.source.name, line, None
        else:
            src, ln, file_col, cell = self.source.locate(pos, col, file_col)
        self.issues.append(Issue(src, ln, file_col, None if value is None else str(value), msg,
                                 cell))

    def rows(self, mask: pd.Series | np.ndarray, col: str, msg: str,
             values: pd.Series | str | None = None) -> None:
        """The same problem on every row where ``mask``; the value shown is the row's entry of
        ``values`` (a column) or ``values`` itself."""
        for pos in np.flatnonzero(mask):
            v = values.iloc[pos] if isinstance(values, pd.Series) else values
            self.add(pos, col, v, msg)

    def number_column(self, df: pd.DataFrame, col: str, bad: pd.Series, vals: pd.Series,
                      label: str | None = None, unit: str = "", nonnegative: bool = True
                      ) -> None:
        """Rows of ``col`` that are not numbers, then (``nonnegative``) the negative ones:
        ``"<label> is not a number<unit>"`` and ``"<label> must be >= 0<unit>"``."""
        label = label or col
        self.rows(bad, col, f"{label} is not a number{unit}", df[col])
        if nonnegative:
            self.rows(~bad & vals.lt(0), col, f"{label} must be >= 0{unit}", df[col])

    def dose_unit(self, dose_unit: str) -> None:
        """The dose unit is one of :data:`~drugbayes.data.schemas.DOSE_UNITS`."""
        if dose_unit not in DOSE_UNITS:
            self.add(None, None, dose_unit,
                     f"unknown dose unit; expected one of {', '.join(DOSE_UNITS)}")

    def required_columns(self, df: pd.DataFrame, required: Iterable[str],
                         line: int | None = None) -> list[str]:
        """One problem per missing required column; returns the missing ones."""
        missing = [c for c in required if c not in df.columns]
        for c in missing:
            self.add(None, c, None, f"required column '{self.name(c)}' is missing (map it with "
                     f"[data.columns] {c} = \"<your column>\"; table has: "
                     f"{', '.join(map(str, df.columns))})", line=line)
        return missing

    def has_rows(self, df: pd.DataFrame) -> None:
        """A table without data rows (a header only) is a problem."""
        if len(df) == 0:
            self.add(None, None, None, "no data rows: the table has a header only (or is "
                     "empty); nothing to fit", line=None)

    def extreme_responses(self, df: pd.DataFrame, resp: pd.Series, ok: pd.Series,
                          response_scale: str, untreated: pd.Series | None = None
                          ) -> pd.Series:
        """Responses (among ``ok``) beyond :data:`EXTREME_FACTOR` x the median magnitude are
        problems; returns their mask. For raw signal the median is at least 1% of the
        ``untreated`` wells' median signal, so that a screen whose wells are mostly killed
        (median near the blank) keeps its untreated wells."""
        floor = {"fraction": 0.01, "percent": 1.0}.get(response_scale, 0.0)
        if response_scale == "raw" and untreated is not None and (untreated & ok).any():
            floor = 0.01 * float(resp[untreated & ok].abs().median())
        bad, typical = extreme_responses(resp, ok, floor)
        self.rows(bad, "response", f"response is more than {EXTREME_FACTOR:g} x the median "
                  f"magnitude of the responses ({typical:.4g}): a typing slip?", df["response"])
        return bad

    def empty_responses(self, empty: pd.Series, df: pd.DataFrame | None = None) -> None:
        """``missing = "error"``: every empty response is a problem (the value shown as the
        file writes it, from ``df``)."""
        self.rows(empty, "response", "response is missing (missing = \"error\"; use "
                  "missing = \"drop\" to drop missing wells)",
                  "" if df is None else df["response"])

    def duplicate_wells(self, out: pd.DataFrame, id_cols: list[str],
                        valid: pd.Series) -> None:
        """Rows (among ``valid``) that repeat another row's ``id_cols``; the problem is named
        on the last identifying column and points at the first row."""
        key = pd.Series(["\x1f".join(map(str, t)) for t in out[id_cols].itertuples(index=False)],
                        index=out.index)
        dup = key.duplicated(keep=False) & valid
        first_line: dict[str, int] = {}
        for pos in np.flatnonzero(dup):
            k = key.iloc[pos]
            if k in first_line:
                self.add(pos, id_cols[-1], out[id_cols[-1]].iloc[pos],
                         f"duplicate well: same {', '.join(self.name(c) for c in id_cols)} as "
                         f"line {first_line[k]}")
            else:
                first_line[k] = self.source.line(pos)

    def dropped(self, mask: pd.Series, reason: str, **columns: pd.Series) -> list[dict]:
        """Records of the rows left out on purpose: ``line``, the given columns (numbers as
        float, NaN as None) and ``reason``."""
        out = []
        for pos in np.flatnonzero(mask):
            rec: dict = {"line": self.source.line(pos)}
            for k, s in columns.items():
                v = s.iloc[pos]
                rec[k] = (None if np.isnan(v) else float(v)) if isinstance(
                    v, (float, np.floating)) else v
            rec["reason"] = reason
            out.append(rec)
        return out

    def raise_if_any(self, sort: bool = True) -> None:
        """Raise :class:`DataValidationError` with every problem (by line, ``sort``)."""
        if self.issues:
            if sort:
                self.issues.sort(key=lambda i: (i.line is None, i.line or 0))
            raise DataValidationError(self.issues)
