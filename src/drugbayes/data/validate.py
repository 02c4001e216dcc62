"""Schema checks of input tables: every problem at once, with line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError, Issue
from ..io import TableSource
from .schemas import DOSE_RESPONSE, DOSE_UNITS, WELL_ROLES


@dataclass
class ValidatedTable:
    """A validated dose-response table with typed canonical columns.

    Attributes
    ----------
    df : DataFrame
        Kept rows; columns ``cell_line, drug, dose (float, data unit), response (float),
        experiment, plate, replicate, well, well_role, line`` (``line`` = source line).
    dropped : list of dict
        Rows left out on purpose (missing responses), each with line and reason.
    source : TableSource
    response_scale, dose_unit : str
    """

    df: pd.DataFrame
    dropped: list[dict] = field(default_factory=list)
    source: TableSource | None = None
    response_scale: str = "fraction"
    dose_unit: str = "M"
    ignored_columns: list[str] = field(default_factory=list)


def _text(s: pd.Series) -> pd.Series:
    # plain Python strings (object dtype): iterating Arrow-backed strings row by row is slow
    return s.astype("string").fillna("").str.strip().astype(object)


def _numeric(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(values, empty mask, unparseable mask)."""
    txt = _text(s)
    empty = txt.isin(["", "NA", "NaN", "nan", "N/A", "null", "None"])
    vals = pd.to_numeric(txt.where(~empty, None), errors="coerce").astype(float)
    bad = ~empty & (vals.isna() | ~np.isfinite(vals.fillna(0.0)))
    return vals, empty, bad


