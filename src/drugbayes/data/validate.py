"""Schema checks of input tables: every problem at once, with line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import Issue
from ..io import TableSource
from .checks import IssueCollector, numeric, text, with_far_dose_notes
from .rates import RATE_SCALE_HINT, check_rate_unit, check_response_scale, gr_from_counts
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
    rate_unit : str
        Unit of the responses with ``response_scale = "rate"`` (growth rates), else "".
    gr_from_counts : bool
        ``response_scale = "gr"`` computed here from cell counts with ``time_zero`` wells
        (:func:`drugbayes.data.rates.gr_from_counts`): ``response`` holds GR values and the
        ``time_zero`` rows are left out of ``df``.
    carried : DataFrame or None
        The table's columns the kind does not read (tissue, notes, ...), carried, not
        modelled: one row per row of ``df`` (:func:`carried_columns`).
    """

    df: pd.DataFrame
    dropped: list[dict] = field(default_factory=list)
    source: TableSource | None = None
    response_scale: str = "fraction"
    dose_unit: str = "M"
    rate_unit: str = ""
    gr_from_counts: bool = False
    carried: pd.DataFrame | None = None


@dataclass(frozen=True)
class WellTableOptions:
    """The ``[data]`` options of the well kinds (dose response, combination).

    Attributes
    ----------
    dose_unit : {"M", "mM", "uM", "nM", "pM"}
    response_scale : str
        ``fraction`` or ``percent`` (viability normalised to untreated wells), ``raw``
        plate-reader signal (dose response only), ``rate`` (growth rates in ``rate_unit``) or
        ``gr`` (GR values, or cell counts with ``time_zero`` wells; dose response only).
    missing : {"drop", "error"}
        What to do with empty responses.
    min_doses : int
        Fewest distinct positive doses a curve (or a monotherapy of a matrix) needs.
    column_names : dict, optional
        Canonical -> the file's column name, to name columns as the user knows them.
    rate_unit : str, optional
        Unit of growth rates (``response_scale = "rate"``), e.g. ``1/h``.
    """

    dose_unit: str = "M"
    response_scale: str = "fraction"
    missing: str = "drop"
    min_doses: int = 3
    column_names: dict[str, str] | None = None
    rate_unit: str | None = None

    @classmethod
    def from_config(cls, data_cfg) -> WellTableOptions:
        """The options of a ``[data]`` section (:class:`drugbayes.config.DataConfig`)."""
        return cls(dose_unit=data_cfg.dose_unit, response_scale=data_cfg.response_scale,
                   missing=data_cfg.missing, min_doses=data_cfg.min_doses,
                   column_names=data_cfg.columns,
                   rate_unit=getattr(data_cfg, "rate_unit", None))


SCALE_HINT = ("for viability in percent of untreated wells (0 to about 100) set "
              "response_scale = \"percent\"; for plate-reader signal (absorbance, "
              "luminescence counts) set response_scale = \"raw\" with blank wells (medium, no "
              "cells) and untreated (dose 0) wells on each plate, or normalise each plate to its "
              "untreated wells first")


