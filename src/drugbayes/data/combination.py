"""Combination (checkerboard) tables: schema, validation (every problem at once) and encoding.

One row per well: ``cell_line, drug_a, dose_a, drug_b, dose_b, response``; optional
``replicate, plate, experiment, well``. Monotherapy wells of drug a have ``dose_b = 0``, the
untreated corner has both doses 0. A row that names both drugs belongs to that matrix (the
same drug in both slots is a *self-combination*, the sham experiment of matrix screens:
accepted and fitted; Loewe additivity says its synergy is zero, so it is the screen's
built-in null check); a row that names one drug (the other drug column empty, its dose 0 or
empty) is a *shared* single-drug well and a row naming no drug a shared untreated well: they
belong to every matrix
of that drug (every matrix) of the same cell line in the same plate, or experiment when there
is no plate column (:func:`expand_shared`), and enter the likelihood once.
A *matrix* is one ``experiment x cell_line x (drug_a, drug_b)`` checkerboard; a
*combination* is one ``cell_line x (drug_a, drug_b)``, pooled over experiments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..io import TableSource
from .checks import IssueCollector, numeric, text, with_far_dose_notes
from .fields import DosedData, DoseScale, Levels, carried_text, carry_by_unit
from .rates import (  # noqa: F401 (names of this module before they were shared)
    RATE_FLOOR_FACTOR,
    RATE_SCALE_HINT,
    check_rate_unit,
    check_response_scale,
    rate_bottom_lower,
)
from .schemas import Schema
from .validate import ValidatedTable, WellTableOptions, carried_columns

log = logging.getLogger("drugbayes")

COMBINATION = Schema(
    kind="combination",
    required=("cell_line", "drug_a", "dose_a", "drug_b", "dose_b", "response"),
    optional=("replicate", "plate", "experiment", "well"),
    identifying=("experiment", "plate", "cell_line", "drug_a", "dose_a", "drug_b", "dose_b",
                 "replicate"),
)
"""Columns of the ``combination`` kind (canonical names)."""

POOLED = "pooled"
"""Cell-line label of the population-level (pooled) rows of the summary (reserved)."""


@dataclass
class CombinationTable(ValidatedTable):
    """A validated combination table (the fields of :class:`ValidatedTable`).

    Attributes
    ----------
    df : DataFrame
        Kept rows: ``cell_line, drug_a, dose_a, drug_b, dose_b, response, experiment, plate,
        replicate, well, line`` (doses in the data unit, response as given).
    dropped : list of dict
        Rows left out on purpose (missing responses), each with line and reason.
    rate_unit : str
        Unit of the responses with ``response_scale = "rate"`` (growth rates), else "".
    """

    rate_unit: str = ""


def validate_combination(df: pd.DataFrame, source: TableSource,
                         opts: WellTableOptions | None = None) -> CombinationTable:
    """Validate a combination table (canonical column names), reporting every problem at once.

    Checks: required columns (other columns are carried, not refused: ``carried``); doses
    numeric, >= 0 and present where their drug is named (0 or empty where it is not); cell
    line present; shared control rows (one drug or none named) that belong to no matrix of
    their plate; responses numeric (empty ones dropped or rejected per ``missing``); duplicate
    wells (same experiment, plate, cell line, drugs, doses and replicate, or same experiment,
    plate and well, when a ``replicate`` or ``well`` column exists); and per matrix (shared
    controls counted in each of their matrices): monotherapy wells of each drug with at least
    ``min_doses`` distinct positive doses, and at least one combination well.

    Parameters
    ----------
    df, source : DataFrame, TableSource
        The table and where it came from (:func:`drugbayes.io.read_table`).
    opts : WellTableOptions, optional
        Dose unit, response scale (``fraction`` or ``percent``: viability normalised to
        untreated wells; ``raw`` signal is not supported here), missing responses, fewest
        distinct positive monotherapy doses per drug and matrix, column names.

    Raises
    ------
    DataValidationError
        With every problem found (line numbers count the CSV header as line 1).
    """
    opts = opts or WellTableOptions()
    dose_unit, response_scale, missing = opts.dose_unit, opts.response_scale, opts.missing
    min_doses, column_names = opts.min_doses, opts.column_names
    chk = IssueCollector(source, COMBINATION.known, column_names)
    add = chk.add
    header_line = 1 if source.line_offset else None
    chk.dose_unit(dose_unit)
    rate_unit = (opts.rate_unit or "").strip()
    if response_scale not in ("fraction", "percent", "rate"):
        add(None, None, response_scale, "response_scale must be \"fraction\" or \"percent\" "
            "(viability normalised to untreated wells) or \"rate\" (growth rates such as DIP "
            "rates, with rate_unit) for kind combination")
    check_rate_unit(chk, response_scale, rate_unit)
    missing_cols = chk.required_columns(df, COMBINATION.required, line=header_line)
    chk.has_rows(df)
    if missing_cols or not len(df):
        chk.raise_if_any(sort=False)

    out = pd.DataFrame(index=df.index)
    for c in ("cell_line", "drug_a", "drug_b", "experiment", "plate", "replicate", "well"):
        out[c] = text(df[c]) if c in df.columns else ""
    da, da_empty, da_bad = numeric(df["dose_a"])
    db, db_empty, db_bad = numeric(df["dose_b"])
    resp, resp_empty, resp_bad = numeric(df["response"])
    for col, vals, empty, bad, drug in (("dose_a", da, da_empty, da_bad, "drug_a"),
                                        ("dose_b", db, db_empty, db_bad, "drug_b")):
        chk.number_column(df, col, bad, vals, label="dose")
        # an empty dose is 0 where its drug column is empty too (a shared control well)
        chk.rows(empty & out[drug].ne(""), col,
                 f"dose is missing although {drug} names a drug (write 0 for a well without "
                 "this drug)", df[col])
        chk.rows(out[drug].eq("") & vals.gt(0), col,
                 f"{col} > 0 on a row whose {drug} is empty (name the drug, or write 0)",
                 df[col])
    chk.rows(out["cell_line"].eq(""), "cell_line", "cell line is empty", "")
    chk.rows(out["cell_line"].str.lower().eq(POOLED), "cell_line",
             f"'{POOLED}' is reserved for the population-level rows of the summary",
             out["cell_line"])
    chk.number_column(df, "response", resp_bad, resp, nonnegative=False)
    dropped = []
    if missing == "error":
        chk.empty_responses(resp_empty, df)
    else:
        dropped = chk.dropped(resp_empty, "missing response", cell_line=out["cell_line"],
                              drug_a=out["drug_a"], drug_b=out["drug_b"], dose_a=da, dose_b=db)
    dose_ok = (~da_bad & ~db_bad & ~(da_empty & out["drug_a"].ne(""))
               & ~(db_empty & out["drug_b"].ne("")))
    out["dose_a"] = da.where(~(da_empty & out["drug_a"].eq("")), 0.0)
    out["dose_b"] = db.where(~(db_empty & out["drug_b"].eq("")), 0.0)
    out["response"] = resp
    out["line"] = np.arange(len(df)) + source.line_offset

    # duplicate wells
    if "well" in df.columns:
        id_cols = [c for c in ("experiment", "plate", "well") if c in df.columns]
    elif "replicate" in df.columns:
        id_cols = [c for c in COMBINATION.identifying if c in df.columns]
    else:
        id_cols = []
    if id_cols:
        chk.duplicate_wells(out, id_cols, dose_ok)

    # shared controls: every single-drug and untreated row belongs to a matrix of its plate
    ok = dose_ok & out["cell_line"].ne("") & ~(da.lt(0) | db.lt(0))
    ok &= ~(out["drug_a"].eq("") & out["drug_b"].eq("") & (da.gt(0) | db.gt(0)))
    expanded, orphans = expand_shared(out[ok])
    for pos in orphans:
        r = out.loc[pos]
        drug = r["drug_a"] or r["drug_b"]
        what = (f"single-drug well of {drug}" if drug and max(r["dose_a"], r["dose_b"]) > 0
                else "untreated well")
        add(pos, "drug_a" if r["drug_a"] else ("drug_b" if r["drug_b"] else None), drug or None,
            f"{what} (cell line {r['cell_line']!r}"
            + (f", experiment {r['experiment']!r}" if r["experiment"] else "")
            + (f", plate {r['plate']!r}" if r["plate"] else "")
            + ") belongs to no matrix: no combination wells of "
            + (f"{drug}" if what.startswith("single") else "any pair")
            + " for that cell line in the same plate (or experiment)")

    has_resp = ~resp_empty & ~resp_bad
    has_resp &= ~chk.extreme_responses(df, resp, has_resp, response_scale)
    _check_scale(chk, out, resp, has_resp & ok, response_scale)

    # design of each matrix (rows whose doses parsed and that name a matrix)
    mkeys = ["experiment", "cell_line", "drug_a", "drug_b"]
    for (ex, cl, a, b), g_all in expanded.groupby(mkeys, sort=False):
        first = int(g_all["_src"].min())
        g = g_all[has_resp[g_all["_src"]].to_numpy()]
        where = (f"matrix of cell line {cl!r}, {a} x {b}" + (f", experiment {ex!r}" if ex else ""))
        for drug, dose, other in ((a, "dose_a", "dose_b"), (b, "dose_b", "dose_a")):
            if a == b and dose == "dose_b":
                continue  # a self-combination's one drug is checked once (both slots)
            mono = g[g[dose].gt(0) & g[other].eq(0)]
            nd = mono[dose].nunique()
            if a == b:
                # a self-combination (sham): the drug alone in either slot is its one curve
                nd = len(set(g.loc[g["dose_a"].gt(0) & g["dose_b"].eq(0), "dose_a"])
                         | set(g.loc[g["dose_b"].gt(0) & g["dose_a"].eq(0), "dose_b"]))
            if nd == 0:
                add(first, dose, None, f"{where} has no monotherapy wells of {drug} "
                    f"({dose} > 0 and {other} = 0); MuSyC and the Bliss/HSA/Loewe nulls need "
                    f"both drugs alone")
            elif nd < min_doses:
                add(first, dose, None, f"{where} has {nd} distinct positive monotherapy dose(s) "
                    f"of {drug}; at least {min_doses} are needed (min_doses)")
        if not (g["dose_a"].gt(0) & g["dose_b"].gt(0)).any():
            add(first, None, None, f"{where} has no combination wells (both doses > 0)")
    chk.raise_if_any()
    kept = out[~resp_empty].reset_index(drop=True)
    pa, pb = kept[kept["dose_a"].gt(0)], kept[kept["dose_b"].gt(0)]
    source = with_far_dose_notes(source, pd.concat([pa["line"], pb["line"]]),
                                 pd.concat([pa["dose_a"], pb["dose_b"]]),
                                 pd.concat([pa["drug_a"], pb["drug_b"]]), dose_unit)
    kept.loc[kept["drug_a"].ne("") & kept["drug_b"].eq("") & kept["dose_a"].le(0), "drug_a"] = ""
    kept.loc[kept["drug_b"].ne("") & kept["drug_a"].eq("") & kept["dose_b"].le(0), "drug_b"] = ""
    return CombinationTable(df=kept, dropped=dropped, source=source,
                            response_scale=response_scale, dose_unit=dose_unit,
                            carried=carried_columns(df, COMBINATION.known, ~resp_empty),
                            rate_unit=rate_unit if response_scale == "rate" else "")


def _check_scale(chk: IssueCollector, out: pd.DataFrame, resp: pd.Series, use: pd.Series,
                 response_scale: str) -> None:
    """Responses that do not fit their declared scale (:func:`.rates.check_response_scale`,
    the untreated wells being those with both doses 0)."""
    untreated = out["dose_a"].le(0) & out["dose_b"].le(0)
    check_response_scale(chk, resp, untreated, use, response_scale)


def expand_shared(df: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Matrix rows plus one copy of each shared control row per matrix it belongs to.

    Rows naming both drugs belong to their matrix (``experiment x cell_line x (drug_a,
    drug_b)``). A row naming one drug (the other drug column empty, its dose 0) is a
    single-drug well of that drug, and a row naming no drug (or its drug at dose 0) an
    untreated well: each belongs to every matrix of the same cell line in the same experiment
    and plate (``plate`` empty when the table has no plate column: then the whole experiment)
    that has that drug (any matrix for untreated wells), with the drug's dose in its slot.

    Returns
    -------
    (expanded, orphans)
        ``expanded``: the rows with ``_src`` (the original row label) and ``_members`` (how
        many matrices the row belongs to: 1 for matrix rows); ``orphans``: labels of shared
        rows that belong to no matrix.
    """
    both = df["drug_a"].ne("") & df["drug_b"].ne("")
    mrows = df[both].assign(_src=df.index[both.to_numpy()], _members=1)
    lookup: dict[tuple, list] = {}
    for (ex, cl, a, b), plates in mrows.groupby(
            ["experiment", "cell_line", "drug_a", "drug_b"], sort=False)["plate"].unique().items():
        for p in plates:
            lookup.setdefault((ex, cl, p), []).append((a, b))
    extra, orphans = [], []
    sh = df[~both]
    for pos, ex, cl, p, a0, b0, da, db in zip(sh.index, sh["experiment"], sh["cell_line"],
                                              sh["plate"], sh["drug_a"], sh["drug_b"],
                                              sh["dose_a"], sh["dose_b"]):
        drug, dose = (a0, da) if a0 else (b0, db)
        if not drug or not dose > 0:
            drug, dose = "", 0.0
        members = [(a, b) for a, b in lookup.get((ex, cl, p), []) if not drug or drug in (a, b)]
        if not members:
            orphans.append(pos)
        for a, b in members:
            # a self-combination's single-drug well has its dose in slot a only
            extra.append({"_src": pos, "_members": len(members), "drug_a": a, "drug_b": b,
                          "dose_a": dose if drug == a else 0.0,
                          "dose_b": dose if drug == b and drug != a else 0.0})
    if not extra:
        return mrows, orphans
    ex_df = pd.DataFrame(extra)
    base = df.loc[ex_df["_src"]].drop(columns=["drug_a", "drug_b", "dose_a", "dose_b"])
    ex_df = pd.concat([base.reset_index(drop=True), ex_df], axis=1)
    return pd.concat([mrows, ex_df[mrows.columns]], ignore_index=True), orphans