def validate_dose_response(
    df: pd.DataFrame,
    source: TableSource,
    *,
    dose_unit: str = "M",
    response_scale: str = "fraction",
    missing: str = "drop",
    min_doses: int = 3,
    column_names: dict[str, str] | None = None,
) -> ValidatedTable:
    """Validate a dose-response table (canonical column names).

    Parameters
    ----------
    df : DataFrame
        Output of :func:`drugbayes.io.read_table`.
    source : TableSource
    dose_unit : {"M", "mM", "uM", "nM", "pM"}
    response_scale : {"fraction", "percent", "raw"}
    missing : {"drop", "error"}
        What to do with empty responses.
    min_doses : int
        Fewest distinct positive doses a curve (cell line x drug x experiment) needs.
    column_names : dict, optional
        Canonical -> the file's column name, to name columns as the user knows them.

    Raises
    ------
    DataValidationError
        With every problem found.
    """
    names = {c: c for c in DOSE_RESPONSE.known}
    names.update(column_names or {})
    src = source.name
    issues: list[Issue] = []

    def add(pos: int | None, col: str | None, value, msg: str) -> None:
        line = None if pos is None else source.line(pos)
        issues.append(Issue(src, line, None if col is None else names.get(col, col),
                            None if value is None else str(value), msg))

    if dose_unit not in DOSE_UNITS:
        add(None, None, dose_unit, f"unknown dose unit; expected one of {', '.join(DOSE_UNITS)}")
    if response_scale not in ("fraction", "percent", "raw"):
        add(None, None, response_scale, "unknown response_scale; expected fraction, percent or raw")
    required = list(DOSE_RESPONSE.required)
    if response_scale == "raw":
        required += ["plate", "well_role"]
    missing_cols = [c for c in required if c not in df.columns]
    for c in missing_cols:
        add(None, c, None, f"required column '{names.get(c, c)}' is missing "
            f"(map it with [data.columns] {c} = \"<your column>\"; table has: "
            f"{', '.join(map(str, df.columns))})")
    if missing_cols or issues:
        raise DataValidationError(issues)

    out = pd.DataFrame(index=df.index)
    for c in ("cell_line", "drug", "experiment", "plate", "replicate", "well"):
        out[c] = _text(df[c]) if c in df.columns else ""
    if "well_role" in df.columns:
        role = _text(df["well_role"]).str.lower()
    else:
        role = pd.Series("", index=df.index)
    dose, dose_empty, dose_bad = _numeric(df["dose"])
    resp, resp_empty, resp_bad = _numeric(df["response"])

    for pos in np.flatnonzero(role.ne("") & ~role.isin(WELL_ROLES)):
        add(pos, "well_role", df["well_role"].iloc[pos],
            f"unknown well role; expected one of {', '.join(WELL_ROLES)}")
    blank = role.eq("blank")
    if response_scale != "raw":
        for pos in np.flatnonzero(blank):
            add(pos, "well_role", "blank", "blank wells need response_scale = \"raw\" "
                "(normalised viability is already blank-corrected)")
    # doses
    for pos in np.flatnonzero(dose_bad):
        add(pos, "dose", df["dose"].iloc[pos], "dose is not a number")
    for pos in np.flatnonzero(~dose_bad & dose.lt(0)):
        add(pos, "dose", df["dose"].iloc[pos], "dose must be >= 0")
    for pos in np.flatnonzero(dose_empty & ~blank):
        add(pos, "dose", "", "dose is empty (only blank wells may leave it empty)")
    is_zero = dose.eq(0) & ~blank
    vehicle = (role.eq("vehicle") | is_zero) & ~blank
    for pos in np.flatnonzero(role.eq("vehicle") & dose.gt(0)):
        add(pos, "dose", df["dose"].iloc[pos], "a vehicle well must have dose 0 or empty")
    # identities
    for pos in np.flatnonzero(out["cell_line"].eq("") & ~blank):
        add(pos, "cell_line", "", "cell line is empty (only blank wells may leave it empty)")
    need_drug = ~blank & ~(vehicle & (response_scale == "raw"))
    for pos in np.flatnonzero(out["drug"].eq("") & need_drug):
        msg = "drug is empty" + (" (in normalised data a dose-0 row must name the drug whose "
                                 "curve it belongs to)" if is_zero.iloc[pos] else "")
        add(pos, "drug", "", msg)
    # responses
    for pos in np.flatnonzero(resp_bad):
        add(pos, "response", df["response"].iloc[pos], "response is not a number")
    dropped = []
    if missing == "error":
        for pos in np.flatnonzero(resp_empty):
            add(pos, "response", "", "response is empty (missing = \"error\"; use "
                "missing = \"drop\" to drop missing wells)")
    # negative raw readings (instrument-subtracted backgrounds) are noisy data, not errors

    out["dose"] = dose
    out["response"] = resp
    out["well_role"] = np.where(blank, "blank", np.where(vehicle, "vehicle", "sample"))
    out["line"] = np.arange(len(df)) + source.line_offset

    # duplicates on the identifying columns that exist
    id_cols = [c for c in DOSE_RESPONSE.identifying if c in df.columns]
    if "well" in df.columns:
        id_cols = [c for c in ("experiment", "plate", "well") if c in df.columns]
    if "replicate" in df.columns or "well" in df.columns:
        key = pd.Series(["\x1f".join(map(str, t)) for t in
                         out[id_cols].itertuples(index=False)], index=out.index)
        dup = key.duplicated(keep=False) & ~dose_bad
        if dup.any():
            first_line = {}
            for pos in np.flatnonzero(dup):
                k = key.iloc[pos]
                if k in first_line:
                    add(pos, id_cols[-1], out[id_cols[-1]].iloc[pos],
                        f"duplicate well: same {', '.join(names.get(c, c) for c in id_cols)} "
                        f"as line {first_line[k]}")
                else:
                    first_line[k] = source.line(pos)

    keep = ~resp_empty
    if missing == "drop":
        for pos in np.flatnonzero(resp_empty):
            dropped.append({"line": source.line(pos), "cell_line": out["cell_line"].iloc[pos],
                            "drug": out["drug"].iloc[pos],
                            "dose": None if np.isnan(dose.iloc[pos]) else float(dose.iloc[pos]),
                            "reason": "missing response"})

    ok_rows = keep & ~dose_bad & ~resp_bad
    kept = out[ok_rows]
    # design checks (on rows that parsed)
    samples = kept[kept["well_role"].eq("sample") & kept["dose"].gt(0)]
    all_rows = out[~dose_bad & ~blank & out["cell_line"].ne("") & out["drug"].ne("")]
    ndoses = samples.groupby(["cell_line", "drug", "experiment"], sort=False)["dose"].nunique()
    first = all_rows.reset_index().groupby(["cell_line", "drug", "experiment"], sort=False)[
        "index"].min()
    for (cl, dr, ex), pos in first.items():
        nd = int(ndoses.get((cl, dr, ex), 0))
        if nd < min_doses:
            where = f"cell line {cl!r}, drug {dr!r}" + (f", experiment {ex!r}" if ex else "")
            add(int(pos), "dose", None,
                f"curve {where} has {nd} distinct positive dose(s) with a response; "
                f"at least {min_doses} are needed to fit a curve")
    if response_scale == "raw":
        for (ex, pl), g in out[~dose_bad].groupby(["experiment", "plate"], sort=False):
            label = f"plate {pl!r}" + (f" (experiment {ex!r})" if ex else "")
            if not (g["well_role"].eq("blank") & ~resp_empty[g.index]).any():
                add(int(g.index[0]), "plate", pl, f"{label} has no blank wells with a response; "
                    "raw signal needs blank wells (medium, no cells) on each plate")
            cells = g.loc[g["well_role"].eq("sample"), "cell_line"].unique()
            for cl in cells:
                veh = g["well_role"].eq("vehicle") & g["cell_line"].eq(cl) & ~resp_empty[g.index]
                if not veh.any():
                    add(int(g.index[0]), "plate", pl, f"{label} has no vehicle wells (dose 0) "
                        f"for cell line {cl!r}; raw signal needs untreated wells on each plate")
    if issues:
        issues.sort(key=lambda i: (i.line is None, i.line or 0))
        raise DataValidationError(issues)
    return ValidatedTable(df=kept.reset_index(drop=True), dropped=dropped, source=source,
                          response_scale=response_scale, dose_unit=dose_unit,
                          ignored_columns=[c for c in df.columns
                                           if c not in DOSE_RESPONSE.known])

