"""Schema checks of input tables: every problem at once, with line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError, Issue
from ..io import TableSource
from .schemas import DOSE_RESPONSE, DOSE_UNITS, WELL_ROLES, XENOGRAFT


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



# ---------------------------------------------------------------------------------- xenograft
VOLUME_CONSTANT_TOLERANCE = 0.005
"""Relative tolerance when a table gives both ``volume`` and ``length`` + ``width``."""


@dataclass
class ValidatedXenograft:
    """A validated xenograft table.

    Attributes
    ----------
    df : DataFrame
        Kept rows, columns ``mouse, arm, cell_line, experiment, status, day (float),
        volume (float, mm3), length, width (mm, NaN without calipers), line``.
    dropped : list of dict
        Rows left out on purpose (missing measurements), each with line and reason.
    source : TableSource
    options : dict
        The ``[data]`` keys used (volume_constant, control_arm, detection_limit, ...).
    """

    df: pd.DataFrame
    dropped: list[dict] = field(default_factory=list)
    source: TableSource | None = None
    options: dict = field(default_factory=dict)
    has_calipers: bool = False


def validate_xenograft(df: pd.DataFrame, source: TableSource, *, volume_constant: float = 0.5,
                       control_arm: str | None = None, missing: str = "drop",
                       column_names: dict[str, str] | None = None,
                       **options) -> ValidatedXenograft:
    """Validate a xenograft table: one row per mouse and measurement day.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`drugbayes.io.read_table` (canonical column names).
    source : TableSource
    volume_constant : float
        ``V = volume_constant * length * width**2``.
    control_arm : str, optional
        Must be one of the arms in the table.
    missing : {"drop", "error"}
        What to do with rows without a measurement.
    column_names : dict, optional
        Canonical -> the file's column name, to name columns as the user knows them.
    **options
        Other ``[data]`` keys (kept on the result).

    Raises
    ------
    DataValidationError
        With every problem found: unknown or missing columns, non-numeric or negative volumes or
        calipers, width > length, a day listed twice for one mouse, a mouse in two arms (or cell
        lines), a volume that disagrees with ``volume_constant * L * W^2``, an unknown control arm.
    """
    names = {c: c for c in XENOGRAFT.known}
    names.update(column_names or {})
    src = source.name
    issues: list[Issue] = []

    def add(pos: int | None, col: str | None, value, msg: str) -> None:
        line = None if pos is None else source.line(pos)
        issues.append(Issue(src, line, None if col is None else names.get(col, col),
                            None if value is None else str(value), msg))

    header = 1 if source.line_offset else None
    for c in df.columns:
        if c not in XENOGRAFT.known:
            issues.append(Issue(src, header, str(c), None,
                                "unknown column (expected mouse, arm, day, volume or length + "
                                "width, and optionally cell_line, experiment, status; map yours "
                                "with [data.columns])"))
    for c in XENOGRAFT.required:
        if c not in df.columns:
            add(None, c, None, f"required column '{names.get(c, c)}' is missing (map it with "
                f"[data.columns] {c} = \"<your column>\"; table has: "
                f"{', '.join(map(str, df.columns))})")
    calipers = "length" in df.columns or "width" in df.columns
    if calipers and not ("length" in df.columns and "width" in df.columns):
        add(None, "width" if "length" in df.columns else "length", None,
            "caliper measurements need both 'length' and 'width' columns")
    if "volume" not in df.columns and not calipers:
        add(None, "volume", None, "give a 'volume' column (mm3) or 'length' and 'width' (mm)")
    n_unknown = sum(c not in XENOGRAFT.known for c in df.columns)
    if len(issues) > n_unknown:  # a missing column: nothing further can be checked
        issues.sort(key=lambda i: (i.line is None, i.line or 0))
        raise DataValidationError(issues)

    out = pd.DataFrame(index=df.index)
    for c in ("mouse", "arm", "cell_line", "experiment", "status"):
        out[c] = _text(df[c]) if c in df.columns else ""
    day, day_empty, day_bad = _numeric(df["day"])
    for pos in np.flatnonzero(day_bad):
        add(pos, "day", df["day"].iloc[pos], "day is not a number")
    for pos in np.flatnonzero(day_empty):
        add(pos, "day", "", "day is empty")
    for c in ("mouse", "arm"):
        for pos in np.flatnonzero(out[c].eq("")):
            add(pos, c, "", f"{names.get(c, c)} is empty")

    measured = pd.Series(False, index=df.index)
    empty_all = pd.Series(True, index=df.index)
    vol = pd.Series(np.nan, index=df.index)
    length = width = pd.Series(np.nan, index=df.index)
    if "volume" in df.columns:
        vol, v_empty, v_bad = _numeric(df["volume"])
        for pos in np.flatnonzero(v_bad):
            add(pos, "volume", df["volume"].iloc[pos], "volume is not a number (mm3)")
        for pos in np.flatnonzero(~v_bad & vol.lt(0)):
            add(pos, "volume", df["volume"].iloc[pos], "volume must be >= 0 (mm3)")
        empty_all &= v_empty
        measured |= ~v_empty & ~v_bad
    if calipers:
        length, l_empty, l_bad = _numeric(df["length"])
        width, w_empty, w_bad = _numeric(df["width"])
        for col, v, bad in (("length", length, l_bad), ("width", width, w_bad)):
            for pos in np.flatnonzero(bad):
                add(pos, col, df[col].iloc[pos], f"{col} is not a number (mm)")
            for pos in np.flatnonzero(~bad & v.lt(0)):
                add(pos, col, df[col].iloc[pos], f"{col} must be >= 0 (mm)")
        for pos in np.flatnonzero(l_empty ^ w_empty):
            col = "width" if w_empty.iloc[pos] else "length"
            add(pos, col, "", "a caliper row needs both length and width")
        for pos in np.flatnonzero(~l_bad & ~w_bad & width.gt(length)):
            add(pos, "width", df["width"].iloc[pos],
                f"width > length ({width.iloc[pos]:g} > {length.iloc[pos]:g} mm): length is the "
                "longest diameter; were the columns swapped?")
        cal_ok = ~l_empty & ~w_empty & ~l_bad & ~w_bad
        cal_vol = volume_constant * length * width ** 2
        if "volume" in df.columns:
            both = cal_ok & measured
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = (vol - cal_vol).abs() / np.maximum(cal_vol, 1e-12)
            for pos in np.flatnonzero(both & rel.gt(VOLUME_CONSTANT_TOLERANCE)
                                      & cal_vol.gt(0)):
                implied = vol.iloc[pos] / (length.iloc[pos] * width.iloc[pos] ** 2)
                add(pos, "volume", df["volume"].iloc[pos],
                    f"volume disagrees with volume_constant * length * width^2 = "
                    f"{cal_vol.iloc[pos]:.4g} (volume_constant = {volume_constant:g}; this row "
                    f"implies {implied:.4g}); set [data] volume_constant to the constant your "
                    "volumes used, or drop one of the columns")
        vol = vol.where(measured, cal_vol.where(cal_ok))
        measured |= cal_ok
        empty_all &= l_empty & w_empty

    dropped = []
    for pos in np.flatnonzero(empty_all):
        if missing == "error":
            add(pos, "volume", "", "no measurement on this row (missing = \"error\"; use "
                "missing = \"drop\" to drop rows without a measurement)")
        else:
            dropped.append({"line": source.line(pos), "mouse": out["mouse"].iloc[pos],
                            "arm": out["arm"].iloc[pos],
                            "day": None if np.isnan(day.iloc[pos]) else float(day.iloc[pos]),
                            "reason": "missing measurement"})

    out["day"] = day
    out["volume"] = vol
    out["length"] = length
    out["width"] = width
    out["line"] = np.arange(len(df)) + source.line_offset

    # identity: a mouse is (experiment, mouse)
    ok_id = ~day_bad & ~day_empty & out["mouse"].ne("")
    key = out["experiment"] + "\x1f" + out["mouse"]
    first_line: dict = {}
    for pos in np.flatnonzero(ok_id):
        k = (key.iloc[pos], float(day.iloc[pos]))
        if k in first_line:
            add(pos, "day", df["day"].iloc[pos],
                f"day listed twice for mouse {out['mouse'].iloc[pos]!r} (first on line "
                f"{first_line[k]})")
        else:
            first_line[k] = source.line(pos)
    for col, what in (("arm", "arms"), ("cell_line", "cell lines")):
        seen: dict = {}
        for pos in np.flatnonzero(out["mouse"].ne("")):
            k = key.iloc[pos]
            v = out[col].iloc[pos]
            if k not in seen:
                seen[k] = (v, source.line(pos))
            elif seen[k][0] != v:
                m = out["mouse"].iloc[pos]
                add(pos, col, v, f"mouse {m!r} is in two {what} ({seen[k][0]!r} on line "
                    f"{seen[k][1]}); if mouse IDs restart in each {col.replace('_', ' ')}, "
                    f"make them unique (e.g. '{v}-{m}')")
    if control_arm is not None:
        arms = set(out["arm"])
        if str(control_arm) not in arms:
            issues.append(Issue(src, None, "control_arm", str(control_arm),
                                f"[data] control_arm is not an arm of the table (arms: "
                                f"{', '.join(sorted(a for a in arms if a))})"))
    if issues:
        issues.sort(key=lambda i: (i.line is None, i.line or 0))
        raise DataValidationError(issues)
    kept = out[measured].reset_index(drop=True)
    opts = {"volume_constant": volume_constant, "control_arm": control_arm, **options}
    return ValidatedXenograft(df=kept, dropped=dropped, source=source, options=opts,
                              has_calipers=calipers)