# ------------------------------------------------------------------------------- encoding
@dataclass
class CombinationData(DosedData):
    """Combination data as arrays, with the category names kept.

    Levels: drugs (either slot), cell lines, ordered pairs ``(drug_a, drug_b)``, experiments;
    *monotherapies* (cell line x drug, shared by every pair that drug is in), *combinations*
    (cell line x pair: the summary groups) and *matrices* (combination x experiment: the
    measured checkerboards, padded ``[matrix, point]`` arrays with a mask).

    Log10 doses are molar and centred per drug on the middle of its tested positive range
    (``x = log10(dose_M) - drug_center[drug]``), so changing the dose unit changes nothing but
    the reported units (:class:`~drugbayes.data.fields.DoseScale`, which also converts them
    back).
    """

    cell_lines: list[str]
    drugs: list[str]
    pairs: list[str]  # "drug_a|drug_b"
    experiments: list[str]
    pair_a: np.ndarray  # [pair] -> drug
    pair_b: np.ndarray
    mono_cell: np.ndarray  # [mono] -> cell
    mono_drug: np.ndarray  # [mono] -> drug
    combo_cell: np.ndarray  # [combo] -> cell
    combo_pair: np.ndarray  # [combo] -> pair
    combo_mono_a: np.ndarray  # [combo] -> mono of drug_a
    combo_mono_b: np.ndarray
    matrix_combo: np.ndarray  # [matrix] -> combo
    matrix_exp: np.ndarray  # [matrix] -> experiment
    x_a: np.ndarray  # [matrix, point] centred log10 dose of drug a (0 where zero_a)
    x_b: np.ndarray
    zero_a: np.ndarray  # [matrix, point] bool
    zero_b: np.ndarray
    y: np.ndarray  # [matrix, point] viability fraction
    mask: np.ndarray  # [matrix, point]
    dose_scale: DoseScale  # centring per drug and back-conversion to dose_unit
    # per-combination dose grids (index 0 = dose 0, then the tested positive doses ascending)
    grid_dose_a: np.ndarray  # [combo, ia] data unit, NaN padded
    grid_dose_b: np.ndarray  # [combo, ib]
    grid_tested: np.ndarray  # [combo, ia, ib] bool: a kept well at that dose pair
    grid_y: np.ndarray  # [combo, ia, ib] mean observed viability (NaN if untested)
    grid_n: np.ndarray  # [combo, ia, ib] wells averaged
    # the same per matrix (block) on its combination's grid: each block's own observed means
    matrix_grid_tested: np.ndarray | None = None  # [matrix, ia, ib] bool
    matrix_grid_y: np.ndarray | None = None  # [matrix, ia, ib]
    # untreated reference level of each matrix on the data scale (fraction of control): the
    # median of the untreated wells of its plate(s) (see :func:`untreated_reference`)
    matrix_e0_ref: np.ndarray | None = None  # [matrix]
    response_ref: float = 1.0  # the median untreated level of the whole table (noise scale)
    # wells: row of the kept table of each [matrix, point] (-1 padding), and the shared wells
    # that belong to several matrices ([well, member]: their matrices, slot coordinates)
    point_row: np.ndarray | None = None
    sh_mat: np.ndarray | None = None
    sh_member: np.ndarray | None = None
    sh_x_a: np.ndarray | None = None
    sh_x_b: np.ndarray | None = None
    sh_zero_a: np.ndarray | None = None
    sh_zero_b: np.ndarray | None = None
    sh_y: np.ndarray | None = None  # [well]
    sh_row: np.ndarray | None = None  # [well] row of the kept table
    row_label: list[str] | None = None  # [row] "line 12, plate P1, well A01"
    response_scale: str = "fraction"
    n_wells: int = 0
    # plates (only where the table names more than one): the plate of each well
    plates: list[str] | None = None
    point_plate: np.ndarray | None = None  # [matrix, point] plate code (0 padding)
    sh_plate: np.ndarray | None = None  # [shared well] plate code
    rate_unit: str = ""  # unit of growth rates (response_scale = "rate")
    # columns the model does not use (carried): constant within every matrix, per matrix; the
    # others (varying within a matrix) per well, as text: [matrix, point] ("" padding) and
    # [shared well]
    carried_matrix: dict[str, list[str]] = field(default_factory=dict)
    carried_well: dict[str, np.ndarray] = field(default_factory=dict)
    carried_shared: dict[str, np.ndarray] = field(default_factory=dict)
    bottom_lower: float = 0.0  # lower bound of E1/E0, E2/E0 (0 for viability, < 0 for rates)

    @property
    def is_rate(self) -> bool:
        """Growth rates (``response_scale = "rate"``) rather than viability."""
        return self.response_scale == "rate"

    @property
    def response_label(self) -> str:
        """What the surfaces are: ``viability (fraction of untreated)`` or ``growth rate
        (<unit>)``."""
        return (f"growth rate ({self.rate_unit})" if self.is_rate
                else "viability (fraction of untreated)")

    @property
    def n_combos(self) -> int:
        return len(self.combo_cell)

    @property
    def n_matrices(self) -> int:
        return len(self.matrix_combo)

    def slot_drug(self, which: str) -> np.ndarray:
        """``[combo]`` drug of slot ``which`` ("a" or "b") of each combination."""
        return (self.pair_a if which == "a" else self.pair_b)[self.combo_pair]

    @property
    def combo_labels(self) -> list[str]:
        return [f"{self.cell_lines[c]}|{self.pairs[p]}"
                for c, p in zip(self.combo_cell, self.combo_pair)]

    @property
    def self_combinations(self) -> list[str]:
        """Labels of the combinations of a drug with itself (sham experiments: their synergy
        is the built-in null check, zero under Loewe additivity)."""
        return [lab for lab, p in zip(self.combo_labels, self.combo_pair)
                if self.pair_a[p] == self.pair_b[p]]

    @property
    def matrix_labels(self) -> list[str]:
        return [f"{self.combo_labels[k]}|{self.experiments[e]}"
                for k, e in zip(self.matrix_combo, self.matrix_exp)]

    @property
    def attrs(self) -> dict[str, str]:
        """Attributes recorded on the posterior DataTree (the sign convention included)."""
        return {"dose_unit": self.dose_unit, "response_scale": self.response_scale,
                "surfaces": self.response_label,
                "synergy_sign": "positive = synergy (excess = null viability - combination "
                "viability; beta > 0 and log_alpha > 0 are synergistic)"}

    def grid_x(self, which: str) -> np.ndarray:
        """Centred log10 doses of the grid of drug ``which`` ("a" or "b"), 0 at dose 0."""
        dose = self.grid_dose_a if which == "a" else self.grid_dose_b
        return self.dose_scale.centre(dose, self.slot_drug(which)[:, None])