def validate_dose_response(df: pd.DataFrame, source: TableSource,
                           opts: WellTableOptions | None = None) -> ValidatedTable:
    """Validate a dose-response table (canonical column names).

    Parameters
    ----------
    df : DataFrame
        Output of :func:`drugbayes.io.read_table`.
    source : TableSource
    opts : WellTableOptions, optional
        Dose unit, response scale (``fraction``, ``percent``, ``raw``, ``rate`` with
        ``rate_unit``, or ``gr``), missing responses, fewest distinct positive doses per curve
        (cell line x drug x experiment), column names.

    With ``response_scale = "gr"`` and ``time_zero`` wells (``well_role = "time_zero"``: cell
    counts at the time of treatment, per plate and cell line; drug and dose may be empty) the
    responses are cell counts at the end and are turned into GR values here
    (:func:`drugbayes.data.rates.gr_from_counts`); without ``time_zero`` wells they are GR
    values. Responses that do not look like their scale (rates declared as fractions, counts
    declared as GR values) are refused with the fix named.

    Raises
    ------
    DataValidationError
        With every problem found.
    """
    opts = opts or WellTableOptions()
    dose_unit, response_scale, missing = opts.dose_unit, opts.response_scale, opts.missing
    min_doses, column_names = opts.min_doses, opts.column_names
    chk = IssueCollector(source, DOSE_RESPONSE.known, column_names)
    add = chk.add
    chk.dose_unit(dose_unit)
    rate_unit = (opts.rate_unit or "").strip()
    if response_scale not in ("fraction", "percent", "raw", "rate", "gr"):
        add(None, None, response_scale, "unknown response_scale; expected fraction, percent, "
            "raw, rate or gr")
    check_rate_unit(chk, response_scale, rate_unit)
    required = list(DOSE_RESPONSE.required)
    if response_scale == "raw":
        required += ["plate", "well_role"]
    chk.required_columns(df, required)
    chk.has_rows(df)
    chk.raise_if_any()

    out = pd.DataFrame(index=df.index)
    for c in ("cell_line", "drug", "experiment", "plate", "replicate", "well"):
        out[c] = text(df[c]) if c in df.columns else ""
    if "well_role" in df.columns:
        role = text(df["well_role"]).str.lower()
    else:
        role = pd.Series("", index=df.index)
    dose, dose_empty, dose_bad = numeric(df["dose"])
    resp, resp_empty, resp_bad = numeric(df["response"])

    chk.rows(role.ne("") & ~role.isin(WELL_ROLES), "well_role",
             f"unknown well role; expected one of {', '.join(WELL_ROLES)}", df.get("well_role"))
    blank = role.eq("blank")
    t0 = role.eq("time_zero")
    counts = response_scale == "gr" and bool(t0.any())
    if response_scale != "gr":
        chk.rows(t0, "well_role", "time_zero wells (cell counts at the time of treatment) "
                 "are read only with response_scale = \"gr\" (GR values from cell counts)",
                 "time_zero")
    if response_scale != "raw":
        chk.rows(blank, "well_role", "blank wells need response_scale = \"raw\" "
                 "(normalised viability is already blank-corrected)", "blank")
    # doses
    chk.number_column(df, "dose", dose_bad, dose)
    chk.rows(dose_empty & ~blank & ~t0, "dose",
             "dose is missing (only blank and time_zero wells may leave it empty)", df["dose"])
    chk.rows(t0 & dose.gt(0), "dose", "a time_zero well must have dose 0 or empty", df["dose"])
    is_zero = dose.eq(0) & ~blank & ~t0
    vehicle = (role.eq("vehicle") | is_zero) & ~blank & ~t0
    chk.rows(role.eq("vehicle") & dose.gt(0), "dose", "a vehicle well must have dose 0 or empty",
             df["dose"])
    # identities
    chk.rows(out["cell_line"].eq("") & ~blank, "cell_line",
             "cell line is empty (only blank wells may leave it empty)", "")
    # raw signal and cell counts: untreated wells serve every drug of their plate
    need_drug = ~blank & ~t0 & ~(vehicle & (response_scale == "raw" or counts))
    for pos in np.flatnonzero(out["drug"].eq("") & need_drug):
        msg = "drug is empty" + (" (in normalised data a dose-0 row must name the drug whose "
                                 "curve it belongs to)" if is_zero.iloc[pos] else "")
        add(pos, "drug", "", msg)
    # responses
    chk.number_column(df, "response", resp_bad, resp, nonnegative=False)
    if missing == "error":
        chk.empty_responses(resp_empty, df)
    # negative raw readings (instrument-subtracted backgrounds) are noisy data, not errors

    out["dose"] = dose
    out["response"] = resp
    out["well_role"] = np.where(blank, "blank", np.where(
        t0, "time_zero", np.where(vehicle, "vehicle", "sample")))
    out["line"] = source.lines(len(df))

    # duplicates on the identifying columns that exist
    id_cols = [c for c in DOSE_RESPONSE.identifying if c in df.columns]
    if "well" in df.columns:
        id_cols = [c for c in ("experiment", "plate", "well") if c in df.columns]
    elif t0.any():  # a time_zero well is not the untreated well of the same replicate
        id_cols.insert(id_cols.index("dose"), "well_role")
    if "replicate" in df.columns or "well" in df.columns:
        chk.duplicate_wells(out, id_cols, ~dose_bad)

    keep = ~resp_empty
    dropped = []
    if missing == "drop":
        dropped = chk.dropped(resp_empty, "missing response", cell_line=out["cell_line"],
                              drug=out["drug"], dose=dose)

    ok_rows = keep & ~dose_bad & ~resp_bad
    ok_rows &= ~chk.extreme_responses(df, resp, ok_rows, response_scale, vehicle)
    if counts:
        out["response"] = gr_from_counts(out, ok_rows & ~blank, chk)
        ok_rows &= ~t0
    elif response_scale in ("fraction", "percent", "rate"):
        check_response_scale(chk, resp, vehicle, ok_rows & ~blank, response_scale,
                             f"{SCALE_HINT}; {RATE_SCALE_HINT}")
        if response_scale == "rate" and not (is_zero & ok_rows).any():
            add(None, "dose", None, "response_scale = \"rate\" needs untreated wells (dose 0, "
                "naming the drug of their curve): their rate is E0, the top of the curves")
    elif response_scale == "gr":
        _check_gr_values(chk, resp, is_zero, ok_rows)
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
    chk.raise_if_any()
    if dose_unit in DOSE_UNITS:
        source = with_far_dose_notes(source, samples["line"], samples["dose"], samples["drug"],
                                     dose_unit)
    return ValidatedTable(df=kept.reset_index(drop=True), dropped=dropped, source=source,
                          response_scale=response_scale, dose_unit=dose_unit,
                          carried=carried_columns(df, DOSE_RESPONSE.known, ok_rows),
                          rate_unit=rate_unit if response_scale == "rate" else "",
                          gr_from_counts=counts)