def encode_combination(vt: CombinationTable) -> CombinationData:
    """Encode a :class:`CombinationTable` into :class:`CombinationData`.

    Shared control wells (:func:`expand_shared`) that belong to one matrix are that matrix's
    wells; those that belong to several enter the likelihood once, through the ``sh_*``
    arrays (their expected response is the mean of their matrices' surfaces at that dose). The
    per-combination grids (observed means, classic ZIP) count them in every matrix.
    """
    df0 = vt.df.copy()
    df0["response"] = df0["response"] * (0.01 if vt.response_scale == "percent" else 1.0)
    rate = vt.response_scale == "rate"
    df, _ = expand_shared(df0)
    cells = Levels.of(df["cell_line"], "cell line")
    drugs = Levels.of(pd.concat([df["drug_a"], df["drug_b"]]), "drug")
    exps = Levels.of(df["experiment"], "experiment")
    pairs_df = df[["drug_a", "drug_b"]].drop_duplicates()
    pairs = Levels([f"{a}|{b}" for a, b in pairs_df.itertuples(index=False)], "drug pair")
    pair_a = drugs.codes(pairs_df["drug_a"])
    pair_b = drugs.codes(pairs_df["drug_b"])

    # doses per drug (both slots), centre and half range in log10 M
    pos_a, pos_b = df["dose_a"].gt(0), df["dose_b"].gt(0)
    scale = DoseScale.from_doses(
        np.concatenate([df.loc[pos_a, "dose_a"], df.loc[pos_b, "dose_b"]]),
        np.concatenate([drugs.codes(df.loc[pos_a, "drug_a"]),
                        drugs.codes(df.loc[pos_b, "drug_b"])]), len(drugs), vt.dose_unit)

    df["_pair"] = pairs.codes(df["drug_a"] + "|" + df["drug_b"])
    combos_df = df[["cell_line", "_pair"]].drop_duplicates()
    combo_key = {(c, p): k for k, (c, p) in enumerate(combos_df.itertuples(index=False))}
    combo_cell = cells.codes([c for c, _ in combo_key])
    combo_pair = np.array([p for _, p in combo_key], np.int32)
    mono_key: dict[tuple[int, int], int] = {}
    combo_mono_a = np.zeros(len(combo_key), np.int32)
    combo_mono_b = np.zeros(len(combo_key), np.int32)
    for k, (c, p) in enumerate(combo_key):
        for arr, d in ((combo_mono_a, pair_a[p]), (combo_mono_b, pair_b[p])):
            arr[k] = mono_key.setdefault((cells.index[c], int(d)), len(mono_key))
    mono_cell = np.array([c for c, _ in mono_key], np.int32)
    mono_drug = np.array([d for _, d in mono_key], np.int32)

    df["_combo"] = [combo_key[(c, p)] for c, p in zip(df["cell_line"], df["_pair"])]
    mats = df[["_combo", "experiment"]].drop_duplicates()
    mat_key = {(k, e): m for m, (k, e) in enumerate(mats.itertuples(index=False))}
    matrix_combo = np.array([k for k, _ in mat_key], np.int32)
    matrix_exp = exps.codes([e for _, e in mat_key])
    df["_mat"] = [mat_key[(k, e)] for k, e in zip(df["_combo"], df["experiment"])]
    own = df["_members"].to_numpy() <= 1
    counts = df.loc[own, "_mat"].value_counts()
    n_mat, n_pt = len(mat_key), int(counts.max())
    x_a = np.zeros((n_mat, n_pt), np.float32)
    x_b = np.zeros((n_mat, n_pt), np.float32)
    zero_a = np.zeros((n_mat, n_pt), bool)
    zero_b = np.zeros((n_mat, n_pt), bool)
    y = np.zeros((n_mat, n_pt), np.float32)
    mask = np.zeros((n_mat, n_pt), bool)
    dose_a = df["dose_a"].to_numpy()
    dose_b = df["dose_b"].to_numpy()
    xa_all = scale.centre(dose_a, pair_a[df["_pair"].to_numpy()])
    xb_all = scale.centre(dose_b, pair_b[df["_pair"].to_numpy()])
    resp = df["response"].to_numpy()
    src = df["_src"].to_numpy()
    point_row = np.full((n_mat, n_pt), -1, np.int64)
    # a plate is experiment x plate (as for the untreated reference), named by both when the
    # table has several experiments
    plates: Levels | None = None
    plate_all = np.zeros(len(df), np.int32)
    if "plate" in df.columns and df["plate"].astype(str).ne("").all():
        plate_names = df["plate"].astype(str)
        if df["experiment"].nunique() > 1:
            plate_names = df["experiment"].astype(str) + "/" + plate_names
        if plate_names.nunique() > 1:
            plates = Levels.of(plate_names, "plate")
            plate_all = plates.codes(plate_names)
    point_plate = np.zeros((n_mat, n_pt), np.int32)
    mat_rows = df[own].groupby("_mat", sort=True).indices
    own_pos = np.flatnonzero(own)
    for m, idx_own in mat_rows.items():
        idx = own_pos[idx_own]
        point_row[m, :len(idx)] = src[idx]
        point_plate[m, :len(idx)] = plate_all[idx]
        n = len(idx)
        x_a[m, :n] = xa_all[idx]
        x_b[m, :n] = xb_all[idx]
        zero_a[m, :n] = dose_a[idx] <= 0
        zero_b[m, :n] = dose_b[idx] <= 0
        y[m, :n] = resp[idx]
        mask[m, :n] = True

    # shared wells of several matrices: [well, member] slot coordinates
    shared = np.flatnonzero(~own)
    sh_groups = df.iloc[shared].groupby("_src", sort=True).indices if len(shared) else {}
    n_sh = len(sh_groups)
    k_max = max((len(v) for v in sh_groups.values()), default=1)
    sh_mat = np.zeros((n_sh, k_max), np.int32)
    sh_member = np.zeros((n_sh, k_max), bool)
    sh_x_a = np.zeros((n_sh, k_max), np.float32)
    sh_x_b = np.zeros((n_sh, k_max), np.float32)
    sh_zero_a = np.ones((n_sh, k_max), bool)
    sh_zero_b = np.ones((n_sh, k_max), bool)
    sh_y = np.zeros(n_sh, np.float32)
    sh_row = np.zeros(n_sh, np.int64)
    sh_plate = np.zeros(n_sh, np.int32)
    mat_all = df["_mat"].to_numpy()
    for w, (row, idx_sh) in enumerate(sh_groups.items()):
        idx = shared[idx_sh]
        n = len(idx)
        sh_mat[w, :n] = mat_all[idx]
        sh_member[w, :n] = True
        sh_x_a[w, :n] = xa_all[idx]
        sh_x_b[w, :n] = xb_all[idx]
        sh_zero_a[w, :n] = dose_a[idx] <= 0
        sh_zero_b[w, :n] = dose_b[idx] <= 0
        sh_y[w] = resp[idx[0]]
        sh_row[w] = row
        sh_plate[w] = plate_all[idx[0]]

    ref, gref = untreated_reference(df, mat_all, n_mat)
    word = "line" if vt.source is not None and vt.source.line_offset else "row"
    labels = [_row_label(r, word) for r in df0.itertuples(index=False)]
    far = far_controls(df0, word)
    if far:
        log.warning("%d control well(s) far from their plate's others (> %g robust sd): %s",
                    len(far), FAR_CONTROL_Z, "; ".join(
                        f"{lab} ({what}) reads {y_w:.4g}, the others' median {med:.4g}"
                        for lab, y_w, med, what in far[:10]) + (" ..." if len(far) > 10 else ""))

    # per-combination grids: dose 0 then the tested positive doses
    n_k = len(combo_key)
    ga = [np.concatenate([[0.0], np.unique(df.loc[df["_combo"].eq(k) & (df["dose_a"] > 0),
                                                  "dose_a"])]) for k in range(n_k)]
    gb = [np.concatenate([[0.0], np.unique(df.loc[df["_combo"].eq(k) & (df["dose_b"] > 0),
                                                  "dose_b"])]) for k in range(n_k)]
    na, nb = max(len(g) for g in ga), max(len(g) for g in gb)
    grid_a = np.full((n_k, na), np.nan)
    grid_b = np.full((n_k, nb), np.nan)
    tested = np.zeros((n_k, na, nb), bool)
    gy = np.full((n_k, na, nb), np.nan)
    gn = np.zeros((n_k, na, nb), np.int32)
    for k in range(n_k):
        grid_a[k, :len(ga[k])] = ga[k]
        grid_b[k, :len(gb[k])] = gb[k]
        sub = df[df["_combo"].eq(k)]
        ia = np.searchsorted(ga[k], sub["dose_a"].to_numpy())
        ib = np.searchsorted(gb[k], sub["dose_b"].to_numpy())
        s = np.zeros((na, nb))
        np.add.at(s, (ia, ib), sub["response"].to_numpy())
        np.add.at(gn[k], (ia, ib), 1)
        tested[k] = gn[k] > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            gy[k] = np.where(tested[k], s / np.maximum(gn[k], 1), np.nan)
    # per matrix (block), on its combination's grid
    mtested = np.zeros((n_mat, na, nb), bool)
    my = np.full((n_mat, na, nb), np.nan)
    for m, sub in df.groupby("_mat", sort=True):
        k = int(matrix_combo[int(m)])
        ia = np.searchsorted(ga[k], sub["dose_a"].to_numpy())
        ib = np.searchsorted(gb[k], sub["dose_b"].to_numpy())
        s = np.zeros((na, nb))
        n_m = np.zeros((na, nb))
        np.add.at(s, (ia, ib), sub["response"].to_numpy())
        np.add.at(n_m, (ia, ib), 1)
        mtested[int(m)] = n_m > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            my[int(m)] = np.where(n_m > 0, s / np.maximum(n_m, 1), np.nan)
    c_mat, c_well, c_sh = _carry_matrices(getattr(vt, "carried", None), src, mat_all, n_mat,
                                          point_row, sh_row)
    return CombinationData(
        carried_matrix=c_mat, carried_well=c_well, carried_shared=c_sh,
        cell_lines=cells.names, drugs=drugs.names, pairs=pairs.names, experiments=exps.names,
        pair_a=pair_a, pair_b=pair_b, mono_cell=mono_cell, mono_drug=mono_drug,
        combo_cell=combo_cell, combo_pair=combo_pair, combo_mono_a=combo_mono_a,
        combo_mono_b=combo_mono_b, matrix_combo=matrix_combo, matrix_exp=matrix_exp,
        x_a=x_a, x_b=x_b, zero_a=zero_a, zero_b=zero_b, y=y, mask=mask,
        dose_scale=scale, grid_dose_a=grid_a, grid_dose_b=grid_b,
        grid_tested=tested, grid_y=gy, grid_n=gn, matrix_grid_tested=mtested,
        matrix_grid_y=my, matrix_e0_ref=ref, response_ref=gref,
        point_row=point_row, sh_mat=sh_mat, sh_member=sh_member, sh_x_a=sh_x_a, sh_x_b=sh_x_b,
        sh_zero_a=sh_zero_a, sh_zero_b=sh_zero_b, sh_y=sh_y, sh_row=sh_row,
        row_label=labels,
        plates=plates.names if plates is not None else None,
        point_plate=point_plate if plates is not None else None,
        sh_plate=sh_plate if plates is not None else None,
        response_scale=vt.response_scale, n_wells=len(df0),
        rate_unit=getattr(vt, "rate_unit", ""),
        bottom_lower=rate_bottom_lower(df0["response"].to_numpy(float), gref) if rate else 0.0)