def carried_columns(df: pd.DataFrame, known: tuple[str, ...], keep: pd.Series
                    ) -> pd.DataFrame | None:
    """The columns of ``df`` a kind does not read, on the kept rows (index reset like the
    kept table's), or None where there are none. They are carried, never refused: the
    encoders put those constant within a unit into the unit's rows
    (:func:`drugbayes.data.fields.carry_by_unit`)."""
    extra = [c for c in df.columns if c not in known]
    return df.loc[keep, extra].reset_index(drop=True) if extra else None


def _check_gr_values(chk: IssueCollector, resp: pd.Series, untreated: pd.Series,
                     use: pd.Series) -> None:
    """GR values given directly: about 1 without drug, in [-1, 1] up to noise. Untreated wells
    whose median is outside 0.5-1.5, or more than 10% of the values outside [-1.5, 2], are
    refused (cell counts declared as GR values, or viability in percent)."""
    v = resp[use]
    if not len(v):
        return
    n_out = int(((v < -1.5) | (v > 2.0)).sum())
    sel = untreated & use
    med = float(np.median(resp[sel])) if sel.any() else 1.0
    if not 0.5 <= med <= 1.5 or n_out > 0.1 * len(v):
        chk.add(None, "response", f"{med:.4g}",
                f"the responses do not look like GR values (response_scale = \"gr\": 1 "
                f"without drug, 0 cytostatic, -1 every cell dead): the untreated wells' median "
                f"is {med:.4g} and {n_out} of {len(v)} responses lie outside [-1.5, 2]; for "
                "cell counts add the counts at the time of treatment as well_role = "
                "\"time_zero\" rows (per plate and cell line), for growth rates set "
                "response_scale = \"rate\" with rate_unit")



# ---------------------------------------------------------------------------------- xenograft
MAX_DAY = 100_000.0
"""Largest magnitude of a xenograft day (about 270 years): beyond it a day is a typing slip or a
date written as a number (``20240304``), and float32 times lose whole days."""

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
    carried: pd.DataFrame | None = None
    n_before_select: int = 0


SELECTABLE = ("arm", "cell_line", "experiment", "mouse")
"""Columns of a xenograft table that ``[data] select`` may restrict."""


def _select_mask(out: pd.DataFrame, select: dict | None, chk: IssueCollector) -> pd.Series:
    """Rows kept by ``[data] select`` (``{column: [values]}``); every bad key or value is
    added to ``chk``."""
    keep = pd.Series(True, index=out.index)
    for key, values in (select or {}).items():
        if key not in SELECTABLE:
            chk.issues.append(Issue(chk.source.name, None, f"select.{key}", None,
                                    f"cannot select on {key!r} (expected one of "
                                    f"{', '.join(SELECTABLE)})"))
            continue
        vals = [str(v) for v in ([values] if isinstance(values, str) else values)]
        present = set(out[key])
        if not vals:
            chk.issues.append(Issue(chk.source.name, None, f"select.{key}", None,
                                    "an empty list selects nothing"))
        for v in vals:
            if v not in present:
                shown = sorted(x for x in present if x)
                chk.issues.append(Issue(
                    chk.source.name, None, f"select.{key}", v,
                    f"not a value of column {chk.name(key)!r} (values: "
                    f"{', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''})"))
        keep &= out[key].isin(vals)
    return keep


def validate_xenograft(df: pd.DataFrame, source: TableSource, *, volume_constant: float = 0.5,
                       control_arm: str | None = None, missing: str = "drop",
                       column_names: dict[str, str] | None = None,
                       select: dict | None = None, **options) -> ValidatedXenograft:
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
    select : dict, optional
        ``{column: [values]}`` (``arm``, ``cell_line``, ``experiment``, ``mouse``): only these
        rows are kept (after every row is validated; ``control_arm`` must be selected).
    **options
        Other ``[data]`` keys (kept on the result).

    Other columns (body weight, tissue, ...) are carried, not used by the model: they are
    kept, row by row, in :attr:`ValidatedXenograft.carried`.

    Raises
    ------
    DataValidationError
        With every problem found: missing columns, a bad ``select``, non-numeric or negative
        volumes or calipers, width > length, a day listed twice for one mouse, a mouse in two
        arms (or cell lines), a volume that disagrees with ``volume_constant * L * W^2``, an
        unknown control arm.
    """
    chk = IssueCollector(source, XENOGRAFT.known, column_names)
    add = chk.add
    chk.required_columns(df, XENOGRAFT.required)
    calipers = "length" in df.columns or "width" in df.columns
    if calipers and not ("length" in df.columns and "width" in df.columns):
        add(None, "width" if "length" in df.columns else "length", None,
            "caliper measurements need both 'length' and 'width' columns")
    if "volume" not in df.columns and not calipers:
        add(None, "volume", None, "give a 'volume' column (mm3) or 'length' and 'width' (mm)")
    chk.has_rows(df)
    if chk.issues:  # a missing column: nothing further can be checked
        chk.raise_if_any()

    out = pd.DataFrame(index=df.index)
    for c in ("mouse", "arm", "cell_line", "experiment", "status"):
        out[c] = text(df[c]) if c in df.columns else ""
    day, day_empty, day_bad = numeric(df["day"])
    chk.number_column(df, "day", day_bad, day, nonnegative=False)
    chk.rows(day_empty, "day", "day is missing", df["day"])
    chk.rows(day.abs().gt(MAX_DAY), "day", f"day is beyond {MAX_DAY:,.0f} days from day 0 "
             "(a typing slip, or dates written as numbers? give dates in a 'date' column, "
             "see [data.columns] date)", df["day"])
    day_bad = day_bad | day.abs().gt(MAX_DAY)
    for c in ("mouse", "arm"):
        chk.rows(out[c].eq(""), c, f"{chk.name(c)} is empty", "")

    measured = pd.Series(False, index=df.index)
    empty_all = pd.Series(True, index=df.index)
    vol = pd.Series(np.nan, index=df.index)
    length = width = pd.Series(np.nan, index=df.index)
    if "volume" in df.columns:
        vol, v_empty, v_bad = numeric(df["volume"])
        chk.number_column(df, "volume", v_bad, vol, unit=" (mm3)")
        empty_all &= v_empty
        measured |= ~v_empty & ~v_bad
    if calipers:
        length, l_empty, l_bad = numeric(df["length"])
        width, w_empty, w_bad = numeric(df["width"])
        chk.number_column(df, "length", l_bad, length, unit=" (mm)")
        chk.number_column(df, "width", w_bad, width, unit=" (mm)")
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
        cal_inf = cal_ok & ~np.isfinite(cal_vol)
        chk.rows(cal_inf, "length", "volume_constant * length * width^2 is not a finite "
                 "number (lengths and widths are in mm)", df["length"])
        cal_ok &= ~cal_inf
        vol = vol.where(measured, cal_vol.where(cal_ok))
        measured |= cal_ok
        empty_all &= l_empty & w_empty

    dropped = []
    if missing == "error":
        chk.rows(empty_all, "volume", "no measurement on this row (missing = \"error\"; use "
                 "missing = \"drop\" to drop rows without a measurement)", "")
    else:
        dropped = chk.dropped(empty_all, "missing measurement", mouse=out["mouse"],
                              arm=out["arm"], day=day)

    out["day"] = day
    out["volume"] = vol
    out["length"] = length
    out["width"] = width
    out["line"] = source.lines(len(df))

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
    chosen = _select_mask(out, select, chk)
    if control_arm is not None:
        arms = set(out["arm"][chosen])
        if str(control_arm) not in arms:
            what = "an arm of the selected rows" if select else "an arm of the table"
            chk.issues.append(Issue(source.name, None, "control_arm", str(control_arm),
                                    f"[data] control_arm is not {what} (arms: "
                                    f"{', '.join(sorted(a for a in arms if a))})"))
    if select and not chosen.any():
        chk.issues.append(Issue(source.name, None, "select", None, "no row is selected"))
    chk.raise_if_any()
    keep = measured & chosen
    kept = out[keep].reset_index(drop=True)
    carried = carried_columns(df, XENOGRAFT.known, keep)
    if select:
        dropped = [d for d, c in zip(dropped, chosen[empty_all]) if c] if dropped else dropped
    opts = {"volume_constant": volume_constant, "control_arm": control_arm, "select": select,
            **options}
    return ValidatedXenograft(df=kept, dropped=dropped, source=source, options=opts,
                              has_calipers=calipers, carried=carried,
                              n_before_select=int(measured.sum()))