def _carry_matrices(carried: pd.DataFrame | None, src: np.ndarray, mat: np.ndarray, n_mat: int,
                    point_row: np.ndarray, sh_row: np.ndarray
                    ) -> tuple[dict[str, list[str]], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Carried columns of a combination table: those constant within every matrix (shared
    control wells counted in each of their matrices) per matrix, the others per well
    (``[matrix, point]`` from ``point_row``, ``[shared well]`` from ``sh_row``).

    ``src``, ``mat``: the kept row and the matrix of each expanded row."""
    if carried is None:
        return {}, {}, {}
    constant, varying = carry_by_unit(carried.iloc[src], mat, n_mat)
    per_well: dict[str, np.ndarray] = {}
    per_shared: dict[str, np.ndarray] = {}
    for col in varying:
        txt = np.append(carried_text(carried[col]).to_numpy(), "")  # row -1: padding
        per_well[col] = txt[point_row].astype(str)
        per_shared[col] = txt[np.asarray(sh_row, dtype=np.int64)].astype(str)
    return constant, per_well, per_shared


def _row_label(r, word: str = "line") -> str:
    """A well's name in messages: its line (``word = "row"``: row index of a DataFrame),
    plate and well (when the table has them)."""
    parts = [f"{word} {r.line}"]
    if r.plate:
        parts.append(f"plate {r.plate}")
    if r.well:
        parts.append(f"well {r.well}")
    return ", ".join(parts)


FAR_CONTROL_Z = 6.0
"""Robust z (deviation from the group median over 1.4826 x the plate's median absolute
deviation) beyond which a control well is reported in the log."""


def far_controls(df: pd.DataFrame, word: str = "line"
                 ) -> list[tuple[str, float, float, str]]:
    """Control wells far from the other wells of the same kind on their plate.

    Controls: untreated wells and single-drug wells (one dose > 0), grouped by experiment,
    plate, cell line, drug and dose; groups of at least 3 wells are checked. The spread is
    the plate's (experiment x plate x cell line) median absolute deviation of every control
    from its group median (at least 1% of the table's untreated level). Returns ``(label,
    response, group median, what)`` per far well, ``label`` as in the well's messages.
    """
    d = df.copy()
    da, db = d["dose_a"].to_numpy(), d["dose_b"].to_numpy()
    ctrl = (da <= 0) | (db <= 0)
    d = d[ctrl]
    if d.empty:
        return []
    drug = np.where(d["dose_a"] > 0, d["drug_a"], np.where(d["dose_b"] > 0, d["drug_b"], ""))
    dose = np.maximum(d["dose_a"].to_numpy(), d["dose_b"].to_numpy())
    d = d.assign(cdrug=drug, cdose=dose)
    plate_keys = ["experiment", "plate", "cell_line"]
    gkeys = plate_keys + ["cdrug", "cdose"]
    d["gmed"] = d.groupby(gkeys, sort=False)["response"].transform("median")
    d["gn"] = d.groupby(gkeys, sort=False)["response"].transform("size")
    d["gdev"] = (d["response"] - d["gmed"]).abs()
    untreated = d.loc[d["cdrug"].eq(""), "response"]
    floor = 0.01 * abs(float(np.median(untreated))) if len(untreated) else 0.01
    spread = d.groupby(plate_keys, sort=False)["gdev"].transform("median") * 1.4826
    z = d["gdev"] / np.maximum(spread, floor)
    far = d[(d["gn"] >= 3) & (z > FAR_CONTROL_Z)]
    out = []
    for r in far.itertuples(index=False):
        what = f"{r.cdrug} at {r.cdose:g}" if r.cdrug else "untreated"
        out.append((_row_label(r, word), float(r.response), float(r.gmed), what))
    return out


def untreated_reference(df: pd.DataFrame, well_matrix: np.ndarray, n_matrix: int
                        ) -> tuple[np.ndarray, float]:
    """The untreated level of each matrix on the data scale, and of the whole table.

    The level of a matrix is the median of the untreated wells (both doses 0) of the same
    cell line in the plates (``experiment x plate``) its wells are on; without any there, of
    that cell line's untreated wells in the table; without those, of every untreated well; with
    no untreated well at all, 1 (viability already normalised). A median, so one bad control
    well among several does not move it. The model centres each matrix's log E0 prior on it,
    so a screen whose untreated wells read 116% of control is fitted as such, and the excesses
    (normalised by the fitted E0) do not depend on the scale.
    """
    resp = df["response"].to_numpy(float)
    untreated = (df["dose_a"].to_numpy() <= 0) & (df["dose_b"].to_numpy() <= 0)
    if "_src" in df.columns:  # each shared well once
        untreated &= ~df["_src"].duplicated().to_numpy()
    glob = float(np.median(resp[untreated])) if untreated.any() else 1.0
    if not np.isfinite(glob) or glob <= 0:
        glob = 1.0
    plate = (df["experiment"].astype(str) + "\x1f" + df["plate"].astype(str) + "\x1f"
             + df["cell_line"].astype(str)).to_numpy()
    cell = df["cell_line"].astype(str).to_numpy()
    ref = np.full(n_matrix, glob)
    for m in range(n_matrix):
        rows = well_matrix == m
        if not rows.any():
            continue
        sel = untreated & np.isin(plate, np.unique(plate[rows]))
        if not sel.any():
            sel = untreated & (cell == cell[rows][0])
        if sel.any():
            v = float(np.median(resp[sel]))
            if np.isfinite(v) and v > 0:
                ref[m] = v
    return ref, glob
